//! A hostile plugin for the host's tests. What it does depends on `config.mode` in the
//! request: behave, loop forever, grab memory, recurse without end, trap, panic, or reply
//! with broken JSON, JSON of the wrong shape, or an enormous reply. It claims the
//! architecture `TestingForCausalLM` only, and fxb never embeds it.

use fxb_plugin_api::v1::{FingerprintRequest, FingerprintResponse, PluginError};
use serde_json::Value;

fxb_plugin_api::plugin! {
    name: "testing",
    architectures: ["TestingForCausalLM"],
    operations: { fingerprint => fingerprint, plan => plan },
    raw: { convert => convert },
}

fn mode(config: &Value) -> &str {
    config.get("mode").and_then(Value::as_str).unwrap_or("ok")
}

fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
    match mode(&request.config) {
        "loop" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 8 << 20]));
            }
        }
        "recurse" => Ok(FingerprintResponse {
            architecture: "x".into(),
            fields: [(
                "depth".to_string(),
                recurse(std::hint::black_box(1)).to_string(),
            )]
            .into(),
        }),
        "trap" => trap(),
        "panic" => panic!("the model config is cursed"),
        "error" => Err(PluginError::missing_field("hidden_size")),
        _ => Ok(FingerprintResponse {
            architecture: "TestingForCausalLM".into(),
            fields: [("mode".to_string(), "ok".to_string())].into(),
        }),
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

/// Well-formed JSON of the wrong shape, or a reply far past the host's size limit.
fn plan(request: Value) -> Result<Value, PluginError> {
    match mode(request.get("config").unwrap_or(&Value::Null)) {
        "huge" => Ok(Value::String("x".repeat(40 << 20))),
        _ => Ok(serde_json::json!({"nonsense": true})),
    }
}

/// Not JSON at all.
fn convert(_request: &[u8]) -> Vec<u8> {
    b"{\"ok\": this is not json".to_vec()
}
