//! EXAONE 4.0: a dense decoder with hybrid attention. The 32B model interleaves three
//! sliding-window layers with one full-attention layer (`sliding_window_pattern`
//! "LLLG", spelled out per layer in `layer_types`); the 1.2B model attends fully
//! everywhere (`sliding_window` null). So the kernel list has both
//! `sliding_window_attention` and `full_attention` when both kinds of layer exist (every
//! attention bucket compiled twice, as for gpt-oss) and only `full_attention` otherwise.
//! Its rope scaling is llama3's and is checked like Llama's.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::{LayerAttention, check_window, layer_types};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "exaone4",
    architectures: ["Exaone4ForCausalLM", "Exaone4Model", "Exaone4ForSequenceClassification"],
    kernels: kernels,
}

/// Each layer's attention: `layer_types` when the config lists it, else the
/// `sliding_window_pattern` — a string of `L` (local, sliding) and `G` (global, full)
/// repeated over the layers, or a number n meaning every n-th layer is full, as
/// transformers' `Exaone4Config` reads it. Without a window every layer is full.
fn attention_layers(section: &Section) -> Result<Vec<LayerAttention>, PluginError> {
    if let Some(layers) = layer_types(section)? {
        return Ok(layers);
    }
    let layers = section.layers()? as usize;
    let pattern = section.get("sliding_window_pattern");
    if section.get("sliding_window").is_none() || pattern.is_none() {
        return Ok(vec![LayerAttention::Full; layers]);
    }
    let path = section.path("sliding_window_pattern");
    let bad = |found: &Value| {
        PluginError::invalid_field(
            &path,
            format!(
                "`{path}` must be a string of L (sliding) and G (full) or a positive number, found {found}"
            ),
        )
    };
    match pattern {
        Some(Value::String(letters)) if !letters.is_empty() => {
            let kinds = letters
                .chars()
                .map(|letter| match letter {
                    'L' => Ok(LayerAttention::Sliding),
                    'G' => Ok(LayerAttention::Full),
                    _ => Err(bad(&Value::String(letters.clone()))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((0..layers)
                .map(|layer| kinds[layer % kinds.len()])
                .collect())
        }
        Some(value) => {
            let every = value
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(value))? as usize;
            Ok((0..layers)
                .map(|layer| {
                    if (layer + 1) % every == 0 {
                        LayerAttention::Full
                    } else {
                        LayerAttention::Sliding
                    }
                })
                .collect())
        }
        None => Ok(vec![LayerAttention::Full; layers]),
    }
}

/// The kernels of an EXAONE 4.0 config with the given head.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.check_llama3_rope()?;
    section.head_dim()?;
    let attention = attention_layers(&section)?;
    check_window(&section, &attention)?;
    Ok(KernelList::dense_with_attention(head, &attention))
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerAttention::{Full, Sliding};
    use serde_json::json;

    fn layers(config: Value) -> Result<Vec<LayerAttention>, PluginError> {
        attention_layers(&Section::of(&config))
    }

    #[test]
    fn the_pattern_repeats_over_the_layers() {
        let lllg = json!({"num_hidden_layers": 8, "sliding_window": 4096, "sliding_window_pattern": "LLLG"});
        assert_eq!(
            layers(lllg).ok(),
            Some(vec![
                Sliding, Sliding, Sliding, Full, Sliding, Sliding, Sliding, Full
            ])
        );
        let every_second =
            json!({"num_hidden_layers": 4, "sliding_window": 4096, "sliding_window_pattern": 2});
        assert_eq!(
            layers(every_second).ok(),
            Some(vec![Sliding, Full, Sliding, Full])
        );
        let no_window = json!({"num_hidden_layers": 2, "sliding_window": null, "sliding_window_pattern": "LLLG"});
        assert_eq!(layers(no_window).ok(), Some(vec![Full, Full]));
        let typo = json!({"num_hidden_layers": 2, "sliding_window": 4096, "sliding_window_pattern": "LLXG"});
        assert_eq!(
            layers(typo).expect_err("refused").field.as_deref(),
            Some("sliding_window_pattern")
        );
    }
}
