//! Cross-tool conformance, live (issue 17): the reference `fxb` (`scripts/reference-env`)
//! and fxb on one cache, and on the bundles fxb writes. A cache either tool wrote is
//! listed and checked by the other with the same output; both adding and removing at once
//! leave an index both read and nothing lost; and every bundle fxb's host backend builds
//! (one model per family) is read by the reference's `show`, `list`, `inspect` and `diff`
//! with the output fxb prints. Where fxb deliberately prints something else, the test
//! for that difference says so (README, "Where fxb differs from the reference").
//!
//! These need the reference env. Without it a test says it skipped; `.ci/run` makes it and
//! sets FXB_REQUIRE_VENDOR_ENV, which turns a missing env into a failure.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::check::RUNNING;
use crate::common::{
    SMALL_BUILD, TestContext, fixture_config, reference, reference_command, reference_manifest,
    sorted_lines, stderr, stdout, write_bundle,
};

/// The default cache of both tools, under the test's `XDG_CACHE_HOME`.
const CACHE: &str = "home/.cache/furiosa/llm/fxb";

/// The reference's `fxb`, or a skip (a failure under FXB_REQUIRE_VENDOR_ENV).
fn reference_fxb() -> Option<PathBuf> {
    crate::common::required_env(
        crate::furiosa::reference_fxb(),
        "reference env",
        "scripts/reference-env",
    )
}

fn theirs(reference: &Path, ctx: &TestContext) -> Command {
    reference_command(reference, ctx)
}

fn output(mut cmd: Command, what: &str) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{what} runs: {e}"))
}

/// The reference's answer to `args`, which must succeed.
fn reference_ok(reference: &Path, ctx: &TestContext, args: &[&str]) -> String {
    let mut cmd = theirs(reference, ctx);
    cmd.args(args);
    let out = output(cmd, "the reference");
    assert_eq!(
        out.status.code(),
        Some(0),
        "reference {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// fxb's answer to `args`, which must succeed.
fn fxb_ok(ctx: &TestContext, args: &[&str]) -> String {
    let out = ctx.run(args);
    assert_eq!(out.status.code(), Some(0), "fxb {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// A host-backend build of the fixture config `config` at `./<name>.fxb` (quick: `-O O0`,
/// length 1024), and the model directory `./<name>`.
fn host_build(ctx: &TestContext, name: &str, config: &str) -> String {
    let dir = format!("./{}", ctx.model_dir_with(name, &fixture_config(config)));
    let out = format!("{name}.fxb");
    let mut args = vec!["build", dir.as_str(), out.as_str()];
    args.extend(SMALL_BUILD);
    fxb_ok(ctx, &args);
    out
}

const LLAMA_MIN: &str = "bundles/llama-min.fxb";
const LLAMA_SAMPLER: &str = "bundles/llama-sampler.fxb";
const LLAMA: &str = "meta-llama--Llama-3.1-8B-Instruct.json";

/// Two reference bundles and a host build of the same model, as paths for `add`, and the
/// model directory `./llama` they all fit.
fn three_bundles(ctx: &TestContext) -> Vec<String> {
    let host = host_build(ctx, "llama", LLAMA);
    vec![
        reference(LLAMA_MIN).display().to_string(),
        reference(LLAMA_SAMPLER).display().to_string(),
        host,
    ]
}

/// The check report with table padding undone: runs of spaces are one, a rule row is
/// `[RULE]`. A wider cell in one row re-pads every row of its table.
fn unpadded(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            if !line.trim().is_empty() && line.chars().all(|c| c == '-' || c == ' ') {
                "[RULE]".to_string()
            } else {
                line.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        })
        .collect()
}

/// A cache the reference wrote (`fxb add` of two of its bundles) is fxb's: the same
/// `cache ls` and `cache ls -q`, the same `check` when fxb is given the reference's runtime
/// identity, and `cache verify` finds every bundle readable.
#[test]
fn a_cache_the_reference_wrote_is_listed_checked_and_verified_by_fxb() {
    let Some(reference) = reference_fxb() else {
        return;
    };
    let ctx = TestContext::new();
    ctx.model_dir_with("llama", &fixture_config(LLAMA));
    let min = crate::common::reference(LLAMA_MIN).display().to_string();
    let sampler = crate::common::reference(LLAMA_SAMPLER)
        .display()
        .to_string();
    reference_ok(&reference, &ctx, &["add", &min, &sampler]);

    for args in [&["cache", "ls"][..], &["cache", "ls", "-q"]] {
        assert_eq!(
            fxb_ok(&ctx, args),
            reference_ok(&reference, &ctx, args),
            "{args:?}"
        );
    }
    let theirs = reference_ok(&reference, &ctx, &["check", "./llama"]);
    let mut check = vec!["check", "./llama"];
    check.extend(RUNNING);
    assert_eq!(fxb_ok(&ctx, &check), theirs);
    assert!(theirs.contains("Compatible cached FXB (2)"), "{theirs}");

    let verify = ctx.run(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
}

/// A cache fxb wrote is the reference's: it lists it as fxb does, and checks it as fxb
/// does but for one cell (the next test's deliberate difference).
#[test]
fn a_cache_fxb_wrote_is_listed_and_checked_by_the_reference() {
    let Some(reference) = reference_fxb() else {
        return;
    };
    let ctx = TestContext::new();
    let mut add = vec!["add"];
    let bundles = three_bundles(&ctx);
    add.extend(bundles.iter().map(String::as_str));
    fxb_ok(&ctx, &add);

    for args in [&["cache", "ls"][..], &["cache", "ls", "-q"]] {
        assert_eq!(
            reference_ok(&reference, &ctx, args),
            fxb_ok(&ctx, args),
            "{args:?}"
        );
    }
    let mut check = vec!["check", "./llama"];
    check.extend(RUNNING);
    let ours = fxb_ok(&ctx, &check);
    let theirs = reference_ok(&reference, &ctx, &["check", "./llama"]);
    let host_cell = "fxb_host_backend 0.1.0 (host-layout-2) — stale";
    assert_eq!(
        unpadded(&ours.replace(host_cell, "-")),
        unpadded(&theirs),
        "fxb:\n{ours}\nthe reference:\n{theirs}"
    );
}

/// Deliberate differences for a bundle the vendor compiler did not make (a host build):
/// the reference's `add` refuses it (its manifest has no `furiosa_compiler`), fxb's adds
/// it; and `check` names the compiler of such a bundle fxb added (the host backend, recorded in fxb's sidecar, which the
/// reference's index cannot hold) and measures it against the runtime — `— stale` for the
/// RNGD runtime, `— match` for the host one — where the reference, knowing no compiler,
/// prints `-`. Only that cell differs; the ranking and the recommendation are the same.
#[test]
fn deliberately_fxb_adds_a_host_build_and_check_names_its_compiler() {
    let Some(reference) = reference_fxb() else {
        return;
    };
    let ctx = TestContext::new();
    let host = host_build(&ctx, "llama", LLAMA);
    let mut cmd = theirs(&reference, &ctx);
    cmd.args(["add", &host]);
    let refused = output(cmd, "the reference");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("manifest is missing the 'furiosa_compiler' revision"),
        "{}",
        stderr(&refused)
    );
    let llama_min = crate::common::reference(LLAMA_MIN).display().to_string();
    fxb_ok(&ctx, &["add", &host, &llama_min]);
    let mut check = vec!["check", "./llama"];
    check.extend(RUNNING);
    let ours = fxb_ok(&ctx, &check);
    let theirs = reference_ok(&reference, &ctx, &["check", "./llama"]);
    let row = |text: &str| {
        unpadded(text)
            .into_iter()
            .find(|l| l.contains("llamaforcausallm-host-layout-2-"))
            .expect("the host bundle's row")
    };
    assert!(
        row(&ours).contains(" fxb_host_backend 0.1.0 (host-layout-2) — stale "),
        "{ours}"
    );
    assert!(
        row(&theirs).contains(" - llamaforcausallm-host-layout-2-"),
        "{theirs}"
    );
    let differing: Vec<(String, String)> = unpadded(&ours)
        .into_iter()
        .zip(unpadded(&theirs))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differing.len(), 1, "{differing:#?}");
    assert_eq!(unpadded(&ours).len(), unpadded(&theirs).len());
}

/// A bundle for the concurrent test: llama-min's manifest with its own uuid and build time
/// (so its own standard name), tiny kernel files. Returns its path and standard name.
fn numbered_bundle(ctx: &TestContext, tool: u32, round: u32) -> (String, String) {
    let mut manifest = reference_manifest();
    manifest.uuid = Some(format!("00000000-0000-4000-{tool}000-{round:012}"));
    manifest.created_at = Some(format!(
        "2026-0{tool}-01T{:02}:{:02}:00+00:00",
        round / 60,
        round % 60
    ));
    let name = fxb::bundle::standard_file_name(&manifest).expect("standard name");
    let path = format!("bundles/{tool}-{round}.fxb");
    fs::create_dir_all(ctx.path("bundles")).expect("dir");
    write_bundle(&ctx.path(&path), &manifest, &|_| Default::default());
    (path, name)
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns")
}

/// The `.fxb` files on disk, as cache-relative paths.
fn on_disk(cache: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for snapshot in fs::read_dir(cache.join("models--local/snapshots"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for file in fs::read_dir(snapshot.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            found.insert(format!(
                "models--local/snapshots/{}/{}",
                snapshot.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Both tools adding and removing on one cache at once, 50 rounds: each round the
/// reference adds one bundle while fxb adds another, and every other round each removes
/// one the other added the round before, the four processes in parallel. Afterwards the
/// index holds exactly what should be there, equal to the disk, and both tools list it
/// alike: no add was lost to a concurrent rewrite, no removal undone.
#[test]
fn both_tools_adding_and_removing_at_once_lose_nothing() {
    let Some(reference) = reference_fxb() else {
        return;
    };
    let ctx = TestContext::new();
    const ROUNDS: u32 = 50;
    let ours: Vec<(String, String)> = (0..ROUNDS).map(|r| numbered_bundle(&ctx, 8, r)).collect();
    let their: Vec<(String, String)> = (0..ROUNDS).map(|r| numbered_bundle(&ctx, 9, r)).collect();
    let rel_path = |tool: u32, round: u32, name: &str| {
        format!("models--local/snapshots/00000000-0000-4000-{tool}000-{round:012}/{name}")
    };
    let mut expected = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut children = Vec::new();
        let mut cmd = theirs(&reference, &ctx);
        cmd.args(["add", &their[round as usize].0]);
        children.push(("reference add", spawn(cmd)));
        let mut cmd = ctx.command();
        cmd.args(["add", &ours[round as usize].0]);
        children.push(("fxb add", spawn(cmd)));
        expected.insert(rel_path(9, round, &their[round as usize].1));
        expected.insert(rel_path(8, round, &ours[round as usize].1));
        if round % 2 == 1 {
            let previous = (round - 1) as usize;
            let mut cmd = theirs(&reference, &ctx);
            cmd.args(["cache", "rm", "-y", &ours[previous].1]);
            children.push(("reference rm", spawn(cmd)));
            let mut cmd = ctx.command();
            cmd.args(["cache", "rm", "-y", &their[previous].1]);
            children.push(("fxb rm", spawn(cmd)));
            expected.remove(&rel_path(8, round - 1, &ours[previous].1));
            expected.remove(&rel_path(9, round - 1, &their[previous].1));
        }
        for (what, child) in children {
            let out = child.wait_with_output().expect("waits");
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}, {what}: {}",
                stderr(&out)
            );
        }
    }

    let cache = ctx.path(CACHE);
    let index: Value =
        serde_json::from_slice(&fs::read(cache.join("index.json")).expect("index")).expect("json");
    let indexed: BTreeSet<String> = index["repos"]["local"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["rel_path"].as_str().expect("rel_path").to_string())
        .collect();
    assert_eq!(
        indexed.len(),
        ROUNDS as usize,
        "half of each tool's adds remain"
    );
    assert_eq!(indexed, expected, "the index holds what should be there");
    assert_eq!(
        on_disk(&cache),
        expected,
        "the disk holds what should be there"
    );
    let before = fs::read(cache.join("index.json")).expect("index");
    let listed = reference_ok(&reference, &ctx, &["cache", "ls", "-q"]);
    assert_eq!(fxb_ok(&ctx, &["cache", "ls", "-q"]), listed);
    let paths: BTreeSet<String> = listed.lines().map(str::to_string).collect();
    let wanted: BTreeSet<String> = expected
        .iter()
        .map(|p| cache.join(p).display().to_string())
        .collect();
    assert_eq!(paths, wanted);
    assert_eq!(
        reference_ok(&reference, &ctx, &["cache", "ls"]),
        fxb_ok(&ctx, &["cache", "ls"])
    );
    assert_eq!(
        fs::read(cache.join("index.json")).expect("index"),
        before,
        "an index equal to the disk is not rewritten by either tool's ls"
    );
}

/// One small model per family, as the families tests name them.
const FAMILIES: &[(&str, &str)] = &[
    ("llama", LLAMA),
    ("qwen2", "Qwen--Qwen2.5-7B-Instruct.json"),
    ("qwen3", "Qwen--Qwen3-0.6B.json"),
    ("qwen3_moe", "Qwen--Qwen3-30B-A3B.json"),
    ("gpt_oss", "openai--gpt-oss-20b.json"),
    ("mistral", "mistralai--Mistral-7B-Instruct-v0.3.json"),
    ("exaone4", "LGAI-EXAONE--EXAONE-4.0-1.2B.json"),
    ("xlm_roberta", "BAAI--bge-m3.json"),
];

/// Every bundle fxb's host backend writes, one per family, is read by the reference's
/// `show`, `list`, `inspect` and `diff` with fxb's output: `list`, `inspect` and `diff`
/// byte for byte, `show` line for line (the reference prints its versions and kernels in
/// a random order, fxb a sorted one). `diff` compares each family's build with the
/// next's, so changed, left-only and right-only entries all appear.
#[test]
fn the_reference_reads_every_bundle_fxb_builds_as_fxb_does() {
    let Some(reference) = reference_fxb() else {
        return;
    };
    let ctx = TestContext::new();
    let bundles: Vec<String> = FAMILIES
        .iter()
        .map(|(family, config)| host_build(&ctx, family, config))
        .collect();
    for bundle in &bundles {
        for command in ["list", "inspect"] {
            assert_eq!(
                reference_ok(&reference, &ctx, &[command, bundle]),
                fxb_ok(&ctx, &[command, bundle]),
                "{command} {bundle}"
            );
        }
        assert_eq!(
            sorted_lines(&reference_ok(&reference, &ctx, &["show", bundle])),
            sorted_lines(&fxb_ok(&ctx, &["show", bundle])),
            "show {bundle}"
        );
    }
    for (left, right) in bundles.iter().zip(bundles.iter().cycle().skip(1)) {
        let mut cmd = theirs(&reference, &ctx);
        cmd.args(["diff", left, right]);
        let theirs = output(cmd, "the reference");
        assert_eq!(theirs.status.code(), Some(0), "{}", stderr(&theirs));
        // fxb's exit is 1 when the bundles differ (README: the reference always exits 0).
        let ours = ctx.run(&["diff", left, right]);
        assert_eq!(ours.status.code(), Some(1), "{}", stderr(&ours));
        // fxb's diff then lists the manifest fields that differ, which the reference
        // does not compare: the signature diff, up to its summary, is the reference's.
        let ours = stdout(&ours);
        let summary = ours.find("\nSummary: ").expect("a summary");
        let end = summary + ours[summary + 1..].find('\n').expect("line end") + 2;
        assert_eq!(&ours[..end], stdout(&theirs), "diff {left} {right}");
    }
}

/// The host backend's kernel files carry no machine code: one `Npu` node with empty
/// binaries and an all-zero binary shape, the task data only placing the tensors, and the
/// host payload under `fxb_host`, a key the reference's reader skips (the test above: its
/// `inspect` reads these files).
#[test]
fn host_kernel_files_carry_structure_and_the_host_payload_but_no_code() {
    let ctx = TestContext::new();
    let bundle = host_build(&ctx, "llama", LLAMA);
    fxb_ok(&ctx, &["unpack", &bundle, "unpacked"]);
    let bytes = fs::read(ctx.path("unpacked/edfs/first_tokenwise_tw1.edf")).expect("edf");
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("prefix")) as usize;
    assert_eq!(bytes.len(), 8 + len + 16);
    assert!(bytes[8 + len..].iter().all(|b| *b == 0));
    let edf: ciborium::Value = ciborium::from_reader(&bytes[8..8 + len]).expect("cbor");
    let json: Value = serde_json::to_value(&edf).expect("json");
    let nodes = json["Edf"]["nodes"].as_array().expect("nodes");
    let npu = &nodes[0]["Npu"];
    assert_eq!(npu["task_binaries_map"]["binaries"], serde_json::json!([]));
    assert_eq!(
        npu["task_binaries_map"]["binary_shape"],
        serde_json::json!([0, 0, 0, 0])
    );
    assert_eq!(
        npu["task_binaries_map"]["binary_info"],
        serde_json::json!({})
    );
    let host = &npu["fxb_host"];
    assert_eq!(host["format"], "fxb-host-kernel/2");
    assert_eq!(host["kernel"], "first_tokenwise");
    assert_eq!(host["bucket"], "tw1");
    let inputs = json["Edf"]["inputs"].as_array().expect("inputs").len();
    let outputs = json["Edf"]["outputs"].as_array().expect("outputs").len();
    assert_eq!(
        host["tensors"].as_array().expect("tensors").len(),
        inputs + outputs
    );
    // One copy in per input, one copy out per output, and nothing else.
    assert_eq!(nodes.len(), 1 + inputs + outputs);
    assert!(nodes[1..].iter().all(|n| n.get("Copy").is_some()));
    let manifest: Value =
        serde_json::from_slice(&fs::read(ctx.path("unpacked/manifest.json")).expect("manifest"))
            .expect("json");
    assert!(manifest["versions"].get("furiosa_compiler").is_none());
}
