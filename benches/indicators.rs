//! Indicator update throughput: each indicator alone, and TA-Lib's full set over 50 symbols.
//!
//!     cargo bench --bench indicators
//!
//! With `TRADEFLOW_BENCH_BARS=FILE` (a bars CSV, as `tradeflow indicators` reads) the full-set
//! benchmark runs over that file, so `benches/talib_ratio.py` can time TA-Lib on the same bars.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tradeflow::commands::indicators::{BarRow, compute, read_bars};
use tradeflow_operators::indicators::{INDICATORS, IndicatorSpec, IndicatorSuite, Ohlcv};

/// A deterministic random walk of `n` bars (xorshift noise; speed does not depend on the values).
fn walk(n: usize, seed: u64) -> Vec<Ohlcv> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut close = 100.0;
    (0..n)
        .map(|_| {
            let open = close;
            close *= 1.0 + 0.01 * next();
            let (high, low) =
                (open.max(close) * (1.0 + 0.002 * next().abs()), open.min(close) * (1.0 - 0.002 * next().abs()));
            Ohlcv { ts: 0, open, high, low, close, volume: 1000.0 * (1.0 + next()) }
        })
        .collect()
}

fn each_indicator(c: &mut Criterion) {
    let bars = walk(10_000, 7);
    let mut group = c.benchmark_group("indicator");
    group.throughput(Throughput::Elements(bars.len() as u64));
    for definition in INDICATORS {
        let Ok(spec) = IndicatorSpec::parse(definition.name) else { continue };
        let mut out = vec![0.0; spec.columns().len()];
        group.bench_function(spec.to_string(), |b| {
            b.iter(|| {
                let mut indicator = spec.build();
                for bar in &bars {
                    indicator.update(bar, &mut out);
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn full_set(c: &mut Criterion) {
    let bars: Vec<BarRow> = match std::env::var("TRADEFLOW_BENCH_BARS") {
        Ok(path) => read_bars(Path::new(&path)).expect("the bars file named by TRADEFLOW_BENCH_BARS"),
        Err(_) => {
            // 50 symbols x 2,000 bars, interleaved as a live feed would deliver them.
            let series: Vec<Vec<Ohlcv>> = (0..50).map(|s| walk(2_000, s + 1)).collect();
            (0..2_000)
                .flat_map(|i| {
                    series.iter().enumerate().map(move |(s, w)| BarRow {
                        ts: i as i64,
                        symbol: format!("S{s:02}"),
                        ohlcv: Ohlcv { ts: i as i64, ..w[i] },
                    })
                })
                .collect()
        }
    };
    // TA-Lib's functions only, so that benches/talib_ratio.py compares like with like.
    let talib: Vec<String> = INDICATORS.iter().filter(|d| d.talib).map(|d| d.name.to_owned()).collect();
    let suite = IndicatorSuite::new_checked(&talib).expect("the TA-Lib set");
    // Symbols interned to indices once, as the dataflow holds them.
    let mut ids = std::collections::HashMap::new();
    let interned: Vec<(usize, Ohlcv)> = bars
        .iter()
        .map(|b| {
            let next = ids.len();
            (*ids.entry(b.symbol.as_str()).or_insert(next), b.ohlcv)
        })
        .collect();
    let symbols = ids.len();
    let mut group = c.benchmark_group("full_set");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.sample_size(20);
    // What the dataflow operator does per bar: the symbol's bank, every indicator, one row out.
    group.bench_function("update", |b| {
        b.iter(|| {
            let mut banks: Vec<_> = (0..symbols).map(|_| suite.bank()).collect();
            let mut values = Vec::with_capacity(suite.columns().len());
            for (symbol, bar) in &interned {
                banks[*symbol].update(bar, &mut values);
                black_box(&values);
            }
        })
    });
    // The `tradeflow indicators` command's path: symbol lookup by name and a row kept per bar.
    group.bench_function("command", |b| b.iter(|| black_box(compute(&bars, &suite))));
    group.finish();
}

criterion_group!(benches, each_indicator, full_set);
criterion_main!(benches);
