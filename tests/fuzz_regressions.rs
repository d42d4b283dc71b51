//! Replays every input the fuzzers once crashed on (`tests/fuzz/regressions/TARGET/`), and the
//! seeds, through the same functions the fuzz targets call (`tradeflow::fuzzing`): each must
//! now return without a panic. `tests/fuzz/run.sh` runs the fuzzers themselves.

use std::path::Path;

fn replay(folder: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz").join(folder);
    let mut replayed = 0;
    for (target, run) in tradeflow::fuzzing::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(outcome.is_ok(), "{target} panics on {}", path.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn inputs_that_once_crashed_a_fuzzer_are_handled() {
    assert!(replay("regressions") >= 3);
}

#[test]
fn seeds_are_handled() {
    assert!(replay("seeds") >= 7);
}
