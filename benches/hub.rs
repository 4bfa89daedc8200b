//! Issue 15's figures, against the loopback mock Hub (the tests' own, `tests/it/mock_hub.rs`):
//!
//! - `fxb download` of a 1 GiB bundle (`FXB_BENCH_DOWNLOAD_MIB`, default 1024) beside
//!   `curl -s URL | tee FILE | sha256sum` — the same work: transfer, write, hash — from the
//!   same CDN listener, alternating, median of `RUNS` (default 3); fxb's peak memory
//!   (`/usr/bin/time`) for that file and for one a quarter of its size, which must be flat;
//! - a resumed download: half the file left as `.incomplete`, the bytes the next run asks for;
//! - `fxb check <repo_id>` with the config in the hub cache (one listing request), offline
//!   (none), and the loopback round trip itself, medians of 21 runs.
//!
//! Prints figures; asserts nothing (STYLE: benchmarks measure, tests never time).
//! Run: `cargo bench --bench hub`.

#[path = "../tests/it/mock_hub.rs"]
#[allow(dead_code)]
mod mock_hub;
#[path = "../tests/it/mock_net.rs"]
#[allow(dead_code)]
mod mock_net;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mock_hub::{MockFile, MockHub, MockRepo};

const FXB: &str = env!("CARGO_BIN_EXE_fxb");
const COMMIT: &str = "1111111111111111111111111111111111111111";

fn main() {
    // `cargo test --all-targets` runs benches once as tests: that is no time to move a GiB.
    if !std::env::args().any(|a| a == "--bench") {
        println!("hub: run with `cargo bench --bench hub`");
        return;
    }
    let mib: usize = std::env::var("FXB_BENCH_DOWNLOAD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-hub");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench dir");

    eprintln!(
        "bench-hub: making a {mib} MiB bundle and a {} MiB one",
        mib / 4
    );
    let big = bundle(&root, "big", mib << 20);
    let quarter = bundle(&root, "quarter", (mib / 4) << 20);
    let mock = MockHub::start();
    let big_file = MockFile::lfs("big.fxb", big);
    let sha = big_file.sha256();
    let size = big_file.bytes.len() as u64;
    mock.add_repo("bench/Big", MockRepo::with_files(COMMIT, vec![big_file]));
    mock.add_repo(
        "bench/Quarter",
        MockRepo::with_files(COMMIT, vec![MockFile::lfs("quarter.fxb", quarter)]),
    );
    let config = std::fs::read(fixtures().join("configs/meta-llama--Llama-3.1-8B-Instruct.json"))
        .expect("config fixture");
    mock.add_repo(
        "bench/Llama",
        MockRepo::with_files(COMMIT, vec![MockFile::small("config.json", &config)]),
    );
    let url = format!(
        "http://{}/lfs/{sha}?X-Amz-Signature=signed",
        mock.cdn_addr()
    );

    let mut curl = Vec::new();
    let mut fxb = Vec::new();
    let mut peak_big = Vec::new();
    for run in 0..runs {
        let file = root.join("curl.out");
        let started = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "curl -s '{url}' | tee '{}' | sha256sum",
                file.display()
            ))
            .stdout(Stdio::null())
            .status()
            .expect("curl runs");
        assert!(status.success(), "curl failed");
        curl.push(started.elapsed());
        let _ = std::fs::remove_file(&file);

        let cache = root.join(format!("cache-{run}"));
        let (elapsed, peak) = timed_download(&mock, &cache, "bench/Big");
        fxb.push(elapsed);
        peak_big.push(peak);
        let _ = std::fs::remove_dir_all(&cache);
    }
    let (_, peak_quarter) = timed_download(&mock, &root.join("cache-q"), "bench/Quarter");
    let _ = std::fs::remove_dir_all(root.join("cache-q"));

    // Resume: half the blob is there as `.incomplete`; the next download asks for the rest.
    let cache = root.join("cache-resume");
    let blobs = cache.join("models--bench--Big/blobs");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let half = size / 2;
    let mut partial =
        std::fs::File::create(blobs.join(format!("{sha}.incomplete"))).expect("partial");
    let mut source = std::fs::File::open(root.join("big.fxb")).expect("bundle");
    std::io::copy(&mut (&mut source).take(half), &mut partial).expect("half");
    drop(partial);
    let (resumed, _) = timed_download(&mock, &cache, "bench/Big");
    let asked_from = mock
        .requests("cdn", "/lfs/")
        .last()
        .and_then(|r| r.headers.get("range").cloned())
        .unwrap_or_else(|| "(no range)".into());
    let _ = std::fs::remove_dir_all(&cache);

    // `check <repo_id>`: online (one listing request), offline (none), and the round trip.
    let hf_home = root.join("hf");
    let check = |offline: bool| {
        let mut cmd = fxb_command(&mock, &root.join("cache-check"));
        cmd.env("HF_HOME", &hf_home).args([
            "check",
            "bench/Llama",
            "--runtime-revision",
            "ae27d44cd8",
        ]);
        if offline {
            cmd.env("HF_HUB_OFFLINE", "1");
        }
        let started = Instant::now();
        let out = cmd.output().expect("fxb check");
        // Exit 1 (nothing compatible in an empty cache) is the answer expected here.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    check(false);
    let online: Vec<Duration> = (0..21).map(|_| check(false)).collect();
    let offline: Vec<Duration> = (0..21).map(|_| check(true)).collect();
    let round_trip: Vec<Duration> = (0..21)
        .map(|_| listing_round_trip(&mock.hub_addr(), "bench/Llama"))
        .collect();

    let gib = size as f64 / f64::from(1 << 30);
    let rate = |d: Duration| size as f64 / d.as_secs_f64() / f64::from(1 << 20);
    let (curl_m, fxb_m) = (median(&curl), median(&fxb));
    println!("fxb download, {gib:.2} GiB from the loopback mock ({runs} runs, median):");
    println!(
        "  curl | tee | sha256sum   {:>7.2} s  {:>7.0} MiB/s",
        curl_m.as_secs_f64(),
        rate(curl_m)
    );
    println!(
        "  fxb download             {:>7.2} s  {:>7.0} MiB/s  ({:.2}x curl's throughput; target >= 0.95x)",
        fxb_m.as_secs_f64(),
        rate(fxb_m),
        curl_m.as_secs_f64() / fxb_m.as_secs_f64()
    );
    println!(
        "  fxb peak RSS             {} MiB for {gib:.2} GiB, {} MiB for a quarter of it (flat in the file size)",
        peak_big.iter().max().copied().unwrap_or(0) / 1024,
        peak_quarter / 1024
    );
    println!(
        "  resumed with {} of {} bytes there: asked `{asked_from}` ({} bytes transferred) in {:.2} s",
        half,
        size,
        size - half,
        resumed.as_secs_f64()
    );
    println!("fxb check <repo_id>, config in the hub cache (21 runs, median):");
    println!(
        "  online (one listing request)   {:>6.1} ms",
        ms(median(&online))
    );
    println!(
        "  offline (HF_HUB_OFFLINE=1)     {:>6.1} ms",
        ms(median(&offline))
    );
    println!(
        "  the listing's round trip       {:>6.2} ms  (target: <= 10 ms plus one round trip; the reference ~235 ms)",
        ms(median(&round_trip))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// A valid bundle of about `bytes`: llama-min with one kernel file replaced by that many
/// pseudo-random bytes (the download checks the archive reads, not what a kernel holds).
fn bundle(root: &Path, name: &str, bytes: usize) -> Vec<u8> {
    let dir = root.join(format!("{name}-dir"));
    let status = Command::new(FXB)
        .arg("unpack")
        .arg(fixtures().join("reference/bundles/llama-min.fxb"))
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("fxb unpack");
    assert!(status.success(), "fxb unpack failed");
    let mut kernel =
        std::fs::File::create(dir.join("edfs/mid_tokenwise_tw1.edf")).expect("kernel file");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..bytes.div_ceil(block.len()) {
        for word in block.chunks_mut(8) {
            // xorshift64: incompressible enough, and fast.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        kernel.write_all(&block).expect("write kernel");
    }
    drop(kernel);
    let out = root.join(format!("{name}.fxb"));
    let status = Command::new(FXB)
        .arg("pack")
        .arg(&dir)
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("fxb pack");
    assert!(status.success(), "fxb pack failed");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::read(&out).expect("bundle")
}

fn fxb_command(mock: &MockHub, cache: &Path) -> Command {
    let mut cmd = Command::new(FXB);
    cmd.env("HF_ENDPOINT", mock.endpoint())
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .arg("--cache-dir")
        .arg(cache)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `fxb download REPO` into `cache`: its wall time and peak RSS (KiB, `/usr/bin/time`).
fn timed_download(mock: &MockHub, cache: &Path, repo: &str) -> (Duration, u64) {
    let rss = cache.with_extension("rss");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%M").arg("-o").arg(&rss).arg(FXB);
    let inner = fxb_command(mock, cache);
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.arg("--cache-dir").arg(cache).args(["download", repo]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().expect("fxb download");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "fxb download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|t| t.trim().lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    (elapsed, peak)
}

/// One `GET /api/models/{repo}/revision/main?blobs=true` on a fresh connection, as fxb
/// makes it.
fn listing_round_trip(addr: &str, repo: &str) -> Duration {
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET /api/models/{repo}/revision/main?blobs=true HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    started.elapsed()
}
