//! The JSON messages of the backend ABI, and the [`Backend`] trait a backend implements.
//!
//! | operation  | request           | reply               | role     |
//! |------------|-------------------|---------------------|----------|
//! | `describe` | (none)            | [`Description`]     | all      |
//! | `compile`  | [`CompileRequest`]| [`CompileResponse`] | compiler |
//! | `runtime`  | (none)            | [`RuntimeIdentity`] | runtime  |
//! | `verify`   | [`VerifyRequest`] | [`VerifyReport`]    | runtime  |
//!
//! Unknown fields are ignored on both sides, so a minor addition does not need a new ABI.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bucket::BucketKey;

/// What a backend can be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Compiles kernels (`compile`).
    Compiler,
    /// Knows the serving runtime (`runtime`, `verify`).
    Runtime,
}

/// `describe`: who the backend is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Description {
    /// Short name, used by `--backend NAME` (`host`).
    pub name: String,
    pub version: String,
    /// The compiler revision (the FuriosaIR revision for the vendor compiler).
    pub revision: String,
    /// What the compiled kernels run on (`renegade-8pe`, or `host-cpu`).
    pub target_npu: String,
    pub roles: Vec<Role>,
    /// The `versions` key this backend's compiler is recorded under in a manifest.
    /// `furiosa_compiler` means "RNGD code from the vendor compiler"; only a backend that
    /// drives that compiler may use it (DESIGN.md, "Bundles").
    pub manifest_tool: String,
    /// One line for `fxb backends ls`.
    pub summary: String,
    /// The tensor-parallel sizes it compiles for, so a build can refuse another before
    /// its first compile; empty when the backend does not say (older backends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensor_parallel_sizes: Vec<u64>,
    /// The external tools it drives, found or not (`fxb backends ls` shows them); empty
    /// for a backend that needs none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolStatus>,
    /// `versions` entries a build's manifest records besides `manifest_tool`'s (the vendor
    /// backend: `furiosa_llm`, the release of the tcc it drives).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub manifest_versions: BTreeMap<String, Release>,
}

/// An external tool a backend drives: where it was found and what it says, or what is
/// wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ToolStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it cannot be used; `None` when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// How to install or point at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A tool's release, as a manifest's `versions` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Release {
    pub version: String,
    pub revision: String,
}

/// `compile`: one kernel × bucket of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CompileRequest {
    /// The kernel (`first_tokenwise`, `full_attention`, …) as the architecture plugin
    /// planned it.
    pub kernel: String,
    pub bucket: BucketKey,
    /// The model's architecture after `--convert` (`LlamaForCausalLM`).
    pub architecture: String,
    /// The model fields the manifest records (its `model` object without
    /// `architecture`): dimensions, quantization, attention and MoE settings.
    pub model: Map<String, Value>,
    pub tensor_parallel_size: u64,
    /// Blocks of the paged KV cache the kernels address.
    pub kv_cache_blocks: u64,
    /// Where to write the kernel file (EDF). The host creates the directory, and removes
    /// the file if the call fails.
    pub output: String,
    /// The model's config.json section as read (what a vendor kernel generator takes as
    /// its config); empty from hosts that do not send it.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// `--dump-tc DIR`: write the generated kernel source here (vendor backends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_tc_dir: Option<String>,
    /// The build's compiler cache directory, for a backend whose compiler keeps its own
    /// cache (`None`: the cache is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_cache_dir: Option<String>,
    /// `--enable-collective-dq`: collective dynamic quantization (vendor backends; one
    /// that does not support it for this model refuses it in `check`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub collective_dq: bool,
}

/// One rendered tensor of a signature, as `fxb inspect` prints it
/// (`[0] size=8192  shape=[]|[0_1=1:4096, 1_1=4096:1]  dtype=bf16`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TensorLine {
    /// The tensor's name in the kernel (`embedding_table`, `k_cache`).
    pub name: String,
    pub line: String,
}

/// `compile`'s reply: the file written and the signature it carries. The host checks that
/// the file's own signature renders to the same lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CompileResponse {
    /// Size of the kernel file in bytes.
    pub bytes: u64,
    pub inputs: Vec<TensorLine>,
    pub outputs: Vec<TensorLine>,
}

/// `runtime`: the serving build this backend stands for. `check`, `cache prune` and
/// `resolve` call a bundle "match" or "stale" by its compiler revision; a backend that
/// cannot know the runtime's revision says so with `None` rather than guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RuntimeIdentity {
    pub name: String,
    pub compiler_version: Option<String>,
    pub compiler_revision: Option<String>,
    pub runtime_version: Option<String>,
    pub runtime_revision: Option<String>,
    /// Why some of the above is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `verify`: would this bundle load? The host reads the bundle; the backend judges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyRequest {
    pub architecture: String,
    pub model: Map<String, Value>,
    pub tensor_parallel_size: u64,
    pub kv_cache_blocks: u64,
    /// The kernels the runtime needs, as the architecture plugin plans them for this
    /// model (names only): a bundle lacking one of them cannot serve.
    pub required_kernels: Vec<String>,
    pub entries: Vec<VerifyEntry>,
}

/// One kernel entry of the bundle under verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyEntry {
    pub kernel: String,
    pub bucket: BucketKey,
    pub file: String,
    /// The entry's signature as `inspect` renders it; `None` when the file is missing or
    /// unreadable (`problem` says which).
    pub inputs: Option<Vec<String>>,
    pub outputs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `verify`'s verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyReport {
    pub loadable: bool,
    pub checked_entries: usize,
    pub problems: Vec<VerifyProblem>,
}

/// One reason a bundle would not load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyProblem {
    /// `missing_kernel`, `missing_file`, `signature_mismatch`, `unsupported_parallelism`,
    /// `unknown_kernel`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The bucket label (`tw1`, `b1_a256_kv255`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    pub message: String,
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request does not parse or makes no sense.
    InvalidRequest,
    /// This backend does not do that (an operation, a kernel, a model).
    Unsupported,
    /// The compiler ran and failed.
    CompileFailed,
    /// The host asked the call to stop.
    Cancelled,
    /// Reading or writing a file failed.
    Io,
    /// A bug in the backend (a caught panic arrives as this).
    Internal,
}

/// A failed operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BackendError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl BackendError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        BackendError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unsupported, message)
    }

    pub fn cancelled() -> Self {
        Self::new(ErrorCode::Cancelled, "cancelled")
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}

/// The host's request to stop: polled by long operations.
#[derive(Debug, Clone, Copy)]
pub struct Cancel<'a>(&'a AtomicBool);

static NEVER: AtomicBool = AtomicBool::new(false);

impl<'a> Cancel<'a> {
    pub fn new(flag: &'a AtomicBool) -> Self {
        Cancel(flag)
    }

    /// A token nobody cancels.
    pub fn never() -> Cancel<'static> {
        Cancel(&NEVER)
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, to hand across the C ABI.
    pub fn flag(&self) -> &'a AtomicBool {
        self.0
    }

    /// `Err(Cancelled)` once cancelled, for `?` in a loop.
    pub fn check(&self) -> Result<(), BackendError> {
        if self.is_cancelled() {
            Err(BackendError::cancelled())
        } else {
            Ok(())
        }
    }
}

/// A backend: a compiler, a runtime, or both. Implementations must be callable from
/// several threads at once.
pub trait Backend: Send + Sync {
    fn describe(&self) -> Description;

    /// Compile `request.kernel` for `request.bucket` into the file `request.output`.
    fn compile(
        &self,
        request: &CompileRequest,
        cancel: Cancel<'_>,
    ) -> Result<CompileResponse, BackendError> {
        let _ = (request, cancel);
        Err(BackendError::unsupported(format!(
            "backend `{}` is not a compiler",
            self.describe().name
        )))
    }

    /// The serving build this backend stands for.
    fn runtime(&self) -> Result<RuntimeIdentity, BackendError> {
        Err(BackendError::unsupported(format!(
            "backend `{}` is not a runtime",
            self.describe().name
        )))
    }

    /// Could `request` be compiled? Asked for every job before the first compile, so a
    /// build that cannot succeed (a tool missing, a model the backend cannot map) is
    /// refused before any work starts. The default accepts everything.
    fn check(&self, request: &CompileRequest) -> Result<(), BackendError> {
        let _ = request;
        Ok(())
    }

    /// Would the bundle described by `request` load?
    fn verify(&self, request: &VerifyRequest) -> Result<VerifyReport, BackendError> {
        let _ = request;
        Err(BackendError::unsupported(format!(
            "backend `{}` cannot verify bundles",
            self.describe().name
        )))
    }
}
