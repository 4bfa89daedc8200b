//! `download`: a repository's bundles into the fxb cache, in the Hub's layout, indexed as
//! the reference indexes them (FORMAT.md §4.2, §4.3, §5.6) — the library function every
//! front end calls (the CLI's `fxb download`, later the registry and Python).
//!
//! Every `.fxb` at the top of the revision (or only those asked for), and its
//! `README.md` when there is one (for `base_model`), each made by [`super::blob`]; then,
//! under the cache's lock, the snapshot links and the ref are made and the bundles
//! indexed. A file that fails (not a bundle, a hash mismatch, a transfer given up) is
//! reported and the others still download; what stops one file from any repository
//! (not found, no access, no network, a full disk) stops the whole download.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::api::{FileMeta, RepoInfo, Sibling, ref_names};
use super::blob::{self, BlobRequest};
use super::client::{Client, Target};
use super::env::HubEnv;
use super::error::HubError;
use super::repo::{RepoDir, RepoId, is_commit, safe_ref, top_level_file};
use super::revision::{RevisionChoice, candidates};
use super::{DownloadEvent, Events};
use crate::bundle::{Bundle, Manifest};
use crate::cache::{Cache, CacheError, Fetched};

/// The model card, read for `base_model`.
const CARD: &str = "README.md";
/// The most of a model card read.
const CARD_LIMIT: u64 = 1 << 20;

/// What to download.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    pub repo: RepoId,
    pub revision: RevisionChoice,
    /// Only these bundles (file names in the repository); all when empty.
    pub files: Vec<String>,
    /// Transfer even what is cached (and replace it).
    pub force: bool,
}

/// What a download did (`fxb download --json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "fxb download --json")]
pub struct DownloadReport {
    pub repo_id: String,
    /// The revision used: as given, or chosen (a tag, a branch).
    pub revision: String,
    /// Why that revision.
    pub reason: String,
    /// The commit it names (the snapshot directory).
    pub commit: String,
    /// The repository's `base_model`, from its model card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    /// Bundles transferred now.
    pub downloaded: Vec<DownloadedFile>,
    /// Bundles that were in the cache already.
    pub cached: Vec<DownloadedFile>,
    /// Bundles that could not be downloaded, with why.
    pub failed: Vec<FailedFile>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DownloadedFile {
    /// The file name in the repository (and the snapshot).
    pub filename: String,
    /// `<cache dir as given>/<rel_path>`.
    pub path: PathBuf,
    pub size: u64,
    /// Its sha256, when it was hashed now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FailedFile {
    pub filename: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A repository file to fetch.
struct Wanted<'a> {
    sibling: &'a Sibling,
    bundle: bool,
}

/// A file in its blob, ready to be linked.
struct Ready {
    filename: String,
    etag: String,
    size: u64,
    sha256: Option<String>,
    transferred: bool,
    /// A bundle's manifest (none for the model card).
    manifest: Option<Manifest>,
}

/// Download `request.repo`'s bundles into `cache`, telling `events` how it goes.
pub fn download(
    env: &HubEnv,
    cache: &Cache,
    request: &DownloadRequest,
    events: Events<'_>,
) -> Result<DownloadReport, HubError> {
    if cache.is_read_only() {
        return Err(CacheError::ReadOnly(cache.dir().to_path_buf()).into());
    }
    let repo = &request.repo;
    // A revision becomes a ref file's name: refused before anything is fetched.
    if let RevisionChoice::Given(revision) = &request.revision
        && !is_commit(revision)
        && !safe_ref(revision)
    {
        return Err(HubError::BadRevision(revision.clone()));
    }
    let dir = RepoDir::new(cache.dir(), repo);
    let revisions = candidates(repo, &request.revision)?;
    if env.offline {
        return offline(cache, &dir, request, &revisions, events);
    }
    let client = Client::new(env)?;
    let (revision, reason, info) = choose(&client, repo, &request.revision, revisions, events)?;
    events(&DownloadEvent::Revision {
        revision: &revision,
        why: &reason,
    });
    let wanted = select(repo, &revision, &info, &request.files)?;
    let commit = info.sha.clone();
    let mut report = DownloadReport {
        repo_id: repo.to_string(),
        revision: revision.clone(),
        reason,
        commit: commit.clone(),
        base_model: None,
        downloaded: Vec::new(),
        cached: Vec::new(),
        failed: Vec::new(),
    };
    let mut ready = Vec::new();
    for want in &wanted {
        let file = want.sibling.rfilename.as_str();
        match fetch(&client, &dir, repo, &commit, want, request.force, events) {
            Ok(r) => ready.push(r),
            Err(e) if e.stops_everything() => return Err(e),
            Err(e) => report.failed.push(failed(file, &e)),
        }
    }
    if let Some(card) = ready.iter().find(|r| r.manifest.is_none()) {
        report.base_model = read_card(&dir.blob(&card.etag));
    }
    publish(cache, &dir, repo, &revision, &commit, ready, &mut report)?;
    Ok(report)
}

/// The first candidate revision the Hub has. Only a chosen tag falls back (to the
/// default branch); a given revision that is missing is an error listing what the
/// repository has.
fn choose(
    client: &Client,
    repo: &RepoId,
    choice: &RevisionChoice,
    revisions: Vec<(String, String)>,
    events: Events<'_>,
) -> Result<(String, String, RepoInfo), HubError> {
    let mut last = None;
    let count = revisions.len();
    for (i, (revision, why)) in revisions.into_iter().enumerate() {
        match client.repo_info(repo, &revision, events) {
            Ok(info) => return Ok((revision, why, info)),
            Err(HubError::RevisionNotFound { .. }) if i + 1 < count => {
                events(&DownloadEvent::Fallback {
                    repo: repo.as_str(),
                    tried: &revision,
                    default: super::revision::DEFAULT_BRANCH,
                });
                last = Some(revision);
            }
            Err(HubError::RevisionNotFound {
                repo: r, revision, ..
            }) => {
                let known = if matches!(choice, RevisionChoice::Given(_)) {
                    client
                        .refs(repo, events)
                        .map(|refs| ref_names(&refs))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                return Err(HubError::RevisionNotFound {
                    repo: r,
                    revision,
                    known,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Err(HubError::RevisionNotFound {
        repo: repo.to_string(),
        revision: last.unwrap_or_default(),
        known: Vec::new(),
    })
}

/// The bundles to fetch (all top-level `.fxb`, or the ones asked for), the model card
/// first.
fn select<'a>(
    repo: &RepoId,
    revision: &str,
    info: &'a RepoInfo,
    asked: &[String],
) -> Result<Vec<Wanted<'a>>, HubError> {
    let mut bundles: Vec<&Sibling> = Vec::new();
    for sibling in &info.siblings {
        let name = sibling.rfilename.as_str();
        if !name.ends_with(".fxb") {
            continue;
        }
        if top_level_file(name) {
            bundles.push(sibling);
        } else {
            tracing::warn!(
                "skipped `{name}` of `{repo}`: the cache holds only bundles at the top of a repository"
            );
        }
    }
    if bundles.is_empty() {
        return Err(HubError::NoBundles {
            repo: repo.to_string(),
            revision: revision.to_string(),
        });
    }
    if !asked.is_empty() {
        let mut chosen = Vec::new();
        for name in asked {
            match bundles.iter().find(|s| &s.rfilename == name) {
                Some(sibling) => {
                    if !chosen.iter().any(|s: &&Sibling| s.rfilename == *name) {
                        chosen.push(*sibling);
                    }
                }
                None => {
                    return Err(HubError::NoSuchFile {
                        repo: repo.to_string(),
                        file: name.clone(),
                        available: bundles.iter().map(|s| s.rfilename.clone()).collect(),
                    });
                }
            }
        }
        bundles = chosen;
    }
    let card = info.siblings.iter().find(|s| s.rfilename == CARD);
    Ok(card
        .map(|sibling| Wanted {
            sibling,
            bundle: false,
        })
        .into_iter()
        .chain(bundles.into_iter().map(|sibling| Wanted {
            sibling,
            bundle: true,
        }))
        .collect())
}

/// One file into its blob (or found there), a bundle's manifest read.
fn fetch(
    client: &Client,
    dir: &RepoDir,
    repo: &RepoId,
    commit: &str,
    want: &Wanted<'_>,
    force: bool,
    events: Events<'_>,
) -> Result<Ready, HubError> {
    let file = want.sibling.rfilename.as_str();
    let meta: FileMeta = match want.sibling.meta() {
        Some(meta) => meta,
        None => client.file_meta(repo, commit, file, events)?,
    };
    // The reader names the file it read (a blob, or its `.incomplete`); the user knows it
    // by its name in the repository.
    let not_a_bundle = |path: &Path, e: crate::bundle::BundleError| HubError::NotABundle {
        repo: repo.to_string(),
        file: file.to_string(),
        reason: e
            .to_string()
            .replace(&format!("`{}`", path.display()), "it"),
    };
    let check = |path: &Path| -> Result<(), HubError> {
        if want.bundle {
            Bundle::open(path)
                .map(drop)
                .map_err(|e| not_a_bundle(path, e))?;
        }
        Ok(())
    };
    let blob = blob::fetch(
        client,
        &BlobRequest {
            dir,
            meta: &meta,
            url: client.resolve_url(repo, commit, file),
            file,
            force,
            target: Target {
                repo: repo.as_str(),
                revision: Some(commit),
                file: Some(file),
            },
            check: &check,
        },
        events,
    )?;
    if blob.transferred {
        events(&DownloadEvent::Finished { file });
    }
    let manifest = if want.bundle {
        Some(
            Bundle::open(&blob.path)
                .map_err(|e| not_a_bundle(&blob.path, e))?
                .into_manifest(),
        )
    } else {
        None
    };
    Ok(Ready {
        filename: file.to_string(),
        etag: meta.etag,
        size: meta.size,
        sha256: blob.sha256,
        transferred: blob.transferred,
        manifest,
    })
}

/// Under the cache's lock: the ref, the snapshot links, the index.
fn publish(
    cache: &Cache,
    dir: &RepoDir,
    repo: &RepoId,
    revision: &str,
    commit: &str,
    ready: Vec<Ready>,
    report: &mut DownloadReport,
) -> Result<(), HubError> {
    let mut outcome: Result<(), HubError> = Ok(());
    let mut failures = Vec::new();
    let mut listed = Vec::new();
    let base_model = report.base_model.clone();
    cache.record_fetched(repo.as_str(), base_model.as_deref(), || {
        if let Err(e) = dir.write_ref(revision, commit) {
            outcome = Err(e);
            return Vec::new();
        }
        let mut placed = Vec::new();
        for r in ready {
            if let Err(e) = dir.link(commit, &r.filename, &r.etag) {
                if e.stops_everything() {
                    outcome = Err(e);
                    return Vec::new();
                }
                failures.push(failed(&r.filename, &e));
                continue;
            }
            let Some(manifest) = r.manifest else { continue };
            let rel_path = dir.rel_path(commit, &r.filename);
            listed.push((
                r.transferred,
                DownloadedFile {
                    filename: r.filename.clone(),
                    path: cache.dir().join(&rel_path),
                    size: r.size,
                    sha256: r.sha256.clone(),
                },
            ));
            placed.push(Fetched {
                rel_path,
                revision: commit.to_string(),
                size: r.size,
                manifest,
                sha256: r.sha256,
                replace: r.transferred,
            });
        }
        placed
    })?;
    outcome?;
    report.failed.extend(failures);
    for (transferred, file) in listed {
        if transferred {
            report.downloaded.push(file);
        } else {
            report.cached.push(file);
        }
    }
    Ok(())
}

/// `HF_HUB_OFFLINE`: the first candidate revision with cached bundles, from the cache alone.
fn offline(
    cache: &Cache,
    dir: &RepoDir,
    request: &DownloadRequest,
    revisions: &[(String, String)],
    events: Events<'_>,
) -> Result<DownloadReport, HubError> {
    for (revision, _) in revisions {
        let Some(commit) = dir.cached_ref(revision) else {
            continue;
        };
        let snapshot = dir.snapshot(&commit);
        let mut names: Vec<String> = std::fs::read_dir(&snapshot)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".fxb") && top_level_file(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        if !request.files.is_empty() {
            names.retain(|n| request.files.contains(n));
            if names.len() < request.files.len() {
                continue;
            }
        }
        let mut report = DownloadReport {
            repo_id: request.repo.to_string(),
            revision: revision.clone(),
            reason: "offline (HF_HUB_OFFLINE is set): what the cache holds for it".into(),
            commit: commit.clone(),
            base_model: read_card(&snapshot.join(CARD)),
            downloaded: Vec::new(),
            cached: Vec::new(),
            failed: Vec::new(),
        };
        let mut placed = Vec::new();
        for name in names {
            let path = snapshot.join(&name);
            match Bundle::open(&path) {
                Ok(bundle) => {
                    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                    let rel_path = dir.rel_path(&commit, &name);
                    report.cached.push(DownloadedFile {
                        filename: name.clone(),
                        path: cache.dir().join(&rel_path),
                        size,
                        sha256: None,
                    });
                    placed.push(Fetched {
                        rel_path,
                        revision: commit.clone(),
                        size,
                        manifest: bundle.into_manifest(),
                        sha256: None,
                        replace: false,
                    });
                }
                // A dangling link (its blob removed) or a damaged blob: not cached.
                Err(e) => tracing::debug!("offline: `{}` is not usable: {e}", path.display()),
            }
        }
        if report.cached.is_empty() {
            continue;
        }
        events(&DownloadEvent::Revision {
            revision,
            why: &report.reason,
        });
        let base_model = report.base_model.clone();
        cache.record_fetched(request.repo.as_str(), base_model.as_deref(), || placed)?;
        return Ok(report);
    }
    Err(HubError::Offline {
        repo: request.repo.to_string(),
        revision: revisions
            .first()
            .map(|(r, _)| r.clone())
            .unwrap_or_default(),
        file: None,
    })
}

/// The model card's `base_model`, if the card reads.
fn read_card(path: &Path) -> Option<String> {
    let bytes = crate::fs::read_limited(path, CARD_LIMIT).ok()?;
    super::card::base_model(&String::from_utf8_lossy(&bytes))
}

/// A file's failure, as reports carry it: the message with its causes, and the hint.
fn failed(file: &str, error: &HubError) -> FailedFile {
    use crate::Hint as _;
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    FailedFile {
        filename: file.to_string(),
        error: message,
        hint: error.hint(),
    }
}
