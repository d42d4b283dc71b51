//! Prometheus metrics, read from the jobs' counters at scrape time: nothing is counted twice
//! and the hot path pays nothing for being watched.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use prometheus::proto::{LabelPair, MetricFamily};
use prometheus::{CounterVec, Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use super::jobs::JobState;
use crate::job::JobStats;

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, String> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    registry.register(Box::new(metric.clone())).map_err(|e| e.to_string())?;
    Ok(metric)
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, String> {
    let metric = GaugeVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    registry.register(Box::new(metric.clone())).map_err(|e| e.to_string())?;
    Ok(metric)
}

/// The metrics of `jobs` (id, name, state, stats) in Prometheus' text format.
pub fn render(jobs: &[(String, String, JobState, std::sync::Arc<JobStats>)]) -> Result<String, String> {
    let registry = Registry::new();
    let records_in = counter(&registry, "tradeflow_records_in_total", "Records read, per input.", &["job", "input"])?;
    let dead = counter(
        &registry,
        "tradeflow_dead_letters_total",
        "Records sent to the dead letters (late, malformed, refused), per input.",
        &["job", "input"],
    )?;
    let records_out = counter(
        &registry,
        "tradeflow_records_out_total",
        "Records written, per stream and store.",
        &["job", "stream", "store"],
    )?;
    let orders = counter(&registry, "tradeflow_orders_total", "Orders sent.", &["job"])?;
    let fills = counter(&registry, "tradeflow_fills_total", "Fills received.", &["job"])?;
    let kafka =
        counter(&registry, "tradeflow_kafka_messages_total", "Messages sent to output topics.", &["job", "stream"])?;
    let questdb_rows =
        counter(&registry, "tradeflow_questdb_rows_total", "Rows acknowledged by QuestDB.", &["job", "stream"])?;
    let questdb_rejected = counter(
        &registry,
        "tradeflow_questdb_rejected_total",
        "Rows QuestDB refused (set aside).",
        &["job", "stream"],
    )?;
    let questdb_retries = counter(
        &registry,
        "tradeflow_questdb_retries_total",
        "QuestDB sends that failed and were retried.",
        &["job", "stream"],
    )?;
    let event_time =
        gauge(&registry, "tradeflow_event_time_seconds", "The newest event time read (Unix seconds).", &["job"])?;
    let lag = gauge(
        &registry,
        "tradeflow_frontier_lag_seconds",
        "Wall clock minus the newest event time read (large for a backtest of the past).",
        &["job"],
    )?;
    let durable = gauge(
        &registry,
        "tradeflow_durable_epoch",
        "The epoch before which every sink has made everything durable.",
        &["job"],
    )?;
    let kafka_lag = gauge(
        &registry,
        "tradeflow_kafka_consumer_lag",
        "Messages behind the partition's high watermark (as the brokers last reported it).",
        &["job", "topic", "partition"],
    )?;
    let refusals = counter(
        &registry,
        "tradeflow_risk_refusals_total",
        "Orders the risk book refused, per rule.",
        &["job", "rule"],
    )?;
    let equity = gauge(&registry, "tradeflow_equity", "Account equity.", &["job", "account"])?;
    let drawdown = gauge(&registry, "tradeflow_drawdown", "Fraction below the peak equity.", &["job", "account"])?;
    let states =
        IntGaugeVec::new(Opts::new("tradeflow_jobs", "Jobs per state."), &["state"]).map_err(|e| e.to_string())?;
    registry.register(Box::new(states.clone())).map_err(|e| e.to_string())?;

    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    for (id, _name, state, stats) in jobs {
        let state = serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        states.with_label_values(&[state.as_str()]).inc();
        for (input, s) in [("ticks", &stats.tick_stats), ("news", &stats.news_stats), ("control", &stats.control_stats)]
        {
            records_in.with_label_values(&[id.as_str(), input]).inc_by(s.records.load(Ordering::Relaxed));
            dead.with_label_values(&[id.as_str(), input]).inc_by(s.dead_letters.load(Ordering::Relaxed));
        }
        let mut per_store = std::collections::BTreeMap::new();
        if let Ok(sinks) = stats.sinks.lock() {
            for sink in sinks.iter() {
                *per_store.entry((sink.stream, sink.store)).or_insert(0) +=
                    sink.progress.records.load(Ordering::Relaxed);
            }
        }
        for ((stream, store), n) in per_store {
            records_out.with_label_values(&[id.as_str(), stream, store]).inc_by(n);
        }
        let out = stats.rows_out();
        orders.with_label_values(&[id.as_str()]).inc_by(out.get("orders").copied().unwrap_or(0));
        fills.with_label_values(&[id.as_str()]).inc_by(out.get("fills").copied().unwrap_or(0));
        for (stream, n) in &stats.kafka_rows {
            kafka.with_label_values(&[id.as_str(), stream]).inc_by(n.load(Ordering::Relaxed));
        }
        for (stream, q) in &stats.questdb {
            questdb_rows.with_label_values(&[id.as_str(), stream]).inc_by(q.rows.load(Ordering::Relaxed));
            questdb_rejected.with_label_values(&[id.as_str(), stream]).inc_by(q.rejected.load(Ordering::Relaxed));
            questdb_retries.with_label_values(&[id.as_str(), stream]).inc_by(q.retries.load(Ordering::Relaxed));
        }
        let newest = stats.tick_stats.max_ts.load(Ordering::Relaxed);
        if newest > 0 {
            let seconds = newest as f64 / 1e9;
            event_time.with_label_values(&[id.as_str()]).set(seconds);
            lag.with_label_values(&[id.as_str()]).set(now - seconds);
        }
        let frontier = stats.durable_frontier();
        if frontier != u64::MAX {
            durable.with_label_values(&[id.as_str()]).set(frontier as f64);
        }
        if let Ok(lag) = stats.kafka_lag.lock() {
            for ((topic, partition), behind) in lag.iter() {
                let partition = partition.to_string();
                kafka_lag.with_label_values(&[id.as_str(), topic.as_str(), partition.as_str()]).set(*behind as f64);
            }
        }
        for (rule, n) in stats.watch.refusals() {
            refusals.with_label_values(&[id.as_str(), rule.as_str()]).inc_by(n);
        }
        if let Some(p) = stats.last_pnl.lock().ok().and_then(|p| p.clone()) {
            equity.with_label_values(&[id.as_str(), p.account.as_str()]).set(p.equity);
            drawdown.with_label_values(&[id.as_str(), p.account.as_str()]).set(p.drawdown);
        }
    }
    model_metrics(&registry, jobs)?;
    let mut families = registry.gather();
    // Histograms live in the jobs (they accumulate): each is collected with its labels added.
    for (id, _name, _state, stats) in jobs {
        add_histogram(&mut families, &stats.tick_to_order, &[("job", id)]);
        for (stream, q) in &stats.questdb {
            if q.flush_seconds.get_sample_count() > 0 {
                add_histogram(&mut families, &q.flush_seconds, &[("job", id), ("stream", stream)]);
            }
        }
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&families, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Per model: calls, articles, errors by kind, fallbacks, tokens, cost and latency.
fn model_metrics(
    registry: &Registry,
    jobs: &[(String, String, JobState, std::sync::Arc<JobStats>)],
) -> Result<(), String> {
    let float_counter = |name: &str, help: &str| -> Result<CounterVec, String> {
        let metric = CounterVec::new(Opts::new(name, help), &["job", "model"]).map_err(|e| e.to_string())?;
        registry.register(Box::new(metric.clone())).map_err(|e| e.to_string())?;
        Ok(metric)
    };
    let calls = counter(registry, "tradeflow_model_calls_total", "Successful calls to a model.", &["job", "model"])?;
    let articles = counter(registry, "tradeflow_model_articles_total", "Articles a model scored.", &["job", "model"])?;
    let errors = counter(
        registry,
        "tradeflow_model_errors_total",
        "Failed calls to a model, per kind (transport, status, malformed, timeout, budget).",
        &["job", "model", "kind"],
    )?;
    let fallbacks = counter(
        registry,
        "tradeflow_model_fallbacks_total",
        "Articles another backend or the lexicon answered because this model failed or was unsure.",
        &["job", "model"],
    )?;
    let tokens =
        counter(registry, "tradeflow_model_tokens_total", "Tokens used, per type.", &["job", "model", "type"])?;
    let cost = float_counter("tradeflow_model_cost_usd_total", "USD spent at the configured prices.")?;
    let latency = float_counter(
        "tradeflow_model_latency_seconds_total",
        "Wall time of successful calls; divided by the calls, the mean latency.",
    )?;
    for (id, _name, _state, stats) in jobs {
        let Some(models) = stats.models.get() else { continue };
        for (model, c) in models.snapshot() {
            let labels = [id.as_str(), model.as_str()];
            calls.with_label_values(&labels).inc_by(c.calls);
            articles.with_label_values(&labels).inc_by(c.articles);
            fallbacks.with_label_values(&labels).inc_by(c.fallbacks);
            cost.with_label_values(&labels).inc_by(c.cost_usd);
            latency.with_label_values(&labels).inc_by(c.latency_seconds_sum);
            tokens.with_label_values(&[id.as_str(), model.as_str(), "prompt"]).inc_by(c.prompt_tokens);
            tokens.with_label_values(&[id.as_str(), model.as_str(), "completion"]).inc_by(c.completion_tokens);
            for (kind, n) in &c.errors {
                errors.with_label_values(&[id.as_str(), model.as_str(), kind]).inc_by(*n);
            }
        }
    }
    Ok(())
}

/// Adds `histogram`'s samples with `labels` to the family of its name (made if missing).
fn add_histogram(families: &mut Vec<MetricFamily>, histogram: &prometheus::Histogram, labels: &[(&str, &str)]) {
    use prometheus::core::Collector;
    for mut family in histogram.collect() {
        let mut metrics = family.take_metric();
        for metric in &mut metrics {
            let pairs = labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*name).to_owned());
                    pair.set_value((*value).to_owned());
                    pair
                })
                .collect();
            metric.set_label(pairs);
        }
        match families.iter_mut().find(|f| f.name() == family.name()) {
            Some(existing) => existing.mut_metric().extend(metrics),
            None => {
                family.set_metric(metrics);
                families.push(family);
            }
        }
    }
}

/// Serves `/metrics` of one job run by `tradeflow run --metrics-listen` on a background thread
/// (no token: bind it to loopback or a scrape network). Fails at once if the address is taken.
pub fn serve_one(addr: std::net::SocketAddr, name: String, stats: std::sync::Arc<JobStats>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
    std::thread::Builder::new().name("tradeflow-metrics".into()).spawn(move || {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let (name, stats) = (name.clone(), std::sync::Arc::clone(&stats));
                async move {
                    let jobs = [(name.clone(), name, JobState::Running, stats)];
                    match render(&jobs) {
                        Ok(text) => (axum::http::StatusCode::OK, text),
                        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e),
                    }
                }
            }),
        );
        if let Err(e) = runtime.block_on(async move { axum::serve(listener, app).await }) {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    })?;
    Ok(())
}
