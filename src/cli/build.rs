//! `fxb build <model> <output>`: resolve the config, `--convert`, the fingerprint and the
//! bucket plan, then compile every kernel × bucket on a compiler backend and write the
//! bundle (or, with `--dry-run`, print the build summary and stop).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fxb::Hint as _;
use fxb::build::{ArtifactBuilder, BuildEvent, CompilerCacheSetting, KernelReport, Prepared};
use fxb::plan::{BucketOverrides, ModelPlan};

use super::output::{
    Stdout, attention_line, bucket_groups, printer, report_header, report_item, report_rule,
    size_list, table,
};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The plan comes from the architecture's rule file (presets) and \
plugin; a model without a preset gets a generic one, with a warning. Kernels are compiled by \
a backend: the default `host` backend is fxb's reference backend — real kernel signatures, \
no RNGD machine code, recorded as `fxb_host_backend` in the manifest (never as \
furiosa_compiler). Unlike the reference, the summary, --build-report and --json go to stdout \
(progress and messages to stderr), and errors exit 2. --dump-tc and --enable-collective-dq \
need the vendor compiler and are refused with the host backend."
)]
pub struct Args {
    /// A local model directory (a path starting with `.` or `/`) holding config.json
    model: String,
    /// Where to write the .fxb (`.fxb` appended when it has no extension)
    output_path: PathBuf,
    /// The tensor-parallel size (default: the model's preset)
    #[arg(short = 't', long = "tensor-parallel-size", visible_alias = "tp", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    tensor_parallel_size: Option<u64>,
    /// The pipeline-parallel size recorded for loading
    #[arg(short = 'p', long = "pipeline-parallel-size", visible_alias = "pp", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pipeline_parallel_size: u64,
    /// Maximum context length (default: max_position_embeddings)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_model_len: Option<u64>,
    /// Bucket optimization level: O0 (minimal), O1, O2, O3 (full)
    #[arg(short = 'O', long = "optim-level", value_name = "LEVEL", default_value = "O3", value_parser = ["O0", "O1", "O2", "O3"])]
    optim_level: String,
    /// Task override: auto keeps config.json's architecture unless sentence-transformers
    /// metadata says embed/score
    #[arg(long, value_name = "TASK", default_value = "auto", value_parser = clap::builder::PossibleValuesParser::new(fxb::convert::TASKS))]
    convert: String,
    /// Resolve config and buckets and print the build summary without compiling
    #[arg(long)]
    dry_run: bool,
    /// The compiler backend: `host` (default), a name from `fxb backends ls`, or a
    /// library path
    #[arg(long, value_name = "NAME|PATH", env = "FXB_BACKEND")]
    backend: Option<String>,
    /// Kernels compiled in parallel
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// Print a per-kernel table (duration, status) and the total after the build
    #[arg(long)]
    build_report: bool,
    /// Log kernels running longer than this, longest first (`30s`, `15m`, `1h`, seconds;
    /// 0 disables)
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    slow_kernel_threshold: Duration,
    /// Finish the other kernels after a failure and report every failure
    #[arg(long)]
    no_fast_fail: bool,
    /// Compile every kernel fresh
    #[arg(long, conflicts_with = "compiler_cache_dir")]
    no_compiler_cache: bool,
    /// The compiler cache directory (default: $XDG_CACHE_HOME/fxb/compiler)
    #[arg(long, value_name = "DIR")]
    compiler_cache_dir: Option<PathBuf>,
    /// Dump generated kernel sources (vendor compiler only)
    #[arg(long, value_name = "DIR")]
    dump_tc: Option<PathBuf>,
    /// Collective dynamic quantization (vendor compiler only)
    #[arg(long)]
    enable_collective_dq: bool,
    /// Override tokenwise bucket sizes (comma-separated, e.g. 1,2,4,8)
    #[arg(long, value_name = "SIZES", value_parser = |t: &str| fxb::plan::parse_sizes(t).map(Sizes))]
    tokenwise_buckets: Option<Sizes>,
    /// Override attention buckets, (batch,attention,input_ids) tuples: '(1,128,128),(1,1024,1)'
    #[arg(long, value_name = "BUCKETS", value_parser = |t: &str| fxb::plan::parse_attention_buckets(t).map(Tuples))]
    attention_buckets: Option<Tuples>,
    /// Remove attention buckets from the resolved plan: '(16,4100,4),(32,4100,4)'
    #[arg(long, value_name = "BUCKETS", value_parser = |t: &str| fxb::plan::parse_attention_buckets(t).map(Tuples))]
    exclude_attention_buckets: Option<Tuples>,
    /// Compile the sampler kernel when sampler buckets are present (the default)
    #[arg(long, overrides_with = "no_enable_sampler")]
    enable_sampler: bool,
    /// Do not compile the sampler kernel
    #[arg(long)]
    no_enable_sampler: bool,
    /// Compile MTP kernels when the plan supports them (no plan here has any yet)
    #[arg(long, overrides_with = "no_enable_mtp")]
    enable_mtp: bool,
    #[arg(long, hide = true)]
    no_enable_mtp: bool,
    /// Skip the max-length validation of overridden buckets (bring-up only)
    #[arg(long)]
    skip_bucket_validation: bool,
    /// JSON on stdout: the plan with --dry-run (schemas/build-plan.schema.json, plus
    /// `fingerprint`), else the built bundle and its kernel report
    #[arg(long)]
    json: bool,
}

/// One option value holding a whole list (clap would otherwise read `Vec` as repeats).
#[derive(Debug, Clone)]
pub struct Sizes(Vec<u64>);

#[derive(Debug, Clone)]
pub struct Tuples(Vec<(u64, u64, u64)>);

/// `30s`, `15m`, `1h`, `90` (seconds), `0`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use seconds or 30s, 15m, 1h"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("`{text}`: the unit must be s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let backend_dirs = fxb::backend::search_dirs();
    let backend = fxb::backend::select(args.backend.as_deref(), &backend_dirs)?;
    if args.dump_tc.is_some() || args.enable_collective_dq {
        let option = if args.dump_tc.is_some() {
            "--dump-tc"
        } else {
            "--enable-collective-dq"
        };
        if backend.description.manifest_tool != "furiosa_compiler" {
            return Err(Hinted::new(
                format!(
                    "{option} needs the vendor compiler; backend `{}` does not drive it",
                    backend.description.name
                ),
                "drop the option, or pick a backend that drives furiosa-tcc with --backend",
            )
            .into());
        }
    }
    let toolchain = globals.toolchain();
    let overrides = BucketOverrides {
        tokenwise: args.tokenwise_buckets.clone().map(|s| s.0),
        attention: args.attention_buckets.clone().map(|t| t.0),
        exclude: args
            .exclude_attention_buckets
            .clone()
            .map(|t| t.0)
            .unwrap_or_default(),
        sampler: !args.no_enable_sampler,
        mtp: args.enable_mtp,
        skip_validation: args.skip_bucket_validation,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let mut builder = ArtifactBuilder::new(&args.model)
        .toolchain(toolchain)
        .tensor_parallel_size(args.tensor_parallel_size)
        .pipeline_parallel_size(args.pipeline_parallel_size)
        .max_model_len(args.max_model_len)
        .optimization(&args.optim_level)
        .convert(&args.convert)
        .overrides(overrides)
        .backend(backend.clone())
        .concurrency(usize::try_from(args.concurrency).unwrap_or(usize::MAX))
        .fast_fail(!args.no_fast_fail)
        .compiler_cache(if args.no_compiler_cache {
            CompilerCacheSetting::Disabled
        } else if let Some(dir) = &args.compiler_cache_dir {
            CompilerCacheSetting::Dir(dir.clone())
        } else {
            CompilerCacheSetting::Default
        })
        .slow_kernel_threshold(Some(args.slow_kernel_threshold).filter(|t| !t.is_zero()))
        .cancel_flag(cancel.clone());
    let prepared = builder.prepare().map_err(build_error)?;
    if let Some(reason) = &prepared.convert_reason {
        tracing::info!("convert {reason}");
    }
    for warning in &prepared.warnings {
        tracing::warn!("{warning}");
    }
    if args.optim_level == "O0" {
        tracing::warn!(
            "-O O0 covers a minimal bucket set: fine for trying things, not for production serving"
        );
    }
    let output = fxb::build::output_path(&args.output_path);
    if args.dry_run {
        let mut out = Stdout::new();
        if args.json {
            out.json(&fxb::schema::DryRunOutput {
                plan: prepared.plan.clone(),
                fingerprint: prepared.fingerprint.clone(),
            })?;
        } else {
            out.raw(&summary(&args.model, &output, &prepared, &backend.label()))?;
        }
        out.finish()?;
        return Ok(Outcome::Clean);
    }

    // Ctrl-C cancels: running compiles are told to stop, and nothing is left behind. A
    // second Ctrl-C exits at once (the next build removes what that leaves).
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        printer().diagnostic("\ncancelling the build (Ctrl-C again to exit at once)");
    });
    let progress = progress_bar();
    let bar = progress.clone();
    let builder = builder.on_event(move |event| match event {
        BuildEvent::Started { jobs } => bar.set_length(*jobs as u64),
        BuildEvent::Finished { report, .. } => {
            bar.set_message(format!("{} ({})", report.kernel, report.bucket));
            bar.inc(1);
        }
        BuildEvent::Slow(kernels) => bar.suspend(|| {
            let list: Vec<String> = kernels
                .iter()
                .map(|k| format!("{} ({}) {}s", k.kernel, k.bucket, k.elapsed.as_secs()))
                .collect();
            tracing::warn!("still compiling: {}", list.join(", "));
        }),
    });
    let result = builder.build_prepared(&prepared, &output);
    progress.finish_and_clear();
    let built = match result {
        Ok(built) => built,
        Err(fxb::build::BuildError::KernelsFailed { failures, report }) if args.build_report => {
            let mut out = Stdout::new();
            out.raw(&report_table(&report, None))?;
            out.finish()?;
            return Err(build_error(fxb::build::BuildError::KernelsFailed {
                failures,
                report,
            }));
        }
        Err(e) => return Err(build_error(e)),
    };
    let mut out = Stdout::new();
    if args.json {
        out.json(&fxb::schema::BuildOutput {
            path: built.path.clone(),
            size: built.size,
            entries: built.entries,
            seconds: built.elapsed.as_secs_f64(),
            backend: backend.description.name.clone(),
            kernels: built.report.clone(),
        })?;
    } else if args.build_report {
        out.raw(&report_table(&built.report, Some(built.elapsed)))?;
    }
    out.finish()?;
    let cached = built
        .report
        .iter()
        .filter(|r| r.status == fxb::build::JobStatus::Cached)
        .count();
    // "Artifact Build Completed" is the reference's words.
    printer().status(format_args!(
        "Artifact Build Completed: {} ({} entries, {}; {} compiled, {cached} from the compiler cache) in {:.1}s",
        built.path.display(),
        built.entries,
        fxb::cache::human_size(built.size),
        built.entries - cached,
        built.elapsed.as_secs_f64()
    ));
    Ok(Outcome::Clean)
}

/// A library error with its hint, for the CLI's error report.
fn build_error(error: fxb::build::BuildError) -> anyhow::Error {
    match error.hint() {
        Some(hint) => Hinted::new(format!("{:#}", anyhow::Error::from(error)), hint).into(),
        None => error.into(),
    }
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = printer().progress_bar(
        None,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} kernels  {msg}",
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `--build-report`: one row per kernel × bucket, then the total.
fn report_table(report: &[KernelReport], total: Option<Duration>) -> String {
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|r| {
            vec![
                r.kernel.clone(),
                r.bucket.clone(),
                r.status.label().to_string(),
                format!("{:.3}s", r.seconds),
                r.status.message().unwrap_or("").to_string(),
            ]
        })
        .collect();
    let mut text = table(&["KERNEL", "BUCKET", "STATUS", "TIME", "ERROR"], &rows);
    let compile_time: f64 = report.iter().map(|r| r.seconds).sum();
    text.push_str(&format!(
        "{} kernel(s), {:.3}s compiling{}\n",
        report.len(),
        compile_time,
        total
            .map(|t| format!(", {:.3}s total", t.as_secs_f64()))
            .unwrap_or_default()
    ));
    text
}

fn summary(model: &str, output: &Path, prepared: &Prepared, compiler: &str) -> String {
    let plan = &prepared.plan;
    let architecture = prepared.architecture.as_str();
    let fields = &prepared.summary_fields;
    let mut lines = vec![
        String::new(),
        report_rule(),
        format!(
            "  FXB Build Plan (dry run)  fxb v{}",
            env!("CARGO_PKG_VERSION")
        ),
        report_rule(),
        String::new(),
        report_header("Versions"),
        report_item(
            "fxb",
            &format!(
                "{} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("FXB_GIT_REVISION")
            ),
        ),
        report_item(
            "plugin ABI",
            &format!(
                "{}.{}",
                fxb_plugin_api::ABI_MAJOR,
                fxb_plugin_api::ABI_MINOR
            ),
        ),
        report_item("compiler", compiler),
        String::new(),
        report_header("Config"),
        report_item("model", model),
        report_item("output_path", &output.display().to_string()),
        report_item("max_model_len", &plan.max_model_len.to_string()),
        report_item("optim_level", &plan.optimization),
        report_item(
            "rule",
            plan.rule.as_deref().unwrap_or("(none: generic preset)"),
        ),
        report_item("plugin", &plan.plugin),
        report_item("preset", plan.preset.as_deref().unwrap_or("(generic)")),
        String::new(),
        report_header("Model"),
        report_item("architecture", architecture),
    ];
    lines.extend(
        fxb::bundle::model_lines(fields)
            .iter()
            .map(|m| report_item(&m.key, &m.value)),
    );
    lines.push(String::new());
    lines.push(report_header("Parallelism"));
    lines.push(report_item(
        "tensor_parallel_size",
        &plan.tensor_parallel_size.to_string(),
    ));
    lines.push(report_item(
        "pipeline_parallel_size",
        &plan.pipeline_parallel_size.to_string(),
    ));
    lines.push(String::new());
    lines.extend(bucket_section(plan));
    lines.push(report_rule());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The Buckets section exactly as the reference's build summary prints it.
pub fn bucket_section(plan: &ModelPlan) -> Vec<String> {
    let b = &plan.buckets;
    let mut lines = vec![
        report_header(&format!(
            "Buckets ({} total, {} kernels)",
            plan.total_buckets, plan.total_kernels
        )),
        report_item("kv_cache_blocks", &plan.kv_cache_blocks.to_string()),
        report_item("max_cache", "0"),
        report_item("mtp", "not included"),
        report_item(
            "sampler",
            if b.sampler.is_empty() {
                "not included"
            } else {
                "included"
            },
        ),
        report_item("tokenwise", &size_list(&b.tokenwise)),
    ];
    if !b.sampler.is_empty() {
        lines.push(report_item("sampler", &size_list(&b.sampler)));
    }
    let attention = |buckets: &[fxb_plugin_api::v1::AttentionBucket]| -> Vec<String> {
        buckets
            .iter()
            .map(|x| attention_line(x.batch, x.attention, x.input_ids))
            .collect()
    };
    lines.extend(bucket_groups(vec![
        ("prefill", attention(&b.prefill)),
        ("decode", attention(&b.decode)),
        ("append", attention(&b.append)),
    ]));
    lines
}
