//! How a user names a model: a local directory or a Hugging Face Hub repo id. One rule
//! for every command, decided here (the reference's: a name starting with `.` or `/` is
//! a path; anything else is a Hub id).
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
        if text.starts_with('.') || text.starts_with('/') {
            ModelName::Local(Path::new(text))
        } else {
            ModelName::Hub(text)
        }
    }
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
                    "pass a local model directory as a path starting with `.` or `/` (e.g. `./{id}`)"
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
