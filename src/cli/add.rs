//! `fxb add B.fxb…`: copy bundles into the local cache under their standard names
//! (FORMAT.md §4, §5.1), with a progress bar on a terminal for large adds.

use std::path::PathBuf;

use super::output::{Stdout, printer};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(after_help = "Each bundle is copied (never moved) to \
<cache>/models--local/snapshots/<uuid>/<standard name>, hashed in the same pass and on disk \
before it is indexed, and the index is written once for all of them. On a terminal, a progress \
bar follows adds of 256 MiB or more. Re-adding a bundle replaces its entry. Unlike \
the reference, a failure exits 2, and a uuid that is not a plain name is refused (the \
reference would write outside the cache).")]
pub struct Args {
    /// Bundles (.fxb files) to add
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = globals.cache()?;
    let bar = super::progress::AddBar::default();
    let results = cache.add_reporting(&args.paths, &bar);
    bar.finish();
    let mut out = Stdout::new();
    let mut report = fxb::schema::AddOutput::default();
    for (source, result) in args.paths.iter().zip(results?) {
        match result {
            Ok(added) => {
                if !args.json {
                    out.line(&format!("Added {}/{}", added.repo_id, added.filename))?;
                    out.line(&format!("  {}", added.path.display()))?;
                }
                report.added.push(fxb::schema::AddedLine {
                    source: added.source,
                    repo_id: added.repo_id,
                    filename: added.filename,
                    path: added.path,
                    sha256: added.sha256,
                });
            }
            Err(e) => {
                use fxb::Hint as _;
                let hint = e
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                printer().error(format_args!(
                    "failed to add '{}': {e}{hint}",
                    source.display()
                ));
                report.failed.push(fxb::schema::FailedLine {
                    source: source.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    if args.json {
        out.json(&report)?;
    } else if args.paths.len() > 1 || !report.failed.is_empty() {
        // A blank line after the list of what was added, none before nothing.
        if !report.added.is_empty() {
            out.line("")?;
        }
        out.line(&format!(
            "{} added, {} failed",
            report.added.len(),
            report.failed.len()
        ))?;
    }
    out.finish()?;
    if report.failed.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Err(Hinted::new(
            format!(
                "{} of {} bundle(s) could not be added",
                report.failed.len(),
                args.paths.len()
            ),
            "the errors above name each file and why",
        )
        .into())
    }
}
