//! `fxb cache verify`: re-hash every cached bundle; corrupt or missing ones are a finding.

use fxb::cache::VerifyStatus;

use super::output::Stdout;
use super::{Globals, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Re-hashes every cached bundle: against the sha256 fxb recorded \
when it added the bundle, or — for bundles the reference added — checks that the archive \
reads and has the indexed size, and records its hash from then on. Exit 1 when any bundle \
is corrupt or missing."
)]
pub struct Args {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let results = globals.cache()?.verify()?;
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
            .collect();
        out.json(&json)?;
    } else {
        for r in &results {
            let status = match r.status {
                VerifyStatus::Ok => "ok",
                VerifyStatus::Readable => "ok (hash recorded)",
                VerifyStatus::Missing => "MISSING",
                VerifyStatus::Corrupt => "CORRUPT",
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
        out.line(&format!(
            "{} file(s) checked, {bad} corrupt or missing",
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
