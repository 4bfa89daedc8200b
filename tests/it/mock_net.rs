//! The network between fxb and the mock Hub ([`crate::mock_hub`]), on 127.0.0.1 only:
//!
//! - [`TestCa`]: a certificate authority the test makes (rcgen), its PEM for
//!   `SSL_CERT_FILE`, and a server certificate for 127.0.0.1 it signs;
//! - [`Stream`]: a mock server's connection, plain or TLS (rustls);
//! - [`MockProxy`]: an HTTP proxy (`CONNECT` tunnels, and absolute-form requests for
//!   `http://`), optionally wanting `Proxy-Authorization`, that logs what passed through.
//!   It connects only to 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA made for one test.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "fxb test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A TLS server configuration with a certificate for 127.0.0.1 signed by this CA.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("server key");
        let certificate = params.signed_by(&key, &self.issuer).expect("signed");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], key)
            .expect("server certificate");
        Arc::new(config)
    }
}

/// A mock server's side of a connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// `tcp`, over TLS when `tls` is given (the handshake happens on the first read).
    pub fn accept(
        tcp: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Stream> {
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some(config) => {
                let connection = rustls::ServerConnection::new(Arc::clone(config))
                    .map_err(std::io::Error::other)?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(connection, tcp)))
            }
        })
    }

    /// Flush, end TLS (`close_notify`) and close.
    pub fn close(mut self) -> std::io::Result<()> {
        self.flush()?;
        match self {
            Stream::Plain(tcp) => tcp.shutdown(Shutdown::Both),
            Stream::Tls(mut tls) => {
                tls.conn.send_close_notify();
                tls.flush()?;
                tls.sock.shutdown(Shutdown::Both)
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct ProxyLogged {
    /// `CONNECT`, or the method of an absolute-form request.
    pub method: String,
    /// `host:port` of a `CONNECT`, the URL of an absolute-form request.
    pub target: String,
    /// Whether it carried the credentials the proxy wants (or the proxy wants none).
    pub authorized: bool,
}

struct ProxyState {
    log: Mutex<Vec<ProxyLogged>>,
    /// `Basic …` the proxy wants, if any.
    wanted: Option<String>,
}

/// The running proxy; stops accepting when dropped.
pub struct MockProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    stop: Arc<AtomicBool>,
}

impl MockProxy {
    /// A proxy that lets everything through.
    pub fn start() -> MockProxy {
        MockProxy::start_with(None)
    }

    /// A proxy that answers 407 unless `Proxy-Authorization` is Basic `user:password`.
    pub fn with_credentials(user: &str, password: &str) -> MockProxy {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        MockProxy::start_with(Some(format!("Basic {basic}")))
    }

    fn start_with(wanted: Option<String>) -> MockProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(ProxyState {
            log: Mutex::new(Vec::new()),
            wanted,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_state, accept_stop) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&accept_state);
                std::thread::spawn(move || {
                    let _ = relay(&state, stream);
                });
            }
        });
        MockProxy { addr, state, stop }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn log(&self) -> Vec<ProxyLogged> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// One client connection: a CONNECT tunnel, or one absolute-form request forwarded.
fn relay(state: &ProxyState, client: TcpStream) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "proxy-authorization" {
            authorization = Some(value.trim().to_string());
        } else if name != "proxy-connection" && name != "connection" {
            headers.push(header.trim_end().to_string());
        }
    }
    let authorized = state.wanted.is_none() || authorization == state.wanted;
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ProxyLogged {
            method: method.clone(),
            target: target.clone(),
            authorized,
        });
    let mut client_out = client;
    if !authorized {
        client_out.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"mock\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return client_out.shutdown(Shutdown::Both);
    }
    if method == "CONNECT" {
        let Some(upstream) = loopback(&target) else {
            client_out.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        };
        client_out.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
        // What the client sent after the head (nothing, until it has read the 200).
        let early = reader.buffer().to_vec();
        let mut up = upstream;
        up.write_all(&early)?;
        return tunnel(reader.into_inner(), up);
    }
    // An absolute-form request: `GET http://127.0.0.1:PORT/path HTTP/1.1`.
    let Some(rest) = target.strip_prefix("http://") else {
        client_out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(mut upstream) = loopback(authority) else {
        client_out.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for header in headers {
        head.push_str(&header);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    std::io::copy(&mut upstream, &mut client_out)?;
    client_out.shutdown(Shutdown::Both)
}

/// A connection to `host:port` if it is on 127.0.0.1: the proxy reaches nothing else.
fn loopback(authority: &str) -> Option<TcpStream> {
    let addr: SocketAddr = authority.parse().ok()?;
    if !addr.ip().is_loopback() {
        return None;
    }
    TcpStream::connect(addr).ok()
}

/// Bytes both ways until either side closes.
fn tunnel(client: TcpStream, upstream: TcpStream) -> std::io::Result<()> {
    let (mut client_in, mut client_out) = (client.try_clone()?, client);
    let (mut up_in, mut up_out) = (upstream.try_clone()?, upstream);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut up_out);
        let _ = up_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}
