//! Bucket plans: which shape buckets and kernels a build compiles. The architecture's
//! plugin makes the plan from the rule file's presets (data) with the planner shared in
//! `plugins/api` (cut at the max model length, `-O` thinning, the sampler's TP filter);
//! this module hands it the data and counts the result.

use fxb_plugin_api::v1::{
    AttentionBucket, BucketPlan, KernelPlan, PlanOptions, PlanRequest, PlanResponse,
};
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
    pub rule: Option<crate::rules::RuleId>,
    pub plugin: crate::plugin::PluginId,
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
    #[error("invalid bucket override: {0}")]
    InvalidOverride(String),
}

/// Plan `config` (under `architecture`, after `--convert`), then apply `overrides`.
/// Returns the plan and warnings for the user.
///
/// When the attention buckets are overridden, the preset's attention lists are replaced,
/// so the preset is planned at its full length (its "no bucket covers this length"
/// checks do not apply) and only its tokenwise sizes are cut to the requested length.
pub fn plan_model(
    config: &Value,
    architecture: &str,
    options: &PlanRequestOptions,
    overrides: &BucketOverrides,
    rules: &RuleSet,
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<(ModelPlan, Vec<String>), PlanError> {
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
        architecture: Some(architecture.to_string()),
        options: PlanOptions {
            optimization: options.optimization.clone(),
            max_model_len: if overrides.attention.is_some() {
                None
            } else {
                options.max_model_len
            },
            tensor_parallel_size: options.tensor_parallel_size,
        },
        presets: plan_rule
            .map(|(_, rule)| serde_json::to_value(&rule.presets).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    };
    let reply: PlanResponse = loaded.call("plan", &request).map_err(failed)?;
    let mut plan = ModelPlan {
        architecture: architecture.to_string(),
        optimization: options.optimization.clone(),
        max_model_len: reply.max_model_len.unwrap_or_default(),
        tensor_parallel_size: reply.tensor_parallel_size.unwrap_or_default(),
        pipeline_parallel_size: options.pipeline_parallel_size,
        preset: reply.preset,
        total_buckets: 0,
        total_kernels: 0,
        kv_cache_blocks: KV_CACHE_BLOCKS,
        buckets: reply.buckets,
        kernels: reply.kernels,
        rule: plan_rule
            .map(|(rule, _)| crate::rules::RuleId::new(&rule.file.name, &rule.file.version)),
        plugin: crate::plugin::PluginId {
            name: plugin.info.metadata.name.clone(),
            version: plugin.info.metadata.version.clone(),
        },
        notes: reply.notes,
    };
    if overrides.attention.is_some()
        && let Some(length) = options.max_model_len
    {
        if length > plan.max_model_len {
            return Err(PlanError::InvalidOverride(format!(
                "max_model_len={length} exceeds max_position_embeddings={}",
                plan.max_model_len
            )));
        }
        plan.max_model_len = length;
        plan.buckets.tokenwise.retain(|t| *t <= length);
    }
    plan.recount();
    let warnings = if *overrides == BucketOverrides::default() {
        Vec::new()
    } else {
        plan.apply_overrides(overrides)?
    };
    Ok((plan, warnings))
}

impl ModelPlan {
    /// Recompute the bucket and kernel totals from the lists.
    pub fn recount(&mut self) {
        let b = &self.buckets;
        let count = |kind: &str| match kind {
            "tokenwise" => b.tokenwise.len(),
            "sampler" => b.sampler.len(),
            "prefill" => b.prefill.len(),
            "decode" => b.decode.len(),
            "append" => b.append.len(),
            _ => 0,
        };
        self.total_buckets =
            b.tokenwise.len() + b.sampler.len() + b.prefill.len() + b.decode.len() + b.append.len();
        self.total_kernels = self
            .kernels
            .iter()
            .map(|k| k.buckets.iter().map(|kind| count(kind)).sum::<usize>())
            .sum();
    }

    /// Apply the user's bucket overrides (the reference's `--tokenwise-buckets`,
    /// `--attention-buckets`, `--exclude-attention-buckets`, `--no-enable-sampler`).
    /// Returns warnings for the user.
    pub fn apply_overrides(
        &mut self,
        overrides: &BucketOverrides,
    ) -> Result<Vec<String>, PlanError> {
        let mut warnings = Vec::new();
        let limit = self.max_model_len;
        let invalid = |detail: String| PlanError::InvalidOverride(detail);
        if let Some(tokenwise) = &overrides.tokenwise {
            if tokenwise.is_empty() || tokenwise.contains(&0) {
                return Err(invalid("--tokenwise-buckets needs positive sizes".into()));
            }
            let mut sizes = tokenwise.clone();
            sizes.sort_unstable();
            sizes.dedup();
            if !overrides.skip_validation
                && let Some(big) = sizes.iter().find(|s| **s > limit)
            {
                return Err(invalid(format!(
                    "tokenwise size {big} exceeds max_model_len={limit} (--skip-bucket-validation to allow)"
                )));
            }
            self.buckets.tokenwise = sizes;
        }
        if let Some(attention) = &overrides.attention {
            let (mut prefill, mut decode, mut append) = (Vec::new(), Vec::new(), Vec::new());
            for &(batch, size, input_ids) in attention {
                if batch == 0 || size == 0 || input_ids == 0 || input_ids > size {
                    return Err(invalid(format!(
                        "attention bucket ({batch},{size},{input_ids}) is not (batch>0, attention>0, 0<input_ids<=attention)"
                    )));
                }
                if !overrides.skip_validation && size > limit {
                    return Err(invalid(format!(
                        "attention bucket ({batch},{size},{input_ids}) exceeds max_model_len={limit} (--skip-bucket-validation to allow)"
                    )));
                }
                let bucket = AttentionBucket {
                    batch,
                    attention: size,
                    input_ids,
                };
                match input_ids {
                    i if i == size => prefill.push(bucket),
                    1 => decode.push(bucket),
                    _ => append.push(bucket),
                }
            }
            for list in [&mut prefill, &mut decode, &mut append] {
                list.sort_by_key(|b| (b.batch, b.attention, b.input_ids));
                list.dedup();
            }
            self.buckets.prefill = prefill;
            self.buckets.decode = decode;
            self.buckets.append = append;
        }
        for &(batch, size, input_ids) in &overrides.exclude {
            let target = AttentionBucket {
                batch,
                attention: size,
                input_ids,
            };
            let before =
                self.buckets.prefill.len() + self.buckets.decode.len() + self.buckets.append.len();
            for list in [
                &mut self.buckets.prefill,
                &mut self.buckets.decode,
                &mut self.buckets.append,
            ] {
                list.retain(|b| *b != target);
            }
            if before
                == self.buckets.prefill.len()
                    + self.buckets.decode.len()
                    + self.buckets.append.len()
            {
                warnings.push(format!(
                    "--exclude-attention-buckets: ({batch},{size},{input_ids}) is not in the plan"
                ));
            }
        }
        let generative = self
            .kernels
            .iter()
            .any(|k| k.buckets.iter().any(|b| b == "decode"));
        if generative && self.buckets.decode.is_empty() {
            return Err(invalid(
                "generative models need at least one decode bucket; the overrides leave none"
                    .into(),
            ));
        }
        if overrides.sampler && generative {
            self.buckets.sampler = fxb_plugin_api::plan::sampler_sizes(
                &self.buckets.tokenwise,
                self.tensor_parallel_size,
            );
        } else {
            self.buckets.sampler.clear();
        }
        let has_sampler = !self.buckets.sampler.is_empty();
        self.kernels
            .retain(|k| has_sampler || !k.buckets.iter().any(|b| b == "sampler"));
        if overrides.mtp {
            warnings
                .push("--enable-mtp: this model's plan has no MTP kernels; nothing to add".into());
        }
        self.recount();
        Ok(warnings)
    }
}

/// The reference's bucket override options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketOverrides {
    pub tokenwise: Option<Vec<u64>>,
    pub attention: Option<Vec<(u64, u64, u64)>>,
    pub exclude: Vec<(u64, u64, u64)>,
    /// `--enable-sampler` (the default) / `--no-enable-sampler`.
    pub sampler: bool,
    pub mtp: bool,
    pub skip_validation: bool,
}

impl Default for BucketOverrides {
    fn default() -> Self {
        BucketOverrides {
            tokenwise: None,
            attention: None,
            exclude: Vec::new(),
            sampler: true,
            mtp: false,
            skip_validation: false,
        }
    }
}

/// `1,2,4,8`.
pub fn parse_sizes(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{}` is not a size (expected e.g. 1,2,4,8)", part.trim()))
        })
        .collect()
}

/// `(1,128,128),(1,1024,1)` — (batch, attention size, input_ids size) tuples.
pub fn parse_attention_buckets(text: &str) -> Result<Vec<(u64, u64, u64)>, String> {
    let mut buckets = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .ok_or_else(|| format!("expected `(batch,attention,input_ids)` at `{rest}`"))?;
        let numbers: Vec<u64> = inner
            .0
            .split(',')
            .map(|n| n.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`({})` is not three integers", inner.0))?;
        let [batch, attention, input_ids] = numbers[..] else {
            return Err(format!(
                "`({})` is not (batch,attention,input_ids)",
                inner.0
            ));
        };
        buckets.push((batch, attention, input_ids));
        rest = inner.1.trim_start().trim_start_matches(',').trim_start();
    }
    if buckets.is_empty() {
        return Err("no buckets given".into());
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_override_syntax() {
        assert_eq!(parse_sizes("1,2, 4"), Ok(vec![1, 2, 4]));
        assert!(parse_sizes("1,x").is_err());
        assert_eq!(
            parse_attention_buckets("(1,128,128),(1,1024,1)"),
            Ok(vec![(1, 128, 128), (1, 1024, 1)])
        );
        assert_eq!(
            parse_attention_buckets(" (16, 4100, 4) "),
            Ok(vec![(16, 4100, 4)])
        );
        assert!(parse_attention_buckets("(1,2)").is_err());
        assert!(parse_attention_buckets("1,2,3").is_err());
        assert!(parse_attention_buckets("").is_err());
    }
}
