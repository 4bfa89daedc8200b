//! `fxb publish` (issue 19): a bundle, or a model directory with its bundle, into a Hub
//! repository as one commit, the way the Hub's own client makes it ([`super::commit`]),
//! with a model card that says what the bundles are.
//!
//! - A lone bundle goes up under its standard file name; a model directory goes up whole
//!   (config, tokenizer, weights, the `.fxb`), as the seed's "ship the .fxb inside a
//!   standard model directory" form, without `.git/` and `.cache/`.
//! - Honesty: a bundle whose kernels are not RNGD code (no `versions.furiosa_compiler`) is
//!   refused unless the caller allows it, and then the card says so plainly.
//! - LFS objects the Hub already stores are not sent again (a rerun after an interruption
//!   sends only what is missing), and files whose content is already at their path are
//!   left out of the commit.
//! - The commit names its parent. When another commit lands first (412, or 409), the card
//!   is merged again with the new head's and the commit retried, a bounded number of times;
//!   a file of the publish that the other commit changed stops it instead — never a silent
//!   overwrite.
//!
//! Nothing local is written: the card is made in memory. Nothing here prints: progress goes
//! to the events callback, the result to the caller.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::api::RepoInfo;
use super::card::{self, BundleFacts};
use super::client::{Client, Follow, Method};
use super::commit::{self, CommitAnswer, CommitFile, Mode, Upload};
use super::env::HubEnv;
use super::error::HubError;
use super::repo::RepoId;
use super::{DownloadEvent, Events};

mod error;
mod local;

pub use error::PublishError;
use local::prepare;

/// The largest file the Hub stores (its documented per-file limit for LFS).
pub const MAX_FILE_SIZE: u64 = 50 * 1000 * 1000 * 1000;
/// Commits retried against a new head after a stale parent.
pub const COMMIT_RETRIES: u32 = 3;
/// The model card's path.
const CARD: &str = "README.md";
/// The largest model card read (the Hub's own are a few KiB).
const MAX_CARD: u64 = 4 << 20;
/// The compiler entry that means "RNGD kernels from the vendor compiler".
const RNGD_COMPILER: &str = "furiosa_compiler";

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// A `.fxb` file, or a model directory holding one.
    pub source: PathBuf,
    pub repo: RepoId,
    /// The branch to commit to (default `main`); with `create_pr`, the PR's base.
    pub revision: Option<String>,
    pub create_pr: bool,
    /// Create the repository when it is missing.
    pub create: bool,
    /// For a created repository.
    pub private: bool,
    /// The commit summary (default: `Publish <files> with fxb`).
    pub message: Option<String>,
    /// Publish a bundle whose kernels are not RNGD code (the card says so).
    pub allow_non_rngd: bool,
    /// The card's `base_model` (default: the card's own, else the bundle's `hub_repo_id`).
    pub base_model: Option<String>,
}

/// `fxb publish --json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "fxb publish --json")]
pub struct PublishReport {
    pub repo_id: String,
    pub revision: String,
    /// Whether the repository was created by this publish.
    pub created: bool,
    /// The commit made, or the head when nothing changed.
    pub commit: String,
    pub commit_url: Option<String>,
    /// With `--create-pr`: the pull request.
    pub pull_request: Option<String>,
    /// Whether a commit was made (false: every file was already there).
    pub changed: bool,
    /// Commit attempts (more than 1 when another commit landed first).
    pub attempts: u32,
    pub base_model: Option<String>,
    pub files: Vec<PublishedFile>,
    pub bundles: Vec<BundleFacts>,
    /// Bytes sent to the LFS store.
    pub uploaded_bytes: u64,
}

/// One file of a publish.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublishedFile {
    pub path: String,
    pub size: u64,
    pub mode: Mode,
    /// The LFS oid (sha256) of the content.
    pub sha256: String,
    pub status: FileStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Sent to the LFS store, then committed.
    Uploaded,
    /// The Hub already stored the object: committed without sending it.
    AlreadyStored,
    /// Sent in the commit itself (a small file).
    Committed,
    /// The same content is already at that path: left out of the commit.
    Unchanged,
    /// The repository's `.gitignore` excludes it.
    Ignored,
}

/// Publish `request.source` to `request.repo` as one commit.
pub fn publish(
    env: &HubEnv,
    request: &PublishRequest,
    events: Events<'_>,
) -> Result<PublishReport, PublishError> {
    let prepared = prepare(request)?;
    let client = Client::new(env)?;
    if !client.authenticated() {
        return Err(PublishError::NoToken {
            repo: request.repo.to_string(),
        });
    }
    let repo = &request.repo;
    let revision = request.revision.clone().unwrap_or_else(|| "main".into());
    let write_error = |e: HubError| -> PublishError {
        match e {
            HubError::Unauthorized {
                repo,
                status,
                authenticated,
            } => PublishError::WriteRefused {
                repo,
                status,
                authenticated,
            },
            HubError::RepoNotFound { repo, endpoint, .. } => {
                PublishError::RepoMissing { repo, endpoint }
            }
            e => PublishError::Hub(e),
        }
    };
    let created = if request.create {
        client
            .create_repo(repo, request.private, events)
            .map_err(write_error)?
    } else {
        false
    };
    let mut head = client
        .repo_info(repo, &revision, events)
        .map_err(write_error)?;

    // The hashing pass: every local file once.
    let mut uploads = Vec::with_capacity(prepared.files.len() + 1);
    for file in &prepared.files {
        events(&DownloadEvent::Hashing {
            file: &file.path_in_repo,
            size: file.size,
        });
        uploads.push(commit::hash_file(&file.path, &file.path_in_repo, events)?);
    }
    let base_model = |card: Option<&str>| {
        request
            .base_model
            .clone()
            .or_else(|| card.and_then(card::base_model))
            .or_else(|| prepared.hub_repo_id.clone())
    };
    let card_for = |head: &RepoInfo| -> Result<(Upload, Option<String>), PublishError> {
        let existing = match &prepared.local_card {
            Some(text) => Some(text.clone()),
            None => remote_card(&client, repo, head, events)?,
        };
        let base = base_model(existing.as_deref());
        let text = card::publish_card(
            existing.as_deref(),
            repo.as_str(),
            base.as_deref(),
            &prepared.bundles,
        );
        Ok((commit::hash_bytes(CARD, text.into_bytes()), base))
    };
    let (card_upload, mut base) = card_for(&head)?;
    uploads.push(card_upload);

    let branch = (!request.create_pr).then_some(revision.as_str());
    let refs: Vec<&Upload> = uploads.iter().collect();
    let placements = client
        .preupload(repo, &revision, &refs, request.create_pr, events)
        .map_err(write_error)?;
    let mut statuses: Vec<FileStatus> = uploads
        .iter()
        .zip(&placements)
        .map(|(u, p)| {
            if p.ignored {
                FileStatus::Ignored
            } else if p.remote_oid.as_deref() == Some(u.oid(p.mode)) {
                FileStatus::Unchanged
            } else if p.mode == Mode::Lfs {
                FileStatus::Uploaded
            } else {
                FileStatus::Committed
            }
        })
        .collect();

    // LFS objects: those the Hub lacks are sent; the others only named in the commit.
    let lfs: Vec<usize> = (0..uploads.len())
        .filter(|&i| statuses[i] == FileStatus::Uploaded)
        .collect();
    let mut uploaded_bytes = 0;
    if !lfs.is_empty() {
        let wanted: Vec<&Upload> = lfs.iter().map(|&i| &uploads[i]).collect();
        let objects = client
            .lfs_batch(repo, branch, &wanted, events)
            .map_err(write_error)?;
        for &i in &lfs {
            let upload = &uploads[i];
            let object = objects
                .iter()
                .find(|o| o.oid.eq_ignore_ascii_case(&upload.sha256))
                .ok_or_else(|| {
                    PublishError::Hub(HubError::BadResponse {
                        url: format!("{}/{repo}.git/info/lfs/objects/batch", client.endpoint()),
                        message: format!("no answer for `{}`", upload.path_in_repo),
                    })
                })?;
            if let Some(error) = &object.error {
                return Err(PublishError::ObjectRefused {
                    file: upload.path_in_repo.clone(),
                    code: error.code,
                    message: error.message.clone().unwrap_or_default(),
                });
            }
            match &object.actions {
                Some(actions) if actions.upload.is_some() => {
                    client
                        .upload_object(upload, actions, events)
                        .map_err(|source| PublishError::Upload {
                            file: upload.path_in_repo.clone(),
                            source,
                        })?;
                    uploaded_bytes += upload.size;
                }
                _ => statuses[i] = FileStatus::AlreadyStored,
            }
        }
    }

    // The commit, against the head read above; again against a new head when another
    // commit landed first.
    let summary = request.message.clone().unwrap_or_else(|| {
        let names: Vec<&str> = prepared.bundles.iter().map(|b| b.file.as_str()).collect();
        format!("Publish {} with fxb", names.join(", "))
    });
    let mut attempts = 0;
    let outcome = loop {
        let files: Vec<CommitFile<'_>> = uploads
            .iter()
            .zip(&placements)
            .zip(&statuses)
            .filter(|(_, s)| !matches!(s, FileStatus::Unchanged | FileStatus::Ignored))
            .map(|((upload, placement), _)| CommitFile {
                upload,
                mode: placement.mode,
            })
            .collect();
        if files.is_empty() {
            break None;
        }
        attempts += 1;
        let answer = client
            .commit(
                repo,
                &revision,
                &summary,
                &head.sha,
                &files,
                request.create_pr,
                events,
            )
            .map_err(write_error)?;
        let message = match answer {
            CommitAnswer::Committed {
                commit,
                url,
                pull_request,
            } => break Some((commit, url, pull_request)),
            CommitAnswer::Stale { message, .. } => message,
        };
        drop(files);
        if attempts > COMMIT_RETRIES {
            return Err(PublishError::StaleTooOften {
                repo: repo.to_string(),
                revision,
                attempts,
                message,
            });
        }
        events(&DownloadEvent::Retrying {
            what: "committing",
            reason: &format!("`{repo}` has a new commit at `{revision}` ({message})"),
            wait: std::time::Duration::ZERO,
            attempt: attempts + 1,
            attempts: COMMIT_RETRIES + 1,
        });
        let new_head = client
            .repo_info(repo, &revision, events)
            .map_err(write_error)?;
        check_conflicts(repo, &revision, &head, &new_head, &uploads, &placements)?;
        // The card is merged again with the new head's; every other file is as it was.
        let (card_upload, new_base) = card_for(&new_head)?;
        base = new_base;
        let last = uploads.len() - 1;
        uploads[last] = card_upload;
        statuses[last] = match placements[last].mode {
            Mode::Lfs => FileStatus::Uploaded,
            Mode::Regular => FileStatus::Committed,
        };
        if placements[last].mode == Mode::Lfs {
            let objects = client
                .lfs_batch(repo, branch, &[&uploads[last]], events)
                .map_err(write_error)?;
            if let Some(actions) = objects.first().and_then(|o| o.actions.as_ref()) {
                client.upload_object(&uploads[last], actions, events)?;
            }
        }
        head = new_head;
    };
    let files = uploads
        .iter()
        .zip(&placements)
        .zip(&statuses)
        .map(|((u, p), s)| PublishedFile {
            path: u.path_in_repo.clone(),
            size: u.size,
            mode: p.mode,
            sha256: u.sha256.clone(),
            status: *s,
        })
        .collect();
    let (commit, commit_url, pull_request, changed) = match outcome {
        Some((commit, url, pr)) => (commit, Some(url).filter(|u| !u.is_empty()), pr, true),
        None => (head.sha.clone(), None, None, false),
    };
    Ok(PublishReport {
        repo_id: repo.to_string(),
        revision,
        created,
        commit,
        commit_url,
        pull_request,
        changed,
        attempts,
        base_model: base,
        files,
        bundles: prepared.bundles,
        uploaded_bytes,
    })
}

/// The head's `README.md`, when it has one.
fn remote_card(
    client: &Client,
    repo: &RepoId,
    head: &RepoInfo,
    events: Events<'_>,
) -> Result<Option<String>, PublishError> {
    if !head.siblings.iter().any(|s| s.rfilename == CARD) {
        return Ok(None);
    }
    let url = client.resolve_url(repo, &head.sha, CARD);
    let target = super::client::Target {
        repo: repo.as_str(),
        revision: Some(&head.sha),
        file: Some(CARD),
    };
    let text = client.retrying(&format!("GET {url}"), events, || {
        let answer = client.request(Method::Get, &url, &[], Follow::All)?;
        if answer.status != 200 {
            return Err(client.status_failure(answer, target));
        }
        answer
            .body
            .into_with_config()
            .limit(MAX_CARD)
            .read_to_string()
            .map_err(|e| super::client::Failure::Transient {
                reason: format!("reading {url}: {e}"),
                retry_after: None,
            })
    })?;
    Ok(Some(text))
}

/// The files this publish writes (all but the card, merged anew) that a commit between
/// `old` and `new` changed to something else: a conflict, never overwritten silently.
fn check_conflicts(
    repo: &RepoId,
    revision: &str,
    old: &RepoInfo,
    new: &RepoInfo,
    uploads: &[Upload],
    placements: &[commit::Placement],
) -> Result<(), PublishError> {
    let ids = |info: &RepoInfo| -> BTreeMap<String, String> {
        info.siblings
            .iter()
            .filter_map(|s| {
                let id = s
                    .lfs
                    .as_ref()
                    .map(|l| l.sha256.clone())
                    .or(s.blob_id.clone())?;
                Some((s.rfilename.clone(), id.to_ascii_lowercase()))
            })
            .collect()
    };
    let (before, after) = (ids(old), ids(new));
    let files: Vec<String> = uploads
        .iter()
        .zip(placements)
        .filter(|(u, _)| u.path_in_repo != CARD)
        .filter(|(u, p)| {
            let now = after.get(&u.path_in_repo);
            now != before.get(&u.path_in_repo) && now.map(String::as_str) != Some(u.oid(p.mode))
        })
        .map(|(u, _)| u.path_in_repo.clone())
        .collect();
    if files.is_empty() {
        Ok(())
    } else {
        Err(PublishError::Conflict {
            repo: repo.to_string(),
            revision: revision.to_string(),
            files,
        })
    }
}
