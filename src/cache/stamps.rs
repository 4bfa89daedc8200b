//! Modification times of snapshot directories at the last reconciliation, so that the
//! next one can skip listing and stat-ing what has not changed: adding or removing a file
//! in a directory changes its mtime. With 1,000 cached bundles this turns ~6,000 system
//! calls of `cache ls` into ~1,000.
//!
//! A repo's `snapshots` directory is recorded too, with the number of entries it held,
//! when every entry was a snapshot directory of an indexed bundle: while its mtime and
//! that number are unchanged, its entries are exactly those directories (an entry added,
//! removed or renamed changes the mtime), so it need not be listed again.
//!
//! A directory whose mtime is within the last two seconds is never recorded: two changes
//! inside one timestamp tick would otherwise look like one (git's "racy" entries). The
//! file is a cache of fxb's own; losing it only costs a full scan.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fs::{Durability, write_atomically};

pub const STAMPS_FILE: &str = "fxb-scan.json";
/// Changes closer together than this may share an mtime.
const RACY: Duration = Duration::from_secs(2);

/// Hash maps, not sorted ones: the file is read on every command and written seldom, and
/// a thousand ordered string insertions showed in `cache ls`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Recorded {
    #[serde(default)]
    dirs: HashMap<String, u64, RandomState>,
    /// `snapshots` directories whose entries are the indexed snapshot directories: how
    /// many entries each held (its mtime is in `dirs`).
    #[serde(default)]
    listings: HashMap<String, usize, RandomState>,
}

/// Directory stamps for one reconciliation.
#[derive(Default)]
pub struct Stamps {
    recorded: Recorded,
    seen: HashMap<String, Option<u64>, RandomState>,
    /// `snapshots` directories listed this time: how many entries each held when they
    /// were all indexed snapshot directories, `None` when not.
    listed: HashMap<String, Option<usize>, RandomState>,
    /// Parent directories opened once, so each snapshot directory is stat-ed relative to
    /// its parent (one path component to look up, not five: the lookups were most of
    /// the cost of a thousand stats). One per repo: a list searched from the newest.
    parents: Vec<(String, Option<std::fs::File>)>,
}

/// Nanoseconds since the epoch (a `u64` lasts until 2554, and parses faster than a `u128`).
fn nanos(time: SystemTime) -> Option<u64> {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
}

impl Stamps {
    pub fn load(cache: &Path) -> Stamps {
        Stamps {
            recorded: std::fs::read_to_string(cache.join(STAMPS_FILE))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            seen: HashMap::default(),
            listed: HashMap::default(),
            parents: Vec::new(),
        }
    }

    /// A directory's mtime (`rel` to the cache), once per reconciliation.
    fn mtime(&mut self, cache: &Path, rel: &str) -> Option<u64> {
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
    fn mtime_at_parent(&mut self, cache: &Path, rel: &str) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let (parent, name) = rel.rsplit_once('/')?;
        let known = self.parents.iter().rposition(|(name, _)| name == parent);
        let at = known.unwrap_or_else(|| {
            let opened = std::fs::File::open(cache.join(parent)).ok();
            self.parents.push((parent.to_string(), opened));
            self.parents.len() - 1
        });
        let dir = self.parents.get(at)?.1.as_ref()?;
        // The name NUL-terminated on the stack: a snapshot directory's name is short, and
        // a thousand small allocations showed in `cache ls`.
        let mut c_name = [0u8; 256];
        if name.len() >= c_name.len() || name.as_bytes().contains(&0) {
            return None;
        }
        c_name[..name.len()].copy_from_slice(name.as_bytes());
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid descriptor, a NUL-terminated name, and room for the result.
        let done = unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                c_name.as_ptr().cast(),
                stat.as_mut_ptr(),
                0,
            )
        };
        if done != 0 {
            return None;
        }
        // SAFETY: fstatat succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        let seconds = u64::try_from(stat.st_mtime).ok()?;
        let nanos = u64::try_from(stat.st_mtime_nsec).ok()?;
        seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
    }

    #[cfg(not(target_os = "linux"))]
    fn mtime_at_parent(&mut self, _cache: &Path, _rel: &str) -> Option<u64> {
        None
    }

    /// Whether the directory's listing is the one recorded last time.
    pub fn unchanged(&mut self, cache: &Path, rel: &str) -> bool {
        let now = self.mtime(cache, rel);
        now.is_some() && self.recorded.dirs.get(rel) == now.as_ref()
    }

    /// What [`Stamps::unchanged`] said of `rel` this time (`false` if it was not asked).
    pub fn seen_unchanged(&self, rel: &str) -> bool {
        matches!(self.seen.get(rel), Some(Some(m)) if self.recorded.dirs.get(rel) == Some(m))
    }

    /// Whether the `snapshots` directory `rel` still holds exactly the `indexed` snapshot
    /// directories of indexed bundles found under it (they are a subset of its entries,
    /// so an equal count and an unchanged mtime make them all of them).
    pub fn listing_unchanged(&mut self, cache: &Path, rel: &str, indexed: usize) -> bool {
        self.recorded.listings.get(rel) == Some(&indexed) && self.unchanged(cache, rel)
    }

    /// `rel` was listed: it held `entries` entries, each an indexed snapshot directory, or
    /// (`None`) some entry was not one.
    pub fn listed(&mut self, cache: &Path, rel: &str, entries: Option<usize>) {
        self.mtime(cache, rel);
        self.listed.insert(rel.to_string(), entries);
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
        let settled = |mtime: &Option<u64>| mtime.filter(|m| *m < cutoff);
        // A listing stands for its directory's mtime, so it is kept only with a settled one
        // (one trusted this time without listing is kept as it was).
        let listing = |rel: &String| {
            self.seen
                .get(rel)
                .and_then(settled)
                .and_then(|_| match self.listed.get(rel) {
                    Some(listed) => listed.as_ref(),
                    None => self.kept_listing(rel),
                })
        };
        // Compared in place: building the record to compare it cloned every path.
        let recorded = &self.recorded;
        let kept = self.seen.values().filter(|m| settled(m).is_some()).count();
        let same = kept == recorded.dirs.len()
            && self.seen.iter().all(|(rel, mtime)| {
                settled(mtime).is_none_or(|m| recorded.dirs.get(rel) == Some(&m))
                    && listing(rel) == recorded.listings.get(rel)
            })
            && recorded
                .listings
                .keys()
                .all(|rel| self.seen.contains_key(rel));
        if same {
            return;
        }
        let next = Recorded {
            dirs: self
                .seen
                .iter()
                .filter_map(|(rel, mtime)| settled(mtime).map(|m| (rel.clone(), m)))
                .collect(),
            listings: self
                .seen
                .keys()
                .filter_map(|rel| listing(rel).map(|n| (rel.clone(), *n)))
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

impl Stamps {
    /// The recorded listing of `rel`, still standing: trusted this time, not re-listed.
    fn kept_listing(&self, rel: &str) -> Option<&usize> {
        let mtime = self.seen.get(rel).copied().flatten()?;
        (self.recorded.dirs.get(rel) == Some(&mtime))
            .then(|| self.recorded.listings.get(rel))
            .flatten()
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
