//! Brokers, and the extension method that executes orders against the tick stream.

pub mod paper;

use std::collections::BTreeMap;

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
            move |initial, _info| {
                let mut orders = EpochStash::<Order>::default();
                // Ticks are kept without a capability: a fill needs a working order, and the
                // capability of the orders still working is `working`. An idle broker holds
                // none, so the book's reports of an epoch do not wait for the broker to step
                // through every epoch of ticks (the feedback loop would advance one epoch per
                // worker step).
                let mut ticks: BTreeMap<u64, Vec<Tick>> = BTreeMap::new();
                let restored = snapshot.as_ref().and_then(SnapshotPort::restore_or_panic::<PaperBroker>);
                let start = snapshot.as_ref().map_or(0, SnapshotPort::start);
                let mut broker = restored.unwrap_or_else(|| PaperBroker::new(params));
                // Held while orders work, at or before the next epoch to execute.
                let mut working = broker.has_open().then(|| initial.delayed(&start));
                let mut fills = Vec::new();
                move |(input1, frontier1), (input2, frontier2), output| {
                    input1.for_each_stamp(|cap, data| orders.push(&cap, 0, data));
                    input2.for_each_stamp(|cap, data| {
                        if let Some(&epoch) = cap.least() {
                            let kept = ticks.entry(epoch).or_default();
                            data.for_each(|batch| kept.append(batch));
                        }
                    });
                    while let Some(epoch) = ready_epoch(
                        [orders.first_epoch(), ticks.first_key_value().map(|(e, _)| *e)],
                        &[frontier1, frontier2],
                    ) {
                        checkpoint(&mut snapshot, Some(epoch), || &broker);
                        if let Some((cap, mut batch)) = orders.take(epoch) {
                            batch.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
                            batch.into_iter().for_each(|o| broker.submit(o));
                            working.get_or_insert(cap);
                        }
                        let batch = ticks.remove(&epoch);
                        if let (Some(cap), Some(mut batch)) = (working.as_ref(), batch)
                            && broker.has_open()
                        {
                            // Only the ticks that can fill something, in event-time order per symbol.
                            batch.retain(|t| broker.has_open_for(t.symbol));
                            batch.sort_by_key(|t| (t.symbol, t.ts));
                            for tick in &batch {
                                broker.on_tick(tick, &mut fills);
                            }
                            if !fills.is_empty() {
                                output.session(&cap.delayed(&epoch)).give_iterator(fills.drain(..));
                            }
                        }
                        if !broker.has_open() {
                            working = None;
                        }
                    }
                    // Fills come only from ticks not yet applied: none once the ticks have ended.
                    // (An order behind the ticks may find `working` ahead of its epoch: no tick
                    // can come between the two.)
                    if let Some(cap) = working.as_mut() {
                        let next_tick = ticks.first_key_value().map(|(e, _)| *e);
                        match next_tick.into_iter().chain(frontier_epoch(frontier2.frontier())).min() {
                            None => working = None,
                            Some(next) if next > *cap.time() => cap.downgrade(&next),
                            Some(_) => {}
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

#[cfg(test)]
mod tests {
    use timely::dataflow::operators::Probe;
    use timely::dataflow::operators::capture::{Capture, Event};
    use timely::dataflow::operators::vec::Input;

    use super::*;
    use crate::event::{OrderKind, Side, Symbol};

    fn buy(ts: i64, limit_price: Option<f64>) -> Order {
        Order {
            id: format!("o{ts}"),
            account: "a".into(),
            symbol: Symbol(0),
            ts,
            side: Side::Buy,
            qty: 5.0,
            kind: if limit_price.is_some() { OrderKind::Limit } else { OrderKind::Market },
            limit_price,
            expires: None,
            decision_price: 100.0,
            reason: String::new(),
        }
    }

    fn tick(ts: i64) -> Tick {
        Tick { symbol: Symbol(0), ts, price: 100.0, size: 2.0, bid: None, ask: None }
    }

    /// Runs the broker over `orders` and `ticks` (each at its epoch, the epoch being the event
    /// time here), then 100 more worker steps. Returns the epochs the fills came at and whether
    /// the broker's output had finished.
    fn execute(orders: Vec<Order>, ticks: Vec<Tick>) -> (Vec<(u64, f64)>, bool) {
        timely::execute_directly(move |worker| {
            let (tx, captured) = std::sync::mpsc::channel();
            let (mut order_input, mut tick_input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (order_input, orders) = scope.new_input::<Order>();
                let (tick_input, ticks) = scope.new_input::<Tick>();
                let params = BrokerParams { latency_ms: 0.0, ..BrokerParams::default() };
                let (probe, executions) = orders.paper_broker(ticks, params).probe();
                executions.capture_into(tx);
                (order_input, tick_input, probe)
            });
            let last = ticks.iter().map(|t| t.ts as u64).chain(orders.iter().map(|o| o.ts as u64)).max().unwrap_or(0);
            // The ticks run ahead of the orders, as the source runs ahead of the risk book.
            for epoch in 0..=last {
                tick_input.advance_to(epoch);
                ticks.iter().filter(|t| t.ts as u64 == epoch).for_each(|t| tick_input.send(t.clone()));
                worker.step();
            }
            tick_input.close();
            for epoch in 0..=last {
                order_input.advance_to(epoch);
                orders.iter().filter(|o| o.ts as u64 == epoch).for_each(|o| order_input.send(o.clone()));
                worker.step();
            }
            order_input.close();
            for _ in 0..100 {
                worker.step();
            }
            let done = probe.done();
            // Not left to `execute_directly`, which would wait for ever for a broker that holds on.
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
            let fills = captured
                .try_iter()
                .flat_map(|event| match event {
                    Event::Messages(epoch, data) => data
                        .into_iter()
                        .filter_map(|e| match e {
                            Execution::Fill(f) => Some((epoch.elements()[0], f.qty)),
                            Execution::Expired(_) => None,
                        })
                        .collect(),
                    Event::Progress(_) => Vec::new(),
                })
                .collect();
            (fills, done)
        })
    }

    #[test]
    fn fills_come_at_the_epoch_of_the_tick_that_made_them() {
        // 5 units against ticks of 2: filled over the ticks of epochs 3, 4 and 6.
        let (fills, done) = execute(vec![buy(2, None)], vec![tick(1), tick(3), tick(4), tick(6), tick(8)]);
        assert_eq!(fills, vec![(3, 2.0), (4, 2.0), (6, 1.0)]);
        assert!(done);
    }

    #[test]
    fn an_order_still_working_when_the_ticks_end_lets_the_dataflow_finish() {
        // A limit far below the market never fills: the broker holds it, but with no ticks to
        // come it must not hold its output (with two workers, the job waited for ever).
        let (fills, done) = execute(vec![buy(1, Some(50.0))], vec![tick(2), tick(3)]);
        assert!(fills.is_empty(), "{fills:?}");
        assert!(done, "the broker's output did not finish");
    }

    #[test]
    fn an_order_behind_the_ticks_while_another_works_fills_at_its_ticks() {
        // The limit at 1 works on; the ticks reach epoch 10 before the market order at 5 comes,
        // which fills at the tick of epoch 10.
        let (fills, done) =
            execute(vec![buy(1, Some(50.0)), buy(5, None)], vec![tick(2), tick(10), tick(11), tick(12)]);
        assert_eq!(fills, vec![(10, 2.0), (11, 2.0), (12, 1.0)]);
        assert!(done);
    }
}
