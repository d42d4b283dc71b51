//! `tradeflow topics create`, `produce` and `consume`: getting records into and out of Kafka
//! topics from files or the simulator, for data engineers and for tests.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{Control, DeadLetter, EventTime, News, SymbolTable, Tick};

use crate::config::{JobConfig, SourceSection};
use crate::connectors::files::{FileReader, RowFormat};
use crate::connectors::kafka::{Kafka, ToMessage, finish, partitions, send};
use crate::connectors::simulator::{NewsSimulator, TickSimulator, news_schedule};

/// What `produce` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ticks,
    News,
    Control,
}

impl Kind {
    pub fn parse(text: &str) -> Result<Kind, String> {
        match text {
            "ticks" => Ok(Kind::Ticks),
            "news" => Ok(Kind::News),
            "control" => Ok(Kind::Control),
            other => Err(format!("`{other}`: produce ticks, news or control")),
        }
    }
}

/// Where `produce` reads from.
pub enum Input<'a> {
    File(&'a Path),
    /// The simulator of a job config (`source.kind = "simulator"`).
    Simulate(&'a Path),
}

/// What `produce` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Produced {
    pub sent: u64,
    pub skipped: u64,
}

/// The symbols a tick or news file names, so that any file can be produced without a config.
fn symbols_in(path: &Path) -> anyhow::Result<SymbolTable> {
    let mut names = BTreeSet::new();
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    if is_csv {
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = csv.headers()?.clone();
        if let Some(i) =
            headers.iter().position(|h| h.eq_ignore_ascii_case("symbol") || h.eq_ignore_ascii_case("symbols"))
        {
            for record in csv.records().flatten() {
                if let Some(field) = record.get(i) {
                    names.extend(
                        field.split(['|', ';', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from),
                    );
                }
            }
        }
    } else {
        for line in BufReader::new(file).lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&line?) else { continue };
            if let Some(s) = value.get("symbol").and_then(|s| s.as_str()) {
                names.insert(s.to_owned());
            }
            if let Some(list) = value.get("symbols").and_then(|s| s.as_array()) {
                names.extend(list.iter().filter_map(|s| s.as_str()).map(String::from));
            }
        }
    }
    Ok(SymbolTable::new(names))
}

/// How fast `produce` sends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pacing {
    /// At most this many messages a second.
    pub rate: Option<f64>,
    /// Event time runs this many times faster than the wall clock (1: as it happened).
    pub speed: Option<f64>,
}

/// Sends every record `reader` yields to `topic`, paced as asked; rows that cannot be read are
/// reported on stderr (the first five) and counted, not sent.
fn send_all<R: ToMessage + EventTime + 'static>(
    kafka: &Kafka,
    topic: &str,
    mut reader: impl EventReader<R>,
    symbols: &SymbolTable,
    pacing: Pacing,
) -> anyhow::Result<Produced> {
    let producer = kafka.producer()?;
    let started = Instant::now();
    let mut first_ts = None;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} messages to {msg} ({per_sec})") {
        bar.set_style(style);
    }
    bar.set_message(topic.to_owned());
    let mut done = Produced::default();
    let mut batch: Vec<(u64, Result<R, DeadLetter>)> = Vec::new();
    loop {
        batch.clear();
        let status = reader.read(1024, &mut batch);
        for (_, record) in batch.drain(..) {
            let record = match record {
                Ok(r) => r,
                Err(letter) => {
                    done.skipped += 1;
                    if done.skipped <= 5 {
                        eprintln!("skipped {}: {}", letter.origin, letter.reason);
                    }
                    continue;
                }
            };
            if let Some(speed) = pacing.speed {
                let first = *first_ts.get_or_insert(record.event_ts());
                let due = Duration::from_secs_f64(((record.event_ts() - first).max(0) as f64 / 1e9) / speed);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            send(&producer, topic, &record, symbols).map_err(anyhow::Error::msg)?;
            done.sent += 1;
            bar.inc(1);
            if let Some(rate) = pacing.rate {
                let due = Duration::from_secs_f64(done.sent as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        if status == ReadStatus::Exhausted {
            break;
        }
    }
    bar.finish_and_clear();
    finish(&producer, topic).map_err(anyhow::Error::msg)?;
    Ok(done)
}

fn from_file<R: RowFormat + ToMessage + EventTime>(
    kafka: &Kafka,
    topic: &str,
    path: &Path,
    pacing: Pacing,
) -> anyhow::Result<Produced> {
    let symbols = Arc::new(symbols_in(path)?);
    let reader = FileReader::<R>::open(path, Arc::clone(&symbols), true).map_err(anyhow::Error::msg)?;
    send_all(kafka, topic, reader, &symbols, pacing)
}

/// `tradeflow produce`: sends ticks, news or control commands to `topic`.
pub fn produce(kafka: &Kafka, kind: Kind, input: Input, topic: &str, pacing: Pacing) -> anyhow::Result<Produced> {
    if pacing.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of messages per second");
    }
    if pacing.speed.is_some_and(|x| !(x.is_finite() && x > 0.0)) {
        bail!("--speed must be a positive factor (1: event time as it happened)");
    }
    match input {
        Input::File(path) => match kind {
            Kind::Ticks => from_file::<Tick>(kafka, topic, path, pacing),
            Kind::News => from_file::<News>(kafka, topic, path, pacing),
            Kind::Control => from_file::<Control>(kafka, topic, path, pacing),
        },
        Input::Simulate(config) => {
            let job = JobConfig::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            let SourceSection::Simulator(sim) = &job.source else {
                bail!("{}: --simulate needs a config whose source.kind is \"simulator\"", config.display());
            };
            sim.validate().map_err(anyhow::Error::msg)?;
            let names = sim.symbol_names();
            let symbols = SymbolTable::new(names.clone());
            let schedule = news_schedule(sim, &names);
            match kind {
                Kind::Ticks => send_all(kafka, topic, TickSimulator::new(sim, &schedule, 0, 1), &symbols, pacing),
                Kind::News => send_all(kafka, topic, NewsSimulator::new(&schedule, 0), &symbols, pacing),
                Kind::Control => bail!("the simulator makes no control commands: produce them from a file"),
            }
        }
    }
}

/// How `consume` prints a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The value as received, one per line.
    Json,
    /// partition, offset, key, then the value's fields as `name=value`.
    Table,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "json" => Ok(Format::Json),
            "table" => Ok(Format::Table),
            other => Err(format!("--format `{other}`: use table or json")),
        }
    }
}

fn print_message(
    out: &mut impl Write,
    format: Format,
    partition: i32,
    offset: i64,
    key: Option<&[u8]>,
    value: &[u8],
) -> std::io::Result<()> {
    let value = String::from_utf8_lossy(value);
    match format {
        Format::Json => writeln!(out, "{value}"),
        Format::Table => {
            let key = key.map(String::from_utf8_lossy).unwrap_or_default();
            let fields = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&value) {
                Ok(map) => map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
                Err(_) => format!("(not a JSON object) {value}"),
            };
            writeln!(out, "{partition:>3} {offset:>10} {key:<12} {fields}")
        }
    }
}

/// `tradeflow consume`: prints the messages of every partition of `topic`, from the beginning
/// or from now on, until `max` messages or `idle` without one. Reads without joining a group,
/// so it commits nothing and disturbs no job.
pub fn consume(
    kafka: &Kafka,
    topic: &str,
    from_beginning: bool,
    format: Format,
    max: Option<u64>,
    idle: Option<Duration>,
) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = kafka.consumer("tradeflow-consume", from_beginning)?;
    let partitions = partitions(&consumer, &kafka.brokers, topic)?;
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment.add_partition_offset(topic, *p, if from_beginning { Offset::Beginning } else { Offset::End })?;
    }
    consumer.assign(&assignment)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut count = 0;
    let mut last = Instant::now();
    while max.is_none_or(|m| count < m) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                print_message(&mut out, format, m.partition(), m.offset(), m.key(), m.payload().unwrap_or_default())?;
                count += 1;
                last = Instant::now();
            }
            Some(Err(e)) => bail!("reading `{topic}`: {e}"),
            None => {
                if idle.is_some_and(|idle| last.elapsed() >= idle) {
                    break;
                }
            }
        }
    }
    out.flush()?;
    Ok(count)
}
