//! The index, reconciled with the disk before every use (FORMAT.md §4.4): entries whose
//! file is gone are dropped (with a warning), bundles on disk the index lacks are
//! indexed, a dangling snapshot symlink shows as missing, and an index that does not
//! parse is set aside as `index.json.corrupt-N` and rebuilt from the bundles.
//!
//! Snapshot directories unchanged since the last reconciliation (their mtimes, in
//! [`super::stamps`]) are neither listed nor stat-ed again; a directory changes its
//! mtime whenever a file in it is added, removed or renamed over, so a bundle removed,
//! added or replaced behind fxb's back is still seen.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;
use std::path::{Path, PathBuf};

use super::error::CacheError;
use super::index::{self, FileEntry, INDEX_FILE, Index};
use super::lock::Locked;
use super::parsed::{self, Identity};
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
    /// The directory stamps seen: which entries are known present as regular files
    /// without a stat (their directory is as it was at the last reconciliation).
    stamps: Stamps,
    /// The identity of the `index.json` the index is, unchanged, when fxb has no parsed
    /// copy of it yet: a reader keeps one ([`State::keep`]); a writer is about to
    /// replace the file anyway.
    keep: Option<Identity>,
}

impl State {
    /// Keep the index's parsed copy for the next command, if it is worth keeping.
    fn keep(&self, cache: &Path) {
        if let Some(identity) = &self.keep {
            parsed::save(cache, identity, &self.index);
        }
    }
}

/// Whether the indexed `rel` is known to be a regular file without a stat: under
/// `models--local` (fxb and the reference put only regular files there), in a directory
/// as it was. (Unsafe paths never reach here: reconciling dropped them.)
fn known_regular(stamps: &Stamps, rel: &str) -> bool {
    rel.starts_with(LOCAL_PREFIX) && stamps.seen_unchanged(parent_rel(rel))
}

/// What reading `index.json` found.
enum ReadIndex {
    Missing,
    /// From fxb's parsed copy.
    Kept(Index),
    /// Parsed from the JSON, which has this identity.
    Parsed(Index, Option<Identity>),
    Corrupt(index::IndexParseError),
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
        state.keep(self.dir());
        Ok(self.files_of(state))
    }

    /// The `base_model` the index records for `repo_id` (from its model card, when it was
    /// downloaded): what a bundle-only repository's model is read as.
    pub fn base_model(&self, repo_id: &str) -> Result<Option<String>, CacheError> {
        let lock = self.lock()?;
        let state = self.state(&lock)?;
        state.keep(self.dir());
        Ok(state
            .index
            .repos
            .get(repo_id)
            .and_then(|repo| repo.base_model.clone()))
    }

    /// Read `index.json` and reconcile it with the disk.
    pub(super) fn state(&self, lock: &Locked) -> Result<State, CacheError> {
        let path = self.dir().join(INDEX_FILE);
        let (mut index, mut write, identity) = match self.read_index(&path)? {
            // Kept already: nothing to keep again.
            ReadIndex::Kept(index) => (index, false, None),
            ReadIndex::Parsed(index, identity) => (index, false, identity),
            ReadIndex::Missing => (Index::default(), false, None),
            ReadIndex::Corrupt(e) => {
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
                    stamps: Stamps::default(),
                    keep: None,
                });
            }
        };
        let mut stamps = Stamps::load(self.dir());
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
        // What the file holds, reconciled unchanged: worth keeping for the next command.
        let keep = identity.filter(|_| !write && lock.exclusive());
        Ok(State {
            index,
            write,
            stamps,
            keep,
        })
    }

    /// `index.json` and its identity, from fxb's parsed copy while that is of this very
    /// file, else parsed.
    fn read_index(&self, path: &Path) -> Result<ReadIndex, CacheError> {
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReadIndex::Missing),
            Err(e) => return Err(CacheError::io("read", path, e)),
        };
        let metadata = file
            .metadata()
            .map_err(|e| CacheError::io("read", path, e))?;
        let identity = Identity::of(&metadata);
        if let Some(index) = identity.and_then(|id| parsed::load(self.dir(), &id)) {
            return Ok(ReadIndex::Kept(index));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .map_err(|e| CacheError::io("read", path, e))?;
        Ok(match index::parse(&bytes) {
            Ok(index) => ReadIndex::Parsed(index, identity),
            Err(e) => ReadIndex::Corrupt(e),
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
        // The indexed snapshot directories' names, by their `snapshots` directory.
        let mut indexed: HashMap<&str, Vec<&str>, RandomState> = HashMap::default();
        for (_, file) in index.files() {
            if let Some((snapshots, revision)) = parent_rel(&file.rel_path).rsplit_once('/') {
                indexed.entry(snapshots).or_default().push(revision);
            }
        }
        for revisions in indexed.values_mut() {
            revisions.sort_unstable();
            revisions.dedup();
        }
        // Needed only where a directory is listed: most reconciliations list none.
        let known = std::cell::OnceCell::<HashSet<&str, RandomState>>::new();
        let mut found = Vec::new();
        let mut rel_dir = String::new();
        for repo_dir in read_dir_sorted(self.dir()) {
            let Some(repo_dir_name) = file_name(&repo_dir) else {
                continue;
            };
            let Some(repo_name) = repo_dir_name.strip_prefix("models--") else {
                continue;
            };
            let repo_id = repo_name.replace("--", "/");
            let snapshots_rel = format!("{repo_dir_name}/snapshots");
            let here = indexed
                .get(snapshots_rel.as_str())
                .map_or(&[][..], Vec::as_slice);
            // Unchanged and holding only indexed snapshots: those are its entries.
            let revisions: Vec<Cow<'_, str>> = if !here.is_empty()
                && stamps.listing_unchanged(self.dir(), &snapshots_rel, here.len())
            {
                here.iter().map(|r| Cow::Borrowed(*r)).collect()
            } else {
                let listed = read_dir_names_sorted(&repo_dir.join("snapshots"));
                let all_indexed = listed
                    .iter()
                    .all(|name| here.binary_search(&name.as_str()).is_ok());
                stamps.listed(
                    self.dir(),
                    &snapshots_rel,
                    all_indexed.then_some(listed.len()),
                );
                listed.into_iter().map(Cow::Owned).collect()
            };
            for revision in revisions {
                rel_dir.clear();
                rel_dir.push_str(&snapshots_rel);
                rel_dir.push('/');
                rel_dir.push_str(&revision);
                // Unchanged since the last scan, and indexed then: nothing new inside.
                if here.binary_search(&revision.as_ref()).is_ok()
                    && stamps.unchanged(self.dir(), &rel_dir)
                {
                    continue;
                }
                let known =
                    known.get_or_init(|| index.files().map(|(_, f)| f.rel_path.as_str()).collect());
                for file in read_dir_sorted(&self.dir().join(&rel_dir)) {
                    let Some(name) = file_name(&file) else {
                        continue;
                    };
                    if !name.ends_with(".fxb") || name.starts_with('.') {
                        continue;
                    }
                    let rel = format!("{rel_dir}/{name}");
                    if !known.contains(rel.as_str()) {
                        found.push((repo_id.clone(), revision.to_string(), rel, file));
                    }
                }
            }
        }
        drop(indexed);
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

    fn files_of(&self, state: State) -> Vec<CachedFile> {
        let State { index, stamps, .. } = state;
        let mut files: Vec<CachedFile> = index
            .repos
            .into_iter()
            .flat_map(|(repo, r)| r.files.into_iter().map(move |entry| (repo.clone(), entry)))
            .map(|(repo_id, entry)| {
                let path = self.dir().join(&entry.rel_path);
                CachedFile {
                    repo_id,
                    missing: !known_regular(&stamps, &entry.rel_path) && !path.exists(),
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

/// The names of the entries of `dir`, sorted by their bytes.
fn read_dir_names_sorted(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable();
    names
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
