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
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, frontier_epoch};
use crate::time::EpochClock;
use timely::dataflow::operators::Capability;

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
    ) -> StreamVec<'scope, u64, RiskEvent>
    where
        Self: Sized,
    {
        self.reconcile_saved(positions, clock, None)
    }

    /// [`reconcile`](Self::reconcile) with snapshots: the book's positions and the fills
    /// made just before the boundary (booked at it) are kept; a difference already open at the
    /// boundary is not carried over (it was reported when it opened).
    fn reconcile_saved(
        self,
        positions: StreamVec<'scope, u64, Position>,
        clock: EpochClock,
        snapshot: Option<(SnapshotPort, SnapshotPort)>,
    ) -> StreamVec<'scope, u64, RiskEvent>;
}

type Change = ((String, Symbol), u64, i64);

impl<'scope> Reconcile<'scope> for StreamVec<'scope, u64, Fill> {
    fn reconcile_saved(
        self,
        positions: StreamVec<'scope, u64, Position>,
        clock: EpochClock,
        snapshot: Option<(SnapshotPort, SnapshotPort)>,
    ) -> StreamVec<'scope, u64, RiskEvent> {
        let (mut fills_port, mut held_port) = snapshot.map_or((None, None), |(f, h)| (Some(f), Some(h)));
        let start = fills_port.as_ref().map_or(0, SnapshotPort::start);
        let fills = self
            .unary_frontier(Pipeline, "FillChanges", move |initial, _| {
                // The changes of recent epochs, by the epoch of the fill: the last one before a
                // boundary is booked at the boundary, after it.
                let mut recent: std::collections::BTreeMap<u64, Vec<Change>> = Default::default();
                let mut restored: Option<(Capability<u64>, Vec<Change>)> = fills_port
                    .as_ref()
                    .and_then(SnapshotPort::restore_or_panic::<Vec<Change>>)
                    .map(|changes| (initial.delayed(&start.saturating_sub(1)), changes));
                move |(input, frontier), output| {
                    if let Some((cap, changes)) = restored.take() {
                        output.session(&cap).give_iterator(changes.into_iter());
                    }
                    let keep_from = fills_port.as_ref().map(|p| p.next_boundary() - 1);
                    input.for_each_stamp(|cap, data| {
                        let Some(&time) = cap.least() else { return };
                        let booked_at = time + 1;
                        let cap = cap.delayed(&time, 0);
                        let mut session = output.session(&cap);
                        for batch in data {
                            for f in batch.drain(..) {
                                let change = ((f.account, f.symbol), booked_at, micro_units(f.side.sign() * f.qty));
                                if keep_from.is_some_and(|k| time >= k) {
                                    recent.entry(time).or_default().push(change.clone());
                                }
                                session.give(change);
                            }
                        }
                    });
                    if let Some(port) = fills_port.as_mut()
                        && let Some(boundary) = frontier_epoch(frontier.frontier()).and_then(|f| port.due(f))
                    {
                        port.save(boundary, &recent.get(&(boundary - 1)).cloned().unwrap_or_default());
                        let keep_from = port.next_boundary() - 1;
                        recent.retain(|t, _| *t >= keep_from);
                    }
                }
            })
            .as_collection();
        let booked = positions
            .unary_frontier(Exchange::new(|p: &Position| p.symbol.route()), "PositionChanges", move |_, _| {
                let mut held: HashMap<(String, Symbol), i64> =
                    held_port.as_ref().and_then(SnapshotPort::restore_or_panic).unwrap_or_default();
                let mut stash = EpochStash::<Position>::default();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                    // Epoch by epoch, so that a snapshot holds the positions before its boundary.
                    while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                        checkpoint(&mut held_port, Some(epoch), || held.clone());
                        let Some((cap, batch)) = stash.take(epoch) else { break };
                        let mut session = output.session(&cap);
                        for p in batch {
                            let now = micro_units(p.qty);
                            let before = held.insert((p.account.clone(), p.symbol), now).unwrap_or(0);
                            if now != before {
                                session.give(((p.account, p.symbol), epoch, now - before));
                            }
                        }
                    }
                    checkpoint(&mut held_port, frontier_epoch(frontier.frontier()), || held.clone());
                }
            })
            .as_collection();
        fills.concat(booked.negate()).count().inner.flat_map(move |(((account, symbol), gap), time, diff)| {
            // Before the boundary a restarted job only replays what was booked then.
            (diff > 0 && time >= start).then(|| RiskEvent {
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
