//! The plugin host: discovery and precedence, the hostile gallery (the host survives
//! each, and the message names the plugin and the cause), the compiled-module cache, and
//! the embedded generic plugin on real configs. Plugins are untrusted wasm, so a bad one
//! must never take fxb down; and the fingerprints they compute are what cache lookups key
//! on, so they must be the reference's.

use std::fs;
use std::path::Path;

use fxb::plugin::{CompiledCache, Limits, PluginHost, PluginSearch, PluginSet, inspect_module};
use fxb_plugin_api::v1::{FingerprintRequest, FingerprintResponse};
use serde_json::{Value, json};

use crate::common::{TestContext, built_plugin, fixtures, shared_plugin_cache, stderr, stdout};

const TESTING: &str = "fxb_plugin_testing.wasm";
const GENERIC: &str = "fxb_plugin_generic.wasm";

fn install(ctx: &TestContext, dir: &str, file: &str) -> std::path::PathBuf {
    let target = ctx.path(dir).join(file);
    fs::create_dir_all(ctx.path(dir)).expect("plugin dir");
    fs::copy(built_plugin(file), &target).expect("copy plugin");
    target
}

fn request_file(ctx: &TestContext, mode: &str) -> String {
    let path = ctx.path(&format!("request-{mode}.json"));
    fs::write(&path, json!({"config": {"mode": mode}}).to_string()).expect("write");
    path.display().to_string()
}

#[test]
fn plugins_ls_shows_the_embedded_plugin() {
    let ctx = TestContext::new();
    insta::assert_snapshot!(ctx.snapshot(&["plugins", "ls"]));
    let json: Value =
        serde_json::from_slice(&ctx.run(&["plugins", "ls", "--json"]).stdout).expect("json");
    assert_eq!(json["plugins"][0]["name"], "generic");
    assert_eq!(json["plugins"][0]["source"], "embedded");
    assert_eq!(json["plugins"][0]["active_for"], json!(["*"]));
    assert_eq!(
        json["plugins"][0]["sha256"].as_str().map(str::len),
        Some(64)
    );
}

/// --plugin-dir beats FXB_PLUGIN_PATH beats the user plugin dir beats embedded.
#[test]
fn user_plugins_override_embedded_ones_in_order() {
    let ctx = TestContext::new();
    install(&ctx, "first", GENERIC);
    install(&ctx, "second", GENERIC);
    install(&ctx, "home/.local/share/fxb/plugins", GENERIC);
    let output = ctx
        .command()
        .args(["plugins", "ls", "--json", "--plugin-dir", "first"])
        .env("FXB_PLUGIN_PATH", ctx.path("second"))
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    // Only the `generic` plugins: the embedded family plugins are not part of this.
    let plugins: Vec<&Value> = json["plugins"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| p["name"] == "generic")
        .collect();
    assert_eq!(plugins.len(), 4);
    let active: Vec<&str> = plugins
        .iter()
        .filter(|p| !p["active_for"].as_array().expect("list").is_empty())
        .map(|p| p["source"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(active, ["first/fxb_plugin_generic.wasm"]);
    assert_eq!(plugins[0]["source"], "embedded");
    assert!(
        plugins[0]["shadowed"][0]["by"]
            .as_str()
            .unwrap_or_default()
            .contains("first")
    );
    let sources: Vec<&str> = plugins
        .iter()
        .map(|p| p["source"].as_str().unwrap_or_default())
        .collect();
    assert!(
        sources[1].contains("first")
            && sources[2].contains("second")
            && sources[3].contains(".local/share"),
        "{sources:?}"
    );
}

#[test]
fn a_user_plugin_serves_its_architecture_and_broken_files_are_skipped() {
    let ctx = TestContext::new();
    install(&ctx, "plugins", TESTING);
    fs::write(ctx.path("plugins/broken.wasm"), "not wasm").expect("write");
    let listing = ctx.run(&["plugins", "ls", "--plugin-dir", "plugins"]);
    assert_eq!(listing.status.code(), Some(1));
    insta::assert_snapshot!("listing", ctx.format(&listing));
    let ok = request_file(&ctx, "ok");
    let call = ctx.run(&[
        "plugins",
        "call",
        "fingerprint",
        "--arch",
        "TestingForCausalLM",
        "--input",
        &ok,
        "--plugin-dir",
        "plugins",
    ]);
    assert!(call.status.success(), "{}", stderr(&call));
    assert!(stdout(&call).contains("\"mode\": \"ok\""));
    assert!(
        stderr(&call).contains("skipped plugin"),
        "the broken file is reported: {}",
        stderr(&call)
    );
}

/// Each misbehaviour ends in a one-line error naming the plugin and the cause; the
/// process exits 2, never by a signal.
#[test]
fn the_hostile_gallery_through_the_cli() {
    let ctx = TestContext::new();
    install(&ctx, "plugins", TESTING);
    for (mode, operation) in [
        ("loop", "fingerprint"),
        ("grow", "fingerprint"),
        ("recurse", "fingerprint"),
        ("trap", "fingerprint"),
        ("panic", "fingerprint"),
        ("error", "fingerprint"),
        ("wrong-shape", "plan"),
        ("huge", "plan"),
        ("bad-json", "convert"),
    ] {
        let input = request_file(&ctx, mode);
        let output = ctx.run(&[
            "plugins",
            "call",
            operation,
            "--plugin",
            "testing",
            "--input",
            &input,
            "--plugin-dir",
            "plugins",
        ]);
        assert_eq!(output.status.code(), Some(2), "{mode}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("plugin `testing` (plugins/fxb_plugin_testing.wasm) failed in"),
            "{err}"
        );
        insta::assert_snapshot!(format!("hostile_{mode}"), ctx.format(&output));
    }
}

/// One host, every misbehaviour in turn, then a good call: the host survives them all.
#[test]
fn the_host_survives_every_misbehaviour() {
    let set = PluginSet::discover(&PluginSearch {
        dirs: vec![Path::new(env!("FXB_WASM_DIR")).to_path_buf()],
    });
    let host = PluginHost::new(CompiledCache::new(shared_plugin_cache()), Limits::default());
    let plugin = host
        .load(set.by_name("testing").expect("testing plugin"))
        .expect("loads");
    for mode in ["loop", "grow", "recurse", "trap", "panic", "error"] {
        let request = FingerprintRequest {
            config: json!({"mode": mode}),
            architecture: None,
            rule: Value::Null,
        };
        let error = plugin
            .call::<_, FingerprintResponse>("fingerprint", &request)
            .expect_err(mode);
        assert!(error.to_string().starts_with("plugin `testing`"), "{error}");
    }
    let fine = FingerprintRequest {
        config: json!({"mode": "ok"}),
        architecture: None,
        rule: Value::Null,
    };
    let reply: FingerprintResponse = plugin.call("fingerprint", &fine).expect("still works");
    assert_eq!(reply.architecture, "TestingForCausalLM");
    let missing = plugin
        .call::<_, Value>("nonexistent", &fine)
        .expect_err("no such op");
    assert!(
        missing
            .to_string()
            .contains("does not implement `nonexistent`"),
        "{missing}"
    );
}

/// A custom section with the given name and payload.
fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8, body.len() as u8];
    section.extend_from_slice(&body);
    section
}

/// A module with valid fxb sections that imports `env::evil`.
fn importing_module() -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type: () -> ()
    module.extend_from_slice(&[0x02, 0x0c, 0x01, 0x03]); // import section, 1 import, "env"
    module.extend_from_slice(b"env");
    module.push(0x04);
    module.extend_from_slice(b"evil");
    module.extend_from_slice(&[0x00, 0x00]); // a function of type 0
    module.extend(custom_section("fxb-abi", b"1.0"));
    module.extend(custom_section(
        "fxb-plugin",
        br#"{"name":"importer","version":"0.1.0","abi":"1.0","architectures":["EvilForCausalLM"],"operations":["describe"]}"#,
    ));
    module
}

#[test]
fn modules_that_are_not_usable_plugins_are_refused_before_compiling() {
    let testing = fs::read(built_plugin(TESTING)).expect("testing plugin");
    let mut future = testing.clone();
    let at = future
        .windows(10)
        .position(|w| w == b"\x07fxb-abi1.")
        .expect("the ABI section");
    future[at + 8] = b'9';
    // A newer minor is additive: accepted.
    let mut newer_minor = testing.clone();
    newer_minor[at + 10] = b'7';
    let info = inspect_module(&newer_minor).expect("ABI 1.7 is accepted");
    assert_eq!((info.abi_major, info.abi_minor), (1, 7));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not_wasm", b"#!/bin/sh\necho hi\n".to_vec()),
        ("truncated", testing[..testing.len() / 2].to_vec()),
        ("unknown_abi_major", future),
        ("imports", importing_module()),
    ];
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("plugins")).expect("dir");
    for (name, bytes) in &cases {
        let problem = inspect_module(bytes).expect_err(name);
        insta::assert_snapshot!(format!("refused_{name}"), problem.to_string());
        fs::write(ctx.path(&format!("plugins/{name}.wasm")), bytes).expect("write");
    }
    let listing = ctx.run(&["plugins", "ls", "--plugin-dir", "plugins"]);
    assert_eq!(listing.status.code(), Some(1));
    insta::assert_snapshot!("refused_listing", ctx.format(&listing));
}

/// The cache entry is written on first use; a corrupt one is recompiled, not trusted.
#[test]
fn the_compiled_plugin_cache_is_content_keyed_and_checked() {
    let ctx = TestContext::new();
    install(&ctx, "plugins", TESTING);
    let cache = ctx.path("compiled");
    let ok = request_file(&ctx, "ok");
    let call = |ctx: &TestContext| {
        ctx.command()
            .args([
                "plugins",
                "call",
                "fingerprint",
                "--plugin",
                "testing",
                "--input",
                &ok,
                "--plugin-dir",
                "plugins",
                "-v",
            ])
            .env("FXB_PLUGIN_CACHE_DIR", &cache)
            .output()
            .expect("runs")
    };
    let first = call(&ctx);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("compiled plugin"),
        "{}",
        stderr(&first)
    );
    let entries: Vec<_> = fs::read_dir(&cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert!(entry.extension().is_some_and(|e| e == "cwasm"));

    let second = call(&ctx);
    assert!(second.status.success());
    assert!(
        !stderr(&second).contains("compiled plugin"),
        "loaded from the cache: {}",
        stderr(&second)
    );

    let mut bytes = fs::read(entry).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(entry, &bytes).expect("corrupt");
    let third = call(&ctx);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(stderr(&third).contains("corrupt"), "{}", stderr(&third));
    assert!(stderr(&third).contains("compiled plugin"));
    let fourth = call(&ctx);
    assert!(
        !stderr(&fourth).contains("compiled plugin"),
        "rewritten: {}",
        stderr(&fourth)
    );
}

/// The embedded rule file (DESIGN.md's rule, read off the reference), as the plugin
/// receives it.
fn reference_rule() -> Value {
    let rules = fxb::rules::RuleSet::embedded();
    let (_, fingerprint) = rules
        .fingerprint_rule("AnyArchitecture")
        .expect("the generic rule");
    serde_json::to_value(fingerprint).expect("json")
}

/// The embedded generic plugin, given the reference's rule, reproduces every fingerprint
/// in `fixtures/fingerprints.json`, and refuses the configs the reference refuses.
#[test]
fn the_generic_plugin_reproduces_the_reference_fingerprints() {
    let set = PluginSet::discover(&PluginSearch::default());
    let host = PluginHost::new(CompiledCache::new(shared_plugin_cache()), Limits::default());
    let plugin = host
        .load(set.for_architecture("AnyArchitecture").expect("generic"))
        .expect("loads");
    let expected: Value = serde_json::from_str(
        &fs::read_to_string(fixtures().join("fingerprints.json")).expect("fixture"),
    )
    .expect("json");
    let models = expected["models"].as_object().expect("models");
    assert!(models.len() >= 25, "{} models", models.len());
    for (repo, want) in models {
        let file = fixtures()
            .join("configs")
            .join(format!("{}.json", repo.replace('/', "--")));
        let config: Value =
            serde_json::from_str(&fs::read_to_string(&file).expect("config")).expect("json");
        let request = FingerprintRequest {
            config,
            architecture: None,
            rule: reference_rule(),
        };
        let got = plugin.call::<_, FingerprintResponse>("fingerprint", &request);
        if want.get("error").is_some() {
            let error = got.expect_err(repo).to_string();
            // The reference refuses these (a multimodal config without the text model's
            // fields); fxb refuses them too, naming the missing field.
            assert!(
                error.contains("config.json has no `text_config."),
                "{repo}: {error}"
            );
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{repo}: {e}"));
        assert_eq!(got.architecture, want["arch"], "{repo}");
        let fields: serde_json::Map<String, Value> = got
            .fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        assert_eq!(Value::Object(fields), want["fields"], "{repo}");
    }
}

/// The template builds out of the tree from scratch (its own workspace, the SDK by
/// path), and fxb uses the result for an architecture no embedded plugin names.
#[test]
fn the_template_plugin_builds_out_of_tree_and_serves_a_new_architecture() {
    let ctx = TestContext::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = ctx.path("my-plugin");
    fs::create_dir_all(project.join("src")).expect("project dir");
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs::copy(repo.join("plugins/template").join(file), project.join(file))
            .expect("copy template");
    }
    let manifest = fs::read_to_string(project.join("Cargo.toml")).expect("manifest");
    let api = repo.join("plugins/api");
    let manifest = manifest.replace(
        r#"path = "../api""#,
        &format!("path = {:?}", api.display().to_string()),
    );
    fs::write(project.join("Cargo.toml"), manifest).expect("write manifest");

    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("template-build");
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .current_dir(&project)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    for (key, _) in std::env::vars() {
        if (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
        {
            cargo.env_remove(key);
        }
    }
    // The test's own cargo environment must not leak into the plugin's build.
    cargo.env("CARGO_TARGET_DIR", &target_dir);
    let built = cargo.output().expect("cargo runs");
    assert!(built.status.success(), "{}", stderr(&built));
    let wasm = target_dir.join("wasm32-unknown-unknown/release/fxb_plugin_template.wasm");
    fs::create_dir_all(ctx.path("plugins")).expect("plugin dir");
    fs::copy(&wasm, ctx.path("plugins/template.wasm")).expect("install");

    let listing = ctx.run(&["plugins", "ls", "--plugin-dir", "plugins"]);
    assert!(listing.status.success(), "{}", stderr(&listing));
    let listing = stdout(&listing);
    let row = listing
        .lines()
        .find(|l| l.starts_with("template "))
        .unwrap_or_default();
    for part in [
        "TemplateForCausalLM, TemplateModel",
        "describe, fingerprint, convert",
        "plugins/template.wasm",
    ] {
        assert!(row.contains(part), "{listing}");
    }
    assert!(row.ends_with("yes"), "{listing}");

    let config = fixtures().join("configs/meta-llama--Llama-3.1-8B-Instruct.json");
    let mut config: Value =
        serde_json::from_str(&fs::read_to_string(config).expect("config")).expect("json");
    config["architectures"] = json!(["TemplateForCausalLM"]);
    fs::write(
        ctx.path("request.json"),
        json!({"config": config}).to_string(),
    )
    .expect("write");
    let args = [
        "plugins",
        "call",
        "fingerprint",
        "--arch",
        "TemplateForCausalLM",
        "--input",
        "request.json",
        "--plugin-dir",
        "plugins",
    ];
    insta::assert_snapshot!("template_fingerprint", ctx.snapshot(&args));
    fs::write(
        ctx.path("convert.json"),
        r#"{"architecture": "TemplateForCausalLM", "task": "embed"}"#,
    )
    .expect("write");
    let args = [
        "plugins",
        "call",
        "convert",
        "--arch",
        "TemplateModel",
        "--input",
        "convert.json",
        "--plugin-dir",
        "plugins",
    ];
    insta::assert_snapshot!("template_convert", ctx.snapshot(&args));
}
