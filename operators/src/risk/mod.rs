//! The risk book and the extension method that runs it over signals, marks, fills and control.

pub mod book;
mod checks;
pub mod params;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

pub use book::{Decision, RiskBook};
pub use params::{RiskParams, Sizing, Tier};

use crate::event::{Audit, Control, Expiry, Fill, Order, Pnl, Position, RiskEvent, Signal, Symbol, Ts, route_str};
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, frontier_epoch};
use crate::symbols::SymbolTable;

/// Everything the risk book consumes, merged into one stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RiskInput {
    /// Our own fill, fed back one epoch after the broker made it. (The large variants are
    /// boxed: a trade, the most frequent input, then moves as 32 bytes.)
    Fill(Box<Fill>),
    /// The unfilled rest of one of our orders expired, fed back like fills.
    Expired(Box<Expiry>),
    Control(Control),
    /// The latest trade price of a symbol (a 1-second bar's close).
    Trade {
        symbol: Symbol,
        ts: Ts,
        price: f64,
    },
    Signal(Box<Signal>),
}

impl RiskInput {
    /// Broker reports first (they belong to the previous epoch), then by event time; at equal
    /// times trades, then signals, then control; then by symbol. This order makes the book's
    /// decisions the same for any number of workers and any epoch length: trades and signals
    /// come from bars, which close at their end but are stamped at the epoch of their last
    /// instant, before a control message of that same time can arrive.
    fn order_key(&self) -> (u8, Ts, u8, u32) {
        match self {
            RiskInput::Fill(f) => (0, f.ts, 0, f.symbol.0),
            RiskInput::Expired(e) => (0, e.ts, 1, e.symbol.0),
            RiskInput::Trade { symbol, ts, .. } => (1, *ts, 0, symbol.0),
            RiskInput::Signal(s) => (1, s.ts, 1, s.symbol.0),
            RiskInput::Control(c) => (1, c.ts, 2, 0),
        }
    }

    /// Ties between broker reports of one symbol at one time: by order id.
    fn order_id(&self) -> Option<&str> {
        match self {
            RiskInput::Fill(f) => Some(&f.order_id),
            RiskInput::Expired(e) => Some(&e.order_id),
            _ => None,
        }
    }
}

/// The risk book's output streams.
pub struct RiskStreams<'scope> {
    pub orders: StreamVec<'scope, u64, Order>,
    pub events: StreamVec<'scope, u64, RiskEvent>,
    pub positions: StreamVec<'scope, u64, Position>,
    pub pnl: StreamVec<'scope, u64, Pnl>,
    pub audit: StreamVec<'scope, u64, Audit>,
}

#[derive(Clone, Debug, PartialEq)]
enum RiskOutput {
    Decision(Decision),
    Pnl(Pnl),
}

/// Extension trait for running the risk book.
pub trait RiskCheck<'scope> {
    /// Routes every input to the worker of the account, and once the frontier has passed an
    /// epoch applies its inputs in [`RiskInput`]'s fixed order: broker reports, then by time
    /// trades, signals, control; then looks for stale symbols. Emits orders that passed every
    /// check with their audit records, risk events, positions after fills, and a P&L row for
    /// each epoch that saw a trade or a fill.
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

impl<'scope> RiskCheck<'scope> for StreamVec<'scope, u64, RiskInput> {
    fn risk_saved(
        self,
        params: Arc<RiskParams>,
        symbols: Arc<SymbolTable>,
        mut snapshot: Option<SnapshotPort>,
    ) -> RiskStreams<'scope> {
        let route = route_str(&params.account);
        let outputs =
            self.unary_frontier(Exchange::new(move |_: &RiskInput| route), "RiskBook", move |initial, _info| {
                let mut stash = EpochStash::<RiskInput>::default();
                // At boundary `b` the broker's reports for `b` (made at `b - 1`) are on the
                // feedback edge: the snapshot keeps them with the book, and they are booked at
                // `b` after a restart.
                let restored: Option<(RiskBook, Vec<RiskInput>)> =
                    snapshot.as_ref().and_then(SnapshotPort::restore_or_panic);
                let mut book = match restored {
                    Some((book, reports)) => {
                        let start = snapshot.as_ref().map_or(0, SnapshotPort::start);
                        stash.insert(initial.delayed(&start), reports);
                        book
                    }
                    None => RiskBook::new((*params).clone()),
                };
                let reports_at = |inputs: &[RiskInput]| -> Vec<RiskInput> {
                    inputs.iter().filter(|i| matches!(i, RiskInput::Fill(_) | RiskInput::Expired(_))).cloned().collect()
                };
                let mut decisions = Vec::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                    while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                        let Some((cap, mut inputs)) = stash.take(epoch) else {
                            break;
                        };
                        if let Some((port, boundary)) = snapshot.as_mut().and_then(|p| p.due(epoch).map(|b| (p, b))) {
                            let reports = if epoch == boundary { reports_at(&inputs) } else { Vec::new() };
                            port.save(boundary, &(&book, reports));
                        }
                        inputs.sort_by(|a, b| {
                            a.order_key().cmp(&b.order_key()).then_with(|| a.order_id().cmp(&b.order_id()))
                        });
                        let mut session = output.session(&cap);
                        let mut booked = false;
                        for item in &inputs {
                            match item {
                                RiskInput::Fill(f) => {
                                    decisions.push(Decision::Position(book.apply_fill(f)));
                                    booked = true;
                                }
                                RiskInput::Expired(e) => book.apply_expiry(e),
                                RiskInput::Control(c) => book.on_control(c, &symbols, &mut decisions),
                                RiskInput::Trade { symbol, ts, price } => {
                                    book.on_trade(*symbol, *ts, *price, &symbols, &mut decisions);
                                    booked = true;
                                }
                                RiskInput::Signal(s) => book.on_signal(s, &symbols, &mut decisions),
                            }
                            session.give_iterator(decisions.drain(..).map(RiskOutput::Decision));
                        }
                        let now = inputs.iter().map(|i| i.order_key().1).max();
                        if let Some(now) = now {
                            book.check_stale(now, &symbols, &mut decisions);
                            session.give_iterator(decisions.drain(..).map(RiskOutput::Decision));
                        }
                        if let Some(ts) = now.filter(|_| booked) {
                            session.give(RiskOutput::Pnl(book.pnl(ts)));
                        }
                    }
                    // Only once the frontier is past `b` have all of `b`'s reports arrived (and
                    // any there were, were taken above).
                    // (A frontier still at 0 says nothing yet; an empty one, that the input ended.)
                    let upto = frontier_epoch(frontier.frontier()).map(|f| f.saturating_sub(1));
                    checkpoint(&mut snapshot, upto, || (&book, Vec::<RiskInput>::new()));
                }
            });
        RiskStreams {
            orders: outputs.clone().flat_map(|o| match o {
                RiskOutput::Decision(Decision::Order(x)) => Some(x),
                _ => None,
            }),
            events: outputs.clone().flat_map(|o| match o {
                RiskOutput::Decision(Decision::Event(x)) => Some(x),
                _ => None,
            }),
            positions: outputs.clone().flat_map(|o| match o {
                RiskOutput::Decision(Decision::Position(x)) => Some(x),
                _ => None,
            }),
            audit: outputs.clone().flat_map(|o| match o {
                RiskOutput::Decision(Decision::Audit(x)) => Some(x),
                _ => None,
            }),
            pnl: outputs.flat_map(|o| match o {
                RiskOutput::Pnl(x) => Some(x),
                _ => None,
            }),
        }
    }
}
