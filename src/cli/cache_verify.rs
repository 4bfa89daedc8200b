//! `fxb cache verify`: re-hash every cached bundle; corrupt or missing ones are a finding.

use fxb::cache::VerifyStatus;

use super::output::Stdout;
use super::{Globals, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Re-hashes every cached bundle: against the sha256 fxb recorded \
when it added the bundle, or — for bundles the reference added — checks that the archive \
reads and has the indexed size, and records its hash from then on. A downloaded bundle is \
also checked against the Hub's LFS sha256 its blob is named by. Partial downloads left in \
blobs/ (`.incomplete`, resumed by the next download of that file) are listed, not counted \
as findings. Exit 1 when any bundle is corrupt or missing."
)]
pub struct Args {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = globals.cache()?;
    let results = cache.verify()?;
    let partials = cache.partial_downloads();
    let bad = results.iter().filter(|r| r.status.is_bad()).count();
    let mut out = Stdout::new();
    if args.json {
        let json: Vec<fxb::schema::CacheVerifyLine> = results
            .iter()
            .map(|r| fxb::schema::CacheVerifyLine {
                repo_id: r.file.repo_id.clone(),
                path: r.file.path.clone(),
                status: r.status,
                detail: r.detail.clone(),
            })
            .chain(partials.iter().map(|p| fxb::schema::CacheVerifyLine {
                repo_id: p.repo_id.clone(),
                path: p.path.clone(),
                status: VerifyStatus::Partial,
                detail: Some(partial_detail(p)),
            }))
            .collect();
        out.json(&json)?;
    } else {
        for r in &results {
            let status = match r.status {
                VerifyStatus::Ok => "ok",
                VerifyStatus::Readable => "ok (hash recorded)",
                VerifyStatus::Missing => "MISSING",
                VerifyStatus::Corrupt => "CORRUPT",
                VerifyStatus::Partial => "partial",
            };
            let detail = r
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            out.line(&format!(
                "{status:<18} {}/{}{detail}",
                r.file.repo_id, r.file.entry.filename
            ))?;
        }
        for p in &partials {
            let name = p.path.file_name().unwrap_or_default().to_string_lossy();
            out.line(&format!(
                "{:<18} {}/blobs/{name}: {}",
                "partial",
                p.repo_id,
                partial_detail(p)
            ))?;
        }
        let partial_note = match partials.len() {
            0 => String::new(),
            n => format!(", {n} partial download(s)"),
        };
        out.line(&format!(
            "{} file(s) checked, {bad} corrupt or missing{partial_note}",
            results.len()
        ))?;
    }
    out.finish()?;
    Ok(if bad == 0 {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}

fn partial_detail(partial: &fxb::cache::PartialDownload) -> String {
    let size = fxb::cache::human_size(partial.size);
    if partial.in_progress {
        format!("{size} so far, being downloaded now")
    } else {
        format!("{size}, resumed by the next download of this file")
    }
}
