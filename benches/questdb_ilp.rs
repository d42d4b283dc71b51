//! Rows per second through the QuestDB sink into a real ILP server over HTTP (Debian's
//! victoria-metrics, started here on a free loopback port), for several batch sizes.
//!
//!     cargo bench --bench questdb_ilp
//!
//! The sink is the one the job uses (Arrow columns → ILP rows → `/write`), fed 1-second bars
//! of 500 symbols in batches of 1,000 as the dataflow hands them over.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tradeflow::connectors::arrow_rows::RowContext;
use tradeflow::connectors::questdb::{QuestDbConfig, QuestDbSink, QuestDbStats};
use tradeflow_operators::sink::RecordSink;
use tradeflow_operators::{Bar, Symbol, SymbolTable};

const SYMBOLS: u32 = 500;
const ROWS: usize = 400_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let (symbol, second) = ((i as u32) % SYMBOLS, (i as u32 / SYMBOLS) as i64);
            let end = 1_704_205_800_000_000_000 + second * 1_000_000_000;
            let price = 100.0 + f64::from(symbol) * 0.37 + (second % 97) as f64 * 0.01;
            Bar {
                symbol: Symbol(symbol),
                start: end - 1_000_000_000,
                end,
                open: price,
                high: price + 0.05,
                low: price - 0.04,
                close: price + 0.01,
                volume: 1200.0 + f64::from(symbol),
                vwap: price + 0.003,
                trades: 7,
            }
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let bin = std::env::var_os("VICTORIA_METRICS_BIN").map(PathBuf::from).unwrap_or_else(|| "victoria-metrics".into());
    let mut server = Command::new(&bin)
        .arg(format!("-storageDataPath={}", dir.path().join("vm").display()))
        .args(["-retentionPeriod=100y", "-loggerLevel=ERROR"])
        .arg(format!("-httpListenAddr={http}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {} (apt install victoria-metrics): {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&http).is_err() {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let names: Vec<String> = (0..SYMBOLS).map(|i| format!("S{i:03}")).collect();
    let ctx = RowContext { symbols: Arc::new(SymbolTable::new(names)), ..Default::default() };
    let input = bars(ROWS);

    println!("{ROWS} rows of bars_1s ({SYMBOLS} symbols) into victoria-metrics over ILP/HTTP, one sink:");
    println!("{:>10}  {:>12}  {:>8}", "flush_rows", "rows/s", "s");
    for flush_rows in [1_000, 10_000, 50_000] {
        let config = Arc::new(QuestDbConfig {
            conf: format!("http::addr={http};protocol_version=1;"),
            flush_rows,
            flush_interval_ms: 60_000,
            max_buffered_rows: flush_rows * 2,
            table_prefix: format!("b{flush_rows}_"),
            ..QuestDbConfig::default()
        });
        let stats = Arc::new(QuestDbStats::default());
        let mut sink = QuestDbSink::<Bar>::new(
            config,
            &format!("b{flush_rows}_bars_1s"),
            0,
            dir.path(),
            ctx.clone(),
            Arc::clone(&stats),
        )
        .unwrap();
        let started = Instant::now();
        for (i, chunk) in input.chunks(1_000).enumerate() {
            sink.write(&mut chunk.to_vec()).unwrap();
            sink.flush(Some(i as u64 + 1)).unwrap();
        }
        sink.flush(None).unwrap();
        sink.close().unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(stats.rows.load(Ordering::Relaxed), ROWS as u64, "every row acknowledged");
        println!("{flush_rows:>10}  {:>12.0}  {secs:>8.2}", ROWS as f64 / secs);
    }
    let _ = server.kill();
    let _ = server.wait();
}
