//! `fxb publish <bundle.fxb | model-dir> <repo_id>`: one Hub commit with the bundle (or the
//! whole model directory) and a model card; the work is [`fxb::hub::publish`].

use std::path::PathBuf;

use fxb::hub::publish::FileStatus;
use fxb::hub::{DownloadEvent, HubEnv, PublishReport, PublishRequest, RepoId};

use super::Outcome;
use super::output::{Stdout, printer};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "One commit, as the Hub's own client makes it: the repository is created \
with --create when missing; preupload says which files go to LFS; LFS objects the Hub already \
stores are not sent again (a rerun after an interruption sends only what is missing); the \
others are PUT to the store the Hub names (streamed: each file is read once to hash it and \
once to send it); the commit names its parent, and when another commit lands first it is \
retried against the new head (a file of the publish changed by that commit stops it instead). \
A lone bundle goes up under its standard file name; a model directory goes up whole (without \
.git/ and .cache/). README.md gets a model card whose front matter carries base_model and \
each bundle's facts (architecture, fingerprint, tensor-parallel size, compiler, buckets), \
merged with the card already there (the directory's, else the repository's). A bundle \
without versions.furiosa_compiler (a host-backend build) holds no RNGD code and is refused \
unless --allow-non-rngd, and then the card says so. Needs a token with write access: \
HF_TOKEN, HF_TOKEN_PATH or $HF_HOME/token. Nothing local is written."
)]
pub struct Args {
    /// A .fxb file, or a model directory holding one
    source: PathBuf,
    /// The Hub repository (`org/name`)
    repo_id: String,
    /// The branch to commit to (with --create-pr: the pull request's base)
    #[arg(long, value_name = "R", default_value = "main")]
    revision: String,
    /// Open a pull request instead of committing to the branch
    #[arg(long)]
    create_pr: bool,
    /// Make the repository private (with --create)
    #[arg(long)]
    private: bool,
    /// Create the repository when it does not exist
    #[arg(long)]
    create: bool,
    /// The commit message [default: `Publish <bundle> with fxb`]
    #[arg(short = 'm', long = "message", value_name = "MESSAGE")]
    message: Option<String>,
    /// The card's base_model [default: the card's own, else the bundle's hub_repo_id]
    #[arg(long, value_name = "ORG/NAME")]
    base_model: Option<String>,
    /// Publish a bundle whose kernels are not RNGD code (a host-backend build); the card
    /// says so
    #[arg(long)]
    allow_non_rngd: bool,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let private = args.private;
    let request = PublishRequest {
        source: args.source,
        repo: RepoId::parse(&args.repo_id)?,
        revision: Some(args.revision),
        create_pr: args.create_pr,
        create: args.create,
        private: args.private,
        message: args.message,
        allow_non_rngd: args.allow_non_rngd,
        base_model: args.base_model,
    };
    let bar = super::progress::DownloadBar::default();
    let events = |event: &DownloadEvent<'_>| bar.event(event);
    let result = fxb::hub::publish(&HubEnv::from_env(), &request, &events);
    bar.finish();
    let report = result?;
    if report.created {
        printer().note(format_args!(
            "created the repository {}{}",
            report.repo_id,
            if private { " (private)" } else { "" }
        ));
    } else if private {
        printer().note(format_args!(
            "--private applies to a repository publish creates: {} exists and keeps its visibility",
            report.repo_id
        ));
    }
    for bundle in report.bundles.iter().filter(|b| !b.rngd) {
        tracing::warn!(
            "`{}` holds no RNGD code (compiled by `{}`): the model card says so",
            bundle.file,
            bundle.compiler
        );
    }
    let mut out = Stdout::new();
    if args.json {
        out.json(&report)?;
    } else {
        print(&mut out, &report)?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}

fn print(out: &mut Stdout, report: &PublishReport) -> std::io::Result<()> {
    let short = report.commit.get(..10).unwrap_or(&report.commit);
    if !report.changed {
        return out.line(&format!(
            "Nothing to publish: every file is already in {} at {} ({short})",
            report.repo_id, report.revision
        ));
    }
    let sent = report
        .files
        .iter()
        .filter(|f| !matches!(f.status, FileStatus::Unchanged | FileStatus::Ignored))
        .count();
    let target = if report.pull_request.is_some() {
        format!("a pull request to {} ({short})", report.repo_id)
    } else {
        format!("{} at {} ({short})", report.repo_id, report.revision)
    };
    out.line(&format!("Published {sent} file(s) to {target}:"))?;
    for file in &report.files {
        let status = match file.status {
            FileStatus::Uploaded => "uploaded",
            FileStatus::AlreadyStored => "already stored",
            FileStatus::Committed => "committed",
            FileStatus::Unchanged => "unchanged",
            FileStatus::Ignored => "ignored",
        };
        out.line(&format!("  {status:<14}  {}", file.path))?;
    }
    if let Some(url) = report.pull_request.as_ref().or(report.commit_url.as_ref()) {
        out.line(url)?;
    }
    Ok(())
}
