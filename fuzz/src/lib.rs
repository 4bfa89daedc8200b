//! The bodies of the fuzz targets, one function per kind of file fxb reads, shared with
//! the replay tests (`tests/it/fuzz_corpus.rs` includes this file as a module, so what
//! `cargo test` replays is exactly what the fuzzer ran).
//!
//! Each function feeds its input to the library functions the CLI calls on that kind of
//! file, then checks what a user would notice beyond a panic: tables stay narrow and free
//! of terminal escapes, a manifest fxb rewrote reads back, the two ways a kernel file is
//! streamed agree. It returns `Ok` when the CLI would have carried on, or the error it
//! would have printed.
//!
//! It must never catch a panic (no `catch_unwind`): a panic here is what the fuzzer is
//! looking for. Where the plugin sandbox turns a plugin's panic or trap into an error,
//! that error is treated as the panic it was.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use fxb::bundle::{
    Bundle, Manifest, Signature, parse_manifest, read_signature, standard_file_name, summarize,
};
use fxb::cache::{FileEntry, Index, human_size, index};
use fxb::fingerprint::{
    FingerprintError, config_architecture, fingerprint, model_fields, parse_config, render_fields,
};
use fxb::plugin::{CallFailure, CompiledCache, Limits, PluginHost, PluginSearch, PluginSet};
use fxb::report::{MAX_CELL, printable, report_item, simple_table, table, version_cell};
use fxb::rules::{RuleSet, parse_rule};
use fxb::toolchain::Toolchain;
use fxb_backend_api::edf::{Seekable, Sequential};
use fxb_plugin_api::v1::FingerprintRequest;

/// What the CLI would have done: carried on, or printed this error.
pub type Outcome = Result<(), String>;

/// The fuzz targets, by name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: &[&str] = &["manifest", "bundle", "edf", "fingerprint", "rules"];

/// `manifest.json`, as `show`, `add` and `cache ls` use it, and as `pack` rewrites it.
pub fn manifest(data: &[u8]) -> Outcome {
    let manifest = parse_manifest(data).map_err(|e| e.to_string())?;
    render_manifest(&manifest);

    // `pack` writes the manifest it read (migrated to the current format); fxb must read
    // what it wrote, and read the same manifest.
    let rewritten = manifest
        .to_json_bytes()
        .unwrap_or_else(|e| panic!("a manifest that was read cannot be written: {e}"));
    let again = parse_manifest(&rewritten)
        .unwrap_or_else(|e| panic!("the manifest fxb rewrote does not read back: {e}"));
    assert_eq!(again, manifest, "the rewritten manifest reads differently");
    Ok(())
}

/// A `.fxb` archive, as `show`, `inspect` and `unpack` / `add` read it: opened from a
/// file (the reader only takes paths), every kernel's signature read, every entry copied
/// with its size and CRC-32 checked.
pub fn bundle(data: &[u8]) -> Outcome {
    let mut file = tempfile::Builder::new()
        .prefix("fxb-fuzz-")
        .suffix(".fxb")
        .tempfile()
        .unwrap_or_else(|e| panic!("cannot create a temporary file: {e}"));
    file.write_all(data)
        .and_then(|()| file.flush())
        .unwrap_or_else(|e| panic!("cannot write a temporary file: {e}"));
    bundle_at(file.path())
}

/// [`bundle`] on a file already on disk.
pub fn bundle_at(path: &Path) -> Outcome {
    let mut bundle = Bundle::open(path).map_err(|e| e.to_string())?;
    let manifest = bundle.manifest().clone();
    render_manifest(&manifest);
    let entries = bundle.entries().map_err(|e| e.to_string())?;

    // `inspect`: each kernel entry's signature, in the manifest's order; the first error
    // ends the command.
    let inspected = manifest
        .kernels
        .iter()
        .flat_map(|(kernel, entries)| entries.iter().map(move |e| (kernel, e)))
        .try_for_each(|(kernel, entry)| {
            printable(kernel);
            printable(&entry.bucket.label());
            let signature = bundle
                .read_signature(&entry.file)
                .map_err(|e| e.to_string())?;
            render_signature(&signature);
            Ok(())
        });

    // `unpack` and `add`: every entry's bytes, checked against its declared size and CRC.
    let copied = entries
        .iter()
        .filter(|entry| !entry.is_dir)
        .try_for_each(|entry| {
            let copied = bundle
                .copy_entry(&entry.name, &mut std::io::sink())
                .map_err(|e| e.to_string())?;
            assert_eq!(
                copied, entry.size,
                "`{}` was copied whole but not at its listed size",
                entry.name
            );
            Ok(())
        });
    inspected.and(copied)
}

/// A kernel file (EDF), as `inspect` and `diff` read its signature: streamed the way a
/// stored zip entry is (seeking) and the way a deflated one is (reading through), which
/// must agree.
pub fn edf(data: &[u8]) -> Outcome {
    let len = data.len() as u64;
    let seeking = read_signature(
        &mut Seekable::new(std::io::Cursor::new(data), len),
        Some(len),
    );
    let reading = read_signature(&mut Sequential(data), Some(len));
    match (&seeking, &reading) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "a stored and a deflated kernel read differently"),
        (Err(_), Err(_)) => {}
        _ => panic!("a stored and a deflated kernel read differently: {seeking:?} and {reading:?}"),
    }
    let signature = seeking?;
    render_signature(&signature);
    Ok(())
}

/// A model's `config.json`, as `fingerprint`, `check` and `build` read it: parsed, then
/// fingerprinted through the real plugin host under the embedded rules and plugins.
pub fn fingerprint_config(data: &[u8]) -> Outcome {
    fingerprint_with(toolchain(), data)
}

/// [`fingerprint_config`] with a given toolchain.
///
/// The fuzzer cannot see inside the sandbox (the plugins are compiled by wasmtime, not
/// instrumented), so the plugins' shared fingerprint logic also runs natively on the same
/// request: coverage the fuzzer can follow, and a second opinion. Every embedded plugin
/// checks its family's fields and then fingerprints with that logic, so what the sandbox
/// fingerprints the native logic must fingerprint the same.
pub fn fingerprint_with(tools: &Toolchain, data: &[u8]) -> Outcome {
    let path = Path::new("config.json");
    let config = parse_config(path, data).map_err(|e| error_chain(&e))?;
    let native = config_architecture(&config).and_then(|architecture| {
        let (_, rule) = tools.rules.fingerprint_rule(architecture)?;
        Some(fxb_plugin_api::fingerprint::standard(FingerprintRequest {
            config: config.clone(),
            architecture: Some(architecture.to_string()),
            rule: serde_json::to_value(rule).ok()?,
        }))
    });
    let print = match fingerprint(
        path,
        &config,
        None,
        &tools.rules,
        &tools.plugins,
        &tools.host,
    ) {
        Ok(print) => print,
        Err(FingerprintError::Plugin { source, .. }) => match source.failure {
            // A plugin refusing the config, by name: what it should do.
            CallFailure::Plugin(_) => return Err(source.to_string()),
            // A panic, a trap, an endless loop or a reply the host cannot read is a
            // defect in the plugin, which the sandbox only keeps from taking fxb down.
            _ => panic!("the plugin failed on a config: {source}"),
        },
        Err(other) => return Err(error_chain(&other)),
    };
    match native {
        Some(Ok(native)) => assert_eq!(
            (&native.architecture, &native.fields),
            (&print.architecture, &print.fields),
            "the sandboxed plugin and its logic run natively fingerprint differently"
        ),
        Some(Err(e)) => {
            panic!("the sandboxed plugin fingerprinted a config its logic refuses: {e}")
        }
        None => {}
    }
    render_fields(&print.fields);
    for (key, value) in model_fields(&config, &print) {
        report_item(&key, &value.to_string());
    }
    Ok(())
}

/// A rule file, as `rules check` and `rules ls` read it.
pub fn rules(data: &[u8]) -> Outcome {
    // `rules check` reads the file as UTF-8 text.
    let text = std::str::from_utf8(data).map_err(|e| format!("cannot read it: {e}"))?;
    let rule = match parse_rule(text) {
        Ok(rule) => rule,
        Err(problems) => {
            let lines = text.lines().count().max(1);
            let messages: Vec<String> = problems
                .iter()
                .map(|p| {
                    assert!(
                        p.line >= 1 && p.line <= lines + 1 && p.column >= 1,
                        "a problem points outside the file: {p:?}"
                    );
                    format!("rules.toml:{}:{}: {}", p.line, p.column, p.message)
                })
                .collect();
            assert!(!messages.is_empty(), "a refused rule file with no problem");
            return Err(messages.join("\n"));
        }
    };
    // `rules ls`: its row.
    let provides = [
        rule.fingerprint.as_ref().map(|_| "fingerprint"),
        rule.plan.as_ref().map(|_| "plan"),
    ];
    let row = vec![
        rule.name.clone(),
        rule.version.clone(),
        rule.architectures.join(", "),
        provides
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        "rules.toml".to_string(),
        format!("needs fxb {}", rule.fxb),
    ];
    let header = [
        "NAME",
        "VERSION",
        "ARCHITECTURES",
        "PROVIDES",
        "SOURCE",
        "STATUS",
    ];
    check_table(&table(&header, &[row]), header.len());
    rule.compatible_with_this_fxb();
    // What a plugin is sent as the rule.
    if let Some(fingerprint) = &rule.fingerprint {
        serde_json::to_value(fingerprint)
            .unwrap_or_else(|e| panic!("a fingerprint rule does not serialize: {e}"));
    }
    Ok(())
}

/// The embedded rules and plugins, and a plugin host whose compiled modules are cached in
/// `compiled_dir`: the CLI's toolchain without the user's own plugin and rule
/// directories, so a run does not depend on what is installed.
pub fn embedded_toolchain(compiled_dir: PathBuf) -> Toolchain {
    Toolchain {
        rules: RuleSet::embedded(),
        plugins: PluginSet::discover(&PluginSearch::default()),
        host: PluginHost::new(CompiledCache::new(compiled_dir), Limits::default()),
    }
}

/// The process's one toolchain, caching compiled plugins where the CLI does
/// (`FXB_PLUGIN_CACHE_DIR`, else the user's cache). Every plugin is loaded when it is
/// made, before the first input: compiling one (seconds under the fuzzer's
/// instrumentation) is not the input's cost, and would be reported as a hang.
pub fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();
    TOOLCHAIN.get_or_init(|| {
        let tools = embedded_toolchain(CompiledCache::default_dir());
        for plugin in tools.plugins.plugins() {
            // A plugin that does not load fails again, and is reported, when it is called.
            let _ = tools.host.load(plugin);
        }
        tools
    })
}

/// What `show` and `cache ls` print of a manifest, and the file name `add` gives it.
fn render_manifest(manifest: &Manifest) {
    let summary = summarize("bundle.fxb", manifest);
    let mut report = Vec::new();
    report.push(report_item("uuid", summary.uuid.as_deref().unwrap_or("-")));
    report.push(report_item(
        "created_at",
        summary.created_at.as_deref().unwrap_or("-"),
    ));
    report.extend(
        summary
            .versions
            .iter()
            .map(|v| report_item(&v.tool, &v.display())),
    );
    report.extend(
        summary
            .model
            .iter()
            .map(|(key, value)| report_item(key, value)),
    );
    report.extend(summary.kernels.iter().map(|k| printable(k)));
    for entry in manifest.kernels.values().flatten() {
        report.push(printable(&entry.bucket.label()));
        entry.bucket.class();
    }
    for line in &report {
        assert!(
            !line.chars().any(char::is_control),
            "`show` prints a control character: {line:?}"
        );
    }
    serde_json::to_string(&summary).unwrap_or_else(|e| panic!("`show --json` fails: {e}"));

    // `add`: the file name must be one plain path component.
    if let Ok(name) = standard_file_name(manifest) {
        let mut components = Path::new(&name).components();
        assert!(
            matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none(),
            "the standard file name {name:?} is not one plain file name"
        );
    }

    // `add` records the manifest in the index; `cache ls` reads it back and prints a row.
    let rel_path = "models--local/snapshots/0/bundle.fxb";
    let mut index = Index::default();
    index.upsert(
        "local",
        FileEntry::new(manifest, rel_path, "0", 0, "2026-01-01T00:00:00"),
    );
    let bytes =
        index::to_bytes(&index).unwrap_or_else(|e| panic!("an index cannot be written: {e}"));
    let index =
        index::parse(&bytes).unwrap_or_else(|e| panic!("the index fxb wrote does not read: {e}"));
    let rows: Vec<Vec<String>> = index
        .files()
        .map(|(repo, e)| {
            vec![
                repo.to_string(),
                e.architecture().unwrap_or("-").to_string(),
                human_size(e.size_bytes),
                version_cell(e.ir_version.as_deref(), e.ir_revision.as_deref()),
                version_cell(e.llm_version.as_deref(), e.llm_revision.as_deref()),
                e.filename.clone(),
            ]
        })
        .collect();
    check_table(
        &simple_table(
            &[
                "REPO ID",
                "ARCH",
                "SIZE",
                "FuriosaIR",
                "FURIOSA-LLM",
                "FXB FILE",
            ],
            &rows,
        ),
        6,
    );
}

/// `inspect`'s lines for a signature.
fn render_signature(signature: &Signature) {
    let (inputs, outputs) = signature.render();
    assert_eq!(inputs.len(), signature.inputs.len());
    assert_eq!(outputs.len(), signature.outputs.len());
    let tensors = signature
        .inputs
        .iter()
        .map(|(t, _)| t)
        .chain(&signature.outputs);
    for tensor in tensors {
        tensor.size_bytes().and_then(|s| u64::try_from(s).ok());
        tensor.shape();
        tensor.element_type.short_name();
    }
}

/// Issue 13: a table renders any value, cut to [`MAX_CELL`] characters, with control
/// characters and terminal escapes shown escaped.
fn check_table(text: &str, columns: usize) {
    let widest = columns * (MAX_CELL + 2);
    for line in text.lines() {
        assert!(
            line.chars().count() <= widest,
            "a table line of {} characters",
            line.chars().count()
        );
        assert!(
            !line.chars().any(char::is_control),
            "a table line with a control character: {line:?}"
        );
    }
}

/// An error and its causes, as the CLI prints them (`caused by: …`), on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
