#![no_main]

// The process-wide model runtime starts before fuzzing, so that its threads' memory is not
// taken for a leak of the first input.
libfuzzer_sys::fuzz_target!(init: tradeflow::fuzzing::init(), |data: &[u8]| tradeflow::fuzzing::job_config(data));
