//! `tradeflow sql` and `tradeflow questdb init`: SQL over QuestDB's REST endpoint.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::connectors::questdb::sql::{SqlClient, SqlResult, render_csv, render_json, render_table, split_statements};

/// The server's HTTP address when `--url` is not given.
pub const URL_ENV: &str = "QDB_HTTP_URL";
/// Credentials for the REST endpoint: `user:password` (basic) or a bearer token.
pub const BASIC_ENV: &str = "QDB_HTTP_BASIC";
pub const TOKEN_ENV: &str = "QDB_HTTP_TOKEN";

/// How `sql` prints rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("--format {other}: expected table, csv or json")),
        }
    }
}

/// A client for `url` (or `QDB_HTTP_URL`, or the default port on loopback), with credentials
/// from the environment; they are never printed.
pub fn client(url: Option<&str>) -> SqlClient {
    let base = url.map(str::to_owned).or_else(|| std::env::var(URL_ENV).ok());
    let auth = match (std::env::var(BASIC_ENV), std::env::var(TOKEN_ENV)) {
        (Ok(basic), _) => Some(format!("Basic {}", BASE64.encode(basic.trim().as_bytes()))),
        (_, Ok(token)) => Some(format!("Bearer {}", token.trim())),
        _ => None,
    };
    SqlClient::new(base.as_deref().unwrap_or("http://127.0.0.1:9000"), Duration::from_secs(60), auth)
}

/// Runs `query`, or every statement of `file`, and returns what to print. The first failing
/// statement stops the script; the error names it by number and line.
pub fn sql(client: &SqlClient, query: Option<&str>, file: Option<&Path>, format: Format) -> anyhow::Result<String> {
    let (script, origin) = match (query, file) {
        (Some(q), None) => (q.to_owned(), "the query".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        _ => bail!("give a query or --file FILE (not both)"),
    };
    let statements = split_statements(&script);
    if statements.is_empty() {
        bail!("{origin} holds no SQL statement");
    }
    let mut out = String::new();
    for (i, statement) in statements.iter().enumerate() {
        let result = client.exec(statement).map_err(|e| {
            let line = script.find(statement.as_str()).map_or(0, |at| script[..at].lines().count() + 1);
            anyhow::anyhow!("statement {} of {origin} (line {line}): {e}", i + 1)
        })?;
        if statements.len() > 1 && format == Format::Table {
            out.push_str(&format!("-- statement {}\n", i + 1));
        }
        match result {
            SqlResult::Done(what) => out.push_str(&format!("{what}\n")),
            SqlResult::Rows { columns, rows } => out.push_str(&match format {
                Format::Table => render_table(&columns, &rows),
                Format::Csv => render_csv(&columns, &rows).map_err(anyhow::Error::msg)?,
                Format::Json => render_json(&columns, &rows),
            }),
        }
    }
    Ok(out.trim_end().to_owned())
}

/// Applies the schema file: every statement, in order (they are idempotent: `IF NOT EXISTS`).
pub fn init(client: &SqlClient, schema: &Path) -> anyhow::Result<String> {
    let script = std::fs::read_to_string(schema).with_context(|| format!("reading {}", schema.display()))?;
    let statements = split_statements(&script);
    for (i, statement) in statements.iter().enumerate() {
        client.exec(statement).map_err(|e| anyhow::anyhow!("{} statement {}: {e}", schema.display(), i + 1))?;
    }
    Ok(format!("{}: {} statements applied", schema.display(), statements.len()))
}
