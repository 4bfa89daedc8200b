//! Moving between the two forms of a bundle: `unpack` extracts an archive into the
//! artifact directory that serving and `show` / `inspect` accept, `pack` turns such a
//! directory back into an archive.
//!
//! `unpack` writes into a temporary directory beside the target and renames it into
//! place, so the target either does not appear or appears whole. Entry names were
//! validated when the archive was opened, and are checked again here as paths.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use super::entry_name::validate_entry_name;
use super::error::BundleError;
use super::manifest::MANIFEST_FILE;
use super::reader::{Bundle, BundleKind};
use super::writer::{BundleWriter, WrittenBundle, canonical_entry_order};

/// `unpack` stages into `{parent}/.fxb-unpack.<pid>.<random>`.
const UNPACK_STAGING: &str = ".fxb-unpack.";

/// What `unpack` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackReport {
    pub directory: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// What `pack` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    pub bundle: WrittenBundle,
    /// Files in the directory that the manifest does not name, left out of the archive.
    pub skipped: Vec<String>,
}

/// Extract the archive at `bundle_path` into `target`, which must not exist or be empty.
pub fn unpack(bundle_path: &Path, target: &Path) -> Result<UnpackReport, BundleError> {
    let mut bundle = Bundle::open(bundle_path)?;
    if bundle.kind() == BundleKind::Directory {
        return Err(BundleError::Refused {
            path: bundle_path.into(),
            detail: "is already an extracted directory; unpack takes a `.fxb` file".into(),
        });
    }
    let target_exists = match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => {
            let mut items =
                std::fs::read_dir(target).map_err(|e| BundleError::io("read", target, e))?;
            if items.next().is_some() {
                return Err(BundleError::Refused {
                    path: target.into(),
                    detail: "exists and is not empty; unpack into a new or empty directory".into(),
                });
            }
            true
        }
        Ok(_) => {
            return Err(BundleError::Refused {
                path: target.into(),
                detail: "exists and is not a directory".into(),
            });
        }
        Err(_) => false,
    };
    let parent = crate::fs::parent_dir(target).to_path_buf();
    // The central directory's sizes are what will be written (each entry is copied to
    // exactly its declared size): refuse up front what the disk cannot hold, rather than
    // fill it (issue 13: a 2.6 MB bundle wrote 1 GiB).
    let entries = bundle.entries()?;
    let needed = entries
        .iter()
        .fold(0u64, |sum, entry| sum.saturating_add(entry.size));
    if let Ok(available) = crate::fs::available_space(&parent)
        && needed > available
    {
        return Err(BundleError::Refused {
            path: target.into(),
            detail: format!(
                "is on a file system with {available} bytes free, too few for the {needed} bytes the bundle's entries declare"
            ),
        });
    }
    // What an unpack killed by a signal left (named with its pid) only takes space.
    crate::leftovers::remove_dead(&parent, &[UNPACK_STAGING]);
    let staging = tempfile::Builder::new()
        .prefix(&format!("{UNPACK_STAGING}{}.", std::process::id()))
        .tempdir_in(&parent)
        .map_err(|e| BundleError::io("create a temporary directory in", &parent, e))?;
    // Opened before the first write, for the one flush of them all.
    let staging_dir =
        File::open(staging.path()).map_err(|e| BundleError::io("open", staging.path(), e))?;

    let mut files = 0;
    let mut bytes = 0;
    for entry in entries {
        let relative = safe_relative_path(bundle_path, &entry.name)?;
        let destination = staging.path().join(&relative);
        if entry.is_dir {
            std::fs::create_dir_all(&destination)
                .map_err(|e| BundleError::io("create", &destination, e))?;
            continue;
        }
        if let Some(dir) = destination.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BundleError::io("create", dir, e))?;
        }
        let mut out = File::create_new(&destination)
            .map_err(|e| BundleError::io("create", &destination, e))?;
        bytes += bundle.copy_entry(&entry.name, &mut out)?;
        // On Linux all are flushed at once below: an fsync per file made 70,000 entries
        // take minutes (issue 13).
        #[cfg(not(target_os = "linux"))]
        out.sync_all()
            .map_err(|e| BundleError::io("sync", &destination, e))?;
        files += 1;
    }
    crate::fs::sync_file_system(&staging_dir, std::iter::empty())
        .map_err(|e| BundleError::io("flush", staging.path(), e))?;
    if target_exists {
        std::fs::remove_dir(target).map_err(|e| BundleError::io("replace", target, e))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        BundleError::io("rename a temporary directory to", target, e)
    })?;
    crate::fs::sync_dir(crate::fs::parent_dir(target));
    Ok(UnpackReport {
        directory: target.to_path_buf(),
        files,
        bytes,
    })
}

/// Pack the artifact directory `dir` into a `.fxb` at `output`: the files the manifest
/// names, in canonical order, then the manifest (migrated to the current format, unknown
/// fields kept). Entry timestamps come from `created_at`, so packing is reproducible.
pub fn pack(dir: &Path, output: &Path) -> Result<PackReport, BundleError> {
    let mut bundle = Bundle::open(dir)?;
    if bundle.kind() == BundleKind::Archive {
        return Err(BundleError::Refused {
            path: dir.into(),
            detail: "is already a bundle archive; pack takes an extracted directory".into(),
        });
    }
    let manifest = bundle.manifest().clone();
    let timestamp = manifest
        .created_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let named: std::collections::HashSet<&str> = manifest.files().into_iter().collect();
    let skipped = bundle
        .entries()?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != MANIFEST_FILE && !named.contains(n.as_str()))
        .collect();
    let mut writer = BundleWriter::create(output, timestamp)?;
    for (_, entry) in canonical_entry_order(&manifest) {
        let (mut source, size) = bundle.open_entry(&entry.file)?;
        writer.add_entry(&entry.file, &mut source, size)?;
    }
    let written = writer.finish(&manifest)?;
    Ok(PackReport {
        bundle: written,
        skipped,
    })
}

/// The entry name as a relative path of plain components only.
fn safe_relative_path(bundle: &Path, name: &str) -> Result<PathBuf, BundleError> {
    let unsafe_name = |reason| BundleError::UnsafeName {
        path: bundle.into(),
        name: name.into(),
        reason,
    };
    validate_entry_name(name).map_err(unsafe_name)?;
    let path = PathBuf::from(name.trim_end_matches('/'));
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(path)
    } else {
        Err(unsafe_name("it is not a plain relative path"))
    }
}
