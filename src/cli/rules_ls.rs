//! `fxb rules ls`: every rule file, and which one serves each architecture.

use fxb::schema::{RuleLine, RulesLsOutput};

use super::output::{Stdout, shadow_notes, shadowed};
use super::{Globals, Outcome};
use fxb::report::table;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Rules come from the binary (embedded), then --rules-dir and \
FXB_RULES_DIR. For each architecture the highest version whose `fxb` range admits this fxb \
wins; `*` serves architectures without a rule of their own. Unreadable files are reported \
on stderr and make the command exit 1."
)]
pub struct Args {
    /// Print as JSON (schema: schemas/rules-ls.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let set = globals.rule_set();
    let output = RulesLsOutput {
        rules: set
            .statuses()
            .into_iter()
            .map(|status| RuleLine {
                name: status.item.file.name.clone(),
                version: status.item.file.version.clone(),
                schema_version: status.item.file.schema_version,
                fxb: status.item.file.fxb.clone(),
                compatible: status.item.compatible,
                architectures: status.item.file.architectures.clone(),
                provides: [
                    status
                        .item
                        .file
                        .fingerprint
                        .as_ref()
                        .map(|_| "fingerprint".to_string()),
                    status.item.file.plan.as_ref().map(|_| "plan".to_string()),
                ]
                .into_iter()
                .flatten()
                .collect(),
                source: status.item.source.to_string(),
                active_for: status.active_for,
                shadowed: shadowed(status.shadowed),
            })
            .collect(),
        problems: set.problems().len(),
    };
    let mut out = Stdout::new();
    if args.json {
        out.json(&output)?;
    } else {
        let rows: Vec<Vec<String>> = output
            .rules
            .iter()
            .map(|r| {
                let status = if !r.compatible {
                    format!("incompatible (needs fxb {})", r.fxb)
                } else if r.active_for.is_empty() {
                    "shadowed".to_string()
                } else if r.shadowed.is_empty() {
                    "active".to_string()
                } else {
                    "partly".to_string()
                };
                vec![
                    r.name.clone(),
                    r.version.clone(),
                    r.architectures.join(", "),
                    r.provides.join(", "),
                    r.source.clone(),
                    status,
                ]
            })
            .collect();
        out.raw(&table(
            &[
                "NAME",
                "VERSION",
                "ARCHITECTURES",
                "PROVIDES",
                "SOURCE",
                "STATUS",
            ],
            &rows,
        ))?;
        for rule in &output.rules {
            shadow_notes(
                &format!("`{}` {} ({})", rule.name, rule.version, rule.source),
                &rule.shadowed,
            );
        }
    }
    out.finish()?;
    Ok(if output.problems == 0 {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}
