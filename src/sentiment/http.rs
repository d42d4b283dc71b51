//! JSON over HTTP for the model clients: one client per backend, retries with backoff on
//! what a retry can fix (no connection, 429, 5xx), and token usage read from the answer.

use std::time::Duration;

use serde_json::Value;
use tradeflow_operators::sentiment::ModelError;

/// How often and how patiently a request is repeated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    /// Repeats after the first attempt.
    pub retries: u32,
    pub initial: Duration,
    pub max: Duration,
}

/// Tokens a call used, as the server reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    /// Adds a `usage` object in either the OpenAI (`prompt_tokens`, `completion_tokens`) or the
    /// Anthropic (`input_tokens`, `output_tokens`) spelling.
    pub fn add(&mut self, usage: Option<&Value>) {
        let Some(u) = usage else { return };
        let count = |a: &str, b: &str| u.get(a).or_else(|| u.get(b)).and_then(Value::as_u64).unwrap_or(0);
        self.prompt_tokens += count("prompt_tokens", "input_tokens");
        self.completion_tokens += count("completion_tokens", "output_tokens");
    }
}

/// A client with the backend's per-request timeout. TLS (for hosted APIs) uses rustls with the
/// `ring` provider the QuestDB client already brings.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// POSTs `body` and returns the JSON answer, repeating on transport errors, 429 and 5xx.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    headers: Vec<(&'static str, String)>,
    body: &Value,
    retry: &Retry,
) -> Result<Value, ModelError> {
    let mut delay = retry.initial;
    let mut attempt = 0;
    loop {
        let mut request = client.post(url).json(body);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let (error, wait) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
                let text = response.text().await.map_err(|e| ModelError::Transport(e.to_string()));
                match text {
                    Ok(text) if status.is_success() => {
                        return serde_json::from_str(&text)
                            .map_err(|e| ModelError::Malformed(format!("the answer is not JSON: {e}")));
                    }
                    Ok(text) => {
                        let error = ModelError::Status { code: status.as_u16(), body: shorten(&text) };
                        if status.as_u16() != 429 && !status.is_server_error() {
                            return Err(error);
                        }
                        (error, retry_after)
                    }
                    Err(error) => (error, None),
                }
            }
            Err(e) if e.is_timeout() => (ModelError::Transport(format!("timed out: {e}")), None),
            Err(e) => (ModelError::Transport(e.to_string()), None),
        };
        if attempt >= retry.retries {
            return Err(error);
        }
        attempt += 1;
        // A server's Retry-After is honoured, but never beyond the backoff's ceiling.
        tokio::time::sleep(wait.unwrap_or(delay).min(retry.max)).await;
        delay = (delay * 2).min(retry.max);
    }
}

/// Error bodies can be pages long; the first 300 characters name the problem.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
