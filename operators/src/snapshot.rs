//! Consistent snapshots of operator state at epoch boundaries.
//!
//! A snapshot at boundary `B` (a multiple of the configured interval, in epochs) holds, for every
//! stateful operator on every worker, its state after it has processed every epoch before `B`
//! and nothing at or after `B`; the sources add the input positions they had read to and the
//! records they had already sent for epochs at or after `B`; the broker adds the reports that
//! were on the feedback edge. Restored, the graph continues from `B` as if it had never stopped.
//!
//! Each operator takes a [`SnapshotPort`] and calls [`SnapshotPort::reached`] before it
//! processes a complete epoch and once more with its input frontier: the port saves the state
//! at the newest boundary it has passed and not yet saved. When the frontier jumps over
//! several boundaries with no data between them, the state is the same at each, and only the
//! newest is written; a snapshot is complete once every participant has written it (the
//! [`SnapshotStore`] decides), which it is wherever the frontier comes to rest.
//!
//! Nothing here does I/O: the application implements [`SnapshotStore`].

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where snapshots are written and read, implemented by the application.
pub trait SnapshotStore: Send + Sync {
    /// Declares a participant before the graph runs: a boundary is complete once every
    /// declared participant of every worker has saved it.
    fn register(&self, worker: usize, name: &str);
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

    /// A participant named `name` (unique on this worker).
    pub fn port(&self, name: &str) -> SnapshotPort {
        self.store.register(self.worker, name);
        SnapshotPort { snapshots: self.clone(), name: name.to_owned(), saved: self.start, finished: false }
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

    /// The first boundary after the newest one saved.
    pub fn next_boundary(&self) -> u64 {
        self.saved + self.snapshots.every
    }

    /// The newest boundary at or before `upto` (an epoch the operator has completed every
    /// epoch before) that is not yet saved.
    pub fn due(&self, upto: u64) -> Option<u64> {
        let newest = upto / self.snapshots.every * self.snapshots.every;
        (newest > self.saved).then_some(newest)
    }

    /// Saves `state()` at the newest boundary at or before `upto` not yet saved, if any. Call it
    /// before processing the complete epoch `upto`, and with the input frontier once the
    /// complete epochs are processed.
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

    #[derive(Default)]
    struct Memory {
        saved: Mutex<BTreeMap<(u64, usize, String), Vec<u8>>>,
    }

    impl SnapshotStore for Memory {
        fn register(&self, _worker: usize, _name: &str) {}
        fn restored(&self, worker: usize, name: &str) -> Result<Option<Vec<u8>>, String> {
            let saved = self.saved.lock().unwrap();
            Ok(saved.iter().rev().find(|((_, w, n), _)| *w == worker && n == name).map(|(_, b)| b.clone()))
        }
        fn save(&self, boundary: u64, worker: usize, name: &str, state: Vec<u8>) {
            self.saved.lock().unwrap().insert((boundary, worker, name.to_owned()), state);
        }
        fn finish(&self, worker: usize, name: &str, state: Vec<u8>) {
            self.save(u64::MAX, worker, name, state);
        }
    }

    #[test]
    fn saves_the_newest_boundary_passed_once() {
        let store = Arc::new(Memory::default());
        let mut port = Snapshots::new(store.clone(), 0, 10, 0).port("op");
        port.reached(9, || 1u32);
        port.reached(10, || 2u32);
        port.reached(15, || 3u32);
        port.reached(47, || 4u32);
        let boundaries: Vec<u64> = store.saved.lock().unwrap().keys().map(|k| k.0).collect();
        assert_eq!(boundaries, [10, 40]);
        assert_eq!(port.restore::<u32>().unwrap(), Some(4));
    }

    #[test]
    fn a_restarted_port_saves_only_after_its_start() {
        let store = Arc::new(Memory::default());
        let mut port = Snapshots::new(store.clone(), 0, 10, 30).port("op");
        port.reached(35, || 1u32);
        assert!(store.saved.lock().unwrap().is_empty());
        port.reached(40, || (f64::NAN, vec![1.5f64]));
        let (nan, v): (f64, Vec<f64>) = port.restore().unwrap().unwrap();
        assert!(nan.is_nan() && v == [1.5]);
    }
}
