//! The standard `--convert` rewrite, shared by every plugin whose family follows the
//! Hugging Face naming (`XForCausalLM`, `XModel`, `XForSequenceClassification`). A family
//! with other conventions writes its own and may fall back to this.

use serde_json::Value;

use crate::v1::{ConvertRequest, ConvertResponse, ErrorCode, PluginError};

const SEQUENCE_CLASSIFICATION: &str = "ForSequenceClassification";

/// `auto` keeps the architecture unless the repository says what it is for:
/// sentence-transformers metadata (`config_sentence_transformers.json` with model type
/// `CrossEncoder` means score, any other sentence-transformers metadata or `modules.json`
/// means embed), or a one-label sequence classifier (a reranker: scored as it is).
/// `embed` gives the bare `XModel`; `score` and `classify` give
/// `XForSequenceClassification`.
pub fn standard(request: &ConvertRequest) -> Result<ConvertResponse, PluginError> {
    let architecture = request.architecture.as_str();
    let metadata = &request.metadata;
    match request.task.as_str() {
        "auto" => {
            let cross_encoder = metadata
                .config_sentence_transformers
                .as_ref()
                .and_then(|c| c.get("model_type"))
                .and_then(Value::as_str)
                == Some("CrossEncoder");
            if cross_encoder {
                return rewrite(
                    architecture,
                    "score",
                    "config_sentence_transformers.json says CrossEncoder",
                );
            }
            if metadata.modules_json.is_some() || metadata.config_sentence_transformers.is_some() {
                return rewrite(architecture, "embed", "a sentence-transformers repository");
            }
            if architecture.ends_with(SEQUENCE_CLASSIFICATION)
                && labels(metadata.config.as_ref()) == Some(1)
            {
                return Ok(ConvertResponse {
                    architecture: architecture.to_string(),
                    reason: Some(
                        "auto: a one-label sequence classifier (a reranker), scored as it is"
                            .into(),
                    ),
                });
            }
            Ok(ConvertResponse {
                architecture: architecture.to_string(),
                reason: None,
            })
        }
        task @ ("embed" | "score" | "classify") => rewrite(architecture, task, task),
        other => Err(PluginError::invalid_input(format!(
            "unknown task `{other}`: expected auto, embed, score or classify"
        ))),
    }
}

/// The family name: the architecture without its task head.
fn base(architecture: &str) -> Option<&str> {
    if let Some(base) = architecture.strip_suffix("Model") {
        return Some(base);
    }
    architecture
        .find("For")
        .map(|at| &architecture[..at])
        .filter(|b| !b.is_empty())
}

fn rewrite(architecture: &str, task: &str, why: &str) -> Result<ConvertResponse, PluginError> {
    let unsupported = || {
        PluginError::new(
            ErrorCode::Unsupported,
            format!(
                "cannot convert `{architecture}` for `{task}`: its name has no `For…` head or `Model` suffix"
            ),
        )
    };
    let converted = match task {
        "embed" => format!("{}Model", base(architecture).ok_or_else(unsupported)?),
        _ if architecture.ends_with(SEQUENCE_CLASSIFICATION) => architecture.to_string(),
        _ => format!(
            "{}{SEQUENCE_CLASSIFICATION}",
            base(architecture).ok_or_else(unsupported)?
        ),
    };
    let reason = if converted == architecture {
        format!("{why}: `{architecture}` already fits")
    } else {
        format!("{why}: `{architecture}` -> `{converted}`")
    };
    Ok(ConvertResponse {
        architecture: converted,
        reason: Some(reason),
    })
}

/// `num_labels`, or the size of `id2label`.
fn labels(config: Option<&Value>) -> Option<u64> {
    let config = config?;
    config
        .get("num_labels")
        .and_then(Value::as_u64)
        .or_else(|| {
            config
                .get("id2label")
                .and_then(Value::as_object)
                .map(|m| m.len() as u64)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::RepoMetadata;
    use serde_json::json;

    fn convert(
        architecture: &str,
        task: &str,
        metadata: RepoMetadata,
    ) -> Result<ConvertResponse, PluginError> {
        standard(&ConvertRequest {
            architecture: architecture.into(),
            task: task.into(),
            metadata,
        })
    }

    fn arch(architecture: &str, task: &str, metadata: RepoMetadata) -> String {
        convert(architecture, task, metadata)
            .expect("converts")
            .architecture
    }

    #[test]
    fn explicit_tasks_rewrite_the_head() {
        let none = RepoMetadata::default;
        assert_eq!(arch("LlamaForCausalLM", "embed", none()), "LlamaModel");
        assert_eq!(arch("MistralModel", "embed", none()), "MistralModel");
        assert_eq!(
            arch("Qwen3ForCausalLM", "score", none()),
            "Qwen3ForSequenceClassification"
        );
        assert_eq!(
            arch("XLMRobertaModel", "classify", none()),
            "XLMRobertaForSequenceClassification"
        );
        assert_eq!(
            arch("XLMRobertaForSequenceClassification", "embed", none()),
            "XLMRobertaModel"
        );
        assert_eq!(
            convert("Weird", "embed", none()).expect_err("no head").code,
            ErrorCode::Unsupported
        );
        assert_eq!(
            convert("LlamaForCausalLM", "dance", none())
                .expect_err("bad task")
                .code,
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn auto_reads_the_repository() {
        let st = |model_type: &str| RepoMetadata {
            config_sentence_transformers: Some(json!({"model_type": model_type})),
            ..RepoMetadata::default()
        };
        let modules = RepoMetadata {
            modules_json: Some(json!([{"type": "sentence_transformers.models.Transformer"}])),
            ..RepoMetadata::default()
        };
        assert_eq!(
            arch("Qwen3ForCausalLM", "auto", RepoMetadata::default()),
            "Qwen3ForCausalLM"
        );
        assert_eq!(arch("Qwen3ForCausalLM", "auto", modules), "Qwen3Model");
        assert_eq!(
            arch("Qwen3ForCausalLM", "auto", st("SentenceTransformer")),
            "Qwen3Model"
        );
        assert_eq!(
            arch("Qwen3ForCausalLM", "auto", st("CrossEncoder")),
            "Qwen3ForSequenceClassification"
        );
        let reranker = RepoMetadata {
            config: Some(json!({"id2label": {"0": "LABEL_0"}})),
            ..RepoMetadata::default()
        };
        let reply =
            convert("XLMRobertaForSequenceClassification", "auto", reranker).expect("keeps");
        assert_eq!(reply.architecture, "XLMRobertaForSequenceClassification");
        assert!(reply.reason.unwrap_or_default().contains("one-label"));
    }
}
