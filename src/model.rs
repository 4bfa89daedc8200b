//! How a user names a model: a local directory or a Hugging Face Hub repo id. One rule
//! for every command, decided here: written `./x` or `/x` it is always a path (the
//! reference's rule); otherwise a path that exists is a path (as `transformers` reads
//! it); anything else is a Hub id. Where an existing path could also be read as a repo
//! id, [`shadows_hub_id`] says so, for the front end to tell the user.
//!
//! The Hub is not connected yet, so a front end asks [`local_dir`] for a directory and
//! gets an error naming what is not supported, with the spelling that would work.

use std::path::{Path, PathBuf};

/// A model, as named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelName<'a> {
    Local(&'a Path),
    Hub(&'a str),
}

impl<'a> ModelName<'a> {
    pub fn parse(text: &'a str) -> ModelName<'a> {
        if written_as_path(text) || Path::new(text).exists() {
            ModelName::Local(Path::new(text))
        } else {
            ModelName::Hub(text)
        }
    }
}

/// `./x`, `../x` or `/x`: a path whatever exists.
fn written_as_path(text: &str) -> bool {
    text.starts_with('.') || text.starts_with('/')
}

/// Whether `text` names an existing directory that could also be read as a Hub repo id
/// (`name` or `org/name`): the directory wins, and the user should know. (A file, such
/// as a `config.json` given directly, is no model repository to confuse it with.)
pub fn shadows_hub_id(text: &str) -> bool {
    !written_as_path(text) && Path::new(text).is_dir() && looks_like_repo_id(text)
}

/// `name` or `org/name`, each part of letters, digits, `-`, `_` and `.`.
fn looks_like_repo_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// What a command needs the model for, in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    /// What a Hub id would need (`checking Hub repositories`).
    pub hub: &'static str,
    /// The next step for a Hub id, when it is not the usual spelling hint.
    pub hub_hint: Option<&'static str>,
    /// What the directory must hold (`the target is a directory holding config.json`).
    pub dir_hint: &'static str,
}

/// Why a name does not give a local model directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("`{id}` looks like a Hugging Face Hub id; {} is not supported yet", purpose.hub)]
    HubNotSupported { id: String, purpose: Purpose },
    #[error("model directory `{}` does not exist", path.display())]
    NoModelDir { path: PathBuf, purpose: Purpose },
}

impl crate::Hint for ModelError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ModelError::HubNotSupported { purpose, id } => match purpose.hub_hint {
                Some(hint) => hint.to_string(),
                None => format!(
                    "pass a local model directory (`{id}` is not one here; `./DIR` is always read as a path)"
                ),
            },
            ModelError::NoModelDir { purpose, .. } => purpose.dir_hint.to_string(),
        })
    }
}

/// The local model directory `name` names.
pub fn local_dir(name: &str, purpose: Purpose) -> Result<&Path, ModelError> {
    match ModelName::parse(name) {
        ModelName::Local(dir) if dir.is_dir() => Ok(dir),
        ModelName::Local(dir) => Err(ModelError::NoModelDir {
            path: dir.to_path_buf(),
            purpose,
        }),
        ModelName::Hub(id) => Err(ModelError::HubNotSupported {
            id: id.to_string(),
            purpose,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_path_is_a_path_and_anything_else_a_hub_id() {
        let dir = tempfile::tempdir().expect("dir");
        let here = dir.path().join("llama31");
        std::fs::create_dir_all(&here).expect("model dir");
        let existing = here.to_string_lossy().into_owned();
        assert_eq!(
            ModelName::parse(&existing),
            ModelName::Local(Path::new(&existing))
        );
        assert_eq!(
            ModelName::parse("./nowhere"),
            ModelName::Local(Path::new("./nowhere"))
        );
        assert_eq!(
            ModelName::parse("Qwen/Qwen3-8B-FP8-surely-not-a-dir-here"),
            ModelName::Hub("Qwen/Qwen3-8B-FP8-surely-not-a-dir-here")
        );
        assert!(looks_like_repo_id("Qwen/Qwen3-8B-FP8"));
        assert!(looks_like_repo_id("gpt2"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("a b"));
        // An absolute path is written as a path: it shadows nothing.
        assert!(!shadows_hub_id(&existing));
    }
}
