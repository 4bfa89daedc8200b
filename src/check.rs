//! Which cached bundles a model can use, ranked the way the reference's server ranks
//! them (FORMAT.md §5.2), and which bundle a server would load (`resolve`, §3 and §5.2).
//!
//! Compatibility is decided on the index's `model` objects, never by opening bundles:
//! same architecture, and every field the fingerprint rule knows equal — numbers at the
//! top level compare numerically (`4096.0` = `4096`), values inside objects strictly
//! (`8` ≠ `8.0`), and `null` is the same as absent; unknown keys are ignored.

pub mod deep;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cache::{Cache, CacheError, CachedFile, revisions_match};
use crate::fingerprint::{Fingerprint, FingerprintError, read_config};
use crate::rules::RuleId;
use crate::toolchain::Toolchain;

/// The serving build's identity: what "match" and "stale" are measured against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Running {
    /// The compiler (FuriosaIR) revision the runtime runs.
    pub compiler_revision: Option<String>,
    /// The furiosa-llm revision.
    pub llm_revision: Option<String>,
}

impl Running {
    /// The serving build's identity: the revisions given (`--runtime-revision`,
    /// `--llm-revision`), else what the runtime backend reports (`backend`; by default
    /// `furiosa` when the vendor compiler is installed, else the host one). Also says why
    /// a part is unknown, for a front end to show.
    pub fn discover(
        compiler_revision: Option<String>,
        llm_revision: Option<String>,
        backend: Option<&str>,
    ) -> Result<(Running, String), crate::backend::LoadError> {
        Self::discover_from(compiler_revision, llm_revision, backend)
            .map(|found| (found.running, found.why))
    }

    /// [`Running::discover`], also saying where the identity came from.
    pub fn discover_from(
        compiler_revision: Option<String>,
        llm_revision: Option<String>,
        backend: Option<&str>,
    ) -> Result<Discovered, crate::backend::LoadError> {
        let given = compiler_revision.is_some();
        let backend = match backend {
            Some(name) => crate::backend::select(Some(name), &crate::backend::search_dirs())?,
            // No backend is asked when the revisions are given.
            None if given && llm_revision.is_some() => crate::backend::LoadedBackend::host(),
            None => crate::backend::default_runtime(),
        };
        let answer = backend.backend().runtime();
        // A backend that cannot answer says why (the furiosa one: what is not installed).
        let refusal = answer.as_ref().err().map(|e| e.message.clone());
        let identity = answer.ok();
        let why = identity
            .as_ref()
            .and_then(|i| i.note.clone())
            .or(refusal)
            .unwrap_or_else(|| {
                format!(
                    "backend `{}` reports no runtime revision",
                    backend.description.name
                )
            });
        let reported = |pick: fn(&crate::backend::RuntimeIdentity) -> Option<String>| {
            identity.as_ref().and_then(pick)
        };
        // Where the compiler revision came from, when a backend (not the flags) said it.
        let source = match (&identity, given) {
            (Some(i), false) if i.compiler_revision.is_some() => Some(format!(
                "backend `{}`{}",
                backend.description.name,
                i.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )),
            _ => None,
        };
        let running = Running {
            compiler_revision: compiler_revision
                .or_else(|| reported(|i| i.compiler_revision.clone())),
            llm_revision: llm_revision.or_else(|| reported(|i| i.runtime_revision.clone())),
        };
        Ok(Discovered {
            running,
            why,
            source,
        })
    }
}

/// What [`Running::discover_from`] found.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub running: Running,
    /// Why a part is unknown.
    pub why: String,
    /// The runtime backend that reported the compiler revision (`None` when it was given
    /// or is unknown).
    pub source: Option<String>,
}

/// A model to find bundles for: its fingerprint and the fields' JSON values.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Target {
    /// As the user named it (`./llama`, `org/name`).
    pub label: String,
    pub fingerprint: Fingerprint,
    /// The fingerprint's fields as config.json has them.
    pub fields: Map<String, Value>,
    /// Every field name the rule knows (compared even when the target lacks it).
    #[serde(skip)]
    pub known: Vec<String>,
}

/// Why a target could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
    #[error(transparent)]
    Convert(#[from] crate::convert::ConvertError),
    #[error("rule {0} is not installed")]
    RuleNotInstalled(RuleId),
}

/// A model directory's config.json, read and converted (`--convert auto`) once, to be
/// fingerprinted under one or more rule versions.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    label: String,
    file: PathBuf,
    config: Value,
    /// After `--convert auto`.
    architecture: String,
}

impl ModelConfig {
    /// Read `model_dir/config.json` and convert its architecture; `label` is how the user
    /// named the model (`./llama`, `org/name`).
    pub fn read(
        label: &str,
        model_dir: &Path,
        tools: &Toolchain,
    ) -> Result<ModelConfig, TargetError> {
        let (file, config) = read_config(model_dir)?;
        let converted = crate::convert::convert_model(
            &file,
            Some(model_dir),
            &config,
            "auto",
            &tools.plugins,
            &tools.host,
        )?;
        Ok(ModelConfig {
            label: label.to_string(),
            file,
            config,
            architecture: converted.architecture,
        })
    }

    /// The target fingerprinted with `rule` when given (the rule a cached bundle was made
    /// with), else with the active rule for the architecture.
    pub fn target(&self, tools: &Toolchain, rule: Option<&RuleId>) -> Result<Target, TargetError> {
        let rules = &tools.rules;
        let chosen = match rule {
            Some(id) => rules
                .fingerprint_rule_version(id)
                .ok_or_else(|| TargetError::RuleNotInstalled(id.clone()))?,
            None => rules
                .fingerprint_rule(&self.architecture)
                .ok_or_else(|| FingerprintError::NoRule(self.architecture.clone()))?,
        };
        let print = crate::fingerprint::fingerprint_with_rule(
            &self.file,
            &self.config,
            &self.architecture,
            chosen,
            &tools.plugins,
            &tools.host,
        )?;
        let all = crate::fingerprint::model_fields(&self.config, &print);
        let fields = print
            .fields
            .keys()
            .filter_map(|k| all.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let fingerprint_rule = chosen.1;
        let mut known = fingerprint_rule.fields.clone();
        known.extend(fingerprint_rule.derived.keys().cloned());
        if let Some(q) = &fingerprint_rule.quantization {
            known.extend(q.fields.iter().cloned());
        }
        Ok(Target {
            label: self.label.clone(),
            fingerprint: print,
            fields,
            known,
        })
    }
}

impl Target {
    /// The target for a local model directory, after `--convert auto`, fingerprinted with
    /// the active rule (`ModelConfig` to fingerprint one config under several rules).
    pub fn from_model_dir(
        label: &str,
        model_dir: &Path,
        tools: &Toolchain,
    ) -> Result<Target, TargetError> {
        ModelConfig::read(label, model_dir, tools)?.target(tools, None)
    }

    /// The rule this target was fingerprinted with.
    pub fn rule(&self) -> RuleId {
        self.fingerprint.rule.clone()
    }
}

/// One field where a bundle differs from the target (`None`: absent or null).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    pub field: String,
    /// The target's value as fingerprints render it (the report's `fields`).
    pub target: Option<String>,
    /// The bundle's value, rendered the same way.
    pub bundle: Option<String>,
    /// The target's value as config.json has it.
    pub target_value: Option<Value>,
    /// The bundle's value as its manifest has it.
    pub bundle_value: Option<Value>,
}

impl Difference {
    fn new(field: &str, target: Option<&Value>, bundle: Option<&Value>) -> Difference {
        let present = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
        let (target_value, bundle_value) = (present(target), present(bundle));
        let render = |v: &Option<Value>| v.as_ref().map(fxb_plugin_api::fingerprint::render);
        Difference {
            field: field.to_string(),
            target: render(&target_value),
            bundle: render(&bundle_value),
            target_value,
            bundle_value,
        }
    }
}

/// The reference's equality of one field.
fn same_value(target: Option<&Value>, bundle: Option<&Value>) -> bool {
    fn present(v: Option<&Value>) -> Option<&Value> {
        v.filter(|v| !v.is_null())
    }
    match (present(target), present(bundle)) {
        (None, None) => true,
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The fields where `model` (an index entry's) differs from the target; `None` when the
/// architectures differ.
pub fn differences(target: &Target, model: &Map<String, Value>) -> Option<Vec<Difference>> {
    differences_in(target, &compared_fields(target), model)
}

/// Every field a comparison with `target` looks at, sorted, once.
fn compared_fields(target: &Target) -> Vec<&String> {
    let mut names: Vec<&String> = target.known.iter().chain(target.fields.keys()).collect();
    names.sort();
    names.dedup();
    names
}

/// [`differences`] over `names` ([`compared_fields`]), computed once for a whole cache.
fn differences_in(
    target: &Target,
    names: &[&String],
    model: &Map<String, Value>,
) -> Option<Vec<Difference>> {
    if model.get("architecture").and_then(Value::as_str)
        != Some(target.fingerprint.architecture.as_str())
    {
        return None;
    }
    Some(
        names
            .iter()
            .copied()
            .filter(|name| !same_value(target.fields.get(*name), model.get(*name)))
            .map(|name| Difference::new(name, target.fields.get(name), model.get(name)))
            .collect(),
    )
}

/// Compares cached `model` objects with one target, each distinct object once.
struct Comparer<'t> {
    target: &'t Target,
    /// [`compared_fields`] of the target.
    names: Vec<&'t String>,
    /// By [`crate::cache::ModelObject::key`].
    seen: std::collections::HashMap<String, Option<Vec<Difference>>, foldhash::fast::RandomState>,
}

impl<'t> Comparer<'t> {
    fn new(target: &'t Target) -> Self {
        Comparer {
            target,
            names: compared_fields(target),
            seen: Default::default(),
        }
    }

    /// [`differences`] of `model` from the target.
    fn compare(&mut self, model: &crate::cache::ModelObject) -> Option<Vec<Difference>> {
        let (target, names) = (self.target, &self.names);
        let Some(key) = model.key() else {
            return differences_in(target, names, model.map());
        };
        if let Some(seen) = self.seen.get(key) {
            return seen.clone();
        }
        let differences = differences_in(target, names, model.map());
        self.seen.insert(key.to_string(), differences.clone());
        differences
    }
}

/// A compatible cached bundle and how it ranks.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Match {
    pub repo_id: String,
    pub filename: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    pub ir_version: Option<String>,
    pub ir_revision: Option<String>,
    /// For a bundle not compiled by the vendor compiler (its FuriosaIR fields are null):
    /// the compiler fxb recorded when it added it, matched like a FuriosaIR revision.
    pub other_compiler: Option<crate::cache::Compiler>,
    /// Compiler revision matches the running one (`None`: no running revision known).
    pub npu_tools_match: Option<bool>,
    pub runtime_match: Option<bool>,
    pub same_repo: bool,
    pub recommended: bool,
    /// The fingerprint rule the comparison used (`generic 1.0.0`).
    pub rule: RuleId,
    /// When the bundle entered the cache (the index's `downloaded_at`): the last tie-break.
    #[serde(skip)]
    #[schemars(skip)]
    pub added_at: String,
}

/// A bundle of the same architecture that is not compatible, and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NearMiss {
    pub repo_id: String,
    pub filename: String,
    pub path: PathBuf,
    pub differences: Vec<Difference>,
    /// The fingerprint rule the comparison used.
    pub rule: RuleId,
}

/// What fxb knows about cached bundles beyond the shared index (its sidecar).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Compilers of bundles not compiled by the vendor compiler, by `rel_path`
    /// ([`crate::cache::Cache::recorded`]).
    pub other_compilers: std::collections::HashMap<String, crate::cache::Compiler>,
    /// The rule each bundle was fingerprinted with, by `rel_path`.
    pub bundle_rules: std::collections::HashMap<String, RuleId>,
    /// The target fingerprinted with each of those rules that is installed and not the
    /// active one, by rule.
    pub rule_targets: std::collections::HashMap<RuleId, Target>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub target: String,
    pub architecture: String,
    pub fields: std::collections::BTreeMap<String, String>,
    pub rule: RuleId,
    pub running: Running,
    pub matches: Vec<Match>,
    pub near_misses: Vec<NearMiss>,
}

impl CheckReport {
    pub fn recommended(&self) -> Option<&Match> {
        self.matches.iter().find(|m| m.recommended)
    }
}

/// What `check` is asked.
#[derive(Debug, Clone)]
pub struct CheckOptions<'a> {
    /// How the user named the model (`./llama`, `org/name`).
    pub label: &'a str,
    /// The model directory holding config.json.
    pub model_dir: &'a Path,
    /// The serving build's identity.
    pub running: Running,
    /// The model's Hub repo id, if it has one (ranks bundles of the same repo first).
    pub repo_id: Option<&'a str>,
    /// Also read the safetensors headers (never the weights) against the config.
    pub deep: bool,
}

/// `check`'s answer.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub report: CheckReport,
    /// With [`CheckOptions::deep`]: the weights' shapes against the config.
    pub weights: Option<deep::WeightReport>,
    /// What a user should know about how the answer was reached.
    pub notes: Vec<String>,
}

/// Why `check` could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Deep(#[from] deep::DeepError),
}

impl crate::Hint for CheckError {
    fn hint(&self) -> Option<String> {
        match self {
            CheckError::Cache(e) => e.hint(),
            _ => None,
        }
    }
}

/// Which cached bundles fit the model at `options.model_dir`: the model is read and
/// converted once, fingerprinted with the active rule — and with every other installed
/// rule a cached bundle was made with, so that bundle is compared on its own terms
/// (DESIGN.md, "Fingerprint and compatibility") — then ranked against the cache.
pub fn run(
    tools: &Toolchain,
    cache: &Cache,
    options: CheckOptions<'_>,
) -> Result<CheckRun, CheckError> {
    let model = ModelConfig::read(options.label, options.model_dir, tools)?;
    let target = model.target(tools, None)?;
    let files = cache.list()?;
    let recorded = cache.recorded();
    let mut notes = Vec::new();
    let mut other_rules: Vec<&RuleId> = recorded
        .rules
        .values()
        .filter(|r| **r != target.rule())
        .collect();
    other_rules.sort();
    other_rules.dedup();
    let mut rule_targets = std::collections::HashMap::new();
    for rule in other_rules {
        match model.target(tools, Some(rule)) {
            Ok(other) => {
                rule_targets.insert(rule.clone(), other);
            }
            Err(e) => notes.push(format!(
                "bundles fingerprinted with rule {rule} are compared with the active rule {} ({e})",
                target.rule()
            )),
        }
    }
    let known = Known {
        other_compilers: recorded.compilers,
        bundle_rules: recorded.rules,
        rule_targets,
    };
    let report = check_with(&target, &files, &options.running, options.repo_id, &known);
    let weights = if options.deep {
        Some(deep::check_weights(options.model_dir, &target)?)
    } else {
        None
    };
    Ok(CheckRun {
        report,
        weights,
        notes,
    })
}

/// Rank every cached bundle against the target: matches sorted by compiler match, runtime
/// match, same repo id, then file name (all descending); the first is recommended — even
/// when stale, as in the reference. `repo_id` is the target's Hub id, if any.
pub fn check(
    target: &Target,
    files: &[CachedFile],
    running: &Running,
    repo_id: Option<&str>,
) -> CheckReport {
    check_with(target, files, running, repo_id, &Known::default())
}

/// [`check`], knowing what fxb recorded about the cached bundles: each is compared with
/// the target fingerprinted by the rule it was made with, when that rule is installed,
/// so bundles made under an older rule stay checkable; and a bundle of another compiler
/// is matched by the revision fxb recorded.
pub fn check_with(
    target: &Target,
    files: &[CachedFile],
    running: &Running,
    repo_id: Option<&str>,
    known: &Known,
) -> CheckReport {
    let other_compilers = &known.other_compilers;
    let mut matches = Vec::new();
    let mut near_misses = Vec::new();
    // One comparer per target (the active rule's, and each other installed rule a
    // bundle was made with): its field list is sorted once, and bundles of one model,
    // which carry the same `model` object (often hundreds), are compared once.
    let mut active = Comparer::new(target);
    let mut others: std::collections::HashMap<&RuleId, Comparer> = known
        .rule_targets
        .iter()
        .map(|(rule, other)| (rule, Comparer::new(other)))
        .collect();
    for file in files.iter().filter(|f| !f.missing) {
        let entry = &file.entry;
        let comparer = match known.bundle_rules.get(&entry.rel_path) {
            Some(rule) => others.get_mut(rule).unwrap_or(&mut active),
            None => &mut active,
        };
        let target = comparer.target;
        // Only bundles of the target's architecture are compared (and their `model`
        // objects parsed).
        if entry.architecture() != Some(target.fingerprint.architecture.as_str()) {
            continue;
        }
        match comparer.compare(&entry.model) {
            Some(diff) if diff.is_empty() => {
                let other = entry
                    .ir_revision
                    .is_none()
                    .then(|| other_compilers.get(&entry.rel_path).cloned())
                    .flatten();
                let revision = entry
                    .ir_revision
                    .as_deref()
                    .or(other.as_ref().and_then(|c| c.revision.as_deref()));
                matches.push(Match {
                    repo_id: file.repo_id.clone(),
                    filename: entry.filename.clone(),
                    path: file.path.clone(),
                    size_bytes: entry.size_bytes,
                    ir_version: entry.ir_version.clone(),
                    ir_revision: entry.ir_revision.clone(),
                    other_compiler: other.clone(),
                    npu_tools_match: running
                        .compiler_revision
                        .as_deref()
                        .map(|r| revisions_match(revision, r)),
                    runtime_match: running
                        .llm_revision
                        .as_deref()
                        .map(|r| revisions_match(entry.llm_revision.as_deref(), r)),
                    same_repo: repo_id == Some(file.repo_id.as_str()),
                    recommended: false,
                    added_at: entry.downloaded_at.clone(),
                    rule: target.rule(),
                });
            }
            Some(differences) => near_misses.push(NearMiss {
                repo_id: file.repo_id.clone(),
                filename: entry.filename.clone(),
                path: file.path.clone(),
                differences,
                rule: target.rule(),
            }),
            None => {}
        }
    }
    matches.sort_by(|a, b| {
        let key = |m: &Match| {
            (
                m.npu_tools_match.unwrap_or(false),
                m.runtime_match.unwrap_or(false),
                m.same_repo,
            )
        };
        key(b)
            .cmp(&key(a))
            .then_with(|| b.filename.as_bytes().cmp(a.filename.as_bytes()))
            // Two builds within one minute share a standard name: the newest wins
            // (issue 14), by when it entered the cache (RFC 3339 sorts as text).
            .then_with(|| b.added_at.cmp(&a.added_at))
    });
    if let Some(first) = matches.first_mut() {
        first.recommended = true;
    }
    CheckReport {
        target: target.label.clone(),
        architecture: target.fingerprint.architecture.clone(),
        fields: target.fingerprint.fields.clone(),
        rule: target.rule(),
        running: running.clone(),
        matches,
        near_misses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Llama-3.1-8B-Instruct's target, as `Target::from_model_dir` makes it.
    fn target() -> Target {
        let fields = json!({
            "head_dim": 128, "hidden_size": 4096, "intermediate_size": 14336,
            "max_position_embeddings": 131072, "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "vocab_size": 128256
        });
        let fields = fields.as_object().cloned().unwrap_or_default();
        Target {
            label: "t".into(),
            fingerprint: Fingerprint {
                architecture: "LlamaForCausalLM".into(),
                fields: Default::default(),
                rule: crate::rules::RuleId::new("generic", "1.0.0"),
                plugin: crate::plugin::PluginId {
                    name: "llama".into(),
                    version: "0.1.0".into(),
                },
            },
            known: [
                "hidden_size",
                "intermediate_size",
                "max_position_embeddings",
                "num_attention_heads",
                "num_hidden_layers",
                "num_key_value_heads",
                "rms_norm_eps",
                "vocab_size",
                "head_dim",
                "sliding_window",
                "rope_scaling",
                "num_experts",
                "quant_method",
                "format",
            ]
            .map(String::from)
            .to_vec(),
            fields,
        }
    }

    fn compatible(edit: impl Fn(&mut Map<String, Value>)) -> bool {
        let t = target();
        let mut model = t.fields.clone();
        model.insert("architecture".into(), "LlamaForCausalLM".into());
        edit(&mut model);
        differences(&t, &model).is_some_and(|d| d.is_empty())
    }

    /// FORMAT.md §5.2: the reference's answers to 25 edits of a cached `model` object.
    #[test]
    fn compatibility_follows_the_reference_probes() {
        assert!(compatible(|_| {}));
        assert!(compatible(|m| {
            m.insert("hub_repo_id".into(), "x/y".into());
            m.insert("foo".into(), 1.into());
        }));
        assert!(compatible(|m| {
            m.insert("sliding_window".into(), Value::Null);
            m.insert("quant_method".into(), Value::Null);
        }));
        assert!(!compatible(|m| {
            m.insert("sliding_window".into(), 4096.into());
        }));
        assert!(!compatible(|m| {
            m.insert("num_experts".into(), 8.into());
        }));
        assert!(!compatible(|m| {
            m.insert("quant_method".into(), "fp8".into());
        }));
        assert!(!compatible(|m| {
            m.remove("head_dim");
        }));
        assert!(!compatible(|m| {
            m.insert("rope_scaling".into(), Value::Null);
        }));
        assert!(compatible(|m| {
            m.insert("hidden_size".into(), json!(4096.0));
        }));
        assert!(compatible(|m| {
            // The reference's probe `0.000010000000000000001`: the same f64 as 1e-05.
            let eps: Value = serde_json::from_str("0.000010000000000000001").unwrap_or_default();
            m.insert("rms_norm_eps".into(), eps);
        }));
        assert!(!compatible(|m| {
            m.insert("hidden_size".into(), json!(4096.5));
        }));
        assert!(!compatible(|m| {
            m.insert("hidden_size".into(), json!("4096"));
        }));
        assert!(compatible(|m| {
            m.insert(
                "rope_scaling".into(),
                json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
            );
        }));
        assert!(!compatible(|m| {
            m["rope_scaling"]["factor"] = json!(8);
        }));
        assert!(!compatible(|m| {
            m.insert("architecture".into(), "MistralForCausalLM".into());
        }));
        assert!(!compatible(|m| {
            m.insert("num_hidden_layers".into(), 16.into());
        }));
    }
}
