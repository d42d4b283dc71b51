//! Position reconciliation: the positions that the broker's fills add up to, against the
//! positions the risk book reports, as a differential-dataflow collection keyed by
//! (account, symbol). A fill lost or doubled on its way back to the book, or booked wrongly,
//! leaves a difference that the collection keeps until it is mended; each new difference is a
//! `RiskEvent`.

use std::collections::HashMap;

use differential_dataflow::AsCollection;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use crate::event::{Fill, Position, RiskEvent, RiskEventKind, Symbol};
use crate::time::EpochClock;

/// Quantities are compared in millionths of a unit, so that the sums are exact.
fn micro_units(qty: f64) -> i64 {
    (qty * 1e6).round() as i64
}

/// Extension trait for reconciling the broker's fills with the book's positions.
pub trait Reconcile<'scope> {
    /// Keeps, per (account, symbol), the broker's fills (one epoch later, when the book books
    /// them) minus the changes of the book's positions; emits a `reconciliation` risk event at
    /// each epoch where a key's difference becomes non-zero or changes. A consistent run emits
    /// nothing.
    ///
    /// # Examples
    /// ```
    /// use std::sync::mpsc;
    /// use timely::dataflow::operators::Capture;
    /// use timely::dataflow::operators::vec::Input;
    /// use tradeflow_operators::reconcile::Reconcile;
    /// use tradeflow_operators::testing::records;
    /// use tradeflow_operators::{EpochClock, Fill, Position, SECOND, Side, Symbol};
    ///
    /// let fill = |ts: i64, qty: f64| Fill {
    ///     order_id: format!("o{ts}"), account: "a".into(), symbol: Symbol(0), ts, side: Side::Buy, qty, price: 10.0, fee: 0.0,
    /// };
    /// let position = |ts: i64, qty: f64| Position {
    ///     account: "a".into(), symbol: Symbol(0), ts, qty, avg_price: 10.0, realized_pnl: 0.0,
    /// };
    /// let events = timely::execute_directly(move |worker| {
    ///     let (tx, rx) = mpsc::channel();
    ///     let (mut fills, mut positions) = worker.dataflow::<u64, _, _>(|scope| {
    ///         let (fills, fill_stream) = scope.new_input::<Fill>();
    ///         let (positions, position_stream) = scope.new_input::<Position>();
    ///         fill_stream.reconcile(position_stream, EpochClock::new(SECOND)).capture_into(tx);
    ///         (fills, positions)
    ///     });
    ///     // Two fills at epochs 2 and 3; the book booked only the first (its rows come one epoch later).
    ///     for epoch in 0..6u64 {
    ///         fills.advance_to(epoch);
    ///         positions.advance_to(epoch);
    ///         match epoch {
    ///             2 => fills.send(fill(2 * SECOND, 5.0)),
    ///             3 => {
    ///                 fills.send(fill(3 * SECOND, 7.0));
    ///                 positions.send(position(2 * SECOND, 5.0));
    ///             }
    ///             _ => {}
    ///         }
    ///         worker.step();
    ///     }
    ///     fills.close();
    ///     positions.close();
    ///     while worker.step() {}
    ///     records(rx)
    /// });
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0].ts, 4 * SECOND);
    /// assert!(events[0].detail.contains("+7 units"), "{}", events[0].detail);
    /// ```
    fn reconcile(
        self,
        positions: StreamVec<'scope, u64, Position>,
        clock: EpochClock,
    ) -> StreamVec<'scope, u64, RiskEvent>;
}

impl<'scope> Reconcile<'scope> for StreamVec<'scope, u64, Fill> {
    fn reconcile(
        self,
        positions: StreamVec<'scope, u64, Position>,
        clock: EpochClock,
    ) -> StreamVec<'scope, u64, RiskEvent> {
        let fills = self
            .unary(Pipeline, "FillChanges", |_, _| {
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&time) = cap.least() else { return };
                        let booked_at = time + 1;
                        let cap = cap.delayed(&time, 0);
                        let mut session = output.session(&cap);
                        for batch in data {
                            session.give_iterator(
                                batch
                                    .drain(..)
                                    .map(|f| ((f.account, f.symbol), booked_at, micro_units(f.side.sign() * f.qty))),
                            );
                        }
                    })
                }
            })
            .as_collection();
        let booked = positions
            .unary(Exchange::new(|p: &Position| p.symbol.route()), "PositionChanges", |_, _| {
                let mut held: HashMap<(String, Symbol), i64> = HashMap::new();
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&time) = cap.least() else { return };
                        let cap = cap.delayed(&time, 0);
                        let mut session = output.session(&cap);
                        for batch in data {
                            for p in batch.drain(..) {
                                let now = micro_units(p.qty);
                                let before = held.insert((p.account.clone(), p.symbol), now).unwrap_or(0);
                                if now != before {
                                    session.give(((p.account, p.symbol), time, now - before));
                                }
                            }
                        }
                    })
                }
            })
            .as_collection();
        fills.concat(booked.negate()).count().inner.flat_map(move |(((account, symbol), gap), time, diff)| {
            (diff > 0).then(|| RiskEvent {
                ts: clock.start_of(time),
                account,
                kind: RiskEventKind::Reconciliation,
                rule: "position_break".into(),
                symbol: Some(symbol),
                detail: format!(
                    "the broker's fills add up to {:+} units more than the book's position",
                    gap as f64 / 1e6
                ),
            })
        })
    }
}
