//! Bad and hostile input: each gives a one-line error naming the file and the cause,
//! exit 2, and nothing written (checked through `unpack`, the command that writes).
//! Bundles come from elsewhere (a hub, a colleague, a half-finished download): none may
//! crash fxb, write outside its target or leave half a file.

use std::fs;
use std::os::unix::fs::symlink;

use crate::common::{RawEntry, TestContext, dir_listing, raw_zip, stderr, stdout, write_llama_min};

const MANIFEST: &str = include_str!("../fixtures/manifest-llama-min.json");

/// `show` fails with exit 2 and one `error:` line (plus an optional `hint:`); `unpack`
/// fails the same way and leaves the directory exactly as it was.
fn assert_refused(ctx: &TestContext, file: &str) -> String {
    let before = dir_listing(ctx.root());
    let output = ctx.run(&["show", file]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(lines.len(), 1, "{}", stderr(&output));
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(file),
        "{}",
        lines[0]
    );
    let unpacked = ctx.run(&["unpack", file, "out"]);
    assert_eq!(unpacked.status.code(), Some(2));
    assert_eq!(
        dir_listing(ctx.root()),
        before,
        "unpack left something behind"
    );
    ctx.format(&output)
}

fn zip_file(ctx: &TestContext, name: &str, entries: &[RawEntry]) {
    fs::write(ctx.path(name), raw_zip(entries)).expect("write");
}

#[test]
fn not_a_zip() {
    let ctx = TestContext::new();
    fs::write(ctx.path("notzip.fxb"), "this is text, not a bundle\n").expect("write");
    insta::assert_snapshot!(assert_refused(&ctx, "notzip.fxb"));
}

#[test]
fn an_empty_file() {
    let ctx = TestContext::new();
    fs::write(ctx.path("empty.fxb"), "").expect("write");
    insta::assert_snapshot!(assert_refused(&ctx, "empty.fxb"));
}

#[test]
fn a_missing_path() {
    let ctx = TestContext::new();
    insta::assert_snapshot!(ctx.snapshot(&["show", "nonexist"]));
}

#[test]
fn a_truncated_archive() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("full.fxb"));
    let bytes = fs::read(ctx.path("full.fxb")).expect("read");
    fs::write(ctx.path("cut.fxb"), &bytes[..bytes.len() / 2]).expect("write");
    fs::remove_file(ctx.path("full.fxb")).expect("rm");
    insta::assert_snapshot!(assert_refused(&ctx, "cut.fxb"));
}

#[test]
fn no_manifest() {
    let ctx = TestContext::new();
    zip_file(
        &ctx,
        "nomanifest.fxb",
        &[RawEntry::stored("edfs/x.edf", b"x")],
    );
    insta::assert_snapshot!(assert_refused(&ctx, "nomanifest.fxb"));
}

#[test]
fn a_directory_without_manifest() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("emptydir")).expect("dir");
    insta::assert_snapshot!(ctx.snapshot(&["show", "emptydir"]));
}

#[test]
fn a_manifest_with_wrong_types() {
    let ctx = TestContext::new();
    let manifest = MANIFEST.replace(
        "\"tensor_parallel_size\": 8",
        "\"tensor_parallel_size\": \"eight\"",
    );
    zip_file(
        &ctx,
        "types.fxb",
        &[RawEntry::stored("manifest.json", manifest.as_bytes())],
    );
    insta::assert_snapshot!(assert_refused(&ctx, "types.fxb"));
}

#[test]
fn a_manifest_missing_a_required_field() {
    let ctx = TestContext::new();
    zip_file(
        &ctx,
        "nokernels.fxb",
        &[RawEntry::stored(
            "manifest.json",
            br#"{"format_version": 2}"#,
        )],
    );
    insta::assert_snapshot!(assert_refused(&ctx, "nokernels.fxb"));
}

#[test]
fn a_manifest_that_is_not_json() {
    let ctx = TestContext::new();
    zip_file(
        &ctx,
        "garbage.fxb",
        &[RawEntry::stored("manifest.json", b"{not json")],
    );
    insta::assert_snapshot!(assert_refused(&ctx, "garbage.fxb"));
}

#[test]
fn an_unknown_future_format_names_both_versions() {
    let ctx = TestContext::new();
    let manifest = MANIFEST.replace("\"format_version\": 2", "\"format_version\": 3");
    zip_file(
        &ctx,
        "future.fxb",
        &[RawEntry::stored("manifest.json", manifest.as_bytes())],
    );
    let snapshot = assert_refused(&ctx, "future.fxb");
    assert!(snapshot.contains("format_version 3") && snapshot.contains("format_version 2"));
    insta::assert_snapshot!(snapshot);
}

#[test]
fn entry_names_that_escape_or_smuggle() {
    for (label, name) in [
        ("name_dotdot", &b"../evil.edf"[..]),
        ("name_nested_dotdot", b"edfs/../../evil.edf"),
        ("name_absolute", b"/tmp/evil.edf"),
        ("name_backslash", b"edfs\\..\\evil.edf"),
        ("name_nul", b"edfs/evil\0.edf"),
    ] {
        let ctx = TestContext::new();
        let entries = [
            RawEntry {
                name: name.to_vec(),
                data: b"x".to_vec(),
                method: 0,
                declared_size: None,
            },
            RawEntry::stored("manifest.json", MANIFEST.as_bytes()),
        ];
        zip_file(&ctx, "names.fxb", &entries);
        insta::assert_snapshot!(label, assert_refused(&ctx, "names.fxb"));
    }
}

/// A deflated manifest that claims to expand to 1 TiB is refused before a byte is
/// inflated; so is a stored entry whose declared size runs past the end of the file.
#[test]
fn declared_sizes_that_would_exhaust_memory() {
    let ctx = TestContext::new();
    let bomb = RawEntry {
        name: b"manifest.json".to_vec(),
        data: vec![0x03, 0x00], // an empty deflate stream
        method: 8,
        declared_size: Some(u64::from(u32::MAX)),
    };
    zip_file(&ctx, "bomb.fxb", &[bomb]);
    insta::assert_snapshot!("deflate_bomb", assert_refused(&ctx, "bomb.fxb"));

    let ctx = TestContext::new();
    let mut archive = raw_zip(&[RawEntry::stored("manifest.json", MANIFEST.as_bytes())]);
    // Patch the central directory's compressed and uncompressed sizes to 4 GiB - 1.
    let central = archive
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    archive[central + 20..central + 28].copy_from_slice(&[0xff; 8]);
    fs::write(ctx.path("liar.fxb"), archive).expect("write");
    insta::assert_snapshot!("stored_liar", assert_refused(&ctx, "liar.fxb"));
}

#[test]
fn duplicate_entries() {
    let ctx = TestContext::new();
    zip_file(
        &ctx,
        "dup.fxb",
        &[
            RawEntry::stored("manifest.json", MANIFEST.as_bytes()),
            RawEntry::stored("manifest.json", br#"{"format_version": 2, "kernels": {}}"#),
        ],
    );
    insta::assert_snapshot!(assert_refused(&ctx, "dup.fxb"));
}

#[test]
fn a_directory_where_a_file_is_expected() {
    let ctx = TestContext::new();
    zip_file(&ctx, "dir.fxb", &[RawEntry::stored("manifest.json/", b"")]);
    insta::assert_snapshot!(
        "manifest_is_a_directory_entry",
        assert_refused(&ctx, "dir.fxb")
    );

    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("x/manifest.json")).expect("dir");
    insta::assert_snapshot!("manifest_is_a_directory", ctx.snapshot(&["show", "x"]));

    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x"]).status.success());
    let edf = ctx.path("x/edfs/mid_tokenwise_tw1.edf");
    fs::remove_file(&edf).expect("rm");
    fs::create_dir(&edf).expect("dir");
    insta::assert_snapshot!(
        "kernel_file_is_a_directory",
        ctx.snapshot(&["inspect", "x"])
    );
}

#[test]
fn a_symlink_pointing_outside_an_extracted_directory() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x"]).status.success());
    fs::write(ctx.path("secret.edf"), b"outside").expect("write");
    let edf = ctx.path("x/edfs/mid_tokenwise_tw1.edf");
    fs::remove_file(&edf).expect("rm");
    symlink("../../secret.edf", &edf).expect("symlink");
    insta::assert_snapshot!(
        "escaping_kernel_symlink_inspect",
        ctx.snapshot(&["inspect", "x"])
    );
    insta::assert_snapshot!(
        "escaping_kernel_symlink_pack",
        ctx.snapshot(&["pack", "x", "out.fxb"])
    );
    assert!(!ctx.path("out.fxb").exists());

    // The manifest itself as an escaping symlink.
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("y")).expect("dir");
    fs::write(ctx.path("manifest.json"), MANIFEST).expect("write");
    symlink("../manifest.json", ctx.path("y/manifest.json")).expect("symlink");
    insta::assert_snapshot!("escaping_manifest_symlink", ctx.snapshot(&["show", "y"]));
}

/// A symlink that stays inside the directory is fine.
#[test]
fn a_symlink_inside_an_extracted_directory_is_followed() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    assert!(ctx.run(&["unpack", "b.fxb", "x"]).status.success());
    fs::rename(
        ctx.path("x/edfs/mid_tokenwise_tw1.edf"),
        ctx.path("x/mid.edf"),
    )
    .expect("mv");
    symlink("../mid.edf", ctx.path("x/edfs/mid_tokenwise_tw1.edf")).expect("symlink");
    let output = ctx.run(&["inspect", "x"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Runs fxb with a watchdog: a command that has not ended after `guard` is killed and
/// the test fails (a guard, ≥ 30× the expected time, not a timing assertion).
fn run_guarded(
    ctx: &TestContext,
    args: &[&str],
    guard: std::time::Duration,
) -> std::process::Output {
    let mut child = ctx
        .command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fxb starts");
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`fxb {}` still ran after {guard:?}", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A named pipe at `path`: reading it blocks until a writer comes, which none will.
fn mkfifo(path: &std::path::Path) {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Issue 13: a FIFO as config.json hung every model-directory command, `/dev/zero`
/// behind config.json read until memory ran out, and a huge config cost ~48× its size.
/// Each is refused now, naming the file and why.
#[test]
fn config_json_that_is_not_a_small_regular_file_is_refused() {
    let ctx = TestContext::new();
    let guard = std::time::Duration::from_secs(30);
    type Make<'a> = &'a dyn Fn(&std::path::Path);
    let cases: [(&str, Make); 3] = [
        ("fifo", &|config| mkfifo(config)),
        ("zero", &|config| {
            symlink("/dev/zero", config).expect("symlink")
        }),
        ("huge", &|config| {
            let file = fs::File::create(config).expect("create");
            file.set_len(17 << 20).expect("sparse 17 MiB");
        }),
    ];
    for (name, make) in cases {
        fs::create_dir_all(ctx.path(name)).expect("model dir");
        make(&ctx.path(name).join("config.json"));
        let dir = format!("./{name}");
        for args in [
            vec!["fingerprint", dir.as_str()],
            vec!["check", dir.as_str()],
            vec!["build", dir.as_str(), "out.fxb", "--dry-run"],
        ] {
            let output = run_guarded(&ctx, &args, guard);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{name} {args:?}: {}",
                stderr(&output)
            );
            let err = stderr(&output);
            let expected = if name == "huge" {
                "is larger than 16777216 bytes"
            } else {
                "is not a regular file"
            };
            assert!(
                err.contains(expected) && err.contains("config.json"),
                "{name} {args:?}: {err}"
            );
        }
    }
}

/// Issue 13: a FIFO as `model.safetensors` hung `check --deep`.
#[test]
fn check_deep_refuses_a_fifo_for_weights() {
    let ctx = TestContext::new();
    let dir = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    mkfifo(&ctx.path("llama").join("model.safetensors"));
    let output = run_guarded(
        &ctx,
        &["check", &format!("./{dir}"), "--deep"],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not a regular file"),
        "{}",
        stderr(&output)
    );
}

/// Issue 13: a damaged archive was called "truncated" (and the hint said to fetch it
/// again because it was cut short) whatever the damage. A whole-length file whose
/// central directory is damaged is "corrupt"; a cut one stays "truncated".
#[test]
fn a_damaged_archive_is_corrupt_not_truncated() {
    let ctx = TestContext::new();
    let bundle = ctx.copy_reference_bundle("llama-min.fxb", "damaged.fxb");
    let mut bytes = fs::read(&bundle).expect("read");
    // The second central-directory header's signature: the file keeps its length.
    let central: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect();
    let second = *central.get(1).expect("two central headers");
    bytes[second + 2] = 0x09;
    fs::write(&bundle, bytes).expect("write");
    let output = ctx.run(&["show", "damaged.fxb"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("is a corrupt zip archive"), "{err}");
    assert!(!err.contains("truncated"), "{err}");
}

/// Issue 13: a safetensors header is bounded as the format bounds it (100,000,000 bytes):
/// a file claiming more is refused before anything is read, naming the claim.
#[test]
fn check_deep_refuses_a_header_larger_than_the_format_allows() {
    let ctx = TestContext::new();
    let dir = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let mut bytes = 150_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    fs::write(ctx.path("llama/model.safetensors"), bytes).expect("write");
    let output = ctx.run(&["check", &format!("./{dir}"), "--deep"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("a 150000000-byte header"),
        "{}",
        stderr(&output)
    );
}

/// Issue 13: `fingerprint` and `build` took objects, lists, fractions and negative numbers
/// as layer and head counts and fingerprinted them; each is refused now, naming the field.
#[test]
fn counts_that_are_not_positive_integers_are_refused() {
    let ctx = TestContext::new();
    let base = crate::common::fixture_config("meta-llama--Llama-3.1-8B-Instruct.json");
    let cases = [
        ("num_hidden_layers", serde_json::json!(-32)),
        ("num_key_value_heads", serde_json::json!({"n": 8})),
        ("head_dim", serde_json::json!([128])),
        ("num_hidden_layers", serde_json::json!(2.5)),
    ];
    for (i, (field, value)) in cases.into_iter().enumerate() {
        let mut config = base.clone();
        config[field] = value.clone();
        let dir = ctx.model_dir_with(&format!("m{i}"), &config);
        for args in [
            vec!["fingerprint", dir.as_str()],
            vec!["build", dir.as_str(), "out.fxb", "--dry-run"],
        ] {
            let output = ctx.run(&args);
            let err = stderr(&output);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{field}={value} {args:?}: {err}"
            );
            assert!(
                err.contains(&format!("`{field}` must be a positive integer")),
                "{field}={value} {args:?}: {err}"
            );
        }
    }
}

/// Issue 13: `unpack` wrote whatever the entries held until the disk was full. The
/// central directory's sizes are what it writes, so it refuses up front a bundle its
/// target's file system cannot hold, and leaves nothing behind.
#[test]
fn unpack_refuses_a_bundle_larger_than_the_free_space() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("small")).expect("dir");
    let bundle = crate::common::reference("bundles/llama-min.fxb");
    // A 1 MiB file system of this test's own, in a private mount namespace.
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs small || exit 97; '{{fxb}}' unpack '{bundle}' small/out; status=$?; ls -A small; exit $status",
        bundle = bundle.display(),
    );
    let Some(output) = crate::common::in_mount_namespace(&ctx, &script) else {
        eprintln!("skipped: this machine allows no private tmpfs mount (unshare -m)");
        return;
    };
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1048576 bytes free, too few for the 1888287 bytes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "", "nothing left in the small file system");
}

/// Issue 13: `check --deep` ignored unknown dtypes and data offsets past the end of the
/// file. Each is refused now, naming the tensor and what is wrong.
#[test]
fn check_deep_refuses_unknown_dtypes_and_offsets_outside_the_file() {
    let ctx = TestContext::new();
    let dir = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let cases = [
        (
            serde_json::json!({"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 4]}}),
            "has dtype `Q9`, which safetensors does not define",
        ),
        (
            serde_json::json!({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8000]}}),
            "claims bytes 0..8000 of 8 bytes of data",
        ),
        (
            serde_json::json!({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}),
            "holds 8 bytes, but F32 [3] takes 12",
        ),
        (
            serde_json::json!({"w": {"dtype": "F32", "shape": [u64::MAX, 4], "data_offsets": [0, 8]}}),
            "holds 8 bytes",
        ),
        (
            serde_json::json!({"w": {"dtype": "F32", "shape": [2]}}),
            "has no data_offsets",
        ),
    ];
    for (header, expected) in cases {
        let text = header.to_string();
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend(text.as_bytes());
        bytes.extend([0u8; 8]);
        fs::write(ctx.path("llama/model.safetensors"), bytes).expect("write");
        let output = ctx.run(&["check", &format!("./{dir}"), "--deep"]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{header}: {err}");
        assert!(
            err.contains("tensor `w`") && err.contains(expected),
            "{header}: {err}"
        );
    }
}
