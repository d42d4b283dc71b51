//! Consistent snapshots of operator state at epoch boundaries.
//!
//! A snapshot at boundary `B` (a multiple of the configured interval, in epochs) holds, for every
//! stateful operator on every worker, its state after it has processed every epoch before `B`
//! and nothing at or after `B`; the sources add the input positions they had read to and the
//! records they had already sent for epochs at or after `B`; the broker adds the reports that
//! were on the feedback edge. Restored, the graph continues from `B` as if it had never stopped.
//!
//! All participants save the same boundary, the *target*, which the [`SnapshotStore`] picks:
//! the first boundary after every epoch any participant has reported reaching, so that no
//! participant has processed anything at or after it yet. Each operator takes a
//! [`SnapshotPort`] and calls [`SnapshotPort::reached`] before it processes a complete epoch
//! and once more with its input frontier; the port saves the state when the target is at or
//! before that epoch. Once every participant has saved the target, or has finished (its input
//! ended, and its final state stands for every later boundary), the snapshot is complete and
//! the store picks the next target. Waiting for a target rather than saving every boundary
//! passed keeps a jump of the frontier over a night of no data from writing a thousand states.
//!
//! A *retaining* participant (a source, which keeps the records it sent since its last save;
//! a sink, whose state is where its output is durable) can save any boundary since its last
//! save up to its frontier, so its frontier does not push the target on: a source whose next
//! record is an hour ahead would otherwise hold off every snapshot for that hour.
//!
//! A job of several processes has one leader pick the targets of all ([`Coordinator`]; see the
//! `cluster` module).
//!
//! Nothing here does I/O: the application implements [`SnapshotStore`].

mod cluster;
mod targets;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use cluster::{Coordinator, Decision, Report, newest_common};
pub use targets::{Assigned, Completed, Participant, Targets};

/// Where snapshots are written and read, implemented by the application.
pub trait SnapshotStore: Send + Sync {
    /// Declares a participant while the graph is built: a boundary is complete once every
    /// declared participant of every worker has saved it. `retains`: it can save any boundary
    /// since its last save (see the module documentation).
    fn register(&self, worker: usize, name: &str, retains: bool);
    /// `worker` has built its graph: every participant it has is registered. No boundary is
    /// picked before every worker has.
    fn built(&self, worker: usize);
    /// The participant has reached `upto` (it has processed every epoch before and may
    /// process `upto` next): the boundary it must save now, if any.
    fn due(&self, worker: usize, name: &str, upto: u64) -> Option<u64>;
    /// The state `name` of `worker` had in the snapshot the job restarts from, if any.
    fn restored(&self, worker: usize, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Saves one participant's state at `boundary`.
    fn save(&self, boundary: u64, worker: usize, name: &str, state: Vec<u8>);
    /// A participant whose input has ended: `state` is its state at every later boundary.
    fn finish(&self, worker: usize, name: &str, state: Vec<u8>);
}

/// One worker's access to the snapshots: the store, the interval and where the job restarts.
#[derive(Clone)]
pub struct Snapshots {
    store: Arc<dyn SnapshotStore>,
    worker: usize,
    every: u64,
    /// The boundary the job restarts from (0: from the start).
    start: u64,
}

impl Snapshots {
    /// `every` is the interval between boundaries in epochs (at least 1); `start` the boundary
    /// the job restarts from, 0 for a fresh start.
    pub fn new(store: Arc<dyn SnapshotStore>, worker: usize, every: u64, start: u64) -> Self {
        Snapshots { store, worker, every: every.max(1), start }
    }

    /// The boundary the job restarts from (0: from the start).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The interval between boundaries, in epochs.
    pub fn every(&self) -> u64 {
        self.every
    }

    /// A participant named `name` (unique on this worker) that processes its input epoch by
    /// epoch and saves its state before processing the first epoch at or after a boundary.
    pub fn port(&self, name: &str) -> SnapshotPort {
        self.port_of(name, false)
    }

    /// A participant that can save any boundary between its last save and its frontier: a
    /// source that keeps the records it sent since, or a sink.
    pub fn retaining_port(&self, name: &str) -> SnapshotPort {
        self.port_of(name, true)
    }

    fn port_of(&self, name: &str, retains: bool) -> SnapshotPort {
        self.store.register(self.worker, name, retains);
        SnapshotPort { snapshots: self.clone(), name: name.to_owned(), saved: self.start, finished: false }
    }

    /// This worker's graph is built: all its participants have their ports.
    pub fn built(&self) {
        self.store.built(self.worker);
    }
}

/// One stateful operator's link to the snapshots.
pub struct SnapshotPort {
    snapshots: Snapshots,
    name: String,
    /// The newest boundary saved (or restored from).
    saved: u64,
    finished: bool,
}

impl SnapshotPort {
    /// The boundary the job restarts from (0: from the start).
    pub fn start(&self) -> u64 {
        self.snapshots.start
    }

    /// The state this operator saved in the snapshot the job restarts from (`None` on a fresh
    /// start). An error names the operator and what could not be read.
    pub fn restore<S: DeserializeOwned>(&self) -> Result<Option<S>, String> {
        let Some(bytes) = self.snapshots.store.restored(self.snapshots.worker, &self.name)? else {
            return Ok(None);
        };
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| format!("snapshot state of `{}` on worker {}: {e}", self.name, self.snapshots.worker))
    }

    /// Like [`restore`](Self::restore), for operators that have no way to report an error
    /// but to stop the job: a snapshot that passed the store's checks and does not decode is
    /// a bug, not an input.
    pub fn restore_or_panic<S: DeserializeOwned>(&self) -> Option<S> {
        self.restore().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The first boundary after the newest one saved: the earliest the next save can be at.
    pub fn next_boundary(&self) -> u64 {
        self.saved + self.snapshots.every
    }

    /// The boundary to save now, having reached `upto` (every epoch before it is complete and
    /// processed): the store's target, once it is at or before `upto`.
    pub fn due(&self, upto: u64) -> Option<u64> {
        if self.finished {
            return None;
        }
        self.snapshots.store.due(self.snapshots.worker, &self.name, upto).filter(|b| *b > self.saved && *b <= upto)
    }

    /// Saves `state()` at the boundary [`due`](Self::due) names, if any. Call it before
    /// processing the complete epoch `upto`, and with the input frontier once the complete
    /// epochs are processed.
    pub fn reached<S: Serialize>(&mut self, upto: u64, state: impl FnOnce() -> S) {
        if let Some(boundary) = self.due(upto) {
            self.save(boundary, &state());
        }
    }

    /// The operator's input has ended: `state` stands for every later boundary (once).
    pub fn finish<S: Serialize>(&mut self, state: &S) {
        if !self.finished {
            self.finished = true;
            let bytes = postcard::to_allocvec(state).unwrap_or_default();
            self.snapshots.store.finish(self.snapshots.worker, &self.name, bytes);
        }
    }

    /// Saves `state` at `boundary`.
    pub fn save<S: Serialize>(&mut self, boundary: u64, state: &S) {
        // Plain data (numbers, strings, vectors and maps of them) always encodes.
        let bytes = postcard::to_allocvec(state).unwrap_or_default();
        self.snapshots.store.save(boundary, self.snapshots.worker, &self.name, bytes);
        self.saved = boundary;
    }
}

/// [`SnapshotPort::reached`] on an optional port, with the frontier of an input (`None`: the
/// input has ended, and the state is final: [`SnapshotPort::finish`]).
pub fn checkpoint<S: Serialize>(port: &mut Option<SnapshotPort>, upto: Option<u64>, state: impl FnOnce() -> S) {
    match (port.as_mut(), upto) {
        (Some(port), Some(upto)) => port.reached(upto, state),
        (Some(port), None) => port.finish(&state()),
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// One worker's states in memory, boundaries picked by [`Targets`].
    struct Memory {
        targets: Mutex<Targets>,
        saved: Mutex<BTreeMap<(u64, String), Vec<u8>>>,
    }

    impl Memory {
        fn new(every: u64, start: u64) -> Arc<Memory> {
            Arc::new(Memory { targets: Mutex::new(Targets::new(every, 1, start)), saved: Mutex::default() })
        }

        fn boundaries(&self) -> Vec<u64> {
            self.saved.lock().unwrap().keys().map(|k| k.0).collect()
        }
    }

    impl SnapshotStore for Memory {
        fn register(&self, worker: usize, name: &str, retains: bool) {
            self.targets.lock().unwrap().register(worker, name, retains);
        }
        fn built(&self, worker: usize) {
            self.targets.lock().unwrap().built(worker);
        }
        fn due(&self, worker: usize, name: &str, upto: u64) -> Option<u64> {
            self.targets.lock().unwrap().due(worker, name, upto)
        }
        fn restored(&self, _worker: usize, name: &str) -> Result<Option<Vec<u8>>, String> {
            let saved = self.saved.lock().unwrap();
            Ok(saved.iter().rev().find(|((_, n), _)| n == name).map(|(_, b)| b.clone()))
        }
        fn save(&self, boundary: u64, worker: usize, name: &str, state: Vec<u8>) {
            self.saved.lock().unwrap().insert((boundary, name.to_owned()), state);
            self.targets.lock().unwrap().saved(boundary, worker, name);
        }
        fn finish(&self, worker: usize, name: &str, state: Vec<u8>) {
            self.targets.lock().unwrap().finished(worker, name, state);
        }
    }

    #[test]
    fn saves_each_target_once_at_the_first_epoch_reached_at_or_after_it() {
        let store = Memory::new(10, 0);
        let snapshots = Snapshots::new(store.clone(), 0, 10, 0);
        let mut port = snapshots.port("op");
        snapshots.built();
        port.reached(9, || 1u32);
        port.reached(10, || 2u32);
        port.reached(15, || 3u32);
        port.reached(47, || 4u32);
        port.reached(50, || 5u32);
        // 20 was picked when 10 completed. Reaching 47 next, the operator had nothing to
        // process between 15 and 47: its state then is its state at 20.
        assert_eq!(store.boundaries(), [10, 20, 50]);
        assert_eq!(port.restore::<u32>().unwrap(), Some(5));
    }

    #[test]
    fn a_restarted_port_saves_only_after_its_start() {
        let store = Memory::new(10, 30);
        let snapshots = Snapshots::new(store.clone(), 0, 10, 30);
        let mut port = snapshots.port("op");
        snapshots.built();
        port.reached(35, || 1u32);
        assert!(store.boundaries().is_empty());
        port.reached(40, || (f64::NAN, vec![1.5f64]));
        let (nan, v): (f64, Vec<f64>) = port.restore().unwrap().unwrap();
        assert!(nan.is_nan() && v == [1.5]);
    }
}
