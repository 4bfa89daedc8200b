//! A `config.json`: fingerprinted through the real plugin host (`fxb_fuzz::fingerprint_config`).
//! The host and the plugin set are built once, before the first input.

#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        fxb_fuzz::toolchain();
    },
    |data: &[u8]| {
        let _ = fxb_fuzz::fingerprint_config(data);
    }
);
