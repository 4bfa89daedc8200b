//! Why a cache operation failed, naming the file, with a next step where one exists.

use std::path::{Path, PathBuf};

use crate::bundle::{BundleError, NameError};

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::fs::WriteError),
    /// A serialization failure: the file on disk is left as it was, never emptied.
    #[error("cannot serialize `{}`: {source}", path.display())]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}` is a directory; `add` takes .fxb files", .0.display())]
    Directory(PathBuf),
    #[error("`{}` is not a regular file (a device, a pipe or a socket); `add` takes .fxb files", .0.display())]
    NotAFile(PathBuf),
    #[error("`{}` has no manifest uuid to file it under", .0.display())]
    NoUuid(PathBuf),
    #[error("`{}` has uuid {uuid:?}, which cannot be a directory name", path.display())]
    BadUuid { path: PathBuf, uuid: String },
    #[error("`{}` has no standard file name: {source}", path.display())]
    Name {
        path: PathBuf,
        #[source]
        source: NameError,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Bound(#[from] super::remove::BoundError),
    #[error("the cache `{}` is read-only", .0.display())]
    ReadOnly(PathBuf),
    /// `prune` by revision with no running revision to compare against.
    #[error("no runtime compiler revision is known, so no bundle can be called stale")]
    NoRuntimeRevision {
        /// Why the runtime could not tell.
        why: String,
    },
}

impl CacheError {
    pub(super) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        CacheError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl crate::Hint for CacheError {
    fn hint(&self) -> Option<String> {
        match self {
            CacheError::Directory(_) => {
                Some("pack an extracted bundle first: `fxb pack DIR out.fxb`".into())
            }
            CacheError::Bundle(e) => e.hint(),
            CacheError::Io { .. } | CacheError::Write(_) => Some(
                "check the cache directory's permissions and free space (--cache-dir to use another)"
                    .into(),
            ),
            CacheError::ReadOnly(_) => Some(
                "listing and checking work on it; to change it, use a cache you may write (--cache-dir)"
                    .into(),
            ),
            CacheError::NoRuntimeRevision { why } => Some(format!(
                "{why}; pass --runtime-revision REV (or FXB_RUNTIME_REVISION), or use --older-than VERSION"
            )),
            _ => None,
        }
    }
}
