//! Extension method for computing over one whole epoch at a time, across symbols: the shape
//! of a batched kernel launch.

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::ExchangeData;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;

use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, frontier_epoch, ready_epoch};

/// A state machine an operator drives whose state goes into snapshots: what it saves, and how
/// it takes that back after a restart. Its configuration (kernels, parameters) is not state.
pub trait Resumable: 'static {
    type State: Serialize + DeserializeOwned;
    fn state(&self) -> Self::State;
    fn resume(&mut self, state: Self::State);
}

/// Nothing to keep.
impl Resumable for () {
    type State = ();
    fn state(&self) {}
    fn resume(&mut self, _state: ()) {}
}

/// Extension trait for epoch batches.
pub trait EpochBatch<'scope, D1: ExchangeData> {
    /// Gathers each complete epoch of `self` and `other` (routed to workers by `route1` and
    /// `route2`) and calls `logic(epoch, ours, theirs, out)` once per epoch, oldest first, with
    /// everything the worker received for it; what `logic` pushes to `out` is emitted at that
    /// epoch. A batched kernel launches once per call.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::Capture;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::batch::EpochBatch;
    /// use tradeflow_operators::testing::records;
    ///
    /// let captured = timely::example(|scope| {
    ///     let prices = vec![1.0f64, 2.0, 3.0].to_stream(scope);
    ///     let sizes = vec![10u64, 20].to_stream(scope);
    ///     prices
    ///         .epoch_batch(sizes, "Sum", |_| 0, |_| 0, |_epoch, p: Vec<f64>, s: Vec<u64>, out: &mut Vec<String>| {
    ///             out.push(format!("{} prices, {} sizes", p.len(), s.len()))
    ///         })
    ///         .capture()
    /// });
    /// assert_eq!(records(captured), ["3 prices, 2 sizes"]);
    /// ```
    fn epoch_batch<D2, R, L>(
        self,
        other: StreamVec<'scope, u64, D2>,
        name: &str,
        route1: impl Fn(&D1) -> u64 + 'static,
        route2: impl Fn(&D2) -> u64 + 'static,
        logic: L,
    ) -> StreamVec<'scope, u64, R>
    where
        D2: ExchangeData,
        R: Clone + 'static,
        L: FnMut(u64, Vec<D1>, Vec<D2>, &mut Vec<R>) + 'static;

    /// [`epoch_batch`](Self::epoch_batch) driving `machine`, whose state is in the snapshots:
    /// `logic(machine, epoch, ours, theirs, out)`.
    #[allow(clippy::too_many_arguments)]
    fn epoch_batch_saved<D2, R, M, L>(
        self,
        other: StreamVec<'scope, u64, D2>,
        name: &str,
        route1: impl Fn(&D1) -> u64 + 'static,
        route2: impl Fn(&D2) -> u64 + 'static,
        machine: M,
        logic: L,
        snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, R>
    where
        D2: ExchangeData,
        R: Clone + 'static,
        M: Resumable,
        L: FnMut(&mut M, u64, Vec<D1>, Vec<D2>, &mut Vec<R>) + 'static;
}

impl<'scope, D1: ExchangeData> EpochBatch<'scope, D1> for StreamVec<'scope, u64, D1> {
    fn epoch_batch<D2, R, L>(
        self,
        other: StreamVec<'scope, u64, D2>,
        name: &str,
        route1: impl Fn(&D1) -> u64 + 'static,
        route2: impl Fn(&D2) -> u64 + 'static,
        mut logic: L,
    ) -> StreamVec<'scope, u64, R>
    where
        D2: ExchangeData,
        R: Clone + 'static,
        L: FnMut(u64, Vec<D1>, Vec<D2>, &mut Vec<R>) + 'static,
    {
        let logic = move |_: &mut (), epoch, first, second, out: &mut Vec<R>| logic(epoch, first, second, out);
        self.epoch_batch_saved(other, name, route1, route2, (), logic, None)
    }

    fn epoch_batch_saved<D2, R, M, L>(
        self,
        other: StreamVec<'scope, u64, D2>,
        name: &str,
        route1: impl Fn(&D1) -> u64 + 'static,
        route2: impl Fn(&D2) -> u64 + 'static,
        mut machine: M,
        mut logic: L,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, R>
    where
        D2: ExchangeData,
        R: Clone + 'static,
        M: Resumable,
        L: FnMut(&mut M, u64, Vec<D1>, Vec<D2>, &mut Vec<R>) + 'static,
    {
        self.binary_frontier(other, Exchange::new(route1), Exchange::new(route2), name, move |_initial, _info| {
            let mut ours = EpochStash::<D1>::default();
            let mut theirs = EpochStash::<D2>::default();
            let mut out = Vec::new();
            if let Some(state) = snapshot.as_ref().and_then(SnapshotPort::restore_or_panic) {
                machine.resume(state);
            }
            move |(input1, frontier1), (input2, frontier2), output| {
                input1.for_each_stamp(|cap, data| ours.push(&cap, 0, data));
                input2.for_each_stamp(|cap, data| theirs.push(&cap, 0, data));
                while let Some(epoch) = ready_epoch([ours.first_epoch(), theirs.first_epoch()], &[frontier1, frontier2])
                {
                    checkpoint(&mut snapshot, Some(epoch), || machine.state());
                    let (cap1, first) = ours.take(epoch).map_or((None, Vec::new()), |(c, v)| (Some(c), v));
                    let (cap2, second) = theirs.take(epoch).map_or((None, Vec::new()), |(c, v)| (Some(c), v));
                    let Some(cap) = cap1.or(cap2) else { continue };
                    logic(&mut machine, epoch, first, second, &mut out);
                    if !out.is_empty() {
                        output.session(&cap).give_iterator(out.drain(..));
                    }
                }
                let upto =
                    frontier_epoch(frontier1.frontier()).into_iter().chain(frontier_epoch(frontier2.frontier())).min();
                checkpoint(&mut snapshot, upto, || machine.state());
            }
        })
    }
}
