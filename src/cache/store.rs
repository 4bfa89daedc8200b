//! The cache's operations: reconcile, list, add, remove, verify.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use super::index::{self, FileEntry, INDEX_FILE, Index};
use super::sidecar::{Compiler, SIDECAR_FILE, Sidecar, SidecarEntry, stamp};
use super::stamps::Stamps;
use crate::bundle::{Bundle, BundleError, Manifest, NameError, standard_file_name};

pub const LOCK_FILE: &str = "index.json.lock";
const LOCAL_REPO: &str = "local";
/// `add` copies each bundle to `<cache>/.fxb-add-<pid>-<random>.tmp` first, and renames it
/// into its snapshot directory once it is validated, hashed and on disk. The reference
/// only looks into `models--*` directories.
const ADD_TEMP: &str = ".fxb-add-";

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is a directory; `add` takes .fxb files", .0.display())]
    Directory(PathBuf),
    #[error("`{}` is not a regular file (a device, a pipe or a socket); `add` takes .fxb files", .0.display())]
    NotAFile(PathBuf),
    #[error("`{}` has no manifest uuid to file it under", .0.display())]
    NoUuid(PathBuf),
    #[error("`{}` has uuid {uuid:?}, which cannot be a directory name", path.display())]
    BadUuid { path: PathBuf, uuid: String },
    #[error("`{}` has no standard file name: {source}", path.display())]
    Name {
        path: PathBuf,
        #[source]
        source: NameError,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

impl CacheError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        CacheError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            CacheError::Directory(_) => {
                Some("pack an extracted bundle first: `fxb pack DIR out.fxb`".into())
            }
            CacheError::Bundle(e) => e.hint(),
            CacheError::Io { .. } => {
                Some("check the cache directory's permissions and free space (--cache-dir to use another)".into())
            }
            _ => None,
        }
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    /// As given: `cache ls -q` prints paths under it verbatim.
    dir: PathBuf,
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

/// What `add` did with one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub source: PathBuf,
    pub repo_id: String,
    pub filename: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// fxb's own facts about cached bundles ([`Cache::recorded`]).
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Compilers of bundles not compiled by the vendor compiler (the shared index has
    /// null FuriosaIR fields for them).
    pub compilers: std::collections::HashMap<String, Compiler>,
    /// The fingerprint rule (`generic 1.0.0`) each bundle was made with.
    pub rules: std::collections::HashMap<String, String>,
}

/// What a removal freed.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub files: usize,
    pub bytes: u64,
}

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

#[derive(Debug, Clone)]
pub struct Verified {
    pub file: CachedFile,
    pub status: VerifyStatus,
    pub detail: Option<String>,
}

/// The exclusive lock on `index.json.lock`, held until dropped (the reference's lock:
/// `flock(LOCK_EX)` on that file, which is never deleted).
struct Locked {
    _file: File,
}

/// The reconciled index, and whether it differs from the file.
struct State {
    index: Index,
    write: bool,
    /// Entries known present as regular files without a stat (their directory is as it
    /// was at the last reconciliation).
    trusted: std::collections::HashSet<String>,
}

/// The snapshot directory of a `rel_path`.
fn parent_rel(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

const LOCAL_PREFIX: &str = "models--local/";

impl Cache {
    /// The cache at `dir`, created (with its lock file) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| CacheError::io("create", &dir, e))?;
        let lock = dir.join(LOCK_FILE);
        File::options()
            .create(true)
            .append(true)
            .open(&lock)
            .map_err(|e| CacheError::io("create", &lock, e))?;
        Ok(Cache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<Locked, CacheError> {
        let path = self.dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| CacheError::io("open", &path, e))?;
        file.lock().map_err(|e| CacheError::io("lock", &path, e))?;
        Ok(Locked { _file: file })
    }

    /// Read `index.json` and reconcile it with the disk (FORMAT.md §4.4).
    fn state(&self, _lock: &Locked) -> Result<State, CacheError> {
        let path = self.dir.join(INDEX_FILE);
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
                    let mut stamps = Stamps::load(&self.dir);
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
        let mut stamps = Stamps::load(&self.dir);
        let mut trusted = std::collections::HashSet::new();
        for (repo_id, repo) in index.repos.iter_mut() {
            repo.files.retain(|f| {
                let named_right = f.rel_path.rsplit('/').next() == Some(f.filename.as_str());
                let safe = safe_rel_path(&f.rel_path);
                // fxb and the reference only put regular files under models--local.
                let unchanged = safe
                    && f.rel_path.starts_with(LOCAL_PREFIX)
                    && stamps.unchanged(&self.dir, parent_rel(&f.rel_path));
                let present =
                    unchanged || std::fs::symlink_metadata(self.dir.join(&f.rel_path)).is_ok();
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
        stamps.save(&self.dir);
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
            let target = self.dir.join(format!("{INDEX_FILE}.corrupt-{n}"));
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
        let known: std::collections::HashSet<&str> =
            index.files().map(|(_, f)| f.rel_path.as_str()).collect();
        let indexed_dirs: std::collections::HashSet<&str> =
            known.iter().map(|r| parent_rel(r)).collect();
        let mut found = Vec::new();
        for repo_dir in read_dir_sorted(&self.dir) {
            let Some(repo_name) =
                file_name(&repo_dir).and_then(|n| n.strip_prefix("models--").map(String::from))
            else {
                continue;
            };
            let repo_id = repo_name.replace("--", "/");
            for snapshot in read_dir_sorted(&repo_dir.join("snapshots")) {
                let Some(revision) = file_name(&snapshot) else {
                    continue;
                };
                let rel_dir = format!(
                    "{}/snapshots/{revision}",
                    file_name(&repo_dir).unwrap_or_default()
                );
                // Unchanged since the last scan, and indexed then: nothing new inside.
                if indexed_dirs.contains(rel_dir.as_str()) && stamps.unchanged(&self.dir, &rel_dir)
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
                    let rel = format!(
                        "{}/snapshots/{revision}/{name}",
                        file_name(&repo_dir).unwrap_or_default()
                    );
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

    fn write_index(&self, _lock: &Locked, index: &Index) -> Result<(), CacheError> {
        write_atomically(&self.dir, INDEX_FILE, &index::to_bytes(index))
    }

    fn write_sidecar(&self, _lock: &Locked, sidecar: &Sidecar) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec_pretty(sidecar).unwrap_or_default();
        write_atomically(&self.dir, SIDECAR_FILE, &bytes)
    }

    /// Every cached bundle, in `cache ls` order: repo id, then file name, byte-wise.
    pub fn list(&self) -> Result<Vec<CachedFile>, CacheError> {
        let lock = self.lock()?;
        let state = self.state(&lock)?;
        if state.write {
            self.write_index(&lock, &state.index)?;
        }
        Ok(self.files_of(state.index, &state.trusted))
    }

    fn files_of(
        &self,
        index: Index,
        trusted: &std::collections::HashSet<String>,
    ) -> Vec<CachedFile> {
        let mut files: Vec<CachedFile> = index
            .repos
            .into_iter()
            .flat_map(|(repo, r)| r.files.into_iter().map(move |entry| (repo.clone(), entry)))
            .map(|(repo_id, entry)| {
                let path = self.dir.join(&entry.rel_path);
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

    /// Copy each bundle into the cache under its standard name (never moving it). Each
    /// is copied into a hidden temp file (its hash computed in the same pass), validated,
    /// and flushed to disk first; then, under the lock, every copy is renamed into place and
    /// the index written once. Results in argument order.
    pub fn add(&self, paths: &[PathBuf]) -> Result<Vec<Result<Added, CacheError>>, CacheError> {
        self.add_with_progress(paths, &AtomicU64::new(0))
    }

    /// [`Cache::add`], adding every byte copied to `copied` as it is written (another
    /// thread may read it to show progress).
    pub fn add_with_progress(
        &self,
        paths: &[PathBuf],
        copied: &AtomicU64,
    ) -> Result<Vec<Result<Added, CacheError>>, CacheError> {
        // Copies a killed `add` left (hidden, never indexed) only take space: clear them.
        crate::leftovers::remove_dead(&self.dir, &[ADD_TEMP]);
        // Opened before any copy is made: `syncfs` reports only the write-back errors
        // that happen after its descriptor was opened, and each copy's write-back starts
        // as soon as it is written.
        let cache_dir = File::open(&self.dir).map_err(|e| CacheError::io("open", &self.dir, e))?;
        let prepared = self.prepare_all(paths, copied);
        let any = prepared.iter().any(Result::is_ok);
        // The copies reach the disk before they become visible: large ones were flushed
        // as they were copied, small ones get one filesystem flush for the whole batch
        // (an fsync per file would cost more than the copying; their write-back started
        // as each was written).
        if prepared.iter().flatten().any(|p| !p.flushed) {
            self.flush(
                &cache_dir,
                prepared.iter().flatten().map(|p| p.temp.as_file()),
            )?;
        }
        let lock = self.lock()?;
        let mut index = self.state(&lock)?.index;
        let mut sidecar = Sidecar::load(&self.dir);
        let now = now();
        let mut results = Vec::new();
        for item in prepared {
            results.push(item.and_then(|p| {
                let final_path = self.dir.join(&p.rel_path);
                std::fs::rename(p.temp.path(), &final_path)
                    .map_err(|e| CacheError::io("move into place", &final_path, e))?;
                let _ = p.temp.keep();
                index.upsert(
                    LOCAL_REPO,
                    FileEntry::new(&p.manifest, &p.rel_path, &p.uuid, p.size, &now),
                );
                if let Some((size, mtime_ns)) = stamp(&final_path) {
                    sidecar.entries.insert(
                        p.rel_path.clone(),
                        SidecarEntry {
                            size,
                            mtime_ns,
                            sha256: p.sha256.clone(),
                            hashed_at: now.clone(),
                            rule: rule_of(&p.manifest),
                            compiler: compiler_of(&p.manifest),
                        },
                    );
                }
                Ok(Added {
                    source: p.source,
                    repo_id: LOCAL_REPO.into(),
                    filename: p.filename,
                    path: final_path,
                    sha256: p.sha256,
                })
            }));
        }
        if any {
            self.write_index(&lock, &index)?;
            self.write_sidecar(&lock, &sidecar)?;
            // And the renames.
            self.flush(&cache_dir, std::iter::empty())?;
        }
        Ok(results)
    }

    /// `prepare` every path, a few at a time; results in argument order.
    fn prepare_all(
        &self,
        paths: &[PathBuf],
        copied: &AtomicU64,
    ) -> Vec<Result<Prepared, CacheError>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<Prepared, CacheError>>>> =
            paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
        // Two workers a core: a worker spends about half its time waiting for the disk
        // (reading a cold source, creating directories), and hashing fills the rest.
        // Measured on 2 cores, 1,000 bundles of 1.8 MiB: 4 workers 2.2–2.6 s, 3 workers
        // 2.5–2.7 s, 2 workers 2.9–3.0 s.
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get() * 2)
            .clamp(2, 8)
            .min(paths.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        let result = self.prepare(path, copied);
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                });
            }
        });
        slots
            .into_iter()
            .zip(paths)
            .map(|(slot, path)| {
                slot.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| {
                        Err(CacheError::io(
                            "copy",
                            path,
                            std::io::Error::other("the copying thread stopped"),
                        ))
                    })
            })
            .collect()
    }

    /// Make everything written under the cache durable: `syncfs(2)` on Linux (through
    /// `cache_dir`, the cache directory opened before the writing began), else an fsync
    /// of each of `files`.
    fn flush<'f>(
        &self,
        cache_dir: &File,
        files: impl Iterator<Item = &'f File>,
    ) -> Result<(), CacheError> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let _ = files;
            // SAFETY: a valid open descriptor for the duration of the call.
            if unsafe { libc::syncfs(cache_dir.as_raw_fd()) } != 0 {
                return Err(CacheError::io(
                    "flush the file system of",
                    &self.dir,
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = cache_dir;
            for file in files {
                file.sync_all()
                    .map_err(|e| CacheError::io("sync", &self.dir, e))?;
            }
            Ok(())
        }
    }

    /// Validate one bundle and copy it to a temp file in the cache, with its snapshot
    /// directory made ready for it.
    fn prepare(&self, source: &Path, progress: &AtomicU64) -> Result<Prepared, CacheError> {
        let meta = std::fs::metadata(source).map_err(|e| CacheError::io("read", source, e))?;
        if meta.is_dir() {
            return Err(CacheError::Directory(source.to_path_buf()));
        }
        if !meta.is_file() {
            return Err(CacheError::NotAFile(source.to_path_buf()));
        }
        let large = meta.len() >= super::copy::PIPELINE_FROM;
        // A large bundle is validated before it is copied (a few reads, against gigabytes
        // of copying); a small one after, when the copy has brought it into the page
        // cache: validating it cold costs about as much as copying it.
        let early = if large {
            Some(Bundle::open(source)?.into_manifest())
        } else {
            None
        };
        let temp = tempfile::Builder::new()
            .prefix(&format!("{ADD_TEMP}{}-", std::process::id()))
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| CacheError::io("create a temporary file in", &self.dir, e))?;
        let copied = super::copy::copy_hashing(source, meta.len(), temp.as_file(), progress)
            .map_err(|e| CacheError::io("copy", source, e))?;
        // The copy's bytes are the ones hashed; a file rewritten after it was validated
        // would still be a different bundle from the one validated.
        if copied.bytes != meta.len() {
            return Err(CacheError::io(
                "copy",
                source,
                std::io::Error::other(format!(
                    "the file changed while it was added ({} bytes when opened, {} copied)",
                    meta.len(),
                    copied.bytes
                )),
            ));
        }
        let manifest = match early {
            Some(manifest) => manifest,
            None => Bundle::open(source)?.into_manifest(),
        };
        let uuid = manifest
            .uuid
            .clone()
            .ok_or_else(|| CacheError::NoUuid(source.to_path_buf()))?;
        if !safe_component(&uuid) {
            return Err(CacheError::BadUuid {
                path: source.to_path_buf(),
                uuid,
            });
        }
        let filename = standard_file_name(&manifest).map_err(|source_err| CacheError::Name {
            path: source.to_path_buf(),
            source: source_err,
        })?;
        let rel_path = format!("models--{LOCAL_REPO}/snapshots/{uuid}/{filename}");
        let snapshot = self
            .dir
            .join(format!("models--{LOCAL_REPO}/snapshots/{uuid}"));
        std::fs::create_dir_all(&snapshot).map_err(|e| CacheError::io("create", &snapshot, e))?;
        Ok(Prepared {
            source: source.to_path_buf(),
            manifest,
            uuid,
            filename,
            rel_path,
            temp,
            size: copied.bytes,
            sha256: copied.sha256,
            flushed: copied.flushed,
        })
    }

    /// Remove these cached files (as listed), their empty snapshot directories, and a
    /// downloaded repo's whole directory with its last file. Index and sidecar are
    /// updated under the lock.
    pub fn remove(&self, files: &[CachedFile]) -> Result<Removal, CacheError> {
        let lock = self.lock()?;
        let mut index = self.state(&lock)?.index;
        let mut sidecar = Sidecar::load(&self.dir);
        let mut removal = Removal { files: 0, bytes: 0 };
        let mut removed: Vec<&str> = Vec::new();
        for file in files {
            if !index
                .files()
                .any(|(_, f)| f.rel_path == file.entry.rel_path)
            {
                continue; // gone meanwhile (another process)
            }
            let path = self.dir.join(&file.entry.rel_path);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io("remove", &path, e)),
            }
            removal.files += 1;
            removal.bytes += file.entry.size_bytes;
            removed.push(&file.entry.rel_path);
            sidecar.entries.remove(&file.entry.rel_path);
            if let Some(snapshot) = path.parent() {
                let _ = std::fs::remove_dir(snapshot); // only when empty
            }
        }
        index.remove(&removed);
        // A repo with no file left goes entirely (blobs, refs, locks of a download).
        for file in files {
            let repo_dir = file.entry.rel_path.split('/').next().unwrap_or_default();
            let still_used = index
                .files()
                .any(|(_, f)| f.rel_path.split('/').next() == Some(repo_dir));
            let dir = self.dir.join(repo_dir);
            if !still_used && repo_dir.starts_with("models--") && dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        self.write_index(&lock, &index)?;
        self.write_sidecar(&lock, &sidecar)?;
        Ok(removal)
    }

    /// What fxb recorded in its sidecar about the bundles it added, keyed by `rel_path`
    /// (only where the file is still the one recorded): one read of the sidecar and one
    /// stat per entry.
    pub fn recorded(&self) -> Recorded {
        let mut recorded = Recorded::default();
        for (rel, entry) in Sidecar::load(&self.dir).entries {
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

    /// Re-hash every cached bundle: against the hash fxb recorded when it added it, or —
    /// for bundles added by the reference — check that the archive reads and has the
    /// indexed size, and record the hash from now on.
    pub fn verify(&self) -> Result<Vec<Verified>, CacheError> {
        let files = self.list()?;
        let mut sidecar = Sidecar::load(&self.dir);
        let mut results = Vec::new();
        let now = now();
        for file in files {
            let path = self.dir.join(&file.entry.rel_path);
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
            let hashed = super::copy::hash_file(&path).map_err(|e| e.to_string());
            let (status, detail) = match (hashed, recorded) {
                (Err(e), _) => (VerifyStatus::Corrupt, Some(format!("cannot read: {e}"))),
                (Ok((_, sha)), Some(recorded)) if sha == recorded => (VerifyStatus::Ok, None),
                (Ok((_, sha)), Some(recorded)) => (
                    VerifyStatus::Corrupt,
                    Some(format!("sha256 {sha}, recorded {recorded}")),
                ),
                (Ok((size, sha)), None) => {
                    let problem = if size != file.entry.size_bytes {
                        Some(format!("{size} bytes, indexed {}", file.entry.size_bytes))
                    } else {
                        Bundle::open(&path).err().map(|e| e.to_string())
                    };
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
        // Merge with what other processes recorded meanwhile.
        let mut latest = Sidecar::load(&self.dir);
        for (key, entry) in sidecar.entries {
            latest.entries.entry(key).or_insert(entry);
        }
        self.write_sidecar(&lock, &latest)?;
        Ok(results)
    }
}

/// A bundle copied into its snapshot directory, not yet renamed into place.
struct Prepared {
    source: PathBuf,
    manifest: Manifest,
    uuid: String,
    filename: String,
    rel_path: String,
    temp: tempfile::NamedTempFile,
    size: u64,
    sha256: String,
    /// Already on disk (large copies are flushed as they are made).
    flushed: bool,
}

fn rule_of(manifest: &Manifest) -> Option<String> {
    let rule = manifest.extras.as_ref()?.get("fxb")?.get("rule")?;
    Some(format!(
        "{} {}",
        rule.get("name")?.as_str()?,
        rule.get("version")?.as_str()?
    ))
}

/// A compiler other than the vendor's (the index already holds `furiosa_compiler`).
fn compiler_of(manifest: &Manifest) -> Option<Compiler> {
    let tool = manifest.compiler_tool_name();
    if tool == "furiosa_compiler" {
        return None;
    }
    let version = manifest.tool(tool)?;
    Some(Compiler {
        tool: tool.to_string(),
        version: version.version.clone(),
        revision: version.revision.clone(),
    })
}

/// `name` as a whole temp-then-rename write in `dir`.
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
    let target = dir.join(name);
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| CacheError::io("create a temporary file in", dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| CacheError::io("write", &target, e))?;
    temp.persist(&target)
        .map_err(|e| CacheError::io("replace", &target, e.error))?;
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// One path component that cannot escape its directory: a real uuid passes, `..`,
/// `a/b` and the empty string do not.
fn safe_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A `rel_path` from the index that stays inside the cache.
fn safe_rel_path(rel: &str) -> bool {
    !rel.starts_with('/') && rel.split('/').all(|part| part != ".." && !part.is_empty())
}

/// `1.8 MiB`, `512 B` (FORMAT.md §5.1).
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    for unit in ["KiB", "MiB", "GiB"] {
        if value < 1024.0 {
            return format!("{value:.1} {unit}");
        }
        value /= 1024.0;
    }
    format!("{value:.1} TiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_the_reference() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1_888_977), "1.8 MiB");
        assert_eq!(human_size(3 * 1_888_977), "5.4 MiB");
        assert_eq!(human_size(4 << 30), "4.0 GiB");
    }

    #[test]
    fn uuids_that_would_leave_the_cache_are_refused() {
        assert!(safe_component("d3669b5b-f564-493e-b495-4474ef88451c"));
        for bad in ["", ".", "..", "../../../escaped", "a/b", "a\\b", "x\0"] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        assert!(!safe_rel_path("../x.fxb"));
        assert!(safe_rel_path("models--local/snapshots/u/x.fxb"));
    }
}
