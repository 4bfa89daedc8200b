//! A `.fxb` archive: opened, every signature read, every entry copied (`fxb_fuzz::bundle`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fxb_fuzz::bundle(data);
});
