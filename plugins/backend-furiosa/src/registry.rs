//! The mapping from a plan entry to the vendor's registry (`rules/furiosa/registry.toml`):
//! which entry function of `furiosa.kernels` generates a kernel's TC, with which
//! arguments, and which compile target a tensor-parallel size needs. The mapping is data;
//! this module only reads it and refuses, naming what is missing, what it cannot map.

use std::collections::BTreeMap;

use fxb_backend_api::{BackendError, BucketKey};
use serde::Deserialize;
use serde_json::{Map, Value};

const EMBEDDED: &str = include_str!("../../../rules/furiosa/registry.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Registry {
    pub schema_version: u32,
    pub furiosa_kernels: Vec<String>,
    /// Top-level keys of config.json not passed as `hf_config_overrides`.
    #[serde(default)]
    pub config_keys_not_passed: Vec<String>,
    pub kernels: BTreeMap<String, Vec<String>>,
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
    #[serde(rename = "entry")]
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Target {
    pub tensor_parallel_size: u64,
    pub npu: String,
    pub chips: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub module: String,
    pub architectures: Vec<String>,
    #[serde(rename = "match")]
    pub matches: Map<String, Value>,
    #[serde(default)]
    pub without: Vec<String>,
    pub chips: u64,
    /// Where the entry's functions take `apply_collective_dq`; `None`: they do not.
    #[serde(default)]
    pub collective_dq: Option<CollectiveDq>,
}

/// The kernels and token counts `--enable-collective-dq` applies to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CollectiveDq {
    pub kernels: Vec<String>,
    pub num_tokens: Vec<u64>,
}

/// The build a kernel × bucket belongs to, as the mapping needs it.
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    pub architecture: &'a str,
    /// The model fields (the manifest's `model` object).
    pub model: &'a Map<String, Value>,
    pub tensor_parallel_size: u64,
    pub kv_cache_blocks: u64,
    /// `--enable-collective-dq`.
    pub collective_dq: bool,
}

/// What generates one kernel × bucket's TC and where it is compiled for.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// `furiosa.kernels.<module>`.
    pub module: String,
    /// `{registry}_{kernel}`.
    pub function: String,
    pub arguments: Map<String, Value>,
    pub target_npu: String,
}

impl Registry {
    /// The registry compiled into fxb.
    pub fn embedded() -> Registry {
        // The file is part of the source tree and tested; a parse error is a build bug.
        toml::from_str(EMBEDDED).unwrap_or_else(|e| panic!("rules/furiosa/registry.toml: {e}"))
    }

    /// Tensor-parallel sizes with a known target.
    pub fn tensor_parallel_sizes(&self) -> Vec<u64> {
        self.targets
            .iter()
            .map(|t| t.tensor_parallel_size)
            .collect()
    }

    /// The entry serving `architecture` with `model`'s fields.
    pub fn entry(
        &self,
        architecture: &str,
        model: &Map<String, Value>,
    ) -> Result<&Entry, BackendError> {
        let same = |want: &Value, have: Option<&Value>| match (want, have) {
            (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
            (want, Some(have)) => want == have,
            (_, None) => false,
        };
        self.entries
            .iter()
            .find(|e| {
                e.architectures.iter().any(|a| a == architecture)
                    && e.matches.iter().all(|(k, v)| same(v, model.get(k)))
                    && e.without.iter().all(|k| model.get(k).is_none_or(Value::is_null))
            })
            .ok_or_else(|| {
                let field = |k: &str| match model.get(k) {
                    Some(v) => format!("{k}={v}"),
                    None => format!("{k}=-"),
                };
                BackendError::unsupported(format!(
                    "no furiosa registry entry for architecture={architecture}, {}, {}, {}, {}, {}",
                    field("hidden_size"),
                    field("intermediate_size"),
                    field("num_hidden_layers"),
                    field("num_attention_heads"),
                    field("quant_method"),
                ))
                .with_hint(format!(
                    "the mapped models are {}; a new one is an `[[entry]]` in rules/furiosa/registry.toml",
                    self.names().join(", ")
                ))
            })
    }

    /// The entry names, each once, in file order.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !names.contains(&entry.name.as_str()) {
                names.push(&entry.name);
            }
        }
        names
    }

    /// What the entry functions get as `hf_config_overrides`: config.json without the keys
    /// the reference does not pass.
    pub fn overrides(&self, config: &Map<String, Value>) -> Map<String, Value> {
        let mut overrides = config.clone();
        for key in &self.config_keys_not_passed {
            overrides.remove(key);
        }
        overrides
    }

    /// Map one kernel × bucket of a model to its entry function, arguments and target.
    pub fn map(
        &self,
        kernel: &str,
        bucket: &BucketKey,
        build: &Build<'_>,
    ) -> Result<Mapped, BackendError> {
        let Build {
            architecture,
            model,
            tensor_parallel_size,
            kv_cache_blocks,
            collective_dq,
        } = *build;
        let entry = self.entry(architecture, model)?;
        if collective_dq && entry.collective_dq.is_none() {
            let field = |k: &str| {
                model
                    .get(k)
                    .map_or_else(|| "-".to_string(), Value::to_string)
            };
            let supported: Vec<&str> = self
                .entries
                .iter()
                .filter(|e| e.collective_dq.is_some())
                .map(|e| e.name.as_str())
                .collect();
            return Err(BackendError::unsupported(format!(
                "--enable-collective-dq is not supported by registry entry `{}` (architecture={architecture}, hidden_size={}, intermediate_size={})",
                entry.name,
                field("hidden_size"),
                field("intermediate_size"),
            ))
            .with_hint(format!(
                "build without it; the entries whose kernels take it: {}",
                supported.join(", ")
            )));
        }
        let target = self
            .targets
            .iter()
            .find(|t| t.tensor_parallel_size == tensor_parallel_size)
            .ok_or_else(|| {
                BackendError::unsupported(format!(
                    "no furiosa compile target is known for tensor-parallel size {tensor_parallel_size}"
                ))
                .with_hint(format!("use -tp {}", join(&self.tensor_parallel_sizes())))
            })?;
        if target.chips != entry.chips {
            let fits: Vec<u64> = self
                .targets
                .iter()
                .filter(|t| t.chips == entry.chips)
                .map(|t| t.tensor_parallel_size)
                .collect();
            return Err(BackendError::unsupported(format!(
                "registry entry `{}` generates kernels for {} chip(s); tensor-parallel size {tensor_parallel_size} compiles for `{}` ({} chip(s))",
                entry.name, entry.chips, target.npu, target.chips
            ))
            .with_hint(format!("use -tp {}", join(&fits))));
        }
        let names = self.kernels.get(kernel).ok_or_else(|| {
            BackendError::unsupported(format!(
                "the furiosa backend does not know the arguments of kernel `{kernel}`"
            ))
            .with_hint(format!(
                "mapped kernels: {}; add it under [kernels] in rules/furiosa/registry.toml",
                self.kernels.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let mut arguments = Map::new();
        for name in names {
            let value = argument(name, bucket, kv_cache_blocks).ok_or_else(|| {
                BackendError::unsupported(format!(
                    "kernel `{kernel}` takes `{name}`, which bucket {} does not give",
                    bucket.label()
                ))
            })?;
            arguments.insert(name.clone(), value.into());
        }
        if let (true, Some(dq)) = (collective_dq, &entry.collective_dq) {
            let tokens = argument("num_tokens", bucket, kv_cache_blocks);
            if dq.kernels.iter().any(|k| k == kernel)
                && tokens.is_some_and(|n| dq.num_tokens.contains(&n))
            {
                arguments.insert("apply_collective_dq".into(), Value::Bool(true));
            }
        }
        Ok(Mapped {
            module: entry.module.clone(),
            function: format!("{}_{kernel}", entry.name),
            arguments,
            target_npu: target.npu.clone(),
        })
    }
}

/// The value of an entry-function argument for `bucket` (the names of
/// VENDOR-TOOLCHAIN.md; `None` when the bucket has no such value).
fn argument(name: &str, bucket: &BucketKey, kv_cache_blocks: u64) -> Option<u64> {
    match (name, *bucket) {
        ("num_kv_cache_blocks", _) => Some(kv_cache_blocks),
        ("num_tokens", BucketKey::Tokenwise { input_size } | BucketKey::Sampler { input_size }) => {
            Some(input_size)
        }
        ("batch_size", BucketKey::Attention { batch_size, .. }) => Some(batch_size),
        ("attention_size", BucketKey::Attention { attention_size, .. }) => Some(attention_size),
        (
            "input_ids_size",
            BucketKey::Attention {
                attention_size,
                kv_cache_size,
                ..
            },
        ) => attention_size.checked_sub(kv_cache_size),
        _ => None,
    }
}

fn join(sizes: &[u64]) -> String {
    sizes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn llama() -> Map<String, Value> {
        object(
            serde_json::json!({"hidden_size": 4096, "intermediate_size": 14336,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "vocab_size": 128256, "head_dim": 128}),
        )
    }

    fn build<'a>(architecture: &'a str, model: &'a Map<String, Value>, tp: u64) -> Build<'a> {
        Build {
            architecture,
            model,
            tensor_parallel_size: tp,
            kv_cache_blocks: 8192,
            collective_dq: false,
        }
    }

    #[test]
    fn llama_8b_maps_to_its_registry_functions() {
        let registry = Registry::embedded();
        let model = llama();
        let llama = build("LlamaForCausalLM", &model, 8);
        let attention = BucketKey::Attention {
            batch_size: 1,
            attention_size: 256,
            kv_cache_size: 255,
        };
        let mapped = registry
            .map("full_attention", &attention, &llama)
            .expect("mapped");
        assert_eq!(mapped.function, "llama3_1_8b_w16a16_full_attention");
        assert_eq!(mapped.module, "llama");
        assert_eq!(mapped.target_npu, "renegade-8pe");
        assert_eq!(
            Value::Object(mapped.arguments),
            serde_json::json!({"batch_size": 1, "attention_size": 256, "input_ids_size": 1,
                "num_kv_cache_blocks": 8192})
        );
        let sampler = BucketKey::Sampler { input_size: 1024 };
        let sample = registry
            .map("random_sample", &sampler, &llama)
            .expect("mapped");
        assert_eq!(
            Value::Object(sample.arguments),
            serde_json::json!({"num_tokens": 1024})
        );
        let tw1 = BucketKey::Tokenwise { input_size: 1 };
        let wrong_tp = registry.map(
            "first_tokenwise",
            &tw1,
            &build("LlamaForCausalLM", &model, 32),
        );
        assert!(wrong_tp.is_err_and(|e| e.message.contains("1 chip(s)")));
        let mut fp8 = model.clone();
        fp8.insert("quant_method".into(), "fp8".into());
        let none = registry.map("first_tokenwise", &tw1, &build("LlamaForCausalLM", &fp8, 8));
        assert!(none.is_err_and(|e| {
            e.message.contains("no furiosa registry entry")
                && e.hint
                    .is_some_and(|h| h.contains("llama3_1_8b_w16a16, llama3_1_8b_w8fa8fdkv16"))
        }));
    }

    #[test]
    fn qwen3_32b_fp8_compiles_for_four_chips() {
        let model = object(
            serde_json::json!({"hidden_size": 5120, "intermediate_size": 25600,
            "num_hidden_layers": 64, "num_attention_heads": 64, "num_key_value_heads": 8,
            "vocab_size": 151936, "quant_method": "fp8"}),
        );
        let registry = Registry::embedded();
        let tw1 = BucketKey::Tokenwise { input_size: 1 };
        let mapped = registry
            .map(
                "first_tokenwise",
                &tw1,
                &build("Qwen3ForCausalLM", &model, 32),
            )
            .expect("mapped");
        assert_eq!(mapped.function, "qwen3_32b_w8fa8fdkv16_first_tokenwise");
        assert_eq!(mapped.target_npu, "renegade-8pe-4chip");
        assert!(
            registry
                .map(
                    "first_tokenwise",
                    &tw1,
                    &build("Qwen3ForCausalLM", &model, 8)
                )
                .is_err()
        );
    }

    #[test]
    fn collective_dq_reaches_the_moe_kernels_of_the_entries_that_take_it() {
        let registry = Registry::embedded();
        let model = object(
            serde_json::json!({"hidden_size": 2880, "intermediate_size": 2880,
            "num_hidden_layers": 36, "num_attention_heads": 64, "num_key_value_heads": 8,
            "num_local_experts": 128, "vocab_size": 201088, "quant_method": "mxfp4"}),
        );
        let dq = Build {
            collective_dq: true,
            ..build("GptOssForCausalLM", &model, 32)
        };
        let tokens = |n| BucketKey::Tokenwise { input_size: n };
        let applied = |kernel: &str, n: u64| {
            registry
                .map(kernel, &tokens(n), &dq)
                .expect("mapped")
                .arguments
                .get("apply_collective_dq")
                .cloned()
        };
        assert_eq!(applied("mid_tokenwise_moe", 512), Some(Value::Bool(true)));
        assert_eq!(
            applied("last_tokenwise_moe_with_lm_head", 1024),
            Some(Value::Bool(true))
        );
        // The reference passes it at 512 and 1024 tokens only, and never to other kernels.
        assert_eq!(applied("mid_tokenwise_moe", 768), None);
        assert_eq!(applied("mid_tokenwise_moe", 4096), None);
        assert_eq!(applied("first_tokenwise", 512), None);
        // Without the flag nothing changes.
        let plain = registry
            .map(
                "mid_tokenwise_moe",
                &tokens(512),
                &build("GptOssForCausalLM", &model, 32),
            )
            .expect("mapped");
        assert!(!plain.arguments.contains_key("apply_collective_dq"));
        // An entry that does not take it refuses it, naming the model.
        let llama = llama();
        let refused = registry.map(
            "first_tokenwise",
            &tokens(1),
            &Build {
                collective_dq: true,
                ..build("LlamaForCausalLM", &llama, 8)
            },
        );
        assert!(refused.is_err_and(|e| e.message
            == "--enable-collective-dq is not supported by registry entry `llama3_1_8b_w16a16` (architecture=LlamaForCausalLM, hidden_size=4096, intermediate_size=14336)"
            && e.hint.is_some_and(|h| h.contains("gpt_oss_120b_w4fa16kv16"))));
    }

    #[test]
    fn overrides_leave_out_what_the_reference_does_not_pass() {
        let registry = Registry::embedded();
        let config = object(
            serde_json::json!({"hidden_size": 4096, "eos_token_id": 128001,
            "architectures": ["LlamaForCausalLM"], "quantization_config": {}, "rope_theta": 5e5}),
        );
        assert_eq!(
            Value::Object(registry.overrides(&config)),
            serde_json::json!({"hidden_size": 4096, "rope_theta": 5e5})
        );
    }

    #[test]
    fn every_entry_compiles_for_a_known_target_and_names_known_kernels() {
        let registry = Registry::embedded();
        for entry in &registry.entries {
            assert!(
                registry.targets.iter().any(|t| t.chips == entry.chips),
                "{}",
                entry.name
            );
            for kernel in entry.collective_dq.iter().flat_map(|d| &d.kernels) {
                assert!(registry.kernels.contains_key(kernel), "{kernel}");
            }
        }
    }
}
