//! `fxb version`: what this fxb is and which formats it speaks.

use fxb::bundle::FORMAT_VERSION;
use fxb::plugin::{PluginSearch, PluginSet, PluginSource};
use fxb::schema::{EmbeddedPlugin, VersionOutput};

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print as JSON (schema: schemas/version.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let info = VersionOutput {
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: env!("FXB_GIT_REVISION").to_string(),
        format_version: FORMAT_VERSION,
        oldest_format_version: 0,
        plugin_abi: format!(
            "{}.{}",
            fxb_plugin_api::ABI_MAJOR,
            fxb_plugin_api::ABI_MINOR
        ),
        embedded_plugins: PluginSet::discover(&PluginSearch::default())
            .plugins()
            .iter()
            .filter(|p| matches!(p.source, PluginSource::Embedded(_)))
            .map(|p| EmbeddedPlugin {
                name: p.info.metadata.name.clone(),
                version: p.info.metadata.version.clone(),
            })
            .collect(),
        embedded_rules: fxb::rules::RuleSet::embedded()
            .rules()
            .iter()
            .map(|rule| EmbeddedPlugin {
                name: rule.file.name.clone(),
                version: rule.file.version.clone(),
            })
            .collect(),
    };
    let mut out = Stdout::new();
    if args.json {
        out.json(&info)?;
    } else {
        out.line(&format!("fxb v{} ({})", info.version, info.revision))?;
        out.line(&format!(
            "bundle format: writes format_version {}, reads {}–{}",
            info.format_version, info.oldest_format_version, info.format_version
        ))?;
        out.line(&format!("plugin ABI: {}", info.plugin_abi))?;
        let plugins: Vec<String> = info
            .embedded_plugins
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        out.line(&format!("embedded plugins: {}", plugins.join(", ")))?;
        let rules: Vec<String> = info
            .embedded_rules
            .iter()
            .map(|r| format!("{} {}", r.name, r.version))
            .collect();
        out.line(&format!("embedded rules: {}", rules.join(", ")))?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
