//! Rule files and fingerprints: the embedded rule, precedence by version, `rules check`
//! with positions, and a rule dropped into a directory changing a fingerprint with no
//! rebuild. Rules decide which bundles fit a model, so an edit must take effect at once and
//! a broken file must be pointed at precisely.

use std::fs;

use crate::common::{TestContext, fixtures, stderr, stdout};

const GENERIC: &str = include_str!("../../rules/generic.toml");

fn config(name: &str) -> String {
    fixtures().join("configs").join(name).display().to_string()
}

#[test]
fn fingerprint_prints_the_reference_target_block() {
    let ctx = TestContext::new();
    let output = ctx.run(&[
        "fingerprint",
        &config("meta-llama--Llama-3.1-8B-Instruct.json"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The two lines the reference's `check` prints for its target (FORMAT.md §5.2).
    let expected = "  head_dim=128 hidden_size=4096 intermediate_size=14336 max_position_embeddings=131072 num_attention_heads=32 num_hidden_layers=32 num_key_value_heads=8 rms_norm_eps=0.00001 rope_scaling={\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"} vocab_size=128256\n";
    assert!(stdout(&output).ends_with(expected), "{}", stdout(&output));
    assert!(stdout(&output).contains("  (LlamaForCausalLM)\n"));
    assert_eq!(
        stderr(&output),
        "note: rule `generic` 1.0.0, plugin `llama` 0.1.0\n"
    );
}

/// Found by the fingerprint fuzz target: numbers were parsed one unit in the last place
/// off for about one float in four near 1e-5 (serde_json's default parse), so a config
/// that Python wrote was fingerprinted with a value it does not hold.
#[test]
fn fingerprint_reads_numbers_as_written() {
    let ctx = TestContext::new();
    let text = fs::read_to_string(config("meta-llama--Llama-3.1-8B-Instruct.json"))
        .expect("fixture")
        .replacen(
            "\"rms_norm_eps\": 1e-05,",
            "\"rms_norm_eps\": 9.070505285154913e-06,",
            1,
        );
    fs::write(ctx.path("config.json"), text).expect("write");
    let output = ctx.run(&["fingerprint", "config.json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(" rms_norm_eps=9.070505285154913e-6 "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn fingerprint_json_and_a_model_directory() {
    let ctx = TestContext::new();
    ctx.model_dir("model", "Qwen--Qwen3-32B-FP8.json");
    insta::assert_snapshot!(ctx.snapshot(&["fingerprint", "model", "--json"]));
}

#[test]
fn fingerprint_refusals_name_the_file_and_field() {
    let ctx = TestContext::new();
    fs::copy(
        config("Qwen--Qwen3.6-35B-A3B-FP8.json"),
        ctx.path("qwen36.json"),
    )
    .expect("copy");
    insta::assert_snapshot!(
        "missing_field",
        ctx.snapshot(&["fingerprint", "qwen36.json"])
    );
    fs::write(ctx.path("zero.json"), r#"{"architectures": ["X"], "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 0, "vocab_size": 10}"#).expect("write");
    insta::assert_snapshot!("zero_heads", ctx.snapshot(&["fingerprint", "zero.json"]));
    fs::write(ctx.path("odd.json"), r#"{"architectures": ["X"], "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 3, "vocab_size": 10}"#).expect("write");
    insta::assert_snapshot!("not_divisible", ctx.snapshot(&["fingerprint", "odd.json"]));
    fs::write(ctx.path("broken.json"), "{").expect("write");
    insta::assert_snapshot!("not_json", ctx.snapshot(&["fingerprint", "broken.json"]));
    insta::assert_snapshot!("missing", ctx.snapshot(&["fingerprint", "nowhere"]));
}

/// A rule file dropped into the rules dir — a higher version — changes fingerprints at
/// once; one that needs a newer fxb is listed as incompatible and ignored.
#[test]
fn a_dropped_in_rule_changes_the_fingerprint_without_a_rebuild() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("rules")).expect("dir");
    let newer = GENERIC
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace(
            "\"n_shared_experts\",",
            "\"n_shared_experts\",\n    \"tie_word_embeddings\",",
        );
    fs::write(ctx.path("rules/newer.toml"), newer).expect("write");
    let future = GENERIC
        .replace("version = \"1.0.0\"", "version = \"9.0.0\"")
        .replace("fxb = \">=0.1.0\"", "fxb = \">=99.0.0\"");
    fs::write(ctx.path("rules/future.toml"), future).expect("write");
    let qwen = config("Qwen--Qwen3-8B.json");
    let before = stdout(&ctx.run(&["fingerprint", &qwen]));
    assert!(!before.contains("tie_word_embeddings"));
    let after = ctx
        .command()
        .args(["fingerprint", &qwen])
        .env("FXB_RULES_DIR", ctx.path("rules"))
        .output()
        .expect("runs");
    assert!(
        stdout(&after).contains("tie_word_embeddings=false"),
        "{}",
        stdout(&after)
    );
    assert!(stderr(&after).contains("rule `generic` 1.1.0"));
    insta::assert_snapshot!(ctx.snapshot(&["rules", "ls", "--rules-dir", "rules"]));
}

#[test]
fn rules_check_reports_positions_and_installs_nothing() {
    let ctx = TestContext::new();
    fs::write(
        ctx.path("typo.toml"),
        GENERIC.replace("required = [", "requird = ["),
    )
    .expect("write");
    insta::assert_snapshot!("typo", ctx.snapshot(&["rules", "check", "typo.toml"]));
    fs::write(
        ctx.path("semantic.toml"),
        GENERIC
            .replace("version = \"1.0.0\"", "version = \"one\"")
            .replace("schema-version = 1", "schema-version = 7"),
    )
    .expect("write");
    insta::assert_snapshot!(
        "semantic",
        ctx.snapshot(&["rules", "check", "semantic.toml"])
    );
    fs::write(ctx.path("good.toml"), GENERIC).expect("write");
    insta::assert_snapshot!("good", ctx.snapshot(&["rules", "check", "good.toml"]));
    // Issue 13: valid, but for a future fxb only — it would be ignored, so not `ok`.
    let future = GENERIC
        .lines()
        .map(|l| {
            if l.starts_with("fxb =") {
                "fxb = \">=99.0.0\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(future, GENERIC, "the rule file has an `fxb` range");
    fs::write(ctx.path("future.toml"), future).expect("write");
    insta::assert_snapshot!("future", ctx.snapshot(&["rules", "check", "future.toml"]));
}

/// Through `fxb::fingerprint` — the rule file plus whichever plugin serves each
/// architecture (gpt-oss has its own) — all 25 fixture fingerprints are the reference's.
#[test]
fn every_fixture_fingerprint_through_the_serving_plugin() {
    use fxb::plugin::{CompiledCache, Limits, PluginHost, PluginSearch, PluginSet};
    let rules = fxb::rules::RuleSet::embedded();
    let plugins = PluginSet::discover(&PluginSearch::default());
    let host = PluginHost::new(
        CompiledCache::new(crate::common::shared_plugin_cache()),
        Limits::default(),
    );
    let expected: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(fixtures().join("fingerprints.json")).expect("fixture"),
    )
    .expect("json");
    for (repo, want) in expected["models"].as_object().expect("models") {
        let path = fixtures()
            .join("configs")
            .join(format!("{}.json", repo.replace('/', "--")));
        let (file, config) = fxb::fingerprint::read_config(&path).expect("config");
        let got = fxb::fingerprint::fingerprint(&file, &config, None, &rules, &plugins, &host);
        if want.get("error").is_some() {
            assert!(got.is_err(), "{repo} should be refused");
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{repo}: {e:#}"));
        assert_eq!(got.architecture, want["arch"], "{repo}");
        let fields: serde_json::Map<String, serde_json::Value> = got
            .fields
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        assert_eq!(serde_json::Value::Object(fields), want["fields"], "{repo}");
    }
}
