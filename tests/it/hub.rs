//! `fxb download` against the in-process mock Hub ([`crate::mock_hub`]): the reference's
//! output and cache layout, the index the reference writes, and what a network does to a
//! download — drops, ignored ranges, wrong bytes, 503s, a second process, gated and
//! private repositories, no network at all, offline mode.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{TestContext, read_reference, reference, stderr, stdout};
use crate::mock_hub::{MockFile, MockHub, MockRepo};

pub const REPO: &str = "furiosa-ai/Llama-3.1-8B-Instruct";
/// The commit and file name of the reference's own download (fixtures `download.txt`).
pub const COMMIT: &str = "daef4cdc15b69ee11f487c1d2d445be3abf1ceef";
pub const BUNDLE: &str = "Llama-3.1-8B-Instruct-ae27d44cd8-b1baffa75-2611230550.fxb";
pub const CARD: &str = "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B-Instruct\ntags:\n- furiosa\n---\n# Llama 3.1 8B Instruct for RNGD\n";
/// The reference's cache directory in its outputs.
const REFERENCE_CACHE: &str = "/root/.cache/furiosa/llm/fxb";

pub fn llama_min() -> Vec<u8> {
    fs::read(reference("bundles/llama-min.fxb")).expect("llama-min")
}

/// The repository the reference downloaded: a model card, a `.gitattributes`, one bundle.
pub fn reference_repo() -> MockRepo {
    MockRepo::with_files(
        COMMIT,
        vec![
            MockFile::small(
                ".gitattributes",
                b"*.fxb filter=lfs diff=lfs merge=lfs -text\n",
            ),
            MockFile::small("README.md", CARD.as_bytes()),
            MockFile::lfs(BUNDLE, llama_min()),
        ],
    )
}

/// A test's own home and cache, and a mock Hub holding [`reference_repo`] as [`REPO`].
pub struct Hub {
    pub ctx: TestContext,
    pub mock: MockHub,
}

impl Hub {
    pub fn new() -> Hub {
        let mock = MockHub::start();
        mock.add_repo(REPO, reference_repo());
        Hub {
            ctx: TestContext::new(),
            mock,
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = self.ctx.command();
        cmd.env("HF_ENDPOINT", self.mock.endpoint())
            .env("HF_HOME", self.ctx.path("hf"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("fxb runs")
    }

    /// Exit code, stdout and stderr, with the mock's addresses as `[HUB]` and `[CDN]`.
    pub fn format(&self, output: &Output) -> String {
        self.ctx
            .format(output)
            .replace(&self.mock.hub_addr(), "[HUB]")
            .replace(&self.mock.cdn_addr(), "[CDN]")
    }

    pub fn snapshot(&self, args: &[&str]) -> String {
        self.format(&self.run(args))
    }

    /// The default cache (`$XDG_CACHE_HOME/furiosa/llm/fxb`).
    pub fn cache(&self) -> PathBuf {
        self.ctx.path("home/.cache/furiosa/llm/fxb")
    }

    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.cache()
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    pub fn index(&self) -> Value {
        serde_json::from_slice(&fs::read(self.cache().join("index.json")).expect("index"))
            .expect("json")
    }

    /// GETs of LFS objects the cdn served.
    pub fn cdn_gets(&self) -> Vec<crate::mock_hub::Logged> {
        self.mock
            .requests("cdn", "/lfs/")
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect()
    }
}

/// The reference's output for its cache, in this test's cache (and without its `rc=` line).
fn reference_output(name: &str, cache: &Path) -> String {
    read_reference(name)
        .lines()
        .filter(|l| !l.starts_with("rc="))
        .map(|l| l.replace(REFERENCE_CACHE, &cache.to_string_lossy()) + "\n")
        .collect()
}

/// An index entry with its time stamps masked.
pub fn masked(entry: &Value) -> Value {
    let mut entry = entry.clone();
    for key in ["downloaded_at", "last_accessed_at"] {
        entry[key] = Value::from("[TIMESTAMP]");
    }
    entry
}

pub fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            found.push(
                path.strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    found.sort();
    found
}

#[test]
fn a_download_prints_lays_out_and_indexes_what_the_reference_does() {
    let hub = Hub::new();
    // The reference's run: furiosa-llm 2026.4.0 against a hub without the v2026.4 tag.
    let first = hub.run(&["download", REPO, "--llm-version", "2026.4.0"]);
    assert_eq!(first.status.code(), Some(0), "{}", hub.format(&first));
    assert_eq!(
        stdout(&first),
        reference_output("download.txt", &hub.cache())
    );
    assert!(
        stderr(&first).contains(
            "Revision 'v2026.4' not found for 'furiosa-ai/Llama-3.1-8B-Instruct'; falling back to the default branch (main)"
        ),
        "{}",
        stderr(&first)
    );

    // The Hub's layout: blobs named by ETag, relative links, the ref without a newline.
    let dir = hub.repo_dir(REPO);
    let bundle = MockFile::lfs(BUNDLE, llama_min());
    let card = MockFile::small("README.md", CARD.as_bytes());
    assert_eq!(
        files_under(&dir),
        [
            "blobs".to_string(),
            format!("blobs/{}", card.etag()),
            format!("blobs/{}.lock", card.etag()),
            format!("blobs/{}", bundle.etag()),
            format!("blobs/{}.lock", bundle.etag()),
            "refs".into(),
            "refs/main".into(),
            "snapshots".into(),
            format!("snapshots/{COMMIT}"),
            format!("snapshots/{COMMIT}/{BUNDLE}"),
            format!("snapshots/{COMMIT}/README.md"),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        fs::read_to_string(dir.join("refs/main")).expect("ref"),
        COMMIT
    );
    let link = dir.join(format!("snapshots/{COMMIT}/{BUNDLE}"));
    assert_eq!(
        fs::read_link(&link).expect("a symlink"),
        Path::new("../../blobs").join(bundle.etag())
    );
    assert_eq!(fs::read(&link).expect("read"), llama_min());

    // The index: the reference's entry for this download, field for field.
    let reference_index: Value =
        serde_json::from_str(&read_reference("cache-index-multi.json")).expect("json");
    let expected = &reference_index["repos"][REPO];
    let index = hub.index();
    let ours = &index["repos"][REPO];
    assert_eq!(ours["repo_id"], expected["repo_id"]);
    assert_eq!(ours["base_model"], expected["base_model"]);
    assert_eq!(
        ours["files"]
            .as_array()
            .map(|f| f.iter().map(masked).collect::<Vec<_>>()),
        expected["files"]
            .as_array()
            .map(|f| f.iter().map(masked).collect::<Vec<_>>())
    );
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(ours),
        keys(expected),
        "repo keys in the reference's order"
    );
    assert_eq!(keys(&ours["files"][0]), keys(&expected["files"][0]));

    // Listed as the reference lists it; no credentials were sent anywhere.
    let listed = hub.run(&["cache", "ls", "-q"]);
    assert_eq!(stdout(&listed), format!("{}\n", link.display()));
    assert!(
        hub.mock
            .log()
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
    // Blob downloads never ask for compression (a CDN would ignore Range).
    assert!(
        hub.cdn_gets()
            .iter()
            .all(|r| r.headers.get("accept-encoding").map(String::as_str) == Some("identity"))
    );

    let again = hub.run(&["download", REPO, "--llm-version", "2026.4.0"]);
    assert_eq!(again.status.code(), Some(0), "{}", hub.format(&again));
    assert_eq!(
        stdout(&again),
        reference_output("download-again.txt", &hub.cache())
    );
    assert_eq!(hub.cdn_gets().len(), 1, "nothing transferred again");
    assert_eq!(hub.index(), index, "the index is left as it was");
}

#[test]
fn json_reports_the_revision_commit_and_files() {
    let hub = Hub::new();
    let out = hub.run(&["download", REPO, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["repo_id"], REPO);
    assert_eq!(report["revision"], "main");
    assert_eq!(report["commit"], COMMIT);
    assert_eq!(report["base_model"], "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(report["downloaded"][0]["filename"], BUNDLE);
    assert_eq!(
        report["downloaded"][0]["sha256"],
        MockFile::lfs(BUNDLE, llama_min()).sha256()
    );
    assert_eq!(report["cached"], serde_json::json!([]));
    assert_eq!(report["failed"], serde_json::json!([]));
    // The hash taken while downloading is the one `cache verify` checks against.
    let verified = hub.run(&["cache", "verify", "--json"]);
    assert_eq!(verified.status.code(), Some(0), "{}", hub.format(&verified));
    let lines: Value = serde_json::from_slice(&verified.stdout).expect("json");
    assert_eq!(lines[0]["status"], "ok", "{lines}");
}

#[test]
fn force_downloads_again_and_replaces_the_entry() {
    let hub = Hub::new();
    assert_eq!(hub.run(&["download", REPO]).status.code(), Some(0));
    let before = hub.index()["repos"][REPO]["files"][0]["downloaded_at"].clone();
    let forced = hub.run(&["download", REPO, "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", hub.format(&forced));
    assert!(
        stdout(&forced).starts_with("Downloaded 1 file(s)"),
        "{}",
        stdout(&forced)
    );
    assert_eq!(hub.cdn_gets().len(), 2);
    let index = hub.index();
    let files = index["repos"][REPO]["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "replaced, not added");
    assert_ne!(files[0]["downloaded_at"], before);
}

#[test]
fn file_picks_bundles_and_names_a_missing_one() {
    let hub = Hub::new();
    let sampler = "Llama-3.1-8B-Instruct-sampler.fxb";
    hub.mock.add_repo(
        REPO,
        MockRepo::with_files(
            COMMIT,
            vec![
                MockFile::lfs(BUNDLE, llama_min()),
                MockFile::lfs(
                    sampler,
                    fs::read(reference("bundles/llama-sampler.fxb")).expect("sampler"),
                ),
            ],
        ),
    );
    let one = hub.run(&["download", REPO, "--file", sampler]);
    assert_eq!(one.status.code(), Some(0), "{}", hub.format(&one));
    let snapshot = hub.repo_dir(REPO).join("snapshots").join(COMMIT);
    assert_eq!(crate::common::dir_listing(&snapshot), [sampler]);
    assert_eq!(hub.index()["repos"][REPO]["files"][0]["filename"], sampler);
    assert!(
        hub.index()["repos"][REPO].get("base_model").is_none(),
        "no model card, no base_model"
    );
    insta::assert_snapshot!(hub.snapshot(&["download", REPO, "--file", "nope.fxb"]));
}

#[test]
fn the_default_revision_is_the_release_tag_and_a_given_one_never_falls_back() {
    let hub = Hub::new();
    let tagged = "1111111111111111111111111111111111111111";
    let mut repo = reference_repo();
    repo.commits
        .insert(tagged.into(), vec![MockFile::lfs(BUNDLE, llama_min())]);
    repo.tags.insert("v2026.4".into(), tagged.into());
    hub.mock.add_repo(REPO, repo);

    let release = hub
        .command()
        .args(["download", REPO])
        .env("FXB_LLM_VERSION", "2026.4.0")
        .output()
        .expect("runs");
    assert_eq!(release.status.code(), Some(0), "{}", hub.format(&release));
    assert!(
        stderr(&release)
            .contains("note: revision v2026.4: the tag of furiosa-llm 2026.4.0 (--llm-version or FXB_LLM_VERSION)"),
        "{}",
        stderr(&release)
    );
    let dir = hub.repo_dir(REPO);
    assert_eq!(
        fs::read_to_string(dir.join("refs/v2026.4")).expect("ref"),
        tagged
    );
    assert!(dir.join("snapshots").join(tagged).join(BUNDLE).is_file());

    // No version known (the host backend serves nothing): the default branch, and why.
    let unknown = hub.run(&["download", REPO]);
    assert_eq!(unknown.status.code(), Some(0), "{}", hub.format(&unknown));
    assert!(
        stderr(&unknown).contains("note: revision main: the default branch (no furiosa-llm version is known: the host backend is not an RNGD runtime"),
        "{}",
        stderr(&unknown)
    );

    // A given revision is used as given, never replaced by the default branch.
    let before = files_under(&dir);
    insta::assert_snapshot!(hub.snapshot(&["download", REPO, "--revision", "v9"]));
    assert_eq!(files_under(&dir), before, "nothing written");

    // A revision that could not be a ref file's name is refused before any request.
    let requests = hub.mock.log().len();
    let bad = hub.run(&["download", REPO, "--revision", "../../x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with("error: revision `../../x` cannot be a ref file name"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(hub.mock.log().len(), requests);

    // Other repositories: the default branch.
    hub.mock
        .add_repo("meta-llama/Llama-bundles", reference_repo());
    let other = hub
        .command()
        .args(["download", "meta-llama/Llama-bundles"])
        .env("FXB_LLM_VERSION", "2026.4.0")
        .output()
        .expect("runs");
    assert!(
        stderr(&other)
            .contains("note: revision main: the default branch (not a furiosa-ai repository)"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn a_dropped_connection_is_resumed_with_a_range() {
    let hub = Hub::new();
    hub.mock.modes(|m| m.drop_after = Some((700_000, 1)));
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].headers.get("range"), None);
    assert_eq!(
        gets[1].headers.get("range").map(String::as_str),
        Some("bytes=700000-")
    );
    assert!(stderr(&out).contains("attempt 2 of 5"), "{}", stderr(&out));
    let link = hub
        .repo_dir(REPO)
        .join(format!("snapshots/{COMMIT}/{BUNDLE}"));
    assert_eq!(fs::read(link).expect("bundle"), llama_min());
}

#[test]
fn a_partial_file_left_by_another_process_is_continued_or_restarted() {
    let hub = Hub::new();
    let bundle = MockFile::lfs(BUNDLE, llama_min());
    let blobs = hub.repo_dir(REPO).join("blobs");
    fs::create_dir_all(&blobs).expect("blobs");
    let partial = blobs.join(format!("{}.incomplete", bundle.etag()));
    fs::write(&partial, &llama_min()[..1_000_000]).expect("partial");
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 1);
    assert_eq!(
        gets[0].headers.get("range").map(String::as_str),
        Some("bytes=1000000-"),
        "only the missing bytes are asked for"
    );
    assert!(!partial.exists());
    assert_eq!(
        fs::read(blobs.join(bundle.etag())).expect("blob"),
        llama_min()
    );

    // A server that ignores Range answers 200 with the whole file: it starts over cleanly.
    let hub = Hub::new();
    hub.mock.modes(|m| m.ignore_range = true);
    let blobs = hub.repo_dir(REPO).join("blobs");
    fs::create_dir_all(&blobs).expect("blobs");
    fs::write(
        blobs.join(format!("{}.incomplete", bundle.etag())),
        &llama_min()[..1_000_000],
    )
    .expect("partial");
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    assert_eq!(
        fs::read(blobs.join(bundle.etag())).expect("blob"),
        llama_min()
    );
}

#[test]
fn a_download_killed_midway_shows_nowhere_and_the_next_resumes_it() {
    let hub = Hub::new();
    hub.mock
        .modes(|m| m.throttle = Some(std::time::Duration::from_millis(50)));
    let etag = MockFile::lfs(BUNDLE, llama_min()).etag();
    let partial = hub.repo_dir(REPO).join(format!("blobs/{etag}.incomplete"));
    let mut child = hub
        .command()
        .args(["download", REPO])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("download");
    let started = std::time::Instant::now();
    while fs::metadata(&partial).map_or(0, |m| m.len()) < 300_000 {
        assert!(
            started.elapsed().as_secs() < 20,
            "the download never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let kept = fs::metadata(&partial)
        .expect("the partial file stays")
        .len();
    assert!(kept > 0 && kept < llama_min().len() as u64);
    // Nothing the cache (or the reference, which scans the same places) would show.
    assert_eq!(stdout(&hub.run(&["cache", "ls"])), "(empty cache)\n");
    assert!(!hub.repo_dir(REPO).join("snapshots").exists());
    // `cache verify` reports what was left, for the next download to resume.
    let verify = hub.run(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", hub.format(&verify));
    assert!(
        stdout(&verify).contains(&format!(
            "partial            {REPO}/blobs/{etag}.incomplete: "
        )) && stdout(&verify).contains("resumed by the next download of this file"),
        "{}",
        stdout(&verify)
    );

    hub.mock.modes(|m| m.throttle = None);
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let range = hub
        .cdn_gets()
        .last()
        .and_then(|r| r.headers.get("range").cloned());
    let resumed_from: u64 = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .expect("a ranged request");
    assert!(
        resumed_from > 0 && resumed_from <= kept,
        "{range:?} of {kept} kept"
    );
    let link = hub
        .repo_dir(REPO)
        .join(format!("snapshots/{COMMIT}/{BUNDLE}"));
    assert_eq!(fs::read(link).expect("bundle"), llama_min());
}

#[test]
fn a_listing_without_sizes_is_completed_from_each_files_metadata() {
    let hub = Hub::new();
    hub.mock.modes(|m| m.bare_listing = true);
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    let heads: Vec<String> = hub
        .mock
        .log()
        .into_iter()
        .filter(|r| r.server == "hub" && r.method == "HEAD")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        heads,
        [
            format!("/{REPO}/resolve/{COMMIT}/README.md"),
            format!("/{REPO}/resolve/{COMMIT}/{BUNDLE}"),
        ]
    );
    let index = hub.index();
    assert_eq!(
        index["repos"][REPO]["base_model"],
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    assert_eq!(index["repos"][REPO]["files"][0]["size_bytes"], 1_888_977);
}

#[test]
fn wrong_bytes_are_refused_naming_both_hashes_and_leave_nothing() {
    let hub = Hub::new();
    hub.mock.modes(|m| m.wrong_bytes = true);
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(2), "{}", hub.format(&out));
    let expected = MockFile::lfs(BUNDLE, llama_min()).sha256();
    let mut corrupt = llama_min();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let actual = MockFile::lfs(BUNDLE, corrupt).sha256();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "does not match the Hub's sha256: expected {expected}, got {actual}"
        )),
        "{err}"
    );
    let dir = hub.repo_dir(REPO);
    assert!(!dir.join("blobs").join(&expected).exists());
    assert!(
        !dir.join("blobs")
            .join(format!("{expected}.incomplete"))
            .exists()
    );
    assert!(!dir.join(format!("snapshots/{COMMIT}/{BUNDLE}")).exists());
    let listed = hub.run(&["cache", "ls"]);
    assert_eq!(stdout(&listed), "(empty cache)\n");
}

#[test]
fn a_503_is_retried_after_retry_after() {
    let hub = Hub::new();
    hub.mock.modes(|m| m.fail_503 = 1);
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    assert!(
        stderr(&out).contains("the Hub answered 503 (try again later); attempt 2 of 5 in 1s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_processes_download_one_file_once() {
    let hub = Hub::new();
    // ~1.5 s for the bundle: the second process starts while the first holds the lock.
    hub.mock
        .modes(|m| m.throttle = Some(std::time::Duration::from_millis(50)));
    let etag = MockFile::lfs(BUNDLE, llama_min()).etag();
    let partial = hub.repo_dir(REPO).join(format!("blobs/{etag}.incomplete"));
    let first = hub
        .command()
        .args(["download", REPO])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("first");
    let started = std::time::Instant::now();
    while !partial.exists() {
        assert!(
            started.elapsed().as_secs() < 20,
            "the first download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = hub.run(&["download", REPO]);
    let first = first.wait_with_output().expect("first ends");
    assert_eq!(first.status.code(), Some(0), "{}", hub.format(&first));
    assert_eq!(second.status.code(), Some(0), "{}", hub.format(&second));
    assert!(
        stdout(&first).starts_with("Downloaded 1 file(s)"),
        "{}",
        stdout(&first)
    );
    assert!(
        stdout(&second).starts_with("Already cached 1 file(s)"),
        "{}",
        stdout(&second)
    );
    assert!(
        stderr(&second).contains(&format!(
            "waiting for another process downloading `{BUNDLE}`"
        )),
        "{}",
        stderr(&second)
    );
    assert_eq!(hub.cdn_gets().len(), 1, "one transfer");
    assert_eq!(
        hub.index()["repos"][REPO]["files"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn missing_gated_and_private_repositories_say_what_to_do() {
    let hub = Hub::new();
    insta::assert_snapshot!(
        "missing_repo",
        hub.snapshot(&["download", "furiosa-ai/Nope"])
    );

    let mut gated = reference_repo();
    gated.gated = true;
    hub.mock.add_repo("meta-llama/Gated", gated);
    insta::assert_snapshot!(
        "gated_without_token",
        hub.snapshot(&["download", "meta-llama/Gated"])
    );
    let refused = hub
        .command()
        .args(["download", "meta-llama/Gated"])
        .env("HF_TOKEN", "hf_not_granted")
        .output()
        .expect("runs");
    insta::assert_snapshot!("gated_not_granted", hub.format(&refused));
    hub.mock.modes(|m| m.granted = vec!["hf_granted".into()]);
    let granted = hub
        .command()
        .args(["download", "meta-llama/Gated"])
        .env("HF_TOKEN", "hf_granted")
        .output()
        .expect("runs");
    assert_eq!(granted.status.code(), Some(0), "{}", hub.format(&granted));
    // The token went to the hub, never to the cdn (which refuses a second credential).
    let auth = |server: &str| {
        hub.mock
            .log()
            .into_iter()
            .filter(|r| r.server == server)
            .filter(|r| {
                r.headers.get("authorization").map(String::as_str) == Some("Bearer hf_granted")
            })
            .count()
    };
    assert!(auth("hub") > 0);
    assert_eq!(auth("cdn"), 0);
    assert!(!hub.cdn_gets().is_empty());

    // A private repository: 401 without the token, which the Hub CLI's login file gives.
    let hub = Hub::new();
    hub.mock
        .modes(|m| m.require_token = Some("hf_private".into()));
    insta::assert_snapshot!("private_without_token", hub.snapshot(&["download", REPO]));
    fs::create_dir_all(hub.ctx.path("hf")).expect("hf home");
    fs::write(hub.ctx.path("hf/token"), "hf_private\n").expect("token");
    let out = hub.run(&["download", REPO]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
}

#[test]
fn a_file_that_is_not_a_bundle_is_reported_and_the_others_download() {
    let hub = Hub::new();
    let mut repo = reference_repo();
    repo.commits
        .get_mut(COMMIT)
        .expect("commit")
        .push(MockFile::lfs(
            "broken.fxb",
            b"not a zip archive at all".repeat(100),
        ));
    hub.mock.add_repo(REPO, repo);
    let out = hub.run(&["download", REPO]);
    insta::assert_snapshot!(hub.format(&out));
    let dir = hub.repo_dir(REPO);
    assert!(!dir.join(format!("snapshots/{COMMIT}/broken.fxb")).exists());
    let blobs = crate::common::dir_listing(&dir.join("blobs"));
    assert!(
        blobs
            .iter()
            .all(|b| b.ends_with(".lock") || !b.contains('.')),
        "no partial file: {blobs:?}"
    );
    assert_eq!(
        hub.index()["repos"][REPO]["files"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn no_bundles_no_network_and_offline_are_clear_errors() {
    let hub = Hub::new();
    hub.mock.add_repo(
        "furiosa-ai/Empty",
        MockRepo::with_files(COMMIT, vec![MockFile::small("README.md", CARD.as_bytes())]),
    );
    insta::assert_snapshot!(
        "no_bundles",
        hub.snapshot(&["download", "furiosa-ai/Empty"])
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let down = hub
        .command()
        .args(["download", REPO])
        .env("HF_ENDPOINT", format!("http://{closed}"))
        .output()
        .expect("runs");
    assert_eq!(down.status.code(), Some(2));
    assert!(
        stderr(&down).starts_with(&format!("error: cannot reach the Hub at http://{closed}")),
        "{}",
        stderr(&down)
    );
    assert!(
        stderr(&down).contains("hint: check the network"),
        "{}",
        stderr(&down)
    );

    let offline = |hub: &Hub| {
        hub.command()
            .args(["download", REPO])
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("runs")
    };
    insta::assert_snapshot!("offline_nothing_cached", hub.format(&offline(&hub)));
    assert_eq!(hub.run(&["download", REPO]).status.code(), Some(0));
    let requests = hub.mock.log().len();
    let cached = offline(&hub);
    assert_eq!(cached.status.code(), Some(0), "{}", hub.format(&cached));
    assert!(
        stdout(&cached).starts_with("Already cached 1 file(s)"),
        "{}",
        stdout(&cached)
    );
    assert_eq!(hub.mock.log().len(), requests, "offline makes no request");
}

/// The reference's `cache rm` leaves a removed download's blob behind; fxb frees each blob
/// no snapshot links any more, and `cache verify` checks a downloaded blob against the
/// Hub's LFS sha256 it is named by.
#[test]
fn cache_rm_frees_unlinked_blobs_and_verify_checks_the_lfs_sha256() {
    let hub = Hub::new();
    let other = fs::read(reference("bundles/llama-sampler.fxb")).expect("another bundle");
    let second = "Llama-3.1-8B-Instruct-ae27d44cd8-b1baffa75-2611240000.fxb";
    hub.mock.add_repo(
        REPO,
        MockRepo::with_files(
            COMMIT,
            vec![
                MockFile::small("README.md", CARD.as_bytes()),
                MockFile::lfs(BUNDLE, llama_min()),
                MockFile::lfs(second, other.clone()),
            ],
        ),
    );
    assert_eq!(hub.run(&["download", REPO]).status.code(), Some(0));
    let verify = hub.run(&["cache", "verify"]);
    assert!(
        stdout(&verify).contains("matches the Hub's LFS sha256"),
        "{}",
        stdout(&verify)
    );
    // Bytes changed in place, size kept: the LFS sha256 tells.
    let first_blob = hub.repo_dir(REPO).join(format!(
        "blobs/{}",
        MockFile::lfs(BUNDLE, llama_min()).etag()
    ));
    let mut bytes = fs::read(&first_blob).expect("blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&first_blob, &bytes).expect("corrupt");
    let verify = hub.run(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains("the Hub's LFS sha256"),
        "{}",
        stdout(&verify)
    );

    let blobs = hub.repo_dir(REPO).join("blobs");
    let count = |suffixless: bool| {
        fs::read_dir(&blobs)
            .expect("blobs")
            .flatten()
            .filter(|e| !suffixless || !e.file_name().to_string_lossy().contains('.'))
            .count()
    };
    let before = count(true);
    let rm = hub.run(&["cache", "rm", &format!("{REPO}/{BUNDLE}"), "-y"]);
    assert_eq!(rm.status.code(), Some(0), "{}", hub.format(&rm));
    assert!(!first_blob.exists(), "the removed bundle's blob is freed");
    assert_eq!(
        count(true),
        before - 1,
        "the other bundle's and the card's stay"
    );
    let listed = stdout(&hub.run(&["cache", "ls", "-q"]));
    assert!(
        listed.contains(second) && !listed.contains(BUNDLE),
        "{listed}"
    );
    // The last bundle: the whole repository goes.
    let rm = hub.run(&["cache", "rm", REPO, "-y"]);
    assert_eq!(rm.status.code(), Some(0), "{}", hub.format(&rm));
    assert!(!hub.repo_dir(REPO).exists());
}
