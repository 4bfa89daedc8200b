//! `fxb cache ls [-q]`: the cached bundles, in the reference's table (FORMAT.md §5.1).

use fxb::cache::human_size;

use super::output::Stdout;
use super::{Globals, Outcome};
use fxb::report::{simple_table, version_cell};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the index, never the bundles (it is reconciled with the \
disk first: entries whose file is gone are dropped, bundles the index lacks are added). \
Rows are sorted by repo id, then file name. `(missing)` marks a snapshot whose blob is gone. \
With -q (--quiet), only the paths of the cached bundles are printed."
)]
pub struct Args {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let files = globals.cache()?.list()?;
    let mut out = Stdout::new();
    if args.json {
        let lines: Vec<fxb::schema::CacheLsLine> = files
            .iter()
            .map(|f| fxb::schema::CacheLsLine {
                repo_id: f.repo_id.clone(),
                path: f.path.clone(),
                missing: f.missing,
                entry: f.entry.clone(),
            })
            .collect();
        out.json(&lines)?;
    } else if globals.quiet {
        for file in &files {
            out.line(&file.path.display().to_string())?;
        }
    } else if files.is_empty() {
        out.line("(empty cache)")?;
    } else {
        let rows: Vec<Vec<String>> = files
            .iter()
            .map(|f| {
                let e = &f.entry;
                vec![
                    f.repo_id.clone(),
                    e.architecture().unwrap_or("-").to_string(),
                    human_size(e.size_bytes),
                    version_cell(e.ir_version.as_deref(), e.ir_revision.as_deref()),
                    version_cell(e.llm_version.as_deref(), e.llm_revision.as_deref()),
                    if f.missing {
                        format!("{} (missing)", e.filename)
                    } else {
                        e.filename.clone()
                    },
                ]
            })
            .collect();
        // The reference's column names.
        let header = [
            "REPO ID",
            "ARCH",
            "SIZE",
            "FuriosaIR",
            "FURIOSA-LLM",
            "FXB FILE",
        ];
        out.raw(&simple_table(&header, &rows))?;
        let total: u64 = files.iter().map(|f| f.entry.size_bytes).sum();
        out.line("")?;
        out.line(&format!("{} file(s), {}", files.len(), human_size(total)))?;
    }
    out.finish()?;
    // The process ends next: freeing thousands of entries one by one would only cost time.
    std::mem::forget(files);
    Ok(Outcome::Clean)
}
