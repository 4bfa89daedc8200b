//! The O3 → O0/O1/O2 thinning in `plugins/api` against the reference's own dry-runs: for
//! every swept (model, max-model-len, tp), thinning the reference's O3 plan gives exactly
//! the reference's lower-level plans (the O3 presets themselves arrive with the planner).
//! Any other bucket set would make bundles the reference's runtime does not expect.

use fxb_plugin_api::plan::{keep_for_level, sampler_sizes, thin};
use fxb_plugin_api::v1::{AttentionBucket, BucketPlan};
use serde_json::Value;

use crate::common::{fixtures, sweep_config, sweeps};

fn buckets(run: &Value, key: &str) -> Vec<AttentionBucket> {
    run[key]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| AttentionBucket {
                    batch: b["batch"].as_u64().unwrap_or(0),
                    attention: b["attn"].as_u64().unwrap_or(0),
                    input_ids: b["input_ids"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sizes(run: &Value, key: &str) -> Vec<u64> {
    run[key]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn plan_of(run: &Value) -> BucketPlan {
    BucketPlan {
        tokenwise: sizes(run, "tokenwise"),
        sampler: sizes(run, "sampler"),
        prefill: buckets(run, "prefill"),
        decode: buckets(run, "decode"),
        append: buckets(run, "append"),
    }
}

#[test]
fn thinning_the_reference_o3_plans_gives_its_o0_to_o2_plans() {
    let mut compared = 0;
    let mut refusals = 0;
    for (name, sweep) in sweeps() {
        let runs = sweep["runs"].as_array().expect("runs");
        let encoder = name.contains("reranker");
        for full in runs
            .iter()
            .filter(|r| r["optim_level"] == "O3" && r["refused"] != true)
        {
            let same_args = |r: &&Value| {
                r["max_model_len_arg"] == full["max_model_len_arg"] && r["tp_arg"] == full["tp_arg"]
            };
            let tp = full["tensor_parallel_size"].as_u64().expect("tp");
            for run in runs
                .iter()
                .filter(same_args)
                .filter(|r| r["optim_level"] != "O3")
            {
                let level = run["optim_level"].as_str().unwrap_or_default();
                let keep = keep_for_level(level).expect("a lower level");
                let mut got = thin(&plan_of(full), keep);
                if !encoder {
                    got.sampler = sampler_sizes(&got.tokenwise, tp);
                }
                let context = format!(
                    "{name} {level} len={} tp={}",
                    full["max_model_len_arg"], full["tp_arg"]
                );
                if run["refused"] == true {
                    assert!(
                        got.decode.is_empty() && !encoder,
                        "{context}: the reference refused: {}",
                        run["error"]
                    );
                    refusals += 1;
                    continue;
                }
                assert_eq!(got, plan_of(run), "{context}");
                compared += 1;
            }
        }
    }
    assert!(compared > 150, "only {compared} runs compared");
    eprintln!("compared {compared} thinned plans, {refusals} refusals reproduced");
}

/// The same on the per-model plans at defaults (`plans/*.json`; gpt-oss-20b's lower
/// levels are held out, so only its O3 is there and nothing is compared for it).
#[test]
fn thinning_matches_the_default_plans_of_every_planned_model() {
    for model in [
        "meta-llama--Llama-3.1-8B-Instruct",
        "Qwen--Qwen3-32B-FP8",
        "openai--gpt-oss-20b",
    ] {
        let path = fixtures().join(format!("plans/{model}.json"));
        let plans: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let levels = &plans["levels"];
        let full = &levels["O3"];
        let tp = full["tensor_parallel_size"].as_u64().expect("tp");
        for level in ["O0", "O1", "O2"]
            .into_iter()
            .filter(|l| levels.get(l).is_some())
        {
            let mut got = thin(&plan_of(full), keep_for_level(level).expect("level"));
            got.sampler = sampler_sizes(&got.tokenwise, tp);
            assert_eq!(got, plan_of(&levels[level]), "{model} {level}");
        }
    }
}

/// Every dry-run of the reference in `plans/sweeps/` (360 runs over -O, --max-model-len
/// and -tp, refusals included), planned from the shipped rule files.
#[test]
fn the_shipped_presets_reproduce_every_reference_dry_run() {
    use fxb_plugin_api::plan::{PlanSettings, plan_from_preset, select_preset};
    let rules = fxb::rules::RuleSet::embedded();
    let mut checked = 0;
    for (name, sweep) in sweeps() {
        let config = sweep_config(sweep["model"].as_str().expect("model"));
        let architecture = config["architectures"][0].as_str().expect("architecture");
        let (_, plan_rule) = rules.plan_rule(architecture).expect("a plan rule");
        let preset =
            select_preset(&plan_rule.presets, &config, Some("text_config")).expect("a preset");
        for run in sweep["runs"].as_array().expect("runs") {
            let level = run["optim_level"].as_str().expect("level");
            let settings = PlanSettings {
                max_position_embeddings: config["max_position_embeddings"].as_u64().expect("mpe"),
                max_model_len: run["max_model_len_arg"].as_u64(),
                tensor_parallel_size: run["tp_arg"].as_u64(),
                keep: keep_for_level(level),
            };
            let context = format!(
                "{name} {level} len={} tp={}",
                run["max_model_len_arg"], run["tp_arg"]
            );
            let planned = plan_from_preset(preset, settings);
            checked += 1;
            if run["refused"] == true {
                assert!(
                    planned.is_err(),
                    "{context}: the reference refused ({})",
                    run["error"]
                );
                continue;
            }
            let planned = planned.unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(planned.buckets, plan_of(run), "{context}");
            assert_eq!(
                Some(planned.tensor_parallel_size),
                run["tensor_parallel_size"].as_u64(),
                "{context}"
            );
            assert_eq!(
                Some(planned.max_model_len),
                run["max_model_len"].as_u64(),
                "{context}"
            );
        }
    }
    assert_eq!(checked, 360);
}
