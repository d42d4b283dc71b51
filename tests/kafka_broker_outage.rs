//! Fault injection: the Kafka broker stops answering (SIGSTOP), or its process is killed and
//! started again, for longer than the source's idle timeout and its stop-after-idle, in the
//! middle of a run. The job must wait for it and go on: every row of every stream as in a run
//! without the outage, no dead letter.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::metric;
use common::{Table, Tansu, kafka_job, run_job, simulator_names, write_config};

const START: f64 = 1_704_205_800.0;
const SIMULATOR: &str = "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nseed = 5\nsymbols = 20\nstart = \"2024-01-02T14:30:00Z\"\nduration_s = 3600\nticks_per_second = 3.0\nnews_per_hour = 120\njump_pct = 3.0\n";

const STREAMS: &[&str] =
    &["ticks", "news", "bars_1m", "signals", "orders", "fills", "positions", "pnl", "dead_letters"];

/// The job's event time from its metrics endpoint, once it serves one.
fn event_time(port: u16) -> Option<f64> {
    let text = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call().ok()?.body_mut().read_to_string().ok()?;
    text.contains("tradeflow_event_time_seconds{job=\"outage\"}")
        .then(|| metric(&text, "tradeflow_event_time_seconds", "job=\"outage\""))
}

/// Runs the job twice over the same topics of `broker`, by two groups: once without trouble,
/// once with `outage` a sixth of the way into the session (the broker is back when it
/// returns, 6 s later). The second run must wait for the broker and write exactly what the
/// first wrote, with no dead letter.
fn outage_midway(mut broker: Tansu, outage: impl FnOnce(&mut Tansu)) {
    let dir = tempfile::tempdir().unwrap();
    let names = simulator_names(SIMULATOR);
    let sim = write_config(dir.path(), "sim.toml", SIMULATOR);
    broker.load_simulated(&sim);
    let b = broker.brokers.clone();

    // Both give up 4 s after the last message; the outage lasts 6 s, past that and past the
    // partitions' idle timeout (2 s).
    let plain = write_config(dir.path(), "plain.toml", &kafka_job("outage", 2, &b, "plain", &names, ""));
    let reference = dir.path().join("reference");
    run_job(&plain, &reference, &[]);

    let config = write_config(dir.path(), "outage.toml", &kafka_job("outage", 2, &b, "outage", &names, ""));
    let out = dir.path().join("out");
    let port = common::ports::free_ports(1)[0];
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(["run", config.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A sixth of the session in: the job is reading.
    let deadline = Instant::now() + Duration::from_secs(60);
    let at = loop {
        if let Some(t) = event_time(port).filter(|t| *t >= START + 600.0) {
            break t;
        }
        assert!(child.try_wait().unwrap().is_none(), "the job ended before the outage");
        assert!(Instant::now() < deadline, "the job did not get 10 minutes into the session within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    outage(&mut broker);
    assert!(child.try_wait().unwrap().is_none(), "the job gave up during the outage");
    assert!(at < START + 3000.0, "the outage came at {at}, too late in the session to tell");

    let run = child.wait_with_output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for stream in STREAMS {
        let want = Table::read(&reference, stream).sorted_rows(&[]);
        let got = Table::read(&out, stream).sorted_rows(&[]);
        assert!(got == want, "{stream}: {} rows after the outage, {} without", got.len(), want.len());
    }
    assert_eq!(Table::read(&out, "dead_letters").len(), 0);
    assert!(Table::read(&out, "orders").len() > 10, "the session should trade");
}

#[test]
fn a_broker_that_stops_answering_midway_is_waited_for_and_nothing_is_lost_or_doubled() {
    outage_midway(Tansu::start(), |broker| {
        broker.pause();
        std::thread::sleep(Duration::from_secs(6));
        broker.resume();
    });
}

/// The broker process itself dies (SIGKILL) and is started again: its connections drop,
/// connecting is refused for 6 s, then a new process serves the same topics (kept in its
/// object store) on the same port.
#[test]
fn a_broker_killed_midway_and_started_again_is_waited_for_and_nothing_is_lost_or_doubled() {
    outage_midway(Tansu::start_persistent(), |broker| {
        broker.kill();
        std::thread::sleep(Duration::from_secs(6));
        broker.start_again();
    });
}
