//! What the fuzz seeds and the named reproducers are made of. Seeds are the fixtures,
//! small: real manifests, configs and rule files as they are, the reference bundles and
//! kernel files re-made with their real signatures around tiny payloads
//! ([`super::archives`]). Reproducers are the inputs issue 13 found fxb mishandling, and
//! their neighbours.

use serde_json::{Value, json};

use super::archives::{bundles, edfs};
use crate::common::{fixtures, read_reference};

/// One file under `fuzz/`: its path there and its bytes.
pub type Seed = (String, Vec<u8>);

/// Every seed and named reproducer, by path under `fuzz/`.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    manifests(&mut out);
    bundles(&mut out);
    edfs(&mut out);
    configs(&mut out);
    rule_files(&mut out);
    out
}

pub fn put(out: &mut Vec<Seed>, path: &str, bytes: impl Into<Vec<u8>>) {
    out.push((path.to_string(), bytes.into()));
}

pub fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON encodes")
}

/// The manifest of `llama-min.fxb` as a JSON value, to edit.
fn reference_manifest_value() -> Value {
    serde_json::from_str(&read_reference("manifest.json")).expect("the reference manifest")
}

/// 70,000 characters: issue 13's manifest that broke `cache ls` and `check` for everyone
/// sharing the cache.
fn long_version() -> String {
    format!("2026.4.0-{}", "9".repeat(70_000))
}

pub fn long_version_manifest() -> Value {
    let mut manifest = reference_manifest_value();
    manifest["versions"]["furiosa_compiler"]["version"] = long_version().into();
    manifest["versions"]["furiosa_llm"]["version"] = long_version().into();
    manifest["versions"]["furiosa_llm"]["revision"] = "b".repeat(70_000).into();
    manifest
}

fn manifests(out: &mut Vec<Seed>) {
    for name in [
        "manifest.json",
        "manifest-sampler.json",
        "manifest-bge-reranker-v2-m3-stubbuild.json",
        "manifest-gpt-oss-20b-stubbuild.json",
        "manifest-llama-O0-len1024-stubbuild.json",
        "manifest-qwen3-32b-fp8-stubbuild.json",
    ] {
        put(
            out,
            &format!("corpus/manifest/{name}"),
            read_reference(name),
        );
    }
    let reference = reference_manifest_value();
    // Format versions 0 and 1, which are migrated on read.
    put(
        out,
        "corpus/manifest/format-0.json",
        pretty(&json!({"tensor_parallel_size": 8, "kernels": reference["kernels"]})),
    );
    let mut v1 = reference.clone();
    v1["format_version"] = 1.into();
    v1["kernels"]["vision_encoder"] = json!([{
        "bucket": {"vision_encoder": {"num_patches": 1024}},
        "file": "edfs/vision_encoder_p1024.edf"
    }]);
    put(out, "corpus/manifest/format-1-vision.json", pretty(&v1));

    let r = "reproducers/manifest";
    put(
        out,
        &format!("{r}/accepted-version-70000-characters.json"),
        pretty(&long_version_manifest()),
    );
    let mut escapes = reference.clone();
    let escape = "\u{1b}[2J\u{1b}]0;title\u{7}\r";
    escapes["uuid"] = format!("d3669b5b{escape}").into();
    escapes["versions"]["furiosa_compiler"]["version"] = format!("2026.4.0{escape}").into();
    // Found by the fuzzer: `show` printed a tool's name raw.
    escapes["versions"][format!("furiosa{escape}llm")] = json!({"version": "2026.4.0"});
    escapes["model"]["architecture"] = format!("Llama{escape}").into();
    escapes["model"]["quant_method"] = format!("fp8{escape}").into();
    let kernels = escapes["kernels"].as_object_mut().expect("kernels");
    let entries = kernels.remove("full_attention").expect("full_attention");
    kernels.insert(format!("full{escape}attention"), entries);
    put(
        out,
        &format!("{r}/accepted-escapes-in-values.json"),
        pretty(&escapes),
    );
    let mut odd = reference.clone();
    odd["kernels"]["full_attention"][0]["bucket"]["attention"] =
        json!({"batch_size": 1, "attention_size": 4, "kv_cache_size": u64::MAX});
    put(
        out,
        &format!("{r}/accepted-kv-cache-larger-than-attention.json"),
        pretty(&odd),
    );
    for (name, format_version) in [
        ("huge", json!(u64::MAX)),
        ("negative", json!(-1)),
        ("fractional", json!(2.5)),
        ("a-string", json!("2")),
    ] {
        let mut manifest = reference.clone();
        manifest["format_version"] = format_version;
        put(
            out,
            &format!("{r}/refused-format-version-{name}.json"),
            pretty(&manifest),
        );
    }
    for (name, size) in [
        ("negative", json!(-1)),
        ("beyond-u64", json!(18_446_744_073_709_551_616_f64)),
        ("fractional", json!(1.5)),
    ] {
        let mut manifest = reference.clone();
        manifest["kernels"]["first_tokenwise"][0]["bucket"]["tokenwise"]["input_size"] = size;
        put(
            out,
            &format!("{r}/refused-bucket-size-{name}.json"),
            pretty(&manifest),
        );
    }
    let mut no_map = reference.clone();
    no_map["kernels"] = json!(["first_tokenwise"]);
    put(
        out,
        &format!("{r}/refused-kernels-not-a-map.json"),
        pretty(&no_map),
    );
    put(
        out,
        &format!("{r}/refused-nested-10000-deep.json"),
        nested_json(
            "{\"format_version\": 2, \"kernels\": {}, \"extras\": ",
            10_000,
            "}",
        ),
    );
    put(
        out,
        &format!("{r}/refused-not-json.json"),
        &b"{\"format_version\": 2,"[..],
    );
}

/// `prefix`, `depth` nested JSON arrays, `suffix`: deeper than any parser should recurse.
fn nested_json(prefix: &str, depth: usize, suffix: &str) -> Vec<u8> {
    format!("{prefix}{}{}{suffix}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

fn configs(out: &mut Vec<Seed>) {
    let dir = fixtures().join("configs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the fixture configs")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        put(
            out,
            &format!("corpus/fingerprint/{name}"),
            std::fs::read(dir.join(&name)).expect("a config"),
        );
    }
    let base: Value = serde_json::from_slice(
        &std::fs::read(dir.join("meta-llama--Llama-3.1-8B-Instruct.json")).expect("a config"),
    )
    .expect("JSON");

    let r = "reproducers/fingerprint";
    // Issue 13: objects, lists and negative numbers were fingerprinted and built.
    for field in ["num_hidden_layers", "num_key_value_heads", "head_dim"] {
        let good = base.get(field).and_then(Value::as_i64).unwrap_or(128);
        for (kind, value) in [
            ("an-object", json!({"value": good})),
            ("a-list", json!([good])),
            ("negative", json!(-good)),
        ] {
            let mut config = base.clone();
            config[field] = value;
            let name = field.replace('_', "-");
            put(
                out,
                &format!("{r}/refused-{name}-{kind}.json"),
                pretty(&config),
            );
        }
    }
    let mut negative = base.clone();
    negative["hidden_size"] = json!(-4096);
    put(
        out,
        &format!("{r}/refused-hidden-size-negative.json"),
        pretty(&negative),
    );
    let mut no_list = base.clone();
    no_list["architectures"] = json!("LlamaForCausalLM");
    put(
        out,
        &format!("{r}/refused-architectures-not-a-list.json"),
        pretty(&no_list),
    );
    put(
        out,
        &format!("{r}/refused-nested-10000-deep.json"),
        nested_json(
            "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": ",
            10_000,
            "}",
        ),
    );
    put(
        out,
        &format!("{r}/refused-not-json.json"),
        &b"{\"architectures\": "[..],
    );
    let mut unknown = base.clone();
    unknown["architectures"] = json!(["FuzzedForCausalLM"]);
    put(
        out,
        &format!("{r}/accepted-unknown-architecture.json"),
        pretty(&unknown),
    );
}

fn rule_files(out: &mut Vec<Seed>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the rule files")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    for name in &names {
        put(
            out,
            &format!("corpus/rules/{name}"),
            std::fs::read(dir.join(name)).expect("a rule file"),
        );
    }
    let generic = std::fs::read_to_string(dir.join("generic.toml")).expect("generic.toml");
    let llama = std::fs::read_to_string(dir.join("llama.toml")).expect("llama.toml");

    let r = "reproducers/rules";
    // Issue 13: `rules ls` panicked on a rule file claiming 100,000 architectures.
    let many = format!("[{}]", vec!["\"A\""; 100_000].join(","));
    put(
        out,
        &format!("{r}/accepted-100000-architectures.toml"),
        generic.replacen("[\"*\"]", &many, 1),
    );
    put(
        out,
        &format!("{r}/accepted-escapes-in-name.toml"),
        generic.replacen(
            "name = \"generic\"",
            "name = \"\\u001b[2J\\u001b]0;title\\u0007generic\\r\"",
            1,
        ),
    );
    put(
        out,
        &format!("{r}/refused-schema-version-2^40.toml"),
        generic.replacen("schema-version = 1", "schema-version = 1099511627776", 1),
    );
    put(
        out,
        &format!("{r}/refused-preset-tensor-parallel-size-zero.toml"),
        llama.replacen("tensor-parallel-size = 8", "tensor-parallel-size = 0", 1),
    );
    put(
        out,
        &format!("{r}/refused-derived-field-not-listed.toml"),
        generic.replacen("    \"head_dim\",\n", "", 1),
    );
    put(
        out,
        &format!("{r}/refused-unknown-key.toml"),
        generic.replacen("name = ", "nmae = ", 1),
    );
    // Nesting deeper than any parser should recurse: refused, not a stack overflow.
    put(
        out,
        &format!("{r}/refused-arrays-nested-10000-deep.toml"),
        format!(
            "x = {}{}\n{generic}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
    );
    put(
        out,
        &format!("{r}/refused-tables-nested-10000-deep.toml"),
        format!(
            "x = {}1{}\n{generic}",
            "{a = ".repeat(10_000),
            "}".repeat(10_000)
        ),
    );
    let mut not_utf8 = generic.into_bytes();
    not_utf8.extend_from_slice(b"\n# \xff\xfe\n");
    put(out, &format!("{r}/refused-not-utf-8.toml"), not_utf8);
}
