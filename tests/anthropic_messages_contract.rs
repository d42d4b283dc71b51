//! The strategist's Anthropic client against a local server that follows the documented
//! Messages API contract (the real API is a remote SaaS that cannot run here): `POST
//! /v1/messages` with `x-api-key` and `anthropic-version` headers, `model`, `max_tokens` and
//! `messages` in the body; answers with `content` blocks and `usage.input_tokens/output_tokens`;
//! errors as `{"type": "error", "error": {"type", "message"}}`; 429 with `retry-after`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use tradeflow::sentiment::config::{BackendConfig, BackendKind};
use tradeflow::sentiment::strategist::{ANTHROPIC_VERSION, Strategist};
use tradeflow_operators::sentiment::ModelError;
use tradeflow_operators::strategy::strategist::StrategistModel;

const KEY_VAR: &str = "TRADEFLOW_TEST_ANTHROPIC_KEY";
const KEY: &str = "sk-ant-test-key";

#[derive(Default)]
struct Contract {
    requests: AtomicUsize,
    /// Requests answered with 429 before the first success.
    rate_limited: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

fn json_response(status: StatusCode, value: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
}

async fn messages(State(contract): State<Arc<Contract>>, headers: HeaderMap, body: Bytes) -> Response {
    contract.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if header("x-api-key") != KEY {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    if header("anthropic-version") != ANTHROPIC_VERSION {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "anthropic-version header is required");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "the body is not JSON");
    };
    let valid = body["model"].is_string()
        && body["max_tokens"].as_u64().is_some_and(|n| n >= 1)
        && body["messages"].as_array().is_some_and(|m| {
            !m.is_empty()
                && m.iter()
                    .all(|x| matches!(x["role"].as_str(), Some("user" | "assistant")) && x["content"].is_string())
        })
        && body.get("system").is_none_or(Value::is_string);
    if !valid {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "model, max_tokens and messages are required");
    }
    contract.bodies.lock().unwrap().push(body.clone());
    if contract.rate_limited.load(Ordering::SeqCst) > 0 {
        contract.rate_limited.fetch_sub(1, Ordering::SeqCst);
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "slow down");
        response.headers_mut().insert("retry-after", "1".parse().unwrap());
        return response;
    }
    let verdict =
        r#"Here is my verdict: {"approve": false, "size_factor": 0.0, "reason": "a 4 sigma move on no news"}"#;
    json_response(
        StatusCode::OK,
        json!({
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": verdict}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 120, "output_tokens": 30},
        }),
    )
}

/// The contract server on a free port, on its own runtime thread.
fn serve(contract: Arc<Contract>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route("/v1/messages", post(messages)).with_state(contract);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

fn strategist(base_url: String, key_var: &str) -> Strategist {
    let backend = BackendConfig {
        name: "claude".into(),
        kind: BackendKind::Anthropic,
        base_url,
        model: "claude-sonnet-4-5".into(),
        api_key_env: Some(key_var.into()),
        retries: 2,
        retry_initial_ms: 50.0,
        retry_max_ms: 2_000.0,
        price_input_per_mtok: 3.0,
        price_output_per_mtok: 15.0,
        ..BackendConfig::default()
    };
    Strategist::new(backend, 200, Arc::default()).unwrap()
}

fn set_keys() {
    // SAFETY: both tests set the same values before making any call, and nothing in this test
    // binary reads these variables concurrently with the write.
    unsafe {
        std::env::set_var(KEY_VAR, KEY);
        std::env::set_var("TRADEFLOW_TEST_WRONG_KEY", "sk-ant-wrong");
    }
}

#[test]
fn a_rate_limited_call_waits_for_retry_after_then_reads_the_verdict_and_its_cost() {
    set_keys();
    let contract = Arc::new(Contract { rate_limited: AtomicUsize::new(1), ..Contract::default() });
    let client = strategist(serve(Arc::clone(&contract)), KEY_VAR);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let reviewed = runtime.block_on(client.review("Ticker ACME moved 4 sigma; approve?".into())).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "retry-after: 1 was honoured");
    assert_eq!(contract.requests.load(Ordering::SeqCst), 2, "one 429, one success");
    assert!(!reviewed.verdict.approve);
    assert_eq!(reviewed.verdict.reason, "a 4 sigma move on no news");
    assert_eq!(reviewed.model, "claude-sonnet-4-5");
    let expected = (120.0 * 3.0 + 30.0 * 15.0) / 1e6;
    assert!((reviewed.cost_usd - expected).abs() < 1e-15, "{} vs {expected}", reviewed.cost_usd);
    let bodies = contract.bodies.lock().unwrap();
    assert_eq!(bodies[0]["max_tokens"], json!(200));
    assert_eq!(bodies[0]["messages"][0]["role"], json!("user"));
}

#[test]
fn a_refused_key_is_an_error_without_retries() {
    set_keys();
    let contract = Arc::new(Contract::default());
    let client = strategist(serve(Arc::clone(&contract)), "TRADEFLOW_TEST_WRONG_KEY");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let answer = runtime.block_on(client.review("approve?".into()));
    match answer {
        Err(ModelError::Status { code: 401, body }) => assert!(body.contains("authentication_error"), "{body}"),
        other => panic!("expected a 401, got {other:?}"),
    }
    assert_eq!(contract.requests.load(Ordering::SeqCst), 1, "a 401 is not retried");
}
