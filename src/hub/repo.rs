//! A Hub repository id, and its folder in the Hub's cache layout (FORMAT.md §4.2), which
//! the fxb cache uses for downloads and the Hugging Face cache for everything else:
//! `models--{org}--{name}/{blobs,refs,snapshots}`. Every name that comes from the Hub —
//! a commit, a ref, a file name, an ETag — is checked here before it becomes a path.

use std::path::{Path, PathBuf};

use super::error::HubError;

/// `org/name` or `name`, as the Hub allows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoId(String);

impl RepoId {
    /// The Hub's rules: one or two parts of letters, digits, `-`, `_` and `.`, neither
    /// `--` nor `..` anywhere (the cache folder name must map back to one id), no part
    /// starting or ending with `-` or `.`, at most 96 characters a part.
    pub fn parse(text: &str) -> Result<RepoId, HubError> {
        let parts: Vec<&str> = text.split('/').collect();
        let part_ok = |part: &str| {
            !part.is_empty()
                && part.len() <= 96
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !part.starts_with(['-', '.'])
                && !part.ends_with(['-', '.'])
        };
        if parts.len() > 2
            || !parts.iter().all(|p| part_ok(p))
            || text.contains("--")
            || text.contains("..")
        {
            return Err(HubError::BadRepoId(text.to_string()));
        }
        Ok(RepoId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organization or user (`furiosa-ai` of `furiosa-ai/Qwen3-8B-FP8`).
    pub fn owner(&self) -> Option<&str> {
        self.0.split_once('/').map(|(owner, _)| owner)
    }

    /// `models--org--name`.
    pub fn folder_name(&self) -> String {
        format!("models--{}", self.0.replace('/', "--"))
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository's folder under a cache root.
#[derive(Debug, Clone)]
pub struct RepoDir {
    folder: String,
    path: PathBuf,
}

impl RepoDir {
    pub fn new(root: &Path, repo: &RepoId) -> RepoDir {
        let folder = repo.folder_name();
        RepoDir {
            path: root.join(&folder),
            folder,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn blobs(&self) -> PathBuf {
        self.path.join("blobs")
    }

    /// `blobs/<etag>` (an ETag checked by [`safe_etag`]).
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.blobs().join(etag)
    }

    /// `refs/<revision>` (checked by [`safe_ref`]; a ref with `/` nests, as the Hub's
    /// clients write it).
    pub fn ref_file(&self, revision: &str) -> PathBuf {
        self.path.join("refs").join(revision)
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.path.join("snapshots").join(commit)
    }

    /// `models--org--name/snapshots/<commit>/<file>`, as the index records it.
    pub fn rel_path(&self, commit: &str, file: &str) -> String {
        format!("{}/snapshots/{commit}/{file}", self.folder)
    }

    /// Record that `revision` is `commit` (`refs/<revision>`, the commit without a newline,
    /// as the Hub's clients write it); nothing for a revision that is a commit.
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if is_commit(revision) {
            return Ok(());
        }
        if !safe_ref(revision) {
            return Err(HubError::BadRevision(revision.to_string()));
        }
        let path = self.ref_file(revision);
        let dir = crate::fs::parent_dir(&path);
        std::fs::create_dir_all(dir).map_err(|e| HubError::io("create", dir, e))?;
        if std::fs::read(&path).is_ok_and(|old| old == commit.as_bytes()) {
            return Ok(());
        }
        crate::fs::write_atomically(&path, commit.as_bytes(), crate::fs::Durability::Durable)
            .map_err(|e| HubError::io("write", &path, e.source))
    }

    /// `snapshots/<commit>/<file>` → `../../blobs/<etag>`, a relative symlink (the Hub's
    /// layout), made or replaced whole (a link beside it, renamed over).
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, HubError> {
        let snapshot = self.snapshot(commit);
        std::fs::create_dir_all(&snapshot).map_err(|e| HubError::io("create", &snapshot, e))?;
        let path = snapshot.join(file);
        let target = Path::new("../../blobs").join(etag);
        if std::fs::read_link(&path).is_ok_and(|t| t == target) {
            return Ok(path);
        }
        let temp = snapshot.join(format!(".{file}.{}.link.tmp", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        make_link(&target, &self.blob(etag), &temp)
            .map_err(|e| HubError::io("create a link at", &temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            HubError::io("move into place", &path, e)
        })?;
        Ok(path)
    }

    /// The commit `refs/<revision>` names, if it is cached and is a commit.
    pub fn cached_ref(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        if !safe_ref(revision) {
            return None;
        }
        let bytes = crate::fs::read_limited(&self.ref_file(revision), 256).ok()?;
        let commit = String::from_utf8(bytes).ok()?.trim().to_string();
        is_commit(&commit).then_some(commit)
    }
}

#[cfg(unix)]
fn make_link(target: &Path, _blob: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// Without symlinks, the snapshot holds a copy (as the Hub's clients do on such systems).
#[cfg(not(unix))]
fn make_link(_target: &Path, blob: &Path, at: &Path) -> std::io::Result<()> {
    std::fs::copy(blob, at).map(drop)
}

/// A full commit id: 40 lowercase hex digits.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A ref name that can be a path under `refs/`: `/`-separated plain components
/// (`main`, `v2026.4`, `refs/pr/1`).
pub fn safe_ref(revision: &str) -> bool {
    revision.split('/').all(crate::fs::safe_component)
}

/// An ETag that can be a blob's file name (a sha256 or a git sha1: hex, in practice).
pub fn safe_etag(etag: &str) -> bool {
    crate::fs::safe_component(etag) && !etag.starts_with('.')
}

/// A repository file that may be a snapshot entry the cache indexes: at the top of the
/// repository (the cache scans only `snapshots/<rev>/*.fxb`), not hidden, no separator
/// or control character, at most 255 bytes.
pub fn top_level_file(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The ETag as the Hub sends it, without `W/` and quotes.
pub fn clean_etag(raw: &str) -> String {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_the_hubs() {
        for ok in [
            "furiosa-ai/Llama-3.1-8B-Instruct",
            "gpt2",
            "Qwen/Qwen3-8B-FP8",
            "a_b/c.d",
        ] {
            assert!(RepoId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a/b/c", "a//b", "../x", "a/..", "a--b/c", "a/b c", "-a/b", "a/b.", "/a",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
        let id = RepoId::parse("furiosa-ai/Llama-3.1-8B-Instruct").expect("id");
        assert_eq!(
            id.folder_name(),
            "models--furiosa-ai--Llama-3.1-8B-Instruct"
        );
        assert_eq!(id.owner(), Some("furiosa-ai"));
        assert_eq!(RepoId::parse("gpt2").expect("id").owner(), None);
    }

    #[test]
    fn names_from_the_hub_are_checked() {
        assert!(is_commit("daef4cdc15b69ee11f487c1d2d445be3abf1ceef"));
        assert!(!is_commit("main"));
        assert!(!is_commit("DAEF4CDC15B69EE11F487C1D2D445BE3ABF1CEEF"));
        assert!(safe_ref("refs/pr/1") && safe_ref("v2026.4"));
        assert!(!safe_ref("../x") && !safe_ref("a//b") && !safe_ref(""));
        assert!(top_level_file(
            "Llama-3.1-8B-Instruct-ae27d44cd8-b1baffa75-2611230550.fxb"
        ));
        assert!(!top_level_file("sub/x.fxb") && !top_level_file(".x.fxb") && !top_level_file(""));
        assert_eq!(clean_etag("W/\"abc\""), "abc");
        assert!(!safe_etag("../x") && !safe_etag(".lock") && safe_etag("d9ce70a7"));
    }
}
