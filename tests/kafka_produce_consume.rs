//! `tradeflow topics create`, `produce` and `consume` against a real Kafka-protocol broker
//! (tansu, started by the test): what goes in comes out, keyed and in order per key; bad rows
//! are reported and not sent; a missing topic is a clear error.

mod common;

use std::collections::BTreeMap;

use common::{Tansu, ok, tradeflow, write_config};

#[test]
fn ticks_from_a_file_come_back_in_order_per_symbol() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    assert!(
        ok(&["topics", "create", "ticks", "--partitions", "4", "--brokers", b])
            .contains("ticks: created, 4 partitions")
    );
    assert!(ok(&["topics", "create", "ticks", "--brokers", b]).contains("ticks: exists"));

    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("ts,symbol,price,size,bid,ask\n");
    for i in 0..300 {
        let symbol = ["AAPL", "MSFT", "IBM"][i % 3];
        csv.push_str(&format!(
            "{},{symbol},{}.25,{},,\n",
            1_704_205_800_000_000_000i64 + i as i64 * 1_000_000,
            100 + i,
            i + 1
        ));
    }
    csv.push_str("1704205801000000000,AAPL,not-a-price,5,,\n");
    let input = write_config(dir.path(), "ticks.csv", &csv);
    let out = tradeflow(&["produce", "ticks", "--input", input.to_str().unwrap(), "--topic", "ticks", "--brokers", b]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ticks: 300 sent, 1 skipped"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ticks.csv:302: column `price`: `not-a-price` is not a number")
    );

    let lines = ok(&[
        "consume",
        "ticks",
        "--from-beginning",
        "--format",
        "json",
        "--max",
        "300",
        "--idle-s",
        "10",
        "--brokers",
        b,
    ]);
    let mut by_symbol: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["v"], 1, "{line}");
        by_symbol.entry(v["symbol"].as_str().unwrap().to_owned()).or_default().push(v);
    }
    assert_eq!(by_symbol.values().map(Vec::len).sum::<usize>(), 300);
    for (symbol, messages) in &by_symbol {
        assert_eq!(messages.len(), 100, "{symbol}");
        let ts: Vec<i64> = messages.iter().map(|m| m["ts"].as_i64().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "{symbol}: one key, one partition, in order");
    }
    let first = &by_symbol["AAPL"][0];
    assert_eq!((first["price"].as_f64(), first["size"].as_f64()), (Some(100.25), Some(1.0)));

    let table = ok(&["consume", "ticks", "--from-beginning", "--max", "1", "--idle-s", "10", "--brokers", b]);
    assert!(table.contains("price=") && table.contains("symbol=\""), "{table}");

    // --speed paces by event time: 300 ticks over 0.299 s of event time at a tenth of real
    // speed take at least 2.99 s (a lower bound only: a slow machine may take longer).
    let started = std::time::Instant::now();
    ok(&["produce", "ticks", "--input", input.to_str().unwrap(), "--topic", "ticks", "--speed", "0.1", "--brokers", b]);
    assert!(started.elapsed().as_secs_f64() >= 2.9, "--speed 0.1 was not paced: {:?}", started.elapsed());
}

#[test]
fn the_simulator_produces_news_and_a_missing_topic_is_refused() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "sim.toml",
        "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nsymbols = 5\nduration_s = 3600\nnews_per_hour = 40\n",
    );
    ok(&["topics", "create", "news", "--partitions", "2", "--brokers", b]);
    let out = ok(&["produce", "news", "--simulate", config.to_str().unwrap(), "--topic", "news", "--brokers", b]);
    let sent: u64 = out.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{out}"));
    assert!(sent > 10, "{out}");
    let lines = ok(&["consume", "news", "--from-beginning", "--format", "json", "--idle-s", "5", "--brokers", b]);
    assert_eq!(lines.lines().count() as u64, sent);
    assert!(lines.lines().all(|l| l.contains("\"headline\"") && l.contains("\"symbols\":[")));

    let out = tradeflow(&["consume", "nope", "--idle-s", "1", "--brokers", b]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("topic `nope` does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
