//! The tensors each kernel takes and gives, laid out the way the reference's kernels are
//! (read off the EDFs of its Llama-3.1-8B-Instruct TP 8 build and the Qwen3-8B-FP8
//! excerpt in the product documentation; see FORMAT.md §1.4).
//!
//! What those builds show, and this module reproduces:
//! - per-layer weights at their full (unsharded) shape, `[out, in]`, row-major;
//! - the paged KV cache as `[kv_cache_blocks, 1, kv_heads, head_dim]`, updated in place;
//! - the rotary table as `[max_positions, head_dim / 2, 2, 2]`;
//! - vocabulary-wide tensors (lm head, logits, sampler) padded to whole 128-row tiles per
//!   tensor-parallel PE and placed on a broadcast chip axis; a leading axis of one row is
//!   squeezed out of them (`[Broadcast=1]|[1_1=129024:1]`);
//! - the sampler reading a fixed 1024-row logits buffer;
//! - bf16 models list tensors in the kernel's argument order (embedding, ids, weights,
//!   rotary table, positions, cache index, caches, norm); quantized models list runtime
//!   inputs first (ids, positions, caches, cache index) and put every tensor on a broadcast
//!   chip axis.
//!
//! Shapes of buckets the reference builds were not observed for (tokenwise sizes above 1,
//! batched attention) follow the same rules with the token or batch axis grown.

use fxb_backend_api::{BackendError, BucketKey};

use crate::model::{Dims, Weights};

/// Rows of the logits buffer the sampler reads, whatever its bucket.
pub const SAMPLER_LOGITS_ROWS: u64 = 1024;

/// Element types, as the compiler names them.
pub mod dtype {
    pub const BF16: &str = "Bfloat16";
    pub const F32: &str = "Float32";
    pub const I32: &str = "RawInt32";
    pub const BOOL: &str = "Bool";
    pub const F8: &str = "Float8e4m3";
    pub const F4: &str = "Float4e2m1";
    /// The reference's `Uint8` is a quantized type with parameters; a plain byte (the
    /// MXFP4 scales) is `RawUint8`.
    pub const U8: &str = "RawUint8";
}

/// What a tensor is, for ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Activations and token ids.
    Data,
    Position,
    Cache,
    CacheIndex,
    Weight,
}

/// One tensor of a kernel's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub dtype: &'static str,
    /// The logical shape (the model's, unpadded).
    pub logical: Vec<u64>,
    /// The shape on the device: `(label, size)` per axis, row-major.
    pub device: Vec<(u32, u64)>,
    pub broadcast: bool,
    pub in_place: bool,
    pub role: Role,
}

impl Tensor {
    fn new(name: &str, dtype: &'static str, dims: &[u64], role: Role) -> Tensor {
        Tensor {
            name: name.to_string(),
            dtype,
            logical: dims.to_vec(),
            device: dims
                .iter()
                .enumerate()
                .map(|(i, d)| (i as u32, *d))
                .collect(),
            broadcast: false,
            in_place: false,
            role,
        }
    }

    fn data(name: &str, dtype: &'static str, dims: &[u64]) -> Tensor {
        Tensor::new(name, dtype, dims, Role::Data)
    }

    fn weight(name: &str, dims: &[u64]) -> Tensor {
        Tensor::new(name, dtype::BF16, dims, Role::Weight)
    }

    /// A `[rows, vocab]` tensor: padded vocabulary, broadcast, one row squeezed out.
    fn vocab_rows(name: &str, dtype: &'static str, rows: u64, dims: &Dims) -> Tensor {
        let mut tensor = Tensor::data(name, dtype, &[rows, dims.vocab]);
        tensor.device = if rows == 1 {
            vec![(1, dims.padded_vocab())]
        } else {
            vec![(0, rows), (1, dims.padded_vocab())]
        };
        tensor
    }

    fn broadcast(mut self) -> Tensor {
        self.broadcast = true;
        self
    }
}

/// A kernel's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

/// The kernels the host backend knows, by the parts their names are made of.
pub fn layout(kernel: &str, bucket: &BucketKey, dims: &Dims) -> Result<Layout, BackendError> {
    let unsupported = |why: &str| {
        BackendError::unsupported(format!(
            "the host backend cannot compile kernel `{kernel}` for bucket `{}`: {why}",
            bucket.label()
        ))
    };
    let mut layout = match (kernel, bucket) {
        ("random_sample", BucketKey::Sampler { input_size }) => sampler(*input_size, dims),
        (attention, BucketKey::Attention { .. }) if attention.ends_with("attention") => {
            let window = match attention {
                "full_attention" => None,
                "sliding_window_attention" => Some(
                    dims.sliding_window
                        .ok_or_else(|| unsupported("the model has no `sliding_window`"))?,
                ),
                _ => return Err(unsupported("unknown attention variant")),
            };
            self::attention(bucket, window, dims)
        }
        (tokenwise, BucketKey::Tokenwise { input_size }) => {
            tokenwise_kernel(tokenwise, *input_size, dims).ok_or_else(|| {
                unsupported("not a tokenwise kernel it knows (first_/mid_/last_tokenwise…)")
            })?
        }
        _ => {
            return Err(unsupported(
                "this kernel is not compiled for that kind of bucket",
            ));
        }
    };
    if dims.weights != Weights::Bf16 {
        // Quantized kernels take their runtime inputs first; sort is stable.
        layout.inputs.sort_by_key(|t| t.role);
        for tensor in layout.inputs.iter_mut().chain(layout.outputs.iter_mut()) {
            tensor.broadcast = true;
        }
    }
    Ok(layout)
}

/// `first_tokenwise`, `mid_tokenwise[_moe]`, `last_tokenwise[_moe]_with_{lm,seq_cls}_head`,
/// `last_tokenwise[_with_pooler]`.
fn tokenwise_kernel(kernel: &str, tokens: u64, dims: &Dims) -> Option<Layout> {
    let moe = kernel.contains("_moe");
    let name = kernel.replace("_moe", "");
    let hidden = |name: &str| Tensor::data(name, dtype::BF16, &[tokens, dims.hidden]);
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    match name.as_str() {
        "first_tokenwise" => {
            inputs.push(Tensor::weight(
                "embedding_table",
                &[dims.vocab, dims.hidden],
            ));
            inputs.push(Tensor::data("input_ids", dtype::I32, &[tokens]));
            if dims.encoder {
                inputs.push(Tensor::weight(
                    "position_embedding_table",
                    &[dims.max_positions, dims.hidden],
                ));
                inputs.push(Tensor::new(
                    "position_ids",
                    dtype::I32,
                    &[tokens],
                    Role::Position,
                ));
                inputs.push(Tensor::weight("embedding_norm_weight", &[dims.hidden]));
                inputs.push(Tensor::weight("embedding_norm_bias", &[dims.hidden]));
            }
            inputs.extend(attention_inputs(tokens, dims));
            outputs.push(Tensor::data(
                "query_flat",
                dtype::BF16,
                &[tokens, attention_width(dims)],
            ));
            outputs.push(hidden("hidden_states"));
        }
        "mid_tokenwise" => {
            inputs.extend(post_attention_inputs(tokens, moe, dims));
            inputs.extend(attention_inputs(tokens, dims));
            outputs.push(Tensor::data(
                "query_flat",
                dtype::BF16,
                &[tokens, attention_width(dims)],
            ));
            outputs.push(hidden("hidden_states_out"));
        }
        "last_tokenwise_with_lm_head" => {
            inputs.extend(post_attention_inputs(tokens, moe, dims));
            inputs.push(Tensor::weight("final_norm_weight", &[dims.hidden]));
            let mut head = Tensor::weight("lm_head_weight", &[dims.vocab, dims.hidden]).broadcast();
            head.device = vec![(0, dims.padded_vocab()), (1, dims.hidden)];
            inputs.push(head);
            outputs.push(Tensor::vocab_rows("logits", dtype::BF16, tokens, dims).broadcast());
        }
        "last_tokenwise_with_seq_cls_head" => {
            inputs.extend(post_attention_inputs(tokens, moe, dims));
            inputs.push(Tensor::weight("final_norm_weight", &[dims.hidden]));
            inputs.push(Tensor::weight("score_weight", &[1, dims.hidden]));
            outputs.push(Tensor::data("scores", dtype::F32, &[tokens, 1]));
        }
        "last_tokenwise" | "last_tokenwise_with_pooler" => {
            inputs.extend(post_attention_inputs(tokens, moe, dims));
            inputs.push(Tensor::weight("final_norm_weight", &[dims.hidden]));
            outputs.push(hidden("hidden_states_out"));
        }
        _ => return None,
    }
    Some(Layout { inputs, outputs })
}

/// Width of the attention output (and of the query): heads × head_dim.
fn attention_width(dims: &Dims) -> u64 {
    dims.q_dim()
}

/// A linear layer's weight, with its scales when quantized.
fn linear(name: &str, rows: u64, cols: u64, dims: &Dims) -> Vec<Tensor> {
    let weight = |dtype| Tensor::new(name, dtype, &[rows, cols], Role::Weight);
    let scale = |dtype, per: u64| {
        Tensor::new(
            &format!("{name}_scale"),
            dtype,
            &[rows, cols.div_ceil(per)],
            Role::Weight,
        )
    };
    match dims.weights {
        Weights::Bf16 => vec![weight(dtype::BF16)],
        Weights::Fp8 => vec![
            weight(dtype::F8),
            Tensor::new(&format!("{name}_scale"), dtype::F32, &[rows], Role::Weight),
        ],
        Weights::Mxfp4 => vec![weight(dtype::F4), scale(dtype::U8, 32)],
        Weights::Nvfp4 => vec![weight(dtype::F4), scale(dtype::F8, 16)],
    }
}

/// The start of a layer: norm, q/k/v projections, rotary embedding, KV-cache write.
fn attention_inputs(tokens: u64, dims: &Dims) -> Vec<Tensor> {
    let mut inputs = Vec::new();
    inputs.extend(linear(
        "attn_q_proj_weight",
        dims.q_dim(),
        dims.hidden,
        dims,
    ));
    inputs.extend(linear(
        "attn_k_proj_weight",
        dims.kv_dim(),
        dims.hidden,
        dims,
    ));
    inputs.extend(linear(
        "attn_v_proj_weight",
        dims.kv_dim(),
        dims.hidden,
        dims,
    ));
    if dims.qk_norm {
        inputs.push(Tensor::weight("attn_q_norm_weight", &[dims.head_dim]));
        inputs.push(Tensor::weight("attn_k_norm_weight", &[dims.head_dim]));
    }
    if !dims.encoder {
        inputs.push(Tensor::weight(
            "rope_table",
            &[dims.max_positions, dims.head_dim / 2, 2, 2],
        ));
        inputs.push(Tensor::new(
            "position_ids",
            dtype::I32,
            &[tokens],
            Role::Position,
        ));
        inputs.push(Tensor::new(
            "kv_scatter_index",
            dtype::I32,
            &[1, tokens],
            Role::CacheIndex,
        ));
        inputs.push(kv_cache("k_cache", dims));
        inputs.push(kv_cache("v_cache", dims));
    }
    inputs.push(Tensor::weight("input_norm_weight", &[dims.hidden]));
    inputs
}

fn kv_cache(name: &str, dims: &Dims) -> Tensor {
    let mut cache = Tensor::new(
        name,
        dtype::BF16,
        &[dims.kv_cache_blocks, 1, dims.kv_heads, dims.head_dim],
        Role::Cache,
    );
    cache.in_place = true;
    cache
}

/// The end of a layer: output projection, norm, MLP (dense or experts).
fn post_attention_inputs(tokens: u64, moe: bool, dims: &Dims) -> Vec<Tensor> {
    let mut inputs = vec![
        Tensor::data("weighted_v", dtype::BF16, &[tokens, attention_width(dims)]),
        Tensor::data("hidden_states", dtype::BF16, &[tokens, dims.hidden]),
    ];
    inputs.extend(linear(
        "attn_o_proj_weight",
        dims.hidden,
        dims.q_dim(),
        dims,
    ));
    inputs.push(Tensor::weight("post_attention_norm_weight", &[dims.hidden]));
    match dims.experts.filter(|_| moe) {
        Some(experts) => {
            inputs.push(Tensor::weight("mlp_router_weight", &[experts, dims.hidden]));
            let inner = dims.moe_intermediate;
            for (name, rows, cols) in [
                ("mlp_experts_gate_proj_weight", inner, dims.hidden),
                ("mlp_experts_up_proj_weight", inner, dims.hidden),
                ("mlp_experts_down_proj_weight", dims.hidden, inner),
            ] {
                for mut tensor in linear(name, rows, cols, dims) {
                    tensor.logical.insert(0, experts);
                    tensor.device = tensor
                        .logical
                        .iter()
                        .enumerate()
                        .map(|(i, d)| (i as u32, *d))
                        .collect();
                    inputs.push(tensor);
                }
            }
        }
        None => {
            inputs.extend(linear(
                "mlp_gate_proj_weight",
                dims.intermediate,
                dims.hidden,
                dims,
            ));
            inputs.extend(linear(
                "mlp_up_proj_weight",
                dims.intermediate,
                dims.hidden,
                dims,
            ));
            inputs.extend(linear(
                "mlp_down_proj_weight",
                dims.hidden,
                dims.intermediate,
                dims,
            ));
        }
    }
    inputs
}

/// Attention over `attention_size` cached + new positions for `batch_size` sequences.
fn attention(bucket: &BucketKey, window: Option<u64>, dims: &Dims) -> Layout {
    let BucketKey::Attention {
        batch_size,
        attention_size,
        kv_cache_size,
    } = *bucket
    else {
        unreachable!("attention() is only called for attention buckets")
    };
    let new_tokens = attention_size.saturating_sub(kv_cache_size).max(1);
    let span = window.map_or(attention_size, |w| w.min(attention_size));
    let rows = batch_size * new_tokens;
    let mut inputs = vec![
        Tensor::data("query", dtype::BF16, &[rows, attention_width(dims)]),
        Tensor::new(
            "kv_gather_index",
            dtype::I32,
            &[batch_size, span],
            Role::CacheIndex,
        ),
    ];
    if dims.encoder {
        inputs.push(Tensor::data("key", dtype::BF16, &[rows, dims.kv_dim()]));
        inputs.push(Tensor::data("value", dtype::BF16, &[rows, dims.kv_dim()]));
    } else {
        let mut k = kv_cache("k_cache", dims);
        let mut v = kv_cache("v_cache", dims);
        k.in_place = false;
        v.in_place = false;
        inputs.push(k);
        inputs.push(v);
    }
    inputs.push(Tensor::data(
        "attention_mask",
        dtype::BOOL,
        &[batch_size, new_tokens, span],
    ));
    Layout {
        inputs,
        outputs: vec![Tensor::data(
            "output",
            dtype::BF16,
            &[rows, attention_width(dims)],
        )],
    }
}

/// The on-chip sampler over `rows` sequences.
fn sampler(rows: u64, dims: &Dims) -> Layout {
    let mut logits =
        Tensor::data("logits", dtype::BF16, &[SAMPLER_LOGITS_ROWS, dims.vocab]).broadcast();
    logits.device = vec![(0, SAMPLER_LOGITS_ROWS), (1, dims.padded_vocab())];
    let per_row = |name: &str, dtype| Tensor::data(name, dtype, &[rows]);
    let mut result = Tensor::data("result", dtype::I32, &[rows]);
    if rows == 1 {
        result.device.clear();
    }
    Layout {
        inputs: vec![
            logits,
            per_row("logit_indices", dtype::I32),
            per_row("noise", dtype::F32),
            Tensor::vocab_rows("penalty", dtype::BF16, rows, dims),
            Tensor::vocab_rows("structured_mask", dtype::BOOL, rows, dims),
            per_row("apply_min_length", dtype::I32),
            per_row("temperature", dtype::F32),
            per_row("top_k", dtype::I32),
            per_row("top_p", dtype::F32),
            per_row("min_p", dtype::F32),
        ],
        outputs: vec![
            result,
            Tensor::vocab_rows("log_probs", dtype::F32, rows, dims),
        ],
    }
}
