//! News sentiment: the model interface, the embedded lexicon, and the operator that scores a
//! news stream through any model without blocking the worker.

pub mod lexicon;
pub mod model;
pub mod story;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;

pub use lexicon::Lexicon;
pub use model::{Article, ArticleScore, ModelError, ModelMetrics, SentimentModel};
use story::{ScoreCache, StoryFilter};

use crate::call::{Call, CallLimits, CallOut};
use crate::event::{News, Sentiment, Ts};
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::symbols::SymbolTable;

/// Everything the news operator needs: the model, the lexicon it falls back to, and its limits.
#[derive(Clone)]
pub struct NewsScoring {
    pub model: Arc<dyn SentimentModel>,
    /// Answers when the model fails or times out.
    pub fallback: Arc<Lexicon>,
    pub symbols: Arc<SymbolTable>,
    /// Repeats of an article id within this much event time are dropped.
    pub id_window: Ts,
    /// The same story (normalized headline and symbols) from another source within this much
    /// event time is dropped.
    pub story_window: Ts,
    /// Scores kept per worker, keyed by model and content.
    pub cache_capacity: usize,
    pub limits: CallLimits,
    pub runtime: tokio::runtime::Handle,
    pub metrics: Arc<ModelMetrics>,
}

/// Extension trait for scoring news.
pub trait ScoreNews<'scope> {
    /// Drops repeated articles and stories, then emits one [`Sentiment`] per (article, named
    /// symbol) at the article's epoch, in event-time order. Calls to the model run on
    /// `scoring.runtime`; a failed or late call is answered by the lexicon and counted as a
    /// fallback.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use timely::dataflow::operators::Capture;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::call::CallLimits;
    /// use tradeflow_operators::sentiment::{Lexicon, ModelMetrics, NewsScoring, ScoreNews};
    /// use tradeflow_operators::testing::records;
    /// use tradeflow_operators::{News, Symbol, SymbolTable};
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
    /// let scoring = NewsScoring {
    ///     model: Arc::new(Lexicon::default()),
    ///     fallback: Arc::new(Lexicon::default()),
    ///     symbols: Arc::new(SymbolTable::new(["ACME"])),
    ///     id_window: 1_000,
    ///     story_window: 1_000,
    ///     cache_capacity: 100,
    ///     limits: CallLimits::default(),
    ///     runtime: runtime.handle().clone(),
    ///     metrics: Arc::new(ModelMetrics::default()),
    /// };
    /// let news = News { id: "n1".into(), ts: 5, source: "wire".into(), headline: "ACME beats estimates".into(), body: String::new(), symbols: vec![Symbol(0)] };
    /// let other_wire = News { id: "b7".into(), source: "wire-b".into(), ..news.clone() };
    /// let captured = timely::example(move |scope| {
    ///     vec![news.clone(), news, other_wire].to_stream(scope).sentiment(scoring).capture()
    /// });
    /// let scored: Vec<_> = records(captured);
    /// assert_eq!(scored.len(), 1, "the repeat and the same story from another wire are dropped");
    /// assert!(scored[0].score > 0.0);
    /// ```
    fn sentiment(self, scoring: NewsScoring) -> StreamVec<'scope, u64, Sentiment>
    where
        Self: Sized,
    {
        self.sentiment_saved(scoring, None)
    }

    /// [`sentiment`](Self::sentiment), with the repeat and story filter in the snapshots (the
    /// score cache is not kept: a restarted job asks the model again).
    fn sentiment_saved(self, scoring: NewsScoring, snapshot: Option<SnapshotPort>)
    -> StreamVec<'scope, u64, Sentiment>;
}

impl<'scope> ScoreNews<'scope> for StreamVec<'scope, u64, News> {
    fn sentiment_saved(
        self,
        scoring: NewsScoring,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Sentiment> {
        let runtime = scoring.runtime.clone();
        let limits = scoring.limits;
        let filter = snapshot.as_ref().and_then(SnapshotPort::restore_or_panic);
        let filter =
            Rc::new(RefCell::new(filter.unwrap_or_else(|| StoryFilter::new(scoring.id_window, scoring.story_window))));
        let saved = Rc::clone(&filter);
        let cache = Arc::new(Mutex::new(ScoreCache::new(scoring.cache_capacity)));
        let scoring = Arc::new(scoring);
        // The same story from two sources must meet on one worker to be recognized. Repeats of
        // an id meet too, as long as the headline is unchanged; a re-issued article under its
        // old id with a new headline is scored again, as a new story.
        let route = |n: &News| story::story_key(&n.headline, &n.symbols);
        self.call_out_with(
            "Sentiment",
            Exchange::new(route),
            runtime,
            limits,
            move |_epoch, mut batch: Vec<News>| {
                batch.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
                let mut filter = filter.borrow_mut();
                batch.retain(|n| filter.admit(n));
                plan_calls(&scoring, &cache, batch)
            },
            |a: &Sentiment, b: &Sentiment| (a.ts, &a.news_id, a.symbol).cmp(&(b.ts, &b.news_id, b.symbol)),
            move |upto| {
                checkpoint(&mut snapshot, upto, || saved.borrow().clone());
                true
            },
        )
    }
}

/// Cached articles answer at once; the rest go to the model in batches of its size.
fn plan_calls(scoring: &Arc<NewsScoring>, cache: &Arc<Mutex<ScoreCache>>, batch: Vec<News>) -> Vec<Call<Sentiment>> {
    let model_name = scoring.model.name().to_owned();
    let mut calls = Vec::new();
    let mut ready = Vec::new();
    let mut misses = Vec::new();
    {
        let cache = lock(cache);
        for news in batch {
            let key = story::content_key(&model_name, &news);
            match cache.get(key) {
                Some(hit) => ready.extend(records(&news, &hit.model, &hit.per_ticker, 0.0, Duration::ZERO)),
                None => misses.push((key, news)),
            }
        }
    }
    if !ready.is_empty() {
        calls.push(Call::Ready(ready));
    }
    for chunk in misses.chunks(scoring.model.max_batch().max(1)) {
        let news: Vec<News> = chunk.iter().map(|(_, n)| n.clone()).collect();
        let articles: Vec<Article> = news.iter().map(|n| article(n, &scoring.symbols)).collect();
        let keys: Vec<u64> = chunk.iter().map(|(k, _)| *k).collect();
        let started = Instant::now();
        if let Some(scores) = scoring.model.score_now(&articles) {
            let latency = started.elapsed();
            calls.push(Call::Ready(answered(cache, &keys, &news, &scores, latency)));
            continue;
        }
        let cache = Arc::clone(cache);
        let future = scoring.model.score(Arc::from(articles.clone()));
        let on_time = Arc::clone(scoring);
        let on_timeout = {
            let scoring = Arc::clone(scoring);
            let news = news.clone();
            let articles = articles.clone();
            move || {
                let error = ModelError::Timeout(scoring.limits.timeout);
                fall_back(&scoring, &news, &articles, &error, started.elapsed())
            }
        };
        let future = Box::pin(async move {
            let answer = future.await;
            let latency = started.elapsed();
            match answer {
                Ok(scores) if scores.len() == news.len() => answered(&cache, &keys, &news, &scores, latency),
                Ok(scores) => {
                    let error = ModelError::Malformed(format!("{} answers for {} articles", scores.len(), news.len()));
                    fall_back(&on_time, &news, &articles, &error, latency)
                }
                Err(error) => fall_back(&on_time, &news, &articles, &error, latency),
            }
        });
        calls.push(Call::Pending { future, on_timeout: Box::new(on_timeout) });
    }
    calls
}

/// Records for a model's answers, which the cache keeps.
fn answered(
    cache: &Mutex<ScoreCache>,
    keys: &[u64],
    news: &[News],
    scores: &[ArticleScore],
    latency: Duration,
) -> Vec<Sentiment> {
    let mut cache = lock(cache);
    let mut results = Vec::new();
    for ((key, n), s) in keys.iter().zip(news).zip(scores) {
        cache.put(*key, s.clone());
        results.extend(records(n, &s.model, &s.per_ticker, s.cost_usd, latency));
    }
    results
}

/// The cache holds no invariant a panic elsewhere could break: a poisoned lock is still usable.
fn lock(cache: &Mutex<ScoreCache>) -> std::sync::MutexGuard<'_, ScoreCache> {
    cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The lexicon's answer for a failed call, counted against the model.
fn fall_back(
    scoring: &NewsScoring,
    news: &[News],
    articles: &[Article],
    error: &ModelError,
    latency: Duration,
) -> Vec<Sentiment> {
    scoring.metrics.error(scoring.model.name(), error);
    scoring.metrics.fallback(scoring.model.name(), articles.len());
    news.iter()
        .zip(articles)
        .flat_map(|(n, a)| {
            let s = scoring.fallback.score_article(a);
            records(n, &s.model, &s.per_ticker, 0.0, latency)
        })
        .collect()
}

fn article(news: &News, symbols: &SymbolTable) -> Article {
    Article {
        id: news.id.clone(),
        ts: news.ts,
        source: news.source.clone(),
        headline: news.headline.clone(),
        body: news.body.clone(),
        tickers: news.symbols.iter().map(|&s| symbols.name(s).to_owned()).collect(),
    }
}

/// One record per symbol of `news`; the article's cost is split evenly between them.
fn records(news: &News, model: &str, scores: &[lexicon::Scored], cost_usd: f64, latency: Duration) -> Vec<Sentiment> {
    let share = cost_usd / news.symbols.len().max(1) as f64;
    news.symbols
        .iter()
        .zip(scores)
        .map(|(&symbol, s)| Sentiment {
            news_id: news.id.clone(),
            symbol,
            ts: news.ts,
            score: s.score.clamp(-1.0, 1.0),
            confidence: s.confidence.clamp(0.0, 1.0),
            model: model.to_owned(),
            latency_ns: latency.as_nanos().min(i64::MAX as u128) as i64,
            cost_usd: share,
        })
        .collect()
}
