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
