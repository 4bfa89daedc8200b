//! Build script: records the git revision for `fxb version`, compiles the first-party
//! wasm plugins so the binary embeds them (a plain `cargo build` gives a working tool), and
//! converts the embedded rule files to JSON (see [`convert_rules`]).
//!
//! The plugins are built by a nested `cargo build --target wasm32-unknown-unknown` into
//! `<target>/wasm-plugins`, a target dir of their own (so the outer build's lock is never
//! contended), with the `wasm-plugin` profile. Cargo's own change tracking makes that a
//! no-op when nothing changed. The wasm target is installed with rustup when missing.

use sha2::Digest as _;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugin crates compiled to wasm, and whether the binary embeds them.
const PLUGINS: &[(&str, bool)] = &[
    ("fxb-plugin-generic", true),
    ("fxb-plugin-exaone4", true),
    ("fxb-plugin-gpt-oss", true),
    ("fxb-plugin-llama", true),
    ("fxb-plugin-mistral", true),
    ("fxb-plugin-qwen2", true),
    ("fxb-plugin-qwen3", true),
    ("fxb-plugin-qwen3-moe", true),
    ("fxb-plugin-xlm-roberta", true),
    ("fxb-plugin-testing", false),
];
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Native backend libraries the tests load through libloading.
const BACKENDS: &[&str] = &["fxb-backend-host", "fxb-backend-testing"];

fn main() {
    record_git_revision();
    convert_rules();
    build_plugins();
    build_backends();
    pack_relocations();
}

/// `rules/*.toml` as JSON in `$OUT_DIR/rules/`, which the binary embeds beside the TOML:
/// every command reads the embedded rules, and parsing fourteen TOML files took ~1.5 ms of
/// each start-up while JSON of the same tables parses in a tenth of that (issue 12). The
/// conversion is structural (tables, arrays, strings, numbers, booleans); the TOML stays
/// the source of truth (its positions are used for any problem reported), and a test
/// checks both give the same rule for every file.
fn convert_rules() {
    let Ok(out_dir) = env::var("OUT_DIR") else {
        panic!("OUT_DIR is not set");
    };
    let out = Path::new(&out_dir).join("rules");
    std::fs::create_dir_all(&out)
        .unwrap_or_else(|e| panic!("cannot create `{}`: {e}", out.display()));
    println!("cargo:rerun-if-changed=rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir("rules")
        .unwrap_or_else(|e| panic!("cannot list rules/: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
        let table: toml::Table = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("`{}` is not TOML: {e}", path.display()));
        let json = serde_json::to_string(&json_of(&toml::Value::Table(table), &path))
            .unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            panic!("`{}` has no UTF-8 name", path.display());
        };
        let target = out.join(format!("{stem}.json"));
        std::fs::write(&target, json)
            .unwrap_or_else(|e| panic!("cannot write `{}`: {e}", target.display()));
    }
}

/// A TOML value as JSON; a TOML-only value (a date, a float JSON cannot hold) stops the build.
fn json_of(value: &toml::Value, path: &Path) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or_else(|| panic!("`{}`: the float {f} has no JSON form", path.display())),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Array(items) => J::Array(items.iter().map(|v| json_of(v, path)).collect()),
        toml::Value::Table(table) => J::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v, path)))
                .collect(),
        ),
        toml::Value::Datetime(d) => {
            panic!("`{}`: a rule file holds no dates ({d})", path.display())
        }
    }
}

/// Relative relocations packed (DT_RELR) in the binary: the dynamic loader otherwise
/// spends ~1.3 ms of every command relocating a binary this size (issue 12, start-up
/// cost). Linux with glibc ≥ 2.36 and binutils ≥ 2.38 only; elsewhere the default.
fn pack_relocations() {
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if linux_gnu && linker_accepts("-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C compiler driver links an empty program with `flag`.
fn linker_accepts(flag: &str) -> bool {
    let Ok(out_dir) = env::var("OUT_DIR") else {
        return false;
    };
    let source = Path::new(&out_dir).join("relr-probe.c");
    let binary = Path::new(&out_dir).join("relr-probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let compiler = env::var("CC").unwrap_or_else(|_| "cc".into());
    Command::new(compiler)
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The backend cdylibs, built natively into `<target>/native-backends` so tests can load
/// them through the real plugin path (`FXB_NATIVE_BACKEND_DIR`).
fn build_backends() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for dir in [
        "plugins/backend-api",
        "plugins/backend-host",
        "plugins/backend-testing",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // <target>/[<triple>/]<profile>/build/<pkg>/out, as for the wasm plugins.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("native-backends"))
        .unwrap_or_else(|| root.join("target/native-backends"));
    let mut args = Vec::new();
    for package in BACKENDS {
        args.extend(["-p".to_string(), package.to_string()]);
    }
    nested_cargo_build(&root, &target_dir, &args, "the native backends");
    println!(
        "cargo:rustc-env=FXB_NATIVE_BACKEND_DIR={}",
        target_dir.join("debug").display()
    );
}

/// `cargo build <args> --target-dir <target_dir>` with the outer build's environment
/// scrubbed (its rustflags, clippy's wrapper and the jobserver must not leak in).
fn nested_cargo_build(root: &Path, target_dir: &Path, args: &[String], what: &str) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(args)
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in env::vars() {
        let leaks = (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("RUSTC")
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "DEBUG"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "TARGET"
                    | "HOST"
                    | "NUM_JOBS"
                    | "OUT_DIR"
            );
        if leaks {
            command.env_remove(key);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("failed to run cargo to build {what}: {e}"));
    if !output.status.success() {
        panic!(
            "building {what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn record_git_revision() {
    let revision = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=FXB_GIT_REVISION={revision}");
    // Rebuild when HEAD moves (a commit or a checkout). Git says where HEAD and the branch
    // refs are: in a linked worktree `.git` is a file, and a `.git/HEAD` that does not
    // exist made every build rebuild fxb. Without git, nothing is watched.
    let git_paths = Command::new("git")
        .args([
            "rev-parse",
            "--git-path",
            "HEAD",
            "--git-path",
            "refs/heads",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    for path in git_paths.lines().filter(|p| !p.is_empty()) {
        println!("cargo:rerun-if-changed={path}");
    }
}

fn build_plugins() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Every plugin crate's directory (`fxb-plugin-gpt-oss` lives in `plugins/gpt_oss`),
    // the API they share, and the lock file.
    for (package, _) in PLUGINS {
        let dir = package.trim_start_matches("fxb-plugin-").replace('-', "_");
        println!("cargo:rerun-if-changed=plugins/{dir}");
    }
    for watched in ["plugins/api", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>/out: share one plugin build
    // between profiles.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("wasm-plugins"))
        .unwrap_or_else(|| root.join("target/wasm-plugins"));

    ensure_wasm_target();
    let mut args: Vec<String> = ["--target", WASM_TARGET, "--profile", "wasm-plugin"]
        .map(String::from)
        .to_vec();
    for (package, _) in PLUGINS {
        args.extend(["-p".to_string(), package.to_string()]);
    }
    nested_cargo_build(&root, &target_dir, &args, "the wasm plugins");

    let wasm_dir = target_dir.join(WASM_TARGET).join("wasm-plugin");
    let mut embedded = String::from(
        "/// First-party plugins compiled into this binary: (file name, wasm, sha256).\n",
    );
    embedded.push_str("pub const EMBEDDED: &[(&str, &[u8], &str)] = &[\n");
    for (package, embed) in PLUGINS {
        let file = format!("{}.wasm", package.replace('-', "_"));
        let path = wasm_dir.join(&file);
        assert!(
            path.is_file(),
            "the plugin build did not produce {}",
            path.display()
        );
        if *embed {
            // Hashed here, once: hashing every embedded plugin at start-up was most of
            // what `fxb version` and `check` spent before doing anything (issue 12).
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let digest: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            embedded.push_str(&format!(
                "    ({file:?}, include_bytes!({:?}), {digest:?}),\n",
                path.display().to_string()
            ));
        }
    }
    embedded.push_str("];\n");
    write_if_changed(&out_dir.join("embedded_plugins.rs"), &embedded);
    // Tests load the non-embedded test plugins from here.
    println!("cargo:rustc-env=FXB_WASM_DIR={}", wasm_dir.display());
}

fn ensure_wasm_target() {
    let sysroot = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib").join(WASM_TARGET).is_dir());
    if installed {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        panic!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed; install it and build again"
        );
    }
}

fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("write generated file");
    }
}
