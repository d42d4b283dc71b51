//! `tradeflow indicators`: every requested indicator for every bar of a file, per symbol, with
//! the same state machines the dataflow runs.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tradeflow_operators::indicators::{INDICATORS, IndicatorBank, IndicatorSpec, IndicatorSuite, Ohlcv};

use crate::timefmt::parse_ts;

/// One input bar.
#[derive(Clone, Debug, PartialEq)]
pub struct BarRow {
    pub ts: i64,
    pub symbol: String,
    pub ohlcv: Ohlcv,
}

/// The bar columns, in the order a CSV header may give them in any order.
pub const BAR_COLUMNS: [&str; 7] = ["ts", "symbol", "open", "high", "low", "close", "volume"];

pub(crate) fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Every indicator at TA-Lib's defaults: what `--set` means when it is left out.
pub fn default_set() -> Vec<String> {
    INDICATORS.iter().map(|d| IndicatorSpec::parse(d.name).map(|s| s.to_string()).unwrap_or_default()).collect()
}

/// Reads bars from CSV or Parquet (by extension), failing on the first bad row with its place.
pub fn read_bars(path: &Path) -> anyhow::Result<Vec<BarRow>> {
    if is_parquet(path) { read_parquet(path) } else { read_csv(path) }
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<BarRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("{}: cannot open the bars file", path.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: cannot read the header", path.display()))?.clone();
    let mut at = [0usize; 7];
    for (slot, name) in at.iter_mut().zip(BAR_COLUMNS) {
        *slot = headers.iter().position(|h| h.eq_ignore_ascii_case(name)).with_context(|| {
            format!("{}: the header has no `{name}` column (needs {})", path.display(), BAR_COLUMNS.join(","))
        })?;
    }
    let mut bars = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: unreadable row", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(at[i]).unwrap_or("");
        let num = |i: usize| -> anyhow::Result<f64> {
            let text = field(i);
            text.parse::<f64>().ok().filter(|v| v.is_finite()).with_context(|| {
                format!("{}:{line}: column `{}`: `{text}` is not a number", path.display(), BAR_COLUMNS[i])
            })
        };
        let ts = parse_ts(field(0)).map_err(|e| anyhow::anyhow!("{}:{line}: column `ts`: {e}", path.display()))?;
        if field(1).is_empty() {
            bail!("{}:{line}: column `symbol` is empty", path.display());
        }
        let ohlcv = Ohlcv { ts, open: num(2)?, high: num(3)?, low: num(4)?, close: num(5)?, volume: num(6)? };
        bars.push(BarRow { ts, symbol: field(1).to_owned(), ohlcv });
    }
    Ok(bars)
}

fn float_column(batch: &RecordBatch, name: &str, path: &Path) -> anyhow::Result<Vec<f64>> {
    let col = batch.column_by_name(name).with_context(|| format!("{}: no `{name}` column", path.display()))?;
    Ok(match col.data_type() {
        DataType::Float64 => col.as_primitive::<Float64Type>().iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        DataType::Int64 => col.as_primitive::<Int64Type>().iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect(),
        other => bail!("{}: column `{name}` is {other}, expected a number", path.display()),
    })
}

fn read_parquet(path: &Path) -> anyhow::Result<Vec<BarRow>> {
    let file = File::open(path).with_context(|| format!("{}: cannot open the bars file", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let mut bars = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("{}: reading a row group", path.display()))?;
        let ts_col = batch.column_by_name("ts").with_context(|| format!("{}: no `ts` column", path.display()))?;
        let ts: Vec<i64> = match ts_col.data_type() {
            DataType::Timestamp(..) => ts_col.as_primitive::<TimestampNanosecondType>().values().to_vec(),
            DataType::Int64 => ts_col.as_primitive::<Int64Type>().values().to_vec(),
            other => bail!("{}: column `ts` is {other}, expected nanosecond timestamps", path.display()),
        };
        let symbols =
            batch.column_by_name("symbol").with_context(|| format!("{}: no `symbol` column", path.display()))?;
        let symbols = symbols
            .as_string_opt::<i32>()
            .with_context(|| format!("{}: column `symbol` is not text", path.display()))?;
        let cols: Vec<Vec<f64>> =
            BAR_COLUMNS[2..].iter().map(|c| float_column(&batch, c, path)).collect::<anyhow::Result<_>>()?;
        for i in 0..batch.num_rows() {
            let row = bars.len() + 1;
            let values = [cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]];
            if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                bail!("{}: row {row}: column `{}` is missing or not finite", path.display(), BAR_COLUMNS[k + 2]);
            }
            if symbols.is_null(i) {
                bail!("{}: row {row}: column `symbol` is null", path.display());
            }
            let [open, high, low, close, volume] = values;
            bars.push(BarRow {
                ts: ts[i],
                symbol: symbols.value(i).to_owned(),
                ohlcv: Ohlcv { ts: ts[i], open, high, low, close, volume },
            });
        }
    }
    Ok(bars)
}

/// Computes `suite` for every bar, per symbol in input order: one row of values per bar.
pub fn compute(bars: &[BarRow], suite: &IndicatorSuite) -> Vec<Vec<f64>> {
    let mut banks: HashMap<&str, IndicatorBank> = HashMap::new();
    bars.iter()
        .map(|bar| {
            let bank = banks.entry(bar.symbol.as_str()).or_insert_with(|| suite.bank());
            let mut values = Vec::with_capacity(suite.columns().len());
            bank.update(&bar.ohlcv, &mut values);
            values
        })
        .collect()
}

fn write_csv(path: &Path, bars: &[BarRow], columns: &[String], values: &[Vec<f64>]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut header = vec!["ts".to_owned(), "symbol".to_owned()];
    header.extend(columns.iter().cloned());
    w.write_record(&header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for (bar, vals) in bars.iter().zip(values) {
        row.clear();
        row.push(bar.ts.to_string());
        row.push(bar.symbol.clone());
        row.extend(vals.iter().map(|v| if v.is_nan() { String::new() } else { v.to_string() }));
        w.write_record(&row)?;
    }
    w.flush().with_context(|| format!("{}: writing", path.display()))
}

fn write_parquet(path: &Path, bars: &[BarRow], columns: &[String], values: &[Vec<f64>]) -> anyhow::Result<()> {
    let mut arrays: Vec<(String, ArrayRef, bool)> = vec![
        (
            "ts".into(),
            Arc::new(TimestampNanosecondArray::from_iter_values(bars.iter().map(|b| b.ts)).with_timezone("UTC")),
            false,
        ),
        ("symbol".into(), Arc::new(StringArray::from_iter_values(bars.iter().map(|b| b.symbol.as_str()))), false),
    ];
    for (k, name) in columns.iter().enumerate() {
        let column: Float64Array = values.iter().map(|v| Some(v[k]).filter(|x| !x.is_nan())).collect();
        arrays.push((name.clone(), Arc::new(column), true));
    }
    let batch = RecordBatch::try_from_iter_with_nullable(arrays)?;
    let file = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close().with_context(|| format!("{}: writing", path.display()))?;
    Ok(())
}

/// Runs the command: returns the number of bars and columns written.
pub fn run(input: &Path, output: &Path, set: Option<&str>) -> anyhow::Result<(usize, usize)> {
    let names: Vec<String> = match set {
        Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        None => default_set(),
    };
    let suite = IndicatorSuite::new_checked(&names).map_err(|e| anyhow::anyhow!("--set: {e}"))?;
    let bars = read_bars(input)?;
    let values = compute(&bars, &suite);
    if is_parquet(output) {
        write_parquet(output, &bars, suite.columns(), &values)?;
    } else {
        write_csv(output, &bars, suite.columns(), &values)?;
    }
    Ok((bars.len(), suite.columns().len()))
}
