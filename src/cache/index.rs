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
    pub model: Map<String, Value>,
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
        let model = manifest
            .model
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
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
        self.model.get("architecture").and_then(Value::as_str)
    }
}

/// Why an index could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IndexParseError(String);

/// Parse an index; an error means "corrupt" (FORMAT.md §4.4).
pub fn parse(bytes: &[u8]) -> Result<Index, IndexParseError> {
    serde_json::from_slice(bytes).map_err(|e| IndexParseError(e.to_string()))
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
