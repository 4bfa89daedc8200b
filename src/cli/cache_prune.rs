//! `fxb cache prune`: remove bundles stale for the running build, or older than a
//! version; the policy is the library's ([`fxb::cache::PrunePolicy`]).

use fxb::cache::PrunePolicy;

use super::cache_rm::{Confirm, remove_confirmed};
use super::{Globals, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Default: remove bundles stale for the running build — compiler \
revision unknown, or not a prefix match of the runtime's (the reference's rule). The \
runtime's revision comes from --runtime-revision / FXB_RUNTIME_REVISION; the host backend is \
not an RNGD runtime and knows none, so without one prune refuses rather than call every \
bundle stale. --older-than V removes bundles whose FuriosaIR version is below V (`2026.3.0` \
or `<2026.3.0`) or at most V (`<=2026.3.0`), by semver precedence; bundles without a \
version are kept."
)]
pub struct Args {
    /// Remove by FuriosaIR version instead of by revision
    #[arg(long, value_name = "VERSION")]
    older_than: Option<String>,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
    /// Show what would be removed
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = globals.cache()?;
    let policy = match &args.older_than {
        Some(bound) => PrunePolicy::older_than(bound)?,
        None => {
            let (running, why) = args.runtime.running()?;
            PrunePolicy::stale_for(&running, &why)?
        }
    };
    let selection = cache.stale(&policy)?;
    let confirm = Confirm {
        dry_run: args.dry_run,
        yes: args.yes,
    };
    // "No stale FXB to prune." is the reference's words.
    remove_confirmed(
        &cache,
        &selection,
        "stale ",
        &confirm,
        "No stale FXB to prune.",
    )
}
