//! Running a validated job: sources, the trading graph, sinks, on timely workers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use timely::dataflow::StreamVec;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Concat, Inspect, Probe};
use tradeflow_dataflows::{TradingInputs, TradingOutputs, trading_graph};
use tradeflow_operators::live_control::{CommandQueue, live_control};
use tradeflow_operators::sink::{CountingSink, Sink, SinkErrors, SinkProgress};
use tradeflow_operators::snapshot::{SnapshotPort, SnapshotStore, Snapshots};
use tradeflow_operators::source::{
    Counted, EventReader, NoInput, Pace, SourcePolicy, SourceStats, Stoppable, ingest_saved,
};
use tradeflow_operators::{Control, News, Order, Pnl, Position, RiskEvent, SymbolTable, Tick};

use crate::cluster;
use crate::config::{JobPlan, SourceSection};
use crate::config::{KafkaOutputConfig, KafkaSourceConfig};
use crate::connectors::arrow_rows::{ArrowRecord, RowContext};
use crate::connectors::files::{ConfiguredControl, FileReader, RowFormat};
use crate::connectors::kafka::{
    Kafka, KafkaReader, KafkaSink, OffsetLedger, PartitionMap, ReaderSpec, SnapshotOffsets, ToMessage,
    commit_as_snapshots_complete, commit_ledger, measure_lag, partitions,
};
use crate::connectors::parquet::ParquetSink;
use crate::connectors::questdb::{QuestDbConfig, QuestDbSink, QuestDbStats, table_name};
use crate::connectors::simulator::{NewsSimulator, TickSimulator, news_schedule};
use crate::progress::Progress;
use crate::snapshots::{self, FileSnapshots, Membership};
use crate::watch::Watch;

/// Every stream a run writes, in the order the summary lists them.
pub const STREAMS: [&str; 16] = [
    "ticks",
    "news",
    "bars_1s",
    "bars_1m",
    "indicators",
    "sentiment",
    "signals",
    "orders",
    "fills",
    "expiries",
    "audit",
    "positions",
    "pnl",
    "risk_events",
    "var",
    "dead_letters",
];

/// The manifest that marks a folder as a tradeflow run (and so safe to overwrite).
pub const MANIFEST: &str = "run.json";

/// How to run, beyond what the config says.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Worker threads per process (overrides `job.workers`).
    pub workers: Option<usize>,
    /// Cluster mode: number of processes, this process's index, and the host file.
    pub processes: usize,
    pub process: usize,
    pub hostfile: Option<PathBuf>,
    /// Cluster mode: how long to wait for every process to connect (None: for ever).
    pub join_timeout: Option<Duration>,
    /// Output folder (overrides `output.dir`).
    pub output: Option<PathBuf>,
    /// Show a progress line on stderr (only when it is a terminal).
    pub progress: bool,
    /// Replay these in-memory inputs instead of the config's source (the benchmark harness).
    pub preloaded: Option<Arc<crate::connectors::preloaded::Preloaded>>,
    /// Count every stream's rows but write nothing (the benchmark harness's null sink).
    pub discard_output: bool,
    /// Record when each stage of the order path first emits each epoch
    /// ([`JobStats::stage_marks`]): the latency harness's breakdown.
    pub stage_marks: bool,
}

/// When a stage of the order path first emitted an epoch: `seconds` after the epoch's first
/// tick was read.
#[derive(Clone, Copy, Debug)]
pub struct StageMark {
    pub stage: &'static str,
    pub epoch: u64,
    pub seconds: f64,
}

/// What a run did, for the closing summary and `run.json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// `finished`, or `stopped` when stopped early (a run still going, or killed, has `running`).
    pub state: &'static str,
    pub name: String,
    pub output_dir: PathBuf,
    pub workers: usize,
    pub processes: usize,
    pub wall_s: f64,
    pub ticks: u64,
    pub ticks_per_s: f64,
    pub symbols: usize,
    pub dead_letters: u64,
    /// Rows written per stream by this process.
    pub rows: BTreeMap<String, u64>,
    /// Messages written per output topic (`[output.kafka]`) by this process.
    pub kafka_messages: BTreeMap<String, u64>,
    /// Rows written per QuestDB table (`[output.questdb]`) by this process.
    pub questdb_rows: BTreeMap<String, u64>,
    /// Rows QuestDB refused (saved under `questdb_rejects/` with the reason).
    pub questdb_rejected: u64,
    /// Whether the streams were written to Parquet files (what `report` reads).
    pub parquet: bool,
    pub initial_cash: f64,
    pub final_pnl: Option<Pnl>,
    /// Calls, tokens, cost and fallbacks per language model (none for the lexicon alone).
    pub models: BTreeMap<String, tradeflow_operators::sentiment::model::ModelCounters>,
}

/// Removes the streams' folders of the run in `dir`.
fn clear_streams(dir: &Path) -> anyhow::Result<()> {
    for stream in STREAMS.iter().chain(&["questdb_rejects", "questdb_undelivered"]) {
        let folder = dir.join(stream);
        if folder.exists() {
            std::fs::remove_dir_all(&folder).with_context(|| format!("clearing {}", folder.display()))?;
        }
    }
    Ok(())
}

/// Makes `dir` ready for a run: a run's folder (or a new one); its outputs are cleared unless
/// the run resumes from a snapshot (whose Parquet sinks remove what came after it).
fn prepare_output(dir: &Path, snapshots: Option<&Path>, resuming: bool) -> anyhow::Result<()> {
    if dir.exists() {
        let entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter(|e| e.as_ref().map_or(true, |e| Some(e.path().as_path()) != snapshots))
            .collect();
        if !entries.is_empty() && !dir.join(MANIFEST).exists() {
            bail!(
                "output folder {} is not empty and holds no {MANIFEST}: refusing to overwrite it (choose another output.dir or --output)",
                dir.display()
            );
        }
        if !resuming {
            clear_streams(dir)?;
        }
        let _ = std::fs::remove_file(dir.join(MANIFEST));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    // Marks the folder as a run's from the start, so that a run killed midway can be started
    // again into it; the summary replaces this when the run finishes.
    std::fs::write(dir.join(MANIFEST), "{\"state\": \"running\"}\n")
        .with_context(|| format!("writing {}", dir.join(MANIFEST).display()))
}

/// Writes `run` (a run's `run.json`) as failed, with the reasons: the folder must not read as
/// "running", as a killed run's does. Best effort: the caller reports the errors anyway.
pub(crate) fn mark_failed(run: &Path, errors: &[String]) {
    let failed = serde_json::json!({ "state": "failed", "errors": errors });
    let _ = std::fs::write(run, format!("{failed:#}\n"));
}

fn timely_config(workers: usize, opts: &RunOptions) -> anyhow::Result<timely::Config> {
    if opts.processes <= 1 {
        return Ok(if workers == 1 { timely::Config::thread() } else { timely::Config::process(workers) });
    }
    let hostfile =
        opts.hostfile.as_ref().context("cluster mode (-n > 1) needs a host file (-h FILE, one host:port per line)")?;
    let text =
        std::fs::read_to_string(hostfile).with_context(|| format!("reading host file {}", hostfile.display()))?;
    let addresses: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if addresses.len() < opts.processes {
        bail!(
            "host file {} lists {} hosts, but -n asks for {} processes",
            hostfile.display(),
            addresses.len(),
            opts.processes
        );
    }
    if opts.process >= opts.processes {
        bail!("process index -p {} must be below the process count -n {}", opts.process, opts.processes);
    }
    Ok(timely::Config {
        communication: timely::CommunicationConfig::Cluster {
            threads: workers,
            process: opts.process,
            addresses: addresses[..opts.processes].to_vec(),
            report: false,
            zerocopy: false,
        },
        worker: timely::WorkerConfig::default(),
    })
}

/// A latency histogram from 50 µs to about 13 s.
pub fn latency_histogram(name: &str, help: &str) -> prometheus::Histogram {
    let buckets = prometheus::exponential_buckets(50e-6, 2.0, 19).unwrap_or_default();
    let opts = prometheus::HistogramOpts::new(name, help).buckets(buckets);
    prometheus::Histogram::with_opts(opts).expect("the histogram's fixed name and buckets are valid")
}

/// One sink of a running job: its stream, what it writes to, and its progress.
pub struct SinkEntry {
    pub stream: &'static str,
    pub store: &'static str,
    pub progress: Arc<SinkProgress>,
}

/// What a running job shares between its workers, the progress line, the summary, and whoever
/// watches or steers it (the job server, the metrics endpoint).
pub struct JobStats {
    /// Rows written per stream (to Parquet).
    pub rows: BTreeMap<&'static str, Arc<AtomicU64>>,
    pub tick_stats: Arc<SourceStats>,
    pub news_stats: Arc<SourceStats>,
    pub control_stats: Arc<SourceStats>,
    pub last_pnl: Mutex<Option<Pnl>>,
    pub errors: SinkErrors,
    /// Kafka offsets to commit once every sink has closed.
    ledger: OffsetLedger,
    /// Kafka offsets saved in each snapshot, committed once it is complete.
    snapshot_offsets: SnapshotOffsets,
    /// The next offset of each input partition, and how far that is behind its high watermark.
    pub kafka_positions: PartitionMap,
    pub kafka_lag: PartitionMap,
    /// Messages written to each output topic.
    pub kafka_rows: BTreeMap<&'static str, Arc<AtomicU64>>,
    /// Rows sent to, and refused by, each QuestDB table.
    pub questdb: BTreeMap<&'static str, Arc<QuestDbStats>>,
    /// Set to stop the job gracefully: the sources stop reading, the graph drains, the sinks
    /// flush and close, offsets are committed.
    pub stop: Arc<AtomicBool>,
    /// Commands for the risk book (kill switch), applied at the event time the job has reached.
    pub commands: CommandQueue,
    /// Every sink's progress (durable frontier), across this process's workers.
    pub sinks: Mutex<Vec<SinkEntry>>,
    /// Positions, the P&L curve and risk events, for the dashboard.
    pub watch: Watch,
    /// Wall time from the first tick of an epoch read to each order of that epoch sent.
    pub tick_to_order: prometheus::Histogram,
    /// The same, every sample (the first million), for exact percentiles.
    pub tick_to_order_samples: Mutex<Vec<f64>>,
    /// With [`RunOptions::stage_marks`], the first emission of each epoch by each stage
    /// before the orders (the first million).
    pub stage_marks: Mutex<Vec<StageMark>>,
    /// Calls, tokens, cost and fallbacks of the sentiment and strategist models.
    pub models: std::sync::OnceLock<Arc<tradeflow_operators::sentiment::ModelMetrics>>,
}

impl Default for JobStats {
    fn default() -> Self {
        JobStats {
            rows: STREAMS.iter().map(|s| (*s, Arc::new(AtomicU64::new(0)))).collect(),
            tick_stats: Arc::default(),
            news_stats: Arc::default(),
            control_stats: Arc::default(),
            last_pnl: Mutex::new(None),
            errors: Arc::default(),
            ledger: Arc::default(),
            snapshot_offsets: Arc::default(),
            kafka_positions: PartitionMap::default(),
            kafka_lag: PartitionMap::default(),
            kafka_rows: ["signals", "orders", "fills", "risk_events", "dead_letters"]
                .into_iter()
                .map(|s| (s, Arc::new(AtomicU64::new(0))))
                .collect(),
            questdb: STREAMS.iter().map(|s| (*s, Arc::default())).collect(),
            stop: Arc::default(),
            commands: CommandQueue::default(),
            sinks: Mutex::default(),
            watch: Watch::default(),
            tick_to_order: latency_histogram(
                "tradeflow_tick_to_order_seconds",
                "Wall time from the first tick of an epoch read to each order of that epoch sent.",
            ),
            tick_to_order_samples: Mutex::default(),
            stage_marks: Mutex::default(),
            models: std::sync::OnceLock::new(),
        }
    }
}

impl JobStats {
    fn fail(&self, error: String) {
        if let Ok(mut errs) = self.errors.lock() {
            errs.push(error);
        }
    }

    /// Records handed to the sinks so far, per (stream, store), summed over workers.
    pub fn records_per_store(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        let mut per_store = BTreeMap::new();
        if let Ok(sinks) = self.sinks.lock() {
            for sink in sinks.iter() {
                *per_store.entry((sink.stream, sink.store)).or_insert(0) +=
                    sink.progress.records.load(Ordering::Relaxed);
            }
        }
        per_store
    }

    /// Records handed to each stream's sinks so far (the most any one of its stores took).
    pub fn rows_out(&self) -> BTreeMap<String, u64> {
        let mut rows = BTreeMap::new();
        for ((stream, _), n) in self.records_per_store() {
            let entry = rows.entry(stream.to_owned()).or_insert(0);
            *entry = (*entry).max(n);
        }
        rows
    }

    /// The epoch before which every sink of this process has made everything durable
    /// (`u64::MAX` once all have closed; 0 while any is durable only when closed).
    pub fn durable_frontier(&self) -> u64 {
        self.sinks
            .lock()
            .map(|s| s.iter().map(|e| e.progress.durable.load(Ordering::Acquire)).min().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Checks that every input file can be opened and has the right columns, and that every Kafka
/// topic exists, before any worker starts.
pub fn check_inputs(plan: &JobPlan) -> anyhow::Result<()> {
    if let SourceSection::Kafka(k) = &plan.source {
        let kafka = Kafka { brokers: k.brokers.clone() };
        let consumer = kafka.consumer(&k.group, k.start == "earliest")?;
        for topic in [Some(&k.ticks), k.news.as_ref(), k.control.as_ref()].into_iter().flatten() {
            partitions(&consumer, &kafka.brokers, topic)?;
        }
    }
    if let Some(out) = &plan.kafka_output {
        let kafka = Kafka { brokers: out.brokers.clone() };
        let consumer = kafka.consumer("tradeflow-check", true)?;
        for (_, topic) in out.topics() {
            partitions(&consumer, &kafka.brokers, topic)?;
        }
    }
    if let SourceSection::Files(files) = &plan.source {
        let symbols = Arc::clone(&plan.symbols);
        FileReader::<Tick>::open(&files.ticks, Arc::clone(&symbols), true).map_err(anyhow::Error::msg)?;
        if let Some(news) = &files.news {
            FileReader::<News>::open(news, Arc::clone(&symbols), true).map_err(anyhow::Error::msg)?;
        }
        if let Some(control) = &files.control {
            FileReader::<Control>::open(control, symbols, true).map_err(anyhow::Error::msg)?;
        }
    }
    Ok(())
}

/// A reader for an optional input file; a file that cannot be opened is reported, not fatal to
/// the worker (it was checked before start, so this means it changed since).
fn file_reader<R: RowFormat>(
    path: Option<&Path>,
    symbols: &Arc<SymbolTable>,
    active: bool,
    errors: &SinkErrors,
) -> Box<dyn EventReader<R>> {
    let Some(path) = path else {
        return Box::new(NoInput);
    };
    match FileReader::<R>::open(path, Arc::clone(symbols), active) {
        Ok(reader) => Box::new(reader),
        Err(e) => {
            if let Ok(mut errs) = errors.lock() {
                errs.push(e);
            }
            Box::new(NoInput)
        }
    }
}

/// A reader for an optional topic; one that cannot be opened is reported (the job then fails
/// at its end, having committed nothing).
fn kafka_reader<R: RowFormat>(
    config: &KafkaSourceConfig,
    topic: Option<&str>,
    worker: (usize, usize),
    symbols: &Arc<SymbolTable>,
    shared: &JobStats,
) -> Box<dyn EventReader<R>> {
    let Some(topic) = topic else {
        return Box::new(NoInput);
    };
    let kafka = Kafka { brokers: config.brokers.clone() };
    let spec = ReaderSpec {
        kafka: &kafka,
        group: &config.group,
        topic,
        from_earliest: config.start == "earliest",
        index: worker.0,
        peers: worker.1,
        stop_after_idle: (config.stop_after_idle_s > 0.0).then(|| Duration::from_secs_f64(config.stop_after_idle_s)),
        ledger: Arc::clone(&shared.ledger),
        positions: Arc::clone(&shared.kafka_positions),
        snapshot_offsets: Arc::clone(&shared.snapshot_offsets),
    };
    match KafkaReader::<R>::open(spec, Arc::clone(symbols)) {
        Ok(reader) => Box::new(reader),
        Err(e) => {
            if let Ok(mut errs) = shared.errors.lock() {
                errs.push(format!("{e:#}"));
            }
            Box::new(NoInput)
        }
    }
}

/// What every worker of a run is built from.
struct WorkerSetup {
    plan: Arc<JobPlan>,
    shared: Arc<JobStats>,
    dir: PathBuf,
    preloaded: Option<Arc<crate::connectors::preloaded::Preloaded>>,
    discard: bool,
    snapshots: Option<(Arc<FileSnapshots>, u64)>,
    stage_marks: bool,
    /// The workers of this process meet here once the processes of a cluster have agreed on
    /// the snapshot to resume from and it has been prepared, before they build their graphs.
    prepared: Arc<std::sync::Barrier>,
}

/// Builds this worker's graph and runs it to its end (or until another worker fails).
fn build_and_run(worker: &mut timely::worker::Worker, setup: &WorkerSetup, failed: &AtomicBool) {
    let WorkerSetup {
        plan,
        shared,
        dir: worker_dir,
        preloaded: worker_preloaded,
        discard,
        snapshots: worker_snapshots,
        stage_marks,
        prepared,
    } = setup;
    let (discard, (index, peers)) = (*discard, (worker.index(), worker.peers()));
    // One span per worker around the dataflow's construction (its operators' startup).
    let span = tracing::info_span!("worker", job = %plan.name, index, peers);
    let _building = span.enter();
    let ctx = RowContext {
        symbols: Arc::clone(&plan.symbols),
        indicator_columns: Arc::new(plan.trading.indicators.columns().to_vec()),
    };
    let policy = SourcePolicy {
        clock: plan.trading.clock,
        allowed_lateness: plan.allowed_lateness,
        max_ahead: plan.max_ahead,
        batch: 4096,
        idle_poll: plan.idle_poll,
        idle_timeout: plan.idle_timeout,
    };
    let readers = match &worker_preloaded {
        Some(preloaded) => {
            let (ticks, news) = preloaded.readers(index);
            Readers::counted(ticks, news, NoInput)
        }
        None => Readers::for_worker(plan, index, peers, shared),
    };
    if let Some((store, _)) = worker_snapshots
        && store.link().is_some()
    {
        resume_in_cluster(worker, store, worker_dir, prepared);
    }
    let snapshots = worker_snapshots.as_ref().map(|(store, every)| {
        let start = store.start();
        Snapshots::new(Arc::clone(store) as Arc<dyn SnapshotStore>, index, *every, start)
    });
    let readers = readers.stoppable(&shared.stop);
    // The sources keep what they sent since their last save: they can save any boundary.
    let port = |name: &str| snapshots.as_ref().map(|s| s.retaining_port(name));

    // The sources stay within `read_ahead` of every sink's progress, and of the streams no sink
    // takes (probed).
    let probe = ProbeHandle::new();
    let pace = Pace::new(probe.clone(), plan.read_ahead_epochs);

    let graph = worker.next_dataflow_index();
    worker.dataflow::<u64, _, _>(|scope| {
        let paced = Some(pace.clone());
        let stats = Arc::clone(&shared.tick_stats);
        let (ticks, dead_ticks) =
            ingest_saved(scope, "ticks", readers.ticks, policy, paced.clone(), stats, port("source_ticks"));
        let stats = Arc::clone(&shared.news_stats);
        let (news, dead_news) = ingest_saved(scope, "news", readers.news, policy, paced, stats, port("source_news"));
        let stats = Arc::clone(&shared.control_stats);
        let (file_control, dead_file_control) =
            ingest_saved(scope, "control", readers.control, policy, None, stats, port("source_control"));
        let configured = Counted::new(ConfiguredControl::new(plan.control.clone(), index == 0));
        let stats = Arc::clone(&shared.control_stats);
        let (config_control, dead_config_control) =
            ingest_saved(scope, "control", configured, policy, None, stats, port("source_config_control"));
        let live =
            live_control(scope, Arc::clone(&shared.commands), Arc::clone(&shared.tick_stats), plan.trading.clock);

        let out = trading_graph(
            TradingInputs {
                ticks: ticks.clone(),
                news: news.clone(),
                control: file_control.concat(config_control).concat(live),
                snapshots: snapshots.clone(),
            },
            &plan.trading,
        );
        let out = if *stage_marks { mark_stages(out, shared) } else { out };
        let watched = Arc::clone(shared);
        let pnl = out.pnl.inspect(move |p: &Pnl| {
            if let Ok(mut last) = watched.last_pnl.lock() {
                *last = Some(p.clone());
            }
            watched.watch.on_pnl(p);
        });
        let (watched, symbols) = (Arc::clone(shared), Arc::clone(&plan.symbols));
        let positions = out.positions.inspect(move |p: &Position| watched.watch.on_position(p, &symbols));
        let (watched, clock) = (Arc::clone(shared), plan.trading.clock);
        let orders = out.orders.inspect(move |o: &Order| {
            if let Some(first) = watched.tick_stats.first_seen.at(clock.epoch(o.ts)) {
                let seconds = first.elapsed().as_secs_f64();
                watched.tick_to_order.observe(seconds);
                if let Ok(mut samples) = watched.tick_to_order_samples.lock()
                    && samples.len() < 1_000_000
                {
                    samples.push(seconds);
                }
            }
        });
        let (watched, symbols) = (Arc::clone(shared), Arc::clone(&plan.symbols));
        let risk_events = out.risk_events.inspect(move |e: &RiskEvent| watched.watch.on_risk_event(e, &symbols));
        let dead = dead_ticks.concat(dead_news).concat(dead_file_control).concat(dead_config_control);

        let sinks = Sinks {
            dir: worker_dir,
            worker: index,
            ctx,
            batch_rows: plan.batch_rows,
            shared,
            probe: &probe,
            pace: &pace,
            kafka: plan.kafka_output.as_ref(),
            parquet: plan.parquet && !discard,
            questdb: plan.questdb.as_ref().filter(|_| !discard),
            discard,
            snapshots: snapshots.as_ref(),
        };
        sinks.attach("ticks", ticks);
        sinks.attach("news", news);
        sinks.attach("bars_1s", out.bars_1s);
        sinks.attach("bars_1m", out.bars_1m);
        sinks.attach("indicators", out.indicators);
        sinks.attach("sentiment", out.sentiment);
        sinks.attach_kafka("signals", &out.signals);
        sinks.attach_kafka("orders", &orders);
        sinks.attach_kafka("fills", &out.fills);
        sinks.attach_kafka("risk_events", &risk_events);
        sinks.attach_kafka("dead_letters", &dead);
        sinks.attach("signals", out.signals);
        sinks.attach("orders", orders);
        sinks.attach("fills", out.fills);
        sinks.attach("expiries", out.expiries);
        sinks.attach("audit", out.audit);
        sinks.attach("positions", positions);
        sinks.attach("pnl", pnl);
        sinks.attach("risk_events", risk_events);
        sinks.attach("var", out.var);
        sinks.attach("dead_letters", dead);
    });
    if let Some(snapshots) = &snapshots {
        snapshots.built();
    }
    tracing::info!(sinks = pace.sinks.borrow().len(), "dataflow built");
    drop(_building);
    let ended = worker_snapshots.as_ref().map(|(store, _)| move || store.ended(index));
    run_unless_a_worker_fails(worker, failed, graph, ended);
}

/// A process of a cluster agrees with the others on the snapshot they resume from, and its
/// first worker prepares it (and the output folder, when that is no snapshot at all) while
/// the others wait; then the snapshots' coordination starts.
fn resume_in_cluster(
    worker: &mut timely::worker::Worker,
    store: &Arc<FileSnapshots>,
    dir: &Path,
    prepared: &std::sync::Barrier,
) {
    let talks = store.link().is_some_and(|link| link.talks(worker.index()));
    let agreed = snapshots::cluster::agree_on_start(worker, store);
    let ready = agreed.as_ref().map_err(|e| format!("{e:#}")).and_then(|start| {
        if !talks {
            return Ok(());
        }
        let fresh = *start == 0 && store.has_any();
        store
            .resume_at(*start)
            .and_then(|()| if fresh { clear_streams(dir) } else { Ok(()) })
            .map_err(|e| format!("{e:#}"))
    });
    prepared.wait();
    if let Err(e) = ready {
        panic!("resuming from the snapshots in {}: {e}", store.dir().display());
    }
    if let Ok(start) = agreed
        && start > 0
        && talks
    {
        tracing::info!(boundary = start, dir = %store.dir().display(), "resuming from a snapshot");
    }
    snapshots::cluster::coordinate(worker, store);
}

/// Records when the stages on the way to an order first emit each epoch, after the first tick
/// of the next epoch: the tick that lets the frontier pass the epoch and so closes its bars (the
/// P&L row comes after the risk book's decisions of its epoch; the signals' stage is their
/// words, which are rendered after the risk book has passed the epoch).
fn mark_stages<'scope>(out: TradingOutputs<'scope>, shared: &Arc<JobStats>) -> TradingOutputs<'scope> {
    fn mark<'scope, D: 'static>(
        stream: StreamVec<'scope, u64, D>,
        stage: &'static str,
        shared: &Arc<JobStats>,
    ) -> StreamVec<'scope, u64, D> {
        let (watched, mut last) = (Arc::clone(shared), None);
        stream.inspect_core(move |event| {
            let Ok((stamp, _)) = event else { return };
            let Some(&epoch) = stamp.elements().first() else { return };
            if last.replace(epoch) == Some(epoch) {
                return;
            }
            if let Some(first) = watched.tick_stats.first_seen.at(epoch + 1)
                && let Ok(mut marks) = watched.stage_marks.lock()
                && marks.len() < 1_000_000
            {
                marks.push(StageMark { stage, epoch, seconds: first.elapsed().as_secs_f64() });
            }
        })
    }
    TradingOutputs {
        bars_1s: mark(out.bars_1s, "bars_1s", shared),
        bars_1m: mark(out.bars_1m, "bars_1m", shared),
        indicators: mark(out.indicators, "indicators", shared),
        signals: mark(out.signals, "signal_words", shared),
        pnl: mark(out.pnl, "risk_book", shared),
        ..out
    }
}

/// Steps the worker's dataflows to their end, or until another worker has failed: the others
/// would otherwise wait for its progress forever. (`timely::execute` steps what is left.)
fn run_unless_a_worker_fails(
    worker: &mut timely::worker::Worker,
    failed: &AtomicBool,
    graph: usize,
    mut ended: Option<impl FnOnce()>,
) {
    while worker.has_dataflows() {
        if !worker.installed_dataflows().contains(&graph)
            && let Some(ended) = ended.take()
        {
            ended();
        }
        if failed.load(Ordering::Relaxed) {
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
            return;
        }
        worker.step_or_park(Some(Duration::from_millis(100)));
    }
}

/// One worker's share of the job's inputs.
struct Readers {
    ticks: Box<dyn EventReader<Tick>>,
    news: Box<dyn EventReader<News>>,
    control: Box<dyn EventReader<Control>>,
}

impl Readers {
    /// Deterministic readers (the simulator, files, memory), counted so that a snapshot can
    /// save and resume their position; a Kafka reader keeps its offsets itself.
    fn counted<T: EventReader<Tick>, N: EventReader<News>, C: EventReader<Control>>(
        ticks: T,
        news: N,
        control: C,
    ) -> Self {
        Readers {
            ticks: Box::new(Counted::new(ticks)),
            news: Box::new(Counted::new(news)),
            control: Box::new(Counted::new(control)),
        }
    }

    /// The same readers, ending cleanly when `stop` is set.
    fn stoppable(self, stop: &Arc<AtomicBool>) -> Self {
        Readers {
            ticks: Box::new(Stoppable { inner: self.ticks, stop: Arc::clone(stop) }),
            news: Box::new(Stoppable { inner: self.news, stop: Arc::clone(stop) }),
            control: Box::new(Stoppable { inner: self.control, stop: Arc::clone(stop) }),
        }
    }

    fn for_worker(plan: &JobPlan, index: usize, peers: usize, shared: &JobStats) -> Self {
        let errors = &shared.errors;
        match &plan.source {
            SourceSection::Simulator(sim) => {
                let schedule = news_schedule(sim, &sim.symbol_names());
                let ticks = TickSimulator::new(sim, &schedule, index, peers);
                Readers::counted(ticks, NewsSimulator::new(&schedule, index), NoInput)
            }
            SourceSection::Files(files) => {
                let (symbols, active) = (&plan.symbols, index == 0);
                Readers::counted(
                    file_reader(Some(&files.ticks), symbols, active, errors),
                    file_reader(files.news.as_deref(), symbols, active, errors),
                    file_reader(files.control.as_deref(), symbols, active, errors),
                )
            }
            SourceSection::Kafka(k) => {
                let (symbols, worker) = (&plan.symbols, (index, peers));
                Readers {
                    ticks: kafka_reader(k, Some(&k.ticks), worker, symbols, shared),
                    news: kafka_reader(k, k.news.as_deref(), worker, symbols, shared),
                    control: kafka_reader(k, k.control.as_deref(), worker, symbols, shared),
                }
            }
        }
    }
}

/// One worker's Parquet sinks: where they write, and what they share with the job.
struct Sinks<'a> {
    dir: &'a Path,
    worker: usize,
    ctx: RowContext,
    batch_rows: usize,
    shared: &'a JobStats,
    /// For the sources' pacing: every sink's progress is watched, and a stream no sink takes
    /// is probed. (One operator per sink, not a probe beside each: each operator's frontier
    /// is tracked at every epoch.)
    probe: &'a ProbeHandle<u64>,
    pace: &'a Pace,
    kafka: Option<&'a KafkaOutputConfig>,
    parquet: bool,
    questdb: Option<&'a Arc<QuestDbConfig>>,
    /// Count rows, write nothing.
    discard: bool,
    /// Every sink takes part in the snapshots; Parquet files are cut at their boundaries.
    snapshots: Option<&'a Snapshots>,
}

impl Sinks<'_> {
    /// Also writes `stream` to its output topic, when `[output.kafka]` names one.
    fn attach_kafka<R: ToMessage + Clone + 'static>(&self, name: &'static str, stream: &StreamVec<'_, u64, R>) {
        let Some(config) = self.kafka else { return };
        let Some((_, topic)) = config.topics().into_iter().find(|(s, _)| *s == name) else { return };
        let rows = Arc::clone(&self.shared.kafka_rows[name]);
        let kafka = Kafka { brokers: config.brokers.clone() };
        match KafkaSink::<R>::new(&kafka, topic, Arc::clone(&self.ctx.symbols), rows) {
            Ok(sink) => stream.clone().sink_saved(
                name,
                Box::new(sink),
                Arc::clone(&self.shared.errors),
                self.progress(name, "kafka"),
                self.port(name, "kafka"),
            ),
            Err(e) => {
                if let Ok(mut errs) = self.shared.errors.lock() {
                    errs.push(format!("sink `{name}` to Kafka topic `{topic}`: {e:#}"));
                }
            }
        }
    }

    /// Writes `stream` to its Parquet files and its QuestDB table, as the config says.
    fn attach<R: ArrowRecord + Clone>(&self, name: &'static str, stream: StreamVec<'_, u64, R>) {
        let errors = || Arc::clone(&self.shared.errors);
        if self.discard {
            let counter = CountingSink::new(Arc::clone(&self.shared.rows[name]));
            stream.sink_saved(name, Box::new(counter), errors(), self.progress(name, "discard"), None);
            return;
        }
        let questdb = self.questdb.filter(|config| config.writes(name));
        if questdb.is_none() && !self.parquet {
            // No sink watches this stream's progress for the sources: a probe does.
            stream.probe_with(self.probe);
            return;
        }
        if let Some(config) = questdb {
            let table = table_name(&config.table_prefix, name);
            let stats = Arc::clone(&self.shared.questdb[name]);
            match QuestDbSink::<R>::new(Arc::clone(config), &table, self.worker, self.dir, self.ctx.clone(), stats) {
                Ok(sink) => stream.clone().sink_saved(
                    name,
                    Box::new(sink),
                    errors(),
                    self.progress(name, "questdb"),
                    self.port(name, "questdb"),
                ),
                Err(e) => self.shared.fail(format!("sink `{name}` to QuestDB: {e}")),
            }
        }
        if self.parquet {
            let rows = Arc::clone(&self.shared.rows[name]);
            let writer = ParquetSink::<R>::new(self.dir, name, self.worker, self.ctx.clone(), self.batch_rows, rows)
                .stopping_on_error(Arc::clone(&self.shared.stop));
            let writer = match self.snapshots {
                Some(s) => match writer.segmented(s.every(), s.start()) {
                    Ok(w) => w,
                    Err(e) => return self.shared.fail(format!("sink `{name}` to Parquet: {e}")),
                },
                None => writer,
            };
            stream.sink_saved(
                name,
                Box::new(writer),
                errors(),
                self.progress(name, "parquet"),
                self.port(name, "parquet"),
            );
        }
    }

    /// The sink's place in the snapshots, if the job keeps them.
    fn port(&self, stream: &str, store: &str) -> Option<SnapshotPort> {
        self.snapshots.map(|s| s.retaining_port(&format!("sink_{stream}_{store}")))
    }

    /// A new sink's progress, watched by the sources' pacing and reported by the job.
    fn progress(&self, stream: &'static str, store: &'static str) -> Arc<SinkProgress> {
        let progress = Arc::new(SinkProgress::default());
        self.pace.sinks.borrow_mut().push(Arc::clone(&progress));
        if let Ok(mut all) = self.shared.sinks.lock() {
            all.push(SinkEntry { stream, store, progress: Arc::clone(&progress) });
        }
        progress
    }
}

/// Measures the input partitions' lag every few seconds beside the job, until `done`.
fn watch_lag(kafka: Kafka, shared: Arc<JobStats>, done: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("tradeflow-lag".into()).spawn(move || {
        // A consumer of its own, in no group: it only asks for watermarks.
        let consumer = match kafka.consumer("tradeflow-lag", true) {
            Ok(consumer) => consumer,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no consumer-lag measurement");
                return;
            }
        };
        while !done.load(Ordering::Relaxed) {
            let positions = shared.kafka_positions.lock().map(|p| p.clone()).unwrap_or_default();
            let lag = measure_lag(&consumer, &positions);
            if let Ok(mut shared_lag) = shared.kafka_lag.lock() {
                shared_lag.extend(lag);
            }
            for _ in 0..50 {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no consumer-lag measurement");
    }
}

/// With snapshots and a Kafka source, the group's offsets are committed as snapshots complete,
/// at most this often.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Runs `plan` to completion and returns what it did.
pub fn run(plan: JobPlan, opts: &RunOptions) -> anyhow::Result<RunSummary> {
    run_with(plan, opts, Arc::new(JobStats::default()))
}

/// Runs `plan` to completion, sharing its counters and its stop switch through `shared`.
pub fn run_with(plan: JobPlan, opts: &RunOptions, shared: Arc<JobStats>) -> anyhow::Result<RunSummary> {
    let workers = opts.workers.unwrap_or(plan.workers).max(1);
    let output_dir = opts.output.clone().unwrap_or_else(|| plan.output_dir.clone());
    check_inputs(&plan)?;
    let config = timely_config(workers, opts)?;
    let snapshots = match &plan.snapshots {
        Some(_) if opts.preloaded.is_some() || opts.discard_output => None,
        Some(s) => {
            let dir = s.section.dir.clone().unwrap_or_else(|| output_dir.join("snapshots"));
            let membership = Membership { process: opts.process, processes: opts.processes.max(1) };
            let store = FileSnapshots::open(&s.section, &dir, &s.config, (workers, membership), s.every_epochs)?;
            if store.start() > 0 {
                tracing::info!(boundary = store.start(), dir = %dir.display(), "resuming from a snapshot");
            }
            Some((Arc::new(store), dir, s.every_epochs))
        }
        None => None,
    };
    // A process of a cluster keeps its outputs while it may resume: whether it does is agreed
    // on once the processes are connected.
    let resuming = snapshots
        .as_ref()
        .is_some_and(|(store, _, _)| store.start() > 0 || (store.link().is_some() && store.has_any()));
    prepare_output(&output_dir, snapshots.as_ref().map(|(_, dir, _)| dir.as_path()), resuming)?;

    let span = match &plan.source {
        SourceSection::Simulator(sim) => Some((sim.start_ts(), sim.end_ts())),
        SourceSection::Files(_) | SourceSection::Kafka(_) => None,
    };
    let done = Arc::new(AtomicBool::new(false));
    let progress = opts.progress.then(|| Progress::start(Arc::clone(&shared.tick_stats), span, Arc::clone(&done)));
    if let SourceSection::Kafka(k) = &plan.source {
        watch_lag(Kafka { brokers: k.brokers.clone() }, Arc::clone(&shared), Arc::clone(&done));
    }

    // With snapshots, the group's offsets follow the complete snapshots as the run goes on.
    let committer = match (&plan.source, &snapshots) {
        (SourceSection::Kafka(k), Some((store, _, _))) => Some(commit_as_snapshots_complete(
            Kafka { brokers: k.brokers.clone() },
            k.group.clone(),
            Arc::clone(&shared.snapshot_offsets),
            store.completions(),
            COMMIT_EVERY,
        )),
        _ => None,
    };
    let store = snapshots.as_ref().map(|(store, _, _)| Arc::clone(store));

    let _ = shared.models.set(Arc::clone(&plan.trading.news.metrics));
    let started = Instant::now();
    let plan = Arc::new(plan);
    let setup = WorkerSetup {
        plan: Arc::clone(&plan),
        shared: Arc::clone(&shared),
        dir: output_dir.clone(),
        preloaded: opts.preloaded.clone(),
        discard: opts.discard_output,
        snapshots: snapshots.map(|(store, _, every)| (store, every)),
        stage_marks: opts.stage_marks,
        prepared: Arc::new(std::sync::Barrier::new(workers)),
    };
    let failed = Arc::new(AtomicBool::new(false));
    let (in_cluster, failed_run) = (opts.processes > 1, output_dir.join(MANIFEST));
    let formed =
        opts.join_timeout.map(|within| cluster::end_unless_the_cluster_forms(&config, within, failed_run.clone()));
    let guards = timely::execute(config, move |worker| {
        let (shared, index) = (&setup.shared, worker.index());
        // A worker that panics (a snapshot it cannot restore) fails the job with the reason;
        // the others stop rather than wait for its progress forever.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if in_cluster {
                cluster::hear_from_every_worker(worker);
            }
            if let Some(formed) = &formed {
                let _ = formed.send(());
            }
            build_and_run(worker, &setup, &failed)
        }));
        if let Err(panic) = ran {
            failed.store(true, Ordering::Relaxed);
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".into());
            let error = format!("worker {index} failed: {reason}");
            if in_cluster {
                // The other processes would wait for this one's progress forever, and it for
                // them to close their connections: it ends now, and they on the lost one.
                mark_failed(&failed_run, std::slice::from_ref(&error));
                eprintln!("error: the job ran but its output is incomplete:\n  {error}");
                std::process::exit(1);
            }
            if let Ok(mut errors) = shared.errors.lock() {
                errors.push(error);
            }
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
        }
    })
    .map_err(|e| anyhow::anyhow!("starting timely workers: {e}"))?;
    let results = guards.join();
    done.store(true, Ordering::Relaxed);
    // The commits of snapshots end before the run's own, which covers more.
    if let Some(store) = store {
        store.close_completions();
    }
    if let Some(committer) = committer {
        let _ = committer.join();
    }
    if let Some(p) = progress {
        p.finish();
    }
    let wall_s = started.elapsed().as_secs_f64();
    let mut errors = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
    errors.extend(results.into_iter().filter_map(Result::err).map(|e| format!("a worker failed: {e}")));
    if !errors.is_empty() {
        mark_failed(&output_dir.join(MANIFEST), &errors);
        bail!("the job ran but its output is incomplete:\n  {}", errors.join("\n  "));
    }
    // Every sink has closed: what was read is durable, so the group may move past it.
    if let SourceSection::Kafka(k) = &plan.source {
        let committed = commit_ledger(&Kafka { brokers: k.brokers.clone() }, &k.group, &shared.ledger)?;
        tracing::info!(partitions = committed, group = %k.group, "committed offsets");
    }

    // Rows per stream: in the files, or (without them) in QuestDB.
    let rows: BTreeMap<String, u64> = if plan.parquet {
        shared.rows.iter().map(|(k, v)| ((*k).to_owned(), v.load(Ordering::Relaxed))).collect()
    } else {
        shared.questdb.iter().map(|(k, q)| ((*k).to_owned(), q.rows.load(Ordering::Relaxed))).collect()
    };
    let kafka_messages: BTreeMap<String, u64> = match &plan.kafka_output {
        Some(out) => out
            .topics()
            .into_iter()
            .map(|(stream, topic)| (topic.to_owned(), shared.kafka_rows[stream].load(Ordering::Relaxed)))
            .collect(),
        None => BTreeMap::new(),
    };
    let questdb_rows: BTreeMap<String, u64> = match &plan.questdb {
        Some(config) => STREAMS
            .iter()
            .filter(|s| config.writes(s))
            .map(|s| (table_name(&config.table_prefix, s), shared.questdb[s].rows.load(Ordering::Relaxed)))
            .collect(),
        None => BTreeMap::new(),
    };
    let questdb_rejected = shared.questdb.values().map(|q| q.rejected.load(Ordering::Relaxed)).sum();
    let ticks = shared.tick_stats.records.load(Ordering::Relaxed);
    let dead_letters = shared.tick_stats.dead_letters.load(Ordering::Relaxed)
        + shared.news_stats.dead_letters.load(Ordering::Relaxed)
        + shared.control_stats.dead_letters.load(Ordering::Relaxed);
    let summary = RunSummary {
        state: if shared.stop.load(Ordering::Relaxed) { "stopped" } else { "finished" },
        name: plan.name.clone(),
        output_dir: output_dir.clone(),
        workers,
        processes: opts.processes.max(1),
        wall_s,
        ticks,
        ticks_per_s: ticks as f64 / wall_s.max(1e-9),
        symbols: plan.symbols.len(),
        dead_letters,
        rows,
        kafka_messages,
        questdb_rows,
        questdb_rejected,
        parquet: plan.parquet,
        initial_cash: plan.trading.risk.initial_cash,
        final_pnl: shared.last_pnl.lock().ok().and_then(|p| p.clone()),
        models: plan.trading.news.metrics.snapshot(),
    };
    tracing::info!(wall_s, ticks, ticks_per_s = summary.ticks_per_s, "finished");
    let manifest = serde_json::to_string_pretty(&summary).context("writing the run summary")?;
    std::fs::write(output_dir.join(MANIFEST), manifest)
        .with_context(|| format!("writing {}", output_dir.join(MANIFEST).display()))?;
    Ok(summary)
}
