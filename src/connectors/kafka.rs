//! Kafka: client settings, topic creation, and the JSON message of each record type.
//!
//! Every message value is one JSON object with the schema version `v` (this build writes and
//! reads version 1; a message without `v` is read as version 1). Times are integer nanoseconds
//! since the Unix epoch (RFC 3339 text is accepted on input), prices decimal numbers, symbols
//! text. Keys: the symbol for ticks, the article id for news, none for control. The schemas are
//! in `deploy/kafka/`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use tradeflow_operators::sink::RecordSink;
use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{
    Command, Control, DeadLetter, Fill, News, Order, RiskEvent, Signal, Symbol, SymbolTable, Tick, Ts, truncate_utf8,
};

use crate::connectors::files::RowFormat;

/// The message schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Refuses a message of a schema version this build does not know.
pub fn check_version(v: Option<u32>) -> Result<(), String> {
    match v {
        None | Some(1) => Ok(()),
        Some(v) => {
            Err(format!("field `v`: schema version {v} is not one this build reads (it reads {SCHEMA_VERSION})"))
        }
    }
}

/// Where the brokers are, and the settings every client shares.
#[derive(Clone, Debug)]
pub struct Kafka {
    pub brokers: String,
}

impl Kafka {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", "tradeflow");
        config
    }

    /// An idempotent producer (retried sends are written once, in order per partition) that
    /// counts what the brokers confirmed and what they refused.
    pub fn producer(&self) -> anyhow::Result<ThreadedProducer<Deliveries>> {
        self.config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create_with_context(Deliveries::default())
            .with_context(|| format!("Kafka producer for {}", self.brokers))
    }

    /// A consumer in `group` that commits nothing by itself. Without a committed offset it
    /// starts at the beginning of each partition or at its end (`from_beginning`).
    pub fn consumer(&self, group: &str, from_beginning: bool) -> anyhow::Result<BaseConsumer> {
        self.consumer_config(group, from_beginning)
            .create()
            .with_context(|| format!("Kafka consumer for {}", self.brokers))
    }

    fn consumer_config(&self, group: &str, from_beginning: bool) -> ClientConfig {
        let mut config = self.config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", if from_beginning { "earliest" } else { "latest" })
            // Joining a group takes half the session timeout on some brokers: keep it short.
            .set("session.timeout.ms", "6000")
            // Large fetches: a fetch round trip, not decoding, limits a replay.
            .set("max.partition.fetch.bytes", "16777216")
            .set("fetch.max.bytes", "67108864")
            .set("queued.max.messages.kbytes", "262144");
        config
    }

    /// Creates `topics` with `partitions` each; a topic that exists already is left as it is.
    /// Returns, per topic, whether it was created.
    pub fn create_topics(&self, topics: &[String], partitions: i32) -> anyhow::Result<Vec<(String, bool)>> {
        if !(1..=10_000).contains(&partitions) {
            bail!("--partitions must be between 1 and 10000, got {partitions}");
        }
        let admin: AdminClient<DefaultClientContext> =
            self.config().create().with_context(|| format!("Kafka admin client for {}", self.brokers))?;
        let new: Vec<NewTopic> =
            topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1))).collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        let results = runtime
            .block_on(admin.create_topics(&new, &options))
            .with_context(|| format!("creating topics on {}", self.brokers))?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(name) => Ok((name, true)),
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => Ok((name, false)),
                Err((name, code)) => bail!("creating topic `{name}`: {code}"),
            })
            .collect()
    }
}

/// Counts deliveries; keeps the first refusal's reason for the error message.
#[derive(Default)]
pub struct Deliveries {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// The next offset to commit for each (topic, partition), filled in by the readers as they
/// finish and committed by the job once every sink has closed.
pub type OffsetLedger = Arc<Mutex<BTreeMap<(String, i32), i64>>>;

/// The next offset of each (topic, partition) as the readers saved it in each snapshot, by
/// boundary: committed for the group once that snapshot is complete.
pub type SnapshotOffsets = Arc<Mutex<BTreeMap<u64, BTreeMap<(String, i32), i64>>>>;

/// A number per (topic, partition): the next offset each reader will read (published by the
/// readers about once a second), or how far that is behind the high watermark (the lag).
pub type PartitionMap = Arc<Mutex<BTreeMap<(String, i32), i64>>>;

/// How often a reader publishes its positions.
const POSITIONS_EVERY: Duration = Duration::from_secs(1);

/// How far each position is behind its partition's high watermark, asked of the brokers (a
/// request per partition, so this runs beside the job, never on a worker).
pub fn measure_lag(consumer: &BaseConsumer, positions: &BTreeMap<(String, i32), i64>) -> BTreeMap<(String, i32), i64> {
    positions
        .iter()
        .filter_map(|((topic, partition), next)| {
            let (_low, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(2)).ok()?;
            Some(((topic.clone(), *partition), (high - next).max(0)))
        })
        .collect()
}

/// Commits the ledger's offsets for `group`.
pub fn commit_ledger(kafka: &Kafka, group: &str, ledger: &OffsetLedger) -> anyhow::Result<usize> {
    let offsets = ledger.lock().map_err(|_| anyhow::anyhow!("the offset ledger was poisoned"))?.clone();
    if offsets.is_empty() {
        return Ok(0);
    }
    let consumer = kafka.consumer(group, true)?;
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in &offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    consumer.commit(&list, CommitMode::Sync).with_context(|| format!("committing offsets of group `{group}`"))?;
    Ok(offsets.len())
}

/// Commits for `group`, each time a snapshot completes (its boundary comes through
/// `completions`), the offsets the readers saved in it, at most once per `every`: a group
/// followed by lag tools moves as a long run goes on, and never past what a complete snapshot
/// (whose sinks have made their output durable) covers. Ends when `completions` closes; the
/// run's own commit at its end follows.
pub fn commit_as_snapshots_complete(
    kafka: Kafka,
    group: String,
    offsets: SnapshotOffsets,
    completions: std::sync::mpsc::Receiver<u64>,
    every: Duration,
) -> std::thread::JoinHandle<()> {
    use std::sync::mpsc::RecvTimeoutError;
    std::thread::spawn(move || {
        let mut consumer = None;
        let (mut pending, mut last) = (None, None::<Instant>);
        loop {
            let wait = last.map_or(Duration::ZERO, |at| every.saturating_sub(at.elapsed()));
            let received = match pending {
                Some(_) => completions.recv_timeout(wait),
                None => completions.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(boundary) => pending = Some(boundary),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let due = last.is_none_or(|at| at.elapsed() >= every);
            let Some(boundary) = pending.filter(|_| due) else { continue };
            pending = None;
            last = Some(Instant::now());
            if consumer.is_none() {
                consumer = kafka.consumer(&group, true).map_err(|e| tracing::warn!("{e:#}")).ok();
            }
            let Some(consumer) = &consumer else { continue };
            match commit_snapshot(consumer, &group, &offsets, boundary) {
                Ok(partitions) => tracing::debug!(boundary, partitions, %group, "committed the offsets of a snapshot"),
                // The next snapshot's commit covers these partitions too.
                Err(e) => tracing::warn!(boundary, %group, "{e:#}"),
            }
        }
    })
}

/// Commits the newest offset saved at or before `boundary` of each partition, and forgets
/// the older boundaries.
fn commit_snapshot(
    consumer: &BaseConsumer,
    group: &str,
    offsets: &SnapshotOffsets,
    boundary: u64,
) -> anyhow::Result<usize> {
    let newest: BTreeMap<(String, i32), i64> = {
        let mut saved = offsets.lock().map_err(|_| anyhow::anyhow!("the snapshot offsets were poisoned"))?;
        let newest = saved.range(..=boundary).flat_map(|(_, o)| o.clone()).collect();
        *saved = saved.split_off(&boundary);
        newest
    };
    if newest.is_empty() {
        return Ok(0);
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in &newest {
        list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    consumer.commit(&list, CommitMode::Sync).with_context(|| format!("committing offsets of group `{group}`"))?;
    Ok(newest.len())
}

/// The partitions of `topic`, or an error naming it when it does not exist.
pub fn partitions(consumer: &BaseConsumer, brokers: &str, topic: &str) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("reading the metadata of topic `{topic}` from {brokers}"))?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic `{topic}` does not exist on {brokers} (create it with `tradeflow topics create`)");
    }
    partitions.sort_unstable();
    Ok(partitions)
}

/// Offsets below 2^40 and lanes above: a record's position in a [`KafkaReader`].
const LANE_SHIFT: u32 = 40;

/// In a reader's saved position: nothing was read from this partition yet, so a resume starts
/// it where the group starts (its committed offset, or the configured beginning or end).
const NOT_READ: u64 = u64::MAX;

/// One worker's share of a topic: the partitions `p` with `p % peers == index`, each read from
/// the group's committed offset (or the configured start), each a lane with its own watermark.
pub struct KafkaReader<R> {
    consumer: Arc<BaseConsumer>,
    /// Each partition's own queue, read in turn: a fetch brings megabytes of one partition at a
    /// time, and read from the shared queue that backlog would hold the others back for
    /// seconds, long enough for them to count as idle and their ticks as late. Empty until the
    /// first read assigns the partitions, so that a resume can set where each one starts.
    queues: Vec<PartitionQueue<DefaultConsumerContext>>,
    topic: String,
    partitions: Vec<i32>,
    /// The offset after the last message read, per lane; before any, the group's committed
    /// offset, if it has one.
    next: Vec<Option<i64>>,
    /// Where a lane with no `next` starts: the topic's beginning or its end.
    start: Offset,
    /// Why the partitions could not be assigned, once said.
    assign_failed: Option<String>,
    /// Whether each lane has read to the end of its partition (and nothing came since).
    at_end: Vec<bool>,
    symbols: Arc<SymbolTable>,
    stop_after_idle: Option<Duration>,
    idle_since: Option<Instant>,
    ledger: OffsetLedger,
    positions: PartitionMap,
    snapshot_offsets: SnapshotOffsets,
    published_at: Instant,
    _record: std::marker::PhantomData<R>,
}

/// Where and how a reader reads.
pub struct ReaderSpec<'a> {
    pub kafka: &'a Kafka,
    pub group: &'a str,
    pub topic: &'a str,
    pub from_earliest: bool,
    pub index: usize,
    pub peers: usize,
    pub stop_after_idle: Option<Duration>,
    pub ledger: OffsetLedger,
    /// Where the reader publishes its next offsets, for the lag.
    pub positions: PartitionMap,
    /// Where the reader records its next offsets as saved in each snapshot.
    pub snapshot_offsets: SnapshotOffsets,
}

impl<R: RowFormat> KafkaReader<R> {
    pub fn open(spec: ReaderSpec, symbols: Arc<SymbolTable>) -> anyhow::Result<Self> {
        // Told when a partition is read to its end: only then may it count as idle.
        let consumer: BaseConsumer = spec
            .kafka
            .consumer_config(spec.group, spec.from_earliest)
            .set("enable.partition.eof", "true")
            .create()
            .with_context(|| format!("Kafka consumer for {}", spec.kafka.brokers))?;
        let mine: Vec<i32> = partitions(&consumer, &spec.kafka.brokers, spec.topic)?
            .into_iter()
            .filter(|p| (*p as usize) % spec.peers == spec.index)
            .collect();
        let mut wanted = TopicPartitionList::new();
        for p in &mine {
            wanted.add_partition(spec.topic, *p);
        }
        let committed = consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .with_context(|| format!("reading the committed offsets of group `{}` on `{}`", spec.group, spec.topic))?;
        let next = mine
            .iter()
            .map(|p| match committed.find_partition(spec.topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect();
        Ok(KafkaReader {
            consumer: Arc::new(consumer),
            queues: Vec::new(),
            topic: spec.topic.to_owned(),
            next,
            start: if spec.from_earliest { Offset::Beginning } else { Offset::End },
            assign_failed: None,
            at_end: vec![false; mine.len()],
            partitions: mine,
            symbols,
            stop_after_idle: spec.stop_after_idle,
            idle_since: None,
            ledger: spec.ledger,
            positions: spec.positions,
            snapshot_offsets: spec.snapshot_offsets,
            published_at: Instant::now() - POSITIONS_EVERY,
            _record: std::marker::PhantomData,
        })
    }

    /// Assigns this reader's partitions, each from its `next` offset or the start, and gives
    /// each its own queue.
    fn assign(&mut self) -> Result<(), String> {
        self.assign_partitions()?;
        self.split_queues()
    }

    fn assign_partitions(&mut self) -> Result<(), String> {
        let mut assignment = TopicPartitionList::new();
        for (p, next) in self.partitions.iter().zip(&self.next) {
            let at = next.map_or(self.start, Offset::Offset);
            assignment.add_partition_offset(&self.topic, *p, at).map_err(|e| e.to_string())?;
        }
        self.consumer.assign(&assignment).map_err(|e| format!("assigning partitions of `{}`: {e}", self.topic))
    }

    fn split_queues(&mut self) -> Result<(), String> {
        self.queues = self
            .partitions
            .iter()
            .map(|p| {
                self.consumer
                    .split_partition_queue(&self.topic, *p)
                    .ok_or_else(|| format!("a queue of its own for `{}` partition {p}", self.topic))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(())
    }

    /// Hands the offsets after everything read to the ledger.
    fn record_offsets(&self) {
        if let Ok(mut ledger) = self.ledger.lock() {
            for (p, next) in self.partitions.iter().zip(&self.next) {
                if let Some(next) = next {
                    ledger.insert((self.topic.clone(), *p), *next);
                }
            }
        }
    }

    /// Publishes the next offset of each partition read so far.
    fn publish_positions(&mut self) {
        if self.published_at.elapsed() < POSITIONS_EVERY {
            return;
        }
        self.published_at = Instant::now();
        let Ok(mut positions) = self.positions.lock() else { return };
        for (p, next) in self.partitions.iter().zip(&self.next) {
            if let Some(next) = next {
                positions.insert((self.topic.clone(), *p), *next);
            }
        }
    }

    /// Hands on the message at `offset` of `lane`.
    fn take(
        &mut self,
        lane: usize,
        offset: i64,
        record: Result<R, DeadLetter>,
        out: &mut Vec<(u64, Result<R, DeadLetter>)>,
    ) {
        self.next[lane] = Some(offset + 1);
        self.at_end[lane] = false;
        out.push((((lane as u64) << LANE_SHIFT) | offset as u64, record));
    }

    fn decode(&self, partition: i32, offset: i64, payload: Option<&[u8]>) -> Result<R, DeadLetter> {
        let letter = |reason: String, raw: &str| {
            let mut raw = raw.to_owned();
            truncate_utf8(&mut raw, 4096);
            DeadLetter { ts: 0, origin: format!("{}/{partition}@{offset}", self.topic), reason, raw }
        };
        let bytes = payload.unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(text) => R::from_json(text, &self.symbols).map_err(|reason| letter(reason, text)),
            Err(e) => Err(letter(format!("not UTF-8 text: {e}"), &String::from_utf8_lossy(bytes))),
        }
    }
}

impl<R: RowFormat> EventReader<R> for KafkaReader<R> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        if self.partitions.is_empty() {
            return ReadStatus::Exhausted;
        }
        if self.queues.is_empty()
            && let Err(e) = self.assign()
        {
            // Local to the client (a fatal client error); said once, then tried again.
            if self.assign_failed.as_ref() != Some(&e) {
                tracing::error!(topic = %self.topic, error = %e, "cannot assign the partitions; retrying");
                self.assign_failed = Some(e);
            }
            return ReadStatus::Idle;
        }
        self.publish_positions();
        // A partition's first fetch can answer before its queue is split off (assigning starts
        // fetching): those messages, or its end, are on the main queue, ahead of anything on
        // its own queue. Dropped, they would be lost, and a lost end would keep the run waiting
        // for ever; so they are read first (and the partitions' queues only once it is empty).
        let mut got = 0;
        while got < max
            && let Some(event) = self.consumer.poll(Duration::ZERO)
        {
            match event {
                Ok(m) => match self.partitions.iter().position(|p| *p == m.partition()) {
                    Some(lane) => {
                        let record = self.decode(m.partition(), m.offset(), m.payload());
                        self.take(lane, m.offset(), record, out);
                        got += 1;
                    }
                    None => {
                        tracing::warn!(topic = %self.topic, partition = m.partition(), "a message of a partition not assigned here")
                    }
                },
                Err(KafkaError::PartitionEOF(p)) => {
                    if let Some(lane) = self.partitions.iter().position(|q| *q == p) {
                        self.at_end[lane] = true;
                    }
                }
                Err(e) => tracing::warn!(topic = %self.topic, error = %e, "Kafka consumer error; retrying"),
            }
        }
        // A share of the batch from each partition in turn.
        let share = (max / self.queues.len().max(1)).max(1);
        let mut more = true;
        while got < max && more {
            more = false;
            for lane in 0..self.queues.len() {
                let mut taken = 0;
                while taken < share && got < max {
                    let (offset, record) = match self.queues[lane].poll(Duration::ZERO) {
                        None => break,
                        Some(Ok(m)) => (m.offset(), self.decode(m.partition(), m.offset(), m.payload())),
                        Some(Err(KafkaError::PartitionEOF(_))) => {
                            self.at_end[lane] = true;
                            break;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(topic = %self.topic, error = %e, "Kafka partition error; retrying");
                            break;
                        }
                    };
                    self.take(lane, offset, record, out);
                    taken += 1;
                    got += 1;
                }
                more |= taken == share;
            }
        }
        if got > 0 {
            self.idle_since = None;
            return ReadStatus::More;
        }
        if !self.at_end.iter().all(|end| *end) {
            // Behind on a partition and getting nothing: the broker is slow or down. Wait.
            self.idle_since = None;
            return ReadStatus::Idle;
        }
        let since = *self.idle_since.get_or_insert_with(Instant::now);
        if self.stop_after_idle.is_some_and(|limit| since.elapsed() >= limit) {
            self.record_offsets();
            return ReadStatus::Exhausted;
        }
        ReadStatus::Idle
    }

    fn origin(&self, position: u64) -> String {
        let lane = (position >> LANE_SHIFT) as usize;
        let offset = position & ((1 << LANE_SHIFT) - 1);
        format!("{}/{}@{offset}", self.topic, self.partitions.get(lane).copied().unwrap_or(-1))
    }

    fn lanes(&self) -> usize {
        self.partitions.len().max(1)
    }

    fn lane(&self, position: u64) -> usize {
        (position >> LANE_SHIFT) as usize
    }

    fn caught_up(&self, lane: usize) -> bool {
        self.at_end.get(lane).copied().unwrap_or(true)
    }

    fn stop(&mut self) {
        self.record_offsets();
    }

    /// Each partition with the offset after the last message read from it (or [`NOT_READ`]).
    fn position(&self) -> Vec<u64> {
        let next = self.next.iter().map(|n| n.map_or(NOT_READ, |o| o as u64));
        self.partitions.iter().zip(next).flat_map(|(p, n)| [*p as u64, n]).collect()
    }

    fn saved(&mut self, boundary: u64) {
        let read =
            self.partitions.iter().zip(&self.next).filter_map(|(p, next)| Some(((self.topic.clone(), *p), (*next)?)));
        if let Ok(mut saved) = self.snapshot_offsets.lock() {
            saved.entry(boundary).or_default().extend(read);
        }
    }

    fn resume(&mut self, position: &[u64]) -> Result<(), String> {
        if !self.queues.is_empty() {
            return Err(format!("`{}` was read before it was resumed", self.topic));
        }
        let saved: Vec<u64> = position.chunks(2).map(|pair| pair[0]).collect();
        let mine: Vec<u64> = self.partitions.iter().map(|p| *p as u64).collect();
        if !position.len().is_multiple_of(2) || saved != mine {
            return Err(format!(
                "the snapshot read partitions {saved:?} of `{}`, this worker reads {mine:?} (the topic's partitions or the workers changed)",
                self.topic
            ));
        }
        for (next, pair) in self.next.iter_mut().zip(position.chunks(2)) {
            if pair[1] != NOT_READ {
                *next = Some(pair[1] as i64);
            }
        }
        Ok(())
    }
}

/// Writes a stream to a topic: an idempotent producer, a full queue waited out (backpressure on
/// the dataflow), and every delivery confirmed before the sink closes.
pub struct KafkaSink<R> {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
    symbols: Arc<SymbolTable>,
    rows: Arc<AtomicU64>,
    /// The input frontier the last time nothing was in flight.
    durable: u64,
    _record: std::marker::PhantomData<R>,
}

impl<R> KafkaSink<R> {
    pub fn new(kafka: &Kafka, topic: &str, symbols: Arc<SymbolTable>, rows: Arc<AtomicU64>) -> anyhow::Result<Self> {
        Ok(KafkaSink {
            producer: kafka.producer()?,
            topic: topic.to_owned(),
            symbols,
            rows,
            durable: 0,
            _record: std::marker::PhantomData,
        })
    }
}

impl<R: ToMessage + 'static> RecordSink<R> for KafkaSink<R> {
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String> {
        for record in batch.drain(..) {
            send(&self.producer, &self.topic, &record, &self.symbols)?;
            self.rows.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String> {
        // Everything written before `frontier` was sent; once none is in flight and none was
        // refused, it is all acknowledged by the brokers.
        if self.producer.in_flight_count() == 0 && self.producer.context().failed.load(Ordering::Relaxed) == 0 {
            self.durable = frontier.unwrap_or(u64::MAX);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        finish(&self.producer, &self.topic)
    }

    fn durable(&self) -> Option<u64> {
        Some(self.durable)
    }

    fn wake_after(&self) -> Option<Duration> {
        (self.producer.in_flight_count() > 0).then_some(Duration::from_millis(50))
    }
}

/// Sends one record to `topic`. A full queue is backpressure: wait for deliveries, then send
/// again.
pub fn send<R: ToMessage>(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    record: &R,
    symbols: &SymbolTable,
) -> Result<(), String> {
    let payload = record.to_json(symbols).map_err(|e| format!("encoding a message: {e}"))?;
    let mut message = BaseRecord::to(topic).payload(&payload);
    if let Some(key) = record.key(symbols) {
        message = message.key(key);
    }
    while let Err((e, back)) = producer.send(message) {
        match e {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                std::thread::sleep(Duration::from_millis(5));
                message = back;
            }
            other => return Err(format!("sending to `{topic}`: {other}")),
        }
    }
    Ok(())
}

/// Waits for every message sent to be delivered; an error says how many the brokers refused
/// and why the first was.
pub fn finish(producer: &ThreadedProducer<Deliveries>, topic: &str) -> Result<(), String> {
    producer.flush(Duration::from_secs(60)).map_err(|e| format!("flushing `{topic}`: {e}"))?;
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = context.first_error.lock().ok().and_then(|e| e.clone()).unwrap_or_default();
        return Err(format!("{failed} messages to `{topic}` were refused by the brokers; the first: {first}"));
    }
    Ok(())
}

/// An output record as JSON: its serde fields, the schema version, and symbol names for ids.
fn output_json<T: Serialize>(record: &T, symbols: &SymbolTable) -> serde_json::Result<String> {
    let mut value = serde_json::to_value(record)?;
    if let Some(map) = value.as_object_mut() {
        if let Some(id) = map.get("symbol").and_then(|s| s.as_u64()) {
            let name = symbols.name(Symbol(id as u32)).to_owned();
            map.insert("symbol".into(), serde_json::Value::String(name));
        }
        // A signal's numbers are rendered into its `reasons` and `inputs` before it is written.
        map.remove("basis");
        map.insert("v".into(), SCHEMA_VERSION.into());
    }
    serde_json::to_string(&value)
}

macro_rules! output_message {
    ($($t:ty => |$r:ident, $s:ident| $key:expr),* $(,)?) => {$(
        impl ToMessage for $t {
            fn key<'a>(&'a self, $s: &'a SymbolTable) -> Option<&'a str> {
                let $r = self;
                $key
            }
            fn to_json(&self, symbols: &SymbolTable) -> serde_json::Result<String> {
                output_json(self, symbols)
            }
        }
    )*};
}

output_message! {
    Signal => |r, s| Some(s.name(r.symbol)),
    Order => |r, s| Some(s.name(r.symbol)),
    Fill => |r, s| Some(s.name(r.symbol)),
    RiskEvent => |r, _s| Some(r.account.as_str()),
    DeadLetter => |_r, _s| None,
}

/// A record as a Kafka message: its key and its JSON value.
pub trait ToMessage {
    fn key<'a>(&'a self, symbols: &'a SymbolTable) -> Option<&'a str>;
    fn to_json(&self, symbols: &SymbolTable) -> serde_json::Result<String>;
}

#[derive(Serialize)]
struct TickMessage<'a> {
    v: u32,
    ts: Ts,
    symbol: &'a str,
    price: f64,
    size: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask: Option<f64>,
}

impl ToMessage for Tick {
    fn key<'a>(&'a self, symbols: &'a SymbolTable) -> Option<&'a str> {
        Some(symbols.name(self.symbol))
    }

    fn to_json(&self, symbols: &SymbolTable) -> serde_json::Result<String> {
        serde_json::to_string(&TickMessage {
            v: SCHEMA_VERSION,
            ts: self.ts,
            symbol: symbols.name(self.symbol),
            price: self.price,
            size: self.size,
            bid: self.bid,
            ask: self.ask,
        })
    }
}

#[derive(Serialize)]
struct NewsMessage<'a> {
    v: u32,
    id: &'a str,
    ts: Ts,
    source: &'a str,
    headline: &'a str,
    body: &'a str,
    symbols: Vec<&'a str>,
}

impl ToMessage for News {
    fn key<'a>(&'a self, _symbols: &'a SymbolTable) -> Option<&'a str> {
        Some(&self.id)
    }

    fn to_json(&self, symbols: &SymbolTable) -> serde_json::Result<String> {
        serde_json::to_string(&NewsMessage {
            v: SCHEMA_VERSION,
            id: &self.id,
            ts: self.ts,
            source: &self.source,
            headline: &self.headline,
            body: &self.body,
            symbols: self.symbols.iter().map(|s| symbols.name(*s)).collect(),
        })
    }
}

#[derive(Serialize)]
struct ControlMessage<'a> {
    v: u32,
    ts: Ts,
    command: &'a Command,
}

impl ToMessage for Control {
    fn key<'a>(&'a self, _symbols: &'a SymbolTable) -> Option<&'a str> {
        None
    }

    fn to_json(&self, _symbols: &SymbolTable) -> serde_json::Result<String> {
        serde_json::to_string(&ControlMessage { v: SCHEMA_VERSION, ts: self.ts, command: &self.command })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::files::RowFormat;
    use tradeflow_operators::Symbol;

    #[test]
    fn messages_read_back_as_the_same_records() {
        let symbols = SymbolTable::new(["AAPL", "MSFT"]);
        let tick = Tick {
            symbol: Symbol(1),
            ts: 1_704_205_800_250_000_000,
            price: 372.5,
            size: 100.0,
            bid: Some(372.49),
            ask: None,
        };
        let json = tick.to_json(&symbols).unwrap();
        assert_eq!(json, r#"{"v":1,"ts":1704205800250000000,"symbol":"MSFT","price":372.5,"size":100.0,"bid":372.49}"#);
        assert_eq!(Tick::from_json(&json, &symbols).unwrap(), tick);
        let news = News {
            id: "n1".into(),
            ts: 5,
            source: "wire".into(),
            headline: "MSFT beats".into(),
            body: String::new(),
            symbols: vec![Symbol(1), Symbol(0)],
        };
        assert_eq!(News::from_json(&news.to_json(&symbols).unwrap(), &symbols).unwrap(), news);
        let control = Control { ts: 9, command: Command::Flatten };
        let json = control.to_json(&symbols).unwrap();
        assert_eq!(json, r#"{"v":1,"ts":9,"command":"flatten"}"#);
        assert_eq!(Control::from_json(&json, &symbols).unwrap(), control);
    }

    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, DefaultProducerContext};

    /// librdkafka's in-process cluster (tansu's high watermarks are wrong, DESIGN.md) with a
    /// topic `ticks` of `partitions` holding `messages` (partition, payload) in order.
    fn mock_ticks(
        partitions: i32,
        messages: &[(i32, String)],
    ) -> (MockCluster<'static, DefaultProducerContext>, Kafka) {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("ticks", partitions, 1).unwrap();
        let kafka = Kafka { brokers: cluster.bootstrap_servers() };
        let producer: BaseProducer = kafka.config().create().unwrap();
        for (partition, payload) in messages {
            producer.send(BaseRecord::<(), _>::to("ticks").partition(*partition).payload(payload)).unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        (cluster, kafka)
    }

    fn tick_json(ts: i64, price: i64) -> String {
        format!(r#"{{"v":1,"ts":{ts},"symbol":"AAA","price":{price},"size":1}}"#)
    }

    /// A reader of `ticks` for worker 0 of `peers`, from the beginning.
    fn reader<'a>(kafka: &'a Kafka, group: &'a str, peers: usize, stop_after_idle: Option<Duration>) -> ReaderSpec<'a> {
        ReaderSpec {
            kafka,
            group,
            topic: "ticks",
            from_earliest: true,
            index: 0,
            peers,
            stop_after_idle,
            ledger: OffsetLedger::default(),
            positions: PartitionMap::default(),
            snapshot_offsets: SnapshotOffsets::default(),
        }
    }

    #[test]
    fn a_reader_reads_its_partitions_and_hands_its_offsets_to_the_ledger() {
        let mut messages: Vec<(i32, String)> =
            (0..3).flat_map(|p| (0..4).map(move |i| (p, tick_json(i, 10 + i64::from(p))))).collect();
        messages.push((2, "nope".into()));
        let (_cluster, kafka) = mock_ticks(3, &messages);

        let spec = reader(&kafka, "g", 2, Some(Duration::from_millis(500)));
        let ledger = Arc::clone(&spec.ledger);
        let mut reader = KafkaReader::<Tick>::open(spec, Arc::new(SymbolTable::new(["AAA"]))).unwrap();
        assert_eq!(reader.lanes(), 2, "worker 0 of 2 reads partitions 0 and 2");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reader.read(100, &mut out) != ReadStatus::Exhausted {
            assert!(Instant::now() < deadline, "the reader never finished: {} read", out.len());
            std::thread::sleep(Duration::from_millis(5));
        }
        let prices: Vec<(usize, f64)> =
            out.iter().filter_map(|(pos, r)| r.as_ref().ok().map(|t| (reader.lane(*pos), t.price))).collect();
        assert_eq!(prices.iter().filter(|p| *p == &(0, 10.0)).count(), 4);
        assert_eq!(prices.iter().filter(|p| *p == &(1, 12.0)).count(), 4);
        let dead: Vec<&DeadLetter> = out.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
        let [letter] = &dead[..] else { panic!("{dead:?}") };
        assert_eq!((letter.origin.as_str(), letter.raw.as_str()), ("ticks/2@4", "nope"));
        let offsets = ledger.lock().unwrap().clone();
        assert_eq!(offsets.into_iter().collect::<Vec<_>>(), [(("ticks".into(), 0), 4), (("ticks".into(), 2), 5)]);
    }

    #[test]
    fn a_reader_resumed_from_a_position_reads_each_message_after_it_once() {
        // Partition 2 stays empty: nothing is read from it before the position is taken.
        let messages: Vec<(i32, String)> =
            (0..2).flat_map(|p| (0..6).map(move |i| (p, tick_json(i, 10 * i64::from(p) + i + 1)))).collect();
        let (_cluster, kafka) = mock_ticks(3, &messages);
        let open = || {
            let spec = reader(&kafka, "resumed", 1, Some(Duration::from_millis(300)));
            KafkaReader::<Tick>::open(spec, Arc::new(SymbolTable::new(["AAA"]))).unwrap()
        };
        let prices = |out: &[(u64, Result<Tick, DeadLetter>)]| -> Vec<f64> {
            out.iter().map(|(_, r)| r.as_ref().unwrap().price).collect()
        };
        let deadline = Instant::now() + Duration::from_secs(20);

        let mut first = open();
        let mut before = Vec::new();
        while before.len() < 5 {
            assert!(Instant::now() < deadline, "read {} of 5", before.len());
            first.read(5 - before.len(), &mut before);
            std::thread::sleep(Duration::from_millis(2));
        }
        let position = first.position();
        assert_eq!(position.len(), 6, "(partition, next offset) for each of 3 partitions: {position:?}");
        assert_eq!(position[4..], [2, NOT_READ]);
        drop(first);

        let mut second = open();
        let mut after = Vec::new();
        second.resume(&position).unwrap();
        while second.read(100, &mut after) != ReadStatus::Exhausted {
            assert!(Instant::now() < deadline, "the resumed reader never finished: {} read", after.len());
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut all = [prices(&before), prices(&after)].concat();
        all.sort_by(f64::total_cmp);
        let expected: Vec<f64> = (0..2).flat_map(|p| (0..6).map(move |i| (10 * p + i + 1) as f64)).collect();
        assert_eq!(all, expected, "read before the position: {:?}", prices(&before));

        // A position from another set of partitions (the topic or the workers changed).
        let e = open().resume(&[0, 3, 1, 2]).unwrap_err();
        assert!(e.contains("partitions [0, 1] of `ticks`, this worker reads [0, 1, 2]"), "{e}");
    }

    #[test]
    fn messages_fetched_before_the_queues_are_split_are_read_first_not_lost() {
        let messages: Vec<(i32, String)> =
            (0..2).flat_map(|p| (0..5).map(move |i| (p, tick_json(i, 10 * i64::from(p) + i + 1)))).collect();
        let (_cluster, kafka) = mock_ticks(2, &messages);
        let spec = reader(&kafka, "early", 1, Some(Duration::from_millis(300)));
        let mut reader = KafkaReader::<Tick>::open(spec, Arc::new(SymbolTable::new(["AAA"]))).unwrap();
        // What a busy machine can do between assigning and splitting: the first fetches, and
        // the partitions' ends, arrive on the main queue.
        reader.assign_partitions().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        reader.split_queues().unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reader.read(100, &mut out) != ReadStatus::Exhausted {
            assert!(Instant::now() < deadline, "never at its end (an end lost?): {} read", out.len());
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut read: Vec<(usize, f64)> =
            out.iter().map(|(pos, r)| (reader.lane(*pos), r.as_ref().unwrap().price)).collect();
        let in_order = read.clone();
        read.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let expected: Vec<(usize, f64)> =
            (0..2).flat_map(|p| (0..5).map(move |i| (p, (10 * p + i + 1) as f64))).collect();
        assert_eq!(read, expected);
        for lane in 0..2 {
            let prices: Vec<f64> = in_order.iter().filter(|(l, _)| *l == lane).map(|x| x.1).collect();
            assert!(prices.is_sorted(), "partition {lane} out of order: {prices:?}");
        }
    }

    #[test]
    fn the_documented_examples_decode() {
        let doc = include_str!("../../deploy/kafka/README.md");
        let examples: Vec<&str> = doc.lines().filter(|l| l.starts_with("{\"v\":1")).collect();
        let [tick, news, control] = examples[..] else { panic!("three examples expected: {examples:?}") };
        let symbols = SymbolTable::new(["AAPL"]);
        assert_eq!(Tick::from_json(tick, &symbols).unwrap().ask, Some(185.65));
        assert_eq!(News::from_json(news, &symbols).unwrap().id, "wire-0001");
        assert_eq!(Control::from_json(control, &symbols).unwrap().command, Command::Halt);
    }

    #[test]
    fn unknown_versions_are_refused_unknown_fields_ignored() {
        let symbols = SymbolTable::new(["AAPL"]);
        let e = Tick::from_json(r#"{"v":2,"ts":1,"symbol":"AAPL","price":1,"size":1}"#, &symbols).unwrap_err();
        assert!(e.contains("schema version 2"), "{e}");
        let t = Tick::from_json(r#"{"ts":1,"symbol":"AAPL","price":1,"size":1,"venue":"XNAS"}"#, &symbols).unwrap();
        assert_eq!(t.price, 1.0);
    }

    #[test]
    fn the_lag_is_how_far_the_readers_are_behind_the_high_watermark() {
        let messages: Vec<(i32, String)> = (0..100).map(|i| (0, tick_json(i, 10))).collect();
        let (_cluster, kafka) = mock_ticks(1, &messages);
        let spec = reader(&kafka, "lag", 1, None);
        let positions = Arc::clone(&spec.positions);
        let mut reader = KafkaReader::<Tick>::open(spec, Arc::new(SymbolTable::new(["AAA"]))).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut read_up_to = |n: usize, reader: &mut KafkaReader<Tick>| {
            while out.len() < n {
                assert!(Instant::now() < deadline, "read {} of {n}", out.len());
                reader.read(n - out.len(), &mut out);
                std::thread::sleep(Duration::from_millis(2));
            }
            reader.published_at = Instant::now() - POSITIONS_EVERY;
            reader.read(0, &mut Vec::new());
            measure_lag(&kafka.consumer("lag-watch", true).unwrap(), &positions.lock().unwrap())
        };
        let key = ("ticks".to_owned(), 0);
        assert_eq!(read_up_to(30, &mut reader).get(&key), Some(&70));
        assert_eq!(read_up_to(100, &mut reader).get(&key), Some(&0));
    }
}
