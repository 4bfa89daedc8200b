//! `fxb fingerprint <model>`: the architecture fingerprint of a local model, as the
//! reference's `check` prints its target.

use std::path::PathBuf;

use fxb::fingerprint::{fingerprint, read_config, render_fields};

use super::output::Stdout;
use super::{Globals, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The fingerprint is the architecture plus the kernel-affecting \
config.json fields, as canonical strings; two models share a bundle iff their fingerprints \
are equal. The rule file (data) picks the fields and the architecture's plugin (logic) \
reads them; both are named on stderr."
)]
pub struct Args {
    /// A model directory (with config.json) or a config.json file
    model: PathBuf,
    /// Fingerprint under this architecture instead of config.json's first
    #[arg(long, value_name = "ARCH", conflicts_with = "convert")]
    architecture: Option<String>,
    /// Rewrite the architecture for a task first: auto (from sentence-transformers
    /// metadata), embed (XModel), score or classify (XForSequenceClassification)
    #[arg(long, value_name = "TASK", value_parser = clap::builder::PossibleValuesParser::new(fxb::convert::TASKS))]
    convert: Option<String>,
    /// Print as JSON (schema: schemas/fingerprint.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let name = args.model.to_string_lossy();
    super::note_shadowed_hub_id(&name);
    if let fxb::model::ModelName::Hub(id) = fxb::model::ModelName::parse(&name) {
        return Err(fxb::model::ModelError::HubNotSupported {
            id: id.to_string(),
            purpose: fxb::model::Purpose {
                hub: "fingerprinting Hub repositories",
                hub_hint: None,
                dir_hint: "",
            },
        }
        .into());
    }
    let (file, config) = read_config(&args.model)?;
    let tools = globals.toolchain();
    let (rules, plugins, host) = (&tools.rules, &tools.plugins, &tools.host);
    let mut architecture = args.architecture.clone();
    if let Some(task) = &args.convert {
        let model_dir = args.model.is_dir().then_some(args.model.as_path());
        let converted =
            fxb::convert::convert_model(&file, model_dir, &config, task, plugins, host)?;
        if let Some(reason) = &converted.reason {
            super::output::printer().note(format_args!("convert {reason}"));
        }
        architecture = Some(converted.architecture);
    }
    let print = fingerprint(
        &file,
        &config,
        architecture.as_deref(),
        rules,
        plugins,
        host,
    )?;
    let mut out = Stdout::new();
    if args.json {
        out.json(&print)?;
    } else {
        out.line(&format!(
            "Target: {}  ({})",
            args.model.display(),
            print.architecture
        ))?;
        out.line(&format!("  {}", render_fields(&print.fields)))?;
        super::output::printer().note(format_args!(
            "rule `{}` {}, plugin `{}` {}",
            print.rule.name, print.rule.version, print.plugin.name, print.plugin.version
        ));
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
