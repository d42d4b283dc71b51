//! The fuzz targets' bodies: every decoder of outside input, fed arbitrary bytes.
//!
//! Each function must return for any input, an error or a value, and never panic. The
//! libFuzzer targets in `tests/fuzz` call them (`tests/fuzz/run.sh` runs each for a given time),
//! and `tests/fuzz_regressions.rs` replays every input saved under
//! `tests/fuzz/regressions/TARGET/` through the same function, so a crash once found stays
//! fixed. Beyond "no panic", each checks what its decoder promises: a decoded record is one
//! the pipeline accepts (finite prices, known symbols) and survives its own encoding.

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tradeflow_operators::sentiment::model::Article;
use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{Control, News, SymbolTable, Tick};

use crate::config::JobConfig;
use crate::connectors::files::{FileReader, RowFormat};
use crate::connectors::kafka::ToMessage;
use crate::server::{Confinement, plan_from_body};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, as `tests/fuzz` names its binaries.
pub const TARGETS: &[(&str, Target)] = &[
    ("tick_json", tick_json),
    ("news_json", news_json),
    ("control_json", control_json),
    ("file_rows", file_rows),
    ("job_config", job_config),
    ("control_body", control_body),
    ("model_answer", model_answer),
];

/// Starts what lives as long as the process (the model calls' runtime, the GPU where there is
/// one), before any input: their one-time allocations are not an input's leak.
pub fn init() {
    let _ = crate::sentiment::runtime();
    let _ = tradeflow_kernels::Kernels::shared(tradeflow_kernels::GpuPolicy::Auto);
}

fn symbols() -> &'static Arc<SymbolTable> {
    static SYMBOLS: OnceLock<Arc<SymbolTable>> = OnceLock::new();
    SYMBOLS.get_or_init(|| Arc::new(SymbolTable::new(["AAPL", "MSFT", "BRK.B", "ÉTÉ"])))
}

/// A decoded record encodes to a message that decodes to the same record.
fn round_trips<R: RowFormat + ToMessage + PartialEq + std::fmt::Debug>(record: &R) {
    let json = record.to_json(symbols()).expect("a decoded record encodes");
    let again = R::from_json(&json, symbols()).expect("an encoded record decodes");
    assert_eq!(&again, record, "{json}");
}

/// A tick message from Kafka or a JSON-lines file.
pub fn tick_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(tick) = Tick::from_json(text, symbols()) {
        assert!(tick.price.is_finite() && tick.price > 0.0 && tick.size.is_finite(), "{tick:?}");
        round_trips(&tick);
    }
}

/// A news message.
pub fn news_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(news) = News::from_json(text, symbols()) {
        assert!(!news.symbols.is_empty() && !news.id.trim().is_empty(), "{news:?}");
        round_trips(&news);
    }
}

/// A control message.
pub fn control_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(control) = Control::from_json(text, symbols()) {
        round_trips(&control);
    }
}

fn read_all<R: RowFormat>(bytes: &[u8], is_csv: bool) {
    let path = Path::new(if is_csv { "fuzz.csv" } else { "fuzz.jsonl" });
    let input = Box::new(Cursor::new(bytes.to_vec()));
    let Ok(mut reader) = FileReader::<R>::from_reader(path, input, is_csv, Arc::clone(symbols())) else { return };
    let mut out = Vec::new();
    // Every read makes progress through the input, so this many rounds reach its end.
    for _ in 0..=bytes.len() + 1 {
        let status = reader.read(64, &mut out);
        for (_, item) in out.drain(..) {
            if let Err(letter) = item {
                assert!(!letter.reason.is_empty() && letter.origin.starts_with("fuzz."), "{letter:?}");
                assert!(letter.raw.len() <= 4096);
            }
        }
        if matches!(status, ReadStatus::Exhausted) {
            return;
        }
    }
    panic!("the reader did not reach the end of {} bytes", bytes.len());
}

/// A whole input file: the first byte picks the record kind and CSV or JSON lines.
pub fn file_rows(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let is_csv = pick & 1 == 0;
    match (pick >> 1) % 3 {
        0 => read_all::<Tick>(bytes, is_csv),
        1 => read_all::<News>(bytes, is_csv),
        _ => read_all::<Control>(bytes, is_csv),
    }
}

/// A job config, as a file (TOML) or a job-server request body (TOML or JSON): the first byte
/// picks which.
pub fn job_config(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let confinement = Confinement { data_dir: "data".into(), runs_dir: "runs".into() };
    match pick % 3 {
        0 => {
            if let Ok(config) = JobConfig::parse(text, "fuzz.toml") {
                let _ = config.validate("fuzz.toml");
            }
        }
        1 => {
            if let Ok(plan) = plan_from_body(text, false, &confinement) {
                assert!(plan.output_dir.starts_with("runs"), "{}", plan.output_dir.display());
            }
        }
        _ => {
            if let Ok(plan) = plan_from_body(text, true, &confinement) {
                assert!(plan.output_dir.starts_with("runs"), "{}", plan.output_dir.display());
            }
        }
    }
}

/// The body of a job-server control request.
pub fn control_body(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::server::parse_control_body(text);
}

fn articles() -> &'static [Article] {
    static ARTICLES: OnceLock<Vec<Article>> = OnceLock::new();
    ARTICLES.get_or_init(|| {
        let article = |id: &str, tickers: &[&str]| Article {
            id: id.into(),
            ts: 0,
            source: "wire".into(),
            headline: "Shares rise".into(),
            body: String::new(),
            tickers: tickers.iter().map(|t| (*t).to_owned()).collect(),
        };
        vec![article("a1", &["AAPL"]), article("a2", &["AAPL", "MSFT"])]
    })
}

/// A language model's answer: the sentiment scores or the strategist's verdict.
pub fn model_answer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(scores) = crate::sentiment::openai::parse_answer(text, articles(), "fuzz") {
        for s in scores.iter().flat_map(|a| &a.per_ticker) {
            assert!((-1.0..=1.0).contains(&s.score) && (0.0..=1.0).contains(&s.confidence), "{s:?}");
        }
    }
    if let Ok(verdict) = crate::sentiment::strategist::parse_verdict(text) {
        assert!(verdict.size_factor.is_finite(), "{verdict:?}");
    }
}
