//! Extension method for work that should not run ahead of another operator: formatting text
//! for the sinks only after the decisions that do not need it have been made.

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::stash::{EpochStash, ready_epoch};

/// Extension trait for mapping a stream behind another one's progress.
pub trait MapAfter<'scope, D> {
    /// Applies `logic` to the records of each epoch once both this stream and `gate` have
    /// passed that epoch. On one worker operators take turns, so a costly step on a branch that
    /// leads only to sinks would otherwise take its turn before the operator that decides
    /// (`gate`'s) had seen the epoch; behind `gate`, it waits for it. `gate`'s records are
    /// dropped.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::Capture;
    /// use timely::dataflow::operators::vec::{Map, ToStream};
    /// use tradeflow_operators::after::MapAfter;
    /// use tradeflow_operators::testing::records;
    ///
    /// let captured = timely::example(|scope| {
    ///     let words = vec![1u64, 2, 3].to_stream(scope);
    ///     let decisions = words.clone().map(|n| n * 10);
    ///     words.map_after(&decisions, "Words", |n| *n += 100).capture()
    /// });
    /// assert_eq!(records(captured), vec![101, 102, 103]);
    /// ```
    fn map_after<G: Clone + 'static>(
        self,
        gate: &StreamVec<'scope, u64, G>,
        name: &str,
        logic: impl FnMut(&mut D) + 'static,
    ) -> StreamVec<'scope, u64, D>;
}

impl<'scope, D: Clone + 'static> MapAfter<'scope, D> for StreamVec<'scope, u64, D> {
    fn map_after<G: Clone + 'static>(
        self,
        gate: &StreamVec<'scope, u64, G>,
        name: &str,
        mut logic: impl FnMut(&mut D) + 'static,
    ) -> StreamVec<'scope, u64, D> {
        self.binary_frontier(gate.clone(), Pipeline, Pipeline, name, move |_initial, _info| {
            let mut stash = EpochStash::<D>::default();
            move |(input, frontier), (gate, gate_frontier), output| {
                input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                gate.for_each(|_, _| {});
                while let Some(epoch) = ready_epoch([stash.first_epoch()], &[frontier, gate_frontier]) {
                    let Some((cap, mut records)) = stash.take(epoch) else { break };
                    records.iter_mut().for_each(&mut logic);
                    output.session(&cap).give_container(&mut records);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use timely::dataflow::operators::Inspect;
    use timely::dataflow::operators::vec::Input;
    use timely::dataflow::operators::{Probe, probe::Handle};

    use super::*;

    /// The gate holds epoch 0 back (its input is still open at 0): the words wait for it.
    #[test]
    fn records_wait_until_the_gate_has_passed_their_epoch() {
        timely::execute_directly(|worker| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let probe = Handle::new();
            let (mut words, mut decisions) = worker.dataflow::<u64, _, _>(|scope| {
                let (words_in, words) = scope.new_input::<u32>();
                let (decisions_in, decisions) = scope.new_input::<u32>();
                let seen = Arc::clone(&seen);
                words
                    .map_after(&decisions, "Words", |w| *w += 1)
                    .inspect(move |w| seen.lock().unwrap().push(*w))
                    .probe_with(&probe);
                (words_in, decisions_in)
            });
            words.send(1);
            words.advance_to(1);
            for _ in 0..20 {
                worker.step();
            }
            assert!(seen.lock().unwrap().is_empty(), "ran ahead of the gate");
            decisions.send(7);
            decisions.advance_to(1);
            worker.step_while(|| probe.less_than(&1));
            assert_eq!(*seen.lock().unwrap(), vec![2]);
        });
    }
}
