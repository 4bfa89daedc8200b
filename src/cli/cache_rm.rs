//! `fxb cache rm SEL… | --all`: remove cached bundles by repo id or file name, after a
//! preview and a confirmation. The preview/confirm/remove sequence is `prune`'s too.

use fxb::cache::{Cache, Selection, Selector, human_size};

use super::output::{Stdout, printer};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "A selector is an exact repo id (`local`, `org/name`), an exact \
cached file name (with .fxb), which matches in every repo and snapshot, or both as `add` \
prints them (`local/<file name>`). Without -y, \
asks on a terminal and refuses when stdin is not one (exit 2, like every error here)."
)]
pub struct Args {
    /// Repo ids or .fxb file names
    selectors: Vec<String>,
    /// Remove every cached bundle
    #[arg(long, conflicts_with = "selectors")]
    all: bool,
    /// Show what would be removed
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    if args.selectors.is_empty() && !args.all {
        return Err(Hinted::new(
            "specify at least one repo id or .fxb filename, or pass --all",
            "`fxb cache ls` shows the repo ids and file names",
        )
        .into());
    }
    let selectors: Vec<Selector> = if args.all {
        vec![Selector::All]
    } else {
        args.selectors.iter().cloned().map(Selector::Name).collect()
    };
    let cache = globals.cache()?;
    let selection = cache.select(&selectors)?;
    for selector in &selection.unmatched {
        tracing::warn!("no cached FXB matched '{selector}'");
    }
    for (name, count) in selection.ambiguous(&selectors) {
        printer().note(format!(
            "'{name}' names {count} different cached bundles (built within the same minute); each is listed with its snapshot below"
        ));
    }
    // "Nothing to remove." is the reference's words.
    remove_confirmed(
        &cache,
        &selection,
        "",
        &args.confirm(),
        "Nothing to remove.",
    )
}

/// How a removal is confirmed.
pub struct Confirm {
    pub dry_run: bool,
    pub yes: bool,
}

impl Args {
    fn confirm(&self) -> Confirm {
        Confirm {
            dry_run: self.dry_run,
            yes: self.yes,
        }
    }
}

/// The preview, the confirmation rules and the removal shared by `rm` and `prune`.
/// `kind` qualifies "file(s)" (`stale `); `nothing` is printed when nothing is chosen.
pub fn remove_confirmed(
    cache: &Cache,
    selection: &Selection,
    kind: &str,
    confirm: &Confirm,
    nothing: &str,
) -> anyhow::Result<Outcome> {
    let chosen = &selection.chosen;
    let mut out = Stdout::new();
    if chosen.is_empty() {
        out.line(nothing)?;
        out.finish()?;
        return Ok(Outcome::Clean);
    }
    let preview = |out: &mut Stdout, verb: &str| -> std::io::Result<()> {
        out.line(&format!(
            "{verb} {} {kind}file(s), freeing {}:",
            chosen.len(),
            human_size(selection.bytes())
        ))?;
        for file in chosen {
            out.line(&format!("  {}", file.path.display()))?;
        }
        Ok(())
    };
    if confirm.dry_run {
        preview(&mut out, "Would remove")?;
        out.finish()?;
        return Ok(Outcome::Clean);
    }
    if !confirm.yes {
        preview(&mut out, "About to remove")?;
        out.finish()?;
        match printer().confirm("Proceed?")? {
            // The reference's words.
            None => {
                return Err(Hinted::new(
                    "Refusing to remove without confirmation; re-run with --yes.",
                    "stdin is not a terminal, so fxb cannot ask; pass -y to confirm",
                )
                .into());
            }
            Some(false) => {
                // The reference's words.
                printer().diagnostic("Aborted.");
                return Ok(Outcome::Clean);
            }
            Some(true) => out = Stdout::new(),
        }
    }
    let removal = cache.remove(chosen)?;
    out.line(&format!(
        "Removed {} {kind}file(s), freed {}",
        removal.files,
        human_size(removal.bytes)
    ))?;
    out.finish()?;
    Ok(Outcome::Clean)
}
