//! The Hub's environment, read in this one place (issue 15): the endpoint, the token and
//! where it came from, the Hugging Face cache directories, offline mode and timeouts, with
//! the defaults and spellings of the Hub's own Python client, so a user's settings mean
//! the same to fxb as to `huggingface_hub`. Nothing else in fxb reads an `HF_*` variable.
//!
//! A token is never printed: [`Token`]'s `Debug` shows only where it came from.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Hub the client talks to when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What the `HF_*` variables say.
#[derive(Debug, Clone)]
pub struct HubEnv {
    /// `HF_ENDPOINT`, without a trailing `/`.
    pub endpoint: String,
    pub token: Option<Token>,
    /// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    pub hf_home: PathBuf,
    /// `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`: where
    /// the Hub's clients keep repository files (target configs, not bundles).
    pub hub_cache: PathBuf,
    /// `HF_HUB_OFFLINE` set to `1`, `ON`, `YES` or `TRUE`: no request is made.
    pub offline: bool,
    /// `HF_HUB_ETAG_TIMEOUT` (seconds, default 10): connecting, and waiting for an answer
    /// to a metadata request.
    pub etag_timeout: Duration,
    /// `HF_HUB_DOWNLOAD_TIMEOUT` (seconds, default 10): the longest wait for the next
    /// bytes of a download before the attempt counts as failed (and is retried).
    pub download_timeout: Duration,
}

/// A Hub access token, and where it was found.
#[derive(Clone)]
pub struct Token {
    value: String,
    pub source: TokenSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `HF_TOKEN`.
    Variable,
    /// `HF_TOKEN_PATH`, or the file the Hub CLI writes on login (`$HF_HOME/token`).
    File(PathBuf),
}

impl Token {
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Variable => f.write_str("HF_TOKEN"),
            TokenSource::File(path) => write!(f, "`{}`", path.display()),
        }
    }
}

impl HubEnv {
    /// From the process environment.
    pub fn from_env() -> HubEnv {
        HubEnv::from_lookup(
            |name| std::env::var(name).ok(),
            &crate::fs::user_dirs::cache_home(),
        )
    }

    /// From `lookup` (a variable's value, if set) and the user's cache directory (what
    /// `HF_HOME` defaults under).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, cache_home: &Path) -> HubEnv {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let endpoint = set("HF_ENDPOINT")
            .map(|v| v.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let hf_home = set("HF_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache_home.join("huggingface"));
        let hub_cache = set("HF_HUB_CACHE")
            .or_else(|| set("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token = match set("HF_TOKEN") {
            Some(value) => Some(Token {
                value: value.trim().to_string(),
                source: TokenSource::Variable,
            }),
            None => {
                let path = set("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home.join("token"));
                read_token(&path)
            }
        };
        let seconds = |name: &str, default: u64| {
            set(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map_or(Duration::from_secs(default), Duration::from_secs_f64)
        };
        HubEnv {
            endpoint,
            token,
            hf_home,
            hub_cache,
            offline: set("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT", 10),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10),
        }
    }
}

/// The Hub's client reads these as true (`huggingface_hub.constants`).
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

/// A token file's first line, trimmed; a missing, unreadable or empty file is no token.
/// (Bounded: a token is short, and this file may be anything the variable names.)
fn read_token(path: &Path) -> Option<Token> {
    let bytes = crate::fs::read_limited(path, 64 * 1024).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let value = text.lines().next()?.trim().to_string();
    (!value.is_empty()).then(|| Token {
        value,
        source: TokenSource::File(path.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)], cache_home: &Path) -> HubEnv {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubEnv::from_lookup(|name| vars.get(name).cloned(), cache_home)
    }

    #[test]
    fn defaults_are_the_hub_clients() {
        let home = Path::new("/home/u/.cache");
        let env = env(&[], home);
        assert_eq!(env.endpoint, "https://huggingface.co");
        assert_eq!(env.hf_home, home.join("huggingface"));
        assert_eq!(env.hub_cache, home.join("huggingface/hub"));
        assert!(!env.offline);
        assert!(env.token.is_none());
        assert_eq!(env.download_timeout, Duration::from_secs(10));
    }

    #[test]
    fn variables_override_and_offline_takes_the_clients_spellings() {
        let env = env(
            &[
                ("HF_ENDPOINT", "http://127.0.0.1:9/"),
                ("HF_HOME", "/hf"),
                ("HF_HUB_OFFLINE", "yes"),
                ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"),
            ],
            Path::new("/c"),
        );
        assert_eq!(env.endpoint, "http://127.0.0.1:9");
        assert_eq!(env.hub_cache, Path::new("/hf/hub"));
        assert!(env.offline);
        assert_eq!(env.download_timeout, Duration::from_millis(2500));
        for off in ["0", "false", "no", ""] {
            assert!(!self::env(&[("HF_HUB_OFFLINE", off)], Path::new("/c")).offline);
        }
    }

    #[test]
    fn the_token_comes_from_the_variable_then_the_token_path_then_hf_home() {
        let dir = tempfile::tempdir().expect("dir");
        let home = dir.path().join("hf");
        std::fs::create_dir_all(&home).expect("hf home");
        std::fs::write(home.join("token"), "hf_login\n").expect("token");
        let other = dir.path().join("other-token");
        std::fs::write(&other, "  hf_path  \n").expect("token");
        let home_str = home.to_string_lossy().into_owned();
        let other_str = other.to_string_lossy().into_owned();

        let from_home = env(&[("HF_HOME", &home_str)], dir.path());
        let token = from_home.token.expect("token");
        assert_eq!(token.value(), "hf_login");
        assert_eq!(token.source, TokenSource::File(home.join("token")));
        // Never shown.
        assert!(!format!("{token:?}").contains("hf_login"));

        let from_path = env(
            &[("HF_HOME", &home_str), ("HF_TOKEN_PATH", &other_str)],
            dir.path(),
        );
        assert_eq!(from_path.token.expect("token").value(), "hf_path");

        let from_var = env(
            &[("HF_HOME", &home_str), ("HF_TOKEN", "hf_var")],
            dir.path(),
        );
        let token = from_var.token.expect("token");
        assert_eq!(token.value(), "hf_var");
        assert_eq!(token.source, TokenSource::Variable);

        std::fs::write(home.join("token"), "\n").expect("empty token");
        assert!(env(&[("HF_HOME", &home_str)], dir.path()).token.is_none());
    }
}
