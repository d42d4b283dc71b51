//! Snapshots in a local folder: one subfolder per boundary, made complete by an atomic rename.
//!
//! Every participant (a stateful operator or a sink, on every worker) writes its state to
//! `DIR/.partial-BOUNDARY/wWORKER-NAME.bin` (written under a temporary name, then renamed). The
//! last participant to save a boundary writes `manifest.json` and renames the folder to
//! `DIR/snapshot-BOUNDARY`: a folder with that name is complete. Older snapshots beyond `keep`
//! and abandoned partial folders are removed. A job started with snapshots configured resumes
//! from the newest complete snapshot, after checking that it was taken by this version, with
//! this config and as many workers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tradeflow_operators::snapshot::SnapshotStore;

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

#[derive(Default)]
struct Progress {
    registered: BTreeSet<(usize, String)>,
    saved: BTreeMap<u64, BTreeSet<(usize, String)>>,
    /// Participants whose input has ended, with their final state: it stands for every
    /// boundary after the last one they saved (not before: they skipped those).
    finished: BTreeMap<(usize, String), Vec<u8>>,
    last_saved: BTreeMap<(usize, String), u64>,
    completed: u64,
}

impl Progress {
    /// The newest pending boundary every participant has saved or finished before.
    fn ready(&self) -> Option<u64> {
        self.saved.iter().rev().find_map(|(b, saved)| {
            let finished_before = |p: &(usize, String)| {
                self.finished.contains_key(p) && self.last_saved.get(p).is_none_or(|last| last < b)
            };
            let all = self.registered.iter().all(|p| saved.contains(p) || finished_before(p));
            all.then_some(*b)
        })
    }
}

/// The file store. Build it with [`FileSnapshots::open`] before the workers start.
pub struct FileSnapshots {
    dir: PathBuf,
    keep: usize,
    manifest: Manifest,
    /// The boundary the job restarts from (0: from the start).
    start: u64,
    progress: Mutex<Progress>,
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
            progress: Mutex::new(Progress { completed: start, ..Progress::default() }),
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

    fn complete(&self, boundary: u64) -> std::io::Result<()> {
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
    fn register(&self, worker: usize, name: &str) {
        if let Ok(mut p) = self.progress.lock() {
            p.registered.insert((worker, name.to_owned()));
        }
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
            tracing::error!(boundary, worker, name, "writing snapshot state: {e}");
            return;
        }
        let Ok(mut p) = self.progress.lock() else { return };
        let last = p.last_saved.entry((worker, name.to_owned())).or_default();
        *last = (*last).max(boundary);
        if boundary > p.completed {
            p.saved.entry(boundary).or_default().insert((worker, name.to_owned()));
            self.complete_ready(&mut p);
        }
    }

    fn finish(&self, worker: usize, name: &str, state: Vec<u8>) {
        let Ok(mut p) = self.progress.lock() else { return };
        p.finished.insert((worker, name.to_owned()), state);
        self.complete_ready(&mut p);
    }
}

impl FileSnapshots {
    /// Completes the newest boundary every participant has reached, if any.
    fn complete_ready(&self, p: &mut Progress) {
        let Some(boundary) = p.ready() else { return };
        let saved = p.saved.remove(&boundary).unwrap_or_default();
        p.saved.retain(|b, _| *b > boundary);
        p.completed = boundary;
        let mut result = Ok(());
        for ((worker, name), state) in &p.finished {
            if result.is_ok() && !saved.contains(&(*worker, name.clone())) {
                result = self.write_state(boundary, *worker, name, state);
            }
        }
        match result.and_then(|()| self.complete(boundary)) {
            Ok(()) => tracing::debug!(boundary, "snapshot complete"),
            Err(e) => tracing::error!(boundary, "completing snapshot: {e}"),
        }
        // Older partial snapshots will never complete now.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(b) = name.strip_prefix(".partial-").and_then(|b| b.parse::<u64>().ok())
                    && b < boundary
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
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
