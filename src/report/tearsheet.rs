//! The tearsheet of a finished run: the equity curve from its `pnl` output, resampled to one
//! value per period, and the statistics of its returns.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
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
    /// Mean over the P&L rows of gross exposure / equity: how much of the capital was at work.
    pub exposure: f64,
    /// Traded notional (sum of |qty x price| over all fills) / mean equity: how many times the
    /// capital changed hands over the run.
    pub turnover: f64,
    pub performance: Performance,
    /// The Monte-Carlo VaR the job estimated (`[kernels.var]`), if any.
    pub mc_var: Option<McVar>,
}

/// The run's Monte-Carlo VaR estimates: the last and the largest, as losses in currency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct McVar {
    pub estimates: usize,
    pub last_var95: f64,
    pub last_cvar95: f64,
    pub last_var99: f64,
    pub last_cvar99: f64,
    pub max_var99: f64,
}

/// The `var` stream, summarized; `None` for a run without estimates (or from before the stream).
fn mc_var(run: &Path) -> Option<McVar> {
    let rows = read_floats(run, "var", &["var95", "cvar95", "var99", "cvar99"]).ok()?;
    let last = rows.last()?;
    Some(McVar {
        estimates: rows.len(),
        last_var95: last[0],
        last_cvar95: last[1],
        last_var99: last[2],
        last_cvar99: last[3],
        max_var99: rows.iter().map(|r| r[2]).fold(f64::NAN, f64::max),
    })
}

/// Every record batch of one of a run's outputs, across its part files.
fn batches(run: &Path, stream: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let folder = run.join(stream);
    let entries =
        std::fs::read_dir(&folder).with_context(|| format!("{}: not a run folder (no {stream}/)", run.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)
            .and_then(|b| b.build())
            .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
        for batch in reader {
            out.push(batch.with_context(|| format!("{}: reading a row group", path.display()))?);
        }
    }
    Ok(out)
}

/// One float column of a batch.
fn floats<'a>(batch: &'a RecordBatch, name: &str, stream: &str) -> anyhow::Result<&'a [f64]> {
    let col = batch.column_by_name(name).with_context(|| format!("{stream}: no `{name}` column"))?;
    Ok(col.as_primitive_opt::<Float64Type>().with_context(|| format!("{stream}: `{name}` is not a number"))?.values())
}

/// The values of the float `columns` of every row of one of a run's outputs.
fn read_floats(run: &Path, stream: &str, columns: &[&str]) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut rows = Vec::new();
    for batch in batches(run, stream)? {
        let cols = columns.iter().map(|c| floats(&batch, c, stream)).collect::<anyhow::Result<Vec<_>>>()?;
        rows.extend((0..batch.num_rows()).map(|i| cols.iter().map(|c| c[i]).collect::<Vec<f64>>()));
    }
    Ok(rows)
}

fn texts<'a>(batch: &'a RecordBatch, name: &str, stream: &str) -> anyhow::Result<Vec<&'a str>> {
    let col = batch.column_by_name(name).with_context(|| format!("{stream}: no `{name}` column"))?;
    let col = col.as_string_opt::<i32>().with_context(|| format!("{stream}: `{name}` is not text"))?;
    Ok(col.iter().map(|v| v.unwrap_or("")).collect())
}

/// Each symbol's P&L over the run: the cash flow of its fills (fees included) plus what it
/// still holds at its last 1-minute close. Sorted from best to worst.
pub fn symbol_pnl(run: &Path) -> anyhow::Result<Vec<(String, f64)>> {
    let mut last_close: HashMap<String, (i64, f64)> = HashMap::new();
    for batch in batches(run, "bars_1m")? {
        let ts = batch.column_by_name("ts").context("bars_1m: no `ts` column")?;
        let ts = ts.as_primitive_opt::<TimestampNanosecondType>().context("bars_1m: `ts` is not a timestamp")?;
        let (symbols, closes) = (texts(&batch, "symbol", "bars_1m")?, floats(&batch, "close", "bars_1m")?);
        for i in 0..batch.num_rows() {
            let entry = last_close.entry(symbols[i].to_owned()).or_insert((i64::MIN, f64::NAN));
            if ts.value(i) >= entry.0 {
                *entry = (ts.value(i), closes[i]);
            }
        }
    }
    let mut book: HashMap<String, (f64, f64)> = HashMap::new();
    for batch in batches(run, "fills")? {
        let (symbols, sides) = (texts(&batch, "symbol", "fills")?, texts(&batch, "side", "fills")?);
        let (qty, price, fee) =
            (floats(&batch, "qty", "fills")?, floats(&batch, "price", "fills")?, floats(&batch, "fee", "fills")?);
        for i in 0..batch.num_rows() {
            let q = if sides[i] == "sell" { -qty[i] } else { qty[i] };
            let (held, cash) = book.entry(symbols[i].to_owned()).or_default();
            *held += q;
            *cash -= q * price[i] + fee[i];
        }
    }
    let mut out: Vec<(String, f64)> = book
        .into_iter()
        .map(|(symbol, (held, cash))| {
            let mark = last_close.get(&symbol).map_or(0.0, |c| c.1);
            let pnl = cash + if held == 0.0 { 0.0 } else { held * mark };
            (symbol, pnl)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// The equity curve of a run: (event time, equity), in time order.
pub fn equity_curve(run: &Path) -> anyhow::Result<Vec<(i64, f64)>> {
    let mut curve = Vec::new();
    for batch in batches(run, "pnl")? {
        let ts = batch.column_by_name("ts").context("pnl: no `ts` column")?;
        let ts = ts.as_primitive_opt::<TimestampNanosecondType>().context("pnl: `ts` is not a timestamp")?;
        curve.extend(ts.values().iter().copied().zip(floats(&batch, "equity", "pnl")?.iter().copied()));
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
    let pnl = read_floats(run, "pnl", &["equity", "gross_exposure"])?;
    let exposure =
        pnl.iter().map(|r| if r[0] > 0.0 { r[1] / r[0] } else { 0.0 }).sum::<f64>() / pnl.len().max(1) as f64;
    let mean_equity = pnl.iter().map(|r| r[0]).sum::<f64>() / pnl.len().max(1) as f64;
    let traded: f64 = read_floats(run, "fills", &["qty", "price"])?.iter().map(|r| (r[0] * r[1]).abs()).sum();
    let turnover = if mean_equity > 0.0 { traded / mean_equity } else { f64::NAN };
    Ok(Tearsheet {
        period,
        periods_per_year: period.per_year(),
        start: format_ts(first.0),
        end: format_ts(last.0),
        initial_equity,
        final_equity: last.1,
        exposure,
        turnover,
        performance: performance(&returns, period.per_year()),
        mc_var: mc_var(run),
    })
}

/// The tearsheet as a text table.
pub fn render(t: &Tearsheet) -> String {
    rows(t).iter().map(|(k, v)| format!("  {k:<18} {v}\n")).collect()
}

/// The tearsheet's rows: what, and its value in words.
pub fn rows(t: &Tearsheet) -> Vec<(&'static str, String)> {
    let p = &t.performance;
    let pct = |x: f64| if x.is_nan() { "-".to_owned() } else { format!("{:+.3}%", x * 100.0) };
    let num = |x: f64| if x.is_nan() { "-".to_owned() } else { format!("{x:.3}") };
    let unit = match t.period {
        Period::Minute => "minutes",
        Period::Day => "days",
    };
    let mut rows = vec![
        ("period", format!("{} to {} ({} {unit}, {} a year)", t.start, t.end, p.periods, t.periods_per_year)),
        ("equity", format!("{:.2} -> {:.2}", t.initial_equity, t.final_equity)),
        ("exposure", pct(t.exposure)),
        ("turnover", format!("{}x", num(t.turnover))),
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
    if let Some(v) = &t.mc_var {
        rows.push((
            "MC VaR / CVaR 95%",
            format!("{:.2} / {:.2} (the last of {} estimates)", v.last_var95, v.last_cvar95, v.estimates),
        ));
        rows.push((
            "MC VaR / CVaR 99%",
            format!("{:.2} / {:.2} (largest VaR 99%: {:.2})", v.last_var99, v.last_cvar99, v.max_var99),
        ));
    }
    rows
}
