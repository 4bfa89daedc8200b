//! Plugin host figures: compiling a plugin the first time, loading it from the
//! compiled-module cache, and a warm fingerprint call on a real config.json.
//!
//! Run: `cargo bench --bench plugin_calls` (or `scripts/bench-plugins`). Prints figures;
//! asserts nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use fxb::plugin::{CompiledCache, Limits, PluginHost, PluginSearch, PluginSet};
use fxb_plugin_api::v1::{FingerprintRequest, FingerprintResponse};
use serde_json::{Value, json};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("plugin_calls: run with `cargo bench --bench plugin_calls`");
        return;
    }
    let cache_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let set = PluginSet::discover(&PluginSearch::default());
    let generic = set
        .for_architecture("LlamaForCausalLM")
        .expect("the embedded generic plugin");
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/configs/RedHatAI--Meta-Llama-3.1-8B-Instruct-FP8-dynamic.json");
    let config_text = std::fs::read_to_string(&config_path).expect("config");
    let config: Value = serde_json::from_str(&config_text).expect("json");

    let started = Instant::now();
    let host = PluginHost::new(CompiledCache::new(cache_dir.path()), Limits::default());
    host.load(generic).expect("compiles");
    let first = started.elapsed();

    let loads: Vec<Duration> = (0..50)
        .map(|_| {
            let host = PluginHost::new(CompiledCache::new(cache_dir.path()), Limits::default());
            let started = Instant::now();
            host.load(generic).expect("loads");
            started.elapsed()
        })
        .collect();

    let plugin = host.load(generic).expect("loads");
    let request = FingerprintRequest {
        config,
        architecture: None,
        rule: rule(),
    };
    for _ in 0..100 {
        let _: FingerprintResponse = plugin.call("fingerprint", &request).expect("warm-up");
    }
    let calls: Vec<Duration> = (0..2000)
        .map(|_| {
            let started = Instant::now();
            let _: FingerprintResponse = plugin.call("fingerprint", &request).expect("call");
            started.elapsed()
        })
        .collect();

    // Every fixture config through the whole fingerprint path (rule + plugin), one process.
    let rules = fxb::rules::RuleSet::embedded();
    let configs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/configs");
    let mut configs: Vec<_> = std::fs::read_dir(&configs_dir)
        .expect("configs")
        .map(|e| e.expect("entry").path())
        .collect();
    configs.sort();
    let started = Instant::now();
    let mut refused = 0;
    for path in &configs {
        let (file, config) = fxb::fingerprint::read_config(path).expect("config");
        if fxb::fingerprint::fingerprint(&file, &config, None, &rules, &set, &host).is_err() {
            refused += 1;
        }
    }
    let all_configs = started.elapsed();

    // How long the fuel budget lets an endless loop run before it is stopped.
    let hostile = PluginSet::discover(&PluginSearch {
        dirs: vec![Path::new(env!("FXB_WASM_DIR")).to_path_buf()],
    });
    let testing = host
        .load(hostile.by_name("testing").expect("the testing plugin"))
        .expect("loads");
    let endless = FingerprintRequest {
        config: json!({"mode": "loop"}),
        architecture: None,
        rule: Value::Null,
    };
    let started = Instant::now();
    let stopped = testing
        .call::<_, FingerprintResponse>("fingerprint", &endless)
        .expect_err("stopped");
    let loop_time = started.elapsed();

    println!(
        "plugin host benchmark (release build, {} KB plugin, {}-byte config.json)\n",
        generic.bytes().len() / 1024,
        config_text.len()
    );
    println!(
        "first load (compile + write cache)   {:>10.2} ms",
        ms(first)
    );
    println!(
        "load from compiled cache (median)    {:>10.3} ms   (p90 {:.3} ms, 50 runs)",
        ms(median(&loads)),
        ms(percentile(&loads, 90))
    );
    println!(
        "warm fingerprint call (median)       {:>10.1} µs   (p90 {:.1} µs, 2000 calls, fresh Store each)",
        us(median(&calls)),
        us(percentile(&calls, 90))
    );
    println!(
        "fingerprint all {} fixture configs  {:>10.2} ms   ({refused} refused, as by the reference)",
        configs.len(),
        ms(all_configs)
    );
    println!(
        "endless loop stopped after           {:>10.2} s    ({stopped})",
        loop_time.as_secs_f64()
    );
}

fn rule() -> Value {
    let rules = fxb::rules::RuleSet::embedded();
    let (_, fingerprint) = rules
        .fingerprint_rule("LlamaForCausalLM")
        .expect("the generic rule");
    serde_json::to_value(fingerprint).expect("json")
}

fn median(times: &[Duration]) -> Duration {
    percentile(times, 50)
}

fn percentile(times: &[Duration], p: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000_000.0
}
