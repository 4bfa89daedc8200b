//! `fxb build` for real: the host reference backend (linked and loaded as a library), the
//! bundle it writes, the compiler cache, and every way a build can fail or be stopped —
//! failing, panicking and refused backends, bad inputs, Ctrl-C and SIGKILL — and the
//! slow-kernel report. The testing backend (`plugins/backend-testing`) stands in for a
//! vendor compiler there. A build is long, so what it leaves on disk and what it tells the
//! user when it goes wrong matter as much as the bundle.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    DURATIONS, PANICS, SIZES, SMALL_BUILD, STAGING, TestContext, filters, native_backend,
    read_reference, stderr, stdout,
};

/// Llama-3.1-8B-Instruct with the reference's sampler bundle's buckets: tw1, b1_a256_kv255
/// and sampler1, at TP 8.
const SAMPLER_BUCKETS: &[&str] = &[
    "--tokenwise-buckets",
    "1",
    "--attention-buckets",
    "(1,256,1)",
    "--no-compiler-cache",
];

fn llama(ctx: &TestContext) -> String {
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    "./llama".to_string()
}

fn entries_of(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_host_backend_builds_what_the_reference_inspects() {
    let _filters = filters(&[DURATIONS, SIZES]);
    let ctx = TestContext::new();
    let model = llama(&ctx);
    let library = native_backend("host");
    for (name, output, backend) in [
        ("host_linked_build", "linked.fxb", None),
        (
            "host_library_build",
            "library.fxb",
            Some(library.to_string_lossy().into_owned()),
        ),
    ] {
        let mut args = vec!["build", model.as_str(), output];
        args.extend(SAMPLER_BUCKETS);
        if let Some(backend) = &backend {
            args.extend(["--backend", backend.as_str()]);
        }
        let built = ctx.run(&args);
        insta::assert_snapshot!(name, ctx.format(&built));
        let inspect = ctx.run(&["inspect", output]);
        assert_eq!(stdout(&inspect), read_reference("inspect-sampler.txt"));
    }
    // Deterministic: the same kernels byte for byte, through either path.
    ctx.run(&["unpack", "linked.fxb", "a"]);
    ctx.run(&["unpack", "library.fxb", "b"]);
    let kernels = entries_of(&ctx.path("a/edfs"));
    assert_eq!(kernels.len(), 5);
    for kernel in &kernels {
        assert_eq!(
            fs::read(ctx.path(&format!("a/edfs/{kernel}"))).expect("a"),
            fs::read(ctx.path(&format!("b/edfs/{kernel}"))).expect("b"),
            "{kernel}"
        );
    }
    // Without the sampler: the reference's minimal bundle, signature for signature.
    let mut args = vec!["build", model.as_str(), "min"];
    args.extend(SAMPLER_BUCKETS);
    args.push("--no-enable-sampler");
    assert_eq!(ctx.run(&args).status.code(), Some(0));
    assert_eq!(
        stdout(&ctx.run(&["inspect", "min.fxb"])),
        read_reference("inspect.txt")
    );
    ctx.copy_reference_bundle("llama-min.fxb", "reference.fxb");
    let diff = ctx.run(&["diff", "min.fxb", "reference.fxb", "--no-color"]);
    // The kernels are the reference's; only versions, the build's stamps and fxb's extras
    // differ.
    insta::assert_snapshot!(ctx.format(&diff));
}

#[test]
fn a_built_bundle_is_complete_and_honest() {
    let _filters = filters(&[DURATIONS, SIZES]);
    let ctx = TestContext::new();
    let model = llama(&ctx);
    let built = ctx.run(&[
        "build",
        &model,
        "o0",
        "-O",
        "O0",
        "--max-model-len",
        "1024",
        "--no-compiler-cache",
        "--json",
    ]);
    // Eleven entries, each compiled, and the O0 warning.
    insta::assert_snapshot!(ctx.format(&built));
    // The buckets and kernels of the reference's own -O O0 --max-model-len 1024 build.
    let show: Value =
        serde_json::from_slice(&ctx.run(&["show", "o0.fxb", "--json"]).stdout).expect("show");
    let reference: Value =
        serde_json::from_str(&read_reference("manifest-llama-O0-len1024-stubbuild.json"))
            .expect("reference");
    let ours: Value = serde_json::from_slice(
        &fs::read(ctx.path("o0.fxb"))
            .ok()
            .and_then(|_| {
                ctx.run(&["unpack", "o0.fxb", "o0"]);
                fs::read(ctx.path("o0/manifest.json")).ok()
            })
            .expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(ours["kernels"], reference["kernels"]);
    assert_eq!(ours["model"], reference["model"]);
    assert_eq!(ours["parallel_config"], reference["parallel_config"]);
    // Honest about the compiler: never furiosa_compiler from the host backend.
    assert!(ours["versions"].get("furiosa_compiler").is_none());
    assert_eq!(
        ours["versions"]["fxb_host_backend"]["revision"],
        "host-layout-2"
    );
    assert_eq!(ours["extras"]["fxb"]["compiler"], "fxb_host_backend");
    assert_eq!(ours["extras"]["fxb"]["rule"]["name"], "generic");
    assert!(show["model"].is_object() || show.is_object());
    // Every file the manifest names is there, and the bundle has a standard name.
    let list = ctx.run(&["list", "-l", "o0.fxb"]);
    assert_eq!(list.status.code(), Some(0), "{}", stdout(&list));
    let manifest = fxb::bundle::Bundle::open(ctx.path("o0.fxb"))
        .expect("open")
        .into_manifest();
    let name = fxb::bundle::standard_file_name(&manifest).expect("standard name");
    assert!(
        name.starts_with("llamaforcausallm-host-layout-2-"),
        "{name}"
    );
    // Nothing but the bundle is left in the output directory.
    assert!(
        entries_of(ctx.root()).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        entries_of(ctx.root())
    );
}

#[test]
fn a_model_directory_can_hold_its_own_bundle_and_the_compiler_cache_is_used() {
    let ctx = TestContext::new();
    let model = llama(&ctx);
    let args = |out: &str| {
        vec![
            "build".to_string(),
            model.clone(),
            out.to_string(),
            "-O".into(),
            "O0".into(),
            "--max-model-len".into(),
            "1024".into(),
            "--compiler-cache-dir".into(),
            "ccache".into(),
            "--json".into(),
        ]
    };
    let statuses = |out: &std::process::Output| -> Vec<String> {
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        report["kernels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| k["status"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let first = ctx
        .command()
        .args(args("./llama/x.fxb"))
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(statuses(&first).iter().all(|s| s == "compiled"));
    assert!(ctx.path("llama/x.fxb").is_file());
    let second = ctx
        .command()
        .args(args("./llama/y.fxb"))
        .output()
        .expect("run");
    assert!(statuses(&second).iter().all(|s| s == "cached"));
    ctx.run(&["unpack", "llama/x.fxb", "x"]);
    ctx.run(&["unpack", "llama/y.fxb", "y"]);
    for kernel in entries_of(&ctx.path("x/edfs")) {
        assert_eq!(
            fs::read(ctx.path(&format!("x/edfs/{kernel}"))).expect("x"),
            fs::read(ctx.path(&format!("y/edfs/{kernel}"))).expect("y")
        );
    }
}

/// `fxb build ./llama out -O O0 --max-model-len 1024` on the testing backend, with its
/// behaviour set by `env`.
fn testing_command(ctx: &TestContext, env: &[(&str, &str)], extra: &[&str]) -> Command {
    let model = llama(ctx);
    let mut cmd = ctx.command();
    cmd.args(["build", &model, "out"])
        .args(SMALL_BUILD)
        .arg("--backend")
        .arg(native_backend("testing"))
        .args(extra);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

fn testing_build(ctx: &TestContext, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    testing_command(ctx, env, extra).output().expect("fxb runs")
}

/// Assert the test's directory holds nothing but `expected` (and the home and model dirs).
fn assert_only(ctx: &TestContext, expected: &[&str]) {
    let left: Vec<String> = entries_of(ctx.root())
        .into_iter()
        .filter(|n| n != "home" && n != "llama" && !expected.contains(&n.as_str()))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn assert_nothing_written(ctx: &TestContext) {
    assert_only(ctx, &[]);
}

#[test]
fn a_failing_kernel_names_kernel_and_bucket_and_writes_nothing() {
    let _filters = filters(&[DURATIONS, SIZES, PANICS]);
    let ctx = TestContext::new();
    let failed = testing_build(
        &ctx,
        &[("FXB_TESTING_FAIL_ON", "mid_tokenwise:tw1024")],
        &[],
    );
    insta::assert_snapshot!("failed", ctx.format(&failed));
    assert_nothing_written(&ctx);

    let panicked = testing_build(
        &ctx,
        &[("FXB_TESTING_PANIC_ON", "full_attention:b1_a1024_kv0")],
        &[],
    );
    insta::assert_snapshot!("panicked", ctx.format(&panicked));
    assert_nothing_written(&ctx);

    // --no-fast-fail builds the rest and reports every failure.
    let all = testing_build(
        &ctx,
        &[(
            "FXB_TESTING_FAIL_ON",
            "first_tokenwise:tw1,random_sample:sampler1024",
        )],
        &["--no-fast-fail", "--build-report"],
    );
    insta::assert_snapshot!("no_fast_fail", ctx.format(&all));
    assert_nothing_written(&ctx);

    let ok = testing_build(&ctx, &[], &[]);
    insta::assert_snapshot!("testing_ok", ctx.format(&ok));
    assert!(ctx.path("out.fxb").is_file());
}

#[test]
fn backends_that_cannot_be_used_are_refused_clearly() {
    let ctx = TestContext::new();
    let wrong_abi = testing_build(&ctx, &[("FXB_TESTING_BACKEND_ABI", "99")], &[]);
    insta::assert_snapshot!("wrong_abi", ctx.format(&wrong_abi));
    let model = llama(&ctx);
    insta::assert_snapshot!(
        "unknown_backend",
        ctx.snapshot(&["build", &model, "out", "--backend", "vendor"])
    );
    insta::assert_snapshot!(
        "not_a_library",
        ctx.snapshot(&["build", &model, "out", "--backend", "./llama/config.json"])
    );
    insta::assert_snapshot!(
        "vendor_only",
        ctx.snapshot(&["build", &model, "out", "--dump-tc", "tc"])
    );
    assert_nothing_written(&ctx);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _filters = filters(&[STAGING]);
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("empty")).expect("dir");
    insta::assert_snapshot!("no_config", ctx.snapshot(&["build", "./empty", "out"]));
    let model = llama(&ctx);
    insta::assert_snapshot!(
        "no_output_dir",
        ctx.snapshot(&[
            "build",
            &model,
            "missing/dir/out.fxb",
            "--no-compiler-cache",
        ])
    );
    fs::write(ctx.path("file"), "x").expect("file");
    insta::assert_snapshot!(
        "output_under_a_file",
        ctx.snapshot(&["build", &model, "file/out.fxb", "--no-compiler-cache"])
    );
    // Issue 14: an output that is a directory is refused before compiling, not after.
    fs::create_dir_all(ctx.path("dir.fxb")).expect("dir");
    insta::assert_snapshot!(
        "output_is_a_directory",
        ctx.snapshot(&["build", &model, "dir.fxb", "--no-compiler-cache"])
    );
    insta::assert_snapshot!(
        "output_is_the_current_directory",
        ctx.snapshot(&["build", &model, "./", "--no-compiler-cache"])
    );
    insta::assert_snapshot!(
        "hub_model",
        ctx.snapshot(&["build", "meta-llama/Llama-3.1-8B", "out"])
    );
    assert_only(&ctx, &["empty", "file", "dir.fxb"]);
}

fn sigint(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// One process, as `/proc/<pid>/stat` describes it.
#[derive(Debug)]
struct Process {
    pid: u32,
    parent: u32,
    group: u32,
    state: char,
    /// The kernel's `PF_*` flags.
    flags: u64,
}

impl Process {
    /// Neither a zombie nor on its way out (`PF_EXITING`): it could still do something.
    fn is_alive(&self) -> bool {
        const PF_EXITING: u64 = 0x4;
        !matches!(self.state, 'Z' | 'X') && self.flags & PF_EXITING == 0
    }
}

fn processes() -> Vec<Process> {
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp session tty_nr tpgid flags …`; comm may hold
            // spaces and parentheses, so fields count from the last `)`.
            let fields: Vec<&str> = stat
                .get(stat.rfind(')')? + 1..)?
                .split_whitespace()
                .collect();
            Some(Process {
                pid,
                state: fields.first()?.chars().next()?,
                parent: fields.get(1)?.parse().ok()?,
                group: fields.get(2)?.parse().ok()?,
                flags: fields.get(6)?.parse().ok()?,
            })
        })
        .collect()
}

/// The process groups of the compilers `fxb` (pid `fxb`) is running: the testing backend
/// starts each compiler as the leader of a group of its own.
fn compiler_groups(fxb: u32) -> Vec<u32> {
    let mut groups: Vec<u32> = processes()
        .into_iter()
        .filter(|p| p.parent == fxb && p.group == p.pid && p.is_alive())
        .map(|p| p.pid)
        .collect();
    groups.sort();
    groups
}

/// Wait until `count` compilers run under `child`, and return their process groups.
fn wait_for_compilers(child: &mut std::process::Child, count: usize) -> Vec<u32> {
    // A guard against a build that never gets there, not a measurement.
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let groups = compiler_groups(child.id());
        if groups.len() >= count {
            return groups;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the build ended ({status}) before {count} compilers ran");
        }
        assert!(Instant::now() < give_up, "{count} compilers never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The processes of `groups` that are still alive.
fn alive_in(groups: &[u32]) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| groups.contains(&p.group) && p.is_alive())
        .collect()
}

/// Every process still alive in one of `groups` once they had their chance to die. A
/// killed process may take a moment to be torn down (the kernel, not fxb, is slow there),
/// so a few looks are allowed.
fn survivors(groups: &[u32]) -> Vec<Process> {
    let mut alive = alive_in(groups);
    for _ in 0..100 {
        if alive.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        alive = alive_in(groups);
    }
    alive
}

/// End processes this test started (through fxb), by pid, while they are known alive.
fn kill_all(processes: &[Process]) {
    for process in processes {
        let _ = Command::new("kill")
            .args(["-KILL", &process.pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Ctrl-C in the middle of compiles that run in child processes (the way a backend drives
/// the vendor compiler): the build stops, says so, exits 2, kills the compilers, and leaves
/// nothing behind. How fast it stops is a figure, not a test: `scripts/bench-build`
/// (figure 4) measures the time from SIGINT to exit.
#[test]
fn ctrl_c_kills_the_subprocess_compiles_and_a_kill_leaves_nothing_after_the_next_run() {
    let ctx = TestContext::new();
    let model = llama(&ctx);
    // Compiles that would outlive the test by far if nothing stopped them.
    let spawn = || {
        testing_command(
            &ctx,
            &[("FXB_TESTING_SUBPROCESS_SECS", "600")],
            &["--concurrency", "2"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
    };
    let mut child = spawn();
    let compilers = wait_for_compilers(&mut child, 2);
    sigint(child.id());
    let output = child.wait_with_output().expect("wait");
    insta::assert_snapshot!(ctx.format(&output), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    warning: -O O0 covers a minimal bucket set: fine for trying things, not for production serving

    cancelling the build (Ctrl-C again to exit at once)
    error: the build was cancelled; nothing was written
    ");
    let left = survivors(&compilers);
    kill_all(&left);
    assert!(left.is_empty(), "compiler processes survived: {left:?}");
    // No bundle, no staging directory.
    assert_nothing_written(&ctx);

    // SIGKILL: the staging dir stays behind, and the next build removes it.
    let mut child = spawn();
    let compilers = wait_for_compilers(&mut child, 2);
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(
        entries_of(ctx.root())
            .iter()
            .any(|n| n.starts_with(".fxb-build-"))
    );
    // Nothing can stop a SIGKILLed fxb's compilers; they are this test's to end.
    kill_all(&alive_in(&compilers));
    let next = ctx.run(&[&["build", model.as_str(), "out"][..], SMALL_BUILD].concat());
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert_only(&ctx, &["out.fxb"]);
}

/// The slow-kernel reports in `stderr`: each `still compiling:` line as its entries
/// (`kernel (bucket)`) and the whole seconds printed for each, in printed order.
fn slow_reports(stderr: &str) -> Vec<Vec<(String, u64)>> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("warning: still compiling: "))
        .map(|list| {
            list.split(", ")
                .map(|item| {
                    let (entry, secs) = item.rsplit_once(' ').expect("`entry Ns`");
                    let secs = secs.strip_suffix('s').and_then(|s| s.parse().ok());
                    (entry.to_string(), secs.expect("whole seconds"))
                })
                .collect()
        })
        .collect()
}

/// Kernels that take their own time (child-process compiles of 2, 8 and 5 s; the attention
/// kernel at once) on two workers, in plan order: first_tokenwise and mid_tokenwise start
/// together, last_tokenwise_with_lm_head when first_tokenwise is done, 2 s later. While
/// mid_tokenwise and last_tokenwise_with_lm_head both run, the longer-running one is
/// reported first; no report is in any other order, none names a kernel below the
/// threshold. The reports are parsed, not snapshotted: how many a run prints, and their
/// seconds, depend on the machine's timing.
#[test]
fn slow_kernels_are_reported_longest_first() {
    let ctx = TestContext::new();
    let output = testing_build(
        &ctx,
        &[(
            "FXB_TESTING_SUBPROCESS_SECS",
            "first_tokenwise:tw1=2,mid_tokenwise:tw1=8,last_tokenwise_with_lm_head:tw1=5",
        )],
        &[
            "--tokenwise-buckets",
            "1",
            "--attention-buckets",
            "(1,256,1)",
            "--no-enable-sampler",
            "--concurrency",
            "2",
            "--slow-kernel-threshold",
            "1s",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    let reports = slow_reports(&err);
    for report in &reports {
        let seconds: Vec<u64> = report.iter().map(|(_, s)| *s).collect();
        assert!(
            seconds.windows(2).all(|pair| pair[0] >= pair[1]),
            "not longest first: {report:?}\n{err}"
        );
        assert!(
            seconds.iter().all(|s| *s >= 1),
            "below the threshold: {report:?}"
        );
        assert!(
            report
                .iter()
                .all(|(entry, _)| !entry.starts_with("full_attention")),
            "full_attention compiles at once: {report:?}"
        );
    }
    // (position, seconds) of the two kernels in each report that names both.
    let find = |report: &[(String, u64)], entry: &str| {
        report
            .iter()
            .enumerate()
            .find(|(_, (e, _))| e == entry)
            .map(|(at, (_, secs))| (at, *secs))
    };
    let both: Vec<_> = reports
        .iter()
        .filter_map(|r| {
            Some((
                find(r, "mid_tokenwise (tw1)")?,
                find(r, "last_tokenwise_with_lm_head (tw1)")?,
            ))
        })
        .collect();
    assert!(
        both.iter().any(|(mid, last)| mid.1 > last.1),
        "no report while both kernels ran, seconds apart: {err}"
    );
    assert!(
        both.iter().all(|(mid, last)| mid.0 < last.0),
        "the kernel running longer is not first: {err}"
    );
}

/// Issue 14: an unsupported `-tp 3` was found at the first compile. The backend says which
/// sizes it compiles for, so the build (and its dry run) refuses before any, naming them.
#[test]
fn an_unsupported_tensor_parallel_size_is_refused_before_compiling() {
    let ctx = TestContext::new();
    let model = llama(&ctx);
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["build", model.as_str(), "out.fxb", "-tp", "3"];
        args.extend(extra);
        let output = ctx.run(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains("backend `host` does not compile for tensor-parallel size 3")
                && err.contains("hint: pass -tp with one of 1, 2, 4, 8, 16, 32, 64"),
            "{extra:?}: {err}"
        );
        assert!(!err.contains("compiled"), "{extra:?}: {err}");
    }
    assert_nothing_written(&ctx);
}
