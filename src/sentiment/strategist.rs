//! The strategist: a stronger model asked for a structured verdict on the decisions that
//! matter, over an OpenAI-compatible server or Anthropic's Messages API.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use tradeflow_operators::call::BoxFuture;
use tradeflow_operators::sentiment::{ModelError, ModelMetrics};
use tradeflow_operators::strategy::strategist::{EscalationRules, Reviewed, StrategistModel, Verdict};

use super::config::{BackendConfig, BackendKind};
use super::http::{self, Usage};

/// The version of the Messages API the client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategistConfig {
    /// The backend (one of `[[sentiment.backends]]`, OpenAI-compatible or Anthropic) asked.
    pub backend: String,
    /// A bar return beyond this many standard deviations escalates.
    pub sigma: f64,
    /// A proposed position above this percentage of equity escalates.
    pub position_pct: f64,
    /// Bar returns the standard deviation is taken over, and how many are needed first.
    pub window: usize,
    pub min_history: usize,
    /// USD per UTC day (event time); a call that could exceed it is not made.
    pub daily_budget_usd: f64,
    /// Completion tokens allowed per verdict.
    pub max_tokens: u32,
}

impl Default for StrategistConfig {
    fn default() -> Self {
        StrategistConfig {
            backend: String::new(),
            sigma: 3.0,
            position_pct: 5.0,
            window: 60,
            min_history: 20,
            daily_budget_usd: 5.0,
            max_tokens: 200,
        }
    }
}

impl StrategistConfig {
    pub fn validate(&self, backends: &[BackendConfig]) -> Result<(), String> {
        if !backends.iter().any(|b| b.name == self.backend) {
            return Err(format!("sentiment.strategist.backend: no backend is named {:?}", self.backend));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(format!("sentiment.strategist.sigma must be above 0, got {}", self.sigma));
        }
        if !(self.position_pct.is_finite() && self.position_pct > 0.0 && self.position_pct <= 100.0) {
            return Err(format!(
                "sentiment.strategist.position_pct must be above 0 and at most 100, got {}",
                self.position_pct
            ));
        }
        if self.window < 2 || self.min_history < 2 || self.min_history > self.window {
            return Err(format!(
                "sentiment.strategist needs 2 <= min_history <= window, got min_history {} and window {}",
                self.min_history, self.window
            ));
        }
        if !(self.daily_budget_usd.is_finite() && self.daily_budget_usd >= 0.0) {
            return Err(format!(
                "sentiment.strategist.daily_budget_usd must be 0 or more, got {}",
                self.daily_budget_usd
            ));
        }
        if self.max_tokens == 0 {
            return Err("sentiment.strategist.max_tokens must be at least 1".into());
        }
        Ok(())
    }

    pub fn rules(&self) -> EscalationRules {
        EscalationRules {
            sigma: self.sigma,
            position_share: self.position_pct / 100.0,
            window: self.window,
            min_history: self.min_history,
            daily_budget_usd: self.daily_budget_usd,
        }
    }
}

/// A strategist client for either wire protocol.
pub struct Strategist {
    inner: Arc<Inner>,
}

struct Inner {
    backend: BackendConfig,
    max_tokens: u32,
    client: reqwest::Client,
    api_key: Option<String>,
    metrics: Arc<ModelMetrics>,
}

impl Strategist {
    pub fn new(backend: BackendConfig, max_tokens: u32, metrics: Arc<ModelMetrics>) -> Result<Self, String> {
        let client = http::client(backend.timeout())?;
        let api_key = backend.api_key()?;
        Ok(Strategist { inner: Arc::new(Inner { backend, max_tokens, client, api_key, metrics }) })
    }
}

impl StrategistModel for Strategist {
    fn name(&self) -> &str {
        &self.inner.backend.name
    }

    fn worst_case_cost(&self, prompt: &str) -> f64 {
        // About four characters a token in English; counted generously.
        let prompt_tokens = (prompt.len() as u64).div_ceil(3) + 64;
        let usage = Usage { prompt_tokens, completion_tokens: self.inner.max_tokens as u64 };
        self.inner.backend.cost(&usage) * 2.0
    }

    fn review(&self, prompt: String) -> BoxFuture<Result<Reviewed, ModelError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let started = Instant::now();
            let answer = inner.ask(&prompt).await;
            let name = &inner.backend.name;
            match &answer {
                Ok((_, usage, cost)) => inner.metrics.call(
                    name,
                    1,
                    started.elapsed(),
                    (usage.prompt_tokens, usage.completion_tokens),
                    *cost,
                ),
                Err(e) => inner.metrics.error(name, e),
            }
            answer.map(|(verdict, _, cost_usd)| Reviewed { verdict, model: inner.backend.model.clone(), cost_usd })
        })
    }
}

impl Inner {
    async fn ask(&self, prompt: &str) -> Result<(Verdict, Usage, f64), ModelError> {
        let mut usage = Usage::default();
        let mut messages = vec![json!({"role": "user", "content": prompt})];
        for attempt in 0..2 {
            let (text, used) = match self.backend.kind {
                BackendKind::Openai => self.chat_completion(&messages).await?,
                BackendKind::Anthropic => self.anthropic_message(&messages).await?,
            };
            usage.add(Some(&used));
            match parse_verdict(&text) {
                Ok(verdict) => return Ok((verdict, usage, self.backend.cost(&usage))),
                Err(e) if attempt == 0 => {
                    messages.push(json!({"role": "assistant", "content": text}));
                    messages.push(json!({"role": "user", "content": format!(
                        "That was not valid ({e}). Reply with only the JSON object: approve, size_factor, reason.")}));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ModelError::Malformed("no valid verdict after a retry".into()))
    }

    async fn chat_completion(&self, messages: &[Value]) -> Result<(String, Value), ModelError> {
        let body = json!({
            "model": self.backend.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.backend.temperature,
            "response_format": {"type": "json_schema", "json_schema": {"name": "verdict", "strict": true, "schema": verdict_schema()}},
        });
        let url = format!("{}/chat/completions", self.backend.base_url.trim_end_matches('/'));
        let headers = self.api_key.iter().map(|k| ("authorization", format!("Bearer {k}"))).collect();
        let answer = http::post_json(&self.client, &url, headers, &body, &self.backend.retry()).await?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| ModelError::Malformed("no choices[0].message.content".into()))?
            .to_owned();
        Ok((text, answer["usage"].clone()))
    }

    /// Anthropic's Messages API: `x-api-key` and `anthropic-version` headers, the text in
    /// `content[]` blocks of type `text`, token counts in `usage.input_tokens/output_tokens`.
    async fn anthropic_message(&self, messages: &[Value]) -> Result<(String, Value), ModelError> {
        let body = json!({
            "model": self.backend.model,
            "max_tokens": self.max_tokens,
            "temperature": self.backend.temperature,
            "system": "You review trading decisions and answer with one JSON object only.",
            "messages": messages,
        });
        let url = format!("{}/v1/messages", self.backend.base_url.trim_end_matches('/'));
        let mut headers = vec![("anthropic-version", ANTHROPIC_VERSION.to_owned())];
        headers.extend(self.api_key.iter().map(|k| ("x-api-key", k.clone())));
        let answer = http::post_json(&self.client, &url, headers, &body, &self.backend.retry()).await?;
        if answer["type"] == "error" {
            return Err(ModelError::Malformed(format!("error body with status 200: {}", answer["error"])));
        }
        let text: String = answer["content"]
            .as_array()
            .ok_or_else(|| ModelError::Malformed("no content array".into()))?
            .iter()
            .filter(|block| block["type"] == "text")
            .filter_map(|block| block["text"].as_str())
            .collect();
        Ok((text, answer["usage"].clone()))
    }
}

pub fn verdict_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "approve": {"type": "boolean"},
            "size_factor": {"type": "number", "minimum": 0, "maximum": 1},
            // Bounded: a small model otherwise fills the token limit inside the string.
            "reason": {"type": "string", "maxLength": 160},
        },
        "required": ["approve", "size_factor", "reason"],
        "additionalProperties": false,
    })
}

/// Reads a verdict; the first `{` to the last `}` is taken, so prose around it is tolerated.
pub fn parse_verdict(text: &str) -> Result<Verdict, ModelError> {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err(ModelError::Malformed("no JSON object in the answer".into()));
    };
    let object: Value = serde_json::from_str(text.get(start..=end).unwrap_or_default())
        .map_err(|e| ModelError::Malformed(format!("not a JSON object: {e}")))?;
    let approve = object["approve"].as_bool().ok_or_else(|| ModelError::Malformed("no boolean \"approve\"".into()))?;
    let size_factor = object["size_factor"]
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| ModelError::Malformed("no numeric \"size_factor\"".into()))?
        .clamp(0.0, 1.0);
    let reason: String = object["reason"].as_str().unwrap_or_default().chars().take(500).collect();
    Ok(Verdict { approve, size_factor, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse_with_prose_around_and_clamp() {
        let v = parse_verdict("Sure: {\"approve\": true, \"size_factor\": 1.7, \"reason\": \"ok\"} done").unwrap();
        assert_eq!(v, Verdict { approve: true, size_factor: 1.0, reason: "ok".into() });
        assert!(parse_verdict("{\"approve\": \"yes\"}").unwrap_err().to_string().contains("approve"));
        assert!(parse_verdict("no").is_err());
    }

    #[test]
    fn worst_case_cost_bounds_the_real_cost() {
        let backend = BackendConfig {
            name: "s".into(),
            base_url: "http://127.0.0.1:1".into(),
            model: "m".into(),
            price_input_per_mtok: 3.0,
            price_output_per_mtok: 15.0,
            ..BackendConfig::default()
        };
        let s = Strategist::new(backend.clone(), 200, Arc::default()).unwrap();
        let prompt = "x".repeat(4000);
        let real = backend.cost(&Usage { prompt_tokens: 1000, completion_tokens: 200 });
        assert!(s.worst_case_cost(&prompt) >= real, "{} < {real}", s.worst_case_cost(&prompt));
    }
}
