//! Modification times of snapshot directories at the last reconciliation, so that the
//! next one can skip listing and stat-ing what has not changed: adding or removing a file
//! in a directory changes its mtime. With 1,000 cached bundles this turns ~6,000 system
//! calls of `cache ls` into ~1,000.
//!
//! A directory whose mtime is within the last two seconds is never recorded: two changes
//! inside one timestamp tick would otherwise look like one (git's "racy" entries). The
//! file is a cache of fxb's own; losing it only costs a full scan.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fs::{Durability, write_atomically};

pub const STAMPS_FILE: &str = "fxb-scan.json";
/// Changes closer together than this may share an mtime.
const RACY: Duration = Duration::from_secs(2);

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Recorded {
    #[serde(default)]
    dirs: BTreeMap<String, u128>,
}

/// Directory stamps for one reconciliation.
pub struct Stamps {
    recorded: Recorded,
    seen: HashMap<String, Option<u128>, RandomState>,
    /// Parent directories opened once, so each snapshot directory is stat-ed relative to
    /// its parent (one path component to look up, not five: the lookups were most of
    /// the cost of a thousand stats).
    parents: HashMap<String, Option<std::fs::File>, RandomState>,
}

fn nanos(time: SystemTime) -> Option<u128> {
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_nanos())
}

impl Stamps {
    pub fn load(cache: &Path) -> Stamps {
        Stamps {
            recorded: std::fs::read(cache.join(STAMPS_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
            seen: HashMap::default(),
            parents: HashMap::default(),
        }
    }

    /// A directory's mtime (`rel` to the cache), once per reconciliation.
    fn mtime(&mut self, cache: &Path, rel: &str) -> Option<u128> {
        if let Some(seen) = self.seen.get(rel) {
            return *seen;
        }
        let mtime = self.mtime_at_parent(cache, rel).or_else(|| {
            std::fs::metadata(cache.join(rel))
                .and_then(|m| m.modified())
                .ok()
                .and_then(nanos)
        });
        self.seen.insert(rel.to_string(), mtime);
        mtime
    }

    /// `fstatat(parent, name)`, with `parent` opened once per reconciliation; `None` when
    /// either cannot be (the caller then stats the whole path).
    #[cfg(target_os = "linux")]
    fn mtime_at_parent(&mut self, cache: &Path, rel: &str) -> Option<u128> {
        use std::os::fd::AsRawFd;
        let (parent, name) = rel.rsplit_once('/')?;
        let dir = self
            .parents
            .entry(parent.to_string())
            .or_insert_with(|| std::fs::File::open(cache.join(parent)).ok())
            .as_ref()?;
        let name = std::ffi::CString::new(name).ok()?;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid descriptor, a NUL-terminated name, and room for the result.
        let done = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), stat.as_mut_ptr(), 0) };
        if done != 0 {
            return None;
        }
        // SAFETY: fstatat succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        let seconds = u128::try_from(stat.st_mtime).ok()?;
        let nanos = u128::try_from(stat.st_mtime_nsec).ok()?;
        Some(seconds * 1_000_000_000 + nanos)
    }

    #[cfg(not(target_os = "linux"))]
    fn mtime_at_parent(&mut self, _cache: &Path, _rel: &str) -> Option<u128> {
        None
    }

    /// Whether the directory's listing is the one recorded last time.
    pub fn unchanged(&mut self, cache: &Path, rel: &str) -> bool {
        let now = self.mtime(cache, rel);
        now.is_some() && self.recorded.dirs.get(rel) == now.as_ref()
    }

    /// Record what was seen (minus racy stamps), when it differs from the file. Losing
    /// the record only costs a full scan next time, so a failure is logged, not raised.
    pub(super) fn save(&self, lock: &super::lock::Locked, cache: &Path) {
        if !lock.exclusive() {
            return; // a read-only cache: the next writable run records them
        }
        let cutoff = SystemTime::now()
            .checked_sub(RACY)
            .and_then(nanos)
            .unwrap_or(0);
        let settled = |mtime: &Option<u128>| mtime.filter(|m| *m < cutoff);
        // Compared in place: building the record to compare it cloned every path.
        let recorded = &self.recorded.dirs;
        let kept = self.seen.values().filter(|m| settled(m).is_some()).count();
        let same = kept == recorded.len()
            && self
                .seen
                .iter()
                .all(|(rel, mtime)| settled(mtime).is_none_or(|m| recorded.get(rel) == Some(&m)));
        if same {
            return;
        }
        let next = Recorded {
            dirs: self
                .seen
                .iter()
                .filter_map(|(rel, mtime)| settled(mtime).map(|m| (rel.clone(), m)))
                .collect(),
        };
        let path = cache.join(STAMPS_FILE);
        let written = serde_json::to_vec(&next)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                write_atomically(&path, &bytes, Durability::Cache).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            tracing::debug!(
                "could not record directory stamps in `{}`: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backdate(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::open(path)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
    }

    fn save(stamps: &Stamps, cache: &Path) {
        let cache_handle = super::super::Cache::open(cache).expect("cache");
        let lock = cache_handle.lock().expect("lock");
        stamps.save(&lock, cache);
    }

    #[test]
    fn a_directory_is_trusted_only_until_it_changes_and_never_while_racy() {
        let cache = tempfile::tempdir().expect("dir");
        let rel = "models--local/snapshots/u";
        let dir = cache.path().join(rel);
        std::fs::create_dir_all(&dir).expect("dir");
        // Just modified: seen, but not recorded (racy).
        let mut stamps = Stamps::load(cache.path());
        assert!(!stamps.unchanged(cache.path(), rel));
        save(&stamps, cache.path());
        assert!(!Stamps::load(cache.path()).unchanged(cache.path(), rel));
        // Old enough: recorded, then trusted.
        backdate(&dir);
        let mut stamps = Stamps::load(cache.path());
        assert!(!stamps.unchanged(cache.path(), rel));
        save(&stamps, cache.path());
        assert!(Stamps::load(cache.path()).unchanged(cache.path(), rel));
        // A file appears: the directory changed.
        std::fs::write(dir.join("x.fxb"), b"x").expect("write");
        assert!(!Stamps::load(cache.path()).unchanged(cache.path(), rel));
    }
}
