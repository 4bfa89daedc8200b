//! gpt-oss: a mixture-of-experts decoder whose layers alternate sliding-window and full
//! attention. What differs from a dense model is the kernel list — MoE tokenwise kernels
//! and two attention kernels, so every attention bucket is compiled twice — and what its
//! config must say: the expert counts (`num_local_experts`, `num_experts_per_tok`) and
//! the window (`sliding_window`).

use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::{LayerAttention, Mlp};
use fxb_plugin_api::v1::{ConvertRequest, ConvertResponse, PluginError};
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "gpt_oss",
    architectures: ["GptOssForCausalLM"],
    kernels: kernels,
    convert: generative_only,
}

/// The reference's gpt-oss-20b kernels (its stub build's manifest): every layer has
/// expert MLPs, and the layers alternate sliding-window and full attention.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    check_family_fields(config)?;
    Ok(KernelList::from_layers(
        head,
        &[Mlp::Moe, Mlp::Moe],
        &[LayerAttention::Sliding, LayerAttention::Full],
    ))
}

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

/// gpt-oss is a generative model only: embed / score / classify have no kernels.
pub fn generative_only(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
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
