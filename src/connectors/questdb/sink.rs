//! The QuestDB sink: one sender and one buffer per stream and worker, flushed on a row count
//! or a timer, retried with backoff by the sink itself, bounded (past the bound it stops the
//! sources), and durable up to the frontier of its last complete flush.

use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use questdb::ErrorCode;
use questdb::ingress::{Buffer, ProtocolVersion, Sender};
use tradeflow_operators::sink::RecordSink;

use super::QuestDbConfig;
use super::ilp::TableLayout;
use crate::connectors::arrow_rows::{ArrowRecord, RowContext};

/// Counters a QuestDB sink shares with the job.
#[derive(Debug)]
pub struct QuestDbStats {
    /// Rows the server acknowledged (HTTP) or that were written to the socket (TCP).
    pub rows: AtomicU64,
    /// Rows the server refused, saved with its reason under `questdb_rejects/`.
    pub rejected: AtomicU64,
    /// Flushes that failed and were retried.
    pub retries: AtomicU64,
    /// Time per successful send.
    pub flush_seconds: prometheus::Histogram,
}

impl Default for QuestDbStats {
    fn default() -> Self {
        QuestDbStats {
            rows: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            flush_seconds: crate::job::latency_histogram(
                "tradeflow_questdb_flush_seconds",
                "Time per successful send of buffered rows to QuestDB.",
            ),
        }
    }
}

/// What to do after a failed flush.
enum Failure {
    /// The server refused one row (its 1-based line in the request): set it aside, send the rest.
    Rejected { line: usize, reason: String },
    /// The server is down, slow or failing: wait and send the same rows again.
    Retry(String),
    /// Nothing will make this work (authentication, no ILP endpoint, a bad name).
    Fatal(String),
}

fn classify(e: &questdb::Error) -> Failure {
    let msg = e.msg().to_owned();
    match e.code() {
        ErrorCode::ServerFlushError => match line_of(&msg) {
            Some(line) => Failure::Rejected { line, reason: msg },
            // A 5xx, or an error the server did not tie to a row.
            None => Failure::Retry(msg),
        },
        ErrorCode::SocketError | ErrorCode::CouldNotResolveAddr | ErrorCode::ConnectTimeout | ErrorCode::TlsError => {
            Failure::Retry(msg)
        }
        _ => Failure::Fatal(msg),
    }
}

/// The `line: N` the client reports from QuestDB's JSON error body.
fn line_of(msg: &str) -> Option<usize> {
    let at = msg.rfind("line: ")?;
    let digits: String = msg[at + 6..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| *n > 0)
}

fn protocol_version(conf: &str) -> ProtocolVersion {
    match conf.split(';').find_map(|kv| kv.trim().strip_prefix("protocol_version=")) {
        Some("2") => ProtocolVersion::V2,
        _ => ProtocolVersion::V1,
    }
}

/// Writes one stream to one QuestDB table from one worker.
pub struct QuestDbSink<R> {
    conf: String,
    config: Arc<QuestDbConfig>,
    layout: TableLayout,
    ctx: RowContext,
    sender: Option<Sender>,
    buffer: Buffer,
    /// The batches in `buffer`, kept to rebuild it without a row the server refused.
    pending: Vec<RecordBatch>,
    row_ends: Vec<usize>,
    /// The input frontier at the last `flush` call: everything before it is in `buffer` or sent.
    frontier: u64,
    durable: u64,
    last_flush: Instant,
    next_try: Option<Instant>,
    backoff: Duration,
    failing_since: Option<Instant>,
    last_error: String,
    stats: Arc<QuestDbStats>,
    /// Files under the output folder for refused and (when the sink gives up) undelivered rows.
    rejects: PathBuf,
    undelivered: PathBuf,
    _record: PhantomData<R>,
}

impl<R: ArrowRecord> QuestDbSink<R> {
    /// A sink for `stream`; connects lazily (a server that is down at the start is retried).
    pub fn new(
        config: Arc<QuestDbConfig>,
        table: &str,
        worker: usize,
        output: &Path,
        ctx: RowContext,
        stats: Arc<QuestDbStats>,
    ) -> Result<Self, String> {
        let conf = config.sender_conf()?;
        let schema = R::to_batch(&[], &ctx).map_err(|e| format!("table `{table}`: {e}"))?.schema();
        let layout = TableLayout::new(table, &schema)?;
        let mut buffer = Buffer::new(protocol_version(&conf));
        buffer.set_marker().map_err(|e| e.msg().to_owned())?;
        Ok(QuestDbSink {
            conf,
            backoff: Duration::from_millis(config.retry_initial_ms),
            config,
            layout,
            ctx,
            sender: None,
            buffer,
            pending: Vec::new(),
            row_ends: Vec::new(),
            frontier: 0,
            durable: 0,
            last_flush: Instant::now(),
            next_try: None,
            failing_since: None,
            last_error: String::new(),
            stats,
            rejects: output.join("questdb_rejects").join(format!("{table}-part-{worker:04}.jsonl")),
            undelivered: output.join("questdb_undelivered").join(format!("{table}-part-{worker:04}.ilp")),
            _record: PhantomData,
        })
    }

    fn buffered(&self) -> usize {
        self.row_ends.len()
    }

    fn due(&self) -> bool {
        self.buffered() >= self.config.flush_rows
            || self.last_flush.elapsed() >= Duration::from_millis(self.config.flush_interval_ms)
    }

    /// Sends the buffer once. Ok(true): everything went; Ok(false): it failed and will be retried.
    fn try_send(&mut self) -> Result<bool, String> {
        loop {
            if self.buffer.is_empty() {
                return Ok(true);
            }
            let started = Instant::now();
            let sent = match self.sender.as_mut() {
                Some(sender) => sender.flush_and_keep(&self.buffer),
                None => Sender::from_conf(&self.conf).and_then(|mut sender| {
                    let sent = sender.flush_and_keep(&self.buffer);
                    self.sender = Some(sender);
                    sent
                }),
            };
            match sent.map_err(|e| classify(&e)) {
                Ok(()) => {
                    self.stats.flush_seconds.observe(started.elapsed().as_secs_f64());
                    self.stats.rows.fetch_add(self.buffered() as u64, Ordering::Relaxed);
                    self.clear();
                    self.last_flush = Instant::now();
                    self.next_try = None;
                    self.failing_since = None;
                    self.backoff = Duration::from_millis(self.config.retry_initial_ms);
                    return Ok(true);
                }
                Err(Failure::Rejected { line, reason }) if line <= self.buffered() => {
                    self.set_aside(line - 1, &reason)?;
                }
                Err(Failure::Rejected { reason, .. } | Failure::Retry(reason)) => {
                    self.schedule_retry(reason)?;
                    return Ok(false);
                }
                Err(Failure::Fatal(reason)) => return Err(self.give_up(&reason)),
            }
        }
    }

    fn clear(&mut self) {
        self.buffer.clear();
        self.buffer.set_marker().ok();
        self.pending.clear();
        self.row_ends.clear();
    }

    fn schedule_retry(&mut self, reason: String) -> Result<(), String> {
        // A new connection next time: the old one may be half-closed.
        self.sender = None;
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed().as_secs_f64() >= self.config.give_up_after_s {
            return Err(self.give_up(&format!("still failing after {:.0} s: {reason}", since.elapsed().as_secs_f64())));
        }
        if self.last_error != reason {
            tracing::warn!(table = self.layout.table(), rows = self.buffered(), retry_in_ms = self.backoff.as_millis() as u64, %reason, "QuestDB flush failed; retrying");
            self.last_error = reason;
        }
        self.next_try = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_millis(self.config.retry_max_ms));
        Ok(())
    }

    /// Saves the row the server refused, with its reason, and rebuilds the buffer without it.
    fn set_aside(&mut self, row: usize, reason: &str) -> Result<(), String> {
        let start = if row == 0 { 0 } else { self.row_ends[row - 1] };
        let text = String::from_utf8_lossy(&self.buffer.as_bytes()[start..self.row_ends[row]]).trim_end().to_owned();
        let line = serde_json::json!({ "table": self.layout.table(), "reason": reason, "row": text });
        append(&self.rejects, format!("{line}\n").as_bytes())?;
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(table = self.layout.table(), %reason, file = %self.rejects.display(), "QuestDB refused a row; set aside");

        let mut kept = Vec::with_capacity(self.pending.len() + 1);
        let mut first = 0;
        for batch in self.pending.drain(..) {
            let n = batch.num_rows();
            if (first..first + n).contains(&row) {
                let at = row - first;
                kept.push(batch.slice(0, at));
                kept.push(batch.slice(at + 1, n - at - 1));
            } else {
                kept.push(batch);
            }
            first += n;
        }
        self.clear();
        for batch in kept.into_iter().filter(|b| b.num_rows() > 0) {
            self.layout.encode(&batch, &mut self.buffer, &mut self.row_ends)?;
            self.pending.push(batch);
        }
        Ok(())
    }

    /// Saves what could not be delivered as ILP text (replayable with `curl --data-binary`)
    /// and says where.
    fn give_up(&mut self, reason: &str) -> String {
        let rows = self.buffered();
        let saved = append(&self.undelivered, self.buffer.as_bytes());
        self.clear();
        match saved {
            Ok(()) => format!(
                "QuestDB table `{}`: {reason}; {rows} undelivered rows saved to {}",
                self.layout.table(),
                self.undelivered.display()
            ),
            Err(e) => {
                format!("QuestDB table `{}`: {reason}; {rows} rows could not be saved either: {e}", self.layout.table())
            }
        }
    }
}

fn append(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_data()))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

impl<R: ArrowRecord> RecordSink<R> for QuestDbSink<R> {
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let columns = R::to_batch(batch, &self.ctx).map_err(|e| format!("building columns: {e}"))?;
        batch.clear();
        self.layout.encode(&columns, &mut self.buffer, &mut self.row_ends)?;
        self.pending.push(columns);
        Ok(())
    }

    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String> {
        self.frontier = frontier.unwrap_or(u64::MAX);
        let retry_due = self.next_try.is_none_or(|t| Instant::now() >= t);
        if !self.buffer.is_empty() && retry_due && (self.due() || frontier.is_none()) {
            self.try_send()?;
        }
        if self.buffer.is_empty() {
            self.durable = self.frontier;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        if self.buffer.is_empty() { Ok(()) } else { Err(self.give_up("closed with rows still unsent")) }
    }

    fn durable(&self) -> Option<u64> {
        Some(self.durable)
    }

    fn saturated(&self) -> bool {
        self.buffered() >= self.config.max_buffered_rows
    }

    fn wake_after(&self) -> Option<Duration> {
        if self.buffer.is_empty() {
            return None;
        }
        let now = Instant::now();
        let timer = self.last_flush + Duration::from_millis(self.config.flush_interval_ms);
        let at = self.next_try.unwrap_or(timer);
        Some(at.saturating_duration_since(now).max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_line_is_read_from_the_client_error() {
        assert_eq!(line_of("Could not flush buffer: bad [id: ABC-2, code: invalid, line: 2]"), Some(2));
        assert_eq!(line_of("Could not flush buffer: 503 Service Unavailable"), None);
        assert_eq!(line_of("line: 0]"), None);
    }

    #[test]
    fn the_protocol_version_comes_from_the_conf() {
        assert_eq!(protocol_version("http::addr=a:1;protocol_version=2;"), ProtocolVersion::V2);
        assert_eq!(protocol_version("tcp::addr=a:1;protocol_version=1;"), ProtocolVersion::V1);
    }
}
