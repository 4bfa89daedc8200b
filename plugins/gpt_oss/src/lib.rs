//! gpt-oss: a mixture-of-experts decoder whose layers alternate sliding-window and full
//! attention. What differs from a dense model is the kernel list — MoE tokenwise kernels
//! and two attention kernels, so every attention bucket is compiled twice — and what its
//! config must say: the expert counts (`num_local_experts`, `num_experts_per_tok`) and
//! the window (`sliding_window`).

use fxb_plugin_api::plan::KernelSet;
use fxb_plugin_api::v1::{
    ConvertRequest, ConvertResponse, FingerprintRequest, FingerprintResponse, PlanRequest,
    PlanResponse, PluginError,
};
use serde_json::Value;

fxb_plugin_api::plugin! {
    name: "gpt_oss",
    architectures: ["GptOssForCausalLM"],
    operations: { fingerprint => fingerprint, plan => plan, convert => convert },
}

/// The reference's gpt-oss-20b kernels (its stub build's manifest).
pub const GPT_OSS_KERNELS: KernelSet = KernelSet {
    decoder_tokenwise: &[
        "first_tokenwise",
        "mid_tokenwise_moe",
        "last_tokenwise_moe_with_lm_head",
    ],
    decoder_attention: &["sliding_window_attention", "full_attention"],
    encoder_tokenwise: &[],
    encoder_attention: &[],
    sampler: "random_sample",
};

/// The fields a gpt-oss config needs beyond the rule's required ones: without them the
/// MoE and sliding-window kernels cannot be shaped.
const FAMILY_FIELDS: &[&str] = &["num_local_experts", "num_experts_per_tok", "sliding_window"];

fn check_family_fields(config: &Value) -> Result<(), PluginError> {
    for field in FAMILY_FIELDS {
        match config.get(*field) {
            Some(value) if value.as_u64().is_some_and(|n| n > 0) => {}
            Some(value) => {
                return Err(PluginError::invalid_field(
                    *field,
                    format!("`{field}` must be a positive integer for gpt-oss, found {value}"),
                ));
            }
            None => return Err(PluginError::missing_field(*field)),
        }
    }
    let (experts, per_token) = (
        config["num_local_experts"].as_u64(),
        config["num_experts_per_tok"].as_u64(),
    );
    if per_token > experts {
        return Err(PluginError::invalid_field(
            "num_experts_per_tok",
            "`num_experts_per_tok` is larger than `num_local_experts`",
        ));
    }
    Ok(())
}

pub fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    check_family_fields(&request.config)?;
    fxb_plugin_api::fingerprint::standard(request)
}

pub fn plan(request: PlanRequest) -> Result<PlanResponse, PluginError> {
    check_family_fields(&request.config)?;
    fxb_plugin_api::plan::standard(&request, &GPT_OSS_KERNELS)
}

/// gpt-oss is a generative model only: embed / score / classify have no kernels.
pub fn convert(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
    match request.task.as_str() {
        "auto" => Ok(ConvertResponse {
            architecture: request.architecture,
            reason: None,
        }),
        task => Err(PluginError::new(
            fxb_plugin_api::v1::ErrorCode::Unsupported,
            format!("gpt-oss has no `{task}` variant: only text generation is supported"),
        )),
    }
}
