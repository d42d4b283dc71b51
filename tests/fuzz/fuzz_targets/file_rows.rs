#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tradeflow::fuzzing::file_rows(data));
