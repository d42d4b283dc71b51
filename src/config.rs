//! The job config: one typed struct per TOML section, defaults in one place, and validation
//! that names the file, the key and the reason before anything starts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tradeflow_dataflows::TradingParams;
use tradeflow_operators::broker::BrokerParams;
use tradeflow_operators::indicators::IndicatorSuite;
use tradeflow_operators::risk::RiskParams;
use tradeflow_operators::strategy::{StrategyParams, VolatilitySource};
use tradeflow_operators::{Command, Control, EpochClock, SECOND, SymbolTable, Ts};

use crate::connectors::questdb::QuestDbConfig;
use crate::connectors::simulator::SimulatorConfig;
use crate::kernels_config::KernelsSection;
use crate::sentiment::SentimentSection;
use crate::timefmt::parse_ts;

/// A config that could not be accepted: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A time written as integer nanoseconds or RFC 3339 text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TimeText {
    Nanos(i64),
    Text(String),
}

impl TimeText {
    pub fn resolve(&self) -> Result<Ts, String> {
        match self {
            TimeText::Nanos(ns) => Ok(*ns),
            TimeText::Text(t) => parse_ts(t),
        }
    }
}

/// The whole job file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub job: JobSection,
    pub source: SourceSection,
    #[serde(default)]
    pub indicators: IndicatorsSection,
    #[serde(default)]
    pub strategy: StrategyParams,
    #[serde(default)]
    pub risk: RiskParams,
    #[serde(default)]
    pub broker: BrokerParams,
    #[serde(default)]
    pub sentiment: SentimentSection,
    /// Batched kernels (GPU or their CPU twins): GARCH volatility, patterns, VaR.
    #[serde(default)]
    pub kernels: KernelsSection,
    /// Kill-switch commands at given event times (also readable from a file source).
    #[serde(default)]
    pub control: Vec<ControlEntry>,
    #[serde(default)]
    pub output: OutputSection,
    /// Saving the job's state at epoch boundaries, to resume after a crash.
    #[serde(default)]
    pub snapshots: Option<crate::snapshots::SnapshotsSection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSection {
    pub name: String,
    /// Worker threads in this process.
    pub workers: usize,
    /// Event-time length of one timely epoch, in milliseconds; must divide 1000.
    pub epoch_ms: f64,
    /// How far behind the newest record a record may be and still be accepted.
    pub allowed_lateness_ms: f64,
    /// A record further ahead of the newest one than this is refused as a bad clock.
    pub max_ahead_s: f64,
    /// How far (event time) sources may read ahead of what every sink has finished: bounds memory.
    pub read_ahead_s: f64,
    /// How long a source with nothing to read waits before asking again: the latency a quiet
    /// input adds, traded against the CPU that asking costs.
    pub idle_poll_ms: f64,
}

impl Default for JobSection {
    fn default() -> Self {
        JobSection {
            name: "job".into(),
            workers: 1,
            epoch_ms: 1000.0,
            allowed_lateness_ms: 0.0,
            max_ahead_s: 3600.0,
            read_ahead_s: 10.0,
            idle_poll_ms: 5.0,
        }
    }
}

/// Where ticks and news come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceSection {
    /// The built-in market simulator.
    Simulator(SimulatorConfig),
    /// Replayed files.
    Files(FilesConfig),
    /// Kafka topics.
    Kafka(KafkaSourceConfig),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The consumer group whose committed offsets the job resumes from.
    pub group: String,
    /// Topic of ticks (JSON, key = symbol; see deploy/kafka).
    pub ticks: String,
    /// Topic of news, if any.
    #[serde(default)]
    pub news: Option<String>,
    /// Topic of control commands, if any.
    #[serde(default)]
    pub control: Option<String>,
    /// The symbol universe; messages naming other symbols go to the dead letters.
    pub symbols: Vec<String>,
    /// Where a partition without a committed offset starts: `earliest` or `latest`.
    #[serde(default = "KafkaSourceConfig::default_start")]
    pub start: String,
    /// A partition without messages for this long stops holding event time back.
    #[serde(default = "KafkaSourceConfig::default_idle_timeout_ms")]
    pub idle_timeout_ms: f64,
    /// Stop the job when no partition has had a message for this long (0: run until stopped).
    #[serde(default)]
    pub stop_after_idle_s: f64,
}

impl KafkaSourceConfig {
    fn default_start() -> String {
        "earliest".into()
    }
    fn default_idle_timeout_ms() -> f64 {
        2000.0
    }

    fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("source.brokers must name at least one host:port".into());
        }
        if self.group.trim().is_empty() {
            return Err("source.group must not be empty".into());
        }
        for (key, topic) in
            [("ticks", Some(&self.ticks)), ("news", self.news.as_ref()), ("control", self.control.as_ref())]
        {
            if let Some(t) = topic
                && (t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
            {
                return Err(format!("source.{key} = \"{t}\" is not a valid topic name (letters, digits, . _ -)"));
            }
        }
        if self.start != "earliest" && self.start != "latest" {
            return Err(format!("source.start = \"{}\": use \"earliest\" or \"latest\"", self.start));
        }
        within("source.idle_timeout_ms", self.idle_timeout_ms, 3_600_000.0)?;
        within("source.stop_after_idle_s", self.stop_after_idle_s, TEN_YEARS_S)?;
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Ticks: CSV (`ts,symbol,price,size,bid,ask`) or JSON Lines, by extension.
    pub ticks: PathBuf,
    /// News: CSV (`id,ts,source,headline,body,symbols`) or JSON Lines.
    pub news: Option<PathBuf>,
    /// Control commands: JSON Lines `{"ts": ..., "command": "halt"}`.
    pub control: Option<PathBuf>,
    /// The symbol universe; rows naming other symbols go to the dead letters.
    pub symbols: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorsSection {
    /// Indicator names with parameters, TA-Lib style: `ema_20`, `macd_12_26_9`.
    pub set: Vec<String>,
}

impl Default for IndicatorsSection {
    fn default() -> Self {
        IndicatorsSection {
            set: [
                "ema_12",
                "ema_26",
                "rsi_14",
                "macd_12_26_9",
                "bbands_20_2_2",
                "resistance_break_50",
                "support_50_1",
                "realvol_30",
                "zscore_20",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEntry {
    pub ts: TimeText,
    pub command: Command,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// The run's output folder (relative to the working directory).
    pub dir: PathBuf,
    /// Rows per Parquet write.
    pub batch_rows: usize,
    /// Write every stream to Parquet files under `dir` (the embedded default).
    pub parquet: bool,
    /// Output topics, besides the files.
    pub kafka: Option<KafkaOutputConfig>,
    /// QuestDB tables over ILP, besides (or instead of, with `parquet = false`) the files.
    pub questdb: Option<QuestDbConfig>,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection { dir: PathBuf::from("runs/job"), batch_rows: 65_536, parquet: true, kafka: None, questdb: None }
    }
}

/// `[output.kafka]`: the topics the job writes; an empty name leaves that stream out.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaOutputConfig {
    pub brokers: String,
    pub signals: String,
    pub orders: String,
    pub fills: String,
    pub risk_events: String,
    pub dead_letters: String,
}

impl Default for KafkaOutputConfig {
    fn default() -> Self {
        KafkaOutputConfig {
            brokers: "127.0.0.1:9092".into(),
            signals: "signals".into(),
            orders: "orders".into(),
            fills: "fills".into(),
            risk_events: "risk_events".into(),
            dead_letters: "dead_letters".into(),
        }
    }
}

impl KafkaOutputConfig {
    /// (stream, topic) for every stream that goes to a topic.
    pub fn topics(&self) -> Vec<(&'static str, &str)> {
        [
            ("signals", &self.signals),
            ("orders", &self.orders),
            ("fills", &self.fills),
            ("risk_events", &self.risk_events),
            ("dead_letters", &self.dead_letters),
        ]
        .into_iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(s, t)| (s, t.as_str()))
        .collect()
    }

    fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("output.kafka.brokers must name at least one host:port".into());
        }
        for (stream, topic) in self.topics() {
            if !topic.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(format!(
                    "output.kafka.{stream} = \"{topic}\" is not a valid topic name (letters, digits, . _ -)"
                ));
            }
        }
        Ok(())
    }
}

/// A validated job, ready to run.
#[derive(Clone)]
pub struct JobPlan {
    pub name: String,
    pub workers: usize,
    pub source: SourceSection,
    pub symbols: Arc<SymbolTable>,
    pub control: Vec<Control>,
    pub trading: TradingParams,
    pub allowed_lateness: i64,
    pub max_ahead: i64,
    /// `job.read_ahead_s` in epochs (at least one).
    pub read_ahead_epochs: u64,
    /// How long an idle source waits before reading again.
    pub idle_poll: std::time::Duration,
    /// An input lane (a Kafka partition) without records for this long stops holding the
    /// frontier back.
    pub idle_timeout: std::time::Duration,
    pub output_dir: PathBuf,
    pub batch_rows: usize,
    pub kafka_output: Option<KafkaOutputConfig>,
    pub parquet: bool,
    pub questdb: Option<Arc<QuestDbConfig>>,
    pub snapshots: Option<SnapshotPlan>,
}

/// A source's symbol universe, checked.
fn universe(symbols: &[String]) -> Result<Vec<String>, String> {
    if symbols.is_empty() {
        return Err("source.symbols must list the symbol universe (rows for other symbols are dead-lettered)".into());
    }
    if let Some(bad) = symbols.iter().find(|s| s.trim().is_empty() || s.trim() != s.as_str()) {
        return Err(format!("source.symbols: `{bad}` is not a valid symbol (empty or padded with spaces)"));
    }
    Ok(symbols.to_vec())
}

/// Ten years in seconds: the longest duration any setting may name.
pub const TEN_YEARS_S: f64 = 10.0 * 365.25 * 86_400.0;

/// Checks that `v` lies in `0..=max`; the error names the key.
pub fn within(key: &str, v: f64, max: f64) -> Result<(), String> {
    if v.is_finite() && (0.0..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("{key} must be between 0 and {max}, got {v}"))
    }
}

impl JobConfig {
    /// Reads and parses a job file; syntax errors and unknown keys name the line.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError { file: file.clone(), message: format!("cannot read the config: {e}") })?;
        Self::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError { file: file.into(), message: e.to_string().trim_end().to_owned() })
    }

    /// Checks every value against the others; the error names the key.
    pub fn validate(&self, file: &str) -> Result<JobPlan, ConfigError> {
        self.plan().map_err(|message| ConfigError { file: file.into(), message })
    }

    fn plan(&self) -> Result<JobPlan, String> {
        let job = &self.job;
        if job.name.trim().is_empty() {
            return Err("job.name must not be empty".into());
        }
        if !(1..=256).contains(&job.workers) {
            return Err(format!("job.workers must be between 1 and 256, got {}", job.workers));
        }
        let epoch_ns = (job.epoch_ms * 1e6).round() as i64;
        if !(job.epoch_ms.is_finite() && job.epoch_ms > 0.0) || epoch_ns <= 0 || SECOND % epoch_ns != 0 {
            return Err(format!(
                "job.epoch_ms = {} must divide 1000 (e.g. 1, 10, 100, 1000) so that bars close on epoch boundaries",
                job.epoch_ms
            ));
        }
        let clock = EpochClock::new_checked(epoch_ns)?;
        within("job.allowed_lateness_ms", job.allowed_lateness_ms, 86_400_000.0)?;
        within("job.max_ahead_s", job.max_ahead_s, TEN_YEARS_S)?;
        within("job.read_ahead_s", job.read_ahead_s, 86_400.0)?;
        if !(job.idle_poll_ms.is_finite() && (0.01..=1000.0).contains(&job.idle_poll_ms)) {
            return Err(format!("job.idle_poll_ms must be between 0.01 and 1000, got {}", job.idle_poll_ms));
        }

        let symbols = match &self.source {
            SourceSection::Simulator(sim) => {
                sim.validate()?;
                sim.symbol_names()
            }
            SourceSection::Files(files) => universe(&files.symbols)?,
            SourceSection::Kafka(kafka) => {
                kafka.validate()?;
                universe(&kafka.symbols)?
            }
        };
        let symbols = Arc::new(SymbolTable::new(symbols));

        let indicators =
            IndicatorSuite::new_checked(&self.indicators.set).map_err(|e| format!("indicators.set: {e}"))?;
        let kernel_plan = self.kernels.plan()?;
        let first_kernel_column = indicators.columns().len();
        let indicators = match &kernel_plan.columns {
            Some(setup) => indicators.with_columns(&setup.columns()).map_err(|e| format!("kernels: {e}"))?,
            None => indicators,
        };
        self.risk.validate()?;
        let volatility = (!self.risk.vol_column.is_empty())
            .then(|| VolatilitySource { column: self.risk.vol_column.clone(), bars_per_year: self.risk.bars_per_year });
        let strategy = self.strategy.resolve(&indicators, volatility.as_ref())?;
        self.broker.validate()?;
        let (news, strategist) = crate::sentiment::plan(&self.sentiment, &symbols)?;
        let control = self
            .control
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ts = c.ts.resolve().map_err(|e| format!("control[{i}].ts: {e}"))?;
                Ok(Control { ts, command: c.command.clone() })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if let Some(kafka) = &self.output.kafka {
            kafka.validate()?;
        }
        if let Some(questdb) = &self.output.questdb {
            questdb.validate(&crate::job::STREAMS)?;
        } else if !self.output.parquet {
            return Err("output.parquet = false needs [output.questdb]: the job would write nothing".into());
        }
        if self.output.batch_rows == 0 {
            return Err("output.batch_rows must be at least 1".into());
        }
        if self.output.dir.as_os_str().is_empty() {
            return Err("output.dir must not be empty".into());
        }

        let snapshots = match &self.snapshots {
            None => None,
            Some(section) => {
                let every = section.every_s * SECOND as f64;
                if !(every >= epoch_ns as f64 && every.is_finite()) || (every.round() as i64) % epoch_ns != 0 {
                    return Err(format!(
                        "snapshots.every_s = {} must be a whole number of epochs (job.epoch_ms = {})",
                        section.every_s, job.epoch_ms
                    ));
                }
                let mut fingerprinted = self.clone();
                fingerprinted.snapshots = None;
                Some(SnapshotPlan {
                    section: section.clone(),
                    every_epochs: (every.round() as i64 / epoch_ns) as u64,
                    config: format!("{fingerprinted:?}"),
                })
            }
        };

        let trading = TradingParams {
            clock,
            symbols: Arc::clone(&symbols),
            indicators: Arc::new(indicators),
            strategy: Arc::new(strategy),
            risk: Arc::new(self.risk.clone()),
            broker: self.broker.clone(),
            news,
            strategist,
            kernels: kernel_plan.columns.map(|setup| (setup, first_kernel_column)),
            var: kernel_plan.var,
        };
        Ok(JobPlan {
            name: job.name.clone(),
            workers: job.workers,
            source: self.source.clone(),
            symbols,
            control,
            trading,
            allowed_lateness: (job.allowed_lateness_ms * 1e6).round() as i64,
            max_ahead: (job.max_ahead_s * SECOND as f64).round() as i64,
            read_ahead_epochs: ((job.read_ahead_s * SECOND as f64) as i64 / epoch_ns).max(1) as u64,
            idle_poll: std::time::Duration::from_secs_f64(job.idle_poll_ms / 1000.0),
            idle_timeout: match &self.source {
                SourceSection::Kafka(k) => std::time::Duration::from_secs_f64(k.idle_timeout_ms / 1000.0),
                _ => std::time::Duration::from_secs(2),
            },
            output_dir: self.output.dir.clone(),
            batch_rows: self.output.batch_rows,
            kafka_output: self.output.kafka.clone(),
            parquet: self.output.parquet,
            questdb: self.output.questdb.clone().map(Arc::new),
            snapshots,
        })
    }
}

/// `[snapshots]`, resolved.
#[derive(Clone, Debug)]
pub struct SnapshotPlan {
    pub section: crate::snapshots::SnapshotsSection,
    pub every_epochs: u64,
    /// The config without `[snapshots]`, for the snapshots' fingerprint.
    pub config: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[job]
name = "t"
[source]
kind = "files"
ticks = "ticks.csv"
symbols = ["AAA"]
"#;

    fn error_of(text: &str) -> String {
        match JobConfig::parse(text, "job.toml").and_then(|c| c.validate("job.toml")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_config_validates_with_defaults() {
        let plan = JobConfig::parse(MINIMAL, "job.toml").unwrap().validate("job.toml").unwrap();
        assert_eq!(plan.symbols.len(), 1);
        assert_eq!(plan.trading.clock.epoch_len(), SECOND);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let e = error_of(&MINIMAL.replace("name = \"t\"", "name = \"t\"\nworkerz = 2"));
        assert!(e.starts_with("job.toml: ") && e.contains("workerz") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let e = error_of(&MINIMAL.replace("name = \"t\"", "name = \"t\"\nepoch_ms = 7"));
        assert!(e.contains("job.epoch_ms = 7 must divide 1000"), "{e}");
        let e = error_of(&MINIMAL.replace("name = \"t\"", "name = \"t\"\nidle_poll_ms = 0"));
        assert!(e.contains("job.idle_poll_ms must be between 0.01 and 1000, got 0"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[strategy]\nkind = \"ensemble\"\nfast = \"ema_99\"\n"));
        assert!(e.contains("strategy.fast = \"ema_99\" is not a configured indicator column"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[strategy]\nkind = \"zscore\"\nfast = \"ema_12\"\n"));
        assert!(e.contains("unknown field `fast`, expected `column` or `full_z`"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[strategy]\nkind = \"momentum\"\n"));
        assert!(e.contains("unknown variant `momentum`, expected one of `ensemble`, `ma_crossover`, `zscore`"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[risk]\nsizing = \"vol_target\"\nvol_column = \"garch_1_1\"\n"));
        assert!(e.contains("risk.vol_column = \"garch_1_1\" is not a configured indicator column"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[[risk.tiers]]\nname = \"all\"\nshare = 0.5\n"));
        assert!(e.contains("risk.tiers: the shares must sum to 1, they sum to 0.5"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[risk]\nmax_position_pct = 2.0\n"));
        assert!(e.contains("risk.max_position_pct must be between 0 and 1"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[[control]]\nts = \"soon\"\ncommand = \"halt\"\n"));
        assert!(e.contains("control[0].ts"), "{e}");
        let e = error_of(&format!("{MINIMAL}\n[[control]]\nts = 5\ncommand = \"panic\"\n"));
        assert!(e.contains("unknown variant `panic`"), "{e}");
        // Regression: huge durations used to overflow nanosecond arithmetic.
        let e = error_of(&MINIMAL.replace("name = \"t\"", "name = \"t\"\nallowed_lateness_ms = 1e300"));
        assert!(e.contains("job.allowed_lateness_ms must be between 0 and"), "{e}");
        let e = error_of(&MINIMAL.replace("symbols = [\"AAA\"]", "symbols = []"));
        assert!(e.contains("source.symbols must list"), "{e}");
    }
}
