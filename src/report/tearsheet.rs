//! The tearsheet of a finished run: the equity curve from its `pnl` output, resampled to one
//! value per period, and the statistics of its returns.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::stats::{Performance, performance};
use crate::timefmt::format_ts;

/// How returns are sampled. Minute periods are annualized as 252 sessions of 390 minutes (a US
/// equity session), days as 252 trading days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Minute,
    Day,
}

impl Period {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "1m" | "minute" => Ok(Period::Minute),
            "1d" | "day" => Ok(Period::Day),
            other => Err(format!("--period `{other}`: use 1m or 1d")),
        }
    }
    fn nanos(self) -> i64 {
        match self {
            Period::Minute => 60_000_000_000,
            Period::Day => 86_400_000_000_000,
        }
    }
    pub fn per_year(self) -> f64 {
        match self {
            Period::Minute => 252.0 * 390.0,
            Period::Day => 252.0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Tearsheet {
    pub period: Period,
    pub periods_per_year: f64,
    pub start: String,
    pub end: String,
    pub initial_equity: f64,
    pub final_equity: f64,
    pub performance: Performance,
}

/// The equity curve of a run: (event time, equity), in time order.
pub fn equity_curve(run: &Path) -> anyhow::Result<Vec<(i64, f64)>> {
    let folder = run.join("pnl");
    let mut curve = Vec::new();
    let entries =
        std::fs::read_dir(&folder).with_context(|| format!("{}: not a run folder (no pnl/)", run.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)
            .and_then(|b| b.build())
            .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
        for batch in reader {
            let batch = batch?;
            let (Some(ts), Some(equity)) = (batch.column_by_name("ts"), batch.column_by_name("equity")) else {
                bail!("{}: expected `ts` and `equity` columns", path.display());
            };
            let ts = ts.as_primitive_opt::<TimestampNanosecondType>().context("`ts` is not a timestamp")?;
            let equity = equity.as_primitive_opt::<Float64Type>().context("`equity` is not a number")?;
            curve.extend(ts.values().iter().copied().zip(equity.values().iter().copied()));
        }
    }
    curve.sort_by_key(|(ts, _)| *ts);
    Ok(curve)
}

/// The tearsheet of the run in `run`, whose starting equity is `initial_equity`. Without a
/// period, days are used for runs of 20 days or more and minutes otherwise.
pub fn tearsheet(run: &Path, initial_equity: f64, period: Option<Period>) -> anyhow::Result<Tearsheet> {
    let curve = equity_curve(run)?;
    let (Some(first), Some(last)) = (curve.first(), curve.last()) else {
        bail!("{}: the run has no P&L rows (it made no marks or trades)", run.display());
    };
    let period =
        period.unwrap_or(if last.0 - first.0 >= 20 * Period::Day.nanos() { Period::Day } else { Period::Minute });
    // The last equity of each period.
    let mut closes: Vec<f64> = Vec::new();
    let mut current = None;
    for (ts, equity) in &curve {
        let bucket = ts.div_euclid(period.nanos());
        if current == Some(bucket) {
            if let Some(last) = closes.last_mut() {
                *last = *equity;
            }
        } else {
            closes.push(*equity);
            current = Some(bucket);
        }
    }
    let mut previous = initial_equity;
    let returns: Vec<f64> = closes
        .iter()
        .map(|e| {
            let r = e / previous - 1.0;
            previous = *e;
            r
        })
        .collect();
    Ok(Tearsheet {
        period,
        periods_per_year: period.per_year(),
        start: format_ts(first.0),
        end: format_ts(last.0),
        initial_equity,
        final_equity: last.1,
        performance: performance(&returns, period.per_year()),
    })
}

/// The tearsheet as a text table.
pub fn render(t: &Tearsheet) -> String {
    let p = &t.performance;
    let pct = |x: f64| if x.is_nan() { "-".to_owned() } else { format!("{:+.3}%", x * 100.0) };
    let num = |x: f64| if x.is_nan() { "-".to_owned() } else { format!("{x:.3}") };
    let unit = match t.period {
        Period::Minute => "minutes",
        Period::Day => "days",
    };
    let rows = [
        ("period", format!("{} to {} ({} {unit}, {} a year)", t.start, t.end, p.periods, t.periods_per_year)),
        ("equity", format!("{:.2} -> {:.2}", t.initial_equity, t.final_equity)),
        ("total return", pct(p.total_return)),
        ("annual return", pct(p.annual_return)),
        ("annual volatility", pct(p.annual_volatility)),
        ("Sharpe", num(p.sharpe)),
        ("Sortino", num(p.sortino)),
        ("Calmar", num(p.calmar)),
        ("max drawdown", format!("{} over {} {unit}", pct(p.max_drawdown), p.max_drawdown_periods)),
        ("win rate", pct(p.win_rate)),
        ("profit factor", num(p.profit_factor)),
        ("avg win / loss", format!("{} / {}", pct(p.avg_win), pct(p.avg_loss))),
        ("VaR / CVaR 95%", format!("{} / {}", pct(p.var_95), pct(p.cvar_95))),
        ("VaR / CVaR 99%", format!("{} / {}", pct(p.var_99), pct(p.cvar_99))),
    ];
    rows.iter().map(|(k, v)| format!("  {k:<18} {v}\n")).collect()
}
