//! `fxb resolve <model> [--fxb PATH]`: the bundle a server would load, and why.

use std::path::{Path, PathBuf};

use fxb::resolve::{ModelRef, resolve};

use super::output::Stdout;
use super::{Globals, Outcome, RuntimeArgs};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The reference's serve-time order: (1) --fxb as given; (2) a .fxb \
inside the model directory whose compiler revision matches the runtime's; (3) for a Hub id, \
the cache's recommended compatible bundle, only if its revision matches (Hub ids are not \
supported yet). A local path never consults the cache. fxb reads revisions from manifests, \
where the reference parses file names, and says when the reference would choose otherwise."
)]
pub struct Args {
    /// A local model directory (`./DIR` is always a path; a bare name is a path when it
    /// exists, else a Hub id)
    model: String,
    /// Use this bundle as-is
    #[arg(long, value_name = "PATH")]
    fxb: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let _ = globals;
    super::note_shadowed_hub_id(&args.model);
    let (running, _) = args.runtime.running()?;
    // With --fxb the model is not looked at (the reference's order, step 1).
    let dir = match &args.fxb {
        Some(_) => Path::new(&args.model),
        None => fxb::model::local_dir(
            &args.model,
            fxb::model::Purpose {
                hub: "resolving Hub models (through the cache)",
                hub_hint: Some("pass a local model directory, or --fxb PATH"),
                dir_hint: "the model is a directory holding config.json (and perhaps a .fxb)",
            },
        )?,
    };
    let resolution = resolve(ModelRef::Local(dir), args.fxb.as_deref(), &running, &[])?;
    let mut out = Stdout::new();
    if args.json {
        out.json(&resolution)?;
    } else {
        out.line(&resolution.path.display().to_string())?;
        out.line(&format!("  why: {}", resolution.why))?;
        if let Some(reference) = &resolution.reference {
            out.line(&format!("  note: {reference}"))?;
        }
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
