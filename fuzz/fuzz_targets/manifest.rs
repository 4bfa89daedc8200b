//! `manifest.json`: parsed, shown, recorded in an index, rewritten (`fxb_fuzz::manifest`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fxb_fuzz::manifest(data);
});
