//! `index.json`, exactly the reference's schema (FORMAT.md §4.3), so both tools can work
//! on one cache: pretty JSON with two-space indents and no trailing newline, repos sorted
//! by id, files in insertion order, twelve fields per file. Unknown fields are not kept
//! (the reference drops them too); fxb's own additions live in the sidecar.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bundle::Manifest;

pub const INDEX_FILE: &str = "index.json";
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Index {
    /// Not checked on read: the reference does not either.
    #[serde(default)]
    pub schema_version: Option<u64>,
    pub repos: BTreeMap<String, Repo>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: Some(SCHEMA_VERSION),
            repos: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Repo {
    pub repo_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    pub files: Vec<FileEntry>,
}

/// One cached bundle.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct FileEntry {
    pub filename: String,
    /// Relative to the cache dir, `/`-separated.
    pub rel_path: String,
    /// The snapshot directory: a commit (download) or the manifest uuid (add).
    pub revision: String,
    pub size_bytes: u64,
    pub ir_version: Option<String>,
    /// The compiler revision `check`, `prune` and serving compare.
    pub ir_revision: Option<String>,
    pub llm_version: Option<String>,
    pub llm_revision: Option<String>,
    /// The manifest's `model` object.
    pub model: ModelObject,
    pub fxb_format_version: u64,
    pub downloaded_at: String,
    pub last_accessed_at: String,
}

impl FileEntry {
    /// The entry for a bundle stored at `rel_path` (revision dir `revision`), entering the
    /// cache `now`. Only a vendor-compiler bundle has FuriosaIR versions: fxb's own host
    /// builds record theirs in the sidecar and show `-` here, as the reference expects of
    /// a bundle without `furiosa_compiler`.
    pub fn new(manifest: &Manifest, rel_path: &str, revision: &str, size: u64, now: &str) -> Self {
        let tool = |name: &str| manifest.tool(name);
        let version = |name: &str| tool(name).and_then(|t| t.version.clone());
        let revision_of = |name: &str| tool(name).and_then(|t| t.revision.clone());
        let model = ModelObject::new(
            manifest
                .model
                .as_ref()
                .and_then(|m| serde_json::to_value(m).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default(),
        );
        FileEntry {
            filename: rel_path.rsplit('/').next().unwrap_or(rel_path).to_string(),
            rel_path: rel_path.to_string(),
            revision: revision.to_string(),
            size_bytes: size,
            ir_version: version("furiosa_compiler"),
            ir_revision: revision_of("furiosa_compiler"),
            llm_version: version("furiosa_llm"),
            llm_revision: revision_of("furiosa_llm"),
            model,
            fxb_format_version: manifest.format_version,
            downloaded_at: now.to_string(),
            last_accessed_at: now.to_string(),
        }
    }

    pub fn architecture(&self) -> Option<&str> {
        self.model.architecture()
    }
}

/// A cached bundle's `model` object, kept as its JSON text until a field other than the
/// architecture is needed.
///
/// Parsing a thousand `model` objects into maps was most of the cost of reading the
/// index (issue 12: `cache ls` reads only the architecture; `check` compares only the
/// bundles of the target's architecture). The text is validated when the index is read,
/// so a malformed object still makes the index corrupt, and it is written back through
/// the parsed map, so `index.json` keeps the reference's exact layout.
#[derive(Debug, Clone)]
pub struct ModelObject {
    /// The JSON text, checked when it was read (or by fxb before it kept it in
    /// [`super::parsed`]).
    raw: Option<Box<str>>,
    parsed: std::sync::OnceLock<Map<String, Value>>,
    architecture: std::sync::OnceLock<Option<String>>,
    key: std::sync::OnceLock<Option<String>>,
}

impl ModelObject {
    pub fn new(map: Map<String, Value>) -> ModelObject {
        ModelObject {
            raw: None,
            parsed: std::sync::OnceLock::from(map),
            architecture: std::sync::OnceLock::new(),
            key: std::sync::OnceLock::new(),
        }
    }

    /// An object whose text, architecture and key fxb worked out before and kept.
    pub(super) fn known(raw: Box<str>, architecture: Option<String>, key: Option<String>) -> Self {
        ModelObject {
            raw: Some(raw),
            parsed: std::sync::OnceLock::new(),
            architecture: std::sync::OnceLock::from(architecture),
            key: std::sync::OnceLock::from(key),
        }
    }

    /// The parsed object (an unparsable one cannot be: it was refused when read).
    pub fn map(&self) -> &Map<String, Value> {
        self.parsed.get_or_init(|| {
            self.raw
                .as_deref()
                .and_then(|raw| serde_json::from_str(raw).ok())
                .unwrap_or_default()
        })
    }

    /// `architecture`, read without parsing the rest into a map.
    pub fn architecture(&self) -> Option<&str> {
        self.architecture
            .get_or_init(|| match (self.parsed.get(), &self.raw) {
                (Some(map), _) => map
                    .get("architecture")
                    .and_then(Value::as_str)
                    .map(String::from),
                (None, Some(raw)) => architecture_of(raw),
                (None, None) => None,
            })
            .as_deref()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map().get(key)
    }

    /// The object's JSON text as the index holds it (`None` for one made in memory).
    pub fn text(&self) -> Option<&str> {
        self.raw.as_deref()
    }

    /// The object's fields as one string, in key order, each value as its JSON text:
    /// equal keys are equal objects whatever order their keys were written in (the
    /// reference writes them in no fixed order). `None` for an object made in memory.
    pub fn key(&self) -> Option<&str> {
        self.key
            .get_or_init(|| self.raw.as_deref().and_then(canonical_fields))
            .as_deref()
    }
}

/// [`ModelObject::key`] of a model object's text, read without building any value.
fn canonical_fields(text: &str) -> Option<String> {
    let fields: std::collections::BTreeMap<
        std::borrow::Cow<'_, str>,
        &serde_json::value::RawValue,
    > = serde_json::from_str(text).ok()?;
    let mut key = String::with_capacity(text.len());
    for (name, value) in fields {
        key.push_str(&name);
        key.push('\0');
        key.push_str(value.get());
        key.push('\0');
    }
    Some(key)
}

/// The `architecture` of a model object's JSON text, reading only up to it (the
/// reference and fxb write it first, so the rest of the object is not even scanned).
fn architecture_of(raw: &str) -> Option<String> {
    if let Some(found) = leading_architecture(raw) {
        return found;
    }
    struct Find<'a>(&'a mut Option<String>);

    impl<'de> serde::de::Visitor<'de> for Find<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a model object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "architecture" {
                    let value: Value = map.next_value()?;
                    *self.0 = value.as_str().map(String::from);
                    // Found: stop reading here. The deserializer reports the object
                    // unfinished, which is what we want to skip.
                    return Err(serde::de::Error::custom("found"));
                }
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    let _ = serde::Deserializer::deserialize_map(&mut deserializer, Find(&mut found));
    found
}

/// `{"architecture": "X", …`, read without a parser: the layout both tools write, so a
/// thousand-row `cache ls` parses no model object. `None` when the text is laid out any
/// other way (or the value has an escape): the parser answers then.
fn leading_architecture(raw: &str) -> Option<Option<String>> {
    fn json_space(text: &str) -> &str {
        text.trim_start_matches([' ', '\n', '\r', '\t'])
    }
    let rest = json_space(raw).strip_prefix('{')?;
    let rest = json_space(rest).strip_prefix("\"architecture\"")?;
    let rest = json_space(rest).strip_prefix(':')?;
    let value = json_space(rest).strip_prefix('"')?;
    let end = value
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    (value.as_bytes()[end] == b'"').then(|| Some(value[..end].to_string()))
}

impl PartialEq for ModelObject {
    fn eq(&self, other: &ModelObject) -> bool {
        self.map() == other.map()
    }
}

impl Serialize for ModelObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ModelObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        // What the map would refuse is refused now: only objects are models.
        if !raw.get().trim_start().starts_with('{') {
            return Err(serde::de::Error::custom("`model` is not an object"));
        }
        Ok(ModelObject {
            raw: Some(raw.into()),
            parsed: std::sync::OnceLock::new(),
            architecture: std::sync::OnceLock::new(),
            key: std::sync::OnceLock::new(),
        })
    }
}

impl schemars::JsonSchema for ModelObject {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ModelObject".into()
    }

    // Described as the object it is, in place (the schema is the index's, unchanged).
    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Map<String, Value>>::json_schema(generator)
    }
}

/// Why an index could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IndexParseError(String);

/// Parse an index; an error means "corrupt" (FORMAT.md §4.4).
pub fn parse(bytes: &[u8]) -> Result<Index, IndexParseError> {
    // Checked as UTF-8 once, whole: parsed from bytes, serde_json checks every string on
    // its own, which cost a seventh of reading a thousand-entry index.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        IndexParseError(format!(
            "it is not UTF-8 text (byte {} is not)",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| IndexParseError(e.to_string()))
}

/// The bytes the reference writes: pretty JSON, two spaces, no trailing newline.
pub fn to_bytes(index: &Index) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(index)
}

impl Index {
    /// Insert or replace (same `rel_path`, in place) an entry of `repo_id`.
    pub fn upsert(&mut self, repo_id: &str, entry: FileEntry) {
        let repo = self
            .repos
            .entry(repo_id.to_string())
            .or_insert_with(|| Repo {
                repo_id: repo_id.to_string(),
                base_model: None,
                files: Vec::new(),
            });
        match repo.files.iter_mut().find(|f| f.rel_path == entry.rel_path) {
            Some(existing) => *existing = entry,
            None => repo.files.push(entry),
        }
    }

    /// Every entry with its repo id, in index order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &FileEntry)> {
        self.repos
            .iter()
            .flat_map(|(id, repo)| repo.files.iter().map(move |f| (id.as_str(), f)))
    }

    /// Remove the entries at `rel_paths`; repos left without files go too.
    pub fn remove(&mut self, rel_paths: &[&str]) {
        for repo in self.repos.values_mut() {
            repo.files
                .retain(|f| !rel_paths.contains(&f.rel_path.as_str()));
        }
        self.repos.retain(|_, repo| !repo.files.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architecture_is_read_wherever_it_is_and_only_as_a_string() {
        assert_eq!(
            architecture_of(r#"{"architecture": "LlamaForCausalLM", "x": [1, {"y": 2}]}"#),
            Some("LlamaForCausalLM".into())
        );
        assert_eq!(
            architecture_of(r#"{"x": {"architecture": "Inner"}, "architecture": "Outer"}"#),
            Some("Outer".into())
        );
        assert_eq!(architecture_of(r#"{"architecture": 7}"#), None);
        // The layout both tools write, and one the quick read leaves to the parser.
        assert_eq!(
            architecture_of("{\n    \"architecture\": \"Qwen3ForCausalLM\",\n    \"x\": 1\n}"),
            Some("Qwen3ForCausalLM".into())
        );
        assert_eq!(
            architecture_of(r#"{"architecture": "A\u0042\"C"}"#),
            Some("AB\"C".into())
        );
        assert_eq!(architecture_of(r#"{"x": 1}"#), None);
        assert_eq!(architecture_of("{}"), None);
    }

    #[test]
    fn model_objects_compare_as_one_whatever_their_key_order() {
        let a = canonical_fields(r#"{"architecture": "L", "hidden_size": 4096, "r": {"f": 8.0}}"#);
        let b = canonical_fields(r#"{"r": {"f": 8.0}, "hidden_size": 4096, "architecture": "L"}"#);
        let c = canonical_fields(r#"{"architecture": "L", "hidden_size": 4097, "r": {"f": 8.0}}"#);
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(canonical_fields("[1]"), None);
    }

    #[test]
    fn a_model_that_is_not_an_object_makes_the_index_corrupt() {
        let entry = |model: &str| {
            format!(
                r#"{{"schema_version": 1, "repos": {{"local": {{"repo_id": "local", "files": [{{
                "filename": "x.fxb", "rel_path": "models--local/snapshots/u/x.fxb",
                "revision": "u", "size_bytes": 1, "ir_version": null, "ir_revision": null,
                "llm_version": null, "llm_revision": null, "model": {model},
                "fxb_format_version": 2, "downloaded_at": "t", "last_accessed_at": "t"}}]}}}}}}"#
            )
        };
        let index = parse(entry(r#"{"architecture": "A", "n": 1}"#).as_bytes()).expect("parses");
        let file = &index.repos["local"].files[0];
        assert_eq!(file.architecture(), Some("A"));
        assert_eq!(file.model.get("n"), Some(&Value::from(1)));
        assert!(parse(entry("[1]").as_bytes()).is_err());
        assert!(parse(entry(r#"{"architecture": "A", "#).as_bytes()).is_err());
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/reference")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_reference_indexes_round_trip_byte_for_byte() {
        for name in ["cache-index.json", "cache-index-multi.json"] {
            let bytes = fixture(name);
            let index = parse(&bytes).expect("parses");
            assert_eq!(
                String::from_utf8(to_bytes(&index).expect("serializes")).expect("utf8"),
                String::from_utf8(bytes).expect("utf8").trim_end(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_file_without_size_is_corrupt_and_unknown_keys_are_ignored() {
        assert!(parse(br#"{"schema_version":1,"repos":{"local":{"repo_id":"local","files":[{"filename":"a.fxb"}]}}}"#).is_err());
        let index = parse(br#"{"schema_version":1,"repos":{},"extra":1}"#).expect("parses");
        assert!(index.repos.is_empty());
    }
}
