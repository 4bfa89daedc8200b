//! The Hub's environment, read in this one place (issue 15): the endpoint, the token and
//! where it came from, the Hugging Face cache directories, offline mode and timeouts, with
//! the defaults and spellings of the Hub's own Python client, so a user's settings mean
//! the same to fxb as to `huggingface_hub`; and the network as users have it, a CA bundle
//! and proxies, read as `requests` and curl read them. Nothing else in fxb reads an `HF_*`,
//! proxy or CA bundle variable (the HTTP library is told not to read them itself).
//!
//! A token is never printed: [`Token`]'s `Debug` shows only where it came from. Nor is a
//! proxy's password: [`ProxySetting`]'s `Debug` masks it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proxy::{NoProxy, redact};

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
    /// A PEM file of CA certificates trusted besides the built-in (Mozilla) roots: a proxy
    /// that inspects TLS, or a private Hub (`HF_ENDPOINT`) with its own CA. The first set
    /// of `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE` (the order in which `requests`, and so
    /// `huggingface_hub` before 1.0, reads them) and `SSL_CERT_FILE` (OpenSSL's, which
    /// `httpx`, and so `huggingface_hub` 1.x, reads). Unlike those clients fxb adds it to
    /// the built-in roots rather than replacing them, so a bundle holding only the one
    /// extra CA is enough.
    pub ca_bundle: Option<CaBundle>,
    /// The proxy for `https://` URLs: `https_proxy`, else `HTTPS_PROXY`, else
    /// `all_proxy`, else `ALL_PROXY`.
    pub https_proxy: Option<ProxySetting>,
    /// The proxy for `http://` URLs: `http_proxy`, else `HTTP_PROXY`, else `all_proxy`,
    /// else `ALL_PROXY`. (curl ignores the upper-case `HTTP_PROXY`, which a CGI server may
    /// set from a request header; `requests` reads it, and fxb is not a CGI program.)
    pub http_proxy: Option<ProxySetting>,
    /// `no_proxy`, else `NO_PROXY`: the hosts reached without a proxy ([`NoProxy`]).
    pub no_proxy: NoProxy,
}

/// The CA bundle, and the variable that named it (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    pub path: PathBuf,
    pub variable: &'static str,
}

/// A proxy URL as a variable gives it (checked when the client is built), and which
/// variable; `Debug` shows it without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySetting {
    pub url: String,
    pub variable: &'static str,
}

impl std::fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySetting")
            .field("url", &redact(&self.url))
            .field("variable", &self.variable)
            .finish()
    }
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
        let ca_bundle = ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"]
            .into_iter()
            .find_map(|variable| {
                set(variable).map(|path| CaBundle {
                    path: PathBuf::from(path.trim()),
                    variable,
                })
            });
        // The lower-case spelling first, as curl and Python's `urllib` read them; a
        // lower-case variable set empty hides the upper-case one, as in `urllib`.
        let either = |lower: &'static str, upper: &'static str| -> Option<ProxySetting> {
            let (variable, value) = match lookup(lower) {
                Some(value) => (lower, value),
                None => (upper, lookup(upper)?),
            };
            let url = value.trim().to_string();
            (!url.is_empty()).then_some(ProxySetting { url, variable })
        };
        let all_proxy = either("all_proxy", "ALL_PROXY");
        let no_proxy = lookup("no_proxy")
            .or_else(|| lookup("NO_PROXY"))
            .map(|v| NoProxy::parse(&v))
            .unwrap_or_default();
        HubEnv {
            endpoint,
            token,
            hf_home,
            hub_cache,
            offline: set("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT", 10),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10),
            ca_bundle,
            https_proxy: either("https_proxy", "HTTPS_PROXY").or_else(|| all_proxy.clone()),
            http_proxy: either("http_proxy", "HTTP_PROXY").or(all_proxy),
            no_proxy,
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

    #[test]
    fn the_ca_bundle_is_requests_then_curls_then_openssls() {
        let c = Path::new("/c");
        assert_eq!(env(&[], c).ca_bundle, None);
        let all = [
            ("SSL_CERT_FILE", "/ssl.pem"),
            ("CURL_CA_BUNDLE", "/curl.pem"),
            ("REQUESTS_CA_BUNDLE", "/requests.pem"),
        ];
        for (skip, (variable, path)) in [(0, all[2]), (1, all[1]), (2, all[0])] {
            let bundle = env(&all[..3 - skip], c).ca_bundle.expect("a bundle");
            assert_eq!(
                (bundle.variable, bundle.path.as_path()),
                (variable, Path::new(path))
            );
        }
        // Set empty is not set, as in `requests`.
        let bundle = env(&[("REQUESTS_CA_BUNDLE", ""), all[0]], c).ca_bundle;
        assert_eq!(bundle.expect("a bundle").variable, "SSL_CERT_FILE");
    }

    #[test]
    fn proxies_are_per_scheme_lower_case_first_with_all_proxy_behind() {
        let c = Path::new("/c");
        let none = env(&[], c);
        assert!(none.https_proxy.is_none() && none.http_proxy.is_none());
        assert!(!none.no_proxy.bypasses("huggingface.co", 443));

        let got = env(
            &[
                ("HTTPS_PROXY", "http://upper:3128"),
                ("https_proxy", "http://lower:3128"),
                ("HTTP_PROXY", "http://plain:3128"),
                ("ALL_PROXY", "http://all:3128"),
                ("NO_PROXY", "upper.example"),
                ("no_proxy", "lower.example"),
            ],
            c,
        );
        let https = got.https_proxy.expect("https proxy");
        assert_eq!(
            (https.variable, https.url.as_str()),
            ("https_proxy", "http://lower:3128")
        );
        let http = got.http_proxy.expect("http proxy");
        assert_eq!(
            (http.variable, http.url.as_str()),
            ("HTTP_PROXY", "http://plain:3128")
        );
        assert!(got.no_proxy.bypasses("lower.example", 443));
        assert!(!got.no_proxy.bypasses("upper.example", 443));

        let fallback = env(&[("ALL_PROXY", "http://all:3128")], c);
        assert_eq!(fallback.https_proxy.expect("all").variable, "ALL_PROXY");
        assert_eq!(fallback.http_proxy.expect("all").variable, "ALL_PROXY");

        // A lower-case variable set empty turns the upper-case one off.
        let off = env(
            &[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:3128")],
            c,
        );
        assert!(off.https_proxy.is_none());
    }

    #[test]
    fn a_proxy_password_is_not_shown() {
        let got = env(
            &[("HTTPS_PROXY", "http://me:hunter2@proxy:3128")],
            Path::new("/c"),
        );
        let shown = format!("{got:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("me:****@proxy:3128"), "{shown}");
    }
}
