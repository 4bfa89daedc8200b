//! Reading a family's config.json defensively: typed access that names the field at fault
//! (with the `text_config.` prefix when the fields come from a nested section), and the
//! checks several families share (`head_dim`, llama3 rope scaling). Never panics on user
//! input: every odd value is a [`PluginError`] the host shows with the field's name.

use serde_json::Value;

use crate::v1::PluginError;

const LLAMA3_KEYS: &str = "llama3 rope scaling needs `factor`, `low_freq_factor`, `high_freq_factor` and `original_max_position_embeddings`; copy them from the base model's config.json";

/// The part of a config that holds the language model's fields: `text_config` when the
/// config has one (multimodal families), else the config itself.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    fields: &'a Value,
    prefix: &'static str,
}

impl<'a> Section<'a> {
    pub fn of(config: &'a Value) -> Self {
        match config.get("text_config").filter(|s| s.is_object()) {
            Some(nested) => Section {
                fields: nested,
                prefix: "text_config.",
            },
            None => Section {
                fields: config,
                prefix: "",
            },
        }
    }

    /// The field's raw value; an explicit `null` counts as absent.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    /// The field's name as the user's config.json spells its path.
    pub fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    /// A positive integer when present (`None` when absent or null).
    pub fn positive(&self, field: &str) -> Result<Option<u64>, PluginError> {
        match self.get(field) {
            None => Ok(None),
            Some(value) => value.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                PluginError::invalid_field(
                    self.path(field),
                    format!(
                        "`{}` must be a positive integer, found {value}",
                        self.path(field)
                    ),
                )
            }),
        }
    }

    /// A positive integer the family cannot do without.
    pub fn required_positive(&self, field: &str) -> Result<u64, PluginError> {
        self.positive(field)?
            .ok_or_else(|| PluginError::missing_field(self.path(field)))
    }

    /// A non-negative integer when present.
    pub fn count(&self, field: &str) -> Result<Option<u64>, PluginError> {
        match self.get(field) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                PluginError::invalid_field(
                    self.path(field),
                    format!(
                        "`{}` must be a non-negative integer, found {value}",
                        self.path(field)
                    ),
                )
            }),
        }
    }

    /// A boolean flag, `default` when absent.
    pub fn flag(&self, field: &str, default: bool) -> Result<bool, PluginError> {
        match self.get(field) {
            None => Ok(default),
            Some(value) => value.as_bool().ok_or_else(|| {
                PluginError::invalid_field(
                    self.path(field),
                    format!(
                        "`{}` must be true or false, found {value}",
                        self.path(field)
                    ),
                )
            }),
        }
    }

    /// `num_hidden_layers`, which every per-layer decision needs.
    pub fn layers(&self) -> Result<u64, PluginError> {
        self.required_positive("num_hidden_layers")
    }

    /// The attention head size: `head_dim` when the config states it (it may differ from
    /// `hidden_size / num_attention_heads`, as in Qwen3), else that quotient, which must
    /// then be exact.
    pub fn head_dim(&self) -> Result<u64, PluginError> {
        if let Some(head_dim) = self.positive("head_dim")? {
            return Ok(head_dim);
        }
        let hidden = self.required_positive("hidden_size")?;
        let heads = self.required_positive("num_attention_heads")?;
        if hidden % heads != 0 {
            return Err(PluginError::invalid_field(
                self.path("hidden_size"),
                format!(
                    "`{}` ({hidden}) is not divisible by `{}` ({heads}) and there is no `{}` to say the head size",
                    self.path("hidden_size"),
                    self.path("num_attention_heads"),
                    self.path("head_dim")
                ),
            ));
        }
        Ok(hidden / heads)
    }

    /// `head_dim` where the family needs it stated: a model that normalizes queries and
    /// keys per head (Qwen3, Qwen3-MoE) has norm weights of that size, and when it is
    /// absent transformers assumes 128 while the fingerprint rule derives
    /// `hidden_size / num_attention_heads`, so refuse rather than guess.
    pub fn stated_head_dim(&self) -> Result<u64, PluginError> {
        self.positive("head_dim")?.ok_or_else(|| {
            PluginError::missing_field_because(
                self.path("head_dim"),
                "the model normalizes queries and keys per head, so the head size must be stated; add `head_dim` from the base model's config.json",
            )
        })
    }

    /// Refuse a `rope_scaling` of type `llama3` that lacks what its frequency bands are
    /// computed from: the kernels bake in the scaled frequencies, so a half-specified
    /// table would compile a wrong model rather than fail later. Other types pass.
    pub fn check_llama3_rope(&self) -> Result<(), PluginError> {
        let Some(scaling) = self.get("rope_scaling") else {
            return Ok(());
        };
        let path = self.path("rope_scaling");
        let Some(table) = scaling.as_object() else {
            return Err(PluginError::invalid_field(
                &path,
                format!("`{path}` must be an object or null, found {scaling}"),
            ));
        };
        let kind = table
            .get("rope_type")
            .or_else(|| table.get("type"))
            .and_then(Value::as_str);
        if kind != Some("llama3") {
            return Ok(());
        }
        let number = |key: &str| -> Result<f64, PluginError> {
            let field = format!("{path}.{key}");
            match table.get(key) {
                None | Some(Value::Null) => Err(PluginError::missing_field_because(field, LLAMA3_KEYS)),
                Some(value) => value.as_f64().filter(|x| *x > 0.0).ok_or_else(|| {
                    PluginError::invalid_field(
                        &field,
                        format!("`{field}` must be a positive number for llama3 rope scaling, found {value}"),
                    )
                }),
            }
        };
        // Only what makes the computation impossible is refused: transformers merely
        // warns about a factor below 1 or an original length not below the new one, and
        // a real config may have either.
        number("factor")?;
        let low = number("low_freq_factor")?;
        let high = number("high_freq_factor")?;
        let original_field = format!("{path}.original_max_position_embeddings");
        match table.get("original_max_position_embeddings") {
            None | Some(Value::Null) => {
                return Err(PluginError::missing_field_because(
                    original_field,
                    LLAMA3_KEYS,
                ));
            }
            Some(value) if value.as_u64().is_some_and(|n| n > 0) => {}
            Some(value) => {
                return Err(PluginError::invalid_field(
                    &original_field,
                    format!("`{original_field}` must be a positive integer, found {value}"),
                ));
            }
        }
        if high <= low {
            return Err(PluginError::invalid_field(
                format!("{path}.high_freq_factor"),
                format!(
                    "`{path}.high_freq_factor` ({high}) must be greater than `{path}.low_freq_factor` ({low}): the band between them is interpolated"
                ),
            ));
        }
        Ok(())
    }
}

/// The architecture a request is for: the one it names, else `architectures[0]`.
pub fn architecture(requested: Option<&str>, config: &Value) -> Result<String, PluginError> {
    match requested {
        Some(architecture) => Ok(architecture.to_string()),
        None => config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PluginError::missing_field("architectures")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn llama3(extra: Value) -> Value {
        let mut scaling = json!({"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"});
        if let (Some(table), Some(changes)) = (scaling.as_object_mut(), extra.as_object()) {
            for (key, value) in changes {
                table.insert(key.clone(), value.clone());
            }
        }
        json!({"max_position_embeddings": 131072, "rope_scaling": scaling})
    }

    fn refusal(config: &Value) -> Option<String> {
        Section::of(config)
            .check_llama3_rope()
            .err()
            .and_then(|e| e.field)
    }

    #[test]
    fn llama3_rope_scaling_is_complete_or_refused_naming_the_field() {
        assert_eq!(refusal(&llama3(json!({}))), None);
        assert_eq!(
            refusal(&json!({"rope_scaling": {"rope_type": "yarn"}})),
            None
        );
        assert_eq!(refusal(&json!({"rope_scaling": null})), None);
        assert_eq!(
            refusal(&llama3(json!({"low_freq_factor": null}))).as_deref(),
            Some("rope_scaling.low_freq_factor")
        );
        assert_eq!(
            refusal(&llama3(json!({"factor": "8"}))).as_deref(),
            Some("rope_scaling.factor")
        );
        assert_eq!(
            refusal(&llama3(json!({"high_freq_factor": 0.5}))).as_deref(),
            Some("rope_scaling.high_freq_factor")
        );
        assert_eq!(
            refusal(&llama3(json!({"original_max_position_embeddings": 8192.5}))).as_deref(),
            Some("rope_scaling.original_max_position_embeddings")
        );
        let nested = json!({"text_config": {"rope_scaling": {"type": "llama3", "factor": 8.0}}});
        assert_eq!(
            refusal(&nested).as_deref(),
            Some("text_config.rope_scaling.low_freq_factor")
        );
    }

    #[test]
    fn head_dim_is_explicit_or_an_exact_quotient() {
        let explicit = json!({"hidden_size": 5120, "num_attention_heads": 64, "head_dim": 128});
        assert_eq!(Section::of(&explicit).head_dim().ok(), Some(128));
        let derived = json!({"hidden_size": 4096, "num_attention_heads": 32});
        assert_eq!(Section::of(&derived).head_dim().ok(), Some(128));
        let odd = json!({"hidden_size": 100, "num_attention_heads": 3});
        let err = Section::of(&odd).head_dim().expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("hidden_size"));
        let zero = json!({"hidden_size": 4096, "num_attention_heads": 32, "head_dim": 0});
        let err = Section::of(&zero).head_dim().expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("head_dim"));
    }

    #[test]
    fn typed_access_names_the_field() {
        let config = json!({"a": -1, "b": null, "c": "yes", "d": 3});
        let section = Section::of(&config);
        assert_eq!(
            section
                .positive("a")
                .expect_err("negative")
                .field
                .as_deref(),
            Some("a")
        );
        assert_eq!(section.positive("b").ok(), Some(None));
        assert_eq!(section.positive("d").ok(), Some(Some(3)));
        assert!(section.flag("c", false).is_err());
        assert_eq!(section.flag("missing", true).ok(), Some(true));
        assert_eq!(
            section
                .required_positive("missing")
                .expect_err("missing")
                .field
                .as_deref(),
            Some("missing")
        );
    }
}
