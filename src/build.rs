//! Building a bundle: model directory → config, `--convert`, fingerprint and bucket plan
//! (through the architecture's plugin and rule) → one compile job per kernel × bucket on a
//! compiler backend, N at a time → a complete `.fxb` (manifest + one EDF per entry).
//!
//! ```
//! use fxb::build::{ArtifactBuilder, BucketConfig, CompilerCacheSetting, ParallelConfig, Toolchain};
//! use fxb::toolchain::ToolchainOptions;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let work = tempfile::tempdir()?;
//! # let model = work.path().join("tiny-llama");
//! # std::fs::create_dir(&model)?;
//! # std::fs::write(model.join("config.json"), r#"{"architectures": ["LlamaForCausalLM"],
//! #   "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
//! #   "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
//! #   "vocab_size": 1000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-05}"#)?;
//! let built = ArtifactBuilder::new(model.to_str().unwrap())
//!     .toolchain(Toolchain::discover(&ToolchainOptions {
//!         compiled_plugin_dir: Some(work.path().join("plugins")),
//!         ..Default::default()
//!     }))
//!     .compiler_cache(CompilerCacheSetting::Disabled)
//!     .bucket_config(BucketConfig {
//!         prefill_buckets: vec![(1, 128)],
//!         decode_buckets: vec![(1, 1024)],
//!         tokenwise_seq_lens: vec![1, 128],
//!     })
//!     .parallel_config(ParallelConfig { tensor_parallel_size: 8, pipeline_parallel_size: 1 })
//!     .build(work.path().join("tiny"))?;
//! assert_eq!(built.path.extension().unwrap(), "fxb");
//! // 3 tokenwise kernels × 2 sizes + attention × (prefill + decode) + sampler × 2 sizes.
//! assert_eq!(built.entries, 3 * 2 + 2 + 2);
//! # Ok(())
//! # }
//! ```

mod compiler_cache;
mod run;
mod staging;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::{LoadError, LoadedBackend};
use crate::bundle::{BucketKey, BundleError, KernelEntry, Manifest, Model, ToolVersion};
use crate::fingerprint::{Fingerprint, FingerprintError, fingerprint, read_config};
use crate::hub::HubEnv;
use crate::model::Located;
use crate::plan::{BucketOverrides, ModelPlan, PlanError, PlanRequestOptions, plan_model};

pub use crate::toolchain::Toolchain;
pub use compiler_cache::{CompilerCache, default_compiler_cache_dir};
pub use run::{BuildEvent, JobStatus, KernelReport, RunningKernel};

/// Explicit buckets, replacing the planner's (the seed's `BucketConfig`).
///
/// - a prefill pair `(batch, seq)` is the attention bucket (batch, attention = seq,
///   input_ids = seq);
/// - a decode pair `(batch, seq)` is (batch, attention = seq, input_ids = 1);
/// - `tokenwise_seq_lens` are the tokenwise sizes;
/// - there are no append buckets (chunked prefill into a cache needs them: give them with
///   the CLI's `--attention-buckets` instead);
/// - sampler sizes follow from the tokenwise sizes and the tensor-parallel size, as in a
///   planned build, unless the sampler is disabled.
///
/// They are validated like the CLI's overrides: positive sizes, nothing beyond the max
/// model length (unless validation is skipped), at least one decode bucket for a
/// generative model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketConfig {
    pub prefill_buckets: Vec<(u64, u64)>,
    pub decode_buckets: Vec<(u64, u64)>,
    pub tokenwise_seq_lens: Vec<u64>,
}

/// Parallelism: the tensor-parallel size is compiled into the kernels; the pipeline size is
/// recorded as the default for loading (pipeline and data parallelism are chosen when
/// serving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParallelConfig {
    pub tensor_parallel_size: u64,
    pub pipeline_parallel_size: u64,
}

/// The compiler cache setting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CompilerCacheSetting {
    /// `$XDG_CACHE_HOME/fxb/compiler` (or `~/.cache/fxb/compiler`).
    #[default]
    Default,
    Disabled,
    Dir(PathBuf),
}

/// Refuse options only the vendor compiler understands (`--dump-tc`,
/// `--enable-collective-dq`, given as `options`) on a backend that does not drive it.
pub fn require_vendor_compiler(
    backend: &LoadedBackend,
    options: &[&'static str],
) -> Result<(), BuildError> {
    match options.first() {
        Some(option) if backend.description.manifest_tool != "furiosa_compiler" => {
            Err(BuildError::NeedsVendorCompiler {
                option,
                backend: backend.description.name.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// A tensor-parallel size the backend says it does not compile for is refused before
/// the first compile (issue 14: `-tp 3` failed at the first kernel).
pub fn check_parallelism(backend: &LoadedBackend, size: u64) -> Result<(), BuildError> {
    let supported = &backend.description.tensor_parallel_sizes;
    if supported.is_empty() || supported.contains(&size) {
        return Ok(());
    }
    Err(BuildError::UnsupportedParallelism {
        backend: backend.description.name.clone(),
        size,
        supported: supported.clone(),
    })
}

/// [`BuildError::Refused`] for the first job the backend would not compile.
fn refuse_unbuildable(backend: &LoadedBackend, jobs: &[run::Job]) -> Result<(), BuildError> {
    for job in jobs {
        backend
            .backend()
            .check(&job.request)
            .map_err(|e| BuildError::Refused {
                backend: backend.description.name.clone(),
                message: e.message,
                hint: e.hint,
            })?;
    }
    Ok(())
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Config(#[from] FingerprintError),
    #[error(transparent)]
    Convert(#[from] crate::convert::ConvertError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Backend(#[from] LoadError),
    #[error("backend `{0}` is not a compiler")]
    NotACompiler(String),
    #[error("backend `{backend}` cannot build this: {message}")]
    Refused {
        backend: String,
        message: String,
        hint: Option<String>,
    },
    #[error("{option} needs the vendor compiler; backend `{backend}` does not drive it")]
    NeedsVendorCompiler {
        option: &'static str,
        backend: String,
    },
    #[error("cannot write the bundle to `{}`: {cause}", path.display())]
    Output { path: PathBuf, cause: String },
    #[error("backend `{backend}` does not compile for tensor-parallel size {size}")]
    UnsupportedParallelism {
        backend: String,
        size: u64,
        supported: Vec<u64>,
    },
    #[error("{}", failed_summary(failures))]
    KernelsFailed {
        /// Whether the build stopped at the first failure (`--no-fast-fail` not given).
        fast_fail: bool,
        failures: Vec<KernelReport>,
        /// Every job, in build order (what `--build-report` prints).
        report: Vec<KernelReport>,
    },
    #[error("--only {selector} selects nothing in the plan")]
    OnlyMatchesNothing {
        selector: String,
        entries: Vec<String>,
    },
    #[error("the build was cancelled; nothing was written")]
    Cancelled,
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

fn failed_summary(failures: &[KernelReport]) -> String {
    match failures {
        [one] => format!(
            "compiling {} ({}) failed: {}",
            one.kernel,
            one.bucket,
            one.status.message().unwrap_or("unknown error")
        ),
        many => format!(
            "{} kernels failed to compile: {}",
            many.len(),
            many.iter()
                .map(|f| format!(
                    "{} ({}): {}",
                    f.kernel,
                    f.bucket,
                    f.status.message().unwrap_or("unknown error")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

impl crate::Hint for BuildError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            BuildError::Model(e) => return e.hint(),
            BuildError::Backend(e) => return e.hint(),
            BuildError::NotACompiler(_) => "pick a compiler backend (`fxb backends ls`)".into(),
            BuildError::Refused { hint, .. } => return hint.clone(),
            BuildError::OnlyMatchesNothing { entries, .. } => {
                format!("the plan's entries: {}", entries.join(", "))
            }
            BuildError::NeedsVendorCompiler { .. } => {
                "drop the option, or pick a backend that drives furiosa-tcc with --backend".into()
            }
            BuildError::Output { .. } => {
                "check that the output directory exists and is writable".into()
            }
            BuildError::UnsupportedParallelism { supported, .. } => format!(
                "pass -tp with one of {}",
                supported
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            // Once every kernel was tried, --no-fast-fail has nothing more to show.
            BuildError::KernelsFailed {
                fast_fail: true, ..
            } => {
                "--no-fast-fail builds the remaining kernels and reports every failure; --build-report shows each kernel".into()
            }
            BuildError::KernelsFailed { .. } => "--build-report shows each kernel".into(),
            _ => return None,
        })
    }
}

/// Everything resolved before compiling: what `--dry-run` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    pub model_dir: PathBuf,
    pub architecture: String,
    pub fingerprint: Fingerprint,
    pub plan: ModelPlan,
    /// The model fields a summary shows (the whole config section).
    #[serde(skip)]
    pub summary_fields: Map<String, Value>,
    /// The manifest's `model` fields: the fingerprint's, as config.json has them.
    pub model_fields: Map<String, Value>,
    /// The config.json section the model fields come from, as read (a vendor kernel
    /// generator's input).
    #[serde(skip)]
    pub config: Map<String, Value>,
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// How the model was read (offline, from its base model), for the user.
    #[serde(skip)]
    pub notes: Vec<String>,
    /// The model's Hub repo id, when it was named by one (recorded in the manifest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_repo_id: Option<String>,
    #[serde(skip)]
    pub convert_reason: Option<String>,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub size: u64,
    pub entries: usize,
    pub manifest: Manifest,
    pub report: Vec<KernelReport>,
    pub elapsed: Duration,
}

/// Where build events go.
pub type EventSink = dyn Fn(&BuildEvent) + Send + Sync;

/// Builds a bundle (the seed's `ArtifactBuilder`).
pub struct ArtifactBuilder {
    model: String,
    bucket_config: Option<BucketConfig>,
    parallel_config: Option<ParallelConfig>,
    tensor_parallel_size: Option<u64>,
    pipeline_parallel_size: u64,
    max_model_len: Option<u64>,
    optimization: String,
    convert: String,
    overrides: BucketOverrides,
    backend: Option<LoadedBackend>,
    concurrency: usize,
    fast_fail: bool,
    compiler_cache: CompilerCacheSetting,
    slow_kernel_threshold: Option<Duration>,
    dump_tc: Option<PathBuf>,
    collective_dq: bool,
    only: Vec<String>,
    toolchain: Option<Toolchain>,
    revision: Option<String>,
    hub_env: Option<HubEnv>,
    cancel: Arc<AtomicBool>,
    events: Option<Box<EventSink>>,
}

impl ArtifactBuilder {
    /// A build of `model_id_or_path`: a local model directory (a path starting with `.` or
    /// `/`, or one that exists) or a Hub repo id, whose config files (never its weights) are
    /// fetched through the Hugging Face hub cache.
    pub fn new(model_id_or_path: &str) -> ArtifactBuilder {
        ArtifactBuilder {
            model: model_id_or_path.to_string(),
            bucket_config: None,
            parallel_config: None,
            tensor_parallel_size: None,
            pipeline_parallel_size: 1,
            max_model_len: None,
            optimization: "O3".into(),
            convert: "auto".into(),
            overrides: BucketOverrides::default(),
            backend: None,
            concurrency: 1,
            fast_fail: true,
            compiler_cache: CompilerCacheSetting::Default,
            slow_kernel_threshold: Some(Duration::from_secs(15 * 60)),
            dump_tc: None,
            collective_dq: false,
            only: Vec::new(),
            toolchain: None,
            revision: None,
            hub_env: None,
            cancel: Arc::new(AtomicBool::new(false)),
            events: None,
        }
    }

    /// Explicit buckets instead of the planner's (see [`BucketConfig`]).
    pub fn bucket_config(mut self, config: BucketConfig) -> Self {
        self.bucket_config = Some(config);
        self
    }

    pub fn parallel_config(mut self, config: ParallelConfig) -> Self {
        self.parallel_config = Some(config);
        self
    }

    /// The tensor-parallel size (default: the model preset's).
    pub fn tensor_parallel_size(mut self, size: Option<u64>) -> Self {
        self.tensor_parallel_size = size;
        self
    }

    pub fn pipeline_parallel_size(mut self, size: u64) -> Self {
        self.pipeline_parallel_size = size;
        self
    }

    pub fn max_model_len(mut self, length: Option<u64>) -> Self {
        self.max_model_len = length;
        self
    }

    /// `O0`…`O3`.
    pub fn optimization(mut self, level: &str) -> Self {
        self.optimization = level.to_string();
        self
    }

    /// `auto`, `embed`, `score` or `classify`.
    pub fn convert(mut self, task: &str) -> Self {
        self.convert = task.to_string();
        self
    }

    /// The CLI's bucket overrides (`--tokenwise-buckets`, `--attention-buckets`,
    /// `--exclude-attention-buckets`, the sampler and MTP switches, validation).
    pub fn overrides(mut self, overrides: BucketOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The compiler backend (default: the linked host reference backend).
    pub fn backend(mut self, backend: LoadedBackend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Kernels compiled at once (at least 1).
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.concurrency = jobs.max(1);
        self
    }

    /// Stop at the first failing kernel (the default), or build the rest and report all.
    pub fn fast_fail(mut self, fast_fail: bool) -> Self {
        self.fast_fail = fast_fail;
        self
    }

    pub fn compiler_cache(mut self, setting: CompilerCacheSetting) -> Self {
        self.compiler_cache = setting;
        self
    }

    /// Report kernels running longer than this (`None` disables).
    pub fn slow_kernel_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.slow_kernel_threshold = threshold;
        self
    }

    /// `--dump-tc DIR`: the vendor backend writes each kernel's generated source there.
    /// Kernels are generated (not taken from fxb's compiler cache) so every one is written.
    pub fn dump_tc(mut self, dir: Option<PathBuf>) -> Self {
        self.dump_tc = dir;
        self
    }

    /// `--enable-collective-dq`: passed to the backend with every kernel; a backend that
    /// cannot apply it to this model refuses the build before the first compile.
    pub fn collective_dq(mut self, enabled: bool) -> Self {
        self.collective_dq = enabled;
        self
    }

    /// `--only KERNEL[@BUCKET]`: compile only the entries these select (all when empty);
    /// the bundle is partial and its manifest lists the selection (`extras.fxb.only`).
    pub fn only(mut self, selection: Vec<String>) -> Self {
        self.only = selection;
        self
    }

    /// The rules and plugins to plan with (default: [`Toolchain::discover`]).
    pub fn toolchain(mut self, toolchain: Toolchain) -> Self {
        self.toolchain = Some(toolchain);
        self
    }

    /// For a Hub repo id: the branch, tag or commit to read (default: the default branch).
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// For a Hub repo id: the Hub's settings (default: [`HubEnv::from_env`]).
    pub fn hub_env(mut self, env: HubEnv) -> Self {
        self.hub_env = Some(env);
        self
    }

    /// A flag that cancels the build when set (e.g. from a Ctrl-C handler).
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = flag;
        self
    }

    /// Progress: called from the build's threads.
    pub fn on_event(mut self, events: impl Fn(&BuildEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Box::new(events));
        self
    }

    fn toolchain_or_default(&mut self) -> Toolchain {
        self.toolchain
            .take()
            .unwrap_or_else(|| Toolchain::discover(&Default::default()))
    }

    /// Resolve config, convert, fingerprint and plan without compiling (`--dry-run`).
    pub fn prepare(&mut self) -> Result<Prepared, BuildError> {
        let env = self.hub_env.get_or_insert_with(HubEnv::from_env).clone();
        let located = crate::model::locate(
            &self.model,
            crate::model::HubAccess {
                env: &env,
                revision: self.revision.as_deref(),
                cache: None,
                events: &crate::hub::ignore_events,
            },
            crate::model::Purpose {
                dir_hint: "the model is a directory holding config.json (weights are not needed to build)",
            },
        )?;
        let toolchain = self.toolchain_or_default();
        let result = self.prepare_with(&located, &toolchain);
        self.toolchain = Some(toolchain);
        result
    }

    fn prepare_with(&self, located: &Located, tools: &Toolchain) -> Result<Prepared, BuildError> {
        let model_dir = located.dir.as_path();
        let (file, config) = read_config(model_dir)?;
        let converted = crate::convert::convert_model(
            &file,
            Some(model_dir),
            &config,
            &self.convert,
            &tools.plugins,
            &tools.host,
        )?;
        let architecture = converted.architecture;
        let print = fingerprint(
            &file,
            &config,
            Some(&architecture),
            &tools.rules,
            &tools.plugins,
            &tools.host,
        )?;
        let (tensor_parallel_size, pipeline_parallel_size) = match self.parallel_config {
            Some(p) => (Some(p.tensor_parallel_size), p.pipeline_parallel_size),
            None => (self.tensor_parallel_size, self.pipeline_parallel_size),
        };
        let options = PlanRequestOptions {
            optimization: self.optimization.clone(),
            max_model_len: self.max_model_len,
            tensor_parallel_size,
            pipeline_parallel_size,
        };
        let mut overrides = self.overrides.clone();
        if let Some(buckets) = &self.bucket_config {
            overrides.tokenwise = Some(buckets.tokenwise_seq_lens.clone());
            overrides.attention = Some(
                buckets
                    .prefill_buckets
                    .iter()
                    .map(|&(batch, seq)| (batch, seq, seq))
                    .chain(
                        buckets
                            .decode_buckets
                            .iter()
                            .map(|&(batch, seq)| (batch, seq, 1)),
                    )
                    .collect(),
            );
        }
        let (plan, mut warnings) = plan_model(
            &config,
            &architecture,
            &options,
            &overrides,
            &tools.rules,
            &tools.plugins,
            &tools.host,
        )?;
        // A dry run says so too, not only the build that would have failed.
        match &self.backend {
            Some(backend) => check_parallelism(backend, plan.tensor_parallel_size)?,
            None => check_parallelism(&LoadedBackend::host(), plan.tensor_parallel_size)?,
        }
        warnings.extend(plan.notes.iter().cloned());
        if self.optimization == "O0" {
            warnings.push(
                "-O O0 covers a minimal bucket set: fine for trying things, not for production serving"
                    .into(),
            );
        }
        let summary_fields = crate::fingerprint::model_fields(&config, &print);
        let section = config
            .get("text_config")
            .filter(|s| s.is_object())
            .unwrap_or(&config)
            .as_object()
            .cloned()
            .unwrap_or_default();
        let model_fields = print
            .fields
            .keys()
            .filter_map(|k| summary_fields.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        Ok(Prepared {
            model_dir: model_dir.to_path_buf(),
            architecture,
            fingerprint: print,
            plan,
            summary_fields,
            model_fields,
            config: section,
            warnings,
            notes: located.hub.iter().flat_map(|h| h.notes.clone()).collect(),
            hub_repo_id: located.hub.as_ref().map(|h| h.repo.to_string()),
            convert_reason: converted.reason,
        })
    }

    /// Build the bundle at `output` (`.fxb` appended when it has no extension).
    pub fn build(mut self, output: impl AsRef<Path>) -> Result<Built, BuildError> {
        let prepared = self.prepare()?;
        self.build_prepared(&prepared, output.as_ref())
    }

    /// The backend that compiles: the one chosen, else the host reference backend.
    fn compiling_backend(&self) -> Result<LoadedBackend, BuildError> {
        let backend = match &self.backend {
            Some(backend) => backend.clone(),
            None => LoadedBackend::host(),
        };
        if !backend.has_role(crate::backend::Role::Compiler) {
            return Err(BuildError::NotACompiler(backend.description.name.clone()));
        }
        Ok(backend)
    }

    /// The compile jobs of `prepared` (`--only` applied), their outputs in `dir`, with the
    /// build's flags set on each request.
    fn planned_jobs(
        &self,
        prepared: &Prepared,
        backend: &LoadedBackend,
        dir: &Path,
        cache: Option<&CompilerCache>,
    ) -> Result<Vec<run::Job>, BuildError> {
        let mut jobs = run::jobs(&prepared.plan, backend, prepared, dir);
        if !self.only.is_empty() {
            jobs = select_only(jobs, &self.only)?;
        }
        for job in &mut jobs {
            job.request.dump_tc_dir = self.dump_tc.as_ref().map(|d| d.display().to_string());
            job.request.collective_dq = self.collective_dq;
            job.request.compiler_cache_dir = cache.map(|c| c.dir().display().to_string());
        }
        Ok(jobs)
    }

    /// Whether the backend would take the whole build, compiling nothing: a compiler, a
    /// tensor-parallel size it supports, and every job accepted (no tool missing, no model
    /// it cannot map, no flag it refuses for this model). What `build` checks before its
    /// first compile, and `--dry-run` checks instead of building.
    pub fn check_buildable(&self, prepared: &Prepared, output: &Path) -> Result<(), BuildError> {
        let backend = self.compiling_backend()?;
        check_parallelism(&backend, prepared.plan.tensor_parallel_size)?;
        let output = output_path(output);
        let jobs = self.planned_jobs(prepared, &backend, &staging::output_dir(&output), None)?;
        refuse_unbuildable(&backend, &jobs)
    }

    /// Build from an already prepared plan (the CLI prepares first to print warnings).
    pub fn build_prepared(&self, prepared: &Prepared, output: &Path) -> Result<Built, BuildError> {
        let output = output_path(output);
        let backend = self.compiling_backend()?;
        check_parallelism(&backend, prepared.plan.tensor_parallel_size)?;
        let cache = match &self.compiler_cache {
            CompilerCacheSetting::Disabled => None,
            CompilerCacheSetting::Default => Some(CompilerCache::new(default_compiler_cache_dir())),
            CompilerCacheSetting::Dir(dir) => Some(CompilerCache::new(dir.clone())),
        };
        // Checked before the first compile, not found after the last (issue 14).
        let out_dir = staging::output_dir(&output);
        check_output(&output, &out_dir)?;
        staging::remove_stale(&out_dir, &output);
        let staging = staging::Staging::create(&out_dir).map_err(|e| BuildError::Output {
            path: output.clone(),
            cause: e.to_string(),
        })?;
        let jobs = self.planned_jobs(prepared, &backend, staging.path(), cache.as_ref())?;
        // Refused before the first compile: a missing tool, a model the backend cannot map.
        refuse_unbuildable(&backend, &jobs)?;
        let started = std::time::Instant::now();
        let settings = run::Settings {
            concurrency: self.concurrency,
            fast_fail: self.fast_fail,
            slow_kernel_threshold: self.slow_kernel_threshold,
            cancel: self.cancel.clone(),
            cache: cache.as_ref(),
            fetch_cached: self.dump_tc.is_none(),
            events: self.events.as_deref(),
        };
        let report = run::run(&jobs, &backend, &settings);
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BuildError::Cancelled);
        }
        let failures: Vec<KernelReport> = report
            .iter()
            .filter(|r| matches!(r.status, JobStatus::Failed(_)))
            .cloned()
            .collect();
        if !failures.is_empty() {
            return Err(BuildError::KernelsFailed {
                fast_fail: self.fast_fail,
                failures,
                report,
            });
        }
        let mut manifest = manifest(prepared, &backend, &jobs);
        if !self.only.is_empty()
            && let Some(fxb) = manifest.extras.as_mut().and_then(|e| e.get_mut("fxb"))
            && let Some(fxb) = fxb.as_object_mut()
        {
            fxb.insert("partial".into(), Value::Bool(true));
            fxb.insert("only".into(), serde_json::json!(self.only));
        }
        let timestamp = chrono::Utc::now();
        let staged = staging.path().to_path_buf();
        let written = crate::bundle::write_bundle(&output, &manifest, timestamp, |name| {
            let path = staged.join(name);
            let file = std::fs::File::open(&path)
                .map_err(|e| BundleError::io("open the compiled kernel", &path, e))?;
            let size = file
                .metadata()
                .map_err(|e| BundleError::io("read the size of", &path, e))?
                .len();
            Ok((Box::new(file) as Box<dyn std::io::Read>, size))
        })?;
        drop(staging);
        Ok(Built {
            path: written.path,
            size: written.size,
            entries: written.entries.saturating_sub(1),
            manifest,
            report,
            elapsed: started.elapsed(),
        })
    }
}

/// The jobs `--only` selects: `KERNEL` takes every bucket of the kernel,
/// `KERNEL@LABEL` one (`first_tokenwise@tw1`). A selector that matches nothing is refused.
fn select_only(jobs: Vec<run::Job>, only: &[String]) -> Result<Vec<run::Job>, BuildError> {
    let selects = |selector: &str, job: &run::Job| match selector.split_once('@') {
        Some((kernel, label)) => job.kernel == kernel && job.bucket.label() == label,
        None => job.kernel == selector,
    };
    for selector in only {
        if !jobs.iter().any(|job| selects(selector, job)) {
            return Err(BuildError::OnlyMatchesNothing {
                selector: selector.clone(),
                entries: jobs
                    .iter()
                    .map(|j| format!("{}@{}", j.kernel, j.bucket.label()))
                    .collect(),
            });
        }
    }
    Ok(jobs
        .into_iter()
        .filter(|job| only.iter().any(|s| selects(s, job)))
        .collect())
}

/// `.fxb` appended when the path has no extension.
/// Whether a bundle can be written at `output` (in `dir`): not a directory, a file name,
/// an existing directory to hold it.
fn check_output(output: &Path, dir: &Path) -> Result<(), BuildError> {
    let refuse = |cause: String| {
        Err(BuildError::Output {
            path: output.to_path_buf(),
            cause,
        })
    };
    if output.is_dir() || output.file_name().is_none() {
        return refuse("it is a directory; name the bundle file (e.g. `out/model.fxb`)".into());
    }
    if dir.exists() && !dir.is_dir() {
        return refuse(format!("`{}` is not a directory", dir.display()));
    }
    if !dir.is_dir() {
        return refuse(format!("its directory `{}` does not exist", dir.display()));
    }
    Ok(())
}

pub fn output_path(output: &Path) -> PathBuf {
    let mut output = output.to_path_buf();
    if output.extension().is_none() {
        output.set_extension("fxb");
    }
    output
}

/// The manifest of a build (FORMAT.md §2; DESIGN.md, "Bundles" on honesty).
fn manifest(prepared: &Prepared, backend: &LoadedBackend, jobs: &[run::Job]) -> Manifest {
    let description = &backend.description;
    let mut manifest = Manifest::new();
    manifest.uuid = Some(uuid::Uuid::new_v4().to_string());
    manifest.created_at =
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false));
    let tool = |version: &str, revision: &str| ToolVersion {
        version: Some(version.to_string()),
        revision: Some(revision.to_string()),
        unknown: Map::new(),
    };
    let mut versions = indexmap::IndexMap::new();
    versions.insert(
        description.manifest_tool.clone(),
        tool(&description.version, &description.revision),
    );
    for (name, release) in &description.manifest_versions {
        versions.insert(name.clone(), tool(&release.version, &release.revision));
    }
    versions.insert(
        BUILDER_TOOL.to_string(),
        tool(env!("CARGO_PKG_VERSION"), env!("FXB_GIT_REVISION")),
    );
    manifest.versions = Some(versions);
    manifest.model = Some(Model {
        architecture: Some(prepared.architecture.clone()),
        hub_repo_id: prepared.hub_repo_id.clone(),
        fields: prepared.model_fields.clone(),
    });
    manifest.parallel_config = Some(crate::bundle::ParallelConfig {
        tensor_parallel_size: prepared.plan.tensor_parallel_size,
        pipeline_parallel_size: Some(prepared.plan.pipeline_parallel_size),
        unknown: Map::new(),
    });
    for job in jobs {
        manifest
            .kernels
            .entry(job.kernel.clone())
            .or_default()
            .push(KernelEntry {
                bucket: job.bucket,
                file: job.file.clone(),
                unknown: Map::new(),
            });
    }
    let print = &prepared.fingerprint;
    let extras = serde_json::json!({
        "compiler": description.manifest_tool,
        "builder": BUILDER_TOOL,
        "backend": {
            "name": description.name,
            "version": description.version,
            "revision": description.revision,
            "target_npu": description.target_npu,
        },
        "rule": print.rule,
        "plugin": print.plugin,
        "plan": {
            "rule": prepared.plan.rule,
            "optimization": prepared.plan.optimization,
            "max_model_len": prepared.plan.max_model_len,
            "preset": prepared.plan.preset,
        },
    });
    let mut extras_map = Map::new();
    extras_map.insert("fxb".into(), extras);
    manifest.extras = Some(extras_map);
    manifest
}

/// The `versions` entry of the tool that assembled the bundle (the reference writes
/// `furiosa_llm`; fxb is not furiosa-llm, so it writes its own name and says so in
/// `extras.fxb.builder`).
pub const BUILDER_TOOL: &str = "fxb";

/// Kernel × bucket pairs of a plan, in build order.
pub fn plan_entries(plan: &ModelPlan) -> Vec<(String, BucketKey)> {
    run::plan_entries(plan)
}
