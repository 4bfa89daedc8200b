//! How a user names a model: a local directory or a Hugging Face Hub repo id. One rule
//! for every command, decided here: written `./x` or `/x` it is always a path (the
//! reference's rule); otherwise a path that exists is a path (as `transformers` reads
//! it); anything else is a Hub id. Where an existing path could also be read as a repo
//! id, [`shadows_hub_id`] says so, for the front end to tell the user.
//!
//! [`locate`] turns a name into a directory to read: the directory itself, or for a Hub
//! id the hub-cache snapshot of its small files (never the weights). A repository without
//! a usable `config.json` — a bundle-only repository — is read as the `base_model` the fxb
//! cache's index records for it, as the reference does (without its retry loop).

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::hub::{Events, HubEnv, HubError, RepoId, Snapshot, SnapshotRequest, Wanted};

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
    /// What the directory must hold (`the target is a directory holding config.json`).
    pub dir_hint: &'static str,
}

/// The files a model is read from (never the weights): its config, and what
/// `--convert auto` reads to tell an embedding model from a generative one.
pub const MODEL_FILES: [Wanted<'static>; 3] = [
    Wanted {
        name: "config.json",
        required: true,
    },
    Wanted {
        name: "modules.json",
        required: false,
    },
    Wanted {
        name: "config_sentence_transformers.json",
        required: false,
    },
];

/// How a Hub id is read: the Hub's environment, the revision, and the fxb cache whose
/// index may know the repository's `base_model`.
#[derive(Clone, Copy)]
pub struct HubAccess<'a> {
    pub env: &'a HubEnv,
    /// A branch, tag or commit; the default branch when none.
    pub revision: Option<&'a str>,
    /// The fxb cache: a repository with no usable `config.json` (a bundle-only repo) is
    /// read as the `base_model` its index records, as the reference does.
    pub cache: Option<&'a Cache>,
    pub events: Events<'a>,
}

/// A model found: the directory to read it from and, for a Hub id, where it came from.
#[derive(Debug, Clone)]
pub struct Located {
    /// A local directory, or the Hub snapshot holding the model's files.
    pub dir: PathBuf,
    pub hub: Option<HubModel>,
}

/// A Hub model, as read.
#[derive(Debug, Clone)]
pub struct HubModel {
    /// The repository as named.
    pub repo: RepoId,
    /// The repository the files came from: `repo`, or its `base_model`.
    pub read_from: RepoId,
    pub snapshot: Snapshot,
    /// What the user should know about how it was read (offline, the base model used).
    pub notes: Vec<String>,
}

/// Why a name does not give a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("`{id}` looks like a Hugging Face Hub id; {what} is not supported")]
    HubNotSupported { id: String, what: &'static str },
    #[error("model directory `{}` does not exist", path.display())]
    NoModelDir { path: PathBuf, purpose: Purpose },
    /// The reference's words, then why.
    #[error("fetching config.json for '{repo}' ({}): {cause}", match base_model {
        Some(base) => format!("nor from its base_model '{base}'"),
        None => "no base_model known".to_string(),
    })]
    Hub {
        repo: String,
        base_model: Option<String>,
        /// Shown in the message (and its hint given), not as a cause: one line.
        cause: Box<HubError>,
    },
    #[error(transparent)]
    HubId(Box<HubError>),
}

impl crate::Hint for ModelError {
    fn hint(&self) -> Option<String> {
        match self {
            ModelError::HubNotSupported { id, .. } => Some(format!(
                "pass a local model directory (`{id}` is not one here; `./DIR` is always read as a path)"
            )),
            ModelError::NoModelDir { purpose, .. } => Some(purpose.dir_hint.to_string()),
            // A bare name was a directory the user meant, as often as a Hub repository.
            ModelError::Hub { repo, cause, .. } if !repo.contains('/') => Some(format!(
                "{}; `{repo}` is no local directory either (`./DIR` is always read as a path)",
                cause.hint().unwrap_or_else(|| "check the name".into())
            )),
            ModelError::Hub { cause, .. } | ModelError::HubId(cause) => cause.hint(),
        }
    }
}

/// The local model directory `name` names (a front end without Hub access).
pub fn local_dir<'a>(
    name: &'a str,
    what: &'static str,
    purpose: Purpose,
) -> Result<&'a Path, ModelError> {
    match ModelName::parse(name) {
        ModelName::Local(dir) if dir.is_dir() => Ok(dir),
        ModelName::Local(dir) => Err(ModelError::NoModelDir {
            path: dir.to_path_buf(),
            purpose,
        }),
        ModelName::Hub(id) => Err(ModelError::HubNotSupported {
            id: id.to_string(),
            what,
        }),
    }
}

/// The model `name` names: a local directory, or a Hub repo id whose files
/// ([`MODEL_FILES`]) are fetched through the Hugging Face hub cache.
pub fn locate(name: &str, hub: HubAccess<'_>, purpose: Purpose) -> Result<Located, ModelError> {
    let id = match ModelName::parse(name) {
        ModelName::Local(dir) if dir.is_dir() => {
            return Ok(Located {
                dir: dir.to_path_buf(),
                hub: None,
            });
        }
        ModelName::Local(dir) => {
            return Err(ModelError::NoModelDir {
                path: dir.to_path_buf(),
                purpose,
            });
        }
        ModelName::Hub(id) => id,
    };
    let repo = RepoId::parse(id).map_err(|e| ModelError::HubId(Box::new(e)))?;
    let fetch = |repo: &RepoId, revision: Option<&str>| {
        crate::hub::snapshot(
            hub.env,
            &SnapshotRequest {
                repo,
                revision,
                files: &MODEL_FILES,
            },
            hub.events,
        )
    };
    let failed = match fetch(&repo, hub.revision) {
        Ok(snapshot) => {
            let notes = snapshot.note(&repo).into_iter().collect();
            return Ok(Located {
                dir: snapshot.dir.clone(),
                hub: Some(HubModel {
                    read_from: repo.clone(),
                    repo,
                    snapshot,
                    notes,
                }),
            });
        }
        Err(e) if !falls_back(&e) => return Err(ModelError::HubId(Box::new(e))),
        Err(e) => e,
    };
    let base = hub
        .cache
        .and_then(|cache| cache.base_model(repo.as_str()).ok().flatten());
    let Some(base) = base else {
        return Err(ModelError::Hub {
            repo: repo.to_string(),
            base_model: None,
            cause: Box::new(failed),
        });
    };
    let hub_failed = |cause| ModelError::Hub {
        repo: repo.to_string(),
        base_model: Some(base.clone()),
        cause: Box::new(cause),
    };
    let base_repo = RepoId::parse(&base).map_err(hub_failed)?;
    // The base model at its default branch: the requested revision is the bundle repo's.
    let snapshot = fetch(&base_repo, None).map_err(hub_failed)?;
    let mut notes = vec![format!(
        "'{repo}' has no usable config.json ({failed}); using base_model '{base_repo}'"
    )];
    notes.extend(snapshot.note(&base_repo));
    Ok(Located {
        dir: snapshot.dir.clone(),
        hub: Some(HubModel {
            repo,
            read_from: base_repo,
            snapshot,
            notes,
        }),
    })
}

/// Whether a repository's own files failing to come means its `base_model` is worth a
/// try: it is not there, not readable, or not reachable — not a mistake in the request or
/// a local failure.
fn falls_back(error: &HubError) -> bool {
    !matches!(
        error,
        HubError::BadRepoId(_)
            | HubError::BadEndpoint(_)
            | HubError::BadRevision(_)
            | HubError::Io { .. }
            | HubError::Cache(_)
    )
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
