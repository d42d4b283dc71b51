//! Extension method for building OHLCV bars over event-time windows, closed by the frontier.

use std::collections::BTreeMap;

use timely::ExchangeData;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::event::{Bar, Keyed, Symbol, Tick, Ts};
use crate::snapshot::SnapshotPort;
use crate::stash::EpochStash;
use crate::time::EpochClock;

/// Accumulates one bar. Pure state: no dataflow needed to test it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BarBuilder {
    bar: Bar,
    turnover: f64,
}

impl BarBuilder {
    /// An empty bar over `[start, end)`, opened by its first trade.
    pub fn new(symbol: Symbol, start: Ts, end: Ts, open: f64) -> Self {
        let bar =
            Bar { symbol, start, end, open, high: open, low: open, close: open, volume: 0.0, vwap: open, trades: 0 };
        BarBuilder { bar, turnover: 0.0 }
    }

    fn add(&mut self, high: f64, low: f64, close: f64, volume: f64, turnover: f64, trades: u64) {
        let bar = &mut self.bar;
        bar.high = bar.high.max(high);
        bar.low = bar.low.min(low);
        bar.close = close;
        bar.volume += volume;
        bar.trades += trades;
        self.turnover += turnover;
    }

    pub fn end(&self) -> Ts {
        self.bar.end
    }

    pub fn finish(mut self) -> Bar {
        self.bar.vwap = if self.bar.volume > 0.0 { self.turnover / self.bar.volume } else { self.bar.close };
        self.bar
    }
}

/// Anything that can be folded into a bar: a trade, or a finer bar.
///
/// An input's epoch is the epoch of its `window_ts`: a tick's own time, and a finer bar's last
/// instant (bars are stamped at the epoch of their last instant).
pub trait BarInput: Keyed {
    /// The time that places the input in a window.
    fn window_ts(&self) -> Ts;
    fn open_price(&self) -> f64;
    fn fold_into(&self, builder: &mut BarBuilder);
}

impl BarInput for Tick {
    fn window_ts(&self) -> Ts {
        self.ts
    }
    fn open_price(&self) -> f64 {
        self.price
    }
    fn fold_into(&self, b: &mut BarBuilder) {
        b.add(self.price, self.price, self.price, self.size, self.price * self.size, 1);
    }
}

impl BarInput for Bar {
    /// The last instant a finer bar covers: it arrives at that instant's epoch.
    fn window_ts(&self) -> Ts {
        self.end - 1
    }
    fn open_price(&self) -> f64 {
        self.open
    }
    fn fold_into(&self, b: &mut BarBuilder) {
        b.add(self.high, self.low, self.close, self.volume, self.vwap * self.volume, self.trades);
    }
}

/// The window `[start, end)` of width `width` that contains `ts`.
#[inline]
pub fn window_of(ts: Ts, width: Ts) -> (Ts, Ts) {
    let start = ts.div_euclid(width) * width;
    (start, start + width)
}

/// Extension trait for building bars.
pub trait Bars<'scope> {
    /// Builds bars of `width` nanoseconds per symbol. A bar over `[start, end)` is emitted at
    /// the epoch of its last instant, `epoch(end - 1)`, as soon as the input frontier has passed
    /// that epoch: no more input for its window can arrive, and nothing waits for the epoch that
    /// holds `end` to be read. (Its event time is still `end`: what is computed from a bar is
    /// known at `end` and comes before any other record stamped `end`.) Inputs of one epoch are
    /// applied in event-time order, so the result does not depend on arrival order. `width` must
    /// be a multiple of the clock's epoch length.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::Capture;
    /// use tradeflow_operators::testing::records;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::{Bars, EpochClock, Symbol, Tick, SECOND};
    ///
    /// let clock = EpochClock::new(SECOND);
    /// let tick = |ts: i64, price: f64| Tick { symbol: Symbol(0), ts, price, size: 1.0, bid: None, ask: None };
    /// let captured = timely::example(move |scope| {
    ///     vec![tick(0, 10.0), tick(SECOND / 2, 12.0), tick(SECOND, 11.0)]
    ///         .to_stream(scope)
    ///         .bars(SECOND, clock)
    ///         .capture()
    /// });
    /// let bars: Vec<_> = records(captured);
    /// assert_eq!(bars.len(), 2);
    /// assert_eq!((bars[0].open, bars[0].high, bars[0].close, bars[0].vwap), (10.0, 12.0, 12.0, 11.0));
    /// ```
    fn bars(self, width: Ts, clock: EpochClock) -> StreamVec<'scope, u64, Bar>
    where
        Self: Sized,
    {
        self.bars_saved(width, clock, None)
    }

    /// [`bars`](Self::bars), with the bars in progress in the snapshots.
    fn bars_saved(self, width: Ts, clock: EpochClock, snapshot: Option<SnapshotPort>) -> StreamVec<'scope, u64, Bar>;
}

impl<'scope, D> Bars<'scope> for StreamVec<'scope, u64, D>
where
    D: BarInput + ExchangeData,
{
    fn bars_saved(
        self,
        width: Ts,
        clock: EpochClock,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Bar> {
        assert!(width > 0 && width % clock.epoch_len() == 0, "bar width must be a multiple of the epoch length");
        self.unary_frontier(Exchange::new(|d: &D| d.symbol().route()), "Bars", move |initial, _info| {
            let mut held = Some(initial);
            let mut stash = EpochStash::<D>::default();
            let mut open: Vec<Option<BarBuilder>> = Vec::new();
            // Window ends of open bars; entries may be stale once a bar has closed.
            let mut closing: BTreeMap<Ts, Vec<Symbol>> = BTreeMap::new();
            let mut closed: Vec<Bar> = Vec::new();
            // The last epoch at which input for a window ending at `end` can arrive, and the
            // epoch the bar is emitted at.
            let last_input_epoch = move |end: Ts| clock.epoch(end - 1);
            if let Some(port) = snapshot.as_ref()
                && let Some((saved_open, saved_closing)) = port.restore_or_panic()
            {
                (open, closing) = (saved_open, saved_closing);
                // A bar sent before the boundary is not sent again.
                let start = port.start();
                closing.retain(|end, _| last_input_epoch(*end) >= start);
                for slot in open.iter_mut() {
                    if slot.as_ref().is_some_and(|b| last_input_epoch(b.end()) < start) {
                        *slot = None;
                    }
                }
            }
            // At boundary `b`, a bar that closes before `b` has closed and one that closes at
            // `b` or later is still open: after a restart from `b`, it closes there.
            let mut save = move |upto: Option<u64>,
                                 open: &mut Vec<Option<BarBuilder>>,
                                 closing: &mut BTreeMap<Ts, Vec<Symbol>>,
                                 closed: &mut Vec<Bar>| {
                let Some(port) = snapshot.as_mut() else { return };
                match upto {
                    Some(upto) => {
                        if let Some(boundary) = port.due(upto) {
                            close_until(closing, Some(boundary - 1), last_input_epoch, open, closed);
                            port.save(boundary, &(&*open, &*closing));
                        }
                    }
                    // The input has ended: the bars still open close now, each at the epoch of
                    // its last instant; a restart drops those emitted before its boundary.
                    None => port.finish(&(&*open, &*closing)),
                }
            };

            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));

                while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                    save(Some(epoch), &mut open, &mut closing, &mut closed);
                    let Some((_cap, mut batch)) = stash.take(epoch) else {
                        break;
                    };
                    close_until(&mut closing, Some(epoch), last_input_epoch, &mut open, &mut closed);
                    // Stable: equal times keep their arrival order, which is the source's order.
                    batch.sort_by_key(|d| (d.symbol(), d.window_ts()));
                    for d in &batch {
                        let s = d.symbol().0 as usize;
                        if open.len() <= s {
                            open.resize(s + 1, None);
                        }
                        let (start, end) = window_of(d.window_ts(), width);
                        let slot = &mut open[s];
                        if slot.as_ref().is_some_and(|b| b.end() != end) {
                            // Input for a later window while the earlier one is still open can
                            // only come out of order within one epoch; close the earlier one.
                            closed.extend(slot.take().map(BarBuilder::finish));
                        }
                        let builder = slot.get_or_insert_with(|| {
                            closing.entry(end).or_default().push(d.symbol());
                            BarBuilder::new(d.symbol(), start, end, d.open_price())
                        });
                        d.fold_into(builder);
                    }
                }

                let frontier_epoch = frontier.frontier().iter().min().copied();
                save(frontier_epoch, &mut open, &mut closing, &mut closed);
                close_until(&mut closing, frontier_epoch, last_input_epoch, &mut open, &mut closed);

                if let Some(cap) = held.as_ref() {
                    closed.sort_by_key(|b| (b.end, b.symbol));
                    let mut bars = closed.drain(..).peekable();
                    while let Some(first) = bars.next() {
                        let epoch = last_input_epoch(first.end).max(*cap.time());
                        let at = cap.delayed(&epoch);
                        let mut session = output.session(&at);
                        session.give(first);
                        while let Some(bar) = bars.next_if(|b| last_input_epoch(b.end).max(*cap.time()) == epoch) {
                            session.give(bar);
                        }
                    }
                }
                closed.clear();

                let next_end = closing.keys().next().map(|end| last_input_epoch(*end));
                match (frontier_epoch, next_end) {
                    (None, None) => held = None,
                    (f, e) => {
                        if let Some(cap) = held.as_mut() {
                            let target = f.into_iter().chain(e).min().unwrap_or(*cap.time());
                            if target > *cap.time() {
                                cap.downgrade(&target);
                            }
                        }
                    }
                }
            }
        })
    }
}

/// Finishes every open bar that can get no more input once epochs before `limit` are done
/// (all of them for `None`, when the input has ended).
fn close_until(
    closing: &mut BTreeMap<Ts, Vec<Symbol>>,
    limit: Option<u64>,
    last_input_epoch: impl Fn(Ts) -> u64,
    open: &mut [Option<BarBuilder>],
    closed: &mut Vec<Bar>,
) {
    while let Some(entry) = closing.first_entry() {
        if limit.is_some_and(|l| last_input_epoch(*entry.key()) >= l) {
            break;
        }
        let (end, symbols) = entry.remove_entry();
        for s in symbols {
            let slot = &mut open[s.0 as usize];
            if slot.as_ref().is_some_and(|b| b.end() == end) {
                closed.extend(slot.take().map(BarBuilder::finish));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open() {
        assert_eq!(window_of(0, 10), (0, 10));
        assert_eq!(window_of(9, 10), (0, 10));
        assert_eq!(window_of(10, 10), (10, 20));
    }

    #[test]
    fn builder_tracks_ohlcv_and_vwap() {
        let t = |price: f64, size: f64| Tick { symbol: Symbol(1), ts: 0, price, size, bid: None, ask: None };
        let mut b = BarBuilder::new(Symbol(1), 0, 10, 5.0);
        for tick in [t(5.0, 1.0), t(7.0, 3.0), t(4.0, 0.0), t(6.0, 2.0)] {
            tick.fold_into(&mut b);
        }
        let bar = b.finish();
        assert_eq!((bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades), (5.0, 7.0, 4.0, 6.0, 6.0, 4));
        assert_eq!(bar.vwap, (5.0 + 21.0 + 12.0) / 6.0);
    }

    /// Guards the latency of every decision made at a bar's close: the minute's bar (built from
    /// one-second bars) comes out at the epoch of its last instant as soon as the first tick
    /// past the minute is in, without waiting for the epoch that tick opened to be read.
    #[test]
    fn a_minute_bar_closes_with_the_first_tick_past_it() {
        use crate::event::{MINUTE, SECOND};
        use timely::dataflow::operators::Probe;
        use timely::dataflow::operators::capture::{Capture, Event};
        use timely::dataflow::operators::vec::Input;

        let clock = EpochClock::new(SECOND / 100);
        timely::execute_directly(move |worker| {
            let (tx, captured) = std::sync::mpsc::channel();
            let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, ticks) = scope.new_input::<Tick>();
                let (probe, minutes) = ticks.bars(SECOND, clock).bars(MINUTE, clock).probe();
                minutes.capture_into(tx);
                (input, probe)
            });
            let tick = |ts: Ts| Tick { symbol: Symbol(3), ts, price: 10.0, size: 1.0, bid: None, ask: None };
            for ts in [0, 30 * SECOND, MINUTE - 1, MINUTE] {
                input.advance_to(clock.epoch(ts));
                input.send(tick(ts));
            }
            // The input stays open at the epoch of the tick at one minute.
            for _ in 0..20 {
                worker.step();
            }
            assert!(!probe.less_than(&clock.epoch(MINUTE)), "the minute's epochs are not all done");
            let bars: Vec<(u64, Bar)> = captured
                .try_iter()
                .flat_map(|event| match event {
                    Event::Messages(stamp, data) => data.into_iter().map(|b| (stamp.elements()[0], b)).collect(),
                    Event::Progress(_) => Vec::new(),
                })
                .collect();
            assert_eq!(bars.len(), 1, "{bars:?}");
            let (epoch, bar) = &bars[0];
            assert_eq!((*epoch, bar.start, bar.end, bar.trades), (clock.epoch(MINUTE - 1), 0, MINUTE, 3));
            input.close();
            while worker.step() {}
        });
    }
}
