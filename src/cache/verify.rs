//! `cache verify`: every cached bundle re-hashed against the hash fxb recorded when it
//! added it; bundles the reference added are checked to read and to have the indexed
//! size, and their hash is recorded from then on.

use super::error::CacheError;
use super::sidecar::{Sidecar, SidecarEntry, stamp};
use super::store::{Cache, CachedFile, now};
use crate::bundle::{Bundle, BundleError, ChecksumStream};

/// `cache verify`'s finding for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    /// The content hash equals the one recorded when fxb added it.
    Ok,
    /// No hash was recorded (added by the reference): the archive and its manifest read,
    /// and its size is the index's; the hash is recorded now.
    Readable,
    Missing,
    Corrupt,
    /// A download's `blobs/<etag>.incomplete` left behind (the next download of that file
    /// resumes it), or being written now by another process.
    Partial,
}

impl VerifyStatus {
    /// Corrupt or missing: a finding.
    pub fn is_bad(self) -> bool {
        matches!(self, VerifyStatus::Corrupt | VerifyStatus::Missing)
    }
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub file: CachedFile,
    pub status: VerifyStatus,
    pub detail: Option<String>,
}

impl Cache {
    /// Re-hash every cached bundle (without holding the lock: hashing takes long), then
    /// record the new hashes under it, merged with what other processes recorded.
    pub fn verify(&self) -> Result<Vec<Verified>, CacheError> {
        // On a read-only cache the hashes are checked but not recorded.
        let files = self.list()?;
        let mut sidecar = Sidecar::load(self.dir());
        let mut results = Vec::new();
        let now = now();
        for file in files {
            let path = self.dir().join(&file.entry.rel_path);
            if file.missing || !path.exists() {
                results.push(Verified {
                    file,
                    status: VerifyStatus::Missing,
                    detail: None,
                });
                continue;
            }
            // A recorded hash of a file of the same size is the reference: a changed mtime
            // does not excuse changed bytes. Another size means the file was replaced
            // (e.g. re-added by the reference), so the old hash says nothing.
            let size_now = std::fs::metadata(&path).map(|m| m.len()).ok();
            let recorded = sidecar
                .entries
                .get(&file.entry.rel_path)
                .filter(|e| Some(e.size) == size_now)
                .map(|e| e.sha256.clone());
            // The entries' CRC-32 are checked in the same pass as the hash: a bundle the
            // reference added (or an older fxb, which did not check) may be corrupt.
            let opened = Bundle::open(&path);
            let entries = opened.as_ref().ok().and_then(Bundle::archived_entries);
            let mut checksums = ChecksumStream::new(entries.unwrap_or_default());
            let hashed = super::copy::hash_file(&path, &mut |b| checksums.feed(b))
                .map_err(|e| e.to_string());
            let damage = match opened {
                Err(e) => Some(e.to_string()),
                Ok(mut bundle) => checksums
                    .finish()
                    .map_err(|mismatch| BundleError::Inconsistent {
                        path: path.clone(),
                        name: mismatch.name,
                        detail: mismatch.detail,
                    })
                    .and_then(|unchecked| {
                        unchecked.iter().try_for_each(|name| {
                            bundle.copy_entry(name, &mut std::io::sink()).map(drop)
                        })
                    })
                    .err()
                    .map(|e| e.to_string()),
            };
            // A downloaded bundle's blob is named by the Hub's LFS sha256: a hash to check
            // it against even when fxb recorded none.
            let oid = lfs_oid(&path);
            let (status, detail) = match (hashed, recorded) {
                (Err(e), _) => (VerifyStatus::Corrupt, Some(format!("cannot read: {e}"))),
                (Ok((_, sha)), _) if oid.as_ref().is_some_and(|oid| *oid != sha) => (
                    VerifyStatus::Corrupt,
                    Some(format!(
                        "sha256 {sha}, the Hub's LFS sha256 {}",
                        oid.as_deref().unwrap_or_default()
                    )),
                ),
                (Ok((_, sha)), Some(recorded)) if sha != recorded => (
                    VerifyStatus::Corrupt,
                    Some(format!("sha256 {sha}, recorded {recorded}")),
                ),
                (Ok(_), _) if damage.is_some() => (VerifyStatus::Corrupt, damage),
                (Ok(_), _) if oid.is_some() => (
                    VerifyStatus::Ok,
                    Some("matches the Hub's LFS sha256".into()),
                ),
                (Ok(_), Some(_)) => (VerifyStatus::Ok, None),
                (Ok((size, sha)), None) => {
                    let problem = (size != file.entry.size_bytes)
                        .then(|| format!("{size} bytes, indexed {}", file.entry.size_bytes));
                    match problem {
                        Some(problem) => (VerifyStatus::Corrupt, Some(problem)),
                        None => {
                            if let Some((size, mtime_ns)) = stamp(&path) {
                                sidecar.entries.insert(
                                    file.entry.rel_path.clone(),
                                    SidecarEntry {
                                        size,
                                        mtime_ns,
                                        sha256: sha,
                                        hashed_at: now.clone(),
                                        rule: None,
                                        compiler: None,
                                    },
                                );
                            }
                            (VerifyStatus::Readable, None)
                        }
                    }
                }
            };
            results.push(Verified {
                file,
                status,
                detail,
            });
        }
        let lock = self.lock()?;
        if !lock.exclusive() {
            return Ok(results);
        }
        // Merge with what other processes recorded meanwhile.
        let mut latest = Sidecar::load(self.dir());
        for (key, entry) in sidecar.entries {
            latest.entries.entry(key).or_insert(entry);
        }
        self.write_sidecar(&lock, &latest)?;
        Ok(results)
    }
}

/// A download's partial file, left in a repository's `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialDownload {
    /// The repository, as the index names it (`org/name`).
    pub repo_id: String,
    pub path: std::path::PathBuf,
    pub size: u64,
    /// Another process holds its lock: the download is running now.
    pub in_progress: bool,
}

impl Cache {
    /// Every `models--*/blobs/*.incomplete` (what an interrupted download leaves for the
    /// next to resume), sorted by path.
    pub fn partial_downloads(&self) -> Vec<PartialDownload> {
        let mut found = Vec::new();
        for repo in std::fs::read_dir(self.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let folder = repo.file_name().to_string_lossy().into_owned();
            let Some(name) = folder.strip_prefix("models--") else {
                continue;
            };
            let repo_id = name.replacen("--", "/", 1);
            let blobs = repo.path().join("blobs");
            for entry in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                let Some(etag) = file.strip_suffix(".incomplete") else {
                    continue;
                };
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                found.push(PartialDownload {
                    repo_id: repo_id.clone(),
                    path: entry.path(),
                    size,
                    in_progress: lock_held(&blobs.join(format!("{etag}.lock"))),
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found
    }
}

/// The LFS sha256 a downloaded file's blob is named by (`…/blobs/<64 hex>`), if `path` is
/// a snapshot link to one.
fn lfs_oid(path: &std::path::Path) -> Option<String> {
    let blob = super::remove::linked_blob(path)?;
    let name = blob.file_name()?.to_str()?;
    (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| name.to_ascii_lowercase())
}

/// Whether another process holds the lock file at `path` (a download writing the blob).
fn lock_held(path: &std::path::Path) -> bool {
    let Ok(file) = std::fs::File::options().read(true).open(path) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}
