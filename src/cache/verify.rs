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
            let (status, detail) = match (hashed, recorded) {
                (Err(e), _) => (VerifyStatus::Corrupt, Some(format!("cannot read: {e}"))),
                (Ok((_, sha)), Some(recorded)) if sha != recorded => (
                    VerifyStatus::Corrupt,
                    Some(format!("sha256 {sha}, recorded {recorded}")),
                ),
                (Ok(_), _) if damage.is_some() => (VerifyStatus::Corrupt, damage),
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
