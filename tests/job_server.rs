//! The job server end to end: the binary serving on loopback, driven over HTTP and by its own
//! client commands. Jobs are submitted, watched while their counters rise, steered with the
//! kill switch, stopped (they drain and their outputs are complete), and a failing job does
//! not disturb another. Bad requests change nothing.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Server, TOKEN, long_job, metric};
use common::{Table, tradeflow};
use serde_json::Value;

fn server_max_body() -> usize {
    tradeflow::server::MAX_BODY
}

#[test]
fn jobs_are_submitted_watched_steered_and_stopped_and_bad_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());

    // Unauthenticated and malformed requests: clear answers, nothing started.
    let (status, body) = server.call("GET", "/health", None, None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call("GET", "/jobs", None, None);
    assert_eq!((status, body.contains("bearer token")), (401, true), "{body}");
    assert_eq!(server.call("GET", "/metrics", Some("wrong-token-0123456789"), None).0, 401);
    assert_eq!(server.call("POST", "/jobs", None, Some(("application/toml", &long_job("x", "x")))).0, 401);
    let (status, body) =
        server.call("POST", "/jobs", Some(TOKEN), Some(("application/toml", "[job]\nname = \"x\"\nworkerz = 2\n")));
    assert_eq!(status, 400);
    assert!(body.contains("workerz") && body.contains("line 3"), "{body}");
    let (status, body) =
        server.call("POST", "/jobs", Some(TOKEN), Some(("application/json", "{\"job\": {\"name\": 7}}")));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("JSON"), "{body}");
    let escape = long_job("x", "../outside");
    let (status, body) = server.call("POST", "/jobs", Some(TOKEN), Some(("application/toml", &escape)));
    assert_eq!(status, 400);
    assert!(body.contains("output.dir") && body.contains("inside the server's folder"), "{body}");
    // Too large: 413 (or, when the server answers before the client has written it all, a
    // connection closed under the client's feet, shown as status 0).
    let big = "#".repeat(2 << 20);
    let (status, body) = server.call("POST", "/jobs", Some(TOKEN), Some(("application/toml", &big)));
    assert!(status == 413 || status == 0, "{status} {body}");
    let just_over = "#".repeat(server_max_body() + 100);
    let (status, body) = server.call("POST", "/jobs", Some(TOKEN), Some(("application/toml", &just_over)));
    assert!(status == 413 || status == 0, "{status} {body}");
    let (status, body) = server.call(
        "POST",
        "/jobs/job-1/control",
        Some(TOKEN),
        Some(("application/json", "{\"command\": \"explode\"}")),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.get("/jobs"), serde_json::json!([]));

    // A job: submitted with the client, its counters rise.
    let config = dir.path().join("long.toml");
    std::fs::write(&config, long_job("long", "long")).unwrap();
    let said = server.client(&["submit", config.to_str().unwrap()]);
    assert!(said.contains("submitted as job-1 (running)"), "{said}");
    let first = server.wait_for("job-1", "ticks", |j| j["records_in"]["ticks"].as_u64().unwrap_or(0) > 10_000);
    let later = server.wait_for("job-1", "more ticks", |j| {
        j["records_in"]["ticks"].as_u64() > first["records_in"]["ticks"].as_u64()
            && j["event_time_ns"].as_i64() > first["event_time_ns"].as_i64()
    });
    assert_eq!(later["state"], "running");
    let metrics = server.call("GET", "/metrics", Some(TOKEN), None).1;
    assert!(metric(&metrics, "tradeflow_records_in_total", "input=\"ticks\",job=\"job-1\"") > 10_000.0, "{metrics}");
    assert!(metrics.contains("tradeflow_jobs{state=\"running\"} 1"), "{metrics}");
    let listed = server.client(&["jobs"]);
    assert!(listed.lines().any(|l| l.starts_with("job-1  long  running")), "{listed}");

    // A second job that fails at run time (its QuestDB never answers) fails alone.
    let failing = format!(
        "{}\n[output.questdb]\nconf = \"http::addr=127.0.0.1:9;protocol_version=1;\"\nstreams = [\"bars_1m\"]\ngive_up_after_s = 0.5\nretry_initial_ms = 20\nretry_max_ms = 50\n",
        long_job("failing", "failing").replace("duration_s = 2592000", "duration_s = 600")
    );
    let (status, body) = server.call("POST", "/jobs", Some(TOKEN), Some(("application/toml", &failing)));
    assert_eq!(status, 201, "{body}");
    let failed = server.wait_for("job-2", "failure", |j| j["state"] == "failed");
    assert!(failed["last_error"].as_str().unwrap().contains("QuestDB table `bars_1m`"), "{failed}");
    let still = server.get("/jobs/job-1");
    assert_eq!(still["state"], "running");
    server.wait_for("job-1", "progress after the other failed", |j| {
        j["records_in"]["ticks"].as_u64() > still["records_in"]["ticks"].as_u64()
    });

    // A limit change and the kill switch, then a graceful stop: the job drains and its outputs
    // are complete.
    let set = r#"{"command": {"set_limit": {"limit": "max_order_notional", "value": 5000}}}"#;
    let (status, body) = server.call("POST", "/jobs/job-1/control", Some(TOKEN), Some(("application/json", set)));
    assert_eq!(status, 202, "{body}");
    let bad = r#"{"command": {"set_limit": {"limit": "max_leverage", "value": 2}}}"#;
    let (status, body) = server.call("POST", "/jobs/job-1/control", Some(TOKEN), Some(("application/json", bad)));
    assert_eq!((status, body.contains("cannot be set")), (400, true), "{body}");
    let (status, body) =
        server.call("POST", "/jobs/job-1/control", Some(TOKEN), Some(("application/json", "{\"command\": \"halt\"}")));
    assert_eq!(status, 202, "{body}");
    let (status, body) = server.call("DELETE", "/jobs/job-1", Some(TOKEN), None);
    assert_eq!((status, body.contains("stop it first")), (409, true), "{body}");
    assert_eq!(server.client(&["stop", "job-1"]), "job-1: stopping\n");
    let stopped = server.wait_for("job-1", "the stop", |j| j["state"] == "stopped");
    let summary = &stopped["summary"];
    assert_eq!(summary["state"], "stopped");
    let run = dir.path().join("runs/long");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "stopped");
    let ticks = Table::read(&run, "ticks");
    assert_eq!(ticks.len() as u64, summary["ticks"].as_u64().unwrap(), "every tick read is written");
    assert_eq!(stopped["records_in"]["ticks"], summary["ticks"]);
    // Every order's tick-to-order latency was measured.
    let metrics = server.call("GET", "/metrics", Some(TOKEN), None).1;
    let orders = summary["rows"]["orders"].as_f64().unwrap();
    assert!(orders > 0.0, "the stopped job made no orders");
    assert_eq!(metric(&metrics, "tradeflow_tick_to_order_seconds_count", "job=\"job-1\""), orders, "{metrics}");
    let events = Table::read(&run, "risk_events");
    assert!(events.text("kind").iter().any(|k| k == "halted"), "the halt reached the risk book");
    let changed: Vec<String> =
        events.text("kind").iter().zip(events.text("detail")).filter(|(k, _)| *k == "limit").map(|(_, d)| d).collect();
    assert_eq!(changed, ["max_order_notional: 100000 -> 5000"], "the limit change reached the risk book");
    assert_eq!(server.call("DELETE", "/jobs/job-1", Some(TOKEN), None).0, 204);
    assert_eq!(server.call("GET", "/jobs/job-1", Some(TOKEN), None).0, 404);

    // The OpenAPI document names every route.
    let openapi = server.get("/openapi.json");
    for path in ["/health", "/jobs", "/jobs/{id}", "/jobs/{id}/stop", "/jobs/{id}/control", "/metrics", "/openapi.json"]
    {
        assert!(openapi["paths"][path].is_object(), "{path} is not documented");
    }
}

#[test]
fn a_run_serves_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("m.toml");
    std::fs::write(&config, long_job("metered", "m").replace("duration_s = 2592000", "duration_s = 86400")).unwrap();
    let (mut child, ports) = common::ports::spawn_listening("the run", 1, Duration::from_secs(30), |ports| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tradeflow"));
        command
            .args(["run", config.to_str().unwrap(), "-q", "-o"])
            .arg(dir.path().join("out"))
            .args(["--metrics-listen", &format!("127.0.0.1:{}", ports[0])])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    });
    let port = ports[0];
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let got = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok());
        if let Some(text) = got.filter(|t| t.contains("tradeflow_event_time_seconds{job=\"metered\"}")) {
            break text;
        }
        assert!(Instant::now() < deadline, "no metrics from the run");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(metric(&text, "tradeflow_event_time_seconds", "job=\"metered\"") > 1.7e9, "{text}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!tradeflow(&["run", config.to_str().unwrap(), "--metrics-listen", "not-an-address"]).status.success());
}
