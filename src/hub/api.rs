//! The Hub's repository API, as fxb reads it: a revision's commit and file list with sizes
//! and LFS hashes (`GET /api/models/{repo}/revision/{rev}?blobs=true`), the repository's
//! branches and tags (`GET /api/models/{repo}/refs`), and one file's metadata from the
//! Hub's answer to `HEAD /{repo}/resolve/{rev}/{file}` (without following the redirect:
//! its `X-Linked-Etag` and `X-Linked-Size` describe the LFS object).

use serde::Deserialize;

use super::Events;
use super::client::{Client, Follow, Method, Target, encode_segment, header};
use super::error::HubError;
use super::repo::{RepoId, clean_etag, is_commit};

/// A revision of a repository.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    /// The commit the revision names.
    pub sha: String,
    #[serde(default)]
    pub siblings: Vec<Sibling>,
}

/// A file of a revision.
#[derive(Debug, Clone, Deserialize)]
pub struct Sibling {
    pub rfilename: String,
    /// With `?blobs=true`: the file's size.
    #[serde(default)]
    pub size: Option<u64>,
    /// With `?blobs=true`: the git blob id (for an LFS file, that of its pointer).
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    /// With `?blobs=true`, for a file stored in LFS.
    #[serde(default)]
    pub lfs: Option<Lfs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lfs {
    pub sha256: String,
    pub size: u64,
}

/// The repository's branches and tags.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Refs {
    #[serde(default)]
    pub branches: Vec<GitRef>,
    #[serde(default)]
    pub tags: Vec<GitRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitRef {
    pub name: String,
    #[serde(default, rename = "targetCommit")]
    pub target_commit: Option<String>,
}

/// One file's identity, as a download needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The blob name: the LFS sha256, or the git blob sha1 of a small file.
    pub etag: String,
    pub size: u64,
    /// Whether `etag` is an LFS sha256 (else a git blob sha1).
    pub lfs: bool,
}

impl Sibling {
    /// The identity the listing gives, when it gives one (`?blobs=true`).
    pub fn meta(&self) -> Option<FileMeta> {
        match (&self.lfs, &self.blob_id, self.size) {
            (Some(lfs), _, _) => Some(FileMeta {
                etag: lfs.sha256.to_ascii_lowercase(),
                size: lfs.size,
                lfs: true,
            }),
            (None, Some(blob), Some(size)) => Some(FileMeta {
                etag: blob.to_ascii_lowercase(),
                size,
                lfs: false,
            }),
            _ => None,
        }
    }
}

impl Client {
    /// `revision` of `repo`: its commit and files.
    pub fn repo_info(
        &self,
        repo: &RepoId,
        revision: &str,
        events: Events<'_>,
    ) -> Result<RepoInfo, HubError> {
        let path = format!(
            "/api/models/{}/revision/{}?blobs=true",
            repo,
            encode_segment(revision)
        );
        let target = Target {
            repo: repo.as_str(),
            revision: Some(revision),
            file: None,
        };
        let info: RepoInfo = self.json(&path, target, events)?;
        if !is_commit(&info.sha) {
            return Err(HubError::BadResponse {
                url: format!("{}{path}", self.endpoint()),
                message: format!("`{}` is not a commit id", info.sha),
            });
        }
        Ok(info)
    }

    /// The branches and tags of `repo`.
    pub fn refs(&self, repo: &RepoId, events: Events<'_>) -> Result<Refs, HubError> {
        let target = Target {
            repo: repo.as_str(),
            revision: None,
            file: None,
        };
        self.json(&format!("/api/models/{repo}/refs"), target, events)
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub fn resolve_url(&self, repo: &RepoId, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint(),
            repo,
            encode_segment(revision),
            file.split('/')
                .map(encode_segment)
                .collect::<Vec<_>>()
                .join("/")
        )
    }

    /// A file's identity from the Hub's answer to a HEAD (for a listing without sizes).
    pub fn file_meta(
        &self,
        repo: &RepoId,
        revision: &str,
        file: &str,
        events: Events<'_>,
    ) -> Result<FileMeta, HubError> {
        let url = self.resolve_url(repo, revision, file);
        let target = Target {
            repo: repo.as_str(),
            revision: Some(revision),
            file: Some(file),
        };
        self.retrying(&format!("HEAD {url}"), events, || {
            let answer = self.request(Method::Head, &url, &[], Follow::WithinHub)?;
            if !matches!(answer.status, 200 | 301 | 302 | 303 | 307 | 308) {
                return Err(self.status_failure(answer, target));
            }
            let headers = &answer.headers;
            let linked = header(headers, "x-linked-etag");
            let etag = linked
                .clone()
                .or_else(|| header(headers, "etag"))
                .map(|e| clean_etag(&e).to_ascii_lowercase());
            let size = header(headers, "x-linked-size")
                .or_else(|| header(headers, "content-length"))
                .and_then(|v| v.trim().parse().ok());
            match (etag, size) {
                (Some(etag), Some(size)) => Ok(FileMeta {
                    lfs: linked.is_some() || etag.len() == 64,
                    etag,
                    size,
                }),
                _ => Err(HubError::BadResponse {
                    url: url.clone(),
                    message: "no ETag or size for the file".into(),
                }
                .into()),
            }
        })
    }
}

/// Tags, then branches, as a hint lists them.
pub fn ref_names(refs: &Refs) -> Vec<String> {
    refs.tags
        .iter()
        .chain(&refs.branches)
        .map(|r| r.name.clone())
        .collect()
}
