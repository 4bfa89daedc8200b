//! Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): Qwen3's attention (per-head q/k norm,
//! optional sliding-window layers) with mixture-of-experts MLPs. Its config names the
//! experts `num_experts` / `num_experts_per_tok` / `moe_intermediate_size` (gpt-oss says
//! `num_local_experts`), and says which layers are sparse: every `decoder_sparse_step`-th
//! layer, except those listed in `mlp_only_layers`, which keep a dense MLP. So the kernel
//! list has the expert kernels (`mid_tokenwise_moe`, `last_tokenwise_moe_with_lm_head`)
//! and, when some layers stay dense, the dense `mid_tokenwise` too.

use fxb_plugin_api::config::Section;
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::layers::{Mlp, check_window, qwen_windows};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "qwen3_moe",
    architectures: ["Qwen3MoeForCausalLM", "Qwen3MoeModel", "Qwen3MoeForSequenceClassification"],
    kernels: kernels,
}

/// The MLP of every layer, as transformers' `Qwen3MoeDecoderLayer` chooses it: sparse
/// when the layer is not in `mlp_only_layers` and `(layer + 1) % decoder_sparse_step`
/// is 0.
fn mlp_layers(section: &Section) -> Result<Vec<Mlp>, PluginError> {
    let experts = section.required_positive("num_experts")?;
    let per_token = section.required_positive("num_experts_per_tok")?;
    section.required_positive("moe_intermediate_size")?;
    if per_token > experts {
        let path = section.path("num_experts_per_tok");
        return Err(PluginError::invalid_field(
            &path,
            format!(
                "`{path}` ({per_token}) is larger than `{}` ({experts}): a token cannot be routed to more experts than there are",
                section.path("num_experts")
            ),
        ));
    }
    let step = section.positive("decoder_sparse_step")?.unwrap_or(1);
    let layers = section.layers()?;
    let path = section.path("mlp_only_layers");
    let dense: Vec<u64> = match section.get("mlp_only_layers") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_u64().filter(|layer| *layer < layers).ok_or_else(|| {
                    PluginError::invalid_field(
                        &path,
                        format!(
                            "`{path}` lists {item}: expected layer indices below `{}` ({layers})",
                            section.path("num_hidden_layers")
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(PluginError::invalid_field(
                &path,
                format!("`{path}` must be a list of layer indices, found {other}"),
            ));
        }
    };
    Ok((0..layers)
        .map(|layer| {
            if !dense.contains(&layer) && (layer + 1) % step == 0 {
                Mlp::Moe
            } else {
                Mlp::Dense
            }
        })
        .collect())
}

/// The kernels of a Qwen3-MoE config with the given head.
fn kernels(config: &Value, head: Head) -> Result<KernelList, PluginError> {
    let section = Section::of(config);
    section.stated_head_dim()?;
    let mlp = mlp_layers(&section)?;
    let attention = qwen_windows(&section)?;
    check_window(&section, &attention)?;
    Ok(KernelList::from_layers(head, &mlp, &attention))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(step: u64, mlp_only: Value) -> Value {
        json!({"num_hidden_layers": 4, "num_experts": 128, "num_experts_per_tok": 8,
               "moe_intermediate_size": 768, "decoder_sparse_step": step,
               "mlp_only_layers": mlp_only})
    }

    #[test]
    fn sparse_layers_follow_the_step_and_the_dense_list() {
        let mlp = |c: Value| mlp_layers(&Section::of(&c)).ok();
        assert_eq!(mlp(config(1, json!([]))), Some(vec![Mlp::Moe; 4]));
        assert_eq!(
            mlp(config(2, json!([]))),
            Some(vec![Mlp::Dense, Mlp::Moe, Mlp::Dense, Mlp::Moe])
        );
        assert_eq!(
            mlp(config(1, json!([0]))),
            Some(vec![Mlp::Dense, Mlp::Moe, Mlp::Moe, Mlp::Moe])
        );
    }

    #[test]
    fn expert_fields_are_checked_by_name() {
        let field = |c: Value| mlp_layers(&Section::of(&c)).err().and_then(|e| e.field);
        let mut too_many = config(1, json!([]));
        too_many["num_experts_per_tok"] = json!(256);
        assert_eq!(field(too_many).as_deref(), Some("num_experts_per_tok"));
        let mut zero = config(1, json!([]));
        zero["num_experts"] = json!(0);
        assert_eq!(field(zero).as_deref(), Some("num_experts"));
        assert_eq!(
            field(config(1, json!([4]))).as_deref(),
            Some("mlp_only_layers")
        );
        assert_eq!(
            field(config(0, json!([]))).as_deref(),
            Some("decoder_sparse_step")
        );
    }
}
