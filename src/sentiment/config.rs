//! The `[sentiment]` section: which backend scores the news, the model servers it may call,
//! how calls are routed, and the strategist's budget.

use std::time::Duration;

use serde::Deserialize;

use super::http::{Retry, Usage};
use super::openai::DEFAULT_PROMPT;
use super::strategist::StrategistConfig;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentSection {
    /// `lexicon` (built in), the name of one of `backends`, or `router`.
    #[serde(alias = "model")]
    pub backend: String,
    /// Repeats of a news id within this many seconds are dropped.
    pub dedupe_window_s: f64,
    /// The same story (headline words and symbols) from another source within this many
    /// seconds is dropped.
    pub story_window_s: f64,
    /// Answers kept per worker, keyed by model and content.
    pub cache_size: usize,
    /// Calls to the model outstanding at once per worker; further news waits.
    pub max_in_flight: usize,
    /// How long a call may take, retries included, before the lexicon answers instead.
    pub timeout_ms: f64,
    pub backends: Vec<BackendConfig>,
    pub router: Option<RouterConfig>,
    pub strategist: Option<StrategistConfig>,
}

impl Default for SentimentSection {
    fn default() -> Self {
        SentimentSection {
            backend: "lexicon".into(),
            dedupe_window_s: 86_400.0,
            story_window_s: 300.0,
            cache_size: 10_000,
            max_in_flight: 4,
            timeout_ms: 60_000.0,
            backends: Vec::new(),
            router: None,
            strategist: None,
        }
    }
}

/// The wire protocol of a backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// OpenAI-compatible chat completions (`POST {base_url}/chat/completions`).
    #[default]
    Openai,
    /// Anthropic's Messages API (`POST {base_url}/v1/messages`); strategist only.
    Anthropic,
}

/// How the answer's shape is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `response_format: {type: json_schema}` with the schema of the expected keys.
    #[default]
    JsonSchema,
    /// `response_format: {type: json_object}`; the keys are checked by the parser.
    JsonObject,
    /// No constraint: the parser checks, with one corrective retry.
    None,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub name: String,
    pub kind: BackendKind,
    /// For example `http://127.0.0.1:8080/v1` (llama-server), `http://127.0.0.1:11434/v1`
    /// (Ollama), `https://api.anthropic.com` (Anthropic).
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key, if the server wants one.
    pub api_key_env: Option<String>,
    /// The instructions; `{articles}` and `{keys}` are filled in per request.
    pub prompt: String,
    /// Articles per request.
    pub batch: usize,
    /// Requests at once to this backend, across the process's workers.
    pub concurrency: usize,
    /// Completion tokens allowed per request; by default 32 plus 48 per (article, ticker)
    /// (a pretty-printed verdict takes about 40).
    pub max_tokens: Option<u32>,
    pub temperature: f64,
    pub response_format: ResponseFormat,
    pub retries: u32,
    pub retry_initial_ms: f64,
    pub retry_max_ms: f64,
    /// One HTTP request's limit.
    pub timeout_ms: f64,
    /// Body text beyond this many characters is not sent.
    pub max_body_chars: usize,
    /// USD per million prompt (input) tokens.
    pub price_input_per_mtok: f64,
    /// USD per million completion (output) tokens.
    pub price_output_per_mtok: f64,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            name: String::new(),
            kind: BackendKind::Openai,
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            prompt: DEFAULT_PROMPT.into(),
            batch: 4,
            concurrency: 4,
            max_tokens: None,
            temperature: 0.0,
            response_format: ResponseFormat::JsonSchema,
            retries: 2,
            retry_initial_ms: 200.0,
            retry_max_ms: 5_000.0,
            timeout_ms: 20_000.0,
            max_body_chars: 600,
            price_input_per_mtok: 0.0,
            price_output_per_mtok: 0.0,
        }
    }
}

impl BackendConfig {
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.name.is_empty() || matches!(self.name.as_str(), "lexicon" | "router") {
            return Err(format!("{at}.name must be set and not \"lexicon\" or \"router\", got {:?}", self.name));
        }
        let at = format!("{at} ({})", self.name);
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!("{at}.base_url must start with http:// or https://, got {:?}", self.base_url));
        }
        if self.model.is_empty() {
            return Err(format!("{at}.model must be set"));
        }
        if self.kind == BackendKind::Openai && !(self.prompt.contains("{articles}") && self.prompt.contains("{keys}")) {
            return Err(format!("{at}.prompt must contain {{articles}} and {{keys}}"));
        }
        if !(1..=64).contains(&self.batch) {
            return Err(format!("{at}.batch must be 1 to 64, got {}", self.batch));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(format!("{at}.concurrency must be 1 to 256, got {}", self.concurrency));
        }
        if self.max_tokens == Some(0) {
            return Err(format!("{at}.max_tokens must be at least 1"));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(format!("{at}.temperature must be 0 to 2, got {}", self.temperature));
        }
        for (key, v) in [
            ("retry_initial_ms", self.retry_initial_ms),
            ("retry_max_ms", self.retry_max_ms),
            ("timeout_ms", self.timeout_ms),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 3_600_000.0) {
                return Err(format!("{at}.{key} must be above 0 and at most one hour, got {v}"));
            }
        }
        for (key, v) in
            [("price_input_per_mtok", self.price_input_per_mtok), ("price_output_per_mtok", self.price_output_per_mtok)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{at}.{key} must be 0 or more, got {v}"));
            }
        }
        self.api_key().map_err(|e| format!("{at}: {e}"))?;
        Ok(())
    }

    /// The API key from the named environment variable; an unset variable is an error.
    pub fn api_key(&self) -> Result<Option<String>, String> {
        match &self.api_key_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Ok(Some(key)),
                _ => Err(format!("api_key_env names {var}, which is not set")),
            },
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_ms / 1000.0)
    }

    pub fn retry(&self) -> Retry {
        Retry {
            retries: self.retries,
            initial: Duration::from_secs_f64(self.retry_initial_ms / 1000.0),
            max: Duration::from_secs_f64(self.retry_max_ms / 1000.0),
        }
    }

    pub fn max_tokens_for(&self, keys: usize) -> u32 {
        self.max_tokens.unwrap_or(32 + 48 * keys.min(1_000) as u32)
    }

    /// The USD cost of `usage` at this backend's prices.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.price_input_per_mtok
            + usage.completion_tokens as f64 * self.price_output_per_mtok)
            / 1e6
    }
}

/// Which backend answers which news, and when to ask the next one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Backends tried in this order (after a matching rule's); the lexicon ends every chain.
    pub order: Vec<String>,
    /// An answer below this confidence (for any of the article's tickers) goes to the next
    /// backend; the most confident answer wins if none reaches it.
    pub min_confidence: f64,
    pub rules: Vec<RouteRule>,
}

/// News from these sources goes to `backend` first.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Source names; a trailing `*` matches any suffix.
    pub sources: Vec<String>,
    pub backend: String,
}

impl RouteRule {
    pub fn matches(&self, source: &str) -> bool {
        self.sources.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => source.starts_with(prefix),
            None => source == pattern,
        })
    }
}

impl SentimentSection {
    /// Checks the section; a backend or router it names must exist.
    pub fn validate(&self) -> Result<(), String> {
        crate::config::within("sentiment.dedupe_window_s", self.dedupe_window_s, 30.0 * 86_400.0)?;
        crate::config::within("sentiment.story_window_s", self.story_window_s, 30.0 * 86_400.0)?;
        if !(1..=1024).contains(&self.max_in_flight) {
            return Err(format!("sentiment.max_in_flight must be 1 to 1024, got {}", self.max_in_flight));
        }
        if !(self.timeout_ms.is_finite() && self.timeout_ms > 0.0 && self.timeout_ms <= 3_600_000.0) {
            return Err(format!("sentiment.timeout_ms must be above 0 and at most one hour, got {}", self.timeout_ms));
        }
        for (i, b) in self.backends.iter().enumerate() {
            b.validate(&format!("sentiment.backends[{i}]"))?;
            if self.backends[..i].iter().any(|other| other.name == b.name) {
                return Err(format!("sentiment.backends[{i}]: the name {:?} is used twice", b.name));
            }
        }
        let news_backend = |name: &str, at: &str| -> Result<(), String> {
            match self.backends.iter().find(|b| b.name == name) {
                Some(b) if b.kind == BackendKind::Openai => Ok(()),
                Some(_) => {
                    Err(format!("{at}: backend {name:?} speaks the Anthropic API, which only the strategist uses"))
                }
                None => Err(format!("{at}: no backend is named {name:?} (known: {})", self.known())),
            }
        };
        match self.backend.as_str() {
            "lexicon" => {}
            "router" => {
                let router = self.router.as_ref().ok_or("sentiment.backend = \"router\" needs [sentiment.router]")?;
                if router.order.is_empty() && router.rules.is_empty() {
                    return Err("sentiment.router needs an order or rules".into());
                }
                for name in &router.order {
                    news_backend(name, "sentiment.router.order")?;
                }
                for (i, rule) in router.rules.iter().enumerate() {
                    news_backend(&rule.backend, &format!("sentiment.router.rules[{i}]"))?;
                    if rule.sources.is_empty() {
                        return Err(format!("sentiment.router.rules[{i}].sources must not be empty"));
                    }
                }
                if !(0.0..=1.0).contains(&router.min_confidence) {
                    return Err(format!(
                        "sentiment.router.min_confidence must be 0 to 1, got {}",
                        router.min_confidence
                    ));
                }
            }
            name => news_backend(name, "sentiment.backend")?,
        }
        if let Some(strategist) = &self.strategist {
            strategist.validate(&self.backends)?;
        }
        Ok(())
    }

    fn known(&self) -> String {
        let mut names = vec!["lexicon".to_string(), "router".to_string()];
        names.extend(self.backends.iter().map(|b| b.name.clone()));
        names.join(", ")
    }
}
