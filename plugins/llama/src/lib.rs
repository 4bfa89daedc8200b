//! Llama: a dense decoder with full attention. What the family owns is its config
//! layout — a `rope_scaling` of type `llama3` (Llama 3.1 and later) must carry the four
//! values its frequency bands are computed from, and `head_dim` is either stated
//! (Llama 3.2, fine-tunes that widen heads) or `hidden_size / num_attention_heads` —
//! and the task heads the standard `--convert` gives it: `LlamaModel` (embedding) and
//! `LlamaForSequenceClassification` plan prefill only.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "llama",
    architectures: ["LlamaForCausalLM", "LlamaModel", "LlamaForSequenceClassification"],
    kernels: kernels,
}

/// Dense kernels, after refusing what would compile a wrong model: a half-specified llama3
/// rope scaling, a head size that does not follow from the config.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.check_llama3_rope()?;
    section.head_dim()?;
    Ok(KernelList::dense(head))
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
        let err = kernels(&config, Head::Generate).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("rope_scaling.high_freq_factor"));
        let plain = json!({"hidden_size": 4096, "num_attention_heads": 32, "rope_scaling": null});
        assert!(kernels(&plain, Head::Generate).is_ok());
    }
}
