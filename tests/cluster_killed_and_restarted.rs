//! Fault injection in timely's cluster mode: a job of 2 processes keeps snapshots, one
//! process is killed with SIGKILL at several points (the other then fails on the lost
//! connection), and both are started again each time. Resumed from the newest snapshot both
//! processes have (once, one process has lost its newest snapshot, and the other must go back
//! to the one before), the two must together leave exactly the output of an uninterrupted run
//! of 2 processes: every row of every stream.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::restarts::{DURATION_S, KERNELS, SNAPSHOTS, START_EPOCH, TRADING, assert_same_output, finished, simulator};
use common::{FAST_ENSEMBLE, write_config};

/// How long a whole run of the cluster may take (about 5 s here).
const RUN_WITHIN: Duration = Duration::from_secs(180);

/// The demo's graph, `duration_s` long, with every batched kernel (their CPU twins), control
/// commands and limit orders; with snapshots every 30 s of event time when `snapshots`.
fn config(snapshots: bool, duration_s: u64) -> String {
    let job = "[job]\nname = \"cluster-snapshots\"\nepoch_ms = 1000\nread_ahead_s = 10\n";
    let simulator = simulator(24, duration_s);
    let text = format!("{job}{simulator}{FAST_ENSEMBLE}{KERNELS}{TRADING}");
    if snapshots { text + SNAPSHOTS } else { text }
}

/// The newest boundary both processes have a complete snapshot of (a process may be one
/// boundary ahead of the other).
fn newest_common(outs: &[PathBuf; 2]) -> Option<u64> {
    let boundaries = |out: &Path| -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(out.join("snapshots")) else { return Vec::new() };
        entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("snapshot-")?.parse().ok()).collect()
    };
    let (a, b) = (boundaries(&outs[0]), boundaries(&outs[1]));
    a.into_iter().filter(|x| b.contains(x)).max()
}

/// The ticks the last run into `out` read (from its `run.json`).
fn ticks_read(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("run.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["ticks"].as_u64().unwrap_or_else(|| panic!("no tick count in {text}"))
}

/// Runs the cluster of `saved` into `resumed`, killing one process each time the snapshots
/// both processes have reach one of the `kills` (a fraction of the session, then milliseconds,
/// then which process), and starting both again; the second time, the victim also loses its
/// newest snapshot. Finishes the run; returns the boundary each restart resumed from.
fn kill_and_restart(
    saved: &Path,
    resumed: &[PathBuf; 2],
    scratch: &Path,
    kills: &[(f64, u64, usize)],
) -> Vec<Option<u64>> {
    let mut resumed_from = Vec::new();
    for (kill, &(fraction, after_ms, victim)) in kills.iter().enumerate() {
        let mut cluster = Cluster::start(saved, 1, resumed, scratch);
        let kill_at = START_EPOCH + (DURATION_S as f64 * fraction) as u64;
        let deadline = Instant::now() + RUN_WITHIN;
        while newest_common(resumed).is_none_or(|b| b < kill_at) && cluster.running() {
            assert!(Instant::now() < deadline, "no snapshot reached epoch {kill_at} within {RUN_WITHIN:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(after_ms));
        if !cluster.running() {
            cluster.finish_within(RUN_WITHIN);
            panic!("the job ended before the kill at {fraction} of the session");
        }
        cluster.kill(victim);
        // The survivor loses its peer and must stop by itself, not hang.
        let survivor = 1 - victim;
        let status = cluster.wait_for(survivor, Duration::from_secs(30));
        let status = status.unwrap_or_else(|| panic!("process {survivor} still ran 30 s after its peer was killed"));
        assert!(!status.success(), "process {survivor} finished without its peer");
        cluster.end_within(Duration::from_secs(10));
        if kill == 1 {
            // As if the victim had died before it sealed the newest boundary, which the other
            // had sealed: both must go back to the boundary before, which both have.
            let newest = newest_common(resumed).unwrap();
            std::fs::remove_dir_all(resumed[victim].join(format!("snapshots/snapshot-{newest:020}"))).unwrap();
        }
        resumed_from.push(newest_common(resumed));
        assert!(!finished(&resumed[0]) && !finished(&resumed[1]));
    }
    Cluster::start(saved, 1, resumed, scratch).finish_within(RUN_WITHIN);
    resumed_from
}

#[test]
fn a_cluster_killed_at_random_points_and_restarted_writes_what_an_uninterrupted_cluster_writes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_config(dir.path(), "plain.toml", &config(false, DURATION_S));
    let saved = write_config(dir.path(), "saved.toml", &config(true, DURATION_S));
    let reference = [dir.path().join("reference0"), dir.path().join("reference1")];
    let resumed = [dir.path().join("resumed0"), dir.path().join("resumed1")];
    Cluster::start(&plain, 1, &reference, dir.path()).finish_within(RUN_WITHIN);

    let kills = [(0.15, 3, 1), (0.35, 17, 0), (0.55, 0, 1), (0.75, 29, 0)];
    let resumed_from = kill_and_restart(&saved, &resumed, dir.path(), &kills);
    // Every restart had a boundary both processes had sealed to resume from, and the last
    // run went on from it: it read only the ticks after it.
    assert!(resumed_from.iter().all(|b| b.is_some_and(|b| b > START_EPOCH)), "restarts from {resumed_from:?}");
    let read = |outs: &[PathBuf; 2]| -> u64 { outs.iter().map(|out| ticks_read(out)).sum() };
    let (all, last) = (read(&reference), read(&resumed));
    assert!(last > 0 && last * 2 < all, "the last run read {last} ticks of {all}: it did not resume");
    let reference: Vec<&Path> = reference.iter().map(PathBuf::as_path).collect();
    let resumed: Vec<&Path> = resumed.iter().map(PathBuf::as_path).collect();
    assert_same_output(&reference, &resumed, &resumed_from);
}

#[test]
fn a_state_one_process_cannot_read_ends_both_and_one_process_alone_refuses_the_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let saved = write_config(dir.path(), "saved.toml", &config(true, 600));
    let outs = [dir.path().join("p0"), dir.path().join("p1")];
    Cluster::start(&saved, 1, &outs, dir.path()).finish_within(RUN_WITHIN);

    // The second process cannot read a state: it fails with the reason, and the first stops
    // too; neither waits for the other forever.
    let boundary = newest_common(&outs).unwrap();
    let state = outs[1].join(format!("snapshots/snapshot-{boundary:020}/w1-source_ticks.bin"));
    std::fs::write(&state, b"not a state").unwrap();
    let runs = Cluster::start(&saved, 1, &outs, dir.path()).end_within(Duration::from_secs(60));
    assert!(runs.iter().all(|(status, _)| !status.success()));
    let printed = &runs[1].1;
    assert!(printed.contains("worker 1 failed: snapshot state of `source_ticks` on worker 1"), "{printed}");
    let manifest = std::fs::read_to_string(outs[1].join("run.json")).unwrap();
    assert!(manifest.contains("\"failed\"") && manifest.contains("source_ticks"), "{manifest}");

    // One process alone refuses a cluster's snapshots.
    let alone = common::tradeflow(&["run", saved.to_str().unwrap(), "-q", "-w", "1", "-o", outs[0].to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert!(!alone.status.success(), "{stderr}");
    assert!(stderr.contains("taken by process 0 of 2, this is process 0 of 1"), "{stderr}");
}
