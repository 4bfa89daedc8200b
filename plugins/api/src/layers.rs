//! Per-layer facts that decide which kernels a family compiles: the attention kind of
//! each layer (full or sliding-window) and the MLP kind (dense or mixture-of-experts).
//! Families spell them differently — `layer_types`, Qwen's `use_sliding_window` +
//! `max_window_layers`, EXAONE's `sliding_window_pattern` — so readers of the spellings
//! several families share live here, and a family's own spelling stays in its plugin.

use crate::config::Section;
use crate::v1::PluginError;

/// How one layer attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerAttention {
    Full,
    Sliding,
}

/// What one layer's MLP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mlp {
    Dense,
    Moe,
}

/// `layer_types` (the Hugging Face spelling since transformers 4.53), validated: one
/// entry per layer, each `full_attention` or `sliding_attention`. `None` when absent.
pub fn layer_types(section: &Section) -> Result<Option<Vec<LayerAttention>>, PluginError> {
    let Some(value) = section.get("layer_types") else {
        return Ok(None);
    };
    let path = section.path("layer_types");
    let items = value.as_array().ok_or_else(|| {
        PluginError::invalid_field(
            &path,
            format!("`{path}` must be a list of layer types, found {value}"),
        )
    })?;
    let layers = section.layers()?;
    if items.len() as u64 != layers {
        return Err(PluginError::invalid_field(
            &path,
            format!(
                "`{path}` has {} entries but the model has {layers} layers (`{}`)",
                items.len(),
                section.path("num_hidden_layers")
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item.as_str() {
            Some("full_attention") => Ok(LayerAttention::Full),
            Some("sliding_attention" | "sliding_window_attention") => Ok(LayerAttention::Sliding),
            _ => Err(PluginError::invalid_field(
                &path,
                format!(
                    "`{path}[{index}]` is {item}: expected \"full_attention\" or \"sliding_attention\""
                ),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The Qwen spelling (Qwen2, Qwen3, Qwen3-MoE): with `use_sliding_window`, layers from
/// `max_window_layers` on use the window of `sliding_window` tokens and the ones below
/// it full attention; without it every layer is full. `layer_types`, when the config
/// has it, is what transformers itself derived from these and wins.
pub fn qwen_windows(section: &Section) -> Result<Vec<LayerAttention>, PluginError> {
    if let Some(layers) = layer_types(section)? {
        return Ok(layers);
    }
    let layers = section.layers()?;
    if !section.flag("use_sliding_window", false)? {
        return Ok(vec![LayerAttention::Full; layers as usize]);
    }
    let full_below = section
        .count("max_window_layers")?
        .ok_or_else(|| {
            PluginError::missing_field_because(
                section.path("max_window_layers"),
                "with `use_sliding_window` the layers from `max_window_layers` on use the window; add it, or set `use_sliding_window` to false",
            )
        })?;
    if full_below > layers {
        let path = section.path("max_window_layers");
        return Err(PluginError::invalid_field(
            &path,
            format!(
                "`{path}` ({full_below}) is larger than `{}` ({layers})",
                section.path("num_hidden_layers")
            ),
        ));
    }
    Ok((0..layers)
        .map(|layer| {
            if layer < full_below {
                LayerAttention::Full
            } else {
                LayerAttention::Sliding
            }
        })
        .collect())
}

/// A model with sliding layers must say how wide the window is: the attention kernel's
/// mask is shaped by it.
pub fn check_window(section: &Section, layers: &[LayerAttention]) -> Result<(), PluginError> {
    if !layers.contains(&LayerAttention::Sliding) {
        return Ok(());
    }
    match section.positive("sliding_window")? {
        Some(_) => Ok(()),
        None => Err(PluginError::invalid_field(
            section.path("sliding_window"),
            format!(
                "the config has sliding-window layers but `{}` is missing or null; set it to the window size in tokens",
                section.path("sliding_window")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerAttention::{Full, Sliding};
    use serde_json::json;

    #[test]
    fn layer_types_are_checked_entry_by_entry() {
        let config = json!({"num_hidden_layers": 3,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]});
        assert_eq!(
            layer_types(&Section::of(&config)).expect("valid"),
            Some(vec![Sliding, Full, Sliding])
        );
        let unknown = json!({"num_hidden_layers": 2, "layer_types": ["full_attention", "chunked"]});
        let err = layer_types(&Section::of(&unknown)).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("layer_types"));
        assert!(err.message.contains("`layer_types[1]`"), "{err}");
        let short = json!({"num_hidden_layers": 4, "layer_types": ["full_attention"]});
        assert!(layer_types(&Section::of(&short)).is_err());
        assert_eq!(layer_types(&Section::of(&json!({}))).expect("absent"), None);
    }

    #[test]
    fn qwen_windows_start_at_max_window_layers() {
        let off =
            json!({"num_hidden_layers": 4, "use_sliding_window": false, "max_window_layers": 2});
        assert_eq!(qwen_windows(&Section::of(&off)).ok(), Some(vec![Full; 4]));
        let on = json!({"num_hidden_layers": 4, "use_sliding_window": true, "max_window_layers": 2, "sliding_window": 4096});
        assert_eq!(
            qwen_windows(&Section::of(&on)).ok(),
            Some(vec![Full, Full, Sliding, Sliding])
        );
        let all =
            json!({"num_hidden_layers": 2, "use_sliding_window": true, "max_window_layers": 0});
        assert_eq!(
            qwen_windows(&Section::of(&all)).ok(),
            Some(vec![Sliding; 2])
        );
        let missing = json!({"num_hidden_layers": 2, "use_sliding_window": true});
        assert_eq!(
            qwen_windows(&Section::of(&missing))
                .expect_err("refused")
                .field
                .as_deref(),
            Some("max_window_layers")
        );
        let flag = json!({"num_hidden_layers": 2, "use_sliding_window": "yes"});
        assert!(qwen_windows(&Section::of(&flag)).is_err());
    }

    #[test]
    fn sliding_layers_need_a_window() {
        let config = json!({"sliding_window": null});
        let err = check_window(&Section::of(&config), &[Full, Sliding]).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("sliding_window"));
        assert!(check_window(&Section::of(&config), &[Full]).is_ok());
    }
}
