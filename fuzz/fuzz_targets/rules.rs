//! A rule file: parsed and validated, its `rules ls` row drawn (`fxb_fuzz::rules`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fxb_fuzz::rules(data);
});
