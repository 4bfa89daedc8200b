//! Where user-extensible data comes from: compiled into the binary, or files the user
//! dropped into search directories. Plugins and rule files are found the same way.

use std::path::{Path, PathBuf};

/// The origin of a plugin or rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the binary (the file name it was built from).
    Embedded(&'static str),
    /// A file in a search directory.
    File(PathBuf),
}

impl Source {
    /// User files beat embedded ones wherever precedence is equal.
    pub fn is_user(&self) -> bool {
        matches!(self, Source::File(_))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Embedded(_) => f.write_str("embedded"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Files ending in `.{extension}` directly in `dir`, sorted by name; a missing or
/// unreadable directory has none.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}
