//! Mistral: a dense decoder whose every layer attends through one sliding window when
//! `sliding_window` is set (Mistral 7B v0.1, e5-mistral) and with full attention when it
//! is null (v0.2 and later), so the kernel list has `sliding_window_attention` *instead
//! of* `full_attention` — never both, unlike the hybrid families. `MistralModel` (the
//! architecture e5-mistral-7b-instruct ships as) is an embedding model: prefill only,
//! ending in a pooler.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::LayerAttention;
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "mistral",
    architectures: ["MistralForCausalLM", "MistralModel", "MistralForSequenceClassification"],
    kernels: kernels,
}

/// The kernels of a Mistral config with the given head.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.head_dim()?;
    // `positive` refuses anything but null or a positive integer, naming the field.
    let attention = match section.positive("sliding_window")? {
        Some(_) => LayerAttention::Sliding,
        None => LayerAttention::Full,
    };
    let mut list = KernelList::dense(head);
    list.attention = vec![attention];
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_window_replaces_full_attention() {
        let attention = |window: Value| {
            let config =
                json!({"hidden_size": 4096, "num_attention_heads": 32, "sliding_window": window});
            kernels(&config, Head::Generate).map(|k| k.attention)
        };
        assert_eq!(
            attention(json!(null)).ok(),
            Some(vec![LayerAttention::Full])
        );
        assert_eq!(
            attention(json!(4096)).ok(),
            Some(vec![LayerAttention::Sliding])
        );
        let err = attention(json!("4k")).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("sliding_window"));
    }
}
