//! `fxb check <model-dir>`: which cached bundles fit the model, ranked as the reference's
//! server ranks them, and the one it would load (FORMAT.md §5.2).

use std::path::Path;

use fxb::cache::{Cache, human_size};
use fxb::check::{CheckReport, ModelConfig, check_with};

use super::output::{Stdout, simple_table, version_cell};
use super::{Globals, Hinted, Outcome, RuntimeArgs};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The target's config.json goes through `--convert auto`, is \
fingerprinted with the active rule, and is compared with the `model` object of every cached \
bundle in the index (bundles are not opened). Ranking: compiler revision match, runtime \
match, same repo id, file name (descending); the first is recommended, as in the reference. \
`— match`/`— stale` need the runtime's compiler revision (--runtime-revision, \
FXB_RUNTIME_REVISION); the host backend knows none, so without it fxb shows versions only. \
Exit 1 when nothing is compatible."
)]
pub struct Args {
    /// A local model directory (a path starting with `.` or `/`) holding config.json
    target: String,
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
    if !(args.target.starts_with('.') || args.target.starts_with('/')) {
        return Err(Hinted::new(
            format!(
                "`{}` looks like a Hugging Face Hub id; checking Hub repositories is not supported yet",
                args.target
            ),
            format!(
                "pass a local model directory as a path starting with `.` or `/` (e.g. `./{}`)",
                args.target
            ),
        )
        .into());
    }
    let dir = Path::new(&args.target);
    if !dir.is_dir() {
        return Err(Hinted::new(
            format!("model directory `{}` does not exist", args.target),
            "the target is a directory holding config.json",
        )
        .into());
    }
    let (plugins, host) = globals.plugins();
    let rules = globals.rules();
    let model = ModelConfig::read(&args.target, dir, &plugins, &host)?;
    let target = model.target(&rules, &plugins, &host, None)?;
    let cache = Cache::open(fxb::cache::cache_dir(globals.cache_dir.clone()))?;
    let files = cache.list()?;
    let (running, note) = args.runtime.running()?;
    if running.compiler_revision.is_none() {
        eprintln!("note: {note}: match/stale is not shown (--runtime-revision REV sets it)");
    }
    let recorded = cache.recorded();
    let mut known = fxb::check::Known {
        other_compilers: recorded.compilers,
        bundle_rules: recorded.rules,
        rule_targets: Default::default(),
    };
    // Bundles made under another rule version are compared on their own terms when that
    // rule is installed (DESIGN.md, "Fingerprint and compatibility").
    let mut other_rules: Vec<&String> = known
        .bundle_rules
        .values()
        .filter(|r| **r != target.rule())
        .collect();
    other_rules.sort();
    other_rules.dedup();
    let mut rule_targets = std::collections::HashMap::new();
    for rule in other_rules {
        let Some((name, version)) = rule.split_once(' ') else {
            continue;
        };
        match model.target(&rules, &plugins, &host, Some((name, version))) {
            Ok(other) => {
                rule_targets.insert(rule.clone(), other);
            }
            Err(e) => eprintln!(
                "note: bundles fingerprinted with rule {rule} are compared with the active rule {} ({e})",
                target.rule()
            ),
        }
    }
    known.rule_targets = rule_targets;
    let report = check_with(&target, &files, &running, None, &known);
    let deep = if args.deep {
        Some(fxb::check::deep::check_weights(dir, &target)?)
    } else {
        None
    };
    let mut out = Stdout::new();
    if args.json {
        out.json(&fxb::schema::CheckOutput {
            report: report.clone(),
            weights: deep.clone(),
        })?;
    } else {
        out.raw(&render(&report, args.explain))?;
        if let Some(weights) = &deep {
            out.raw(&fxb::check::deep::render(weights))?;
        }
    }
    out.finish()?;
    let weights_ok = deep.as_ref().is_none_or(|w| w.mismatches.is_empty());
    if report.matches.is_empty() {
        eprintln!(
            "hint: build one (`fxb build`) and `fxb add` it; --explain lists same-architecture near misses"
        );
        return Ok(Outcome::Finding);
    }
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
                    value(&d.bundle),
                    value(&d.target)
                ));
            }
        }
    }
    text
}
