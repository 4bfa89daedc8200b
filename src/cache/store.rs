//! A cache directory, and what fxb knows of the bundles in it. The verbs live beside
//! this file: [`super::reconcile`] (list), [`super::add`], [`super::remove`],
//! [`super::verify`]; the lock and the writes it guards in [`super::lock`].

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::LOCK_FILE;
use super::error::CacheError;
use super::index::FileEntry;
use super::sidecar::{Compiler, Sidecar, stamp};
use crate::rules::RuleId;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    /// As given: `cache ls -q` prints paths under it verbatim.
    dir: PathBuf,
    /// The directory cannot be written (a read-only mount, another user's cache): it is
    /// read as it is, under a shared lock where one can be taken, and nothing is recorded.
    read_only: bool,
}

/// A cached bundle, as `cache ls` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedFile {
    pub repo_id: String,
    pub entry: FileEntry,
    /// `<cache dir as given>/<rel_path>`.
    pub path: PathBuf,
    /// A snapshot symlink whose blob is gone.
    pub missing: bool,
}

/// fxb's own facts about cached bundles ([`Cache::recorded`]), by `rel_path`.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Compilers of bundles not compiled by the vendor compiler (the shared index has
    /// null FuriosaIR fields for them).
    pub compilers: HashMap<String, Compiler>,
    /// The fingerprint rule each bundle was made with.
    pub rules: HashMap<String, RuleId>,
}

impl Cache {
    /// The cache at `dir`, created (with its lock file) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let dir = dir.into();
        let lock = dir.join(LOCK_FILE);
        let writable = std::fs::create_dir_all(&dir)
            .map_err(|e| CacheError::io("create", &dir, e))
            .and_then(|()| {
                File::options()
                    .create(true)
                    .append(true)
                    .open(&lock)
                    .map_err(|e| CacheError::io("create", &lock, e))
            });
        match writable {
            Ok(_) => Ok(Cache {
                dir,
                read_only: false,
            }),
            // An existing cache fxb may not write is still one to read (issue 13).
            Err(CacheError::Io { source, .. })
                if dir.is_dir()
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::PermissionDenied
                            | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
            {
                Ok(Cache {
                    dir,
                    read_only: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the cache is read as it is, recording nothing ([`Cache::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Refuse a change to a read-only cache.
    pub(super) fn writable(&self) -> Result<(), CacheError> {
        if self.read_only {
            return Err(CacheError::ReadOnly(self.dir.clone()));
        }
        Ok(())
    }

    /// What fxb recorded in its sidecar about the bundles it added (only where the file
    /// is still the one recorded): one read of the sidecar and one stat per entry.
    pub fn recorded(&self) -> Recorded {
        let mut recorded = Recorded::default();
        for (rel, entry) in Sidecar::load_facts(&self.dir) {
            if entry.compiler.is_none() && entry.rule.is_none() {
                continue;
            }
            if stamp(&self.dir.join(&rel)).map(|(size, _)| size) != Some(entry.size) {
                continue;
            }
            if let Some(compiler) = entry.compiler {
                recorded.compilers.insert(rel.clone(), compiler);
            }
            if let Some(rule) = entry.rule {
                recorded.rules.insert(rel, rule);
            }
        }
        recorded
    }
}

/// The time stamps the index and the sidecar record.
pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}
