//! The tearsheet's statistics against empyrical and quantstats on the same
//! return series: golden files made by `tests/golden/generate_perf.py`, within 1e-9 relative
//! (1e-12 absolute near zero); undefined (null) where the reference has no value.

use std::path::Path;

use serde_json::Value;
use tradeflow::report::stats::performance;

#[test]
fn statistics_match_empyrical_on_every_golden_series() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/perf");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "golden series in {}", dir.display());
    let mut problems = Vec::new();
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let returns: Vec<f64> = doc["returns"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let ours = serde_json::to_value(performance(&returns, doc["periods_per_year"].as_f64().unwrap())).unwrap();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        for (key, expected) in doc["expected"].as_object().unwrap() {
            let got = &ours[key];
            let ok = match (expected.as_f64(), got.as_f64()) {
                // serde writes NaN as null.
                (None, g) => g.is_none(),
                (Some(e), Some(g)) => (g - e).abs() <= (1e-9 * e.abs()).max(1e-12),
                (Some(_), None) => false,
            };
            if !ok {
                problems.push(format!("{name} {key}: ours {got}, reference {expected}"));
            }
        }
    }
    assert!(problems.is_empty(), "{} statistics differ:\n{}", problems.len(), problems.join("\n"));
}
