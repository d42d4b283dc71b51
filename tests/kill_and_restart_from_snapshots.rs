//! Fault injection: the job is killed with SIGKILL at several points and started again each
//! time; resumed from its snapshots, it must leave exactly the output of a run that was never
//! interrupted: every row of every stream (order ids, fills, positions and P&L among them).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Table, run_job, write_config};

/// Every stream the job writes, with the columns measured on the wall clock (which no two
/// runs share).
const STREAMS: &[(&str, &[&str])] = &[
    ("ticks", &[]),
    ("news", &[]),
    ("bars_1s", &[]),
    ("bars_1m", &[]),
    ("indicators", &[]),
    ("sentiment", &["latency_ns"]),
    ("signals", &[]),
    ("orders", &[]),
    ("fills", &[]),
    ("expiries", &[]),
    ("audit", &[]),
    ("positions", &[]),
    ("pnl", &[]),
    ("risk_events", &[]),
    ("dead_letters", &[]),
];

/// The simulated session: its first epoch (1 s epochs) and its length.
const START_EPOCH: u64 = 1_704_205_800;
const DURATION_S: u64 = 5400;

/// The demo's graph without the batched kernels, shorter, with a busier strategy, a control
/// command from the config, and (when `snapshots`) a snapshot every 30 s of event time.
fn config(snapshots: bool) -> String {
    let mut text = format!(
        r#"
[job]
name = "snapshots"
workers = 2
epoch_ms = 1000
read_ahead_s = 10

[source]
kind = "simulator"
seed = 7
symbols = 30
start = "2024-01-02T14:30:00Z"
duration_s = {DURATION_S}
ticks_per_second = 3.0
news_per_hour = 120
jump_pct = 2.0

{}
[risk]
account = "paper"
initial_cash = 1000000
sizing = "fixed"
position_pct = 0.02
entry_threshold = 0.2
exit_threshold = 0.05
entry_order = "limit"
limit_ttl_s = 30

[[control]]
ts = "2024-01-02T15:00:00Z"
command = "halt"

[[control]]
ts = "2024-01-02T15:10:00Z"
command = "resume"
"#,
        common::FAST_ENSEMBLE
    );
    if snapshots {
        text.push_str("\n[snapshots]\nevery_s = 30\n");
    }
    text
}

/// The boundary (epoch) of the newest complete snapshot in the run's folder.
fn newest_snapshot(run: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(run.join("snapshots")).ok()?;
    entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("snapshot-")?.parse().ok()).max()
}

fn finished(run: &Path) -> bool {
    std::fs::read_to_string(run.join("run.json")).is_ok_and(|t| t.contains("\"finished\""))
}

#[test]
fn killed_at_random_points_and_restarted_it_writes_what_an_uninterrupted_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_config(dir.path(), "plain.toml", &config(false));
    let saved = write_config(dir.path(), "saved.toml", &config(true));
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));

    run_job(&plain, &reference, &[]);

    // Each run is killed once its snapshots reach a point of the input (not a point in wall
    // time, which a busy machine stretches), then a few milliseconds later, a different
    // number each time, so that the kills fall at different places in the work between
    // snapshots. Every restart resumes from the newest snapshot.
    let mut killed_midway = 0;
    // The snapshot each restart resumed from, for the message when the output differs.
    let mut resumed_from = Vec::new();
    for (fraction, after_ms) in [(0.1, 0), (0.25, 7), (0.4, 23), (0.55, 3), (0.7, 41), (0.85, 13)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
            .args(["run", saved.to_str().unwrap(), "--quiet", "-o", resumed.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let kill_at = START_EPOCH + (DURATION_S as f64 * fraction) as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while newest_snapshot(&resumed).is_none_or(|b| b < kill_at) && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no snapshot reached epoch {kill_at} within 120 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(after_ms));
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed_midway += 1;
        resumed_from.push(newest_snapshot(&resumed));
        assert!(!finished(&resumed));
    }
    assert!(killed_midway >= 3, "only {killed_midway} kills landed while the job ran");
    let snapshots: Vec<_> = std::fs::read_dir(resumed.join("snapshots")).unwrap().collect();
    assert!(!snapshots.is_empty(), "no snapshot was completed before the kills");
    if !finished(&resumed) {
        run_job(&saved, &resumed, &[]);
    }

    let mut differences = Vec::new();
    for (stream, wall_clock) in STREAMS {
        let want = Table::read(&reference, stream).sorted_rows(wall_clock);
        let got = Table::read(&resumed, stream).sorted_rows(wall_clock);
        if got != want {
            // Sets: the streams run to hundreds of thousands of rows.
            let (want_set, got_set): (HashSet<_>, HashSet<_>) = (want.iter().collect(), got.iter().collect());
            let missing: Vec<_> = want.iter().filter(|r| !got_set.contains(r)).take(3).collect();
            let extra: Vec<_> = got.iter().filter(|r| !want_set.contains(r)).take(3).collect();
            differences.push(format!(
                "{stream}: {} rows resumed, {} uninterrupted; missing {missing:#?}, extra {extra:#?}",
                got.len(),
                want.len()
            ));
        }
    }
    assert!(differences.is_empty(), "restarts from {resumed_from:?}:\n{}", differences.join("\n"));
    let orders = Table::read(&reference, "orders").len();
    assert!(orders > 10, "the run should trade: {orders} orders");
    // No part file was left half-written as if complete.
    for (stream, _) in STREAMS {
        for entry in std::fs::read_dir(resumed.join(stream)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(name.ends_with(".parquet") && !name.starts_with('.'), "{stream}/{name}");
        }
    }
}

#[test]
fn a_snapshot_of_another_config_or_worker_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(true).replace(&format!("duration_s = {DURATION_S}"), "duration_s = 600");
    let saved = write_config(dir.path(), "saved.toml", &text);
    let out = dir.path().join("out");
    run_job(&saved, &out, &[]);

    let fewer = common::tradeflow(&["run", saved.to_str().unwrap(), "-q", "-o", out.to_str().unwrap(), "-w", "1"]);
    let stderr = String::from_utf8_lossy(&fewer.stderr);
    assert!(!fewer.status.success() && stderr.contains("taken with 2 workers, this run has 1"), "{stderr}");

    let changed_text = text.replace("position_pct = 0.02", "position_pct = 0.03");
    let changed = write_config(dir.path(), "changed.toml", &changed_text);
    let other = common::tradeflow(&["run", changed.to_str().unwrap(), "-q", "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && stderr.contains("taken with another job config"), "{stderr}");
    assert!(stderr.contains("snapshots.resume = false"), "{stderr}");

    // Told to start afresh, it does (and removes the old snapshots).
    let fresh = write_config(dir.path(), "fresh.toml", &format!("{changed_text}resume = false\n"));
    run_job(&fresh, &out, &[]);
}
