//! The HTTP agents [`super::client::Client`] sends through (issue 15): the roots TLS
//! trusts (the Mozilla roots, plus the user's CA bundle) and the proxies, chosen per URL.
//!
//! ureq would read `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` itself, with
//! one proxy for every scheme and its own reading of `NO_PROXY`; every agent here is
//! given its proxy (or none) explicitly, so the variables mean what [`super::env`] says.
//! The client follows redirects hop by hop, so each hop is routed on its own: the Hub
//! through the proxy, say, and a CDN in `NO_PROXY` directly.

use std::path::PathBuf;

use ureq::config::ConfigBuilder;
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

use super::env::{CaBundle, HubEnv, ProxySetting};
use super::error::HubError;
use super::proxy::{NoProxy, redact};

/// The largest CA bundle read (a system bundle of every root is about 200 KiB).
const MAX_BUNDLE: u64 = 16 << 20;

/// One agent per way out: direct, and through each scheme's proxy.
pub struct Agents {
    direct: ureq::Agent,
    http: Option<Proxied>,
    https: Option<Proxied>,
    no_proxy: NoProxy,
    bundle: Option<(&'static str, PathBuf)>,
}

/// An agent that goes through a proxy, and what errors say of that proxy.
pub struct Proxied {
    agent: ureq::Agent,
    /// The proxy URL without its password.
    pub shown: String,
    pub variable: &'static str,
    /// Whether the URL carries credentials (sent as `Proxy-Authorization: Basic`).
    pub credentials: bool,
}

/// How one request goes out.
pub struct Route<'a> {
    pub agent: &'a ureq::Agent,
    pub proxy: Option<&'a Proxied>,
}

impl Agents {
    /// The agents for `env`, each configured by `base` (timeouts, redirects) and then
    /// given its roots and proxy. A CA bundle or proxy URL that cannot be used is an
    /// error here, before any request.
    pub fn new(
        env: &HubEnv,
        base: impl Fn() -> ConfigBuilder<AgentScope>,
    ) -> Result<Agents, HubError> {
        let tls = tls_config(env.ca_bundle.as_ref())?;
        let agent = |proxy: Option<ureq::Proxy>| -> ureq::Agent {
            base().tls_config(tls.clone()).proxy(proxy).build().into()
        };
        let proxied = |setting: &Option<ProxySetting>| -> Result<Option<Proxied>, HubError> {
            let Some(setting) = setting else {
                return Ok(None);
            };
            let proxy = proxy(setting)?;
            Ok(Some(Proxied {
                credentials: proxy.username().is_some() || proxy.password().is_some(),
                agent: agent(Some(proxy)),
                shown: redact(&setting.url),
                variable: setting.variable,
            }))
        };
        Ok(Agents {
            direct: agent(None),
            http: proxied(&env.http_proxy)?,
            https: proxied(&env.https_proxy)?,
            no_proxy: env.no_proxy.clone(),
            bundle: env.ca_bundle.as_ref().map(|b| (b.variable, b.path.clone())),
        })
    }

    /// The agent for `uri`: its scheme's proxy, unless there is none or `NO_PROXY`
    /// names its host.
    pub fn route(&self, uri: &Uri) -> Route<'_> {
        let scheme = uri.scheme_str().unwrap_or_default();
        let (proxied, default_port) = if scheme.eq_ignore_ascii_case("https") {
            (self.https.as_ref(), 443)
        } else if scheme.eq_ignore_ascii_case("http") {
            (self.http.as_ref(), 80)
        } else {
            (None, 0)
        };
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(default_port);
        match proxied {
            Some(proxied) if !self.no_proxy.bypasses(host, port) => Route {
                agent: &proxied.agent,
                proxy: Some(proxied),
            },
            _ => Route {
                agent: &self.direct,
                proxy: None,
            },
        }
    }

    /// The CA bundle in use besides the built-in roots: (variable, path).
    pub fn bundle(&self) -> Option<(&'static str, PathBuf)> {
        self.bundle.clone()
    }
}

/// The built-in roots, plus the bundle's certificates when one is set.
fn tls_config(bundle: Option<&CaBundle>) -> Result<TlsConfig, HubError> {
    let Some(bundle) = bundle else {
        // The built-in Mozilla roots, as ureq has them.
        return Ok(TlsConfig::builder().root_certs(RootCerts::WebPki).build());
    };
    let extra = read_bundle(bundle)?;
    tracing::debug!(
        "trusting {} certificate(s) of `{}` ({}) besides the built-in roots",
        extra.len(),
        bundle.path.display(),
        bundle.variable
    );
    let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()));
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::from(builtin.chain(extra)))
        .build())
}

/// The certificates of a PEM bundle; other PEM items (a key) are skipped, as OpenSSL does.
fn read_bundle(bundle: &CaBundle) -> Result<Vec<Certificate<'static>>, HubError> {
    let fail = |reason: String| HubError::CaBundle {
        path: bundle.path.clone(),
        variable: bundle.variable,
        reason,
    };
    let bytes = crate::fs::read_limited(&bundle.path, MAX_BUNDLE).map_err(|e| {
        fail(match e {
            crate::fs::ReadError::Io { source, .. } => source.to_string(),
            crate::fs::ReadError::NotAFile { .. } => "it is not a regular file".into(),
            crate::fs::ReadError::TooLarge { limit, .. } => {
                format!("it is larger than {limit} bytes")
            }
        })
    })?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => {}
            Err(e) => return Err(fail(format!("it is not a valid PEM file ({e})"))),
        }
    }
    if certificates.is_empty() {
        return Err(fail(
            "it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
        ));
    }
    // ureq skips a certificate rustls cannot read without a word: say it here instead,
    // and refuse a bundle of which none is usable.
    let mut store = rustls::RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(
        certificates
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.der())),
    );
    if added == 0 {
        return Err(fail(format!(
            "none of its {ignored} certificate(s) is a valid X.509 CA certificate"
        )));
    }
    if ignored > 0 {
        tracing::warn!(
            "{ignored} certificate(s) of `{}` ({}) cannot be read and are not trusted",
            bundle.path.display(),
            bundle.variable
        );
    }
    Ok(certificates)
}

/// The proxy a variable names: `http://` or `https://` (a URL without a scheme is
/// `http://`, as curl takes it), with optional `user:password@`.
fn proxy(setting: &ProxySetting) -> Result<ureq::Proxy, HubError> {
    let bad = |reason: &str| HubError::BadProxy {
        variable: setting.variable,
        url: redact(&setting.url),
        reason: reason.into(),
    };
    let url = if setting.url.contains("://") {
        setting.url.clone()
    } else {
        format!("http://{}", setting.url)
    };
    // ureq's error ("invalid proxy url") says no more than this, and its text is not
    // repeated: it could one day quote the URL, password and all.
    let proxy = ureq::Proxy::new(&url)
        .map_err(|_| bad("it is not an http:// or https:// URL with a host"))?;
    if proxy.host().is_empty() {
        return Err(bad("it names no host"));
    }
    match proxy.protocol() {
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https => Ok(proxy),
        _ => Err(bad("SOCKS proxies are not supported")),
    }
}

/// The certificate error under `error`, if TLS failed for want of a trusted certificate.
pub fn certificate_error(error: &ureq::Error) -> Option<&rustls::Error> {
    let tls = match error {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    matches!(
        tls,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
    .then_some(tls)
}

/// The status a proxy answered to `CONNECT`, when that is why `error` happened (ureq
/// says it only in its message: "proxy server responded 407/…").
pub fn connect_status(error: &ureq::Error) -> Option<u16> {
    match error {
        ureq::Error::ConnectProxyFailed(reason) => reason
            .strip_prefix("proxy server responded ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse::<u16>().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn agents(vars: &[(&str, &str)]) -> Result<Agents, HubError> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = HubEnv::from_lookup(|name| vars.get(name).cloned(), Path::new("/c"));
        Agents::new(&env, ureq::Agent::config_builder)
    }

    fn via(agents: &Agents, url: &str) -> Option<&'static str> {
        let uri: Uri = url.parse().expect("uri");
        agents.route(&uri).proxy.map(|p| p.variable)
    }

    #[test]
    fn each_url_takes_its_schemes_proxy_unless_no_proxy_names_it() {
        let none = agents(&[]).expect("agents");
        let agents = agents(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:3128"),
            ("NO_PROXY", "cdn.example:443,.internal"),
        ])
        .expect("agents");
        assert_eq!(
            via(&agents, "https://huggingface.co/x"),
            Some("HTTPS_PROXY")
        );
        assert_eq!(via(&agents, "http://127.0.0.1:8000/x"), Some("http_proxy"));
        assert_eq!(via(&agents, "https://cdn.example/blob"), None);
        assert_eq!(
            via(&agents, "https://cdn.example:8443/blob"),
            Some("HTTPS_PROXY")
        );
        assert_eq!(via(&agents, "http://hub.internal/x"), None);
        assert_eq!(via(&none, "https://huggingface.co"), None);
    }

    #[test]
    fn a_password_stays_out_of_errors_and_what_is_shown() {
        let built = agents(&[("HTTPS_PROXY", "http://me:hunter2@proxy:3128")]).expect("agents");
        let uri: Uri = "https://huggingface.co".parse().expect("uri");
        let proxied = built.route(&uri).proxy.expect("proxied");
        assert_eq!(proxied.shown, "http://me:****@proxy:3128");
        assert!(proxied.credentials);

        let Err(error) = agents(&[("HTTPS_PROXY", "ftp://me:hunter2@proxy:21")]) else {
            panic!("an ftp proxy is refused");
        };
        let shown = error.to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains("HTTPS_PROXY"),
            "{shown}"
        );
    }
}
