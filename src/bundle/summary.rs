//! What `show` reports about a bundle, computed from the manifest alone (FORMAT.md §5.7).
//! The CLI renders it in the reference's layout or as JSON; the choices of what to print
//! (the four fields always shown, the fixed order of the optional ones) live here.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::manifest::{Manifest, ToolVersion};
use fxb_backend_api::bucket::{BucketClass, BucketKey};

/// Model fields `show` always prints (0 when absent or not an integer).
const ALWAYS_SHOWN: &[&str] = &[
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "vocab_size",
];
/// Model fields `show` prints when present, non-null and of the right type, in this order.
const SHOWN_WHEN_PRESENT: &[&str] = &[
    "num_key_value_heads",
    "head_dim",
    "sliding_window",
    "num_hidden_layers",
    "max_position_embeddings",
    "moe_intermediate_size",
    "num_experts",
    "num_local_experts",
    "num_experts_per_tok",
    "num_shared_experts",
    "format",
    "quant_method",
];
/// Fields `show` prints as strings; the rest must be integers.
const STRING_FIELDS: &[&str] = &["format", "quant_method"];

/// `show`'s view of a bundle. Also its `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "fxb show --json")]
pub struct BundleSummary {
    /// The path as given.
    pub path: String,
    pub format_version: u64,
    pub uuid: Option<String>,
    pub created_at: Option<String>,
    /// Tool versions, sorted by tool name.
    pub versions: Vec<ToolLine>,
    /// The architecture (empty when the manifest has none).
    pub architecture: String,
    pub hub_repo_id: Option<String>,
    /// The model lines `show` prints, in its order: field → value as shown.
    pub model: indexmap::IndexMap<String, String>,
    /// The whole `model` object, for tools that want every field.
    pub model_fields: Map<String, Value>,
    pub tensor_parallel_size: u64,
    pub pipeline_parallel_size: u64,
    /// Total kernel entries.
    pub entries: usize,
    /// Kernel names, sorted.
    pub kernels: Vec<String>,
    /// Whether a multi-token-prediction kernel (`txt_mtp_pre`) is present.
    pub mtp: bool,
    pub buckets: BucketSummary,
}

/// One `versions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ToolLine {
    pub tool: String,
    pub version: Option<String>,
    pub revision: Option<String>,
}

/// One model line of `show`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ModelLine {
    pub key: String,
    pub value: String,
}

/// The distinct buckets over all kernels, grouped the way `show` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct BucketSummary {
    /// Number of distinct buckets.
    pub count: usize,
    pub tokenwise: Vec<u64>,
    pub sampler: Vec<u64>,
    pub vision_encoder: Vec<BucketKey>,
    pub prefill: Vec<BucketKey>,
    pub decode: Vec<BucketKey>,
    pub append: Vec<BucketKey>,
    pub linear_prefill: Vec<BucketKey>,
    pub linear_decode: Vec<BucketKey>,
}

impl ToolLine {
    /// `{version} ({revision})`, `{version}`, or ` ({revision})` with the reference's
    /// leading space.
    pub fn display(&self) -> String {
        match (&self.version, &self.revision) {
            (Some(v), Some(r)) => format!("{v} ({r})"),
            (Some(v), None) => v.clone(),
            (None, Some(r)) => format!(" ({r})"),
            (None, None) => String::new(),
        }
    }
}

/// Summarize a manifest for `show`.
pub fn summarize(path: &str, manifest: &Manifest) -> BundleSummary {
    let mut versions: Vec<ToolLine> = manifest
        .versions
        .iter()
        .flatten()
        .map(
            |(
                tool,
                ToolVersion {
                    version, revision, ..
                },
            )| ToolLine {
                tool: tool.clone(),
                version: version.clone(),
                revision: revision.clone(),
            },
        )
        .collect();
    versions.sort_by(|a, b| a.tool.cmp(&b.tool));

    let model = manifest.model.clone().unwrap_or_default();
    let lines = model_lines(&model.fields);

    let mut kernels: Vec<String> = manifest.kernels.keys().cloned().collect();
    kernels.sort();
    BundleSummary {
        path: path.to_string(),
        format_version: manifest.format_version,
        uuid: manifest.uuid.clone(),
        created_at: manifest.created_at.clone(),
        versions,
        architecture: model.architecture.clone().unwrap_or_default(),
        hub_repo_id: model.hub_repo_id.clone(),
        model: lines
            .into_iter()
            .map(|line| (line.key, line.value))
            .collect(),
        model_fields: model.fields,
        tensor_parallel_size: manifest.tensor_parallel_size(),
        pipeline_parallel_size: manifest.pipeline_parallel_size(),
        entries: manifest.entry_count(),
        mtp: manifest.kernels.contains_key("txt_mtp_pre"),
        kernels,
        buckets: bucket_summary(manifest),
    }
}

/// The model lines `show` (and the build summary) print for a set of model fields: the
/// four always-shown fields (0 when absent or not an integer), then the optional ones in
/// the reference's fixed order when present and of the right type.
pub fn model_lines(fields: &Map<String, Value>) -> Vec<ModelLine> {
    let mut lines = Vec::new();
    for key in ALWAYS_SHOWN {
        let value = fields
            .get(*key)
            .and_then(integer)
            .unwrap_or_else(|| "0".into());
        lines.push(ModelLine {
            key: (*key).into(),
            value,
        });
    }
    for key in SHOWN_WHEN_PRESENT {
        let value = fields.get(*key).and_then(|v| {
            if STRING_FIELDS.contains(key) {
                v.as_str().map(str::to_string)
            } else {
                integer(v)
            }
        });
        if let Some(value) = value {
            lines.push(ModelLine {
                key: (*key).into(),
                value,
            });
        }
    }

    lines
}

fn integer(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn bucket_summary(manifest: &Manifest) -> BucketSummary {
    let mut distinct: Vec<BucketKey> = manifest
        .kernels
        .values()
        .flatten()
        .map(|e| e.bucket)
        .collect();
    distinct.sort_by_key(show_order);
    distinct.dedup();
    let mut summary = BucketSummary {
        count: distinct.len(),
        ..BucketSummary::default()
    };
    for bucket in distinct {
        match (bucket.class(), bucket) {
            (BucketClass::Tokenwise, BucketKey::Tokenwise { input_size }) => {
                summary.tokenwise.push(input_size);
            }
            (BucketClass::Sampler, BucketKey::Sampler { input_size }) => {
                summary.sampler.push(input_size);
            }
            (BucketClass::VisionEncoder, b) => summary.vision_encoder.push(b),
            (BucketClass::Prefill, b) => summary.prefill.push(b),
            (BucketClass::Decode, b) => summary.decode.push(b),
            (BucketClass::Append, b) => summary.append.push(b),
            (BucketClass::LinearPrefill, b) => summary.linear_prefill.push(b),
            (BucketClass::LinearDecode, b) => summary.linear_decode.push(b),
            _ => {}
        }
    }
    summary
}

/// `show` sorts attention buckets by (batch, attn, input_ids) and the others by size.
fn show_order(bucket: &BucketKey) -> (u8, u64, u64, i128) {
    match *bucket {
        BucketKey::Tokenwise { input_size } => (0, input_size, 0, 0),
        BucketKey::Sampler { input_size } => (1, input_size, 0, 0),
        BucketKey::VisionEncoder {
            num_patches,
            batch_size,
        } => (2, batch_size, num_patches, 0),
        BucketKey::Attention {
            batch_size,
            attention_size,
            ..
        } => (
            3,
            batch_size,
            attention_size,
            bucket.input_ids().unwrap_or(0),
        ),
        BucketKey::LinearAttention {
            batch_size,
            seq_len,
        } => (4, batch_size, seq_len, 0),
    }
}
