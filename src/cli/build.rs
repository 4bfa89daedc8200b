//! `fxb build <model> <output> --dry-run`: resolve the config, `--convert`, the
//! fingerprint and the bucket plan, and print the build summary. Compiling kernels needs
//! a compiler backend, which is not part of fxb yet: without `--dry-run` the command says
//! so instead of pretending.

use std::path::{Path, PathBuf};

use fxb::fingerprint::{fingerprint, read_config};
use fxb::plan::{BucketOverrides, ModelPlan, PlanRequestOptions, plan_model};

use super::output::{Stdout, attention_line, report_header, report_item, report_rule, size_list};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Only --dry-run is available: compiling kernels needs a compiler \
backend, which arrives with the build pipeline. The plan comes from the architecture's rule \
file (presets) and plugin; a model without a preset gets a generic one, with a warning. \
Unlike the reference, the summary goes to stdout (it is the data asked for) and errors exit 2."
)]
pub struct Args {
    /// A local model directory (a path starting with `.` or `/`) holding config.json
    model: String,
    /// Where the .fxb would be written (`.fxb` appended when it has no extension)
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
    /// Print the plan as JSON (schema: schemas/build-plan.schema.json, plus `fingerprint`
    /// as in schemas/fingerprint.schema.json)
    #[arg(long)]
    json: bool,
}

/// `fxb build --dry-run --json`: the plan, and the fingerprint the bundle would carry.
#[derive(serde::Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a ModelPlan,
    fingerprint: &'a fxb::fingerprint::Fingerprint,
}

/// One option value holding a whole list (clap would otherwise read `Vec` as repeats).
#[derive(Debug, Clone)]
pub struct Sizes(Vec<u64>);

#[derive(Debug, Clone)]
pub struct Tuples(Vec<(u64, u64, u64)>);

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    if !(args.model.starts_with('.') || args.model.starts_with('/')) {
        return Err(Hinted::new(
            format!(
                "`{}` looks like a Hugging Face Hub id; building from the Hub is not supported yet",
                args.model
            ),
            format!(
                "pass a local model directory as a path starting with `.` or `/` (e.g. `./{}`)",
                args.model
            ),
        )
        .into());
    }
    let model_dir = Path::new(&args.model);
    if !model_dir.is_dir() {
        return Err(Hinted::new(
            format!("model directory `{}` does not exist", args.model),
            "the model is a directory holding config.json (weights are not needed to plan)",
        )
        .into());
    }
    if !args.dry_run {
        return Err(Hinted::new(
            "compiling kernels needs a compiler backend, and none is available in this fxb yet",
            "run with --dry-run to resolve the config and see the bucket plan",
        )
        .into());
    }
    let (file, config) = read_config(model_dir)?;
    let rules = globals.rules();
    let (plugins, host) = globals.plugins();
    let converted = fxb::convert::convert_model(
        &file,
        Some(model_dir),
        &config,
        &args.convert,
        &plugins,
        &host,
    )?;
    if let Some(reason) = &converted.reason {
        tracing::info!("convert {reason}");
    }
    let architecture = converted.architecture;
    let print = fingerprint(&file, &config, Some(&architecture), &rules, &plugins, &host)?;
    let options = PlanRequestOptions {
        optimization: args.optim_level.clone(),
        max_model_len: args.max_model_len,
        tensor_parallel_size: args.tensor_parallel_size,
        pipeline_parallel_size: args.pipeline_parallel_size,
    };
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
    let (plan, warnings) = plan_model(
        &config,
        &architecture,
        &options,
        &overrides,
        &rules,
        &plugins,
        &host,
    )?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    for note in &plan.notes {
        tracing::warn!("{note}");
    }
    if args.optim_level == "O0" {
        tracing::warn!(
            "-O O0 covers a minimal bucket set: fine for trying things, not for production serving"
        );
    }
    let mut output = args.output_path.clone();
    if output.extension().is_none() {
        output.set_extension("fxb");
    }
    let mut out = Stdout::new();
    if args.json {
        out.json(&DryRun {
            plan: &plan,
            fingerprint: &print,
        })?;
    } else {
        let fields = fxb::fingerprint::model_fields(&config, &print);
        out.raw(&summary(
            &args.model,
            &output,
            &architecture,
            &plan,
            &fields,
        ))?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}

fn summary(
    model: &str,
    output: &Path,
    architecture: &str,
    plan: &ModelPlan,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> String {
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
        report_item("compiler", "none (dry run)"),
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
    for (title, buckets) in [
        ("prefill", &b.prefill),
        ("decode", &b.decode),
        ("append", &b.append),
    ] {
        if buckets.is_empty() {
            continue;
        }
        lines.push(format!("    - {title} ({}):", buckets.len()));
        lines.extend(
            buckets
                .iter()
                .map(|x| attention_line(x.batch, x.attention, x.input_ids)),
        );
    }
    lines
}
