//! The local bundle cache fxb shares with the reference toolchain (FORMAT.md §4,
//! DESIGN.md "Cache"): `<cache>/index.json` in the reference's exact schema, read and
//! written under the same exclusive `flock` on `index.json.lock`, bundles under
//! `models--local/snapshots/<uuid>/` (added) or the hf-hub layout (downloaded). fxb's own
//! additions (content hashes, the rule a bundle was fingerprinted with) live in a sidecar
//! the reference never touches, keyed by path, size and mtime; a missing or stale sidecar
//! entry means "not yet hashed", never an error.
//!
//! Every command reconciles the index with the disk first (§4.4) and rewrites it only
//! when that changed something; every write is a temp file renamed into place under the
//! lock, so concurrent fxb and reference processes never see half an index.

mod add;
mod copy;
mod error;
pub mod index;
mod lock;
mod reconcile;
mod record;
mod remove;
mod sidecar;
mod stamps;
mod store;
mod verify;

use std::path::PathBuf;

pub use add::{AddReporter, Added, Silent};
pub use error::CacheError;
pub use index::{FileEntry, Index, ModelObject, Repo};
pub use record::Fetched;
pub use remove::{BoundError, PrunePolicy, Removal, Selection, Selector, VersionBound};
pub use sidecar::{Compiler, Sidecar, SidecarEntry};
pub use store::{Cache, CachedFile, Recorded};
pub use verify::{PartialDownload, Verified, VerifyStatus};

/// The cache's lock file (the reference's), never deleted; see [`lock`] for what it guards.
pub const LOCK_FILE: &str = "index.json.lock";

/// `--cache-dir` when given, else `$XDG_CACHE_HOME/furiosa/llm/fxb`, else
/// `~/.cache/furiosa/llm/fxb` (the reference's default).
pub fn cache_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| {
        crate::fs::user_dirs::cache_home()
            .join("furiosa")
            .join("llm")
            .join("fxb")
    })
}

/// The reference's match rule for revisions (FORMAT.md §5.2): equal when either is a
/// prefix of the other (`ae27d44` and `ae27d44cd8-modified` match `ae27d44cd8`);
/// case-sensitive; an unknown revision never matches.
pub fn revisions_match(cached: Option<&str>, running: &str) -> bool {
    cached.is_some_and(|c| c.starts_with(running) || running.starts_with(c))
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
    fn revisions_match_by_prefix_either_way() {
        for cached in ["ae27d44cd8", "ae27d44", "ae27d44cd8-modified", "ae", ""] {
            assert!(revisions_match(Some(cached), "ae27d44cd8"), "{cached}");
        }
        assert!(!revisions_match(Some("AE27D44CD8"), "ae27d44cd8"));
        assert!(!revisions_match(None, "ae27d44cd8"));
    }

    #[test]
    fn sizes_print_like_the_reference() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1_888_977), "1.8 MiB");
        assert_eq!(human_size(3 * 1_888_977), "5.4 MiB");
        assert_eq!(human_size(4 << 30), "4.0 GiB");
    }
}
