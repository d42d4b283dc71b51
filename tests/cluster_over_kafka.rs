//! Timely's cluster mode over loopback: the job as 2 processes x 2 workers, reading a
//! 4-partition topic (each partition read by exactly one worker of one process), makes exactly
//! the orders and fills of 1 process x 1 worker reading the same topic.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Table, Tansu, kafka_job, run_job, simulator_names, write_config};

const SIMULATOR: &str = "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nseed = 9\nsymbols = 8\nduration_s = 1800\nticks_per_second = 2.0\nnews_per_hour = 120\njump_pct = 3.0\n";

#[test]
fn two_processes_of_two_workers_trade_like_one_worker() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let names = simulator_names(SIMULATOR);
    let sim = write_config(dir.path(), "sim.toml", SIMULATOR);
    broker.load_simulated(&sim);

    let single = write_config(dir.path(), "single.toml", &kafka_job("cluster", 1, b, "single", &names, ""));
    let one = dir.path().join("one");
    run_job(&single, &one, &["-w", "1"]);

    let cluster = write_config(dir.path(), "cluster.toml", &kafka_job("cluster", 1, b, "cluster", &names, ""));
    let outs = [dir.path().join("p0"), dir.path().join("p1")];
    Cluster::start(&cluster, 2, &outs, dir.path()).finish_within(Duration::from_secs(300));
    let parts: Vec<&Path> = outs.iter().map(|p| p.as_path()).collect();
    for stream in ["ticks", "orders", "fills", "positions"] {
        let a = Table::read(&one, stream).sorted_rows(&[]);
        let c = Table::read_all(&parts, stream).sorted_rows(&[]);
        assert_eq!(a.len(), c.len(), "{stream}: row count");
        assert!(a == c, "{stream} differs between 1x1 and 2x2");
    }
    assert!(Table::read(&one, "orders").len() > 5, "the strategy should trade");
    // Each process read part of the ticks: the partitions were spread over both.
    for p in &parts {
        assert!(!Table::read(p, "ticks").is_empty(), "{} read no ticks", p.display());
    }
}
