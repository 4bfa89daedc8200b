//! Opening a bundle: a `.fxb` zip archive or its extracted directory.
//!
//! Opening reads the zip central directory and `manifest.json`, nothing else, so `show`
//! and `list` cost the same on a 4 MiB and a 4 GiB bundle. Every entry of the central
//! directory is checked on open (safe name, no duplicates, declared sizes that fit the
//! file and a sane compression ratio), so later reads can trust the listing. Kernel
//! files are opened one at a time and streamed.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use zip::{CompressionMethod, ZipArchive, result::ZipError};

use super::MAX_MANIFEST_BYTES;
use super::entry_name::validate_entry_name;
use super::error::BundleError;
use super::manifest::{MANIFEST_FILE, Manifest, ManifestError, parse_manifest};
use fxb_backend_api::edf::{Seekable, Sequential, Signature, SkipRead, read_signature};

/// DEFLATE cannot expand data by more than about 1032:1; an entry that declares more is
/// lying, and the usual reason to lie is a zip bomb.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Whether a bundle was opened from an archive or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Archive,
    Directory,
}

/// One file present in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Path inside the bundle, `/`-separated.
    pub name: String,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// A directory entry (archives may carry them; they hold no data).
    pub is_dir: bool,
    /// Stored without compression (always true for directories' files).
    pub stored: bool,
}

/// An open bundle: its manifest, and access to its entries.
pub struct Bundle {
    path: PathBuf,
    source: Source,
    manifest: Manifest,
}

enum Source {
    // Buffered: the central directory is read a few dozen bytes at a time, two reads an
    // entry; a buffer turns thousands of system calls into a few.
    Archive(ZipArchive<std::io::BufReader<File>>),
    Directory { canonical_root: PathBuf },
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("path", &self.path)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// Open a `.fxb` file or an extracted artifact directory and read its manifest.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BundleError> {
        let path = path.as_ref().to_path_buf();
        let metadata = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BundleError::NotFound { path });
            }
            Err(e) => return Err(BundleError::io("open", path, e)),
        };
        if metadata.is_dir() {
            Self::open_directory(path)
        } else {
            Self::open_archive(path, metadata.len())
        }
    }

    fn open_archive(path: PathBuf, file_len: u64) -> Result<Self, BundleError> {
        let mut file = File::open(&path).map_err(|e| BundleError::io("open", &path, e))?;
        let mut magic = [0u8; 4];
        let starts_like_zip = file.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04";
        file.rewind()
            .map_err(|e| BundleError::io("read", &path, e))?;
        let archive = ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| match e {
            ZipError::Io(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
                BundleError::io("read", &path, e)
            }
            // Only a missing end of the archive says "cut short"; anything else in a
            // file that starts as a zip is damage (issue 13: every one was "truncated").
            ZipError::Io(e) if starts_like_zip => BundleError::Truncated {
                path: path.clone(),
                detail: e.to_string(),
            },
            other if starts_like_zip && names_a_missing_end(&zip_detail(&other)) => {
                BundleError::Truncated {
                    path: path.clone(),
                    detail: zip_detail(&other),
                }
            }
            other if starts_like_zip => BundleError::Corrupt {
                path: path.clone(),
                detail: zip_detail(&other),
            },
            other if file_len == 0 => BundleError::NotZip {
                path: path.clone(),
                detail: format!("the file is empty ({})", zip_detail(&other)),
            },
            other => BundleError::NotZip {
                path: path.clone(),
                detail: zip_detail(&other),
            },
        })?;
        validate_central_directory(&path, &archive, file_len)?;
        tracing::debug!(
            "`{}`: zip archive, {file_len} bytes, {} entries, central directory at byte {}",
            path.display(),
            archive.len(),
            archive.central_directory_start()
        );
        let mut bundle = Bundle {
            path,
            source: Source::Archive(archive),
            manifest: Manifest::new(),
        };
        bundle.manifest = bundle.load_manifest()?;
        Ok(bundle)
    }

    fn open_directory(path: PathBuf) -> Result<Self, BundleError> {
        let canonical_root =
            std::fs::canonicalize(&path).map_err(|e| BundleError::io("open", &path, e))?;
        let mut bundle = Bundle {
            path,
            source: Source::Directory { canonical_root },
            manifest: Manifest::new(),
        };
        bundle.manifest = bundle.load_manifest()?;
        Ok(bundle)
    }

    fn load_manifest(&mut self) -> Result<Manifest, BundleError> {
        let path = self.path.clone();
        let directory = self.kind() == BundleKind::Directory;
        let (mut stream, size) = match self.open_entry(MANIFEST_FILE) {
            Err(BundleError::MissingEntry { .. }) => {
                return Err(BundleError::NoManifest { directory, path });
            }
            other => other?,
        };
        if size > MAX_MANIFEST_BYTES {
            return Err(BundleError::TooLarge {
                path: path.clone(),
                name: MANIFEST_FILE.into(),
                declared: size,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut stream)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(&path, MANIFEST_FILE, e))?;
        drop(stream);
        if bytes.len() as u64 != size {
            return Err(BundleError::Inconsistent {
                path: path.clone(),
                name: MANIFEST_FILE.into(),
                detail: format!("holds {} bytes but declares {size}", bytes.len()),
            });
        }
        tracing::debug!("`{}`: manifest.json, {size} bytes", path.display());
        parse_manifest(&bytes).map_err(|e| match e {
            ManifestError::Future { found, supported } => BundleError::FutureFormat {
                path: path.clone(),
                found,
                supported,
            },
            ManifestError::Invalid(detail) => BundleError::InvalidManifest {
                path: path.clone(),
                detail,
            },
        })
    }

    /// The path as given to [`Bundle::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Archive or directory.
    pub fn kind(&self) -> BundleKind {
        match self.source {
            Source::Archive(_) => BundleKind::Archive,
            Source::Directory { .. } => BundleKind::Directory,
        }
    }

    /// The manifest, migrated to the current format.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Take the manifest, dropping the bundle.
    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// Every file present in the bundle (central directory order for an archive, sorted
    /// for a directory). Directories in an extracted bundle are walked, not listed.
    pub fn entries(&self) -> Result<Vec<EntryInfo>, BundleError> {
        match &self.source {
            Source::Archive(archive) => (0..archive.len())
                .map(|i| {
                    let entry = archive
                        .by_index_data(i)
                        .map_err(|e| zip_error(&self.path, "?", e))?;
                    Ok(EntryInfo {
                        name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                        size: entry.size(),
                        is_dir: entry.is_dir(),
                        stored: entry.compression() == CompressionMethod::Stored,
                    })
                })
                .collect(),
            Source::Directory { canonical_root } => {
                let mut entries = Vec::new();
                walk(canonical_root, "", &mut entries)
                    .map_err(|e| BundleError::io("list", &self.path, e))?;
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(entries)
            }
        }
    }

    /// What the central directory records of each entry, for checking their CRC-32 as
    /// the archive streams past ([`super::ChecksumStream`]); `None` for an extracted
    /// directory, which records none.
    pub fn archived_entries(&self) -> Option<Vec<super::ArchivedEntry>> {
        let Source::Archive(archive) = &self.source else {
            return None;
        };
        // Every index was read when the bundle was opened (validate_central_directory).
        let entries = (0..archive.len())
            .filter_map(|i| archive.by_index_data(i).ok())
            .filter(|entry| !entry.is_dir())
            .map(|entry| super::ArchivedEntry {
                name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                header_start: entry.header_start(),
                compressed_size: entry.compressed_size(),
                crc32: entry.crc32(),
                stored: entry.compression() == CompressionMethod::Stored,
            })
            .collect();
        Some(entries)
    }

    /// Open one entry for streaming. Returns the stream and the entry's size.
    ///
    /// In a directory, the entry must be a regular file inside it (a symlink may point
    /// elsewhere inside the directory, never outside).
    pub fn open_entry(&mut self, name: &str) -> Result<(Box<dyn SkipRead + '_>, u64), BundleError> {
        validate_entry_name(name).map_err(|reason| BundleError::UnsafeName {
            path: self.path.clone(),
            name: name.into(),
            reason,
        })?;
        let path = &self.path;
        let missing = || BundleError::MissingEntry {
            path: path.clone(),
            name: name.into(),
        };
        match &mut self.source {
            Source::Archive(archive) => {
                let Some(index) = archive.index_for_name(name) else {
                    // `name/` is a directory entry standing where a file is expected.
                    if archive.index_for_name(&format!("{name}/")).is_some() {
                        return Err(BundleError::NotAFile {
                            path: path.clone(),
                            name: name.into(),
                        });
                    }
                    return Err(missing());
                };
                let data = archive
                    .by_index_data(index)
                    .map_err(|e| zip_error(path, name, e))?;
                if data.is_dir() {
                    return Err(BundleError::NotAFile {
                        path: path.clone(),
                        name: name.into(),
                    });
                }
                let size = data.size();
                let method = data.compression();
                if data.encrypted() {
                    return Err(BundleError::Unsupported {
                        path: path.clone(),
                        name: name.into(),
                        method: "encryption".into(),
                    });
                }
                match method {
                    CompressionMethod::Stored => {
                        let file = archive
                            .by_index_seek(index)
                            .map_err(|e| zip_error(path, name, e))?;
                        Ok((Box::new(Seekable::new(file, size)), size))
                    }
                    CompressionMethod::Deflated => {
                        let file = archive
                            .by_index(index)
                            .map_err(|e| zip_error(path, name, e))?;
                        Ok((Box::new(Sequential(file.take(size))), size))
                    }
                    other => Err(BundleError::Unsupported {
                        path: path.clone(),
                        name: name.into(),
                        method: format!("compression method {other}"),
                    }),
                }
            }
            Source::Directory { canonical_root } => {
                let joined = canonical_root.join(name);
                let resolved = match std::fs::canonicalize(&joined) {
                    Ok(p) => p,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => return Err(BundleError::io("open", joined, e)),
                };
                if !resolved.starts_with(&*canonical_root) {
                    return Err(BundleError::SymlinkEscape {
                        path: path.clone(),
                        name: name.into(),
                    });
                }
                let file =
                    File::open(&resolved).map_err(|e| BundleError::io("open", &joined, e))?;
                let metadata = file
                    .metadata()
                    .map_err(|e| BundleError::io("read", &joined, e))?;
                if !metadata.is_file() {
                    return Err(BundleError::NotAFile {
                        path: path.clone(),
                        name: name.into(),
                    });
                }
                let size = metadata.len();
                Ok((Box::new(Seekable::new(file, size)), size))
            }
        }
    }

    /// Read the I/O signature of one kernel file, keeping nothing else of it.
    pub fn read_signature(&mut self, name: &str) -> Result<Signature, BundleError> {
        let bundle_path = self.path.clone();
        let (mut stream, size) = self.open_entry(name)?;
        read_signature(&mut *stream, Some(size)).map_err(|detail| BundleError::InvalidEdf {
            path: bundle_path,
            name: name.into(),
            detail,
        })
    }

    /// Stream one entry into `out`, checking that it holds exactly its declared size.
    pub fn copy_entry(
        &mut self,
        name: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, BundleError> {
        let bundle_path = self.path.clone();
        let expected_crc = self.archived_crc32(name);
        let (mut stream, size) = self.open_entry(name)?;
        let mut out = CrcWriter {
            inner: out,
            crc: crc32fast::Hasher::new(),
        };
        let copied = std::io::copy(&mut (&mut stream).take(size), &mut out)
            .map_err(|e| read_error(&bundle_path, name, e))?;
        let mut probe = [0u8; 1];
        let extra = stream
            .read(&mut probe)
            .map_err(|e| read_error(&bundle_path, name, e))?;
        if copied != size || extra != 0 {
            return Err(BundleError::Inconsistent {
                path: bundle_path,
                name: name.into(),
                detail: format!("does not hold the {size} bytes it declares"),
            });
        }
        // The bytes are read anyway: a corrupt entry is refused, not copied on (issue 13:
        // `unpack` wrote corrupted kernels without a word).
        let crc = out.crc.finalize();
        if let Some(expected) = expected_crc.filter(|expected| *expected != crc) {
            return Err(BundleError::Inconsistent {
                path: bundle_path,
                name: name.into(),
                detail: format!(
                    "is corrupt: its bytes have CRC-32 {crc:08x}, the archive records {expected:08x}"
                ),
            });
        }
        Ok(copied)
    }

    /// The CRC-32 the central directory records for an archived entry (`None` for an
    /// extracted directory, or where the entry cannot be found: `open_entry` says why).
    fn archived_crc32(&mut self, name: &str) -> Option<u32> {
        match &mut self.source {
            Source::Archive(archive) => {
                let index = archive.index_for_name(name)?;
                archive.by_index_data(index).ok().map(|data| data.crc32())
            }
            Source::Directory { .. } => None,
        }
    }
}

/// A writer that computes the CRC-32 of what passes through it.
struct CrcWriter<'a> {
    inner: &'a mut dyn std::io::Write,
    crc: crc32fast::Hasher,
}

impl std::io::Write for CrcWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Whether a zip error says the archive's end (its central directory) is missing: what a
/// file cut short looks like.
fn names_a_missing_end(detail: &str) -> bool {
    let detail = detail.to_ascii_lowercase().replace('-', " ");
    [
        "central directory end",
        "eocd",
        "end of central directory",
        "unexpected end",
    ]
    .iter()
    .any(|sign| detail.contains(sign))
}

fn validate_central_directory(
    path: &Path,
    archive: &ZipArchive<std::io::BufReader<File>>,
    file_len: u64,
) -> Result<(), BundleError> {
    if archive.has_duplicate_names() {
        return Err(BundleError::DuplicateEntry {
            path: path.into(),
            detail: "the archive lists the same entry name more than once".into(),
        });
    }
    let directory_start = archive.central_directory_start();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|e| zip_error(path, "?", e))?;
        let name = std::str::from_utf8(entry.name_raw()).map_err(|_| BundleError::UnsafeName {
            path: path.into(),
            name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
            reason: "it is not UTF-8",
        })?;
        validate_entry_name(name).map_err(|reason| BundleError::UnsafeName {
            path: path.into(),
            name: name.into(),
            reason,
        })?;
        let inconsistent = |detail: String| BundleError::Inconsistent {
            path: path.into(),
            name: name.into(),
            detail,
        };
        let room = directory_start
            .min(file_len)
            .saturating_sub(entry.header_start());
        if entry.compressed_size() > room {
            return Err(inconsistent(format!(
                "declares {} bytes of data, but only {room} bytes of the archive lie before its central directory (a truncated file or forged sizes)",
                entry.compressed_size()
            )));
        }
        match entry.compression() {
            CompressionMethod::Stored if entry.size() != entry.compressed_size() => {
                return Err(inconsistent(format!(
                    "is stored uncompressed but declares {} bytes for {} bytes of data",
                    entry.size(),
                    entry.compressed_size()
                )));
            }
            CompressionMethod::Stored => {}
            _ if entry.size()
                > entry.compressed_size().saturating_mul(MAX_DEFLATE_RATIO) + 1024 =>
            {
                return Err(inconsistent(format!(
                    "declares {} bytes from {} compressed bytes, more than DEFLATE can expand to (a zip bomb?)",
                    entry.size(),
                    entry.compressed_size()
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<EntryInfo>) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = format!("{prefix}{}", item.file_name().to_string_lossy());
        let file_type = item.file_type()?;
        if file_type.is_dir() {
            walk(&item.path(), &format!("{name}/"), out)?;
        } else {
            // Symlinks are reported with their target's size when it resolves; where they
            // point is checked when they are opened.
            let size = std::fs::metadata(item.path()).map(|m| m.len()).unwrap_or(0);
            out.push(EntryInfo {
                name,
                size,
                is_dir: false,
                stored: true,
            });
        }
    }
    Ok(())
}

fn zip_detail(error: &ZipError) -> String {
    match error {
        ZipError::InvalidArchive(msg) if msg.contains("EOCD") => {
            "no end-of-central-directory record".to_string()
        }
        ZipError::InvalidArchive(msg) => msg.to_string(),
        ZipError::UnsupportedArchive(msg) => msg.to_string(),
        other => other.to_string(),
    }
}

fn zip_error(path: &Path, name: &str, error: ZipError) -> BundleError {
    match error {
        ZipError::Io(e) => read_error(path, name, e),
        ZipError::UnsupportedArchive(msg) => BundleError::Unsupported {
            path: path.into(),
            name: name.into(),
            method: msg.to_string(),
        },
        ZipError::CompressionMethodNotSupported(m) => BundleError::Unsupported {
            path: path.into(),
            name: name.into(),
            method: format!("compression method {m}"),
        },
        other => BundleError::Inconsistent {
            path: path.into(),
            name: name.into(),
            detail: zip_detail(&other),
        },
    }
}

/// Read errors inside an entry are the archive's fault (bad CRC, bad deflate data, cut
/// short), except genuine I/O failures of the machine.
fn read_error(path: &Path, name: &str, error: std::io::Error) -> BundleError {
    match error.kind() {
        std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::Other => BundleError::Inconsistent {
            path: path.into(),
            name: name.into(),
            detail: format!("cannot be read: {error}"),
        },
        _ => BundleError::io("read", path, error),
    }
}
