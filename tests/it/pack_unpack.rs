//! `fxb pack` and `fxb unpack`: a round trip gives back the same entries in the same order,
//! the manifest and every kernel file byte for byte; packing is reproducible; unknown
//! manifest fields survive; unnamed files are left out with a warning; refusals (a
//! non-empty target, packing an archive, unpacking a directory) write nothing. Users edit
//! bundles by unpacking and repacking, so nothing may be lost or reordered on the way.

use std::fs;

use fxb::bundle::Bundle;

use crate::common::{TestContext, dir_listing, stderr, stdout};

fn entry_names(path: &std::path::Path) -> Vec<(String, u64)> {
    Bundle::open(path)
        .expect("opens")
        .entries()
        .expect("lists")
        .into_iter()
        .map(|e| (e.name, e.size))
        .collect()
}

#[test]
fn unpack_then_pack_gives_back_the_same_entries_and_manifest() {
    let ctx = TestContext::new();
    let original = ctx.copy_reference_bundle("llama-sampler.fxb", "llama-sampler.fxb");
    let unpacked = ctx.run(&["unpack", "llama-sampler.fxb", "x"]);
    assert!(unpacked.status.success(), "{}", stderr(&unpacked));
    assert_eq!(stdout(&unpacked), "x\n");
    let packed = ctx.run(&["pack", "x", "again.fxb"]);
    assert!(packed.status.success(), "{}", stderr(&packed));
    // Same entries, same sizes, same order (the reference's build order).
    assert_eq!(entry_names(&original), entry_names(&ctx.path("again.fxb")));
    // The manifest, byte for byte.
    let read_manifest = |p: &std::path::Path| {
        let mut bundle = Bundle::open(p).expect("opens");
        let mut bytes = Vec::new();
        bundle
            .copy_entry("manifest.json", &mut bytes)
            .expect("reads");
        bytes
    };
    assert_eq!(
        read_manifest(&original),
        read_manifest(&ctx.path("again.fxb"))
    );
    // And every kernel file, byte for byte.
    for (name, _) in entry_names(&original) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        Bundle::open(&original)
            .expect("opens")
            .copy_entry(&name, &mut a)
            .expect("reads");
        Bundle::open(ctx.path("again.fxb"))
            .expect("opens")
            .copy_entry(&name, &mut b)
            .expect("reads");
        assert!(a == b, "{name} differs");
    }
}

#[test]
fn pack_is_reproducible_and_appends_the_extension() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x"]).status.success());
    assert!(ctx.run(&["pack", "x", "one"]).status.success());
    assert!(ctx.run(&["pack", "x", "two.fxb"]).status.success());
    assert_eq!(
        fs::read(ctx.path("one.fxb")).expect("one"),
        fs::read(ctx.path("two.fxb")).expect("two")
    );
}

#[test]
fn unknown_manifest_fields_survive_a_rewrite() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x"]).status.success());
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(ctx.path("x/manifest.json")).expect("read"))
            .expect("json");
    manifest["future_field"] = serde_json::json!({"kept": true});
    manifest["model"]["new_config_field"] = serde_json::json!(7);
    manifest["versions"]["furiosa_compiler"]["build"] = serde_json::json!("nightly");
    manifest["extras"] = serde_json::json!({"fxb": {"rule": "llama@1.0.0"}});
    fs::write(
        ctx.path("x/manifest.json"),
        serde_json::to_string_pretty(&manifest).expect("json"),
    )
    .expect("write");
    assert!(ctx.run(&["pack", "x", "out.fxb"]).status.success());
    let reread = Bundle::open(ctx.path("out.fxb"))
        .expect("opens")
        .into_manifest();
    let reread = serde_json::to_value(&reread).expect("json");
    assert_eq!(reread, manifest);
}

#[test]
fn pack_leaves_out_unnamed_files_with_a_warning() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x"]).status.success());
    fs::write(ctx.path("x/notes.txt"), "hello").expect("write");
    let output = ctx.run(&["pack", "x", "out.fxb"]);
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("left out `notes.txt`"),
        "{}",
        stderr(&output)
    );
    assert!(
        !entry_names(&ctx.path("out.fxb"))
            .iter()
            .any(|(n, _)| n == "notes.txt")
    );
}

#[test]
fn unpack_refuses_a_non_empty_target_and_writes_nothing() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    fs::create_dir_all(ctx.path("busy")).expect("dir");
    fs::write(ctx.path("busy/keep.txt"), "mine").expect("write");
    insta::assert_snapshot!(ctx.snapshot(&["unpack", "llama-min.fxb", "busy"]));
    assert_eq!(dir_listing(&ctx.path("busy")), ["keep.txt"]);
    assert_eq!(dir_listing(ctx.root()), ["busy", "home", "llama-min.fxb"]);
}

#[test]
fn unpack_into_an_existing_empty_directory() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    fs::create_dir_all(ctx.path("empty")).expect("dir");
    assert!(
        ctx.run(&["unpack", "llama-min.fxb", "empty"])
            .status
            .success()
    );
    assert_eq!(dir_listing(&ctx.path("empty")), ["edfs", "manifest.json"]);
}

#[test]
fn pack_of_an_archive_and_unpack_of_a_directory_are_refused() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x"]).status.success());
    insta::assert_snapshot!(
        "pack_archive",
        ctx.snapshot(&["pack", "llama-min.fxb", "out.fxb"])
    );
    insta::assert_snapshot!("unpack_directory", ctx.snapshot(&["unpack", "x", "y"]));
}

#[test]
fn pack_and_unpack_json() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    insta::assert_snapshot!(
        "unpack",
        ctx.snapshot(&["unpack", "--json", "llama-min.fxb", "x"])
    );
    insta::assert_snapshot!("pack", ctx.snapshot(&["pack", "--json", "x", "y.fxb"]));
}

/// Issue 13: an unpack killed by a signal left its `.fxb-unpack.*` staging directory
/// for good. It is named with its process id now, and the next unpack beside it removes
/// it once that process is gone (a live process's is left alone).
#[test]
fn an_interrupted_unpack_is_cleaned_up_by_the_next_one() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    // pid_max is at most 2^22: this process cannot exist.
    let dead = ctx.path(".fxb-unpack.4999999.AbCdEf");
    let live = ctx.path(&format!(".fxb-unpack.{}.XyZ", std::process::id()));
    for dir in [&dead, &live] {
        fs::create_dir_all(dir.join("edfs")).expect("leftover");
        fs::write(dir.join("edfs/half.edf"), b"half").expect("leftover file");
    }
    let output = ctx.run(&["unpack", "llama-min.fxb", "out"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!dead.exists(), "the dead process's staging dir is removed");
    assert!(live.exists(), "a live process's staging dir stays");
    assert!(ctx.path("out/manifest.json").is_file());
}

/// Issue 13: `unpack` never checked entries' CRC-32, so a corrupted kernel was written
/// out as if whole. It is refused now, naming the entry, and nothing appears.
#[test]
fn unpack_refuses_an_entry_whose_bytes_do_not_match_its_crc() {
    let ctx = TestContext::new();
    let bundle = ctx.copy_reference_bundle("llama-min.fxb", "bad.fxb");
    let mut bytes = fs::read(&bundle).expect("read");
    // Well inside the first entry's data (its local header is under 100 bytes), far
    // from the central directory at the end.
    bytes[200_000] ^= 0x5a;
    fs::write(&bundle, bytes).expect("write");
    let output = ctx.run(&["unpack", "bad.fxb", "out"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("edfs/first_tokenwise_tw1.edf") && err.contains("is corrupt"),
        "{err}"
    );
    assert!(!ctx.path("out").exists());
    assert!(
        dir_listing(ctx.root())
            .iter()
            .all(|name| !name.starts_with(".fxb-unpack.")),
        "no staging left"
    );
}
