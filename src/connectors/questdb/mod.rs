//! QuestDB: the sink that writes every stream over ILP (HTTP or TCP), and the SQL client for
//! its REST `/exec` endpoint.

mod ilp;
mod sink;
pub mod sql;

pub use ilp::{TableLayout, table_name};
pub use sink::{QuestDbSink, QuestDbStats};

use serde::Deserialize;

/// The environment variable that holds the client configuration when `conf` is empty, as in
/// QuestDB's own clients.
pub const CONF_ENV: &str = "QDB_CLIENT_CONF";

/// `[output.questdb]`: where and how the sink writes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuestDbConfig {
    /// A QuestDB client configuration string, e.g.
    /// `http::addr=127.0.0.1:9000;protocol_version=1;`. Empty: read from `QDB_CLIENT_CONF`.
    /// It may hold credentials: it is never logged.
    pub conf: String,
    /// Flush when this many rows are buffered.
    pub flush_rows: usize,
    /// Flush buffered rows at least this often (wall clock).
    pub flush_interval_ms: u64,
    /// At most this many rows buffered per table and worker: past it the sources stop.
    pub max_buffered_rows: usize,
    /// First wait after a failed flush; doubled after each failure up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// A table whose rows have not gone through for this long fails the job; the rows are
    /// saved to `questdb_undelivered/` in the output folder first.
    pub give_up_after_s: f64,
    /// Prepended to every table name.
    pub table_prefix: String,
    /// The streams to write (empty: all of them).
    pub streams: Vec<String>,
}

impl Default for QuestDbConfig {
    fn default() -> Self {
        QuestDbConfig {
            conf: String::new(),
            flush_rows: 10_000,
            flush_interval_ms: 1_000,
            max_buffered_rows: 200_000,
            retry_initial_ms: 100,
            retry_max_ms: 5_000,
            give_up_after_s: 300.0,
            table_prefix: String::new(),
            streams: Vec::new(),
        }
    }
}

impl QuestDbConfig {
    /// The configuration string, from the config or the environment.
    pub fn client_conf(&self) -> Result<String, String> {
        if !self.conf.trim().is_empty() {
            return Ok(self.conf.clone());
        }
        std::env::var(CONF_ENV).map_err(|_| {
            format!("output.questdb.conf is empty and {CONF_ENV} is not set: name the server, e.g. conf = \"http::addr=127.0.0.1:9000;protocol_version=1;\"")
        })
    }

    /// The configuration string the sink connects with: the sink retries by itself, so the
    /// client's own retries (which block the worker) are off unless the config sets them.
    pub fn sender_conf(&self) -> Result<String, String> {
        let mut conf = self.client_conf()?;
        if conf.starts_with("http") && !conf.contains("retry_timeout=") {
            if !conf.ends_with(';') {
                conf.push(';');
            }
            conf.push_str("retry_timeout=0;");
        }
        Ok(conf)
    }

    /// Does this config write `stream`?
    pub fn writes(&self, stream: &str) -> bool {
        self.streams.is_empty() || self.streams.iter().any(|s| s == stream)
    }

    pub fn validate(&self, streams: &[&str]) -> Result<(), String> {
        let conf = self.client_conf()?;
        let scheme = conf.split("::").next().unwrap_or_default();
        if !["http", "https", "tcp", "tcps"].contains(&scheme) {
            return Err(format!(
                "output.questdb.conf must start with http::, https::, tcp:: or tcps::, got `{scheme}::`"
            ));
        }
        match conf.split(';').find_map(|kv| kv.trim().strip_prefix("protocol_version=")) {
            Some("1" | "2") => {}
            Some(other) => {
                return Err(format!("output.questdb.conf: protocol_version={other} is not 1 or 2"));
            }
            None => return Err("output.questdb.conf must set protocol_version explicitly (1 for ILP text, 2 for binary doubles; 1 for servers other than QuestDB)".into()),
        }
        questdb::ingress::SenderBuilder::from_conf(self.sender_conf()?)
            .map_err(|e| format!("output.questdb.conf: {}", e.msg()))?;
        if self.flush_rows == 0 {
            return Err("output.questdb.flush_rows must be at least 1".into());
        }
        if self.max_buffered_rows < self.flush_rows {
            return Err(format!(
                "output.questdb.max_buffered_rows ({}) must be at least flush_rows ({})",
                self.max_buffered_rows, self.flush_rows
            ));
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err("output.questdb.retry_initial_ms must be at least 1 and at most retry_max_ms".into());
        }
        crate::config::within("output.questdb.give_up_after_s", self.give_up_after_s, 7.0 * 86_400.0)?;
        if !self.table_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "output.questdb.table_prefix = \"{}\" may hold only letters, digits and _",
                self.table_prefix
            ));
        }
        if let Some(bad) = self.streams.iter().find(|s| !streams.contains(&s.as_str())) {
            return Err(format!("output.questdb.streams: `{bad}` is not a stream (streams: {})", streams.join(", ")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(conf: &str) -> QuestDbConfig {
        QuestDbConfig { conf: conf.into(), ..QuestDbConfig::default() }
    }

    fn refused(c: &QuestDbConfig) -> String {
        c.validate(&["ticks", "bars_1m"]).unwrap_err()
    }

    #[test]
    fn configs_are_checked_before_anything_starts() {
        assert!(config("http::addr=localhost:9000;protocol_version=2;").validate(&["ticks"]).is_ok());
        assert!(refused(&config("http::addr=localhost:9000;")).contains("protocol_version explicitly"));
        assert!(refused(&config("udp::addr=localhost:9000;protocol_version=1;")).contains("must start with http::"));
        assert!(refused(&config("http::addr=localhost:9000;protocol_version=auto;")).contains("is not 1 or 2"));
        let bad_timeout = refused(&config("http::addr=localhost:9000;protocol_version=1;request_timeout=soon;"));
        assert!(bad_timeout.starts_with("output.questdb.conf: "), "{bad_timeout}");
        let mut small = config("tcp::addr=localhost:9009;protocol_version=1;");
        small.max_buffered_rows = 10;
        assert!(refused(&small).contains("max_buffered_rows (10) must be at least flush_rows"));
        let mut streams = config("tcp::addr=localhost:9009;protocol_version=1;");
        streams.streams = vec!["bars_5m".into()];
        assert!(refused(&streams).contains("`bars_5m` is not a stream"));
    }

    #[test]
    fn the_client_does_not_retry_inside_the_worker_unless_told_to() {
        let c = config("http::addr=localhost:9000;protocol_version=1");
        assert_eq!(c.sender_conf().unwrap(), "http::addr=localhost:9000;protocol_version=1;retry_timeout=0;");
        let c = config("http::addr=localhost:9000;protocol_version=1;retry_timeout=500;");
        assert_eq!(c.sender_conf().unwrap(), "http::addr=localhost:9000;protocol_version=1;retry_timeout=500;");
    }
}
