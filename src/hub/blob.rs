//! One file of a repository into `blobs/<etag>` (FORMAT.md §4.2), as the Hub's own clients
//! lay it out and so that nothing half-made is ever visible:
//!
//! - **locked**: `blobs/<etag>.lock` is held (`flock`, as `huggingface_hub`'s file lock
//!   takes it) while the blob is made; a second process waits, says so every few
//!   seconds, and then finds the blob there. The lock file is left behind, as the
//!   reference leaves it.
//! - **atomic**: the bytes go to `blobs/<etag>.incomplete`, which is renamed to the blob
//!   only when complete, verified and (for bundles) readable; the cache's scan never looks
//!   into `blobs/`, so a killed download shows nowhere.
//! - **resumable**: the `.incomplete` file of an earlier attempt or process is continued
//!   with `Range: bytes=N-`; a `200` to a ranged request (a server that ignores ranges)
//!   starts the file again from nothing.
//! - **verified**: the size, and the sha256 of an LFS file or the git blob sha1 of a small
//!   one — the ETag the blob is named by. A mismatch discards the file.
//!
//! Never taken while the cache index lock is held, and never held while waiting for it:
//! the blob is renamed into place and its lock released before the index is touched.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use super::api::FileMeta;
use super::client::{Client, Failure, Follow, Method, Target, header};
use super::error::HubError;
use super::repo::{RepoDir, safe_etag};
use super::{DownloadEvent, Events};

/// How often a process waiting for another's download says so.
const WAIT_NOTICE: Duration = Duration::from_secs(5);
/// How often the lock is tried while another process holds it.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// One blob to make.
pub struct BlobRequest<'a> {
    pub dir: &'a RepoDir,
    pub meta: &'a FileMeta,
    /// Where the Hub serves it (`…/resolve/{commit}/{file}`).
    pub url: String,
    /// The repository file, for messages.
    pub file: &'a str,
    /// Fetch it even when the blob is there.
    pub force: bool,
    pub target: Target<'a>,
    /// Checked on the complete, verified file before it becomes the blob (a bundle must
    /// read); an error discards it.
    pub check: &'a dyn Fn(&Path) -> Result<(), HubError>,
}

/// A blob in place.
#[derive(Debug, Clone)]
pub struct Blob {
    pub path: PathBuf,
    /// Its sha256, when it was hashed now.
    pub sha256: Option<String>,
    /// Whether bytes were transferred (else it was already there).
    pub transferred: bool,
}

/// Make the blob `request` names, or find it made.
pub fn fetch(
    client: &Client,
    request: &BlobRequest<'_>,
    events: Events<'_>,
) -> Result<Blob, HubError> {
    let meta = request.meta;
    if !safe_etag(&meta.etag) {
        return Err(HubError::BadResponse {
            url: request.url.clone(),
            message: format!("ETag `{}` cannot name a file", meta.etag),
        });
    }
    let blobs = request.dir.blobs();
    std::fs::create_dir_all(&blobs).map_err(|e| HubError::io("create", &blobs, e))?;
    let blob = blobs.join(&meta.etag);
    let lock_path = blobs.join(format!("{}.lock", meta.etag));
    let _lock = lock(&lock_path, request.file, events)?;
    if !request.force && present(&blob, meta.size) {
        return Ok(Blob {
            path: blob,
            sha256: None,
            transferred: false,
        });
    }
    let incomplete = blobs.join(format!("{}.incomplete", meta.etag));
    let mut part = Partial::open(&incomplete, meta)?;
    let kept = || {
        std::fs::metadata(&incomplete)
            .ok()
            .map(|m| (incomplete.clone(), m.len()))
    };
    client.retrying_keeping(
        &format!("downloading `{}`", request.file),
        events,
        || part.attempt(client, request, events),
        kept,
    )?;
    let sha256 = part.finish(request)?;
    if let Err(e) = (request.check)(&incomplete) {
        let _ = std::fs::remove_file(&incomplete);
        return Err(e);
    }
    std::fs::rename(&incomplete, &blob).map_err(|e| HubError::io("move into place", &blob, e))?;
    crate::fs::sync_dir(&blobs);
    Ok(Blob {
        path: blob,
        sha256: Some(sha256),
        transferred: true,
    })
}

/// A regular file of the expected size.
fn present(path: &Path, size: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Wait for the blob's lock, telling `events` every few seconds.
fn lock(path: &Path, file: &str, events: Events<'_>) -> Result<File, HubError> {
    let lock = File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| HubError::io("open", path, e))?;
    let started = Instant::now();
    let mut told: Option<Instant> = None;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => {
                if told.is_none_or(|t| t.elapsed() >= WAIT_NOTICE) {
                    events(&DownloadEvent::Waiting {
                        file,
                        lock: path,
                        waited: started.elapsed(),
                    });
                    told = Some(Instant::now());
                }
                std::thread::sleep(LOCK_POLL);
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(HubError::io("lock", path, e)),
        }
    }
}

/// The `.incomplete` file and the hashes of what it holds.
struct Partial {
    path: PathBuf,
    file: File,
    len: u64,
    size: u64,
    lfs: bool,
    sha256: sha2::Sha256,
    sha1: sha1::Sha1,
}

impl Partial {
    /// Open (or create) it and hash what an earlier attempt left; more than the file's
    /// size is not a prefix of it, and starts again.
    fn open(path: &Path, meta: &FileMeta) -> Result<Partial, HubError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| HubError::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| HubError::io("read", path, e))?
            .len();
        let mut part = Partial {
            path: path.to_path_buf(),
            file,
            len: 0,
            size: meta.size,
            lfs: meta.lfs,
            sha256: sha2::Sha256::new(),
            sha1: sha1::Sha1::new(),
        };
        part.restart_hashes();
        if len > meta.size {
            part.truncate()?;
            return Ok(part);
        }
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = part
                .file
                .read(&mut buf)
                .map_err(|e| HubError::io("read", path, e))?;
            if n == 0 {
                break;
            }
            part.hash(&buf[..n]);
        }
        part.file
            .seek(SeekFrom::End(0))
            .map_err(|e| HubError::io("read", path, e))?;
        if part.len > 0 {
            tracing::debug!("`{}`: {} bytes to resume from", path.display(), part.len);
        }
        Ok(part)
    }

    fn restart_hashes(&mut self) {
        self.sha256 = sha2::Sha256::new();
        self.sha1 = sha1::Sha1::new();
        // A git blob id is the sha1 of `blob <size>\0` and the content.
        if !self.lfs {
            self.sha1.update(format!("blob {}\0", self.size).as_bytes());
        }
    }

    fn hash(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if !self.lfs {
            self.sha1.update(bytes);
        }
        self.len += bytes.len() as u64;
    }

    fn truncate(&mut self) -> Result<(), HubError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| HubError::io("truncate", &self.path, e))?;
        self.len = 0;
        self.restart_hashes();
        Ok(())
    }

    /// One GET, continuing from what the file holds.
    fn attempt(
        &mut self,
        client: &Client,
        request: &BlobRequest<'_>,
        events: Events<'_>,
    ) -> Result<(), Failure> {
        if self.len == self.size {
            return Ok(());
        }
        let resume_from = self.len;
        let mut headers = Vec::new();
        if resume_from > 0 {
            headers.push(("Range", format!("bytes={resume_from}-")));
        }
        let answer = client.request(Method::Get, &request.url, &headers, Follow::All)?;
        match answer.status {
            206 if resume_from > 0 => {
                let start =
                    header(&answer.headers, "content-range").and_then(|range| range_start(&range));
                if start != Some(resume_from) {
                    self.truncate()?;
                    return Err(Failure::Transient {
                        reason: format!(
                            "asked for bytes from {resume_from}, the server sent {}",
                            header(&answer.headers, "content-range").unwrap_or_default()
                        ),
                        retry_after: None,
                    });
                }
            }
            200 => {
                if resume_from > 0 {
                    // The server ignored the range: the body is the whole file.
                    tracing::info!(
                        "the server sent all of `{}` again instead of the rest; starting over",
                        request.file
                    );
                    self.truncate()?;
                }
            }
            416 => {
                self.truncate()?;
                return Err(Failure::Transient {
                    reason: "the server refused the range asked for".into(),
                    retry_after: None,
                });
            }
            _ => return Err(client.status_failure(answer, request.target)),
        }
        events(&DownloadEvent::Started {
            file: request.file,
            size: self.size,
            resumed_from: self.len,
        });
        let mut body = answer.body.into_reader();
        let mut buf = vec![0; 256 << 10];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Failure::Transient {
                        reason: format!(
                            "the transfer stopped after {} of {} bytes: {e}",
                            self.len, self.size
                        ),
                        retry_after: None,
                    });
                }
            };
            if self.len + n as u64 > self.size {
                let _ = std::fs::remove_file(&self.path);
                return Err(Failure::Fatal(HubError::Mismatch {
                    file: request.file.to_string(),
                    algorithm: "size",
                    expected: format!("{} bytes", self.size),
                    actual: "more".into(),
                }));
            }
            self.file
                .write_all(&buf[..n])
                .map_err(|e| HubError::io("write", &self.path, e))?;
            self.hash(&buf[..n]);
            events(&DownloadEvent::Progress { bytes: n as u64 });
        }
        if self.len < self.size {
            return Err(Failure::Transient {
                reason: format!(
                    "the connection closed after {} of {} bytes",
                    self.len, self.size
                ),
                retry_after: None,
            });
        }
        Ok(())
    }

    /// Flush and verify the complete file; its sha256. A mismatch removes it (its bytes
    /// cannot be resumed from).
    fn finish(self, request: &BlobRequest<'_>) -> Result<String, HubError> {
        self.file
            .sync_all()
            .map_err(|e| HubError::io("flush", &self.path, e))?;
        let sha256 = hex(&self.sha256.finalize());
        let (algorithm, actual) = if self.lfs {
            ("sha256", sha256.clone())
        } else {
            ("git blob sha1", hex(&self.sha1.finalize()))
        };
        let expected = &request.meta.etag;
        let mismatch = if self.len != self.size {
            Some((
                "size",
                format!("{} bytes", self.size),
                format!("{} bytes", self.len),
            ))
        } else if &actual != expected {
            Some((algorithm, expected.clone(), actual))
        } else {
            None
        };
        if let Some((algorithm, expected, actual)) = mismatch {
            drop(self.file);
            let _ = std::fs::remove_file(&self.path);
            return Err(HubError::Mismatch {
                file: request.file.to_string(),
                algorithm,
                expected,
                actual,
            });
        }
        Ok(sha256)
    }
}

/// The first byte of `bytes START-END/TOTAL`.
fn range_start(content_range: &str) -> Option<u64> {
    let range = content_range.trim().strip_prefix("bytes ")?;
    range.split(['-', '/']).next()?.trim().parse().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_give_their_start() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_start("items 1-2/3"), None);
    }

    #[test]
    fn a_partial_file_is_hashed_as_a_prefix_and_a_longer_one_starts_again() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.incomplete");
        let meta = FileMeta {
            etag: "e".into(),
            size: 10,
            lfs: false,
        };
        std::fs::write(&path, b"hello").expect("write");
        let part = Partial::open(&path, &meta).expect("open");
        assert_eq!(part.len, 5);
        std::fs::write(&path, b"hello, world!").expect("write");
        let part = Partial::open(&path, &meta).expect("open");
        assert_eq!(part.len, 0);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 0);
    }

    #[test]
    fn git_blob_ids_are_computed_as_git_does() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.incomplete");
        let meta = FileMeta {
            etag: "e".into(),
            size: 6,
            lfs: false,
        };
        let mut part = Partial::open(&path, &meta).expect("open");
        part.hash(b"hello\n");
        // `echo hello | git hash-object --stdin`
        assert_eq!(
            hex(&part.sha1.finalize()),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
