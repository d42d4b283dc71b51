//! A job killed mid-stream (SIGKILL) and started again over the same output folder and
//! consumer group: it resumes from the offsets the group last committed (none here: the killed
//! run never finished), and its outputs equal an uninterrupted run's. What the killed run had
//! already sent to the output topic repeats with the same deterministic ids, so a consumer that
//! drops duplicate ids sees exactly the uninterrupted run's orders.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Table, Tansu, kafka_job, ok, run_job, simulator_names, tradeflow, write_config};

const SIMULATOR: &str = "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nseed = 21\nsymbols = 6\nduration_s = 1800\nticks_per_second = 2.0\nnews_per_hour = 120\njump_pct = 3.0\n";

#[test]
fn a_killed_job_started_again_loses_and_doubles_nothing() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let names = simulator_names(SIMULATOR);
    let sim = write_config(dir.path(), "sim.toml", SIMULATOR);
    for (topic, partitions) in [
        ("ticks", "4"),
        ("news", "2"),
        ("signals", "1"),
        ("orders", "2"),
        ("fills", "1"),
        ("risk_events", "1"),
        ("dead_letters", "1"),
    ] {
        ok(&["topics", "create", topic, "--partitions", partitions, "--brokers", b]);
    }
    ok(&["produce", "news", "--simulate", sim.to_str().unwrap(), "--topic", "news", "--brokers", b]);

    // Ticks arrive over about eight seconds while the job runs; the job is killed after three.
    let producer = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args([
            "produce",
            "ticks",
            "--simulate",
            sim.to_str().unwrap(),
            "--topic",
            "ticks",
            "--rate",
            "3500",
            "--brokers",
            b,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let config = write_config(
        dir.path(),
        "restart.toml",
        &kafka_job("restart", 2, b, "restart", &names, &format!("[output.kafka]\nbrokers = \"{b}\"\n")),
    );
    let out = dir.path().join("out");
    let mut killed = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(["run", config.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(killed.try_wait().unwrap().is_none(), "the job must still be running when it is killed");
    killed.kill().unwrap();
    killed.wait().unwrap();
    let report = tradeflow(&["report", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&report.stderr).contains("has not finished"), "a killed run has no report");

    let produced = producer.wait_with_output().unwrap();
    assert!(produced.status.success(), "{}", String::from_utf8_lossy(&produced.stderr));

    // Started again into the same folder with the same group; then an uninterrupted reference.
    run_job(&config, &out, &[]);
    let reference_config =
        write_config(dir.path(), "reference.toml", &kafka_job("restart", 2, b, "reference", &names, ""));
    let reference = dir.path().join("reference");
    run_job(&reference_config, &reference, &[]);

    for stream in ["ticks", "signals", "orders", "fills", "positions", "pnl"] {
        let a = Table::read(&reference, stream).sorted_rows(&["latency_ns"]);
        let r = Table::read(&out, stream).sorted_rows(&["latency_ns"]);
        assert_eq!(a.len(), r.len(), "{stream}: row count");
        assert!(a == r, "{stream} differs from the uninterrupted run");
    }
    let want: BTreeSet<String> = Table::read(&reference, "orders").text("id").into_iter().collect();
    assert!(want.len() > 5, "the strategy should trade");
    let lines = ok(&["consume", "orders", "--from-beginning", "--format", "json", "--idle-s", "5", "--brokers", b]);
    let ids: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct, want, "after dropping repeated ids the topic holds exactly the orders");
    assert!(ids.len() >= want.len());
}
