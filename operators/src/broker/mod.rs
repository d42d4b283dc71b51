//! Brokers, and the extension method that executes orders against the tick stream.

pub mod paper;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

pub use paper::{BrokerParams, Execution, PaperBroker, SlippageModel};

use crate::event::{Order, Tick};
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, frontier_epoch, ready_epoch};

/// Extension trait for executing orders.
pub trait Execute<'scope> {
    /// Executes orders on the paper broker against `ticks`, per symbol. Once both frontiers have
    /// passed an epoch, its orders are opened first, then its ticks are applied in event-time
    /// order; each fill or expiry is emitted at the epoch of the tick that made it.
    fn paper_broker(
        self,
        ticks: StreamVec<'scope, u64, Tick>,
        params: BrokerParams,
    ) -> StreamVec<'scope, u64, Execution>
    where
        Self: Sized,
    {
        self.paper_broker_saved(ticks, params, None)
    }

    /// [`paper_broker`](Self::paper_broker), with the working orders in the snapshots.
    fn paper_broker_saved(
        self,
        ticks: StreamVec<'scope, u64, Tick>,
        params: BrokerParams,
        snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Execution>;
}

impl<'scope> Execute<'scope> for StreamVec<'scope, u64, Order> {
    fn paper_broker_saved(
        self,
        ticks: StreamVec<'scope, u64, Tick>,
        params: BrokerParams,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Execution> {
        self.binary_frontier(
            ticks,
            Exchange::new(|o: &Order| o.symbol.route()),
            Exchange::new(|t: &Tick| t.symbol.route()),
            "PaperBroker",
            move |_initial, _info| {
                let mut orders = EpochStash::<Order>::default();
                let mut ticks = EpochStash::<Tick>::default();
                let mut broker = snapshot
                    .as_ref()
                    .and_then(SnapshotPort::restore_or_panic)
                    .unwrap_or_else(|| PaperBroker::new(params));
                let mut fills = Vec::new();
                move |(input1, frontier1), (input2, frontier2), output| {
                    input1.for_each_stamp(|cap, data| orders.push(&cap, 0, data));
                    input2.for_each_stamp(|cap, data| ticks.push(&cap, 0, data));
                    while let Some(epoch) =
                        ready_epoch([orders.first_epoch(), ticks.first_epoch()], &[frontier1, frontier2])
                    {
                        checkpoint(&mut snapshot, Some(epoch), || &broker);
                        if let Some((_, mut batch)) = orders.take(epoch) {
                            batch.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
                            batch.into_iter().for_each(|o| broker.submit(o));
                        }
                        let Some((cap, mut batch)) = ticks.take(epoch) else {
                            continue;
                        };
                        if !broker.has_open() {
                            continue;
                        }
                        // Only the ticks that can fill something, in event-time order per symbol.
                        batch.retain(|t| broker.has_open_for(t.symbol));
                        batch.sort_by_key(|t| (t.symbol, t.ts));
                        for tick in &batch {
                            broker.on_tick(tick, &mut fills);
                        }
                        if !fills.is_empty() {
                            output.session(&cap).give_iterator(fills.drain(..));
                        }
                    }
                    let upto = frontier_epoch(frontier1.frontier())
                        .into_iter()
                        .chain(frontier_epoch(frontier2.frontier()))
                        .min();
                    checkpoint(&mut snapshot, upto, || &broker);
                }
            },
        )
    }
}
