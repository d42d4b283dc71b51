//! Kafka: client settings, topic creation, and the JSON message of each record type.
//!
//! Every message value is one JSON object with the schema version `v` (this build writes and
//! reads version 1; a message without `v` is read as version 1). Times are integer nanoseconds
//! since the Unix epoch (RFC 3339 text is accepted on input), prices decimal numbers, symbols
//! text. Keys: the symbol for ticks, the article id for news, none for control. The schemas are
//! in `deploy/kafka/`.

use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use tradeflow_operators::{Command, Control, News, SymbolTable, Tick, Ts};

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
        self.config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", if from_beginning { "earliest" } else { "latest" })
            // Joining a group takes half the session timeout on some brokers: keep it short.
            .set("session.timeout.ms", "6000")
            .create()
            .with_context(|| format!("Kafka consumer for {}", self.brokers))
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
}
