//! The fuzz corpus and reproducers (`fuzz/`, README "Fuzzing") replayed as ordinary
//! tests, through the fuzz targets' own bodies (`fuzz/src/lib.rs`, included here): CI
//! never fuzzes, but every seed and every input that ever broke fxb runs on each CI run.
//!
//! A reproducer's name says what fxb must do with it: `refused-…` is refused with an
//! error, `accepted-…` is accepted; any other name (a crash the fuzzer found, kept as it
//! was found) must only not panic. The seeds and the named reproducers are made from the
//! fixtures ([`seeds`]); `FXB_UPDATE_FUZZ_CORPUS=1 cargo test fuzz_corpus` rewrites them.

// The fuzz targets' entry points that use the process-wide toolchain are not called here.
mod archives;
#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;
mod seeds;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fxb::toolchain::Toolchain;

use crate::common::shared_plugin_cache;

/// Reproducers fxb accepts today though it must refuse them, awaiting their fix (as
/// issue 13's numeric config fields did): each only must not panic until then, and once
/// it is refused the test says to take it off this list.
const PENDING: &[&str] = &[];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Whether a seed is a build output: the bundles and kernel files fxb writes from the
/// fixtures are not committed (fuzz/.gitignore) but made here, before any input is read.
fn is_made(relative: &str) -> bool {
    relative.ends_with(".fxb") || relative.ends_with(".edf")
}

/// Write the made seeds into `fuzz/` (once per test process, only where they differ), so
/// the replay and `scripts/fuzz` find them in a fresh clone.
fn made_seeds_on_disk() {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        for (relative, bytes) in seeds::all().into_iter().filter(|(r, _)| is_made(r)) {
            let path = fuzz_dir().join(&relative);
            if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("a directory");
            }
            std::fs::write(&path, &bytes).expect("written");
        }
    });
}

/// One toolchain for every replayed config, as in a fuzzing process.
fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();
    TOOLCHAIN.get_or_init(|| harness::embedded_toolchain(shared_plugin_cache()))
}

fn run(target: &str, data: &[u8]) -> harness::Outcome {
    match target {
        "manifest" => harness::manifest(data),
        "bundle" => harness::bundle(data),
        "edf" => harness::edf(data),
        "fingerprint" => harness::fingerprint_with(toolchain(), data),
        "rules" => harness::rules(data),
        other => panic!("no fuzz target `{other}`"),
    }
}

/// The files of `fuzz/{kind}/{target}`, sorted.
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("`{}`: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Refused,
    Accepted,
    NoPanic,
}

fn expectation(name: &str) -> Expect {
    if name.starts_with("refused-") {
        Expect::Refused
    } else if name.starts_with("accepted-") {
        Expect::Accepted
    } else {
        Expect::NoPanic
    }
}

/// Every seed and reproducer of `target` through it: none may panic, and each
/// reproducer must meet what its name says.
fn replay(target: &str) {
    made_seeds_on_disk();
    let mut problems = Vec::new();
    let seeds = files("corpus", target);
    assert!(!seeds.is_empty(), "no seeds for `{target}`");
    let reproducers = files("reproducers", target);
    for (path, is_reproducer) in seeds
        .iter()
        .map(|p| (p, false))
        .chain(reproducers.iter().map(|p| (p, true)))
    {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = format!("{target}/{name}");
        // Shown with the panic's message when the replay fails: which input it was.
        eprintln!("replaying {}", path.display());
        let data = std::fs::read(path).expect("readable");
        let outcome = run(target, &data);
        let expected = if is_reproducer {
            expectation(&name)
        } else {
            Expect::NoPanic
        };
        let pending = PENDING.contains(&shown.as_str());
        match (expected, &outcome) {
            (Expect::Refused, Ok(())) if !pending => {
                problems.push(format!("`{shown}` was accepted; it must be refused"));
            }
            (Expect::Refused, Err(_)) if pending => problems.push(format!(
                "`{shown}` is refused now: take it off `PENDING` in tests/it/fuzz_corpus.rs"
            )),
            (Expect::Accepted, Err(e)) => {
                problems.push(format!("`{shown}` was refused ({e}); it must be accepted"));
            }
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn manifest_inputs() {
    replay("manifest");
}

#[test]
fn bundle_inputs() {
    replay("bundle");
}

#[test]
fn edf_inputs() {
    replay("edf");
}

#[test]
fn fingerprint_inputs() {
    replay("fingerprint");
}

#[test]
fn rules_inputs() {
    replay("rules");
}

/// Every target has a seed directory and a reproducer directory, and nothing else lives
/// there (a misnamed directory would be replayed by nothing).
#[test]
fn every_target_and_only_the_targets_have_inputs() {
    made_seeds_on_disk();
    for kind in ["corpus", "reproducers"] {
        let mut found: Vec<String> = std::fs::read_dir(fuzz_dir().join(kind))
            .expect("readable")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        found.sort();
        let mut targets: Vec<String> = harness::TARGETS.iter().map(|t| t.to_string()).collect();
        targets.sort();
        assert_eq!(found, targets, "fuzz/{kind}");
    }
    for target in harness::TARGETS {
        let source = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(source.is_file(), "no `{}`", source.display());
    }
}

/// The committed seeds and named reproducers are what the fixtures make, so a fixture
/// that changes cannot leave the fuzzer seeded with something else (the made ones are
/// written instead: `scripts/fuzz` runs this test for them before fuzzing). Reproducers the
/// fuzzer found are kept as found and not checked here.
#[test]
fn the_seeds_are_made_from_the_fixtures() {
    let update = std::env::var_os("FXB_UPDATE_FUZZ_CORPUS").is_some();
    made_seeds_on_disk();
    let mut stale = Vec::new();
    for (relative, bytes) in seeds::all().into_iter().filter(|(r, _)| !is_made(r)) {
        let path = fuzz_dir().join(&relative);
        if update {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("a directory");
            }
            std::fs::write(&path, &bytes).expect("written");
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(relative);
        }
    }
    assert!(
        stale.is_empty(),
        "not what the fixtures make (regenerate with `FXB_UPDATE_FUZZ_CORPUS=1 cargo test fuzz_corpus`):\n{}",
        stale.join("\n")
    );
}
