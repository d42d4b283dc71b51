//! The interface every sentiment backend implements, and the counters they share.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::call::BoxFuture;
use crate::event::Ts;

pub use super::lexicon::Scored;

/// One article as a model sees it: its text and the tickers to score it for.
#[derive(Clone, Debug, PartialEq)]
pub struct Article {
    pub id: String,
    pub ts: Ts,
    pub source: String,
    pub headline: String,
    pub body: String,
    pub tickers: Vec<String>,
}

/// A model's answer for one article: a score per ticker, in the article's ticker order.
#[derive(Clone, Debug, PartialEq)]
pub struct ArticleScore {
    /// The model that answered (a router names the backend that did).
    pub model: String,
    pub per_ticker: Vec<Scored>,
    /// This article's share of the call's cost.
    pub cost_usd: f64,
}

/// Why a call gave no usable answer. The operator then scores with the lexicon.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// The server could not be reached or the connection broke.
    Transport(String),
    /// The server answered with an error status.
    Status { code: u16, body: String },
    /// The answer did not follow the requested schema.
    Malformed(String),
    /// The call took longer than allowed.
    Timeout(Duration),
    /// A spending limit forbids the call.
    Budget(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Transport(e) => write!(f, "transport: {e}"),
            ModelError::Status { code, body } => write!(f, "status {code}: {body}"),
            ModelError::Malformed(e) => write!(f, "malformed answer: {e}"),
            ModelError::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            ModelError::Budget(e) => write!(f, "budget: {e}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl ModelError {
    /// The label the metrics count this error under.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelError::Transport(_) => "transport",
            ModelError::Status { .. } => "status",
            ModelError::Malformed(_) => "malformed",
            ModelError::Timeout(_) => "timeout",
            ModelError::Budget(_) => "budget",
        }
    }
}

/// A sentiment backend: scores many articles per call.
pub trait SentimentModel: Send + Sync + 'static {
    /// The name results are recorded under (and the cache keyed by).
    fn name(&self) -> &str;

    /// The most articles one call should carry.
    fn max_batch(&self) -> usize {
        1
    }

    /// Scores at once when the model runs in process (no runtime, no waiting); `None` when the
    /// work must go through [`SentimentModel::score`].
    fn score_now(&self, _articles: &[Article]) -> Option<Vec<ArticleScore>> {
        None
    }

    /// Scores `articles`, one answer per article in the same order.
    fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>>;
}

/// Per-model counters, shared by the backends, the operator and the metrics page.
#[derive(Debug, Default)]
pub struct ModelMetrics {
    models: Mutex<BTreeMap<String, ModelCounters>>,
}

/// What one model has done so far.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ModelCounters {
    pub calls: u64,
    pub articles: u64,
    pub errors: BTreeMap<&'static str, u64>,
    /// Answers that came from a later backend or the lexicon because this one failed or was
    /// unsure.
    pub fallbacks: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub latency_seconds_sum: f64,
}

impl ModelMetrics {
    /// Records one successful call.
    pub fn call(&self, model: &str, articles: usize, latency: Duration, tokens: (u64, u64), cost_usd: f64) {
        self.update(model, |c| {
            c.calls += 1;
            c.articles += articles as u64;
            c.latency_seconds_sum += latency.as_secs_f64();
            c.prompt_tokens += tokens.0;
            c.completion_tokens += tokens.1;
            c.cost_usd += cost_usd;
        });
    }

    /// Records a failed call.
    pub fn error(&self, model: &str, error: &ModelError) {
        self.update(model, |c| *c.errors.entry(error.kind()).or_default() += 1);
    }

    /// Records `articles` answered by someone else on `model`'s behalf.
    pub fn fallback(&self, model: &str, articles: usize) {
        self.update(model, |c| c.fallbacks += articles as u64);
    }

    /// A copy of every model's counters.
    pub fn snapshot(&self) -> BTreeMap<String, ModelCounters> {
        self.models.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn update(&self, model: &str, f: impl FnOnce(&mut ModelCounters)) {
        if let Ok(mut models) = self.models.lock() {
            match models.get_mut(model) {
                Some(c) => f(c),
                None => f(models.entry(model.to_owned()).or_default()),
            }
        }
    }
}
