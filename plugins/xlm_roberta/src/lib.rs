//! XLM-RoBERTa: an encoder. It never decodes, so it has no decode, append or sampler
//! buckets; what it is built for is named by its head: `XLMRobertaModel` (bge-m3, an
//! embedding model) ends in a pooler, `XLMRobertaForSequenceClassification`
//! (bge-reranker-v2-m3) in the classifier head the reference's reranker bundle has. The
//! checkpoints published as `XLMRobertaForMaskedLM` (or the rare `…ForCausalLM`) have a
//! language-model head fxb cannot build: `--convert embed` or `score` turns them into
//! something it can, and anything left with such a head is refused as unsupported.
//! Positions are learned absolute embeddings; the relative position variants BERT's code
//! allows would need other attention kernels, so they are refused too.

use fxb_plugin_api::config::{Section, architecture};
use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::v1::{
    ConvertRequest, ConvertResponse, ErrorCode, FingerprintRequest, FingerprintResponse,
    PlanRequest, PlanResponse, PluginError,
};
use serde_json::Value;

fxb_plugin_api::plugin! {
    name: "xlm_roberta",
    architectures: [
        "XLMRobertaModel",
        "XLMRobertaForSequenceClassification",
        "XLMRobertaForMaskedLM",
        "XLMRobertaForCausalLM",
    ],
    operations: { fingerprint => fingerprint, plan => plan, convert => convert },
}

fn check_positions(config: &Value) -> Result<(), PluginError> {
    let section = Section::of(config);
    match section.get("position_embedding_type") {
        None => Ok(()),
        Some(Value::String(kind)) if kind == "absolute" => Ok(()),
        Some(other) => {
            let path = section.path("position_embedding_type");
            Err(PluginError::new(
                ErrorCode::Unsupported,
                format!("`{path}` is {other}: only \"absolute\" position embeddings have kernels"),
            )
            .with_field(path))
        }
    }
}

/// The refusal for an architecture whose head is a language model's.
fn not_an_encoder_task(architecture: &str) -> PluginError {
    PluginError::new(
        ErrorCode::Unsupported,
        format!(
            "`{architecture}` has a language-model head, but XLM-RoBERTa is an encoder with no decode kernels; build it with --convert embed (an embedding model) or --convert score (a reranker)"
        ),
    )
}

pub fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    check_positions(&request.config)?;
    fxb_plugin_api::fingerprint::standard(request)
}

pub fn plan(request: PlanRequest) -> Result<PlanResponse, PluginError> {
    check_positions(&request.config)?;
    let architecture = architecture(request.architecture.as_deref(), &request.config)?;
    let head = Head::of(&architecture);
    if head.generative() {
        return Err(not_an_encoder_task(&architecture));
    }
    fxb_plugin_api::plan::with_kernels(&request, &KernelList::dense(head))
}

/// The standard rewrite, refusing a result that would still have a language-model head
/// (`auto` on a masked-LM checkpoint without sentence-transformers metadata).
pub fn convert(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
    let converted = fxb_plugin_api::convert::standard(&request)?;
    if Head::of(&converted.architecture).generative() {
        return Err(not_an_encoder_task(&converted.architecture));
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fxb_plugin_api::v1::RepoMetadata;

    fn convert_to(architecture: &str, task: &str) -> Result<String, PluginError> {
        convert(ConvertRequest {
            architecture: architecture.into(),
            task: task.into(),
            metadata: RepoMetadata::default(),
        })
        .map(|c| c.architecture)
    }

    #[test]
    fn a_language_model_head_is_converted_or_refused() {
        assert_eq!(
            convert_to("XLMRobertaForMaskedLM", "embed").ok().as_deref(),
            Some("XLMRobertaModel")
        );
        assert_eq!(
            convert_to("XLMRobertaForMaskedLM", "score").ok().as_deref(),
            Some("XLMRobertaForSequenceClassification")
        );
        let err = convert_to("XLMRobertaForMaskedLM", "auto").expect_err("refused");
        assert_eq!(err.code, ErrorCode::Unsupported);
        assert!(err.message.contains("--convert embed"), "{err}");
    }

    #[test]
    fn relative_positions_are_refused_naming_the_field() {
        let config = serde_json::json!({"position_embedding_type": "relative_key"});
        let err = check_positions(&config).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("position_embedding_type"));
        assert!(
            check_positions(&serde_json::json!({"position_embedding_type": "absolute"})).is_ok()
        );
    }
}
