//! `fxb build <model> <output>`: resolve the config, `--convert`, the fingerprint and the
//! bucket plan, then compile every kernel × bucket on a compiler backend and write the
//! bundle (or, with `--dry-run`, print the build summary and stop).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fxb::Hint as _;
use fxb::build::{ArtifactBuilder, CompilerCacheSetting};
use fxb::plan::BucketOverrides;

use super::output::{Stdout, printer};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The plan comes from the architecture's rule file (presets) and \
plugin; a model without a preset gets a generic one, with a warning. Kernels are compiled by \
a backend: the default `host` backend is fxb's reference backend — real kernel signatures, \
no RNGD machine code, recorded as `fxb_host_backend` in the manifest (never as \
furiosa_compiler). Unlike the reference, the summary, --build-report and --json go to stdout \
(progress and messages to stderr), and errors exit 2. `--backend furiosa` drives the vendor \
toolchain the user installed (`fxb backends ls` shows what it found). --dump-tc and \
--enable-collective-dq need the vendor compiler and are refused with the host backend."
)]
pub struct Args {
    /// A local model directory holding config.json, or a Hub repo id (its config files
    /// are fetched, never its weights; `./DIR` is always a path; a bare name is a path when
    /// it exists, else a Hub id)
    model: String,
    /// Where to write the .fxb (`.fxb` appended when it has no extension)
    output_path: PathBuf,
    /// For a Hub id: the branch, tag or commit to read [default: the default branch]
    #[arg(long, value_name = "R")]
    revision: Option<String>,
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
    /// Compile only this kernel, or one bucket of it (`first_tokenwise@tw1`); repeatable.
    /// The bundle is partial and its manifest says so (`extras.fxb.only`)
    #[arg(long, value_name = "KERNEL[@BUCKET]")]
    only: Vec<String>,
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
    super::note_shadowed_hub_id(&args.model);
    let backend_dirs = fxb::backend::search_dirs();
    let backend = fxb::backend::select(args.backend.as_deref(), &backend_dirs)?;
    let vendor_only: Vec<&'static str> = [
        (args.dump_tc.is_some(), "--dump-tc"),
        (args.enable_collective_dq, "--enable-collective-dq"),
    ]
    .into_iter()
    .filter_map(|(given, option)| given.then_some(option))
    .collect();
    fxb::build::require_vendor_compiler(&backend, &vendor_only)?;
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
        .dump_tc(args.dump_tc.clone())
        .collective_dq(args.enable_collective_dq)
        .only(args.only.clone())
        .cancel_flag(cancel.clone());
    if let Some(revision) = &args.revision {
        builder = builder.revision(revision);
    }
    let prepared = builder.prepare().map_err(build_error)?;
    for note in &prepared.notes {
        printer().note(note);
    }
    if let Some(reason) = &prepared.convert_reason {
        tracing::info!("convert {reason}");
    }
    for warning in &prepared.warnings {
        tracing::warn!("{warning}");
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
            out.raw(&fxb::report::build_plan_summary(
                &args.model,
                &output,
                &prepared,
                &backend.label(),
            ))?;
        }
        out.finish()?;
        // As the build itself would refuse it, before its first compile (the summary above
        // still shows what it would have built). The default host backend takes any plan.
        if args.backend.is_some() {
            builder
                .check_buildable(&prepared, &output)
                .map_err(build_error)?;
        }
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
    let progress = super::progress::BuildBar::new();
    let bar = progress.clone();
    let builder = builder.on_event(move |event| bar.event(event));
    let result = builder.build_prepared(&prepared, &output);
    progress.finish_and_clear();
    let built = match result {
        Ok(built) => built,
        Err(failed @ fxb::build::BuildError::KernelsFailed { .. }) if args.build_report => {
            if let fxb::build::BuildError::KernelsFailed { report, .. } = &failed {
                let mut out = Stdout::new();
                out.raw(&fxb::report::build_report_table(report, None))?;
                out.finish()?;
            }
            // The report just printed is what the hint would point at: the message alone.
            return Err(anyhow::Error::msg(failed.to_string()));
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
        out.raw(&fxb::report::build_report_table(
            &built.report,
            Some(built.elapsed),
        ))?;
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
