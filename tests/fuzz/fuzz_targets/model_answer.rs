#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tradeflow::fuzzing::model_answer(data));
