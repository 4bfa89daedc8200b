//! `fxb check` and `fxb resolve`: the reference's output, ranking and recommendation on
//! real cache indexes, near misses, weight shapes, and the serve-time order. These decide
//! which bundle serves a model; a wrong pick serves kernels built for another model or
//! compiler.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{
    BUILD_STAMPS, SIZES, SMALL_BUILD, TestContext, filters, read_reference, reference, stderr,
    stdout,
};

const REFERENCE_CACHE: &str = "/root/.cache/furiosa/llm/fxb";
/// The reference's own running build (its bundles' revisions).
pub const RUNNING: &[&str] = &[
    "--runtime-revision",
    "ae27d44cd8",
    "--llm-revision",
    "b1baffa75",
];

/// A cache at `<temp>/<dir>` with `index` and a copy of llama-min at each `rel_path`.
pub fn cache_with(ctx: &TestContext, dir: &str, index: &Value) {
    for repo in index["repos"].as_object().into_iter().flatten() {
        for file in repo.1["files"].as_array().into_iter().flatten() {
            let target = ctx.path(&format!(
                "{dir}/{}",
                file["rel_path"].as_str().expect("rel")
            ));
            fs::create_dir_all(target.parent().expect("parent")).expect("dirs");
            fs::copy(reference("bundles/llama-min.fxb"), &target).expect("copy");
        }
    }
    fs::write(
        ctx.path(&format!("{dir}/index.json")),
        serde_json::to_vec_pretty(index).expect("json"),
    )
    .expect("index");
}

pub fn fixture_index(name: &str) -> Value {
    serde_json::from_str(&read_reference(name)).expect("index")
}

/// The reference's output for its Hub target, as fxb prints it for `./<dir>`.
fn expected(name: &str, target: &str, local: &str, cache: &str) -> String {
    read_reference(name)
        .replace(
            &format!("Target: {target}  "),
            &format!("Target: ./{local}  "),
        )
        .replace(&format!("for '{target}'"), &format!("for './{local}'"))
        .replace(REFERENCE_CACHE, cache)
        .lines()
        .filter(|l| !l.starts_with("rc="))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn check(ctx: &TestContext, cache: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--cache-dir", cache, "check"];
    all.extend(args);
    ctx.run(&all)
}

#[test]
fn check_recommends_what_the_reference_recommends() {
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    cache_with(&ctx, "one", &fixture_index("cache-index.json"));
    let one = check(
        &ctx,
        "one",
        &["./llama", "--runtime-revision", "ae27d44cd8"],
    );
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(
        stdout(&one),
        expected(
            "check.txt",
            "meta-llama/Llama-3.1-8B-Instruct",
            "llama",
            "one"
        )
    );

    cache_with(&ctx, "multi", &fixture_index("cache-index-multi.json"));
    let multi = check(&ctx, "multi", &[&["./llama"][..], RUNNING].concat());
    assert_eq!(
        stdout(&multi),
        expected(
            "check-multi.txt",
            "meta-llama/Llama-3.1-8B-Instruct",
            "llama",
            "multi"
        )
    );

    // Without a runtime revision (the host backend knows none): versions only, and a note.
    insta::assert_snapshot!(
        "no_runtime_revision",
        ctx.format(&check(&ctx, "one", &["./llama"]))
    );
}

#[test]
fn check_ranks_stale_and_odd_revisions_like_the_reference() {
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let template = fixture_index("cache-index.json")["repos"]["local"]["files"][0].clone();
    let revisions = [
        ("a", json!("ae27d44")),
        ("b", json!("AE27D44CD8")),
        ("c", json!("ae27d44cd8-modified")),
        ("d", json!("ae27d44cd8ffff")),
        ("e", json!("")),
        ("f", json!("ae")),
        ("g", Value::Null),
    ];
    let files: Vec<Value> = revisions
        .iter()
        .enumerate()
        .map(|(n, (name, revision))| {
            let mut entry = template.clone();
            entry["filename"] = format!("{name}.fxb").into();
            entry["rel_path"] = format!("models--local/snapshots/r{}/{name}.fxb", n + 1).into();
            entry["ir_revision"] = revision.clone();
            if revision.is_null() {
                entry["ir_version"] = Value::Null;
            }
            entry
        })
        .collect();
    let index =
        json!({"schema_version": 1, "repos": {"local": {"repo_id": "local", "files": files}}});
    cache_with(&ctx, "cache", &index);
    let out = check(&ctx, "cache", &[&["./llama"][..], RUNNING].concat());
    assert_eq!(
        stdout(&out),
        expected(
            "check-stale-mut.txt",
            "meta-llama/Llama-3.1-8B-Instruct",
            "llama",
            "cache"
        )
    );
}

#[test]
fn nothing_compatible_exits_1_and_explain_names_the_differing_fields() {
    let ctx = TestContext::new();
    ctx.model_dir("qwen", "Qwen--Qwen3-32B-FP8.json");
    cache_with(&ctx, "fxb", &fixture_index("cache-index.json"));
    let none = check(&ctx, "fxb", &["./qwen", "--runtime-revision", "ae27d44cd8"]);
    assert_eq!(
        stdout(&none),
        expected("check-nomatch.txt", "Qwen/Qwen3-32B-FP8", "qwen", "fxb")
    );
    insta::assert_snapshot!("nothing_compatible", ctx.format(&none));

    // A fine-tune with a resized vocabulary: same architecture, one field off.
    let mut config: Value = serde_json::from_slice(
        &fs::read(crate::common::fixtures().join("configs/meta-llama--Llama-3.1-8B-Instruct.json"))
            .expect("config"),
    )
    .expect("json");
    config["vocab_size"] = 128000.into();
    ctx.model_dir_with("tuned", &config);
    insta::assert_snapshot!(
        "near_miss_explained",
        ctx.format(&check(&ctx, "fxb", &["./tuned", "--explain"]))
    );
    let json: Value =
        serde_json::from_slice(&check(&ctx, "fxb", &["./tuned", "--json"]).stdout).expect("json");
    // Issue 14, one JSON vocabulary: a difference's values are rendered as the report's
    // `fields` are (strings), with the typed values beside them; a rule is
    // `{name, version}` wherever it appears.
    assert_eq!(
        json["near_misses"][0]["differences"][0],
        serde_json::json!({
            "field": "vocab_size",
            "target": "128000",
            "bundle": "128256",
            "target_value": 128000,
            "bundle_value": 128256,
        })
    );
    assert_eq!(json["fields"]["vocab_size"], "128000");
    let generic = serde_json::json!({"name": "generic", "version": "1.0.0"});
    assert_eq!(json["rule"], generic);
    assert_eq!(json["near_misses"][0]["rule"], generic);
}

/// A safetensors file whose header lists `tensors` (name, shape) in bf16, with a sparse
/// payload of the size the header implies: only the header is ever read.
fn safetensors(path: &Path, tensors: &[(String, Vec<u64>)]) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0u64;
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * 2;
        header.insert(
            name.clone(),
            json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let text = serde_json::to_vec(&header).expect("json");
    let mut file = (text.len() as u64).to_le_bytes().to_vec();
    file.extend(text);
    let len = file.len() as u64 + offset;
    fs::write(path, file).expect("write");
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("sparse payload");
}

/// Llama-3.1-8B's tensor names and shapes.
fn llama_tensors() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![
        ("model.embed_tokens.weight".to_string(), vec![128256, 4096]),
        ("lm_head.weight".to_string(), vec![128256, 4096]),
        ("model.norm.weight".to_string(), vec![4096]),
    ];
    for layer in 0..32 {
        let p = |s: &str| format!("model.layers.{layer}.{s}");
        t.extend([
            (p("input_layernorm.weight"), vec![4096]),
            (p("post_attention_layernorm.weight"), vec![4096]),
            (p("self_attn.q_proj.weight"), vec![4096, 4096]),
            (p("self_attn.k_proj.weight"), vec![1024, 4096]),
            (p("self_attn.v_proj.weight"), vec![1024, 4096]),
            (p("self_attn.o_proj.weight"), vec![4096, 4096]),
            (p("mlp.gate_proj.weight"), vec![14336, 4096]),
            (p("mlp.up_proj.weight"), vec![14336, 4096]),
            (p("mlp.down_proj.weight"), vec![4096, 14336]),
        ]);
    }
    t
}

#[test]
fn deep_reads_weight_headers_and_reports_shapes_the_config_does_not_imply() {
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    cache_with(&ctx, "fxb", &fixture_index("cache-index.json"));
    let tensors = llama_tensors();
    let (first, second) = tensors.split_at(150);
    safetensors(&ctx.path("llama/model-00001-of-00002.safetensors"), first);
    safetensors(&ctx.path("llama/model-00002-of-00002.safetensors"), second);
    insta::assert_snapshot!(
        "deep_clean",
        ctx.format(&check(&ctx, "fxb", &["./llama", "--deep"]))
    );

    // The vocabulary resized in the weights but not in config.json, and an extra layer.
    let mut edited = llama_tensors();
    edited[0].1 = vec![128000, 4096];
    edited.push((
        "model.layers.32.mlp.up_proj.weight".into(),
        vec![14336, 4096],
    ));
    fs::remove_file(ctx.path("llama/model-00002-of-00002.safetensors")).expect("rm");
    safetensors(&ctx.path("llama/model-00001-of-00002.safetensors"), &edited);
    insta::assert_snapshot!(
        "deep_mismatches",
        ctx.format(&check(&ctx, "fxb", &["./llama", "--deep"]))
    );
    fs::write(
        ctx.path("llama/model-00001-of-00002.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
    )
    .expect("write");
    insta::assert_snapshot!(
        "deep_not_safetensors",
        ctx.format(&check(&ctx, "fxb", &["./llama", "--deep"]))
    );
}

#[test]
fn resolve_follows_the_serve_time_order_and_reads_revisions_from_manifests() {
    let ctx = TestContext::new();
    ctx.model_dir("m", "meta-llama--Llama-3.1-8B-Instruct.json");
    insta::assert_snapshot!(
        "resolve_empty_model_dir",
        ctx.snapshot(&["resolve", "./m", "--runtime-revision", "ae27d44cd8"])
    );
    // A host build (another compiler) and a reference bundle whose name hides its revision
    // from the reference's file-name parse.
    let built = ctx.run(&[&["build", "./m", "./m/host.fxb"][..], SMALL_BUILD].concat());
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    fs::copy(
        reference("bundles/llama-min.fxb"),
        ctx.path("m/llamaforcausallm-ae27d44cd8-modified-b1baffa75-2611230550.fxb"),
    )
    .expect("copy");
    // The reference bundle, by the revision in its manifest, not in its name.
    insta::assert_snapshot!(
        "resolve_revision_from_manifest",
        ctx.snapshot(&["resolve", "./m", "--runtime-revision", "ae27d44cd8"])
    );
    let host = ctx.run(&[
        "resolve",
        "./m",
        "--runtime-revision",
        "host-layout-2",
        "--json",
    ]);
    let json: Value = serde_json::from_slice(&host.stdout).expect("json");
    assert_eq!(json["path"], "./m/host.fxb");
    assert_eq!(json["source"], "model_dir");
    insta::assert_snapshot!(
        "resolve_stale",
        ctx.snapshot(&["resolve", "./m", "--runtime-revision", "0123abc"])
    );
    insta::assert_snapshot!(
        "resolve_explicit",
        ctx.snapshot(&["resolve", "./m", "--fxb", "./m/host.fxb"])
    );
    insta::assert_snapshot!(
        "resolve_hub_id",
        ctx.snapshot(&["resolve", "meta-llama/Llama-3.1-8B"])
    );
}

#[test]
fn resolve_from_the_cache_uses_only_a_revision_match() {
    use fxb::check::{Running, Target};
    use fxb::resolve::{ModelRef, ResolveError, Source, resolve};
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    cache_with(&ctx, "fxb", &fixture_index("cache-index-multi.json"));
    let cache = fxb::cache::Cache::open(ctx.path("fxb")).expect("cache");
    let files = cache.list().expect("list");
    let tools = fxb::toolchain::Toolchain {
        rules: fxb::rules::RuleSet::load(&[]),
        plugins: fxb::plugin::PluginSet::discover(&fxb::plugin::PluginSearch::from_env(&[])),
        host: fxb::plugin::PluginHost::new(
            fxb::plugin::CompiledCache::new(crate::common::shared_plugin_cache()),
            fxb::plugin::Limits::default(),
        ),
    };
    let target = Target::from_model_dir(
        "meta-llama/Llama-3.1-8B-Instruct",
        &ctx.path("llama"),
        &tools,
    )
    .expect("target");
    let hub = ModelRef::Hub {
        repo_id: "furiosa-ai/Llama-3.1-8B-Instruct",
        target: &target,
        shipped: &[],
    };
    let running = |rev: Option<&str>| Running {
        compiler_revision: rev.map(String::from),
        llm_revision: Some("b1baffa75".into()),
    };
    let chosen = resolve(hub, None, &running(Some("ae27d44cd8")), &files).expect("resolves");
    assert_eq!(chosen.source, Source::Cache);
    // Same repo id wins the tie: the furiosa-ai bundle, not the newer local ones.
    assert!(
        chosen
            .path
            .ends_with("Llama-3.1-8B-Instruct-ae27d44cd8-b1baffa75-2611230550.fxb")
    );
    let stale = resolve(hub, None, &running(Some("0123abc")), &files).expect_err("stale");
    assert!(matches!(stale, ResolveError::OnlyStale { .. }));
    assert!(stale.to_string().starts_with("No FXB found in 'furiosa-ai/Llama-3.1-8B-Instruct', and the local cache only has FuriosaIR-revision-mismatched (stale) matches. Pass --fxb <path> to use one explicitly (e.g. "));
    let unknown = resolve(hub, None, &running(None), &files).expect_err("unknown");
    assert!(matches!(unknown, ResolveError::UnknownRuntime(_)));
}

#[test]
fn a_host_built_bundle_is_matched_by_the_compiler_fxb_recorded() {
    // A host build is stamped with a uuid and a time, which its size follows by a byte.
    let _filters = filters(&[BUILD_STAMPS, SIZES]);
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let built = ctx.run(&[&["build", "./llama", "host"][..], SMALL_BUILD].concat());
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let mut add = vec!["--cache-dir", "fxb", "add", "host.fxb"];
    let sampler = reference("bundles/llama-sampler.fxb")
        .to_string_lossy()
        .into_owned();
    add.push(&sampler);
    assert_eq!(ctx.run(&add).status.code(), Some(0));
    // The shared index holds no FuriosaIR for it: the reference sees no vendor code.
    let index: Value =
        serde_json::from_slice(&fs::read(ctx.path("fxb/index.json")).expect("index"))
            .expect("json");
    let host_entry = index["repos"]["local"]["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| {
            f["filename"]
                .as_str()
                .is_some_and(|n| n.contains("host-layout-2"))
        })
        .cloned()
        .expect("host entry");
    assert!(host_entry["ir_revision"].is_null());
    // The host bundle matches by the compiler fxb recorded; the reference's is stale.
    insta::assert_snapshot!(
        "host_runtime_check",
        ctx.format(&check(
            &ctx,
            "fxb",
            &["./llama", "--runtime-revision", "host-layout-2"],
        ))
    );
    // Prune for the host runtime keeps the host bundle and names the other stale.
    insta::assert_snapshot!(
        "host_runtime_prune",
        ctx.snapshot(&[
            "--cache-dir",
            "fxb",
            "cache",
            "prune",
            "--dry-run",
            "--runtime-revision",
            "host-layout-2",
        ])
    );
}

#[test]
fn a_bundle_made_under_an_older_rule_is_checked_with_that_rule() {
    let _filters = filters(&[BUILD_STAMPS, SIZES]);
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let built = ctx.run(&[&["build", "./llama", "host"][..], SMALL_BUILD].concat());
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let sampler = reference("bundles/llama-sampler.fxb")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        ctx.run(&["--cache-dir", "fxb", "add", "host.fxb", &sampler])
            .status
            .code(),
        Some(0)
    );
    // A newer generic rule that adds a field neither bundle recorded.
    let generic =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/generic.toml"))
            .expect("rule");
    let newer = generic
        .replace("version = \"1.0.0\"", "version = \"9.0.0\"")
        .replace(
            "    \"n_shared_experts\",\n",
            "    \"n_shared_experts\",\n    \"tie_word_embeddings\",\n",
        );
    fs::create_dir_all(ctx.path("rules")).expect("dir");
    fs::write(ctx.path("rules/generic.toml"), newer).expect("write");
    let out = ctx.run(&[
        "--cache-dir",
        "fxb",
        "--rules-dir",
        "rules",
        "check",
        "./llama",
        "--explain",
        "--runtime-revision",
        "host-layout-2",
    ]);
    // The host bundle, made under generic 1.0.0, still fits; the reference's bundle
    // records no rule, so the active 9.0.0 applies and the new field sets it apart.
    insta::assert_snapshot!(ctx.format(&out));
}

/// Issue 14: two different builds made within one minute share a standard file name.
/// `check` recommends the one that entered the cache last, not whichever came first.
#[test]
fn of_two_bundles_with_one_name_the_newest_is_recommended() {
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    ctx.copy_reference_bundle("llama-min.fxb", "a.fxb");
    assert!(ctx.run(&["unpack", "a.fxb", "b"]).status.success());
    let manifest = fs::read_to_string(ctx.path("b/manifest.json")).expect("manifest");
    let newer_uuid = "00000000-0000-4000-8000-000000000042";
    let manifest = manifest.replace("d3669b5b-f564-493e-b495-4474ef88451c", newer_uuid);
    fs::write(ctx.path("b/manifest.json"), manifest).expect("write");
    assert!(ctx.run(&["pack", "b", "b.fxb"]).status.success());
    for bundle in ["a.fxb", "b.fxb"] {
        let added = ctx.run(&["--cache-dir", "fxb", "add", bundle]);
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let checked = ctx.run(&["--cache-dir", "fxb", "check", "./llama", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("json");
    let matches = report["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 2);
    assert_eq!(
        matches[0]["filename"], matches[1]["filename"],
        "one standard name"
    );
    assert_eq!(matches[0]["recommended"], true);
    let chosen = matches[0]["path"].as_str().expect("path");
    assert!(chosen.contains(newer_uuid), "{chosen}");
    // `cache ls -l` shows what tells the two rows apart: snapshot and time added.
    let listed = ctx.run(&["--cache-dir", "fxb", "cache", "ls", "-l"]);
    let text = stdout(&listed);
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("SNAPSHOT") && header.ends_with("ADDED"),
        "{text}"
    );
    assert!(
        text.contains(newer_uuid) && text.contains("d3669b5b-f564-493e-b495-4474ef88451c"),
        "{text}"
    );
}

/// Issue 14: one rule for paths and Hub ids in every command. `llama31` holding a
/// config.json is that directory (with a note that it shadows the Hub id of that name);
/// a name that is no path here is a Hub id, for `fingerprint` too.
#[test]
fn an_existing_directory_is_a_path_in_every_command() {
    let ctx = TestContext::new();
    ctx.model_dir("llama31", "meta-llama--Llama-3.1-8B-Instruct.json");
    for args in [
        vec!["check", "llama31"],
        vec!["build", "llama31", "x.fxb", "--dry-run"],
        vec!["fingerprint", "llama31"],
    ] {
        let output = ctx.run(&args);
        assert_ne!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("`llama31` is read as the directory here"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let hub = ctx.run(&["fingerprint", "Qwen/Qwen3-8B-FP8"]);
    assert_eq!(hub.status.code(), Some(2));
    assert!(
        stderr(&hub).starts_with("error: fetching config.json for 'Qwen/Qwen3-8B-FP8'"),
        "{}",
        stderr(&hub)
    );
}
