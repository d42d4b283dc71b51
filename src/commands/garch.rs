//! `tradeflow garch`: GARCH(1,1) per symbol over a bar file, with the kernel the dataflow's
//! volatility sizing runs.
//!
//! Returns are log returns of the close, fitted in percent (x100, `arch`'s advice): `mu` and
//! `omega` are in percent and percent squared, the log-likelihood is that of the percent
//! returns. The forecast is given in return units and annualized.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use parquet::arrow::ArrowWriter;
use tradeflow_kernels::{GarchFit, GarchOptions, GpuPolicy, Kernels, Ragged};

use super::indicators::{is_parquet, read_bars};

/// Fewest returns a fit is attempted on.
pub const MIN_RETURNS: usize = 10;

/// What `tradeflow garch` was asked.
#[derive(Clone, Debug)]
pub struct GarchArgs {
    pub zero_mean: bool,
    pub periods_per_year: f64,
    pub gpu: GpuPolicy,
}

/// One symbol's fit, as written.
pub struct SymbolFit {
    pub symbol: String,
    pub fit: GarchFit,
}

/// Log returns of the close per symbol (bars sorted by time), checked.
pub fn returns_by_symbol(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<f64>>> {
    let mut bars = read_bars(path)?;
    bars.sort_by(|a, b| a.symbol.cmp(&b.symbol).then(a.ts.cmp(&b.ts)));
    let mut closes: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for bar in bars {
        if bar.ohlcv.close <= 0.0 {
            bail!(
                "{}: {} at {}: close {} is not positive (log returns need prices)",
                path.display(),
                bar.symbol,
                bar.ts,
                bar.ohlcv.close
            );
        }
        closes.entry(bar.symbol).or_default().push((bar.ts, bar.ohlcv.close));
    }
    let mut out = BTreeMap::new();
    for (symbol, series) in closes {
        if let Some(w) = series.windows(2).find(|w| w[0].0 == w[1].0) {
            bail!("{}: {symbol} has two bars at {}", path.display(), w[0].0);
        }
        let returns: Vec<f64> = series.windows(2).map(|w| (w[1].1 / w[0].1).ln()).collect();
        if returns.len() < MIN_RETURNS {
            bail!(
                "{}: {symbol} has {} returns; a GARCH fit needs at least {MIN_RETURNS}",
                path.display(),
                returns.len()
            );
        }
        out.insert(symbol, returns);
    }
    if out.is_empty() {
        bail!("{}: no bars", path.display());
    }
    Ok(out)
}

/// Fits every symbol of `input` and writes the fits to `output` (CSV or Parquet by extension).
pub fn run(input: &Path, output: &Path, args: &GarchArgs) -> anyhow::Result<Vec<SymbolFit>> {
    if !(args.periods_per_year.is_finite() && args.periods_per_year > 0.0) {
        bail!("--periods-per-year must be positive, not {}", args.periods_per_year);
    }
    let returns = returns_by_symbol(input)?;
    let kernels = Kernels::select(args.gpu)?;
    let batch = Ragged::from_rows(returns.values());
    let opts = GarchOptions { zero_mean: args.zero_mean, ..GarchOptions::default() };
    let fits = kernels.garch_fit(&batch, opts).context("fitting GARCH(1,1)")?;
    let fits: Vec<SymbolFit> = returns.into_keys().zip(fits).map(|(symbol, fit)| SymbolFit { symbol, fit }).collect();
    if is_parquet(output) { write_parquet(output, &fits, args) } else { write_csv(output, &fits, args) }?;
    Ok(fits)
}

const COLUMNS: [&str; 12] = [
    "symbol",
    "mean_model",
    "observations",
    "mu",
    "omega",
    "alpha",
    "beta",
    "persistence",
    "loglik",
    "vol_next",
    "vol_annualized",
    "iterations",
];

fn numbers(f: &GarchFit, periods_per_year: f64) -> [f64; 8] {
    let p = f.params;
    [p.mu, p.omega, p.alpha, p.beta, f.persistence(), f.loglik, f.vol_next(), f.vol_annualized(periods_per_year)]
}

fn mean_model(args: &GarchArgs) -> &'static str {
    if args.zero_mean { "zero" } else { "constant" }
}

fn write_csv(path: &Path, fits: &[SymbolFit], args: &GarchArgs) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("{}: cannot create", path.display()))?;
    w.write_record(COLUMNS)?;
    for s in fits {
        let mut row = vec![s.symbol.clone(), mean_model(args).into(), s.fit.observations.to_string()];
        row.extend(numbers(&s.fit, args.periods_per_year).iter().map(|v| v.to_string()));
        row.push(s.fit.iterations.to_string());
        w.write_record(&row)?;
    }
    w.flush().with_context(|| format!("{}: writing", path.display()))
}

fn write_parquet(path: &Path, fits: &[SymbolFit], args: &GarchArgs) -> anyhow::Result<()> {
    let mut arrays: Vec<(&str, ArrayRef)> = vec![
        ("symbol", Arc::new(StringArray::from_iter_values(fits.iter().map(|s| s.symbol.as_str())))),
        ("mean_model", Arc::new(StringArray::from_iter_values(fits.iter().map(|_| mean_model(args))))),
        ("observations", Arc::new(UInt32Array::from_iter_values(fits.iter().map(|s| s.fit.observations)))),
    ];
    for (k, name) in COLUMNS[3..11].iter().enumerate() {
        let column = Float64Array::from_iter_values(fits.iter().map(|s| numbers(&s.fit, args.periods_per_year)[k]));
        arrays.push((name, Arc::new(column)));
    }
    arrays.push(("iterations", Arc::new(UInt32Array::from_iter_values(fits.iter().map(|s| s.fit.iterations)))));
    let batch = RecordBatch::try_from_iter(arrays)?;
    let file = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close().with_context(|| format!("{}: writing", path.display()))?;
    Ok(())
}
