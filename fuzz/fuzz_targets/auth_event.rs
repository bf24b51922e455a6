#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logpulse_fuzz::targets::auth_event(data));
