//! Fault injection: the job is killed with SIGKILL at several points and started again each
//! time; resumed from its snapshots, it must leave exactly the output of a run that was never
//! interrupted: every row of every stream (order ids, fills, positions and P&L among them).

mod common;

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
duration_s = 5400
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

fn finished(run: &Path) -> bool {
    std::fs::read_to_string(run.join("run.json")).is_ok_and(|t| t.contains("\"finished\""))
}

#[test]
fn killed_at_random_points_and_restarted_it_writes_what_an_uninterrupted_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_config(dir.path(), "plain.toml", &config(false));
    let saved = write_config(dir.path(), "saved.toml", &config(true));
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));

    let started = Instant::now();
    run_job(&plain, &reference, &[]);
    let whole = started.elapsed();

    // Kill points spread over the run, each measured from its own start: every restart
    // resumes further on, so later points fall on later parts of the input.
    let mut killed_midway = 0;
    for fraction in [0.2, 0.45, 0.3, 0.6, 0.25, 0.5] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
            .args(["run", saved.to_str().unwrap(), "--quiet", "-o", resumed.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(fraction).max(Duration::from_millis(100)));
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed_midway += 1;
        assert!(!finished(&resumed));
    }
    assert!(killed_midway >= 3, "only {killed_midway} kills landed while the job ran");
    let snapshots: Vec<_> = std::fs::read_dir(resumed.join("snapshots")).unwrap().collect();
    assert!(!snapshots.is_empty(), "no snapshot was completed before the kills");
    if !finished(&resumed) {
        run_job(&saved, &resumed, &[]);
    }

    for (stream, wall_clock) in STREAMS {
        let want = Table::read(&reference, stream).sorted_rows(wall_clock);
        let got = Table::read(&resumed, stream).sorted_rows(wall_clock);
        if got != want {
            let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(3).collect();
            let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(3).collect();
            panic!(
                "{stream}: {} rows resumed, {} uninterrupted; missing {missing:#?}, extra {extra:#?}",
                got.len(),
                want.len()
            );
        }
    }
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
    let text = config(true).replace("duration_s = 5400", "duration_s = 600");
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
