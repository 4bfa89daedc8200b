//! Bucket-plan thinning, shared by every plugin so that `-O O0`…`O2` mean the same thing
//! everywhere (DESIGN.md, "Bucket plans"). The O3 plan is the model's full preset (cut
//! to the max model length); lower levels keep `k` = 1, 2, 4 items of each list with one
//! rule, [`pick`].

use crate::kernels::KernelList;
use crate::v1::{
    AttentionBucket, BucketPlan, ErrorCode, KernelPlan, PlanRequest, PlanResponse, PluginError,
};

/// Items kept per list at an optimization level (`None` for O3: everything).
pub fn keep_for_level(level: &str) -> Option<usize> {
    match level {
        "O0" => Some(1),
        "O1" => Some(2),
        "O2" => Some(4),
        _ => None,
    }
}

/// The divisor of decode batch sizes at a level: O0 keeps the first n/8, O1 n/4, O2 n/2.
fn decode_batch_divisor(keep: usize) -> usize {
    match keep {
        1 => 8,
        2 => 4,
        _ => 2,
    }
}

/// From a sorted list of `n` items keep `k`: all of it when `n <= k`, else the last item
/// of each of `k` equal chunks (`L[floor((j+1)·n/k) − 1]`), so the maximum always stays.
pub fn pick<T: Clone>(items: &[T], k: usize) -> Vec<T> {
    let n = items.len();
    if n <= k || k == 0 {
        return items.to_vec();
    }
    (0..k).map(|j| items[(j + 1) * n / k - 1].clone()).collect()
}

/// Thin a full (O3) plan to `keep` items per list. Sampler sizes are not touched: they
/// follow from the tokenwise sizes and the tensor-parallel size ([`sampler_sizes`]).
pub fn thin(full: &BucketPlan, keep: usize) -> BucketPlan {
    let mut tokenwise: Vec<u64> = full.tokenwise.first().copied().into_iter().collect();
    for size in pick(&full.tokenwise, keep) {
        if !tokenwise.contains(&size) {
            tokenwise.push(size);
        }
    }
    tokenwise.sort_unstable();

    let prefill = pick(&full.prefill, keep);

    let mut batches: Vec<u64> = full.decode.iter().map(|b| b.batch).collect();
    batches.dedup();
    let kept_batches = (batches.len() / decode_batch_divisor(keep)).max(1);
    let decode = batches
        .iter()
        .take(kept_batches)
        .flat_map(|batch| {
            let of_batch: Vec<AttentionBucket> = full
                .decode
                .iter()
                .filter(|b| b.batch == *batch)
                .copied()
                .collect();
            pick(&of_batch, keep)
        })
        .collect();

    let mut attentions: Vec<u64> = full.append.iter().map(|b| b.attention).collect();
    attentions.dedup();
    let append = pick(&attentions, keep)
        .into_iter()
        .flat_map(|attention| {
            let of_attention: Vec<AttentionBucket> = full
                .append
                .iter()
                .filter(|b| b.attention == attention)
                .copied()
                .collect();
            pick(&of_attention, keep)
        })
        .collect();

    BucketPlan {
        tokenwise,
        sampler: Vec::new(),
        prefill,
        decode,
        append,
    }
}

/// The sampler runs on the tokenwise sizes `t` with `t >= tp / 8`.
pub fn sampler_sizes(tokenwise: &[u64], tensor_parallel_size: u64) -> Vec<u64> {
    tokenwise
        .iter()
        .copied()
        .filter(|t| t * 8 >= tensor_parallel_size)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_keeps_the_last_of_each_chunk() {
        let tw = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
        assert_eq!(pick(&tw, 1), [1024]);
        assert_eq!(pick(&tw, 2), [16, 1024]);
        assert_eq!(pick(&tw, 4), [2, 16, 128, 1024]);
        assert_eq!(pick(&[5, 6], 4), [5, 6]);
    }

    #[test]
    fn the_sampler_follows_tensor_parallelism() {
        assert_eq!(sampler_sizes(&[1, 2, 4, 8], 8), [1, 2, 4, 8]);
        assert_eq!(sampler_sizes(&[1, 2, 4, 8], 32), [4, 8]);
    }
}

/// A model's full (O3) bucket preset: data from a rule file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Preset {
    /// A name for messages (`Llama-3.1-8B`).
    pub name: String,
    /// config.json values that select this preset (read where the fingerprint fields are
    /// read; `quant_method` / `format` from the quantization section).
    #[serde(default, rename = "match")]
    pub matches: std::collections::BTreeMap<String, serde_json::Value>,
    /// Fields that must be absent (or null) for the preset to apply (`quant_method`).
    #[serde(default)]
    pub without: Vec<String>,
    /// The tensor-parallel size the model is built for by default.
    pub tensor_parallel_size: u64,
    /// An encoder-only model: prefill and tokenwise buckets only.
    #[serde(default)]
    pub encoder: bool,
    /// Tokenwise sizes.
    pub tokenwise: Vec<u64>,
    /// Prefill sizes (batch 1, attention = input_ids).
    pub prefill: Vec<u64>,
    /// Decode attention sizes per batch size.
    #[serde(default)]
    pub decode: Vec<DecodeRow>,
    /// Attention sizes that get append buckets (one per smaller prefill size); all
    /// attention sizes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_attention: Option<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DecodeRow {
    pub batch: u64,
    pub attention: Vec<u64>,
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanSettings {
    /// `max_position_embeddings` of the model (the default and the ceiling of the length).
    pub max_position_embeddings: u64,
    pub max_model_len: Option<u64>,
    pub tensor_parallel_size: Option<u64>,
    /// Items kept per list (`keep_for_level`); `None` = O3.
    pub keep: Option<usize>,
}

/// A plan and the settings it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub buckets: BucketPlan,
    pub max_model_len: u64,
    pub tensor_parallel_size: u64,
}

/// The plan for `preset` (DESIGN.md): cut at the smallest preset attention size that
/// covers the max model length, thin to the level, filter the sampler by TP.
pub fn plan_from_preset(
    preset: &Preset,
    settings: PlanSettings,
) -> Result<Planned, crate::v1::PluginError> {
    use crate::v1::PluginError;
    let ceiling = settings.max_position_embeddings;
    let length = settings.max_model_len.unwrap_or(ceiling);
    if length == 0 {
        return Err(PluginError::invalid_input("max_model_len must be positive"));
    }
    if length > ceiling {
        return Err(PluginError::invalid_input(format!(
            "requested max_model_len={length} exceeds max_position_embeddings={ceiling} from the model config; lower --max-model-len"
        )));
    }
    let mut attentions: Vec<u64> = preset
        .prefill
        .iter()
        .copied()
        .chain(
            preset
                .decode
                .iter()
                .flat_map(|row| row.attention.iter().copied()),
        )
        .collect();
    attentions.sort_unstable();
    attentions.dedup();
    let Some(cover) = attentions.iter().copied().find(|a| *a >= length) else {
        return Err(PluginError::invalid_input(format!(
            "no attention bucket in the preset `{}` covers max_model_len={length} (the largest is {}); lower --max-model-len or extend the preset",
            preset.name,
            attentions.last().copied().unwrap_or(0)
        )));
    };
    let prefill_sizes: Vec<u64> = preset
        .prefill
        .iter()
        .copied()
        .filter(|s| *s <= cover)
        .collect();
    let prefill = prefill_sizes
        .iter()
        .map(|s| AttentionBucket {
            batch: 1,
            attention: *s,
            input_ids: *s,
        })
        .collect();
    let mut decode = Vec::new();
    let mut append = Vec::new();
    if !preset.encoder {
        let mut rows = preset.decode.clone();
        rows.sort_by_key(|r| r.batch);
        for row in rows {
            let mut sizes: Vec<u64> = row
                .attention
                .iter()
                .copied()
                .filter(|a| *a <= cover)
                .collect();
            sizes.sort_unstable();
            decode.extend(sizes.into_iter().map(|attention| AttentionBucket {
                batch: row.batch,
                attention,
                input_ids: 1,
            }));
        }
        let mut append_sizes = preset
            .append_attention
            .clone()
            .unwrap_or_else(|| attentions.clone());
        append_sizes.sort_unstable();
        for attention in append_sizes.into_iter().filter(|a| *a <= cover) {
            append.extend(
                prefill_sizes
                    .iter()
                    .filter(|i| **i < attention)
                    .map(|input_ids| AttentionBucket {
                        batch: 1,
                        attention,
                        input_ids: *input_ids,
                    }),
            );
        }
        if decode.is_empty() {
            return Err(PluginError::invalid_input(format!(
                "generative models need at least one decode bucket, and preset `{}` has none up to max_model_len={length} (attention {cover}); raise --max-model-len",
                preset.name
            )));
        }
    }
    let mut tokenwise: Vec<u64> = preset
        .tokenwise
        .iter()
        .copied()
        .filter(|t| *t <= cover)
        .collect();
    tokenwise.sort_unstable();
    let full = BucketPlan {
        tokenwise,
        sampler: Vec::new(),
        prefill,
        decode,
        append,
    };
    let mut buckets = match settings.keep {
        Some(keep) => thin(&full, keep),
        None => full,
    };
    let tensor_parallel_size = settings
        .tensor_parallel_size
        .unwrap_or(preset.tensor_parallel_size);
    if !preset.encoder {
        buckets.sampler = sampler_sizes(&buckets.tokenwise, tensor_parallel_size);
    }
    Ok(Planned {
        buckets,
        max_model_len: length,
        tensor_parallel_size,
    })
}

/// The first preset whose `match` values all equal the config's and whose `without`
/// fields are all absent or null. Fields are read from `nested` (e.g. `text_config`) when
/// the config has it; `quant_method` and `format` from `quantization_config`.
pub fn select_preset<'a>(
    presets: &'a [Preset],
    config: &serde_json::Value,
    nested: Option<&str>,
) -> Option<&'a Preset> {
    let section = nested
        .and_then(|n| config.get(n))
        .filter(|s| s.is_object())
        .unwrap_or(config);
    let lookup = |key: &str| match key {
        "quant_method" | "format" => config.get("quantization_config").and_then(|q| q.get(key)),
        _ => section.get(key),
    };
    presets.iter().find(|preset| {
        preset
            .matches
            .iter()
            .all(|(key, want)| lookup(key) == Some(want))
            && preset
                .without
                .iter()
                .all(|key| lookup(key).is_none_or(serde_json::Value::is_null))
    })
}

/// A plan's buckets before kernels are attached.
struct Bucketed {
    planned: Planned,
    /// The preset's name, `None` for a generic one.
    preset: Option<String>,
    encoder: bool,
    notes: Vec<String>,
}

/// The `plan` operation of a family plugin: buckets from the preset (cut, thinned,
/// filtered), kernels from the family's [`KernelList`]. A list whose head does not generate (an embedding model or a
/// classifier) plans like an encoder — prefill and tokenwise buckets only — even from a
/// decoder's preset; a generative list refuses an encoder's preset.
pub fn with_kernels(
    request: &PlanRequest,
    kernels: &KernelList,
) -> Result<PlanResponse, PluginError> {
    let prefill_only = !kernels.head.generative();
    let bucketed = buckets(request, prefill_only)?;
    if bucketed.encoder && !prefill_only {
        return Err(PluginError::new(
            ErrorCode::Unsupported,
            format!(
                "preset `{}` is for an encoder (prefill only), but this architecture generates text; build it with --convert embed or score",
                bucketed.preset.as_deref().unwrap_or(GENERIC_PRESET)
            ),
        ));
    }
    let plans = kernels.plans(!bucketed.planned.buckets.sampler.is_empty());
    Ok(respond(bucketed, plans))
}

fn respond(bucketed: Bucketed, kernels: Vec<KernelPlan>) -> PlanResponse {
    PlanResponse {
        buckets: bucketed.planned.buckets,
        kernels,
        notes: bucketed.notes,
        max_model_len: Some(bucketed.planned.max_model_len),
        tensor_parallel_size: Some(bucketed.planned.tensor_parallel_size),
        preset: bucketed.preset,
    }
}

/// The buckets of the request's model. `prefill_only`: plan a decoder's preset as an
/// encoder (an embedding or classifier build of a decoder family): its decode rows are
/// dropped, and the length defaults to what its prefill sizes cover.
fn buckets(request: &PlanRequest, prefill_only: bool) -> Result<Bucketed, PluginError> {
    let presets: Vec<Preset> = match &request.presets {
        serde_json::Value::Null => Vec::new(),
        value => serde_json::from_value(value.clone()).map_err(|e| {
            PluginError::invalid_input(format!("the rule's presets do not parse: {e}"))
        })?,
    };
    let section = crate::config::Section::of(&request.config);
    let max_position_embeddings = section
        .positive("max_position_embeddings")?
        .ok_or_else(|| PluginError::missing_field(section.path("max_position_embeddings")))?;
    let level = request.options.optimization.as_str();
    if !matches!(level, "O0" | "O1" | "O2" | "O3") {
        return Err(PluginError::invalid_input(format!(
            "unknown optimization level `{level}`: expected O0, O1, O2 or O3"
        )));
    }
    let mut notes = Vec::new();
    let mut preset = match select_preset(&presets, &request.config, Some("text_config")) {
        Some(preset) => preset.clone(),
        None => {
            let generic = generic_preset_for(
                prefill_only || is_encoder_config(&request.config),
                max_position_embeddings,
            );
            notes.push(format!(
                "no bucket preset in the rule files matches this model: using a generic one ({} prefill sizes up to {}, {}, TP {}); add a preset to the architecture's rule file for production builds",
                generic.prefill.len(),
                generic.prefill.last().copied().unwrap_or(0),
                if generic.encoder {
                    "no decode".to_string()
                } else {
                    format!("decode up to {max_position_embeddings}")
                },
                generic.tensor_parallel_size
            ));
            generic
        }
    };
    let from_rules = notes.is_empty();
    let mut max_model_len = request.options.max_model_len;
    if prefill_only && !preset.encoder {
        let longest = preset.prefill.iter().copied().max().unwrap_or(0);
        if max_model_len.is_none() && longest < max_position_embeddings {
            max_model_len = Some(longest);
            notes.push(format!(
                "an embedding or classifier build runs prefill only: max_model_len defaults to the preset's largest prefill size, {longest}"
            ));
        }
        preset.encoder = true;
        preset.decode.clear();
    }
    let planned = plan_from_preset(
        &preset,
        PlanSettings {
            max_position_embeddings,
            max_model_len,
            tensor_parallel_size: request.options.tensor_parallel_size,
            keep: keep_for_level(level),
        },
    )?;
    Ok(Bucketed {
        planned,
        preset: from_rules.then(|| preset.name.clone()),
        encoder: preset.encoder,
        notes,
    })
}

const GENERIC_PRESET: &str = "generic";

/// A preset for a model the rule files do not know, shaped like the reference's dense
/// presets: tokenwise 1–1024, prefill 128–1024, decode attention in powers of two from
/// 1024 to the max length, batch b kept where b × attention ≤ 2 × the max length.
/// Encoders (BERT-like configs) get prefill up to the max length and no decode.
pub fn generic_preset(config: &serde_json::Value, max_position_embeddings: u64) -> Preset {
    generic_preset_for(is_encoder_config(config), max_position_embeddings)
}

/// Whether the config is a BERT-like encoder's (by `model_type`).
fn is_encoder_config(config: &serde_json::Value) -> bool {
    let model_type = config
        .get("model_type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    matches!(
        model_type,
        "bert" | "roberta" | "xlm-roberta" | "deberta" | "deberta-v2" | "modernbert"
    )
}

/// The generic preset of an encoder (prefill only) or a decoder.
fn generic_preset_for(encoder: bool, max_position_embeddings: u64) -> Preset {
    let powers = |from: u64, to: u64| {
        let mut sizes = Vec::new();
        let mut size = from;
        while size < to {
            sizes.push(size);
            size *= 2;
        }
        sizes.push(to);
        sizes
    };
    let top_prefill = if encoder {
        max_position_embeddings
    } else {
        max_position_embeddings.min(1024)
    };
    let prefill = powers(128.min(top_prefill), top_prefill);
    let tokenwise = if encoder {
        prefill.clone()
    } else {
        powers(1, top_prefill)
    };
    let mut decode = Vec::new();
    if !encoder {
        let attentions = powers(1024.min(max_position_embeddings), max_position_embeddings);
        let budget = 2 * max_position_embeddings;
        let mut batch = 1;
        while batch <= 256 {
            let row: Vec<u64> = attentions
                .iter()
                .copied()
                .filter(|a| batch * a <= budget)
                .collect();
            if row.is_empty() {
                break;
            }
            decode.push(DecodeRow {
                batch,
                attention: row,
            });
            batch *= 2;
        }
    }
    Preset {
        name: GENERIC_PRESET.to_string(),
        matches: Default::default(),
        without: Vec::new(),
        tensor_parallel_size: 8,
        encoder,
        tokenwise,
        prefill,
        decode,
        append_attention: None,
    }
}
