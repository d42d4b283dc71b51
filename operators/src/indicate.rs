//! Extension method for computing a configured indicator suite per symbol on each bar.

use std::sync::Arc;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::event::{Bar, IndicatorSet};
use crate::indicators::{IndicatorBank, IndicatorSuite, Ohlcv};
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, frontier_epoch};

/// Extension trait for computing indicators.
pub trait Indicate<'scope> {
    /// Updates every indicator of `suite` with each bar, per symbol in bar order, and emits one
    /// [`IndicatorSet`] per bar at the bar's epoch (values NaN until their lookback is met).
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use timely::dataflow::operators::Capture;
    /// use tradeflow_operators::testing::records;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::indicate::Indicate;
    /// use tradeflow_operators::indicators::IndicatorSuite;
    /// use tradeflow_operators::{Bar, Symbol};
    ///
    /// let suite = Arc::new(IndicatorSuite::new_checked(&["ema_2"]).unwrap());
    /// let bar = |end: i64, close: f64| Bar { symbol: Symbol(0), start: end - 1, end, open: close, high: close, low: close, close, volume: 1.0, vwap: close, trades: 1 };
    /// let captured = timely::example(move |scope| {
    ///     vec![bar(1, 1.0), bar(2, 3.0), bar(3, 5.0)].to_stream(scope).indicators(suite).capture()
    /// });
    /// let values: Vec<f64> = records(captured).into_iter().map(|s| s.values[0]).collect();
    /// assert!(values[0].is_nan());
    /// assert_eq!(&values[1..], &[2.0, 2.0 + (5.0 - 2.0) * 2.0 / 3.0]);
    /// ```
    fn indicators(self, suite: Arc<IndicatorSuite>) -> StreamVec<'scope, u64, IndicatorSet>
    where
        Self: Sized,
    {
        self.indicators_saved(suite, None)
    }

    /// [`indicators`](Self::indicators), with every symbol's indicator state in the snapshots.
    fn indicators_saved(
        self,
        suite: Arc<IndicatorSuite>,
        snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, IndicatorSet>;
}

impl<'scope> Indicate<'scope> for StreamVec<'scope, u64, Bar> {
    fn indicators_saved(
        self,
        suite: Arc<IndicatorSuite>,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, IndicatorSet> {
        self.unary_frontier(Exchange::new(|b: &Bar| b.symbol.route()), "Indicators", move |_initial, _info| {
            let mut stash = EpochStash::<Bar>::default();
            let mut banks: Vec<Option<IndicatorBank>> = Vec::new();
            if let Some(saved) = snapshot.as_ref().and_then(SnapshotPort::restore_or_panic::<Vec<Option<Vec<Vec<u8>>>>>)
            {
                banks = saved
                    .iter()
                    .map(|state| {
                        state.as_ref().map(|state| {
                            let mut bank = suite.bank();
                            bank.load(state).unwrap_or_else(|e| panic!("snapshot of the indicators: {e}"));
                            bank
                        })
                    })
                    .collect();
            }
            let save = |banks: &[Option<IndicatorBank>]| -> Vec<Option<Vec<Vec<u8>>>> {
                banks.iter().map(|b| b.as_ref().map(IndicatorBank::save)).collect()
            };
            let mut scratch = Vec::with_capacity(suite.columns().len());
            let mut update = move |banks: &mut Vec<Option<IndicatorBank>>, bar: &Bar| {
                let s = bar.symbol.0 as usize;
                if banks.len() <= s {
                    banks.resize_with(s + 1, || None);
                }
                let bank = banks[s].get_or_insert_with(|| suite.bank());
                let ohlcv = Ohlcv {
                    ts: bar.end,
                    open: bar.open,
                    high: bar.high,
                    low: bar.low,
                    close: bar.close,
                    volume: bar.volume,
                };
                bank.update(&ohlcv, &mut scratch);
                IndicatorSet { symbol: bar.symbol, ts: bar.end, close: bar.close, values: scratch.as_slice().into() }
            };
            move |(input, frontier), output| {
                // A symbol's bars come from one upstream worker, in the order of their ends, and
                // each symbol's state is its own: a batch can be applied as it arrives, without
                // waiting for the frontier, unless a snapshot boundary may fall at or before its
                // epoch (the state saved there must not include it) or older bars wait.
                let eager_before = snapshot.as_ref().map_or(u64::MAX, SnapshotPort::next_boundary);
                input.for_each_stamp(|cap, data| match cap.least() {
                    Some(&epoch) if epoch < eager_before && stash.is_empty() => {
                        let mut session = output.session(&cap);
                        for batch in data {
                            for bar in batch.iter() {
                                session.give(update(&mut banks, bar));
                            }
                        }
                    }
                    _ => stash.push(&cap, 0, data),
                });
                while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                    checkpoint(&mut snapshot, Some(epoch), || save(&banks));
                    let Some((cap, mut bars)) = stash.take(epoch) else {
                        break;
                    };
                    bars.sort_by_key(|b| (b.symbol, b.end));
                    let mut session = output.session(&cap);
                    for bar in &bars {
                        session.give(update(&mut banks, bar));
                    }
                }
                checkpoint(&mut snapshot, frontier_epoch(frontier.frontier()), || save(&banks));
            }
        })
    }
}
