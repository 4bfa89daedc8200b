//! Which cached bundles go, and their removal: `rm`'s selectors, `prune`'s policies,
//! and the removal both end in. The front ends (CLI, registry) ask, preview and
//! confirm; the choice itself is made here.

use std::path::{Path, PathBuf};

use super::error::CacheError;
use super::sidecar::Sidecar;
use super::store::{Cache, CachedFile};
use crate::check::Running;

/// What `rm` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every cached bundle.
    All,
    /// An exact repo id (`local`, `org/name`), an exact cached file name (with `.fxb`),
    /// which matches in every repo and snapshot, or both as `add` prints them
    /// (`local/<file name>`).
    Name(String),
}

impl Selector {
    fn matches(&self, file: &CachedFile) -> bool {
        match self {
            Selector::All => true,
            Selector::Name(name) => {
                *name == file.repo_id
                    || *name == file.entry.filename
                    || name
                        .strip_suffix(file.entry.filename.as_str())
                        .and_then(|repo| repo.strip_suffix('/'))
                        == Some(file.repo_id.as_str())
            }
        }
    }
}

/// The bundles some selectors chose, and the selectors that chose none.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub chosen: Vec<CachedFile>,
    pub unmatched: Vec<String>,
}

impl Selection {
    /// File-name selectors that chose more than one bundle (bundles rebuilt within a
    /// minute share a standard name), with how many each chose: a user typing one name
    /// may expect one bundle.
    pub fn ambiguous<'s>(&self, selectors: &'s [Selector]) -> Vec<(&'s str, usize)> {
        selectors
            .iter()
            .filter_map(|selector| match selector {
                Selector::Name(name) if name.ends_with(".fxb") => {
                    let count = self.chosen.iter().filter(|f| selector.matches(f)).count();
                    (count > 1).then_some((name.as_str(), count))
                }
                _ => None,
            })
            .collect()
    }

    /// The bytes removing them would free.
    pub fn bytes(&self) -> u64 {
        self.chosen.iter().map(|f| f.entry.size_bytes).sum()
    }
}

/// What `prune` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrunePolicy {
    /// Bundles stale for the running build: compiler revision unknown, or not a prefix
    /// match of `compiler_revision` (the reference's rule).
    Stale { compiler_revision: String },
    /// Bundles whose FuriosaIR version is below (or at most) a bound; bundles without a
    /// version stay.
    OlderThan(VersionBound),
}

impl PrunePolicy {
    /// `--older-than BOUND`.
    pub fn older_than(bound: &str) -> Result<PrunePolicy, CacheError> {
        Ok(PrunePolicy::OlderThan(VersionBound::parse(bound)?))
    }

    /// Staleness for the running build — refused when its compiler revision is unknown
    /// (`why` says why), rather than calling every bundle stale.
    pub fn stale_for(running: &Running, why: &str) -> Result<PrunePolicy, CacheError> {
        match &running.compiler_revision {
            Some(revision) => Ok(PrunePolicy::Stale {
                compiler_revision: revision.clone(),
            }),
            None => Err(CacheError::NoRuntimeRevision {
                why: why.to_string(),
            }),
        }
    }
}

/// What a removal freed.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub files: usize,
    pub bytes: u64,
}

impl Cache {
    /// The cached bundles `selectors` name, in `cache ls` order.
    pub fn select(&self, selectors: &[Selector]) -> Result<Selection, CacheError> {
        let files = self.list()?;
        let unmatched = selectors
            .iter()
            .filter(|s| !files.iter().any(|f| s.matches(f)))
            .filter_map(|s| match s {
                Selector::Name(name) => Some(name.clone()),
                Selector::All => None,
            })
            .collect();
        let chosen = files
            .into_iter()
            .filter(|f| selectors.iter().any(|s| s.matches(f)))
            .collect();
        Ok(Selection { chosen, unmatched })
    }

    /// The cached bundles `policy` removes, in `cache ls` order.
    pub fn stale(&self, policy: &PrunePolicy) -> Result<Selection, CacheError> {
        let files = self.list()?;
        let chosen = match policy {
            PrunePolicy::OlderThan(bound) => files
                .into_iter()
                .filter(|f| bound.removes(f.entry.ir_version.as_deref()))
                .collect(),
            PrunePolicy::Stale { compiler_revision } => {
                // Bundles from another compiler (fxb's host backend) carry their revision
                // in fxb's sidecar, not in the shared index.
                let others = self.recorded().compilers;
                files
                    .into_iter()
                    .filter(|f| {
                        let revision = f.entry.ir_revision.as_deref().or_else(|| {
                            others
                                .get(&f.entry.rel_path)
                                .and_then(|c| c.revision.as_deref())
                        });
                        !super::revisions_match(revision, compiler_revision)
                    })
                    .collect()
            }
        };
        Ok(Selection {
            chosen,
            unmatched: Vec::new(),
        })
    }

    /// Remove these cached files (as listed), their empty snapshot directories, and a
    /// downloaded repo's whole directory with its last file. Index and sidecar are
    /// updated under the lock; a file another process removed meanwhile is skipped.
    pub fn remove(&self, files: &[CachedFile]) -> Result<Removal, CacheError> {
        self.writable()?;
        let lock = self.lock()?;
        let mut index = self.state(&lock)?.index;
        let mut sidecar = Sidecar::load(self.dir());
        let mut removal = Removal { files: 0, bytes: 0 };
        let mut removed: Vec<&str> = Vec::new();
        let mut unlinked: Vec<PathBuf> = Vec::new();
        for file in files {
            if !index
                .files()
                .any(|(_, f)| f.rel_path == file.entry.rel_path)
            {
                continue; // gone meanwhile (another process)
            }
            let path = self.dir().join(&file.entry.rel_path);
            // A downloaded file is a link into its repo's blobs: the blob is freed below
            // once no snapshot links it (the reference leaves it behind).
            if let Some(blob) = linked_blob(&path) {
                unlinked.push(blob);
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io("remove", &path, e)),
            }
            removal.files += 1;
            removal.bytes += file.entry.size_bytes;
            removed.push(&file.entry.rel_path);
            sidecar.entries.remove(&file.entry.rel_path);
            if let Some(snapshot) = path.parent() {
                let _ = std::fs::remove_dir(snapshot); // only when empty
            }
        }
        index.remove(&removed);
        // A repo with no file left goes entirely (blobs, refs, locks of a download).
        for file in files {
            let repo_dir = file.entry.rel_path.split('/').next().unwrap_or_default();
            let still_used = index
                .files()
                .any(|(_, f)| f.rel_path.split('/').next() == Some(repo_dir));
            let dir = self.dir().join(repo_dir);
            if !still_used && repo_dir.starts_with("models--") && dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        free_blobs(&unlinked);
        self.write_index(&lock, &index)?;
        self.write_sidecar(&lock, &sidecar)?;
        Ok(removal)
    }
}

/// The blob a snapshot link points to (`../../blobs/<etag>`), if `path` is such a link.
pub(super) fn linked_blob(path: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(path).ok()?;
    let blob = path.parent()?.join(target);
    let in_blobs = blob.parent()?.file_name()? == "blobs";
    in_blobs.then_some(blob)
}

/// Remove each blob no snapshot of its repository links any more. A blob still linked
/// (the same file in another revision) stays; a failure only leaves a blob behind.
fn free_blobs(blobs: &[PathBuf]) {
    for blob in blobs {
        // `<repo>/blobs/<etag>` → `<repo>`; gone already when the whole repo went.
        let Some(repo) = blob.parent().and_then(Path::parent) else {
            continue;
        };
        if !blob.exists() || still_linked(repo, blob) {
            continue;
        }
        match std::fs::remove_file(blob) {
            Ok(()) => tracing::debug!("freed `{}`: no snapshot links it", blob.display()),
            Err(e) => tracing::debug!("cannot free `{}`: {e}", blob.display()),
        }
    }
}

/// Whether any `snapshots/*/…` link of `repo` points to `blob` (files in subdirectories
/// of a snapshot included). Unreadable directories count as linking: never free a blob
/// that may be in use.
fn still_linked(repo: &Path, blob: &Path) -> bool {
    let Some(name) = blob.file_name() else {
        return true;
    };
    let mut stack = vec![repo.join("snapshots")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return dir.exists();
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_symlink() => {
                    if std::fs::read_link(&path).is_ok_and(|t| t.file_name() == Some(name)) {
                        return true;
                    }
                }
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    }
    false
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
            VersionBound::parse("2026.4")
                .expect_err("no patch")
                .to_string(),
            "invalid version bound '2026.4': unexpected end of input while parsing minor version number"
        );
    }

    #[test]
    fn prune_without_a_running_revision_is_refused() {
        let unknown = Running::default();
        assert!(matches!(
            PrunePolicy::stale_for(&unknown, "no runtime"),
            Err(CacheError::NoRuntimeRevision { .. })
        ));
        let known = Running {
            compiler_revision: Some("ae27d44cd8".into()),
            llm_revision: None,
        };
        assert!(matches!(
            PrunePolicy::stale_for(&known, "unused"),
            Ok(PrunePolicy::Stale { .. })
        ));
    }
}
