//! The standard fingerprint reader: the rule (data, from a rule file) says which fields
//! form the fingerprint, where they are read and how `head_dim` is derived; this reads a
//! config accordingly and renders values the way the reference does. Family plugins call
//! it and add what their configs need.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::v1::{FingerprintRequest, FingerprintResponse, PluginError};

/// The parts of a rule this plugin reads.
struct Rule<'a> {
    fields: Vec<&'a str>,
    required: Vec<&'a str>,
    counts: Vec<&'a str>,
    nested: Option<&'a str>,
    quantization_section: Option<&'a str>,
    quantization_fields: Vec<&'a str>,
    /// field → (numerator, denominator) when the config lacks it.
    derived: Vec<(&'a str, &'a str, &'a str)>,
}

impl<'a> Rule<'a> {
    fn parse(rule: &'a Value) -> Result<Self, PluginError> {
        let strings = |key: &str| -> Result<Vec<&'a str>, PluginError> {
            match rule.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| bad_rule(&format!("`{key}` must list strings")))
                    })
                    .collect(),
                Some(_) => Err(bad_rule(&format!("`{key}` must be an array"))),
            }
        };
        if !rule.is_object() {
            return Err(PluginError::invalid_input(
                "the request carries no rule: the generic plugin needs the rule's field list",
            ));
        }
        let quantization = rule.get("quantization");
        let mut derived = Vec::new();
        if let Some(Value::Object(map)) = rule.get("derived") {
            for (field, how) in map {
                let parts = how
                    .get("divide")
                    .and_then(Value::as_array)
                    .filter(|p| p.len() == 2)
                    .and_then(|p| Some((p[0].as_str()?, p[1].as_str()?)))
                    .ok_or_else(|| {
                        bad_rule(&format!("`derived.{field}` must be {{divide = [a, b]}}"))
                    })?;
                derived.push((field.as_str(), parts.0, parts.1));
            }
        }
        Ok(Rule {
            fields: strings("fields")?,
            required: strings("required")?,
            counts: strings("counts")?,
            nested: rule.get("nested-config").and_then(Value::as_str),
            quantization_section: quantization
                .and_then(|q| q.get("section"))
                .and_then(Value::as_str),
            quantization_fields: quantization
                .and_then(|q| q.get("fields"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
            derived,
        })
    }
}

fn bad_rule(message: &str) -> PluginError {
    PluginError::invalid_input(format!("invalid rule: {message}"))
}

/// Fingerprint `config` under the request's rule.
pub fn standard(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    let rule = Rule::parse(&request.rule)?;
    let Value::Object(config) = &request.config else {
        return Err(PluginError::invalid_input(
            "config.json is not a JSON object",
        ));
    };
    let architecture = match request.architecture {
        Some(a) => a,
        None => config
            .get("architectures")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PluginError::missing_field("architectures"))?,
    };
    // Multimodal configs keep the language model's fields in a nested section.
    let (section, prefix): (&Map<String, Value>, String) = match rule
        .nested
        .and_then(|n| config.get(n))
    {
        Some(Value::Object(nested)) => (nested, format!("{}.", rule.nested.unwrap_or_default())),
        _ => (config, String::new()),
    };

    let mut fields = BTreeMap::new();
    for name in &rule.fields {
        if let Some(value) = section.get(*name) {
            fields.insert((*name).to_string(), render(value));
        }
    }
    for name in &rule.required {
        match section.get(*name) {
            None => return Err(PluginError::missing_field(format!("{prefix}{name}"))),
            Some(v) if positive_integer(v).is_none() => {
                return Err(PluginError::invalid_field(
                    format!("{prefix}{name}"),
                    format!(
                        "`{prefix}{name}` must be a positive integer, found {}",
                        shown(v)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    for name in &rule.counts {
        match section.get(*name) {
            None | Some(Value::Null) => {}
            Some(v) if positive_integer(v).is_some() => {}
            Some(v) => {
                return Err(PluginError::invalid_field(
                    format!("{prefix}{name}"),
                    format!(
                        "`{prefix}{name}` must be a positive integer (or null), found {}",
                        shown(v)
                    ),
                ));
            }
        }
    }
    for (field, numerator, denominator) in &rule.derived {
        if section.contains_key(*field) {
            continue;
        }
        let (Some(n), Some(d)) = (
            section.get(*numerator).and_then(positive_integer),
            section.get(*denominator).and_then(positive_integer),
        ) else {
            continue;
        };
        if n % d != 0 {
            return Err(PluginError::invalid_field(
                format!("{prefix}{numerator}"),
                format!(
                    "`{prefix}{numerator}` ({n}) is not divisible by `{prefix}{denominator}` ({d}), so `{field}` cannot be derived"
                ),
            ));
        }
        fields.insert((*field).to_string(), (n / d).to_string());
    }
    if let Some(Value::Object(quantization)) = rule.quantization_section.and_then(|s| config.get(s))
    {
        for name in &rule.quantization_fields {
            if let Some(value) = quantization.get(*name) {
                fields.insert((*name).to_string(), render(value));
            }
        }
    }
    Ok(FingerprintResponse {
        architecture,
        fields,
    })
}

/// A config value as an error message shows it: short, so a hostile config cannot make a
/// message megabytes long.
fn shown(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn positive_integer(value: &Value) -> Option<u64> {
    value.as_u64().filter(|n| *n > 0)
}

/// The reference's rendering of a fingerprint value: strings bare, numbers in
/// serde_json's form, everything else as compact JSON in its original key order.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> Value {
        json!({
            "fields": ["hidden_size", "num_attention_heads", "rms_norm_eps", "rope_scaling", "head_dim", "sliding_window"],
            "required": ["hidden_size", "num_attention_heads"],
            "counts": ["num_hidden_layers", "head_dim"],
            "nested-config": "text_config",
            "quantization": {"section": "quantization_config", "fields": ["quant_method"]},
            "derived": {"head_dim": {"divide": ["hidden_size", "num_attention_heads"]}}
        })
    }

    #[test]
    fn renders_like_the_reference() {
        let config = json!({
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": 4096, "num_attention_heads": 32, "rms_norm_eps": 1e-05,
            "rope_scaling": {"factor": 8.0, "rope_type": "llama3"}, "sliding_window": null,
            "quantization_config": {"quant_method": "fp8"}
        });
        let reply = standard(FingerprintRequest {
            config,
            architecture: None,
            rule: rule(),
        })
        .expect("ok");
        assert_eq!(reply.architecture, "LlamaForCausalLM");
        assert_eq!(reply.fields["head_dim"], "128");
        assert_eq!(reply.fields["rms_norm_eps"], "0.00001");
        assert_eq!(
            reply.fields["rope_scaling"],
            r#"{"factor":8.0,"rope_type":"llama3"}"#
        );
        assert_eq!(reply.fields["sliding_window"], "null");
        assert_eq!(reply.fields["quant_method"], "fp8");
    }

    #[test]
    fn refuses_missing_and_absurd_fields() {
        let missing = json!({"architectures": ["X"], "text_config": {"hidden_size": 10}});
        let err = standard(FingerprintRequest {
            config: missing,
            architecture: None,
            rule: rule(),
        })
        .expect_err("refused");
        assert_eq!(
            err.field.as_deref(),
            Some("text_config.num_attention_heads")
        );
        let zero = json!({"architectures": ["X"], "hidden_size": 10, "num_attention_heads": 0});
        assert!(
            standard(FingerprintRequest {
                config: zero,
                architecture: None,
                rule: rule()
            })
            .is_err()
        );
        let odd = json!({"architectures": ["X"], "hidden_size": 10, "num_attention_heads": 3});
        let err = standard(FingerprintRequest {
            config: odd,
            architecture: None,
            rule: rule(),
        })
        .expect_err("refused");
        assert!(err.message.contains("not divisible"), "{err}");
    }

    #[test]
    fn refuses_counts_that_are_not_positive_integers() {
        for bad in [
            json!(-1),
            json!(0),
            json!(2.5),
            json!([32]),
            json!({"n": 32}),
            json!("32"),
        ] {
            let config = json!({"architectures": ["X"], "hidden_size": 10, "num_attention_heads": 2, "num_hidden_layers": bad});
            let err = standard(FingerprintRequest {
                config,
                architecture: None,
                rule: rule(),
            })
            .expect_err("refused");
            assert_eq!(err.field.as_deref(), Some("num_hidden_layers"), "{err}");
            assert!(err.message.contains("positive integer"), "{err}");
        }
        let huge = json!({"architectures": ["X"], "hidden_size": 10, "num_attention_heads": 2, "head_dim": "x".repeat(100_000)});
        let err = standard(FingerprintRequest {
            config: huge,
            architecture: None,
            rule: rule(),
        })
        .expect_err("refused");
        assert!(
            err.message.len() < 300,
            "a bounded message: {} bytes",
            err.message.len()
        );
        for fine in [json!(null), json!(32)] {
            let config = json!({"architectures": ["X"], "hidden_size": 10, "num_attention_heads": 2, "num_hidden_layers": fine, "head_dim": null});
            standard(FingerprintRequest {
                config,
                architecture: None,
                rule: rule(),
            })
            .expect("accepted");
        }
    }
}
