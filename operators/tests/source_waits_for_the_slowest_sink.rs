//! Regression: a source used to read its whole input ahead of the graph, so memory grew with
//! the input. With a pace, it stops `max_epochs_ahead` epochs past the probed frontier.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use tradeflow_operators::Tick;
use tradeflow_operators::source::{Pace, SourceStats, ingest};
use tradeflow_operators::testing::SteadyTicks;

#[test]
fn source_waits_for_the_slowest_sink() {
    timely::execute_directly(|worker| {
        let stats = Arc::new(SourceStats::default());
        let probe = ProbeHandle::new();
        let gate: Rc<RefCell<Option<timely::dataflow::operators::Capability<u64>>>> = Rc::default();
        let ticks = SteadyTicks { next: 0, step: 10, count: 1000, per_read: 7 };
        let policy = ticks.policy();
        let gate_in = Rc::clone(&gate);
        let gate_activator: Rc<RefCell<Option<timely::scheduling::Activator>>> = Rc::default();
        let activator_in = Rc::clone(&gate_activator);
        let pace = Pace::new(probe.clone(), 5);
        worker.dataflow::<u64, _, _>(|scope| {
            let (ticks, _dead) = ingest(scope, "ticks", ticks, policy, Some(pace), Arc::clone(&stats));
            // A slow sink: holds the frontier at 0 until the test opens the gate.
            ticks
                .unary::<timely::container::CapacityContainerBuilder<Vec<Tick>>, _, _, _>(
                    Pipeline,
                    "Gate",
                    move |cap, info| {
                        *gate_in.borrow_mut() = Some(cap);
                        *activator_in.borrow_mut() = Some(scope.activator_for(info.address));
                        |input, _output| input.for_each(|_, data| data.clear())
                    },
                )
                .probe_with(&probe);
        });
        for _ in 0..500 {
            worker.step();
        }
        let read = stats.records.load(Ordering::Relaxed);
        assert!(read <= 7 * 2, "the source read {read} ticks while the sink held epoch 0");
        assert!(read >= 5, "the source should fill its read-ahead, read {read}");
        // A capability dropped outside its operator counts once the operator runs again.
        gate.borrow_mut().take();
        if let Some(activator) = gate_activator.borrow().as_ref() {
            activator.activate();
        }
        while worker.step() {}
        assert_eq!(stats.records.load(Ordering::Relaxed), 1000, "once the sink moves, everything is read");
    });
}
