//! What the kill-and-restart tests share: the session and the job's sections, the streams
//! compared, where a run's snapshots are, and the comparison with an uninterrupted run.

use std::collections::HashSet;
use std::path::Path;

use super::Table;

/// The simulated session: its first epoch (1 s epochs) and its length.
pub const START_EPOCH: u64 = 1_704_205_800;
pub const DURATION_S: u64 = 5400;

/// A snapshot every 30 s of event time.
pub const SNAPSHOTS: &str = "\n[snapshots]\nevery_s = 30\n";

/// The simulated session.
pub fn simulator(symbols: usize, duration_s: u64) -> String {
    format!(
        r#"
[source]
kind = "simulator"
seed = 7
symbols = {symbols}
start = "2024-01-02T14:30:00Z"
duration_s = {duration_s}
ticks_per_second = 3.0
news_per_hour = 120
jump_pct = 2.0
"#
    )
}

/// A busier strategy than the default, and control commands from the config.
pub const TRADING: &str = r#"
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
"#;

/// Every batched kernel (their CPU twins), with short histories so that all of them produce
/// values within the session.
pub const KERNELS: &str = r#"
[kernels]
gpu = "off"

[kernels.garch]
window = 60
min_returns = 20
refit_every = 10

[kernels.indicators]
history = 60

[kernels.cup_handle]

[kernels.var]
every_s = 300
window = 30
min_observations = 10
horizon_bars = 30
paths = 2000
"#;

/// Every stream the job writes, with the columns measured on the wall clock (which no two
/// runs share).
pub const STREAMS: &[(&str, &[&str])] = &[
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
    ("var", &[]),
];

/// The boundary (epoch) of the newest complete snapshot in the run's folder.
pub fn newest_snapshot(run: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(run.join("snapshots")).ok()?;
    entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("snapshot-")?.parse().ok()).max()
}

pub fn finished(run: &Path) -> bool {
    std::fs::read_to_string(run.join("run.json")).is_ok_and(|t| t.contains("\"finished\""))
}

/// A strategist review's detail without what the wall clock decides: the call's latency.
fn without_wall_clock(row: String) -> String {
    match row.rfind("; ") {
        Some(from) if row.ends_with(" ms") && row[from + 2..row.len() - 3].parse::<f64>().is_ok() => {
            row[..from].to_owned()
        }
        _ => row,
    }
}

/// Every row of every stream of `resumed` equals `reference`'s; no part file was left
/// half-written as if complete.
pub fn assert_same_output(reference: &[&Path], resumed: &[&Path], resumed_from: &[Option<u64>]) {
    let mut differences = Vec::new();
    for (stream, wall_clock) in STREAMS {
        let rows = |runs| {
            let mut rows: Vec<String> =
                Table::read_all(runs, stream).sorted_rows(wall_clock).into_iter().map(without_wall_clock).collect();
            rows.sort();
            rows
        };
        let (want, got) = (rows(reference), rows(resumed));
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
    let orders = Table::read_all(reference, "orders").len();
    assert!(orders > 10, "the run should trade: {orders} orders");
    for (stream, run) in STREAMS.iter().flat_map(|(stream, _)| resumed.iter().map(move |run| (stream, run))) {
        for entry in std::fs::read_dir(run.join(stream)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(name.ends_with(".parquet") && !name.starts_with('.'), "{stream}/{name}");
        }
    }
}
