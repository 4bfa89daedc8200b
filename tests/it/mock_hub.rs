//! An in-process mock of the Hugging Face Hub on 127.0.0.1 (and only there): two
//! listeners, the "hub" and a "cdn", speaking what the Hub speaks to its clients —
//!
//! - `GET /api/models/{repo}/revision/{rev}?blobs=true`: `sha`, `siblings` with `size`,
//!   `blobId` and, for LFS files, `lfs.sha256` / `lfs.size`;
//! - `GET /api/models/{repo}/refs`: `branches`, `tags`;
//! - `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=true`: the files (`oid`, `size`,
//!   `lfs.oid`) and folders, as `snapshot_download` lists them;
//! - `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: a small file is answered here (`ETag` = its
//!   git blob id, `X-Repo-Commit`); an LFS file is a 302 to the cdn with `X-Linked-Etag`
//!   (its sha256) and `X-Linked-Size`; errors carry `X-Error-Code` (`RepoNotFound`,
//!   `RevisionNotFound`, `EntryNotFound`, `GatedRepo`) and `X-Error-Message`, and a missing
//!   file's 404 its `X-Repo-Commit`;
//! - the cdn serves LFS objects by sha256 at a "signed" URL, with `Range` → 206.
//!
//! [`MockHub::start_tls`] serves both over TLS with a certificate of a test CA
//! ([`crate::mock_net::TestCa`]), the cdn's URLs then being `https://` too.
//!
//! The write side ([`write`], issue 19) speaks what an upload speaks: `POST
//! /api/repos/create` (409 for an existing repository), `preupload`, the LFS batch API with
//! the `basic` transfer and `verify`, the cdn's `PUT` of an object (hashed: wrong content is
//! refused), and the NDJSON `commit` (a stale `parentCommit` refused with 412, `create_pr`).
//!
//! It is checked against real clients, not against fxb: the Hub's own Python client and
//! the reference's `download` fetch from it, and the client uploads to it, in
//! `tests/it/hub_clients.rs`.
//!
//! A test switches [`Modes`] to misbehave: ignore `Range`, drop the connection mid-file,
//! serve wrong bytes, answer 503, throttle, require a token. Every request is logged with
//! its headers, so a test can assert what reached which server (no `Authorization` at the
//! cdn, which answers such a request 400 as a signed-URL store does).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest as _;

use crate::mock_net::{Stream, TestCa};

#[path = "mock_hub_write.rs"]
pub mod write;

/// A file of a mock repository.
#[derive(Clone)]
pub struct MockFile {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    pub lfs: bool,
    /// The sha256, computed once: every listing, redirect and CDN lookup names it, and a
    /// benchmark's 1 GiB file would otherwise be hashed per request.
    sha256: Arc<std::sync::OnceLock<String>>,
}

impl MockFile {
    pub fn lfs(name: &str, bytes: Vec<u8>) -> MockFile {
        MockFile {
            name: name.into(),
            bytes: Arc::new(bytes),
            lfs: true,
            sha256: Arc::default(),
        }
    }

    /// An LFS file whose bytes are already shared (the store's).
    pub fn lfs_shared(name: &str, bytes: Arc<Vec<u8>>) -> MockFile {
        MockFile {
            name: name.into(),
            bytes,
            lfs: true,
            sha256: Arc::default(),
        }
    }

    pub fn small(name: &str, bytes: &[u8]) -> MockFile {
        MockFile {
            name: name.into(),
            bytes: Arc::new(bytes.to_vec()),
            lfs: false,
            sha256: Arc::default(),
        }
    }

    pub fn sha256(&self) -> String {
        self.sha256
            .get_or_init(|| hex(&sha2::Sha256::digest(self.bytes.as_slice())))
            .clone()
    }

    /// The git blob id of the content (a small file's ETag).
    pub fn git_sha1(&self) -> String {
        git_blob_id(&self.bytes)
    }

    /// The blob name a client gives it: the sha256 of an LFS file, else the git blob id.
    pub fn etag(&self) -> String {
        if self.lfs {
            self.sha256()
        } else {
            self.git_sha1()
        }
    }

    /// The LFS pointer git stores instead of an LFS file.
    fn pointer(&self) -> Vec<u8> {
        format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
            self.sha256(),
            self.bytes.len()
        )
        .into_bytes()
    }
}

/// A mock repository: commits with their files, and refs naming commits.
#[derive(Clone, Default)]
pub struct MockRepo {
    pub commits: BTreeMap<String, Vec<MockFile>>,
    pub branches: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Files need a token (401 `GatedRepo` without one, 403 with one not granted).
    pub gated: bool,
}

impl MockRepo {
    /// One commit on `main`.
    pub fn with_files(commit: &str, files: Vec<MockFile>) -> MockRepo {
        let mut repo = MockRepo::default();
        repo.commits.insert(commit.into(), files);
        repo.branches.insert("main".into(), commit.into());
        repo
    }

    fn commit_of(&self, revision: &str) -> Option<&str> {
        if self.commits.contains_key(revision) {
            return self
                .commits
                .get_key_value(revision)
                .map(|(k, _)| k.as_str());
        }
        self.branches
            .get(revision)
            .or_else(|| self.tags.get(revision))
            .map(String::as_str)
    }
}

/// How the mock misbehaves, switched per test.
#[derive(Clone, Default)]
pub struct Modes {
    /// The cdn answers a ranged request with the whole file (200).
    pub ignore_range: bool,
    /// The cdn closes the connection after this many body bytes, this many times.
    pub drop_after: Option<(u64, u32)>,
    /// The cdn serves the file with one byte changed.
    pub wrong_bytes: bool,
    /// The hub's API answers this many requests 503 (with `Retry-After: 1`) first.
    pub fail_503: u32,
    /// The cdn sends 64 KiB at a time with this pause between.
    pub throttle: Option<Duration>,
    /// Every hub request needs `Authorization: Bearer {token}` (401 otherwise).
    pub require_token: Option<String>,
    /// Tokens granted access to gated repositories.
    pub granted: Vec<String>,
    /// Listings name the files only (no sizes, blob ids or LFS hashes), as a listing
    /// without `?blobs=true` does: a client must ask each file's metadata.
    pub bare_listing: bool,
    /// Write side: see [`write::WriteModes`].
    pub write: write::WriteModes,
}

/// One request, as a server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub server: &'static str,
    pub method: String,
    pub path: String,
    /// Lowercased names.
    pub headers: BTreeMap<String, String>,
    /// The body of a POST (an upload's PUT body is not kept).
    pub body: String,
}

#[derive(Default)]
struct State {
    repos: Mutex<BTreeMap<String, MockRepo>>,
    modes: Mutex<Modes>,
    log: Mutex<Vec<Logged>>,
    /// The LFS store: objects by sha256, uploaded whether or not a commit names them.
    objects: Mutex<BTreeMap<String, Arc<Vec<u8>>>>,
    /// The scheme of the cdn's URLs.
    tls: bool,
}

/// The running mock; stops accepting when dropped.
pub struct MockHub {
    state: Arc<State>,
    hub: SocketAddr,
    cdn: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl MockHub {
    pub fn start() -> MockHub {
        MockHub::start_with(None)
    }

    /// Both servers over TLS, with a certificate for 127.0.0.1 that `ca` signed.
    pub fn start_tls(ca: &TestCa) -> MockHub {
        MockHub::start_with(Some(ca.server_config()))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> MockHub {
        let state = Arc::new(State {
            tls: tls.is_some(),
            ..State::default()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let cdn = listen("cdn", &state, &stop, None, tls.clone());
        // The hub redirects to the cdn, so it must know its address.
        let hub = listen("hub", &state, &stop, Some(cdn), tls);
        MockHub {
            state,
            hub,
            cdn,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` over TLS), for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.state.scheme(), self.hub)
    }

    pub fn hub_addr(&self) -> String {
        self.hub.to_string()
    }

    pub fn cdn_addr(&self) -> String {
        self.cdn.to_string()
    }

    pub fn add_repo(&self, id: &str, repo: MockRepo) {
        lock(&self.state.repos).insert(id.into(), repo);
    }

    pub fn modes(&self, change: impl FnOnce(&mut Modes)) {
        change(&mut lock(&self.state.modes));
    }

    pub fn log(&self) -> Vec<Logged> {
        lock(&self.state.log).clone()
    }

    /// Requests to `server` whose path starts with `prefix`.
    /// A repository as it is now (after uploads).
    pub fn repo(&self, id: &str) -> Option<MockRepo> {
        lock(&self.state.repos).get(id).cloned()
    }

    /// The sha256 of every object in the LFS store.
    pub fn stored_objects(&self) -> Vec<String> {
        lock(&self.state.objects).keys().cloned().collect()
    }

    pub fn requests(&self, server: &str, prefix: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.server == server && l.path.starts_with(prefix))
            .collect()
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both accept loops.
        let _ = TcpStream::connect(self.hub);
        let _ = TcpStream::connect(self.cdn);
    }
}

impl State {
    fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn listen(
    server: &'static str,
    state: &Arc<State>,
    stop: &Arc<AtomicBool>,
    cdn: Option<SocketAddr>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> SocketAddr {
    // Loopback only: the mock must never listen on another address.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let state = Arc::clone(state);
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            // The head and the body are separate writes: without this, Nagle holds the
            // body until the client's delayed ACK (40 ms a request), as no real server does.
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&state);
            let tls = tls.clone();
            std::thread::spawn(move || {
                // A client that refuses the certificate ends the handshake: an error here.
                let _ = Stream::accept(stream, tls.as_ref())
                    .and_then(|stream| serve(server, &state, stream, cdn));
            });
        }
    });
    addr
}

/// An answer: status, headers, body (not sent for HEAD).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    /// Body bytes `[start, end)` of `body`.
    range: (usize, usize),
    /// Close after this many body bytes.
    drop_after: Option<u64>,
    throttle: Option<Duration>,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Reply {
        let len = body.len();
        Reply {
            status,
            headers: Vec::new(),
            body: Arc::new(body),
            range: (0, len),
            drop_after: None,
            throttle: None,
        }
    }

    fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply::new(status, value.to_string().into_bytes())
            .header("Content-Type", "application/json")
    }

    /// The Hub's error: the code and message in headers (what `huggingface_hub` reads
    /// first) and the message in the JSON body too.
    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, serde_json::json!({ "error": message }))
            .header("X-Error-Code", code)
            .header("X-Error-Message", message)
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn serve(
    server: &'static str,
    state: &State,
    stream: Stream,
    cdn: Option<SocketAddr>,
) -> std::io::Result<()> {
    // The request head only: a GET or HEAD has no body, so nothing is read past it.
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let mut request = Logged {
        server,
        method: method.clone(),
        path: path.clone(),
        headers,
        body: String::new(),
    };
    if method == "PUT" && server == "cdn" {
        lock(&state.log).push(request.clone());
        return match write::put(state, &request, &mut reader) {
            Some(reply) => write_reply(reader.into_inner(), &method, reply),
            // Dropped mid-upload: closed without an answer.
            None => Ok(()),
        };
    }
    let body = if method == "POST" {
        write::read_body(&mut reader, &request.headers)?
    } else {
        Vec::new()
    };
    request.body = String::from_utf8_lossy(&body).into_owned();
    lock(&state.log).push(request.clone());
    let reply = match server {
        "hub" if method == "POST" => write::post(state, &request, &body, cdn),
        "hub" => hub(state, &request, cdn),
        _ => cdn_reply(state, &request),
    };
    write_reply(reader.into_inner(), &method, reply)
}

fn write_reply(mut stream: Stream, method: &str, reply: Reply) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        422 => "Unprocessable Entity",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let (start, end) = reply.range;
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        end - start
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if method == "HEAD" {
        return stream.close();
    }
    let body = &reply.body[start..end];
    let limit = reply
        .drop_after
        .map_or(body.len(), |n| (n as usize).min(body.len()));
    let chunk = if reply.throttle.is_some() {
        64 << 10
    } else {
        body.len().max(1)
    };
    for piece in body[..limit].chunks(chunk) {
        stream.write_all(piece)?;
        if let Some(pause) = reply.throttle {
            stream.flush()?;
            std::thread::sleep(pause);
        }
    }
    // Dropped mid-file: close without the rest.
    stream.close()
}

fn hub(state: &State, request: &Logged, cdn: Option<SocketAddr>) -> Reply {
    let modes = lock(&state.modes).clone();
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if let Some(required) = &modes.require_token
        && token.as_deref() != Some(required.as_str())
    {
        return Reply::error(401, "RepoNotFound", "Repository not found");
    }
    let path = request.path.split('?').next().unwrap_or_default();
    if let Some(rest) = path.strip_prefix("/api/models/") {
        {
            let mut modes = lock(&state.modes);
            if modes.fail_503 > 0 {
                modes.fail_503 -= 1;
                return Reply::error(503, "ServiceUnavailable", "try again later")
                    .header("Retry-After", "1");
            }
        }
        let query = request.path.split_once('?').map_or("", |(_, q)| q);
        return api(state, rest, query, modes.bare_listing);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [org, name, "resolve", revision, file] = segments[..] else {
        return Reply::error(404, "NotFound", "no such endpoint");
    };
    let repos = lock(&state.repos);
    let Some(repo) = repos.get(&format!("{org}/{name}")) else {
        return Reply::error(404, "RepoNotFound", "Repository not found");
    };
    let Some(commit) = repo.commit_of(&decode(revision)) else {
        return Reply::error(404, "RevisionNotFound", "Invalid rev id");
    };
    let file_name = decode(file);
    let Some(file) = repo.commits[commit].iter().find(|f| f.name == file_name) else {
        // The commit comes with the 404: it is how `huggingface_hub` records the absence
        // in `.no_exist/<commit>/<file>` for its offline reads.
        return Reply::error(404, "EntryNotFound", "Entry not found")
            .header("X-Repo-Commit", commit);
    };
    if repo.gated {
        match &token {
            None => {
                return Reply::error(401, "GatedRepo", "Access to this model is restricted");
            }
            Some(t) if !modes.granted.contains(t) => {
                return Reply::error(403, "GatedRepo", "Access to this model is restricted");
            }
            Some(_) => {}
        }
    }
    if file.lfs {
        let cdn = cdn.expect("the hub knows the cdn");
        return Reply::new(302, Vec::new())
            .header(
                "Location",
                format!(
                    "{}://{cdn}/lfs/{}?X-Amz-Signature=signed",
                    state.scheme(),
                    file.sha256()
                ),
            )
            .header("X-Linked-Etag", format!("\"{}\"", file.sha256()))
            .header("X-Linked-Size", file.bytes.len().to_string())
            .header("ETag", format!("\"{}\"", git_blob_id(&file.pointer())))
            .header("X-Repo-Commit", commit);
    }
    let mut reply = ranged(&file.bytes, request, modes.ignore_range);
    reply = reply
        .header("ETag", format!("\"{}\"", file.git_sha1()))
        .header("X-Repo-Commit", commit);
    reply
}

fn api(state: &State, rest: &str, query: &str, bare: bool) -> Reply {
    let repos = lock(&state.repos);
    let (id, tail) = match rest.splitn(3, '/').collect::<Vec<_>>()[..] {
        [org, name, tail] => (format!("{org}/{name}"), tail.to_string()),
        _ => return Reply::error(404, "NotFound", "no such endpoint"),
    };
    let Some(repo) = repos.get(&id) else {
        return Reply::error(404, "RepoNotFound", "Repository not found");
    };
    if tail == "refs" {
        let refs = |map: &BTreeMap<String, String>, kind: &str| -> Vec<serde_json::Value> {
            map.iter()
                .map(|(name, commit)| {
                    serde_json::json!({
                        "name": name,
                        "ref": format!("refs/{kind}/{name}"),
                        "targetCommit": commit,
                    })
                })
                .collect()
        };
        return Reply::json(
            200,
            serde_json::json!({
                "branches": refs(&repo.branches, "heads"),
                "tags": refs(&repo.tags, "tags"),
                "converts": [],
            }),
        );
    }
    if let Some(rest) = tail.strip_prefix("tree/") {
        let (revision, under) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(commit) = repo.commit_of(&decode(revision)) else {
            return Reply::error(
                404,
                "RevisionNotFound",
                &format!("Invalid rev id: {revision}"),
            );
        };
        let recursive = query
            .split('&')
            .any(|p| p == "recursive=true" || p == "recursive=True");
        return match tree(&repo.commits[commit], &decode(under), recursive) {
            Some(entries) => Reply::json(200, serde_json::Value::Array(entries)),
            None => Reply::error(
                404,
                "EntryNotFound",
                &format!("{under} does not exist on \"{revision}\""),
            )
            .header("X-Repo-Commit", commit),
        };
    }
    let Some(revision) = tail.strip_prefix("revision/") else {
        return Reply::error(404, "NotFound", "no such endpoint");
    };
    let Some(commit) = repo.commit_of(&decode(revision)) else {
        return Reply::error(
            404,
            "RevisionNotFound",
            &format!("Invalid rev id: {revision}"),
        );
    };
    let siblings: Vec<serde_json::Value> = repo.commits[commit]
        .iter()
        .map(|f| {
            if bare {
                return serde_json::json!({ "rfilename": f.name });
            }
            let mut sibling = serde_json::json!({
                "rfilename": f.name,
                "size": f.bytes.len(),
                "blobId": if f.lfs { git_blob_id(&f.pointer()) } else { f.git_sha1() },
            });
            if f.lfs {
                sibling["lfs"] = serde_json::json!({
                    "sha256": f.sha256(),
                    "size": f.bytes.len(),
                    "pointerSize": f.pointer().len(),
                });
            }
            sibling
        })
        .collect();
    Reply::json(
        200,
        serde_json::json!({
            "_id": "0123456789abcdef01234567",
            "id": id,
            "modelId": id,
            "sha": commit,
            "private": false,
            "gated": if repo.gated { serde_json::json!("manual") } else { serde_json::json!(false) },
            "disabled": false,
            "lastModified": "2026-11-23T06:13:02.000Z",
            "siblings": siblings,
        }),
    )
}

/// `GET /api/models/{repo}/tree/{rev}[/{path}]`, as the Hub answers it (what
/// `huggingface_hub`'s `snapshot_download` lists a revision with): the entries directly
/// under `under`, or all below it when `recursive`, folders as `directory` entries; a file's
/// `oid` is its git blob id (an LFS file's pointer's), its `size` the content's. `None`
/// when `under` is neither a folder nor the root. (One page: the Hub pages past 1000.)
fn tree(files: &[MockFile], under: &str, recursive: bool) -> Option<Vec<serde_json::Value>> {
    let prefix = if under.is_empty() {
        String::new()
    } else {
        format!("{}/", under.trim_end_matches('/'))
    };
    let mut entries = BTreeMap::new();
    let mut found = under.is_empty();
    for file in files {
        let Some(relative) = file.name.strip_prefix(&prefix) else {
            continue;
        };
        found = true;
        let parts: Vec<&str> = relative.split('/').collect();
        let folders = if recursive {
            parts.len() - 1
        } else {
            parts.len().min(2) - 1
        };
        for depth in 1..=folders {
            let path = format!("{prefix}{}", parts[..depth].join("/"));
            entries.entry(path.clone()).or_insert_with(|| {
                serde_json::json!({
                    "type": "directory",
                    "oid": git_blob_id(path.as_bytes()),
                    "size": 0,
                    "path": path,
                })
            });
        }
        if !recursive && parts.len() > 1 {
            continue;
        }
        let mut entry = serde_json::json!({
            "type": "file",
            "oid": if file.lfs { git_blob_id(&file.pointer()) } else { file.git_sha1() },
            "size": file.bytes.len(),
            "path": file.name,
        });
        if file.lfs {
            entry["lfs"] = serde_json::json!({
                "oid": file.sha256(),
                "size": file.bytes.len(),
                "pointerSize": file.pointer().len(),
            });
        }
        entries.insert(file.name.clone(), entry);
    }
    found.then(|| entries.into_values().collect())
}

fn cdn_reply(state: &State, request: &Logged) -> Reply {
    let mut modes = lock(&state.modes);
    if request.headers.contains_key("authorization") {
        // A signed URL carries its own credentials; a second one is refused.
        return Reply::new(400, b"Only one auth mechanism allowed".to_vec());
    }
    let sha = request
        .path
        .strip_prefix("/lfs/")
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default()
        .to_string();
    let found = lock(&state.repos)
        .values()
        .flat_map(|r| r.commits.values().flatten())
        .find(|f| f.lfs && f.sha256() == sha)
        .cloned()
        .or_else(|| {
            lock(&state.objects)
                .get(&sha)
                .map(|bytes| MockFile::lfs_shared(&sha, Arc::clone(bytes)))
        });
    let Some(file) = found else {
        return Reply::new(404, b"NoSuchKey".to_vec());
    };
    let bytes = if modes.wrong_bytes {
        let mut bytes = file.bytes.as_ref().clone();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        Arc::new(bytes)
    } else {
        Arc::clone(&file.bytes)
    };
    let mut reply = ranged(&bytes, request, modes.ignore_range);
    reply.throttle = modes.throttle;
    if let Some((after, times)) = modes.drop_after
        && times > 0
    {
        reply.drop_after = Some(after);
        modes.drop_after = (times > 1).then_some((after, times - 1));
    }
    reply.header("Accept-Ranges", "bytes")
}

/// 200 with the whole body, or 206 for `Range: bytes=N-` or `bytes=N-M` (unless ranges
/// are ignored): a client that probes with `bytes=0-0` gets one byte and the size in
/// `Content-Range`, as from the Hub.
fn ranged(bytes: &Arc<Vec<u8>>, request: &Logged, ignore_range: bool) -> Reply {
    let len = bytes.len();
    let asked = request
        .headers
        .get("range")
        .filter(|_| !ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'));
    let start = asked.and_then(|(s, _)| s.trim().parse::<usize>().ok());
    // An end past the file is cut to it (RFC 9110 14.1.2).
    let end = asked
        .and_then(|(_, e)| e.trim().parse::<usize>().ok())
        .map_or(len, |e| e.saturating_add(1).min(len));
    let mut reply = Reply {
        status: 200,
        headers: Vec::new(),
        body: Arc::clone(bytes),
        range: (0, len),
        drop_after: None,
        throttle: None,
    };
    if let Some(start) = start {
        if start >= len {
            return Reply::new(416, Vec::new()).header("Content-Range", format!("bytes */{len}"));
        }
        let end = end.max(start + 1);
        reply.status = 206;
        reply.range = (start, end);
        reply = reply.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    reply
}

/// `%XX` escapes decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn git_blob_id(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
