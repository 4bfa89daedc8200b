//! The generic plugin: serves any architecture no family plugin claims (`*`), driven
//! entirely by the rule files: the fingerprint from the rule's field list, the plan from
//! the model's preset (or a generic preset, with a warning), the standard `--convert`.
//! Its own knowledge is the kernel list of a dense transformer with full attention,
//! headed by what the architecture's name says (language model, embedding, classifier).

use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::v1::{
    ConvertRequest, ConvertResponse, FingerprintRequest, FingerprintResponse, PlanRequest,
    PlanResponse, PluginError,
};

fxb_plugin_api::plugin! {
    name: "generic",
    architectures: ["*"],
    operations: { fingerprint => fingerprint, plan => plan, convert => convert },
}

/// The rule's fingerprint, read the standard way.
pub fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    fxb_plugin_api::fingerprint::standard(request)
}

/// `--convert`: the standard Hugging Face head rewrite.
pub fn convert(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
    fxb_plugin_api::convert::standard(&request)
}

/// Buckets from the preset, kernels of a dense transformer.
pub fn plan(request: PlanRequest) -> Result<PlanResponse, PluginError> {
    let architecture =
        fxb_plugin_api::config::architecture(request.architecture.as_deref(), &request.config)?;
    fxb_plugin_api::plan::with_kernels(&request, &KernelList::dense(Head::of(&architecture)))
}
