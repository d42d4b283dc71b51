//! The processes of a cluster agree on their snapshots over timely's own channels.
//!
//! Two small dataflows beside the job's graph, built by every worker in the same order:
//! - [`agree_on_start`], before the graph: each process sends the boundaries it has complete
//!   snapshots of to worker 0, which answers every worker with the newest boundary all of them
//!   have ([`newest_common`]);
//! - [`coordinate`], while the graph runs: each process's first worker sends its store's
//!   reports to worker 0, whose [`Coordinator`] answers every process's first worker with
//!   decisions, which that worker carries out on its store.
//!
//! Only the first worker of each process (global index `process * workers`) talks; the others
//! build the same operators and stay silent, as timely needs every worker to build the same
//! dataflows.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Inspect};
use timely::scheduling::SyncActivator;
use timely::worker::Worker;
use tradeflow_operators::snapshot::{Coordinator, Decision, Report, newest_common};

use super::{FileSnapshots, Membership};

/// One process's way to the leader: the reports waiting to be sent, and what it knows of the
/// boundaries complete everywhere.
pub struct Link {
    pub membership: Membership,
    workers: usize,
    outbox: Mutex<Vec<Report>>,
    /// Wakes the operator that sends the reports (on this process's first worker).
    activator: Mutex<Option<SyncActivator>>,
    /// Workers of this process whose graph has ended.
    ended: Mutex<BTreeSet<usize>>,
    /// The leader said every process has ended.
    done: AtomicBool,
    /// Boundaries complete in every process since the start, oldest first.
    complete: Mutex<Vec<u64>>,
}

/// Locks one of the snapshot stores' mutexes. Nothing holding them can panic half-way, so a
/// lock poisoned by a panic elsewhere still holds consistent bookkeeping.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    pub(super) fn new(membership: Membership, workers: usize) -> Self {
        Link {
            membership,
            workers,
            outbox: Mutex::default(),
            activator: Mutex::default(),
            ended: Mutex::default(),
            done: AtomicBool::new(false),
            complete: Mutex::default(),
        }
    }

    /// Whether `worker` (a global index) is its process's first: the one that talks.
    pub fn talks(&self, worker: usize) -> bool {
        worker == self.membership.process * self.workers
    }

    pub(super) fn report(&self, report: Report) {
        lock(&self.outbox).push(report);
        self.wake();
    }

    fn wake(&self) {
        if let Some(activator) = lock(&self.activator).as_ref() {
            // Fails only once the operator is gone, when nothing is left to send.
            let _ = activator.activate();
        }
    }

    pub(super) fn restarted(&self, start: u64) {
        *lock(&self.complete) = if start > 0 { vec![start] } else { Vec::new() };
    }

    /// `boundary` is complete everywhere: the `keep` newest such boundaries.
    pub(super) fn completed(&self, boundary: u64, keep: usize) -> Vec<u64> {
        let mut complete = lock(&self.complete);
        complete.push(boundary);
        complete[complete.len().saturating_sub(keep)..].to_vec()
    }

    pub(super) fn ended(&self, worker: usize) {
        let mut ended = lock(&self.ended);
        if ended.insert(worker) && ended.len() == self.workers {
            drop(ended);
            self.report(Report::Ended { process: self.membership.process });
        }
    }

    pub(super) fn done(&self) {
        self.done.store(true, Ordering::Release);
        self.wake();
    }
}

/// The boundary every worker restarts from: the newest one every process has a complete
/// snapshot of. Every worker calls it before it builds the job's graph; then each process's
/// first worker has its store [`resume_at`](FileSnapshots::resume_at) that boundary.
pub fn agree_on_start(worker: &mut Worker, store: &FileSnapshots) -> anyhow::Result<u64> {
    let Some(link) = store.link() else { return Ok(store.start()) };
    let talks = link.talks(worker.index());
    let agreed = Rc::new(Cell::new(None));
    let mut input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, lists) = scope.new_input::<Vec<u64>>();
        let leads = scope.index() == 0;
        let seen = Rc::clone(&agreed);
        lists
            .exchange(|_| 0)
            .unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                Pipeline,
                "AgreeOnStart",
                move |capability, _| {
                    let (mut capability, mut lists) = (Some(capability), Vec::new());
                    move |(input, frontier), output| {
                        input.for_each(|_, data| lists.append(data));
                        if frontier.is_empty()
                            && let Some(capability) = capability.take()
                            && leads
                        {
                            output.session(&capability).give(newest_common(&lists));
                        }
                    }
                },
            )
            .broadcast()
            .inspect(move |start| seen.set(Some(*start)));
        input
    });
    if talks {
        input.send(store.boundaries()?);
    }
    input.close();
    while agreed.get().is_none() {
        worker.step();
    }
    Ok(agreed.get().unwrap_or(0))
}

/// The dataflow that carries the reports of every process to the leader and its decisions
/// back, until every process's graph has ended. Every worker builds it, before the job's graph.
pub fn coordinate(worker: &mut Worker, store: &Arc<FileSnapshots>) {
    let Some(link) = store.link() else { return };
    let talks = link.talks(worker.index());
    let (workers, processes) = (link.workers, link.membership.processes);
    let (every, start) = (store.manifest.every_epochs, store.start());
    worker.dataflow::<u64, _, _>(|scope| {
        let sender = Arc::clone(store);
        let reports = source::<_, CapacityContainerBuilder<Vec<Report>>, _, _>(
            scope,
            "SnapshotReports",
            move |capability, info| {
                let mut capability = Some(capability);
                match sender.link() {
                    Some(link) if talks => {
                        *lock(&link.activator) = Some(scope.worker().sync_activator_for(info.address.to_vec()));
                    }
                    _ => capability = None,
                }
                move |output| {
                    let (Some(held), Some(link)) = (capability.as_mut(), sender.link()) else { return };
                    let reports = std::mem::take(&mut *lock(&link.outbox));
                    if !reports.is_empty() {
                        output.session(held).give_iterator(reports.into_iter());
                        let next = *held.time() + 1;
                        held.downgrade(&next);
                    }
                    if link.done.load(Ordering::Acquire) {
                        capability = None;
                    }
                }
            },
        );
        let leads = scope.index() == 0;
        let receiver = Arc::clone(store);
        reports
            .exchange(|_| 0)
            .unary::<CapacityContainerBuilder<Vec<(usize, Decision)>>, _, _, _>(
                Pipeline,
                "SnapshotLeader",
                move |_, _| {
                    let mut leader = leads.then(|| Coordinator::new(every, processes, start));
                    move |input, output| {
                        input.for_each(|capability, data| {
                            let Some(leader) = leader.as_mut() else { return };
                            let mut session = output.session(&capability);
                            for report in data.drain(..) {
                                for decision in leader.on(report) {
                                    session.give_iterator((0..processes).map(|p| (p, decision.clone())));
                                }
                            }
                        });
                    }
                },
            )
            .exchange(move |(process, _)| (process * workers) as u64)
            .sink(Pipeline, "SnapshotDecisions", move |(input, _)| {
                input.for_each(|_, data| {
                    for (_, decision) in data.drain(..) {
                        receiver.decided(decision);
                    }
                });
            });
    });
}
