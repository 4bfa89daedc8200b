//! Errors from reading and writing bundles. Each message names the file and the cause on
//! one line, because the first thing a user needs is which file is wrong and why.

use std::path::PathBuf;

/// Why a bundle could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },

    #[error("failed to {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a zip archive: {detail}", path.display())]
    NotZip { path: PathBuf, detail: String },

    #[error("`{}` is a truncated zip archive: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },

    #[error("`{}` is a corrupt zip archive: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },

    #[error("`{}` has no `manifest.json`", path.display())]
    NoManifest { path: PathBuf, directory: bool },

    #[error("`{}`: invalid `manifest.json`: {detail}", path.display())]
    InvalidManifest { path: PathBuf, detail: String },

    #[error(
        "`{}`: manifest format_version {found} is newer than this fxb reads (format_version {supported})",
        path.display()
    )]
    FutureFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    #[error("`{}`: unsafe entry name {name:?}: {reason}", path.display())]
    UnsafeName {
        path: PathBuf,
        name: String,
        reason: &'static str,
    },

    #[error("`{}`: {detail}", path.display())]
    DuplicateEntry { path: PathBuf, detail: String },

    #[error(
        "`{}`: entry `{name}` declares {declared} bytes, more than the limit of {limit} bytes",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        name: String,
        declared: u64,
        limit: u64,
    },

    #[error("`{}`: entry `{name}` {detail}", path.display())]
    Inconsistent {
        path: PathBuf,
        name: String,
        detail: String,
    },

    #[error("`{}`: `{name}` is a directory, expected a file", path.display())]
    NotAFile { path: PathBuf, name: String },

    #[error("`{}`: `{name}` is a symlink that points outside the bundle directory", path.display())]
    SymlinkEscape { path: PathBuf, name: String },

    #[error("`{}`: `{name}` is missing", path.display())]
    MissingEntry { path: PathBuf, name: String },

    #[error("`{}`: `{name}` is not a valid EDF kernel file: {detail}", path.display())]
    InvalidEdf {
        path: PathBuf,
        name: String,
        detail: String,
    },

    #[error("`{}`: entry `{name}` uses {method}, which fxb cannot read", path.display())]
    Unsupported {
        path: PathBuf,
        name: String,
        method: String,
    },

    #[error("`{}` {detail}", path.display())]
    Refused { path: PathBuf, detail: String },
}

impl BundleError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BundleError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl crate::Hint for BundleError {
    /// A next step for the user, where one exists.
    fn hint(&self) -> Option<String> {
        match self {
            BundleError::NotZip { .. } => Some(
                "pass a `.fxb` bundle or an extracted artifact directory (one with `manifest.json`)"
                    .into(),
            ),
            BundleError::Corrupt { .. } => {
                Some("the archive is damaged, not just short: fetch or build it again".into())
            }
            BundleError::Truncated { .. } => {
                Some("the file was cut short (an interrupted copy or download?): fetch it again".into())
            }
            BundleError::FutureFormat { .. } => {
                Some("this bundle was written by a newer tool: upgrade fxb to read it".into())
            }
            BundleError::NoManifest {
                directory: true, ..
            } => Some(
                "an artifact directory needs `manifest.json` at its top level (see `fxb unpack`)"
                    .into(),
            ),
            BundleError::NoManifest {
                directory: false, ..
            } => Some("every FXB bundle has `manifest.json` at its top level: is this an FXB bundle?".into()),
            BundleError::Unsupported { .. } => {
                Some("re-pack the bundle with `fxb pack`, which stores entries uncompressed".into())
            }
            _ => None,
        }
    }
}
