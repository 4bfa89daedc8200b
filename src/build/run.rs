//! Running the compile jobs: N workers pull kernel × bucket jobs in plan order, each
//! through the compiler cache or the backend; a monitor reports kernels that run past the
//! slow-kernel threshold. Fast-fail cancels the other jobs at the first failure.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{Cancel, CompileRequest, LoadedBackend};
use crate::bundle::BucketKey;
use crate::plan::ModelPlan;

use super::{CompilerCache, Prepared};

/// One kernel × bucket to compile.
#[derive(Debug, Clone)]
pub struct Job {
    pub kernel: String,
    pub bucket: BucketKey,
    /// The entry name in the bundle (`edfs/first_tokenwise_tw1.edf`).
    pub file: String,
    pub request: CompileRequest,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", content = "message", rename_all = "snake_case")]
pub enum JobStatus {
    Compiled,
    /// Copied from the compiler cache.
    Cached,
    Failed(String),
    /// Not run: cancelled, or another kernel failed first.
    Skipped,
}

impl JobStatus {
    pub fn message(&self) -> Option<&str> {
        match self {
            JobStatus::Failed(message) => Some(message),
            _ => None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            JobStatus::Compiled => "compiled",
            JobStatus::Cached => "cached",
            JobStatus::Failed(_) => "failed",
            JobStatus::Skipped => "skipped",
        }
    }
}

/// One line of the build report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct KernelReport {
    pub kernel: String,
    pub bucket: String,
    #[serde(flatten)]
    pub status: JobStatus,
    pub seconds: f64,
    pub bytes: u64,
}

/// A kernel still compiling, for the slow-kernel report.
#[derive(Debug, Clone)]
pub struct RunningKernel {
    pub kernel: String,
    pub bucket: String,
    pub elapsed: Duration,
}

/// What a build tells its caller while it runs.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    Started {
        jobs: usize,
    },
    Finished {
        report: KernelReport,
        done: usize,
        jobs: usize,
    },
    /// Kernels past the threshold, longest first.
    Slow(Vec<RunningKernel>),
}

pub struct Settings<'a> {
    pub concurrency: usize,
    pub fast_fail: bool,
    pub slow_kernel_threshold: Option<Duration>,
    pub cancel: Arc<AtomicBool>,
    pub cache: Option<&'a CompilerCache>,
    /// Whether a cached kernel may stand in for a compile (not under `--dump-tc`, which
    /// needs every kernel generated).
    pub fetch_cached: bool,
    pub events: Option<&'a (dyn Fn(&BuildEvent) + Send + Sync)>,
}

/// The plan's kernel × bucket pairs: kernels in plan order, buckets by kind in the order
/// the kernel lists them (tokenwise and sampler ascending; attention prefill, decode,
/// append).
pub fn plan_entries(plan: &ModelPlan) -> Vec<(String, BucketKey)> {
    let b = &plan.buckets;
    let attention = |list: &[fxb_plugin_api::v1::AttentionBucket]| -> Vec<BucketKey> {
        list.iter()
            .map(|a| BucketKey::Attention {
                batch_size: a.batch,
                attention_size: a.attention,
                kv_cache_size: a.attention - a.input_ids,
            })
            .collect()
    };
    let mut entries = Vec::new();
    for kernel in &plan.kernels {
        for kind in &kernel.buckets {
            let buckets: Vec<BucketKey> = match kind.as_str() {
                "tokenwise" => b
                    .tokenwise
                    .iter()
                    .map(|&input_size| BucketKey::Tokenwise { input_size })
                    .collect(),
                "sampler" => b
                    .sampler
                    .iter()
                    .map(|&input_size| BucketKey::Sampler { input_size })
                    .collect(),
                "prefill" => attention(&b.prefill),
                "decode" => attention(&b.decode),
                "append" => attention(&b.append),
                _ => Vec::new(),
            };
            entries.extend(
                buckets
                    .into_iter()
                    .map(|bucket| (kernel.name.clone(), bucket)),
            );
        }
    }
    entries
}

pub fn jobs(
    plan: &ModelPlan,
    backend: &LoadedBackend,
    prepared: &Prepared,
    staging: &Path,
) -> Vec<Job> {
    let _ = backend;
    plan_entries(plan)
        .into_iter()
        .map(|(kernel, bucket)| {
            let file = format!("edfs/{kernel}_{}.edf", bucket.label());
            Job {
                request: CompileRequest {
                    kernel: kernel.clone(),
                    bucket,
                    architecture: prepared.architecture.clone(),
                    model: prepared.model_fields.clone(),
                    tensor_parallel_size: plan.tensor_parallel_size,
                    kv_cache_blocks: plan.kv_cache_blocks,
                    output: staging.join(&file).display().to_string(),
                    config: prepared.config.clone(),
                    dump_tc_dir: None,
                    compiler_cache_dir: None,
                    collective_dq: false,
                },
                kernel,
                bucket,
                file,
            }
        })
        .collect()
}

/// Run every job; the report is in job order.
pub fn run(jobs: &[Job], backend: &LoadedBackend, settings: &Settings<'_>) -> Vec<KernelReport> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let running: Mutex<HashMap<usize, Instant>> = Mutex::new(HashMap::new());
    let reports: Mutex<Vec<Option<KernelReport>>> = Mutex::new(vec![None; jobs.len()]);
    let finished = (Mutex::new(false), Condvar::new());
    let worker_count = settings.concurrency.min(jobs.len()).max(1);
    // Workers still running, and the condvar each signals as it leaves: the build goes
    // on the moment the last one is done (it used to be noticed by polling every 20 ms).
    let working = (Mutex::new(worker_count), Condvar::new());
    let made_dirs: Mutex<HashSet<PathBuf>> = Mutex::new(HashSet::new());
    let emit = |event: BuildEvent| {
        if let Some(events) = settings.events {
            events(&event);
        }
    };
    emit(BuildEvent::Started { jobs: jobs.len() });
    let stopped = || stop.load(Ordering::Relaxed) || settings.cancel.load(Ordering::Relaxed);
    // The flag the backend polls: the user's cancel, or a fast-fail stop.
    let backend_cancel = AtomicBool::new(false);

    std::thread::scope(|scope| {
        if let Some(threshold) = settings.slow_kernel_threshold.filter(|t| !t.is_zero()) {
            let (lock, condvar) = &finished;
            let running = &running;
            let emit = &emit;
            scope.spawn(move || {
                let interval = threshold.min(Duration::from_secs(5));
                let mut over = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*over {
                    over = condvar
                        .wait_timeout(over, interval)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                    if *over {
                        break;
                    }
                    let now = Instant::now();
                    let mut slow: Vec<RunningKernel> = running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                        .filter_map(|(index, start)| {
                            let elapsed = now.duration_since(*start);
                            (elapsed >= threshold).then(|| RunningKernel {
                                kernel: jobs[*index].kernel.clone(),
                                bucket: jobs[*index].bucket.label(),
                                elapsed,
                            })
                        })
                        .collect();
                    if !slow.is_empty() {
                        slow.sort_by_key(|k| std::cmp::Reverse(k.elapsed));
                        emit(BuildEvent::Slow(slow));
                    }
                }
            });
        }
        for _ in 0..worker_count {
            scope.spawn(|| {
                let _leaving = Leaving(&working);
                loop {
                    if settings.cancel.load(Ordering::Relaxed) {
                        backend_cancel.store(true, Ordering::Relaxed);
                    }
                    if stopped() {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(index, Instant::now());
                    let started = Instant::now();
                    let (status, bytes) =
                        compile_one(job, backend, settings, &backend_cancel, &made_dirs);
                    running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&index);
                    let failed = matches!(status, JobStatus::Failed(_));
                    let report = KernelReport {
                        kernel: job.kernel.clone(),
                        bucket: job.bucket.label(),
                        status,
                        seconds: started.elapsed().as_secs_f64(),
                        bytes,
                    };
                    reports.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(report.clone());
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    emit(BuildEvent::Finished {
                        report,
                        done,
                        jobs: jobs.len(),
                    });
                    if failed && settings.fast_fail {
                        stop.store(true, Ordering::Relaxed);
                        backend_cancel.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        // Forward a user cancel to calls already inside the backend.
        let (count, left) = &working;
        let mut still_working = count.lock().unwrap_or_else(|e| e.into_inner());
        while *still_working > 0 {
            if settings.cancel.load(Ordering::Relaxed) {
                backend_cancel.store(true, Ordering::Relaxed);
            }
            still_working = left
                .wait_timeout(still_working, Duration::from_millis(20))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        drop(still_working);
        let (lock, condvar) = &finished;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        condvar.notify_all();
    });

    reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(jobs)
        .map(|(report, job)| {
            report.unwrap_or_else(|| KernelReport {
                kernel: job.kernel.clone(),
                bucket: job.bucket.label(),
                status: JobStatus::Skipped,
                seconds: 0.0,
                bytes: 0,
            })
        })
        .map(|mut report| {
            // A job interrupted by a fast-fail stop or a cancel did not fail on its own.
            if (stop.load(Ordering::Relaxed) || settings.cancel.load(Ordering::Relaxed))
                && report.status == JobStatus::Failed("cancelled".into())
            {
                report.status = JobStatus::Skipped;
            }
            report
        })
        .collect()
}

/// Counts a worker out when it leaves, however it leaves (a panic included).
struct Leaving<'a>(&'a (Mutex<usize>, Condvar));

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let (count, left) = self.0;
        *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        left.notify_all();
    }
}

/// Compile one job (or copy it from the cache); check the file carries the signature the
/// backend reported. `made_dirs` are the output directories already created (all jobs
/// share one or a few, and creating it again cost two system calls a job).
fn compile_one(
    job: &Job,
    backend: &LoadedBackend,
    settings: &Settings<'_>,
    cancel: &AtomicBool,
    made_dirs: &Mutex<HashSet<PathBuf>>,
) -> (JobStatus, u64) {
    let output = PathBuf::from(&job.request.output);
    if let Some(parent) = output.parent() {
        let mut made = made_dirs.lock().unwrap_or_else(|e| e.into_inner());
        if !made.contains(parent) {
            if let Err(e) = std::fs::create_dir_all(parent) {
                return (JobStatus::Failed(format!("{}: {e}", parent.display())), 0);
            }
            made.insert(parent.to_path_buf());
        }
    }
    let entry = settings
        .cache
        .map(|cache| (cache, cache.entry(&backend.description, &job.request)));
    if let Some((cache, entry)) = &entry
        && settings.fetch_cached
        && cache.fetch(entry, &output)
    {
        let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
        return (JobStatus::Cached, bytes);
    }
    let result = backend
        .backend()
        .compile(&job.request, Cancel::new(cancel))
        .map_err(|e| match e.hint {
            Some(hint) => format!("{} ({hint})", e.message),
            None => e.message,
        })
        .and_then(|response| {
            let (inputs, outputs) = file_signature(&output)?;
            let said_in: Vec<&str> = response.inputs.iter().map(|t| t.line.as_str()).collect();
            let said_out: Vec<&str> = response.outputs.iter().map(|t| t.line.as_str()).collect();
            if inputs != said_in || outputs != said_out {
                return Err(format!(
                    "the kernel file `{}` does not carry the signature the backend reported",
                    output.display()
                ));
            }
            Ok(response.bytes)
        });
    match result {
        Ok(bytes) => {
            if let Some((cache, entry)) = &entry {
                cache.store(entry, &output);
            }
            (JobStatus::Compiled, bytes)
        }
        Err(message) => {
            let _ = std::fs::remove_file(&output);
            (JobStatus::Failed(message), 0)
        }
    }
}

/// The rendered signature of a kernel file.
fn file_signature(path: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "the backend reported success but `{}` cannot be opened: {e}",
            path.display()
        )
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = fxb_backend_api::edf::Seekable::new(file, len);
    let signature = fxb_backend_api::edf::read_signature(&mut reader, Some(len))
        .map_err(|e| format!("`{}` is not a valid kernel file: {e}", path.display()))?;
    Ok(signature.render())
}
