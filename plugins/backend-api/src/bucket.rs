//! Shape buckets: the key each kernel entry is compiled for, its label in entry names and
//! reports (`tw1`, `b1_a256_kv255`, `sampler1`), and the prefill / decode / append split
//! that `show` prints.

use serde::{Deserialize, Serialize};

/// One shape bucket, serialized as the reference's externally tagged enum
/// (`{"attention": {"batch_size": 1, "attention_size": 256, "kv_cache_size": 255}}`).
///
/// The derived order (variant, then fields) is the order `inspect` and `diff` visit the
/// buckets of one kernel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BucketKey {
    /// A token-parallel kernel run on `input_size` tokens.
    Tokenwise { input_size: u64 },
    /// An attention kernel; `input_ids = attention_size - kv_cache_size`.
    Attention {
        batch_size: u64,
        attention_size: u64,
        kv_cache_size: u64,
    },
    /// A sampler kernel over `input_size` rows.
    Sampler { input_size: u64 },
    /// A vision encoder block.
    VisionEncoder { num_patches: u64, batch_size: u64 },
    /// A linear-attention (state-space) kernel.
    LinearAttention { batch_size: u64, seq_len: u64 },
}

/// How `show` groups buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BucketClass {
    Tokenwise,
    Sampler,
    VisionEncoder,
    Prefill,
    Decode,
    Append,
    LinearPrefill,
    LinearDecode,
}

impl BucketKey {
    /// The label used in entry file names and in `inspect` / `diff` headers.
    ///
    /// The reference's labels for `vision_encoder` and `linear_attention` have never been
    /// observed (FORMAT.md §1.2); fxb uses `b{batch}_p{patches}` and `b{batch}_s{seq_len}`.
    pub fn label(&self) -> String {
        match *self {
            BucketKey::Tokenwise { input_size } => format!("tw{input_size}"),
            BucketKey::Attention {
                batch_size,
                attention_size,
                kv_cache_size,
            } => format!("b{batch_size}_a{attention_size}_kv{kv_cache_size}"),
            BucketKey::Sampler { input_size } => format!("sampler{input_size}"),
            BucketKey::VisionEncoder {
                num_patches,
                batch_size,
            } => format!("b{batch_size}_p{num_patches}"),
            BucketKey::LinearAttention {
                batch_size,
                seq_len,
            } => format!("b{batch_size}_s{seq_len}"),
        }
    }

    /// `input_ids` of an attention bucket: the number of new tokens it processes. Signed,
    /// because a hostile manifest may declare a KV cache larger than the attention size.
    pub fn input_ids(&self) -> Option<i128> {
        match *self {
            BucketKey::Attention {
                attention_size,
                kv_cache_size,
                ..
            } => Some(i128::from(attention_size) - i128::from(kv_cache_size)),
            _ => None,
        }
    }

    /// The reference's classification (FORMAT.md §2.5): `kv_cache_size == 0` is prefill,
    /// one new token is decode, anything else is append.
    pub fn class(&self) -> BucketClass {
        match *self {
            BucketKey::Tokenwise { .. } => BucketClass::Tokenwise,
            BucketKey::Sampler { .. } => BucketClass::Sampler,
            BucketKey::VisionEncoder { .. } => BucketClass::VisionEncoder,
            BucketKey::Attention {
                kv_cache_size: 0, ..
            } => BucketClass::Prefill,
            BucketKey::Attention { .. } if self.input_ids() == Some(1) => BucketClass::Decode,
            BucketKey::Attention { .. } => BucketClass::Append,
            BucketKey::LinearAttention { seq_len, .. } if seq_len > 1 => BucketClass::LinearPrefill,
            BucketKey::LinearAttention { .. } => BucketClass::LinearDecode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_the_reference_entry_names() {
        let tw = BucketKey::Tokenwise { input_size: 1 };
        let decode = BucketKey::Attention {
            batch_size: 1,
            attention_size: 256,
            kv_cache_size: 255,
        };
        let prefill = BucketKey::Attention {
            batch_size: 1,
            attention_size: 1024,
            kv_cache_size: 0,
        };
        let append = BucketKey::Attention {
            batch_size: 1,
            attention_size: 1024,
            kv_cache_size: 512,
        };
        assert_eq!(tw.label(), "tw1");
        assert_eq!(decode.label(), "b1_a256_kv255");
        assert_eq!(BucketKey::Sampler { input_size: 1 }.label(), "sampler1");
        assert_eq!(decode.class(), BucketClass::Decode);
        assert_eq!(prefill.class(), BucketClass::Prefill);
        assert_eq!(append.class(), BucketClass::Append);
        assert_eq!(append.input_ids(), Some(512));
    }

    #[test]
    fn a_kv_cache_larger_than_attention_is_append_with_negative_input_ids() {
        let odd = BucketKey::Attention {
            batch_size: 1,
            attention_size: 4,
            kv_cache_size: 8,
        };
        assert_eq!(odd.input_ids(), Some(-4));
        assert_eq!(odd.class(), BucketClass::Append);
    }
}
