//! Bundles a download put into the cache, indexed as the reference indexes downloads
//! (FORMAT.md §4.3, §5.6): under the repository's id, `revision` = the commit, the
//! versions and `model` from the bundle's manifest, the repository's `base_model` from its
//! model card. The files themselves are made by [`crate::hub`] (blobs, snapshot links);
//! only the last step, making them visible, happens here under the index lock, so a
//! concurrent `cache rm` (which removes empty snapshot directories under that lock) never
//! sees a link the index does not know, nor removes a directory a link is being made in.

use super::error::CacheError;
use super::index::FileEntry;
use super::sidecar::{Sidecar, SidecarEntry, stamp};
use super::store::{Cache, now};
use crate::bundle::Manifest;
use crate::rules::RuleId;

/// A bundle placed in a repository's snapshot, to be indexed.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `models--org--name/snapshots/<commit>/<file>`.
    pub rel_path: String,
    /// The commit.
    pub revision: String,
    pub size: u64,
    pub manifest: Manifest,
    /// Its sha256, when it was hashed (recorded for `cache verify`).
    pub sha256: Option<String>,
    /// Transferred now: its entry is replaced (else an entry already there is kept, with
    /// its time stamps).
    pub replace: bool,
}

impl Cache {
    /// Under the lock: `place` makes the files visible (snapshot links, refs) and returns
    /// the bundles it placed; those the index lacks, or that were transferred now, are
    /// indexed, the repository's `base_model` set when known, and the index written once
    /// (only if that changed it).
    pub fn record_fetched(
        &self,
        repo_id: &str,
        base_model: Option<&str>,
        place: impl FnOnce() -> Vec<Fetched>,
    ) -> Result<(), CacheError> {
        self.writable()?;
        let lock = self.lock()?;
        let state = self.state(&lock)?;
        let mut index = state.index;
        let mut write = state.write;
        let placed = place();
        let mut sidecar = Sidecar::load(self.dir());
        let mut hashed = false;
        let now = now();
        for fetched in placed {
            let known = index
                .repos
                .get(repo_id)
                .is_some_and(|r| r.files.iter().any(|f| f.rel_path == fetched.rel_path));
            if known && !fetched.replace {
                continue;
            }
            index.upsert(
                repo_id,
                FileEntry::new(
                    &fetched.manifest,
                    &fetched.rel_path,
                    &fetched.revision,
                    fetched.size,
                    &now,
                ),
            );
            write = true;
            let (Some(sha256), Some((size, mtime_ns))) =
                (fetched.sha256, stamp(&self.dir().join(&fetched.rel_path)))
            else {
                continue;
            };
            sidecar.entries.insert(
                fetched.rel_path,
                SidecarEntry {
                    size,
                    mtime_ns,
                    sha256,
                    hashed_at: now.clone(),
                    rule: RuleId::from_manifest_extras(fetched.manifest.extras.as_ref()),
                    compiler: super::add::compiler_of(&fetched.manifest),
                },
            );
            hashed = true;
        }
        if let (Some(base), Some(repo)) = (base_model, index.repos.get_mut(repo_id))
            && repo.base_model.as_deref() != Some(base)
        {
            repo.base_model = Some(base.to_string());
            write = true;
        }
        if write {
            self.write_index(&lock, &index)?;
        }
        if hashed {
            self.write_sidecar(&lock, &sidecar)?;
        }
        Ok(())
    }
}
