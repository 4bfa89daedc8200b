//! `fingerprint --convert`: the task rewrite (`embed`, `score`, `auto` from
//! sentence-transformers metadata) changes the fingerprint's architecture and nothing
//! else, so a model served for another task never matches bundles built for its original
//! one.

use std::fs;

use crate::common::{TestContext, stderr, stdout};

fn architecture(output: &std::process::Output) -> String {
    let text = stdout(output);
    let first = text.lines().next().unwrap_or_default();
    first
        .rsplit_once("  (")
        .map(|(_, a)| a.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

#[test]
fn explicit_tasks() {
    let ctx = TestContext::new();
    let llama = ctx.model_dir("llama", "meta-llama--Llama-3.1-8B-Instruct.json");
    let embed = ctx.run(&["fingerprint", &llama, "--convert", "embed"]);
    assert_eq!(architecture(&embed), "LlamaModel");
    assert!(stderr(&embed).contains("note: convert embed: `LlamaForCausalLM` -> `LlamaModel`"));
    let score = ctx.run(&["fingerprint", &llama, "--convert", "score"]);
    assert_eq!(architecture(&score), "LlamaForSequenceClassification");
    let plain = ctx.run(&["fingerprint", &llama]);
    assert_eq!(architecture(&plain), "LlamaForCausalLM");
    // Only the architecture changes; the fields are the same.
    assert_eq!(stdout(&embed).lines().nth(1), stdout(&plain).lines().nth(1));
}

#[test]
fn auto_reads_sentence_transformers_metadata() {
    let ctx = TestContext::new();
    let dir = ctx.model_dir("embedding", "Qwen--Qwen3-Embedding-0.6B.json");
    assert_eq!(
        architecture(&ctx.run(&["fingerprint", &dir, "--convert", "auto"])),
        "Qwen3ForCausalLM"
    );
    fs::write(
        ctx.path("embedding/modules.json"),
        r#"[{"idx": 0, "type": "sentence_transformers.models.Transformer"}]"#,
    )
    .expect("write");
    assert_eq!(
        architecture(&ctx.run(&["fingerprint", &dir, "--convert", "auto"])),
        "Qwen3Model"
    );
    fs::write(
        ctx.path("embedding/config_sentence_transformers.json"),
        r#"{"model_type": "CrossEncoder"}"#,
    )
    .expect("write");
    assert_eq!(
        architecture(&ctx.run(&["fingerprint", &dir, "--convert", "auto"])),
        "Qwen3ForSequenceClassification"
    );
    let reranker = ctx.model_dir("reranker", "BAAI--bge-reranker-v2-m3.json");
    let kept = ctx.run(&["fingerprint", &reranker, "--convert", "auto"]);
    assert_eq!(architecture(&kept), "XLMRobertaForSequenceClassification");
    assert!(
        stderr(&kept).contains("one-label sequence classifier"),
        "{}",
        stderr(&kept)
    );
}

#[test]
fn bad_metadata_and_bad_tasks_are_clear_errors() {
    let ctx = TestContext::new();
    let dir = ctx.model_dir("m", "Qwen--Qwen3-Embedding-0.6B.json");
    fs::write(ctx.path("m/modules.json"), "[not json").expect("write");
    insta::assert_snapshot!(
        "bad_modules_json",
        ctx.snapshot(&["fingerprint", &dir, "--convert", "auto"])
    );
    let bad_task = ctx.run(&["fingerprint", &dir, "--convert", "dance"]);
    assert_eq!(bad_task.status.code(), Some(2));
    assert!(stderr(&bad_task).contains("possible values: auto, embed, score, classify"));
}
