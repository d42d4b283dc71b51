//! A process of a cluster whose peers never answer ends with the reason after
//! `--join-timeout-s`, rather than wait for ever as Timely would: its peer was never started,
//! or its peer's address is held by a stranger that accepts the connection and says nothing
//! (as when two clusters were handed the same port).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::cluster_ports;
use common::write_config;

const JOB: &str = "[job]\nname = \"formation\"\n[source]\nkind = \"simulator\"\nsymbols = 2\nduration_s = 60\n";

/// Runs process 1 of 2 against `hosts` with a 2 s join timeout: it must fail within a bound,
/// naming the timeout and the addresses, in its output and in its `run.json`.
fn process_one_gives_up(dir: &Path, hosts: &str) {
    let config = write_config(dir, "job.toml", JOB);
    let hostfile = write_config(dir, "hosts", hosts);
    let out = dir.join("p1");
    let started = Instant::now();
    let run = common::tradeflow_within(
        &[
            "run",
            config.to_str().unwrap(),
            "-q",
            "-n",
            "2",
            "-p",
            "1",
            "-h",
            hostfile.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--join-timeout-s",
            "2",
        ],
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(30), "gave up after {took:?}");
    let first = hosts.lines().next().unwrap();
    assert!(stderr.contains("process 1: the cluster did not form within 2 s"), "{stderr}");
    assert!(stderr.contains(first), "the addresses are named: {stderr}");
    let manifest = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(manifest.contains("\"failed\"") && manifest.contains("did not form"), "{manifest}");
}

#[test]
fn a_process_whose_peer_never_started_ends_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ports = cluster_ports(2);
    process_one_gives_up(dir.path(), &format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]));
}

#[test]
fn a_process_that_reached_a_stranger_on_its_peers_address_ends_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts (the kernel does, into its backlog) and never answers.
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = cluster_ports(1)[0];
    let hosts = format!("{}\n127.0.0.1:{port}\n", stranger.local_addr().unwrap());
    process_one_gives_up(dir.path(), &hosts);
}
