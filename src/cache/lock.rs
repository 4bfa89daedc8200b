//! The cache's one lock, and the writes it guards.
//!
//! Lock order: `index.json.lock` is the one lock of the cache as a whole. Held exclusively
//! (`flock(LOCK_EX)`, as the reference takes it), it guards `index.json`, fxb's sidecar
//! (`fxb-sidecar.json`) and its scan stamps (`fxb-scan.json`): every read-modify-write of
//! any of them happens under it, and each is replaced by [`crate::fs::write_atomically`],
//! so readers without the lock see the old file or the new one. Bundles are copied and
//! hashed *before* the lock is taken (gigabytes must not block other processes) and only
//! renamed into place under it. The compiled-plugin and compiler caches take no lock
//! (their entries are content-keyed and written whole), so no second lock is ever held
//! while waiting for this one. The lock file is never deleted.
//!
//! Downloads also lock each blob they make (`models--*/blobs/<etag>.lock`,
//! [`crate::hub::blob`]), for as long as it is transferred and verified: a blob lock is
//! released before this one is taken, and never waited for while this one is held.

use std::fs::File;

use super::LOCK_FILE;
use super::error::CacheError;
use super::index::{self, INDEX_FILE, Index};
use super::sidecar::{SIDECAR_FILE, Sidecar};
use super::store::Cache;
use crate::fs::{Durability, write_atomically};

/// The lock on `index.json.lock`, held until dropped. Functions that need the lock take
/// `&Locked` as proof. On a read-only cache it is shared (or, where the lock file cannot
/// even be opened, absent) and nothing may be written under it.
pub(super) struct Locked {
    _file: Option<File>,
    exclusive: bool,
}

impl Locked {
    /// Whether writes may happen under this lock.
    pub(super) fn exclusive(&self) -> bool {
        self.exclusive
    }
}

impl Cache {
    /// Wait for the exclusive lock.
    pub(super) fn lock(&self) -> Result<Locked, CacheError> {
        let path = self.dir().join(LOCK_FILE);
        if self.is_read_only() {
            // Readers of a cache they cannot write wait only for its writers.
            let file = File::open(&path).ok();
            if let Some(file) = &file {
                file.lock_shared()
                    .map_err(|e| CacheError::io("lock", &path, e))?;
            }
            return Ok(Locked {
                _file: file,
                exclusive: false,
            });
        }
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| CacheError::io("open", &path, e))?;
        file.lock().map_err(|e| CacheError::io("lock", &path, e))?;
        Ok(Locked {
            _file: Some(file),
            exclusive: true,
        })
    }

    pub(super) fn write_index(&self, lock: &Locked, index: &Index) -> Result<(), CacheError> {
        self.write_json(lock, INDEX_FILE, index::to_bytes(index))
    }

    pub(super) fn write_sidecar(&self, lock: &Locked, sidecar: &Sidecar) -> Result<(), CacheError> {
        self.write_json(lock, SIDECAR_FILE, serde_json::to_vec_pretty(sidecar))
    }

    /// Replace `name` with serialized bytes; a serialization failure leaves the file as
    /// it was (never an empty file over the one the reference shares).
    fn write_json(
        &self,
        lock: &Locked,
        name: &str,
        bytes: serde_json::Result<Vec<u8>>,
    ) -> Result<(), CacheError> {
        let path = self.dir().join(name);
        if !lock.exclusive() {
            return Err(CacheError::ReadOnly(self.dir().to_path_buf()));
        }
        let bytes = bytes.map_err(|source| CacheError::Serialize {
            path: path.clone(),
            source,
        })?;
        Ok(write_atomically(&path, &bytes, Durability::Durable)?)
    }
}
