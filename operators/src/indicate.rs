//! Extension method for computing a configured indicator suite per symbol on each bar.

use std::sync::Arc;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::event::{Bar, IndicatorSet};
use crate::indicators::{IndicatorBank, IndicatorSuite, Ohlcv};
use crate::stash::EpochStash;

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
    fn indicators(self, suite: Arc<IndicatorSuite>) -> StreamVec<'scope, u64, IndicatorSet>;
}

impl<'scope> Indicate<'scope> for StreamVec<'scope, u64, Bar> {
    fn indicators(self, suite: Arc<IndicatorSuite>) -> StreamVec<'scope, u64, IndicatorSet> {
        self.unary_frontier(Exchange::new(|b: &Bar| b.symbol.route()), "Indicators", move |_initial, _info| {
            let mut stash = EpochStash::<Bar>::default();
            let mut banks: Vec<Option<IndicatorBank>> = Vec::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                    let Some((cap, mut bars)) = stash.take(epoch) else {
                        break;
                    };
                    bars.sort_by_key(|b| (b.symbol, b.end));
                    let mut session = output.session(&cap);
                    for bar in bars {
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
                        let mut values = Vec::with_capacity(suite.columns().len());
                        bank.update(&ohlcv, &mut values);
                        session.give(IndicatorSet { symbol: bar.symbol, ts: bar.end, close: bar.close, values });
                    }
                }
            }
        })
    }
}
