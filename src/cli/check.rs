//! `fxb check <model-dir>`: which cached bundles fit the model, ranked as the reference's
//! server ranks them, and the one it would load (FORMAT.md §5.2).

use fxb::cache::human_size;
use fxb::check::{CheckOptions, CheckReport};

use super::output::{Stdout, printer};
use super::{Globals, Outcome, RuntimeArgs};
use fxb::report::{simple_table, version_cell};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The target's config.json goes through `--convert auto`, is \
fingerprinted with the active rule, and is compared with the `model` object of every cached \
bundle in the index (bundles are not opened). Ranking: compiler revision match, runtime \
match, same repo id, file name (descending), then the newest in the cache (two builds within a \
minute share a standard name); the first is recommended, as in the reference. \
`— match`/`— stale` need the runtime's compiler revision (--runtime-revision, \
FXB_RUNTIME_REVISION); the host backend knows none, so without it fxb shows versions only. \
Exit 1 when nothing is compatible."
)]
pub struct Args {
    /// A local model directory holding config.json, or a Hub repo id (`./DIR` is always a
    /// path; a bare name is a path when it exists, else a Hub id)
    target: String,
    /// For a Hub id: the branch, tag or commit whose config.json is read [default: the
    /// default branch]
    #[arg(long, value_name = "R")]
    revision: Option<String>,
    /// Also list same-architecture bundles that differ, with each differing field
    #[arg(long)]
    explain: bool,
    /// Also read the target's safetensors headers (never the weights) and report weights
    /// whose shapes disagree with the config
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    super::note_shadowed_hub_id(&args.target);
    let cache = globals.cache()?;
    let located = super::locate_model(
        &args.target,
        args.revision.as_deref(),
        Some(&cache),
        fxb::model::Purpose {
            dir_hint: "the target is a directory holding config.json",
        },
    )?;
    if located.hub.is_some() && args.deep {
        return Err(super::Hinted::new(
            "--deep reads the weights' headers from a local model directory, and a Hub id has none here",
            format!(
                "download the model (`hf download {}`) and check its directory",
                args.target
            ),
        )
        .into());
    }
    let tools = globals.toolchain();
    let (running, why) = args.runtime.running()?;
    if running.compiler_revision.is_none() {
        printer().note(format_args!(
            "{why}: match/stale is not shown (--runtime-revision REV sets it)"
        ));
    }
    let checked = fxb::check::run(
        &tools,
        &cache,
        CheckOptions {
            label: &args.target,
            model_dir: &located.dir,
            running,
            repo_id: located.hub.as_ref().map(|hub| hub.repo.as_str()),
            deep: args.deep,
        },
    )?;
    for note in &checked.notes {
        printer().note(note);
    }
    let (report, weights) = (checked.report, checked.weights);
    let mut out = Stdout::new();
    if args.json {
        out.json(&fxb::schema::CheckOutput {
            report: report.clone(),
            weights: weights.clone(),
        })?;
    } else {
        out.raw(&render(&report, args.explain))?;
        if let Some(weights) = &weights {
            out.raw(&fxb::check::deep::render(weights))?;
        }
    }
    out.finish()?;
    if report.matches.is_empty() {
        // Issue 14: never suggest the option the user already gave.
        printer().hint(if args.explain {
            "build one (`fxb build`) and `fxb add` it"
        } else {
            "build one (`fxb build`) and `fxb add` it; --explain lists same-architecture near misses"
        });
        return Ok(Outcome::Finding);
    }
    // Issue 14: a local path never consults the cache when served (FORMAT.md §3), so the
    // recommendation is only usable by naming it.
    if let (None, Some(chosen)) = (&located.hub, report.recommended()) {
        printer().note(format_args!(
            "serving `{}` loads only a .fxb inside that directory (a local path never consults the cache): pass `--fxb {}`, or serve the model by its Hub id",
            args.target,
            chosen.path.display()
        ));
    }
    let weights_ok = weights.as_ref().is_none_or(|w| w.mismatches.is_empty());
    Ok(if weights_ok {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}

/// The reference's report, plus near misses with `--explain`.
fn render(report: &CheckReport, explain: bool) -> String {
    let mut text = format!(
        "Target: {}  ({})\n  {}\n\n",
        report.target,
        report.architecture,
        fxb::fingerprint::render_fields(&report.fields)
    );
    if report.matches.is_empty() {
        text.push_str(&format!(
            "No compatible cached FXB for '{}'.\nRun: fxb download <furiosa-fxb-repo-id>\n",
            report.target
        ));
    } else {
        text.push_str(&format!(
            "Compatible cached FXB ({}):\n",
            report.matches.len()
        ));
        let rows: Vec<Vec<String>> = report
            .matches
            .iter()
            .map(|m| {
                // A bundle from another compiler (fxb's host backend) names it; the
                // reference's bundles show their FuriosaIR version as the reference does.
                let mut ir = match (&m.ir_revision, &m.other_compiler) {
                    (None, Some(other)) => format!(
                        "{} {}",
                        other.tool,
                        version_cell(other.version.as_deref(), other.revision.as_deref())
                    ),
                    _ => version_cell(m.ir_version.as_deref(), m.ir_revision.as_deref()),
                };
                if m.ir_revision.is_some()
                    || m.other_compiler
                        .as_ref()
                        .is_some_and(|c| c.revision.is_some())
                {
                    match m.npu_tools_match {
                        Some(true) => ir.push_str(" — match"),
                        Some(false) => ir.push_str(" — stale"),
                        None => {}
                    }
                }
                vec![
                    if m.recommended { "✔" } else { "" }.to_string(),
                    m.repo_id.clone(),
                    human_size(m.size_bytes),
                    ir,
                    m.filename.clone(),
                ]
            })
            .collect();
        text.push_str(&simple_table(
            &["", "REPO ID", "SIZE", "FuriosaIR", "FXB FILE"],
            &rows,
        ));
        if let Some(chosen) = report.recommended() {
            text.push_str(&format!("\nRecommended: {}\n", chosen.path.display()));
        }
    }
    if explain {
        text.push_str(&format!("\nFingerprinted with rule {}.\n", report.rule));
        for m in report.matches.iter().filter(|m| m.rule != report.rule) {
            text.push_str(&format!(
                "{}/{} was compared under rule {}, the one it was made with.\n",
                m.repo_id, m.filename, m.rule
            ));
        }
        text.push_str(&format!(
            "Near misses (same architecture, {}):\n",
            report.near_misses.len()
        ));
        let value = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or_else(|| "(absent)".to_string(), |v| v.to_string())
        };
        for miss in &report.near_misses {
            let rule = if miss.rule == report.rule {
                String::new()
            } else {
                format!(
                    " (compared under rule {}, the one it was made with)",
                    miss.rule
                )
            };
            text.push_str(&format!("  {}/{}{rule}\n", miss.repo_id, miss.filename));
            for d in &miss.differences {
                text.push_str(&format!(
                    "    {} {} ≠ {}  (bundle ≠ target)\n",
                    d.field,
                    value(&d.bundle_value),
                    value(&d.target_value)
                ));
            }
        }
    }
    text
}
