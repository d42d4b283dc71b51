//! Extension method for computing over one whole epoch at a time, across symbols: the shape
//! of a batched kernel launch.

use timely::ExchangeData;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;

use crate::stash::{EpochStash, ready_epoch};

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
        self.binary_frontier(other, Exchange::new(route1), Exchange::new(route2), name, move |_initial, _info| {
            let mut ours = EpochStash::<D1>::default();
            let mut theirs = EpochStash::<D2>::default();
            let mut out = Vec::new();
            move |(input1, frontier1), (input2, frontier2), output| {
                input1.for_each_stamp(|cap, data| ours.push(&cap, 0, data));
                input2.for_each_stamp(|cap, data| theirs.push(&cap, 0, data));
                while let Some(epoch) = ready_epoch([ours.first_epoch(), theirs.first_epoch()], &[frontier1, frontier2])
                {
                    let (cap1, first) = ours.take(epoch).map_or((None, Vec::new()), |(c, v)| (Some(c), v));
                    let (cap2, second) = theirs.take(epoch).map_or((None, Vec::new()), |(c, v)| (Some(c), v));
                    let Some(cap) = cap1.or(cap2) else { continue };
                    logic(epoch, first, second, &mut out);
                    if !out.is_empty() {
                        output.session(&cap).give_iterator(out.drain(..));
                    }
                }
            }
        })
    }
}
