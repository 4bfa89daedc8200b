//! `manifest.json`: the serde types (the single source of truth for
//! `schemas/manifest.schema.json`), migration of format versions 0 and 1, and the exact
//! serialization the reference writes (serde_json pretty, no trailing newline).
//!
//! Unknown fields are kept at every level fxb owns (top level, `versions.*`, `model`,
//! `parallel_config`, kernel entries), so rewriting a bundle never drops what a newer tool
//! put there.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use fxb_backend_api::bucket::BucketKey;

/// The manifest format this fxb writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 2;

/// The manifest's name inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Kernel name → its compiled entries, in the manifest's own order.
pub type Kernels = IndexMap<String, Vec<KernelEntry>>;

/// A bundle manifest (format_version 2, FORMAT.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "FXB manifest",
    description = "manifest.json of an FXB bundle (format_version 2)"
)]
pub struct Manifest {
    /// Always 2 after reading: older versions are migrated in memory.
    pub format_version: u64,
    /// Random UUID v4 of the build, lowercase hyphenated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// RFC 3339 build start time, e.g. `2026-11-23T05:50:50.561591165+00:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Tool name → version and revision (`furiosa_compiler`, `furiosa_llm`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<IndexMap<String, ToolVersion>>,
    /// The architecture fingerprint: architecture plus raw config.json values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Model>,
    /// The parallelism the kernels were compiled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_config: Option<ParallelConfig>,
    /// Kernel name → compiled entries.
    pub kernels: Kernels,
    /// Free-form additions; fxb's own live under `extras.fxb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Map<String, Value>>,
    /// Top-level fields this fxb does not know, kept verbatim.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One tool's identity in `versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolVersion {
    /// Release version, e.g. `2026.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Short git revision, e.g. `ae27d44cd8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The `model` object: the architecture and the kernel-affecting config.json fields,
/// stored as their raw JSON values (numbers as numbers, `rope_scaling` as an object,
/// explicit nulls kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Model {
    /// Hugging Face architecture, e.g. `LlamaForCausalLM` (after `--convert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The Hub repository the build came from; absent for local builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_repo_id: Option<String>,
    /// Fingerprint fields, raw values from config.json.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// `parallel_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParallelConfig {
    pub tensor_parallel_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_parallel_size: Option<u64>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One compiled kernel × bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KernelEntry {
    pub bucket: BucketKey,
    /// Path inside the bundle, forward slashes (`edfs/first_tokenwise_tw1.edf`).
    pub file: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// Why a manifest could not be used. Turned into [`super::BundleError`] by the reader,
/// which knows the file's path.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Invalid(String),
    #[error("format_version {found} is newer than {supported}")]
    Future { found: u64, supported: u64 },
}

impl Manifest {
    /// An empty current-format manifest.
    pub fn new() -> Self {
        Manifest {
            format_version: FORMAT_VERSION,
            uuid: None,
            created_at: None,
            versions: None,
            model: None,
            parallel_config: None,
            kernels: Kernels::new(),
            extras: None,
            unknown: Map::new(),
        }
    }

    /// The manifest as the reference writes it: pretty JSON, 2-space indent, no trailing
    /// newline.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        // An error, never an empty manifest: a bundle without one is unreadable.
        serde_json::to_vec_pretty(self)
    }

    /// Tensor parallel size, with the reference's default of 8 when `parallel_config` is
    /// absent (FORMAT.md §5.7).
    pub fn tensor_parallel_size(&self) -> u64 {
        self.parallel_config
            .as_ref()
            .map_or(8, |p| p.tensor_parallel_size)
    }

    /// Pipeline parallel size, 1 when absent.
    pub fn pipeline_parallel_size(&self) -> u64 {
        self.parallel_config
            .as_ref()
            .and_then(|p| p.pipeline_parallel_size)
            .unwrap_or(1)
    }

    /// A tool's entry in `versions`.
    pub fn tool(&self, name: &str) -> Option<&ToolVersion> {
        self.versions.as_ref().and_then(|v| v.get(name))
    }

    /// The `versions` entry naming the compiler that produced the kernels: the one
    /// `extras.fxb.compiler` names, else `furiosa_compiler` (DESIGN.md, Bundles).
    pub fn compiler_tool_name(&self) -> &str {
        self.extras
            .as_ref()
            .and_then(|e| e.get("fxb"))
            .and_then(|f| f.get("compiler"))
            .and_then(Value::as_str)
            .unwrap_or("furiosa_compiler")
    }

    /// The `versions` entry naming the tool that assembled the bundle: the one
    /// `extras.fxb.builder` names, else `furiosa_llm` (the reference's).
    pub fn builder_tool_name(&self) -> &str {
        self.extras
            .as_ref()
            .and_then(|e| e.get("fxb"))
            .and_then(|f| f.get("builder"))
            .and_then(Value::as_str)
            .unwrap_or("furiosa_llm")
    }

    /// Every distinct entry file named by the manifest, in manifest order.
    pub fn files(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.kernels
            .values()
            .flatten()
            .map(|e| e.file.as_str())
            .filter(|f| seen.insert(*f))
            .collect()
    }

    /// Total number of kernel entries.
    pub fn entry_count(&self) -> usize {
        self.kernels.values().map(Vec::len).sum()
    }
}

impl Default for Manifest {
    fn default() -> Self {
        Self::new()
    }
}

/// Parse `manifest.json`, migrating format versions 0 and 1 to 2 (FORMAT.md §2.6).
///
/// Versions newer than [`FORMAT_VERSION`] are refused (the reference reads them as v2 and
/// hopes; fxb would rather say so than misread a bundle).
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ManifestError::Invalid(format!("not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(ManifestError::Invalid(format!(
            "expected a JSON object, found {}",
            json_type(&value)
        )));
    };
    let version = match object.get("format_version") {
        None => 0,
        Some(Value::Number(n)) if n.is_u64() => n.as_u64().unwrap_or(0),
        Some(other) => {
            return Err(ManifestError::Invalid(format!(
                "`format_version` must be a non-negative integer, found {}",
                describe(other)
            )));
        }
    };
    match version {
        0 => migrate_v0(object),
        1 => {
            migrate_v1_buckets(&mut object);
            object.insert("format_version".into(), Value::from(FORMAT_VERSION));
            from_object(object)
        }
        FORMAT_VERSION => from_object(object),
        found => Err(ManifestError::Future {
            found,
            supported: FORMAT_VERSION,
        }),
    }
}

fn from_object(object: Map<String, Value>) -> Result<Manifest, ManifestError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ManifestError::Invalid(inner.to_string())
        } else {
            ManifestError::Invalid(format!("`{path}`: {inner}"))
        }
    })
}

/// v0: top-level `tensor_parallel_size` and `kernels`; nothing else is read (the
/// reference ignores uuid, versions and model there). Other keys are kept as unknown
/// fields so a rewrite does not lose them.
fn migrate_v0(mut object: Map<String, Value>) -> Result<Manifest, ManifestError> {
    object.remove("format_version");
    let tp = match object.remove("tensor_parallel_size") {
        Some(Value::Number(n)) if n.is_u64() => n.as_u64().unwrap_or(0),
        Some(other) => {
            return Err(ManifestError::Invalid(format!(
                "format_version 0: `tensor_parallel_size` must be a non-negative integer, found {}",
                describe(&other)
            )));
        }
        None => {
            return Err(ManifestError::Invalid(
                "format_version 0 (no `format_version` field): missing field `tensor_parallel_size`"
                    .into(),
            ));
        }
    };
    let Some(kernels) = object.remove("kernels") else {
        return Err(ManifestError::Invalid("missing field `kernels`".into()));
    };
    let kernels: Kernels = serde_path_to_error::deserialize(kernels)
        .map_err(|e| ManifestError::Invalid(format!("`kernels.{}`: {}", e.path(), e.inner())))?;
    Ok(Manifest {
        parallel_config: Some(ParallelConfig {
            tensor_parallel_size: tp,
            pipeline_parallel_size: Some(1),
            unknown: Map::new(),
        }),
        kernels,
        unknown: object,
        ..Manifest::new()
    })
}

/// v1's `vision_encoder` bucket has no `batch_size`; migration sets it to 1.
fn migrate_v1_buckets(object: &mut Map<String, Value>) {
    let Some(Value::Object(kernels)) = object.get_mut("kernels") else {
        return;
    };
    for entries in kernels.values_mut() {
        let Value::Array(entries) = entries else {
            continue;
        };
        for entry in entries {
            if let Some(Value::Object(vision)) = entry
                .get_mut("bucket")
                .and_then(|b| b.get_mut("vision_encoder"))
            {
                vision
                    .entry("batch_size")
                    .or_insert_with(|| Value::from(1u64));
            }
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => json_type(value).into(),
        other => format!("{} `{other}`", json_type(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../tests/fixtures/manifest-llama-min.json");

    #[test]
    fn a_reference_manifest_rewrites_byte_for_byte() {
        let manifest = parse_manifest(REFERENCE.as_bytes()).expect("parses");
        assert_eq!(
            String::from_utf8_lossy(&manifest.to_json_bytes().expect("serializes")),
            REFERENCE
        );
    }

    #[test]
    fn v0_is_migrated_and_keeps_unknown_keys() {
        let m = parse_manifest(
            br#"{"tensor_parallel_size": 4, "kernels": {}, "architecture": "X", "pipeline_parallel_size": 2}"#,
        )
        .expect("v0 parses");
        assert_eq!(m.format_version, 2);
        assert_eq!(m.tensor_parallel_size(), 4);
        assert_eq!(m.pipeline_parallel_size(), 1);
        assert!(m.model.is_none());
        assert_eq!(m.unknown.get("architecture"), Some(&Value::from("X")));
    }

    #[test]
    fn a_v2_body_labelled_zero_is_refused() {
        let err = parse_manifest(br#"{"format_version": 0, "parallel_config": {"tensor_parallel_size": 8}, "kernels": {}}"#)
            .expect_err("refused");
        assert!(err.to_string().contains("tensor_parallel_size"), "{err}");
    }

    #[test]
    fn v1_vision_buckets_get_batch_size_one() {
        let m = parse_manifest(
            br#"{"format_version": 1, "kernels": {"vis_first_block": [{"bucket": {"vision_encoder": {"num_patches": 16}}, "file": "edfs/v.edf"}]}}"#,
        )
        .expect("v1 parses");
        assert_eq!(
            m.kernels["vis_first_block"][0].bucket,
            BucketKey::VisionEncoder {
                num_patches: 16,
                batch_size: 1
            }
        );
    }

    #[test]
    fn a_v2_vision_bucket_without_batch_size_is_refused() {
        let err = parse_manifest(
            br#"{"format_version": 2, "kernels": {"v": [{"bucket": {"vision_encoder": {"num_patches": 16}}, "file": "edfs/v.edf"}]}}"#,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("batch_size"), "{err}");
    }

    #[test]
    fn format_version_must_be_an_unsigned_integer() {
        for bad in [r#""2""#, "2.0", "-1", "null"] {
            let text = format!(r#"{{"format_version": {bad}, "kernels": {{}}}}"#);
            assert!(parse_manifest(text.as_bytes()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_newer_format_names_both_versions() {
        let err = parse_manifest(br#"{"format_version": 3, "kernels": {}}"#).expect_err("refused");
        assert!(matches!(
            err,
            ManifestError::Future {
                found: 3,
                supported: 2
            }
        ));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse_manifest(
            br#"{"format_version": 2, "kernels": {"k": [{"bucket": {"tokenwise": {"input_size": "1"}}, "file": "f"}]}}"#,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("kernels.k[0]"), "{err}");
    }
}
