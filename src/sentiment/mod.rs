//! Sentiment backends the application provides (the `openai` client, the router, the
//! strategist clients) and the runtime their calls run on. The model interface, the lexicon
//! and the operators live in `tradeflow_operators::sentiment`.

pub mod config;
pub mod http;
pub mod openai;
pub mod router;
pub mod strategist;

use std::sync::{Arc, OnceLock};

use std::time::Duration;

use tradeflow_dataflows::StrategistSetup;
use tradeflow_operators::call::CallLimits;
use tradeflow_operators::sentiment::{Lexicon, ModelMetrics, NewsScoring, SentimentModel};
use tradeflow_operators::strategy::strategist::StrategistModel;
use tradeflow_operators::{SECOND, SymbolTable};

pub use config::SentimentSection;

/// The process's runtime for calls to model servers: two threads, started on first use.
pub fn runtime() -> Result<tokio::runtime::Handle, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tradeflow-models")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime for model calls: {e}"))
    });
    runtime.as_ref().map(|r| r.handle().clone()).map_err(Clone::clone)
}

/// The model `section.backend` names. The section must have been validated.
pub fn build_model(
    section: &SentimentSection,
    lexicon: &Arc<Lexicon>,
    metrics: &Arc<ModelMetrics>,
) -> Result<Arc<dyn SentimentModel>, String> {
    let backend = |name: &str| -> Result<Arc<dyn SentimentModel>, String> {
        let config = section.backends.iter().find(|b| b.name == name).ok_or_else(|| format!("no backend {name:?}"))?;
        Ok(Arc::new(openai::OpenAiModel::new(config.clone(), Arc::clone(metrics))?))
    };
    match section.backend.as_str() {
        "lexicon" => Ok(Arc::clone(lexicon) as Arc<dyn SentimentModel>),
        "router" => {
            let router = section.router.as_ref().ok_or("sentiment.backend = \"router\" needs [sentiment.router]")?;
            let mut names: Vec<&str> = router.order.iter().map(String::as_str).collect();
            for rule in &router.rules {
                if !names.contains(&rule.backend.as_str()) {
                    names.push(&rule.backend);
                }
            }
            let position = |name: &str| names.iter().position(|n| *n == name).unwrap_or(0);
            let backends = names.iter().map(|n| backend(n)).collect::<Result<Vec<_>, _>>()?;
            let order = router.order.iter().map(|n| position(n)).collect();
            let rules = router.rules.iter().map(|r| (r.clone(), position(&r.backend))).collect();
            Ok(Arc::new(router::Router::new(
                backends,
                order,
                rules,
                router.min_confidence,
                Arc::clone(lexicon),
                Arc::clone(metrics),
            )))
        }
        name => backend(name),
    }
}

/// The strategist client, if `[sentiment.strategist]` is configured.
pub fn build_strategist(
    section: &SentimentSection,
    metrics: &Arc<ModelMetrics>,
) -> Result<Option<Arc<dyn StrategistModel>>, String> {
    let Some(config) = &section.strategist else { return Ok(None) };
    let backend = section
        .backends
        .iter()
        .find(|b| b.name == config.backend)
        .ok_or_else(|| format!("sentiment.strategist.backend: no backend {:?}", config.backend))?;
    let client = strategist::Strategist::new(backend.clone(), config.max_tokens, Arc::clone(metrics))?;
    Ok(Some(Arc::new(client)))
}

/// The news operator's and the strategist's parameters for a validated-on-the-way section.
pub fn plan(
    section: &SentimentSection,
    symbols: &Arc<SymbolTable>,
) -> Result<(NewsScoring, Option<StrategistSetup>), String> {
    section.validate()?;
    let lexicon = Arc::new(Lexicon::default());
    let metrics = Arc::new(ModelMetrics::default());
    let model = build_model(section, &lexicon, &metrics)?;
    let limits = CallLimits {
        max_in_flight: section.max_in_flight,
        timeout: Duration::from_secs_f64(section.timeout_ms / 1000.0),
    };
    let seconds = |s: f64| (s * SECOND as f64) as i64;
    let strategist = build_strategist(section, &metrics)?
        .zip(section.strategist.as_ref())
        .map(|(model, config)| StrategistSetup { model, rules: config.rules(), limits });
    let news = NewsScoring {
        model,
        fallback: lexicon,
        symbols: Arc::clone(symbols),
        id_window: seconds(section.dedupe_window_s),
        story_window: seconds(section.story_window_s),
        cache_capacity: section.cache_size,
        limits,
        runtime: runtime()?,
        metrics,
    };
    Ok((news, strategist))
}
