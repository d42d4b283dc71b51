//! Which boundary the participants save next and when it is complete: the bookkeeping of a
//! [`SnapshotStore`](super::SnapshotStore), without its I/O.

use std::collections::{BTreeMap, BTreeSet};

/// A participant: its worker and its name.
pub type Participant = (usize, String);

/// A boundary every participant has saved or finished before.
#[derive(Debug, PartialEq)]
pub struct Completed {
    pub boundary: u64,
    /// The final states of the participants that finished instead of saving it: the store
    /// writes them into the snapshot as their state at `boundary`.
    pub finished: Vec<(Participant, Vec<u8>)>,
}

/// What a store told its target by the cluster's leader does with it.
#[derive(Debug, PartialEq)]
pub enum Assigned {
    /// A participant may have processed the boundary already: it cannot be taken here.
    Missed,
    /// The participants save it as they reach it.
    Taking,
    /// Every participant here had finished: the boundary is complete at once.
    Completed(Completed),
}

/// Picks the target boundary and sees it complete. See the [module documentation](super).
#[derive(Debug)]
pub struct Targets {
    every: u64,
    workers: usize,
    /// Every participant, and whether it retains (can save any boundary since its last save).
    registered: BTreeMap<Participant, bool>,
    built: BTreeSet<usize>,
    /// The furthest epoch any participant that does not retain has reported reaching.
    reached: u64,
    target: Option<u64>,
    saved: BTreeSet<Participant>,
    finished: BTreeMap<Participant, Vec<u8>>,
    completed: u64,
    /// Whether this store picks its own targets (one process) or is told them by the leader
    /// of a cluster ([`Targets::following`]).
    picks: bool,
}

impl Targets {
    /// `every`: epochs between boundaries; `workers`: how many build a graph; `start`: the
    /// boundary the job restarts from (0: from the beginning).
    pub fn new(every: u64, workers: usize, start: u64) -> Self {
        Targets {
            every: every.max(1),
            workers,
            registered: BTreeMap::new(),
            built: BTreeSet::new(),
            reached: 0,
            target: None,
            saved: BTreeSet::new(),
            finished: BTreeMap::new(),
            completed: start,
            picks: true,
        }
    }

    /// The bookkeeping of one process of a cluster: the targets come from the cluster's leader
    /// ([`assign`](Self::assign)), which picks them for every process (see
    /// [`Coordinator`](super::Coordinator)).
    pub fn following(every: u64, workers: usize, start: u64) -> Self {
        Targets { picks: false, ..Targets::new(every, workers, start) }
    }

    /// The furthest epoch a participant that does not retain has reported reaching.
    pub fn reached(&self) -> u64 {
        self.reached
    }

    /// Whether every worker has built its graph.
    pub fn everyone_built(&self) -> bool {
        self.built.len() >= self.workers
    }

    /// Whether every participant has finished (its final state stands for every boundary).
    pub fn all_finished(&self) -> bool {
        self.registered.keys().all(|p| self.finished.contains_key(p))
    }

    /// The leader's target. It is missed when a participant that does not retain has reached
    /// it: that participant may have processed the boundary's epoch already.
    pub fn assign(&mut self, boundary: u64) -> Assigned {
        if self.reached >= boundary || boundary <= self.completed {
            return Assigned::Missed;
        }
        self.target = Some(boundary);
        self.saved.clear();
        match self.complete() {
            Some(completed) => Assigned::Completed(completed),
            None => Assigned::Taking,
        }
    }

    /// The leader gave `boundary` up (another process missed it): saves of it count for
    /// nothing.
    pub fn abandon(&mut self, boundary: u64) {
        if self.target == Some(boundary) {
            self.target = None;
            self.saved.clear();
        }
    }

    /// The newest complete boundary (the start until one completes).
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// The boundary being taken, if one is.
    pub fn target(&self) -> Option<u64> {
        self.target
    }

    pub fn register(&mut self, worker: usize, name: &str, retains: bool) {
        self.registered.insert((worker, name.to_owned()), retains);
    }

    pub fn built(&mut self, worker: usize) {
        self.built.insert(worker);
        self.pick();
    }

    /// The participant has reached `upto`; the boundary it must save now, if any.
    pub fn due(&mut self, worker: usize, name: &str, upto: u64) -> Option<u64> {
        let participant = (worker, name.to_owned());
        let due = self.target.filter(|t| *t <= upto && !self.saved.contains(&participant));
        if self.registered.get(&participant) == Some(&false) {
            // It may process `upto` next: a boundary picked from now on lies after it.
            self.reached = self.reached.max(upto);
        }
        self.pick();
        due
    }

    /// The participant saved `boundary`; the snapshot that completes with it, if any.
    pub fn saved(&mut self, boundary: u64, worker: usize, name: &str) -> Option<Completed> {
        if self.target != Some(boundary) {
            return None;
        }
        self.saved.insert((worker, name.to_owned()));
        self.complete()
    }

    /// The participant's input has ended: `state` is its state at every later boundary.
    pub fn finished(&mut self, worker: usize, name: &str, state: Vec<u8>) -> Option<Completed> {
        self.finished.insert((worker, name.to_owned()), state);
        self.complete()
    }

    /// The first boundary after every epoch a participant may have processed.
    fn pick(&mut self) {
        if self.picks && self.target.is_none() && self.everyone_built() && !self.all_finished() {
            self.target = Some((self.reached.max(self.completed) / self.every + 1) * self.every);
        }
    }

    fn complete(&mut self) -> Option<Completed> {
        let boundary = self.target?;
        let done = |p: &Participant| self.saved.contains(p) || self.finished.contains_key(p);
        if !self.registered.keys().all(done) {
            return None;
        }
        let finished = self
            .finished
            .iter()
            .filter(|(p, _)| !self.saved.contains(*p))
            .map(|(p, state)| (p.clone(), state.clone()))
            .collect();
        self.completed = boundary;
        self.target = None;
        self.saved.clear();
        self.pick();
        Some(Completed { boundary, finished })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(workers: usize, every: u64, names: &[(&str, bool)]) -> Targets {
        let mut targets = Targets::new(every, workers, 0);
        for w in 0..workers {
            for (name, retains) in names {
                targets.register(w, name, *retains);
            }
            targets.built(w);
        }
        targets
    }

    #[test]
    fn no_boundary_is_picked_before_every_worker_has_built_its_graph() {
        let mut targets = Targets::new(10, 2, 0);
        targets.register(0, "op", false);
        targets.built(0);
        assert_eq!(targets.due(0, "op", 35), None);
        assert_eq!(targets.target(), None);
        targets.register(1, "op", false);
        targets.built(1);
        assert_eq!(targets.target(), Some(40), "after everything reported");
    }

    #[test]
    fn the_target_lies_after_every_epoch_reached_so_nothing_past_it_was_processed() {
        let mut targets = built(1, 10, &[("bars", false), ("strategy", false)]);
        assert_eq!(targets.target(), Some(10));
        // bars reached 47 before the target was known to it: it saves 10 now, before 47.
        assert_eq!(targets.due(0, "bars", 47), Some(10));
        assert_eq!(targets.saved(10, 0, "bars"), None);
        assert_eq!(targets.due(0, "strategy", 8), None);
        assert_eq!(targets.due(0, "strategy", 12), Some(10));
        let done = targets.saved(10, 0, "strategy").unwrap();
        assert_eq!(done, Completed { boundary: 10, finished: vec![] });
        assert_eq!(targets.target(), Some(50), "after 47, the furthest epoch reached");
    }

    #[test]
    fn a_retaining_participant_far_ahead_does_not_push_the_target_on() {
        let mut targets = built(1, 10, &[("source", true), ("bars", false)]);
        assert_eq!(targets.due(0, "source", 3600), Some(10));
        targets.saved(10, 0, "source");
        assert_eq!(targets.due(0, "bars", 11), Some(10));
        assert!(targets.saved(10, 0, "bars").is_some());
        assert_eq!(targets.target(), Some(20));
    }

    #[test]
    fn a_finished_participant_stands_for_the_target_with_its_final_state() {
        let mut targets = built(1, 10, &[("news", true), ("bars", false)]);
        assert_eq!(targets.finished(0, "news", vec![7]), None);
        assert_eq!(targets.due(0, "bars", 10), Some(10));
        let done = targets.saved(10, 0, "bars").unwrap();
        assert_eq!(done.finished, vec![((0, "news".to_owned()), vec![7])]);
    }

    #[test]
    fn when_everything_has_finished_one_last_snapshot_completes_and_no_other() {
        let mut targets = built(2, 10, &[("op", false)]);
        assert_eq!(targets.due(0, "op", 25), Some(10));
        assert_eq!(targets.saved(10, 0, "op"), None);
        assert_eq!(targets.due(1, "op", 12), Some(10));
        assert_eq!(targets.saved(10, 1, "op").map(|c| c.boundary), Some(10));
        assert_eq!(targets.finished(0, "op", vec![0]), None);
        let done = targets.finished(1, "op", vec![1]).unwrap();
        assert_eq!(done.boundary, 30, "after 25, the furthest epoch reached");
        assert_eq!(done.finished.len(), 2);
        assert_eq!(targets.target(), None);
        assert_eq!(targets.completed(), 30);
    }

    #[test]
    fn a_follower_takes_only_targets_after_every_epoch_reached_and_picks_none_itself() {
        let mut targets = Targets::following(10, 1, 0);
        targets.register(0, "bars", false);
        targets.register(0, "source", true);
        targets.built(0);
        assert_eq!(targets.target(), None, "the leader picks");
        assert_eq!(targets.due(0, "bars", 20), None);
        assert_eq!(targets.assign(20), Assigned::Missed, "bars may have processed epoch 20");
        assert_eq!(targets.assign(30), Assigned::Taking);
        assert_eq!(targets.due(0, "source", 3600), Some(30));
        targets.saved(30, 0, "source");
        targets.abandon(30);
        assert_eq!(targets.due(0, "bars", 31), None, "an abandoned target is not saved");
        assert_eq!(targets.assign(40), Assigned::Taking);
        assert_eq!(targets.due(0, "bars", 41), Some(40));
        assert_eq!(targets.saved(40, 0, "bars"), None, "the source has not saved 40");
        assert_eq!(targets.due(0, "source", 3600), Some(40));
        assert_eq!(targets.saved(40, 0, "source").map(|c| c.boundary), Some(40));
        assert_eq!(targets.target(), None, "nothing picked after it either");
    }

    #[test]
    fn a_follower_whose_participants_all_finished_completes_a_target_at_once() {
        let mut targets = Targets::following(10, 1, 0);
        targets.register(0, "op", false);
        targets.built(0);
        targets.finished(0, "op", vec![3]);
        assert!(targets.all_finished());
        let Assigned::Completed(done) = targets.assign(10) else { panic!("not completed at once") };
        assert_eq!(done.finished, vec![((0, "op".to_owned()), vec![3])]);
    }

    #[test]
    fn a_save_of_another_boundary_counts_for_nothing() {
        let mut targets = built(1, 10, &[("a", false), ("b", false)]);
        targets.due(0, "a", 10);
        assert_eq!(targets.saved(20, 0, "a"), None);
        targets.saved(10, 0, "a");
        targets.due(0, "b", 10);
        assert!(targets.saved(10, 0, "b").is_some());
    }
}
