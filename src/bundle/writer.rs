//! Writing bundles the way the reference does (FORMAT.md §1.1): every entry STORED, sizes
//! and CRC in the local header, Unix mode 0644, one DOS timestamp in UTC, kernel files
//! grouped by kernel in build order, `manifest.json` last.
//!
//! Kernel files are streamed into the archive, never held whole in memory. The archive is
//! written to a temporary file beside the output, fsynced, and renamed into place: a
//! failed or interrupted write never leaves a file at the output path.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::fs::{AtomicFile, Durability};
use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::entry_name::validate_entry_name;
use super::error::BundleError;
use super::manifest::{KernelEntry, MANIFEST_FILE, Manifest};

/// The reference's build order of kernels (FORMAT.md §1.1); other kernels follow by name.
const BUILD_ORDER: &[&str] = &[
    "first_tokenwise",
    "mid_tokenwise",
    "mid_tokenwise_moe",
    "last_tokenwise_with_lm_head",
    "last_tokenwise_moe_with_lm_head",
    "last_tokenwise_with_seq_cls_head",
    "sliding_window_attention",
    "full_attention",
    "random_sample",
];

/// Large enough that streaming a kernel file costs few syscalls, small enough to not
/// matter for memory. Also the largest read from a kernel file.
const WRITE_BUFFER: usize = 1 << 20;

/// What [`BundleWriter::finish`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBundle {
    pub path: PathBuf,
    pub size: u64,
    pub entries: usize,
}

/// A bundle being written. Entries go in the order they are added; [`write_bundle`] adds
/// them in the canonical order.
pub struct BundleWriter {
    output: PathBuf,
    zip: ZipWriter<PatchBuffer>,
    options: SimpleFileOptions,
    written: HashSet<String>,
    /// Reused for every entry's copy (std's `io::copy` would read 8 KiB at a time).
    copy_buffer: Vec<u8>,
}

impl BundleWriter {
    /// Start a bundle at `output`. `timestamp` becomes every entry's modification time
    /// (pass the manifest's `created_at` for reproducible output).
    pub fn create(output: impl AsRef<Path>, timestamp: DateTime<Utc>) -> Result<Self, BundleError> {
        let output = output.as_ref().to_path_buf();
        // Temp file beside the output, fsync, rename, fsync of the directory.
        let temp = AtomicFile::create(&output, Durability::Durable).map_err(write_error)?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(dos_time(timestamp))
            .unix_permissions(0o644);
        Ok(BundleWriter {
            output,
            zip: ZipWriter::new(PatchBuffer::new(temp)),
            options,
            written: HashSet::new(),
            copy_buffer: Vec::new(),
        })
    }

    /// Stream `size` bytes from `source` into a new entry `name`.
    pub fn add_entry(
        &mut self,
        name: &str,
        source: &mut dyn Read,
        size: u64,
    ) -> Result<(), BundleError> {
        validate_entry_name(name).map_err(|reason| BundleError::UnsafeName {
            path: self.output.clone(),
            name: name.into(),
            reason,
        })?;
        if name.ends_with('/') || name == MANIFEST_FILE {
            return Err(BundleError::Refused {
                path: self.output.clone(),
                detail: format!("cannot take `{name}` as a kernel entry"),
            });
        }
        if !self.written.insert(name.to_string()) {
            return Err(BundleError::DuplicateEntry {
                path: self.output.clone(),
                detail: format!("entry `{name}` was added twice"),
            });
        }
        let options = self.options.large_file(size >= u64::from(u32::MAX));
        let output = self.output.clone();
        self.zip
            .start_file(name, options)
            .map_err(|e| BundleError::io("write", &output, std::io::Error::other(e)))?;
        let copied = self
            .copy_entry(source, size)
            .map_err(|e| BundleError::io("write", &output, e))?;
        if copied != size {
            return Err(BundleError::Inconsistent {
                path: output,
                name: name.into(),
                detail: format!("source gave {copied} bytes, expected {size}"),
            });
        }
        Ok(())
    }

    /// Copy up to `size` bytes of `source` into the open entry; the bytes copied.
    fn copy_entry(&mut self, source: &mut dyn Read, size: u64) -> std::io::Result<u64> {
        let chunk = usize::try_from(size).map_or(WRITE_BUFFER, |s| s.min(WRITE_BUFFER));
        if self.copy_buffer.len() < chunk {
            self.copy_buffer.resize(chunk, 0);
        }
        let mut copied = 0u64;
        while copied < size {
            let want = usize::try_from(size - copied).map_or(chunk, |left| left.min(chunk));
            let n = match source.read(&mut self.copy_buffer[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.zip.write_all(&self.copy_buffer[..n])?;
            copied += n as u64;
        }
        Ok(copied)
    }

    /// Write `manifest.json` last, check that every file it names was added, then fsync
    /// and rename the archive into place.
    pub fn finish(mut self, manifest: &Manifest) -> Result<WrittenBundle, BundleError> {
        let output = self.output.clone();
        if let Some(missing) = manifest
            .files()
            .into_iter()
            .find(|f| !self.written.contains(*f))
        {
            return Err(BundleError::MissingEntry {
                path: output,
                name: missing.into(),
            });
        }
        let bytes = manifest
            .to_json_bytes()
            .map_err(|e| BundleError::io("serialize the manifest of", &output, e.into()))?;
        let write_err =
            |e: zip::result::ZipError| BundleError::io("write", &output, std::io::Error::other(e));
        self.zip
            .start_file(MANIFEST_FILE, self.options)
            .map_err(write_err)?;
        self.zip
            .write_all(&bytes)
            .map_err(|e| BundleError::io("write", &output, e))?;
        let buffered = self.zip.finish().map_err(write_err)?;
        let temp = buffered
            .into_file()
            .map_err(|e| BundleError::io("write", &output, e))?;
        let size = temp.commit().map_err(write_error)?;
        Ok(WrittenBundle {
            path: output,
            size,
            entries: self.written.len() + 1,
        })
    }
}

/// The archive's temp file behind a write buffer that also takes the zip writer's seeks
/// back into what it has just written: after each entry it patches the CRC and sizes
/// into the entry's local header. Through a `BufWriter` every such seek flushed, four
/// system calls per entry; here an archive of small entries goes out in a few large
/// writes, and a large entry costs one write per [`WRITE_BUFFER`] plus one for its patch.
struct PatchBuffer {
    file: AtomicFile,
    /// The bytes of file offsets `start..start + buf.len()`, not yet written.
    buf: Vec<u8>,
    start: u64,
    /// The position the next write goes to.
    cursor: u64,
    /// The file's length as the zip writer sees it (what is on disk, and the buffer).
    len: u64,
}

impl PatchBuffer {
    fn new(file: AtomicFile) -> Self {
        PatchBuffer {
            file,
            buf: Vec::with_capacity(WRITE_BUFFER),
            start: 0,
            cursor: 0,
            len: 0,
        }
    }

    /// Write the buffer out; it then starts at the cursor.
    fn write_out(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let file = self.file.as_file_mut();
            file.seek(SeekFrom::Start(self.start))?;
            file.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.start = self.cursor;
        Ok(())
    }

    /// Everything written out; the file.
    fn into_file(mut self) -> std::io::Result<AtomicFile> {
        self.write_out()?;
        Ok(self.file)
    }
}

impl Write for PatchBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let buffered_end = self.start + self.buf.len() as u64;
        if self.cursor < self.start || self.cursor > buffered_end {
            self.write_out()?;
        }
        // `cursor` now lies within the buffer or at its end.
        let offset = (self.cursor - self.start) as usize;
        let overlap = data.len().min(self.buf.len() - offset);
        self.buf[offset..offset + overlap].copy_from_slice(&data[..overlap]);
        self.buf.extend_from_slice(&data[overlap..]);
        self.cursor += data.len() as u64;
        self.len = self.len.max(self.cursor);
        if self.buf.len() >= WRITE_BUFFER {
            self.write_out()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_out()?;
        self.file.flush()
    }
}

impl Seek for PatchBuffer {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.cursor.checked_add_signed(delta),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
        };
        self.cursor = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        Ok(self.cursor)
    }
}

/// A failed replacement of the output, as the bundle's error.
fn write_error(e: crate::fs::WriteError) -> BundleError {
    BundleError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

/// The manifest's entries in the order a bundle stores them: kernels in build order
/// (unknown kernels after, by name), each kernel's entries in manifest order, each file
/// once.
pub fn canonical_entry_order(manifest: &Manifest) -> Vec<(&str, &KernelEntry)> {
    let mut kernels: Vec<(&String, &Vec<KernelEntry>)> = manifest.kernels.iter().collect();
    kernels.sort_by_key(|(name, _)| {
        let rank = BUILD_ORDER
            .iter()
            .position(|k| k == name)
            .unwrap_or(BUILD_ORDER.len());
        (rank, name.as_str())
    });
    let mut seen = HashSet::new();
    kernels
        .into_iter()
        .flat_map(|(name, entries)| entries.iter().map(move |e| (name.as_str(), e)))
        .filter(|(_, e)| seen.insert(e.file.as_str()))
        .collect()
}

/// Write a whole bundle: every file the manifest names, taken from `open` (which returns
/// a stream and its size), in canonical order, then the manifest.
pub fn write_bundle<F>(
    output: impl AsRef<Path>,
    manifest: &Manifest,
    timestamp: DateTime<Utc>,
    mut open: F,
) -> Result<WrittenBundle, BundleError>
where
    F: FnMut(&str) -> Result<(Box<dyn Read>, u64), BundleError>,
{
    let mut writer = BundleWriter::create(output, timestamp)?;
    for (_, entry) in canonical_entry_order(manifest) {
        let (mut source, size) = open(&entry.file)?;
        writer.add_entry(&entry.file, &mut source, size)?;
    }
    writer.finish(manifest)
}

fn dos_time(time: DateTime<Utc>) -> zip::DateTime {
    // DOS dates cover 1980–2107; clamp rather than fail on a clock set far off.
    let year = time.year().clamp(1980, 2107) as u16;
    zip::DateTime::from_date_and_time(
        year,
        time.month() as u8,
        time.day() as u8,
        time.hour() as u8,
        time.minute() as u8,
        time.second().min(59) as u8,
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes and seeks like the zip writer's (and wilder), through the buffer and
    /// through a plain in-memory file: the same bytes come out.
    #[test]
    fn the_patch_buffer_writes_what_a_file_would_hold() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("out.fxb");
        let mut buffered =
            PatchBuffer::new(AtomicFile::create(&out, Durability::Cache).expect("temp"));
        let mut model = std::io::Cursor::new(Vec::new());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for step in 0..4000u64 {
            match next(8) {
                0 => {
                    let len = model.get_ref().len() as u64;
                    let to = SeekFrom::Start(next(len + 1));
                    assert_eq!(buffered.seek(to).ok(), model.seek(to).ok());
                }
                1 => {
                    let to = SeekFrom::End(-(next(64) as i64));
                    assert_eq!(buffered.seek(to).ok(), model.seek(to).ok());
                }
                2 => {
                    let to = SeekFrom::Current(0);
                    assert_eq!(buffered.seek(to).ok(), model.seek(to).ok());
                }
                3 => buffered.flush().expect("flush"),
                _ => {
                    // Mostly small writes, now and then one past the buffer's size.
                    let len = if next(50) == 0 {
                        WRITE_BUFFER as u64 + next(5000)
                    } else {
                        next(300)
                    };
                    let data: Vec<u8> = (0..len).map(|i| (i + step) as u8).collect();
                    buffered.write_all(&data).expect("write");
                    model.write_all(&data).expect("write");
                }
            }
        }
        buffered
            .into_file()
            .expect("written")
            .commit()
            .expect("renamed");
        assert_eq!(std::fs::read(&out).expect("read"), model.into_inner());
    }
}
