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
mod parsed;
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
///
/// The reference formats `bytes / 1024^k` as a float with one decimal, rounding half to
/// even; that quotient is exact in binary, so integers give the same digits without the
/// float formatter (a thousand-row `cache ls` formats a thousand sizes).
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit_index = 1;
    while unit_index < 4 && u128::from(bytes) >= 1u128 << (10 * (unit_index + 1)) {
        unit_index += 1;
    }
    let divisor = 1u128 << (10 * unit_index);
    let tenths = u128::from(bytes) * 10;
    let (mut rounded, rest) = (tenths / divisor, tenths % divisor);
    if rest * 2 > divisor || (rest * 2 == divisor && rounded % 2 == 1) {
        rounded += 1;
    }
    let unit = ["", "KiB", "MiB", "GiB", "TiB"][unit_index as usize];
    // Digits by hand: the formatter cost more than the rest of a row.
    let mut digits = Vec::with_capacity(24);
    let mut whole = rounded / 10;
    loop {
        digits.push(b'0' + (whole % 10) as u8);
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    digits.reverse();
    digits.extend([b'.', b'0' + (rounded % 10) as u8, b' ']);
    digits.extend_from_slice(unit.as_bytes());
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float formatting the reference's figures come from.
    fn human_size_by_float(bytes: u64) -> String {
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

    #[test]
    fn human_sizes_are_the_float_formatting_digit_for_digit() {
        let mut sizes: Vec<u64> = (0..5000)
            .chain([1023, 1024, 1075, 1076, 1126, 1127])
            .collect();
        for unit in [1u64 << 10, 1 << 20, 1 << 30, 1 << 40] {
            for k in [1u64, 2, 5, 17, 1000, 1023, 1024, 5000] {
                for nudge in [0i64, -1, 1, -51, 51, -52, 52] {
                    // Around each tenth's midpoint, where rounding ties are.
                    let base = (k * unit) as i64 + (unit as i64 / 20) + nudge;
                    sizes.push(base.max(0) as u64);
                }
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sizes.push(x >> (x % 40));
        }
        sizes.push(u64::MAX);
        for size in sizes {
            assert_eq!(human_size(size), human_size_by_float(size), "{size}");
        }
    }

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
