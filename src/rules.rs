//! Versioned TOML rule files: the data that decides fingerprints (and, later, bucket
//! presets), so a fingerprint change ships as a file, not as a new fxb.
//!
//! Rules are embedded in the binary (`rules/*.toml`) and read from `--rules-dir` and
//! `FXB_RULES_DIR`. Each file names the architectures it serves (`*` = any), its own
//! semver `version`, and the range of fxb versions it supports (`fxb`); for each
//! architecture the highest version whose range admits this fxb wins. A file that does
//! not parse is reported and skipped; `fxb rules check` reports its errors as
//! `file:line:col`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The rule file format this fxb reads.
pub const RULE_SCHEMA_VERSION: u32 = 1;

/// Rule files compiled into the binary.
/// `(file name, TOML text, the same as JSON)`: build.rs converts each file, because every
/// command reads these and JSON parses in a tenth of the time (the TOML stays the source:
/// problems are reported at its lines).
macro_rules! embedded_rules {
    ($($stem:literal),* $(,)?) => {
        &[$((
            concat!($stem, ".toml"),
            include_str!(concat!("../rules/", $stem, ".toml")),
            include_str!(concat!(env!("OUT_DIR"), "/rules/", $stem, ".json")),
        )),*]
    };
}

const EMBEDDED: &[(&str, &str, &str)] = embedded_rules![
    "generic",
    "exaone4",
    "exaone_moe",
    "gemma4",
    "gpt_oss",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "qwen3_5",
    "qwen3_moe",
    "qwen3_vl",
    "solar_open",
    "xlm_roberta",
];

/// Which rule, by name and version (`generic` `1.0.0`): what a bundle records it was
/// fingerprinted with, and what `check` compares it under.
///
/// Every `--json` output and a bundle's manifest hold it as `{name, version}`; its text
/// form (`generic 1.0.0`, [`std::fmt::Display`] / [`std::str::FromStr`]) is what humans
/// read and what fxb's cache sidecar has always stored.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct RuleId {
    pub name: String,
    pub version: String,
}

impl RuleId {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> RuleId {
        RuleId {
            name: name.into(),
            version: version.into(),
        }
    }

    /// The rule a bundle's manifest records (`extras.fxb.rule {name, version}`), if any.
    pub fn from_manifest_extras(
        extras: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Option<RuleId> {
        let rule = extras?.get("fxb")?.get("rule")?;
        Some(RuleId::new(
            rule.get("name")?.as_str()?,
            rule.get("version")?.as_str()?,
        ))
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;

    /// `name version`; a rule name never holds a space.
    fn from_str(text: &str) -> Result<RuleId, String> {
        match text.split_once(' ') {
            Some((name, version)) if !name.is_empty() && !version.is_empty() => {
                Ok(RuleId::new(name, version))
            }
            _ => Err(format!("`{text}` is not `NAME VERSION`")),
        }
    }
}

/// A rule file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(title = "fxb rule file")]
pub struct RuleFile {
    /// The rule file format (this fxb reads 1).
    pub schema_version: u32,
    /// The rule's name, recorded in bundles with its version.
    pub name: String,
    /// The rule's own semver version; the highest compatible one wins.
    pub version: String,
    /// The fxb versions this file supports, as a semver requirement (`>=0.1.0`).
    pub fxb: String,
    /// Architectures served (`LlamaForCausalLM`); `*` serves any architecture without a
    /// rule of its own.
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the fingerprint is read (a rule without one defers to the next rule that has
    /// one, usually `generic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<FingerprintRule>,
    /// Bucket presets per model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanRule>,
}

/// The bucket presets of an architecture's models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PlanRule {
    pub presets: Vec<fxb_plugin_api::plan::Preset>,
}

/// Which config.json fields form the fingerprint, and where they are read. This table
/// is what the architecture plugin receives as `rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FingerprintRule {
    /// Fields recorded when present in the config (explicit nulls included).
    pub fields: Vec<String>,
    /// Fields a config must have (positive integers); otherwise it is refused.
    #[serde(default)]
    pub required: Vec<String>,
    /// Fields that must be positive integers (or `null`) when the config has them: layer
    /// and head counts, which the plan divides by and sizes with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<String>,
    /// A nested section to read the fields from when the config has it (`text_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested_config: Option<String>,
    /// Fields read from a top-level quantization section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantizationRule>,
    /// Fields derived when the config lacks them.
    #[serde(default)]
    pub derived: BTreeMap<String, Derivation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QuantizationRule {
    pub section: String,
    pub fields: Vec<String>,
}

/// `divide = [a, b]`: the field is `a / b`, which must divide exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Derivation {
    pub divide: [String; 2],
}

/// One problem in a rule file, with its position (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Where a rule came from.
pub use crate::source::Source as RuleSource;

/// A parsed, validated rule.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub file: RuleFile,
    pub version: semver::Version,
    pub source: RuleSource,
    /// Whether its `fxb` range admits this fxb.
    pub compatible: bool,
}

impl LoadedRule {
    /// `` `name` 1.0.0 (source) `` for messages.
    pub fn label(&self) -> String {
        format!("`{}` {} ({})", self.file.name, self.version, self.source)
    }

    fn claims(&self, architecture: &str) -> bool {
        self.file.architectures.iter().any(|a| a == architecture)
    }
}

/// A rule file that could not be used.
pub type RuleProblem = crate::source::Problem;

/// Every rule found.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<LoadedRule>,
    problems: Vec<RuleProblem>,
}

/// A rule's standing in its set.
pub type RuleStatus<'a> = crate::source::Standing<'a, LoadedRule>;

/// `--rules-dir` directories, then `FXB_RULES_DIR` (`:`-separated).
pub fn search_dirs(rules_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = rules_dirs.to_vec();
    if let Some(path) = std::env::var_os("FXB_RULES_DIR") {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

impl RuleSet {
    /// The embedded rules, then every `*.toml` in `dirs` (sorted within a directory).
    pub fn load(dirs: &[PathBuf]) -> Self {
        let mut set = RuleSet::default();
        for (name, text, json) in EMBEDDED {
            let parsed = serde_json::from_str::<RuleFile>(json)
                .map_err(|_| ())
                .and_then(|rule| validate(rule, text).map_err(|_| ()));
            match parsed {
                Ok(rule) => set.push(rule, RuleSource::Embedded(name)),
                // Never expected (a test checks every file): the TOML says what is wrong.
                Err(()) => set.add(text, RuleSource::Embedded(name), Path::new(name)),
            }
        }
        for dir in dirs {
            for path in crate::source::files_with_extension(dir, "toml") {
                match std::fs::read_to_string(&path) {
                    Ok(text) => set.add(&text, RuleSource::File(path.clone()), &path),
                    Err(e) => set.problems.push(RuleProblem {
                        path,
                        message: format!("cannot read it: {e}"),
                    }),
                }
            }
        }
        set
    }

    /// Only the embedded rules.
    pub fn embedded() -> Self {
        Self::load(&[])
    }

    fn push(&mut self, rule: RuleFile, source: RuleSource) {
        self.rules.push(LoadedRule {
            compatible: rule.compatible_with_this_fxb(),
            version: semver::Version::parse(&rule.version).unwrap_or(semver::Version::new(0, 0, 0)),
            file: rule,
            source,
        });
    }

    fn add(&mut self, text: &str, source: RuleSource, path: &Path) {
        match parse_rule(text) {
            Ok(rule) => self.push(rule, source),
            Err(diagnostics) => self.problems.push(RuleProblem {
                path: path.to_path_buf(),
                message: diagnostics
                    .iter()
                    .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    pub fn problems(&self) -> &[RuleProblem] {
        &self.problems
    }

    /// The rule for `architecture`: the highest compatible version among the rules that
    /// name it, else among the `*` rules. On equal versions the later source (a user
    /// directory over the embedded rules) wins.
    pub fn for_architecture(&self, architecture: &str) -> Option<&LoadedRule> {
        self.best(architecture, |_| true)
            .or_else(|| self.best("*", |_| true))
    }

    /// The rule that says how `architecture` is fingerprinted (a named rule with a
    /// `[fingerprint]` table, else a `*` one).
    pub fn fingerprint_rule(&self, architecture: &str) -> Option<(&LoadedRule, &FingerprintRule)> {
        let has = |r: &LoadedRule| r.file.fingerprint.is_some();
        let rule = self
            .best(architecture, has)
            .or_else(|| self.best("*", has))?;
        Some((rule, rule.file.fingerprint.as_ref()?))
    }

    /// A specific installed fingerprint rule (`generic`, `1.0.0`): the one a bundle was
    /// fingerprinted with, to compare a model with it on its own terms.
    pub fn fingerprint_rule_version(&self, id: &RuleId) -> Option<(&LoadedRule, &FingerprintRule)> {
        let version = semver::Version::parse(&id.version).ok()?;
        let rule = self
            .rules
            .iter()
            .filter(|r| r.compatible && r.file.name == id.name && r.version == version)
            .find(|r| r.file.fingerprint.is_some())?;
        Some((rule, rule.file.fingerprint.as_ref()?))
    }

    /// The rule holding `architecture`'s bucket presets, if any.
    pub fn plan_rule(&self, architecture: &str) -> Option<(&LoadedRule, &PlanRule)> {
        let has = |r: &LoadedRule| r.file.plan.is_some();
        let rule = self
            .best(architecture, has)
            .or_else(|| self.best("*", has))?;
        Some((rule, rule.file.plan.as_ref()?))
    }

    fn best(&self, claim: &str, has: impl Fn(&LoadedRule) -> bool) -> Option<&LoadedRule> {
        self.rules
            .iter()
            .filter(|r| r.compatible && r.claims(claim) && has(r))
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// Each rule with the architectures it serves and those another rule serves.
    pub fn statuses(&self) -> Vec<RuleStatus<'_>> {
        crate::source::standings(
            &self.rules,
            |r| &r.file.architectures,
            |architecture| self.best(architecture, |_| true),
            LoadedRule::label,
        )
    }
}

impl RuleFile {
    /// Whether the `fxb` range admits this build of fxb.
    pub fn compatible_with_this_fxb(&self) -> bool {
        let this = semver::Version::parse(env!("CARGO_PKG_VERSION"))
            .unwrap_or(semver::Version::new(0, 0, 0));
        semver::VersionReq::parse(&self.fxb).is_ok_and(|req| req.matches(&this))
    }
}

/// Parse and validate a rule file's text; every problem comes with a line and column.
pub fn parse_rule(text: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    let rule: RuleFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |span| position(text, span.start));
        vec![Diagnostic {
            line,
            column,
            message: e.message().trim().to_string(),
        }]
    })?;
    validate(rule, text)
}

/// What the schema cannot say of a parsed rule (versions, empty lists, presets' sizes),
/// each problem placed at its key in `text`, the rule's TOML.
fn validate(rule: RuleFile, text: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    // Where keys are is worked out only for a rule with a problem.
    let positions = std::cell::OnceCell::new();
    let mut complain = |path: &[Step], message: String| {
        let (line, column) = positions.get_or_init(|| KeyPositions::new(text)).of(path);
        problems.push(Diagnostic {
            line,
            column,
            message,
        });
    };
    use Step::Key;
    if rule.schema_version != RULE_SCHEMA_VERSION {
        complain(
            &[Key("schema-version")],
            format!(
                "schema-version {} is not supported: this fxb reads schema-version {RULE_SCHEMA_VERSION}",
                rule.schema_version
            ),
        );
    }
    if let Err(e) = semver::Version::parse(&rule.version) {
        complain(
            &[Key("version")],
            format!("version {:?} is not a semver version: {e}", rule.version),
        );
    }
    if let Err(e) = semver::VersionReq::parse(&rule.fxb) {
        complain(
            &[Key("fxb")],
            format!("fxb {:?} is not a semver requirement: {e}", rule.fxb),
        );
    }
    if rule.name.is_empty() {
        complain(&[Key("name")], "name is empty".into());
    }
    if rule.architectures.is_empty() {
        complain(
            &[Key("architectures")],
            "architectures is empty: name at least one, or `*`".into(),
        );
    }
    if rule.fingerprint.is_none() && rule.plan.is_none() {
        complain(
            &[],
            "the rule has neither a [fingerprint] nor a [plan] table".into(),
        );
    }
    if let Some(fingerprint) = &rule.fingerprint {
        if fingerprint.fields.is_empty() {
            complain(
                &[Key("fingerprint"), Key("fields")],
                "fingerprint.fields is empty".into(),
            );
        }
        for field in fingerprint.derived.keys() {
            if !fingerprint.fields.contains(field) {
                complain(
                    &[Key("fingerprint"), Key("derived"), Key(field)],
                    format!("derived field `{field}` is not in fingerprint.fields"),
                );
            }
        }
    }
    for (index, preset) in rule.plan.iter().flat_map(|p| &p.presets).enumerate() {
        let at = [Key("plan"), Key("presets"), Step::Index(index), Key("name")];
        let mut sizes = preset
            .tokenwise
            .iter()
            .chain(&preset.prefill)
            .chain(preset.decode.iter().flat_map(|d| &d.attention));
        let bad_size = sizes.any(|s| *s == 0) || preset.decode.iter().any(|d| d.batch == 0);
        if preset.tensor_parallel_size == 0 || bad_size || preset.prefill.is_empty() {
            complain(
                &at,
                format!(
                    "preset `{}`: sizes, batches and tensor-parallel-size must be positive, with at least one prefill size",
                    preset.name
                ),
            );
        }
        if !preset.encoder && preset.decode.is_empty() {
            complain(
                &at,
                format!(
                    "preset `{}` is generative but has no decode rows",
                    preset.name
                ),
            );
        }
    }
    if problems.is_empty() {
        Ok(rule)
    } else {
        Err(problems)
    }
}

/// Check a rule file on disk: `Ok` with the rule, or every problem found.
pub fn check_file(path: &Path) -> Result<RuleFile, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            line: 1,
            column: 1,
            message: format!("cannot read it: {e}"),
        }]
    })?;
    parse_rule(&text)
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// One step of a path into a rule file's tables.
#[derive(Debug, Clone, Copy)]
enum Step<'k> {
    Key(&'k str),
    /// An element of an array (of tables).
    Index(usize),
}

/// Where keys are in a rule file's text, for the problems found once it parsed: each is
/// reported at the key it is about, however the file spells it (quoted keys, dotted keys,
/// inline tables).
struct KeyPositions<'t> {
    text: &'t str,
    document: Option<toml::Spanned<toml::de::DeTable<'t>>>,
}

impl<'t> KeyPositions<'t> {
    fn new(text: &'t str) -> Self {
        KeyPositions {
            text,
            document: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// The line and column of `path`'s deepest step present in the file (so a missing
    /// key is reported at the table that lacks it); the file's start for `[]`.
    fn of(&self, path: &[Step]) -> (usize, usize) {
        let Some(document) = &self.document else {
            return (1, 1);
        };
        let mut start = 0;
        let mut value: Option<&toml::de::DeValue> = None;
        let mut table = Some(document.get_ref());
        for step in path {
            let found = match (*step, table, value) {
                (Step::Key(key), Some(table), _) => table
                    .iter()
                    .find(|(name, _)| name.get_ref().as_ref() == key)
                    .map(|(name, item)| (name.span().start, item)),
                (Step::Index(index), _, Some(toml::de::DeValue::Array(items))) => {
                    items.get(index).map(|item| (item.span().start, item))
                }
                _ => None,
            };
            let Some((at, item)) = found else { break };
            start = at;
            value = Some(item.get_ref());
            table = match item.get_ref() {
                toml::de::DeValue::Table(inner) => Some(inner),
                _ => None,
            };
        }
        position(self.text, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// build.rs's JSON of every embedded rule file is the same rule as its TOML, and every
    /// `rules/*.toml` is embedded.
    #[test]
    fn the_embedded_json_is_the_embedded_toml() {
        for (name, text, json) in EMBEDDED {
            let from_toml = parse_rule(text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let from_json: RuleFile =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(from_json, from_toml, "{name}");
        }
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))
                .expect("rules/")
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".toml"))
                .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "add a new rule file to `embedded_rules!`"
        );
    }

    /// Issue 13: problems found after parsing pointed at a placeholder 1:1 when the key
    /// was quoted, dotted or in an inline table.
    #[test]
    fn problems_point_at_their_key_however_it_is_spelled() {
        let head = "schema-version = 1\n\"name\" = \"\"\nversion = \"1.0.0\"\nfxb = \">=0.1.0\"\narchitectures = [\"A\"]\n";
        let inline = format!(
            "{head}fingerprint = {{ fields = [\"a\"], derived = {{ head_dim = {{ divide = [\"a\", \"b\"] }} }} }}\n"
        );
        let problems = parse_rule(&inline).expect_err("invalid");
        let at = |needle: &str| {
            problems
                .iter()
                .find(|p| p.message.contains(needle))
                .map(|p| (p.line, p.column))
        };
        assert_eq!(at("name is empty"), Some((2, 1)), "{problems:?}");
        assert_eq!(at("derived field"), Some((6, 45)), "{problems:?}");
        let dotted = format!(
            "{head}[fingerprint]\nfields = [\"a\"]\nderived.head_dim.divide = [\"a\", \"b\"]\n"
        );
        let problems = parse_rule(&dotted).expect_err("invalid");
        let derived = problems
            .iter()
            .find(|p| p.message.contains("derived field"));
        assert_eq!(
            derived.map(|p| (p.line, p.column)),
            Some((8, 9)),
            "{problems:?}"
        );
    }

    /// Issue 13: a preset's problem pointed at a placeholder `1:1`; it points at the
    /// preset's own `name = …` line now.
    #[test]
    fn a_preset_problem_points_at_the_preset() {
        let text = include_str!("../rules/llama.toml").replacen(
            "tensor-parallel-size = 8",
            "tensor-parallel-size = 0",
            1,
        );
        let problems = parse_rule(&text).expect_err("refused");
        let line = text
            .lines()
            .position(|l| l.trim() == "name = \"Llama-3.1-8B\"")
            .expect("the preset")
            + 1;
        assert_eq!(
            (problems[0].line, problems[0].column),
            (line, 1),
            "{problems:?}"
        );
        assert!(problems[0].message.contains("Llama-3.1-8B"));
    }

    #[test]
    fn rule_ids_read_from_manifests_and_strings() {
        let id = RuleId::new("generic", "1.0.0");
        assert_eq!(id.to_string(), "generic 1.0.0");
        assert_eq!("generic 1.0.0".parse::<RuleId>(), Ok(id.clone()));
        for bad in ["generic", "", " 1.0.0", "generic "] {
            assert!(bad.parse::<RuleId>().is_err(), "{bad:?}");
        }
        let extras = serde_json::json!({"fxb": {"rule": id}});
        assert_eq!(
            RuleId::from_manifest_extras(extras.as_object()),
            Some(id.clone())
        );
        assert_eq!(RuleId::from_manifest_extras(None), None);
    }

    #[test]
    fn the_embedded_rule_parses_and_serves_every_architecture() {
        let set = RuleSet::embedded();
        assert!(set.problems().is_empty(), "{:?}", set.problems());
        let rule = set.for_architecture("LlamaForCausalLM").expect("generic");
        assert_eq!(rule.file.name, "llama");
        assert!(rule.compatible);
        let (fingerprint, _) = set
            .fingerprint_rule("LlamaForCausalLM")
            .expect("fingerprint rule");
        assert_eq!(fingerprint.file.name, "generic");
        let (plan, presets) = set.plan_rule("LlamaForCausalLM").expect("plan rule");
        assert_eq!(plan.file.name, "llama");
        assert_eq!(presets.presets[0].name, "Llama-3.1-8B");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let text = "schema-version = 1\nname = \"x\"\nversion = \"one\"\nfxb = \">=0.1\"\narchitectures = [\"*\"]\n[fingerprint]\nfields = [\"a\"]\n";
        let problems = parse_rule(text).expect_err("bad version");
        assert_eq!(problems[0].line, 3);
        assert!(
            problems[0].message.contains("not a semver version"),
            "{problems:?}"
        );
        let problems = parse_rule("schema-version = 1\nnmae = \"x\"\n").expect_err("typo");
        assert_eq!((problems[0].line, problems[0].column), (2, 1));
        assert!(problems[0].message.contains("nmae"), "{problems:?}");
    }
}
