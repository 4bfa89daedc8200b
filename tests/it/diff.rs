//! `fxb diff`: two bundles (archives or extracted directories) compared as the reference
//! compares them — its summary for identical bundles, its exact report for a swapped
//! kernel file — and what fxb adds after it: manifest and parallel-config differences,
//! one-sided entries, `--common-only`, `--json`, colour only on request. Users diff builds
//! to learn whether they are interchangeable; scripts read the exit code (0 same, 1 not).

use std::fs;

use crate::common::{
    TestContext, read_reference, reference_manifest, signatures_of, stdout, write_bundle,
};

/// `llama-min.fxb` in the test dir, and unpacked into `dir` with `field` (a JSON
/// `"key": value`) added to its manifest's `model` object after `architecture`.
fn unpack_with_model_field(ctx: &TestContext, dir: &str, field: &str) {
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", dir]).status.success());
    let manifest = ctx.path(&format!("{dir}/manifest.json"));
    let text = fs::read_to_string(&manifest).expect("manifest");
    let anchor = "\"architecture\": \"LlamaForCausalLM\",";
    assert!(text.contains(anchor), "the manifest names its architecture");
    let text = text.replacen(anchor, &format!("{anchor}\n    {field},"), 1);
    fs::write(&manifest, text).expect("write");
}

#[test]
fn identical_bundles_print_the_reference_summary_and_exit_zero() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    ctx.copy_reference_bundle("llama-min.fxb", "out/llama-copy.fxb");
    let output = ctx.run(&["diff", "llama-min.fxb", "out/llama-copy.fxb"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        read_reference("diff-identical.txt").replace("llama-hub.fxb", "llama-copy.fxb")
    );
}

/// The reference's `diff-identical.txt` compares llama-min with the same model built from
/// its Hub id: same kernels, `hub_repo_id` added. fxb prints the reference's report, then
/// the manifest field that differs, and exits 1.
#[test]
fn a_manifest_difference_is_reported_after_the_reference_summary() {
    let ctx = TestContext::new();
    unpack_with_model_field(
        &ctx,
        "hub",
        "\"hub_repo_id\": \"meta-llama/Llama-3.1-8B-Instruct\"",
    );
    fs::create_dir_all(ctx.path("out")).expect("out");
    assert!(
        ctx.run(&["pack", "hub", "out/llama-hub.fxb"])
            .status
            .success()
    );
    let output = ctx.run(&["diff", "llama-min.fxb", "out/llama-hub.fxb"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with(&read_reference("diff-identical.txt")));
    insta::assert_snapshot!(ctx.format(&output));
}

/// `x1` = llama-min extracted; `x3` = the same with `first_tokenwise`'s EDF replaced by
/// `mid_tokenwise`'s (how the reference's `diff-changed-mut.txt` was made).
fn swapped_copies() -> TestContext {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x1"]).status.success());
    assert!(ctx.run(&["unpack", "llama-min.fxb", "x3"]).status.success());
    fs::copy(
        ctx.path("x1/edfs/mid_tokenwise_tw1.edf"),
        ctx.path("x3/edfs/first_tokenwise_tw1.edf"),
    )
    .expect("swap");
    ctx
}

/// The reference's `diff-changed-mut.txt`: an extracted copy with one EDF swapped.
#[test]
fn a_swapped_kernel_file_is_diffed_exactly_like_the_reference() {
    let ctx = swapped_copies();
    let output = ctx.run(&["diff", "x1", "x3", "--no-color"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), read_reference("diff-changed-mut.txt"));
}

/// Entries on one side only are printed whole with `-` / `+`; `--common-only` drops them.
#[test]
fn one_sided_entries_and_common_only() {
    let ctx = TestContext::new();
    let signature_for = signatures_of("llama-sampler.fxb");
    let sampler = fxb::bundle::Bundle::open(crate::common::reference("bundles/llama-sampler.fxb"))
        .expect("opens")
        .into_manifest();
    write_bundle(&ctx.path("with-sampler.fxb"), &sampler, &signature_for);
    let mut without = sampler.clone();
    without.kernels.shift_remove("random_sample");
    write_bundle(&ctx.path("without.fxb"), &without, &signature_for);
    insta::assert_snapshot!(
        "right_only",
        ctx.snapshot(&["diff", "without.fxb", "with-sampler.fxb"])
    );
    insta::assert_snapshot!(
        "common_only",
        ctx.snapshot(&["diff", "--common-only", "without.fxb", "with-sampler.fxb"])
    );
    insta::assert_snapshot!(
        "json",
        ctx.snapshot(&["diff", "--json", "with-sampler.fxb", "without.fxb"])
    );
}

#[test]
fn parallel_config_differences_are_named() {
    let ctx = TestContext::new();
    let signature_for = signatures_of("llama-min.fxb");
    let manifest = reference_manifest();
    write_bundle(&ctx.path("tp8.fxb"), &manifest, &signature_for);
    let mut tp4 = manifest.clone();
    if let Some(p) = tp4.parallel_config.as_mut() {
        p.tensor_parallel_size = 4;
    }
    write_bundle(&ctx.path("tp4.fxb"), &tp4, &signature_for);
    insta::assert_snapshot!(ctx.snapshot(&["diff", "tp8.fxb", "tp4.fxb"]));
}

/// `--color always` colours even through a pipe; `--no-color` wins over it.
#[test]
fn colour_on_request() {
    let ctx = swapped_copies();
    let coloured = stdout(&ctx.run(&["diff", "x1", "x3", "--color", "always"]));
    assert!(
        coloured.starts_with("\x1b[31m--- x1\x1b[0m\n\x1b[32m+++ x3\x1b[0m\n"),
        "{coloured:?}"
    );
    assert!(coloured.contains(" \x1b[1mfirst_tokenwise (tw1):\x1b[0m\n"));
    assert!(coloured.contains("\x1b[2mSummary: 1 changed"));
    let plain = stdout(&ctx.run(&["diff", "x1", "x3", "--color", "always", "--no-color"]));
    assert!(!plain.contains('\x1b'));
    let mut no_color_env = ctx.command();
    no_color_env.args(["diff", "x1", "x3"]).env("NO_COLOR", "1");
    assert!(!stdout(&no_color_env.output().expect("runs")).contains('\x1b'));
}

/// Issue 13: names read from a bundle reach the terminal escaped, never as escape
/// sequences it would obey (here a manifest field named with an ANSI colour code).
#[test]
fn names_from_a_bundle_are_printed_escaped() {
    let ctx = TestContext::new();
    unpack_with_model_field(&ctx, "odd", "\"\\u001b[2Jevil\": 1");
    let output = ctx.run(&["diff", "llama-min.fxb", "odd"]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(out.contains("\\u{1b}[2Jevil"), "{out}");
}
