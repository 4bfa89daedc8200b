//! JSON Schemas for every persisted format and every `--json` output, generated from the
//! serde types so they cannot drift from the code. `schemas/*.json` in the repository are
//! these, checked by a test.

use schemars::{JsonSchema, schema_for};
use serde::Serialize;

use crate::bundle::{BundleSummary, Manifest, SignatureDiff};

/// `fxb list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb list --json")]
pub struct ListOutput {
    /// The files the manifest names, `manifest.json` first, then sorted byte-wise.
    pub files: Vec<ListedFile>,
}

/// One file of `fxb list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListedFile {
    pub name: String,
    /// Size in bytes; absent when the file is missing.
    pub size: Option<u64>,
    /// `ok`, `missing` (named by the manifest, not in the bundle) or `unnamed` (in the
    /// bundle, not named by the manifest).
    pub status: FileStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Ok,
    Missing,
    Unnamed,
}

/// `fxb inspect --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb inspect --json")]
pub struct InspectOutput {
    pub entries: Vec<InspectedEntry>,
}

/// One kernel × bucket of `fxb inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InspectedEntry {
    pub kernel: String,
    /// The bucket label (`tw1`, `b1_a256_kv255`, `sampler1`).
    pub bucket: String,
    pub file: String,
    pub inputs: Vec<InspectedTensor>,
    pub outputs: Vec<InspectedTensor>,
}

/// One tensor of a kernel signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InspectedTensor {
    pub index: usize,
    /// Bytes per chip; absent for an element type of unknown width.
    pub size: Option<u64>,
    /// `[inter-chip axes]|[intra-chip axes]`.
    pub shape: String,
    pub dtype: String,
    /// Updated in place by the kernel (inputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_place: Option<bool>,
}

/// `fxb version --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb version --json")]
pub struct VersionOutput {
    pub version: String,
    pub revision: String,
    /// The manifest format this fxb writes.
    pub format_version: u64,
    /// The oldest manifest format it reads (older ones are migrated on read).
    pub oldest_format_version: u64,
    /// The plugin ABI it speaks, `MAJOR.MINOR`.
    pub plugin_abi: String,
    /// Plugins compiled into the binary.
    pub embedded_plugins: Vec<EmbeddedPlugin>,
    /// Rule files compiled into the binary.
    pub embedded_rules: Vec<EmbeddedPlugin>,
}

/// A plugin or rule file compiled into the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct EmbeddedPlugin {
    pub name: String,
    pub version: String,
}

/// `fxb unpack --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb unpack --json")]
pub struct UnpackOutput {
    /// The directory created.
    pub directory: String,
    /// Files extracted.
    pub files: usize,
    /// Bytes extracted.
    pub bytes: u64,
}

/// `fxb pack --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb pack --json")]
pub struct PackOutput {
    /// The bundle written.
    pub bundle: String,
    /// Entries in it, `manifest.json` included.
    pub entries: usize,
    /// Its size in bytes.
    pub bytes: u64,
    /// Files of the directory the manifest does not name, left out.
    pub skipped: Vec<String>,
}

/// `fxb plugins ls --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fxb plugins ls --json")]
pub struct PluginsLsOutput {
    pub plugins: Vec<PluginLine>,
    /// Files that were skipped, and why.
    pub problems: Vec<ProblemLine>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PluginLine {
    pub name: String,
    pub version: String,
    pub abi: String,
    pub architectures: Vec<String>,
    pub operations: Vec<String>,
    /// `embedded` or the file's path.
    pub source: String,
    pub sha256: String,
    /// Claimed architectures this plugin serves.
    pub active_for: Vec<String>,
    /// Claimed architectures another plugin serves instead.
    pub shadowed: Vec<Shadowed>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Shadowed {
    pub architecture: String,
    pub by: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemLine {
    pub path: String,
    pub message: String,
}

/// `fxb rules ls --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fxb rules ls --json")]
pub struct RulesLsOutput {
    pub rules: Vec<RuleLine>,
    /// Rule files that were skipped (each reported on stderr).
    pub problems: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RuleLine {
    pub name: String,
    pub version: String,
    pub schema_version: u32,
    /// The fxb versions it supports.
    pub fxb: String,
    /// Whether that range admits this fxb.
    pub compatible: bool,
    pub architectures: Vec<String>,
    /// What it carries: `fingerprint`, `plan`.
    pub provides: Vec<String>,
    /// `embedded` or the file's path.
    pub source: String,
    pub active_for: Vec<String>,
    pub shadowed: Vec<Shadowed>,
}

/// Every schema fxb publishes: (file name under `schemas/`, pretty JSON text).
pub fn all() -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    // Through `Schema`'s own `Serialize`, which puts `$schema` first.
    let render = |schema: schemars::Schema| serde_json::to_string_pretty(&schema);
    let schemas = vec![
        ("manifest.schema.json", render(schema_for!(Manifest))),
        ("show.schema.json", render(schema_for!(BundleSummary))),
        ("list.schema.json", render(schema_for!(ListOutput))),
        ("inspect.schema.json", render(schema_for!(InspectOutput))),
        ("diff.schema.json", render(schema_for!(SignatureDiff))),
        ("version.schema.json", render(schema_for!(VersionOutput))),
        ("unpack.schema.json", render(schema_for!(UnpackOutput))),
        ("pack.schema.json", render(schema_for!(PackOutput))),
        (
            "plugins-ls.schema.json",
            render(schema_for!(PluginsLsOutput)),
        ),
        (
            "plugin-abi-v1.schema.json",
            render(fxb_plugin_api::v1::schema()),
        ),
        (
            "rules.schema.json",
            render(schema_for!(crate::rules::RuleFile)),
        ),
        ("rules-ls.schema.json", render(schema_for!(RulesLsOutput))),
        (
            "fingerprint.schema.json",
            render(schema_for!(crate::fingerprint::Fingerprint)),
        ),
        ("build-plan.schema.json", render(schema_for!(DryRunOutput))),
        ("build.schema.json", render(schema_for!(BuildOutput))),
        (
            "backends-ls.schema.json",
            render(schema_for!(BackendsLsOutput)),
        ),
        (
            "backends-verify.schema.json",
            render(schema_for!(fxb_backend_api::VerifyReport)),
        ),
        (
            "backend-compile-request.schema.json",
            render(schema_for!(fxb_backend_api::CompileRequest)),
        ),
        (
            "backend-compile-response.schema.json",
            render(schema_for!(fxb_backend_api::CompileResponse)),
        ),
        (
            "cache-index.schema.json",
            render(schema_for!(crate::cache::Index)),
        ),
        ("add.schema.json", render(schema_for!(AddOutput))),
        ("cache-ls.schema.json", render(schema_for!(CacheLsLine))),
        (
            "cache-verify.schema.json",
            render(schema_for!(CacheVerifyLine)),
        ),
        ("check.schema.json", render(schema_for!(CheckOutput))),
        (
            "download.schema.json",
            render(schema_for!(crate::hub::DownloadReport)),
        ),
        (
            "publish.schema.json",
            render(schema_for!(crate::hub::PublishReport)),
        ),
        (
            "resolve.schema.json",
            render(schema_for!(crate::resolve::Resolution)),
        ),
    ];
    schemas
        .into_iter()
        .map(|(name, text)| text.map(|text| (name, text + "\n")))
        .collect()
}

/// `fxb build --json` (without `--dry-run`): what was written.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb build --json")]
pub struct BuildOutput {
    pub path: std::path::PathBuf,
    pub size: u64,
    pub entries: usize,
    pub seconds: f64,
    /// The compiler backend's name.
    pub backend: String,
    pub kernels: Vec<crate::build::KernelReport>,
}

/// `fxb build --dry-run --json`: the plan, and the fingerprint the bundle would carry.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb build --dry-run --json")]
pub struct DryRunOutput {
    #[serde(flatten)]
    pub plan: crate::plan::ModelPlan,
    pub fingerprint: crate::fingerprint::Fingerprint,
}

/// `fxb backends ls --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb backends ls --json")]
pub struct BackendsLsOutput {
    pub backends: Vec<BackendLine>,
    /// Libraries that are not usable backends, with why.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackendLine {
    #[serde(flatten)]
    pub description: fxb_backend_api::Description,
    /// `linked` or the library's path.
    pub source: String,
}

/// `fxb add --json`.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[schemars(title = "fxb add --json")]
pub struct AddOutput {
    pub added: Vec<AddedLine>,
    pub failed: Vec<FailedLine>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AddedLine {
    pub source: std::path::PathBuf,
    pub repo_id: String,
    pub filename: String,
    pub path: std::path::PathBuf,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FailedLine {
    pub source: std::path::PathBuf,
    pub error: String,
}

/// One row of `fxb cache ls --json`: the index entry, where it is, whether it is there.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb cache ls --json (one element)")]
pub struct CacheLsLine {
    pub repo_id: String,
    pub path: std::path::PathBuf,
    pub missing: bool,
    #[serde(flatten)]
    pub entry: crate::cache::FileEntry,
}

/// One row of `fxb cache verify --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb cache verify --json (one element)")]
pub struct CacheVerifyLine {
    pub repo_id: String,
    pub path: std::path::PathBuf,
    pub status: crate::cache::VerifyStatus,
    pub detail: Option<String>,
}

/// `fxb check --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "fxb check --json")]
pub struct CheckOutput {
    #[serde(flatten)]
    pub report: crate::check::CheckReport,
    /// With `--deep`: the weights' shapes against the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<crate::check::deep::WeightReport>,
}
