//! The local cache: `add`, `cache ls|rm|prune|verify` on real reference indexes and
//! bundles, their exact output, and many processes working on one cache at once. The cache
//! is shared by every fxb process on the machine and holds bundles that took hours to
//! build, so it must read the reference's indexes, print what the reference prints, and
//! stay consistent whatever is killed when.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{TestContext, read_reference, reference, stderr, stdout};

/// The reference's cache directory in the fixtures' outputs.
const REFERENCE_CACHE: &str = "/root/.cache/furiosa/llm/fxb";

/// A cache at `<temp>/fxb` holding the reference index `index` and, at each of its
/// `rel_path`s, a copy of the reference bundle with that uuid (or llama-min).
fn reference_cache(ctx: &TestContext, index: &str) -> PathBuf {
    let dir = ctx.path("fxb");
    let bytes = fs::read(reference(index)).expect("index");
    let parsed: Value = serde_json::from_slice(&bytes).expect("json");
    for repo in parsed["repos"].as_object().into_iter().flatten() {
        for file in repo.1["files"].as_array().into_iter().flatten() {
            let rel = file["rel_path"].as_str().expect("rel_path");
            let target = dir.join(rel);
            fs::create_dir_all(target.parent().expect("parent")).expect("dirs");
            fs::copy(reference("bundles/llama-min.fxb"), &target).expect("copy");
        }
    }
    fs::write(dir.join("index.json"), &bytes).expect("index");
    dir
}

fn in_cache(ctx: &TestContext, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--cache-dir", "fxb"];
    all.extend(args);
    ctx.run(&all)
}

/// The reference's output with its cache dir replaced by ours (`fxb`, relative).
fn expected(name: &str) -> String {
    read_reference(name).replace(REFERENCE_CACHE, "fxb")
}

#[test]
fn cache_ls_prints_the_reference_indexes_as_the_reference_does() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index.json");
    let before = fs::read(dir.join("index.json")).expect("index");
    let ls = in_cache(&ctx, &["cache", "ls"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    assert_eq!(stdout(&ls), expected("cache-ls.txt"));
    assert_eq!(
        stdout(&in_cache(&ctx, &["cache", "ls", "-q"])),
        expected("cache-ls-q.txt")
    );
    // Nothing changed, so the reference's index is left byte for byte.
    assert_eq!(fs::read(dir.join("index.json")).expect("index"), before);
    assert!(dir.join("index.json.lock").is_file());

    let ctx = TestContext::new();
    reference_cache(&ctx, "cache-index-multi.json");
    assert_eq!(
        stdout(&in_cache(&ctx, &["cache", "ls"])),
        expected("cache-ls-multi.txt")
    );
    let json: Value =
        serde_json::from_slice(&in_cache(&ctx, &["cache", "ls", "--json"]).stdout).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    assert_eq!(json[0]["ir_revision"], "ae27d44cd8");
}

#[test]
fn a_dangling_snapshot_is_missing_and_a_deleted_bundle_leaves_the_index() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index-multi.json");
    let mut index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index")).expect("json");
    // The reference's mutation: repo aaa/bbb whose zzz.fxb snapshot points at a deleted blob.
    let mut entry = index["repos"]["furiosa-ai/Llama-3.1-8B-Instruct"]["files"][0].clone();
    entry["filename"] = "zzz.fxb".into();
    entry["rel_path"] = "models--aaa--bbb/snapshots/r1/zzz.fxb".into();
    index["repos"]["aaa/bbb"] = serde_json::json!({"repo_id": "aaa/bbb", "files": [entry]});
    fs::create_dir_all(dir.join("models--aaa--bbb/snapshots/r1")).expect("dirs");
    std::os::unix::fs::symlink(
        "../../blobs/gone",
        dir.join("models--aaa--bbb/snapshots/r1/zzz.fxb"),
    )
    .expect("symlink");
    // And the two local bundles deleted behind fxb's back.
    fs::remove_dir_all(dir.join("models--local")).expect("remove");
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
    .expect("write");
    let ls = in_cache(&ctx, &["cache", "ls"]);
    assert_eq!(stdout(&ls), expected("cache-ls-missing-mut.txt"));
    // A warning for each of the two local bundles that are gone.
    insta::assert_snapshot!(ctx.format(&ls));
    // The index was rewritten without them.
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index")).expect("json");
    assert!(index["repos"].get("local").is_none());
}

#[test]
fn a_corrupt_index_is_set_aside_and_rebuilt_from_disk() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index.json");
    fs::write(dir.join("index.json"), b"{ not json").expect("write");
    // The listing comes from a scan of the disk, with a warning naming the kept copy.
    insta::assert_snapshot!(ctx.format(&in_cache(&ctx, &["cache", "ls"])));
    assert_eq!(
        fs::read(dir.join("index.json.corrupt-0")).expect("kept"),
        b"{ not json"
    );
    // As the reference: the first command answers from the scan, the next writes.
    assert!(!dir.join("index.json").exists());
    in_cache(
        &ctx,
        &[
            "add",
            &reference("bundles/llama-sampler.fxb").to_string_lossy(),
        ],
    );
    assert!(dir.join("index.json").exists());
}

#[test]
fn add_copies_under_the_standard_name_idempotently_and_reports_failures() {
    let ctx = TestContext::new();
    let min = reference("bundles/llama-min.fxb");
    let sampler = reference("bundles/llama-sampler.fxb");
    fs::write(ctx.path("not-a-bundle.fxb"), b"PK nothing").expect("write");
    let added = in_cache(
        &ctx,
        &[
            "add",
            &min.to_string_lossy(),
            "not-a-bundle.fxb",
            &sampler.to_string_lossy(),
            "/dev/null",
        ],
    );
    // Each bundle under its standard name; `not-a-bundle.fxb` fails, and so does the
    // device, which would be read forever, before any copying.
    insta::assert_snapshot!("add_two_of_four", ctx.format(&added));
    // A copy, byte for byte; the original stays.
    let cached = ctx.path("fxb/models--local/snapshots/d3669b5b-f564-493e-b495-4474ef88451c/llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb");
    assert_eq!(
        fs::read(&cached).expect("cached"),
        fs::read(&min).expect("min")
    );
    let index = fs::read(ctx.path("fxb/index.json")).expect("index");
    let again = in_cache(&ctx, &["add", &min.to_string_lossy()]);
    insta::assert_snapshot!("add_again", ctx.format(&again));
    let reindexed: Value =
        serde_json::from_slice(&fs::read(ctx.path("fxb/index.json")).expect("index"))
            .expect("json");
    let first: Value = serde_json::from_slice(&index).expect("json");
    assert_eq!(
        reindexed["repos"]["local"]["files"]
            .as_array()
            .map(Vec::len),
        first["repos"]["local"]["files"].as_array().map(Vec::len)
    );
    // The index has the reference's shape: no trailing newline, twelve fields per file.
    assert!(!index.ends_with(b"\n"));
    assert_eq!(
        first["repos"]["local"]["files"][0]
            .as_object()
            .map(serde_json::Map::len),
        Some(12)
    );
    // No temp file is left in the cache.
    let leftovers = walk(&ctx.path("fxb"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_path_like_uuid_is_refused_and_nothing_leaves_the_cache() {
    let ctx = TestContext::new();
    let (manifest_path, mut manifest) = unpacked_llama_min(&ctx, "x");
    manifest["uuid"] = "../../../escaped".into();
    fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write");
    ctx.run(&["pack", "x", "evil.fxb"]);
    insta::assert_snapshot!(ctx.format(&in_cache(&ctx, &["add", "evil.fxb"])));
    assert!(!ctx.path("escaped").exists() && !ctx.root().join("../escaped").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn rm_previews_confirms_and_removes() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index-multi.json");
    let dry = in_cache(&ctx, &["cache", "rm", "local", "--dry-run"]);
    assert_eq!(stdout(&dry), expected("cache-rm-dry.txt"));
    insta::assert_snapshot!(
        "rm_nothing_named",
        ctx.format(&in_cache(&ctx, &["cache", "rm"]))
    );
    // stdin is not a terminal: refused without -y, nothing removed.
    insta::assert_snapshot!(
        "rm_unconfirmed",
        ctx.format(&in_cache(&ctx, &["cache", "rm", "local"]))
    );
    assert!(dir.join("models--local").exists());
    insta::assert_snapshot!(
        "rm_no_match",
        ctx.format(&in_cache(&ctx, &["cache", "rm", "nope/none"]))
    );
    insta::assert_snapshot!(
        "rm_local",
        ctx.format(&in_cache(&ctx, &["cache", "rm", "local", "-y"]))
    );
    assert!(!dir.join("models--local").exists());
    insta::assert_snapshot!(
        "rm_all",
        ctx.format(&in_cache(&ctx, &["cache", "rm", "--all", "-y"]))
    );
    assert!(
        !dir.join("models--furiosa-ai--Llama-3.1-8B-Instruct")
            .exists()
    );
    assert_eq!(
        fs::read_to_string(dir.join("index.json")).expect("index"),
        "{\n  \"schema_version\": 1,\n  \"repos\": {}\n}"
    );
}

#[test]
fn prune_needs_a_runtime_revision_and_follows_the_reference_rules() {
    let ctx = TestContext::new();
    reference_cache(&ctx, "cache-index-multi.json");
    insta::assert_snapshot!(
        "prune_no_runtime",
        ctx.format(&in_cache(&ctx, &["cache", "prune", "--dry-run"]))
    );
    let matching = in_cache(
        &ctx,
        &[
            "cache",
            "prune",
            "--dry-run",
            "--runtime-revision",
            "ae27d44cd8",
        ],
    );
    assert_eq!(stdout(&matching), expected("cache-prune-dry.txt"));
    let stale = in_cache(
        &ctx,
        &[
            "cache",
            "prune",
            "--dry-run",
            "--runtime-revision",
            "0123abc",
        ],
    );
    insta::assert_snapshot!("prune_other_runtime", ctx.format(&stale));
    let older = in_cache(
        &ctx,
        &["cache", "prune", "--dry-run", "--older-than", "2026.5.0"],
    );
    assert_eq!(stdout(&older), expected("cache-prune-older-dry.txt"));
    let kept = in_cache(
        &ctx,
        &["cache", "prune", "--dry-run", "--older-than", "<=2026.3.0"],
    );
    insta::assert_snapshot!("prune_nothing_older", ctx.format(&kept));
    insta::assert_snapshot!(
        "prune_bad_bound",
        ctx.format(&in_cache(
            &ctx,
            &["cache", "prune", "--older-than", "v2026.4.0"]
        ))
    );
}

#[test]
fn verify_finds_corrupt_and_missing_bundles() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index-multi.json");
    in_cache(
        &ctx,
        &[
            "add",
            &reference("bundles/llama-sampler.fxb").to_string_lossy(),
        ],
    );
    // The fixture index says 1,889,032 bytes for this one; our stand-in copy has fewer.
    insta::assert_snapshot!(
        "verify_wrong_size",
        ctx.format(&in_cache(&ctx, &["cache", "verify"]))
    );
    in_cache(
        &ctx,
        &[
            "cache",
            "rm",
            "llamaforcausallm-ae27d44cd8-b1baffa75-2611230611.fxb",
            "-y",
        ],
    );
    insta::assert_snapshot!(
        "verify_clean",
        ctx.format(&in_cache(&ctx, &["cache", "verify"]))
    );
    // One byte changed in the bundle fxb hashed; another truncated.
    let sampler = dir.join("models--local/snapshots/2123e199-f297-4f94-a184-02165fb5dab9/llamaforcausallm-ae27d44cd8-b1baffa75-2611230626.fxb");
    let mut bytes = fs::read(&sampler).expect("read");
    bytes[1000] ^= 0xff;
    fs::write(&sampler, &bytes).expect("write");
    let other = dir.join("models--furiosa-ai--Llama-3.1-8B-Instruct/snapshots/daef4cdc15b69ee11f487c1d2d445be3abf1ceef/Llama-3.1-8B-Instruct-ae27d44cd8-b1baffa75-2611230550.fxb");
    let len = fs::metadata(&other).expect("meta").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&other)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let found = in_cache(&ctx, &["cache", "verify", "--json"]);
    assert_eq!(found.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&found.stdout).expect("json");
    let statuses: Vec<&str> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "corrupt").count(),
        2,
        "{json}"
    );
}

/// llama-min with one byte of a kernel's data changed: the same length, a valid zip, only
/// the entry's CRC-32 tells.
fn corrupt_llama_min(path: &Path) {
    let mut bytes = fs::read(reference("bundles/llama-min.fxb")).expect("read");
    // Inside `edfs/mid_tokenwise_tw1.edf` (bytes ~301,400 to ~724,100).
    bytes[500_000] ^= 0x01;
    fs::write(path, bytes).expect("write");
}

/// Issue 13: `add` took corrupt bundles without a word (and `cache verify` then called the
/// copy fine, having hashed the corrupt bytes). The CRC-32 of every entry is checked as the
/// bytes are copied now; nothing is indexed or left behind.
#[test]
fn add_refuses_a_bundle_whose_bytes_do_not_match_their_crc() {
    let ctx = TestContext::new();
    corrupt_llama_min(&ctx.path("corrupt.fxb"));
    let output = in_cache(&ctx, &["add", "corrupt.fxb"]);
    assert_ne!(output.status.code(), Some(0));
    let err = stderr(&output);
    assert!(
        err.contains("edfs/mid_tokenwise_tw1.edf")
            && err.contains("is corrupt: its bytes have CRC-32"),
        "{err}"
    );
    assert!(err.contains("corrupt.fxb"), "{err}");
    let listing = crate::common::dir_listing(&ctx.path("fxb"));
    assert!(
        !listing
            .iter()
            .any(|f| f.ends_with(".fxb") || f.contains(".tmp")),
        "{listing:?}"
    );
    // A good bundle still goes in beside it.
    let both = in_cache(
        &ctx,
        &[
            "add",
            "corrupt.fxb",
            &reference("bundles/llama-min.fxb").to_string_lossy(),
        ],
    );
    assert_ne!(both.status.code(), Some(0));
    assert_eq!(
        stdout(&in_cache(&ctx, &["cache", "ls", "-q"]))
            .lines()
            .count(),
        1
    );
}

/// Issue 13: a corrupt bundle put in the cache by the reference (which checks nothing) is
/// found by `cache verify` through its entries' CRC-32.
#[test]
fn verify_finds_a_corrupt_entry_the_reference_added() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index.json");
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index")).expect("json");
    let rel = index["repos"]
        .as_object()
        .and_then(|repos| repos.values().next())
        .and_then(|repo| repo["files"][0]["rel_path"].as_str())
        .expect("a file")
        .to_string();
    corrupt_llama_min(&dir.join(&rel));
    let found = in_cache(&ctx, &["cache", "verify", "--json"]);
    assert_eq!(found.status.code(), Some(1), "{}", stderr(&found));
    let json: Value = serde_json::from_slice(&found.stdout).expect("json");
    let corrupt: Vec<&Value> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "corrupt")
        .collect();
    assert_eq!(corrupt.len(), 1, "{json}");
    let detail = corrupt[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("edfs/mid_tokenwise_tw1.edf") && detail.contains("CRC-32"),
        "{json}"
    );
}

/// llama-min unpacked into `dir`: its manifest's path and parsed contents, to edit and
/// pack again.
fn unpacked_llama_min(ctx: &TestContext, dir: &str) -> (PathBuf, Value) {
    ctx.run(&[
        "unpack",
        &reference("bundles/llama-min.fxb").to_string_lossy(),
        dir,
    ]);
    let manifest_path = ctx.path(&format!("{dir}/manifest.json"));
    let manifest: Value =
        serde_json::from_slice(&fs::read(&manifest_path).expect("read")).expect("json");
    (manifest_path, manifest)
}

/// Copies of llama-min with their own uuid and creation minute, so each has its own
/// snapshot directory and standard name.
fn distinct_bundles(ctx: &TestContext, count: usize) -> Vec<(PathBuf, String)> {
    let (manifest_path, original) = unpacked_llama_min(ctx, "src");
    (0..count)
        .map(|i| {
            let mut manifest = original.clone();
            manifest["uuid"] = format!("00000000-0000-4000-8000-{i:012}").into();
            manifest["created_at"] = format!("2026-11-23T05:{:02}:50.5+00:00", 10 + i).into();
            fs::write(
                &manifest_path,
                serde_json::to_vec_pretty(&manifest).expect("json"),
            )
            .expect("write");
            let path = ctx.path(&format!("b{i}.fxb"));
            let packed = ctx.run(&["pack", "src", &path.to_string_lossy()]);
            assert_eq!(packed.status.code(), Some(0), "{}", stderr(&packed));
            (
                path,
                format!(
                    "llamaforcausallm-ae27d44cd8-b1baffa75-26112305{:02}.fxb",
                    10 + i
                ),
            )
        })
        .collect()
}

/// Issue 14: two bundles built within one minute share a standard name, and `cache rm
/// <name>` removed both without a word. It says the name is ambiguous, lists each with
/// its snapshot and asks (refusing off a terminal without -y).
#[test]
fn rm_of_a_name_two_bundles_share_says_so_and_asks() {
    let ctx = TestContext::new();
    let (manifest_path, original) = unpacked_llama_min(&ctx, "src");
    for i in 0..2 {
        let mut manifest = original.clone();
        manifest["uuid"] = format!("00000000-0000-4000-8000-{i:012}").into();
        fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("json")).expect("write");
        let packed = ctx.run(&["pack", "src", &format!("b{i}.fxb")]);
        assert_eq!(packed.status.code(), Some(0), "{}", stderr(&packed));
        let added = in_cache(&ctx, &["add", &format!("b{i}.fxb")]);
        assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    }
    let name = "llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb";
    let output = in_cache(&ctx, &["cache", "rm", name]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("'{name}' names 2 different cached bundles")),
        "{err}"
    );
    assert!(
        err.contains("Refusing to remove without confirmation"),
        "{err}"
    );
    let listed = stdout(&output);
    for i in 0..2 {
        assert!(
            listed.contains(&format!("00000000-0000-4000-8000-{i:012}/{name}")),
            "{listed}"
        );
    }
    assert_eq!(
        stdout(&in_cache(&ctx, &["cache", "ls", "-q"]))
            .lines()
            .count(),
        2,
        "nothing removed"
    );
}

/// `rel_path`s in the index, `.fxb` files under `models--local`, and `.tmp` files anywhere
/// in the cache.
fn index_and_disk(dir: &Path) -> (Vec<String>, Vec<String>, usize) {
    let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index"))
        .expect("index parses");
    let mut indexed: Vec<String> = index["repos"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, repo)| repo["files"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["rel_path"].as_str().map(String::from))
        .collect();
    indexed.sort();
    let files = walk(&dir.join("models--local"));
    let mut on_disk: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "fxb"))
        .filter_map(|p| {
            p.strip_prefix(dir)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .collect();
    on_disk.sort();
    let temps = walk(dir)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .count();
    (indexed, on_disk, temps)
}

#[test]
fn sixteen_processes_on_one_cache_leave_it_consistent() {
    let ctx = TestContext::new();
    let bundles = distinct_bundles(&ctx, 8);
    let path = |i: usize| bundles[i].0.to_string_lossy().into_owned();
    // b0..b3 are cached before the storm; b2 and b3 are removed during it.
    let pre = in_cache(&ctx, &["add", &path(0), &path(1), &path(2), &path(3)]);
    assert_eq!(pre.status.code(), Some(0), "{}", stderr(&pre));
    let mut jobs: Vec<Vec<String>> = Vec::new();
    for i in 4..8 {
        jobs.push(vec!["add".into(), path(i)]);
    }
    jobs.push(vec!["add".into(), path(0)]);
    jobs.push(vec!["add".into(), path(1)]);
    for i in [2, 3, 2, 3] {
        jobs.push(vec![
            "cache".into(),
            "rm".into(),
            bundles[i].1.clone(),
            "-y".into(),
        ]);
    }
    for _ in 0..6 {
        jobs.push(vec!["cache".into(), "ls".into()]);
    }
    assert_eq!(jobs.len(), 16);
    let children: Vec<_> = jobs
        .iter()
        .map(|args| {
            ctx.command()
                .args(["--cache-dir", "fxb"])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for (child, args) in children.into_iter().zip(&jobs) {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let (indexed, on_disk, temps) = index_and_disk(&ctx.path("fxb"));
    assert_eq!(indexed, on_disk, "the index matches the disk");
    assert_eq!(temps, 0, "no half-written copy is left");
    let names: Vec<&str> = indexed
        .iter()
        .filter_map(|r| r.rsplit('/').next())
        .collect();
    let expected: Vec<&str> = [0, 1, 4, 5, 6, 7]
        .iter()
        .map(|i| bundles[*i].1.as_str())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, expected);
}

#[test]
fn a_killed_add_leaves_nothing_visible_and_the_next_add_cleans_up() {
    let ctx = TestContext::new();
    // A 64 MiB bundle: the copy is still running when the process is killed.
    let mut manifest = fxb::bundle::Manifest::new();
    manifest.uuid = Some("11111111-2222-4333-8444-555555555555".into());
    manifest.created_at = Some("2026-11-23T05:50:50+00:00".into());
    manifest.versions =
        fxb::bundle::parse_manifest(&fs::read(reference("manifest.json")).expect("manifest"))
            .expect("parses")
            .versions;
    manifest.model = Some(fxb::bundle::Model {
        architecture: Some("LlamaForCausalLM".into()),
        hub_repo_id: None,
        fields: Default::default(),
    });
    manifest.kernels.insert(
        "first_tokenwise".into(),
        vec![fxb::bundle::KernelEntry {
            bucket: fxb::bundle::BucketKey::Tokenwise { input_size: 1 },
            file: "edfs/first_tokenwise_tw1.edf".into(),
            unknown: Default::default(),
        }],
    );
    let big = ctx.path("big.fxb");
    let size = 64u64 << 20;
    fxb::bundle::write_bundle(&big, &manifest, chrono::Utc::now(), |_| {
        Ok((
            Box::new(std::io::Read::take(std::io::repeat(7), size)),
            size,
        ))
    })
    .expect("write");
    let cache = ctx.path("fxb");
    let mut child = ctx
        .command()
        .args(["--cache-dir", "fxb", "add"])
        .arg(&big)
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    while !walk(&cache)
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".tmp"))
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no temp file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let ls = in_cache(&ctx, &["cache", "ls"]);
    assert_eq!(stdout(&ls), "(empty cache)\n", "nothing half-visible");
    // The next add of that bundle removes the dead process's temp file.
    let again = in_cache(&ctx, &["add", &big.to_string_lossy()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let (indexed, on_disk, temps) = index_and_disk(&ctx.path("fxb"));
    assert_eq!(indexed, on_disk);
    assert_eq!(temps, 0);
}

#[test]
fn an_add_killed_at_any_point_leaves_every_visible_entry_whole() {
    let ctx = TestContext::new();
    let bundles = distinct_bundles(&ctx, 12);
    let paths: Vec<String> = bundles
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    // Kill points spread over a whole add (validation, copying, flushing, renaming,
    // writing the index), each into a fresh cache, then once more into one cache.
    for (round, delay_ms) in [0u64, 1, 2, 4, 7, 11, 16, 23, 33, 50, 80]
        .iter()
        .enumerate()
    {
        let cache = format!("cache-{round}");
        let mut child = ctx
            .command()
            .args(["--cache-dir", &cache, "add"])
            .args(&paths)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(*delay_ms));
        let _ = child.kill();
        child.wait().expect("wait");
        if !ctx.path(&cache).join("models--local").exists() {
            continue; // killed before it made anything
        }
        // Whatever is visible is whole: listed bundles verify (ls reconciles first).
        let ls = ctx.run(&["--cache-dir", &cache, "cache", "ls", "-q"]);
        assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
        let verify = ctx.run(&["--cache-dir", &cache, "cache", "verify"]);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "killed after {delay_ms} ms: {}{}",
            stdout(&verify),
            stderr(&verify)
        );
        // And the next add completes the set and leaves no temp file behind.
        let mut args = vec!["--cache-dir", cache.as_str(), "add"];
        args.extend(paths.iter().map(String::as_str));
        let again = ctx.run(&args);
        assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
        let (indexed, on_disk, temps) = index_and_disk(&ctx.path(&cache));
        assert_eq!(indexed.len(), 12, "killed after {delay_ms} ms");
        assert_eq!(indexed, on_disk);
        assert_eq!(temps, 0);
    }
}

/// Set a directory's mtime an hour back, as if the cache had been idle.
fn backdate(path: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::open(path)
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
}

#[test]
fn ls_skips_unchanged_snapshot_dirs_but_sees_every_change() {
    let ctx = TestContext::new();
    let bundles = distinct_bundles(&ctx, 3);
    let paths: Vec<String> = bundles
        .iter()
        .map(|b| b.0.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["add"];
    args.extend(paths.iter().map(String::as_str));
    assert_eq!(in_cache(&ctx, &args).status.code(), Some(0));
    let snapshots = ctx.path("fxb/models--local/snapshots");
    for entry in fs::read_dir(&snapshots).expect("dir").flatten() {
        backdate(&entry.path());
    }
    // Records the stamps, then trusts them: the same listing twice.
    let first = in_cache(&ctx, &["cache", "ls"]);
    insta::assert_snapshot!("ls_three", ctx.format(&first));
    assert!(ctx.path("fxb/fxb-scan.json").exists());
    assert_eq!(
        ctx.format(&in_cache(&ctx, &["cache", "ls"])),
        ctx.format(&first)
    );
    // A bundle deleted by hand changes its directory: it is noticed.
    let gone = snapshots
        .join("00000000-0000-4000-8000-000000000001")
        .join(&bundles[1].1);
    fs::remove_file(&gone).expect("remove");
    insta::assert_snapshot!(
        "ls_one_deleted",
        ctx.format(&in_cache(&ctx, &["cache", "ls"]))
    );
    // And a bundle dropped into an old directory by another tool is indexed.
    fs::copy(
        &bundles[1].0,
        snapshots.join("00000000-0000-4000-8000-000000000000/extra.fxb"),
    )
    .expect("copy");
    insta::assert_snapshot!(
        "ls_one_dropped_in",
        ctx.format(&in_cache(&ctx, &["cache", "ls"]))
    );
}

/// `snapshots/` itself is trusted unlisted while its mtime and entry count hold and every
/// entry is an indexed snapshot: a new directory (parent's mtime) and a bundle moved into a
/// directory that held none (no trust while it was there) are both still found.
#[test]
fn ls_trusts_an_unchanged_snapshots_listing_but_sees_new_and_stray_directories() {
    let ctx = TestContext::new();
    let bundles = distinct_bundles(&ctx, 4);
    let add = |i: usize| {
        let path = bundles[i].0.to_string_lossy().into_owned();
        assert_eq!(in_cache(&ctx, &["add", &path]).status.code(), Some(0));
    };
    add(0);
    add(1);
    let snapshots = ctx.path("fxb/models--local/snapshots");
    let settle = || {
        for entry in fs::read_dir(&snapshots).expect("dir").flatten() {
            backdate(&entry.path());
        }
        backdate(&snapshots);
    };
    let listed = |ctx: &TestContext| {
        let out = in_cache(ctx, &["cache", "ls", "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).lines().count()
    };
    let recorded = || {
        let stamps: Value =
            serde_json::from_slice(&fs::read(ctx.path("fxb/fxb-scan.json")).expect("stamps"))
                .expect("json");
        stamps["listings"]["models--local/snapshots"].as_u64()
    };
    settle();
    assert_eq!(listed(&ctx), 2);
    assert_eq!(recorded(), Some(2), "two entries, both indexed: recorded");
    assert_eq!(listed(&ctx), 2, "and trusted");

    // A new snapshot directory with a bundle, made by another tool: the parent changed.
    let third = snapshots.join("00000000-0000-4000-8000-000000000002");
    fs::create_dir(&third).expect("dir");
    fs::copy(&bundles[2].0, third.join(&bundles[2].1)).expect("copy");
    assert_eq!(listed(&ctx), 3);

    // A stray directory with no bundle: while it is there, the listing is not trusted ...
    let stray = snapshots.join("00000000-0000-4000-8000-000000000003");
    fs::create_dir(&stray).expect("dir");
    settle();
    assert_eq!(listed(&ctx), 3);
    assert_eq!(
        recorded(),
        None,
        "an entry that is not indexed: not recorded"
    );
    // ... so a bundle moved into it later (the parent's mtime unchanged) is found.
    fs::copy(&bundles[3].0, ctx.path("moving.fxb")).expect("copy");
    fs::rename(ctx.path("moving.fxb"), stray.join(&bundles[3].1)).expect("move");
    assert_eq!(listed(&ctx), 4);
    settle();
    assert_eq!(listed(&ctx), 4);
    assert_eq!(recorded(), Some(4));
    assert_eq!(listed(&ctx), 4);
}

/// fxb keeps `index.json` as it parsed it (`fxb-index.bin`) once the file has been left
/// alone for two seconds, and uses the copy only while `index.json` is that very file: an
/// edit in place that keeps its size, or a replacement, is read at once.
#[test]
fn a_kept_parsed_index_gives_way_to_any_change_of_index_json() {
    let ctx = TestContext::new();
    let bundles = distinct_bundles(&ctx, 2);
    let path = bundles[0].0.to_string_lossy().into_owned();
    assert_eq!(in_cache(&ctx, &["add", &path]).status.code(), Some(0));
    let index = ctx.path("fxb/index.json");
    let kept = ctx.path("fxb/fxb-index.bin");
    let ls = |ctx: &TestContext| ctx.format(&in_cache(ctx, &["cache", "ls"]));
    let first = ls(&ctx);
    assert!(
        !kept.exists(),
        "an index written just now is not kept (racy)"
    );
    // Left alone long enough: kept, then used.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(ls(&ctx), first);
    assert!(kept.exists());
    assert_eq!(ls(&ctx), first);

    // Edited in place, same size, same inode.
    let text = fs::read_to_string(&index).expect("index");
    let edited = text.replacen(
        "\"ir_version\": \"2026.4.0\"",
        "\"ir_version\": \"2026.5.0\"",
        1,
    );
    assert_ne!(edited, text);
    assert_eq!(edited.len(), text.len());
    fs::write(&index, &edited).expect("edit in place");
    let after_edit = ls(&ctx);
    assert!(after_edit.contains("2026.5.0 (ae27d44cd8)"), "{after_edit}");
    insta::assert_snapshot!("ls_after_index_edited_in_place", after_edit);

    // Replaced by another tool's add (a rename over it).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(ls(&ctx), after_edit, "kept again");
    let path = bundles[1].0.to_string_lossy().into_owned();
    assert_eq!(in_cache(&ctx, &["add", &path]).status.code(), Some(0));
    insta::assert_snapshot!("ls_after_index_replaced", ls(&ctx));
}

/// Issue 13: the reference's `cache rm`, holding the lock, removes empty snapshot
/// directories — including one an `add` made before it took the lock. Here the "other
/// process" removes the snapshot directory while the add waits to take the lock.
#[test]
fn an_add_survives_its_snapshot_directory_removed_before_it_takes_the_lock() {
    struct RemoveSnapshots(PathBuf);
    impl fxb::cache::AddReporter for RemoveSnapshots {
        fn flushing(&self) {
            let snapshots = self.0.join("models--local/snapshots");
            for dir in fs::read_dir(&snapshots).into_iter().flatten().flatten() {
                let _ = fs::remove_dir(dir.path()); // empty ones only, as the reference
            }
        }
    }
    let ctx = TestContext::new();
    let cache = fxb::cache::Cache::open(ctx.path("cache")).expect("cache");
    let bundle = reference("bundles/llama-min.fxb");
    let results = cache
        .add_reporting(&[bundle], &RemoveSnapshots(ctx.path("cache")))
        .expect("the cache opens");
    let added = results
        .into_iter()
        .next()
        .expect("one result")
        .expect("added");
    assert!(added.path.is_file(), "{}", added.path.display());
    assert_eq!(cache.list().expect("list").len(), 1);
}

/// Issue 13: `add` prints `Added local/<file name>`; `cache rm` takes that form too, and
/// removes only that repo's file.
#[test]
fn rm_takes_the_repo_and_file_name_that_add_prints() {
    let ctx = TestContext::new();
    let dir = reference_cache(&ctx, "cache-index-multi.json");
    let files = fxb::cache::Cache::open(&dir)
        .expect("cache")
        .list()
        .expect("list");
    let local = files
        .iter()
        .find(|f| f.repo_id == "local")
        .expect("a local bundle");
    let selector = format!("local/{}", local.entry.filename);
    let removed = in_cache(&ctx, &["cache", "rm", &selector, "-y"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let left = fxb::cache::Cache::open(&dir)
        .expect("cache")
        .list()
        .expect("list");
    assert_eq!(left.len(), files.len() - 1);
    assert!(
        left.iter()
            .all(|f| f.entry.rel_path != local.entry.rel_path)
    );
}

/// `fxb ARGS` with the cache `fxb` mounted read-only (a private mount namespace); `None`
/// where this machine does not allow one.
fn on_read_only_cache(ctx: &TestContext, args: &[&str]) -> Option<std::process::Output> {
    let dir = ctx.path("fxb");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}' || exit 97; exec '{{fxb}}' --cache-dir fxb {args}",
        d = dir.display(),
        args = quoted.join(" ")
    );
    crate::common::in_mount_namespace(ctx, &script)
}

/// Issue 13: a cache fxb cannot write (a read-only mount, another user's) was unusable:
/// `cache ls`, `check` and `verify` opened the lock file for writing. They read it as it
/// is now, and only the commands that change it refuse.
#[test]
fn a_read_only_cache_is_read_and_only_changes_are_refused() {
    let ctx = TestContext::new();
    reference_cache(&ctx, "cache-index-multi.json");
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let Some(ls) = on_read_only_cache(&ctx, &["cache", "ls"]) else {
        eprintln!("skipped: this machine allows no private read-only mount (unshare -m)");
        return;
    };
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert_eq!(stdout(&ls), expected("cache-ls-multi.txt"));
    assert!(stderr(&ls).contains("is read-only"), "{}", stderr(&ls));
    let check = on_read_only_cache(&ctx, &["check", "./llama"]).expect("runs");
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("Recommended:"),
        "{}",
        stdout(&check)
    );
    // It re-hashes (a finding or not), records nothing, and does not fail on the cache.
    let verify = on_read_only_cache(&ctx, &["cache", "verify"]).expect("runs");
    assert_ne!(verify.status.code(), Some(2), "{}", stderr(&verify));
    assert!(
        stdout(&verify).contains("file(s) checked"),
        "{}",
        stdout(&verify)
    );
    let added = on_read_only_cache(
        &ctx,
        &["add", &reference("bundles/llama-min.fxb").to_string_lossy()],
    )
    .expect("runs");
    assert_eq!(added.status.code(), Some(2));
    assert!(
        stderr(&added).contains("is read-only"),
        "{}",
        stderr(&added)
    );
    let removed = on_read_only_cache(&ctx, &["cache", "rm", "--all", "-y"]).expect("runs");
    assert_eq!(removed.status.code(), Some(2));
    assert!(
        stderr(&removed).contains("is read-only"),
        "{}",
        stderr(&removed)
    );
}
