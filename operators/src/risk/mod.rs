//! The risk book and the extension method that runs it over signals, marks, fills and control.

pub mod book;
mod checks;
mod epoch;
pub mod params;

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, InputCapability};

pub use book::{Decision, RiskBook};
pub use epoch::{EpochInputs, Input, Mark};
pub use params::{RiskParams, Sizing, Tier};

use crate::broker::Execution;
use crate::event::{Audit, Bar, Control, Order, Pnl, Position, RiskEvent, Signal, route_str};
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{append, frontier_epoch};
use crate::symbols::SymbolTable;

/// The risk book's inputs. Each is routed to the worker of the account.
pub struct RiskInputs<'scope> {
    pub signals: StreamVec<'scope, u64, Signal>,
    /// Bars whose close is the symbol's latest trade price at the bar's end (the one-second
    /// bars): the marks the book values positions at.
    pub marks: StreamVec<'scope, u64, Bar>,
    pub control: StreamVec<'scope, u64, Control>,
    /// The broker's fills and expiries, fed back one epoch after the broker made them.
    pub reports: StreamVec<'scope, u64, Execution>,
}

/// The risk book's output streams.
pub struct RiskStreams<'scope> {
    pub orders: StreamVec<'scope, u64, Order>,
    pub events: StreamVec<'scope, u64, RiskEvent>,
    pub positions: StreamVec<'scope, u64, Position>,
    pub pnl: StreamVec<'scope, u64, Pnl>,
    pub audit: StreamVec<'scope, u64, Audit>,
}

/// Extension trait for running the risk book.
pub trait RiskCheck<'scope> {
    /// Routes every input to the worker of the account, and once every input's frontier has
    /// passed an epoch applies its inputs in a fixed order ([`EpochInputs::in_order`]): broker
    /// reports, then by time marks, signals, control; then looks for stale symbols. Emits
    /// orders that passed every check with their audit records, risk events, positions after
    /// fills, and a P&L row for each epoch that saw a mark or a fill.
    fn risk(self, params: Arc<RiskParams>, symbols: Arc<SymbolTable>) -> RiskStreams<'scope>
    where
        Self: Sized,
    {
        self.risk_saved(params, symbols, None)
    }

    /// [`risk`](Self::risk), with the book (limits changed by control included) in the
    /// snapshots.
    fn risk_saved(
        self,
        params: Arc<RiskParams>,
        symbols: Arc<SymbolTable>,
        snapshot: Option<SnapshotPort>,
    ) -> RiskStreams<'scope>;
}

/// The outputs, in the order of their ports.
const OUTPUTS: usize = 5;

impl<'scope> RiskCheck<'scope> for RiskInputs<'scope> {
    fn risk_saved(
        self,
        params: Arc<RiskParams>,
        symbols: Arc<SymbolTable>,
        mut snapshot: Option<SnapshotPort>,
    ) -> RiskStreams<'scope> {
        let RiskInputs { signals, marks, control, reports } = self;
        let route = route_str(&params.account);
        let mut builder = OperatorBuilder::new("RiskBook".to_owned(), signals.scope());
        let mut signals = builder.new_input(signals, Exchange::new(move |_: &Signal| route));
        let mut marks = builder.new_input(marks, Exchange::new(move |_: &Bar| route));
        let mut control = builder.new_input(control, Exchange::new(move |_: &Control| route));
        let mut reports = builder.new_input(reports, Exchange::new(move |_: &Execution| route));
        let (orders_out, orders) = builder.new_output();
        let (events_out, events) = builder.new_output();
        let (positions_out, positions) = builder.new_output();
        let (pnl_out, pnl) = builder.new_output();
        let (audit_out, audit) = builder.new_output();
        let (mut orders_out, mut events_out, mut positions_out, mut pnl_out, mut audit_out) = (
            OutputBuilder::<_, CapacityContainerBuilder<Vec<Order>>>::from(orders_out),
            OutputBuilder::<_, CapacityContainerBuilder<Vec<RiskEvent>>>::from(events_out),
            OutputBuilder::<_, CapacityContainerBuilder<Vec<Position>>>::from(positions_out),
            OutputBuilder::<_, CapacityContainerBuilder<Vec<Pnl>>>::from(pnl_out),
            OutputBuilder::<_, CapacityContainerBuilder<Vec<Audit>>>::from(audit_out),
        );
        builder.build(move |initial| {
            let mut stash = Stash::new();
            // At boundary `b` the broker's reports for `b` (made at `b - 1`) are on the
            // feedback edge: the snapshot keeps them with the book, and they are booked at
            // `b` after a restart.
            let restored: Option<(RiskBook, Vec<Execution>)> =
                snapshot.as_ref().and_then(SnapshotPort::restore_or_panic);
            let mut book = match restored {
                Some((book, reports)) => {
                    let start = snapshot.as_ref().map_or(0, SnapshotPort::start);
                    let caps = std::array::from_fn(|port| initial[port].delayed(&start));
                    stash.insert(start, (caps, EpochInputs { reports, ..EpochInputs::default() }));
                    book
                }
                None => RiskBook::new(Arc::clone(&params)),
            };
            drop(initial);
            let (mut decisions, mut places) = (Vec::new(), Vec::new());
            move |frontiers| {
                signals.for_each_stamp(|cap, data| {
                    if let Some(inputs) = epoch_of(&mut stash, &cap) {
                        data.for_each(|batch| append(&mut inputs.signals, batch));
                    }
                });
                marks.for_each_stamp(|cap, data| {
                    if let Some(inputs) = epoch_of(&mut stash, &cap) {
                        inputs.marks.extend(data.flat_map(|batch| batch.iter().map(Mark::from)));
                    }
                });
                control.for_each_stamp(|cap, data| {
                    if let Some(inputs) = epoch_of(&mut stash, &cap) {
                        data.for_each(|batch| append(&mut inputs.control, batch));
                    }
                });
                reports.for_each_stamp(|cap, data| {
                    if let Some(inputs) = epoch_of(&mut stash, &cap) {
                        data.for_each(|batch| append(&mut inputs.reports, batch));
                    }
                });
                let (mut orders_out, mut events_out, mut positions_out, mut pnl_out, mut audit_out) = (
                    orders_out.activate(),
                    events_out.activate(),
                    positions_out.activate(),
                    pnl_out.activate(),
                    audit_out.activate(),
                );
                while let Some(epoch) =
                    stash.keys().next().copied().filter(|e| frontiers.iter().all(|f| !f.less_equal(e)))
                {
                    let Some((caps, mut inputs)) = stash.remove(&epoch) else { break };
                    if let Some((port, boundary)) = snapshot.as_mut().and_then(|p| p.due(epoch).map(|b| (p, b))) {
                        let reports: &[Execution] = if epoch == boundary { &inputs.reports } else { &[] };
                        port.save(boundary, &(&book, reports));
                    }
                    let now = inputs.latest();
                    let mut booked = false;
                    for &(_, input) in inputs.in_order(&mut places) {
                        match input {
                            Input::Report(i) => match &inputs.reports[i as usize] {
                                Execution::Fill(f) => {
                                    decisions.push(Decision::Position(book.apply_fill(f)));
                                    booked = true;
                                }
                                Execution::Expired(e) => book.apply_expiry(e),
                            },
                            Input::Mark(i) => {
                                let Mark { symbol, ts, price } = inputs.marks[i as usize];
                                book.on_trade(symbol, ts, price, &symbols, &mut decisions);
                                booked = true;
                            }
                            Input::Signal(i) => book.on_signal(&inputs.signals[i as usize], &symbols, &mut decisions),
                            Input::Control(i) => book.on_control(&inputs.control[i as usize], &symbols, &mut decisions),
                        }
                    }
                    if let Some(now) = now {
                        book.check_stale(now, &symbols, &mut decisions);
                    }
                    let [orders_cap, events_cap, positions_cap, pnl_cap, audit_cap] = &caps;
                    let mut orders = orders_out.session(orders_cap);
                    let mut events = events_out.session(events_cap);
                    let mut positions = positions_out.session(positions_cap);
                    let mut audit = audit_out.session(audit_cap);
                    for decision in decisions.drain(..) {
                        match decision {
                            Decision::Order(o) => orders.give(o),
                            Decision::Event(e) => events.give(e),
                            Decision::Position(p) => positions.give(p),
                            Decision::Audit(a) => audit.give(a),
                        }
                    }
                    if let Some(ts) = now.filter(|_| booked) {
                        pnl_out.session(pnl_cap).give(book.pnl(ts));
                    }
                }
                // Only once every frontier is past `b` have all of `b`'s reports arrived (and
                // any there were, were taken above).
                // (A frontier still at 0 says nothing yet; an empty one, that the input ended.)
                let upto = frontiers.iter().filter_map(|f| frontier_epoch(f.frontier())).min();
                checkpoint(&mut snapshot, upto.map(|f| f.saturating_sub(1)), || (&book, Vec::<Execution>::new()));
            }
        });
        RiskStreams { orders, events, positions, pnl, audit }
    }
}

/// Each stashed epoch's inputs, with a capability on every output.
type Stash = BTreeMap<u64, ([Capability<u64>; OUTPUTS], EpochInputs)>;

/// The inputs of the epoch of `cap`, stashed under capabilities at that epoch.
fn epoch_of<'a>(stash: &'a mut Stash, cap: &InputCapability<u64>) -> Option<&'a mut EpochInputs> {
    let &time = cap.least()?;
    let held = stash
        .entry(time)
        .or_insert_with(|| (std::array::from_fn(|port| cap.delayed(&time, port)), EpochInputs::default()));
    Some(&mut held.1)
}
