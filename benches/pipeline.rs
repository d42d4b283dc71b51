//! The throughput and latency harness: the real trading graph (the demo's bars, indicators,
//! news sentiment, ensemble strategy, risk book, paper broker) on inputs generated ahead into
//! memory, with the sinks counting rows and writing nothing (or writing Parquet).
//!
//!     cargo bench --bench pipeline -- replay [SYMBOLS] [WORKERS] [SECONDS]   # default 500 1 3600
//!     cargo bench --bench pipeline -- scale                                  # 50, 500, 5000 symbols x 1, 2 workers
//!     cargo bench --bench pipeline -- latency [RATE] [EPOCH_MS] [SYMBOLS] [WALL_S] [WORKERS]  # default 100000 1000 500 60 1
//!     cargo bench --bench pipeline -- soak [SYMBOLS] [SECONDS]               # peak RSS, 1x and 10x as long (live simulator)
//!     cargo bench --bench pipeline -- soak-rss [MINUTES] [EVERY_S] [SYMBOLS] # RSS sampled over a long run, default 30 5 50
//!     cargo bench --bench pipeline -- compare TICKS.csv                      # ticks -> 1m bars -> EMA(20), RSI(14)
//!     cargo bench --bench pipeline -- kafka [SYMBOLS] [WORKERS] [SECONDS]    # JSON ticks preloaded on a local tansu
//!
//! `compare` is the tradeflow side of `benches/compare_bytewax.py`: the graph's own bar and
//! indicator operators over ticks already in memory, one worker, timed from the first tick in
//! to the last indicator out.
//!
//! Each measurement runs in a child process of its own, so that its peak RSS is its own. Set
//! `TRADEFLOW_BENCH_PARQUET=1` to write Parquet instead of discarding the output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use tradeflow::config::{JobConfig, SourceSection};
use tradeflow::connectors::preloaded::Preloaded;
use tradeflow::job::{JobStats, RunOptions, run_with};

/// The demo's graph without the batched kernels (measured by `cargo bench -p tradeflow-kernels`).
fn config(symbols: usize, workers: usize, seconds: u64, epoch_ms: u64, out: &Path) -> String {
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml")).expect("configs/demo.toml");
    let start = demo.find("[kernels]").expect("the demo has a [kernels] section");
    let end = demo.find("[risk]").expect("the demo has a [risk] section");
    let demo = format!("{}{}", &demo[..start], &demo[end..]);
    let demo = demo.replacen("vol_column = \"garch_vol\"", "vol_column = \"realvol_30\"", 1);
    let text = demo
        .replacen("workers = 2", &format!("workers = {workers}"), 1)
        .replacen("epoch_ms = 1000", &format!("epoch_ms = {epoch_ms}"), 1)
        .replacen("symbols = 50", &format!("symbols = {symbols}"), 1)
        .replacen("duration_s = 23400", &format!("duration_s = {seconds}"), 1);
    assert!(text.contains("dir = \"runs/demo\""), "the demo writes to runs/demo");
    text.replacen("dir = \"runs/demo\"", &format!("dir = \"{}\"", out.display()), 1)
}

/// The latency runs' strategy: short averages and low thresholds, so that orders are many and
/// their percentiles mean something (the path through the graph is the same).
const BUSY_STRATEGY: &str = r#"[indicators]
set = ["ema_3", "ema_8", "rsi_5", "realvol_30"]

[strategy]
kind = "ensemble"
fast = "ema_3"
slow = "ema_8"
rsi = "rsi_5"
macd_hist = ""
bbands = ""
breakout = ""
support = ""

"#;

/// The config with [`BUSY_STRATEGY`] and sources that ask again after `idle_poll_ms`.
fn busy(config: String, idle_poll_ms: f64) -> String {
    let start = config.find("[indicators]").expect("an [indicators] section");
    let end = config.find("[risk]").expect("a [risk] section");
    let text = format!("{}{BUSY_STRATEGY}{}", &config[..start], &config[end..]);
    text.replacen("[job]\n", &format!("[job]\nidle_poll_ms = {idle_poll_ms}\n"), 1)
}

/// Peak resident memory of this process, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Where an order's time goes: for the epochs at which one-minute bars closed (where the
/// strategy's orders come from), when each stage first emitted, after the first tick of the next
/// epoch (the tick that closes them).
fn stages(shared: &JobStats) -> String {
    let marks = shared.stage_marks.lock().map(|m| m.clone()).unwrap_or_default();
    let minutes: std::collections::BTreeSet<u64> =
        marks.iter().filter(|m| m.stage == "bars_1m").map(|m| m.epoch).collect();
    let mut line = "stages (ms after the closing tick, p50/p99/max over minute closes):".to_string();
    for stage in ["bars_1s", "bars_1m", "indicators", "risk_book", "signal_words"] {
        let mut first: BTreeMap<u64, f64> = BTreeMap::new();
        for m in marks.iter().filter(|m| m.stage == stage && minutes.contains(&m.epoch)) {
            let at = first.entry(m.epoch).or_insert(m.seconds);
            *at = at.min(m.seconds);
        }
        let mut seconds: Vec<f64> = first.into_values().collect();
        seconds.sort_by(f64::total_cmp);
        let ms = |q: f64| percentile(&seconds, q) * 1e3;
        line.push_str(&format!(" {stage} {:.2}/{:.2}/{:.2}", ms(0.5), ms(0.99), ms(1.0)));
    }
    line
}

/// How long the latency runs' sources wait when nothing is due (the default is 5 ms).
const IDLE_POLL_MS: f64 = 0.05;

/// How the ticks reach the graph.
#[derive(Clone, Copy, PartialEq)]
enum Feed {
    /// Generated ahead into memory, read as fast as the graph takes them.
    Memory,
    /// Generated ahead, released at this many ticks per second of wall time.
    Paced(f64),
    /// The simulator itself, generating as the graph reads (nothing held ahead: for memory).
    Live,
}

/// One measurement, in this process: prints one line of `key=value` pairs.
fn child(symbols: usize, workers: usize, seconds: u64, epoch_ms: u64, feed: Feed) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("run");
    let path = dir.path().join("bench.toml");
    let text = config(symbols, workers, seconds, epoch_ms, &out);
    let text = if matches!(feed, Feed::Paced(_)) { busy(text, IDLE_POLL_MS) } else { text };
    std::fs::write(&path, text).expect("writing the config");
    let plan = JobConfig::load(&path).and_then(|c| c.validate("bench.toml")).unwrap_or_else(|e| panic!("{e}"));
    let SourceSection::Simulator(sim) = &plan.source else { panic!("the bench config uses the simulator") };
    let generating = Instant::now();
    let preloaded = (feed != Feed::Live).then(|| {
        let mut p = Preloaded::from_simulator(sim, workers);
        p.rate = if let Feed::Paced(rate) = feed { Some(rate) } else { None };
        Arc::new(p)
    });
    let generated_s = generating.elapsed().as_secs_f64();
    let input_mb = preloaded
        .as_ref()
        .map_or(0.0, |p| (p.tick_count() * std::mem::size_of::<tradeflow_operators::Tick>()) as f64 / 1e6);
    let rss_before = peak_rss_mb();
    let opts = RunOptions {
        workers: Some(workers),
        processes: 1,
        output: Some(out),
        preloaded,
        discard_output: std::env::var("TRADEFLOW_BENCH_PARQUET").is_err(),
        stage_marks: matches!(feed, Feed::Paced(_)),
        ..RunOptions::default()
    };
    let shared = Arc::new(JobStats::default());
    let summary = run_with(plan, &opts, Arc::clone(&shared)).unwrap_or_else(|e| panic!("{e:#}"));
    if matches!(feed, Feed::Paced(_)) {
        println!("{}", stages(&shared));
    }
    let mut latencies = shared.tick_to_order_samples.lock().map(|s| s.clone()).unwrap_or_default();
    latencies.sort_by(f64::total_cmp);
    let ms = |q: f64| percentile(&latencies, q) * 1e3;
    let mut line = format!(
        "symbols={symbols} workers={workers} event_s={seconds} epoch_ms={epoch_ms} ticks={} wall_s={:.3} ticks_per_s={:.0} peak_rss_mb={:.0} rss_before_run_mb={rss_before:.0} input_mb={input_mb:.0} generate_s={generated_s:.1} orders={}",
        summary.ticks,
        summary.wall_s,
        summary.ticks_per_s,
        peak_rss_mb(),
        summary.rows.get("orders").copied().unwrap_or(0),
    );
    if matches!(feed, Feed::Paced(_)) {
        line.push_str(&format!(
            " p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} samples={}",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            latencies.last().map_or(f64::NAN, |m| m * 1e3),
            latencies.len()
        ));
    }
    for (stream, rows) in &summary.rows {
        if *rows > 0 {
            line.push_str(&format!(" {stream}_per_s={:.0}", *rows as f64 / summary.wall_s));
        }
    }
    println!("{line}");
}

/// The Kafka source: the simulator's ticks produced to a tansu broker on 127.0.0.1 first
/// (`TANSU_BIN`, else `target/tools/tansu`, as the test script installs it), then consumed by
/// the full graph. The rate excludes the idle wait that ends the job; dead letters are counted
/// (late ticks would show a partition starved by another's backlog).
fn kafka(symbols: usize, workers: usize, seconds: u64) {
    use tradeflow::commands::kafka::{Input, Kind, Pacing, produce};
    use tradeflow::connectors::kafka::Kafka;

    let bin = std::env::var_os("TANSU_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/tansu"));
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let url = format!("tcp://127.0.0.1:{port}");
    let mut broker = Command::new(&bin)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let brokers = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&brokers).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sim_path = dir.path().join("sim.toml");
    let sim_text = config(symbols, workers, seconds, 1000, &dir.path().join("sim"));
    std::fs::write(&sim_path, &sim_text).expect("writing the simulator config");
    let kafka = Kafka { brokers: brokers.clone() };
    kafka.create_topics(&["ticks".to_string()], 4).expect("creating the ticks topic");
    let producing = Instant::now();
    let sent = produce(&kafka, Kind::Ticks, Input::Simulate(&sim_path), "ticks", Pacing::default()).expect("producing");
    let produce_s = producing.elapsed().as_secs_f64();

    let sim = JobConfig::load(&sim_path).expect("the simulator config");
    let SourceSection::Simulator(s) = &sim.source else { panic!("a simulator config") };
    let names: Vec<String> = s.symbol_names().iter().map(|n| format!("\"{n}\"")).collect();
    let start = sim_text.find("[source]").expect("a [source]");
    let end = sim_text.find("[indicators]").expect("an [indicators]");
    let idle_s = 2.0;
    let source = format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ngroup = \"bench\"\nticks = \"ticks\"\nsymbols = [{}]\nstop_after_idle_s = {idle_s}\n\n",
        names.join(", ")
    );
    let job_path = dir.path().join("kafka.toml");
    std::fs::write(&job_path, format!("{}{source}{}", &sim_text[..start], &sim_text[end..])).expect("writing the job");
    let plan = JobConfig::load(&job_path).and_then(|c| c.validate("kafka.toml")).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        workers: Some(workers),
        processes: 1,
        output: Some(dir.path().join("run")),
        discard_output: true,
        ..RunOptions::default()
    };
    let summary = run_with(plan, &opts, Arc::new(JobStats::default())).unwrap_or_else(|e| panic!("{e:#}"));
    let _ = broker.kill();
    let _ = broker.wait();
    let busy = (summary.wall_s - idle_s).max(1e-9);
    println!(
        "kafka symbols={symbols} workers={workers} produced={} produce_s={produce_s:.2} consumed={} dead_letters={} wall_s={:.3} idle_s={idle_s} ticks_per_s={:.0} peak_rss_mb={:.0}",
        sent.sent,
        summary.ticks,
        summary.dead_letters,
        summary.wall_s,
        summary.ticks as f64 / busy,
        peak_rss_mb()
    );
}

/// The demo graph on the live simulator for `minutes` of wall time (an event-time span it
/// cannot finish sooner), its RSS sampled every `every_s` into `target/soak-rss.csv`; prints
/// the first and last minute's mean and the peak.
fn soak_rss(minutes: f64, every_s: f64, symbols: usize) {
    let exe = std::env::current_exe().expect("the harness's own path");
    let seconds = 100_000_000usize.to_string();
    let mut child = Command::new(exe)
        .args(["--child", &symbols.to_string(), "1", &seconds, "1000", "-1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting the soak");
    let status = format!("/proc/{}/status", child.id());
    let started = std::time::Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while started.elapsed().as_secs_f64() < minutes * 60.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(every_s));
        let Ok(text) = std::fs::read_to_string(&status) else { break };
        let kb = text
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
        if let Some(kb) = kb {
            samples.push((started.elapsed().as_secs_f64(), kb / 1024.0));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let csv: String = samples.iter().map(|(t, mb)| format!("{t:.1},{mb:.1}\n")).collect();
    std::fs::write("target/soak-rss.csv", format!("wall_s,rss_mb\n{csv}")).expect("writing target/soak-rss.csv");
    let mean = |from: f64, to: f64| {
        let window: Vec<f64> = samples.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, m)| *m).collect();
        window.iter().sum::<f64>() / window.len().max(1) as f64
    };
    let end = samples.last().map_or(0.0, |(t, _)| *t);
    let peak = samples.iter().map(|(_, m)| *m).fold(0.0, f64::max);
    println!(
        "soak-rss: {} samples over {:.1} min, {symbols} symbols: first minute {:.1} MB, last minute {:.1} MB, peak {peak:.1} MB (target/soak-rss.csv)",
        samples.len(),
        end / 60.0,
        mean(0.0, 60.0),
        mean(end - 60.0, end + 1.0),
    );
}

/// Runs one measurement in a child process and returns its line as a map.
fn measure(args: &[String]) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().expect("the harness's own path");
    let output = Command::new(exe).arg("--child").args(args).output().expect("running a measurement");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "measurement {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(stages) = stdout.lines().find(|l| l.starts_with("stages ")) {
        println!("{stages}");
    }
    let line = stdout.lines().rfind(|l| l.starts_with("symbols=")).unwrap_or_default().to_string();
    println!("{line}");
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Ticks (`ts,symbol,price,size` with integer nanoseconds) into memory, symbols interned.
fn load_ticks(path: &str) -> (Vec<tradeflow_operators::Tick>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names: Vec<String> = Vec::new();
    let mut ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let ticks = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let next = ids.len() as u32;
            let id = *ids.entry(f[1].to_string()).or_insert_with(|| {
                names.push(f[1].to_string());
                next
            });
            tradeflow_operators::Tick {
                symbol: tradeflow_operators::Symbol(id),
                ts: f[0].parse().expect("ts in nanoseconds"),
                price: f[2].parse().expect("price"),
                size: f[3].parse().expect("size"),
                bid: None,
                ask: None,
            }
        })
        .collect();
    (ticks, names.len())
}

/// The bars and indicators of the trading graph, alone, over ticks in memory.
fn compare(path: &str) {
    use timely::container::CapacityContainerBuilder;
    use timely::dataflow::InputHandle;
    use timely::dataflow::operators::{Input, Inspect, Probe};
    use tradeflow_operators::indicate::Indicate;
    use tradeflow_operators::indicators::IndicatorSuite;
    use tradeflow_operators::{Bars, EpochClock, IndicatorSet, MINUTE, SECOND, Tick};

    let (ticks, symbols) = load_ticks(path);
    let n = ticks.len();
    let ticks = Arc::new(ticks);
    let started = Instant::now();
    let results = Arc::new(std::sync::Mutex::new(Vec::<IndicatorSet>::new()));
    let sink = Arc::clone(&results);
    timely::execute(timely::Config::thread(), move |worker| {
        let clock = EpochClock::new_checked(SECOND).expect("a one-second epoch");
        let suite = Arc::new(IndicatorSuite::new_checked(&["ema_20", "rsi_14"]).expect("the suite"));
        let mut input = InputHandle::<u64, CapacityContainerBuilder<Vec<Tick>>>::new();
        let sink = Arc::clone(&sink);
        let probe = worker.dataflow(|scope| {
            scope
                .input_from(&mut input)
                .bars(SECOND, clock)
                .bars(MINUTE, clock)
                .indicators(suite)
                .inspect_core(move |event| {
                    if let Ok((_, data)) = event
                        && let Ok(mut out) = sink.lock()
                    {
                        out.extend(data.iter().cloned());
                    }
                })
                .probe()
                .0
        });
        let mut batch = Vec::with_capacity(10_000);
        for tick in ticks.iter() {
            let epoch = clock.epoch(tick.ts);
            if epoch > *input.time() {
                input.send_batch(&mut batch);
                input.advance_to(epoch);
                while probe.less_than(&epoch.saturating_sub(1)) {
                    worker.step();
                }
            }
            batch.push(tick.clone());
            if batch.len() == 10_000 {
                input.send_batch(&mut batch);
            }
        }
        input.send_batch(&mut batch);
    })
    .expect("a timely worker");
    let wall = started.elapsed().as_secs_f64();
    let out = results.lock().map(|r| r.clone()).unwrap_or_default();
    // The last values per symbol, for the script to compare with the other systems.
    let mut last: BTreeMap<u32, &IndicatorSet> = BTreeMap::new();
    for set in &out {
        last.insert(set.symbol.0, set);
    }
    let digest: f64 = last.values().map(|s| s.values[0] + s.values[1]).sum();
    println!(
        "compare ticks={n} symbols={symbols} bars={} seconds={wall:.4} ticks_per_s={:.0} digest={digest:.9}",
        out.len(),
        n as f64 / wall
    );
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    // cargo passes `--bench`; the harness's own words are the rest.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().is_some_and(|a| a == "--child") {
        let a = &args[1..];
        let feed = match arg(a, 4, 0.0) {
            r if r > 0.0 => Feed::Paced(r),
            r if r < 0.0 => Feed::Live,
            _ => Feed::Memory,
        };
        child(arg(a, 0, 500), arg(a, 1, 1), arg(a, 2, 3600), arg(a, 3, 1000), feed);
        return;
    }
    let mode = args.first().map_or("replay", String::as_str);
    let rest = &args[1.min(args.len())..];
    let s = |v: usize| v.to_string();
    match mode {
        "replay" => {
            measure(&[s(arg(rest, 0, 500)), s(arg(rest, 1, 1)), s(arg(rest, 2, 3600)), s(1000), s(0)]);
        }
        "scale" => {
            // The same event time for every size, so that the tick count grows with the symbols.
            for symbols in [50usize, 500, 5000] {
                for workers in [1usize, 2] {
                    let seconds = (3_000_000 / (3 * symbols)).max(600);
                    measure(&[s(symbols), s(workers), s(seconds), s(1000), s(0)]);
                }
            }
        }
        "latency" => {
            let rate: f64 = arg(rest, 0, 100_000.0);
            let epoch_ms: usize = arg(rest, 1, 1000);
            let symbols: usize = arg(rest, 2, 500);
            let wall_s: f64 = arg(rest, 3, 60.0);
            let workers: usize = arg(rest, 4, 1);
            // The event time that lasts `wall_s` at the rate (3 ticks per symbol-second).
            let seconds = ((rate * wall_s) / (3.0 * symbols as f64)) as usize;
            measure(&[s(symbols), s(workers), s(seconds.max(600)), s(epoch_ms), format!("{rate}")]);
        }
        "soak" => {
            let symbols: usize = arg(rest, 0, 500);
            let seconds: usize = arg(rest, 1, 2340);
            // The live simulator: nothing is held ahead, so the peak is the graph's own.
            let live = "-1".to_string();
            let short = measure(&[s(symbols), s(1), s(seconds), s(1000), live.clone()]);
            let long = measure(&[s(symbols), s(1), s(seconds * 10), s(1000), live]);
            let rss = |m: &BTreeMap<String, String>, k: &str| {
                m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN)
            };
            println!(
                "soak: peak RSS {:.0} MB over {seconds} s of event time, {:.0} MB over {} s",
                rss(&short, "peak_rss_mb"),
                rss(&long, "peak_rss_mb"),
                seconds * 10,
            );
        }
        "soak-rss" => soak_rss(arg(rest, 0, 30.0), arg(rest, 1, 5.0), arg(rest, 2, 50)),
        "compare" => compare(rest.first().map(String::as_str).expect("compare TICKS.csv")),
        "kafka" => kafka(arg(rest, 0, 500), arg(rest, 1, 1), arg(rest, 2, 1200)),
        other => panic!("unknown mode `{other}`: replay, scale, latency, soak, compare or kafka"),
    }
}
