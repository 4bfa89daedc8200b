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
Two builds made within one minute share a file name: -l shows their snapshots and when each \
was added (`check` recommends the newest). \
With -q (--quiet), only the paths of the cached bundles are printed."
)]
pub struct Args {
    /// Also show what tells bundles of one name apart: the snapshot (an added bundle's
    /// uuid, a download's commit) and when it entered the cache
    #[arg(short, long)]
    long: bool,
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
                let mut row = vec![
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
                ];
                if args.long {
                    row.push(e.revision.clone());
                    row.push(e.downloaded_at.clone());
                }
                row
            })
            .collect();
        // The reference's column names, then fxb's.
        let mut header = vec![
            "REPO ID",
            "ARCH",
            "SIZE",
            "FuriosaIR",
            "FURIOSA-LLM",
            "FXB FILE",
        ];
        if args.long {
            header.extend(["SNAPSHOT", "ADDED"]);
        }
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
