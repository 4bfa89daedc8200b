//! The Hub's write side (issue 19): the requests of one commit, the way the Hub's own client
//! makes them — `POST /api/repos/create`, `POST /api/models/{repo}/preupload/{rev}` (which
//! files go to LFS), the LFS batch API (`POST /{repo}.git/info/lfs/objects/batch`, the
//! `basic` transfer: a `PUT` to the returned href with its headers, then `verify` when the
//! Hub asks), and `POST /api/models/{repo}/commit/{rev}` with an NDJSON body.
//!
//! Each function is one step; [`super::publish`] strings them together. A file is read at
//! most twice: once to hash it ([`hash_file`]: sha256, git blob id and the sample in one
//! pass) and once to send it (streamed from disk, never held in memory, for an LFS object;
//! read whole into the commit body for a small regular file). The multipart LFS transfer is
//! not spoken: fxb asks for `basic` only.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::Digest as _;

use super::client::{Answer, Client, Failure, Payload, SendMethod, Target, encode_segment, header};
use super::error::HubError;
use super::repo::RepoId;
use super::{DownloadEvent, Events};

/// The bytes of a file the preupload call sends for the Hub to tell text from binary.
const SAMPLE: usize = 512;
/// Files per preupload or batch request (as the Hub's client chunks them).
const CHUNK: usize = 256;
/// The largest answer of the write API read.
const MAX_ANSWER: u64 = 16 << 20;
/// The read size of the hashing pass and of an upload.
const BUFFER: usize = 1 << 20;

/// One file of a commit, hashed.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Where it goes in the repository (`/`-separated).
    pub path_in_repo: String,
    pub source: Source,
    pub size: u64,
    /// Hex sha256 of the content: the LFS oid.
    pub sha256: String,
    /// Hex git blob id of the content: how the Hub names a regular file.
    pub git_oid: String,
    /// The first 512 bytes.
    pub sample: Vec<u8>,
}

/// Where an upload's bytes are.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local file, read when sent (never modified).
    File(PathBuf),
    /// Made by fxb (the model card).
    Bytes(Vec<u8>),
}

/// `path` hashed in one pass (sha256, git blob id, sample), reporting progress.
pub fn hash_file(path: &Path, path_in_repo: &str, events: Events<'_>) -> Result<Upload, HubError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| HubError::io("open", path.to_path_buf(), e))?;
    let size = file
        .metadata()
        .map_err(|e| HubError::io("read the metadata of", path.to_path_buf(), e))?
        .len();
    let mut sha256 = sha2::Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    sha1.update(format!("blob {size}\0").as_bytes());
    let mut sample = Vec::with_capacity(SAMPLE);
    let mut buffer = vec![0; BUFFER];
    let mut read_total = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HubError::io("read", path.to_path_buf(), e)),
        };
        let chunk = &buffer[..n];
        sha256.update(chunk);
        sha1.update(chunk);
        if sample.len() < SAMPLE {
            let take = (SAMPLE - sample.len()).min(n);
            sample.extend_from_slice(&chunk[..take]);
        }
        read_total += n as u64;
        events(&DownloadEvent::Progress { bytes: n as u64 });
    }
    if read_total != size {
        return Err(HubError::io(
            "hash",
            path.to_path_buf(),
            std::io::Error::other(format!(
                "it changed while being read ({size} bytes before, {read_total} read)"
            )),
        ));
    }
    Ok(Upload {
        path_in_repo: path_in_repo.to_string(),
        source: Source::File(path.to_path_buf()),
        size,
        sha256: hex(&sha256.finalize()),
        git_oid: hex(&sha1.finalize()),
        sample,
    })
}

/// Bytes fxb made, hashed.
pub fn hash_bytes(path_in_repo: &str, bytes: Vec<u8>) -> Upload {
    let mut sha1 = sha1::Sha1::new();
    sha1.update(format!("blob {}\0", bytes.len()).as_bytes());
    sha1.update(&bytes);
    Upload {
        path_in_repo: path_in_repo.to_string(),
        size: bytes.len() as u64,
        sha256: hex(&sha2::Sha256::digest(&bytes)),
        git_oid: hex(&sha1.finalize()),
        sample: bytes[..bytes.len().min(SAMPLE)].to_vec(),
        source: Source::Bytes(bytes),
    }
}

/// How the Hub stores a file, as preupload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In git: sent base64 in the commit.
    Regular,
    /// In LFS: uploaded first, named in the commit by its sha256.
    Lfs,
}

/// Preupload's answer for one file.
#[derive(Debug, Clone)]
pub struct Placement {
    pub mode: Mode,
    /// The repository's `.gitignore` excludes it.
    pub ignored: bool,
    /// The id of the file now at that path (a regular file's git blob id, an LFS file's
    /// sha256), when there is one.
    pub remote_oid: Option<String>,
}

impl Upload {
    /// The id preupload reports for this content in `mode` (what the Hub's client compares
    /// to skip unchanged files).
    pub fn oid(&self, mode: Mode) -> &str {
        match mode {
            Mode::Regular => &self.git_oid,
            Mode::Lfs => &self.sha256,
        }
    }
}

/// One object of the LFS batch answer.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchObject {
    pub oid: String,
    #[serde(default)]
    pub size: Option<u64>,
    /// Absent when the Hub already stores the object.
    #[serde(default)]
    pub actions: Option<Actions>,
    #[serde(default)]
    pub error: Option<ObjectError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Actions {
    pub upload: Option<Action>,
    pub verify: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub href: String,
    #[serde(default)]
    pub header: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ObjectError {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What the commit call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitAnswer {
    Committed {
        commit: String,
        url: String,
        /// With `create_pr`: the pull request.
        pull_request: Option<String>,
    },
    /// 412 (the parent is not the head any more) or 409 (a conflicting commit): the
    /// Hub's message.
    Stale { status: u16, message: String },
}

/// One file line of the commit: `file` (base64) or `lfsFile`.
pub struct CommitFile<'a> {
    pub upload: &'a Upload,
    pub mode: Mode,
}

impl Client {
    /// `POST /api/repos/create` for a model repository: `true` when it was made, `false`
    /// when it exists (409).
    pub fn create_repo(
        &self,
        repo: &RepoId,
        private: bool,
        events: Events<'_>,
    ) -> Result<bool, HubError> {
        let (name, organization) = match repo.as_str().split_once('/') {
            Some((org, name)) => (name, Some(org)),
            None => (repo.as_str(), None),
        };
        // As the Hub's client 2.x asks: `visibility`, only when it is not the default.
        let mut body = json!({ "name": name, "organization": organization, "type": "model" });
        if private {
            body["visibility"] = json!("private");
        }
        let url = format!("{}/api/repos/create", self.endpoint());
        let target = target(repo, None);
        let (status, _) = self.post_json(&url, &body, target, events, &[409])?;
        Ok(status != 409)
    }

    /// `POST /api/models/{repo}/preupload/{rev}`: where each upload goes.
    pub fn preupload(
        &self,
        repo: &RepoId,
        revision: &str,
        uploads: &[&Upload],
        create_pr: bool,
        events: Events<'_>,
    ) -> Result<Vec<Placement>, HubError> {
        #[derive(Deserialize)]
        struct Answer {
            files: Vec<File>,
        }
        #[derive(Deserialize)]
        struct File {
            path: String,
            #[serde(rename = "uploadMode")]
            upload_mode: String,
            #[serde(default, rename = "shouldIgnore")]
            should_ignore: bool,
            #[serde(default)]
            oid: Option<String>,
        }
        let mut url = format!(
            "{}/api/models/{repo}/preupload/{}",
            self.endpoint(),
            encode_segment(revision)
        );
        if create_pr {
            url.push_str("?create_pr=1");
        }
        let mut placements = Vec::with_capacity(uploads.len());
        for chunk in uploads.chunks(CHUNK) {
            let files: Vec<Value> = chunk
                .iter()
                .map(|u| {
                    json!({
                        "path": u.path_in_repo,
                        "sample": base64::engine::general_purpose::STANDARD.encode(&u.sample),
                        "size": u.size,
                    })
                })
                .collect();
            let (_, answer) = self.post_json(
                &url,
                &json!({ "files": files }),
                target(repo, Some(revision)),
                events,
                &[],
            )?;
            let answer: Answer = parse(&url, answer)?;
            for upload in chunk {
                let file = answer
                    .files
                    .iter()
                    .find(|f| f.path == upload.path_in_repo)
                    .ok_or_else(|| HubError::BadResponse {
                        url: url.clone(),
                        message: format!("no answer for `{}`", upload.path_in_repo),
                    })?;
                let mode = match file.upload_mode.as_str() {
                    // An empty file cannot be an LFS object (the store refuses it), as the
                    // Hub's client also knows.
                    "lfs" if upload.size > 0 => Mode::Lfs,
                    "lfs" | "regular" => Mode::Regular,
                    other => {
                        return Err(HubError::BadResponse {
                            url: url.clone(),
                            message: format!(
                                "upload mode `{other}` for `{}` (fxb speaks `regular` and `lfs`)",
                                upload.path_in_repo
                            ),
                        });
                    }
                };
                placements.push(Placement {
                    mode,
                    ignored: file.should_ignore,
                    remote_oid: file.oid.clone(),
                });
            }
        }
        Ok(placements)
    }

    /// `POST /{repo}.git/info/lfs/objects/batch` for uploads with the `basic` transfer.
    /// `branch` is the ref written to; `None` for a pull request (as the Hub's client does:
    /// a user who may only open one has no write access to the branch).
    pub fn lfs_batch(
        &self,
        repo: &RepoId,
        branch: Option<&str>,
        uploads: &[&Upload],
        events: Events<'_>,
    ) -> Result<Vec<BatchObject>, HubError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            transfer: Option<String>,
            objects: Vec<BatchObject>,
        }
        let url = format!("{}/{repo}.git/info/lfs/objects/batch", self.endpoint());
        let mut objects = Vec::with_capacity(uploads.len());
        for chunk in uploads.chunks(CHUNK) {
            let mut body = json!({
                "operation": "upload",
                "transfers": ["basic"],
                "objects": chunk.iter().map(|u| json!({ "oid": u.sha256, "size": u.size })).collect::<Vec<_>>(),
                "hash_algo": "sha256",
            });
            if let Some(branch) = branch {
                body["ref"] = json!({ "name": branch });
            }
            let (_, answer) = self.post_json(&url, &body, target(repo, branch), events, &[])?;
            let answer: Answer = parse(&url, answer)?;
            if let Some(transfer) = answer.transfer.filter(|t| t != "basic") {
                return Err(HubError::BadResponse {
                    url,
                    message: format!("the `{transfer}` transfer (fxb asked for `basic`)"),
                });
            }
            objects.extend(answer.objects);
        }
        Ok(objects)
    }

    /// The `basic` transfer of one object: `PUT` the file to the action's href (streamed,
    /// retried from the start after a drop), then `verify` when the Hub asks.
    pub fn upload_object(
        &self,
        upload: &Upload,
        actions: &Actions,
        events: Events<'_>,
    ) -> Result<(), HubError> {
        let Some(put) = &actions.upload else {
            return Ok(());
        };
        let headers = action_headers(put);
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let what = format!("uploading `{}`", upload.path_in_repo);
        self.retrying(&what, events, || {
            events(&DownloadEvent::Started {
                file: &upload.path_in_repo,
                size: upload.size,
                resumed_from: 0,
            });
            let answer = match &upload.source {
                Source::Bytes(bytes) => {
                    self.send(SendMethod::Put, &put.href, &headers, Payload::Bytes(bytes))?
                }
                Source::File(path) => {
                    let file = std::fs::File::open(path)
                        .map_err(|e| HubError::io("open", path.clone(), e))?;
                    let mut reader = Counting {
                        inner: std::io::BufReader::with_capacity(BUFFER, file),
                        events,
                    };
                    self.send(
                        SendMethod::Put,
                        &put.href,
                        &headers,
                        Payload::Reader {
                            reader: &mut reader,
                            len: upload.size,
                        },
                    )?
                }
            };
            if !(200..300).contains(&answer.status) {
                return Err(store_failure(answer));
            }
            Ok(())
        })?;
        if let Some(verify) = &actions.verify {
            let headers = action_headers(verify);
            let headers: Vec<(&str, String)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let body = json!({ "oid": upload.sha256, "size": upload.size }).to_string();
            self.retrying(
                &format!("verifying `{}`", upload.path_in_repo),
                events,
                || {
                    let mut headers = headers.clone();
                    headers.push(("Content-Type", "application/vnd.git-lfs+json".into()));
                    let answer = self.send(
                        SendMethod::Post,
                        &verify.href,
                        &headers,
                        Payload::Bytes(body.as_bytes()),
                    )?;
                    if !(200..300).contains(&answer.status) {
                        return Err(store_failure(answer));
                    }
                    Ok(())
                },
            )?;
        }
        events(&DownloadEvent::Finished {
            file: &upload.path_in_repo,
        });
        Ok(())
    }

    /// `POST /api/models/{repo}/commit/{rev}[?create_pr=1]`: the header line (summary,
    /// parent) and one line per file. A transient failure is retried: with the parent
    /// named, a repeat of a commit that did land is refused as stale, never applied twice.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        repo: &RepoId,
        revision: &str,
        summary: &str,
        parent: &str,
        files: &[CommitFile<'_>],
        create_pr: bool,
        events: Events<'_>,
    ) -> Result<CommitAnswer, HubError> {
        let mut body = Vec::new();
        let mut line = |value: Value| {
            body.extend_from_slice(value.to_string().as_bytes());
            body.push(b'\n');
        };
        line(json!({
            "key": "header",
            "value": { "summary": summary, "description": "", "parentCommit": parent },
        }));
        for file in files {
            let upload = file.upload;
            match file.mode {
                Mode::Regular => {
                    let bytes = match &upload.source {
                        Source::Bytes(bytes) => bytes.clone(),
                        Source::File(path) => std::fs::read(path)
                            .map_err(|e| HubError::io("read", path.clone(), e))?,
                    };
                    if bytes.len() as u64 != upload.size {
                        return Err(changed(upload));
                    }
                    line(json!({
                        "key": "file",
                        "value": {
                            "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
                            "path": upload.path_in_repo,
                            "encoding": "base64",
                        },
                    }));
                }
                Mode::Lfs => line(json!({
                    "key": "lfsFile",
                    "value": {
                        "path": upload.path_in_repo,
                        "algo": "sha256",
                        "oid": upload.sha256,
                        "size": upload.size,
                    },
                })),
            }
        }
        let mut url = format!(
            "{}/api/models/{repo}/commit/{}",
            self.endpoint(),
            encode_segment(revision)
        );
        if create_pr {
            url.push_str("?create_pr=1");
        }
        let headers = [("Content-Type", "application/x-ndjson".to_string())];
        self.retrying(&format!("committing to `{repo}`"), events, || {
            let answer = self.send(SendMethod::Post, &url, &headers, Payload::Bytes(&body))?;
            match answer.status {
                200 | 201 => {
                    let value = read_answer(&url, answer)?;
                    let text =
                        |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
                    let commit = text("commitOid").ok_or_else(|| HubError::BadResponse {
                        url: url.clone(),
                        message: "no `commitOid`".into(),
                    })?;
                    Ok(CommitAnswer::Committed {
                        url: text("commitUrl").unwrap_or_default(),
                        pull_request: text("pullRequestUrl").filter(|_| create_pr),
                        commit,
                    })
                }
                status @ (409 | 412) => {
                    let message = header(&answer.headers, "x-error-message")
                        .or_else(|| {
                            read_answer(&url, answer).ok().and_then(|v| {
                                v.get("error").and_then(Value::as_str).map(str::to_string)
                            })
                        })
                        .unwrap_or_default();
                    Ok(CommitAnswer::Stale { status, message })
                }
                _ => Err(self.status_failure(answer, target(repo, Some(revision)))),
            }
        })
    }

    /// `POST url` with a JSON body, retried; the status and the JSON answer (`Null` for
    /// one of the `accepted` error statuses).
    fn post_json(
        &self,
        url: &str,
        body: &Value,
        target: Target<'_>,
        events: Events<'_>,
        accepted: &[u16],
    ) -> Result<(u16, Value), HubError> {
        let bytes = body.to_string().into_bytes();
        let headers = [("Content-Type", "application/json".to_string())];
        self.retrying(&format!("POST {url}"), events, || {
            let answer = self.send(SendMethod::Post, url, &headers, Payload::Bytes(&bytes))?;
            let status = answer.status;
            if accepted.contains(&status) {
                return Ok((status, Value::Null));
            }
            if !(200..300).contains(&status) {
                return Err(self.status_failure(answer, target));
            }
            Ok((status, read_answer(url, answer)?))
        })
    }
}

fn target<'a>(repo: &'a RepoId, revision: Option<&'a str>) -> Target<'a> {
    Target {
        repo: repo.as_str(),
        revision,
        file: None,
    }
}

fn read_answer(url: &str, answer: Answer) -> Result<Value, Failure> {
    let text = answer
        .body
        .into_with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| Failure::Transient {
            reason: format!("reading the answer of {url}: {e}"),
            retry_after: None,
        })?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| {
        Failure::Fatal(HubError::BadResponse {
            url: url.to_string(),
            message: e.to_string(),
        })
    })
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, value: Value) -> Result<T, HubError> {
    serde_json::from_value(value).map_err(|e| HubError::BadResponse {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// An action's headers as text (the Hub may give numbers).
fn action_headers(action: &Action) -> Vec<(String, String)> {
    action
        .header
        .iter()
        .flatten()
        .map(|(name, value)| {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            (name.clone(), value)
        })
        .collect()
}

/// A store's (or verify's) refusal: 5xx and 429 are worth another attempt.
fn store_failure(answer: Answer) -> Failure {
    let status = answer.status;
    let url = answer.url.split('?').next().unwrap_or_default().to_string();
    let message = answer
        .body
        .into_with_config()
        .limit(64 * 1024)
        .read_to_string()
        .ok()
        .map(|t| t.trim().chars().take(200).collect::<String>())
        .filter(|t| !t.is_empty());
    if matches!(status, 429 | 500 | 502 | 503 | 504) {
        return Failure::Transient {
            reason: format!("{url} answered {status}"),
            retry_after: None,
        };
    }
    Failure::Fatal(HubError::Http {
        status,
        url,
        message,
    })
}

fn changed(upload: &Upload) -> HubError {
    let path = match &upload.source {
        Source::File(path) => path.clone(),
        Source::Bytes(_) => PathBuf::from(&upload.path_in_repo),
    };
    HubError::io(
        "send",
        path,
        std::io::Error::other("it changed after it was hashed"),
    )
}

/// A reader that reports the bytes read as progress.
struct Counting<'a, R> {
    inner: R,
    events: Events<'a>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.events)(&DownloadEvent::Progress { bytes: n as u64 });
        }
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_gives_the_lfs_oid_the_git_blob_id_and_the_sample() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.bin");
        let bytes: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let hashed = hash_file(&path, "x.bin", &super::super::ignore_events).expect("hash");
        let made = hash_bytes("x.bin", bytes.clone());
        assert_eq!(hashed.sha256, made.sha256);
        assert_eq!(hashed.git_oid, made.git_oid);
        assert_eq!(hashed.sample, bytes[..512]);
        assert_eq!(hashed.size, 2000);
        // `git hash-object` of "hello\n".
        assert_eq!(
            hash_bytes("h", b"hello\n".to_vec()).git_oid,
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
