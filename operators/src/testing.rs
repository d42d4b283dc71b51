//! Helpers for examples and tests that run a small dataflow and look at what came out.

use std::sync::mpsc::Receiver;

use timely::dataflow::operators::capture::Event;

/// Every record a captured stream carried, in the order received.
pub fn records<D>(captured: Receiver<Event<u64, Vec<D>>>) -> Vec<D> {
    captured
        .into_iter()
        .flat_map(|event| match event {
            Event::Messages(_, data) => data,
            Event::Progress(_) => Vec::new(),
        })
        .collect()
}

/// A reader of `count` ticks of one symbol, one every `step` ns from time 0, handing out at most
/// `per_read` per call: an input long enough to see whether a source waits for the graph.
pub struct SteadyTicks {
    pub next: i64,
    pub step: i64,
    pub count: i64,
    pub per_read: usize,
}

impl SteadyTicks {
    /// A source policy matching these ticks: one epoch per tick, no lateness, one read a batch.
    pub fn policy(&self) -> crate::source::SourcePolicy {
        crate::source::SourcePolicy {
            clock: crate::EpochClock::new(self.step),
            allowed_lateness: 0,
            max_ahead: i64::MAX / 4,
            batch: self.per_read,
            idle_poll: std::time::Duration::from_millis(1),
            idle_timeout: std::time::Duration::from_secs(1),
        }
    }
}

impl crate::source::EventReader<crate::Tick> for SteadyTicks {
    fn read(
        &mut self,
        max: usize,
        out: &mut Vec<(u64, Result<crate::Tick, crate::DeadLetter>)>,
    ) -> crate::source::ReadStatus {
        for _ in 0..max.min(self.per_read) {
            if self.next >= self.count * self.step {
                return crate::source::ReadStatus::Exhausted;
            }
            let tick =
                crate::Tick { symbol: crate::Symbol(0), ts: self.next, price: 1.0, size: 1.0, bid: None, ask: None };
            out.push((self.next as u64, Ok(tick)));
            self.next += self.step;
        }
        crate::source::ReadStatus::More
    }
    fn origin(&self, position: u64) -> String {
        format!("steady @{position}")
    }
}
