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

mod copy;
pub mod index;
mod sidecar;
mod stamps;
mod store;

use std::path::PathBuf;

pub use index::{FileEntry, Index, Repo};
pub use sidecar::{Compiler, Sidecar, SidecarEntry};
pub use store::{
    Added, Cache, CacheError, CachedFile, Recorded, Removal, Verified, VerifyStatus, human_size,
};

/// `--cache-dir` when given, else `$XDG_CACHE_HOME/furiosa/llm/fxb`, else
/// `~/.cache/furiosa/llm/fxb` (the reference's default).
pub fn cache_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("furiosa").join("llm").join("fxb")
}

/// Where compiled plugins are cached: [`crate::plugin::CompiledCache::default_dir`], a
/// directory private to the user and never under the bundle cache (`_cache_dir`), which
/// other users may share: compiled plugins are run as native code.
pub fn compiled_plugin_dir(_cache_dir: &std::path::Path) -> PathBuf {
    crate::plugin::CompiledCache::default_dir()
}

/// The reference's match rule for revisions (FORMAT.md §5.2): equal when either is a
/// prefix of the other (`ae27d44` and `ae27d44cd8-modified` match `ae27d44cd8`);
/// case-sensitive; an unknown revision never matches.
pub fn revisions_match(cached: Option<&str>, running: &str) -> bool {
    cached.is_some_and(|c| c.starts_with(running) || running.starts_with(c))
}

/// `--older-than`: `X.Y.Z` or `<X.Y.Z` (below), `<=X.Y.Z` (at most), by semver precedence
/// (build metadata ignored, pre-releases older than their release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionBound {
    version: semver::Version,
    inclusive: bool,
}

/// A bound that does not parse, in the reference's words.
#[derive(Debug, thiserror::Error)]
#[error("invalid version bound '{bound}': {cause}")]
pub struct BoundError {
    bound: String,
    cause: semver::Error,
}

impl VersionBound {
    pub fn parse(text: &str) -> Result<VersionBound, BoundError> {
        let (inclusive, rest) = match text.strip_prefix("<=") {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('<').unwrap_or(text)),
        };
        let version = semver::Version::parse(rest).map_err(|cause| BoundError {
            bound: text.to_string(),
            cause,
        })?;
        Ok(VersionBound { version, inclusive })
    }

    /// Whether a bundle with FuriosaIR version `version` goes. Unknown or non-semver
    /// versions stay.
    pub fn removes(&self, version: Option<&str>) -> bool {
        let Some(version) = version.and_then(|v| semver::Version::parse(v).ok()) else {
            return false;
        };
        let key = |v: &semver::Version| (v.major, v.minor, v.patch, v.pre.clone());
        let (have, bound) = (key(&version), key(&self.version));
        if self.inclusive {
            have <= bound
        } else {
            have < bound
        }
    }
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
    fn version_bounds_follow_semver_precedence() {
        let below = VersionBound::parse("2026.3.0").expect("bound");
        assert_eq!(below, VersionBound::parse("<2026.3.0").expect("bound"));
        assert!(below.removes(Some("2026.2.9")));
        assert!(below.removes(Some("2026.3.0-dev")));
        assert!(!below.removes(Some("2026.3.0")));
        assert!(!below.removes(None));
        assert!(!below.removes(Some("garbage")));
        let at_most = VersionBound::parse("<=2026.3.0").expect("bound");
        assert!(at_most.removes(Some("2026.3.0+abc")));
        assert_eq!(
            VersionBound::parse("2026.4").unwrap_err().to_string(),
            "invalid version bound '2026.4': unexpected end of input while parsing minor version number"
        );
    }
}
