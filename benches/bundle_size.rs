//! Does the cost of `show` and `inspect` grow with the bundle's size? Writes a 4 MiB and a
//! 4 GiB bundle (the real `llama-min` manifest and signatures, one kernel file padded with
//! a large byte string of machine code), then times `fxb show`, `fxb inspect` and
//! `unzip -l` on each, and counts the bytes `fxb show` reads (with strace, when present).
//!
//! Run: `cargo bench --bench bundle_size` (or `scripts/bench-bundle-size`). Prints
//! figures; asserts nothing. `FXB_BENCH_GIB` changes the large size.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fxb::bundle::{Bundle, BundleWriter, Signature, canonical_entry_order};

const RUNS: usize = 15;

fn main() {
    // `cargo test --all-targets` runs benches too; only do the work under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bundle_size: run with `cargo bench --bench bundle_size`");
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/reference/bundles/llama-min.fxb");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let large_gib: u64 = std::env::var("FXB_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let sizes = [
        ("4 MiB", 4u64 << 20),
        (&*format!("{large_gib} GiB"), large_gib << 30),
    ];
    println!(
        "fxb bundle-size benchmark ({RUNS} runs each, median; strace byte counts when available)\n"
    );
    println!(
        "{:<8} {:>14} {:>12} {:>12} {:>12} {:>16}",
        "bundle", "file bytes", "show", "inspect", "unzip -l", "show reads"
    );
    for (label, payload) in sizes {
        let path = dir.path().join(format!("bundle-{payload}.fxb"));
        let started = Instant::now();
        write_padded_bundle(&fixtures, &path, payload);
        let written = started.elapsed();
        let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let show = median(|| run(&[env!("CARGO_BIN_EXE_fxb"), "show"], &path));
        let inspect = median(|| run(&[env!("CARGO_BIN_EXE_fxb"), "inspect"], &path));
        let unzip = median(|| run(&["unzip", "-l"], &path));
        let read =
            bytes_read_by_show(&path).map_or_else(|| "n/a".to_string(), |b| format!("{b} B"));
        println!(
            "{label:<8} {file_bytes:>14} {:>12} {:>12} {:>12} {read:>16}   (written in {:.1?})",
            fmt(show),
            fmt(inspect),
            fmt(unzip),
            written
        );
        std::fs::remove_file(&path).ok();
    }
}

/// The llama-min manifest with real signatures; `first_tokenwise` padded to `payload`
/// bytes with a CBOR byte string in `nodes`, streamed (never in memory).
fn write_padded_bundle(reference: &Path, output: &Path, payload: u64) {
    let mut source = Bundle::open(reference).expect("reference bundle");
    let manifest = source.manifest().clone();
    let mut writer = BundleWriter::create(output, chrono::Utc::now()).expect("writer");
    for (kernel, entry) in canonical_entry_order(&manifest) {
        let signature = source.read_signature(&entry.file).expect("signature");
        let padding = if kernel == "first_tokenwise" {
            payload
        } else {
            1024
        };
        let (head, tail) = edf_parts(padding, &signature);
        let cbor_len = head.len() as u64 - 8 + padding + tail.len() as u64 - 16;
        let mut head = head;
        head[..8].copy_from_slice(&cbor_len.to_le_bytes());
        let size = head.len() as u64 + padding + tail.len() as u64;
        let mut stream = (&head[..])
            .chain(std::io::repeat(0x5a).take(padding))
            .chain(&tail[..]);
        writer
            .add_entry(&entry.file, &mut stream, size)
            .expect("entry");
    }
    writer.finish(&manifest).expect("finish");
}

/// `u64 len | {"Edf": {"nodes": [bytes(padding)` … and `], "inputs": …, "signature": …} | trailer`.
fn edf_parts(padding: u64, signature: &Signature) -> (Vec<u8>, Vec<u8>) {
    let mut head = vec![0u8; 8];
    head.push(0xa1); // map(1)
    push_text(&mut head, "Edf");
    head.push(0xa6); // map(6)
    push_text(&mut head, "nodes");
    head.push(0x81); // array(1)
    head.push(0x5b); // bytes, u64 length
    head.extend_from_slice(&padding.to_be_bytes());
    let mut tail = Vec::new();
    for (key, value) in [
        ("inputs", ciborium::Value::Array(vec![])),
        ("outputs", ciborium::Value::Array(vec![])),
        ("placeholders", ciborium::Value::Map(vec![])),
        ("copies", ciborium::Value::Map(vec![])),
    ] {
        push_text(&mut tail, key);
        ciborium::into_writer(&value, &mut tail).expect("cbor");
    }
    push_text(&mut tail, "signature");
    ciborium::into_writer(signature, &mut tail).expect("cbor");
    tail.write_all(&[0u8; 16]).expect("trailer");
    (head, tail)
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    assert!(text.len() < 24);
    out.push(0x60 | text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}

fn run(command: &[&str], path: &PathBuf) -> Duration {
    let started = Instant::now();
    let status = Command::new(command[0])
        .args(&command[1..])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    assert!(status.success(), "{command:?} failed");
    started.elapsed()
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    times.sort();
    times[RUNS / 2]
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Sum of what `read`/`pread64` returned on the bundle's file descriptor, via strace.
fn bytes_read_by_show(path: &Path) -> Option<u64> {
    let log = path.with_extension("strace");
    let status = Command::new("strace")
        .args(["-e", "trace=openat,read,pread64", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_fxb"))
        .arg("show")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let text = std::fs::read_to_string(&log).ok()?;
    std::fs::remove_file(&log).ok();
    let name = path.to_string_lossy();
    let mut fd = None;
    let mut total = 0u64;
    for line in text.lines() {
        if line.starts_with("openat(") && line.contains(&*name) {
            fd = line
                .rsplit("= ")
                .next()
                .and_then(|v| v.trim().parse::<i64>().ok());
        } else if let Some(fd) = fd
            && (line.starts_with(&format!("read({fd},"))
                || line.starts_with(&format!("pread64({fd},")))
        {
            total += line
                .rsplit("= ")
                .next()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total)
}
