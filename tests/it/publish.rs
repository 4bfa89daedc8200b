//! `fxb publish` against the mock Hub's write side ([`crate::mock_hub::write`]): a bundle
//! published and downloaded back byte for byte, a model directory published whole with its
//! card merged, an interrupted publish resumed without sending again what the Hub stores, a
//! dropped upload retried, a stale parent retried (and a conflicting one refused), the
//! token errors, a missing repository, a file over the limit, a pull request, and the
//! honesty rule for host-backend bundles.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{reference_manifest, signatures_of, stderr, stdout, write_bundle};
use crate::hub::{Hub, llama_min};
use crate::mock_hub::MockFile;

const TOKEN: &str = "hf_write_token";
const NEW_REPO: &str = "fxb-test/llama-min";
/// The standard file name of the reference's llama-min bundle.
const STANDARD: &str = "llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb";

impl Hub {
    /// `fxb` with a write token.
    fn publish(&self, args: &[&str]) -> Output {
        self.command()
            .env("HF_TOKEN", TOKEN)
            .arg("publish")
            .args(args)
            .output()
            .expect("fxb runs")
    }

    fn publish_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.publish(&args);
        assert_eq!(out.status.code(), Some(0), "{}", self.format(&out));
        serde_json::from_str(&stdout(&out)).expect("json")
    }

    /// A file of `repo`'s `main` as the mock stores it.
    fn hub_file(&self, repo: &str, file: &str) -> Option<Vec<u8>> {
        let repo = self.mock.repo(repo)?;
        let commit = repo.branches.get("main")?;
        repo.commits[commit]
            .iter()
            .find(|f| f.name == file)
            .map(|f| f.bytes.as_ref().clone())
    }

    fn hub_files(&self, repo: &str, branch: &str) -> Vec<String> {
        let repo = self.mock.repo(repo).expect("repo");
        let mut names: Vec<String> = repo.commits[&repo.branches[branch]]
            .iter()
            .map(|f| f.name.clone())
            .collect();
        names.sort();
        names
    }

    fn puts(&self) -> usize {
        self.mock
            .log()
            .iter()
            .filter(|r| r.server == "cdn" && r.method == "PUT")
            .count()
    }

    fn card(&self, repo: &str) -> String {
        String::from_utf8(self.hub_file(repo, "README.md").expect("a card")).expect("utf-8")
    }
}

fn bundle(hub: &Hub) -> PathBuf {
    let path = hub.ctx.path("llama-min.fxb");
    fs::write(&path, llama_min()).expect("write");
    path
}

/// A host-backend build's bundle: no `versions.furiosa_compiler`.
fn host_bundle(dir: &Path) -> PathBuf {
    let mut manifest = reference_manifest();
    let versions = manifest.versions.as_mut().expect("versions");
    let compiler = versions.shift_remove("furiosa_compiler").expect("compiler");
    versions.insert("fxb_host_backend".into(), compiler);
    let mut extras = serde_json::Map::new();
    extras.insert(
        "fxb".into(),
        serde_json::json!({ "compiler": "fxb_host_backend" }),
    );
    manifest.extras = Some(extras);
    let path = dir.join("host.fxb");
    write_bundle(&path, &manifest, &signatures_of("llama-min.fxb"));
    path
}

/// A model directory as `save_pretrained` leaves it, with the bundle dropped in, a card
/// of the user's, and a `.git/` that is not published.
fn model_dir(hub: &Hub) -> PathBuf {
    let dir = hub.ctx.path("model");
    fs::create_dir_all(dir.join(".git")).expect("mkdir");
    fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
    fs::write(
        dir.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"]}"#,
    )
    .expect("write");
    fs::write(dir.join("tokenizer.json"), r#"{"version": "1.0"}"#).expect("write");
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(dir.join("model.safetensors"), weights).expect("write");
    fs::write(dir.join(STANDARD), llama_min()).expect("write");
    fs::write(
        dir.join("README.md"),
        "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B-Instruct\n---\n# My Llama\n\nFine-tuned on my data.\n",
    )
    .expect("write");
    dir
}

fn format(hub: &Hub, out: &Output) -> String {
    hub.format(out)
}

#[test]
fn a_published_bundle_downloads_back_byte_for_byte_with_its_card() {
    let hub = Hub::new();
    let source = bundle(&hub);
    let out = hub.publish(&[
        source.to_str().expect("utf-8"),
        NEW_REPO,
        "--create",
        "--base-model",
        "meta-llama/Llama-3.1-8B-Instruct",
    ]);
    insta::assert_snapshot!(format(&hub, &out));
    assert_eq!(
        hub.hub_files(NEW_REPO, "main"),
        [".gitattributes", "README.md", STANDARD]
    );
    // One PUT, to the cdn, without the token; one verify, on the hub.
    let puts: Vec<_> = hub
        .mock
        .log()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].server, "cdn");
    assert!(!puts[0].headers.contains_key("authorization"));
    assert_eq!(
        hub.mock
            .requests("hub", "/fxb-test/llama-min.git/info/lfs/objects/verify")
            .len(),
        1
    );
    // The commit named its parent (the repository's first commit) and the card as base64.
    let commit = hub
        .mock
        .requests("hub", "/api/models/fxb-test/llama-min/commit/main");
    let header: Value =
        serde_json::from_str(commit[0].body.lines().next().expect("header")).expect("json");
    assert_eq!(header["key"], "header");
    assert!(
        header["value"]["parentCommit"]
            .as_str()
            .is_some_and(|p| p.len() == 40)
    );

    // The card says what the bundle is, and fxb reads its base_model as download does.
    let card = hub.card(NEW_REPO);
    assert_eq!(
        fxb::hub::card::base_model(&card).as_deref(),
        Some("meta-llama/Llama-3.1-8B-Instruct")
    );
    for line in [
        "    architecture: \"LlamaForCausalLM\"\n",
        "    rngd: true\n",
        "    compiler: \"furiosa_compiler\"\n",
        "    tensor_parallel_size: 8\n",
        "      \"hidden_size\": \"",
    ] {
        assert!(card.contains(line), "{line:?} in\n{card}");
    }

    let down = hub.run(&["download", NEW_REPO, "--json"]);
    assert_eq!(down.status.code(), Some(0), "{}", hub.format(&down));
    let report: Value = serde_json::from_str(&stdout(&down)).expect("json");
    let path = report["downloaded"][0]["path"].as_str().expect("path");
    assert!(
        fs::read(path).expect("read") == llama_min(),
        "the bytes differ"
    );
    assert_eq!(
        hub.index()["repos"][NEW_REPO]["base_model"],
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    // Nothing local changed.
    assert!(fs::read(&source).expect("read") == llama_min());

    // Again: everything is there, nothing is sent or committed.
    let again = hub.publish(&[source.to_str().expect("utf-8"), NEW_REPO]);
    assert_eq!(again.status.code(), Some(0), "{}", hub.format(&again));
    assert!(
        stdout(&again).starts_with("Nothing to publish"),
        "{}",
        hub.format(&again)
    );
    assert_eq!(hub.puts(), 1);
}

#[test]
fn a_model_directory_is_published_whole_and_its_card_merged() {
    let hub = Hub::new();
    let dir = model_dir(&hub);
    let before = crate::hub::files_under(&dir);
    let report = hub.publish_json(&[
        dir.to_str().expect("utf-8"),
        NEW_REPO,
        "--create",
        "-m",
        "First publish",
    ]);
    assert_eq!(report["created"], true);
    assert_eq!(report["base_model"], "meta-llama/Llama-3.1-8B-Instruct");
    let modes: Vec<(String, String, String)> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["mode"].as_str().unwrap_or_default().to_string(),
                f["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = |p: &str, m: &str, s: &str| (p.to_string(), m.to_string(), s.to_string());
    assert_eq!(
        modes,
        [
            expected("config.json", "regular", "committed"),
            expected(STANDARD, "lfs", "uploaded"),
            expected("model.safetensors", "lfs", "uploaded"),
            expected("tokenizer.json", "regular", "committed"),
            expected("README.md", "regular", "committed"),
        ]
    );
    assert_eq!(
        hub.hub_files(NEW_REPO, "main"),
        [
            ".gitattributes",
            "README.md",
            "config.json",
            STANDARD,
            "model.safetensors",
            "tokenizer.json"
        ]
    );
    assert_eq!(
        hub.hub_file(NEW_REPO, "model.safetensors"),
        Some(fs::read(dir.join("model.safetensors")).expect("read"))
    );
    let commit = hub
        .mock
        .requests("hub", "/api/models/fxb-test/llama-min/commit/main");
    assert!(
        commit[0].body.contains("\"summary\":\"First publish\""),
        "{}",
        commit[0].body
    );
    // The user's card keeps its keys and words, and gains fxb's.
    let card = hub.card(NEW_REPO);
    assert!(
        card.starts_with(
            "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B-Instruct\nfxb:\n"
        ),
        "{card}"
    );
    assert!(
        card.contains("# My Llama\n\nFine-tuned on my data.\n"),
        "{card}"
    );
    assert!(
        card.contains(&format!("| `{STANDARD}` | LlamaForCausalLM | 8 |")),
        "{card}"
    );
    // Nothing local changed.
    assert_eq!(crate::hub::files_under(&dir), before);
    assert!(
        fs::read_to_string(dir.join("README.md"))
            .expect("read")
            .starts_with("---\nlicense")
    );
}

#[test]
fn an_interrupted_publish_reruns_sending_only_the_missing_objects() {
    let hub = Hub::new();
    let dir = model_dir(&hub);
    // The store takes one object, then refuses the rest (an expired signed URL).
    hub.mock.modes(|m| m.write.put_refuse_after = Some(1));
    let first = hub.publish(&[dir.to_str().expect("utf-8"), NEW_REPO, "--create"]);
    insta::assert_snapshot!(format(&hub, &first));
    assert_eq!(hub.mock.stored_objects().len(), 1);
    assert_eq!(
        hub.hub_files(NEW_REPO, "main"),
        [".gitattributes"],
        "nothing committed"
    );
    let puts_before = hub.puts();

    hub.mock.modes(|m| m.write.put_refuse_after = None);
    let report = hub.publish_json(&[dir.to_str().expect("utf-8"), NEW_REPO]);
    let status = |path: &str| {
        report["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["status"].clone())
    };
    assert_eq!(status(STANDARD), Some("already_stored".into()));
    assert_eq!(status("model.safetensors"), Some("uploaded".into()));
    assert_eq!(
        hub.puts() - puts_before,
        1,
        "only the missing object is sent"
    );
    assert_eq!(report["uploaded_bytes"], 300_000);
    assert_eq!(hub.hub_files(NEW_REPO, "main").len(), 6);
}

#[test]
fn a_dropped_upload_is_retried_from_the_start() {
    let hub = Hub::new();
    let source = bundle(&hub);
    hub.mock
        .modes(|m| m.write.put_drop_after = Some((10_000, 1)));
    let out = hub.publish(&[source.to_str().expect("utf-8"), NEW_REPO, "--create"]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    assert!(
        stderr(&out).contains("uploading `llamaforcausallm-"),
        "{}",
        stderr(&out)
    );
    assert_eq!(hub.puts(), 2);
    assert!(hub.hub_file(NEW_REPO, STANDARD) == Some(llama_min()));
}

#[test]
fn a_store_slow_to_answer_an_upload_is_waited_for() {
    // The store answers 2 s after the body, beyond the 1 s download timeout: an upload is
    // not cut off (nor sent again) while the store checks the object.
    let hub = Hub::new();
    let source = bundle(&hub);
    hub.mock
        .modes(|m| m.write.put_answer_delay = Some(std::time::Duration::from_secs(2)));
    let out = hub
        .command()
        .env("HF_TOKEN", TOKEN)
        .env("HF_HUB_DOWNLOAD_TIMEOUT", "1")
        .args([
            "publish",
            source.to_str().expect("utf-8"),
            NEW_REPO,
            "--create",
        ])
        .output()
        .expect("fxb runs");
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    assert_eq!(hub.puts(), 1, "{}", hub.format(&out));
}

#[test]
fn a_stale_parent_is_retried_against_the_new_head_and_a_conflict_refused() {
    let hub = Hub::new();
    let source = bundle(&hub);
    // Another client commits a file of its own first: fxb commits again on top of it.
    hub.mock.modes(|m| {
        m.write.concurrent_commits = vec![vec![MockFile::small("NOTES.md", b"notes\n")]];
    });
    let report = hub.publish_json(&[source.to_str().expect("utf-8"), NEW_REPO, "--create"]);
    assert_eq!(report["attempts"], 2);
    let commits = hub
        .mock
        .requests("hub", "/api/models/fxb-test/llama-min/commit/main");
    assert_eq!(commits.len(), 2, "refused once with 412, then committed");
    assert_eq!(
        hub.hub_files(NEW_REPO, "main"),
        [".gitattributes", "NOTES.md", "README.md", STANDARD]
    );

    // Another client replaces the bundle fxb is publishing: that is not overwritten.
    let other = hub.ctx.path("other");
    fs::create_dir_all(&other).expect("mkdir");
    let host = host_bundle(&other);
    hub.mock.modes(|m| {
        m.write.concurrent_commits =
            vec![vec![MockFile::lfs(STANDARD, b"someone else's".to_vec())]];
    });
    let out = hub.publish(&[host.to_str().expect("utf-8"), NEW_REPO, "--allow-non-rngd"]);
    insta::assert_snapshot!(format(&hub, &out));
    assert_eq!(
        hub.hub_file(NEW_REPO, STANDARD).as_deref(),
        Some(&b"someone else's"[..])
    );
}

#[test]
fn publishing_needs_a_write_token() {
    let hub = Hub::new();
    let source = bundle(&hub);
    let path = source.to_str().expect("utf-8");
    let none = hub
        .command()
        .args(["publish", path, crate::hub::REPO])
        .output()
        .expect("fxb runs");
    insta::assert_snapshot!("no_token", format(&hub, &none));

    hub.mock.modes(|m| {
        m.write.invalid_tokens = vec!["hf_revoked".into()];
        m.write.read_only_tokens = vec!["hf_read".into()];
    });
    for (name, token) in [
        ("invalid_token", "hf_revoked"),
        ("read_only_token", "hf_read"),
    ] {
        let out = hub
            .command()
            .env("HF_TOKEN", token)
            .args(["publish", path, crate::hub::REPO])
            .output()
            .expect("fxb runs");
        insta::assert_snapshot!(name, format(&hub, &out));
    }
    assert_eq!(hub.puts(), 0);
}

#[test]
fn a_missing_repository_needs_create_and_create_takes_an_existing_one() {
    let hub = Hub::new();
    let source = bundle(&hub);
    let path = source.to_str().expect("utf-8");
    let missing = hub.publish(&[path, NEW_REPO]);
    insta::assert_snapshot!(format(&hub, &missing));
    // --create on a repository that exists (409) publishes into it.
    let out = hub.publish(&[path, crate::hub::REPO, "--create"]);
    assert_eq!(out.status.code(), Some(0), "{}", hub.format(&out));
    assert!(hub.mock.requests("hub", "/api/repos/create").len() == 1);
    assert!(
        hub.hub_files(crate::hub::REPO, "main")
            .contains(&STANDARD.to_string())
    );
    // Its card kept what it said, with fxb's facts added.
    let card = hub.card(crate::hub::REPO);
    assert!(
        card.starts_with("---\nlicense: llama3.1\nbase_model:"),
        "{card}"
    );
    assert!(
        card.contains("# Llama 3.1 8B Instruct for RNGD\n"),
        "{card}"
    );
}

#[test]
fn a_file_over_the_hubs_limit_is_refused_naming_it() {
    let hub = Hub::new();
    let source = bundle(&hub);
    hub.mock.modes(|m| m.write.max_object_size = Some(1000));
    let out = hub.publish(&[source.to_str().expect("utf-8"), NEW_REPO, "--create"]);
    insta::assert_snapshot!(format(&hub, &out));
    assert_eq!(hub.puts(), 0);
}

#[test]
fn create_pr_opens_a_pull_request_and_leaves_the_branch() {
    let hub = Hub::new();
    let source = bundle(&hub);
    let before = hub.hub_files(crate::hub::REPO, "main");
    let out = hub.publish(&[
        source.to_str().expect("utf-8"),
        crate::hub::REPO,
        "--create-pr",
    ]);
    insta::assert_snapshot!(format(&hub, &out));
    assert_eq!(hub.hub_files(crate::hub::REPO, "main"), before);
    assert!(
        hub.hub_files(crate::hub::REPO, "refs/pr/1")
            .contains(&STANDARD.to_string())
    );
    let preupload = hub.mock.requests(
        "hub",
        "/api/models/furiosa-ai/Llama-3.1-8B-Instruct/preupload/main",
    );
    assert!(
        preupload[0].path.ends_with("?create_pr=1"),
        "{:?}",
        preupload[0].path
    );
    // The batch names no branch: opening a pull request needs no write access to it.
    let batch = hub.mock.requests(
        "hub",
        "/furiosa-ai/Llama-3.1-8B-Instruct.git/info/lfs/objects/batch",
    );
    assert!(!batch[0].body.contains("\"ref\""), "{}", batch[0].body);
}

#[test]
fn a_host_backend_bundle_is_refused_unless_allowed_and_then_labelled() {
    let hub = Hub::new();
    let host = host_bundle(hub.ctx.root());
    let path = host.to_str().expect("utf-8");
    let refused = hub.publish(&[path, NEW_REPO, "--create"]);
    insta::assert_snapshot!(format(&hub, &refused));
    assert!(hub.mock.log().is_empty(), "refused before any request");

    let allowed = hub.publish(&[path, NEW_REPO, "--create", "--allow-non-rngd"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", hub.format(&allowed));
    assert!(
        stderr(&allowed).contains("holds no RNGD code"),
        "{}",
        stderr(&allowed)
    );
    let card = hub.card(NEW_REPO);
    assert!(card.contains("    rngd: false\n"), "{card}");
    assert!(
        card.contains("    compiler: \"fxb_host_backend\"\n"),
        "{card}"
    );
    assert!(card.contains("**Not RNGD code.**"), "{card}");
}
