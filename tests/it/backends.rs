//! `fxb backends ls` and `fxb backends verify`: which backends this machine has (linked,
//! or libraries on the path, broken ones named), and a runtime backend judging whether a
//! bundle would load. A user asks these before building or serving; a wrong answer sends
//! them to build or serve with the wrong compiler.

use std::fs;

use serde_json::Value;

use crate::common::{TestContext, native_backend, stderr, stdout};

#[test]
fn backends_ls_lists_the_linked_host_and_libraries_on_the_path() {
    let ctx = TestContext::new();
    // Without PATH, so what the furiosa backend finds does not depend on the machine
    // (tests/it/furiosa.rs shows its tools).
    fs::create_dir_all(ctx.path("empty")).expect("dir");
    let linked_only = ctx
        .command()
        .args(["backends", "ls"])
        .env("PATH", ctx.path("empty"))
        .output()
        .expect("run");
    assert_eq!(linked_only.status.code(), Some(0));
    let table: String = stdout(&linked_only)
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(table, @r"
    NAME     VERSION  REVISION       TARGET    ROLES             SOURCE
    host     0.1.0    host-layout-2  host-cpu  compiler,runtime  linked
    furiosa  -        -              rngd      compiler,runtime  linked
    ");
    let dir = ctx.path("backends");
    fs::create_dir_all(&dir).expect("dir");
    fs::copy(native_backend("testing"), dir.join("libtesting.so")).expect("copy");
    fs::write(dir.join("libbroken.so"), "not a library").expect("write");
    let listed = ctx
        .command()
        .args(["backends", "ls", "--json"])
        .env("FXB_BACKEND_PATH", &dir)
        .output()
        .expect("run");
    assert_eq!(
        listed.status.code(),
        Some(1),
        "a broken library is a finding"
    );
    let json: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let names: Vec<&str> = json["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["host", "furiosa", "testing"]);
    assert_eq!(json["problems"].as_array().map(Vec::len), Some(1));
    assert!(stderr(&listed).contains("libbroken.so"));
    // And by name, once it is on the path.
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let by_name = ctx
        .command()
        .args([
            "build",
            "./llama",
            "out",
            "-O",
            "O0",
            "--max-model-len",
            "1024",
        ])
        .args(["--backend", "testing", "--no-compiler-cache"])
        .env("FXB_BACKEND_PATH", &dir)
        .output()
        .expect("run");
    assert_eq!(by_name.status.code(), Some(0), "{}", stderr(&by_name));
}

/// Build a small Llama bundle and unpack it to `dir`, for editing.
fn built(ctx: &TestContext, dir: &str) {
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let out = ctx.run(&[
        "build",
        "./llama",
        "good",
        "--tokenwise-buckets",
        "1",
        "--attention-buckets",
        "(1,256,1)",
        "--no-compiler-cache",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ctx.run(&["unpack", "good.fxb", dir]);
}

fn edit_manifest(ctx: &TestContext, dir: &str, edit: impl Fn(&mut Value)) {
    let path = ctx.path(&format!("{dir}/manifest.json"));
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
    edit(&mut manifest);
    fs::write(&path, serde_json::to_vec_pretty(&manifest).expect("json")).expect("write");
}

#[test]
fn verify_accepts_a_good_bundle_and_names_what_would_not_load() {
    let ctx = TestContext::new();
    built(&ctx, "good");
    let good = ctx.run(&["backends", "verify", "good.fxb"]);
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));
    assert!(stdout(&good).starts_with("loadable: 5 entries checked"));
    // The reference's own bundle loads too.
    let reference = crate::common::reference("bundles/llama-sampler.fxb");
    assert_eq!(
        ctx.run(&["backends", "verify", &reference.to_string_lossy()])
            .status
            .code(),
        Some(0)
    );

    // A missing kernel: the attention kernel dropped from the manifest.
    built(&ctx, "no-attention");
    edit_manifest(&ctx, "no-attention", |m| {
        m["kernels"]
            .as_object_mut()
            .map(|k| k.remove("full_attention"));
    });
    let missing = ctx.run(&[
        "backends",
        "verify",
        "no-attention",
        "--require",
        "mid_tokenwise_moe",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    let text = stdout(&missing);
    assert!(
        text.contains("missing_kernel: …_attention: the bundle has no `…_attention` kernel"),
        "{text}"
    );
    assert!(
        text.contains("missing_kernel: mid_tokenwise_moe: the bundle has no `mid_tokenwise_moe` kernel, which this model needs"),
        "{text}"
    );
    assert!(text.ends_with("2 problem(s)\n"), "{text}");

    // A wrong signature: the manifest claims TP 4, whose lm head pads the vocabulary to
    // 128512 rows, not the 129024 the kernels were compiled with at TP 8.
    built(&ctx, "tp4");
    edit_manifest(&ctx, "tp4", |m| {
        m["parallel_config"]["tensor_parallel_size"] = 4.into()
    });
    let wrong = ctx.run(&["backends", "verify", "tp4", "--json"]);
    assert_eq!(wrong.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&wrong.stdout).expect("json");
    let problems = report["problems"].as_array().cloned().unwrap_or_default();
    let mismatched: Vec<String> = problems
        .iter()
        .map(|p| format!("{} {} {}", p["kind"], p["kernel"], p["bucket"]))
        .collect();
    assert_eq!(
        mismatched,
        [
            r#""signature_mismatch" "last_tokenwise_with_lm_head" "tw1""#,
            r#""signature_mismatch" "random_sample" "sampler1""#,
        ]
    );
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("0_1=128512:4096"),
        "{problems:?}"
    );

    // An unsupported tensor-parallel size.
    built(&ctx, "tp3");
    edit_manifest(&ctx, "tp3", |m| {
        m["parallel_config"]["tensor_parallel_size"] = 3.into()
    });
    let unsupported = ctx.run(&["backends", "verify", "tp3"]);
    assert_eq!(unsupported.status.code(), Some(1));
    assert!(
        stdout(&unsupported)
            .starts_with("unsupported_parallelism: tensor-parallel size 3 is not supported"),
        "{}",
        stdout(&unsupported)
    );

    // A missing kernel file is reported, not a crash.
    built(&ctx, "gone");
    fs::remove_file(ctx.path("gone/edfs/mid_tokenwise_tw1.edf")).expect("remove");
    let gone = ctx.run(&["backends", "verify", "gone"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stdout(&gone).contains("missing_file: mid_tokenwise (tw1):"),
        "{}",
        stdout(&gone)
    );
}
