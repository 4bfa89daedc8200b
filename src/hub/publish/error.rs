//! Why a publish stops, and what to do about it: each error names the file or repository
//! and the cause, and [`crate::Hint`] gives the next step.

use std::path::PathBuf;

use super::super::error::HubError;
use crate::bundle::BundleError;

/// Why a publish stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    #[error("`{}` is not a bundle fxb can publish", path.display())]
    NotABundle {
        path: PathBuf,
        #[source]
        source: Box<BundleError>,
    },
    #[error("`{}` has no standard file name to publish it under", path.display())]
    NoStandardName {
        path: PathBuf,
        #[source]
        source: crate::bundle::NameError,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the model directory `{}` has no .fxb file", dir.display())]
    NoBundle { dir: PathBuf },
    #[error("`{}` holds no RNGD code: its kernels were compiled by `{compiler}`, not the vendor compiler (no versions.furiosa_compiler)", file.display())]
    NotRngd { file: PathBuf, compiler: String },
    #[error("`{}` is {size} bytes, over the Hub's limit of {limit} bytes per file", file.display())]
    TooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("`{}` cannot be a file name on the Hub (not UTF-8)", path.display())]
    BadName { path: PathBuf },
    #[error("publishing to `{repo}` needs a Hub token, and none is set")]
    NoToken { repo: String },
    #[error("the Hub refused to write to `{repo}` ({status}{})", if *authenticated { ", with the token in use" } else { "" })]
    WriteRefused {
        repo: String,
        status: u16,
        authenticated: bool,
    },
    #[error("repository `{repo}` does not exist on the Hub ({endpoint})")]
    RepoMissing { repo: String, endpoint: String },
    #[error("the Hub refused to store `{file}`{}: {message}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    ObjectRefused {
        file: String,
        code: Option<u16>,
        message: String,
    },
    #[error("uploading `{file}` failed")]
    Upload {
        file: String,
        #[source]
        source: HubError,
    },
    #[error("`{repo}` changed at `{revision}` while publishing, in files this publish writes: {}", files.join(", "))]
    Conflict {
        repo: String,
        revision: String,
        files: Vec<String>,
    },
    #[error(
        "`{repo}` kept changing at `{revision}`: the commit was refused {attempts} times ({message})"
    )]
    StaleTooOften {
        repo: String,
        revision: String,
        attempts: u32,
        message: String,
    },
    #[error(transparent)]
    Hub(#[from] HubError),
}

const TOKEN_HINT: &str = "set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens), or log in with `hf auth login`";

impl crate::Hint for PublishError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            PublishError::NotABundle { source, .. } => {
                return source.hint().or_else(|| {
                    Some("publish a .fxb file, or a model directory holding one".into())
                });
            }
            PublishError::NoStandardName { .. } => {
                "publish it inside a model directory, where it keeps its own file name".into()
            }
            PublishError::Read { .. } => "check the path and its permissions".into(),
            PublishError::NoBundle { .. } => {
                "put the .fxb into the directory (as `fxb build` writes it), or publish the bundle alone".into()
            }
            PublishError::NotRngd { .. } => {
                "build it with `--backend furiosa` to publish RNGD kernels, or pass --allow-non-rngd to publish it anyway (the model card then says its kernels are not RNGD code)".into()
            }
            PublishError::TooLarge { .. } => {
                "the Hub stores files up to 50 GB: build with fewer buckets (-O) or split the weights into shards".into()
            }
            PublishError::BadName { .. } => "rename the file to a UTF-8 name".into(),
            PublishError::NoToken { .. } => TOKEN_HINT.into(),
            PublishError::WriteRefused {
                authenticated: false,
                ..
            } => TOKEN_HINT.into(),
            PublishError::WriteRefused { status: 401, .. } => {
                "the Hub does not accept the token (revoked or mistyped): check HF_TOKEN, or log in again with `hf auth login`".into()
            }
            PublishError::WriteRefused { repo, .. } => format!(
                "the token is read-only or has no write access to `{repo}`: use a token with write access (https://huggingface.co/settings/tokens) in HF_TOKEN"
            ),
            PublishError::RepoMissing { .. } => {
                "pass --create to create it (with --private for a private one), or check the name".into()
            }
            PublishError::ObjectRefused { .. } => {
                "nothing was committed; the objects already sent are kept by the Hub, so a rerun sends only the rest".into()
            }
            PublishError::Upload { source, .. } => {
                let cause = crate::Hint::hint(source)
                    .filter(|_| !matches!(source, HubError::GaveUp { .. }))
                    .map(|h| format!("{h}; "))
                    .unwrap_or_default();
                format!(
                    "{cause}nothing was committed; run it again: the objects the Hub already stores are not sent again"
                )
            }
            PublishError::Conflict { .. } => {
                "nothing was committed: look at the repository's new commit, then run publish again to replace those files".into()
            }
            PublishError::StaleTooOften { .. } => {
                "nothing was committed: run it again when the repository is quieter (the uploaded objects are kept)".into()
            }
            PublishError::Hub(e) => return crate::Hint::hint(e),
        })
    }
}
