//! Snapshots in a local folder: one subfolder per boundary, made complete by an atomic rename.
//!
//! Every participant (a stateful operator or a sink, on every worker) writes its state to
//! `DIR/.partial-BOUNDARY/wWORKER-NAME.bin` (written under a temporary name, then renamed). The
//! last participant to save a boundary writes `manifest.json` and renames the folder to
//! `DIR/snapshot-BOUNDARY`: a folder with that name is complete. Older snapshots beyond `keep`
//! and abandoned partial folders are removed. A job started with snapshots configured resumes
//! from the newest complete snapshot, after checking that it was taken by this version, with
//! this config and as many workers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tradeflow_operators::snapshot::{Completed, SnapshotStore, Targets};

/// `[snapshots]`: where and how often the job saves its state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotsSection {
    /// The folder (created if missing). Relative paths are relative to the working directory.
    pub dir: Option<PathBuf>,
    /// Event-time seconds between snapshots.
    pub every_s: f64,
    /// Complete snapshots kept (the newest ones).
    pub keep: usize,
    /// Resume from the newest snapshot at start (false: start from the beginning and remove
    /// the snapshots there).
    pub resume: bool,
}

impl Default for SnapshotsSection {
    fn default() -> Self {
        SnapshotsSection { dir: None, every_s: 60.0, keep: 2, resume: true }
    }
}

/// What `manifest.json` records of the job that took a snapshot.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
struct Manifest {
    format: u32,
    version: String,
    config: String,
    workers: usize,
    every_epochs: u64,
    boundary: u64,
}

const FORMAT: u32 = 1;

/// 64-bit FNV-1a: a fingerprint that does not change between builds.
fn fingerprint(text: &str) -> String {
    let hash =
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{hash:016x}")
}

fn complete_name(boundary: u64) -> String {
    format!("snapshot-{boundary:020}")
}

fn partial_name(boundary: u64) -> String {
    format!(".partial-{boundary:020}")
}

/// Boundaries of the complete snapshots in `dir`, oldest first.
fn complete_snapshots(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading snapshots folder {}", dir.display()))? {
        let name = entry?.file_name();
        if let Some(b) = name.to_str().and_then(|n| n.strip_prefix("snapshot-")).and_then(|n| n.parse().ok()) {
            found.push(b);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The file store. Build it with [`FileSnapshots::open`] before the workers start.
pub struct FileSnapshots {
    dir: PathBuf,
    keep: usize,
    manifest: Manifest,
    /// The boundary the job restarts from (0: from the start).
    start: u64,
    targets: Mutex<Targets>,
    /// Boundaries a state of which could not be written: abandoned when they complete.
    failed: Mutex<std::collections::BTreeSet<u64>>,
}

impl FileSnapshots {
    /// Opens (or creates) `dir`. `config` is the job's config as text without its
    /// `[snapshots]` section: a snapshot taken under another config is refused.
    pub fn open(
        section: &SnapshotsSection,
        dir: &Path,
        config: &str,
        workers: usize,
        every_epochs: u64,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating snapshots folder {}", dir.display()))?;
        let manifest = Manifest {
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            config: fingerprint(config),
            workers,
            every_epochs,
            boundary: 0,
        };
        let newest = complete_snapshots(dir)?.last().copied();
        let start = match newest {
            Some(boundary) if section.resume => {
                let folder = dir.join(complete_name(boundary));
                let text = std::fs::read_to_string(folder.join("manifest.json"))
                    .with_context(|| format!("reading {}", folder.join("manifest.json").display()))?;
                let taken: Manifest = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a snapshot manifest", folder.join("manifest.json").display()))?;
                let refuse = |what: String| -> anyhow::Result<u64> {
                    bail!(
                        "snapshot {} cannot be resumed: {what}; remove the folder {} (or set snapshots.resume = false) to start from the beginning",
                        folder.display(),
                        dir.display()
                    )
                };
                if taken.format != FORMAT || taken.version != manifest.version {
                    refuse(format!(
                        "it was taken by tradeflow {} (snapshot format {}), this is {} (format {FORMAT})",
                        taken.version, taken.format, manifest.version
                    ))?;
                }
                if taken.config != manifest.config {
                    refuse("it was taken with another job config".into())?;
                }
                if taken.workers != workers {
                    refuse(format!("it was taken with {} workers, this run has {workers}", taken.workers))?;
                }
                if taken.every_epochs != every_epochs || taken.boundary != boundary {
                    refuse(format!(
                        "its interval or boundary ({}, {}) does not match",
                        taken.every_epochs, taken.boundary
                    ))?;
                }
                boundary
            }
            _ => 0,
        };
        // Abandoned partial snapshots, and (starting afresh) the complete ones.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with(".partial-") || (start == 0 && name.starts_with("snapshot-"));
            if stale {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
        Ok(FileSnapshots {
            dir: dir.to_owned(),
            keep: section.keep.max(1),
            manifest,
            start,
            targets: Mutex::new(Targets::new(every_epochs, workers, start)),
            failed: Mutex::default(),
        })
    }

    /// The boundary the job restarts from (0: from the start).
    pub fn start(&self) -> u64 {
        self.start
    }

    fn file(worker: usize, name: &str) -> String {
        format!("w{worker}-{name}.bin")
    }

    fn write_state(&self, boundary: u64, worker: usize, name: &str, state: &[u8]) -> std::io::Result<()> {
        let folder = self.dir.join(partial_name(boundary));
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(Self::file(worker, name));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, state)?;
        std::fs::rename(&tmp, &path)
    }

    /// Makes the partial folder of `boundary` a complete snapshot and prunes the old ones.
    fn seal(&self, boundary: u64) -> std::io::Result<()> {
        let partial = self.dir.join(partial_name(boundary));
        let manifest = Manifest { boundary, ..self.manifest.clone() };
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(partial.join("manifest.json"), text)?;
        std::fs::rename(&partial, self.dir.join(complete_name(boundary)))?;
        let complete = complete_snapshots(&self.dir).map_err(std::io::Error::other)?;
        for old in complete.iter().rev().skip(self.keep) {
            std::fs::remove_dir_all(self.dir.join(complete_name(*old)))?;
        }
        Ok(())
    }
}

impl SnapshotStore for FileSnapshots {
    fn register(&self, worker: usize, name: &str, retains: bool) {
        self.targets().register(worker, name, retains);
    }

    fn built(&self, worker: usize) {
        self.targets().built(worker);
    }

    fn due(&self, worker: usize, name: &str, upto: u64) -> Option<u64> {
        self.targets().due(worker, name, upto)
    }

    fn restored(&self, worker: usize, name: &str) -> Result<Option<Vec<u8>>, String> {
        if self.start == 0 {
            return Ok(None);
        }
        let path = self.dir.join(complete_name(self.start)).join(Self::file(worker, name));
        std::fs::read(&path).map(Some).map_err(|e| format!("snapshot state {}: {e}", path.display()))
    }

    fn save(&self, boundary: u64, worker: usize, name: &str, state: Vec<u8>) {
        if let Err(e) = self.write_state(boundary, worker, name, &state) {
            // The boundary is abandoned when it completes (the next one may succeed); the
            // snapshot before it stays the newest.
            tracing::error!(boundary, worker, name, "writing snapshot state: {e}");
            self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(boundary);
        }
        let completed = self.targets().saved(boundary, worker, name);
        if let Some(completed) = completed {
            self.complete(completed);
        }
    }

    fn finish(&self, worker: usize, name: &str, state: Vec<u8>) {
        let completed = self.targets().finished(worker, name, state);
        if let Some(completed) = completed {
            self.complete(completed);
        }
    }
}

impl FileSnapshots {
    fn targets(&self) -> std::sync::MutexGuard<'_, Targets> {
        // The bookkeeping stays consistent across a panic elsewhere: nothing in it can panic.
        self.targets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the finished participants' states, the manifest, and renames the folder. Only
    /// the thread that completed the boundary gets here, and the next boundary's states go to
    /// another folder, so no lock is held.
    fn complete(&self, completed: Completed) {
        let Completed { boundary, finished } = completed;
        if self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&boundary) {
            tracing::error!(boundary, "snapshot abandoned: a state could not be written");
            let _ = std::fs::remove_dir_all(self.dir.join(partial_name(boundary)));
            return;
        }
        let result = finished
            .iter()
            .try_for_each(|((worker, name), state)| self.write_state(boundary, *worker, name, state))
            .and_then(|()| self.seal(boundary));
        match result {
            Ok(()) => tracing::debug!(boundary, "snapshot complete"),
            Err(e) => tracing::error!(boundary, "completing snapshot: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    }
}
