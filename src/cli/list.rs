//! `fxb list <path>`: the files the manifest names (FORMAT.md §5.8); `--long` adds sizes
//! and checks them against what the bundle really holds.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use fxb::bundle::{Bundle, MANIFEST_FILE};
use fxb::schema::{FileStatus, ListOutput, ListedFile};

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --long the list comes from the manifest alone, like the \
reference's. With --long, fxb exits 1 when a named file is missing."
)]
pub struct Args {
    /// Path to an artifact directory or .fxb file
    path: PathBuf,
    /// Add sizes, and flag files missing from the bundle or present but not named
    #[arg(short, long)]
    long: bool,
    /// Print the list as JSON (schema: schemas/list.schema.json); implies the checks of --long
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let bundle = Bundle::open(&args.path)?;
    let named: BTreeSet<&str> = bundle.manifest().files().into_iter().collect();
    let mut names = vec![MANIFEST_FILE];
    names.extend(named.iter().copied().filter(|n| *n != MANIFEST_FILE));

    let mut out = Stdout::new();
    if !args.long && !args.json {
        for name in names {
            out.line(&fxb::report::printable(name))?;
        }
        out.finish()?;
        return Ok(Outcome::Clean);
    }

    let present: HashMap<String, u64> = bundle
        .entries()?
        .into_iter()
        .filter(|e| !e.is_dir)
        .map(|e| (e.name, e.size))
        .collect();
    let mut files: Vec<ListedFile> = names
        .iter()
        .map(|name| {
            let size = present.get(*name).copied();
            ListedFile {
                name: (*name).to_string(),
                size,
                status: if size.is_some() {
                    FileStatus::Ok
                } else {
                    FileStatus::Missing
                },
            }
        })
        .collect();
    let mut unnamed: Vec<(&String, &u64)> = present
        .iter()
        .filter(|(name, _)| name.as_str() != MANIFEST_FILE && !named.contains(name.as_str()))
        .collect();
    unnamed.sort();
    files.extend(unnamed.into_iter().map(|(name, size)| ListedFile {
        name: name.clone(),
        size: Some(*size),
        status: FileStatus::Unnamed,
    }));
    let missing = files.iter().any(|f| f.status == FileStatus::Missing);

    if args.json {
        out.json(&ListOutput { files })?;
    } else {
        out.line(&format!("{:>12}  {:<8}  FILE", "SIZE", "STATUS"))?;
        for file in &files {
            let size = file.size.map_or_else(|| "-".to_string(), |s| s.to_string());
            let status = match file.status {
                FileStatus::Ok => "ok",
                FileStatus::Missing => "missing",
                FileStatus::Unnamed => "unnamed",
            };
            out.line(&format!(
                "{size:>12}  {status:<8}  {}",
                fxb::report::printable(&file.name)
            ))?;
        }
    }
    out.finish()?;
    Ok(if missing {
        Outcome::Finding
    } else {
        Outcome::Clean
    })
}
