//! The `furiosa` backend (issue 16): it finds the vendor toolchain the user installed or
//! says what to install, maps a model to the vendor's registry before compiling, generates
//! TC in one Python process, runs one `furiosa-tcc` per entry (killed on Ctrl-C), and
//! writes the reference's manifest versions.
//!
//! Most tests drive it with stand-ins: a stub `furiosa-tcc` (VENDOR-TOOLCHAIN.md: answers
//! `--version` like the real one, reads the TC, copies a real EDF to `--output`) and a
//! stand-in `furiosa.kernels` package whose entry functions echo their arguments — so
//! they need nothing of the vendor's. The last test uses the real packages, which
//! `scripts/vendor-env` installs under `target/` (`.ci/run` runs it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{TestContext, reference, required_env, stderr, stdout, vendor_free_path};

const STUB_TCC: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then
  echo "tcc v2026.4.0 (b1baffa75), furiosa-compiler 2026.4.0 (ae27d44cd8)"
  exit 0
fi
log="$STUB_LOG"
echo "$$" > "$log/pid-$$"
echo "RUST_MIN_STACK=$RUST_MIN_STACK $*" >> "$log/calls"
cat > "$log/stdin-$$"
out=""
while [ $# -gt 0 ]; do [ "$1" = "--output" ] && out="$2"; shift; done
if [ -n "$STUB_TCC_SLEEP" ]; then sleep "$STUB_TCC_SLEEP"; fi
if [ -n "$STUB_TCC_FAIL" ]; then
  echo "lowering einsum 'qkv_proj'" >&2
  echo "error: tactic search failed" >&2
  exit 3
fi
cp "$STUB_EDF" "$out"
"#;

/// A stand-in `furiosa.kernels` module: entry functions return their arguments as the
/// "TC". `ENTRIES` is replaced by the registry entry and `KERNELS` by its kernels.
const FAKE_MODULE: &str = r##"
import json, os
with open(os.path.join(os.environ["STUB_LOG"], "python-%d" % os.getpid()), "w") as f:
    f.write("imported")

class Kernel:
    def __init__(self, dsl):
        self.dsl = dsl

def _entry(kernel):
    def generate(hf_config_overrides, **arguments):
        if "hidden_size" not in hf_config_overrides:
            raise KeyError("no hidden_size")
        return Kernel("# %s %s\n" % (kernel, json.dumps(arguments, sort_keys=True)))
    return generate

for _k in KERNELS:
    globals()["ENTRY_" + _k] = _entry(_k)
"##;

fn fake_module(entry: &str, kernels: &[&str]) -> String {
    FAKE_MODULE
        .replace("KERNELS", &format!("{kernels:?}"))
        .replace("ENTRY", entry)
}

/// Stand-ins for the toolchain under `ctx`'s `vendor/`; returns the `bin` directory.
fn stand_ins(ctx: &TestContext) -> PathBuf {
    let vendor = ctx.path("vendor");
    let bin = vendor.join("bin");
    let kernels = vendor.join("site/furiosa/kernels");
    let dist = vendor.join("site/furiosa_kernels-2026.4.0.dist-info");
    for dir in [&bin, &kernels, &dist, &vendor.join("log")] {
        fs::create_dir_all(dir).expect("dir");
    }
    fs::write(kernels.join("__init__.py"), "").expect("write");
    let llama = fake_module(
        "llama3_1_8b_w16a16",
        &[
            "first_tokenwise",
            "mid_tokenwise",
            "last_tokenwise_with_lm_head",
            "full_attention",
        ],
    );
    fs::write(kernels.join("llama.py"), llama).expect("write");
    let gpt_oss = fake_module(
        "gpt_oss_120b_w4fa16kv16",
        &[
            "first_tokenwise",
            "mid_tokenwise_moe",
            "last_tokenwise_moe_with_lm_head",
            "full_attention",
            "sliding_window_attention",
            "random_sample",
        ],
    );
    fs::write(kernels.join("gpt_oss.py"), gpt_oss).expect("write");
    fs::write(
        dist.join("METADATA"),
        "Metadata-Version: 2.1\nName: furiosa-kernels\nVersion: 2026.4.0\n",
    )
    .expect("write");
    executable(&bin.join("furiosa-tcc"), STUB_TCC);
    executable(&bin.join("aarch64-linux-gnu-gcc"), "#!/bin/sh\nexit 0\n");
    let unpacked = ctx.path("vendor/reference");
    let out = ctx.run(&[
        "unpack",
        &reference("bundles/llama-min.fxb").to_string_lossy(),
        &unpacked.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    bin
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The environment the stand-ins need: first on PATH, their logs, the EDF the stub copies.
fn stand_in_env(ctx: &TestContext, bin: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut path = std::ffi::OsString::from(bin);
    path.push(":");
    path.push(vendor_free_path());
    vec![
        ("PATH", path),
        ("STUB_LOG", ctx.path("vendor/log").into()),
        (
            "STUB_EDF",
            ctx.path("vendor/reference/edfs/first_tokenwise_tw1.edf")
                .into(),
        ),
    ]
}

/// `fxb` with the stand-ins first on PATH (and the stand-in `furiosa.kernels`).
fn with_stand_ins(ctx: &TestContext, bin: &Path) -> Command {
    let mut cmd = ctx.command();
    cmd.envs(stand_in_env(ctx, bin))
        .env("PYTHONPATH", ctx.path("vendor/site"));
    cmd
}

/// The llama-min plan's options (VENDOR-TOOLCHAIN.md).
const LLAMA_MIN: &[&str] = &[
    "-O",
    "O0",
    "--max-model-len",
    "256",
    "--tokenwise-buckets",
    "1",
    "--attention-buckets",
    "(1,256,1)",
    "--no-enable-sampler",
    "--skip-bucket-validation",
];

fn build(cmd: &mut Command, model: &str, extra: &[&str]) -> Output {
    cmd.args(["build", model, "out", "--backend", "furiosa"])
        .args(LLAMA_MIN)
        .args(extra)
        .output()
        .expect("fxb runs")
}

fn log_files(ctx: &TestContext, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ctx.path("vendor/log"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn backends_ls_says_what_is_missing_and_how_to_install_it() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("empty")).expect("dir");
    let out = ctx
        .command()
        .args(["backends", "ls"])
        .env("PATH", ctx.path("empty"))
        .output()
        .expect("run");
    insta::assert_snapshot!(ctx.format(&out), @r"
    exit: 0
    ----- stdout -----
    NAME     VERSION  REVISION       TARGET    ROLES             SOURCE
    host     0.1.0    host-layout-2  host-cpu  compiler,runtime  linked
    furiosa  -        -              rngd      compiler,runtime  linked

    furiosa: vendor toolchain not installed (3 of 3 tools missing)
      furiosa-kernels        missing: `python3` is not on PATH
                             fix: install Python 3.10 or newer, or point FXB_FURIOSA_PYTHON at one
      furiosa-tcc            missing: `furiosa-tcc` is not on PATH
                             fix: pip install furiosa-tcc==2026.4.0, or point FXB_FURIOSA_TCC at it
      aarch64-linux-gnu-gcc  missing: `aarch64-linux-gnu-gcc` (furiosa-tcc runs it) is not on PATH
                             fix: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    ----- stderr -----
    ");
    // A build is refused before any work, with every missing piece and one install line.
    let model = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let refused = build(
        ctx.command().env("PATH", ctx.path("empty")),
        &format!("./{model}"),
        &[],
    );
    insta::assert_snapshot!(ctx.format(&refused), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: backend `furiosa` cannot build this: the furiosa toolchain is not installed: `python3` is not on PATH; `furiosa-tcc` is not on PATH; `aarch64-linux-gnu-gcc` (furiosa-tcc runs it) is not on PATH
    hint: pip install furiosa-kernels==2026.4.0 furiosa-tcc==2026.4.0 typing-extensions (into the Python fxb uses: FXB_FURIOSA_PYTHON, else python3 on PATH); apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    ");
    assert!(!ctx.path("out.fxb").exists());
}

#[test]
fn a_build_generates_tc_in_one_python_and_runs_one_tcc_per_entry() {
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let model = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let listed = with_stand_ins(&ctx, &bin)
        .args(["backends", "ls", "--json"])
        .output()
        .expect("run");
    let json: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let furiosa = &json["backends"][1];
    assert_eq!(furiosa["name"], "furiosa");
    assert_eq!(furiosa["version"], "2026.4.0");
    assert_eq!(furiosa["revision"], "ae27d44cd8");
    assert!(
        furiosa["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|t| t.get("problem").is_none()),
        "{furiosa}"
    );

    let out = build(
        &mut with_stand_ins(&ctx, &bin),
        &format!("./{model}"),
        &["--dump-tc", "tc", "--concurrency", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One Python for the whole build, one tcc per entry, each as the reference runs it.
    assert_eq!(log_files(&ctx, "python-").len(), 1);
    let calls = fs::read_to_string(ctx.path("vendor/log/calls")).expect("calls");
    let mut calls: Vec<String> = calls
        .lines()
        .map(|l| {
            let staged = l
                .split(" --output ")
                .nth(1)
                .and_then(|r| r.split(' ').next());
            let cache = ctx.path("home/.cache/fxb/compiler/furiosa-tcc");
            l.replace(staged.unwrap_or("?"), "[OUT]")
                .replace(&cache.to_string_lossy().into_owned(), "[CACHE]")
        })
        .collect();
    calls.sort();
    insta::assert_snapshot!(calls.join("\n"), @r"
    RUST_MIN_STACK=16777216 --stdin --target-npu renegade-8pe --output [OUT] --cache-root [CACHE]
    RUST_MIN_STACK=16777216 --stdin --target-npu renegade-8pe --output [OUT] --cache-root [CACHE]
    RUST_MIN_STACK=16777216 --stdin --target-npu renegade-8pe --output [OUT] --cache-root [CACHE]
    RUST_MIN_STACK=16777216 --stdin --target-npu renegade-8pe --output [OUT] --cache-root [CACHE]
    ");
    // The TC is the registry entry function's, called with the bucket's arguments; the
    // dump carries the reference's header, the compiler gets the TC alone.
    let mut sent: Vec<String> = log_files(&ctx, "stdin-")
        .iter()
        .map(|n| fs::read_to_string(ctx.path(&format!("vendor/log/{n}"))).expect("read"))
        .collect();
    sent.sort();
    insta::assert_snapshot!(sent.concat(), @r#"
    # first_tokenwise {"num_kv_cache_blocks": 8192, "num_tokens": 1}
    # full_attention {"attention_size": 256, "batch_size": 1, "input_ids_size": 1, "num_kv_cache_blocks": 8192}
    # last_tokenwise_with_lm_head {"num_tokens": 1}
    # mid_tokenwise {"num_kv_cache_blocks": 8192, "num_tokens": 1}
    "#);
    let dumped = fs::read_to_string(ctx.path("tc/full_attention__b1_a256_kv255.tc")).expect("tc");
    insta::assert_snapshot!(dumped, @r#"
    # kernel_type: full_attention
    # bucket_key: b1_a256_kv255

    # full_attention {"attention_size": 256, "batch_size": 1, "input_ids_size": 1, "num_kv_cache_blocks": 8192}
    "#);
    let mut names: Vec<String> = fs::read_dir(ctx.path("tc"))
        .expect("tc dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "first_tokenwise__tw1.tc",
            "full_attention__b1_a256_kv255.tc",
            "last_tokenwise_with_lm_head__tw1.tc",
            "mid_tokenwise__tw1.tc"
        ]
    );
    // The manifest records the compiler and furiosa-llm as the reference does.
    let shown = ctx.run(&["show", "out.fxb", "--json"]);
    let json: Value = serde_json::from_slice(&shown.stdout).expect("json");
    let versions: Vec<&Value> = json["versions"].as_array().into_iter().flatten().collect();
    assert_eq!(
        versions[..2],
        [
            &serde_json::json!({"tool": "furiosa_compiler", "version": "2026.4.0", "revision": "ae27d44cd8"}),
            &serde_json::json!({"tool": "furiosa_llm", "version": "2026.4.0", "revision": "b1baffa75"}),
        ],
        "{json}"
    );
    // A rebuild takes every kernel from fxb's compiler cache: no tcc runs.
    let again = with_stand_ins(&ctx, &bin)
        .args([
            "build",
            &format!("./{model}"),
            "again",
            "--backend",
            "furiosa",
        ])
        .args(LLAMA_MIN)
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("0 compiled, 4 from the compiler cache"),
        "{}",
        stderr(&again)
    );
    assert_eq!(log_files(&ctx, "pid-").len(), 4);
}

#[test]
fn what_cannot_be_built_is_refused_before_compiling() {
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let llama = format!(
        "./{}",
        ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json")
    );
    // A fixture model the vendor package has no entry for (nor has the reference).
    let unmapped = format!("./{}", ctx.model_dir("qwen3-8b", "Qwen--Qwen3-8B.json"));
    let run = |model: &str, extra: &[&str]| {
        let out = build(&mut with_stand_ins(&ctx, &bin), model, extra);
        ctx.format(&out)
    };
    insta::assert_snapshot!(run(&unmapped, &["-tp", "8"]), @"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: no bucket preset in the rule files matches this model: using a generic one (4 prefill sizes up to 1024, decode up to 40960, TP 8); add a preset to the architecture's rule file for production builds
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: backend `furiosa` cannot build this: no furiosa registry entry for architecture=Qwen3ForCausalLM, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32, quant_method=-
    hint: the mapped models are llama3_1_8b_w16a16, llama3_1_8b_w8fa8fdkv16, qwen3_8b_w8fa8fdkv16, qwen3_32b_w8fa8fdkv16, gpt_oss_20b_w4fa16kv16, gpt_oss_120b_w4fa16kv16, bge_reranker_v2_m3_w16a16; a new one is an `[[entry]]` in rules/furiosa/registry.toml
    ");
    insta::assert_snapshot!(run(&llama, &["-tp", "32"]), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: backend `furiosa` cannot build this: registry entry `llama3_1_8b_w16a16` generates kernels for 1 chip(s); tensor-parallel size 32 compiles for `renegade-8pe-4chip` (4 chip(s))
    hint: use -tp 8
    ");
    insta::assert_snapshot!(run(&llama, &["-tp", "4"]), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: backend `furiosa` does not compile for tensor-parallel size 4
    hint: pass -tp with one of 8, 16, 32
    ");
    insta::assert_snapshot!(run(&llama, &["--only", "first_tokenwise@tw2"]), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: --only first_tokenwise@tw2 selects nothing in the plan
    hint: the plan's entries: first_tokenwise@tw1, mid_tokenwise@tw1, last_tokenwise_with_lm_head@tw1, full_attention@b1_a256_kv255
    ");
    insta::assert_snapshot!(run(&llama, &["--enable-collective-dq"]), @"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: backend `furiosa` cannot build this: --enable-collective-dq is not supported by registry entry `llama3_1_8b_w16a16` (architecture=LlamaForCausalLM, hidden_size=4096, intermediate_size=14336)
    hint: build without it; the entries whose kernels take it: gpt_oss_120b_w4fa16kv16
    ");
    // `--dry-run` prints the plan and then refuses as the build would (issue 16), for
    // each refusal above; a model the backend takes passes.
    let dry_run = |model: &str, extra: &[&str]| {
        let mut args = vec!["--dry-run"];
        args.extend(extra);
        build(&mut with_stand_ins(&ctx, &bin), model, &args)
    };
    // (A tensor-parallel size the backend never compiles for is refused before planning.)
    for (model, extra, plans) in [
        (&unmapped, &["-tp", "8"][..], true),
        (&llama, &["-tp", "32"][..], true),
        (&llama, &["-tp", "4"][..], false),
        (&llama, &["--only", "first_tokenwise@tw2"][..], true),
        (&llama, &["--enable-collective-dq"][..], true),
    ] {
        let planned = dry_run(model, extra);
        assert_eq!(
            planned.status.code(),
            Some(2),
            "{extra:?}: {}",
            stderr(&planned)
        );
        assert_eq!(
            stdout(&planned).contains("── Buckets"),
            plans,
            "{extra:?}: the plan is shown: {}",
            stdout(&planned)
        );
        let refusal = run(model, extra);
        let last_error = |text: &str| {
            text.lines()
                .skip_while(|l| !l.starts_with("error:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            last_error(&stderr(&planned)),
            last_error(&refusal),
            "{extra:?}: the build's own refusal"
        );
    }
    let planned = dry_run(&llama, &[]);
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    assert!(
        !ctx.path("vendor/log/calls").exists(),
        "no compiler ran for a refused build"
    );
    // A failing compile names the kernel, the bucket and the tail of tcc's stderr.
    let failed = with_stand_ins(&ctx, &bin)
        .env("STUB_TCC_FAIL", "1")
        .args(["build", &llama, "out", "--backend", "furiosa"])
        .args(LLAMA_MIN)
        .args(["--only", "mid_tokenwise", "--no-compiler-cache"])
        .output()
        .expect("run");
    insta::assert_snapshot!(ctx.format(&failed), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving
    error: compiling mid_tokenwise (tw1) failed: furiosa-tcc --target-npu renegade-8pe exited with 3: lowering einsum 'qkv_proj' | error: tactic search failed
    hint: --no-fast-fail builds the remaining kernels and reports every failure; --build-report shows each kernel
    ");
    assert!(!ctx.path("out.fxb").exists());
}

/// The gpt-oss-120b plan the collective-dq tests build: TP 32, the MoE kernels at 1 and
/// 512 tokens.
const GPT_OSS_120B_DQ: &[&str] = &[
    "-O",
    "O0",
    "-tp",
    "32",
    "--max-model-len",
    "4096",
    "--tokenwise-buckets",
    "1,512",
    "--attention-buckets",
    "(1,4096,1)",
    "--skip-bucket-validation",
    "--no-enable-sampler",
];

#[test]
fn collective_dq_reaches_the_entry_functions_that_take_it() {
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let model = format!(
        "./{}",
        ctx.model_dir("gpt-oss-120b", "openai--gpt-oss-120b.json")
    );
    let out = with_stand_ins(&ctx, &bin)
        .args(["build", &model, "out", "--backend", "furiosa"])
        .args(GPT_OSS_120B_DQ)
        .args(["--enable-collective-dq", "--dump-tc", "tc"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tc = |file: &str| fs::read_to_string(ctx.path(&format!("tc/{file}.tc"))).expect("tc");
    // `apply_collective_dq=True` for the MoE kernels at the token counts the reference
    // passes it for, nothing for the others.
    insta::assert_snapshot!(
        ["mid_tokenwise_moe__tw512", "last_tokenwise_moe_with_lm_head__tw512", "mid_tokenwise_moe__tw1", "first_tokenwise__tw512"]
            .map(|f| tc(f).lines().last().unwrap_or_default().to_string())
            .join("\n"),
        @r#"
    # mid_tokenwise_moe {"apply_collective_dq": true, "num_kv_cache_blocks": 8192, "num_tokens": 512}
    # last_tokenwise_moe_with_lm_head {"apply_collective_dq": true, "num_tokens": 512}
    # mid_tokenwise_moe {"num_kv_cache_blocks": 8192, "num_tokens": 1}
    # first_tokenwise {"num_kv_cache_blocks": 8192, "num_tokens": 512}
    "#
    );
    let calls = fs::read_to_string(ctx.path("vendor/log/calls")).expect("calls");
    assert!(
        calls
            .lines()
            .all(|l| l.contains("--target-npu renegade-8pe-4chip")),
        "{calls}"
    );
    // A rebuild without it is not served from the kernels compiled with it.
    let plain = with_stand_ins(&ctx, &bin)
        .args(["build", &model, "plain", "--backend", "furiosa"])
        .args(GPT_OSS_120B_DQ)
        .output()
        .expect("run");
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("8 compiled, 0 from the compiler cache"),
        "{}",
        stderr(&plain)
    );
}

#[test]
fn check_measures_bundles_against_the_installed_compiler_and_says_so() {
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let model = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let add = ctx.run(&["add", &reference("bundles/llama-min.fxb").to_string_lossy()]);
    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    let checked = with_stand_ins(&ctx, &bin)
        .args(["check", &format!("./{model}")])
        .output()
        .expect("run");
    let err = stderr(&checked);
    assert!(
        err.contains("runtime compiler revision ae27d44cd8, reported by backend `furiosa`"),
        "{err}"
    );
    assert!(stdout(&checked).contains("— match"), "{}", stdout(&checked));
    // As a runtime it judges whether a bundle would load.
    let verified = with_stand_ins(&ctx, &bin)
        .args(["backends", "verify", "--backend", "furiosa"])
        .arg(reference("bundles/llama-min.fxb"))
        .output()
        .expect("run");
    assert_eq!(verified.status.code(), Some(0), "{}", stdout(&verified));
    assert!(
        stdout(&verified)
            .starts_with("loadable: 4 entries checked on backend furiosa 2026.4.0 (ae27d44cd8)"),
        "{}",
        stdout(&verified)
    );
    // Named but not installed, it says what is missing instead of a revision.
    fs::create_dir_all(ctx.path("empty")).expect("dir");
    let missing = ctx
        .command()
        .args([
            "check",
            &format!("./{model}"),
            "--runtime-backend",
            "furiosa",
        ])
        .env("PATH", ctx.path("empty"))
        .output()
        .expect("run");
    assert!(
        stderr(&missing).contains(
            "no furiosa compiler: `furiosa-tcc` is not on PATH: match/stale is not shown"
        ),
        "{}",
        stderr(&missing)
    );
    // Without the toolchain, check is as it always was: no revision, no match/stale.
    let plain = ctx.run(&["check", &format!("./{model}")]);
    assert!(!stdout(&plain).contains("— match"));
    assert!(stderr(&plain).contains("match/stale is not shown"));
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn ctrl_c_kills_the_compilers_and_writes_nothing() {
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let model = format!(
        "./{}",
        ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json")
    );
    let child = with_stand_ins(&ctx, &bin)
        .env("STUB_TCC_SLEEP", "600")
        .args(["build", &model, "out", "--backend", "furiosa"])
        .args(LLAMA_MIN)
        .args(["--concurrency", "2", "--no-compiler-cache"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let pids = loop {
        let pids: Vec<u32> = log_files(&ctx, "pid-")
            .iter()
            .filter_map(|n| n.strip_prefix("pid-")?.parse().ok())
            .collect();
        if pids.len() == 2 {
            break pids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the compilers did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the build was cancelled"));
    let alive: Vec<u32> = pids.iter().copied().filter(|&p| !gone(p)).collect();
    for pid in &alive {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(alive.is_empty(), "tcc survived: {alive:?}");
    assert!(!ctx.path("out.fxb").exists());
}

/// The vendor's environment `scripts/vendor-env` made, if any.
fn vendor_env() -> Option<PathBuf> {
    let env = std::env::var_os("FXB_VENDOR_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vendor-env"));
    env.join("bin/furiosa-tcc").exists().then_some(env)
}

/// With the real packages: fxb's TC for the four llama-min kernels is what the reference
/// sends the compiler (sha256 and size in `tc-sha256.json`), and one real kernel compiled
/// by fxb is identical to the reference bundle's. Needs `scripts/vendor-env`; `.ci/run`
/// runs it and sets FXB_REQUIRE_VENDOR_ENV, so CI never skips this.
#[test]
fn the_real_toolchain_compiles_what_the_reference_compiled() {
    let Some(env) = required_env(vendor_env(), "vendor env", "scripts/vendor-env") else {
        return;
    };
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let model = format!(
        "./{}",
        ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json")
    );
    let python = env.join("bin/python3");
    // The TC of every kernel, with the stub compiler (it would take 25 minutes for real).
    let mut stubbed = with_stand_ins(&ctx, &bin);
    stubbed
        .env("FXB_FURIOSA_PYTHON", &python)
        .env_remove("PYTHONPATH");
    let out = build(
        &mut stubbed,
        &model,
        &["--dump-tc", "tc", "--no-compiler-cache"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected: Value =
        serde_json::from_str(&crate::common::read_reference("tc-sha256.json")).expect("json");
    let kernels = expected["kernels"].as_object().expect("kernels");
    assert_eq!(kernels.len(), 4);
    for (name, want) in kernels {
        let text = fs::read_to_string(ctx.path(&format!("tc/{name}.tc"))).expect("dumped");
        let header = want["header"].as_str().expect("header");
        let body = text
            .strip_prefix(header)
            .and_then(|t| t.strip_prefix('\n'))
            .unwrap_or_else(|| panic!("{name}: the header is not the reference's"));
        let digest: String = Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(Some(digest.as_str()), want["sha256"].as_str(), "{name}");
        assert_eq!(Some(body.len() as u64), want["size"].as_u64(), "{name}");
    }
    // One real compile.
    let mut real = ctx.command();
    let mut path = std::ffi::OsString::from(env.join("bin"));
    path.push(":");
    path.push(vendor_free_path());
    real.env("PATH", path);
    let out = real
        .args(["build", &model, "real", "--backend", "furiosa"])
        .args(LLAMA_MIN)
        .args(["--only", "first_tokenwise@tw1", "--no-compiler-cache"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff = ctx.run(&[
        "diff",
        "--common-only",
        "real.fxb",
        &reference("bundles/llama-min.fxb").to_string_lossy(),
    ]);
    let text = stdout(&diff);
    assert!(
        text.contains("Summary: 0 changed, 0 left-only, 0 right-only, 1 identical"),
        "{text}"
    );
}

/// The reference `fxb` that `scripts/reference-env` made, if any.
pub fn reference_fxb() -> Option<PathBuf> {
    let fxb = std::env::var_os("FXB_REFERENCE_FXB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/reference-env/bin/fxb")
        });
    fxb.exists().then_some(fxb)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A minimal plan: one bucket of every kernel type (`-O O0`, one tokenwise size, one
/// attention bucket, the sampler), cheap to generate for both tools.
const ONE_BUCKET_EACH: &[&str] = &[
    "-O",
    "O0",
    "--max-model-len",
    "4096",
    "--tokenwise-buckets",
    "1",
    "--attention-buckets",
    "(1,4096,1)",
    "--skip-bucket-validation",
];

/// Every mapped fixture model (rules/furiosa/registry.toml) with the plan its TC is compared
/// at: the same options for both tools, so both plan the same entries.
const MAPPED: &[(&str, &str, &[&str])] = &[
    ("llama", "meta-llama--Llama-3.1-8B-Instruct.json", LLAMA_MIN),
    // Base model: its eos_token_id differs from the package's default config, so its
    // random_sample shows that fxb leaves out the keys the reference does not pass.
    (
        "llama-base",
        "meta-llama--Llama-3.1-8B.json",
        ONE_BUCKET_EACH,
    ),
    (
        "r1-distill",
        "deepseek-ai--DeepSeek-R1-Distill-Llama-8B.json",
        ONE_BUCKET_EACH,
    ),
    (
        "llama-70b",
        "meta-llama--Llama-3.1-70B.json",
        ONE_BUCKET_EACH,
    ),
    (
        "llama-fp8",
        "RedHatAI--Meta-Llama-3.1-8B-Instruct-FP8-dynamic.json",
        ONE_BUCKET_EACH,
    ),
    ("qwen-8b", "Qwen--Qwen3-8B-FP8.json", ONE_BUCKET_EACH),
    // Its default `-O O0` plan at TP 32, as the reference plans it.
    ("qwen", "Qwen--Qwen3-32B-FP8.json", &["-O", "O0"]),
    ("gpt-oss-20b", "openai--gpt-oss-20b.json", ONE_BUCKET_EACH),
    // With collective dq, which the reference applies to the MoE kernels at 512 tokens.
    (
        "gpt-oss-120b",
        "openai--gpt-oss-120b.json",
        &[
            "-O",
            "O0",
            "-tp",
            "32",
            "--max-model-len",
            "4096",
            "--tokenwise-buckets",
            "1,512",
            "--attention-buckets",
            "(1,4096,1)",
            "--skip-bucket-validation",
            "--enable-collective-dq",
        ],
    ),
    (
        "bge-reranker",
        "BAAI--bge-reranker-v2-m3.json",
        &["-O", "O0", "--max-model-len", "8192"],
    ),
];

/// Cross-tool: with the stub compiler, the reference's own `--dump-tc` and fxb's hold the
/// same files, byte for byte, for every mapped model, one bucket of every kernel type at
/// least. Needs `scripts/vendor-env` and `scripts/reference-env`; `.ci/run` runs both.
#[test]
fn fxb_dumps_the_tc_the_reference_dumps_for_every_mapped_model() {
    let (Some(env), Some(reference)) = (
        required_env(vendor_env(), "vendor env", "scripts/vendor-env"),
        required_env(reference_fxb(), "reference env", "scripts/reference-env"),
    ) else {
        return;
    };
    let ctx = TestContext::new();
    let bin = stand_ins(&ctx);
    let mut kernels_seen = std::collections::BTreeSet::new();
    for &(name, config, plan) in MAPPED {
        let model = format!("./{}", ctx.model_dir(name, config));
        let ours = with_stand_ins(&ctx, &bin)
            .env("FXB_FURIOSA_PYTHON", env.join("bin/python3"))
            .env_remove("PYTHONPATH")
            .args([
                "build",
                &model,
                &format!("{name}-fxb"),
                "--backend",
                "furiosa",
            ])
            .args(plan)
            .args([
                "--dump-tc",
                &format!("tc-fxb/{name}"),
                "--no-compiler-cache",
            ])
            .output()
            .expect("fxb runs");
        assert_eq!(ours.status.code(), Some(0), "{name}: {}", stderr(&ours));
        let theirs = Command::new(&reference)
            .current_dir(ctx.root())
            .env("HOME", ctx.path("home"))
            .env("XDG_CACHE_HOME", ctx.path("home/.cache"))
            .envs(stand_in_env(&ctx, &bin))
            .args(["build", &model, &format!("{name}-ref.fxb")])
            .args(plan)
            .args(["--dump-tc", &format!("tc-ref/{name}")])
            .stdin(Stdio::null())
            .output()
            .expect("the reference runs");
        assert_eq!(theirs.status.code(), Some(0), "{name}: {}", stderr(&theirs));
        let (fxb_dir, ref_dir) = (
            ctx.path(&format!("tc-fxb/{name}")),
            ctx.path(&format!("tc-ref/{name}")),
        );
        let names = file_names(&ref_dir);
        assert!(!names.is_empty(), "the reference dumped nothing for {name}");
        assert_eq!(file_names(&fxb_dir), names, "{name}");
        for file in &names {
            let a = fs::read(fxb_dir.join(file)).expect("read");
            let b = fs::read(ref_dir.join(file)).expect("read");
            assert!(a == b, "{name}: {file} differs from the reference's");
            kernels_seen.extend(file.split("__").next().map(str::to_string));
        }
    }
    // Every kernel type the registry maps was compared at least once.
    assert_eq!(
        kernels_seen.into_iter().collect::<Vec<_>>(),
        [
            "first_tokenwise",
            "full_attention",
            "last_tokenwise_moe_with_lm_head",
            "last_tokenwise_with_lm_head",
            "last_tokenwise_with_seq_cls_head",
            "mid_tokenwise",
            "mid_tokenwise_moe",
            "random_sample",
            "sliding_window_attention",
        ]
    );
}
