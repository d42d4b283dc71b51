//! `tradeflow sentiment`: scores a file of articles with the configured backend through the
//! same operator the dataflow runs (dedupe, cache, batching, timeouts, fallback), and writes
//! one row per (article, symbol).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::operators::{Capture, Input};

use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{News, Sentiment, SymbolTable};

use crate::connectors::files::FileReader;
use crate::sentiment::SentimentSection;
use crate::timefmt::format_ts;

/// Only the `[sentiment]` section of a job config matters here.
#[derive(Deserialize, Default)]
struct SentimentOnly {
    #[serde(default)]
    sentiment: SentimentSection,
}

/// What a run scored, for the summary line.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub articles: usize,
    pub rejected: usize,
    pub rows: usize,
    pub seconds: f64,
    pub cost_usd: f64,
    pub by_model: Vec<(String, usize)>,
}

/// Scores `input` (CSV or JSONL: `id, ts, headline, body, symbols`) into `output` (CSV, or
/// JSONL by extension). `config` is a job config whose `[sentiment]` section is used;
/// `backend` overrides its `backend`.
pub fn run(input: &Path, output: &Path, config: Option<&Path>, backend: Option<&str>) -> Result<Summary> {
    let mut section = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<SentimentOnly>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?.sentiment
        }
        None => SentimentSection::default(),
    };
    if let Some(name) = backend {
        section.backend = name.to_owned();
    }
    let names = symbol_names(input)?;
    if names.is_empty() {
        bail!("{}: no article names a symbol", input.display());
    }
    let symbols = Arc::new(SymbolTable::new(names.iter().map(String::as_str)));
    let (scoring, _) = crate::sentiment::plan(&section, &symbols).map_err(anyhow::Error::msg)?;
    let metrics = Arc::clone(&scoring.metrics);

    let mut reader = FileReader::<News>::open(input, Arc::clone(&symbols), true).map_err(anyhow::Error::msg)?;
    let mut articles = Vec::new();
    let mut rejected = 0;
    let mut batch = Vec::new();
    loop {
        let status = reader.read(1024, &mut batch);
        for (_, row) in batch.drain(..) {
            match row {
                Ok(news) => articles.push(news),
                Err(dead) => {
                    rejected += 1;
                    eprintln!("skipped {}: {}", dead.origin, dead.reason);
                }
            }
        }
        if status == ReadStatus::Exhausted {
            break;
        }
    }
    let count = articles.len();

    let started = Instant::now();
    let (sender, receiver) = mpsc::channel();
    timely::execute_directly(move |worker| {
        let mut input = InputHandle::<u64, CapacityContainerBuilder<Vec<News>>>::new();
        worker.dataflow::<u64, _, _>(|scope| {
            use tradeflow_operators::sentiment::ScoreNews;
            scope.input_from(&mut input).sentiment(scoring).capture_into(sender);
        });
        for news in articles.drain(..) {
            input.send(news);
        }
        input.close();
        while worker.step_or_park(None) {}
    });
    let mut scored: Vec<Sentiment> = receiver
        .iter()
        .flat_map(|event| match event {
            timely::dataflow::operators::capture::Event::Messages(_, data) => data,
            timely::dataflow::operators::capture::Event::Progress(_) => Vec::new(),
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    scored.sort_by(|a, b| (a.ts, &a.news_id, a.symbol).cmp(&(b.ts, &b.news_id, b.symbol)));
    write_rows(output, &scored, &symbols)?;

    let mut by_model: Vec<(String, usize)> = Vec::new();
    for s in &scored {
        match by_model.iter_mut().find(|(m, _)| *m == s.model) {
            Some((_, n)) => *n += 1,
            None => by_model.push((s.model.clone(), 1)),
        }
    }
    for (model, counters) in metrics.snapshot() {
        let errors: u64 = counters.errors.values().sum();
        if errors > 0 || counters.fallbacks > 0 {
            eprintln!(
                "{model}: {} calls, {errors} errors {:?}, {} fallbacks",
                counters.calls, counters.errors, counters.fallbacks
            );
        }
    }
    Ok(Summary {
        articles: count,
        rejected,
        rows: scored.len(),
        seconds,
        cost_usd: scored.iter().map(|s| s.cost_usd).sum(),
        by_model,
    })
}

/// Every symbol the file's articles name, so that none is refused as unknown.
fn symbol_names(input: &Path) -> Result<BTreeSet<String>> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut names = BTreeSet::new();
    let is_json = input.extension().is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
    if is_json {
        for line in BufReader::new(file).lines() {
            let line = line.with_context(|| format!("cannot read {}", input.display()))?;
            // Bad lines are reported with their reason when the articles are read.
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                for s in value["symbols"].as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
                    names.insert(s.trim().to_owned());
                }
            }
        }
    } else {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = reader.headers().with_context(|| format!("{}: no header row", input.display()))?.clone();
        let Some(column) = headers.iter().position(|h| h.trim() == "symbols") else {
            bail!(
                "{}: no `symbols` column (columns: {})",
                input.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            );
        };
        for record in reader.records().flatten() {
            for s in record.get(column).unwrap_or("").split(['|', ';', ' ']).filter(|s| !s.is_empty()) {
                names.insert(s.to_owned());
            }
        }
    }
    names.retain(|n| !n.is_empty());
    Ok(names)
}

fn write_rows(output: &Path, rows: &[Sentiment], symbols: &SymbolTable) -> Result<()> {
    let file = File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut out = BufWriter::new(file);
    let json = output.extension().is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
    if json {
        for s in rows {
            let row = serde_json::json!({
                "news_id": s.news_id,
                "ts": format_ts(s.ts),
                "symbol": symbols.name(s.symbol),
                "score": s.score,
                "confidence": s.confidence,
                "model": s.model,
                "latency_ms": s.latency_ns as f64 / 1e6,
                "cost_usd": s.cost_usd,
            });
            writeln!(out, "{row}")?;
        }
    } else {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["news_id", "ts", "symbol", "score", "confidence", "model", "latency_ms", "cost_usd"])?;
        for s in rows {
            csv.write_record([
                s.news_id.clone(),
                format_ts(s.ts),
                symbols.name(s.symbol).to_owned(),
                s.score.to_string(),
                s.confidence.to_string(),
                s.model.clone(),
                (s.latency_ns as f64 / 1e6).to_string(),
                s.cost_usd.to_string(),
            ])?;
        }
        csv.flush()?;
        return Ok(());
    }
    out.flush()?;
    Ok(())
}
