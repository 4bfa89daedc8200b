//! Message types of ABI 1.x. Frozen: only optional fields may be added (minor version);
//! `frozen/v1.<minor>.schema.json` are the published shapes and a test fails if the
//! current one changes. 1.1 added the plan's length, TP size and preset name; 1.2 the
//! architecture a plan is for (after `--convert`).
//!
//! Unknown fields are ignored on both sides, so an older plugin reads a newer host's
//! requests and the other way round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "schema")]
use schemars::JsonSchema;

/// A reply: `{"ok": T}` or `{"err": PluginError}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Envelope<T> {
    Ok(T),
    Err(PluginError),
}

/// A plugin's identity: the `describe` reply and the `fxb-plugin` custom section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PluginMetadata {
    /// Short name, e.g. `llama`.
    pub name: String,
    /// The plugin's own semver version.
    pub version: String,
    /// The ABI it was built against, `MAJOR.MINOR`.
    pub abi: String,
    /// Hugging Face architectures it serves (`LlamaForCausalLM`); `*` = any architecture
    /// no other plugin claims.
    pub architectures: Vec<String>,
    /// Operations it exports: `describe`, `fingerprint`, `plan`, `convert`.
    pub operations: Vec<String>,
}

/// `fingerprint`: config.json → architecture + canonical field strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct FingerprintRequest {
    /// The model's config.json, as parsed.
    pub config: Value,
    /// The architecture to fingerprint under (after `--convert`); when absent,
    /// `config.architectures[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The rule file's data for this architecture (field list, derivations).
    #[serde(default)]
    pub rule: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct FingerprintResponse {
    pub architecture: String,
    /// Field name → canonical string (`"128"`, `"1e-6"`, `"null"`, compact JSON objects).
    pub fields: BTreeMap<String, String>,
}

/// `plan`: config + options + presets → buckets and kernels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PlanRequest {
    pub config: Value,
    /// The architecture to plan for (after `--convert`: `LlamaModel` plans an embedding
    /// model); when absent, `config.architectures[0]` (since ABI 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub options: PlanOptions,
    /// The rule file's bucket presets for this model.
    #[serde(default)]
    pub presets: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PlanOptions {
    /// `O0` … `O3`.
    pub optimization: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_parallel_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PlanResponse {
    pub buckets: BucketPlan,
    pub kernels: Vec<KernelPlan>,
    /// Remarks for the user (e.g. "generic presets used").
    #[serde(default)]
    pub notes: Vec<String>,
    /// The max model length planned for (since ABI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u64>,
    /// The tensor-parallel size planned for (since ABI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_parallel_size: Option<u64>,
    /// The preset the plan came from, `None` for a generic one (since ABI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// Buckets by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct BucketPlan {
    pub tokenwise: Vec<u64>,
    pub sampler: Vec<u64>,
    pub prefill: Vec<AttentionBucket>,
    pub decode: Vec<AttentionBucket>,
    pub append: Vec<AttentionBucket>,
}

/// `(batch, attention size, input_ids)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct AttentionBucket {
    pub batch: u64,
    pub attention: u64,
    pub input_ids: u64,
}

/// A kernel and the bucket kinds it is compiled for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct KernelPlan {
    pub name: String,
    /// Any of `tokenwise`, `sampler`, `prefill`, `decode`, `append`.
    pub buckets: Vec<String>,
}

/// `convert`: the task rewrite of an architecture (`--convert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ConvertRequest {
    pub architecture: String,
    /// `auto`, `embed`, `score` or `classify`.
    pub task: String,
    #[serde(default)]
    pub metadata: RepoMetadata,
}

/// What the repository says about its task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RepoMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules_json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sentence_transformers: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ConvertResponse {
    pub architecture: String,
    /// Why it was (or was not) rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A structured error from a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PluginError {
    pub code: ErrorCode,
    pub message: String,
    /// The config field at fault, when there is one (`text_config.hidden_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or not for this plugin.
    InvalidInput,
    /// config.json lacks a field the plugin needs.
    MissingField,
    /// A field has a value the plugin cannot handle.
    InvalidField,
    /// The operation or task is not supported for this architecture.
    Unsupported,
    /// A bug in the plugin.
    Internal,
}

impl PluginError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        PluginError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn missing_field(field: impl Into<String>) -> Self {
        let field = field.into();
        PluginError {
            code: ErrorCode::MissingField,
            message: format!("config.json has no `{field}`"),
            field: Some(field),
        }
    }

    /// A missing field, with why the plugin needs it and what to do.
    pub fn missing_field_because(field: impl Into<String>, why: &str) -> Self {
        let mut error = Self::missing_field(field);
        error.message = format!("{}: {why}", error.message);
        error
    }

    /// The same error, naming the config field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: ErrorCode::InvalidField,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

/// The schema of every v1 message, for the freeze test and `schemas/`.
#[cfg(feature = "schema")]
pub fn schema() -> schemars::Schema {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct AbiV1 {
        metadata: PluginMetadata,
        fingerprint_request: FingerprintRequest,
        fingerprint_response: Envelope<FingerprintResponse>,
        plan_request: PlanRequest,
        plan_response: Envelope<PlanResponse>,
        convert_request: ConvertRequest,
        convert_response: Envelope<ConvertResponse>,
    }
    schemars::schema_for!(AbiV1)
}
