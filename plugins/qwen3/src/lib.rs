//! Qwen3: a dense decoder that normalizes queries and keys per attention head, so its
//! head size must be stated (`head_dim`; Qwen3's heads are wider than
//! `hidden_size / num_attention_heads` in the larger models, and the norm's weights are
//! shaped by it), with Qwen's optional sliding-window layers (`use_sliding_window`,
//! `max_window_layers`). Qwen3 is also the base of embedding and reranker models
//! (Qwen3-Embedding ships as `Qwen3ForCausalLM` with sentence-transformers metadata):
//! the standard `--convert auto` turns those into `Qwen3Model` /
//! `Qwen3ForSequenceClassification`, which plan prefill only, ending in a pooler or a
//! classifier head instead of the language-model head.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::{check_window, qwen_windows};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "qwen3",
    architectures: ["Qwen3ForCausalLM", "Qwen3Model", "Qwen3ForSequenceClassification"],
    kernels: kernels,
}

/// The kernels of a Qwen3 config with the given head.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.stated_head_dim()?;
    let attention = qwen_windows(&section)?;
    check_window(&section, &attention)?;
    Ok(KernelList::dense_with_attention(head, &attention))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_head_size_must_be_stated() {
        let config =
            json!({"hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 36});
        let err = kernels(&config, Head::Generate).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("head_dim"));
        let stated = json!({"hidden_size": 4096, "num_attention_heads": 32,
                            "num_hidden_layers": 36, "head_dim": 128});
        let list = kernels(&stated, Head::Embed).expect("plans");
        assert_eq!(list, KernelList::dense(Head::Embed));
    }
}
