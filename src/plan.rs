//! Bucket plans: which shape buckets and kernels a build compiles. The architecture's
//! plugin makes the plan from the rule file's presets (data) with the planner shared in
//! `plugins/api` (cut at the max model length, `-O` thinning, the sampler's TP filter);
//! this module hands it the data and counts the result.

use fxb_plugin_api::v1::{BucketPlan, KernelPlan, PlanOptions, PlanRequest, PlanResponse};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::plugin::{PluginCallError, PluginHost, PluginSet};
use crate::rules::RuleSet;

/// The reference always reports 8192 KV-cache blocks in its dry-run summaries.
pub const KV_CACHE_BLOCKS: u64 = 8192;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequestOptions {
    /// `O0` … `O3`.
    pub optimization: String,
    pub max_model_len: Option<u64>,
    pub tensor_parallel_size: Option<u64>,
    pub pipeline_parallel_size: u64,
}

/// A model's plan. Also `fxb build --dry-run --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb build --dry-run --json")]
pub struct ModelPlan {
    pub architecture: String,
    pub optimization: String,
    pub max_model_len: u64,
    pub tensor_parallel_size: u64,
    pub pipeline_parallel_size: u64,
    /// The preset used; `None` when a generic one was made up (see `notes`).
    pub preset: Option<String>,
    #[schemars(with = "Value")]
    pub buckets: BucketPlan,
    #[schemars(with = "Value")]
    pub kernels: Vec<KernelPlan>,
    pub total_buckets: usize,
    pub total_kernels: usize,
    pub kv_cache_blocks: u64,
    /// The rule file the presets came from, and the plugin that planned.
    pub rule: Option<String>,
    pub plugin: String,
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("no plugin serves architecture `{0}`")]
    NoPlugin(String),
    #[error("cannot plan `{architecture}`")]
    Plugin {
        architecture: String,
        #[source]
        source: Box<PluginCallError>,
    },
    #[error("`pipeline_parallel_size` must be positive")]
    BadPipeline,
}

/// Plan `config` (under `architecture`, after `--convert`).
pub fn plan_model(
    config: &Value,
    architecture: &str,
    options: &PlanRequestOptions,
    rules: &RuleSet,
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<ModelPlan, PlanError> {
    if options.pipeline_parallel_size == 0 {
        return Err(PlanError::BadPipeline);
    }
    let plugin = plugins
        .for_architecture(architecture)
        .ok_or_else(|| PlanError::NoPlugin(architecture.to_string()))?;
    let plan_rule = rules.plan_rule(architecture);
    let failed = |source| PlanError::Plugin {
        architecture: architecture.to_string(),
        source: Box::new(source),
    };
    let loaded = host.load(plugin).map_err(failed)?;
    let request = PlanRequest {
        config: config.clone(),
        options: PlanOptions {
            optimization: options.optimization.clone(),
            max_model_len: options.max_model_len,
            tensor_parallel_size: options.tensor_parallel_size,
        },
        presets: plan_rule
            .map(|(_, rule)| serde_json::to_value(&rule.presets).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    };
    let reply: PlanResponse = loaded.call("plan", &request).map_err(failed)?;
    let b = &reply.buckets;
    let count = |kind: &str| match kind {
        "tokenwise" => b.tokenwise.len(),
        "sampler" => b.sampler.len(),
        "prefill" => b.prefill.len(),
        "decode" => b.decode.len(),
        "append" => b.append.len(),
        _ => 0,
    };
    let total_buckets =
        b.tokenwise.len() + b.sampler.len() + b.prefill.len() + b.decode.len() + b.append.len();
    let total_kernels = reply
        .kernels
        .iter()
        .map(|k| k.buckets.iter().map(|kind| count(kind)).sum::<usize>())
        .sum();
    Ok(ModelPlan {
        architecture: architecture.to_string(),
        optimization: options.optimization.clone(),
        max_model_len: reply.max_model_len.unwrap_or_default(),
        tensor_parallel_size: reply.tensor_parallel_size.unwrap_or_default(),
        pipeline_parallel_size: options.pipeline_parallel_size,
        preset: reply.preset,
        total_buckets,
        total_kernels,
        kv_cache_blocks: KV_CACHE_BLOCKS,
        buckets: reply.buckets,
        kernels: reply.kernels,
        rule: plan_rule.map(|(rule, _)| format!("{} {}", rule.file.name, rule.file.version)),
        plugin: format!(
            "{} {}",
            plugin.info.metadata.name, plugin.info.metadata.version
        ),
        notes: reply.notes,
    })
}
