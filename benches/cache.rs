//! Cache figures (issue 7), each a whole `fxb` process on this machine:
//! - `add` of 1,000 bundles in one call against `cp` of the same files (one index write
//!   instead of the reference's one per bundle);
//! - `cache ls` and `check <local config>` with those 1,000 bundles cached (median of 21,
//!   the compiled-plugin cache already populated);
//! - `add` of a 4 GiB bundle (copy + sha256 in one pass + fsync) against `cp` followed by
//!   `sync` of the copy, in the same run.
//!
//! Run: `cargo bench --bench cache` (or `scripts/bench-cache`). Prints figures; asserts
//! nothing. `FXB_BENCH_GIB` changes the large size. Every timed copy starts after a
//! `sync` and, when run as root, a dropped page cache: on a shared VM disk, write-back
//! left over from one run otherwise lands in the next.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fxb::bundle::{Manifest, parse_manifest};

const RUNS: usize = 21;
const FXB: &str = env!("CARGO_BIN_EXE_fxb");

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache: run with `cargo bench --bench cache`");
        return;
    }
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir = work.path();
    let manifest = parse_manifest(
        &std::fs::read(reference.join("reference/manifest.json")).expect("manifest"),
    )
    .expect("parses");

    println!("fxb cache benchmark (whole processes; medians of {RUNS} where repeated)\n");
    // 1,000 bundles, each with its own uuid and minute (so its own standard name): the
    // size of the reference's llama-min bundle, then small ones where per-file costs show.
    for (label, payload) in [("1.8 MiB", 1_888_000u64), ("64 KiB", 64 << 10)] {
        let sources = dir.join(format!("bundles-{payload}"));
        std::fs::create_dir_all(&sources).expect("dir");
        let mut paths = Vec::new();
        for i in 0..1000u32 {
            let path = sources.join(format!("b{i:04}.fxb"));
            write(&manifest, i, &path, payload);
            paths.push(path);
        }
        let copy_dir = dir.join(format!("copies-{payload}"));
        // Three rounds, each tool in turn: this VM's disk drifts by 2x and more within
        // minutes, so only figures from the same round compare.
        for round in 1..=3 {
            std::fs::create_dir_all(&copy_dir).expect("dir");
            sync();
            let cp = time(Command::new("cp").args(&paths).arg(&copy_dir));
            std::fs::remove_dir_all(&copy_dir).ok();
            std::fs::create_dir_all(&copy_dir).expect("dir");
            sync();
            let cp_sync = time(Command::new("sh").arg("-c").arg(format!(
                "cp '{}'/*.fxb '{}' && sync -f '{}'",
                sources.display(),
                copy_dir.display(),
                copy_dir.display()
            )));
            std::fs::remove_dir_all(&copy_dir).ok();
            let cache = dir.join(format!("cache-{payload}"));
            if round > 1 {
                std::fs::remove_dir_all(&cache).ok();
            }
            sync();
            let add = time(
                Command::new(FXB)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .arg("add")
                    .args(&paths),
            );
            println!(
                "add 1,000 {label} bundles (round {round}): fxb add {:.3}s (durable); cp {:.3}s -> {:.2}x; cp + sync {:.3}s -> {:.2}x",
                add.as_secs_f64(),
                cp.as_secs_f64(),
                add.as_secs_f64() / cp.as_secs_f64(),
                cp_sync.as_secs_f64(),
                add.as_secs_f64() / cp_sync.as_secs_f64()
            );
        }
    }
    // The listing figures use the cache of 1.8 MiB bundles, idle for a few seconds (fxb
    // does not trust directory stamps younger than two seconds).
    let cache = dir.join("cache-1888000");
    std::thread::sleep(Duration::from_secs(3));

    let model = dir.join("llama");
    std::fs::create_dir_all(&model).expect("dir");
    std::fs::copy(
        reference.join("configs/meta-llama--Llama-3.1-8B-Instruct.json"),
        model.join("config.json"),
    )
    .expect("config");
    let plugins = dir.join("plugins");
    let fxb = |args: &[&str]| {
        let mut cmd = Command::new(FXB);
        cmd.env("FXB_PLUGIN_CACHE_DIR", &plugins)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args);
        cmd
    };
    let model_arg = model.to_string_lossy().into_owned();
    time(&mut fxb(&["check", &model_arg])); // compile the plugins once
    let ls = median(|| time(&mut fxb(&["cache", "ls"])));
    let check = median(|| {
        time(&mut fxb(&[
            "check",
            &model_arg,
            "--runtime-revision",
            "ae27d44cd8",
        ]))
    });
    println!(
        "with 1,000 cached: cache ls {:.1} ms, check {:.1} ms",
        ms(ls),
        ms(check)
    );

    let gib: u64 = std::env::var("FXB_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let big = dir.join("big.fxb");
    write(&manifest, 5000, &big, gib << 30);
    let big_copy = dir.join("big-copy.fxb");
    for round in 1..=3 {
        sync();
        let cp_sync = time(Command::new("sh").arg("-c").arg(format!(
            "cp '{}' '{}' && sync '{}'",
            big.display(),
            big_copy.display(),
            big_copy.display()
        )));
        std::fs::remove_file(&big_copy).ok();
        sync();
        let big_cache = dir.join(format!("big-cache-{round}"));
        let add_big = time(
            Command::new(FXB)
                .arg("--cache-dir")
                .arg(&big_cache)
                .arg("add")
                .arg(&big),
        );
        std::fs::remove_dir_all(&big_cache).ok();
        println!(
            "add {gib} GiB (round {round}): fxb add {:.2}s, cp + sync {:.2}s -> {:.2}x",
            add_big.as_secs_f64(),
            cp_sync.as_secs_f64(),
            add_big.as_secs_f64() / cp_sync.as_secs_f64()
        );
    }
}

/// Flush dirty pages and, where allowed (root), drop the page cache, so every timed run
/// starts cold and no run pays for the previous one's write-back; then let the VM settle
/// (freed guest memory is handed back to the host a moment later).
fn sync() {
    let _ = Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
    std::thread::sleep(Duration::from_secs(2));
}

/// A bundle with `manifest`'s model and versions, uuid/created_at from `i`, and one
/// kernel entry of `payload` bytes.
fn write(template: &Manifest, i: u32, path: &PathBuf, payload: u64) {
    let mut manifest = template.clone();
    manifest.uuid = Some(format!("00000000-0000-4000-8000-{i:012}"));
    manifest.created_at = Some(format!(
        "2026-{:02}-{:02}T{:02}:{:02}:00+00:00",
        1 + i / 1000 % 12,
        1 + i / 60 / 24 % 28,
        i / 60 % 24,
        i % 60
    ));
    let name = "edfs/first_tokenwise_tw1.edf";
    manifest.kernels.clear();
    manifest.kernels.insert(
        "first_tokenwise".into(),
        vec![fxb::bundle::KernelEntry {
            bucket: fxb::bundle::BucketKey::Tokenwise { input_size: 1 },
            file: name.into(),
            unknown: Default::default(),
        }],
    );
    fxb::bundle::write_bundle(path, &manifest, chrono::Utc::now(), |_| {
        Ok((
            Box::new(std::io::Read::take(std::io::repeat(7), payload)),
            payload,
        ))
    })
    .expect("write bundle");
}

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut all: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    all.sort();
    all[RUNS / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
