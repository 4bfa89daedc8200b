//! The architecture fingerprint: architecture + the kernel-affecting config.json fields
//! as canonical strings. The rule (data) says which fields; the architecture's plugin
//! (logic) reads them; this module puts the two together and compares fingerprints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fxb_plugin_api::v1::FingerprintResponse;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::plugin::{PluginCallError, PluginHost, PluginSet};
use crate::rules::RuleSet;

/// A fingerprint and what produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "fxb fingerprint --json")]
pub struct Fingerprint {
    pub architecture: String,
    /// Field → canonical string, sorted by field name.
    pub fields: BTreeMap<String, String>,
    /// The rule it was made with (recorded in bundles).
    pub rule: crate::rules::RuleId,
    /// The plugin that read the config (recorded in bundles).
    pub plugin: crate::plugin::PluginId,
}

/// Why a config could not be fingerprinted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file, or larger than any config (issue 13).
    #[error(transparent)]
    Unreadable(#[from] crate::fs::ReadError),
    #[error("`{}` is not valid JSON: {detail}", path.display())]
    NotJson { path: PathBuf, detail: String },
    #[error("`{}` has no `architectures` list to take the architecture from", path.display())]
    NoArchitecture { path: PathBuf },
    #[error("no rule serves architecture `{0}`")]
    NoRule(String),
    #[error("no plugin serves architecture `{0}`")]
    NoPlugin(String),
    #[error("cannot fingerprint `{}`", path.display())]
    Plugin {
        path: PathBuf,
        #[source]
        source: Box<PluginCallError>,
    },
}

/// The largest config.json read: real ones are a few KB, the largest seen ~100 KB.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A model's config.json: `path` is the model directory or the file itself. Only a
/// regular file of at most [`MAX_CONFIG_BYTES`] is read (a FIFO would hang, `/dev/zero`
/// would never end).
pub fn read_config(path: &Path) -> Result<(PathBuf, Value), FingerprintError> {
    let file = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
    let bytes = match crate::fs::read_limited(&file, MAX_CONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(crate::fs::ReadError::Io { path, source }) => {
            return Err(FingerprintError::Read { path, source });
        }
        Err(other) => return Err(other.into()),
    };
    let value = parse_config(&file, &bytes)?;
    Ok((file, value))
}

/// The bytes of a config.json (read from `file`, named in errors) as JSON: what
/// [`read_config`] does once it has read them, for callers that hold the bytes already
/// (the fuzz targets).
pub fn parse_config(file: &Path, bytes: &[u8]) -> Result<Value, FingerprintError> {
    serde_json::from_slice(bytes).map_err(|e| FingerprintError::NotJson {
        path: file.to_path_buf(),
        detail: e.to_string(),
    })
}

/// `architectures[0]` of a config.json.
pub fn config_architecture(config: &Value) -> Option<&str> {
    config.get("architectures")?.get(0)?.as_str()
}

/// The model fields a summary shows: the language model's section of the config (its
/// `text_config` when it has one), the quantization fields, and `head_dim` as derived.
pub fn model_fields(config: &Value, print: &Fingerprint) -> serde_json::Map<String, Value> {
    let section = config
        .get("text_config")
        .filter(|s| s.is_object())
        .unwrap_or(config);
    let mut fields = section.as_object().cloned().unwrap_or_default();
    for key in ["quant_method", "format"] {
        if let Some(value) = config.get("quantization_config").and_then(|q| q.get(key)) {
            fields.insert(key.to_string(), value.clone());
        }
    }
    if let Some(head_dim) = print
        .fields
        .get("head_dim")
        .and_then(|h| h.parse::<u64>().ok())
    {
        fields
            .entry("head_dim".to_string())
            .or_insert_with(|| head_dim.into());
    }
    fields
}

/// Fingerprint `config` (read from `path`, named in errors) under `architecture` (after
/// `--convert`; `config.architectures[0]` when `None`).
pub fn fingerprint(
    path: &Path,
    config: &Value,
    architecture: Option<&str>,
    rules: &RuleSet,
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<Fingerprint, FingerprintError> {
    let architecture = match architecture {
        Some(a) => a.to_string(),
        None => config_architecture(config)
            .map(str::to_string)
            .ok_or_else(|| FingerprintError::NoArchitecture {
                path: path.to_path_buf(),
            })?,
    };
    let rule = rules
        .fingerprint_rule(&architecture)
        .ok_or_else(|| FingerprintError::NoRule(architecture.clone()))?;
    fingerprint_with_rule(path, config, &architecture, rule, plugins, host)
}

/// [`fingerprint`] with a given rule (e.g. the version a bundle was made with) instead of
/// the active one for the architecture.
pub fn fingerprint_with_rule(
    path: &Path,
    config: &Value,
    architecture: &str,
    (rule, fingerprint_rule): (&crate::rules::LoadedRule, &crate::rules::FingerprintRule),
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<Fingerprint, FingerprintError> {
    let architecture = architecture.to_string();
    let plugin = plugins
        .for_architecture(&architecture)
        .ok_or_else(|| FingerprintError::NoPlugin(architecture.clone()))?;
    let plugin_error = |source| FingerprintError::Plugin {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let loaded = host.load(plugin).map_err(plugin_error)?;
    let request = FingerprintCall {
        config,
        architecture: &architecture,
        rule: fingerprint_rule,
    };
    let reply: FingerprintResponse = loaded.call("fingerprint", &request).map_err(plugin_error)?;
    Ok(Fingerprint {
        architecture: reply.architecture,
        fields: reply.fields,
        rule: crate::rules::RuleId::new(&rule.file.name, &rule.file.version),
        plugin: crate::plugin::PluginId {
            name: plugin.info.metadata.name.clone(),
            version: plugin.info.metadata.version.clone(),
        },
    })
}

/// A [`FingerprintRequest`](fxb_plugin_api::v1::FingerprintRequest) as the host sends it: borrowed, so a config is serialized
/// straight into the call's input rather than cloned first.
#[derive(Serialize)]
struct FingerprintCall<'a> {
    config: &'a Value,
    architecture: &'a str,
    rule: &'a crate::rules::FingerprintRule,
}

/// One field that differs between two fingerprints (`None` = absent on that side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldDifference {
    pub field: String,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// The outcome of comparing two fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Compatibility {
    Compatible,
    Incompatible {
        /// Set when the architectures differ.
        architecture: Option<(String, String)>,
        fields: Vec<FieldDifference>,
    },
}

/// Strict comparison (DESIGN.md): same architecture, the same field names, every value
/// equal.
pub fn compare(left: &Fingerprint, right: &Fingerprint) -> Compatibility {
    let architecture = (left.architecture != right.architecture)
        .then(|| (left.architecture.clone(), right.architecture.clone()));
    let names: BTreeSet<&String> = left.fields.keys().chain(right.fields.keys()).collect();
    let fields: Vec<FieldDifference> = names
        .into_iter()
        .filter(|name| left.fields.get(*name) != right.fields.get(*name))
        .map(|name| FieldDifference {
            field: name.clone(),
            left: left.fields.get(name).cloned(),
            right: right.fields.get(name).cloned(),
        })
        .collect();
    if architecture.is_none() && fields.is_empty() {
        Compatibility::Compatible
    } else {
        Compatibility::Incompatible {
            architecture,
            fields,
        }
    }
}

/// `key=value` pairs sorted by key, as the reference's `check` prints a target.
pub fn render_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_call_is_the_plugin_request() {
        use fxb_plugin_api::v1::FingerprintRequest;
        let rules = RuleSet::embedded();
        let (_, rule) = rules
            .fingerprint_rule("LlamaForCausalLM")
            .expect("embedded generic rule");
        let config = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 8});
        let sent = serde_json::to_value(FingerprintCall {
            config: &config,
            architecture: "LlamaForCausalLM",
            rule,
        })
        .expect("serializes");
        let read: FingerprintRequest = serde_json::from_value(sent).expect("a plugin reads it");
        assert_eq!(
            read,
            FingerprintRequest {
                config,
                architecture: Some("LlamaForCausalLM".into()),
                rule: serde_json::to_value(rule).expect("serializes"),
            }
        );
    }

    fn print(arch: &str, fields: &[(&str, &str)]) -> Fingerprint {
        Fingerprint {
            architecture: arch.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rule: crate::rules::RuleId::new("generic", "1.0.0"),
            plugin: crate::plugin::PluginId {
                name: "generic".into(),
                version: "0.1.0".into(),
            },
        }
    }

    #[test]
    fn compares_strictly_and_names_every_difference() {
        let a = print(
            "Qwen3ForCausalLM",
            &[("vocab_size", "151936"), ("hidden_size", "4096")],
        );
        assert_eq!(compare(&a, &a.clone()), Compatibility::Compatible);
        let b = print(
            "Qwen3ForCausalLM",
            &[
                ("vocab_size", "151665"),
                ("quant_method", "fp8"),
                ("hidden_size", "4096"),
            ],
        );
        let Compatibility::Incompatible {
            architecture,
            fields,
        } = compare(&a, &b)
        else {
            panic!("should differ");
        };
        assert_eq!(architecture, None);
        assert_eq!(
            fields,
            [
                FieldDifference {
                    field: "quant_method".into(),
                    left: None,
                    right: Some("fp8".into())
                },
                FieldDifference {
                    field: "vocab_size".into(),
                    left: Some("151936".into()),
                    right: Some("151665".into())
                },
            ]
        );
    }
}
