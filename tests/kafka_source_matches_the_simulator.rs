//! The job reading ticks and news from Kafka (a real tansu broker) makes exactly the orders and
//! fills of the same job on the simulator the messages came from, with partitions spread over
//! the workers; malformed messages land in the dead letters with their place and reason; and a
//! finished run commits its offsets, so the next run of the group reads nothing twice.

mod common;

use std::time::Duration;

use common::{FAST_ENSEMBLE, Table, Tansu, kafka_job, ok, run_job, simulator_names, write_config};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const SIMULATOR: &str = r#"
[source]
kind = "simulator"
seed = 3
symbols = 6
start = "2024-03-05T14:30:00Z"
duration_s = 1200
ticks_per_second = 2.0
news_per_hour = 120
jump_pct = 3.0
"#;

#[test]
fn orders_from_kafka_equal_orders_from_the_simulator() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let sim_text = format!("[job]\nname = \"sim\"\n{SIMULATOR}{FAST_ENSEMBLE}");
    let names = simulator_names(&sim_text);
    let sim = write_config(dir.path(), "sim.toml", &sim_text);
    ok(&["topics", "create", "ticks", "--partitions", "4", "--brokers", b]);
    ok(&["topics", "create", "news", "--partitions", "2", "--brokers", b]);
    for topic in ["signals", "orders", "fills", "risk_events", "dead_letters"] {
        ok(&["topics", "create", topic, "--partitions", "2", "--brokers", b]);
    }
    let sent = ok(&["produce", "ticks", "--simulate", sim.to_str().unwrap(), "--topic", "ticks", "--brokers", b]);
    assert!(sent.contains("0 skipped"), "{sent}");
    ok(&["produce", "news", "--simulate", sim.to_str().unwrap(), "--topic", "news", "--brokers", b]);

    // Garbage among the ticks: each becomes a dead letter naming topic/partition@offset.
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", b).create().unwrap();
    let n = &names;
    let garbage: Vec<(String, Vec<u8>)> = vec![
        (n[0].clone(), b"\xff\xfe not text".to_vec()),
        (n[1].clone(), format!("{{\"v\":1,\"ts\":1709649000000000000,\"symbol\":\"{}\"}}", n[1]).into_bytes()),
        (
            n[2].clone(),
            format!("{{\"v\":1,\"ts\":\"yesterday\",\"symbol\":\"{}\",\"price\":1,\"size\":1}}", n[2]).into_bytes(),
        ),
        (
            n[3].clone(),
            format!("{{\"v\":1,\"ts\":4102444800000000000,\"symbol\":\"{}\",\"price\":1,\"size\":1}}", n[3])
                .into_bytes(),
        ),
        (n[4].clone(), b"[1, 2, 3]".to_vec()),
    ];
    for (key, payload) in &garbage {
        producer.send(BaseRecord::to("ticks").key(key.as_str()).payload(payload.as_slice())).unwrap();
    }
    // And among the news: a wrong type, a missing field, a far-future time.
    for payload in [
        format!("{{\"v\":1,\"id\":7,\"ts\":1709649000000000000,\"headline\":\"x\",\"symbols\":[\"{}\"]}}", n[0]),
        format!("{{\"v\":1,\"id\":\"g2\",\"ts\":1709649000000000000,\"symbols\":[\"{}\"]}}", n[0]),
        format!("{{\"v\":1,\"id\":\"g3\",\"ts\":4102444800000000000,\"headline\":\"x\",\"symbols\":[\"{}\"]}}", n[0]),
    ] {
        producer.send(BaseRecord::to("news").key("g").payload(payload.as_str())).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let from_sim = dir.path().join("sim");
    run_job(&sim, &from_sim, &["-w", "1"]);
    let job = write_config(
        dir.path(),
        "kafka.toml",
        &kafka_job("kafka", 2, b, "e2e", &names, &format!("[output.kafka]\nbrokers = \"{b}\"\n")),
    );
    let from_kafka = dir.path().join("kafka");
    run_job(&job, &from_kafka, &[]);

    for stream in ["ticks", "bars_1m", "signals", "orders", "fills", "positions"] {
        let a = Table::read(&from_sim, stream).sorted_rows(&["latency_ns"]);
        let k = Table::read(&from_kafka, stream).sorted_rows(&["latency_ns"]);
        assert_eq!(a.len(), k.len(), "{stream}: row count");
        assert!(a == k, "{stream} differs between the simulator and Kafka");
    }
    assert!(Table::read(&from_kafka, "orders").len() > 5, "the strategy should trade");

    let dead = Table::read(&from_kafka, "dead_letters");
    let (origins, reasons) = (dead.text("origin"), dead.text("reason"));
    assert_eq!(dead.len(), 8, "{reasons:?}");
    assert_eq!(origins.iter().filter(|o| o.starts_with("ticks/") && o.contains('@')).count(), 5, "{origins:?}");
    assert_eq!(origins.iter().filter(|o| o.starts_with("news/") && o.contains('@')).count(), 3, "{origins:?}");
    for expected in
        ["not UTF-8", "missing field `price`", "field `ts`", "ahead", "invalid type", "missing field `headline`"]
    {
        assert!(reasons.iter().any(|r| r.contains(expected)), "no dead letter says `{expected}`: {reasons:?}");
    }

    // The output topics carry the same orders as the Parquet files, and the dead letters.
    let parquet_orders = Table::read(&from_kafka, "orders");
    let (ids, qty) = (parquet_orders.text("id"), parquet_orders.f64("qty"));
    let max = ids.len().to_string();
    let lines = ok(&[
        "consume",
        "orders",
        "--from-beginning",
        "--format",
        "json",
        "--max",
        &max,
        "--idle-s",
        "5",
        "--brokers",
        b,
    ]);
    let mut from_topic: Vec<(String, f64)> = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["v"], 1);
            assert!(names.contains(&v["symbol"].as_str().unwrap().to_owned()), "{l}");
            (v["id"].as_str().unwrap().to_owned(), v["qty"].as_f64().unwrap())
        })
        .collect();
    let mut from_files: Vec<(String, f64)> = ids.into_iter().zip(qty).collect();
    from_topic.sort_by(|a, b| a.0.cmp(&b.0));
    from_files.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(from_topic, from_files);
    let dead_topic =
        ok(&["consume", "dead_letters", "--from-beginning", "--format", "json", "--idle-s", "5", "--brokers", b]);
    assert_eq!(dead_topic.lines().count(), 8, "{dead_topic}");

    // The run committed its offsets: the group's next run reads nothing.
    let again = dir.path().join("again");
    run_job(&job, &again, &[]);
    assert_eq!(Table::read(&again, "ticks").len(), 0);
}
