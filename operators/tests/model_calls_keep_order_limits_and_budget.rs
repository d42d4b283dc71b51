//! The operators that call models: answers in event-time order however the calls finish, at
//! most `max_in_flight` calls at once, the lexicon answering a late call, and the strategist's
//! daily budget refusing the call that would exceed it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use timely::dataflow::InputHandle;
use timely::dataflow::operators::capture::Event;
use timely::dataflow::operators::{Capture, Input};

use tradeflow_operators::call::{BoxFuture, CallLimits};
use tradeflow_operators::risk::RiskParams;
use tradeflow_operators::sentiment::lexicon::Scored;
use tradeflow_operators::sentiment::{
    Article, ArticleScore, Lexicon, ModelError, ModelMetrics, NewsScoring, ScoreNews, SentimentModel,
};
use tradeflow_operators::strategy::strategist::{
    Escalation, EscalationRules, ReviewSignals, Reviewed, StrategistModel, Verdict,
};
use tradeflow_operators::{News, RiskEvent, SECOND, Sentiment, Signal, Symbol, SymbolTable};

/// A model whose answers take `delay_ms(first article's ts)`, counting calls in flight.
struct Slow {
    delay_ms: fn(i64) -> u64,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl SentimentModel for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn max_batch(&self) -> usize {
        2
    }
    fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>> {
        let delay = Duration::from_millis((self.delay_ms)(articles[0].ts));
        let (in_flight, most) = (Arc::clone(&self.in_flight), Arc::clone(&self.most_in_flight));
        Box::pin(async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(articles
                .iter()
                .map(|a| ArticleScore {
                    model: "slow".into(),
                    per_ticker: a.tickers.iter().map(|_| Scored { score: 0.5, confidence: 0.9 }).collect(),
                    cost_usd: 0.001,
                })
                .collect())
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
}

fn scoring(model: Arc<dyn SentimentModel>, limits: CallLimits, runtime: &tokio::runtime::Runtime) -> NewsScoring {
    NewsScoring {
        model,
        fallback: Arc::new(Lexicon::default()),
        symbols: Arc::new(SymbolTable::new(["ACME", "BETA"])),
        id_window: SECOND,
        story_window: 0,
        cache_capacity: 100,
        limits,
        runtime: runtime.handle().clone(),
        metrics: Arc::new(ModelMetrics::default()),
    }
}

fn news(i: i64) -> News {
    News {
        id: format!("n{i}"),
        ts: i * SECOND,
        source: "wire".into(),
        headline: format!("ACME beats estimates for the {i}th time"),
        body: String::new(),
        symbols: vec![Symbol((i % 2) as u32)],
    }
}

/// Runs `scoring` over 12 articles, two per epoch, and returns (epoch, record) as emitted.
fn score_twelve(scoring: NewsScoring) -> Vec<(u64, Sentiment)> {
    let captured = timely::execute_directly(move |worker| {
        let mut input = InputHandle::new();
        let captured = worker.dataflow::<u64, _, _>(|scope| scope.input_from(&mut input).sentiment(scoring).capture());
        for i in 0..12 {
            input.advance_to((i / 2) as u64);
            input.send(news(i));
        }
        input.close();
        while worker.step_or_park(Some(Duration::from_millis(5))) {}
        captured
    });
    captured
        .into_iter()
        .flat_map(|event| match event {
            Event::Messages(stamp, data) => {
                let epoch = stamp.least().copied().unwrap_or(u64::MAX);
                data.into_iter().map(|d| (epoch, d)).collect()
            }
            Event::Progress(_) => Vec::new(),
        })
        .collect()
}

#[test]
fn answers_come_in_event_time_order_with_bounded_calls_in_flight() {
    let runtime = runtime();
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Later articles answer sooner: the first call takes longest.
    let model = Slow { delay_ms: |ts| 120 - (ts / SECOND) as u64 * 10, in_flight, most_in_flight: Arc::clone(&most) };
    let limits = CallLimits { max_in_flight: 2, timeout: Duration::from_secs(10) };
    let scored = score_twelve(scoring(Arc::new(model), limits, &runtime));
    assert_eq!(scored.len(), 12);
    let order: Vec<(u64, i64)> = scored.iter().map(|(epoch, s)| (*epoch, s.ts)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "emitted in event-time order although later calls finished first");
    assert!(scored.iter().all(|(epoch, s)| *epoch == (s.ts / SECOND / 2) as u64), "each at its article's epoch");
    assert!(scored.iter().all(|(_, s)| s.model == "slow" && s.latency_ns > 0));
    assert!(most.load(Ordering::SeqCst) <= 2, "at most 2 calls in flight, saw {}", most.load(Ordering::SeqCst));
}

#[test]
fn a_call_past_the_timeout_is_answered_by_the_lexicon_and_counted() {
    let runtime = runtime();
    let model = Slow { delay_ms: |_| 2_000, in_flight: Arc::default(), most_in_flight: Arc::default() };
    let limits = CallLimits { max_in_flight: 8, timeout: Duration::from_millis(50) };
    let scoring = scoring(Arc::new(model), limits, &runtime);
    let metrics = Arc::clone(&scoring.metrics);
    let scored = score_twelve(scoring);
    assert_eq!(scored.len(), 12);
    assert!(scored.iter().all(|(_, s)| s.model == Lexicon::MODEL && s.score > 0.0));
    let counters = &metrics.snapshot()["slow"];
    assert_eq!(counters.errors.get("timeout"), Some(&6), "one per call of two articles");
    assert_eq!(counters.fallbacks, 12);
}

/// A strategist that approves at half size, each call costing `cost` (`worst` at most) and
/// answering after `delay`.
struct HalfSize {
    cost: f64,
    worst: f64,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

impl StrategistModel for HalfSize {
    fn name(&self) -> &str {
        "half"
    }
    fn worst_case_cost(&self, _prompt: &str) -> f64 {
        self.worst
    }
    fn review(&self, _prompt: String) -> BoxFuture<Result<Reviewed, ModelError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (cost_usd, delay) = (self.cost, self.delay);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let verdict = Verdict { approve: true, size_factor: 0.5, reason: "half".into() };
            Ok(Reviewed { verdict, model: "half".into(), cost_usd })
        })
    }
}

/// Five signals, one an epoch, each proposing 0.9 x 4% = 3.6% of equity (above the 1%
/// threshold, so each is escalated), reviewed by `model` under a daily budget of $1 with at
/// most `max_in_flight` calls at once.
fn review_five(model: HalfSize, max_in_flight: usize) -> (Vec<Signal>, Vec<RiskEvent>) {
    let runtime = runtime();
    let rules = EscalationRules { sigma: 3.0, position_share: 0.01, window: 10, min_history: 5, daily_budget_usd: 1.0 };
    let risk = Arc::new(RiskParams::default());
    let handle = runtime.handle().clone();
    let model = Arc::new(model);
    timely::execute_directly(move |worker| {
        let mut input = InputHandle::new();
        let (signals, events) = worker.dataflow::<u64, _, _>(|scope| {
            let escalation = Escalation::new(rules, risk);
            let symbols = Arc::new(SymbolTable::new(["ACME"]));
            let limits = CallLimits { max_in_flight, timeout: Duration::from_secs(5) };
            let (signals, events) =
                scope.input_from(&mut input).review(model, escalation, symbols, "paper".into(), handle, limits);
            (signals.capture(), events.capture())
        });
        for i in 0..5 {
            input.advance_to(i as u64);
            input.send(signal(i));
        }
        input.close();
        while worker.step_or_park(Some(Duration::from_millis(5))) {}
        (tradeflow_operators::testing::records(signals), tradeflow_operators::testing::records(events))
    })
}

/// An event's rule and detail without the latency, which no two runs share.
fn outcome(event: &RiskEvent) -> String {
    let detail =
        event.detail.rsplit_once("; ").filter(|(_, ms)| ms.ends_with(" ms")).map_or(&*event.detail, |(d, _)| d);
    format!("{}: {detail}", event.rule)
}

fn signal(i: i64) -> Signal {
    Signal {
        symbol: Symbol(0),
        ts: i * SECOND,
        strength: 0.9,
        confidence: 1.0,
        price: 100.0,
        volatility: f64::NAN,
        reasons: "test".into(),
        inputs: String::new(),
        basis: None,
    }
}

#[test]
fn the_strategist_stops_calling_when_the_daily_budget_is_spent() {
    let calls = Arc::new(AtomicUsize::new(0));
    let model = HalfSize { cost: 0.4, worst: 0.5, delay: Duration::ZERO, calls: Arc::clone(&calls) };
    let (signals, events) = review_five(model, 1);
    let outcomes: Vec<&str> = events.iter().map(|e| e.rule.as_str()).collect();
    // Reserving 0.5 a call: two fit in 1.0 whatever the real costs, a third does not.
    assert_eq!(outcomes, ["reduced", "reduced", "budget_exhausted", "budget_exhausted", "budget_exhausted"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "no call is made once the budget is spent");
    // Decided once the first two had settled at their real cost.
    let detail = &events[2].detail;
    assert!(detail.contains("budget spent: $0.8000 of $1.0000 today, the call would reserve $0.5000"), "{detail}");
    let strengths: Vec<f64> = signals.iter().map(|s| s.strength).collect();
    assert_eq!(strengths, [0.45, 0.45, 0.9, 0.9, 0.9], "the rule-based signal stands once the budget is spent");
}

/// Calls cost 0.2 and reserve 0.5 under a budget of 1: with every earlier call answered the
/// third fits (0.4 + 0.5) and the fourth does not (0.6 + 0.5); with the first two still in
/// flight the third would not fit beside their reservations (1.0 + 0.5). However slowly the
/// model answers, the decisions are those of the answered case.
#[test]
fn near_the_daily_limit_the_decisions_do_not_depend_on_how_fast_the_model_answers() {
    let run = |delay_ms, max_in_flight| {
        let model = HalfSize { cost: 0.2, worst: 0.5, delay: Duration::from_millis(delay_ms), calls: Arc::default() };
        let (signals, events) = review_five(model, max_in_flight);
        let strengths: Vec<f64> = signals.iter().map(|s| s.strength).collect();
        (strengths, events.iter().map(outcome).collect::<Vec<_>>())
    };
    let (strengths, outcomes) = run(0, 1);
    let rules: Vec<&str> = outcomes.iter().map(|o| o.split(':').next().unwrap()).collect();
    assert_eq!(rules, ["reduced", "reduced", "reduced", "budget_exhausted", "budget_exhausted"]);
    assert_eq!(strengths, [0.45, 0.45, 0.45, 0.9, 0.9]);
    assert!(outcomes[3].contains("budget spent: $0.6000 of $1.0000"), "{}", outcomes[3]);
    for (delay_ms, max_in_flight) in [(60, 4), (25, 2), (0, 4)] {
        let slow = run(delay_ms, max_in_flight);
        assert_eq!(slow, (strengths.clone(), outcomes.clone()), "answers after {delay_ms} ms, {max_in_flight} at once");
    }
}
