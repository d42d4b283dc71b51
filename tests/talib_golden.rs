//! tradeflow's streaming indicators against TA-Lib's outputs on the same bars (golden files
//! made by `tests/golden/generate_talib.py`): within 1e-9 relative (1e-12 absolute near zero)
//! wherever TA-Lib gives a value, and empty wherever TA-Lib gives NaN.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;

use common::matches_talib;
use tradeflow_operators::indicators::{INDICATORS, IndicatorSpec, IndicatorSuite, Ohlcv};

const INPUTS: [&str; 6] = ["random_walk", "flat", "gaps_and_jumps", "tiny_prices", "huge_prices", "zero_volume"];

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

fn golden_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/talib")
}

fn specs() -> Vec<String> {
    std::fs::read_to_string(golden_dir().join("specs.txt")).unwrap().lines().map(String::from).collect()
}

#[test]
fn indicators_match_talib_on_every_golden_input() {
    let dir = golden_dir();
    let suite = IndicatorSuite::new_checked(&specs()).unwrap();
    let mut checked = 0usize;
    // First mismatch per (input, column), so one run shows everything that is off.
    let mut failures: BTreeMap<(String, String), String> = BTreeMap::new();
    for input in INPUTS {
        let (in_header, bars) = read_csv(&dir.join("inputs").join(format!("{input}.csv")));
        assert_eq!(in_header, ["ts", "symbol", "open", "high", "low", "close", "volume"]);
        let (header, golden) = read_csv(&dir.join(format!("{input}.csv")));
        assert_eq!(&header[1..], suite.columns(), "{input}: golden columns");
        assert_eq!(bars.len(), golden.len());
        let mut bank = suite.bank();
        let mut values = Vec::new();
        for (row, (bar, want)) in bars.iter().zip(&golden).enumerate() {
            let num = |i: usize| bar[i].parse::<f64>().unwrap();
            let ohlcv = Ohlcv {
                ts: bar[0].parse().unwrap(),
                open: num(2),
                high: num(3),
                low: num(4),
                close: num(5),
                volume: num(6),
            };
            bank.update(&ohlcv, &mut values);
            for (k, column) in suite.columns().iter().enumerate() {
                let got = values[k];
                let cell = &want[k + 1];
                let problem = if cell.is_empty() {
                    (!got.is_nan()).then(|| format!("row {row}: TA-Lib has no value yet, we gave {got}"))
                } else {
                    let expected: f64 = cell.parse().unwrap();
                    checked += 1;
                    (!matches_talib(column, got, expected, ohlcv.close))
                        .then(|| format!("row {row}: got {got}, TA-Lib {expected} (diff {:e})", got - expected))
                };
                if let Some(p) = problem {
                    failures.entry((input.to_owned(), column.clone())).or_insert(p);
                }
            }
        }
    }
    let report: Vec<String> = failures.iter().map(|((i, c), p)| format!("{i} {c}: {p}")).collect();
    assert!(report.is_empty(), "{} columns differ from TA-Lib:\n{}", report.len(), report.join("\n"));
    assert!(checked > 250_000, "only {checked} values compared");
}

#[test]
fn every_talib_indicator_has_golden_coverage_and_its_lookback() {
    let covered: BTreeSet<&str> = specs().iter().map(|s| IndicatorSpec::parse(s).unwrap().definition().name).collect();
    let missing: Vec<&str> =
        INDICATORS.iter().filter(|d| d.talib).map(|d| d.name).filter(|n| !covered.contains(n)).collect();
    assert!(missing.is_empty(), "indicators without golden files: {missing:?}");
    // The first TA-Lib value on the random walk sits exactly at the stated lookback.
    let (header, golden) = read_csv(&golden_dir().join("random_walk.csv"));
    for spec in specs() {
        let spec = IndicatorSpec::parse(&spec).unwrap();
        let column = &spec.columns()[0];
        let k = header.iter().position(|h| h == column).unwrap();
        let first = golden.iter().position(|row| !row[k].is_empty()).unwrap();
        assert_eq!(first, spec.lookback(), "{column}: lookback");
    }
}

#[test]
fn the_readme_documents_every_indicator() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let missing: Vec<&str> =
        INDICATORS.iter().map(|d| d.name).filter(|n| !readme.contains(&format!("| `{n}` |"))).collect();
    assert!(missing.is_empty(), "README's indicator table lacks {missing:?} (regenerate it from the registry)");
}
