//! The Parquet sink: one file per stream per worker, written under a temporary name and
//! renamed when complete, so a file that looks finished is finished. A write that fails (a
//! full disk, a folder that went away) removes the unfinished file and stops the job's sources,
//! so that the job ends at once with the error rather than reading on into a sink that takes
//! nothing.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tradeflow_operators::sink::RecordSink;

use super::arrow_rows::{ArrowRecord, RowContext};

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 65_536;

/// Writes records of one stream to `DIR/STREAM/part-WORKER.parquet`, or, with snapshots, to one
/// file per interval between boundaries, `DIR/STREAM/part-WORKER-FIRSTEPOCH.parquet`, each
/// complete (renamed) once the input has passed its end.
pub struct ParquetSink<R> {
    folder: PathBuf,
    worker: usize,
    path: PathBuf,
    tmp: PathBuf,
    ctx: RowContext,
    batch_rows: usize,
    buffer: Vec<R>,
    writer: Option<ArrowWriter<File>>,
    rows: Arc<AtomicU64>,
    segments: Option<Segments<R>>,
    /// Raised when a write fails: the job's stop flag.
    stop_on_error: Option<Arc<AtomicBool>>,
}

/// The interval files of a sink taking part in snapshots.
struct Segments<R> {
    every: u64,
    /// The first epoch of the file being written.
    current: u64,
    /// Records of later files, by their first epoch.
    later: BTreeMap<u64, Vec<R>>,
}

impl<R: ArrowRecord> ParquetSink<R> {
    pub fn new(
        dir: &Path,
        stream: &str,
        worker: usize,
        ctx: RowContext,
        batch_rows: usize,
        rows: Arc<AtomicU64>,
    ) -> Self {
        let folder = dir.join(stream);
        let path = folder.join(format!("part-{worker:04}.parquet"));
        let tmp = folder.join(format!(".part-{worker:04}.parquet.tmp"));
        ParquetSink {
            folder,
            worker,
            path,
            tmp,
            ctx,
            batch_rows: batch_rows.max(1),
            buffer: Vec::new(),
            writer: None,
            rows,
            segments: None,
            stop_on_error: None,
        }
    }

    /// Raises `stop` (the job's graceful stop) when a write fails.
    pub fn stopping_on_error(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop_on_error = Some(stop);
        self
    }

    /// After a failed write: the unfinished file goes (nothing half-written is left behind), and
    /// the job is told to stop.
    fn checked(&mut self, result: Result<(), String>) -> Result<(), String> {
        if result.is_err() {
            self.writer = None;
            self.buffer.clear();
            let _ = std::fs::remove_file(&self.tmp);
            if let Some(stop) = &self.stop_on_error {
                stop.store(true, Ordering::Relaxed);
            }
        }
        result
    }

    /// One file per `every` epochs, starting at the boundary `start` the job resumes from:
    /// files this worker wrote from `start` on (after the snapshot, before a crash) are removed.
    pub fn segmented(mut self, every: u64, start: u64) -> Result<Self, String> {
        let every = every.max(1);
        if let Ok(entries) = std::fs::read_dir(&self.folder) {
            let mine = format!("part-{:04}-", self.worker);
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let first = name
                    .strip_prefix(&mine)
                    .and_then(|n| n.strip_suffix(".parquet"))
                    .and_then(|n| n.parse::<u64>().ok());
                let partial = name.starts_with(&format!(".{mine}"));
                if partial || first.is_some_and(|f| f >= start) {
                    std::fs::remove_file(entry.path())
                        .map_err(|e| format!("removing {}: {e}", entry.path().display()))?;
                }
            }
        }
        self.segments = Some(Segments { every, current: start, later: BTreeMap::new() });
        self.name_files(start);
        Ok(self)
    }

    /// Whether this worker has written a file of this stream (in this run or before a restart).
    fn has_files(&self) -> bool {
        let mine = format!("part-{:04}", self.worker);
        std::fs::read_dir(&self.folder)
            .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&mine)))
    }

    fn name_files(&mut self, first: u64) {
        let w = self.worker;
        self.path = self.folder.join(format!("part-{w:04}-{first:020}.parquet"));
        self.tmp = self.folder.join(format!(".part-{w:04}-{first:020}.parquet.tmp"));
    }

    /// Finishes the file being written (none if it holds no rows) and renames it complete.
    fn finish_file(&mut self) -> Result<(), String> {
        if self.writer.is_none() && self.buffer.is_empty() && self.segments.is_some() {
            return Ok(());
        }
        // Also writes an empty file with the schema when the stream carried nothing.
        self.write_buffer()?;
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| format!("finishing {}: {e}", self.tmp.display()))?;
            std::fs::rename(&self.tmp, &self.path)
                .map_err(|e| format!("renaming {} to {}: {e}", self.tmp.display(), self.path.display()))?;
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), String> {
        if self.writer.is_some() && self.buffer.is_empty() {
            return Ok(());
        }
        let batch = R::to_batch(&self.buffer, &self.ctx).map_err(|e| format!("building columns: {e}"))?;
        if self.writer.is_none() {
            if let Some(folder) = self.tmp.parent() {
                std::fs::create_dir_all(folder).map_err(|e| format!("creating {}: {e}", folder.display()))?;
            }
            let file = File::create(&self.tmp).map_err(|e| format!("creating {}: {e}", self.tmp.display()))?;
            // Row groups of a bounded size go to the file as they fill: memory stays flat, and a
            // full disk shows at once rather than when the file is closed.
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
                .map_err(|e| format!("opening {}: {e}", self.tmp.display()))?;
            self.writer = Some(writer);
        }
        if let Some(writer) = self.writer.as_mut()
            && batch.num_rows() > 0
        {
            writer.write(&batch).map_err(|e| format!("writing {}: {e}", self.tmp.display()))?;
        }
        self.rows.fetch_add(self.buffer.len() as u64, Ordering::Relaxed);
        self.buffer.clear();
        Ok(())
    }
}

impl<R: ArrowRecord> RecordSink<R> for ParquetSink<R> {
    fn write(&mut self, batch: &mut Vec<R>) -> Result<(), String> {
        let result = self.append(batch);
        self.checked(result)
    }

    fn write_at(&mut self, epoch: u64, batch: &mut Vec<R>) -> Result<(), String> {
        let Some(seg) = self.segments.as_mut() else { return self.write(batch) };
        let first = epoch / seg.every * seg.every;
        if first > seg.current {
            seg.later.entry(first).or_default().append(batch);
            return Ok(());
        }
        self.write(batch)
    }

    fn flush(&mut self, frontier: Option<u64>) -> Result<(), String> {
        let result = self.finish_passed_files(frontier);
        self.checked(result)
    }

    fn durable(&self) -> Option<u64> {
        Some(self.segments.as_ref().map_or(0, |s| s.current))
    }

    fn close(&mut self) -> Result<(), String> {
        let result = self.finish_all_files();
        self.checked(result)
    }
}

impl<R: ArrowRecord> ParquetSink<R> {
    fn append(&mut self, batch: &mut Vec<R>) -> Result<(), String> {
        self.buffer.append(batch);
        if self.buffer.len() >= self.batch_rows { self.write_buffer() } else { Ok(()) }
    }

    fn finish_passed_files(&mut self, frontier: Option<u64>) -> Result<(), String> {
        // A file is complete once the input has passed its interval; a single file, only when
        // closed. Rows are batched until then.
        let Some(frontier) = frontier else { return Ok(()) };
        while let Some(seg) = self.segments.as_ref()
            && frontier >= seg.current + seg.every
        {
            self.finish_file()?;
            let Some(seg) = self.segments.as_mut() else { break };
            // The next interval with rows, or the one the frontier is in.
            let reached = frontier / seg.every * seg.every;
            let next = seg.later.keys().next().copied().filter(|k| *k < reached).unwrap_or(reached);
            seg.current = next;
            let mut waiting = seg.later.remove(&next).unwrap_or_default();
            self.name_files(next);
            self.append(&mut waiting)?;
        }
        Ok(())
    }

    fn finish_all_files(&mut self) -> Result<(), String> {
        self.finish_file()?;
        while let Some((first, mut rows)) = self.segments.as_mut().and_then(|s| s.later.pop_first()) {
            self.name_files(first);
            self.append(&mut rows)?;
            self.finish_file()?;
        }
        if self.segments.is_some() && !self.has_files() {
            // A stream that carried nothing still gets a file with its schema.
            self.segments = None;
            self.finish_file()?;
        }
        Ok(())
    }
}
