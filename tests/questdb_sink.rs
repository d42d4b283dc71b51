//! The QuestDB sink end to end: a real ILP server (VictoriaMetrics) over HTTP and TCP gets every
//! row with its values, and an in-process server that follows QuestDB's HTTP contract drives the
//! failure paths: down, failing, hanging, refusing a row, never coming back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::questdb::{Mode, QuestDbContract, VictoriaMetrics};
use common::{FAST_ENSEMBLE, Table, run_job, tradeflow, write_config};

fn job(name: &str, questdb: &str) -> String {
    format!(
        r#"
[job]
name = "{name}"
workers = 2

[source]
kind = "simulator"
seed = 5
symbols = 6
start = "2024-03-04T14:30:00Z"
duration_s = 1500
ticks_per_second = 2.0
news_per_hour = 120
jump_pct = 3.0
{FAST_ENSEMBLE}
[output.questdb]
{questdb}
"#
    )
}

/// The samples of `TABLE_FIELD` keyed by (symbol or account, millisecond time).
fn series(vm: &VictoriaMetrics, metric: &str, key: &str) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    for (labels, value, ms) in vm.export(metric) {
        let previous = out.insert((labels.get(key).cloned().unwrap_or_default(), ms), value);
        assert!(previous.is_none(), "{metric}: two samples for {key} {:?} at {ms}", labels.get(key));
    }
    out
}

/// The Parquet rows of `stream` as the same keys and one column.
fn expected(run: &Path, stream: &str, key: &str, column: &str) -> BTreeMap<(String, i64), f64> {
    let table = Table::read(run, stream);
    let keys = table.text(key);
    let times = table.ts("ts");
    let values = table.f64(column);
    // A missing value (an indicator warming up) is left out of the ILP row.
    keys.into_iter()
        .zip(times)
        .map(|(k, t)| (k, t.div_euclid(1_000_000)))
        .zip(values)
        .filter(|(_, v)| !v.is_nan())
        .collect()
}

fn assert_same(got: &BTreeMap<(String, i64), f64>, want: &BTreeMap<(String, i64), f64>, what: &str) {
    assert!(!want.is_empty(), "{what}: the run wrote no rows to compare");
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (k, v) in want {
        let g = got.get(k).unwrap_or_else(|| panic!("{what}: no sample for {k:?}"));
        // VictoriaMetrics stores floats as decimals of 12+ significant digits.
        assert!((g - v).abs() <= 1e-11 * v.abs().max(1.0), "{what} {k:?}: {g} != {v}");
    }
}

#[test]
fn every_row_reaches_a_real_ilp_server_over_http_and_tcp() {
    let vm = VictoriaMetrics::start();
    let dir = tempfile::tempdir().unwrap();
    let http = write_config(
        dir.path(),
        "http.toml",
        &job("http", &format!("conf = \"http::addr={};protocol_version=1;\"\nflush_rows = 500", vm.http)),
    );
    let tcp = write_config(
        dir.path(),
        "tcp.toml",
        &job("tcp", &format!("conf = \"tcp::addr={};protocol_version=1;\"\ntable_prefix = \"tcp_\"", vm.tcp)),
    );
    let (http_run, tcp_run) = (dir.path().join("http"), dir.path().join("tcp"));
    let out = run_job(&http, &http_run, &[]);
    run_job(&tcp, &tcp_run, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rows into bars_1m"), "{stdout}");

    // The numeric columns of the per-symbol and per-account streams, value for value. (String
    // columns and sub-millisecond times are beyond what VictoriaMetrics keeps.)
    for (prefix, run) in [("", &http_run), ("tcp_", &tcp_run)] {
        for (stream, key, column) in [
            ("bars_1m", "symbol", "close"),
            ("bars_1m", "symbol", "vwap"),
            ("bars_1s", "symbol", "volume"),
            ("indicators", "symbol", "ema_8"),
            ("pnl", "account", "equity"),
            ("positions", "symbol", "qty"),
        ] {
            let metric = format!("{prefix}{stream}_{column}");
            let want = expected(run, stream, key, column);
            // The server indexes a new series a moment after it is flushed: asked at once, it
            // may not list it yet.
            let mut got = series(&vm, &metric, key);
            for _ in 0..40 {
                if got.len() >= want.len() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
                got = series(&vm, &metric, key);
            }
            assert_same(&got, &want, &metric);
        }
        // Fills: several may share a symbol and millisecond, so compare them sorted.
        let mut got: Vec<(String, i64, f64)> = vm
            .export(&format!("{prefix}fills_price"))
            .into_iter()
            .map(|(l, v, t)| (l["symbol"].clone(), t, v))
            .collect();
        let fills = Table::read(run, "fills");
        let mut want: Vec<(String, i64, f64)> = fills
            .text("symbol")
            .into_iter()
            .zip(fills.ts("ts"))
            .zip(fills.f64("price"))
            .map(|((s, t), p)| (s, t.div_euclid(1_000_000), p))
            .collect();
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        want.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert!(!want.is_empty(), "the run made no fills");
        assert_eq!(got.len(), want.len(), "{prefix}fills: rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((&g.0, g.1), (&w.0, w.1), "{prefix}fills");
            assert!((g.2 - w.2).abs() <= 1e-11 * w.2.abs(), "{prefix}fills {g:?} != {w:?}");
        }
    }
}

/// An ILP line's identity: its symbol and its timestamp.
fn identity(line: &str) -> String {
    let symbol = line.split(',').find_map(|kv| kv.strip_prefix("symbol=")).unwrap_or("-");
    let symbol = symbol.split(' ').next().unwrap_or_default();
    format!("{symbol} {}", line.rsplit(' ').next().unwrap_or_default())
}

/// The contract server's rows of `table` as identities.
fn identities(server: &QuestDbContract, table: &str) -> Vec<String> {
    server.rows_of(table).iter().map(|l| identity(l)).collect()
}

fn parquet_identities(run: &Path, stream: &str) -> Vec<String> {
    let table = Table::read(run, stream);
    table.text("symbol").iter().zip(table.ts("ts")).map(|(s, t)| format!("{s} {t}")).collect()
}

#[test]
fn rows_wait_out_a_server_that_is_down_failing_or_hanging_and_a_refused_row_is_set_aside() {
    // 503s, then a hang the client must time out, then a refused row, then all is well.
    let server = QuestDbContract::start(Mode::Accept);
    server.script(&[(Mode::Unavailable, 30), (Mode::Hang, 3), (Mode::Reject("sentiment,".into()), 1)]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "flaky.toml",
        &job(
            "flaky",
            &format!(
                "conf = \"http::addr={};protocol_version=1;request_timeout=300;\"\nflush_rows = 200\nflush_interval_ms = 100\nmax_buffered_rows = 2000\nretry_initial_ms = 20\nretry_max_ms = 200",
                server.addr
            ),
        ),
    );
    let run = dir.path().join("run");
    let out = run_job(&config, &run, &["-w", "1"]);
    assert!(server.script_done(), "the sink gave up before the server recovered");

    // Every row of every stream arrived exactly once, except the refused one.
    for stream in ["bars_1m", "bars_1s", "indicators", "signals", "orders", "fills"] {
        let mut got = identities(&server, stream);
        let mut want = parquet_identities(&run, stream);
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len(), "{stream}: rows");
        assert_eq!(got, want, "{stream}");
    }
    let want = parquet_identities(&run, "sentiment");
    let got = identities(&server, "sentiment");
    assert_eq!(got.len() + 1, want.len(), "sentiment: all but the refused row");
    let got: BTreeSet<_> = got.into_iter().collect();
    assert_eq!(got.len() + 1, want.len(), "sentiment: no row twice");

    // The refused row, with the server's reason, where the summary says.
    let rejects: String = std::fs::read_dir(run.join("questdb_rejects"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let lines: Vec<serde_json::Value> = rejects.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{rejects}");
    assert_eq!(lines[0]["table"], "sentiment");
    assert!(lines[0]["reason"].as_str().unwrap().contains("cast error for column"), "{rejects}");
    assert!(lines[0]["row"].as_str().unwrap().starts_with("sentiment,"), "{rejects}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1  rows refused"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_server_that_never_comes_back_fails_the_job_with_the_rows_saved() {
    let server = QuestDbContract::start(Mode::Unavailable);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "down.toml",
        &job(
            "down",
            &format!(
                "conf = \"http::addr={};protocol_version=1;\"\nstreams = [\"bars_1m\"]\ngive_up_after_s = 1.5\nretry_initial_ms = 50\nretry_max_ms = 200",
                server.addr
            ),
        ),
    );
    let run = dir.path().join("run");
    let out = tradeflow(&["run", config.to_str().unwrap(), "-q", "-w", "1", "-o", run.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("QuestDB table `bars_1m`: still failing after"), "{stderr}");
    assert!(stderr.contains("table busy"), "the server's reason is reported: {stderr}");
    assert!(stderr.contains("questdb_undelivered/bars_1m-part-0000.ilp"), "{stderr}");
    let saved = std::fs::read_to_string(run.join("questdb_undelivered/bars_1m-part-0000.ilp")).unwrap();
    // Nothing lost: the Parquet file and the saved ILP hold the same bars.
    let mut got: Vec<String> = saved.lines().map(identity).collect();
    let mut want = parquet_identities(&run, "bars_1m");
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn sql_prints_rows_and_points_at_errors() {
    let server = QuestDbContract::start(Mode::Accept);
    let url = format!("http://{}", server.addr);
    let table = common::ok(&["sql", "SELECT symbol, vwap, ts FROM bars_1m LIMIT 2", "--url", &url]);
    assert_eq!(
        table,
        "symbol    vwap  ts\n------  ------  ---------------------------\nBABA    101.25  2024-01-02T14:31:00.000000Z\nBEBA            2024-01-02T14:31:00.000000Z\n(2 rows)\n"
    );
    let csv = common::ok(&["sql", "SELECT 1", "--url", &url, "--format", "csv"]);
    assert_eq!(csv, "symbol,vwap,ts\nBABA,101.25,2024-01-02T14:31:00.000000Z\nBEBA,,2024-01-02T14:31:00.000000Z\n");

    let out = tradeflow(&["sql", "SELECT *\nFROM nope", "--url", &url]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("table does not exist [table=nope]"), "{stderr}");
    assert!(stderr.contains("  FROM nope\n       ^"), "{stderr}");

    let out = tradeflow(&["sql", "SELECT 1", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach QuestDB at http://127.0.0.1:9"));

    // `questdb init` sends every statement of the schema, in order.
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/questdb/schema.sql");
    let said = common::ok(&["questdb", "init", "--url", &url, "--schema", schema.to_str().unwrap()]);
    assert!(said.contains("16 statements applied"), "{said}");
    let sent = server.queries();
    assert!(sent.iter().filter(|q| q.starts_with("CREATE TABLE IF NOT EXISTS")).count() == 16, "{sent:?}");
    assert!(sent.iter().any(|q| q.contains("late_and_dead_letters") && q.contains("DEDUP UPSERT KEYS(ts, origin)")));
}

#[test]
fn a_config_without_a_protocol_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "nover.toml", &job("nover", "conf = \"http::addr=127.0.0.1:9000;\""));
    let out = tradeflow(&["validate", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must set protocol_version explicitly"));
}
