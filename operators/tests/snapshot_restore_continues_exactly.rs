//! A state saved for a snapshot and restored continues exactly as if it had never stopped:
//! every indicator of the registry.

use proptest::prelude::*;
use tradeflow_operators::indicators::{INDICATORS, IndicatorSuite, Ohlcv};

fn bars(steps: &[(f64, f64)]) -> Vec<Ohlcv> {
    let mut close = 100.0;
    steps
        .iter()
        .enumerate()
        .map(|(i, (ret, vol))| {
            let open = close;
            close *= 1.0 + ret;
            Ohlcv {
                ts: (i as i64 + 1) * 60_000_000_000,
                open,
                high: open.max(close) * 1.001,
                low: open.min(close) * 0.999,
                close,
                volume: *vol,
            }
        })
        .collect()
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_indicator_restored_midway_continues_bit_for_bit(
        steps in prop::collection::vec((-0.02f64..0.02, 1.0f64..1000.0), 2..160),
        split in 0usize..160,
    ) {
        let names: Vec<&str> = INDICATORS.iter().map(|d| d.name).collect();
        let suite = IndicatorSuite::new_checked(&names).unwrap();
        let bars = bars(&steps);
        let split = split.min(bars.len());
        let (mut straight, mut first) = (suite.bank(), suite.bank());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for bar in &bars[..split] {
            straight.update(bar, &mut a);
            first.update(bar, &mut b);
        }
        let saved = first.save();
        drop(first);
        let mut restored = suite.bank();
        restored.load(&saved).unwrap();
        for bar in &bars[split..] {
            straight.update(bar, &mut a);
            restored.update(bar, &mut b);
            prop_assert!(same(&a, &b), "after bar {}: {a:?} != {b:?}", bar.ts);
        }
    }
}

#[test]
fn a_state_for_another_suite_is_refused() {
    let three = IndicatorSuite::new_checked(&["ema_5", "rsi_14", "sma_3"]).unwrap();
    let two = IndicatorSuite::new_checked(&["ema_5", "rsi_14"]).unwrap();
    let saved = three.bank().save();
    assert!(two.bank().load(&saved).unwrap_err().contains("3 indicator states for 2 indicators"));
}
