//! Snapshots of a job that runs as several processes (timely's cluster mode).
//!
//! Each process keeps its own snapshots, of its own workers, in its own folder, and sees only
//! its own participants. So that the processes save the same boundaries, one leader picks the
//! targets for all of them: each process reports to it (built, a boundary sealed here, a
//! boundary missed here) and the leader answers every process with decisions (take a boundary,
//! a boundary complete everywhere, a boundary given up). A process *misses* a target when one
//! of its participants has already gone past it by the time the target arrives; the leader
//! then gives that boundary up everywhere and picks one further on.
//!
//! A boundary is complete once every process has sealed it. On restart, the processes agree on
//! the newest boundary that every one of them has sealed ([`newest_common`]), so a process that
//! sealed a boundary the others had not yet is rolled back to the one before.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a process tells the leader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Report {
    /// Every worker of `process` has built its graph; its participants have reached `reached`.
    Built { process: usize, reached: u64 },
    /// `process` sealed `boundary` (every participant of it saved or had finished).
    /// `finished`: every participant of it has finished, so it will seal any later boundary
    /// at once.
    Sealed { process: usize, boundary: u64, reached: u64, finished: bool },
    /// A participant of `process` had gone past `boundary` when it arrived.
    Missed { process: usize, boundary: u64, reached: u64 },
    /// The graph of every worker of `process` has ended: it has nothing more to report than
    /// answers to targets.
    Ended { process: usize },
}

/// What the leader tells every process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Save `boundary` next.
    Take(u64),
    /// Every process has sealed `boundary`: the older snapshots may be pruned.
    Complete(u64),
    /// `boundary` was missed somewhere: remove what was saved of it.
    Abandon(u64),
    /// Every process has ended: the snapshots' coordination is over.
    Done,
}

/// The leader's bookkeeping: picks the targets of every process and sees them complete.
#[derive(Debug)]
pub struct Coordinator {
    every: u64,
    processes: usize,
    /// The newest complete boundary (where the job started, until one completes).
    completed: u64,
    built: BTreeSet<usize>,
    /// The furthest epoch any process has reported its participants reaching.
    reached: u64,
    target: Option<u64>,
    sealed: BTreeSet<usize>,
    /// Processes all of whose participants have finished.
    finished: BTreeSet<usize>,
    ended: BTreeSet<usize>,
    /// Targets missed since the last complete one: each puts the next one a boundary further
    /// ahead of the reports, which trail the processes by a message.
    misses: u64,
}

impl Coordinator {
    /// `every`: epochs between boundaries; `start`: the boundary the job restarts from.
    pub fn new(every: u64, processes: usize, start: u64) -> Self {
        Coordinator {
            every: every.max(1),
            processes,
            completed: start,
            built: BTreeSet::new(),
            reached: 0,
            target: None,
            sealed: BTreeSet::new(),
            finished: BTreeSet::new(),
            ended: BTreeSet::new(),
            misses: 0,
        }
    }

    /// The boundary being taken, if one is.
    pub fn target(&self) -> Option<u64> {
        self.target
    }

    /// Takes in one report; what every process must be told.
    pub fn on(&mut self, report: Report) -> Vec<Decision> {
        let mut decisions = Vec::new();
        match report {
            Report::Built { process, reached } => {
                self.reached = self.reached.max(reached);
                self.built.insert(process);
            }
            Report::Sealed { process, boundary, reached, finished } => {
                self.reached = self.reached.max(reached);
                if finished {
                    self.finished.insert(process);
                }
                if self.target == Some(boundary) {
                    self.sealed.insert(process);
                    if self.sealed.len() >= self.processes {
                        decisions.push(Decision::Complete(boundary));
                        self.completed = boundary;
                        self.target = None;
                        self.sealed.clear();
                        self.misses = 0;
                    }
                }
            }
            Report::Missed { process: _, boundary, reached } => {
                self.reached = self.reached.max(reached);
                if self.target == Some(boundary) {
                    decisions.push(Decision::Abandon(boundary));
                    self.target = None;
                    self.sealed.clear();
                    self.misses += 1;
                }
            }
            Report::Ended { process } => {
                self.ended.insert(process);
                if self.ended.len() >= self.processes {
                    decisions.push(Decision::Done);
                    return decisions;
                }
            }
        }
        let everyone_built = self.built.len() >= self.processes;
        let all_finished = self.finished.len() >= self.processes;
        if self.target.is_none() && everyone_built && !all_finished && self.ended.len() < self.processes {
            let boundary = (self.reached.max(self.completed) / self.every + 1 + self.misses) * self.every;
            self.target = Some(boundary);
            decisions.push(Decision::Take(boundary));
        }
        decisions
    }
}

/// The boundary a cluster restarts from: the newest one every process has a complete snapshot
/// of (0, from the beginning, when there is none). `sealed` holds each process's boundaries.
pub fn newest_common(sealed: &[Vec<u64>]) -> u64 {
    let Some((first, others)) = sealed.split_first() else { return 0 };
    first.iter().copied().filter(|b| others.iter().all(|o| o.contains(b))).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(processes: usize, every: u64) -> (Coordinator, Vec<Decision>) {
        let mut leader = Coordinator::new(every, processes, 0);
        let mut decisions = Vec::new();
        for p in 0..processes {
            decisions = leader.on(Report::Built { process: p, reached: 5 * p as u64 });
        }
        (leader, decisions)
    }

    #[test]
    fn the_first_target_waits_for_every_process_and_lies_after_all_they_reached() {
        let mut leader = Coordinator::new(10, 2, 0);
        assert_eq!(leader.on(Report::Built { process: 1, reached: 27 }), []);
        assert_eq!(leader.on(Report::Built { process: 0, reached: 3 }), [Decision::Take(30)]);
    }

    #[test]
    fn a_boundary_completes_once_every_process_sealed_it_and_the_next_follows() {
        let (mut leader, first) = built(2, 10);
        assert_eq!(first, [Decision::Take(10)]);
        let sealed = |process, reached| Report::Sealed { process, boundary: 10, reached, finished: false };
        assert_eq!(leader.on(sealed(0, 12)), []);
        assert_eq!(leader.on(sealed(0, 14)), [], "twice from one process counts once");
        assert_eq!(leader.on(sealed(1, 33)), [Decision::Complete(10), Decision::Take(40)]);
    }

    #[test]
    fn a_missed_boundary_is_abandoned_and_the_next_lies_further_ahead_each_time() {
        let (mut leader, _) = built(2, 10);
        let missed = |boundary, reached| Report::Missed { process: 1, boundary, reached };
        assert_eq!(leader.on(missed(10, 12)), [Decision::Abandon(10), Decision::Take(30)]);
        assert_eq!(leader.on(missed(30, 31)), [Decision::Abandon(30), Decision::Take(60)]);
        assert_eq!(leader.on(missed(10, 40)), [], "an old target's report changes nothing");
        for process in 0..2 {
            leader.on(Report::Sealed { process, boundary: 60, reached: 61, finished: false });
        }
        assert_eq!(leader.target(), Some(70), "the margin resets once a boundary completes");
    }

    #[test]
    fn once_every_process_has_finished_no_target_follows_and_ending_is_announced() {
        let (mut leader, _) = built(2, 10);
        leader.on(Report::Sealed { process: 0, boundary: 10, reached: 10, finished: true });
        let last = leader.on(Report::Sealed { process: 1, boundary: 10, reached: 10, finished: true });
        assert_eq!(last, [Decision::Complete(10)]);
        assert_eq!(leader.on(Report::Ended { process: 1 }), []);
        assert_eq!(leader.on(Report::Ended { process: 0 }), [Decision::Done]);
    }

    #[test]
    fn a_restart_takes_the_newest_boundary_every_process_sealed() {
        assert_eq!(newest_common(&[vec![10, 20, 30], vec![10, 20]]), 20);
        assert_eq!(newest_common(&[vec![20, 30], vec![10]]), 0);
        assert_eq!(newest_common(&[vec![], vec![10]]), 0);
        assert_eq!(newest_common(&[vec![40]]), 40);
    }
}
