//! The generic plugin: serves any architecture no family plugin claims (`*`), driven
//! entirely by the rule files: the fingerprint from the rule's field list, the plan from
//! the model's preset (or a generic preset, with a warning), the standard `--convert`.
//! Its own knowledge is the kernel list of a dense transformer with full attention,
//! headed by what the architecture's name says (language model, embedding, classifier).

use fxb_plugin_api::kernels::{Head, KernelList};
use fxb_plugin_api::v1::PluginError;
use serde_json::Value;

fxb_plugin_api::family_plugin! {
    name: "generic",
    architectures: ["*"],
    kernels: dense,
}

/// A dense transformer with full attention, headed by what the architecture's name says.
fn dense(_config: &Value, head: Head) -> Result<KernelList, PluginError> {
    Ok(KernelList::dense(head))
}
