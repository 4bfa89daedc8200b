//! `fxb show <path>`: bundle metadata in the reference's layout (FORMAT.md §5.7).

use std::path::PathBuf;

use fxb::bundle::{BucketKey, Bundle, BundleSummary, summarize};

use super::Outcome;
use super::output::Stdout;
use fxb::report::{
    attention_line, bucket_groups, report_header, report_item, report_rule, size_list,
};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads only the zip central directory and manifest.json, so it takes \
the same time on any bundle size. Kernels and tool versions are listed sorted (the \
reference's order is random)."
)]
pub struct Args {
    /// Path to an artifact directory or .fxb file
    path: PathBuf,
    /// Print the summary as JSON (schema: schemas/show.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let bundle = Bundle::open(&args.path)?;
    let summary = summarize(&args.path.to_string_lossy(), bundle.manifest());
    let mut out = Stdout::new();
    if args.json {
        out.json(&summary)?;
    } else {
        out.raw(&render(&summary))?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}

fn render(s: &BundleSummary) -> String {
    let rule = report_rule();
    let mut lines = vec![
        String::new(),
        rule.clone(),
        format!("  FXB Bundle — {}", s.path),
        rule.clone(),
        String::new(),
    ];
    let item = report_item;

    lines.push(report_header("General"));
    lines.push(item("format_version", &s.format_version.to_string()));
    lines.push(item("uuid", s.uuid.as_deref().unwrap_or("-")));
    lines.push(item("created_at", s.created_at.as_deref().unwrap_or("-")));
    lines.extend(s.versions.iter().map(|v| item(&v.tool, &v.display())));
    lines.push(String::new());

    lines.push(report_header("Model"));
    lines.push(item("architecture", &s.architecture));
    if let Some(repo) = &s.hub_repo_id {
        lines.push(item("hub_repo_id", repo));
    }
    lines.extend(s.model.iter().map(|(key, value)| item(key, value)));
    lines.push(String::new());

    lines.extend(fxb::report::parallelism_section(
        s.tensor_parallel_size,
        s.pipeline_parallel_size,
    ));

    lines.push(report_header(&format!(
        "Kernels ({} entries, {} kernels)",
        s.entries,
        s.kernels.len()
    )));
    lines.push(item("mtp", if s.mtp { "included" } else { "not included" }));
    lines.extend(
        s.kernels
            .iter()
            .map(|k| format!("    - {}", fxb::report::printable(k))),
    );
    lines.push(String::new());

    let b = &s.buckets;
    lines.push(report_header(&format!("Buckets ({})", b.count)));
    let list = size_list;
    if !b.tokenwise.is_empty() {
        lines.push(item("tokenwise", &list(&b.tokenwise)));
    }
    if !b.sampler.is_empty() {
        lines.push(item("sampler", &list(&b.sampler)));
    }
    let group =
        |buckets: &[BucketKey]| -> Vec<String> { buckets.iter().map(bucket_line).collect() };
    lines.extend(bucket_groups(vec![
        ("vision_encoder", group(&b.vision_encoder)),
        ("prefill", group(&b.prefill)),
        ("decode", group(&b.decode)),
        ("append", group(&b.append)),
        ("linear prefill", group(&b.linear_prefill)),
        ("linear decode", group(&b.linear_decode)),
    ]));
    lines.push(rule);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn bucket_line(bucket: &BucketKey) -> String {
    match *bucket {
        BucketKey::Attention {
            batch_size,
            attention_size,
            ..
        } => attention_line(batch_size, attention_size, bucket.input_ids().unwrap_or(0)),
        BucketKey::VisionEncoder {
            num_patches,
            batch_size,
        } => format!("        - batch={batch_size:<4} num_patches={num_patches}"),
        BucketKey::LinearAttention {
            batch_size,
            seq_len,
        } => format!("        - batch={batch_size:<4} seq_len={seq_len}"),
        BucketKey::Tokenwise { input_size } | BucketKey::Sampler { input_size } => {
            format!("        - input_size={input_size}")
        }
    }
}
