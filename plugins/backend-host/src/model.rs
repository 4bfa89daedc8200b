//! The model dimensions a kernel's tensors are shaped by, read from the manifest's model
//! fields (the fingerprint), with the reference's defaults.

use fxb_backend_api::{BackendError, ErrorCode};
use serde_json::{Map, Value};

/// How weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    Bf16,
    /// FP8 e4m3 with one f32 scale per output row.
    Fp8,
    /// 4-bit floats with u8 (MX) scales per 32 elements.
    Mxfp4,
    /// 4-bit floats with fp8 scales per 16 elements.
    Nvfp4,
}

/// What the layouts need to know about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    pub architecture: String,
    pub hidden: u64,
    pub intermediate: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub vocab: u64,
    pub max_positions: u64,
    pub experts: Option<u64>,
    pub moe_intermediate: u64,
    pub sliding_window: Option<u64>,
    /// A BERT-like encoder: learned position embeddings and LayerNorm, no rotary table.
    pub encoder: bool,
    /// Per-head RMSNorm of queries and keys (Qwen3, gpt-oss do not; Qwen3 does).
    pub qk_norm: bool,
    pub weights: Weights,
    pub tensor_parallel_size: u64,
    pub kv_cache_blocks: u64,
}

fn bad(message: String) -> BackendError {
    BackendError::new(ErrorCode::InvalidRequest, message)
}

impl Dims {
    pub fn read(
        architecture: &str,
        model: &Map<String, Value>,
        tensor_parallel_size: u64,
        kv_cache_blocks: u64,
    ) -> Result<Dims, BackendError> {
        let number = |key: &str| -> Result<Option<u64>, BackendError> {
            match model.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => match value.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(bad(format!(
                        "model field `{key}` must be a positive integer, found {value}"
                    ))),
                },
            }
        };
        let required = |key: &str| {
            number(key)?.ok_or_else(|| {
                bad(format!(
                    "model field `{key}` is missing: the kernel shapes depend on it"
                ))
            })
        };
        let hidden = required("hidden_size")?;
        let heads = required("num_attention_heads")?;
        let head_dim = match number("head_dim")? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => {
                return Err(bad(format!(
                    "hidden_size {hidden} is not divisible by num_attention_heads {heads} and head_dim is not given"
                )));
            }
        };
        let intermediate = required("intermediate_size")?;
        let experts = match number("num_local_experts")? {
            Some(n) => Some(n),
            None => match number("num_experts")? {
                Some(n) => Some(n),
                None => number("n_routed_experts")?,
            },
        };
        let quant_method = model.get("quant_method").and_then(Value::as_str);
        let format = model.get("format").and_then(Value::as_str);
        let weights = match (quant_method, format) {
            (None, _) => Weights::Bf16,
            (Some("fp8"), _) => Weights::Fp8,
            (Some("mxfp4"), _) => Weights::Mxfp4,
            (Some("compressed-tensors"), Some("float-quantized" | "naive-quantized")) => {
                Weights::Fp8
            }
            (Some("compressed-tensors"), Some("nvfp4-pack-quantized")) => Weights::Nvfp4,
            (Some(method), format) => {
                return Err(BackendError::unsupported(format!(
                    "the host backend has no kernel layout for quantization `{method}`{}",
                    format
                        .map(|f| format!(" (format `{f}`)"))
                        .unwrap_or_default()
                ))
                .with_hint(
                    "supported: unquantized (bf16), fp8, mxfp4, compressed-tensors fp8 and nvfp4",
                ));
            }
        };
        let family = architecture
            .find("For")
            .map_or(architecture, |at| &architecture[..at])
            .trim_end_matches("Model");
        Ok(Dims {
            architecture: architecture.to_string(),
            hidden,
            intermediate,
            heads,
            kv_heads: number("num_key_value_heads")?.unwrap_or(heads),
            head_dim,
            vocab: required("vocab_size")?,
            max_positions: required("max_position_embeddings")?,
            experts,
            moe_intermediate: number("moe_intermediate_size")?.unwrap_or(intermediate),
            sliding_window: number("sliding_window")?,
            encoder: !model.contains_key("rms_norm_eps"),
            qk_norm: matches!(family, "Qwen3" | "Qwen3Moe" | "Exaone4"),
            weights,
            tensor_parallel_size,
            kv_cache_blocks,
        })
    }

    /// Width of the flattened query heads.
    pub fn q_dim(&self) -> u64 {
        self.heads * self.head_dim
    }

    pub fn kv_dim(&self) -> u64 {
        self.kv_heads * self.head_dim
    }

    /// The vocabulary padded so that each of the tensor-parallel PEs gets a whole number
    /// of 128-row tiles (Llama-3.1-8B at TP 8: 128256 → 129024, as the reference's lm
    /// head shows).
    pub fn padded_vocab(&self) -> u64 {
        let tile = 128 * self.tensor_parallel_size;
        self.vocab.div_ceil(tile) * tile
    }
}
