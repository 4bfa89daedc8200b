//! The one HTTP client of fxb (issue 15): every request to the Hub or its CDN goes through
//! [`Client`], which decides what is sent and what an answer means.
//!
//! - `Authorization` goes only to the Hub's own origin (scheme, host and port of
//!   `HF_ENDPOINT`). Redirects are followed here, hop by hop, not by the HTTP library, so
//!   a redirect to another host (the CDN's signed URL, which rejects a second credential)
//!   is followed without it.
//! - `Accept-Encoding: identity` on every request: a CDN that may compress ignores `Range`
//!   (hf-hub issue 141, huggingface_hub #3778), and a resumed download must get the bytes
//!   it asked for. The HTTP library is built without gzip, so nothing is decoded either.
//! - Transient failures (a reset or timed-out connection, 5xx, 429 with `Retry-After`) are
//!   retried with backoff, a bounded number of times in a row; an unreachable host (refused,
//!   no such name) and every other answer are not.
//! - The Hub's `X-Error-Code` tells a missing repository, revision and file apart.
//! - Each hop goes direct or through its scheme's proxy, as `NO_PROXY` says, and TLS
//!   trusts the user's CA bundle besides the built-in roots ([`super::agents`]). A
//!   certificate the roots do not vouch for, or a proxy that fails, ends the download with
//!   an error saying which variable to look at; neither is retried.

use std::time::Duration;

use ureq::http::{HeaderMap, Uri};

use super::agents::{Agents, Route, certificate_error, connect_status};
use super::env::{HubEnv, Token};
use super::error::HubError;
use super::{DownloadEvent, Events};

/// Attempts in a row without progress before a request is given up.
pub const ATTEMPTS: u32 = 5;
/// The longest wait between attempts, whatever `Retry-After` asks.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;
/// How long the LFS store may take to answer an upload it has received (it hashes the
/// object first; the download timeout would cut off a large one).
const UPLOAD_ANSWER_WAIT: Duration = Duration::from_secs(300);
/// The largest JSON answer read (a repository listing with sizes of many files).
const MAX_JSON: u64 = 64 << 20;

/// What a request was about, to name it in errors.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub repo: &'a str,
    pub revision: Option<&'a str>,
    pub file: Option<&'a str>,
}

/// Why one attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt, after `retry_after` when the server said so.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(HubError),
}

impl From<HubError> for Failure {
    fn from(e: HubError) -> Self {
        Failure::Fatal(e)
    }
}

/// An answer, after redirects.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: ureq::Body,
    /// The URL that answered.
    pub url: String,
    /// The headers of the Hub's own (first) answer: on a redirect to the CDN they carry
    /// `X-Linked-Etag`, `X-Linked-Size` and `X-Repo-Commit`.
    pub hub_headers: HeaderMap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(uri: &Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// The methods of [`Client::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMethod {
    Post,
    Put,
}

/// A request body: bytes in memory, or a reader of a stated length (a file, streamed).
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    Reader {
        reader: &'a mut dyn std::io::Read,
        len: u64,
    },
}

/// Which redirects [`Client::request`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Every one (to the CDN, without the token).
    All,
    /// Those within the Hub (a renamed repository): a metadata request reads the answer
    /// that redirects to the CDN, whose headers describe the LFS object.
    WithinHub,
}

/// The Hub client.
pub struct Client {
    agents: Agents,
    endpoint: String,
    origin: Origin,
    token: Option<Token>,
}

impl Client {
    pub fn new(env: &HubEnv) -> Result<Client, HubError> {
        let origin = env
            .endpoint
            .parse::<Uri>()
            .ok()
            .as_ref()
            .and_then(Origin::of)
            .ok_or_else(|| HubError::BadEndpoint(env.endpoint.clone()))?;
        let base = || {
            ureq::Agent::config_builder()
                // Every status is an answer to read: the Hub's errors carry X-Error-Code.
                .http_status_as_error(false)
                // Followed here, so that credentials stay with the Hub (module docs).
                .max_redirects(0)
                .user_agent(format!("fxb/{}", env!("CARGO_PKG_VERSION")))
                .timeout_connect(Some(env.etag_timeout))
                .timeout_recv_response(Some(env.etag_timeout.max(env.download_timeout)))
                .timeout_per_read(Some(env.download_timeout))
        };
        Ok(Client {
            agents: Agents::new(env, base)?,
            endpoint: env.endpoint.clone(),
            origin,
            token: env.token.clone(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether a token is sent to the Hub.
    pub fn authenticated(&self) -> bool {
        self.token.is_some()
    }

    /// One request to `url` and the redirects `follow` says. `headers` go on every hop;
    /// the token only on hops to the Hub's origin.
    pub fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        follow: Follow,
    ) -> Result<Answer, Failure> {
        let mut url = url.to_string();
        let mut hub_headers = None;
        for _ in 0..=MAX_REDIRECTS {
            let uri: Uri = url.parse().map_err(|_| {
                Failure::Fatal(HubError::BadResponse {
                    url: url.clone(),
                    message: "not a URL".into(),
                })
            })?;
            let same_origin = Origin::of(&uri).as_ref() == Some(&self.origin);
            let route = self.agents.route(&uri);
            let mut builder = match method {
                Method::Get => route.agent.get(&uri),
                Method::Head => route.agent.head(&uri),
            };
            builder = builder.header("Accept-Encoding", "identity");
            for (name, value) in headers {
                builder = builder.header(*name, value.as_str());
            }
            if let (true, Some(token)) = (same_origin, &self.token) {
                builder = builder.header("Authorization", format!("Bearer {}", token.value()));
            }
            tracing::debug!(
                "{method:?} {url}{}{}",
                if same_origin && self.token.is_some() {
                    " (with the token)"
                } else {
                    ""
                },
                route
                    .proxy
                    .map(|p| format!(" through {} ({})", p.shown, p.variable))
                    .unwrap_or_default()
            );
            let response = builder
                .call()
                .map_err(|e| self.transport_failure(&uri, &route, e))?;
            let status = response.status().as_u16();
            let (parts, body) = response.into_parts();
            let hub = hub_headers.get_or_insert_with(|| parts.headers.clone());
            let location = parts.headers.get("location").and_then(|v| v.to_str().ok());
            let next = match (status, location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    Some(join(&uri, location).ok_or_else(|| {
                        Failure::Fatal(HubError::BadResponse {
                            url: url.clone(),
                            message: format!("redirect to `{location}`, which is not a URL"),
                        })
                    })?)
                }
                _ => None,
            };
            let within_hub = |next: &str| {
                next.parse::<Uri>()
                    .ok()
                    .as_ref()
                    .and_then(Origin::of)
                    .as_ref()
                    == Some(&self.origin)
            };
            match next {
                Some(next) if follow == Follow::All || within_hub(&next) => url = next,
                _ => {
                    return Ok(Answer {
                        status,
                        hub_headers: hub.clone(),
                        headers: parts.headers,
                        body,
                        url,
                    });
                }
            }
        }
        Err(Failure::Fatal(HubError::BadResponse {
            url,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        }))
    }

    /// One request with a body (`POST` to the Hub's API, `PUT` of an LFS object), without
    /// following redirects: a write is never replayed to another host. `headers` are sent
    /// as given; the token only to the Hub's origin, as for [`Client::request`].
    pub fn send(
        &self,
        method: SendMethod,
        url: &str,
        headers: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<Answer, Failure> {
        let uri: Uri = url.parse().map_err(|_| {
            Failure::Fatal(HubError::BadResponse {
                url: url.to_string(),
                message: "not a URL".into(),
            })
        })?;
        let same_origin = Origin::of(&uri).as_ref() == Some(&self.origin);
        let route = self.agents.route(&uri);
        let mut builder = match method {
            SendMethod::Post => route.agent.post(&uri),
            // The store answers an upload only once it has checked the whole object.
            SendMethod::Put => route
                .agent
                .put(&uri)
                .config()
                .timeout_recv_response(Some(UPLOAD_ANSWER_WAIT))
                .timeout_per_read(Some(UPLOAD_ANSWER_WAIT))
                .build(),
        };
        builder = builder.header("Accept-Encoding", "identity");
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let sends_token = same_origin
            && self.token.is_some()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let (true, Some(token)) = (sends_token, &self.token) {
            builder = builder.header("Authorization", format!("Bearer {}", token.value()));
        }
        tracing::debug!(
            "{method:?} {url}{}",
            if sends_token { " (with the token)" } else { "" }
        );
        let result = match payload {
            Payload::Bytes(bytes) => builder.send(bytes),
            Payload::Reader { reader, len } => builder
                // A stated length, not chunks: a signed-URL store refuses a chunked PUT.
                .header("Content-Length", len.to_string())
                .send(ureq::SendBody::from_reader(reader)),
        };
        let response = result.map_err(|e| self.transport_failure(&uri, &route, e))?;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status,
            hub_headers: parts.headers.clone(),
            headers: parts.headers,
            body,
            url: url.to_string(),
        })
    }

    /// `GET {endpoint}{path}` as JSON, retried.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        target: Target<'_>,
        events: Events<'_>,
    ) -> Result<T, HubError> {
        let url = format!("{}{path}", self.endpoint);
        self.retrying(&format!("GET {url}"), events, || {
            let answer = self.request(Method::Get, &url, &[], Follow::All)?;
            if answer.status != 200 {
                return Err(self.status_failure(answer, target));
            }
            let text = answer
                .body
                .into_with_config()
                .limit(MAX_JSON)
                .read_to_string()
                .map_err(|e| Failure::Transient {
                    reason: format!("reading the answer: {e}"),
                    retry_after: None,
                })?;
            serde_json::from_str(&text).map_err(|e| {
                Failure::Fatal(HubError::BadResponse {
                    url: url.clone(),
                    message: e.to_string(),
                })
            })
        })
    }

    /// Run `attempt` until it succeeds, fails for good, or fails [`ATTEMPTS`] times in a
    /// row; waits 1, 2, 4, 8 s between (or what `Retry-After` says, at most a minute).
    pub fn retrying<T>(
        &self,
        what: &str,
        events: Events<'_>,
        attempt: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, HubError> {
        self.retrying_keeping(what, events, attempt, || None)
    }

    /// [`Client::retrying`] for work that continues where it stopped (a download):
    /// `kept` says what is kept so far (the partial file and its size); a failed attempt
    /// that kept more than the one before starts the count again, and a give-up names
    /// what is left for the next run.
    pub fn retrying_keeping<T>(
        &self,
        what: &str,
        events: Events<'_>,
        mut attempt: impl FnMut() -> Result<T, Failure>,
        mut kept: impl FnMut() -> Option<(std::path::PathBuf, u64)>,
    ) -> Result<T, HubError> {
        let mut failures = 0;
        let mut before = kept().map_or(0, |k| k.1);
        loop {
            let (reason, retry_after) = match attempt() {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            let now = kept();
            let size = now.as_ref().map_or(0, |k| k.1);
            if size > before {
                failures = 0;
            }
            before = size;
            failures += 1;
            if failures >= ATTEMPTS {
                return Err(HubError::GaveUp {
                    what: what.to_string(),
                    attempts: failures,
                    last: reason,
                    kept: now.filter(|k| k.1 > 0),
                });
            }
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1 << (failures - 1)))
                .min(MAX_WAIT);
            events(&DownloadEvent::Retrying {
                what,
                reason: &reason,
                wait,
                attempt: failures + 1,
                attempts: ATTEMPTS,
            });
            std::thread::sleep(wait);
        }
    }

    /// What a non-success answer means.
    pub fn status_failure(&self, answer: Answer, target: Target<'_>) -> Failure {
        let status = answer.status;
        let code = header(&answer.headers, "x-error-code");
        let retry_after = header(&answer.headers, "retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message = header(&answer.headers, "x-error-message").or_else(|| {
            answer
                .body
                .into_with_config()
                .limit(64 * 1024)
                .read_to_string()
                .ok()
                .and_then(|text| error_message(&text))
        });
        let repo = target.repo.to_string();
        let revision = target.revision.unwrap_or("main").to_string();
        let authenticated = self.authenticated();
        let fatal = match (code.as_deref(), status) {
            (_, 429 | 500 | 502 | 503 | 504) => {
                return Failure::Transient {
                    reason: format!(
                        "the Hub answered {status}{}",
                        message.map(|m| format!(" ({m})")).unwrap_or_default()
                    ),
                    retry_after,
                };
            }
            (Some("RepoNotFound"), _) => HubError::RepoNotFound {
                repo,
                endpoint: self.endpoint.clone(),
                authenticated,
            },
            (Some("RevisionNotFound"), _) => HubError::RevisionNotFound {
                repo,
                revision,
                known: Vec::new(),
            },
            (Some("EntryNotFound"), _) => HubError::EntryNotFound {
                repo,
                revision,
                file: target.file.unwrap_or_default().to_string(),
            },
            (Some("GatedRepo"), _) => HubError::Gated {
                repo,
                authenticated,
            },
            (_, 401 | 403) => HubError::Unauthorized {
                repo,
                status,
                authenticated,
            },
            _ => HubError::Http {
                status,
                url: answer.url,
                message,
            },
        };
        Failure::Fatal(fatal)
    }

    fn transport_failure(&self, uri: &Uri, route: &Route<'_>, error: ureq::Error) -> Failure {
        use std::io::ErrorKind;
        let url = uri.to_string();
        if let Some(certificate) = certificate_error(&error) {
            return Failure::Fatal(HubError::Certificate {
                host: uri.authority().map_or(url, |a| a.to_string()),
                message: certificate.to_string(),
                bundle: self.agents.bundle(),
            });
        }
        let unreachable_error = matches!(
            &error,
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed
        ) || matches!(
            &error,
            ureq::Error::Io(e) if matches!(
                e.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::AddrNotAvailable
            )
        ) || matches!(
            // A name the resolver cannot look up (no network, no DNS) says so only in its
            // text: std's getaddrinfo error has no kind of its own.
            &error,
            ureq::Error::Io(e) if e.to_string().contains("failed to lookup address")
        );
        if let Some(proxy) = route.proxy {
            // Through a CONNECT proxy only the proxy's address is resolved and connected
            // to: a host not found or a refused connection is the proxy's.
            let status = connect_status(&error);
            if let Some(status @ 502..=504) = status {
                // The proxy could not reach the Hub this time: worth another attempt.
                return Failure::Transient {
                    reason: format!("the proxy {} answered {status} to CONNECT", proxy.shown),
                    retry_after: None,
                };
            }
            if unreachable_error || matches!(error, ureq::Error::ConnectProxyFailed(_)) {
                let target = uri.authority().map_or(url.as_str(), |a| a.as_str());
                let message = match (status, &error) {
                    (Some(status), _) => format!("it answered {status} to `CONNECT {target}`"),
                    (None, ureq::Error::Io(e)) => format!("cannot connect to it: {e}"),
                    (None, e) => format!("cannot connect to it: {e}"),
                };
                return Failure::Fatal(HubError::Proxy {
                    proxy: proxy.shown.clone(),
                    variable: proxy.variable,
                    message,
                    status,
                    credentials: proxy.credentials,
                });
            }
        }
        let unreachable = |message: String| {
            Failure::Fatal(HubError::Unreachable {
                endpoint: self.endpoint.clone(),
                message,
            })
        };
        match &error {
            // ureq's Display says `io: …`; the user wants only the system's words.
            ureq::Error::Io(e) if unreachable_error => unreachable(format!("{url}: {e}")),
            _ if unreachable_error => unreachable(format!("{url}: {error}")),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => {
                Failure::Fatal(HubError::BadResponse {
                    url,
                    message: error.to_string(),
                })
            }
            _ => Failure::Transient {
                reason: format!("{url}: {error}"),
                retry_after: None,
            },
        }
    }
}

/// A header's value as text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The Hub's JSON error body `{"error": "…"}`, or a short text one.
fn error_message(text: &str) -> Option<String> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return value
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_string);
    }
    let text = text.trim();
    (!text.is_empty() && text.len() <= 200 && !text.contains('<')).then(|| text.to_string())
}

/// `location` resolved against `base`: absolute, or a path on the same origin.
fn join(base: &Uri, location: &str) -> Option<String> {
    if location
        .parse::<Uri>()
        .ok()
        .and_then(|u| Origin::of(&u))
        .is_some()
    {
        return Some(location.to_string());
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
    Some(format!("{scheme}://{authority}{dir}/{location}"))
}

/// A path segment, percent-encoded (everything but unreserved characters).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        let base: Uri = "http://127.0.0.1:8000/org/name/resolve/main/x.fxb"
            .parse()
            .expect("uri");
        assert_eq!(
            join(&base, "http://127.0.0.1:9000/blob?sig=1").as_deref(),
            Some("http://127.0.0.1:9000/blob?sig=1")
        );
        assert_eq!(
            join(&base, "/api/resolve-cache/x").as_deref(),
            Some("http://127.0.0.1:8000/api/resolve-cache/x")
        );
        assert_eq!(
            join(&base, "y.fxb").as_deref(),
            Some("http://127.0.0.1:8000/org/name/resolve/main/y.fxb")
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let origin = |u: &str| Origin::of(&u.parse::<Uri>().expect("uri"));
        assert_eq!(
            origin("https://huggingface.co/x"),
            origin("https://HUGGINGFACE.co:443/y")
        );
        assert_ne!(
            origin("https://huggingface.co"),
            origin("http://huggingface.co")
        );
        assert_ne!(origin("http://127.0.0.1:1"), origin("http://127.0.0.1:2"));
        assert_ne!(
            origin("https://huggingface.co"),
            origin("https://cdn-lfs.hf.co")
        );
        assert!(origin("ftp://x").is_none());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(encode_segment("v2026.4"), "v2026.4");
        assert_eq!(encode_segment("a b+c"), "a%20b%2Bc");
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(r#"{"error":"Repository not found"}"#).as_deref(),
            Some("Repository not found")
        );
        assert_eq!(error_message("<html>…</html>"), None);
    }
}
