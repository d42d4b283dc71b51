//! tradeflow's streaming indicators against TA-Lib's outputs on the same bars (golden files
//! made by `tests/golden/generate_talib.py`): within 1e-9 relative (1e-12 absolute near zero)
//! wherever TA-Lib gives a value, and empty wherever TA-Lib gives NaN.

use std::path::Path;

use tradeflow_operators::indicators::{IndicatorSuite, Ohlcv};

const SPECS: [&str; 11] = [
    "ema_12",
    "ema_26",
    "ema_30",
    "ema_1",
    "rsi_14",
    "rsi_2",
    "macd_12_26_9",
    "macd_5_35_5",
    "bbands_20_2_2",
    "bbands_5_2_2",
    "bbands_10_1.5_2.5",
];
const INPUTS: [&str; 6] = ["random_walk", "flat", "gaps_and_jumps", "tiny_prices", "huge_prices", "zero_volume"];

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

#[test]
fn indicators_match_talib_on_every_golden_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/talib");
    let suite = IndicatorSuite::new_checked(&SPECS).unwrap();
    let mut checked = 0usize;
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
            let ohlcv = Ohlcv { open: num(2), high: num(3), low: num(4), close: num(5), volume: num(6) };
            bank.update(&ohlcv, &mut values);
            for (k, column) in suite.columns().iter().enumerate() {
                let got = values[k];
                let cell = &want[k + 1];
                if cell.is_empty() {
                    assert!(got.is_nan(), "{input} row {row} {column}: TA-Lib has no value yet, we gave {got}");
                    continue;
                }
                let expected: f64 = cell.parse().unwrap();
                let tolerance = (1e-9 * expected.abs()).max(1e-12);
                assert!(
                    (got - expected).abs() <= tolerance,
                    "{input} row {row} {column}: got {got}, TA-Lib {expected} (diff {:e})",
                    got - expected
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50_000, "only {checked} values compared");
}
