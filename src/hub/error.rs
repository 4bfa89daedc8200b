//! Why a Hub operation failed: each one line that names the repository, revision or file,
//! with a next step ([`crate::Hint`]). The Hub's `X-Error-Code` tells a missing repository,
//! revision and file apart; 401/403 say whether a token was sent.

use std::path::PathBuf;

use crate::cache::CacheError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("`{0}` is not a Hub repository id")]
    BadRepoId(String),
    #[error("HF_ENDPOINT `{0}` is not an http:// or https:// URL")]
    BadEndpoint(String),
    #[error("`{0}` is not a furiosa-llm version (like 2026.4.0)")]
    BadLlmVersion(String),
    #[error("revision `{0}` cannot be a ref file name")]
    BadRevision(String),
    #[error("repository `{repo}` was not found on the Hub ({endpoint})")]
    RepoNotFound {
        repo: String,
        endpoint: String,
        authenticated: bool,
    },
    #[error("revision `{revision}` was not found in `{repo}`")]
    RevisionNotFound {
        repo: String,
        revision: String,
        /// The repository's tags and branches, when the Hub lists them.
        known: Vec<String>,
    },
    #[error("`{file}` was not found in `{repo}` at revision `{revision}`")]
    EntryNotFound {
        repo: String,
        revision: String,
        file: String,
    },
    #[error("`{repo}` is a gated repository{}", if *authenticated { " and the token in use has no access to it" } else { ": access needs a token" })]
    Gated { repo: String, authenticated: bool },
    #[error("the Hub refused access to `{repo}` ({status}{})", if *authenticated { ", with the token in use" } else { ", without a token" })]
    Unauthorized {
        repo: String,
        status: u16,
        authenticated: bool,
    },
    #[error("`{repo}` has no .fxb file at revision `{revision}`")]
    NoBundles { repo: String, revision: String },
    /// The reference's words.
    #[error("repo '{repo}' has no .fxb file named '{file}'")]
    NoSuchFile {
        repo: String,
        file: String,
        available: Vec<String>,
    },
    #[error("cannot reach the Hub at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("the Hub answered {status} for {url}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http {
        status: u16,
        url: String,
        message: Option<String>,
    },
    #[error("{what} failed after {attempts} attempts: {last}")]
    GaveUp {
        what: String,
        attempts: u32,
        last: String,
        /// The partial download kept for the next run, and its size.
        kept: Option<(PathBuf, u64)>,
    },
    #[error("`{file}` does not match the Hub's {algorithm}: expected {expected}, got {actual}")]
    Mismatch {
        file: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error("`{file}` from `{repo}` is not a valid bundle: {reason}")]
    NotABundle {
        repo: String,
        file: String,
        /// What the bundle reader said, of the file as "it".
        reason: String,
    },
    #[error("the Hub's answer to {url} is not what fxb expects: {message}")]
    BadResponse { url: String, message: String },
    #[error(
        "offline (HF_HUB_OFFLINE is set), and `{repo}` has {} cached at revision `{revision}`",
        file.as_deref().map_or("nothing".to_string(), |f| format!("no `{f}`"))
    )]
    Offline {
        repo: String,
        revision: String,
        /// The file missing, when the revision itself is cached.
        file: Option<String>,
    },
    /// A CA bundle that cannot be read or holds no certificate.
    #[error("cannot use the CA bundle `{}` ({variable}): {reason}", path.display())]
    CaBundle {
        path: PathBuf,
        variable: &'static str,
        reason: String,
    },
    /// `url` is shown without its password.
    #[error("{variable} `{url}` is not a usable proxy URL: {reason}")]
    BadProxy {
        variable: &'static str,
        url: String,
        reason: String,
    },
    /// The server's certificate is not signed by a trusted CA (or is otherwise invalid).
    #[error("the certificate of {host} is not trusted: {message}")]
    Certificate {
        host: String,
        message: String,
        /// The CA bundle in use besides the built-in roots: (variable, path).
        bundle: Option<(&'static str, PathBuf)>,
    },
    /// The proxy could not be reached, or refused to connect to the Hub; `proxy` is shown
    /// without its password.
    #[error("the proxy {proxy} (from {variable}) failed: {message}")]
    Proxy {
        proxy: String,
        variable: &'static str,
        message: String,
        /// The status of the proxy's answer to CONNECT, if it answered.
        status: Option<u16>,
        /// Whether the proxy URL carries credentials.
        credentials: bool,
    },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(Box<CacheError>),
}

impl From<CacheError> for HubError {
    fn from(e: CacheError) -> Self {
        HubError::Cache(Box::new(e))
    }
}

impl HubError {
    pub(super) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        HubError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Whether the whole download must stop (every other file would fail the same way),
    /// rather than only this file.
    pub fn stops_everything(&self) -> bool {
        matches!(
            self,
            HubError::RepoNotFound { .. }
                | HubError::Gated { .. }
                | HubError::Unauthorized { .. }
                | HubError::Unreachable { .. }
                | HubError::Cache(_)
                | HubError::BadEndpoint(_)
                | HubError::CaBundle { .. }
                | HubError::BadProxy { .. }
                | HubError::Certificate { .. }
                | HubError::Proxy { .. }
        ) || matches!(self, HubError::Io { source, .. } if is_disk_full(source))
    }
}

fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Set `HF_TOKEN`, or log in the way the Hub's own CLI does.
const TOKEN_HINT: &str = "set HF_TOKEN, or log in with the Hub CLI (`hf auth login`)";

impl crate::Hint for HubError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            HubError::BadRepoId(_) => {
                "a Hub id is `org/name` (letters, digits, `-`, `_`, `.`)".into()
            }
            HubError::BadEndpoint(_) => {
                "unset HF_ENDPOINT to use https://huggingface.co, or set it to the Hub's base URL"
                    .into()
            }
            HubError::BadLlmVersion(_) => {
                "give --llm-version as furiosa-llm prints it (`2026.4.0`), or pass --revision".into()
            }
            HubError::BadRevision(_) => "pass a branch, a tag or a commit id".into(),
            HubError::RepoNotFound { authenticated, .. } => {
                if *authenticated {
                    "check the name; if the repository is private, the token in use has no access to it".into()
                } else {
                    format!("check the name; a private repository needs a token: {TOKEN_HINT}")
                }
            }
            HubError::RevisionNotFound { known, .. } if !known.is_empty() => {
                format!("the repository has: {}", known.join(", "))
            }
            HubError::RevisionNotFound { .. } => {
                "pass a branch, tag or commit the repository has, or omit --revision".into()
            }
            HubError::EntryNotFound { .. } => {
                "the file list changed while downloading; run it again".into()
            }
            HubError::Gated { authenticated, .. } => {
                if *authenticated {
                    "request access on the repository's Hub page with the account of your token".into()
                } else {
                    format!("request access on the repository's Hub page, then {TOKEN_HINT}")
                }
            }
            HubError::Unauthorized { authenticated, .. } => {
                if *authenticated {
                    "the token is invalid or lacks access: check HF_TOKEN (or log in again with `hf auth login`)".into()
                } else {
                    TOKEN_HINT.into()
                }
            }
            HubError::NoBundles { .. } => {
                "bundles are published in the furiosa-ai repositories; --revision picks another revision"
                    .into()
            }
            HubError::NoSuchFile { available, .. } if !available.is_empty() => {
                format!("its .fxb files: {}", available.join(", "))
            }
            HubError::NoSuchFile { .. } => "the repository has no .fxb file".into(),
            HubError::Unreachable { .. } => {
                "check the network (and HTTPS_PROXY, HF_ENDPOINT); with HF_HUB_OFFLINE=1 only what is cached is used"
                    .into()
            }
            HubError::GaveUp {
                kept: Some((_, bytes)),
                ..
            } => format!("run it again later: it resumes from the {bytes} bytes already downloaded"),
            HubError::GaveUp { .. } => "run it again later".into(),
            HubError::Mismatch { .. } => {
                "the download was discarded; if it happens again, the Hub's copy or a proxy is at fault"
                    .into()
            }
            HubError::NotABundle { .. } => {
                "the repository file is not a bundle this fxb reads; the other files are downloaded"
                    .into()
            }
            HubError::Offline { .. } => "unset HF_HUB_OFFLINE to download it".into(),
            HubError::CaBundle { variable, .. } => format!(
                "point {variable} at a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----` blocks), or unset it"
            ),
            HubError::BadProxy { variable, .. } => format!(
                "set {variable} to an http:// or https:// proxy URL, like `http://proxy:3128` or `http://user:password@proxy:3128`, or unset it"
            ),
            HubError::Certificate {
                bundle: Some((variable, path)),
                ..
            } => format!(
                "neither the built-in roots nor `{}` ({variable}) vouch for it: add the CA that signed it to that file",
                path.display()
            ),
            HubError::Certificate { bundle: None, .. } => {
                "if a proxy or a private Hub uses its own certificate authority, point SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) at a PEM file holding it"
                    .into()
            }
            HubError::Proxy {
                status: Some(407),
                credentials: false,
                variable,
                ..
            } => format!(
                "the proxy wants credentials: put them in {variable}, as `http://user:password@host:port` (percent-encode `@`, `:` and `%` in them)"
            ),
            HubError::Proxy {
                status: Some(407),
                variable,
                ..
            } => format!("the proxy refused the credentials in {variable}: check the user and password"),
            HubError::Proxy { variable, .. } => format!(
                "check {variable} (and NO_PROXY for hosts to reach directly), or unset it to connect without a proxy"
            ),
            HubError::Io { source, .. } if is_disk_full(source) => {
                "free some space, or use another cache (--cache-dir)".into()
            }
            HubError::Io { .. } => {
                "check the cache directory's permissions and free space (--cache-dir to use another)"
                    .into()
            }
            HubError::Cache(e) => return e.hint(),
            HubError::Http { .. } | HubError::BadResponse { .. } => return None,
        })
    }
}
