//! Files on disk: the one way fxb replaces a file (a temp file beside it, renamed into
//! place), the user's directories, and the names that may become path components.
//!
//! Every writer in fxb goes through [`write_atomically`] or [`AtomicFile`], so a reader —
//! fxb, the reference, a crashed process's successor — never sees half a file, and a
//! failed write leaves the old file as it was. The temp file is created with mode 0666
//! before the umask (as `open(2)` would create the final file), never tempfile's 0600:
//! the reference and other users read what fxb writes into shared caches.
//! This module never decides *what* to write; an empty buffer is written only when asked.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How far a replaced file must survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file and its rename reach the disk before the call returns (fsync of the file,
    /// then of its directory). For what cannot be recomputed: bundles, the cache index,
    /// the sidecar of hashes.
    Durable,
    /// Atomic but not flushed: after a crash the old file or the new one is there, or —
    /// on file systems that reorder metadata — none. For caches whose loss costs only a
    /// recomputation (compiled plugins, compiled kernels, scan stamps).
    Cache,
    /// Atomic; the caller makes the data durable itself (one `syncfs` for a batch of
    /// files) before it calls [`AtomicFile::commit`].
    Caller,
}

/// A write that failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {source}", path.display())]
pub struct WriteError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> WriteError {
        WriteError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Replace `path` with `bytes` as a whole: a temp file in the same directory, written,
/// flushed as `durability` says, renamed over `path`.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), WriteError> {
    let mut file = AtomicFile::create(path, durability)?;
    file.write_all(bytes)
        .map_err(|e| WriteError::new("write", path, e))?;
    file.commit().map(drop)
}

/// A file being written beside its destination; [`AtomicFile::commit`] renames it into
/// place. Dropped without a commit, the temp file is removed and the destination is
/// untouched.
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    durability: Durability,
}

impl AtomicFile {
    /// Start replacing `path` (its directory must exist).
    pub fn create(path: &Path, durability: Durability) -> Result<AtomicFile, WriteError> {
        let dir = parent_dir(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = temp_file_in(dir, &name)
            .map_err(|e| WriteError::new("create a temporary file beside", path, e))?;
        // A file being replaced keeps its mode (an `index.json` a shared cache's owner made
        // group-readable stays so); a new one gets 0666 less the umask.
        if let Ok(existing) = std::fs::metadata(path) {
            temp.as_file()
                .set_permissions(existing.permissions())
                .map_err(|e| WriteError::new("set the mode of a temporary file beside", path, e))?;
        }
        Ok(AtomicFile {
            temp,
            path: path.to_path_buf(),
            durability,
        })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temp file (to hand to code that writes through a `File`).
    pub fn as_file(&self) -> &File {
        self.temp.as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Flush as promised and rename into place; the size written is returned.
    pub fn commit(self) -> Result<u64, WriteError> {
        let path = self.path;
        if self.durability == Durability::Durable {
            self.temp
                .as_file()
                .sync_all()
                .map_err(|e| WriteError::new("flush", &path, e))?;
        }
        let size = self
            .temp
            .as_file()
            .metadata()
            .map_err(|e| WriteError::new("read", &path, e))?
            .len();
        self.temp
            .persist(&path)
            .map_err(|e| WriteError::new("rename a temporary file to", &path, e.error))?;
        if self.durability == Durability::Durable {
            sync_dir(parent_dir(&path));
        }
        Ok(size)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// A hidden temp file in `dir` for `name`: `.{name}.{pid}.XXXXXX.tmp` (the pid tells a
/// later run a killed process's leftover, [`crate::leftovers`]), mode 0666 before the
/// umask. Removed when dropped unless persisted.
pub fn temp_file_in(dir: &Path, name: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{name}.{}.", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The mode is passed to open(2), so the kernel applies the umask, as it would to a
    // file created in place.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Make a rename in `dir` durable. Best effort: some file systems refuse to fsync a
/// directory, and the data itself is already on disk.
pub fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// Make every write to the file system holding `dir` durable: one `syncfs(2)` on Linux
/// (through `dir`, opened before the writing began: syncfs reports only write-back errors
/// after its descriptor was opened), else an fsync of each of `files`. For batches of
/// many files, where an fsync each costs more than the writing.
pub fn sync_file_system<'f>(
    dir: &File,
    files: impl Iterator<Item = &'f File>,
) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = files;
        // SAFETY: a valid open descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for file in files {
            file.sync_all()?;
        }
        Ok(())
    }
}

/// The directory a path's file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Why a file that should be small and regular could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A FIFO, a device, a socket or a directory: reading it could hang or never end.
    #[error("`{}` is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("`{}` is larger than {limit} bytes, more than such a file ever holds", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// Open `path` for reading only if it is a regular file (following symlinks). Opened
/// without blocking, so a FIFO cannot hang the open, then checked on the descriptor.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(ReadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// All of a regular file of at most `limit` bytes (a config, a rule file): never more
/// is read, whatever the file claims or grows to.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// The bytes an unprivileged writer may still use on the file system holding `path`
/// (`statvfs`'s available blocks: what is reserved for root is not counted).
pub fn available_space(path: &Path) -> std::io::Result<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer statvfs fills when it returns 0.
    if unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    Ok(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

/// This process's umask, read (never set: umask(2) is process-wide, and setting it to read
/// it races with every thread creating files). Linux only; `None` elsewhere.
pub fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

/// The user's directories, read from the environment in this one place.
pub mod user_dirs {
    use std::path::PathBuf;

    fn non_empty(var: &str) -> Option<PathBuf> {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// `$HOME`.
    pub fn home() -> Option<PathBuf> {
        non_empty("HOME")
    }

    /// `$XDG_CACHE_HOME`, else `~/.cache`, else `./.cache` (no home at all).
    pub fn cache_home() -> PathBuf {
        non_empty("XDG_CACHE_HOME")
            .or_else(|| home().map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
    }

    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    pub fn data_home() -> Option<PathBuf> {
        non_empty("XDG_DATA_HOME").or_else(|| home().map(|h| h.join(".local").join("share")))
    }

    /// A variable naming a directory, when set and not empty.
    pub fn dir_from_env(var: &str) -> Option<PathBuf> {
        non_empty(var)
    }
}

/// One path component that cannot escape its directory: a uuid, a revision or a file
/// name passes; `..`, `a/b`, the empty string and anything but `[A-Za-z0-9._-]` do not.
pub fn safe_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A relative path (from an index someone else may have written) that stays inside its
/// root: no leading `/`, no `..`, no empty component.
pub fn safe_rel_path(rel: &str) -> bool {
    // Over bytes: reconciling checks every cached path on every command.
    !rel.starts_with('/')
        && rel
            .as_bytes()
            .split(|b| *b == b'/')
            .all(|part| part != b".." && !part.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.json");
        write_atomically(&path, b"old", Durability::Durable).expect("write");
        {
            let mut file = AtomicFile::create(&path, Durability::Durable).expect("create");
            file.write_all(b"half").expect("write");
            // dropped without commit
        }
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(left.len(), 1, "the temp file is removed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_replaced_file_gets_the_umask_mode_not_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x");
        write_atomically(&path, b"x", Durability::Cache).expect("write");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        let umask = current_umask().expect("umask");
        assert_eq!(mode, 0o666 & !umask);
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.json");
        write_atomically(&path, b"old", Durability::Cache).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomically(&path, b"new", Durability::Cache).expect("replace");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
    }

    #[test]
    fn names_that_would_leave_their_directory_are_refused() {
        assert!(safe_component("d3669b5b-f564-493e-b495-4474ef88451c"));
        for bad in ["", ".", "..", "../../../escaped", "a/b", "a\\b", "x\0"] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        assert!(!safe_rel_path("../x.fxb"));
        assert!(!safe_rel_path("/etc/passwd"));
        assert!(!safe_rel_path("a//b"));
        assert!(safe_rel_path("models--local/snapshots/u/x.fxb"));
    }
}
