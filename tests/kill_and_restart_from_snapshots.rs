//! Fault injection: the job is killed with SIGKILL at several points and started again each
//! time; resumed from its snapshots, it must leave exactly the output of a run that was never
//! interrupted: every row of every stream (order ids, fills, positions and P&L among them).
//! Once reading the simulator, once reading Kafka topics (resumed from the offsets in the
//! snapshots).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::restarts::{
    DURATION_S, KERNELS, SNAPSHOTS, START_EPOCH, TRADING, assert_same_output, finished, newest_snapshot, simulator,
};
use common::{Table, Tansu, kafka_job, run_job, simulator_names, write_config};

/// The demo's graph, shorter, with [`KERNELS`], [`TRADING`], and (when `snapshots`)
/// [`SNAPSHOTS`].
fn config(snapshots: bool) -> String {
    let job = "[job]\nname = \"snapshots\"\nworkers = 2\nepoch_ms = 1000\nread_ahead_s = 10\n";
    let simulator = simulator(30, DURATION_S);
    let text = format!("{job}{simulator}{}{KERNELS}{TRADING}", common::FAST_ENSEMBLE);
    if snapshots { text + SNAPSHOTS } else { text }
}

/// A strategist model following Anthropic's Messages contract, on a thread of the test process
/// so that it outlives every killed run. Its verdict and token counts follow from the prompt
/// alone, so that every run gets the same answers.
fn strategist_server() -> String {
    async fn messages(body: axum::body::Bytes) -> axum::response::Response {
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
        let (approve, size_factor) = match prompt.bytes().map(u64::from).sum::<u64>() % 3 {
            0 => (false, 0.0),
            1 => (true, 0.5),
            _ => (true, 1.0),
        };
        let verdict = serde_json::json!({"approve": approve, "size_factor": size_factor, "reason": "test verdict"});
        let answer = serde_json::json!({
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": verdict.to_string()}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": prompt.len() / 4, "output_tokens": 25},
        });
        ([(axum::http::header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
    }
    use axum::response::IntoResponse;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route("/v1/messages", axum::routing::post(messages));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// The strategist reviewing every entry (any position above 1% of equity), served by `url`.
/// Its daily budget runs out about half-way through the session (the reviews cost about $0.07
/// in all): the calls near the limit are decided alike however the answers are timed.
fn strategist(url: &str) -> String {
    format!(
        "\n[sentiment.strategist]\nbackend = \"claude\"\nposition_pct = 1.0\ndaily_budget_usd = 0.04\n\n\
         [[sentiment.backends]]\nname = \"claude\"\nkind = \"anthropic\"\nbase_url = \"{url}\"\n\
         model = \"claude-test\"\nprice_input_per_mtok = 3.0\nprice_output_per_mtok = 15.0\n"
    )
}

/// `tradeflow run CONFIG -o OUT`, started (its errors kept for the test's messages).
fn spawn_run(config: &Path, out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(["run", config.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the job of `saved` into `resumed`, killing it once its snapshots reach each of the
/// `kills` (a fraction of the session, then milliseconds), and starting it again each time;
/// finishes it. `after_kill` looks at what each killed run left. Returns the snapshot each
/// restart resumed from.
fn kill_and_restart(
    saved: &Path,
    resumed: &Path,
    session: (u64, u64),
    kills: &[(f64, u64)],
    after_kill: &mut dyn FnMut(),
) -> Vec<Option<u64>> {
    // Each run is killed once its snapshots reach a point of the input (not a point in wall
    // time, which a busy machine stretches), then a few milliseconds later, a different
    // number each time, so that the kills fall at different places in the work between
    // snapshots. Every restart resumes from the newest snapshot.
    let (start_epoch, duration_s) = session;
    let mut killed_midway = 0;
    let mut resumed_from = Vec::new();
    for &(fraction, after_ms) in kills {
        let mut child = spawn_run(saved, resumed);
        let kill_at = start_epoch + (duration_s as f64 * fraction) as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while newest_snapshot(resumed).is_none_or(|b| b < kill_at) && child.try_wait().unwrap().is_none() {
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
        resumed_from.push(newest_snapshot(resumed));
        after_kill();
        assert!(!finished(resumed));
    }
    assert!(killed_midway >= kills.len() / 2, "only {killed_midway} kills landed while the job ran");
    let snapshots: Vec<_> = std::fs::read_dir(resumed.join("snapshots")).unwrap().collect();
    assert!(!snapshots.is_empty(), "no snapshot was completed before the kills");
    if !finished(resumed) {
        run_job(saved, resumed, &[]);
    }
    resumed_from
}

#[test]
fn killed_at_random_points_and_restarted_it_writes_what_an_uninterrupted_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let strategist = strategist(&strategist_server());
    let plain = write_config(dir.path(), "plain.toml", &(config(false) + &strategist));
    let saved = write_config(dir.path(), "saved.toml", &(config(true) + &strategist));
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));

    run_job(&plain, &reference, &[]);
    let kills = [(0.1, 0), (0.25, 7), (0.4, 23), (0.55, 3), (0.7, 41), (0.85, 13)];
    let resumed_from = kill_and_restart(&saved, &resumed, (START_EPOCH, DURATION_S), &kills, &mut || {});
    assert_same_output(&[&reference], &[&resumed], &resumed_from);
    // The kernels' state was restored too: their columns and the VaR are compared above.
    let indicators = Table::read(&reference, "indicators");
    let garch = indicators.f64("garch_vol").into_iter().filter(|v| v.is_finite()).count();
    let var = Table::read(&reference, "var").len();
    assert!(garch > 100 && var > 5, "the kernels should produce values: {garch} GARCH forecasts, {var} VaR rows");
    // So was the strategist's: its reviews are among the risk events compared above.
    let events = Table::read(&reference, "risk_events");
    let rules: Vec<String> = events
        .text("kind")
        .into_iter()
        .zip(events.text("rule"))
        .filter(|(k, _)| k == "strategist")
        .map(|(_, r)| r)
        .collect();
    let vetoed = rules.iter().filter(|r| *r == "vetoed").count();
    assert!(vetoed >= 3 && rules.len() > vetoed, "the strategist should review entries: {rules:?}");
    let exhausted = rules.iter().filter(|r| *r == "budget_exhausted").count();
    assert!(exhausted >= 5, "the strategist's budget should run out: {rules:?}");
}

/// The offsets `group` has committed for each partition of `topic` (-1 for none).
fn committed(brokers: &str, group: &str, topic: &str) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition(topic, partition.id());
    }
    let offsets = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    let mut found: Vec<(i32, i64)> = offsets
        .elements()
        .iter()
        .map(|e| (e.partition(), if let Offset::Offset(o) = e.offset() { o } else { -1 }))
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, o)| o).collect()
}

#[test]
fn reading_kafka_killed_and_restarted_it_resumes_from_the_offsets_in_its_snapshots() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let (symbols, duration_s) = (20, 3600);
    let session = format!("[job]\nname = \"sim\"\n{}", simulator(symbols, duration_s));
    broker.load_simulated(&write_config(dir.path(), "sim.toml", &session));
    let names = simulator_names(&session);

    // Two groups read the same topics: one without a break, one killed and restarted. The
    // second commits its offsets as its snapshots complete, but a restart resumes from its
    // snapshot's offsets.
    let job = |group: &str, extra: &str| kafka_job("snapshots", 2, &broker.brokers, group, &names, extra);
    let plain = write_config(dir.path(), "plain.toml", &job("plain", TRADING));
    let saved = write_config(dir.path(), "saved.toml", &job("saved", &format!("{TRADING}{SNAPSHOTS}")));
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));

    run_job(&plain, &reference, &[]);
    let kills = [(0.15, 5), (0.4, 0), (0.65, 17), (0.85, 31)];
    // After each kill the group has committed the offsets of a complete snapshot: more each
    // time, and never past the end, which the uninterrupted group committed as it ended.
    let end = committed(&broker.brokers, "plain", "ticks");
    assert!(end.iter().filter(|o| **o > 0).count() >= 2, "{end:?}");
    let mut seen = Vec::new();
    let mut after_kill = || {
        let now = committed(&broker.brokers, "saved", "ticks");
        assert!(now.iter().zip(&end).all(|(n, e)| n <= e), "committed {now:?} past the end {end:?}");
        if let Some(before) = seen.last() {
            assert!(now.iter().zip(before).all(|(n, b)| n >= b), "committed {now:?} after {before:?}");
        }
        seen.push(now);
    };
    let resumed_from = kill_and_restart(&saved, &resumed, (START_EPOCH, duration_s), &kills, &mut after_kill);
    let moved = |offsets: &Vec<i64>| offsets.iter().sum::<i64>();
    assert!(seen.windows(2).any(|w| moved(&w[1]) > moved(&w[0])), "the group's offsets never moved: {seen:?}");
    assert!(seen.iter().all(|o| moved(o) < moved(&end)), "committed everything before the end: {seen:?}");
    assert_eq!(committed(&broker.brokers, "saved", "ticks"), end, "the finished run commits what it read");
    assert_same_output(&[&reference], &[&resumed], &resumed_from);
}

#[test]
fn a_snapshot_of_another_config_or_worker_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(true).replace(&format!("duration_s = {DURATION_S}"), "duration_s = 600");
    assert!(text.contains("duration_s = 600"));
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

#[test]
fn a_snapshot_state_that_cannot_be_read_fails_the_job_instead_of_hanging_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(true).replace(&format!("duration_s = {DURATION_S}"), "duration_s = 600");
    let saved = write_config(dir.path(), "saved.toml", &text);
    let out = dir.path().join("out");
    run_job(&saved, &out, &[]);
    let boundary = newest_snapshot(&out).unwrap();
    let state = out.join(format!("snapshots/snapshot-{boundary:020}/w1-source_ticks.bin"));
    assert!(state.exists(), "{}", state.display());
    std::fs::write(&state, b"not a state").unwrap();

    // Worker 1 cannot restore its source; worker 0 must not wait for it forever.
    let mut child = spawn_run(&saved, &out);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the job still ran 60 s after one worker failed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("worker 1 failed: snapshot state of `source_ticks` on worker 1"), "{stderr}");
    let manifest = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(manifest.contains("\"failed\"") && manifest.contains("source_ticks"), "{manifest}");
}
