//! Sentiment throughput: the lexicon alone (headlines per second on one core), and the news
//! operator driving it in a dataflow (dedupe, cache lookups, records).
//!
//!     cargo bench --bench sentiment
//!
//! The headlines are the 210 hand-labelled ones in `tests/sentiment/headlines.txt`, each with a
//! one-sentence body naming the ticker again, repeated with distinct ids.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use timely::dataflow::InputHandle;
use timely::dataflow::operators::{Input, Probe};
use tradeflow_operators::call::CallLimits;
use tradeflow_operators::sentiment::{Article, Lexicon, ModelMetrics, NewsScoring, ScoreNews};
use tradeflow_operators::{News, SECOND, Symbol, SymbolTable};

fn articles() -> Vec<Article> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sentiment/headlines.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let parts: Vec<&str> = l.splitn(3, '|').collect();
            Article {
                id: format!("h{i}"),
                ts: i as i64,
                source: "wire".into(),
                headline: parts[2].to_owned(),
                body: format!("Shares of {} moved in early trading after the report.", parts[1]),
                tickers: vec![parts[1].to_owned()],
            }
        })
        .collect()
}

fn lexicon(c: &mut Criterion) {
    let articles = articles();
    let lexicon = Lexicon::default();
    let mut group = c.benchmark_group("sentiment");
    group.throughput(Throughput::Elements(articles.len() as u64));
    group.bench_function("lexicon_headlines", |b| {
        b.iter(|| {
            for a in &articles {
                black_box(lexicon.score_article(black_box(a)));
            }
        })
    });
    group.finish();
}

fn operator(c: &mut Criterion) {
    let articles = articles();
    let tickers: Vec<String> = articles.iter().map(|a| a.tickers[0].clone()).collect();
    let symbols = Arc::new(SymbolTable::new(tickers.iter().map(String::as_str)));
    let copies = 50;
    let news: Vec<News> = (0..copies)
        .flat_map(|copy| {
            let symbols = Arc::clone(&symbols);
            articles.iter().map(move |a| News {
                id: format!("{}-{copy}", a.id),
                ts: (copy * 1_000 + a.ts) * SECOND,
                source: a.source.clone(),
                // Distinct stories, so that neither dedupe nor the cache shortens the work.
                headline: format!("{} ({copy})", a.headline),
                body: a.body.clone(),
                symbols: vec![symbols.get(&a.tickers[0]).unwrap_or(Symbol(0))],
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
    let mut group = c.benchmark_group("sentiment");
    group.throughput(Throughput::Elements(news.len() as u64));
    group.sample_size(10);
    group.bench_function("operator_lexicon", |b| {
        b.iter(|| {
            let scoring = NewsScoring {
                model: Arc::new(Lexicon::default()),
                fallback: Arc::new(Lexicon::default()),
                symbols: Arc::clone(&symbols),
                id_window: 60 * SECOND,
                story_window: 60 * SECOND,
                cache_capacity: 10_000,
                limits: CallLimits { max_in_flight: 4, timeout: Duration::from_secs(30) },
                runtime: runtime.handle().clone(),
                metrics: Arc::new(ModelMetrics::default()),
            };
            let news = news.clone();
            timely::execute_directly(move |worker| {
                let mut input = InputHandle::new();
                let probe = worker.dataflow::<u64, _, _>(|scope| {
                    let (probe, stream) = scope.input_from(&mut input).sentiment(scoring).probe();
                    drop(stream);
                    probe
                });
                for n in news {
                    input.advance_to((n.ts / (1_000 * SECOND)) as u64);
                    input.send(n);
                }
                input.close();
                while !probe.done() {
                    worker.step();
                }
            });
        })
    });
    group.finish();
}

criterion_group!(benches, lexicon, operator);
criterion_main!(benches);
