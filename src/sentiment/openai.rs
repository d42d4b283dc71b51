//! The `openai` backend: any OpenAI-compatible chat-completions server (llama.cpp's
//! `llama-server`, Ollama, vLLM, OpenAI itself).
//!
//! Several articles go in one request. The answer is constrained by a JSON schema built for
//! the request (one required key per article and ticker, so a server that enforces schemas
//! cannot leave one out); servers without schema support get `json_object` or nothing, and a
//! strict parser with one corrective retry. Schemas do not enforce numeric ranges everywhere,
//! so every number is validated and clamped here.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use tradeflow_operators::call::BoxFuture;
use tradeflow_operators::sentiment::lexicon::Scored;
use tradeflow_operators::sentiment::{Article, ArticleScore, ModelError, ModelMetrics, SentimentModel};

use super::config::{BackendConfig, ResponseFormat};
use super::http::{self, Usage};

/// The default instructions; `{keys}` and `{articles}` are filled in per request.
pub const DEFAULT_PROMPT: &str = "You are a financial news analyst. Judge how each article affects the \
stock price of the ticker named in each key.\n\n{articles}\n\nAnswer with one JSON object with exactly \
these keys: {keys}. Each value is an object with \"sentiment\" (\"positive\", \"negative\" or \
\"neutral\" for that ticker's stock price), \"strength\" (0 to 100) and \"confidence\" (0 to 100).";

/// A chat-completions client scoring batches of articles.
pub struct OpenAiModel {
    inner: Arc<Inner>,
}

struct Inner {
    config: BackendConfig,
    client: reqwest::Client,
    api_key: Option<String>,
    slots: Semaphore,
    metrics: Arc<ModelMetrics>,
}

impl OpenAiModel {
    /// `config` must have been validated.
    pub fn new(config: BackendConfig, metrics: Arc<ModelMetrics>) -> Result<Self, String> {
        let client = http::client(config.timeout())?;
        let api_key = config.api_key()?;
        let slots = Semaphore::new(config.concurrency.max(1));
        Ok(OpenAiModel { inner: Arc::new(Inner { config, client, api_key, slots, metrics }) })
    }
}

impl SentimentModel for OpenAiModel {
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    fn max_batch(&self) -> usize {
        self.inner.config.batch.max(1)
    }

    fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let Ok(_slot) = inner.slots.acquire().await else {
                return Err(ModelError::Transport("the backend is shutting down".into()));
            };
            let started = Instant::now();
            let result = inner.score(&articles).await;
            match &result {
                Ok((_, usage, cost)) => inner.metrics.call(
                    &inner.config.name,
                    articles.len(),
                    started.elapsed(),
                    (usage.prompt_tokens, usage.completion_tokens),
                    *cost,
                ),
                Err(e) => inner.metrics.error(&inner.config.name, e),
            }
            result.map(|(scores, _, _)| scores)
        })
    }
}

/// The key the answer must carry for `ticker` of article number `index` (from 1).
pub fn answer_key(index: usize, ticker: &str) -> String {
    format!("a{index}_{ticker}")
}

impl Inner {
    async fn score(&self, articles: &[Article]) -> Result<(Vec<ArticleScore>, Usage, f64), ModelError> {
        let keys: Vec<String> = articles
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.tickers.iter().map(move |t| answer_key(i + 1, t)))
            .collect();
        let mut messages = vec![json!({"role": "user", "content": self.prompt(articles, &keys)})];
        let mut usage = Usage::default();
        // One corrective retry when the answer does not parse: the model sees its mistake.
        for attempt in 0..2 {
            let body = self.request_body(&messages, &keys);
            let answer =
                http::post_json(&self.client, &self.url(), self.headers(), &body, &self.config.retry()).await?;
            let reply: ChatReply = serde_json::from_value(answer)
                .map_err(|e| ModelError::Malformed(format!("not a chat completion: {e}")))?;
            usage.add(reply.usage.as_ref());
            let content = reply.choices.into_iter().next().map(|c| c.message.content.unwrap_or_default());
            let content = content.ok_or_else(|| ModelError::Malformed("no choices in the answer".into()))?;
            match parse_answer(&content, articles, &self.config.name) {
                Ok(mut scores) => {
                    let cost = self.config.cost(&usage);
                    let share = cost / scores.len().max(1) as f64;
                    scores.iter_mut().for_each(|s| s.cost_usd = share);
                    return Ok((scores, usage, cost));
                }
                Err(e) if attempt == 0 => {
                    messages.push(json!({"role": "assistant", "content": content}));
                    messages.push(json!({"role": "user", "content": format!(
                        "That answer was not valid ({e}). Reply with only the JSON object, with exactly the keys {}.",
                        keys.join(", "))}));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ModelError::Malformed("no valid answer after a retry".into()))
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'))
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.api_key.iter().map(|k| ("authorization", format!("Bearer {k}"))).collect()
    }

    fn prompt(&self, articles: &[Article], keys: &[String]) -> String {
        let mut listed = String::new();
        for (i, a) in articles.iter().enumerate() {
            let body: String = a.body.chars().take(self.config.max_body_chars).collect();
            listed.push_str(&format!("[a{}] {} ({}): {}", i + 1, a.headline, a.source, body));
            listed.push('\n');
        }
        self.config.prompt.replace("{articles}", listed.trim_end()).replace("{keys}", &keys.join(", "))
    }

    fn request_body(&self, messages: &[Value], keys: &[String]) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens_for(keys.len()),
        });
        match self.config.response_format {
            ResponseFormat::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": "sentiment", "strict": true, "schema": answer_schema(keys)},
                });
            }
            ResponseFormat::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            ResponseFormat::None => {}
        }
        body
    }
}

/// The schema of an answer: every key required, nothing else allowed.
pub fn answer_schema(keys: &[String]) -> Value {
    let verdict = json!({
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
            "strength": {"type": "integer", "minimum": 0, "maximum": 100},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "required": ["sentiment", "strength", "confidence"],
        "additionalProperties": false,
    });
    let properties: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), verdict.clone())).collect();
    json!({"type": "object", "properties": properties, "required": keys, "additionalProperties": false})
}

/// Reads a model's answer: a JSON object (a Markdown fence around it is tolerated) with one
/// verdict per article and ticker. Anything missing or out of vocabulary is an error naming it.
pub fn parse_answer(content: &str, articles: &[Article], model: &str) -> Result<Vec<ArticleScore>, ModelError> {
    let text = content.trim();
    let text = text.strip_prefix("```json").or_else(|| text.strip_prefix("```")).unwrap_or(text);
    let text = text.strip_suffix("```").unwrap_or(text).trim();
    let object: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| ModelError::Malformed(format!("not a JSON object: {e}")))?;
    articles
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let per_ticker = a
                .tickers
                .iter()
                .map(|t| {
                    let key = answer_key(i + 1, t);
                    let verdict =
                        object.get(&key).ok_or_else(|| ModelError::Malformed(format!("key {key} missing")))?;
                    verdict_score(verdict).map_err(|e| ModelError::Malformed(format!("{key}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ArticleScore { model: model.to_owned(), per_ticker, cost_usd: 0.0 })
        })
        .collect()
}

fn verdict_score(verdict: &Value) -> Result<Scored, String> {
    let label = verdict.get("sentiment").and_then(Value::as_str).ok_or("no \"sentiment\" string")?;
    let sign = match label.trim().to_ascii_lowercase().as_str() {
        "positive" => 1.0,
        "negative" => -1.0,
        "neutral" => 0.0,
        other => return Err(format!("sentiment {other:?} is not positive, negative or neutral")),
    };
    let percent = |field: &str| -> Result<f64, String> {
        let v = verdict.get(field).and_then(Value::as_f64).ok_or_else(|| format!("no numeric \"{field}\""))?;
        if !v.is_finite() {
            return Err(format!("{field} is not finite"));
        }
        Ok(v.clamp(0.0, 100.0) / 100.0)
    };
    Ok(Scored { score: sign * percent("strength")?, confidence: percent("confidence")? })
}

#[derive(Deserialize)]
struct ChatReply {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(tickers: &[&str]) -> Article {
        Article {
            id: "x".into(),
            ts: 0,
            source: "w".into(),
            headline: "h".into(),
            body: String::new(),
            tickers: tickers.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn parses_every_key_and_clamps_numbers() {
        let articles = [article(&["ACME", "BETA"]), article(&["ACME"])];
        let answer = r#"```json
        {"a1_ACME": {"sentiment": "Positive", "strength": 80, "confidence": 140},
         "a1_BETA": {"sentiment": "negative", "strength": 30.5, "confidence": 60},
         "a2_ACME": {"sentiment": "neutral", "strength": 90, "confidence": -5}}
        ```"#;
        let scores = parse_answer(answer, &articles, "m").unwrap();
        assert_eq!(
            scores[0].per_ticker,
            vec![Scored { score: 0.8, confidence: 1.0 }, Scored { score: -0.305, confidence: 0.6 }]
        );
        assert_eq!(scores[1].per_ticker, vec![Scored { score: 0.0, confidence: 0.0 }]);
    }

    #[test]
    fn a_missing_key_or_unknown_label_is_named() {
        let articles = [article(&["ACME"])];
        let missing = parse_answer("{}", &articles, "m").unwrap_err();
        assert_eq!(missing, ModelError::Malformed("key a1_ACME missing".into()));
        let odd =
            parse_answer(r#"{"a1_ACME": {"sentiment": "bullish", "strength": 1, "confidence": 1}}"#, &articles, "m");
        assert!(odd.unwrap_err().to_string().contains("a1_ACME: sentiment \"bullish\""));
        assert!(parse_answer("positive!", &articles, "m").unwrap_err().to_string().contains("not a JSON object"));
    }

    #[test]
    fn schema_requires_exactly_the_keys() {
        let schema = answer_schema(&["a1_X".into(), "a2_Y".into()]);
        assert_eq!(schema["required"], json!(["a1_X", "a2_Y"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["a2_Y"]["properties"]["sentiment"]["enum"][1], json!("negative"));
    }
}
