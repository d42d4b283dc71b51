//! Model routing: each article walks a chain of backends (a matching rule's first, then the
//! configured order, then the lexicon) until one answers with enough confidence.

use std::sync::Arc;

use futures_util::future::join_all;

use tradeflow_operators::call::BoxFuture;
use tradeflow_operators::sentiment::{Article, ArticleScore, Lexicon, ModelError, ModelMetrics, SentimentModel};

use super::config::RouteRule;

pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    /// Backends by position; the chains below index into it.
    backends: Vec<Arc<dyn SentimentModel>>,
    order: Vec<usize>,
    rules: Vec<(RouteRule, usize)>,
    min_confidence: f64,
    lexicon: Arc<Lexicon>,
    metrics: Arc<ModelMetrics>,
}

impl Router {
    /// `order` and the rules' backends are indexes into `backends`.
    pub fn new(
        backends: Vec<Arc<dyn SentimentModel>>,
        order: Vec<usize>,
        rules: Vec<(RouteRule, usize)>,
        min_confidence: f64,
        lexicon: Arc<Lexicon>,
        metrics: Arc<ModelMetrics>,
    ) -> Self {
        Router { inner: Arc::new(Inner { backends, order, rules, min_confidence, lexicon, metrics }) }
    }
}

impl SentimentModel for Router {
    fn name(&self) -> &str {
        "router"
    }

    fn max_batch(&self) -> usize {
        self.inner
            .order
            .iter()
            .chain(self.inner.rules.iter().map(|(_, b)| b))
            .map(|&b| self.inner.backends[b].max_batch())
            .min()
            .unwrap_or(1)
    }

    fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.route(&articles).await) })
    }
}

impl Inner {
    /// The backends `article` tries, in order, without repeats.
    fn chain(&self, article: &Article) -> Vec<usize> {
        let mut chain: Vec<usize> =
            self.rules.iter().filter(|(rule, _)| rule.matches(&article.source)).map(|(_, b)| *b).take(1).collect();
        for &b in &self.order {
            if !chain.contains(&b) {
                chain.push(b);
            }
        }
        chain
    }

    async fn route(&self, articles: &[Article]) -> Vec<ArticleScore> {
        let chains: Vec<Vec<usize>> = articles.iter().map(|a| self.chain(a)).collect();
        let mut best: Vec<Option<ArticleScore>> = vec![None; articles.len()];
        let mut open: Vec<usize> = (0..articles.len()).collect();
        let mut step = 0;
        while !open.is_empty() && open.iter().any(|&i| step < chains[i].len()) {
            // The open articles grouped by the backend their chain names at this step.
            let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
            for &i in open.iter().filter(|&&i| step < chains[i].len()) {
                let backend = chains[i][step];
                match groups.iter_mut().find(|(b, _)| *b == backend) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((backend, vec![i])),
                }
            }
            let calls = groups.iter().map(|(backend, members)| {
                let batch: Arc<[Article]> = members.iter().map(|&i| articles[i].clone()).collect();
                self.backends[*backend].score(batch)
            });
            let answers = join_all(calls).await;
            let mut still_open = open.iter().copied().filter(|&i| step >= chains[i].len()).collect::<Vec<_>>();
            for ((backend, members), answer) in groups.into_iter().zip(answers) {
                let name = self.backends[backend].name();
                match answer {
                    Ok(scores) if scores.len() == members.len() => {
                        for (i, score) in members.into_iter().zip(scores) {
                            if confidence(&score) >= self.min_confidence {
                                best[i] = Some(score);
                            } else {
                                self.metrics.fallback(name, 1);
                                if best[i].as_ref().is_none_or(|b| confidence(b) < confidence(&score)) {
                                    best[i] = Some(score);
                                }
                                still_open.push(i);
                            }
                        }
                    }
                    Ok(_) | Err(_) => {
                        // The backend has counted its own error; this counts what moved on.
                        self.metrics.fallback(name, members.len());
                        still_open.extend(members);
                    }
                }
            }
            still_open.sort_unstable();
            open = still_open;
            step += 1;
        }
        // The lexicon ends every chain; a more confident model answer still wins.
        for i in open {
            let lexicon = self.lexicon.score_article(&articles[i]);
            if best[i].as_ref().is_none_or(|b| confidence(b) < confidence(&lexicon)) {
                best[i] = Some(lexicon);
            }
        }
        best.into_iter().zip(articles).map(|(b, a)| b.unwrap_or_else(|| self.lexicon.score_article(a))).collect()
    }
}

/// An article's confidence: its least confident ticker's.
fn confidence(score: &ArticleScore) -> f64 {
    score.per_ticker.iter().map(|s| s.confidence).fold(f64::INFINITY, f64::min).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tradeflow_operators::sentiment::lexicon::Scored;

    /// A backend answering with a fixed confidence, or failing, and remembering what it saw.
    struct Fixed {
        name: &'static str,
        confidence: Option<f64>,
        seen: Mutex<Vec<String>>,
    }

    impl SentimentModel for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn max_batch(&self) -> usize {
            8
        }
        fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>> {
            self.seen.lock().unwrap().extend(articles.iter().map(|a| a.id.clone()));
            let answer = match self.confidence {
                None => Err(ModelError::Transport("down".into())),
                Some(confidence) => Ok(articles
                    .iter()
                    .map(|a| ArticleScore {
                        model: self.name.into(),
                        per_ticker: a.tickers.iter().map(|_| Scored { score: 0.5, confidence }).collect(),
                        cost_usd: 0.0,
                    })
                    .collect()),
            };
            Box::pin(async move { answer })
        }
    }

    fn article(id: &str, source: &str) -> Article {
        Article {
            id: id.into(),
            ts: 0,
            source: source.into(),
            headline: "ACME beats estimates".into(),
            body: String::new(),
            tickers: vec!["ACME".into()],
        }
    }

    fn run(router: &Router, articles: Vec<Article>) -> Vec<ArticleScore> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(router.score(articles.into())).unwrap()
    }

    #[test]
    fn rules_pick_the_first_backend_and_failures_fall_through_to_the_lexicon() {
        let down = Arc::new(Fixed { name: "down", confidence: None, seen: Mutex::default() });
        let sure = Arc::new(Fixed { name: "sure", confidence: Some(0.9), seen: Mutex::default() });
        let metrics = Arc::new(ModelMetrics::default());
        let rule = RouteRule { sources: vec!["wire-*".into()], backend: "sure".into() };
        let backends: Vec<Arc<dyn SentimentModel>> = vec![down.clone(), sure.clone()];
        let router =
            Router::new(backends, vec![0], vec![(rule, 1)], 0.5, Arc::new(Lexicon::default()), Arc::clone(&metrics));
        let scores = run(&router, vec![article("a", "wire-x"), article("b", "blog")]);
        assert_eq!(scores[0].model, "sure", "the rule's backend answers wire news");
        assert_eq!(scores[1].model, Lexicon::MODEL, "the only other backend is down");
        assert_eq!(*sure.seen.lock().unwrap(), vec!["a"]);
        assert_eq!(*down.seen.lock().unwrap(), vec!["b"]);
        assert_eq!(metrics.snapshot()["down"].fallbacks, 1);
    }

    #[test]
    fn an_unsure_answer_moves_on_but_wins_over_a_less_sure_lexicon() {
        let unsure = Arc::new(Fixed { name: "unsure", confidence: Some(0.6), seen: Mutex::default() });
        let backends: Vec<Arc<dyn SentimentModel>> = vec![unsure];
        let metrics = Arc::new(ModelMetrics::default());
        let router = Router::new(backends, vec![0], vec![], 0.8, Arc::new(Lexicon::default()), Arc::clone(&metrics));
        // "ACME beats estimates": one lexicon word, confidence 0.5 < 0.6.
        let scores = run(&router, vec![article("a", "x")]);
        assert_eq!(scores[0].model, "unsure");
        assert_eq!(metrics.snapshot()["unsure"].fallbacks, 1);
    }
}
