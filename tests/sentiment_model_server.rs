//! The `openai` backend, the router, the operator's fallbacks and the strategist against a
//! real llama.cpp `llama-server` running Gemma 3 270M on 127.0.0.1. A 270M base model's
//! judgement is not tested here; the plumbing is: schema-valid answers, batching, concurrency,
//! token accounting, timeouts, and fallback when the server dies.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::llama::LlamaServer;
use tradeflow::sentiment::config::BackendConfig;
use tradeflow::sentiment::openai::OpenAiModel;
use tradeflow::sentiment::router::Router;
use tradeflow::sentiment::strategist::Strategist;
use tradeflow_operators::sentiment::{Article, Lexicon, ModelError, ModelMetrics, SentimentModel};
use tradeflow_operators::strategy::strategist::StrategistModel;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn backend(server: &LlamaServer) -> BackendConfig {
    BackendConfig {
        name: "gemma".into(),
        base_url: server.base_url(),
        model: "gemma-3-270m".into(),
        batch: 4,
        concurrency: 4,
        retries: 0,
        timeout_ms: 60_000.0,
        price_input_per_mtok: 1.0,
        price_output_per_mtok: 2.0,
        ..BackendConfig::default()
    }
}

/// Headlines from the labelled set; every third names a second ticker.
fn articles(n: usize) -> Vec<Article> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sentiment/headlines.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .take(n)
        .enumerate()
        .map(|(i, l)| {
            let parts: Vec<&str> = l.splitn(3, '|').collect();
            let mut tickers = vec![parts[1].to_owned()];
            if i % 3 == 0 {
                tickers.push("ZZZZ".into());
            }
            Article {
                id: format!("a{i}"),
                ts: i as i64,
                source: "wire".into(),
                headline: parts[2].to_owned(),
                body: String::new(),
                tickers,
            }
        })
        .collect()
}

#[test]
fn openai_backend_gives_schema_valid_batched_answers_and_counts_tokens() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let metrics = Arc::new(ModelMetrics::default());
    let model = OpenAiModel::new(backend(&server), Arc::clone(&metrics)).unwrap();
    assert_eq!(model.max_batch(), 4);
    let all = articles(8);
    let runtime = runtime();
    // Two batches of four in flight at once (the server has four slots).
    let (first, second) = runtime.block_on(async {
        let a = model.score(all[..4].to_vec().into());
        let b = model.score(all[4..].to_vec().into());
        futures_util::future::join(a, b).await
    });
    let scores: Vec<_> = first.unwrap().into_iter().chain(second.unwrap()).collect();
    assert_eq!(scores.len(), 8);
    for (article, score) in all.iter().zip(&scores) {
        assert_eq!(score.model, "gemma");
        assert_eq!(score.per_ticker.len(), article.tickers.len(), "one verdict per ticker of {}", article.id);
        for s in &score.per_ticker {
            assert!((-1.0..=1.0).contains(&s.score) && (0.0..=1.0).contains(&s.confidence), "{s:?}");
        }
    }
    let counters = &metrics.snapshot()["gemma"];
    assert_eq!((counters.calls, counters.articles), (2, 8));
    assert!(counters.prompt_tokens > 100 && counters.completion_tokens > 50, "{counters:?}");
    let expected = (counters.prompt_tokens as f64 * 1.0 + counters.completion_tokens as f64 * 2.0) / 1e6;
    assert!((counters.cost_usd - expected).abs() < 1e-12, "cost from usage: {} vs {expected}", counters.cost_usd);
    let cost_shares: f64 = scores.iter().map(|s| s.cost_usd).sum();
    assert!((cost_shares - expected).abs() < 1e-12, "each article carries its share of the cost");
}

#[test]
fn a_tiny_max_tokens_is_a_malformed_answer() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let metrics = Arc::new(ModelMetrics::default());
    let config = BackendConfig { max_tokens: Some(3), ..backend(&server) };
    let model = OpenAiModel::new(config, Arc::clone(&metrics)).unwrap();
    let answer = runtime().block_on(model.score(articles(2).into()));
    assert!(matches!(answer, Err(ModelError::Malformed(_))), "{answer:?}");
    assert_eq!(metrics.snapshot()["gemma"].errors.get("malformed"), Some(&1));
}

#[test]
fn a_slow_answer_is_cut_by_the_request_timeout() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let config = BackendConfig { timeout_ms: 300.0, batch: 16, ..backend(&server) };
    let model = OpenAiModel::new(config, Arc::default()).unwrap();
    let started = Instant::now();
    // Sixteen articles take the model seconds; the client gives up after 300 ms.
    let answer = runtime().block_on(model.score(articles(16).into()));
    assert!(matches!(&answer, Err(ModelError::Transport(e)) if e.contains("timed out")), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn router_falls_back_to_the_lexicon_while_the_server_is_down_and_returns_to_it() {
    let _serial = common::llama::serial();
    let mut server = LlamaServer::start();
    let port = server.port;
    let metrics = Arc::new(ModelMetrics::default());
    let config = BackendConfig { timeout_ms: 30_000.0, ..backend(&server) };
    let gemma: Arc<dyn SentimentModel> = Arc::new(OpenAiModel::new(config, Arc::clone(&metrics)).unwrap());
    let router = Router::new(vec![gemma], vec![0], vec![], 0.0, Arc::new(Lexicon::default()), Arc::clone(&metrics));
    let runtime = runtime();
    let score = |n| runtime.block_on(router.score(articles(n).into())).unwrap();

    assert!(score(2).iter().all(|s| s.model == "gemma"));
    // Killed in the middle of a request: the call ends with the client's error, not a hang.
    let call = runtime.spawn(router.score(articles(12).into()));
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    let during = runtime.block_on(call).unwrap().unwrap();
    assert!(
        during.iter().all(|s| s.model == Lexicon::MODEL),
        "{:?}",
        during.iter().map(|s| &s.model).collect::<Vec<_>>()
    );
    assert!(score(2).iter().all(|s| s.model == Lexicon::MODEL), "down: the lexicon answers");

    let _restarted = LlamaServer::start_on(port);
    assert!(score(2).iter().all(|s| s.model == "gemma"), "back up: the model answers again");
    let counters = &metrics.snapshot()["gemma"];
    assert_eq!(counters.fallbacks, 14);
    assert_eq!(counters.errors.get("transport"), Some(&2), "{counters:?}");
}

#[test]
fn the_strategist_gets_a_structured_verdict_and_its_cost() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let metrics = Arc::new(ModelMetrics::default());
    let strategist = Strategist::new(backend(&server), 200, Arc::clone(&metrics)).unwrap();
    let prompt = "Ticker ACME, price 101.5, the strategy proposes strength +0.900. Escalated because: bar \
                  move of +4.10 sigma. Answer with one JSON object: approve, size_factor, reason.";
    let reviewed = runtime().block_on(strategist.review(prompt.to_owned())).unwrap();
    assert!((0.0..=1.0).contains(&reviewed.verdict.size_factor));
    let counters = &metrics.snapshot()["gemma"];
    let expected = (counters.prompt_tokens as f64 + 2.0 * counters.completion_tokens as f64) / 1e6;
    assert!(expected > 0.0 && (reviewed.cost_usd - expected).abs() < 1e-12, "{reviewed:?} vs {expected}");
    assert!(strategist.worst_case_cost(prompt) >= reviewed.cost_usd, "the reservation covers the real cost");
}

/// Runs the demo config after `edit`, pointed at `server` and shortened to 30 minutes of 5
/// symbols; returns the run's folder (inside `dir`) and its summary.
fn run_demo(
    server: &LlamaServer,
    dir: &std::path::Path,
    edit: impl FnOnce(String) -> String,
) -> (std::path::PathBuf, String) {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml")).unwrap();
    let config = edit(demo)
        .replace("http://127.0.0.1:8080/v1", &server.base_url())
        .replacen("duration_s = 23400", "duration_s = 1800", 1)
        .replacen("symbols = 50", "symbols = 5", 1);
    let path = dir.join("demo.toml");
    std::fs::write(&path, config).unwrap();
    let out = dir.join("run");
    let output = common::run_job(&path, &out, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    (out, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_demo_switches_to_the_local_model_with_one_line() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = run_demo(&server, dir.path(), |demo| {
        let switched = demo.replacen("backend = \"lexicon\"", "backend = \"local\"", 1);
        assert_ne!(switched, demo, "the demo has the one line to change");
        switched
    });
    let models = common::Table::read(&out, "sentiment").text("model");
    assert!(!models.is_empty(), "the session had news");
    assert!(models.iter().all(|m| m == "local"), "{models:?}");
    assert!(summary.contains("  model        local: "), "the summary shows the model's use:\n{summary}");
}

#[test]
fn the_strategist_reviews_a_session_within_its_daily_budget() {
    let _serial = common::llama::serial();
    let server = LlamaServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The lexicon scores the news; the local model is the strategist, priced so that a fifth of
    // a cent buys one or two verdicts: each reserves about $0.0015 (its worst case) and costs
    // about $0.0005, and a call waits for the real cost of those before it when its worst case
    // would not fit beside theirs.
    let (out, _) = run_demo(&server, dir.path(), |demo| {
        demo.replacen("concurrency = 4", "concurrency = 4\nprice_input_per_mtok = 1.0\nprice_output_per_mtok = 2.0", 1)
            + "\n[sentiment.strategist]\nbackend = \"local\"\nposition_pct = 0.5\ndaily_budget_usd = 0.002\n"
    });
    let events = common::Table::read(&out, "risk_events");
    let reviews: Vec<(String, String)> = events
        .text("kind")
        .into_iter()
        .zip(events.text("rule").into_iter().zip(events.text("detail")))
        .filter(|(kind, _)| kind == "strategist")
        .map(|(_, pair)| pair)
        .collect();
    let answered =
        reviews.iter().filter(|(rule, _)| matches!(rule.as_str(), "approved" | "reduced" | "vetoed")).count();
    let refused = reviews.iter().filter(|(rule, _)| rule == "budget_exhausted").count();
    assert!(answered >= 1 && refused >= 1, "verdicts until the budget ran out, then refusals: {reviews:#?}");
    for (rule, detail) in &reviews {
        if rule == "budget_exhausted" {
            assert!(detail.contains("of $0.0020 today") && detail.contains("the rule-based signal stands"), "{detail}");
        }
    }
}
