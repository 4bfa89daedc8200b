//! A kernel file (EDF): its signature read as a stored and as a deflated entry (`fxb_fuzz::edf`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fxb_fuzz::edf(data);
});
