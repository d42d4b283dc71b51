//! SQL against QuestDB's REST endpoint `/exec`: statements split from a file, results as a
//! table, CSV or JSON, errors with the position QuestDB reports.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A query's result: rows with named, typed columns, or the server's acknowledgement of a
/// statement that returns none (`ddl`/`dml`).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlResult {
    Rows { columns: Vec<(String, String)>, rows: Vec<Vec<Value>> },
    Done(String),
}

#[derive(Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Response {
    columns: Option<Vec<Column>>,
    dataset: Option<Vec<Vec<Value>>>,
    ddl: Option<String>,
    dml: Option<String>,
    error: Option<String>,
    position: Option<usize>,
}

/// A client for one server.
pub struct SqlClient {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

impl SqlClient {
    /// `base` is the server's HTTP address, e.g. `http://127.0.0.1:9000`; `auth` a full
    /// `Authorization` header value.
    pub fn new(base: &str, timeout: Duration, auth: Option<String>) -> Self {
        let agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        SqlClient { base: base.trim_end_matches('/').to_owned(), agent, auth }
    }

    /// Runs one statement.
    pub fn exec(&self, query: &str) -> Result<SqlResult, String> {
        let url = format!("{}/exec", self.base);
        let mut request = self.agent.get(&url).query("query", query);
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let mut response = request.call().map_err(|e| format!("cannot reach QuestDB at {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("reading QuestDB's answer from {url}: {e}"))?;
        let parsed: Response = serde_json::from_str(&body).map_err(|_| {
            let mut head = body.chars().take(200).collect::<String>();
            if head.is_empty() {
                head = "(empty body)".into();
            }
            format!("QuestDB at {url} answered HTTP {status} with something that is not its JSON: {head}")
        })?;
        if let Some(error) = parsed.error {
            return Err(match parsed.position {
                Some(at) => format!("QuestDB refused the query: {error}\n{}", point_at(query, at)),
                None => format!("QuestDB refused the query: {error}"),
            });
        }
        if !(200..300).contains(&status) {
            return Err(format!("QuestDB at {url} answered HTTP {status}"));
        }
        if let Some(done) = parsed.ddl.or(parsed.dml) {
            return Ok(SqlResult::Done(done));
        }
        let columns = parsed.columns.unwrap_or_default().into_iter().map(|c| (c.name, c.kind)).collect();
        Ok(SqlResult::Rows { columns, rows: parsed.dataset.unwrap_or_default() })
    }
}

/// The query's line holding byte `at`, with a caret under it.
fn point_at(query: &str, at: usize) -> String {
    let at = at.min(query.len());
    let start = query[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = query[at..].find('\n').map_or(query.len(), |i| at + i);
    let column = query[start..at].chars().count();
    format!("  {}\n  {}^", &query[start..end], " ".repeat(column))
}

/// Splits a SQL script into statements at `;`, ignoring those inside quotes and comments;
/// the comment lines before a statement are dropped, and blank statements with them.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                current.push(c);
                let mut last = ' ';
                for q in chars.by_ref() {
                    current.push(q);
                    if last == '*' && q == '/' {
                        break;
                    }
                    last = q;
                }
            }
            ';' => statements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements.into_iter().filter(|s| has_code(s)).map(|s| without_leading_comments(&s)).collect()
}

fn without_leading_comments(statement: &str) -> String {
    let mut rest = statement.trim_start();
    while rest.starts_with("--") {
        rest = rest.split_once('\n').map_or("", |(_, after)| after).trim_start();
    }
    rest.trim_end().to_owned()
}

/// Does a statement hold anything but whitespace and comments?
fn has_code(statement: &str) -> bool {
    statement.lines().map(|l| l.split("--").next().unwrap_or_default()).any(|l| {
        let l = l.trim();
        let comment = l.starts_with("/*") && l.ends_with("*/");
        !l.is_empty() && !comment
    })
}

/// A cell as text: strings bare, null empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows as an aligned text table with a header and a row count.
pub fn render_table(columns: &[(String, String)], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let mut widths: Vec<usize> = columns.iter().map(|(n, _)| n.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = columns
        .iter()
        .map(|(_, t)| ["INT", "LONG", "DOUBLE", "FLOAT", "SHORT", "BYTE"].contains(&t.as_str()))
        .collect();
    let line = |values: Vec<&str>| -> String {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) { format!("{v:>w$}") } else { format!("{v:<w$}") }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = line(columns.iter().map(|(n, _)| n.as_str()).collect());
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out.push_str(&format!("({} row{})\n", rows.len(), if rows.len() == 1 { "" } else { "s" }));
    out
}

/// Rows as CSV with a header.
pub fn render_csv(columns: &[(String, String)], rows: &[Vec<Value>]) -> Result<String, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let error = |e: csv::Error| format!("writing CSV: {e}");
    writer.write_record(columns.iter().map(|(n, _)| n)).map_err(error)?;
    for row in rows {
        writer.write_record(row.iter().map(cell)).map_err(error)?;
    }
    let bytes = writer.into_inner().map_err(|e| format!("writing CSV: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("writing CSV: {e}"))
}

/// Rows as JSON lines, one object per row.
pub fn render_json(columns: &[(String, String)], rows: &[Vec<Value>]) -> String {
    let mut out = String::new();
    for row in rows {
        let object: serde_json::Map<String, Value> =
            columns.iter().map(|(n, _)| n.clone()).zip(row.iter().cloned()).collect();
        out.push_str(&Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_at_semicolons_outside_quotes_and_comments() {
        let script =
            "-- a comment; still a comment\nSELECT ';' FROM t;\n/* x; y */ SELECT \"a;b\" FROM u;\n\n-- trailing\n";
        assert_eq!(split_statements(script), ["SELECT ';' FROM t", "/* x; y */ SELECT \"a;b\" FROM u"]);
    }

    #[test]
    fn errors_point_at_the_position() {
        assert_eq!(point_at("SELECT *\nFROM nope", 14), "  FROM nope\n       ^");
    }

    #[test]
    fn tables_align_numbers_right() {
        let columns = vec![("symbol".to_owned(), "SYMBOL".to_owned()), ("px".to_owned(), "DOUBLE".to_owned())];
        let rows = vec![vec![Value::from("AAPL"), Value::from(101.5)], vec![Value::from("MS"), Value::Null]];
        assert_eq!(render_table(&columns, &rows), "symbol     px\n------  -----\nAAPL    101.5\nMS\n(2 rows)\n");
        assert_eq!(render_csv(&columns, &rows).unwrap(), "symbol,px\nAAPL,101.5\nMS,\n");
        assert_eq!(render_json(&columns, &rows[..1]), "{\"px\":101.5,\"symbol\":\"AAPL\"}\n");
    }
}
