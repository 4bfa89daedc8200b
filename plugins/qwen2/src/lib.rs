//! Qwen2 (and Qwen2.5): a dense decoder whose upper layers may attend through a sliding
//! window. The config says so with `use_sliding_window`, `sliding_window` and
//! `max_window_layers` (layers below it keep full attention), so the kernel list has
//! `sliding_window_attention` beside — or, when every layer slides, instead of —
//! `full_attention`. Qwen2 embedding repositories (gte-Qwen2, sentence-transformers) are
//! found by the standard `--convert auto` and plan as `Qwen2Model`, prefill only.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::{check_window, qwen_windows};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "qwen2",
    architectures: ["Qwen2ForCausalLM", "Qwen2Model", "Qwen2ForSequenceClassification"],
    kernels: kernels,
}

/// The kernels of a Qwen2 config with the given head.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.head_dim()?;
    let attention = qwen_windows(&section)?;
    check_window(&section, &attention)?;
    Ok(KernelList::dense_with_attention(head, &attention))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fxb_plugin_api::layers::LayerAttention::{Full, Sliding};
    use serde_json::json;

    fn config(use_sliding_window: bool, max_window_layers: u64) -> Value {
        json!({"hidden_size": 3584, "num_attention_heads": 28, "num_hidden_layers": 28,
               "use_sliding_window": use_sliding_window, "sliding_window": 131072,
               "max_window_layers": max_window_layers})
    }

    #[test]
    fn the_window_decides_the_attention_kernels() {
        let attention = |c: Value| kernels(&c, Head::Generate).map(|k| k.attention).ok();
        assert_eq!(attention(config(false, 28)), Some(vec![Full]));
        assert_eq!(attention(config(true, 21)), Some(vec![Sliding, Full]));
        assert_eq!(attention(config(true, 0)), Some(vec![Sliding]));
        let err = kernels(&config(true, 29), Head::Generate).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("max_window_layers"));
    }
}
