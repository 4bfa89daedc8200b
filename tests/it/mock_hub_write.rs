//! The mock Hub's write side (issue 19), what the Hub's own client and `fxb publish` speak
//! to upload (on 127.0.0.1 only, like the rest of the mock):
//!
//! - `POST /api/repos/create`: a repository with an initial commit holding `.gitattributes`
//!   (as the Hub makes it), 409 when it exists;
//! - `POST /api/models/{repo}/preupload/{rev}`: `lfs` for a binary sample, a size over
//!   10 MiB or an LFS-tracked extension, else `regular`; the `oid` of the file now at the
//!   path;
//! - `POST /{repo}.git/info/lfs/objects/batch`: `basic` actions (a signed cdn URL, and a
//!   `verify` on the hub), none for an object already stored, a per-object error for one
//!   over [`WriteModes::max_object_size`];
//! - `PUT` on the cdn: the body hashed, refused (400) unless it is the object named, then
//!   stored; `POST …/objects/verify`;
//! - `POST /api/models/{repo}/commit/{rev}[?create_pr=1]`: the NDJSON parsed (`header`,
//!   `file` base64, `lfsFile` naming a stored object); a `parentCommit` that is not the
//!   head is refused with 412; with `create_pr` the commit goes to `refs/pr/N`.
//!
//! Every write needs a token (401 without), and a read-only one is refused (403).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{Logged, MockFile, MockRepo, Reply, State, decode, git_blob_id, hex, lock};

/// How the write side misbehaves, switched per test.
#[derive(Clone, Default)]
pub struct WriteModes {
    /// Tokens that may read but not write: every write answers 403.
    pub read_only_tokens: Vec<String>,
    /// Tokens the Hub does not know (revoked, mistyped): every write answers 401.
    pub invalid_tokens: Vec<String>,
    /// Before each of the next commits, another client's commit with these files lands on
    /// the branch first (so the commit's parent is stale).
    pub concurrent_commits: Vec<Vec<MockFile>>,
    /// The batch answer refuses objects larger than this (a per-object error, 422).
    pub max_object_size: Option<u64>,
    /// The batch answer asks for no `verify`.
    pub no_verify: bool,
    /// The cdn closes the connection after this many body bytes of a PUT, this many times.
    pub put_drop_after: Option<(u64, u32)>,
    /// The cdn answers a PUT only this long after it has the whole body (a store checking
    /// a large object).
    pub put_answer_delay: Option<std::time::Duration>,
    /// After this many more objects are stored, every PUT is refused with 403 (an expired
    /// signed URL): a publish interrupted part-way.
    pub put_refuse_after: Option<usize>,
}

/// A POST body: by `Content-Length`, or chunked.
pub fn read_body(
    reader: &mut impl BufRead,
    headers: &BTreeMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

/// The cdn's `PUT /upload/{sha256}`: `None` when the connection is dropped mid-body.
pub(super) fn put(state: &State, request: &Logged, reader: &mut impl BufRead) -> Option<Reply> {
    if request.headers.contains_key("authorization") {
        let _ = read_body(reader, &request.headers);
        return Some(Reply::new(400, b"Only one auth mechanism allowed".to_vec()));
    }
    let oid = request
        .path
        .strip_prefix("/upload/")
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default()
        .to_string();
    let drop_after = {
        let mut modes = lock(&state.modes);
        match modes.write.put_drop_after {
            Some((after, times)) if times > 0 => {
                modes.write.put_drop_after = (times > 1).then_some((after, times - 1));
                Some(after)
            }
            _ => None,
        }
    };
    if let Some(after) = drop_after {
        let mut sink = vec![0; after as usize];
        let _ = reader.read_exact(&mut sink);
        return None;
    }
    let body = read_body(reader, &request.headers).ok()?;
    let mut modes = lock(&state.modes);
    if modes.write.put_refuse_after == Some(0) {
        return Some(Reply::new(403, b"Request has expired".to_vec()));
    }
    if hex(&sha2::Sha256::digest(&body)) != oid {
        return Some(Reply::new(400, b"content sha256 mismatch".to_vec()));
    }
    if let Some(left) = modes.write.put_refuse_after.as_mut() {
        *left -= 1;
    }
    lock(&state.objects).insert(oid, Arc::new(body));
    if let Some(delay) = modes.write.put_answer_delay {
        drop(modes);
        std::thread::sleep(delay);
    }
    Some(Reply::new(200, Vec::new()))
}

/// Every POST to the hub.
pub(super) fn post(state: &State, request: &Logged, body: &[u8], cdn: Option<SocketAddr>) -> Reply {
    let modes = lock(&state.modes).clone();
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return Reply::json(
            401,
            json!({ "error": "Invalid credentials in Authorization header" }),
        );
    };
    if modes.write.invalid_tokens.iter().any(|t| t == token) {
        return Reply::json(
            401,
            json!({ "error": "Invalid credentials in Authorization header" }),
        );
    }
    if modes.write.read_only_tokens.iter().any(|t| t == token) {
        return Reply::json(
            403,
            json!({ "error": "You don't have the rights to write to this repository" }),
        );
    }
    let Ok(value) = (if request.path.contains("/commit/") {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(body)
    }) else {
        return Reply::error(400, "BadRequest", "the body is not JSON");
    };
    let path = request.path.split('?').next().unwrap_or_default();
    let query = request.path.split_once('?').map_or("", |(_, q)| q);
    let host = request.headers.get("host").cloned().unwrap_or_default();
    let endpoint = format!("{}://{host}", state.scheme());
    if path == "/api/repos/create" {
        return create(state, &value, &endpoint);
    }
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        let [org, name, verb, revision] = parts[..] else {
            return Reply::error(404, "NotFound", "no such endpoint");
        };
        let id = format!("{org}/{name}");
        let revision = decode(revision);
        return match verb {
            "preupload" => preupload(state, &id, &revision, &value),
            "commit" => commit(
                state,
                &id,
                &revision,
                body,
                query.split('&').any(|p| p == "create_pr=1"),
                &endpoint,
            ),
            _ => Reply::error(404, "NotFound", "no such endpoint"),
        };
    }
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    if let [org, name_git, lfs] = segments[..]
        && let Some(name) = name_git.strip_suffix(".git")
    {
        let id = format!("{org}/{name}");
        if !lock(&state.repos).contains_key(&id) {
            return Reply::error(404, "RepoNotFound", "Repository not found");
        }
        return match lfs {
            "info/lfs/objects/batch" => batch(state, &id, &value, cdn, &endpoint, &modes),
            "info/lfs/objects/verify" => {
                let oid = value["oid"].as_str().unwrap_or_default();
                let size = value["size"].as_u64();
                match lock(&state.objects).get(oid) {
                    Some(bytes) if Some(bytes.len() as u64) == size => Reply::json(200, json!({})),
                    _ => Reply::error(404, "NotFound", "object not stored"),
                }
            }
            _ => Reply::error(404, "NotFound", "no such endpoint"),
        };
    }
    Reply::error(404, "NotFound", "no such endpoint")
}

fn create(state: &State, value: &Value, endpoint: &str) -> Reply {
    let name = value["name"].as_str().unwrap_or_default();
    let id = match value["organization"].as_str() {
        Some(org) => format!("{org}/{name}"),
        None => name.to_string(),
    };
    let mut repos = lock(&state.repos);
    let url = format!("{endpoint}/{id}");
    if repos.contains_key(&id) {
        return Reply::json(
            409,
            json!({ "error": "You already created this model repo", "url": url }),
        );
    }
    let attributes = MockFile::small(
        ".gitattributes",
        b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.fxb filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    );
    let commit = git_blob_id(id.as_bytes());
    repos.insert(id.clone(), MockRepo::with_files(&commit, vec![attributes]));
    Reply::json(200, json!({ "url": url, "name": id }))
}

/// The commit `revision` names, and its files.
fn head(repo: &MockRepo, revision: &str) -> Option<(String, Vec<MockFile>)> {
    let commit = repo.commit_of(revision)?.to_string();
    let files = repo.commits.get(&commit)?.clone();
    Some((commit, files))
}

fn preupload(state: &State, id: &str, revision: &str, value: &Value) -> Reply {
    let repos = lock(&state.repos);
    let Some(repo) = repos.get(id) else {
        return Reply::error(404, "RepoNotFound", "Repository not found");
    };
    let Some((_, files)) = head(repo, revision) else {
        return Reply::error(404, "RevisionNotFound", "Invalid rev id");
    };
    let mut answers = Vec::new();
    for file in value["files"].as_array().into_iter().flatten() {
        let path = file["path"].as_str().unwrap_or_default();
        let size = file["size"].as_u64().unwrap_or(0);
        let sample = base64::engine::general_purpose::STANDARD
            .decode(file["sample"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let tracked = [".fxb", ".safetensors", ".bin"]
            .iter()
            .any(|ext| path.ends_with(ext));
        let lfs = tracked || size > 10 << 20 || sample.contains(&0);
        let oid = files
            .iter()
            .find(|f| f.name == path)
            .map(|f| if f.lfs { f.sha256() } else { f.git_sha1() });
        answers.push(json!({
            "path": path,
            "uploadMode": if lfs { "lfs" } else { "regular" },
            "shouldIgnore": false,
            "oid": oid,
        }));
    }
    Reply::json(
        200,
        json!({ "files": answers, "commitOid": head(repo, revision).map(|h| h.0) }),
    )
}

fn batch(
    state: &State,
    id: &str,
    value: &Value,
    cdn: Option<SocketAddr>,
    endpoint: &str,
    modes: &super::Modes,
) -> Reply {
    let stored = lock(&state.objects);
    let cdn = cdn.map(|a| a.to_string()).unwrap_or_default();
    let objects: Vec<Value> = value["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|object| {
            let oid = object["oid"].as_str().unwrap_or_default();
            let size = object["size"].as_u64().unwrap_or(0);
            if modes.write.max_object_size.is_some_and(|max| size > max) {
                return json!({
                    "oid": oid,
                    "size": size,
                    "error": { "code": 422, "message": "the object is larger than the limit" },
                });
            }
            if stored.contains_key(oid) {
                return json!({ "oid": oid, "size": size });
            }
            let mut actions = json!({
                "upload": {
                    "href": format!("{}://{cdn}/upload/{oid}?X-Amz-Signature=signed", state.scheme()),
                    "header": {},
                },
            });
            if !modes.write.no_verify {
                actions["verify"] = json!({
                    "href": format!("{endpoint}/{id}.git/info/lfs/objects/verify"),
                    "header": {},
                });
            }
            json!({ "oid": oid, "size": size, "authenticated": true, "actions": actions })
        })
        .collect();
    Reply::json(
        200,
        json!({ "transfer": "basic", "objects": objects, "hash_algo": "sha256" }),
    )
    .header("Content-Type", "application/vnd.git-lfs+json")
}

fn commit(
    state: &State,
    id: &str,
    revision: &str,
    body: &[u8],
    create_pr: bool,
    endpoint: &str,
) -> Reply {
    let lines: Vec<Value> = match String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
    {
        Ok(lines) => lines,
        Err(e) => return Reply::error(400, "BadRequest", &format!("not NDJSON: {e}")),
    };
    let Some(header) = lines.first().filter(|l| l["key"] == "header") else {
        return Reply::error(400, "BadRequest", "the first line must be the header");
    };
    // Another client's commit landing first. (Locks are taken modes, repos, objects: the
    // order of the cdn's.)
    let concurrent = {
        let mut modes = lock(&state.modes);
        (!modes.write.concurrent_commits.is_empty())
            .then(|| modes.write.concurrent_commits.remove(0))
    };
    let mut repos = lock(&state.repos);
    let Some(repo) = repos.get_mut(id) else {
        return Reply::error(404, "RepoNotFound", "Repository not found");
    };
    if let Some(files) = concurrent {
        let Some((parent, _)) = head(repo, revision) else {
            return Reply::error(404, "RevisionNotFound", "Invalid rev id");
        };
        apply(repo, revision, &parent, files, b"someone else");
    }
    let Some((head_commit, _)) = head(repo, revision) else {
        return Reply::error(404, "RevisionNotFound", "Invalid rev id");
    };
    if let Some(parent) = header["value"]["parentCommit"].as_str()
        && parent != head_commit
    {
        return Reply::error(
            412,
            "PreconditionFailed",
            "A commit has happened since. Please refresh and try again.",
        );
    }
    let objects = lock(&state.objects);
    let mut changes = Vec::new();
    for line in &lines[1..] {
        let value = &line["value"];
        let path = value["path"].as_str().unwrap_or_default().to_string();
        match line["key"].as_str() {
            Some("file") => {
                let Ok(bytes) = base64::engine::general_purpose::STANDARD
                    .decode(value["content"].as_str().unwrap_or_default())
                else {
                    return Reply::error(400, "BadRequest", "content is not base64");
                };
                changes.push(MockFile::small(&path, &bytes));
            }
            Some("lfsFile") => {
                let oid = value["oid"].as_str().unwrap_or_default();
                match objects.get(oid) {
                    Some(bytes) if value["size"].as_u64() == Some(bytes.len() as u64) => {
                        changes.push(MockFile::lfs_shared(&path, Arc::clone(bytes)));
                    }
                    _ => {
                        return Reply::error(
                            422,
                            "BadRequest",
                            &format!("LFS object {oid} of `{path}` is not stored"),
                        );
                    }
                }
            }
            other => {
                return Reply::error(400, "BadRequest", &format!("unknown line {other:?}"));
            }
        }
    }
    let target = if create_pr {
        let number = repo
            .branches
            .keys()
            .filter(|b| b.starts_with("refs/pr/"))
            .count()
            + 1;
        let branch = format!("refs/pr/{number}");
        repo.branches.insert(branch.clone(), head_commit.clone());
        branch
    } else {
        revision.to_string()
    };
    let commit = apply(repo, &target, &head_commit, changes, body);
    let pull_request = create_pr.then(|| {
        let number = target.trim_start_matches("refs/pr/");
        format!("{endpoint}/{id}/discussions/{number}")
    });
    Reply::json(
        200,
        json!({
            "success": true,
            "commitOid": commit,
            "commitUrl": format!("{endpoint}/{id}/commit/{commit}"),
            "pullRequestUrl": pull_request,
        }),
    )
}

/// A new commit on `branch`: `parent`'s files with `changes` in place; its id.
fn apply(
    repo: &mut MockRepo,
    branch: &str,
    parent: &str,
    changes: Vec<MockFile>,
    salt: &[u8],
) -> String {
    let mut files = repo.commits.get(parent).cloned().unwrap_or_default();
    for change in changes {
        files.retain(|f| f.name != change.name);
        files.push(change);
    }
    let mut seed = parent.as_bytes().to_vec();
    seed.extend_from_slice(salt);
    seed.extend_from_slice(&(repo.commits.len() as u64).to_le_bytes());
    let commit = git_blob_id(&seed);
    repo.commits.insert(commit.clone(), files);
    repo.branches.insert(branch.to_string(), commit.clone());
    commit
}
