//! `fxb plugins ls`: every plugin found, what it serves, and where it came from. Reads
//! each plugin's sections only; nothing is compiled.

use fxb::plugin::PluginSource;
use fxb::schema::{PluginLine, PluginsLsOutput, ProblemLine};

use super::output::{Stdout, shadow_notes, shadowed};
use super::{Globals, Outcome};
use fxb::report::table;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Plugins come from the binary (embedded), then --plugin-dir, \
FXB_PLUGIN_PATH and $XDG_DATA_HOME/fxb/plugins. For each architecture a user plugin \
beats an embedded one; `*` serves architectures no plugin names. Files that are not \
usable plugins are reported on stderr and make the command exit 1."
)]
pub struct Args {
    /// Print as JSON (schema: schemas/plugins-ls.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let set = globals.plugin_set();
    let output = PluginsLsOutput {
        plugins: set
            .statuses()
            .into_iter()
            .map(|status| {
                let info = &status.item.info;
                PluginLine {
                    name: info.metadata.name.clone(),
                    version: info.metadata.version.clone(),
                    abi: format!("{}.{}", info.abi_major, info.abi_minor),
                    architectures: info.metadata.architectures.clone(),
                    operations: info.metadata.operations.clone(),
                    source: match &status.item.source {
                        PluginSource::Embedded(_) => "embedded".into(),
                        PluginSource::File(path) => path.display().to_string(),
                    },
                    sha256: info.sha256.clone(),
                    active_for: status.active_for,
                    shadowed: shadowed(status.shadowed),
                }
            })
            .collect(),
        problems: set
            .problems()
            .iter()
            .map(|p| ProblemLine {
                path: p.path.display().to_string(),
                message: p.message.clone(),
            })
            .collect(),
    };
    let mut out = Stdout::new();
    if args.json {
        out.json(&output)?;
    } else {
        let rows: Vec<Vec<String>> = output
            .plugins
            .iter()
            .map(|p| {
                let active = match (p.active_for.is_empty(), p.shadowed.is_empty()) {
                    (false, true) => "yes".to_string(),
                    (false, false) => "partly".to_string(),
                    (true, _) => "no".to_string(),
                };
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.abi.clone(),
                    p.architectures.join(", "),
                    p.operations.join(", "),
                    p.source.clone(),
                    active,
                ]
            })
            .collect();
        out.raw(&table(
            &[
                "NAME",
                "VERSION",
                "ABI",
                "ARCHITECTURES",
                "OPERATIONS",
                "SOURCE",
                "ACTIVE",
            ],
            &rows,
        ))?;
        for plugin in &output.plugins {
            shadow_notes(
                &format!("`{}` ({})", plugin.name, plugin.source),
                &plugin.shadowed,
            );
        }
    }
    out.finish()?;
    Ok(if output.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}
