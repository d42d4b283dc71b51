//! Backpressure from a sink: a sink at its buffer bound (its store is down) stops the sources
//! within the read-ahead, instead of buffering without limit; when it drains, they go on.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use timely::dataflow::operators::probe::Handle as ProbeHandle;
use tradeflow_operators::Tick;
use tradeflow_operators::sink::{RecordSink, Sink, SinkErrors, SinkProgress};
use tradeflow_operators::source::{Pace, SourceStats, ingest};
use tradeflow_operators::testing::SteadyTicks;

/// Holds every row while the store is "down"; at most `bound` rows, then saturated.
struct Stuck {
    held: Rc<RefCell<Vec<Tick>>>,
    down: Rc<Cell<bool>>,
    bound: usize,
    frontier: u64,
}

impl RecordSink<Tick> for Stuck {
    fn write(&mut self, batch: &mut Vec<Tick>) -> Result<(), String> {
        self.held.borrow_mut().append(batch);
        Ok(())
    }
    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String> {
        self.frontier = frontier.unwrap_or(u64::MAX);
        if !self.down.get() {
            self.held.borrow_mut().clear();
        }
        Ok(())
    }
    fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn durable(&self) -> Option<u64> {
        Some(if self.held.borrow().is_empty() { self.frontier } else { 0 })
    }
    fn saturated(&self) -> bool {
        self.held.borrow().len() >= self.bound
    }
    fn wake_after(&self) -> Option<Duration> {
        (!self.held.borrow().is_empty()).then_some(Duration::from_millis(1))
    }
}

#[test]
fn a_saturated_sink_stops_the_sources_until_it_drains() {
    timely::execute_directly(|worker| {
        let stats = Arc::new(SourceStats::default());
        let ticks = SteadyTicks { next: 0, step: 10, count: 1000, per_read: 7 };
        let policy = ticks.policy();
        let pace = Pace::new(ProbeHandle::new(), 5);
        let (held, down) = (Rc::new(RefCell::new(Vec::new())), Rc::new(Cell::new(true)));
        let progress = Arc::new(SinkProgress::default());
        let errors = SinkErrors::default();
        worker.dataflow::<u64, _, _>(|scope| {
            let (ticks, _dead) = ingest(scope, "ticks", ticks, policy, Some(pace.clone()), Arc::clone(&stats));
            pace.sinks.borrow_mut().push(Arc::clone(&progress));
            let sink = Stuck { held: Rc::clone(&held), down: Rc::clone(&down), bound: 100, frontier: 0 };
            ticks.sink("stuck", Box::new(sink), Arc::clone(&errors), Arc::clone(&progress));
        });
        let until = std::time::Instant::now() + Duration::from_millis(300);
        while std::time::Instant::now() < until {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        let read = stats.records.load(Ordering::Relaxed);
        // The bound, plus at most the read-ahead (5 epochs) and one batch past it.
        assert!((100..=100 + 5 + 7).contains(&read), "the source read {read} ticks while the sink was stuck");
        assert_eq!(progress.durable.load(Ordering::Relaxed), 0, "nothing is durable while the store is down");

        down.set(false);
        while worker.step() {}
        assert_eq!(stats.records.load(Ordering::Relaxed), 1000, "once the sink drains, everything is read");
        assert_eq!(progress.durable.load(Ordering::Relaxed), u64::MAX, "and all of it is durable at the end");
        assert!(errors.lock().unwrap().is_empty());
    });
}
