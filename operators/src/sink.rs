//! Extension method for writing a stream to an outside store (Parquet, QuestDB, Kafka).

use std::sync::{Arc, Mutex};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Where a stream's records go. Implemented by the application; the operator calls it.
pub trait RecordSink<R>: 'static {
    /// Takes a batch of records (it may drain `batch`).
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String>;
    /// Called when the input frontier has advanced: everything before it has been written.
    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String>;
    /// Called once when the stream ends; makes the output complete and durable.
    fn close(&mut self) -> Result<(), String>;
}

/// The first error of every failed sink, for the job to report.
pub type SinkErrors = Arc<Mutex<Vec<String>>>;

/// Extension trait for sinking a stream.
pub trait Sink<R> {
    /// Writes every record to `sink` on the worker that holds it. A failed sink records its
    /// error in `errors`, stops writing and keeps consuming, so the job can end and report it.
    fn sink(self, name: &str, sink: Box<dyn RecordSink<R>>, errors: SinkErrors);
}

impl<R: 'static> Sink<R> for StreamVec<'_, u64, R> {
    fn sink(self, name: &str, mut sink: Box<dyn RecordSink<R>>, errors: SinkErrors) {
        let label = name.to_owned();
        let mut failed = false;
        let mut closed = false;
        let mut last_frontier: Option<u64> = Some(0);
        let fail = move |e: String, failed: &mut bool| {
            *failed = true;
            if let Ok(mut errs) = errors.lock() {
                errs.push(format!("sink `{label}`: {e}"));
            }
        };
        Operator::sink(self, Pipeline, name, move |(input, frontier)| {
            input.for_each(|_cap, batch| {
                if !failed && let Err(e) = sink.write(batch) {
                    fail(e, &mut failed);
                }
                batch.clear();
            });
            let now = frontier.frontier().iter().min().copied();
            if now != last_frontier && !failed {
                last_frontier = now;
                let result = if now.is_none() && !closed {
                    closed = true;
                    sink.flush(None).and_then(|_| sink.close())
                } else {
                    sink.flush(now)
                };
                if let Err(e) = result {
                    fail(e, &mut failed);
                }
            }
        });
    }
}
