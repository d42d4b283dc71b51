//! Property tests: what the streaming operators compute equals a from-scratch batch
//! computation over the same input, whatever the arrival order within an epoch.

use std::collections::BTreeMap;
use std::sync::mpsc;

use proptest::prelude::*;
use timely::dataflow::operators::Capture;
use timely::dataflow::operators::vec::Input;
use tradeflow_operators::risk::{RiskBook, RiskParams};
use tradeflow_operators::testing::records;
use tradeflow_operators::{Bar, Bars, EpochClock, Fill, SECOND, Side, Symbol, Tick};

/// Feeds `ticks` through the bars operator on a real input, epoch by epoch, each epoch's
/// ticks in the given (arbitrary) order.
fn stream_bars(ticks: Vec<Tick>, clock: EpochClock, width: i64) -> Vec<Bar> {
    timely::execute_directly(move |worker| {
        let (tx, rx) = mpsc::channel();
        let mut input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Tick>();
            stream.bars(width, clock).capture_into(tx);
            input
        });
        let mut by_epoch: BTreeMap<u64, Vec<Tick>> = BTreeMap::new();
        for t in ticks {
            by_epoch.entry(clock.epoch(t.ts)).or_default().push(t);
        }
        for (epoch, batch) in by_epoch {
            input.advance_to(epoch);
            for t in batch {
                input.send(t);
            }
            worker.step();
        }
        input.close();
        while worker.step() {}
        records(rx)
    })
}

fn batch_bars(ticks: &[Tick], width: i64) -> Vec<(Symbol, i64, [f64; 5], u64)> {
    let mut groups: BTreeMap<(Symbol, i64), Vec<&Tick>> = BTreeMap::new();
    for t in ticks {
        groups.entry((t.symbol, t.ts.div_euclid(width) * width + width)).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|((s, end), mut g)| {
            g.sort_by_key(|t| t.ts);
            let high = g.iter().map(|t| t.price).fold(f64::MIN, f64::max);
            let low = g.iter().map(|t| t.price).fold(f64::MAX, f64::min);
            let volume = g.iter().map(|t| t.size).sum();
            (s, end, [g[0].price, high, low, g[g.len() - 1].price, volume], g.len() as u64)
        })
        .collect()
}

fn ticks_strategy() -> impl Strategy<Value = Vec<Tick>> {
    // Up to 3 symbols, distinct times per symbol, prices and sizes on a cent/share grid.
    prop::collection::vec((0u32..3, 0i64..20_000, 1u32..100_000, 0u32..50), 1..300).prop_map(|rows| {
        let mut seen = std::collections::HashSet::new();
        rows.into_iter()
            .filter(|(s, ms, _, _)| seen.insert((*s, *ms)))
            .map(|(s, ms, cents, size)| Tick {
                symbol: Symbol(s),
                ts: ms * 1_000_000,
                price: f64::from(cents) / 100.0,
                size: f64::from(size),
                bid: None,
                ask: None,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn streaming_bars_equal_a_group_by(ticks in ticks_strategy(), epoch_ms in prop::sample::select(vec![1i64, 10, 250, 1000])) {
        let clock = EpochClock::new(epoch_ms * 1_000_000);
        // The input order within an epoch is arbitrary: reverse it.
        let mut shuffled = ticks.clone();
        shuffled.reverse();
        let mut got: Vec<_> = stream_bars(shuffled, clock, SECOND)
            .into_iter()
            .map(|b| (b.symbol, b.end, [b.open, b.high, b.low, b.close, b.volume], b.trades))
            .collect();
        got.sort_by_key(|a| (a.0, a.1));
        prop_assert_eq!(got, batch_bars(&ticks, SECOND));
    }

    #[test]
    fn coarse_bars_from_fine_bars_equal_bars_from_ticks(ticks in ticks_strategy()) {
        let clock = EpochClock::new(100_000_000);
        let fine = stream_bars(ticks.clone(), clock, SECOND);
        let coarse: Vec<_> = timely::execute_directly(move |worker| {
            let (tx, rx) = mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, stream) = scope.new_input::<Bar>();
                stream.bars(5 * SECOND, clock).capture_into(tx);
                input
            });
            let mut fine = fine;
            fine.sort_by_key(|b| b.end);
            // Each fine bar at the epoch the bars operator emits it at: that of its last instant.
            for bar in fine {
                input.advance_to(clock.epoch(bar.end - 1));
                input.send(bar);
            }
            input.close();
            while worker.step() {}
            records(rx)
        });
        let mut got: Vec<_> = coarse.into_iter().map(|b| (b.symbol, b.end, [b.open, b.high, b.low, b.close, b.volume], b.trades)).collect();
        got.sort_by_key(|a| (a.0, a.1));
        prop_assert_eq!(got, batch_bars(&ticks, 5 * SECOND));
    }

    #[test]
    fn risk_book_equity_is_cash_flow_plus_marked_positions(
        fills in prop::collection::vec((any::<bool>(), 1u32..1_000, 100u32..100_000, 0u32..100), 1..60),
        mark_cents in 100u32..100_000,
    ) {
        let initial = 1_000_000.0;
        let mut book = RiskBook::new(RiskParams { initial_cash: initial, ..RiskParams::default() });
        let (mut cash, mut qty) = (initial, 0.0);
        for (i, (buy, q, cents, fee_cents)) in fills.iter().enumerate() {
            let side = if *buy { Side::Buy } else { Side::Sell };
            let (q, price, fee) = (f64::from(*q), f64::from(*cents) / 100.0, f64::from(*fee_cents) / 100.0);
            let position = book.apply_fill(&Fill { order_id: i.to_string(), account: "a".into(), symbol: Symbol(0), ts: i as i64, side, qty: q, price, fee });
            cash -= side.sign() * q * price + fee;
            qty += side.sign() * q;
            prop_assert!((position.qty - qty).abs() < 1e-9);
        }
        let mark = f64::from(mark_cents) / 100.0;
        book.mark(Symbol(0), mark);
        let pnl = book.pnl(0);
        let tolerance = 1e-9 * (initial + qty.abs() * mark);
        prop_assert!((pnl.cash - cash).abs() < tolerance);
        prop_assert!((pnl.equity - (cash + qty * mark)).abs() < tolerance);
        prop_assert!((pnl.equity - (initial + pnl.realized + pnl.unrealized - pnl.fees)).abs() < tolerance);
    }
}
