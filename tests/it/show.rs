//! `fxb show`: the bundle summary (model, parallel config, buckets of every kind,
//! versions) equals the reference's on its bundles, extracted directories and bundles fxb
//! writes — as line multisets, since the reference prints some sections in random order;
//! snapshots pin fxb's own order — plus `--json` and a v0 manifest migrated forward. It is
//! the first command anyone runs on a bundle.

use std::fs;

use crate::common::{TestContext, read_reference, sorted_lines, stdout, write_llama_min};

/// The reference prints kernels and versions in random order; compare line multisets and
/// pin fxb's own (sorted) order with a snapshot.
#[test]
fn show_of_the_real_bundle_matches_the_reference() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    let output = ctx.run(&["show", "llama-min.fxb"]);
    assert!(output.status.success());
    assert_eq!(
        sorted_lines(&stdout(&output)),
        sorted_lines(&read_reference("show.txt"))
    );
    insta::assert_snapshot!(ctx.format(&output));
}

#[test]
fn show_of_the_sampler_bundle_matches_the_reference() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-sampler.fxb", "out/llama-sampler.fxb");
    let output = ctx.run(&["show", "out/llama-sampler.fxb"]);
    assert_eq!(
        sorted_lines(&stdout(&output)),
        sorted_lines(&read_reference("show-sampler.txt"))
    );
}

#[test]
fn show_of_an_extracted_directory_matches_the_reference() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x1"]).status.success());
    let output = ctx.run(&["show", "x1"]);
    assert_eq!(
        sorted_lines(&stdout(&output)),
        sorted_lines(&read_reference("show-dir.txt"))
    );
    let with_slash = ctx.run(&["show", "x1/"]);
    assert!(with_slash.status.success());
    assert!(stdout(&with_slash).contains("FXB Bundle — x1/"));
}

#[test]
fn show_works_on_a_bundle_written_by_fxb() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("llama-min.fxb"));
    let output = ctx.run(&["show", "llama-min.fxb"]);
    assert_eq!(
        sorted_lines(&stdout(&output)),
        sorted_lines(&read_reference("show.txt"))
    );
}

/// Every bucket kind at once, like the reference's `show-buckets-mut.txt`.
#[test]
fn show_prints_every_bucket_kind_in_the_reference_layout() {
    let ctx = TestContext::new();
    let mut manifest: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/manifest-llama-min.json")).expect("json");
    let tw = |n: u64| serde_json::json!({"bucket": {"tokenwise": {"input_size": n}}, "file": format!("edfs/t{n}.edf")});
    let attn = |b: u64, a: u64, i: u64| {
        serde_json::json!({"bucket": {"attention": {"batch_size": b, "attention_size": a, "kv_cache_size": a - i}},
                           "file": format!("edfs/a{b}_{a}_{i}.edf")})
    };
    let samplers: Vec<_> = [1, 4, 8]
        .map(|n| serde_json::json!({"bucket": {"sampler": {"input_size": n}}, "file": format!("edfs/s{n}.edf")}))
        .to_vec();
    let visions: Vec<_> = [16, 64]
        .map(|p| serde_json::json!({"bucket": {"vision_encoder": {"num_patches": p, "batch_size": 1}}, "file": format!("edfs/v{p}.edf")}))
        .to_vec();
    manifest["kernels"] = serde_json::json!({
        "first_tokenwise": [tw(1), tw(2), tw(4), tw(16), tw(1024)],
        "mid_tokenwise": [tw(1), tw(2)],
        "last_tokenwise_with_lm_head": [tw(1)],
        "txt_mtp_pre": [],
        "random_sample": samplers,
        "vis_first_block": visions,
        "full_attention": [
            attn(1, 256, 256), attn(1, 1024, 1024), attn(2, 256, 256),
            attn(1, 256, 1), attn(2, 256, 1), attn(4, 256, 1),
            attn(1, 256, 64), attn(1, 256, 128), attn(1, 2048, 512), attn(16, 4100, 4),
        ],
        "kda_decode": [{"bucket": {"linear_attention": {"batch_size": 2, "seq_len": 1}}, "file": "edfs/l.edf"}],
    });
    fs::create_dir_all(ctx.path("probe/b")).expect("dir");
    fs::write(ctx.path("probe/b/manifest.json"), manifest.to_string()).expect("write");
    let output = ctx.run(&["show", "probe/b"]);
    assert_eq!(
        sorted_lines(&stdout(&output)),
        sorted_lines(&read_reference("show-buckets-mut.txt"))
    );
    insta::assert_snapshot!(ctx.format(&output));
}

#[test]
fn show_json_has_every_section() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-sampler.fxb", "llama-sampler.fxb");
    insta::assert_snapshot!(ctx.snapshot(&["show", "llama-sampler.fxb", "--json"]));
}

/// A v0 manifest: nothing but tensor_parallel_size and kernels (FORMAT.md §2.6).
#[test]
fn show_migrates_a_v0_manifest() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("v0")).expect("dir");
    fs::write(
        ctx.path("v0/manifest.json"),
        r#"{"tensor_parallel_size": 4, "architecture": "Ignored", "kernels": {"first_tokenwise": [{"bucket": {"tokenwise": {"input_size": 1}}, "file": "edfs/first_tokenwise_tw1.edf"}]}}"#,
    )
    .expect("write");
    insta::assert_snapshot!(ctx.snapshot(&["show", "v0"]));
}
