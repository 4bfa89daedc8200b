//! `check --deep`: the target's safetensors headers (never the weights) against the
//! shapes its config implies — and so the shapes every compatible bundle was compiled
//! for. A fine-tune that changed a dimension without saying so in config.json (a resized
//! vocabulary, a pruned MLP) is caught before a server loads it into the wrong kernels.
//!
//! A safetensors file is `u64 LE header length | JSON header | data`; the header maps each
//! tensor name to `{dtype, shape, data_offsets}`. Only the header is read.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::Target;

/// A header larger than this is not a safetensors header: the safetensors format's own bound on a header (the reference implementation refuses
/// larger ones); a real model's is a few megabytes.
const MAX_HEADER: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WeightReport {
    pub files: Vec<PathBuf>,
    pub tensors: usize,
    /// Tensors whose expected shape is known (the rest: other naming, quantization
    /// scales, packed weights).
    pub checked: usize,
    pub mismatches: Vec<WeightMismatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WeightMismatch {
    pub tensor: String,
    pub file: PathBuf,
    pub found: Vec<u64>,
    /// `None` when the tensor should not exist (a layer beyond `num_hidden_layers`).
    pub expected: Option<Vec<u64>>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeepError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a safetensors file: {cause}", path.display())]
    Header { path: PathBuf, cause: String },
    #[error("`{}` has no *.safetensors files for --deep to read", .0.display())]
    NoWeights(PathBuf),
}

/// The dimensions the shapes follow from, from the target's fields.
struct Dims {
    hidden: u64,
    intermediate: u64,
    q: u64,
    kv: u64,
    head_dim: u64,
    vocab: u64,
    layers: Option<u64>,
}

impl Dims {
    fn of(target: &Target) -> Option<Dims> {
        let get = |k: &str| target.fields.get(k).and_then(Value::as_u64);
        let hidden = get("hidden_size")?;
        let heads = get("num_attention_heads")?;
        let head_dim = get("head_dim").unwrap_or(hidden / heads.max(1));
        Some(Dims {
            hidden,
            intermediate: get("intermediate_size")?,
            q: heads * head_dim,
            kv: get("num_key_value_heads").unwrap_or(heads) * head_dim,
            head_dim,
            vocab: get("vocab_size")?,
            layers: get("num_hidden_layers"),
        })
    }

    /// The expected shape of a tensor in the Hugging Face decoder layout, `None` for a
    /// name this check does not know. `Some(None)`: the tensor should not exist.
    fn expected(&self, name: &str) -> Option<Option<Vec<u64>>> {
        let (h, i) = (self.hidden, self.intermediate);
        let shape = |dims: &[u64]| Some(Some(dims.to_vec()));
        match name {
            "model.embed_tokens.weight" | "lm_head.weight" => return shape(&[self.vocab, h]),
            "model.norm.weight" => return shape(&[h]),
            _ => {}
        }
        let rest = name.strip_prefix("model.layers.")?;
        let (index, part) = rest.split_once('.')?;
        let index: u64 = index.parse().ok()?;
        if self.layers.is_some_and(|layers| index >= layers) {
            return Some(None);
        }
        match part {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => shape(&[h]),
            "self_attn.q_proj.weight" => shape(&[self.q, h]),
            "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => shape(&[self.kv, h]),
            "self_attn.o_proj.weight" => shape(&[h, self.q]),
            "self_attn.q_norm.weight" | "self_attn.k_norm.weight" => shape(&[self.head_dim]),
            "mlp.gate_proj.weight" | "mlp.up_proj.weight" => shape(&[i, h]),
            "mlp.down_proj.weight" => shape(&[h, i]),
            _ => None,
        }
    }
}

/// The bits one element of a safetensors dtype takes; `None` for a dtype the format does
/// not define.
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// Read one file's header: tensor name → (dtype, shape). Each tensor's dtype must be one
/// the format defines and its `data_offsets` must lie in the file and hold exactly its
/// shape's bytes (issue 13: unknown dtypes and offsets past the end were accepted).
pub fn read_header(path: &Path) -> Result<Vec<(String, String, Vec<u64>)>, DeepError> {
    let io = |source| DeepError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |cause: String| DeepError::Header {
        path: path.to_path_buf(),
        cause,
    };
    let mut file = crate::fs::open_regular(path).map_err(|e| match e {
        crate::fs::ReadError::Io { source, .. } => io(source),
        other => bad(other.to_string()),
    })?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(io)?;
    let len = u64::from_le_bytes(prefix);
    if len > MAX_HEADER {
        return Err(bad(format!("a {len}-byte header")));
    }
    let mut header = Vec::new();
    file.take(len).read_to_end(&mut header).map_err(io)?;
    if header.len() as u64 != len {
        return Err(bad(format!(
            "the header is cut short ({} of {len} bytes)",
            header.len()
        )));
    }
    // Each tensor's entry is kept as text and only its dtype and shape are parsed: a
    // header parsed whole into values cost ~6× its size (issue 13: 1.4 GB for a million
    // tensors).
    #[derive(serde::Deserialize)]
    struct Info {
        dtype: Option<Value>,
        shape: Option<Value>,
        data_offsets: Option<Value>,
    }
    // The data follows the header; the offsets count from its start.
    let data_len = file_len.saturating_sub(8 + len);
    let entries: indexmap::IndexMap<String, &serde_json::value::RawValue> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("the header is not JSON: {e}")))?;
    let mut tensors = Vec::new();
    for (name, raw) in entries {
        if name == "__metadata__" {
            continue;
        }
        let label = crate::report::printable(&name);
        let info: Info = serde_json::from_str(raw.get())
            .map_err(|_| bad(format!("tensor `{label}` has no dtype")))?;
        let dtype = info
            .dtype
            .as_ref()
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("tensor `{label}` has no dtype")))?;
        let shape = info
            .shape
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|dims| dims.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| bad(format!("tensor `{label}` has no shape of integers")))?;
        let bits = dtype_bits(dtype).ok_or_else(|| {
            bad(format!(
                "tensor `{label}` has dtype `{}`, which safetensors does not define",
                crate::report::printable(dtype)
            ))
        })?;
        let (begin, end) = info
            .data_offsets
            .as_ref()
            .and_then(Value::as_array)
            .filter(|pair| pair.len() == 2)
            .and_then(|pair| Some((pair[0].as_u64()?, pair[1].as_u64()?)))
            .ok_or_else(|| bad(format!("tensor `{label}` has no data_offsets [begin, end]")))?;
        if begin > end || end > data_len {
            return Err(bad(format!(
                "tensor `{label}` claims bytes {begin}..{end} of {data_len} bytes of data"
            )));
        }
        let size = shape
            .iter()
            .try_fold(bits, |product, dim| product.checked_mul(*dim))
            .filter(|bits| bits % 8 == 0)
            .map(|bits| bits / 8);
        if size != Some(end - begin) {
            return Err(bad(format!(
                "tensor `{label}` holds {} bytes, but {dtype} {shape:?} takes {}",
                end - begin,
                size.map_or_else(
                    || "a size that is not a whole number of bytes".into(),
                    |s| format!("{s}")
                )
            )));
        }
        tensors.push((name, dtype.to_string(), shape));
    }
    Ok(tensors)
}

/// Compare every safetensors header in `dir` with the target's config.
pub fn check_weights(dir: &Path, target: &Target) -> Result<WeightReport, DeepError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| DeepError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DeepError::NoWeights(dir.to_path_buf()));
    }
    let dims = Dims::of(target);
    let mut report = WeightReport {
        files: files.clone(),
        tensors: 0,
        checked: 0,
        mismatches: Vec::new(),
    };
    for file in &files {
        for (name, dtype, shape) in read_header(file)? {
            report.tensors += 1;
            // Packed integer weights (4-bit) and scales have their own shapes.
            if matches!(dtype.as_str(), "U8" | "I8" | "I32") {
                continue;
            }
            let Some(expected) = dims.as_ref().and_then(|d| d.expected(&name)) else {
                continue;
            };
            report.checked += 1;
            if expected.as_ref() != Some(&shape) {
                report.mismatches.push(WeightMismatch {
                    tensor: name,
                    file: file.clone(),
                    found: shape,
                    expected,
                });
            }
        }
    }
    report.mismatches.sort_by(|a, b| a.tensor.cmp(&b.tensor));
    Ok(report)
}

/// The `--deep` section of `check`'s report.
pub fn render(report: &WeightReport) -> String {
    let mut text = format!(
        "\nWeights: {} tensor(s) in {} file(s), {} checked against the config, {} mismatch(es)\n",
        report.tensors,
        report.files.len(),
        report.checked,
        report.mismatches.len()
    );
    let dims = |d: &[u64]| {
        format!(
            "[{}]",
            d.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    for m in &report.mismatches {
        let expected = m.expected.as_deref().map_or_else(
            || "no such tensor (beyond num_hidden_layers)".to_string(),
            dims,
        );
        text.push_str(&format!(
            "  {}: {} in the weights, the config implies {}\n",
            m.tensor,
            dims(&m.found),
            expected
        ));
    }
    text
}
