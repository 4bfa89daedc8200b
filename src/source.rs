//! Where user-extensible data comes from: compiled into the binary, or files the user
//! dropped into search directories. Plugins and rule files are found, reported and
//! ranked the same way, so the mechanics live here once.

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

/// A file in a search directory that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// One item's standing among its peers: the claimed architectures it serves, and those
/// another item serves instead.
#[derive(Debug, Clone)]
pub struct Standing<'a, T> {
    pub item: &'a T,
    pub active_for: Vec<String>,
    /// (architecture, the label of the item that serves it).
    pub shadowed: Vec<(String, String)>,
}

/// The standing of every item: for each architecture an item claims, `winner` says which
/// item serves it.
pub fn standings<'a, T>(
    items: &'a [T],
    claims: impl Fn(&T) -> &[String],
    winner: impl Fn(&str) -> Option<&'a T>,
    label: impl Fn(&T) -> String,
) -> Vec<Standing<'a, T>> {
    items
        .iter()
        .map(|item| {
            let mut standing = Standing {
                item,
                active_for: Vec::new(),
                shadowed: Vec::new(),
            };
            for architecture in claims(item) {
                match winner(architecture) {
                    Some(w) if std::ptr::eq(w, item) => {
                        standing.active_for.push(architecture.clone())
                    }
                    Some(w) => standing.shadowed.push((architecture.clone(), label(w))),
                    None => {}
                }
            }
            standing
        })
        .collect()
}
