//! The family plugins through `fxb build --dry-run --json`: each real config is served by
//! its family's plugin, with that family's kernel list (MoE expert kernels, sliding-window
//! and hybrid attention, encoder heads), its rule file's preset, its conversions, and its
//! refusals of malformed family fields. A plan from the wrong plugin would compile kernels
//! the runtime never calls, or miss the ones it does.

use serde_json::{Value, json};

use crate::common::{TestContext, fixture_config, reference, stderr};

/// `fxb build <dir> out --dry-run --json [extra]` on `config`; the plan, or the failure.
fn plan(ctx: &TestContext, name: &str, config: &Value, extra: &[&str]) -> Value {
    let dir = format!("./{}", ctx.model_dir_with(name, config));
    let mut args = vec!["build", dir.as_str(), "out", "--dry-run", "--json"];
    args.extend(extra);
    let output = ctx.run(&args);
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("json plan")
}

fn kernels(plan: &Value) -> Vec<String> {
    plan["kernels"]
        .as_array()
        .expect("kernels")
        .iter()
        .filter_map(|k| k["name"].as_str().map(str::to_string))
        .collect()
}

fn count(plan: &Value, kind: &str) -> usize {
    plan["buckets"][kind].as_array().map_or(0, Vec::len)
}

const DENSE: [&str; 5] = [
    "first_tokenwise",
    "mid_tokenwise",
    "last_tokenwise_with_lm_head",
    "full_attention",
    "random_sample",
];

#[test]
fn each_family_plans_with_its_own_plugin_preset_and_kernels() {
    let ctx = TestContext::new();
    // (config, plugin, preset, TP, kernels)
    let cases: &[(&str, &str, &str, u64, &[&str])] = &[
        (
            "meta-llama--Llama-3.1-8B-Instruct.json",
            "llama",
            "Llama-3.1-8B",
            8,
            &DENSE,
        ),
        (
            "Qwen--Qwen3-8B-FP8.json",
            "qwen3",
            "Qwen3-8B-FP8",
            8,
            &DENSE,
        ),
        (
            "Qwen--Qwen2.5-7B-Instruct.json",
            "qwen2",
            "Qwen2.5-7B-Instruct",
            8,
            &DENSE,
        ),
        (
            "mistralai--Mistral-7B-Instruct-v0.3.json",
            "mistral",
            "Mistral-7B",
            8,
            &DENSE,
        ),
        (
            "LGAI-EXAONE--EXAONE-4.0-1.2B.json",
            "exaone4",
            "EXAONE-4.0-1.2B",
            8,
            &DENSE,
        ),
        (
            "LGAI-EXAONE--EXAONE-4.0-32B-FP8.json",
            "exaone4",
            "EXAONE-4.0-32B-FP8",
            32,
            &[
                "first_tokenwise",
                "mid_tokenwise",
                "last_tokenwise_with_lm_head",
                "sliding_window_attention",
                "full_attention",
                "random_sample",
            ],
        ),
        (
            "Qwen--Qwen3-30B-A3B.json",
            "qwen3_moe",
            "Qwen3-30B-A3B",
            32,
            &[
                "first_tokenwise",
                "mid_tokenwise_moe",
                "last_tokenwise_moe_with_lm_head",
                "full_attention",
                "random_sample",
            ],
        ),
        (
            "Qwen--Qwen3-30B-A3B-FP8.json",
            "qwen3_moe",
            "Qwen3-30B-A3B-FP8",
            16,
            &[
                "first_tokenwise",
                "mid_tokenwise_moe",
                "last_tokenwise_moe_with_lm_head",
                "full_attention",
                "random_sample",
            ],
        ),
    ];
    for (index, (file, plugin, preset, tp, want)) in cases.iter().enumerate() {
        let got = plan(&ctx, &format!("m{index}"), &fixture_config(file), &[]);
        assert_eq!(
            got["plugin"],
            serde_json::json!({"name": plugin, "version": "0.1.0"}),
            "{file}"
        );
        assert_eq!(got["preset"], *preset, "{file}");
        assert_eq!(got["tensor_parallel_size"], *tp, "{file}");
        assert_eq!(kernels(&got), *want, "{file}");
        assert!(got["notes"].as_array().is_some_and(Vec::is_empty), "{file}");
        // Every attention kernel is compiled for every attention bucket (m = 2 for the
        // hybrid EXAONE, as for gpt-oss).
        let attention_kernels = want.iter().filter(|k| k.ends_with("attention")).count();
        let expected = 3 * count(&got, "tokenwise")
            + count(&got, "sampler")
            + attention_kernels
                * (count(&got, "prefill") + count(&got, "decode") + count(&got, "append"));
        assert_eq!(got["total_kernels"], expected, "{file}");
    }
}

#[test]
fn sliding_windows_and_dense_layers_change_the_kernel_list() {
    let ctx = TestContext::new();
    let mut qwen2 = fixture_config("Qwen--Qwen2.5-7B-Instruct.json");
    qwen2["use_sliding_window"] = json!(true);
    qwen2["max_window_layers"] = json!(21);
    let hybrid = plan(&ctx, "qwen2-hybrid", &qwen2, &[]);
    assert_eq!(
        kernels(&hybrid)[3..5],
        ["sliding_window_attention", "full_attention"]
    );
    qwen2["max_window_layers"] = json!(0);
    let all_sliding = plan(&ctx, "qwen2-sliding", &qwen2, &[]);
    assert_eq!(
        kernels(&all_sliding)[3..],
        ["sliding_window_attention", "random_sample"]
    );

    let mut mistral = fixture_config("mistralai--Mistral-7B-Instruct-v0.3.json");
    mistral["sliding_window"] = json!(4096);
    let windowed = plan(&ctx, "mistral-window", &mistral, &[]);
    assert_eq!(
        kernels(&windowed)[3..],
        ["sliding_window_attention", "random_sample"]
    );

    let mut moe = fixture_config("Qwen--Qwen3-30B-A3B.json");
    moe["mlp_only_layers"] = json!([0, 1]);
    let mixed = plan(&ctx, "moe-dense-layers", &moe, &[]);
    assert_eq!(
        kernels(&mixed)[..4],
        [
            "first_tokenwise",
            "mid_tokenwise",
            "mid_tokenwise_moe",
            "last_tokenwise_moe_with_lm_head"
        ]
    );
    moe["mlp_only_layers"] = json!([]);
    moe["decoder_sparse_step"] = json!(2);
    let stepped = plan(&ctx, "moe-step", &moe, &[]);
    assert_eq!(kernels(&stepped), kernels(&mixed));
}

#[test]
fn encoders_end_in_their_head_and_never_decode() {
    let ctx = TestContext::new();
    let reranker = plan(
        &ctx,
        "reranker",
        &fixture_config("BAAI--bge-reranker-v2-m3.json"),
        &["--max-model-len", "8192"],
    );
    let embedder = plan(
        &ctx,
        "bge-m3",
        &fixture_config("BAAI--bge-m3.json"),
        &["--max-model-len", "8192"],
    );
    for (got, head) in [
        (&reranker, "last_tokenwise_with_seq_cls_head"),
        (&embedder, "last_tokenwise_with_pooler"),
    ] {
        assert_eq!(
            got["plugin"],
            serde_json::json!({"name": "xlm_roberta", "version": "0.1.0"})
        );
        assert_eq!(got["preset"], "bge-reranker-v2-m3");
        assert_eq!(
            kernels(got),
            ["first_tokenwise", "mid_tokenwise", head, "full_attention"]
        );
        assert_eq!(
            (
                count(got, "decode"),
                count(got, "append"),
                count(got, "sampler")
            ),
            (0, 0, 0)
        );
        assert_eq!(got["kernels"][3]["buckets"], json!(["prefill"]));
    }
}

/// The reference's stub builds name the kernels of Llama, Qwen3, XLM-R and gpt-oss; the
/// family plugins must name them the same (the sampler depends on the build's buckets).
#[test]
fn the_reference_kernel_names_are_kept() {
    let ctx = TestContext::new();
    for (manifest, file, extra) in [
        (
            "manifest-llama-O0-len1024-stubbuild.json",
            "meta-llama--Llama-3.1-8B-Instruct.json",
            &[][..],
        ),
        (
            "manifest-qwen3-32b-fp8-stubbuild.json",
            "Qwen--Qwen3-32B-FP8.json",
            &[],
        ),
        (
            "manifest-bge-reranker-v2-m3-stubbuild.json",
            "BAAI--bge-reranker-v2-m3.json",
            &["--max-model-len", "8192"],
        ),
        (
            "manifest-gpt-oss-20b-stubbuild.json",
            "openai--gpt-oss-20b.json",
            &[],
        ),
    ] {
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(reference(manifest)).expect("read"))
                .expect("json");
        let mut want: Vec<String> = reference["kernels"]
            .as_object()
            .expect("kernels")
            .keys()
            .filter(|k| *k != "random_sample")
            .cloned()
            .collect();
        want.sort();
        let mut got = kernels(&plan(&ctx, manifest, &fixture_config(file), extra));
        got.retain(|k| k != "random_sample");
        got.sort();
        assert_eq!(got, want, "{manifest}");
    }
}

#[test]
fn embedding_and_classifier_conversions_plan_prefill_only() {
    let ctx = TestContext::new();
    let qwen3 = fixture_config("Qwen--Qwen3-Embedding-0.6B.json");
    let dir = ctx.model_dir_with("embedding", &qwen3);
    std::fs::write(
        ctx.path(&format!("{dir}/modules.json")),
        r#"[{"idx": 0, "type": "sentence_transformers.models.Transformer"}]"#,
    )
    .expect("write");
    let output = ctx.run(&["build", "./embedding", "out", "--dry-run", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let embedding: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(embedding["architecture"], "Qwen3Model");
    assert_eq!(
        embedding["plugin"],
        serde_json::json!({"name": "qwen3", "version": "0.1.0"})
    );
    assert_eq!(
        kernels(&embedding),
        [
            "first_tokenwise",
            "mid_tokenwise",
            "last_tokenwise_with_pooler",
            "full_attention"
        ]
    );
    assert_eq!(
        (
            count(&embedding, "decode"),
            count(&embedding, "append"),
            count(&embedding, "sampler")
        ),
        (0, 0, 0)
    );

    let llama = fixture_config("meta-llama--Llama-3.1-8B-Instruct.json");
    let generative = plan(&ctx, "llama", &llama, &[]);
    let scored = plan(&ctx, "llama-score", &llama, &["--convert", "score"]);
    assert_eq!(scored["architecture"], "LlamaForSequenceClassification");
    assert_eq!(scored["preset"], "Llama-3.1-8B");
    assert_eq!(
        kernels(&scored)[2..],
        ["last_tokenwise_with_seq_cls_head", "full_attention"]
    );
    // The same preset, prefill only: the decoder's prefill sizes, capped at the longest.
    assert_eq!(
        scored["buckets"]["prefill"],
        generative["buckets"]["prefill"]
    );
    assert_eq!(scored["max_model_len"], 1024);
    assert_eq!(count(&scored, "decode"), 0);
    assert!(
        scored["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("prefill only")),
        "{}",
        scored["notes"]
    );

    let e5 = plan(
        &ctx,
        "e5",
        &fixture_config("intfloat--e5-mistral-7b-instruct.json"),
        &[],
    );
    assert_eq!(e5["architecture"], "MistralModel");
    assert_eq!(
        kernels(&e5)[2..],
        ["last_tokenwise_with_pooler", "sliding_window_attention"]
    );
}

#[test]
fn malformed_family_fields_are_refused_naming_the_field() {
    let ctx = TestContext::new();
    let refusal = |name: &str, config: &Value, extra: &[&str]| {
        let dir = format!("./{}", ctx.model_dir_with(name, config));
        let mut args = vec!["build", dir.as_str(), "out", "--dry-run"];
        args.extend(extra);
        ctx.snapshot(&args)
    };

    let mut llama = fixture_config("meta-llama--Llama-3.1-8B-Instruct.json");
    if let Some(scaling) = llama["rope_scaling"].as_object_mut() {
        scaling.remove("high_freq_factor");
    }
    insta::assert_snapshot!("llama_rope", refusal("llama", &llama, &[]));

    let mut moe = fixture_config("Qwen--Qwen3-30B-A3B.json");
    moe["num_experts_per_tok"] = json!(256);
    insta::assert_snapshot!("moe_experts", refusal("moe", &moe, &[]));

    let mut exaone = fixture_config("LGAI-EXAONE--EXAONE-4.0-32B-FP8.json");
    exaone["layer_types"][5] = json!("chunked_attention");
    insta::assert_snapshot!("exaone_layer_types", refusal("exaone", &exaone, &[]));

    let mut qwen2 = fixture_config("Qwen--Qwen2.5-7B-Instruct.json");
    qwen2["use_sliding_window"] = json!(true);
    if let Some(config) = qwen2.as_object_mut() {
        config.remove("max_window_layers");
    }
    insta::assert_snapshot!("qwen2_window", refusal("qwen2", &qwen2, &[]));

    let mut qwen3 = fixture_config("Qwen--Qwen3-8B.json");
    if let Some(config) = qwen3.as_object_mut() {
        config.remove("head_dim");
    }
    insta::assert_snapshot!("qwen3_head_dim", refusal("qwen3", &qwen3, &[]));

    let mut masked = fixture_config("BAAI--bge-m3.json");
    masked["architectures"] = json!(["XLMRobertaForMaskedLM"]);
    insta::assert_snapshot!("xlm_roberta_masked_lm", refusal("masked", &masked, &[]));
}
