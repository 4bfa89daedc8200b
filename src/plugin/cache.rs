//! Compiled plugins on disk, so a plugin is compiled once per (module, engine) and later
//! loads in well under a millisecond.
//!
//! `Module::deserialize` maps the file and later runs it as native code, so a file is only
//! deserialized from a directory that nobody but the user can write: by default
//! `$XDG_CACHE_HOME/fxb/plugins` (created 0700), never the bundle cache other users and
//! the reference may share. Before anything is read the directory must be owned by the
//! user and writable by no one else, and so must the file; otherwise fxb warns once and
//! compiles in memory without touching the directory.
//!
//! Inside a private directory only the user's own processes write, so what is left to
//! catch is accident, not attack: a file cut short, or holes of zeros after a crash (the
//! cache is written without fsync), or a flipped bit. A file is wasmtime's serialized
//! module followed by a 32-byte trailer (magic, payload length, CRC-32 of the payload),
//! named by the wasm's sha256 and the engine's compatibility hash. The length is checked
//! against the file's size and the CRC over every byte — a few tens of microseconds
//! where the SHA-256 it replaces took most of a load — and only then is the file handed
//! to wasmtime, which checks its own header and engine settings. Anything else is
//! recompiled and rewritten, never trusted.

use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::{Engine, Module};

use super::host::compile;
use crate::fs::{AtomicFile, Durability};

/// The last 16 bytes of every cache file this fxb writes.
const MAGIC: &[u8; 16] = b"fxb-cwasm v2\n\0\0\0";
/// How the files of earlier fxb versions start (a header and a SHA-256): stale, not
/// corrupt, and replaced without a warning.
const OLD_MAGIC: &[u8] = b"fxb-cwasm v1\n";
/// Payload length (u64 LE), CRC-32 of the payload (u32 LE), 4 zero bytes, [`MAGIC`].
const TRAILER_LEN: usize = 32;
/// The CRC is computed over reads of this size, so a load allocates no copy of the file.
const READ_CHUNK: usize = 256 << 10;

/// The compiled-module cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCache {
    dir: PathBuf,
}

impl CompiledCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompiledCache { dir: dir.into() }
    }

    /// `FXB_PLUGIN_CACHE_DIR` when set, else `$XDG_CACHE_HOME/fxb/plugins` (or
    /// `~/.cache/fxb/plugins`): private to the user, apart from the bundle cache.
    /// Content-keyed, so several processes and tests may share one.
    pub fn default_dir() -> PathBuf {
        crate::fs::user_dirs::dir_from_env("FXB_PLUGIN_CACHE_DIR").unwrap_or_else(|| {
            crate::fs::user_dirs::cache_home()
                .join("fxb")
                .join("plugins")
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for a module (by its sha256) under `engine`.
    pub fn path_for(&self, engine: &Engine, wasm_sha256: &str) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{wasm_sha256}-{:016x}.cwasm", hasher.finish()))
    }

    /// The compiled module: from the cache when a valid entry exists, else compiled now
    /// and stored (a cache that cannot be used or written costs time, not correctness).
    pub fn module(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Module> {
        let path = self.path_for(engine, wasm_sha256);
        let usable = match private_dir(&self.dir) {
            Ok(()) => true,
            Err(reason) => {
                warn_once(&self.dir, &reason);
                false
            }
        };
        if usable {
            match load(engine, &path) {
                Ok(Some(module)) => return Ok(module),
                Ok(None) => {}
                Err(reason) => tracing::warn!("recompiling `{}`: {reason}", path.display()),
            }
        }
        let started = std::time::Instant::now();
        let module = compile(wasm)?;
        tracing::info!(
            "compiled plugin {wasm_sha256:.12} in {:.0?}",
            started.elapsed()
        );
        if usable && let Err(e) = store(&path, &module.serialize()?) {
            tracing::warn!("cannot write the compiled-plugin cache: {e}");
        }
        Ok(module)
    }
}

/// A cached module, `None` when there is none, or why the file there is refused.
fn load(engine: &Engine, path: &Path) -> Result<Option<Module>, String> {
    let mut file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() {
        return Err("it is not a regular file".into());
    }
    owned_privately(&metadata)?;
    let Some(payload_len) = check_trailer(&mut file, metadata.len())? else {
        tracing::debug!("replacing `{}`, written by an older fxb", path.display());
        return Ok(None);
    };
    // SAFETY: the file lies in a directory only this user can write and is this user's
    // own, not writable by others (checked above, on this descriptor), so its bytes are
    // what an fxb process of this user wrote there: `Module::serialize` output for this
    // engine's configuration (the file name carries the engine's compatibility hash),
    // whole and unchanged (length and CRC-32 checked over every byte just now).
    // Wasmtime checks its own header and settings again and maps the file read-only;
    // the trailer after the payload lies outside every section it reads.
    match unsafe { Module::deserialize_open_file(engine, file) } {
        Ok(module) => {
            tracing::debug!(
                "loaded compiled plugin `{}` ({payload_len} bytes)",
                path.display()
            );
            Ok(Some(module))
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Check the trailer and the CRC of the payload: the payload's length, or `None` for a
/// file in the format of an earlier fxb.
fn check_trailer(file: &mut File, file_len: u64) -> Result<Option<u64>, String> {
    let corrupt = || "the cache entry is corrupt".to_string();
    let payload_len = file_len
        .checked_sub(TRAILER_LEN as u64)
        .ok_or_else(corrupt)?;
    let mut payload = (&mut *file).take(payload_len);
    let mut crc = crc32fast::Hasher::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut read = 0u64;
    loop {
        let n = match payload.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        if read == 0 && chunk[..n].starts_with(OLD_MAGIC) {
            return Ok(None);
        }
        crc.update(&chunk[..n]);
        read += n as u64;
    }
    let mut trailer = [0u8; TRAILER_LEN];
    file.read_exact(&mut trailer).map_err(|_| corrupt())?;
    let (declared_len, rest) = trailer.split_at(8);
    let (declared_crc, rest) = rest.split_at(4);
    let (zeros, magic) = rest.split_at(4);
    let declared_len = u64::from_le_bytes(declared_len.try_into().map_err(|_| corrupt())?);
    let declared_crc = u32::from_le_bytes(declared_crc.try_into().map_err(|_| corrupt())?);
    if magic != MAGIC
        || zeros != [0; 4]
        || declared_len != payload_len
        || read != payload_len
        || declared_crc != crc.finalize()
    {
        return Err(corrupt());
    }
    Ok(Some(payload_len))
}

/// Write `payload` and its trailer to `path`, atomically, readable by the user only.
fn store(path: &Path, payload: &[u8]) -> Result<(), crate::fs::WriteError> {
    let error = |action: &'static str, source: std::io::Error| crate::fs::WriteError {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    trailer.extend_from_slice(&[0; 4]);
    trailer.extend_from_slice(MAGIC);
    let mut file = AtomicFile::create(path, Durability::Cache)?;
    // The temp file is made with the umask's mode; a load refuses a file others can
    // write, so it is narrowed before it gets its name.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| error("restrict the permissions of", e))?;
    }
    file.write_all(payload)
        .and_then(|()| file.write_all(&trailer))
        .map_err(|e| error("write", e))?;
    file.commit()?;
    Ok(())
}

/// Create `dir` (0700) if it is missing, then check it is the user's and only the
/// user's to write.
fn private_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private(dir).map_err(|e| format!("it cannot be created: {e}"))?
        }
        Err(e) => return Err(format!("it cannot be read: {e}")),
    }
    let metadata = std::fs::metadata(dir).map_err(|e| format!("it cannot be read: {e}"))?;
    if !metadata.is_dir() {
        return Err("it is not a directory".into());
    }
    owned_privately(&metadata)
}

fn create_private(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        // Another process made it first; it is checked like any existing directory.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// The user owns it and neither group nor others may write it.
#[cfg(unix)]
fn owned_privately(metadata: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if metadata.uid() != user {
        return Err(format!(
            "it belongs to user {}, not to this user ({user})",
            metadata.uid()
        ));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "others may write it (mode {:03o})",
            metadata.mode() & 0o777
        ));
    }
    Ok(())
}

/// No owners or modes to check; such systems get what `std` gives.
#[cfg(not(unix))]
fn owned_privately(_metadata: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Open without following a final symlink: the entry itself is what was checked.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Warn once per process that the cache directory is not used.
fn warn_once(dir: &Path, reason: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "not using the compiled-plugin cache `{}`: {reason}; plugins are compiled in memory",
            dir.display()
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn wasm() -> &'static [u8] {
        super::super::embedded::EMBEDDED
            .first()
            .map(|(_, bytes, _)| *bytes)
            .expect("an embedded plugin")
    }

    #[test]
    fn a_new_cache_directory_is_private_and_its_files_are_the_users() {
        let root = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::new(root.path().join("a/b/plugins"));
        let engine = super::super::host::engine();
        cache.module(engine, "x", wasm()).expect("compiles");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(cache.dir()), 0o700);
        let path = cache.path_for(engine, "x");
        assert_eq!(mode(&path), 0o600);
        assert!(load(engine, &path).expect("valid").is_some());
    }

    #[test]
    fn a_directory_others_may_write_is_neither_read_nor_written() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("plugins");
        let cache = CompiledCache::new(&dir);
        let engine = super::super::host::engine();
        cache.module(engine, "x", wasm()).expect("compiles");
        let path = cache.path_for(engine, "x");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(private_dir(&dir).is_err());
        std::fs::remove_file(&path).expect("remove");
        cache
            .module(engine, "x", wasm())
            .expect("compiles in memory");
        assert!(!path.exists(), "nothing written into a shared directory");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("plugins");
        private_dir(&dir).expect("created");
        // Only root may give a directory away; elsewhere there is nothing to check.
        if std::os::unix::fs::chown(&dir, Some(65534), None).is_ok() {
            let refusal = private_dir(&dir).expect_err("refused");
            assert!(refusal.contains("belongs to user 65534"), "{refusal}");
        }
    }

    #[test]
    fn a_file_others_may_write_or_a_cut_short_one_is_refused() {
        let root = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::new(root.path().join("plugins"));
        let engine = super::super::host::engine();
        cache.module(engine, "x", wasm()).expect("compiles");
        let path = cache.path_for(engine, "x");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let refusal = load(engine, &path).expect_err("refused");
        assert!(refusal.contains("others may write"), "{refusal}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let bytes = std::fs::read(&path).expect("read");
        for cut in [0, 1, TRAILER_LEN, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).expect("cut");
            assert_eq!(
                load(engine, &path).map(|m| m.is_some()),
                Err("the cache entry is corrupt".to_string()),
                "cut at {cut}"
            );
        }
        // Zeros where a page was (what a crash can leave of an unflushed write).
        let mut holed = bytes.clone();
        holed[4096..8192].fill(0);
        std::fs::write(&path, &holed).expect("hole");
        assert!(load(engine, &path).is_err());
        std::fs::write(&path, &bytes).expect("restore");
        assert!(load(engine, &path).expect("valid").is_some());
    }

    #[test]
    fn a_file_of_an_earlier_fxb_is_replaced_quietly() {
        let root = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::new(root.path().join("plugins"));
        let engine = super::super::host::engine();
        private_dir(cache.dir()).expect("created");
        let path = cache.path_for(engine, "x");
        let old = [OLD_MAGIC, &[0u8; 32], b"\x7fELF..."].concat();
        std::fs::write(&path, old).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(load(engine, &path).expect("not an error").is_none());
        cache.module(engine, "x", wasm()).expect("compiles");
        assert!(load(engine, &path).expect("valid").is_some(), "rewritten");
    }
}
