//! What the kill-and-restart tests share: the streams compared, where a run's snapshots are,
//! and the comparison with an uninterrupted run.

use std::collections::HashSet;
use std::path::Path;

use super::Table;

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
