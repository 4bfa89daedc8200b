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
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::api::RepoInfo;
use super::card::{self, BundleFacts};
use super::client::{Client, Follow, Method};
use super::commit::{self, CommitAnswer, CommitFile, Mode, Upload};
use super::env::HubEnv;
use super::error::HubError;
use super::repo::RepoId;
use super::{DownloadEvent, Events};
use crate::bundle::{Bundle, BundleError, Manifest, standard_file_name, summarize};

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

/// Why a publish stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    #[error("`{}` is not a bundle fxb can publish", path.display())]
    NotABundle {
        path: PathBuf,
        #[source]
        source: Box<BundleError>,
    },
    #[error("`{}` has no standard file name to publish it under", path.display())]
    NoStandardName {
        path: PathBuf,
        #[source]
        source: crate::bundle::NameError,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the model directory `{}` has no .fxb file", dir.display())]
    NoBundle { dir: PathBuf },
    #[error("`{}` holds no RNGD code: its kernels were compiled by `{compiler}`, not the vendor compiler (no versions.furiosa_compiler)", file.display())]
    NotRngd { file: PathBuf, compiler: String },
    #[error("`{}` is {size} bytes, over the Hub's limit of {limit} bytes per file", file.display())]
    TooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("`{}` cannot be a file name on the Hub (not UTF-8)", path.display())]
    BadName { path: PathBuf },
    #[error("publishing to `{repo}` needs a Hub token, and none is set")]
    NoToken { repo: String },
    #[error("the Hub refused to write to `{repo}` ({status}{})", if *authenticated { ", with the token in use" } else { "" })]
    WriteRefused {
        repo: String,
        status: u16,
        authenticated: bool,
    },
    #[error("repository `{repo}` does not exist on the Hub ({endpoint})")]
    RepoMissing { repo: String, endpoint: String },
    #[error("the Hub refused to store `{file}`{}: {message}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    ObjectRefused {
        file: String,
        code: Option<u16>,
        message: String,
    },
    #[error("uploading `{file}` failed")]
    Upload {
        file: String,
        #[source]
        source: HubError,
    },
    #[error("`{repo}` changed at `{revision}` while publishing, in files this publish writes: {}", files.join(", "))]
    Conflict {
        repo: String,
        revision: String,
        files: Vec<String>,
    },
    #[error(
        "`{repo}` kept changing at `{revision}`: the commit was refused {attempts} times ({message})"
    )]
    StaleTooOften {
        repo: String,
        revision: String,
        attempts: u32,
        message: String,
    },
    #[error(transparent)]
    Hub(#[from] HubError),
}

const TOKEN_HINT: &str = "set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens), or log in with `hf auth login`";

impl crate::Hint for PublishError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            PublishError::NotABundle { source, .. } => {
                return source.hint().or_else(|| {
                    Some("publish a .fxb file, or a model directory holding one".into())
                });
            }
            PublishError::NoStandardName { .. } => {
                "publish it inside a model directory, where it keeps its own file name".into()
            }
            PublishError::Read { .. } => "check the path and its permissions".into(),
            PublishError::NoBundle { .. } => {
                "put the .fxb into the directory (as `fxb build` writes it), or publish the bundle alone".into()
            }
            PublishError::NotRngd { .. } => {
                "build it with `--backend furiosa` to publish RNGD kernels, or pass --allow-non-rngd to publish it anyway (the model card then says its kernels are not RNGD code)".into()
            }
            PublishError::TooLarge { .. } => {
                "the Hub stores files up to 50 GB: build with fewer buckets (-O) or split the weights into shards".into()
            }
            PublishError::BadName { .. } => "rename the file to a UTF-8 name".into(),
            PublishError::NoToken { .. } => TOKEN_HINT.into(),
            PublishError::WriteRefused {
                authenticated: false,
                ..
            } => TOKEN_HINT.into(),
            PublishError::WriteRefused { status: 401, .. } => {
                "the Hub does not accept the token (revoked or mistyped): check HF_TOKEN, or log in again with `hf auth login`".into()
            }
            PublishError::WriteRefused { repo, .. } => format!(
                "the token is read-only or has no write access to `{repo}`: use a token with write access (https://huggingface.co/settings/tokens) in HF_TOKEN"
            ),
            PublishError::RepoMissing { .. } => {
                "pass --create to create it (with --private for a private one), or check the name".into()
            }
            PublishError::ObjectRefused { .. } => {
                "nothing was committed; the objects already sent are kept by the Hub, so a rerun sends only the rest".into()
            }
            PublishError::Upload { source, .. } => {
                let cause = crate::Hint::hint(source)
                    .filter(|_| !matches!(source, HubError::GaveUp { .. }))
                    .map(|h| format!("{h}; "))
                    .unwrap_or_default();
                format!(
                    "{cause}nothing was committed; run it again: the objects the Hub already stores are not sent again"
                )
            }
            PublishError::Conflict { .. } => {
                "nothing was committed: look at the repository's new commit, then run publish again to replace those files".into()
            }
            PublishError::StaleTooOften { .. } => {
                "nothing was committed: run it again when the repository is quieter (the uploaded objects are kept)".into()
            }
            PublishError::Hub(e) => return crate::Hint::hint(e),
        })
    }
}

/// A local file of the publish, before hashing.
struct Local {
    path: PathBuf,
    path_in_repo: String,
    size: u64,
}

/// What the local side holds: the files, the bundles' facts, a card the directory brings.
struct Prepared {
    files: Vec<Local>,
    bundles: Vec<BundleFacts>,
    /// The first bundle's `model.hub_repo_id`.
    hub_repo_id: Option<String>,
    /// `README.md` of the model directory.
    local_card: Option<String>,
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
            .lfs_batch(repo, &revision, &wanted, events)
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
                .lfs_batch(repo, &revision, &[&uploads[last]], events)
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

/// The local files, the bundles' facts and the honesty check, before any request.
fn prepare(request: &PublishRequest) -> Result<Prepared, PublishError> {
    let source = &request.source;
    let metadata = std::fs::metadata(source).map_err(|e| PublishError::Read {
        path: source.clone(),
        source: e,
    })?;
    let mut prepared = Prepared {
        files: Vec::new(),
        bundles: Vec::new(),
        hub_repo_id: None,
        local_card: None,
    };
    if metadata.is_dir() {
        let mut found = Vec::new();
        walk(source, "", &mut found)?;
        for (path, path_in_repo) in found {
            if path_in_repo == CARD {
                prepared.local_card = Some(read_card(&path)?);
                continue;
            }
            let size = file_size(&path)?;
            if !path_in_repo.contains('/') && path_in_repo.ends_with(".fxb") {
                let manifest = open_bundle(&path)?;
                add_bundle(&mut prepared, request, &path, &path_in_repo, &manifest)?;
            }
            prepared.files.push(Local {
                path,
                path_in_repo,
                size,
            });
        }
        if prepared.bundles.is_empty() {
            return Err(PublishError::NoBundle {
                dir: source.clone(),
            });
        }
    } else {
        let manifest = open_bundle(source)?;
        let name = standard_file_name(&manifest).map_err(|e| PublishError::NoStandardName {
            path: source.clone(),
            source: e,
        })?;
        add_bundle(&mut prepared, request, source, &name, &manifest)?;
        prepared.files.push(Local {
            path: source.clone(),
            size: metadata.len(),
            path_in_repo: name,
        });
    }
    for file in &prepared.files {
        if file.size > MAX_FILE_SIZE {
            return Err(PublishError::TooLarge {
                file: file.path.clone(),
                size: file.size,
                limit: MAX_FILE_SIZE,
            });
        }
    }
    Ok(prepared)
}

fn open_bundle(path: &Path) -> Result<Manifest, PublishError> {
    Bundle::open(path)
        .map(Bundle::into_manifest)
        .map_err(|e| PublishError::NotABundle {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
}

/// A bundle's facts for the card, after the honesty check.
fn add_bundle(
    prepared: &mut Prepared,
    request: &PublishRequest,
    path: &Path,
    path_in_repo: &str,
    manifest: &Manifest,
) -> Result<(), PublishError> {
    let compiler = manifest.compiler_tool_name().to_string();
    let rngd = compiler == RNGD_COMPILER && manifest.tool(RNGD_COMPILER).is_some();
    if !rngd && !request.allow_non_rngd {
        return Err(PublishError::NotRngd {
            file: path.to_path_buf(),
            compiler,
        });
    }
    let summary = summarize(path_in_repo, manifest);
    let model = manifest.model.clone().unwrap_or_default();
    if prepared.hub_repo_id.is_none() {
        prepared.hub_repo_id = model.hub_repo_id.clone();
    }
    let b = &summary.buckets;
    let mut buckets = indexmap::IndexMap::new();
    for (class, count) in [
        ("tokenwise", b.tokenwise.len()),
        ("sampler", b.sampler.len()),
        ("vision_encoder", b.vision_encoder.len()),
        ("prefill", b.prefill.len()),
        ("decode", b.decode.len()),
        ("append", b.append.len()),
        ("linear_prefill", b.linear_prefill.len()),
        ("linear_decode", b.linear_decode.len()),
    ] {
        if count > 0 {
            buckets.insert(class.to_string(), count);
        }
    }
    buckets.insert("total".into(), b.count);
    let tool = manifest.tool(&compiler);
    prepared.bundles.push(BundleFacts {
        file: path_in_repo.to_string(),
        architecture: model.architecture.clone().unwrap_or_default(),
        rngd,
        compiler_version: tool.and_then(|t| t.version.clone()),
        compiler_revision: tool.and_then(|t| t.revision.clone()),
        compiler,
        tensor_parallel_size: manifest.tensor_parallel_size(),
        pipeline_parallel_size: manifest.pipeline_parallel_size(),
        fingerprint: model
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), fxb_plugin_api::fingerprint::render(v)))
            .collect(),
        buckets,
        kernels: manifest.entry_count(),
    });
    Ok(())
}

/// Every file under `dir` with its path in the repository, sorted; `.git/` and `.cache/`
/// are left out, and symlinked directories are not followed (a link to a file is read).
fn walk(dir: &Path, prefix: &str, found: &mut Vec<(PathBuf, String)>) -> Result<(), PublishError> {
    let read = |e| PublishError::Read {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(PublishError::BadName { path });
        };
        let kind = entry.file_type().map_err(|e| PublishError::Read {
            path: path.clone(),
            source: e,
        })?;
        let in_repo = format!("{prefix}{name}");
        if kind.is_dir() {
            if name != ".git" && name != ".cache" {
                walk(&path, &format!("{in_repo}/"), found)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            found.push((path, in_repo));
        }
    }
    Ok(())
}

fn file_size(path: &Path) -> Result<u64, PublishError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| PublishError::Read {
            path: path.to_path_buf(),
            source: e,
        })
}

fn read_card(path: &Path) -> Result<String, PublishError> {
    let size = file_size(path)?;
    if size > MAX_CARD {
        return Err(PublishError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "a model card of {size} bytes is over {MAX_CARD}"
            )),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| PublishError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    String::from_utf8(bytes).map_err(|_| PublishError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::other("the model card is not UTF-8"),
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
