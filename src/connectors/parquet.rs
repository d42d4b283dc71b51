//! The Parquet sink: one file per stream per worker, written under a temporary name and
//! renamed when complete, so a file that looks finished is finished.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tradeflow_operators::sink::RecordSink;

use super::arrow_rows::{ArrowRecord, RowContext};

/// Writes records of one stream to `DIR/STREAM/part-WORKER.parquet`.
pub struct ParquetSink<R> {
    path: PathBuf,
    tmp: PathBuf,
    ctx: RowContext,
    batch_rows: usize,
    buffer: Vec<R>,
    writer: Option<ArrowWriter<File>>,
    rows: Arc<AtomicU64>,
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
        ParquetSink { path, tmp, ctx, batch_rows: batch_rows.max(1), buffer: Vec::new(), writer: None, rows }
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
            let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
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
        self.buffer.append(batch);
        if self.buffer.len() >= self.batch_rows { self.write_buffer() } else { Ok(()) }
    }

    fn flush(&mut self, _frontier: Option<u64>) -> Result<(), String> {
        // Parquet files are complete only when closed; rows are batched until then.
        Ok(())
    }

    fn durable(&self) -> Option<u64> {
        Some(0)
    }

    fn close(&mut self) -> Result<(), String> {
        // Also writes an empty file with the schema when the stream carried nothing.
        self.write_buffer()?;
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| format!("finishing {}: {e}", self.tmp.display()))?;
            std::fs::rename(&self.tmp, &self.path)
                .map_err(|e| format!("renaming {} to {}: {e}", self.tmp.display(), self.path.display()))?;
        }
        Ok(())
    }
}
