//! Extension method for writing a stream to an outside store (Parquet, QuestDB, Kafka).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::StreamVec;

use crate::snapshot::{SnapshotPort, checkpoint};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// Where a stream's records go. Implemented by the application; the operator calls it.
pub trait RecordSink<R>: 'static {
    /// Takes a batch of records (it may drain `batch`).
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String>;
    /// Takes a batch of records of epoch `epoch`: a sink that files records by epoch (Parquet
    /// segments between snapshot boundaries) overrides this.
    fn write_at(&mut self, _epoch: u64, batch: &mut Vec<R>) -> Result<(), String> {
        self.write(batch)
    }
    /// Called on every activation after the available input was written, with the input
    /// frontier: everything before it has been written. The sink flushes what is due (by row
    /// count, by timer, or a retry whose backoff has passed).
    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String>;
    /// Called once when the stream ends; makes the output complete and durable.
    fn close(&mut self) -> Result<(), String>;
    /// The frontier up to which everything written is durable in the store (`None`: all of it,
    /// the stream has ended and the sink has closed). Stores that are durable only once closed
    /// (a Parquet file) stay at 0 until then.
    fn durable(&self) -> Option<u64>;
    /// True while the sink holds as many unsent rows as it may: the operator then stops
    /// reporting progress to the sources, which stop reading until the sink drains.
    fn saturated(&self) -> bool {
        false
    }
    /// When to call `flush` again without new input: a timer flush or a retry.
    fn wake_after(&self) -> Option<Duration> {
        None
    }
}

/// Counts the rows it is handed and keeps none: the benchmarks' null sink.
#[derive(Debug)]
pub struct CountingSink {
    rows: Arc<AtomicU64>,
    frontier: u64,
}

impl CountingSink {
    /// Adds every batch's length to `rows`.
    pub fn new(rows: Arc<AtomicU64>) -> Self {
        CountingSink { rows, frontier: 0 }
    }
}

impl<R> RecordSink<R> for CountingSink {
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String> {
        self.rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
        Ok(())
    }
    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String> {
        self.frontier = frontier.unwrap_or(u64::MAX);
        Ok(())
    }
    fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Nothing is kept, so nothing is owed: everything before the frontier is done with.
    fn durable(&self) -> Option<u64> {
        Some(self.frontier)
    }
}

/// The first error of every failed sink, for the job to report.
pub type SinkErrors = Arc<Mutex<Vec<String>>>;

/// How far a sink has got, shared with the sources (backpressure) and the job (which may
/// commit input positions only behind `durable`). `u64::MAX` means the stream has ended.
#[derive(Debug, Default)]
pub struct SinkProgress {
    /// The input frontier the sink last took in while it had room.
    pub accepted: AtomicU64,
    /// Everything before this epoch is durable in the store.
    pub durable: AtomicU64,
    /// Records handed to the sink so far.
    pub records: AtomicU64,
}

impl SinkProgress {
    fn accept(&self, frontier: Option<u64>) {
        self.accepted.store(frontier.unwrap_or(u64::MAX), Ordering::Release);
    }
    fn made_durable(&self, frontier: Option<u64>) {
        self.durable.store(frontier.unwrap_or(u64::MAX), Ordering::Release);
    }
}

/// Extension trait for sinking a stream.
pub trait Sink<R> {
    /// Writes every record to `sink` on the worker that holds it, and keeps `progress` up to
    /// date. A failed sink records its error in `errors`, stops writing and keeps consuming, so
    /// the job can end and report it.
    fn sink(self, name: &str, sink: Box<dyn RecordSink<R>>, errors: SinkErrors, progress: Arc<SinkProgress>)
    where
        Self: Sized,
    {
        self.sink_saved(name, sink, errors, progress, None)
    }

    /// [`sink`](Self::sink), taking part in the snapshots: a boundary is saved once everything
    /// before it is durable in the store.
    fn sink_saved(
        self,
        name: &str,
        sink: Box<dyn RecordSink<R>>,
        errors: SinkErrors,
        progress: Arc<SinkProgress>,
        snapshot: Option<SnapshotPort>,
    );
}

impl<R: 'static> Sink<R> for StreamVec<'_, u64, R> {
    fn sink_saved(
        self,
        name: &str,
        mut sink: Box<dyn RecordSink<R>>,
        errors: SinkErrors,
        progress: Arc<SinkProgress>,
        mut snapshot: Option<SnapshotPort>,
    ) {
        let label = name.to_owned();
        let mut failed = false;
        let mut closed = false;
        let fail = move |e: String, failed: &mut bool| {
            *failed = true;
            if let Ok(mut errs) = errors.lock() {
                errs.push(format!("sink `{label}`: {e}"));
            }
        };
        let scope = self.scope();
        let mut builder = OperatorBuilder::new(name.to_owned(), scope);
        let activator = scope.activator_for(builder.operator_info().address);
        let mut input = builder.new_input(self, Pipeline);
        // Reports itself incomplete until closed, so that a sink still retrying when its input
        // has ended keeps the dataflow (and the job) alive until it has delivered or given up.
        builder.build_reschedule(move |_capabilities| {
            move |frontiers| {
                input.for_each(|cap, batch| {
                    progress.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let epoch = cap.least().copied().unwrap_or_default();
                    if !failed && let Err(e) = sink.write_at(epoch, batch) {
                        fail(e, &mut failed);
                    }
                    batch.clear();
                });
                let now = frontiers[0].frontier().iter().min().copied();
                if failed || closed {
                    // Nothing more reaches the store: let the sources move on.
                    progress.accept(now);
                    return false;
                }
                let mut result = sink.flush(now);
                let wake = sink.wake_after();
                if result.is_ok() && now.is_none() && wake.is_none() {
                    closed = true;
                    result = sink.close();
                    if result.is_ok()
                        && let Some(port) = snapshot.as_mut()
                    {
                        port.finish(&());
                    }
                }
                if let Err(e) = result {
                    fail(e, &mut failed);
                }
                if !sink.saturated() {
                    progress.accept(now);
                }
                if !failed {
                    let durable = if closed { None } else { sink.durable() };
                    progress.made_durable(durable);
                    if !closed {
                        checkpoint(&mut snapshot, durable, || ());
                    }
                }
                if !closed
                    && !failed
                    && let Some(delay) = wake
                {
                    activator.activate_after(delay);
                }
                !closed && !failed
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use timely::dataflow::operators::vec::ToStream;

    use super::*;

    /// The benchmarks' null sink counts every row, and reports the stream's end to the sources
    /// and the job like any other sink.
    #[test]
    fn a_counting_sink_counts_every_row_and_finishes() {
        let rows = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(SinkProgress::default());
        let (counted, finished) = (Arc::clone(&rows), Arc::clone(&progress));
        timely::example(move |scope| {
            (0..1000u32).to_stream(scope).sink(
                "numbers",
                Box::new(CountingSink::new(counted)),
                Arc::default(),
                finished,
            );
        });
        assert_eq!(rows.load(Ordering::Relaxed), 1000);
        assert_eq!(progress.records.load(Ordering::Relaxed), 1000);
        assert_eq!(progress.accepted.load(Ordering::Relaxed), u64::MAX);
        assert_eq!(progress.durable.load(Ordering::Relaxed), u64::MAX);
    }
}
