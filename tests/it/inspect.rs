//! `fxb inspect`: every kernel's tensor signatures, byte for byte the reference's output on
//! its own bundles and on bundles fxb writes (archive or directory), the `--kernel` and
//! `--bucket` filters, `--json`, and failures (a missing or corrupt kernel file fails the
//! whole command, a closed pipe is not an error). The signatures are what a runtime binds
//! to, so this output is what users hold against the reference's.

use std::fs;

use crate::common::{TestContext, read_reference, stderr, stdout, write_llama_min};

#[test]
fn inspect_matches_the_reference_byte_for_byte() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-min.fxb", "llama-min.fxb");
    ctx.copy_reference_bundle("llama-sampler.fxb", "llama-sampler.fxb");
    let output = ctx.run(&["inspect", "llama-min.fxb"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), read_reference("inspect.txt"));
    assert_eq!(
        stdout(&ctx.run(&["inspect", "llama-sampler.fxb"])),
        read_reference("inspect-sampler.txt")
    );
}

#[test]
fn inspect_of_a_bundle_written_by_fxb_and_of_its_directory_match_the_reference() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert_eq!(
        stdout(&ctx.run(&["inspect", "b.fxb"])),
        read_reference("inspect.txt")
    );
    assert!(ctx.run(&["unpack", "b.fxb", "dir"]).status.success());
    assert_eq!(
        stdout(&ctx.run(&["inspect", "dir"])),
        read_reference("inspect.txt")
    );
}

#[test]
fn inspect_filters_by_kernel_and_bucket() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-sampler.fxb", "s.fxb");
    insta::assert_snapshot!(
        "random_sample",
        ctx.snapshot(&["inspect", "s.fxb", "--kernel", "random_sample"])
    );
    let by_bucket = ctx.run(&["inspect", "s.fxb", "--bucket", "b1_a256_kv255"]);
    assert!(stdout(&by_bucket).starts_with("full_attention (b1_a256_kv255):\n"));
    assert_eq!(stdout(&by_bucket).matches("):\n").count(), 1);
    insta::assert_snapshot!(
        "unknown_kernel",
        ctx.snapshot(&["inspect", "s.fxb", "--kernel", "nope"])
    );
    insta::assert_snapshot!(
        "unknown_bucket",
        ctx.snapshot(&["inspect", "s.fxb", "--bucket", "tw99"])
    );
}

#[test]
fn inspect_json() {
    let ctx = TestContext::new();
    ctx.copy_reference_bundle("llama-sampler.fxb", "s.fxb");
    insta::assert_snapshot!(ctx.snapshot(&[
        "inspect",
        "s.fxb",
        "--kernel",
        "random_sample",
        "--json"
    ]));
}

/// A missing kernel file aborts with nothing on stdout, as the reference does.
#[test]
fn inspect_fails_whole_on_a_missing_kernel_file() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x5"]).status.success());
    fs::remove_file(ctx.path("x5/edfs/mid_tokenwise_tw1.edf")).expect("remove");
    let output = ctx.run(&["inspect", "x5"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    insta::assert_snapshot!(ctx.format(&output));
}

#[test]
fn inspect_reports_a_corrupt_kernel_file() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x"]).status.success());
    fs::write(
        ctx.path("x/edfs/full_attention_b1_a256_kv255.edf"),
        b"\x10\0\0\0\0\0\0\0garbage",
    )
    .expect("write");
    let output = ctx.run(&["inspect", "x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("full_attention_b1_a256_kv255.edf"),
        "{}",
        stderr(&output)
    );
    insta::assert_snapshot!(ctx.format(&output));
}

/// `fxb inspect big | head -1` ends quietly with exit 0.
#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    let ctx = TestContext::new();
    let mut manifest = crate::common::reference_manifest();
    let template = manifest.kernels["first_tokenwise"][0].clone();
    let entries = (1..=2000u64)
        .map(|n| fxb::bundle::KernelEntry {
            bucket: fxb::bundle::BucketKey::Tokenwise { input_size: n },
            file: format!("edfs/first_tokenwise_tw{n}.edf"),
            ..template.clone()
        })
        .collect();
    manifest.kernels.insert("first_tokenwise".into(), entries);
    let signatures = crate::common::reference_signatures("llama-min.fxb");
    crate::common::write_bundle(&ctx.path("big.fxb"), &manifest, &|_| {
        signatures[0].1.clone()
    });
    let mut child = ctx
        .command()
        .args(["inspect", "big.fxb"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}
