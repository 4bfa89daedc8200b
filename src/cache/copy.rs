//! Copying a bundle into the cache in one pass, with its sha256 computed from the bytes
//! copied. What a copy mostly costs on the VMs measured is touching memory (`cp` copies
//! every byte from one page-cache page to a fresh one), so each path touches the bytes
//! as few times as it can.
//!
//! A small file: the kernel copies it (`copy_file_range`, as `cp` does: one copy in
//! memory, none through this process), and the hash is taken straight from the page
//! cache through a read-only mapping of the new copy. Its write-back starts at once, and
//! the batch's single flush completes it. The source stays in the page cache for its
//! validation. `add` runs several of these at once.
//!
//! A large file: three threads (reader → hasher → writer, a few chunks in flight) with
//! direct I/O (`O_DIRECT`) on both sides: the bytes go from the disk into a few reused
//! buffers, are hashed there, and go back to the disk, never through the page cache. The
//! reading, hashing and writing overlap, and nothing is left to flush but metadata
//! (`cp` then `sync` pays for the copying and the writing one after the other).
//!
//! Direct I/O is an optimization, never a requirement: where a file system refuses it
//! (tmpfs before Linux 6.6, some network file systems) or a transfer is not aligned, the
//! same bytes go through ordinary reads and writes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

/// Files at least this large take the direct-I/O pipeline and are flushed on their own;
/// smaller ones are copied by the kernel and flushed with their batch.
pub(super) const PIPELINE_FROM: u64 = 64 << 20;
/// Copies smaller than this are hashed by reading them back (from the page cache) rather
/// than through a mapping.
const MAP_FROM: u64 = 1 << 20;
/// The buffer for reading a small copy back: under the allocator's mmap threshold.
const READ_BACK: usize = 64 << 10;
/// The unit of reading, hashing and writing in the pipeline (a multiple of every block
/// size direct I/O asks for). Direct reads get no read-ahead, so each one waits for the
/// disk: on the VM measured, 4 GiB took 6.3–7.5 s with 4 MiB chunks, 4.4–4.9 s with 16.
const CHUNK: usize = 16 << 20;
/// Chunks in flight in the pipeline: one being read, one hashed, one written, a spare.
const IN_FLIGHT: usize = 4;
/// Direct I/O wants buffers, offsets and lengths aligned to the logical block size; no
/// common device uses more than this.
const ALIGN: usize = 4096;

/// What one copy produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Copied {
    pub bytes: u64,
    pub sha256: String,
    /// The copy was flushed to disk on its own (large files); otherwise the caller's
    /// batch flush completes it.
    pub flushed: bool,
}

/// Copy all of a large `source` into `out`, an empty file opened for reading and
/// writing, through the direct-I/O pipeline, and hash the bytes copied; `observe` sees
/// the same bytes in order (on this thread), `progress` the bytes written as they are
/// (from another thread). The copy is flushed before this returns.
pub(super) fn copy_large(
    source: &std::path::Path,
    out: &File,
    progress: &(dyn Fn(u64) + Sync),
    observe: &mut dyn FnMut(&[u8]),
) -> std::io::Result<Copied> {
    let input = Input::open(source, true)?;
    let (bytes, sha256) = pipelined(&input, &mut Output::new(out), progress, observe)?;
    out.sync_data()?;
    Ok(Copied {
        bytes,
        sha256,
        flushed: true,
    })
}

/// Copy all of a small `source` into `out` (an empty file) in the kernel, starting its
/// write-back; the bytes copied. [`hash_copy`] then hashes the copy from the page cache
/// and the caller's batch flush completes it.
pub(super) fn copy_small(
    source: &std::path::Path,
    out: &File,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<u64> {
    let input = File::open(source)?;
    hint(&input, Hint::ReadSequentially);
    let bytes = std::io::copy(&mut &input, &mut &*out)?;
    progress(bytes);
    hint(out, Hint::StartWriteBack);
    Ok(bytes)
}

/// The sha256 of the first `bytes` bytes of `out` (a copy just made, in the page cache);
/// `observe` sees the same bytes in order.
pub(super) fn hash_copy(
    out: &File,
    bytes: u64,
    observe: &mut dyn FnMut(&[u8]),
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    // Mapping costs more than reading a little (unmapping in a process with other
    // threads interrupts every core to flush its TLB), and some file systems cannot map.
    match (bytes >= MAP_FROM)
        .then(|| Mapping::new(out, bytes))
        .and_then(Result::ok)
    {
        Some(mapping) => {
            hasher.update(mapping.bytes());
            observe(mapping.bytes());
        }
        None => {
            let mut buffer = vec![0u8; READ_BACK];
            let mut offset = 0;
            while offset < bytes {
                let n = out.read_at(&mut buffer, offset)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                hasher.update(&buffer[..n]);
                observe(&buffer[..n]);
                offset += n as u64;
            }
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of the file at `path`, and its length; `observe` sees its bytes in order.
pub(super) fn hash_file(
    path: &std::path::Path,
    observe: &mut dyn FnMut(&[u8]),
) -> std::io::Result<(u64, String)> {
    let input = Input::open(path, false)?;
    let mut chunk = Chunk::new();
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let n = input.read_chunk(bytes, &mut chunk)?;
        if n == 0 {
            return Ok((bytes, hex(&hasher.finalize())));
        }
        hasher.update(&chunk.bytes()[..n]);
        observe(&chunk.bytes()[..n]);
        bytes += n as u64;
    }
}

/// Reader → hasher (this thread) → writer, handing chunks along bounded channels and
/// back to the reader through a pool; a failure anywhere closes the channels, which ends
/// the other two.
fn pipelined(
    input: &Input,
    out: &mut Output,
    progress: &(dyn Fn(u64) + Sync),
    observe: &mut dyn FnMut(&[u8]),
) -> std::io::Result<(u64, String)> {
    type Read = std::io::Result<(Chunk, usize)>;
    let (free_tx, free_rx) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
    let (read_tx, read_rx) = mpsc::sync_channel::<Read>(IN_FLIGHT);
    let (hashed_tx, hashed_rx) = mpsc::sync_channel::<(Chunk, usize, u64)>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        // Cannot fail: the receiver is alive and the channel holds IN_FLIGHT.
        let _ = free_tx.send(Chunk::new());
    }
    std::thread::scope(|scope| {
        // Owned here, so that returning early (a thread that cannot start) closes the
        // channel and ends the writer.
        let hashed_tx = hashed_tx;
        let writer = std::thread::Builder::new().spawn_scoped(scope, move || {
            while let Ok((chunk, n, offset)) = hashed_rx.recv() {
                out.write_chunk(offset, &chunk.bytes()[..n])?;
                progress(n as u64);
                // The reader may have finished: then there is nobody to hand it back to.
                let _ = free_tx.send(chunk);
            }
            Ok(())
        })?;
        std::thread::Builder::new().spawn_scoped(scope, move || {
            let mut offset = 0u64;
            while let Ok(mut chunk) = free_rx.recv() {
                let read = input.read_chunk(offset, &mut chunk);
                let n = *read.as_ref().unwrap_or(&0);
                if read_tx.send(read.map(|n| (chunk, n))).is_err() || n == 0 {
                    break;
                }
                offset += n as u64;
            }
        })?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut failed = None;
        let mut at_end = false;
        while let Ok(read) = read_rx.recv() {
            match read {
                Ok((_, 0)) => {
                    at_end = true;
                    break;
                }
                Ok((chunk, n)) => {
                    hasher.update(&chunk.bytes()[..n]);
                    observe(&chunk.bytes()[..n]);
                    if hashed_tx.send((chunk, n, bytes)).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                    bytes += n as u64;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(hashed_tx);
        drop(read_rx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked")));
        match (failed, written) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) if !at_end => Err(std::io::Error::other(
                "the reading thread stopped before the end of the file",
            )),
            (None, Ok(())) => Ok((bytes, hex(&hasher.finalize()))),
        }
    })
}

/// A `CHUNK`-byte buffer aligned for direct I/O, reused from chunk to chunk.
struct Chunk {
    storage: Vec<u8>,
    start: usize,
}

impl Chunk {
    fn new() -> Chunk {
        let storage = vec![0u8; CHUNK + ALIGN];
        let start = (ALIGN - storage.as_ptr() as usize % ALIGN) % ALIGN;
        Chunk { storage, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + CHUNK]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + CHUNK]
    }
}

/// The file being copied, read at explicit offsets.
struct Input {
    file: File,
    /// Opened with `O_DIRECT` (until a read is refused).
    direct: AtomicBool,
}

impl Input {
    fn open(path: &std::path::Path, direct: bool) -> std::io::Result<Input> {
        if direct && let Some(file) = open_direct(path) {
            return Ok(Input {
                file,
                direct: AtomicBool::new(true),
            });
        }
        let file = File::open(path)?;
        hint(&file, Hint::ReadSequentially);
        Ok(Input {
            file,
            direct: AtomicBool::new(false),
        })
    }

    /// Fill `chunk` from `offset`; the count (short only at the end of the file).
    fn read_chunk(&self, offset: u64, chunk: &mut Chunk) -> std::io::Result<usize> {
        let buffer = chunk.bytes_mut();
        let mut filled = 0;
        while filled < buffer.len() {
            match self
                .file
                .read_at(&mut buffer[filled..], offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A direct read is refused when it is not aligned (after a short read in
                // the middle of the file): read the rest through the page cache.
                Err(e)
                    if e.raw_os_error() == Some(libc::EINVAL)
                        && self.direct.swap(false, Ordering::Relaxed) =>
                {
                    set_direct(&self.file, false)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// The copy, written at explicit offsets: with direct I/O while the file system takes it
/// and the chunk is aligned, through the page cache otherwise.
struct Output<'f> {
    file: &'f File,
    direct: bool,
}

impl<'f> Output<'f> {
    fn new(file: &'f File) -> Output<'f> {
        let direct = set_direct(file, true).is_ok();
        Output { file, direct }
    }

    fn write_chunk(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let aligned = if self.direct {
            bytes.len() / ALIGN * ALIGN
        } else {
            0
        };
        if aligned > 0 {
            match self.file.write_all_at(&bytes[..aligned], offset) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.buffered()?;
                    return self.file.write_all_at(bytes, offset);
                }
                Err(e) => return Err(e),
            }
        }
        if aligned < bytes.len() {
            // The unaligned end of the file.
            self.buffered()?;
            self.file
                .write_all_at(&bytes[aligned..], offset + aligned as u64)?;
        }
        Ok(())
    }

    fn buffered(&mut self) -> std::io::Result<()> {
        if self.direct {
            set_direct(self.file, false)?;
            self.direct = false;
        }
        Ok(())
    }
}

/// A read-only shared mapping of the start of a file, unmapped on drop. Only ever made
/// of a copy this process has just written and nobody else writes (a temp file with its
/// pid in the name), so the file cannot shrink or change under it. The price of reading
/// through it: a disk error on a page not in memory (a reflinked copy on a failing disk)
/// is a SIGBUS, not an error for this one file.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    /// `len` (> 0) bytes from the start of `file`.
    fn new(file: &File, len: u64) -> std::io::Result<Mapping> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        // SAFETY: a fresh mapping of a valid descriptor; the kernel checks the arguments.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED | POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes are mapped at `ptr` until drop, and the file
        // behind them is not truncated while mapped (see the type's comment).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Map every page at once (the copy has just put them in the page cache) instead of
/// taking a fault per few pages.
#[cfg(target_os = "linux")]
const POPULATE: libc::c_int = libc::MAP_POPULATE;
#[cfg(not(target_os = "linux"))]
const POPULATE: libc::c_int = 0;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(target_os = "linux")]
fn open_direct(path: &std::path::Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &std::path::Path) -> Option<File> {
    None
}

/// Turn direct I/O on or off for an open file (Linux lets `fcntl` change it).
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: a valid open descriptor; F_GETFL/F_SETFL only read and set its flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        if libc::fcntl(fd, libc::F_SETFL, flags) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_: &File, on: bool) -> std::io::Result<()> {
    if on {
        Err(std::io::ErrorKind::Unsupported.into())
    } else {
        Ok(())
    }
}

/// Advice to the kernel about an open file: taking it or not changes only the speed.
#[derive(Debug, Clone, Copy)]
enum Hint {
    /// The file is read once, front to back (a larger read-ahead).
    ReadSequentially,
    /// Start writing the file's dirty pages to disk now, without waiting, so the disk
    /// works while the next files are copied (the batch flush that follows waits).
    StartWriteBack,
}

fn hint(file: &File, hint: Hint) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: a valid open descriptor; both calls only advise or schedule I/O.
        unsafe {
            match hint {
                Hint::ReadSequentially => {
                    libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_SEQUENTIAL);
                }
                Hint::StartWriteBack => {
                    libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE);
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, hint);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` copied from one file to another in `dir`: the result and the copy's bytes.
    fn copy_in(dir: &std::path::Path, data: &[u8]) -> (Copied, Vec<u8>) {
        let source = dir.join("source");
        std::fs::write(&source, data).expect("write");
        let target = dir.join("target");
        let out = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&target)
            .expect("create");
        let copied = if data.len() as u64 >= PIPELINE_FROM {
            copy_large(&source, &out, &|_| {}, &mut |_| {}).expect("copies")
        } else {
            let bytes = copy_small(&source, &out, &|_| {}).expect("copies");
            Copied {
                bytes,
                sha256: hash_copy(&out, bytes, &mut |_| {}).expect("hashes"),
                flushed: false,
            }
        };
        (copied, std::fs::read(&target).expect("read"))
    }

    fn copy_of(len: usize) -> (Vec<u8>, Copied, Vec<u8>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let (copied, target) = copy_in(dir.path(), &data);
        (data, copied, target)
    }

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    #[test]
    fn small_copies_are_exact_and_hashed() {
        for len in [
            0,
            1,
            4097,
            65537,
            (1 << 20) - 1,
            1 << 20,
            CHUNK,
            3 * CHUNK + 5,
        ] {
            let (data, copied, target) = copy_of(len);
            assert!(target == data, "{len} bytes: the copy differs");
            assert_eq!(copied.bytes, len as u64);
            assert_eq!(copied.sha256, sha(&data));
            assert!(!copied.flushed);
        }
    }

    #[test]
    fn large_copies_go_through_the_pipeline_exactly() {
        // Many chunks in flight, and a ragged last one.
        let len = PIPELINE_FROM as usize + 5 * CHUNK + 1234;
        let (data, copied, target) = copy_of(len);
        assert!(target == data, "the copy differs");
        assert_eq!(copied.bytes, len as u64);
        assert_eq!(copied.sha256, sha(&data));
        assert!(copied.flushed);
    }

    #[test]
    fn hashing_a_file_matches_the_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        let data = vec![9u8; CHUNK + 17];
        std::fs::write(&path, &data).expect("write");
        assert_eq!(
            hash_file(&path, &mut |_| {}).expect("hashes"),
            (data.len() as u64, sha(&data))
        );
    }

    #[test]
    fn copies_on_tmpfs() {
        // A large copy (the direct-I/O path) on tmpfs, which refuses O_DIRECT before
        // Linux 6.6: then the bytes go through the page cache.
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let data: Vec<u8> = (0..PIPELINE_FROM as usize + 99)
            .map(|i| (i % 13) as u8)
            .collect();
        let (copied, target) = copy_in(dir.path(), &data);
        assert_eq!(copied.sha256, sha(&data));
        assert!(target == data, "the copy differs");
    }
}
