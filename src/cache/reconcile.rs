//! The index, reconciled with the disk before every use (FORMAT.md §4.4): entries whose
//! file is gone are dropped (with a warning), bundles on disk the index lacks are
//! indexed, a dangling snapshot symlink shows as missing, and an index that does not
//! parse is set aside as `index.json.corrupt-N` and rebuilt from the bundles.
//!
//! Snapshot directories unchanged since the last reconciliation (their mtimes, in
//! [`super::stamps`]) are neither listed nor stat-ed again; a directory changes its
//! mtime whenever a file in it is added, removed or renamed over, so a bundle removed,
//! added or replaced behind fxb's back is still seen.

use std::collections::HashSet;

use foldhash::fast::RandomState;
use std::path::{Path, PathBuf};

use super::error::CacheError;
use super::index::{self, FileEntry, INDEX_FILE, Index};
use super::lock::Locked;
use super::stamps::Stamps;
use super::store::{Cache, CachedFile, now};
use crate::bundle::Bundle;
use crate::fs::safe_rel_path;

/// Where `fxb add` files bundles (and the reference's `add` too).
pub(super) const LOCAL_PREFIX: &str = "models--local/";

/// The reconciled index, and whether it differs from the file.
pub(super) struct State {
    pub index: Index,
    pub write: bool,
    /// Entries known present as regular files without a stat (their directory is as it
    /// was at the last reconciliation).
    pub trusted: HashSet<String, RandomState>,
}

/// The snapshot directory of a `rel_path`.
pub(super) fn parent_rel(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

impl Cache {
    /// Every cached bundle, in `cache ls` order: repo id, then file name, byte-wise.
    pub fn list(&self) -> Result<Vec<CachedFile>, CacheError> {
        let lock = self.lock()?;
        let state = self.state(&lock)?;
        // A read-only cache is answered from the reconciled view, unwritten.
        if state.write && lock.exclusive() {
            self.write_index(&lock, &state.index)?;
        }
        Ok(self.files_of(state.index, &state.trusted))
    }

    /// The `base_model` the index records for `repo_id` (from its model card, when it was
    /// downloaded): what a bundle-only repository's model is read as.
    pub fn base_model(&self, repo_id: &str) -> Result<Option<String>, CacheError> {
        let lock = self.lock()?;
        let state = self.state(&lock)?;
        Ok(state
            .index
            .repos
            .get(repo_id)
            .and_then(|repo| repo.base_model.clone()))
    }

    /// Read `index.json` and reconcile it with the disk.
    pub(super) fn state(&self, lock: &Locked) -> Result<State, CacheError> {
        let path = self.dir().join(INDEX_FILE);
        let (mut index, mut write) = match std::fs::read(&path) {
            Ok(bytes) => match index::parse(&bytes) {
                Ok(index) => (index, false),
                Err(e) => {
                    let kept = self.set_aside(&path)?;
                    tracing::warn!(
                        "`{}` does not parse ({e}); moved it to `{}` and rebuilt the index from the bundles on disk",
                        path.display(),
                        kept.display()
                    );
                    // As the reference: answer from the scan now, write on the next change.
                    let mut index = Index::default();
                    let mut stamps = Stamps::load(self.dir());
                    self.scan(&mut index, &mut stamps);
                    return Ok(State {
                        index,
                        write: false,
                        trusted: Default::default(),
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Index::default(), false),
            Err(e) => return Err(CacheError::io("read", &path, e)),
        };
        let mut stamps = Stamps::load(self.dir());
        let mut trusted = HashSet::default();
        for (repo_id, repo) in index.repos.iter_mut() {
            repo.files.retain(|f| {
                let named_right = f.rel_path.rsplit('/').next() == Some(f.filename.as_str());
                let safe = safe_rel_path(&f.rel_path);
                // fxb and the reference only put regular files under models--local.
                let unchanged = safe
                    && f.rel_path.starts_with(LOCAL_PREFIX)
                    && stamps.unchanged(self.dir(), parent_rel(&f.rel_path));
                let present =
                    unchanged || std::fs::symlink_metadata(self.dir().join(&f.rel_path)).is_ok();
                if unchanged {
                    trusted.insert(f.rel_path.clone());
                }
                let keep = named_right && present && safe;
                if !keep {
                    tracing::warn!(
                        "dropped {repo_id}/{} from the cache index: {}",
                        f.filename,
                        if present {
                            "its entry does not match its path"
                        } else {
                            "its file is gone"
                        }
                    );
                    write = true;
                }
                keep
            });
        }
        let before = index.repos.len();
        index.repos.retain(|_, repo| !repo.files.is_empty());
        write |= index.repos.len() != before;
        write |= self.scan(&mut index, &mut stamps);
        stamps.save(lock, self.dir());
        Ok(State {
            index,
            write,
            trusted,
        })
    }

    /// `index.json.corrupt-N`, the first free N.
    fn set_aside(&self, path: &Path) -> Result<PathBuf, CacheError> {
        let mut n = 0;
        loop {
            let target = self.dir().join(format!("{INDEX_FILE}.corrupt-{n}"));
            if std::fs::symlink_metadata(&target).is_err() {
                std::fs::rename(path, &target)
                    .map_err(|e| CacheError::io("move aside", path, e))?;
                return Ok(target);
            }
            n += 1;
        }
    }

    /// Index every `models--*/snapshots/<rev>/*.fxb` the index lacks. Returns whether it
    /// added any. An unreadable bundle is left out with a warning.
    fn scan(&self, index: &mut Index, stamps: &mut Stamps) -> bool {
        let known: HashSet<&str, RandomState> =
            index.files().map(|(_, f)| f.rel_path.as_str()).collect();
        let indexed_dirs: HashSet<&str, RandomState> =
            known.iter().map(|r| parent_rel(r)).collect();
        let mut found = Vec::new();
        for repo_dir in read_dir_sorted(self.dir()) {
            let Some(repo_dir_name) = file_name(&repo_dir) else {
                continue;
            };
            let Some(repo_name) = repo_dir_name.strip_prefix("models--") else {
                continue;
            };
            let repo_id = repo_name.replace("--", "/");
            for snapshot in read_dir_sorted(&repo_dir.join("snapshots")) {
                let Some(revision) = file_name(&snapshot) else {
                    continue;
                };
                let rel_dir = format!("{repo_dir_name}/snapshots/{revision}");
                // Unchanged since the last scan, and indexed then: nothing new inside.
                if indexed_dirs.contains(rel_dir.as_str()) && stamps.unchanged(self.dir(), &rel_dir)
                {
                    continue;
                }
                for file in read_dir_sorted(&snapshot) {
                    let Some(name) = file_name(&file) else {
                        continue;
                    };
                    if !name.ends_with(".fxb") || name.starts_with('.') {
                        continue;
                    }
                    let rel = format!("{rel_dir}/{name}");
                    if !known.contains(rel.as_str()) {
                        found.push((repo_id.clone(), revision.clone(), rel, file));
                    }
                }
            }
        }
        drop(indexed_dirs);
        drop(known);
        let now = now();
        let mut added = false;
        for (repo_id, revision, rel, file) in found {
            match Bundle::open(&file) {
                Ok(bundle) => {
                    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    index.upsert(
                        &repo_id,
                        FileEntry::new(bundle.manifest(), &rel, &revision, size, &now),
                    );
                    added = true;
                }
                Err(e) => tracing::warn!("left unreadable cached bundle out of the index: {e}"),
            }
        }
        added
    }

    pub(super) fn files_of(
        &self,
        index: Index,
        trusted: &HashSet<String, RandomState>,
    ) -> Vec<CachedFile> {
        let mut files: Vec<CachedFile> = index
            .repos
            .into_iter()
            .flat_map(|(repo, r)| r.files.into_iter().map(move |entry| (repo.clone(), entry)))
            .map(|(repo_id, entry)| {
                let path = self.dir().join(&entry.rel_path);
                CachedFile {
                    repo_id,
                    missing: !trusted.contains(&entry.rel_path) && !path.exists(),
                    path,
                    entry,
                }
            })
            .collect();
        files.sort_by(|a, b| {
            (a.repo_id.as_bytes(), a.entry.filename.as_bytes())
                .cmp(&(b.repo_id.as_bytes(), b.entry.filename.as_bytes()))
        });
        files
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The entries of `dir`, by file name. (Sorted by name bytes, not as paths: comparing
/// a thousand paths component by component cost more than reading the directory.)
fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| (e.file_name(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    entries.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    entries.into_iter().map(|(_, path)| path).collect()
}
