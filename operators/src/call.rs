//! Calling out of the dataflow (a model server, an API) without blocking a worker.
//!
//! Once the input frontier has passed an epoch, the operator hands that epoch's records to a
//! planner, which answers with [`Call`]s: results known at once, or futures. Futures run on a
//! tokio runtime, at most `max_in_flight` at a time per worker, each bounded by `timeout` (past
//! it, the call's own fallback answers). The operator holds the epoch's capability until every
//! call of the epoch has answered, so downstream frontiers (and, through the sources' pacing,
//! the sources themselves) wait for slow calls rather than memory growing; epochs are emitted
//! oldest first, each epoch's results in the order the caller gives.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::scheduling::SyncActivator;

use crate::stash::EpochStash;

/// A boxed future that can move to the runtime's threads.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the planner asks for one group of records.
pub enum Call<R> {
    /// Results known without waiting (a cache hit, an in-process model).
    Ready(Vec<R>),
    /// Results that arrive later. `on_timeout` answers instead if `future` has not finished
    /// within the operator's timeout.
    Pending { future: BoxFuture<Vec<R>>, on_timeout: Box<dyn FnOnce() -> Vec<R> + Send> },
    /// Results that arrive later from a future that bounds its own waiting (it waits for other
    /// calls, each under the timeout, then makes its own with one): the operator puts no
    /// timeout on it.
    SelfTimed(BoxFuture<Vec<R>>),
}

/// How much the operator may have outstanding, and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallLimits {
    /// Calls running at once on this worker; later calls queue (their epochs wait).
    pub max_in_flight: usize,
    /// How long one call may take before its fallback answers.
    pub timeout: Duration,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits { max_in_flight: 4, timeout: Duration::from_secs(30) }
    }
}

/// Extension trait for calling out of the dataflow.
pub trait CallOut<'scope, D> {
    /// For each epoch, once complete, `plan(epoch, records)` returns the calls to make; their
    /// results are emitted at that epoch, sorted by `order`, after every earlier epoch's.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use timely::dataflow::channels::pact::Pipeline;
    /// use timely::dataflow::operators::Capture;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::call::{Call, CallLimits, CallOut};
    /// use tradeflow_operators::testing::records;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
    /// let handle = runtime.handle().clone();
    /// let captured = timely::example(move |scope| {
    ///     let limits = CallLimits { max_in_flight: 2, timeout: Duration::from_millis(500) };
    ///     (1..=3u64)
    ///         .to_stream(scope)
    ///         .call_out("Double", Pipeline, handle, limits, |_epoch, xs: Vec<u64>| {
    ///             let future = Box::pin(async move { xs.iter().map(|x| x * 2).collect() });
    ///             vec![Call::Pending { future, on_timeout: Box::new(Vec::new) }]
    ///         }, u64::cmp)
    ///         .capture()
    /// });
    /// assert_eq!(records(captured), vec![2, 4, 6]);
    /// ```
    fn call_out<R, P, F, K>(
        self,
        name: &str,
        pact: P,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
        plan: F,
        order: K,
    ) -> StreamVec<'scope, u64, R>
    where
        R: Clone + Send + 'static,
        P: ParallelizationContract<u64, Vec<D>>,
        F: FnMut(u64, Vec<D>) -> Vec<Call<R>> + 'static,
        K: Fn(&R, &R) -> Ordering + 'static,
        Self: Sized,
    {
        self.call_out_with(name, pact, runtime, limits, plan, order, |_| true)
    }

    /// [`call_out`](Self::call_out), telling `progress` how far planning has got: before each
    /// epoch is planned (`Some(epoch)`: every earlier epoch is planned) and with the input
    /// frontier after (`None` once the input has ended). The planner's state can be saved
    /// there for a snapshot. `progress` returning false holds planning (a snapshot of state
    /// the answers change waits for the calls in flight); it is asked again when one answers.
    #[allow(clippy::too_many_arguments)]
    fn call_out_with<R, P, F, K, G>(
        self,
        name: &str,
        pact: P,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
        plan: F,
        order: K,
        progress: G,
    ) -> StreamVec<'scope, u64, R>
    where
        R: Clone + Send + 'static,
        P: ParallelizationContract<u64, Vec<D>>,
        F: FnMut(u64, Vec<D>) -> Vec<Call<R>> + 'static,
        K: Fn(&R, &R) -> Ordering + 'static,
        G: FnMut(Option<u64>) -> bool + 'static;
}

/// One epoch's capability, its results so far, and how many calls have yet to answer.
struct Epoch<R> {
    cap: Capability<u64>,
    results: Vec<R>,
    outstanding: usize,
}

struct Queued<R> {
    epoch: u64,
    future: BoxFuture<Vec<R>>,
    /// `None`: the future bounds its own waiting ([`Call::SelfTimed`]).
    on_timeout: Option<Box<dyn FnOnce() -> Vec<R> + Send>>,
}

impl<'scope, D: Clone + 'static> CallOut<'scope, D> for StreamVec<'scope, u64, D> {
    fn call_out_with<R, P, F, K, G>(
        self,
        name: &str,
        pact: P,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
        mut plan: F,
        order: K,
        mut progress: G,
    ) -> StreamVec<'scope, u64, R>
    where
        R: Clone + Send + 'static,
        P: ParallelizationContract<u64, Vec<D>>,
        F: FnMut(u64, Vec<D>) -> Vec<Call<R>> + 'static,
        K: Fn(&R, &R) -> Ordering + 'static,
        G: FnMut(Option<u64>) -> bool + 'static,
    {
        let worker = self.scope().worker();
        let max_in_flight = limits.max_in_flight.max(1);
        self.unary_frontier::<CapacityContainerBuilder<Vec<R>>, _, _, _>(pact, name, move |_initial, info| {
            let activator: SyncActivator = worker.sync_activator_for(info.address.to_vec());
            let (answers_tx, answers) = mpsc::channel::<(u64, Vec<R>)>();
            let mut stash = EpochStash::<D>::default();
            let mut epochs: BTreeMap<u64, Epoch<R>> = BTreeMap::new();
            let mut queue: VecDeque<Queued<R>> = VecDeque::new();
            let mut in_flight = 0usize;
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                let mut held = false;
                while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                    if !progress(Some(epoch)) {
                        // Asked again when an answer comes.
                        held = true;
                        break;
                    }
                    let Some((cap, batch)) = stash.take(epoch) else { break };
                    let mut state = Epoch { cap, results: Vec::new(), outstanding: 0 };
                    for call in plan(epoch, batch) {
                        match call {
                            Call::Ready(mut results) => state.results.append(&mut results),
                            Call::Pending { future, on_timeout } => {
                                state.outstanding += 1;
                                queue.push_back(Queued { epoch, future, on_timeout: Some(on_timeout) });
                            }
                            Call::SelfTimed(future) => {
                                state.outstanding += 1;
                                queue.push_back(Queued { epoch, future, on_timeout: None });
                            }
                        }
                    }
                    epochs.insert(epoch, state);
                }
                if !held {
                    progress(frontier.frontier().iter().min().copied());
                }
                while let Ok((epoch, mut results)) = answers.try_recv() {
                    in_flight -= 1;
                    if let Some(state) = epochs.get_mut(&epoch) {
                        state.outstanding -= 1;
                        state.results.append(&mut results);
                    }
                }
                while in_flight < max_in_flight {
                    let Some(Queued { epoch, future, on_timeout }) = queue.pop_front() else { break };
                    in_flight += 1;
                    let answers_tx = answers_tx.clone();
                    let activator = activator.clone();
                    let timeout = limits.timeout;
                    runtime.spawn(async move {
                        let results = match on_timeout {
                            Some(on_timeout) => match tokio::time::timeout(timeout, future).await {
                                Ok(results) => results,
                                Err(_) => on_timeout(),
                            },
                            None => future.await,
                        };
                        // The operator may be gone (the job stopped); nothing is waiting then.
                        let _ = answers_tx.send((epoch, results));
                        let _ = activator.activate();
                    });
                }
                while epochs.first_key_value().is_some_and(|(_, state)| state.outstanding == 0) {
                    let Some((_, mut state)) = epochs.pop_first() else { break };
                    state.results.sort_by(&order);
                    output.session(&state.cap).give_container(&mut state.results);
                }
            }
        })
    }
}
