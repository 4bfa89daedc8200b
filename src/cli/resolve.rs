//! `fxb resolve <model> [--fxb PATH]`: the bundle a server would load, and why.

use std::path::{Path, PathBuf};

use fxb::resolve::{ModelRef, Shipped, resolve};

use super::output::Stdout;
use super::{Globals, Outcome, RuntimeArgs};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The reference's serve-time order: (1) --fxb as given; (2) a .fxb \
inside the model directory (for a Hub id: shipped in the model's own repository) whose \
compiler revision matches the runtime's; (3) for a Hub id, the cache's recommended \
compatible bundle, only if its revision matches. A local path never consults the cache. \
For a Hub id, its config.json is fetched through the Hugging Face hub cache (as `check` \
does); bundles it ships are not downloaded: one already downloaded is judged by its \
manifest, another by the revision in its file name. fxb reads revisions from manifests, \
where the reference parses file names, and says when the reference would choose otherwise."
)]
pub struct Args {
    /// A local model directory or a Hub repo id (`./DIR` is always a path; a bare name is
    /// a path when it exists, else a Hub id)
    model: String,
    /// For a Hub id: the branch, tag or commit to read [default: the default branch]
    #[arg(long, value_name = "R")]
    revision: Option<String>,
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
    super::note_shadowed_hub_id(&args.model);
    let (running, _) = args.runtime.running()?;
    // With --fxb the model is not looked at (the reference's order, step 1).
    if let Some(explicit) = &args.fxb {
        let resolution = resolve(
            ModelRef::Local(Path::new(&args.model)),
            Some(explicit),
            &running,
            &[],
        )?;
        return print(&resolution, args.json);
    }
    let cache = globals.cache()?;
    let located = super::locate_model(
        &args.model,
        args.revision.as_deref(),
        Some(&cache),
        fxb::model::Purpose {
            dir_hint: "the model is a directory holding config.json (and perhaps a .fxb)",
        },
    )?;
    let Some(hub) = &located.hub else {
        let resolution = resolve(ModelRef::Local(&located.dir), None, &running, &[])?;
        return print(&resolution, args.json);
    };
    let tools = globals.toolchain();
    let target = fxb::check::Target::from_model_dir(hub.repo.as_str(), &located.dir, &tools)?;
    let shipped: Vec<Shipped> = hub
        .snapshot
        .bundles
        .iter()
        .map(|name| Shipped {
            name: name.clone(),
            path: hub.snapshot.dir.join(name),
        })
        .collect();
    let files = cache.list()?;
    let resolution = resolve(
        ModelRef::Hub {
            repo_id: hub.repo.as_str(),
            target: &target,
            shipped: &shipped,
        },
        None,
        &running,
        &files,
    )?;
    print(&resolution, args.json)
}

fn print(resolution: &fxb::resolve::Resolution, json: bool) -> anyhow::Result<Outcome> {
    let mut out = Stdout::new();
    if json {
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
