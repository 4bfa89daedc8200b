//! A template fxb plugin for a made-up architecture, `TemplateForCausalLM`.
//!
//! It shows the three things a plugin does: declare itself (`plugin!`), read config.json
//! defensively (a missing or odd field is a `PluginError` naming the field, never a
//! panic), and render values the way fxb's fingerprints do (numbers in serde_json's
//! form, strings bare, objects as compact JSON).

use std::collections::BTreeMap;

use fxb_plugin_api::v1::{ConvertRequest, ConvertResponse, ErrorCode, FingerprintRequest, FingerprintResponse, PluginError};
use serde_json::Value;

fxb_plugin_api::plugin! {
    name: "template",
    architectures: ["TemplateForCausalLM", "TemplateModel"],
    operations: { fingerprint => fingerprint, convert => convert },
}

/// Fields used when the request carries no rule (a rule file normally supplies them).
const DEFAULT_FIELDS: &[&str] = &["hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size"];

/// config.json → architecture + fields.
pub fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    let config = request
        .config
        .as_object()
        .ok_or_else(|| PluginError::invalid_input("config.json is not a JSON object"))?;
    let architecture = match request.architecture {
        Some(architecture) => architecture,
        None => config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .ok_or_else(|| PluginError::missing_field("architectures"))?
            .to_string(),
    };
    let fields_from_rule: Option<Vec<&str>> = request
        .rule
        .get("fields")
        .and_then(Value::as_array)
        .map(|fields| fields.iter().filter_map(Value::as_str).collect());
    let mut fields = BTreeMap::new();
    for name in fields_from_rule.as_deref().unwrap_or(DEFAULT_FIELDS) {
        let value = config.get(*name).ok_or_else(|| PluginError::missing_field(*name))?;
        let rendered = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        fields.insert((*name).to_string(), rendered);
    }
    Ok(FingerprintResponse { architecture, fields })
}

/// `--convert embed` turns the causal LM into its bare model; other tasks are refused.
pub fn convert(request: ConvertRequest) -> Result<ConvertResponse, PluginError> {
    match request.task.as_str() {
        "auto" => Ok(ConvertResponse {
            architecture: request.architecture,
            reason: None,
        }),
        "embed" => Ok(ConvertResponse {
            architecture: request.architecture.replace("ForCausalLM", "Model"),
            reason: Some("embed: *ForCausalLM -> *Model".into()),
        }),
        other => Err(PluginError::new(
            ErrorCode::Unsupported,
            format!("task `{other}` is not supported for {}", request.architecture),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_a_config_and_names_missing_fields() {
        let config = json!({"architectures": ["TemplateForCausalLM"], "hidden_size": 64,
                            "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 1000});
        let request = FingerprintRequest { config, architecture: None, rule: Value::Null };
        let reply = fingerprint(request).expect("fingerprints");
        assert_eq!(reply.fields["hidden_size"], "64");
        let request = FingerprintRequest { config: json!({"architectures": ["X"]}), architecture: None, rule: Value::Null };
        assert_eq!(fingerprint(request).expect_err("missing").field.as_deref(), Some("hidden_size"));
    }
}
