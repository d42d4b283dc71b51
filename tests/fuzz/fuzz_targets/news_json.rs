#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tradeflow::fuzzing::news_json(data));
