//! Shared test context: a temp dir per test with its own home and cache (so no test sees
//! another's files, or the user's), the `fxb` binary, snapshot formatting with unstable
//! parts filtered, and builders for the bundles the tests write (real signatures from the
//! reference bundles, tiny payloads) and for hostile archives the writer would never
//! produce.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use fxb::bundle::{Bundle, Edf, EdfBody, Manifest, Signature, parse_manifest};

/// `../shared/fixtures`, beside the checkout (as in CI).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

pub fn reference(name: &str) -> PathBuf {
    fixtures().join("reference").join(name)
}

pub fn read_reference(name: &str) -> String {
    fs::read_to_string(reference(name)).expect("reference fixture exists")
}

/// `PATH` without the directories holding a `furiosa-tcc` (a vendor venv's `bin`).
pub fn vendor_free_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("furiosa-tcc").exists())
        .collect();
    std::env::join_paths(kept).unwrap_or_default()
}

/// A quick real build: the minimal bucket set at a short length, no compiler cache.
pub const SMALL_BUILD: &[&str] = &["-O", "O0", "--max-model-len", "1024", "--no-compiler-cache"];

/// The Hub of a test that has none: nothing listens there.
pub const NO_HUB: &str = "http://127.0.0.1:9";

pub struct TestContext {
    pub temp: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(temp.path().join("home")).expect("home");
        TestContext { temp }
    }

    pub fn root(&self) -> &Path {
        self.temp.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.temp.path().join(relative)
    }

    /// Copy a reference bundle into the temp dir, so commands can name it relatively.
    pub fn copy_reference_bundle(&self, name: &str, as_name: &str) -> PathBuf {
        let target = self.path(as_name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).expect("parent");
        }
        fs::copy(reference(&format!("bundles/{name}")), &target).expect("copy bundle");
        target
    }

    /// A model directory `name` holding the fixture config `config` as its config.json;
    /// returns `name` for use as an argument.
    pub fn model_dir(&self, name: &str, config: &str) -> String {
        fs::create_dir_all(self.path(name)).expect("model dir");
        fs::copy(
            fixtures().join("configs").join(config),
            self.path(&format!("{name}/config.json")),
        )
        .expect("copy config");
        name.to_string()
    }

    /// A model directory `name` whose config.json is `config` (a fixture, edited).
    pub fn model_dir_with(&self, name: &str, config: &serde_json::Value) -> String {
        fs::create_dir_all(self.path(name)).expect("model dir");
        fs::write(
            self.path(&format!("{name}/config.json")),
            config.to_string(),
        )
        .expect("write config");
        name.to_string()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fxb"));
        cmd.current_dir(self.root())
            .env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("home/.cache"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("FXB_PLUGIN_CACHE_DIR", shared_plugin_cache())
            .env_remove("FXB_LOG")
            .env_remove("FXB_PLUGIN_PATH")
            .env_remove("FXB_CACHE_DIR")
            .env_remove("FXB_BACKEND")
            .env_remove("FXB_BACKEND_PATH")
            // The vendor toolchain, when this machine has it, must not change what tests
            // see: `check` would ask it for the runtime's revision (issue 16).
            .env_remove("FXB_FURIOSA_PYTHON")
            .env_remove("FXB_FURIOSA_TCC")
            .env("PATH", vendor_free_path())
            .env_remove("NO_COLOR")
            .env_remove("FXB_LLM_VERSION")
            // The Hub: no test reads the user's token, cache or endpoint, and no proxy
            // sees a request to a test's mock Hub. A test without a mock Hub that names a
            // repo id meets a closed loopback port (the discard port), never the internet.
            .env("HF_ENDPOINT", NO_HUB)
            .env_remove("HF_TOKEN")
            .env_remove("HF_TOKEN_PATH")
            .env_remove("HF_HOME")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            // A backend's panic message must not grow a backtrace on a developer's machine.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("fxb runs")
    }

    /// Exit code, stdout and stderr, with the temp dir replaced by `[TEMP]`, the fixtures by
    /// `[FIXTURES]` and the built native backends' directory by `[BACKENDS]`.
    pub fn snapshot(&self, args: &[&str]) -> String {
        let output = self.run(args);
        self.format(&output)
    }

    pub fn format(&self, output: &Output) -> String {
        let root = self.root().to_string_lossy().to_string();
        let fixtures = fixtures().to_string_lossy().into_owned();
        let backends = env!("FXB_NATIVE_BACKEND_DIR");
        let revision = env!("FXB_GIT_REVISION");
        let clean = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes)
                .replace(&root, "[TEMP]")
                .replace(&fixtures, "[FIXTURES]")
                .replace(backends, "[BACKENDS]");
            // A build outside git says `unknown`, a word that also appears in messages.
            if revision == "unknown" {
                text
            } else {
                text.replace(revision, "[REV]")
            }
        };
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            output
                .status
                .code()
                .map_or("signal".into(), |c| c.to_string()),
            clean(&output.stdout),
            clean(&output.stderr)
        )
    }
}

/// A part of the output that varies from run to run: a regex and the placeholder a
/// snapshot shows instead. [`TestContext::format`] always replaces the temp dir (`[TEMP]`)
/// and the git revision (`[REV]`); a test adds the filters its output needs with
/// [`filters`].
pub type Filter = (&'static str, &'static str);

/// Wall-clock durations as fxb prints them: `in 2.1s`, `0.001s` in a build report, and
/// `"seconds": 0.0123` in JSON.
pub const DURATIONS: &[Filter] = &[
    (r"\b\d+\.\d+s\b", "[TIME]"),
    (r#""seconds": [0-9.e-]+"#, r#""seconds": [TIME]"#),
];

/// Human sizes (`4.9 KiB`) and JSON byte counts of a whole bundle (`"size": 12345`): a
/// bundle's manifest holds a random uuid and the time, so it compresses a byte or so
/// differently each build.
pub const SIZES: &[Filter] = &[
    (r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b", "[SIZE]"),
    (r#""size": \d+"#, r#""size": [SIZE]"#),
];

/// What a build stamps into a bundle: a random uuid, the creation time (ISO 8601), and the
/// creation minute in a standard file name (`…-2612011501.fxb`).
pub const BUILD_STAMPS: &[Filter] = &[
    (
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        "[UUID]",
    ),
    (
        r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIMESTAMP]",
    ),
    (r"-\d{10}\.fxb\b", "-[STAMP].fxb"),
];

/// A build's staging directory beside its output, `.fxb-build-<pid>-<random>`.
pub const STAGING: &[Filter] = &[(r"\.fxb-build-\d+-[A-Za-z0-9]+", ".fxb-build-[PID]-[RANDOM]")];

/// The panic message Rust prints for a panicking backend: its thread id and the source
/// location of the `panic!`.
pub const PANICS: &[Filter] = &[(
    r"thread '([^']*)' \(\d+\) panicked at [^\n]*:\d+:\d+:",
    "thread '$1' ([TID]) panicked at [LOCATION]:",
)];

/// Apply `filters` (lists of [`Filter`]) to the snapshots this thread takes until the guard
/// drops: `let _filters = filters(&[DURATIONS, SIZES]);` at the top of a test.
#[must_use = "the filters apply while the guard lives"]
pub fn filters(filters: &[&[Filter]]) -> insta::internals::SettingsBindDropGuard {
    let mut settings = insta::Settings::clone_current();
    for (regex, placeholder) in filters.iter().copied().flatten() {
        settings.add_filter(regex, *placeholder);
    }
    settings.bind_to_scope()
}

/// Compiled plugins are content-keyed, so every test may share one cache: only the first
/// test to need a plugin pays for compiling it.
pub fn shared_plugin_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled-plugins")
}

/// A wasm plugin the build compiled (embedded or test-only), by crate file name.
pub fn built_plugin(file: &str) -> PathBuf {
    Path::new(env!("FXB_WASM_DIR")).join(file)
}

/// A native backend library the build compiled (`host` or `testing`).
pub fn native_backend(name: &str) -> PathBuf {
    Path::new(env!("FXB_NATIVE_BACKEND_DIR")).join(format!(
        "{}fxb_backend_{name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Lines sorted: for comparing `show` output where the reference's order is random.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// The manifest of the real `llama-min` bundle (FORMAT.md §2.1).
pub fn reference_manifest() -> Manifest {
    parse_manifest(include_bytes!("../fixtures/manifest-llama-min.json")).expect("parses")
}

/// The real signatures of every kernel file of a reference bundle, by file name.
pub fn reference_signatures(bundle: &str) -> Vec<(String, Signature)> {
    let mut bundle = Bundle::open(reference(&format!("bundles/{bundle}"))).expect("opens");
    let files: Vec<String> = bundle
        .manifest()
        .files()
        .iter()
        .map(|f| f.to_string())
        .collect();
    files
        .into_iter()
        .map(|f| {
            let signature = bundle.read_signature(&f).expect("reads");
            (f, signature)
        })
        .collect()
}

/// A small EDF carrying `signature` and a tiny placeholder payload.
pub fn edf_bytes(signature: Signature) -> Vec<u8> {
    Edf {
        body: EdfBody {
            nodes: vec![ciborium::Value::Map(vec![(
                ciborium::Value::Text("Host".into()),
                ciborium::Value::Bytes(vec![0xAB; 64]),
            )])],
            inputs: vec![0],
            outputs: vec![1],
            placeholders: ciborium::Value::Map(vec![(
                ciborium::Value::Text("inner".into()),
                ciborium::Value::Map(vec![]),
            )]),
            copies: ciborium::Value::Map(vec![]),
            signature,
        },
    }
    .to_bytes()
    .expect("encodes")
}

/// Write `manifest` with the writer; every file it names gets an EDF with the signature
/// `signature_for` gives it.
pub fn write_bundle(path: &Path, manifest: &Manifest, signature_for: &dyn Fn(&str) -> Signature) {
    fxb::bundle::write_bundle(path, manifest, chrono::Utc::now(), |file| {
        let bytes = edf_bytes(signature_for(file));
        let size = bytes.len() as u64;
        Ok((Box::new(std::io::Cursor::new(bytes)), size))
    })
    .expect("write bundle");
}

/// A lookup from kernel file name to its real signature in a reference bundle (empty for
/// files it does not have).
pub fn signatures_of(bundle: &str) -> impl Fn(&str) -> Signature {
    let table = reference_signatures(bundle);
    move |file| {
        table
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }
}

/// The `llama-min` bundle re-made by fxb's writer: the reference manifest and real
/// signatures, tiny payloads.
pub fn write_llama_min(path: &Path) {
    write_bundle(path, &reference_manifest(), &signatures_of("llama-min.fxb"));
}

/// One entry of a hand-made zip.
pub struct RawEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    /// 0 = stored, 8 = deflate (the data must already be compressed).
    pub method: u16,
    /// Declared uncompressed size; defaults to the data length.
    pub declared_size: Option<u64>,
}

impl RawEntry {
    pub fn stored(name: &str, data: &[u8]) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            method: 0,
            declared_size: None,
        }
    }
}

/// A minimal zip writer that writes whatever it is told: duplicate names, hostile names,
/// lying sizes. Only for tests of the reader's defences.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let crc = crc32(&entry.data);
        let size = entry.declared_size.unwrap_or(entry.data.len() as u64) as u32;
        let compressed = entry.data.len() as u32;
        let mut header = Vec::new();
        header.extend_from_slice(&10u16.to_le_bytes()); // version needed
        header.extend_from_slice(&0u16.to_le_bytes()); // flags
        header.extend_from_slice(&entry.method.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes()); // time + date
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&compressed.to_le_bytes());
        header.extend_from_slice(&size.to_le_bytes());
        header.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&header);
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&entry.data);

        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&0x030au16.to_le_bytes()); // made by
        central.extend_from_slice(&header);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        let attributes: u32 = if entry.name.ends_with(b"/") {
            0o040755 << 16
        } else {
            0o100644 << 16
        };
        central.extend_from_slice(&attributes.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&entry.name);
    }
    let directory_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&directory_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Names of everything directly in `dir` (to prove nothing was left behind).
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A real config by file name: from the shared fixtures, else from this project's own
/// `tests/fixtures/configs` (published configs the shared set lacks).
pub fn fixture_config(file: &str) -> serde_json::Value {
    let shared = fixtures().join("configs").join(file);
    let path = if shared.is_file() {
        shared
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/configs")
            .join(file)
    };
    serde_json::from_str(&fs::read_to_string(&path).expect("config")).expect("json")
}

/// The config a sweep was run on (Qwen3-8B-FP8's is not among the fixtures: it is
/// Qwen3-8B's with fp8 quantization, which is all the planner reads).
pub fn sweep_config(model: &str) -> serde_json::Value {
    let file = match model {
        "Qwen/Qwen3-8B-FP8" => "Qwen--Qwen3-8B.json".to_string(),
        other => format!("{}.json", other.replace('/', "--")),
    };
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("configs").join(file)).expect("config"),
    )
    .expect("json");
    if model == "Qwen/Qwen3-8B-FP8" {
        config["quantization_config"] = serde_json::json!({"quant_method": "fp8"});
    }
    config
}

/// Every sweep file in `plans/sweeps/` (file name, parsed JSON), sorted by name.
pub fn sweeps() -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures().join("plans/sweeps"))
        .expect("sweeps")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sweep =
                serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("json");
            (name, sweep)
        })
        .collect()
}

/// `sh -c SCRIPT` in a private mount namespace (`unshare -m`), with the environment fxb's
/// commands get, so a test can mount what it needs (a read-only bind, a tiny tmpfs);
/// `{fxb}` in the script is fxb's path. `None` where this machine allows no private mount
/// (the script exits 97 when its mount fails).
pub fn in_mount_namespace(ctx: &TestContext, script: &str) -> Option<Output> {
    let fxb = ctx.command();
    let script = script.replace("{fxb}", &fxb.get_program().to_string_lossy());
    let mut command = Command::new("unshare");
    command
        .args(["-m", "sh", "-c", &script])
        .current_dir(ctx.root());
    for (key, value) in fxb.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let output = command.output().ok()?;
    (output.status.code() != Some(97) && !stderr(&output).contains("unshare: ")).then_some(output)
}

/// `found`, or — when an environment a test needs is missing (the vendor toolchain, the
/// reference, the Hub's Python client) — `None` with a skip said on stderr. With
/// FXB_REQUIRE_VENDOR_ENV set, as `.ci/run` sets it, a missing one fails the test: CI never
/// skips.
pub fn required_env<T>(found: Option<T>, what: &str, script: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            std::env::var_os("FXB_REQUIRE_VENDOR_ENV").is_none(),
            "FXB_REQUIRE_VENDOR_ENV is set but there is no {what} (run {script})"
        );
        eprintln!("skipped: no {what} ({script} makes one)");
    }
    found
}

/// The reference run as a user runs it, in the test's directory with the test's home (so
/// its default cache is fxb's), nothing of this machine's environment, and no Hub.
pub fn reference_command(reference: &Path, ctx: &TestContext) -> std::process::Command {
    let mut cmd = std::process::Command::new(reference);
    cmd.current_dir(ctx.root())
        .env_clear()
        .env("PATH", vendor_free_path())
        .env("LANG", "C.UTF-8")
        .env("HOME", ctx.path("home"))
        .env("XDG_CACHE_HOME", ctx.path("home/.cache"))
        .env("HF_HOME", ctx.path("hf"))
        .env("HF_ENDPOINT", NO_HUB)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    cmd
}
