//! `tradeflow submit`, `jobs`, `stop`: the job server's client side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// The server address when `--server` is not given, and the token's environment variable.
pub const SERVER_ENV: &str = "TRADEFLOW_SERVER";
pub const TOKEN_ENV: &str = "TRADEFLOW_TOKEN";

/// A server and the token to reach it with.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(server: Option<&str>, token_file: Option<&PathBuf>) -> anyhow::Result<Self> {
        let base = server
            .map(str::to_owned)
            .or_else(|| std::env::var(SERVER_ENV).ok())
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let token = crate::server::load_token(token_file, TOKEN_ENV)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token, agent })
    }

    fn call(&self, method: &str, path: &str, body: Option<(&str, String)>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, Some((content_type, body))) => {
                self.agent.post(&url).header("Authorization", &auth).content_type(content_type).send(body)
            }
            (_, None) => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = response.with_context(|| format!("cannot reach the job server at {}", self.base))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().with_context(|| format!("reading the answer from {url}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let message =
                value.get("error").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| value.to_string());
            bail!("{method} {path}: HTTP {status}: {message}");
        }
        Ok(value)
    }

    pub fn submit(&self, config: &Path) -> anyhow::Result<String> {
        let body = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
        let content_type =
            if config.extension().is_some_and(|e| e == "json") { "application/json" } else { "application/toml" };
        let job = self.call("POST", "/jobs", Some((content_type, body)))?;
        Ok(format!("{}: submitted as {} ({})", config.display(), text(&job["id"]), text(&job["state"])))
    }

    pub fn jobs(&self) -> anyhow::Result<String> {
        let jobs = self.call("GET", "/jobs", None)?;
        let rows: Vec<[String; 6]> = jobs
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|j| {
                [
                    text(&j["id"]),
                    text(&j["name"]),
                    text(&j["state"]),
                    j["records_in"]["ticks"].as_u64().unwrap_or(0).to_string(),
                    j["records_out"]["orders"].as_u64().unwrap_or(0).to_string(),
                    text(&j["event_time"]),
                ]
            })
            .collect();
        let header = ["id", "name", "state", "ticks", "orders", "event time"].map(str::to_owned);
        let mut widths = header.clone().map(|h| h.len());
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        let line = |row: &[String; 6]| {
            row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
        };
        let mut out = vec![line(&header)];
        out.extend(rows.iter().map(line));
        if rows.is_empty() {
            out.push("(no jobs)".into());
        }
        Ok(out.join("\n"))
    }

    pub fn stop(&self, id: &str) -> anyhow::Result<String> {
        let job = self.call("POST", &format!("/jobs/{id}/stop"), None)?;
        Ok(format!("{}: {}", text(&job["id"]), text(&job["state"])))
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| if v.is_null() { String::new() } else { v.to_string() })
}
