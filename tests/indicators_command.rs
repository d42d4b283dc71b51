//! `tradeflow indicators` on files: the same numbers as the golden TA-Lib outputs, per symbol
//! whatever the interleaving, in CSV and Parquet, and clear errors for bad rows.

mod common;

use std::path::Path;

use common::{Table, matches_talib, tradeflow};

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/talib").join(name)
}

fn read(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    (header, r.records().map(|x| x.unwrap().iter().map(String::from).collect()).collect())
}

#[test]
fn interleaved_symbols_get_talibs_numbers_each() {
    let dir = tempfile::tempdir().unwrap();
    let specs = std::fs::read_to_string(golden("specs.txt")).unwrap().lines().collect::<Vec<_>>().join(",");
    // Two symbols interleaved row by row: the random walk as GOLD, the flat series as FLAT.
    let (in_header, walk) = read(&golden("inputs/random_walk.csv"));
    let (_, flat) = read(&golden("inputs/flat.csv"));
    let mut w = csv::Writer::from_path(dir.path().join("bars.csv")).unwrap();
    w.write_record(&in_header).unwrap();
    let mut order = Vec::new();
    for (i, row) in walk.iter().enumerate() {
        w.write_record(row).unwrap();
        order.push(("GOLD", i));
        if let Some(row) = flat.get(i) {
            let mut row = row.clone();
            row[1] = "FLAT".into();
            w.write_record(&row).unwrap();
            order.push(("FLAT", i));
        }
    }
    w.flush().unwrap();
    drop(w);

    let out = dir.path().join("out.csv");
    let run = tradeflow(&[
        "indicators",
        "--input",
        dir.path().join("bars.csv").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--set",
        &specs,
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (header, rows) = read(&out);
    assert_eq!(rows.len(), order.len(), "one output row per input bar");
    let (golden_header, walk_golden) = read(&golden("random_walk.csv"));
    let (_, flat_golden) = read(&golden("flat.csv"));
    assert_eq!(&header[2..], &golden_header[1..]);
    for (row, (symbol, i)) in rows.iter().zip(&order) {
        assert_eq!(&row[1], symbol);
        let (want, input) =
            if *symbol == "GOLD" { (&walk_golden[*i], &walk[*i]) } else { (&flat_golden[*i], &flat[*i]) };
        let close: f64 = input[5].parse().unwrap();
        for (k, column) in header[2..].iter().enumerate() {
            let (got, expected) = (&row[k + 2], &want[k + 1]);
            if expected.is_empty() {
                assert!(got.is_empty(), "{symbol} row {i} {column}: expected no value, got {got}");
            } else {
                let (g, e) = (got.parse::<f64>().unwrap(), expected.parse::<f64>().unwrap());
                assert!(matches_talib(column, g, e, close), "{symbol} row {i} {column}: got {g}, TA-Lib {e}");
            }
        }
    }
}

#[test]
fn parquet_in_and_out_with_every_indicator_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let csv_out = dir.path().join("all.csv");
    let pq_out = dir.path().join("all.parquet");
    let input = golden("inputs/gaps_and_jumps.csv");
    for out in [&csv_out, &pq_out] {
        let run = tradeflow(&["indicators", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let (header, rows) = read(&csv_out);
    assert!(
        header.contains(&"adxr_14".to_owned())
            && header.contains(&"stoch_5_3_3_slowd".to_owned())
            && header.contains(&"sar_0.02_0.2".to_owned())
    );
    // The Parquet output holds the same numbers, nulls where the CSV is empty.
    let dir_for_table = dir.path().join("pq");
    std::fs::create_dir_all(dir_for_table.join("t")).unwrap();
    std::fs::rename(&pq_out, dir_for_table.join("t/part.parquet")).unwrap();
    let table = Table::read(&dir_for_table, "t");
    assert_eq!(table.len(), rows.len());
    let rsi = table.f64("rsi_14");
    let k = header.iter().position(|h| h == "rsi_14").unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[k].is_empty(), rsi[i].is_nan(), "row {i}");
        if !row[k].is_empty() {
            assert_eq!(row[k].parse::<f64>().unwrap(), rsi[i]);
        }
    }
    // And Parquet in gives what CSV in gave.
    let again = dir.path().join("again.csv");
    let run = tradeflow(&[
        "indicators",
        "--input",
        dir_for_table.join("t/part.parquet").to_str().unwrap(),
        "--output",
        again.to_str().unwrap(),
        "--set",
        "rsi_14",
    ]);
    assert!(!run.status.success(), "indicator output is not bar input: it has no open/high/low/close/volume");
    assert!(String::from_utf8_lossy(&run.stderr).contains("no `open` column"));
}

#[test]
fn bad_rows_and_names_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let bars = dir.path().join("bars.csv");
    std::fs::write(&bars, "ts,symbol,open,high,low,close,volume\n1,A,1,1,1,1,1\n2,A,1,1,1,abc,1\n").unwrap();
    let out = dir.path().join("out.csv");
    let run = tradeflow(&["indicators", "--input", bars.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("bars.csv:3: column `close`: `abc` is not a number"), "{err}");
    let run = tradeflow(&[
        "indicators",
        "--input",
        bars.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--set",
        "rsi_14,emma_3",
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("--set: unknown indicator `emma`"));
}

#[test]
fn a_runs_bar_output_is_indicator_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        "sim.toml",
        "[job]\nname = \"bars\"\n[source]\nkind = \"simulator\"\nsymbols = 3\nduration_s = 3600\n",
    );
    let run_dir = dir.path().join("run");
    common::run_job(&config, &run_dir, &[]);
    let bars = run_dir.join("bars_1m/part-0000.parquet");
    let from_parquet = dir.path().join("pq.csv");
    let run = tradeflow(&[
        "indicators",
        "--input",
        bars.to_str().unwrap(),
        "--output",
        from_parquet.to_str().unwrap(),
        "--set",
        "ema_5,atr_14",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // The same bars written as CSV give the same rows.
    let table = Table::read(&run_dir, "bars_1m");
    let bars_csv = dir.path().join("bars.csv");
    let mut w = csv::Writer::from_path(&bars_csv).unwrap();
    w.write_record(["ts", "symbol", "open", "high", "low", "close", "volume"]).unwrap();
    let (ts, sym) = (table.ts("ts"), table.text("symbol"));
    let cols = ["open", "high", "low", "close", "volume"].map(|c| table.f64(c));
    for i in 0..table.len() {
        let mut row = vec![ts[i].to_string(), sym[i].clone()];
        row.extend(cols.iter().map(|c| c[i].to_string()));
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    let from_csv = dir.path().join("csv.csv");
    let run = tradeflow(&[
        "indicators",
        "--input",
        bars_csv.to_str().unwrap(),
        "--output",
        from_csv.to_str().unwrap(),
        "--set",
        "ema_5,atr_14",
    ]);
    assert!(run.status.success());
    let (a, b) = (read(&from_parquet).1, read(&from_csv).1);
    assert_eq!(a.len(), 3 * 60);
    assert_eq!(a, b);
    assert!(a.iter().filter(|r| !r[3].is_empty()).count() > 3 * 40, "ATR values once the lookback is met");
}
