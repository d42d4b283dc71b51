//! `tradeflow garch` on the golden bar file: the fits agree with `arch`'s, in CSV and in
//! Parquet, and bad files are refused with the place named.

mod common;

use std::path::Path;

const PRICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/garch/prices.csv");

/// arch's constant-mean fits: symbol -> (loglik, one-step variance in percent squared).
fn arch() -> Vec<(String, f64, f64)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/garch/arch_fits.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == "constant")
        .map(|f| (f[0].to_string(), f[6].parse().unwrap(), f[7].parse().unwrap()))
        .collect()
}

#[test]
fn garch_command_fits_every_symbol_as_arch_does() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fits.csv");
    let said = common::ok(&["garch", "--input", PRICES, "--output", csv.to_str().unwrap(), "--gpu", "off"]);
    assert!(said.contains("GARCH(1,1) for 4 symbols"), "{said}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(rows.len(), 4);
    for (symbol, loglik, variance) in arch() {
        let row = rows.iter().find(|r| r[0] == symbol).unwrap();
        let num = |name: &str| row[col(name)].parse::<f64>().unwrap();
        assert!(num("loglik") >= loglik - 1e-4 * loglik.abs(), "{symbol}: {} vs arch {loglik}", num("loglik"));
        let vol = variance.sqrt() / 100.0;
        assert!((num("vol_next") / vol - 1.0).abs() < 0.01, "{symbol}: {} vs arch {vol}", num("vol_next"));
        assert!((num("vol_annualized") / (vol * 252f64.sqrt()) - 1.0).abs() < 0.01);
        assert!((num("persistence") - num("alpha") - num("beta")).abs() < 1e-12);
        assert_eq!(row[col("mean_model")], "constant");
    }

    let parquet = dir.path().join("fits.parquet");
    common::ok(&["garch", "--input", PRICES, "--output", parquet.to_str().unwrap(), "--zero-mean", "--gpu", "off"]);
    assert!(std::fs::metadata(&parquet).unwrap().len() > 0);
}

fn refused(dir: &Path, name: &str, body: &str, extra: &[&str]) -> String {
    let input = dir.join(name);
    std::fs::write(&input, body).unwrap();
    let out_path = dir.join("out.csv");
    let mut args = vec!["garch", "--input", input.to_str().unwrap(), "--output", out_path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = common::tradeflow(&args);
    assert_eq!(out.status.code(), Some(2), "{name} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn garch_command_refuses_bad_files_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let header = "ts,symbol,open,high,low,close,volume\n";
    let rows =
        |n: usize, close: &str| -> String { (0..n).map(|i| format!("{},AAA,1,1,1,{close},10\n", 1_000 + i)).collect() };
    let short = refused(dir.path(), "short.csv", &format!("{header}{}", rows(5, "10")), &[]);
    assert!(short.contains("AAA has 4 returns; a GARCH fit needs at least 10"), "{short}");
    let negative = refused(dir.path(), "negative.csv", &format!("{header}{}", rows(20, "-3")), &[]);
    assert!(negative.contains("AAA at 1000: close -3 is not positive"), "{negative}");
    let text = refused(dir.path(), "text.csv", &format!("{header}1000,AAA,1,1,1,abc,10\n"), &[]);
    assert!(text.contains("text.csv:2: column `close`: `abc` is not a number"), "{text}");
    let gpu = refused(dir.path(), "gpu.csv", &format!("{header}{}", rows(20, "10")), &["--gpu", "sometimes"]);
    assert!(gpu.contains("--gpu: gpu = \"sometimes\": expected \"off\", \"auto\" or \"require\""), "{gpu}");
}
