//! A job stopped with SIGTERM drains gracefully: what it read flows through the graph and out
//! through the sinks, its run is marked `stopped`, and its consumer group commits exactly what
//! it read, so the next run reads the rest: no tick lost, none read twice.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Table, Tansu, kafka_job, ok, run_job, simulator_names, write_config};

const SIMULATOR: &str = "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nseed = 8\nsymbols = 4\nduration_s = 1200\nticks_per_second = 2.0\n";

fn tick_keys(run: &std::path::Path) -> Vec<String> {
    let ticks = Table::read(run, "ticks");
    ticks.text("symbol").iter().zip(ticks.ts("ts")).map(|(s, t)| format!("{s} {t}")).collect()
}

#[test]
fn sigterm_drains_the_job_and_commits_exactly_what_it_read() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let names = simulator_names(SIMULATOR);
    let sim = write_config(dir.path(), "sim.toml", SIMULATOR);
    ok(&["topics", "create", "ticks", "news", "--partitions", "2", "--brokers", b]);
    // Ticks keep arriving for about six seconds; the job is stopped after two.
    let producer = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(["produce", "ticks", "--simulate", sim.to_str().unwrap(), "--topic", "ticks", "--rate", "3000"])
        .args(["--brokers", b])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let config = write_config(dir.path(), "job.toml", &kafka_job("graceful", 2, b, "graceful", &names, ""));
    let first = dir.path().join("first");
    let job = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(["run", config.to_str().unwrap(), "--quiet", "-o", first.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let term = Command::new("kill").args(["-TERM", &job.id().to_string()]).status().unwrap();
    assert!(term.success());
    let stopped = job.wait_with_output().unwrap();
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "stopped");
    let produced = producer.wait_with_output().unwrap();
    assert!(produced.status.success(), "{}", String::from_utf8_lossy(&produced.stderr));

    // The next run of the same group reads the rest.
    let second = dir.path().join("second");
    run_job(&config, &second, &[]);
    let (a, b_keys) = (tick_keys(&first), tick_keys(&second));
    assert!(!a.is_empty() && !b_keys.is_empty(), "both runs read ticks ({} and {})", a.len(), b_keys.len());
    assert_eq!(manifest["ticks"].as_u64().unwrap() as usize, a.len(), "every tick the stopped run read was written");
    let both: BTreeSet<&String> = a.iter().chain(&b_keys).collect();
    assert_eq!(both.len(), a.len() + b_keys.len(), "no tick read by both runs");
    // `ticks: N sent, 0 skipped`: every tick sent was read by exactly one of the runs.
    let said = String::from_utf8_lossy(&produced.stdout).into_owned();
    let sent: usize = said.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{said}"));
    assert_eq!(both.len(), sent, "ticks read in all vs sent");
}
