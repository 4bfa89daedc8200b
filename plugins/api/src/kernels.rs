//! A family's kernel list, built from parts so that every plugin names kernels the way
//! the reference's bundles do (`first_tokenwise`, `mid_tokenwise_moe`,
//! `last_tokenwise_with_lm_head`, `sliding_window_attention`, `random_sample`, …). A
//! plugin says what its model is made of — the task head, the MLP of each layer, the
//! attention of each layer — and [`KernelList`] turns that into kernels and the bucket
//! kinds each one is compiled for.

use crate::layers::{LayerAttention, Mlp};
use crate::v1::KernelPlan;

/// What the model's last kernel computes, from the architecture's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A language-model head (`XForCausalLM`, `XForConditionalGeneration`, …): decodes
    /// token by token, so it has decode and append buckets and a sampler.
    Generate,
    /// A bare `XModel`: an embedding model, pooled hidden states, prefill only.
    Embed,
    /// `XForSequenceClassification`: a classifier or reranker, prefill only.
    Classify,
}

impl Head {
    /// `XModel` embeds, `XForSequenceClassification` classifies, anything else is taken
    /// for a language-model head.
    pub fn of(architecture: &str) -> Head {
        if architecture.ends_with("ForSequenceClassification") {
            Head::Classify
        } else if architecture.ends_with("Model") {
            Head::Embed
        } else {
            Head::Generate
        }
    }

    /// Whether the model decodes (and so has decode, append and sampler buckets).
    pub fn generative(self) -> bool {
        self == Head::Generate
    }
}

/// The kernels of a model: first tokenwise, the middle layers' tokenwise kernels, the
/// last tokenwise kernel with the head, one attention kernel per attention kind, and a
/// sampler for generative models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelList {
    pub head: Head,
    /// The MLP kinds of the layers before the last (each kind compiled once).
    pub mid: Vec<Mlp>,
    /// The last layer's MLP, fused with the head.
    pub last: Mlp,
    /// The attention kinds the layers use (each compiled once, for every attention
    /// bucket).
    pub attention: Vec<LayerAttention>,
}

impl KernelList {
    /// A dense transformer with full attention: the reference's Llama, Qwen3 and XLM-R
    /// kernels.
    pub fn dense(head: Head) -> Self {
        KernelList {
            head,
            mid: vec![Mlp::Dense],
            last: Mlp::Dense,
            attention: vec![LayerAttention::Full],
        }
    }

    /// Dense MLPs, and each layer's attention kind (the sliding-window families).
    pub fn dense_with_attention(head: Head, attention: &[LayerAttention]) -> Self {
        Self::from_layers(head, &vec![Mlp::Dense; attention.len()], attention)
    }

    /// From the MLP and attention kind of every layer. Kinds are listed in a fixed order
    /// (dense before MoE, sliding-window before full, as the reference's gpt-oss bundle
    /// lists them), whatever the order of the layers.
    pub fn from_layers(head: Head, mlp: &[Mlp], attention: &[LayerAttention]) -> Self {
        let (before_last, last) = match mlp.split_last() {
            Some((last, before)) => (before, *last),
            None => (&[][..], Mlp::Dense),
        };
        let mid = [Mlp::Dense, Mlp::Moe]
            .into_iter()
            .filter(|kind| before_last.contains(kind))
            .collect();
        let mut kinds: Vec<LayerAttention> = [LayerAttention::Sliding, LayerAttention::Full]
            .into_iter()
            .filter(|kind| attention.contains(kind))
            .collect();
        if kinds.is_empty() {
            kinds.push(LayerAttention::Full);
        }
        KernelList {
            head,
            mid,
            last,
            attention: kinds,
        }
    }

    /// The kernels, each with the bucket kinds it is compiled for. `sampler`: whether
    /// the plan has sampler buckets (a generative plan may have none, e.g. at high TP).
    pub fn plans(&self, sampler: bool) -> Vec<KernelPlan> {
        let kernel = |name: String, kinds: &[&str]| KernelPlan {
            name,
            buckets: kinds.iter().map(|k| (*k).to_string()).collect(),
        };
        let moe = |mlp: Mlp| if mlp == Mlp::Moe { "_moe" } else { "" };
        let head = match self.head {
            Head::Generate => "lm_head",
            Head::Embed => "pooler",
            Head::Classify => "seq_cls_head",
        };
        let mut plans = vec![kernel("first_tokenwise".into(), &["tokenwise"])];
        plans.extend(
            self.mid
                .iter()
                .map(|mlp| kernel(format!("mid_tokenwise{}", moe(*mlp)), &["tokenwise"])),
        );
        plans.push(kernel(
            format!("last_tokenwise{}_with_{head}", moe(self.last)),
            &["tokenwise"],
        ));
        let attention_buckets: &[&str] = if self.head.generative() {
            &["prefill", "decode", "append"]
        } else {
            &["prefill"]
        };
        plans.extend(self.attention.iter().map(|kind| {
            let name = match kind {
                LayerAttention::Full => "full_attention",
                LayerAttention::Sliding => "sliding_window_attention",
            };
            kernel(name.into(), attention_buckets)
        }));
        if self.head.generative() && sampler {
            plans.push(kernel("random_sample".into(), &["sampler"]));
        }
        plans
    }
}

/// A family's kernel list for a config and a head; an error when the config is not one
/// the family can compile.
pub type FamilyKernels = fn(&serde_json::Value, Head) -> Result<KernelList, crate::v1::PluginError>;

/// The `fingerprint` operation of a family plugin: the config must be one the family can
/// plan (checked with a generative head), then the rule's standard fingerprint.
pub fn family_fingerprint(
    request: crate::v1::FingerprintRequest,
    kernels: FamilyKernels,
) -> Result<crate::v1::FingerprintResponse, crate::v1::PluginError> {
    kernels(&request.config, Head::Generate)?;
    crate::fingerprint::standard(request)
}

/// The `plan` operation of a family plugin: the head from the architecture after
/// `--convert`, the family's kernels for it, the shared planner.
pub fn family_plan(
    request: crate::v1::PlanRequest,
    kernels: FamilyKernels,
) -> Result<crate::v1::PlanResponse, crate::v1::PluginError> {
    let head = Head::of(&crate::config::architecture(
        request.architecture.as_deref(),
        &request.config,
    )?);
    crate::plan::with_kernels(&request, &kernels(&request.config, head)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerAttention::{Full, Sliding};

    fn names(list: &KernelList) -> Vec<String> {
        list.plans(true).into_iter().map(|k| k.name).collect()
    }

    #[test]
    fn heads_follow_the_hugging_face_names() {
        assert_eq!(Head::of("LlamaForCausalLM"), Head::Generate);
        assert_eq!(Head::of("Qwen3VLForConditionalGeneration"), Head::Generate);
        assert_eq!(Head::of("MistralModel"), Head::Embed);
        assert_eq!(
            Head::of("XLMRobertaForSequenceClassification"),
            Head::Classify
        );
    }

    #[test]
    fn the_dense_lists_are_the_reference_ones() {
        assert_eq!(
            names(&KernelList::dense(Head::Generate)),
            [
                "first_tokenwise",
                "mid_tokenwise",
                "last_tokenwise_with_lm_head",
                "full_attention",
                "random_sample"
            ]
        );
        let classifier = KernelList::dense(Head::Classify).plans(true);
        let names: Vec<&str> = classifier.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "first_tokenwise",
                "mid_tokenwise",
                "last_tokenwise_with_seq_cls_head",
                "full_attention"
            ]
        );
        assert_eq!(classifier[3].buckets, ["prefill"]);
        assert_eq!(
            names_of(Head::Embed).last().map(String::as_str),
            Some("full_attention")
        );
        assert!(names_of(Head::Embed).contains(&"last_tokenwise_with_pooler".to_string()));
    }

    fn names_of(head: Head) -> Vec<String> {
        names(&KernelList::dense(head))
    }

    #[test]
    fn layers_decide_the_moe_and_attention_kernels() {
        let gpt_oss = KernelList::from_layers(
            Head::Generate,
            &[Mlp::Moe; 4],
            &[Sliding, Full, Sliding, Full],
        );
        assert_eq!(
            names(&gpt_oss),
            [
                "first_tokenwise",
                "mid_tokenwise_moe",
                "last_tokenwise_moe_with_lm_head",
                "sliding_window_attention",
                "full_attention",
                "random_sample"
            ]
        );
        let mixed = KernelList::from_layers(
            Head::Generate,
            &[Mlp::Moe, Mlp::Dense, Mlp::Moe],
            &[Full; 3],
        );
        assert_eq!(mixed.mid, [Mlp::Dense, Mlp::Moe]);
        assert_eq!(mixed.last, Mlp::Moe);
        let windowed = KernelList::from_layers(Head::Generate, &[Mlp::Dense; 2], &[Sliding; 2]);
        assert_eq!(windowed.attention, [Sliding]);
        assert!(!names(&windowed).contains(&"full_attention".to_string()));
        let plans = KernelList::dense(Head::Generate).plans(false);
        assert!(plans.iter().all(|k| k.name != "random_sample"));
    }
}
