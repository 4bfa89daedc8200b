//! `add`: bundles copied into the cache under their standard names (never moved).
//!
//! Order, so that nothing half-made is ever visible: each bundle is copied into a hidden
//! temp file at the cache root (hashed in the same pass), validated, and flushed to
//! disk; only then, under the lock, is every copy renamed into its snapshot directory and
//! the index written once. A killed `add` leaves only hidden temp files, which the next
//! one removes.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::CacheError;
use super::index::FileEntry;
use super::sidecar::{Compiler, Sidecar, SidecarEntry, stamp};
use super::store::{Cache, now};
use crate::bundle::{Bundle, BundleError, ChecksumStream, Manifest, standard_file_name};
use crate::fs::safe_component;
use crate::rules::RuleId;

const LOCAL_REPO: &str = "local";
/// `add` copies each bundle to `<cache>/.fxb-add.<pid>.<random>.tmp` first
/// ([`crate::fs::temp_file_in`]). The reference only looks into `models--*` directories.
const ADD_TEMP: &str = "fxb-add";
/// Leftovers to clear: this fxb's, and those of earlier ones (`.fxb-add-<pid>-…`).
const ADD_LEFTOVERS: &[&str] = &[".fxb-add.", ".fxb-add-"];

/// What `add` did with one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub source: PathBuf,
    pub repo_id: String,
    pub filename: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// What `add` tells a front end as it goes (a bar on a terminal, a stream in a UI).
/// Called from the copying threads.
pub trait AddReporter: Sync {
    /// Before the first copy: the size of every bundle that will be copied.
    fn started(&self, _total_bytes: u64) {}
    /// `bytes` more were copied.
    fn copied(&self, _bytes: u64) {}
    /// Every copy is made; they are being flushed to disk and indexed.
    fn flushing(&self) {}
}

/// A reporter that reports nothing.
pub struct Silent;

impl AddReporter for Silent {}

/// A bundle copied into a temp file in the cache, not yet renamed into place.
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

impl Cache {
    /// Copy each bundle into the cache; results in argument order. One bundle's failure
    /// does not stop the others; the `Err` is for the cache itself.
    pub fn add(&self, paths: &[PathBuf]) -> Result<Vec<Result<Added, CacheError>>, CacheError> {
        self.add_reporting(paths, &Silent)
    }

    /// [`Cache::add`], telling `reporter` how far it is.
    pub fn add_reporting(
        &self,
        paths: &[PathBuf],
        reporter: &dyn AddReporter,
    ) -> Result<Vec<Result<Added, CacheError>>, CacheError> {
        self.writable()?;
        // Copies a killed `add` left (hidden, never indexed) only take space: clear them.
        crate::leftovers::remove_dead(self.dir(), ADD_LEFTOVERS);
        // Opened before any copy is made: `syncfs` reports only the write-back errors
        // that happen after its descriptor was opened, and each copy's write-back starts
        // as soon as it is written.
        let cache_dir =
            File::open(self.dir()).map_err(|e| CacheError::io("open", self.dir(), e))?;
        let sources: Vec<Result<Metadata, CacheError>> =
            paths.iter().map(|path| source_metadata(path)).collect();
        reporter.started(sources.iter().flatten().map(Metadata::len).sum());
        let prepared = self.prepare_all(paths, sources, reporter);
        let any = prepared.iter().any(Result::is_ok);
        reporter.flushing();
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
        let mut sidecar = Sidecar::load(self.dir());
        let now = now();
        let mut results = Vec::new();
        for item in prepared {
            results.push(item.and_then(|p| {
                let final_path = self.dir().join(&p.rel_path);
                // Made here, under the lock: the reference's `cache rm`, holding it,
                // removes empty snapshot directories, so one made before the lock may
                // be gone by now (issue 13).
                if let Some(snapshot) = final_path.parent() {
                    std::fs::create_dir_all(snapshot)
                        .map_err(|e| CacheError::io("create", snapshot, e))?;
                }
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
                            rule: RuleId::from_manifest_extras(p.manifest.extras.as_ref()),
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
        sources: Vec<Result<Metadata, CacheError>>,
        reporter: &dyn AddReporter,
    ) -> Vec<Result<Prepared, CacheError>> {
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<Prepared, CacheError>>>> =
            paths.iter().map(|_| Mutex::new(None)).collect();
        let sources: Vec<Mutex<Option<Result<Metadata, CacheError>>>> =
            sources.into_iter().map(|s| Mutex::new(Some(s))).collect();
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
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        let source = sources[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                        let result = match source {
                            Some(Ok(meta)) => self.prepare(path, &meta, reporter),
                            Some(Err(e)) => Err(e),
                            None => Err(stopped(path)),
                        };
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
                    .unwrap_or_else(|| Err(stopped(path)))
            })
            .collect()
    }

    /// Make everything written under the cache durable ([`crate::fs::sync_file_system`]
    /// through `cache_dir`, the cache directory opened before the writing began).
    fn flush<'f>(
        &self,
        cache_dir: &File,
        files: impl Iterator<Item = &'f File>,
    ) -> Result<(), CacheError> {
        crate::fs::sync_file_system(cache_dir, files)
            .map_err(|e| CacheError::io("flush the file system of", self.dir(), e))
    }

    /// Validate one bundle and copy it to a temp file in the cache (its snapshot directory
    /// is made later, under the lock).
    fn prepare(
        &self,
        source: &Path,
        meta: &Metadata,
        reporter: &dyn AddReporter,
    ) -> Result<Prepared, CacheError> {
        let large = meta.len() >= super::copy::PIPELINE_FROM;
        // Created 0666 less the umask, as `cp` would create it: the reference and other
        // users of a shared cache read it.
        let temp = crate::fs::temp_file_in(self.dir(), ADD_TEMP)
            .map_err(|e| CacheError::io("create a temporary file in", self.dir(), e))?;
        let copy_error = |e| CacheError::io("copy", source, e);
        let progress = |bytes| reporter.copied(bytes);
        // The copy's bytes are hashed and their entries' CRC-32 checked in the same pass
        // (issue 13: corrupt bundles were added, and their corruption hashed as theirs).
        let (bundle, checksums, copied) = if large {
            // Validated before it is copied: a few reads, against gigabytes of copying.
            let bundle = Bundle::open(source)?;
            let mut checksums = ChecksumStream::new(bundle.archived_entries().unwrap_or_default());
            let copied = super::copy::copy_large(source, temp.as_file(), &progress, &mut |b| {
                checksums.feed(b)
            })
            .map_err(copy_error)?;
            (bundle, checksums, copied)
        } else {
            // Validated after it is copied, when the copy has brought it into the page
            // cache: validating it cold costs about as much as copying it.
            let bytes =
                super::copy::copy_small(source, temp.as_file(), &progress).map_err(copy_error)?;
            let bundle = Bundle::open(source)?;
            let mut checksums = ChecksumStream::new(bundle.archived_entries().unwrap_or_default());
            let sha256 = super::copy::hash_copy(temp.as_file(), bytes, &mut |b| checksums.feed(b))
                .map_err(copy_error)?;
            let copied = super::copy::Copied {
                bytes,
                sha256,
                flushed: false,
            };
            (bundle, checksums, copied)
        };
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
        let mut bundle = bundle;
        let unchecked = checksums
            .finish()
            .map_err(|mismatch| BundleError::Inconsistent {
                path: source.to_path_buf(),
                name: mismatch.name,
                detail: mismatch.detail,
            })?;
        // Compressed entries (which the reference never writes) are checked by reading.
        for name in unchecked {
            bundle.copy_entry(&name, &mut std::io::sink())?;
        }
        let manifest = bundle.into_manifest();
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
}

/// A source `add` can take: a regular file.
fn source_metadata(source: &Path) -> Result<Metadata, CacheError> {
    let meta = std::fs::metadata(source).map_err(|e| CacheError::io("read", source, e))?;
    if meta.is_dir() {
        return Err(CacheError::Directory(source.to_path_buf()));
    }
    if !meta.is_file() {
        return Err(CacheError::NotAFile(source.to_path_buf()));
    }
    Ok(meta)
}

fn stopped(path: &Path) -> CacheError {
    CacheError::io(
        "copy",
        path,
        std::io::Error::other("the copying thread stopped"),
    )
}

/// A compiler other than the vendor's (the index already holds `furiosa_compiler`).
pub(super) fn compiler_of(manifest: &Manifest) -> Option<Compiler> {
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
