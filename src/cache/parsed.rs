//! `index.json` as fxb last parsed it, kept beside it in a binary file of fxb's own
//! (`fxb-index.bin`), so that the next command reads it back instead of parsing the JSON
//! again: with a thousand cached bundles, parsing the 1.3 MB of pretty JSON was half of
//! `cache ls` and, with the `model` objects' comparison keys, most of `check` (issue 12).
//!
//! The file holds the identity of the `index.json` it was made from (device, inode, size,
//! modification and change times to the nanosecond) and is used only while `index.json`
//! still has exactly that identity: any write — fxb's or the reference's, by rename or in
//! place — changes it. As with the directory stamps, an `index.json` modified within the
//! last two seconds is never recorded (a second write inside one timestamp tick could keep
//! its identity). The file is a cache: unreadable, stale or from another fxb, it is
//! ignored and the JSON is parsed; losing it costs one parse.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::index::{FileEntry, Index, ModelObject, Repo};
use crate::fs::{Durability, write_atomically};

pub const PARSED_FILE: &str = "fxb-index.bin";
/// The file's first bytes: its name and layout version. Bump the version whenever a
/// stored type changes shape.
const MAGIC: &[u8; 12] = b"fxb-index\0\0\x01";
/// Changes closer together than this may share an mtime.
const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of `index.json` on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl Identity {
    /// The identity of the file `metadata` describes (`None` where the platform does not
    /// give all of it: then nothing is kept).
    #[cfg(unix)]
    pub(super) fn of(metadata: &std::fs::Metadata) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        let ns = |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        Some(Identity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
            changed_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub(super) fn of(_metadata: &std::fs::Metadata) -> Option<Identity> {
        None
    }

    /// Whether the file has been left alone long enough that a later write will show.
    fn settled(&self) -> bool {
        let now = SystemTime::now()
            .checked_sub(RACY)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        self.modified_ns < now && self.changed_ns < now
    }
}

/// The file's layout: every string borrowed from the file's bytes when read.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    identity: Identity,
    schema_version: Option<u64>,
    #[serde(borrow)]
    repos: Vec<StoredRepo<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredRepo<'a> {
    id: &'a str,
    repo_id: &'a str,
    base_model: Option<&'a str>,
    #[serde(borrow)]
    files: Vec<StoredFile<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredFile<'a> {
    filename: &'a str,
    rel_path: &'a str,
    revision: &'a str,
    size_bytes: u64,
    ir_version: Option<&'a str>,
    ir_revision: Option<&'a str>,
    llm_version: Option<&'a str>,
    llm_revision: Option<&'a str>,
    /// The `model` object's JSON text, as checked when `index.json` was parsed.
    model: &'a str,
    model_architecture: Option<&'a str>,
    model_key: Option<&'a str>,
    fxb_format_version: u64,
    downloaded_at: &'a str,
    last_accessed_at: &'a str,
}

/// The index kept for `identity`, if the file holds it.
pub(super) fn load(cache: &Path, identity: &Identity) -> Option<Index> {
    let bytes = std::fs::read(cache.join(PARSED_FILE)).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let (stored, rest): (Stored<'_>, &[u8]) = postcard::take_from_bytes(body).ok()?;
    if !rest.is_empty() || stored.identity != *identity {
        return None;
    }
    let owned = |text: Option<&str>| text.map(String::from);
    let repos = stored
        .repos
        .into_iter()
        .map(|repo| {
            let files = repo
                .files
                .into_iter()
                .map(|f| FileEntry {
                    filename: f.filename.into(),
                    rel_path: f.rel_path.into(),
                    revision: f.revision.into(),
                    size_bytes: f.size_bytes,
                    ir_version: owned(f.ir_version),
                    ir_revision: owned(f.ir_revision),
                    llm_version: owned(f.llm_version),
                    llm_revision: owned(f.llm_revision),
                    model: ModelObject::known(
                        f.model.into(),
                        owned(f.model_architecture),
                        owned(f.model_key),
                    ),
                    fxb_format_version: f.fxb_format_version,
                    downloaded_at: f.downloaded_at.into(),
                    last_accessed_at: f.last_accessed_at.into(),
                })
                .collect();
            let repo_data = Repo {
                repo_id: repo.repo_id.into(),
                base_model: owned(repo.base_model),
                files,
            };
            (repo.id.to_string(), repo_data)
        })
        .collect();
    Some(Index {
        schema_version: stored.schema_version,
        repos,
    })
}

/// Keep `index` — exactly what the `index.json` of `identity` holds — for the next
/// command, when that file is settled. Losing it only costs a parse, so a failure is
/// logged, not raised. The caller holds the cache's exclusive lock.
pub(super) fn save(cache: &Path, identity: &Identity, index: &Index) {
    if !identity.settled() {
        return;
    }
    let mut repos = Vec::with_capacity(index.repos.len());
    for (id, repo) in &index.repos {
        let mut files = Vec::with_capacity(repo.files.len());
        for f in &repo.files {
            // An object made in memory has no text: such an index is not kept.
            let Some(model) = f.model.text() else {
                return;
            };
            files.push(StoredFile {
                filename: &f.filename,
                rel_path: &f.rel_path,
                revision: &f.revision,
                size_bytes: f.size_bytes,
                ir_version: f.ir_version.as_deref(),
                ir_revision: f.ir_revision.as_deref(),
                llm_version: f.llm_version.as_deref(),
                llm_revision: f.llm_revision.as_deref(),
                model,
                model_architecture: f.model.architecture(),
                model_key: f.model.key(),
                fxb_format_version: f.fxb_format_version,
                downloaded_at: &f.downloaded_at,
                last_accessed_at: &f.last_accessed_at,
            });
        }
        repos.push(StoredRepo {
            id,
            repo_id: &repo.repo_id,
            base_model: repo.base_model.as_deref(),
            files,
        });
    }
    let stored = Stored {
        identity: *identity,
        schema_version: index.schema_version,
        repos,
    };
    let path = cache.join(PARSED_FILE);
    let written = postcard::to_extend(&stored, MAGIC.to_vec())
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            write_atomically(&path, &bytes, Durability::Cache).map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        tracing::debug!(
            "could not keep the parsed index in `{}`: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        let text = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/reference/cache-index.json"),
        )
        .expect("the reference's index fixture");
        super::super::index::parse(&text).expect("parses")
    }

    fn identity(modified_ns: i128) -> Identity {
        Identity {
            device: 1,
            inode: 2,
            size: 3,
            modified_ns,
            changed_ns: modified_ns,
        }
    }

    #[test]
    fn a_kept_index_reads_back_equal_and_only_for_its_identity() {
        let dir = tempfile::tempdir().expect("dir");
        let index = index();
        let old = identity(1_000_000_000);
        save(dir.path(), &old, &index);
        let back = load(dir.path(), &old).expect("kept");
        assert_eq!(back, index);
        assert_eq!(
            super::super::index::to_bytes(&back).expect("serializes"),
            super::super::index::to_bytes(&index).expect("serializes"),
            "written back byte for byte"
        );
        for (a, b) in back.files().zip(index.files()) {
            assert_eq!(a.1.model.key(), b.1.model.key());
            assert_eq!(a.1.architecture(), b.1.architecture());
        }
        let mut other = old;
        other.size += 1;
        assert!(load(dir.path(), &other).is_none(), "another index.json");
    }

    #[test]
    fn a_racy_index_is_not_kept_and_a_damaged_file_is_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as i128;
        save(dir.path(), &identity(now), &index());
        assert!(!dir.path().join(PARSED_FILE).exists());

        let old = identity(1_000_000_000);
        save(dir.path(), &old, &index());
        let path = dir.path().join(PARSED_FILE);
        let bytes = std::fs::read(&path).expect("kept");
        for damaged in [
            &bytes[..bytes.len() - 1],
            &bytes[1..],
            &[bytes.clone(), vec![0]].concat()[..],
        ] {
            std::fs::write(&path, damaged).expect("write");
            assert!(load(dir.path(), &old).is_none());
        }
    }
}
