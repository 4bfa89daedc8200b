//! A model's small files (its `config.json`, the files `--convert auto` reads) through the
//! ordinary Hugging Face hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`), as the reference's
//! `check` fetches them (FORMAT.md §5.2) — never into the fxb cache, never the weights.
//!
//! The layout is the Hub clients' own, so each side reuses what the other fetched:
//! `refs/<revision>` holds the commit, `snapshots/<commit>/<file>` links to
//! `blobs/<etag>`, and `.no_exist/<commit>/<file>` records an optional file the revision
//! lacks (as `huggingface_hub` records it, so its offline reads know too).
//!
//! One request answers for every file: the revision's listing (commit, file names, blob
//! ids and sizes). A revision that is a commit whose files are all cached needs none. When
//! the Hub cannot be reached — or `HF_HUB_OFFLINE` is set — the cached snapshot of the
//! revision is used, and the answer says so.

use std::path::{Path, PathBuf};

use super::Events;
use super::api::RepoInfo;
use super::blob::{self, BlobRequest};
use super::client::{Client, Target};
use super::env::HubEnv;
use super::error::HubError;
use super::repo::{RepoDir, RepoId, is_commit, safe_ref, top_level_file};
use super::revision::DEFAULT_BRANCH;

/// A repository file a caller wants.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub name: &'a str,
    /// An error when the revision lacks it (else it is simply absent).
    pub required: bool,
}

/// Files wanted from one revision of a repository.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRequest<'a> {
    pub repo: &'a RepoId,
    /// A branch, tag or commit; the default branch when none.
    pub revision: Option<&'a str>,
    pub files: &'a [Wanted<'a>],
}

/// The files, in the hub cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `…/models--org--name/snapshots/<commit>`: a directory to read the model from.
    pub dir: PathBuf,
    pub commit: String,
    /// The revision as asked (or the default branch).
    pub revision: String,
    /// The wanted files the revision has (the others it lacks).
    pub present: Vec<String>,
    /// The `.fxb` files at the top of the revision (a server downloads them with the
    /// model, and loads one before consulting the cache); from the snapshot directory
    /// when the Hub was not asked.
    pub bundles: Vec<String>,
    /// How the files were found.
    pub source: SnapshotSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSource {
    /// The Hub was asked; `fetched` files were transferred now (the rest were cached).
    Hub { fetched: Vec<String> },
    /// A commit whose files are all cached: nothing to ask.
    CachedCommit,
    /// `HF_HUB_OFFLINE` is set: what is cached.
    Offline,
    /// The Hub could not be reached (why): what is cached.
    Unreachable(String),
}

impl Snapshot {
    /// A sentence for the user when the answer did not come from the Hub now.
    pub fn note(&self, repo: &RepoId) -> Option<String> {
        let short = self.commit.get(..10).unwrap_or(&self.commit);
        match &self.source {
            SnapshotSource::Hub { .. } | SnapshotSource::CachedCommit => None,
            SnapshotSource::Offline => Some(format!(
                "offline (HF_HUB_OFFLINE): `{repo}` read from the hub cache, revision `{}` = {short}",
                self.revision
            )),
            SnapshotSource::Unreachable(why) => Some(format!(
                "the Hub cannot be reached ({why}): `{repo}` read from the hub cache, revision `{}` = {short} as last fetched",
                self.revision
            )),
        }
    }
}

/// The `request`ed files of a revision, in `env`'s hub cache: fetched where needed.
pub fn snapshot(
    env: &HubEnv,
    request: &SnapshotRequest<'_>,
    events: Events<'_>,
) -> Result<Snapshot, HubError> {
    let revision = request.revision.unwrap_or(DEFAULT_BRANCH);
    if !is_commit(revision) && !safe_ref(revision) {
        return Err(HubError::BadRevision(revision.to_string()));
    }
    let dir = RepoDir::new(&env.hub_cache, request.repo);
    if env.offline {
        return cached(&dir, request, revision, SnapshotSource::Offline);
    }
    if is_commit(revision)
        && let Ok(found) = cached(&dir, request, revision, SnapshotSource::CachedCommit)
    {
        return Ok(found);
    }
    let client = Client::new(env)?;
    match client.repo_info(request.repo, revision, events) {
        Ok(info) => fetched(&client, &dir, request, revision, &info, events),
        Err(e) if is_network(&e) => {
            let why = e.to_string();
            cached(&dir, request, revision, SnapshotSource::Unreachable(why)).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// A failure of the network, not an answer: what is cached may stand in.
fn is_network(error: &HubError) -> bool {
    matches!(
        error,
        HubError::Unreachable { .. } | HubError::GaveUp { .. }
    )
}

/// The files of `info` (the revision's listing) into the hub cache.
fn fetched(
    client: &Client,
    dir: &RepoDir,
    request: &SnapshotRequest<'_>,
    revision: &str,
    info: &RepoInfo,
    events: Events<'_>,
) -> Result<Snapshot, HubError> {
    let commit = info.sha.as_str();
    let mut present = Vec::new();
    let mut transferred = Vec::new();
    for want in request.files {
        let Some(sibling) = info.siblings.iter().find(|s| s.rfilename == want.name) else {
            if want.required {
                return Err(HubError::EntryNotFound {
                    repo: request.repo.to_string(),
                    revision: revision.to_string(),
                    file: want.name.to_string(),
                });
            }
            mark_absent(dir, commit, want.name);
            continue;
        };
        let linked = dir.snapshot(commit).join(want.name);
        let meta = match sibling.meta() {
            Some(meta) => meta,
            None => client.file_meta(request.repo, commit, want.name, events)?,
        };
        if !std::fs::metadata(&linked).is_ok_and(|m| m.is_file() && m.len() == meta.size) {
            let accept_any = |_: &Path| Ok(());
            let blob = blob::fetch(
                client,
                &BlobRequest {
                    dir,
                    meta: &meta,
                    url: client.resolve_url(request.repo, commit, want.name),
                    file: want.name,
                    force: false,
                    target: Target {
                        repo: request.repo.as_str(),
                        revision: Some(commit),
                        file: Some(want.name),
                    },
                    check: &accept_any,
                },
                events,
            )?;
            if blob.transferred {
                transferred.push(want.name.to_string());
            }
            dir.link(commit, want.name, &meta.etag)?;
        }
        present.push(want.name.to_string());
    }
    dir.write_ref(revision, commit)?;
    let mut bundles: Vec<String> = info
        .siblings
        .iter()
        .map(|s| s.rfilename.clone())
        .filter(|name| name.ends_with(".fxb") && top_level_file(name))
        .collect();
    bundles.sort();
    Ok(Snapshot {
        dir: dir.snapshot(commit),
        commit: commit.to_string(),
        revision: revision.to_string(),
        present,
        bundles,
        source: SnapshotSource::Hub {
            fetched: transferred,
        },
    })
}

/// What the hub cache holds of the revision, without asking the Hub.
fn cached(
    dir: &RepoDir,
    request: &SnapshotRequest<'_>,
    revision: &str,
    source: SnapshotSource,
) -> Result<Snapshot, HubError> {
    let not_cached = |file: Option<&str>| match &source {
        SnapshotSource::Offline => HubError::Offline {
            repo: request.repo.to_string(),
            revision: revision.to_string(),
            file: file.map(str::to_string),
        },
        _ => HubError::EntryNotFound {
            repo: request.repo.to_string(),
            revision: revision.to_string(),
            file: file.unwrap_or_default().to_string(),
        },
    };
    let commit = dir.cached_ref(revision).ok_or_else(|| not_cached(None))?;
    let snapshot = dir.snapshot(&commit);
    let mut present = Vec::new();
    for want in request.files {
        if snapshot.join(want.name).is_file() {
            present.push(want.name.to_string());
        } else if want.required {
            return Err(not_cached(Some(want.name)));
        }
    }
    let mut bundles: Vec<String> = std::fs::read_dir(&snapshot)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".fxb") && top_level_file(name))
        .collect();
    bundles.sort();
    Ok(Snapshot {
        dir: snapshot,
        commit,
        revision: revision.to_string(),
        present,
        bundles,
        source,
    })
}

/// `.no_exist/<commit>/<file>`: the Hub's clients' record that the revision lacks an
/// optional file, read by `huggingface_hub` offline. Best effort: only a hint to others.
fn mark_absent(dir: &RepoDir, commit: &str, file: &str) {
    let marker = dir.path().join(".no_exist").join(commit).join(file);
    if marker.exists() {
        return;
    }
    let made = std::fs::create_dir_all(crate::fs::parent_dir(&marker))
        .and_then(|()| std::fs::File::create(&marker).map(drop));
    if let Err(e) = made {
        tracing::debug!("cannot record `{}` as absent: {e}", marker.display());
    }
}
