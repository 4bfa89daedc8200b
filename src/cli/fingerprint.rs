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
    /// A model directory (with config.json), a config.json file, or a Hub repo id
    model: PathBuf,
    /// For a Hub id: the branch, tag or commit to read [default: the default branch]
    #[arg(long, value_name = "R")]
    revision: Option<String>,
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
    // A config.json given directly is read as it is; a Hub id through the hub cache.
    let model = match fxb::model::ModelName::parse(&name) {
        fxb::model::ModelName::Local(path) => path.to_path_buf(),
        fxb::model::ModelName::Hub(_) => {
            super::locate_model(
                &name,
                args.revision.as_deref(),
                None,
                fxb::model::Purpose { dir_hint: "" },
            )?
            .dir
        }
    };
    let (file, config) = read_config(&model)?;
    let tools = globals.toolchain();
    let (rules, plugins, host) = (&tools.rules, &tools.plugins, &tools.host);
    let mut architecture = args.architecture.clone();
    if let Some(task) = &args.convert {
        let model_dir = model.is_dir().then_some(model.as_path());
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
