//! Llama: a dense decoder with full attention. What the family owns is its config
//! layout — a `rope_scaling` of type `llama3` (Llama 3.1 and later) must carry the four
//! values its frequency bands are computed from, and `head_dim` is either stated
//! (Llama 3.2, fine-tunes that widen heads) or `hidden_size / num_attention_heads` —
//! and the task heads the standard `--convert` gives it: `LlamaModel` (embedding) and
//! `LlamaForSequenceClassification` plan prefill only.

use fxb_plugin_api::config::{Section, architecture};
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::v1::{
    ConvertRequest, ConvertResponse, FingerprintRequest, FingerprintResponse, PlanRequest,
    PlanResponse, PluginError,
};
use serde_json::Value;

fxb_plugin_api::plugin! {
    name: "llama",
    architectures: ["LlamaForCausalLM", "LlamaModel", "LlamaForSequenceClassification"],
    operations: { fingerprint => fingerprint, plan => plan, convert => convert },
}

/// Refuse what would compile a wrong model: a half-specified llama3 rope scaling, a
/// head size that does not follow from the config.
fn check(config: &Value) -> Result<(), PluginError> {
    let section = Section::of(config);
    section.check_llama3_rope()?;
    section.head_dim()?;
    Ok(())
}

pub fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    check(&request.config)?;
    fxb_plugin_api::fingerprint::standard(request)
}

pub fn plan(request: PlanRequest) -> Result<PlanResponse, PluginError> {
    check(&request.config)?;
    let head = Head::of(&architecture(
        request.architecture.as_deref(),
        &request.config,
    )?);
    fxb_plugin_api::plan::with_kernels(&request, &KernelList::dense(head))
}

pub fn convert(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
    fxb_plugin_api::convert::standard(&request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_llama3_rope_scaling_is_refused_naming_the_field() {
        let config = json!({"hidden_size": 4096, "num_attention_heads": 32,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192}});
        let err = check(&config).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("rope_scaling.high_freq_factor"));
        let plain = json!({"hidden_size": 4096, "num_attention_heads": 32, "rope_scaling": null});
        assert!(check(&plain).is_ok());
    }
}
