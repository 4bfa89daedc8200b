//! Hub repo ids in `check`, `fingerprint`, `build` and `resolve`, against the mock Hub: the
//! model's config files come through the Hugging Face hub cache (`$HF_HOME/hub`, the Hub
//! clients' layout), the reports are the reference's, byte for byte, and offline or
//! without a network what is cached still answers.

use std::fs;

use crate::check::{RUNNING, cache_with, fixture_index};
use crate::common::{SMALL_BUILD, fixtures, read_reference, stderr, stdout};
use crate::hub::{BUNDLE, COMMIT, Hub, REPO, files_under, llama_min};
use crate::mock_hub::{MockFile, MockRepo};

pub const LLAMA: &str = "meta-llama/Llama-3.1-8B-Instruct";
pub const LLAMA_COMMIT: &str = "0e9e39f249a16976918f6564b8830bc894c89659";
const QWEN: &str = "Qwen/Qwen3-32B-FP8";
const QWEN_COMMIT: &str = "98a63908b41686889a6ade39c37616e54d49974d";
const REFERENCE_CACHE: &str = "/root/.cache/furiosa/llm/fxb";

pub fn config(name: &str) -> Vec<u8> {
    fs::read(fixtures().join("configs").join(name)).expect("config")
}

/// Llama-3.1-8B-Instruct's `config.json`, as its repository holds it.
pub fn llama_config() -> MockFile {
    MockFile::small(
        "config.json",
        &config("meta-llama--Llama-3.1-8B-Instruct.json"),
    )
}

/// The mock Hub with the two target models' configs (and a weights file never fetched).
pub fn hub() -> Hub {
    let hub = Hub::new();
    hub.mock.add_repo(
        LLAMA,
        MockRepo::with_files(
            LLAMA_COMMIT,
            vec![
                llama_config(),
                MockFile::lfs("model-00001-of-00004.safetensors", vec![7; 4096]),
            ],
        ),
    );
    hub.mock.add_repo(
        QWEN,
        MockRepo::with_files(
            QWEN_COMMIT,
            vec![MockFile::small(
                "config.json",
                &config("Qwen--Qwen3-32B-FP8.json"),
            )],
        ),
    );
    hub
}

/// The reference's output (its cache path as this test's, without `rc=`).
pub fn expected(name: &str, cache: &str) -> String {
    read_reference(name)
        .replace(REFERENCE_CACHE, cache)
        .lines()
        .filter(|l| !l.starts_with("rc="))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn requests(hub: &Hub) -> Vec<String> {
    hub.mock
        .log()
        .into_iter()
        .map(|r| format!("{} {} {}", r.server, r.method, r.path))
        .collect()
}

#[test]
fn check_of_a_repo_id_prints_the_reference_report_from_the_hub_cache() {
    let hub = hub();
    cache_with(&hub.ctx, "one", &fixture_index("cache-index.json"));
    let check = |extra: &[&str]| {
        let mut args = vec![
            "--cache-dir",
            "one",
            "check",
            LLAMA,
            "--runtime-revision",
            "ae27d44cd8",
        ];
        args.extend(extra);
        hub.run(&args)
    };
    let first = check(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", hub.format(&first));
    assert_eq!(stdout(&first), expected("check.txt", "one"));
    // Only the listing and the config: never the weights.
    assert_eq!(
        requests(&hub),
        [
            format!("hub GET /api/models/{LLAMA}/revision/main?blobs=true"),
            format!("hub GET /{LLAMA}/resolve/{LLAMA_COMMIT}/config.json"),
        ]
    );
    // The Hub clients' layout, under $HF_HOME/hub (not the fxb cache).
    let repo = hub
        .ctx
        .path("hf/hub/models--meta-llama--Llama-3.1-8B-Instruct");
    let sha1 = llama_config().git_sha1();
    assert_eq!(
        files_under(&repo),
        [
            ".no_exist".to_string(),
            format!(".no_exist/{LLAMA_COMMIT}"),
            format!(".no_exist/{LLAMA_COMMIT}/config_sentence_transformers.json"),
            format!(".no_exist/{LLAMA_COMMIT}/modules.json"),
            "blobs".into(),
            format!("blobs/{sha1}"),
            format!("blobs/{sha1}.lock"),
            "refs".into(),
            "refs/main".into(),
            "snapshots".into(),
            format!("snapshots/{LLAMA_COMMIT}"),
            format!("snapshots/{LLAMA_COMMIT}/config.json"),
        ]
    );
    assert_eq!(
        fs::read_to_string(repo.join("refs/main")).expect("ref"),
        LLAMA_COMMIT
    );
    assert_eq!(
        fs::read_link(repo.join(format!("snapshots/{LLAMA_COMMIT}/config.json"))).expect("link"),
        std::path::Path::new("../../blobs").join(&sha1)
    );

    // Again: one request (the listing), the config read from the hub cache.
    let before = hub.mock.log().len();
    let again = check(&[]);
    assert_eq!(stdout(&again), expected("check.txt", "one"));
    assert_eq!(hub.mock.log().len(), before + 1);

    // At a commit whose files are cached: no request at all.
    let pinned = check(&["--revision", LLAMA_COMMIT]);
    assert_eq!(stdout(&pinned), expected("check.txt", "one"));
    assert_eq!(hub.mock.log().len(), before + 1);

    cache_with(&hub.ctx, "multi", &fixture_index("cache-index-multi.json"));
    let mut args = vec!["--cache-dir", "multi", "check", LLAMA];
    args.extend(RUNNING);
    assert_eq!(
        stdout(&hub.run(&args)),
        expected("check-multi.txt", "multi")
    );

    // No match: the reference's report and exit 1.
    let none = hub.run(&["--cache-dir", "one", "check", QWEN]);
    assert_eq!(none.status.code(), Some(1), "{}", hub.format(&none));
    assert_eq!(stdout(&none), expected("check-nomatch.txt", "one"));
}

#[test]
fn offline_or_without_a_network_check_answers_from_the_hub_cache() {
    let hub = hub();
    cache_with(&hub.ctx, "one", &fixture_index("cache-index.json"));
    let args = [
        "--cache-dir",
        "one",
        "check",
        LLAMA,
        "--runtime-revision",
        "ae27d44cd8",
    ];
    let offline = |hub: &Hub| {
        hub.command()
            .args(args)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("runs")
    };
    // Nothing cached: a clear error, and no request.
    insta::assert_snapshot!("check_offline_nothing_cached", hub.format(&offline(&hub)));
    assert!(hub.mock.log().is_empty());

    assert_eq!(hub.run(&args).status.code(), Some(0));
    let before = hub.mock.log().len();
    let cached = offline(&hub);
    assert_eq!(cached.status.code(), Some(0), "{}", hub.format(&cached));
    assert_eq!(stdout(&cached), expected("check.txt", "one"));
    assert!(
        stderr(&cached).contains("note: offline (HF_HUB_OFFLINE): `meta-llama/Llama-3.1-8B-Instruct` read from the hub cache, revision `main` = 0e9e39f249"),
        "{}",
        stderr(&cached)
    );
    assert_eq!(hub.mock.log().len(), before, "offline makes no request");

    // The Hub unreachable: what is cached answers, and the note says why.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let down = hub
        .command()
        .args(args)
        .env("HF_ENDPOINT", format!("http://{closed}"))
        .output()
        .expect("runs");
    assert_eq!(down.status.code(), Some(0), "{}", hub.format(&down));
    assert_eq!(stdout(&down), expected("check.txt", "one"));
    assert!(
        stderr(&down).contains("note: the Hub cannot be reached (cannot reach the Hub at"),
        "{}",
        stderr(&down)
    );
    // ... and with nothing cached it is the network error, with its hint.
    let nothing = hub
        .command()
        .args(["--cache-dir", "one", "check", QWEN])
        .env("HF_ENDPOINT", format!("http://{closed}"))
        .output()
        .expect("runs");
    assert_eq!(nothing.status.code(), Some(2));
    assert!(
        stderr(&nothing).starts_with(&format!(
            "error: fetching config.json for 'Qwen/Qwen3-32B-FP8' (no base_model known): cannot reach the Hub at http://{closed}"
        )),
        "{}",
        stderr(&nothing)
    );
    assert!(stderr(&nothing).contains("hint: check the network"));
}

#[test]
fn a_bundle_only_repository_is_checked_as_its_base_model() {
    let hub = hub();
    // The bundle repository has no config.json; its card names the base model.
    assert_eq!(hub.run(&["download", REPO]).status.code(), Some(0));
    let check = hub.run(&["check", REPO, "--runtime-revision", "ae27d44cd8"]);
    assert_eq!(check.status.code(), Some(0), "{}", hub.format(&check));
    let out = stdout(&check);
    assert!(
        out.starts_with(&format!("Target: {REPO}  (LlamaForCausalLM)\n")),
        "{out}"
    );
    assert!(out.contains(&format!("✔   {REPO}")), "{out}");
    assert!(
        stderr(&check).contains(&format!(
            "note: '{REPO}' has no usable config.json (`config.json` was not found in `{REPO}` at revision `main`); using base_model '{LLAMA}'"
        )),
        "{}",
        stderr(&check)
    );

    // Without a base_model: the reference's words, the cause and its hint.
    insta::assert_snapshot!(
        "check_unknown_repo",
        hub.snapshot(&["check", "nonexist/repo"])
    );
    // A gated repository without a token.
    let mut gated = MockRepo::with_files(COMMIT, vec![llama_config()]);
    gated.gated = true;
    hub.mock.add_repo("meta-llama/Gated", gated);
    insta::assert_snapshot!("check_gated", hub.snapshot(&["check", "meta-llama/Gated"]));
    // --deep needs local weights.
    insta::assert_snapshot!("check_deep_hub", hub.snapshot(&["check", LLAMA, "--deep"]));
}

#[test]
fn fingerprint_and_build_of_a_repo_id_read_only_the_config_files() {
    let hub = hub();
    hub.ctx
        .model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let local = hub.run(&["fingerprint", "./llama", "--json"]);
    let remote = hub.run(&["fingerprint", LLAMA, "--json"]);
    assert_eq!(remote.status.code(), Some(0), "{}", hub.format(&remote));
    assert_eq!(stdout(&remote), stdout(&local));
    let text = hub.run(&["fingerprint", LLAMA]);
    assert!(stdout(&text).starts_with(&format!("Target: {LLAMA}  (LlamaForCausalLM)")));

    let mut args = vec!["build", LLAMA, "out.fxb"];
    args.extend(SMALL_BUILD);
    let built = hub.run(&args);
    assert_eq!(built.status.code(), Some(0), "{}", hub.format(&built));
    let show = hub.run(&["show", "out.fxb", "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&stdout(&show)).expect("json");
    assert_eq!(manifest["hub_repo_id"], LLAMA, "{manifest:#}");
    assert!(
        hub.mock
            .log()
            .iter()
            .all(|r| !r.path.contains("safetensors")),
        "the weights are never fetched"
    );

    // A revision the repository lacks: the Hub's answer, and what it has.
    let missing = hub.run(&["build", LLAMA, "x.fxb", "--revision", "v9", "--dry-run"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing)
            .contains("revision `v9` was not found in `meta-llama/Llama-3.1-8B-Instruct`"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn resolve_of_a_repo_id_takes_a_shipped_bundle_then_the_cache() {
    let hub = hub();
    assert_eq!(hub.run(&["download", REPO]).status.code(), Some(0));
    let resolve = |model: &str, revision: &str| {
        hub.run(&["resolve", model, "--runtime-revision", revision, "--json"])
    };
    let cached = resolve(LLAMA, "ae27d44cd8");
    assert_eq!(cached.status.code(), Some(0), "{}", hub.format(&cached));
    let found: serde_json::Value = serde_json::from_str(&stdout(&cached)).expect("json");
    assert_eq!(found["source"], "cache");
    assert!(
        found["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!("snapshots/{COMMIT}/{BUNDLE}"))),
        "{found:#}"
    );
    insta::assert_snapshot!(
        "resolve_hub_stale",
        hub.snapshot(&["resolve", LLAMA, "--runtime-revision", "0123abc"])
    );

    // A model repository that ships its own bundle: that one, before the cache, chosen by
    // the revision its name carries (it is not downloaded).
    hub.mock.add_repo(
        "org/Shipping",
        MockRepo::with_files(
            LLAMA_COMMIT,
            vec![llama_config(), MockFile::lfs(BUNDLE, llama_min())],
        ),
    );
    let shipped = resolve("org/Shipping", "ae27d44cd8");
    assert_eq!(shipped.status.code(), Some(0), "{}", hub.format(&shipped));
    let found: serde_json::Value = serde_json::from_str(&stdout(&shipped)).expect("json");
    assert_eq!(found["source"], "model_repo", "{found:#}");
    assert!(
        found["path"].as_str().is_some_and(|p| p.ends_with(&format!(
            "hf/hub/models--org--Shipping/snapshots/{LLAMA_COMMIT}/{BUNDLE}"
        ))),
        "{found:#}"
    );
    assert!(
        hub.cdn_gets().len() == 1,
        "only `download` fetched a bundle"
    );
    // Another runtime: the shipped one does not fit, so the cache decides.
    let other = resolve("org/Shipping", "0123abc");
    assert_eq!(other.status.code(), Some(2), "{}", hub.format(&other));
}
