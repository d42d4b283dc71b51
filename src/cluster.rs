//! Forming a cluster: timely connects the processes, and waits for ever while one is missing.
//!
//! A process that is never started, was given another host file, or reached a stranger on its
//! peer's address (one whose own address was taken) would leave the others waiting without a
//! word. So each process counts itself part of the cluster only once every worker of every
//! process has been heard from ([`hear_from_every_worker`]), and ends with the reason unless
//! that happens in time ([`end_unless_the_cluster_forms`]).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use timely::dataflow::operators::Probe;
use timely::dataflow::operators::vec::Input;
use timely::worker::Worker;

/// Ends this process with the reason unless the cluster forms within `within`, which the
/// returned sender is told. Outside a cluster nothing waits.
pub fn end_unless_the_cluster_forms(config: &timely::Config, within: Duration, run_file: PathBuf) -> mpsc::Sender<()> {
    let (formed, heard) = mpsc::channel();
    let timely::CommunicationConfig::Cluster { process, addresses, .. } = &config.communication else {
        return formed;
    };
    let (process, addresses) = (*process, addresses.join(", "));
    std::thread::spawn(move || {
        // Formed, or timely refused to start (the sender is gone): either way nothing hangs.
        if heard.recv_timeout(within) != Err(mpsc::RecvTimeoutError::Timeout) {
            return;
        }
        let error = format!(
            "process {process}: the cluster did not form within {} s: not every process of [{addresses}] answered \
             (is each one started, with the same host file, and is each address free?)",
            within.as_secs_f64()
        );
        crate::job::mark_failed(&run_file, std::slice::from_ref(&error));
        eprintln!("error: {error}");
        std::process::exit(1);
    });
    formed
}

/// Steps `worker` until every worker of the cluster has been heard from. The dataflow's input,
/// which every worker closes at once, is done only once every worker's progress has arrived.
/// Every worker calls it first, before any other dataflow.
pub fn hear_from_every_worker(worker: &mut Worker) {
    let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<()>>();
        (input, stream.probe().0)
    });
    input.close();
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(10)));
    }
}
