//! `fxb download <repo_id>`: a Hub repository's bundles into the cache, in the Hub's
//! layout, indexed as the reference indexes downloads (FORMAT.md §5.6); the work is
//! [`fxb::hub::download`].

use fxb::hub::{
    DownloadEvent, DownloadReport, DownloadRequest, HubEnv, LlmVersion, RevisionChoice,
};

use super::output::{Stdout, printer};
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every .fxb file at the top of the repository (or each --file), and \
its README.md when there is one (the index records its base_model), into \
<cache>/models--ORG--NAME/{blobs,refs,snapshots} as the Hub's own clients lay them out. Each \
file is written to blobs/<etag>.incomplete under blobs/<etag>.lock, resumed there after an \
interruption, checked against the Hub's size and sha256 (or git blob id), and only then \
renamed into place and indexed; a second fxb downloading the same file waits for the first. \
Without --revision, a furiosa-ai repository is read at the tag of the furiosa-llm release \
being served (v2026.4 for 2026.4.0: --llm-version, FXB_LLM_VERSION, or the runtime backend), \
falling back to the default branch when it has no such tag; other repositories at the \
default branch. The Hub is HF_ENDPOINT, with the token of HF_TOKEN, HF_TOKEN_PATH or \
$HF_HOME/token (sent to the Hub's host only, never to the CDN it redirects to); with \
HF_HUB_OFFLINE=1 only what is cached is used. A file that is not a bundle is reported and \
the others still download; any failure exits 2."
)]
pub struct Args {
    /// The Hub repository (`org/name`)
    repo_id: String,
    /// Only this bundle of the repository (repeatable)
    #[arg(long = "file", value_name = "F")]
    files: Vec<String>,
    /// A branch, tag or commit, used as given [default: see below]
    #[arg(long, value_name = "R")]
    revision: Option<String>,
    /// Download again what is cached, and replace it
    #[arg(long)]
    force: bool,
    /// The furiosa-llm version being served, for the default revision of furiosa-ai
    /// repositories (e.g. 2026.4.0)
    #[arg(long, value_name = "VERSION", env = "FXB_LLM_VERSION")]
    llm_version: Option<String>,
    /// The runtime backend to ask for the furiosa-llm version (default: host)
    #[arg(long = "runtime-backend", value_name = "NAME|PATH")]
    runtime_backend: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let repo = fxb::hub::RepoId::parse(&args.repo_id)?;
    let cache = globals.cache()?;
    let revision = match args.revision {
        Some(revision) => RevisionChoice::Given(revision),
        None => RevisionChoice::Default(LlmVersion::discover(
            args.llm_version,
            args.runtime_backend.as_deref(),
        )?),
    };
    let request = DownloadRequest {
        repo,
        revision,
        files: args.files,
        force: args.force,
    };
    let bar = super::progress::DownloadBar::default();
    let events = |event: &DownloadEvent<'_>| bar.event(event);
    let result = fxb::hub::download(&HubEnv::from_env(), &cache, &request, &events);
    bar.finish();
    let report = result?;
    let mut out = Stdout::new();
    if args.json {
        out.json(&report)?;
    } else {
        print(&mut out, &report)?;
    }
    out.finish()?;
    for failed in &report.failed {
        let hint = failed
            .hint
            .as_ref()
            .map(|h| format!(" (hint: {h})"))
            .unwrap_or_default();
        printer().error(format_args!(
            "failed to download '{}': {}{hint}",
            failed.filename, failed.error
        ));
    }
    if report.failed.is_empty() {
        return Ok(Outcome::Clean);
    }
    let total = report.failed.len() + report.downloaded.len() + report.cached.len();
    Err(Hinted::new(
        format!(
            "{} of {total} file(s) of {} could not be downloaded",
            report.failed.len(),
            report.repo_id
        ),
        "the errors above name each file and why; the others are cached",
    )
    .into())
}

/// The reference's lines: `Downloaded N file(s) from REPO (SHA10):` and the paths, or
/// `Already cached …` when nothing was transferred (both when some were).
fn print(out: &mut Stdout, report: &DownloadReport) -> std::io::Result<()> {
    let short = report.commit.get(..10).unwrap_or(&report.commit);
    for (label, files) in [
        ("Downloaded", &report.downloaded),
        ("Already cached", &report.cached),
    ] {
        if files.is_empty() {
            continue;
        }
        out.line(&format!(
            "{label} {} file(s) from {} ({short}):",
            files.len(),
            report.repo_id
        ))?;
        for file in files {
            out.line(&format!("  {}", file.path.display()))?;
        }
    }
    Ok(())
}
