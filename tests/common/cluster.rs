//! A job of several processes in Timely's cluster mode, for the end-to-end tests.
//!
//! - Its ports lie below the kernel's ephemeral range, which `free_ports`, the other tests'
//!   servers and every outgoing connection draw from, and this binary never hands one out
//!   twice: a port taken between the check and the bind would leave a process connecting to a
//!   stranger (which is how two clusters started at once by two tests once hung CI).
//! - What the processes print goes to files, not pipes: a full pipe would stall one process,
//!   and the others would wait for it.
//! - Every wait is bounded; a process still running at a deadline is killed, and the panic
//!   shows what each process printed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Ports below the kernel's ephemeral range (by default 32768 to 60999), or 20000 to 32000
/// where that range starts too low to leave room.
fn cluster_port_range() -> std::ops::Range<usize> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    if ephemeral_start >= 12_000 { 10_000..ephemeral_start.min(32_000) } else { 20_000..32_000 }
}

/// How long a process waits for the others to connect (`--join-timeout-s`).
const JOIN_TIMEOUT_S: &str = "30";

/// `count` ports for a cluster, each free a moment ago and never handed out before by this
/// test binary. Each binary starts at another place in the range, so that a process an earlier
/// binary left behind is unlikely to hold one.
pub fn cluster_ports(count: usize) -> Vec<u16> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let range = cluster_port_range();
    let base = std::process::id() as usize * 7919;
    let mut ports = Vec::new();
    while ports.len() < count {
        let next = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(next < range.len(), "no free port left for a cluster in {range:?}");
        let port = u16::try_from(range.start + (base + next) % range.len()).expect("the range lies below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

/// The processes of one cluster run.
pub struct Cluster {
    children: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Cluster {
    /// Starts `tradeflow run CONFIG -w WORKERS` as `outs.len()` processes on fresh ports,
    /// process `p` writing into `outs[p]` and printing into a file in `scratch`.
    pub fn start(config: &Path, workers: usize, outs: &[PathBuf], scratch: &Path) -> Cluster {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let hosts: String = cluster_ports(outs.len()).iter().map(|port| format!("127.0.0.1:{port}\n")).collect();
        let hostfile = super::write_config(scratch, &format!("hosts-{run}"), &hosts);
        let (processes, workers) = (outs.len().to_string(), workers.to_string());
        let (mut children, mut logs) = (Vec::new(), Vec::new());
        for (p, out) in outs.iter().enumerate() {
            let log = scratch.join(format!("cluster-{run}-p{p}.log"));
            let file = File::create(&log).expect("a log file in the scratch folder");
            let child = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
                .args(["run", config.to_str().unwrap(), "--quiet", "-w", &workers, "-n", &processes])
                .args(["-p", &p.to_string(), "-h", hostfile.to_str().unwrap(), "-o", out.to_str().unwrap()])
                .args(["--join-timeout-s", JOIN_TIMEOUT_S])
                .stdout(file.try_clone().expect("the log file opens twice"))
                .stderr(file)
                .stdin(Stdio::null())
                .spawn()
                .expect("tradeflow starts");
            children.push(child);
            logs.push(log);
        }
        Cluster { children, logs }
    }

    /// Whether every process still runs.
    pub fn running(&mut self) -> bool {
        self.children.iter_mut().all(|c| c.try_wait().expect("a child's status").is_none())
    }

    /// Kills process `p` with SIGKILL.
    pub fn kill(&mut self, p: usize) {
        self.children[p].kill().expect("the process is killed");
    }

    /// Process `p`'s exit status, once it has ended within `within`.
    pub fn wait_for(&mut self, p: usize, within: Duration) -> Option<ExitStatus> {
        super::exit_within(&mut self.children[p], within)
    }

    /// What process `p` has printed so far (stdout and stderr).
    pub fn printed(&self, p: usize) -> String {
        std::fs::read_to_string(&self.logs[p]).unwrap_or_default()
    }

    /// Waits up to `within` for every process to end: each one's status and what it printed.
    /// Panics, after killing them, if some still run then.
    pub fn end_within(mut self, within: Duration) -> Vec<(ExitStatus, String)> {
        let deadline = Instant::now() + within;
        let mut statuses = Vec::new();
        for p in 0..self.children.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_for(p, left) {
                Some(status) => statuses.push(status),
                None => {
                    panic!("process {p} of the cluster still ran after {within:?}; printed:\n{}", self.everything())
                }
            }
        }
        statuses.into_iter().enumerate().map(|(p, status)| (status, self.printed(p))).collect()
    }

    /// Waits up to `within` for every process to end, and insists that each succeeded. A
    /// failure shows what every process printed: the one that failed may have been waiting
    /// for the other.
    pub fn finish_within(self, within: Duration) {
        let runs = self.end_within(within);
        if let Some(p) = runs.iter().position(|(status, _)| !status.success()) {
            let printed: String = runs
                .iter()
                .enumerate()
                .map(|(q, (status, printed))| format!("--- process {q} ({status}):\n{printed}"))
                .collect();
            panic!("process {p} of the cluster failed ({}):\n{printed}", runs[p].0);
        }
    }

    fn everything(&self) -> String {
        (0..self.logs.len()).map(|p| format!("--- process {p}:\n{}", self.printed(p))).collect()
    }
}

impl Drop for Cluster {
    /// A test that fails midway leaves no process behind.
    fn drop(&mut self) {
        for child in &mut self.children {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
