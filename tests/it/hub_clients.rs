//! The mock Hub is faithful, not fxb's mirror (issue 15): the Hub's own Python client
//! (`huggingface_hub`, installed by `scripts/hub-client-env`) downloads from it into the
//! layout fxb makes, each of the two reads offline what the other put in the Hugging Face
//! hub cache, and the reference's own `download` (`scripts/reference-env`) from the same
//! mock writes the index and the cache fxb's `download` writes.
//!
//! These need the Python envs. Without them a test says it skipped; `.ci/run` makes both and
//! sets FXB_REQUIRE_VENDOR_ENV, which turns a missing env into a failure, so CI never skips.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::check::{cache_with, fixture_index};
use crate::common::{required_env, stderr, stdout, vendor_free_path};
use crate::hub::{BUNDLE, CARD, COMMIT, Hub, REPO, files_under, llama_min, masked, reference_repo};
use crate::hub_model::{self, LLAMA, LLAMA_COMMIT, config, expected};
use crate::mock_hub::MockFile;

/// The venv's `python` that `scripts/hub-client-env` made (FXB_HUB_CLIENT_PYTHON, else
/// `target/hub-client-env` when its stamp says it is complete), or a skip.
fn hub_client() -> Option<PathBuf> {
    let python = match std::env::var_os("FXB_HUB_CLIENT_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hub-client-env");
            env.join(".fxb-hub-client-env")
                .exists()
                .then(|| env.join("bin/python"))
        }
    };
    required_env(
        python.filter(|p| p.exists()),
        "hub client env",
        "scripts/hub-client-env",
    )
}

/// Runs each operation with `huggingface_hub` and prints, per operation, the path it
/// returned or the error's class and message (an error is an answer to check, not a crash).
/// `try_to_load_from_cache` (how `transformers` looks before it asks) answers a path, or
/// `no_exist` for a file the cache records as absent, or `unknown`.
const CLIENT: &str = r#"
import json, sys
import huggingface_hub as hf
calls = {"file": hf.hf_hub_download, "snapshot": hf.snapshot_download, "cached": hf.try_to_load_from_cache}
results = []
for kind, args, kwargs in json.loads(sys.argv[1]):
    try:
        found = calls[kind](*args, **kwargs)
        if found is hf.file_download._CACHED_NO_EXIST:
            results.append({"cached": "no_exist"})
        elif found is None:
            results.append({"cached": "unknown"})
        else:
            results.append({"path": found})
    except Exception as e:
        results.append({"error": type(e).__name__, "message": str(e)})
print(json.dumps(results))
"#;

/// `ops` (`["file", [repo, filename], kwargs]`, `["snapshot", [repo], kwargs]` or
/// `["cached", [repo, filename], kwargs]`) run by the Hub's client against the mock, with
/// `$HF_HOME` = the test's `hf_home`, and nothing of this machine's (token, cache, proxies)
/// in its environment.
fn client(python: &Path, hub: &Hub, hf_home: &str, ops: Value, env: &[(&str, &str)]) -> Vec<Value> {
    let answer = hub_python(python, hub, hf_home, CLIENT, ops, env);
    serde_json::from_value(answer).expect("a list of results")
}

/// `script` run by the venv's python with `arg` (JSON) as its argument, against the mock, in
/// the environment [`client`] describes; its stdout read as JSON.
fn hub_python(
    python: &Path,
    hub: &Hub,
    hf_home: &str,
    script: &str,
    arg: Value,
    env: &[(&str, &str)],
) -> Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(arg.to_string())
        .current_dir(hub.ctx.root())
        .env_clear()
        .env("PATH", vendor_free_path())
        .env("LANG", "C.UTF-8")
        .env("HOME", hub.ctx.path("home"))
        .env("HF_HOME", hub.ctx.path(hf_home))
        .env("HF_ENDPOINT", hub.mock.endpoint())
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        // The mock serves LFS files over plain HTTP, as the Hub does for repositories not on
        // Xet storage; it has no Xet store to point a Xet download at.
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the hub client's python runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "the hub client's answer ({e}): {}\n{}",
            stdout(&out),
            stderr(&out)
        )
    })
}

/// The path an operation returned (or a panic naming its error).
fn path_of(result: &Value) -> PathBuf {
    match result["path"].as_str() {
        Some(path) => PathBuf::from(path),
        None => panic!("the hub client failed: {result}"),
    }
}

/// The parts of a repository's cache both clients must agree on: `blobs/`, `refs/` and
/// `snapshots/`, without lock files — `huggingface_hub` keeps its locks in
/// `$HF_HUB_CACHE/.locks/`, the reference (and so fxb) beside the blobs — and without the
/// client's own extras (2.x's `trees/<commit>.json` listing cache, `.no_exist/`).
fn layout(repo_dir: &Path) -> Vec<String> {
    files_under(repo_dir)
        .into_iter()
        .filter(|p| {
            ["blobs", "refs", "snapshots"]
                .iter()
                .any(|d| p.starts_with(d))
        })
        .filter(|p| !p.ends_with(".lock"))
        .collect()
}

/// Every snapshot entry's link target and every ref's content.
fn links_and_refs(repo_dir: &Path) -> Vec<(String, String)> {
    layout(repo_dir)
        .into_iter()
        .filter_map(|p| {
            let path = repo_dir.join(&p);
            if p.starts_with("refs/") {
                Some((p, fs::read_to_string(&path).expect("ref")))
            } else if p.starts_with("snapshots/") && path.is_file() {
                let target = fs::read_link(&path).expect("a snapshot entry is a symlink");
                Some((p, target.to_string_lossy().into_owned()))
            } else {
                None
            }
        })
        .collect()
}

fn repo_dir(root: &Path, repo: &str) -> PathBuf {
    root.join(format!("models--{}", repo.replace('/', "--")))
}

fn fetched_files(hub: &Hub) -> usize {
    hub.mock
        .log()
        .iter()
        .filter(|r| r.method == "GET" && (r.server == "cdn" || r.path.contains("/resolve/")))
        .count()
}

#[test]
fn the_hubs_own_client_downloads_from_the_mock_into_the_layout_fxb_makes() {
    let Some(python) = hub_client() else { return };
    let hub = Hub::new();
    // A file in a folder too, which fxb's download leaves (it takes top-level bundles).
    let notes = MockFile::small("docs/notes.md", b"# Notes\n");
    let mut repo = reference_repo();
    repo.commits
        .get_mut(COMMIT)
        .expect("commit")
        .push(notes.clone());
    hub.mock.add_repo(REPO, repo);
    let ours = hub.run(&["download", REPO]);
    assert_eq!(ours.status.code(), Some(0), "{}", hub.format(&ours));
    let fxb_repo = hub.repo_dir(REPO);

    // One file at a time: a small one from the hub, an LFS one by the cdn's signed URL, and
    // one the repository lacks.
    let results = client(
        &python,
        &hub,
        "hf",
        json!([
            ["file", [REPO, "README.md"], {}],
            ["file", [REPO, BUNDLE], {}],
            ["file", [REPO, "modules.json"], {}],
        ]),
        &[],
    );
    let hf_repo = repo_dir(&hub.ctx.path("hf/hub"), REPO);
    let snapshot = hf_repo.join("snapshots").join(COMMIT);
    assert_eq!(path_of(&results[0]), snapshot.join("README.md"));
    assert_eq!(
        fs::read(path_of(&results[0])).expect("card"),
        CARD.as_bytes()
    );
    assert_eq!(path_of(&results[1]), snapshot.join(BUNDLE));
    assert!(
        fs::read(path_of(&results[1])).expect("bundle") == llama_min(),
        "the bundle's bytes"
    );
    assert_eq!(
        results[2]["error"], "RemoteEntryNotFoundError",
        "{results:?}"
    );
    // The 404 carried the commit, so the client recorded the absence as fxb does.
    assert!(
        hf_repo
            .join(format!(".no_exist/{COMMIT}/modules.json"))
            .is_file()
    );
    // The Hub cache layout fxb's download made, entry for entry, link for link.
    assert_eq!(layout(&hf_repo), layout(&fxb_repo));
    assert_eq!(links_and_refs(&hf_repo), links_and_refs(&fxb_repo));
    assert!(
        layout(&hf_repo).contains(&format!(
            "blobs/{}",
            MockFile::lfs(BUNDLE, llama_min()).sha256()
        )),
        "the LFS blob is named by its sha256 (X-Linked-Etag)"
    );

    // The whole snapshot, as `snapshot_download` lists it (the tree endpoint), with the
    // files fxb's download takes.
    let before = hub.mock.log().len();
    let results = client(
        &python,
        &hub,
        "hf2",
        json!([["snapshot", [REPO], {"allow_patterns": ["*.fxb", "README.md"]}]]),
        &[],
    );
    let hf2_repo = repo_dir(&hub.ctx.path("hf2/hub"), REPO);
    assert_eq!(
        path_of(&results[0]),
        hf2_repo.join("snapshots").join(COMMIT)
    );
    assert_eq!(layout(&hf2_repo), layout(&fxb_repo));
    assert_eq!(links_and_refs(&hf2_repo), links_and_refs(&fxb_repo));
    let asked: Vec<String> = hub.mock.log()[before..]
        .iter()
        .map(|r| format!("{} {} {}", r.server, r.method, r.path))
        .collect();
    assert!(
        asked.contains(&format!(
            "hub GET /api/models/{REPO}/tree/{COMMIT}?recursive=true&expand=false"
        )),
        "{asked:#?}"
    );

    // Everything, the folder's file too (the recursive listing names it).
    let results = client(&python, &hub, "hf3", json!([["snapshot", [REPO], {}]]), &[]);
    let everything = path_of(&results[0]);
    assert_eq!(
        fs::read(everything.join("docs/notes.md")).expect("notes"),
        notes.bytes.as_slice()
    );
    assert!(everything.join(".gitattributes").is_file());
    assert_eq!(
        fs::read_link(everything.join("docs/notes.md")).expect("a symlink"),
        Path::new("../../../blobs").join(notes.etag())
    );

    // No credentials anywhere; the cdn was asked for the bundle, by its signed URL, once
    // per client cache (and once by fxb).
    assert!(
        hub.mock
            .log()
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
    assert_eq!(hub.cdn_gets().len(), 4);
    assert!(
        hub.cdn_gets()
            .iter()
            .all(|r| r.path.ends_with("?X-Amz-Signature=signed"))
    );
}

#[test]
fn each_reads_offline_what_the_other_put_in_the_hub_cache() {
    let Some(python) = hub_client() else { return };
    let llama = config("meta-llama--Llama-3.1-8B-Instruct.json");
    let check = [
        "--cache-dir",
        "one",
        "check",
        LLAMA,
        "--runtime-revision",
        "ae27d44cd8",
    ];

    // fxb fetches the config; the client reads it offline, both ways of saying so.
    let hub = hub_model::hub();
    cache_with(&hub.ctx, "one", &fixture_index("cache-index.json"));
    let first = hub.run(&check);
    assert_eq!(first.status.code(), Some(0), "{}", hub.format(&first));
    let requests = hub.mock.log().len();
    let offline = client(
        &python,
        &hub,
        "hf",
        json!([
            ["file", [LLAMA, "config.json"], {}],
            ["file", [LLAMA, "config.json"], {"local_files_only": true}],
            ["cached", [LLAMA, "modules.json"], {}],
            ["cached", [LLAMA, "tokenizer.json"], {}],
        ]),
        &[("HF_HUB_OFFLINE", "1")],
    );
    let snapshot = hub
        .ctx
        .path("hf/hub/models--meta-llama--Llama-3.1-8B-Instruct/snapshots")
        .join(LLAMA_COMMIT);
    assert_eq!(path_of(&offline[0]), snapshot.join("config.json"));
    assert_eq!(fs::read(path_of(&offline[0])).expect("config"), llama);
    assert_eq!(path_of(&offline[1]), snapshot.join("config.json"));
    // fxb's `.no_exist` marker tells the client the file is absent, not merely uncached.
    assert_eq!(offline[2], json!({"cached": "no_exist"}));
    assert_eq!(offline[3], json!({"cached": "unknown"}));
    assert_eq!(hub.mock.log().len(), requests, "offline makes no request");
    // Online, the client finds the file current: it asks for the metadata, not the bytes.
    let fetched = fetched_files(&hub);
    let online = client(
        &python,
        &hub,
        "hf",
        json!([["file", [LLAMA, "config.json"], {}]]),
        &[],
    );
    assert_eq!(path_of(&online[0]), snapshot.join("config.json"));
    assert_eq!(fetched_files(&hub), fetched, "nothing transferred again");

    // The client fetches the config; fxb reads it offline, and online transfers nothing.
    let hub = hub_model::hub();
    cache_with(&hub.ctx, "one", &fixture_index("cache-index.json"));
    let fetched = client(
        &python,
        &hub,
        "hf",
        json!([["file", [LLAMA, "config.json"], {}]]),
        &[],
    );
    assert_eq!(fs::read(path_of(&fetched[0])).expect("config"), llama);
    let requests = hub.mock.log().len();
    let offline = hub
        .command()
        .args(check)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("fxb runs");
    assert_eq!(offline.status.code(), Some(0), "{}", hub.format(&offline));
    assert_eq!(stdout(&offline), expected("check.txt", "one"));
    assert_eq!(hub.mock.log().len(), requests, "offline makes no request");
    let transfers = fetched_files(&hub);
    let online = hub.run(&check);
    assert_eq!(online.status.code(), Some(0), "{}", hub.format(&online));
    assert_eq!(stdout(&online), expected("check.txt", "one"));
    assert_eq!(fetched_files(&hub), transfers, "nothing transferred again");
}

/// The reference `fxb` run as a user runs it: its own home, the mock as `HF_ENDPOINT`.
fn reference_command(reference: &Path, hub: &Hub) -> Command {
    let mut cmd = Command::new(reference);
    cmd.current_dir(hub.ctx.root())
        .env_clear()
        .env("PATH", vendor_free_path())
        .env("LANG", "C.UTF-8")
        .env("HOME", hub.ctx.path("home"))
        .env("XDG_CACHE_HOME", hub.ctx.path("home/.cache"))
        .env("HF_HOME", hub.ctx.path("hf"))
        .env("HF_ENDPOINT", hub.mock.endpoint())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn index_at(cache: &Path) -> Value {
    serde_json::from_slice(&fs::read(cache.join("index.json")).expect("index")).expect("json")
}

/// An index with every entry's time stamps masked.
fn masked_index(index: &Value) -> Value {
    let mut index = index.clone();
    if let Some(repos) = index["repos"].as_object_mut() {
        for repo in repos.values_mut() {
            if let Some(files) = repo["files"].as_array_mut() {
                for file in files.iter_mut() {
                    *file = masked(file);
                }
            }
        }
    }
    index
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_references_own_download_from_the_mock_writes_what_fxbs_writes() {
    let Some(reference) = required_env(
        crate::furiosa::reference_fxb(),
        "reference env",
        "scripts/reference-env",
    ) else {
        return;
    };
    let hub = Hub::new();
    let (theirs_dir, ours_dir) = (hub.ctx.path("ref-cache"), hub.ctx.path("fxb-cache"));
    let theirs = reference_command(&reference, &hub)
        .args(["download", REPO, "--cache-dir"])
        .arg(&theirs_dir)
        .output()
        .expect("the reference runs");
    assert_eq!(theirs.status.code(), Some(0), "{}", hub.format(&theirs));
    let reference_requests = hub.mock.log();
    let ours = hub
        .command()
        .arg("--cache-dir")
        .arg(&ours_dir)
        .args(["download", REPO, "--llm-version", "2026.4.0"])
        .output()
        .expect("fxb runs");
    assert_eq!(ours.status.code(), Some(0), "{}", hub.format(&ours));

    // The same report, the same cache (blobs, locks, refs, links), the same index.
    assert_eq!(
        stdout(&ours).replace(&*ours_dir.to_string_lossy(), "[CACHE]"),
        stdout(&theirs).replace(&*theirs_dir.to_string_lossy(), "[CACHE]")
    );
    let (their_repo, our_repo) = (repo_dir(&theirs_dir, REPO), repo_dir(&ours_dir, REPO));
    assert_eq!(files_under(&our_repo), files_under(&their_repo));
    assert_eq!(links_and_refs(&our_repo), links_and_refs(&their_repo));
    // Beside them fxb keeps its own records (DESIGN.md: hashes in a sidecar of its own),
    // which the reference never reads.
    let ours_only = ["fxb-sidecar.json", "fxb-scan.json"];
    let mut ours_root = files_under(&ours_dir);
    ours_root.retain(|p| !ours_only.contains(&p.as_str()));
    assert_eq!(ours_root, files_under(&theirs_dir));
    let (their_index, our_index) = (index_at(&theirs_dir), index_at(&ours_dir));
    assert_eq!(masked_index(&our_index), masked_index(&their_index));
    assert_eq!(keys(&our_index), keys(&their_index));
    assert_eq!(
        keys(&our_index["repos"][REPO]),
        keys(&their_index["repos"][REPO])
    );
    assert_eq!(
        keys(&our_index["repos"][REPO]["files"][0]),
        keys(&their_index["repos"][REPO]["files"][0])
    );

    // What the reference's client (the Rust hf-hub crate) asked: the listing without
    // `?blobs=true`, then per file a one-byte probe (`Range: bytes=0-0`, the size read from
    // `Content-Range`) and the body as one range, both following the LFS redirect to the cdn.
    let sha256 = MockFile::lfs(BUNDLE, llama_min()).sha256();
    let asked: Vec<String> = reference_requests
        .iter()
        .map(|r| {
            let range = r.headers.get("range").map_or("-", String::as_str);
            format!("{} {} {} {range}", r.server, r.method, r.path)
        })
        .collect();
    let resolve = format!("/{REPO}/resolve/main");
    let lfs = format!("/lfs/{sha256}?X-Amz-Signature=signed");
    let card_end = CARD.len();
    let bundle_end = llama_min().len();
    assert_eq!(
        asked,
        [
            format!("hub GET /api/models/{REPO}/revision/v2026.4 -"),
            format!("hub GET /api/models/{REPO}/revision/main -"),
            format!("hub GET {resolve}/README.md bytes=0-0"),
            format!("hub GET {resolve}/README.md bytes=0-{card_end}"),
            format!("hub GET {resolve}/{BUNDLE} bytes=0-0"),
            format!("cdn GET {lfs} bytes=0-0"),
            format!("hub GET {resolve}/{BUNDLE} bytes=0-{bundle_end}"),
            format!("cdn GET {lfs} bytes=0-{bundle_end}"),
        ]
    );
}

/// `check <repo_id>` live against the reference on one cache: the target's config fetched
/// from the mock by each tool, the cache holding a bundle the reference downloaded and one
/// it added — the same report from both when fxb is given the reference's own runtime
/// identity (the light reference knows it; fxb's host backend does not).
#[test]
fn check_of_a_repo_id_prints_what_the_references_check_prints() {
    let Some(reference) = required_env(
        crate::furiosa::reference_fxb(),
        "reference env",
        "scripts/reference-env",
    ) else {
        return;
    };
    let hub = hub_model::hub();
    let cache = hub.ctx.path("shared-cache");
    let download = reference_command(&reference, &hub)
        .args(["download", REPO, "--cache-dir"])
        .arg(&cache)
        .output()
        .expect("the reference runs");
    assert_eq!(download.status.code(), Some(0), "{}", hub.format(&download));
    let add = reference_command(&reference, &hub)
        .args(["add", "--cache-dir"])
        .arg(&cache)
        .arg(crate::common::reference("bundles/llama-sampler.fxb"))
        .output()
        .expect("the reference runs");
    assert_eq!(add.status.code(), Some(0), "{}", hub.format(&add));
    // Not the bundle-only repo itself: the reference retries its missing config.json for
    // ~2.5 minutes before it falls back to the base model (fxb does not; hub_model.rs).
    for target in [LLAMA, "Qwen/Qwen3-32B-FP8"] {
        let theirs = reference_command(&reference, &hub)
            .args(["check", target, "--cache-dir"])
            .arg(&cache)
            .output()
            .expect("the reference runs");
        let ours = hub
            .command()
            .arg("--cache-dir")
            .arg(&cache)
            .args([
                "check",
                target,
                "--runtime-revision",
                "ae27d44cd8",
                "--llm-revision",
                "b1baffa75",
            ])
            .output()
            .expect("fxb runs");
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "{target}: fxb {} / the reference {}",
            hub.format(&ours),
            hub.format(&theirs)
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{target}");
    }
}

/// `create_repo` and `upload_file` with the Hub's own client (the LFS batch API, the basic
/// transfer, the NDJSON commit), then the card's metadata as the client reads it.
const UPLOADER: &str = r#"
import json, sys
import huggingface_hub as hf
from huggingface_hub.repocard import metadata_load
op = json.loads(sys.argv[1])
api = hf.HfApi()
if op.get("create"):
    api.create_repo(op["repo"])
result = {}
if op.get("path"):
    info = api.upload_file(path_or_fileobj=op["path"], path_in_repo=op["path_in_repo"], repo_id=op["repo"], commit_message="upload with huggingface_hub")
    result["commit"] = info.oid
if op.get("card"):
    result["metadata"] = metadata_load(op["card"])
print(json.dumps(result))
"#;

/// The token the mock takes for writes.
const WRITE_TOKEN: &str = "hf_write_token";

#[test]
fn the_hubs_own_client_uploads_to_the_mock_and_fxb_downloads_it_back() {
    let Some(python) = hub_client() else { return };
    let hub = Hub::new();
    let repo = "fxb-test/from-hf";
    let source = hub.ctx.path("upload.fxb");
    fs::write(&source, llama_min()).expect("write");
    let answer = hub_python(
        &python,
        &hub,
        "hf",
        UPLOADER,
        json!({ "create": true, "repo": repo, "path": source, "path_in_repo": BUNDLE }),
        &[("HF_TOKEN", WRITE_TOKEN)],
    );
    assert!(
        answer["commit"].as_str().is_some_and(|c| c.len() == 40),
        "{answer}"
    );
    // It spoke the LFS protocol: preupload, batch, one PUT to the cdn, then the commit.
    assert_eq!(
        hub.mock
            .requests("hub", "/api/models/fxb-test/from-hf/preupload/")
            .len(),
        1
    );
    assert_eq!(
        hub.mock
            .requests("hub", "/fxb-test/from-hf.git/info/lfs/objects/batch")
            .len(),
        1
    );
    assert_eq!(hub.mock.requests("cdn", "/upload/").len(), 1);

    let down = hub.run(&["download", repo, "--json"]);
    assert_eq!(down.status.code(), Some(0), "{}", hub.format(&down));
    let report: Value = serde_json::from_str(&stdout(&down)).expect("json");
    let path = report["downloaded"][0]["path"].as_str().expect("path");
    assert!(
        fs::read(path).expect("read") == llama_min(),
        "the bytes differ"
    );
}

#[test]
fn what_fxb_publishes_the_hubs_own_client_downloads_and_reads_the_card_of() {
    let Some(python) = hub_client() else { return };
    let hub = Hub::new();
    let repo = "fxb-test/from-fxb";
    let source = hub.ctx.path("llama-min.fxb");
    fs::write(&source, llama_min()).expect("write");
    let out = hub
        .command()
        .env("HF_TOKEN", WRITE_TOKEN)
        .args(["publish", source.to_str().expect("utf-8"), repo, "--create"])
        .args(["--base-model", "meta-llama/Llama-3.1-8B-Instruct"])
        .output()
        .expect("fxb runs");
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let standard = "llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb";
    let results = client(
        &python,
        &hub,
        "hf",
        json!([
            ["file", [repo, standard], {}],
            ["file", [repo, "README.md"], {}],
        ]),
        &[],
    );
    assert!(
        fs::read(path_of(&results[0])).expect("bundle") == llama_min(),
        "the bytes differ"
    );
    let answer = hub_python(
        &python,
        &hub,
        "hf",
        UPLOADER,
        json!({ "card": path_of(&results[1]) }),
        &[],
    );
    let metadata = &answer["metadata"];
    assert_eq!(
        metadata["base_model"], "meta-llama/Llama-3.1-8B-Instruct",
        "{answer}"
    );
    let bundle = &metadata["fxb"]["bundles"][0];
    assert_eq!(bundle["file"], standard, "{answer}");
    assert_eq!(bundle["architecture"], "LlamaForCausalLM");
    assert_eq!(bundle["rngd"], true);
    assert_eq!(bundle["tensor_parallel_size"], 8);
    assert_eq!(bundle["compiler_revision"], "ae27d44cd8");
    assert_eq!(bundle["fingerprint"]["hidden_size"], "4096", "{answer}");
}
