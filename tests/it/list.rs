//! `fxb list`: a bundle's entries as the reference lists them, and `--long` / `--json`,
//! which check the manifest against the archive (sizes, missing and unnamed files, exit 1).
//! It is how a user sees what a bundle holds without unpacking it, and the cheap integrity
//! check.

use std::fs;

use crate::common::{TestContext, read_reference, stdout, write_llama_min};

#[test]
fn list_matches_the_reference() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    ctx.copy_reference_bundle("llama-sampler.fxb", "llama-sampler.fxb");
    assert_eq!(
        stdout(&ctx.run(&["list", "llama-min.fxb"])),
        read_reference("list.txt")
    );
    assert_eq!(
        stdout(&ctx.run(&["list", "llama-sampler.fxb"])),
        read_reference("list-sampler.txt")
    );
}

#[test]
fn list_long_shows_sizes() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    insta::assert_snapshot!(ctx.snapshot(&["list", "--long", "b.fxb"]));
}

/// A named file that is missing, and a file nobody named: plain `list` shows the
/// manifest's view (as the reference does); `--long` flags both and exits 1.
#[test]
fn list_long_flags_missing_and_unnamed_files() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x"]).status.success());
    fs::remove_file(ctx.path("x/edfs/mid_tokenwise_tw1.edf")).expect("remove");
    fs::write(ctx.path("x/edfs/stray.bin"), b"stray").expect("write");
    let plain = ctx.run(&["list", "x"]);
    assert!(plain.status.success());
    assert!(stdout(&plain).contains("edfs/mid_tokenwise_tw1.edf"));
    assert!(!stdout(&plain).contains("stray"));
    insta::assert_snapshot!("long", ctx.snapshot(&["list", "-l", "x"]));
    insta::assert_snapshot!("json", ctx.snapshot(&["list", "--json", "x"]));
}
