//! Property tests for the indicators: each window-defined indicator equals its definition
//! recomputed from scratch over every prefix, and the dataflow operator never mixes symbols,
//! whatever the interleaving.

use std::sync::Arc;
use std::sync::mpsc;

use proptest::prelude::*;
use timely::dataflow::operators::Capture;
use timely::dataflow::operators::vec::Input;
use tradeflow_operators::indicate::Indicate;
use tradeflow_operators::indicators::{IndicatorSuite, Ohlcv};
use tradeflow_operators::testing::records;
use tradeflow_operators::{Bar, Symbol};

fn bars_strategy() -> impl Strategy<Value = Vec<Ohlcv>> {
    prop::collection::vec((1.0f64..1000.0, 0.0f64..0.05, 0.0f64..0.05, 0.0f64..1.0, 0.0f64..1e6), 1..120).prop_map(
        |rows| {
            rows.into_iter()
                .map(|(close, up, down, open_at, volume)| {
                    let (high, low) = (close * (1.0 + up), close * (1.0 - down));
                    Ohlcv { ts: 0, open: low + (high - low) * open_at, high, low, close, volume }
                })
                .collect()
        },
    )
}

/// Each indicator's definition over the last `n` bars, written the obvious way.
fn by_definition(name: &str, window: &[Ohlcv]) -> f64 {
    let n = window.len() as f64;
    let closes: Vec<f64> = window.iter().map(|b| b.close).collect();
    let mean = closes.iter().sum::<f64>() / n;
    let highest = window.iter().map(|b| b.high).fold(f64::MIN, f64::max);
    let lowest = window.iter().map(|b| b.low).fold(f64::MAX, f64::min);
    let last = window[window.len() - 1];
    match name {
        "sma_10" => mean,
        "wma_10" => closes.iter().enumerate().map(|(i, c)| (i + 1) as f64 * c).sum::<f64>() / (n * (n + 1.0) / 2.0),
        "var_10_1" => closes.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n,
        "midprice_10" => (highest + lowest) / 2.0,
        "willr_10" => {
            if highest == lowest {
                0.0
            } else {
                -100.0 * (highest - last.close) / (highest - lowest)
            }
        }
        "zscore_10" => {
            let sd = (closes.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n).sqrt();
            if sd > 0.0 { (last.close - mean) / sd } else { 0.0 }
        }
        "donchian_10_upperband" => highest,
        "support_10_1" => {
            let band = lowest * 1.01;
            window.iter().filter(|b| b.low <= band).count() as f64 / n
        }
        "linearreg_10" => {
            let mx = (n - 1.0) / 2.0;
            let sxy: f64 = closes.iter().enumerate().map(|(i, c)| (i as f64 - mx) * (c - mean)).sum();
            let sxx: f64 = (0..window.len()).map(|i| (i as f64 - mx).powi(2)).sum();
            mean + sxy / sxx * (n - 1.0 - mx)
        }
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn realized_vol_vwap_and_breaks_equal_their_definitions(bars in bars_strategy()) {
        let suite = IndicatorSuite::new_checked(&["realvol_5", "vwap", "resistance_break_5"]).unwrap();
        let mut bank = suite.bank();
        let mut values = Vec::new();
        let day = 86_400_000_000_000i64;
        for (i, bar) in bars.iter().enumerate() {
            // Two sessions: the bars after the 50th fall on the next UTC day.
            let ts = if i < 50 { (i as i64 + 1) * 60_000_000_000 } else { day + (i as i64 + 1) * 60_000_000_000 };
            bank.update(&Ohlcv { ts, ..*bar }, &mut values);
            let realvol = if i < 5 { f64::NAN } else {
                (bars[i - 4..=i].iter().zip(&bars[i - 5..i]).map(|(b, a)| (b.close / a.close).ln().powi(2)).sum::<f64>() / 5.0).sqrt()
            };
            let session = if i < 50 { &bars[..=i] } else { &bars[50..=i] };
            let volume: f64 = session.iter().map(|b| b.volume).sum();
            let tp = |b: &Ohlcv| (b.high + b.low + b.close) / 3.0;
            let vwap = if volume > 0.0 { session.iter().map(|b| tp(b) * b.volume).sum::<f64>() / volume } else { tp(bar) };
            let brk = if i < 5 { f64::NAN } else {
                let prior = bars[i - 5..i].iter().map(|b| b.high).fold(f64::MIN, f64::max);
                if bar.close > prior { (bar.close / prior - 1.0) * 100.0 } else { 0.0 }
            };
            for (k, want) in [realvol, vwap, brk].into_iter().enumerate() {
                let got = values[k];
                prop_assert!((got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-9 * want.abs().max(1.0), "{} at {}: {} vs {}", suite.columns()[k], i, got, want);
            }
        }
    }

    #[test]
    fn streaming_equals_the_definition_over_every_prefix(bars in bars_strategy()) {
        let names = ["sma_10", "wma_10", "var_10_1", "midprice_10", "willr_10", "linearreg_10", "zscore_10", "donchian_10_upperband", "support_10_1"];
        let suite = IndicatorSuite::new_checked(&["sma_10", "wma_10", "var_10_1", "midprice_10", "willr_10", "linearreg_10", "zscore_10", "donchian_10", "support_10_1"]).unwrap();
        let mut bank = suite.bank();
        let mut values = Vec::new();
        for (i, bar) in bars.iter().enumerate() {
            bank.update(bar, &mut values);
            for name in names {
                let k = suite.index_of(name).unwrap();
                if i + 1 < 10 {
                    prop_assert!(values[k].is_nan(), "{} at {}: value before the lookback", name, i);
                    continue;
                }
                let want = by_definition(name, &bars[i + 1 - 10..=i]);
                let scale = want.abs().max(bars[i].close);
                prop_assert!((values[k] - want).abs() <= 1e-9 * scale, "{} at {}: {} vs {}", name, i, values[k], want);
            }
        }
    }

    #[test]
    fn the_operator_keeps_symbols_apart_whatever_the_interleaving(
        a in bars_strategy(),
        b in bars_strategy(),
        picks in prop::collection::vec(any::<bool>(), 240),
    ) {
        let suite = Arc::new(IndicatorSuite::new_checked(&["ema_5", "rsi_3", "adx_3", "stoch_3_2_2"]).unwrap());
        // Alone: each series through its own bank.
        let alone = |bars: &[Ohlcv]| -> Vec<Vec<u64>> {
            let mut bank = suite.bank();
            let mut v = Vec::new();
            bars.iter().map(|bar| { bank.update(bar, &mut v); v.iter().map(|x| x.to_bits()).collect() }).collect()
        };
        let (want_a, want_b) = (alone(&a), alone(&b));
        // Together: one bar per minute per symbol, the two symbols' bars sent in a random order.
        let to_bar = |s: u32, i: usize, o: &Ohlcv| Bar { symbol: Symbol(s), start: i as i64 * 60, end: (i as i64 + 1) * 60, open: o.open, high: o.high, low: o.low, close: o.close, volume: o.volume, vwap: o.close, trades: 1 };
        let mut order = Vec::new();
        let (mut ia, mut ib) = (0, 0);
        for pick in picks.iter().chain(std::iter::repeat(&true)) {
            if ia == a.len() && ib == b.len() { break; }
            if (*pick && ia < a.len()) || ib == b.len() { order.push(to_bar(0, ia, &a[ia])); ia += 1; } else { order.push(to_bar(1, ib, &b[ib])); ib += 1; }
        }
        let suite2 = Arc::clone(&suite);
        let out = timely::execute_directly(move |worker| {
            let (tx, rx) = mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, stream) = scope.new_input::<Bar>();
                stream.indicators(suite2).capture_into(tx);
                input
            });
            // Epoch = the bar's minute; within an epoch the arrival order is the random one.
            let mut by_epoch = std::collections::BTreeMap::<u64, Vec<Bar>>::new();
            for bar in order { by_epoch.entry(bar.end as u64 / 60).or_default().push(bar); }
            for (epoch, batch) in by_epoch { input.advance_to(epoch); for bar in batch { input.send(bar); } }
            input.close();
            while worker.step() {}
            records(rx)
        });
        let mut got_a: Vec<_> = out.iter().filter(|s| s.symbol == Symbol(0)).collect();
        let mut got_b: Vec<_> = out.iter().filter(|s| s.symbol == Symbol(1)).collect();
        got_a.sort_by_key(|s| s.ts);
        got_b.sort_by_key(|s| s.ts);
        let bits = |v: &Vec<&tradeflow_operators::IndicatorSet>| -> Vec<Vec<u64>> { v.iter().map(|s| s.values.iter().map(|x| x.to_bits()).collect()).collect() };
        prop_assert_eq!(bits(&got_a), want_a);
        prop_assert_eq!(bits(&got_b), want_b);
    }
}
