//! `fxb build --dry-run`: the plan a build would compile, without compiling. The summary's
//! Buckets section equals the reference's own dry-run output, every swept plan has the
//! reference's bucket and kernel counts (gpt-oss through its family plugin too), bucket
//! overrides reproduce the reference's `llama-min` plan, a model without a preset gets a
//! generic plan with a warning, and bad requests are refused before anything runs. The plan
//! decides hours of compiling on real hardware, so it has to be right up front.

use std::fs;

use fxb::plan::{BucketOverrides, PlanRequestOptions, plan_model};
use fxb::plugin::{CompiledCache, Limits, PluginHost, PluginSearch, PluginSet};
use serde_json::Value;

use crate::common::{
    TestContext, fixtures, shared_plugin_cache, stderr, stdout, sweep_config, sweeps,
};

/// The lines from `── Buckets` to the end.
fn bucket_block(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.contains("── Buckets"))
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn the_buckets_section_equals_the_reference_dry_runs() {
    let raw = fixtures().join("plans/sweeps/raw");
    let mut files: Vec<_> = fs::read_dir(&raw)
        .expect("raw")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    let ctx = TestContext::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // <org>--<name>.<level>_<len>_<tp>.txt
        let (model, rest) = name
            .trim_end_matches(".txt")
            .rsplit_once('.')
            .expect("model.level");
        let mut parts = rest.split('_');
        let (level, length, tp) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let dir = ctx.path(model);
        fs::create_dir_all(&dir).expect("dir");
        fs::write(
            dir.join("config.json"),
            sweep_config(&model.replacen("--", "/", 1)).to_string(),
        )
        .expect("config");
        let model_arg = format!("./{model}");
        let mut args = vec!["build", model_arg.as_str(), "out", "--dry-run", "-O", level];
        if length != "default" {
            args.extend(["--max-model-len", length]);
        }
        if tp != "default" {
            args.extend(["-tp", tp]);
        }
        let output = ctx.run(&args);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let want = fs::read_to_string(&path).expect("raw output");
        assert_eq!(
            bucket_block(&stdout(&output)),
            bucket_block(&want),
            "{name}"
        );
    }
}

/// Through the plugin and the rule files, every non-refused swept run has the
/// reference's totals (buckets and kernels, the encoder's kernel list included).
#[test]
fn every_swept_plan_has_the_reference_counts() {
    let rules = fxb::rules::RuleSet::embedded();
    let plugins = PluginSet::discover(&PluginSearch::default());
    let host = PluginHost::new(CompiledCache::new(shared_plugin_cache()), Limits::default());
    let mut checked = 0;
    for (name, sweep) in sweeps() {
        let config = sweep_config(sweep["model"].as_str().expect("model"));
        let architecture = config["architectures"][0]
            .as_str()
            .expect("architecture")
            .to_string();
        for run in sweep["runs"].as_array().expect("runs") {
            let options = PlanRequestOptions {
                optimization: run["optim_level"].as_str().expect("level").to_string(),
                max_model_len: run["max_model_len_arg"].as_u64(),
                tensor_parallel_size: run["tp_arg"].as_u64(),
                pipeline_parallel_size: 1,
            };
            let plan = plan_model(
                &config,
                &architecture,
                &options,
                &BucketOverrides::default(),
                &rules,
                &plugins,
                &host,
            )
            .map(|(plan, _)| plan);
            let context = format!("{name} {options:?}");
            if run["refused"] == true {
                assert!(plan.is_err(), "{context}");
                continue;
            }
            let plan = plan.unwrap_or_else(|e| panic!("{context}: {e:#}"));
            assert_eq!(
                Some(plan.total_buckets as u64),
                run["total_buckets"].as_u64(),
                "{context}"
            );
            assert_eq!(
                Some(plan.total_kernels as u64),
                run["total_kernels"].as_u64(),
                "{context}"
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn a_model_without_a_preset_gets_a_generic_plan_with_a_warning() {
    let ctx = TestContext::new();
    ctx.model_dir("qwen3-8b", "Qwen--Qwen3-8B.json");
    let output = ctx.run(&["build", "./qwen3-8b", "out", "--dry-run", "-O", "O0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!(ctx.format(&output));
}

#[test]
fn build_refusals_are_clear() {
    let ctx = TestContext::new();
    ctx.model_dir("reranker", "BAAI--bge-reranker-v2-m3.json");
    insta::assert_snapshot!(
        "encoder_too_long",
        ctx.snapshot(&["build", "./reranker", "out", "--dry-run"])
    );
    insta::assert_snapshot!(
        "hub_id",
        ctx.snapshot(&["build", "BAAI/bge-reranker-v2-m3", "out", "--dry-run"])
    );
    // A real build of the encoder: prefill and tokenwise entries only.
    let built = ctx.run(&["build", "./reranker", "out", "--max-model-len", "512"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert!(stderr(&built).starts_with("Artifact Build Completed: out.fxb (13 entries"));
    let shown = stdout(&ctx.run(&["show", "out.fxb"]));
    assert!(
        shown.contains("prefill (4)") && !shown.contains("decode"),
        "{shown}"
    );
    insta::assert_snapshot!(
        "missing_dir",
        ctx.snapshot(&["build", "./nowhere", "out", "--dry-run"])
    );
    let json = ctx.run(&[
        "build",
        "./reranker",
        "out",
        "--dry-run",
        "--max-model-len",
        "512",
        "--json",
    ]);
    let plan: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(plan["total_kernels"], 3 * 3 + 4);
    assert_eq!(plan["preset"], "bge-reranker-v2-m3");
}

/// gpt-oss-20b through its family plugin: MoE tokenwise kernels and two attention
/// kernels give the reference's O3 plan and its 318 kernels.
#[test]
fn gpt_oss_plans_like_the_reference() {
    let rules = fxb::rules::RuleSet::embedded();
    let plugins = PluginSet::discover(&PluginSearch::default());
    let host = PluginHost::new(CompiledCache::new(shared_plugin_cache()), Limits::default());
    let config = sweep_config("openai/gpt-oss-20b");
    let options = PlanRequestOptions {
        optimization: "O3".into(),
        max_model_len: None,
        tensor_parallel_size: None,
        pipeline_parallel_size: 1,
    };
    let (plan, _) = plan_model(
        &config,
        "GptOssForCausalLM",
        &options,
        &BucketOverrides::default(),
        &rules,
        &plugins,
        &host,
    )
    .expect("plans");
    let reference: Value = serde_json::from_str(
        &fs::read_to_string(fixtures().join("plans/openai--gpt-oss-20b.json")).expect("plan"),
    )
    .expect("json");
    let o3 = &reference["levels"]["O3"];
    assert_eq!(plan.plugin.to_string(), "gpt_oss 0.1.0");
    assert_eq!(
        Some(plan.total_buckets as u64),
        o3["total_buckets"].as_u64()
    );
    assert_eq!(
        Some(plan.total_kernels as u64),
        o3["total_kernels"].as_u64()
    );
    assert_eq!(
        Some(plan.tensor_parallel_size),
        o3["tensor_parallel_size"].as_u64()
    );
    let decode: Vec<(u64, u64)> = plan
        .buckets
        .decode
        .iter()
        .map(|b| (b.batch, b.attention))
        .collect();
    let want: Vec<(u64, u64)> = o3["decode"]
        .as_array()
        .expect("decode")
        .iter()
        .map(|b| {
            (
                b["batch"].as_u64().unwrap_or(0),
                b["attn"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(decode, want);
    let kernels: Vec<&str> = plan.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        kernels,
        [
            "first_tokenwise",
            "mid_tokenwise_moe",
            "last_tokenwise_moe_with_lm_head",
            "sliding_window_attention",
            "full_attention",
            "random_sample"
        ]
    );
}

/// The reference's tiny-build flags (FORMAT.md §6) give exactly the plan of the real
/// `llama-min` bundle: tokenwise [1], one decode bucket (1, 256, 1), 4 kernels.
#[test]
fn bucket_overrides_reproduce_the_llama_min_build() {
    let ctx = TestContext::new();
    ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let tiny = [
        "build",
        "./llama",
        "out",
        "--dry-run",
        "-O",
        "O0",
        "--max-model-len",
        "256",
        "--tokenwise-buckets",
        "1",
        "--attention-buckets",
        "(1,256,1)",
        "--no-enable-sampler",
        "--skip-bucket-validation",
        "--json",
    ];
    let output = ctx.run(&tiny);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(plan["total_buckets"], 2);
    assert_eq!(plan["total_kernels"], 4);
    assert_eq!(plan["buckets"]["tokenwise"], serde_json::json!([1]));
    assert_eq!(
        plan["buckets"]["decode"],
        serde_json::json!([{"batch": 1, "attention": 256, "input_ids": 1}])
    );
    let kernels: Vec<&str> = plan["kernels"]
        .as_array()
        .expect("kernels")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(
        kernels,
        [
            "first_tokenwise",
            "mid_tokenwise",
            "last_tokenwise_with_lm_head",
            "full_attention"
        ]
    );

    let excluded = ctx.run(&[
        "build",
        "./llama",
        "out",
        "--dry-run",
        "-O",
        "O0",
        "--exclude-attention-buckets",
        "(1,1024,1024),(9,9,9)",
    ]);
    assert!(excluded.status.success());
    assert!(!stdout(&excluded).contains("input_ids=1024\n        - batch=1    attn=131072"));
    assert!(
        stderr(&excluded).contains("(9,9,9) is not in the plan"),
        "{}",
        stderr(&excluded)
    );
    insta::assert_snapshot!(
        "bad_tuple",
        ctx.snapshot(&[
            "build",
            "./llama",
            "out",
            "--dry-run",
            "--attention-buckets",
            "(1,2)"
        ])
    );
    insta::assert_snapshot!(
        "too_long",
        ctx.snapshot(&[
            "build",
            "./llama",
            "out",
            "--dry-run",
            "--attention-buckets",
            "(1,262144,1)"
        ])
    );
}
