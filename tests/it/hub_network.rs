//! `fxb download` over the network as users have it (issue 15): HTTPS from a loopback TLS
//! mock Hub whose CA the test makes, trusted through `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`
//! or `CURL_CA_BUNDLE`; an HTTP proxy on 127.0.0.1 that requests go through (or around,
//! with `NO_PROXY`), with credentials in the proxy URL; and the errors when a certificate,
//! a bundle or a proxy is wrong.

use std::fs;
use std::process::{Command, Output};

use crate::common::{TestContext, stderr};
use crate::hub::{BUNDLE, REPO, llama_min, reference_repo};
use crate::mock_hub::MockHub;
use crate::mock_net::{MockProxy, TestCa};

/// A test's home and cache, a mock Hub (over TLS or not) holding the reference's
/// repository, and maybe a proxy.
struct Net {
    ctx: TestContext,
    mock: MockHub,
    ca: TestCa,
    proxy: Option<MockProxy>,
}

impl Net {
    fn plain() -> Net {
        Net::with(MockHub::start(), TestCa::new())
    }

    fn tls() -> Net {
        let ca = TestCa::new();
        Net::with(MockHub::start_tls(&ca), ca)
    }

    fn with(mock: MockHub, ca: TestCa) -> Net {
        mock.add_repo(REPO, reference_repo());
        Net {
            ctx: TestContext::new(),
            mock,
            ca,
            proxy: None,
        }
    }

    fn proxy(mut self, proxy: MockProxy) -> Net {
        self.proxy = Some(proxy);
        self
    }

    fn proxy_addr(&self) -> String {
        self.proxy.as_ref().expect("a proxy").addr()
    }

    /// The test CA's certificate, written to `ca.pem`; its path.
    fn ca_file(&self) -> String {
        let path = self.ctx.path("ca.pem");
        fs::write(&path, &self.ca.pem).expect("write the CA");
        path.to_string_lossy().into_owned()
    }

    fn command(&self) -> Command {
        let mut cmd = self.ctx.command();
        cmd.env("HF_ENDPOINT", self.mock.endpoint())
            .env("HF_HOME", self.ctx.path("hf"))
            // Nothing to wait for between the attempts of a test that fails.
            .env("HF_HUB_ETAG_TIMEOUT", "5");
        cmd
    }

    fn download(&self, env: &[(&str, &str)]) -> Output {
        self.command()
            .args(["download", REPO, "--revision", "main"])
            .envs(env.iter().copied())
            .output()
            .expect("fxb runs")
    }

    /// Exit code, stdout and stderr, with the mock's and the proxy's addresses masked.
    fn format(&self, output: &Output) -> String {
        let mut text = self
            .ctx
            .format(output)
            .replace(&self.mock.hub_addr(), "[HUB]")
            .replace(&self.mock.cdn_addr(), "[CDN]");
        if let Some(proxy) = &self.proxy {
            text = text.replace(&proxy.addr(), "[PROXY]");
        }
        text
    }

    /// The bundle arrived whole in the default cache.
    fn assert_downloaded(&self, output: &Output) {
        assert_eq!(output.status.code(), Some(0), "{}", self.format(output));
        let dir = self.ctx.path(&format!(
            "home/.cache/furiosa/llm/fxb/models--{}",
            REPO.replace('/', "--")
        ));
        let snapshot = fs::read_dir(dir.join("snapshots"))
            .expect("snapshots")
            .flatten()
            .next()
            .expect("a snapshot")
            .path();
        assert_eq!(
            fs::read(snapshot.join(BUNDLE)).expect("the bundle"),
            llama_min()
        );
    }
}

#[test]
fn https_works_with_the_ca_in_any_of_the_bundle_variables() {
    for variable in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
        let net = Net::tls();
        assert!(net.mock.endpoint().starts_with("https://"));
        let out = net.download(&[(variable, &net.ca_file())]);
        net.assert_downloaded(&out);
        // Both the hub and the cdn answered over TLS.
        assert!(!net.mock.requests("hub", "/api/").is_empty(), "{variable}");
        assert!(!net.mock.requests("cdn", "/lfs/").is_empty(), "{variable}");
    }
}

#[test]
fn an_untrusted_certificate_fails_at_once_naming_the_variables() {
    let net = Net::tls();
    let out = net.download(&[]);
    // Not retried: a certificate does not get better by asking again.
    assert!(!stderr(&out).contains("attempt"), "{}", stderr(&out));
    insta::assert_snapshot!("untrusted_without_bundle", net.format(&out));

    // A bundle of another CA: the hint names the file that does not vouch for it.
    let other = TestCa::new();
    let path = net.ctx.path("other.pem");
    fs::write(&path, &other.pem).expect("write");
    let out = net.download(&[("REQUESTS_CA_BUNDLE", &path.to_string_lossy())]);
    insta::assert_snapshot!("untrusted_with_other_bundle", net.format(&out));
}

#[test]
fn a_bundle_that_is_not_pem_or_is_missing_is_a_clear_error() {
    let net = Net::tls();
    let path = net.ctx.path("not-pem.crt");
    fs::write(&path, "this is not a certificate\n").expect("write");
    let out = net.download(&[("SSL_CERT_FILE", &path.to_string_lossy())]);
    insta::assert_snapshot!("bundle_not_pem", net.format(&out));

    let broken = net.ctx.path("broken.pem");
    fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let out = net.download(&[("CURL_CA_BUNDLE", &broken.to_string_lossy())]);
    insta::assert_snapshot!("bundle_broken_pem", net.format(&out));

    let missing = net.ctx.path("missing.pem");
    let out = net.download(&[("REQUESTS_CA_BUNDLE", &missing.to_string_lossy())]);
    insta::assert_snapshot!("bundle_missing", net.format(&out));
    // Nothing was asked of the Hub.
    assert!(net.mock.log().is_empty());
}

#[test]
fn http_proxy_carries_the_requests_and_no_proxy_bypasses_it() {
    let net = Net::plain().proxy(MockProxy::start());
    let url = format!("http://{}", net.proxy_addr());
    let out = net.download(&[("HTTP_PROXY", &url)]);
    net.assert_downloaded(&out);
    let targets: Vec<String> = net
        .proxy
        .as_ref()
        .expect("proxy")
        .log()
        .iter()
        .map(|l| format!("{} {}", l.method, l.target))
        .collect();
    // Both the hub and the cdn hop went through it (ureq tunnels http:// with CONNECT).
    let through = |addr: &str| targets.iter().any(|t| t.ends_with(addr));
    assert!(through(&net.mock.hub_addr()), "{targets:?}");
    assert!(through(&net.mock.cdn_addr()), "{targets:?}");

    // NO_PROXY names 127.0.0.1 (or, in a form ureq's own reading does not know, its
    // network): the same download never touches the proxy.
    let direct = Net::plain().proxy(MockProxy::start());
    let url = format!("http://{}", direct.proxy_addr());
    for (variable, no_proxy) in [
        ("NO_PROXY", "example.com, 127.0.0.1"),
        ("no_proxy", "127.0.0.0/8"),
    ] {
        let out = direct.download(&[("HTTP_PROXY", &url), (variable, no_proxy)]);
        assert_eq!(out.status.code(), Some(0), "{}", direct.format(&out));
    }
    assert!(direct.proxy.as_ref().expect("proxy").log().is_empty());
    assert!(!direct.mock.requests("hub", "/api/").is_empty());
}

#[test]
fn https_goes_through_the_proxy_in_a_tunnel() {
    let net = Net::tls().proxy(MockProxy::start());
    let url = format!("http://{}", net.proxy_addr());
    // `https_proxy` is the one for https:// URLs: `HTTP_PROXY` names a proxy that is not
    // there, and is not used.
    let out = net.download(&[
        ("https_proxy", &url),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("SSL_CERT_FILE", &net.ca_file()),
    ]);
    net.assert_downloaded(&out);
    let log = net.proxy.as_ref().expect("proxy").log();
    assert!(!log.is_empty());
    assert!(log.iter().all(|l| l.method == "CONNECT"), "{log:?}");
    assert!(
        log.iter().any(|l| l.target == net.mock.cdn_addr()),
        "{log:?}"
    );
}

#[test]
fn proxy_credentials_in_the_url_are_sent_and_never_shown() {
    // A password with characters a URL must percent-encode.
    let net = Net::plain().proxy(MockProxy::with_credentials("fxb", "s3cr:t@"));
    let addr = net.proxy_addr();
    let out = net.download(&[("HTTP_PROXY", &format!("http://fxb:s3cr%3At%40@{addr}"))]);
    net.assert_downloaded(&out);
    let log = net.proxy.as_ref().expect("proxy").log();
    assert!(
        !log.is_empty() && log.iter().all(|l| l.authorized),
        "{log:?}"
    );

    let out = net.download(&[("ALL_PROXY", &format!("http://{addr}"))]);
    insta::assert_snapshot!("proxy_wants_credentials", net.format(&out));

    let out = net.download(&[
        ("http_proxy", &format!("http://fxb:hunter2@{addr}")),
        ("FXB_LOG", "debug"),
    ]);
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("fxb:****@{addr}")),
        "{}",
        stderr(&out)
    );
    insta::assert_snapshot!(
        "proxy_refuses_credentials",
        net.format(&out)
            .lines()
            .filter(|l| l.starts_with("error") || l.starts_with("hint") || l.starts_with("exit"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn an_unusable_proxy_url_names_its_variable() {
    let net = Net::plain();
    let out = net.download(&[("HTTP_PROXY", "socks5://user:hunter2@127.0.0.1:1080")]);
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    insta::assert_snapshot!("proxy_socks", net.format(&out));

    let out = net.download(&[("HTTPS_PROXY", "http://"), ("HTTP_PROXY", "http://")]);
    insta::assert_snapshot!("proxy_no_host", net.format(&out));

    // A proxy that is not there is the proxy's fault, not the Hub's.
    let out = net.download(&[("HTTP_PROXY", "127.0.0.1:9")]);
    insta::assert_snapshot!("proxy_unreachable", net.format(&out));
    assert!(net.mock.log().is_empty());
}
