//! fxb's host reference backend (DESIGN.md, "Backends").
//!
//! It compiles each kernel × bucket into a deterministic EDF file whose `signature` and
//! `placeholders` are laid out the way the real RNGD kernels lay them out, computed from
//! the model's dimensions, the tensor-parallel size and the bucket ([`layout`]). Where a
//! vendor-compiled EDF holds machine code, it holds a short host payload. So builds,
//! bundles, caches, `inspect`, `diff` and `check` work end to end on any machine — but the
//! bundles it makes **do not run on an NPU**, and the manifest says so: the compiler is
//! recorded as `fxb_host_backend`, never as `furiosa_compiler`.
//!
//! As a runtime it can judge whether a bundle would load (kernels present, signatures
//! those the model and TP imply, a supported TP), but it is not an RNGD runtime: it
//! reports no compiler revision, so nothing treats cached bundles as stale on its word.
//!
//! fxb links this crate as its default backend; the same crate builds as a `cdylib` that
//! exports it through the C ABI ([`fxb_backend_api::export_backend!`]).

pub mod kernel_file;
pub mod layout;
pub mod model;

use std::io::Write;

use fxb_backend_api::edf::Signature;
use fxb_backend_api::{
    Backend, BackendError, Cancel, CompileRequest, CompileResponse, Description, ErrorCode, Role,
    RuntimeIdentity, TensorLine, VerifyProblem, VerifyReport, VerifyRequest,
};

use crate::layout::Layout;
use crate::model::Dims;

pub const NAME: &str = "host";
/// The `versions` key of the manifest this backend's builds record.
pub const MANIFEST_TOOL: &str = "fxb_host_backend";
/// Bumped whenever a layout or the kernel file format (`kernel_file::PAYLOAD_FORMAT`)
/// changes, so compiler caches and bundles tell builds apart.
pub const REVISION: &str = "host-layout-2";

/// Tensor-parallel sizes the RNGD runtime serves (PEs per group).
pub const SUPPORTED_TP: &[u64] = &[1, 2, 4, 8, 16, 32, 64];

#[derive(Debug, Default, Clone, Copy)]
pub struct HostBackend;

impl HostBackend {
    /// The kernel's layout, after checking the request.
    pub fn layout(
        &self,
        kernel: &str,
        bucket: &fxb_backend_api::BucketKey,
        architecture: &str,
        model: &serde_json::Map<String, serde_json::Value>,
        tensor_parallel_size: u64,
        kv_cache_blocks: u64,
    ) -> Result<Layout, BackendError> {
        if !SUPPORTED_TP.contains(&tensor_parallel_size) {
            return Err(BackendError::unsupported(format!(
                "tensor-parallel size {tensor_parallel_size} is not supported"
            ))
            .with_hint(format!("use one of {SUPPORTED_TP:?}")));
        }
        let dims = Dims::read(architecture, model, tensor_parallel_size, kv_cache_blocks)?;
        layout::layout(kernel, bucket, &dims)
    }
}

fn lines(signature: &Signature, layout: &Layout) -> (Vec<TensorLine>, Vec<TensorLine>) {
    let (inputs, outputs) = signature.render();
    let named = |lines: Vec<String>, tensors: &[layout::Tensor]| {
        lines
            .into_iter()
            .zip(tensors)
            .map(|(line, t)| TensorLine {
                name: t.name.clone(),
                line,
            })
            .collect()
    };
    (
        named(inputs, &layout.inputs),
        named(outputs, &layout.outputs),
    )
}

impl Backend for HostBackend {
    fn describe(&self) -> Description {
        Description {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            revision: REVISION.into(),
            target_npu: "host-cpu".into(),
            roles: vec![Role::Compiler, Role::Runtime],
            manifest_tool: MANIFEST_TOOL.into(),
            summary: "host reference backend: real kernel signatures, no RNGD code (development and testing)".into(),
            tensor_parallel_sizes: SUPPORTED_TP.to_vec(),
            tools: Vec::new(),
            manifest_versions: Default::default(),
        }
    }

    fn compile(
        &self,
        request: &CompileRequest,
        cancel: Cancel<'_>,
    ) -> Result<CompileResponse, BackendError> {
        cancel.check()?;
        let layout = self.layout(
            &request.kernel,
            &request.bucket,
            &request.architecture,
            &request.model,
            request.tensor_parallel_size,
            request.kv_cache_blocks,
        )?;
        let edf = kernel_file::kernel_file(&request.kernel, &request.bucket.label(), &layout);
        let io = |e: std::io::Error| {
            BackendError::new(
                ErrorCode::Io,
                format!("writing kernel file `{}`: {e}", request.output),
            )
        };
        let file = std::fs::File::create(&request.output).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        let bytes = edf.write_to(&mut out).map_err(io)?;
        out.flush().map_err(io)?;
        let (inputs, outputs) = lines(&edf.body.signature, &layout);
        Ok(CompileResponse {
            bytes,
            inputs,
            outputs,
        })
    }

    fn runtime(&self) -> Result<RuntimeIdentity, BackendError> {
        Ok(RuntimeIdentity {
            name: NAME.into(),
            compiler_version: None,
            compiler_revision: None,
            runtime_version: None,
            runtime_revision: None,
            note: Some(
                "the host backend is not an RNGD runtime: it cannot say which compiler revision a server runs"
                    .into(),
            ),
        })
    }

    fn verify(&self, request: &VerifyRequest) -> Result<VerifyReport, BackendError> {
        let mut problems = Vec::new();
        if !SUPPORTED_TP.contains(&request.tensor_parallel_size) {
            problems.push(VerifyProblem {
                kind: "unsupported_parallelism".into(),
                kernel: None,
                bucket: None,
                message: format!(
                    "tensor-parallel size {} is not supported (supported: {SUPPORTED_TP:?})",
                    request.tensor_parallel_size
                ),
            });
            return Ok(VerifyReport {
                loadable: false,
                checked_entries: 0,
                problems,
            });
        }
        // Every model runs a first and a last tokenwise kernel and an attention kernel;
        // the caller adds what this model's plan needs beyond that.
        let has = |pred: &dyn Fn(&str) -> bool| request.entries.iter().any(|e| pred(&e.kernel));
        for (kind, present) in [
            ("first_tokenwise", has(&|k| k == "first_tokenwise")),
            ("last_tokenwise…", has(&|k| k.starts_with("last_tokenwise"))),
            ("…_attention", has(&|k| k.ends_with("attention"))),
        ] {
            if !present {
                problems.push(VerifyProblem {
                    kind: "missing_kernel".into(),
                    kernel: Some(kind.into()),
                    bucket: None,
                    message: format!(
                        "the bundle has no `{kind}` kernel; no model runs without one"
                    ),
                });
            }
        }
        for kernel in &request.required_kernels {
            if !request.entries.iter().any(|e| &e.kernel == kernel) {
                problems.push(VerifyProblem {
                    kind: "missing_kernel".into(),
                    kernel: Some(kernel.clone()),
                    bucket: None,
                    message: format!("the bundle has no `{kernel}` kernel, which this model needs"),
                });
            }
        }
        let dims = Dims::read(
            &request.architecture,
            &request.model,
            request.tensor_parallel_size,
            request.kv_cache_blocks,
        )?;
        for entry in &request.entries {
            let label = entry.bucket.label();
            let problem = |kind: &str, message: String| VerifyProblem {
                kind: kind.into(),
                kernel: Some(entry.kernel.clone()),
                bucket: Some(label.clone()),
                message,
            };
            let (Some(inputs), Some(outputs)) = (&entry.inputs, &entry.outputs) else {
                problems.push(problem(
                    "missing_file",
                    entry
                        .problem
                        .clone()
                        .unwrap_or_else(|| format!("`{}` cannot be read", entry.file)),
                ));
                continue;
            };
            let layout = match layout::layout(&entry.kernel, &entry.bucket, &dims) {
                Ok(layout) => layout,
                Err(e) => {
                    problems.push(problem("unknown_kernel", e.message));
                    continue;
                }
            };
            let (want_in, want_out) = kernel_file::signature(&layout).render();
            if let Some(message) = first_difference("input", &want_in, inputs)
                .or_else(|| first_difference("output", &want_out, outputs))
            {
                problems.push(problem("signature_mismatch", message));
            }
        }
        Ok(VerifyReport {
            loadable: problems.is_empty(),
            checked_entries: request.entries.len(),
            problems,
        })
    }
}

/// The first tensor whose rendering differs, as "input [3]: expected … found …".
fn first_difference(side: &str, expected: &[String], found: &[String]) -> Option<String> {
    if expected.len() != found.len() {
        return Some(format!(
            "{} {side}s where the model implies {}",
            found.len(),
            expected.len()
        ));
    }
    expected
        .iter()
        .zip(found)
        .find(|(e, f)| e != f)
        .map(|(e, f)| format!("{side}: expected `{}`, found `{}`", e.trim(), f.trim()))
}

fxb_backend_api::export_backend!(HostBackend);

#[cfg(test)]
mod tests {
    use super::*;
    use fxb_backend_api::BucketKey;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn model(config: &str) -> (String, serde_json::Map<String, serde_json::Value>) {
        let config: serde_json::Value = serde_json::from_str(&fixture(config)).unwrap();
        let mut model = serde_json::Map::new();
        for key in [
            "hidden_size",
            "intermediate_size",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "vocab_size",
            "max_position_embeddings",
            "rms_norm_eps",
        ] {
            if let Some(v) = config.get(key) {
                model.insert(key.into(), v.clone());
            }
        }
        if let Some(q) = config.get("quantization_config") {
            model.insert("quant_method".into(), q["quant_method"].clone());
        }
        (
            config["architectures"][0].as_str().unwrap().to_string(),
            model,
        )
    }

    /// `inspect` blocks for these entries, as the reference prints them.
    fn render(
        architecture: &str,
        model: &serde_json::Map<String, serde_json::Value>,
        entries: &[(&str, BucketKey)],
    ) -> String {
        let mut out = String::new();
        for (kernel, bucket) in entries {
            let layout = HostBackend
                .layout(kernel, bucket, architecture, model, 8, 8192)
                .unwrap();
            let (inputs, outputs) = kernel_file::signature(&layout).render();
            out.push_str(&format!("{kernel} ({}):\n  Inputs:\n", bucket.label()));
            for line in inputs {
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str("  Outputs:\n");
            for line in outputs {
                out.push_str(&line);
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn llama_signatures_equal_the_reference_inspect() {
        let (arch, model) = model("configs/meta-llama--Llama-3.1-8B-Instruct.json");
        let tw1 = BucketKey::Tokenwise { input_size: 1 };
        let decode = BucketKey::Attention {
            batch_size: 1,
            attention_size: 256,
            kv_cache_size: 255,
        };
        let entries = [
            ("first_tokenwise", tw1),
            ("full_attention", decode),
            ("last_tokenwise_with_lm_head", tw1),
            ("mid_tokenwise", tw1),
            ("random_sample", BucketKey::Sampler { input_size: 1 }),
        ];
        let expected = fixture("reference/inspect-sampler.txt");
        let got = render(&arch, &model, &entries);
        assert_eq!(got.trim_end(), expected.trim_end());
    }

    /// The Qwen3-8B-FP8 TP 8 `first_tokenwise (tw1)` excerpt of the product documentation
    /// (seeds/000): its first six inputs and its outputs, whitespace collapsed as there.
    #[test]
    fn qwen3_fp8_first_tokenwise_equals_the_documented_excerpt() {
        let (arch, model) = model("configs/Qwen--Qwen3-8B-FP8.json");
        let text = render(
            &arch,
            &model,
            &[("first_tokenwise", BucketKey::Tokenwise { input_size: 1 })],
        );
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let lines: Vec<String> = text.lines().map(collapse).collect();
        let excerpt_inputs = [
            "[0] size=4 shape=[Broadcast=1]|[0_1=1:1] dtype=raw_i32",
            "[1] size=4 shape=[Broadcast=1]|[0_1=1:1] dtype=raw_i32",
            "[2] size=16777216 shape=[Broadcast=1]|[0_1=8192:1024, 1_1=1:1024, 2_1=8:128, 3_1=128:1] dtype=bf16",
            "[3] size=16777216 shape=[Broadcast=1]|[0_1=8192:1024, 1_1=1:1024, 2_1=8:128, 3_1=128:1] dtype=bf16",
            "[4] size=4 shape=[Broadcast=1]|[0_1=1:1, 1_1=1:1] dtype=raw_i32",
            "[5] size=1244659712 shape=[Broadcast=1]|[0_1=151936:4096, 1_1=4096:1] dtype=bf16",
        ];
        assert_eq!(lines[0], "first_tokenwise (tw1):");
        assert_eq!(&lines[2..8], excerpt_inputs);
        let outputs_at = lines.iter().position(|l| l == "Outputs:").unwrap();
        assert_eq!(
            &lines[outputs_at + 1..outputs_at + 3],
            [
                "[0] size=8192 shape=[Broadcast=1]|[0_1=1:4096, 1_1=4096:1] dtype=bf16",
                "[1] size=8192 shape=[Broadcast=1]|[0_1=1:4096, 1_1=4096:1] dtype=bf16",
            ]
        );
    }
}
