//! `tradeflow report` on a finished run: the tearsheet's figures follow from the run's own
//! P&L rows, and a folder that is not a run is refused clearly.

mod common;

use common::{Table, run_job, tradeflow, write_config};
use tradeflow::report::stats::performance;

#[test]
fn the_tearsheet_follows_from_the_runs_equity_curve() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "r.toml",
        "[job]\nname = \"r\"\n[source]\nkind = \"simulator\"\nsymbols = 6\nduration_s = 3600\nnews_per_hour = 60\n[risk]\ninitial_cash = 500000\n",
    );
    let run = dir.path().join("run");
    let out = run_job(&config, &run, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("tearsheet of"), "run ends with the tearsheet");
    let report = tradeflow(&["report", run.to_str().unwrap(), "--period", "1m"]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("Sharpe") && text.contains("VaR / CVaR 99%"), "{text}");

    // Recompute from the pnl rows: the last equity of each minute, returns from the initial cash.
    let pnl = Table::read(&run, "pnl");
    let mut rows: Vec<(i64, f64)> = pnl.ts("ts").into_iter().zip(pnl.f64("equity")).collect();
    rows.sort_by_key(|r| r.0);
    let mut closes: Vec<(i64, f64)> = Vec::new();
    for (ts, equity) in rows {
        match closes.last_mut() {
            Some(last) if last.0 == ts / 60_000_000_000 => last.1 = equity,
            _ => closes.push((ts / 60_000_000_000, equity)),
        }
    }
    let mut prev = 500_000.0;
    let returns: Vec<f64> = closes
        .iter()
        .map(|(_, e)| {
            let r = e / prev - 1.0;
            prev = *e;
            r
        })
        .collect();
    let want = performance(&returns, 252.0 * 390.0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let got = &json["performance"];
    assert_eq!(got["periods"].as_u64().unwrap() as usize, returns.len());
    for key in ["total_return", "sharpe", "max_drawdown", "var_95"] {
        let (g, w) = (got[key].as_f64().unwrap(), serde_json::to_value(&want).unwrap()[key].as_f64().unwrap());
        assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{key}: {g} vs {w}");
    }
    // Exposure and turnover from their definitions.
    let (equity, gross) = (pnl.f64("equity"), pnl.f64("gross_exposure"));
    let exposure = equity.iter().zip(&gross).map(|(e, g)| g / e).sum::<f64>() / equity.len() as f64;
    let fills = Table::read(&run, "fills");
    let traded: f64 = fills.f64("qty").iter().zip(fills.f64("price")).map(|(q, p)| q * p).sum();
    let turnover = traded / (equity.iter().sum::<f64>() / equity.len() as f64);
    assert!((json["exposure"].as_f64().unwrap() - exposure).abs() < 1e-12, "exposure");
    assert!((json["turnover"].as_f64().unwrap() - turnover).abs() < 1e-9 * turnover, "turnover");
    assert!(turnover > 0.0 && exposure > 0.0 && exposure < 1.0);
    let final_equity = json["final_equity"].as_f64().unwrap();
    assert!((json["performance"]["total_return"].as_f64().unwrap() - (final_equity / 500_000.0 - 1.0)).abs() < 1e-12);

    // The HTML page: the same table, and the three charts as inline SVG.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<tr><td>Sharpe</td>"));
    assert_eq!(html.matches("<svg").count(), 3, "equity, drawdown and P&L by symbol");
    for title in ["Equity", "Drawdown", "P&amp;L by symbol"] {
        assert!(html.contains(&format!(">{title}<")) || html.contains(title), "{title} chart missing");
    }
}

#[test]
fn symbol_pnl_adds_up_to_the_accounts_pnl() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "s.toml",
        "[job]\nname = \"s\"\n[source]\nkind = \"simulator\"\nsymbols = 5\nduration_s = 3600\nnews_per_hour = 60\n",
    );
    let run = dir.path().join("run");
    run_job(&config, &run, &[]);
    let by_symbol = tradeflow::report::tearsheet::symbol_pnl(&run).unwrap();
    assert!(!by_symbol.is_empty());
    let pnl = Table::read(&run, "pnl");
    let last = pnl.ts("ts").iter().enumerate().max_by_key(|(_, t)| **t).map(|(i, _)| i).unwrap();
    let total = pnl.f64("equity")[last] - 1_000_000.0;
    let sum: f64 = by_symbol.iter().map(|s| s.1).sum();
    assert!((sum - total).abs() < 1e-6, "per-symbol P&L sums to {sum}, the account made {total}");
    assert!(by_symbol.windows(2).all(|w| w[0].1 >= w[1].1), "best to worst");
}

#[test]
fn a_folder_that_is_not_a_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = tradeflow(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tradeflow run"));
    let out = tradeflow(&["report", dir.path().to_str().unwrap(), "--period", "1w"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("use 1m or 1d"));
}
