//! Snapshots in a local folder: one subfolder per boundary, made complete by an atomic rename.
//!
//! Every participant (a stateful operator or a sink, on every worker) writes its state to
//! `DIR/.partial-BOUNDARY/wWORKER-NAME.bin` (written under a temporary name, then renamed). The
//! last participant to save a boundary writes `manifest.json` and renames the folder to
//! `DIR/snapshot-BOUNDARY`: a folder with that name is complete. Older snapshots beyond `keep`
//! and abandoned partial folders are removed. A job started with snapshots configured resumes
//! from the newest complete snapshot, after checking that it was taken by this version, with
//! this config and as many workers.
//!
//! A job of several processes keeps a folder per process, each with its own workers' states;
//! the processes save the same boundaries, picked by one leader, and restart from the newest
//! boundary they all have (see [`cluster`]).

pub mod cluster;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tradeflow_operators::snapshot::{Assigned, Completed, Decision, Report, SnapshotStore, Targets};

use cluster::{Link, lock};

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
    /// Processes of the cluster that took it, and which of them this folder's is.
    #[serde(default = "one")]
    processes: usize,
    #[serde(default)]
    process: usize,
    every_epochs: u64,
    boundary: u64,
}

fn one() -> usize {
    1
}

/// Raised whenever a participant's saved state changes shape (2: the risk book keeps the
/// broker's reports as they come, not merged with its other inputs).
const FORMAT: u32 = 2;

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

/// Which process of how many a store belongs to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Membership {
    pub process: usize,
    pub processes: usize,
}

impl Membership {
    pub const SINGLE: Membership = Membership { process: 0, processes: 1 };
}

/// Refuses the snapshot of `boundary` in `dir` unless `ours` (this run's manifest) could have
/// taken it.
fn check_manifest(dir: &Path, boundary: u64, ours: &Manifest) -> anyhow::Result<()> {
    let folder = dir.join(complete_name(boundary));
    let path = folder.join("manifest.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let taken: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{}: not a snapshot manifest", path.display()))?;
    let refuse = |what: String| -> anyhow::Result<()> {
        bail!(
            "snapshot {} cannot be resumed: {what}; remove the folder {} (or set snapshots.resume = false) to start from the beginning",
            folder.display(),
            dir.display()
        )
    };
    if taken.format != FORMAT || taken.version != ours.version {
        refuse(format!(
            "it was taken by tradeflow {} (snapshot format {}), this is {} (format {FORMAT})",
            taken.version, taken.format, ours.version
        ))?;
    }
    if taken.config != ours.config {
        refuse("it was taken with another job config".into())?;
    }
    if taken.workers != ours.workers {
        refuse(format!("it was taken with {} workers, this run has {}", taken.workers, ours.workers))?;
    }
    if (taken.processes, taken.process) != (ours.processes, ours.process) {
        refuse(format!(
            "it was taken by process {} of {}, this is process {} of {}",
            taken.process, taken.processes, ours.process, ours.processes
        ))?;
    }
    if taken.every_epochs != ours.every_epochs || taken.boundary != boundary {
        refuse(format!("its interval or boundary ({}, {}) does not match", taken.every_epochs, taken.boundary))?;
    }
    Ok(())
}

/// The file store. Build it with [`FileSnapshots::open`] before the workers start.
pub struct FileSnapshots {
    dir: PathBuf,
    keep: usize,
    manifest: Manifest,
    /// The boundary the job restarts from (0: from the start). In a cluster it is agreed on
    /// once the workers run ([`resume_at`](Self::resume_at)).
    start: AtomicU64,
    targets: Mutex<Targets>,
    /// Boundaries a state of which could not be written: abandoned when they complete.
    failed: Mutex<std::collections::BTreeSet<u64>>,
    /// In a cluster: the way to the leader, and the boundaries complete in every process.
    cluster: Option<Link>,
    /// Told each boundary that completes (in every process of a cluster), if anyone listens.
    completions: Mutex<Option<std::sync::mpsc::Sender<u64>>>,
}

impl FileSnapshots {
    /// Opens (or creates) `dir`. `config` is the job's config as text without its
    /// `[snapshots]` section: a snapshot taken under another config is refused. One process
    /// resumes from its newest snapshot; a process of a cluster checks all of its snapshots
    /// and resumes from the boundary the processes agree on ([`resume_at`](Self::resume_at)).
    pub fn open(
        section: &SnapshotsSection,
        dir: &Path,
        config: &str,
        (workers, membership): (usize, Membership),
        every_epochs: u64,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating snapshots folder {}", dir.display()))?;
        let manifest = Manifest {
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            config: fingerprint(config),
            workers,
            processes: membership.processes,
            process: membership.process,
            every_epochs,
            boundary: 0,
        };
        let complete = if section.resume { complete_snapshots(dir)? } else { Vec::new() };
        let checked =
            if membership.processes > 1 { &complete[..] } else { &complete[complete.len().saturating_sub(1)..] };
        for boundary in checked.iter().rev() {
            check_manifest(dir, *boundary, &manifest)?;
        }
        let start = if membership.processes > 1 { 0 } else { complete.last().copied().unwrap_or(0) };
        // Abandoned partial snapshots, and (starting afresh) the complete ones.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with(".partial-") || (complete.is_empty() && name.starts_with("snapshot-"));
            if stale {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
        let (targets, cluster) = if membership.processes > 1 {
            (Targets::following(every_epochs, workers, 0), Some(Link::new(membership, workers)))
        } else {
            (Targets::new(every_epochs, workers, start), None)
        };
        Ok(FileSnapshots {
            dir: dir.to_owned(),
            keep: section.keep.max(1),
            manifest,
            start: AtomicU64::new(start),
            targets: Mutex::new(targets),
            failed: Mutex::default(),
            cluster,
            completions: Mutex::default(),
        })
    }

    /// The boundary the job restarts from (0: from the start).
    pub fn start(&self) -> u64 {
        self.start.load(Ordering::Acquire)
    }

    /// Whether this process has a complete snapshot it may resume from (in a cluster, whether
    /// it does is agreed on later).
    pub fn has_any(&self) -> bool {
        complete_snapshots(&self.dir).is_ok_and(|c| !c.is_empty())
    }

    /// The boundaries of the snapshots that complete from now on (in a cluster: once every
    /// process has its part), until [`close_completions`](Self::close_completions).
    pub fn completions(&self) -> std::sync::mpsc::Receiver<u64> {
        let (sender, receiver) = std::sync::mpsc::channel();
        *lock(&self.completions) = Some(sender);
        receiver
    }

    /// No more completions are told.
    pub fn close_completions(&self) {
        lock(&self.completions).take();
    }

    fn completed(&self, boundary: u64) {
        if let Some(sender) = lock(&self.completions).as_ref() {
            let _ = sender.send(boundary);
        }
    }

    /// The folder the snapshots are in.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Makes the partial folder of `boundary` a complete snapshot and (in one process) prunes
    /// the old ones; in a cluster they are pruned once the others have the boundary too.
    fn seal(&self, boundary: u64) -> std::io::Result<()> {
        let partial = self.dir.join(partial_name(boundary));
        // The folder exists even when every participant here had finished before.
        std::fs::create_dir_all(&partial)?;
        let manifest = Manifest { boundary, ..self.manifest.clone() };
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(partial.join("manifest.json"), text)?;
        std::fs::rename(&partial, self.dir.join(complete_name(boundary)))?;
        if self.cluster.is_some() {
            return Ok(());
        }
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
        let mut targets = self.targets();
        targets.built(worker);
        if let Some(link) = &self.cluster
            && targets.everyone_built()
        {
            link.report(Report::Built { process: link.membership.process, reached: targets.reached() });
        }
    }

    fn due(&self, worker: usize, name: &str, upto: u64) -> Option<u64> {
        self.targets().due(worker, name, upto)
    }

    fn restored(&self, worker: usize, name: &str) -> Result<Option<Vec<u8>>, String> {
        let start = self.start();
        if start == 0 {
            return Ok(None);
        }
        let path = self.dir.join(complete_name(start)).join(Self::file(worker, name));
        std::fs::read(&path).map(Some).map_err(|e| format!("snapshot state {}: {e}", path.display()))
    }

    fn save(&self, boundary: u64, worker: usize, name: &str, state: Vec<u8>) {
        if let Err(e) = self.write_state(boundary, worker, name, &state) {
            // The boundary is abandoned when it completes (the next one may succeed); the
            // snapshot before it stays the newest. (In a cluster the leader may have given
            // the boundary up and removed its folder meanwhile: nothing is lost then.)
            if self.targets().target() == Some(boundary) {
                tracing::error!(boundary, worker, name, "writing snapshot state: {e}");
                lock(&self.failed).insert(boundary);
            }
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
        lock(&self.targets)
    }

    /// Writes the finished participants' states, the manifest, and renames the folder. Only
    /// the thread that completed the boundary gets here, and the next boundary's states go to
    /// another folder, so no lock is held.
    fn complete(&self, completed: Completed) {
        let Completed { boundary, finished } = completed;
        if lock(&self.failed).remove(&boundary) {
            tracing::error!(boundary, "snapshot abandoned: a state could not be written");
            let _ = std::fs::remove_dir_all(self.dir.join(partial_name(boundary)));
            return;
        }
        let result = finished
            .iter()
            .try_for_each(|((worker, name), state)| self.write_state(boundary, *worker, name, state))
            .and_then(|()| self.seal(boundary));
        match &result {
            Ok(()) => tracing::debug!(boundary, "snapshot complete"),
            Err(e) => tracing::error!(boundary, "completing snapshot: {e}"),
        }
        if self.cluster.is_none() && result.is_ok() {
            self.completed(boundary);
        }
        if let Some(link) = &self.cluster
            && result.is_ok()
        {
            let targets = self.targets();
            let (reached, finished) = (targets.reached(), targets.all_finished());
            link.report(Report::Sealed { process: link.membership.process, boundary, reached, finished });
        }
    }
}

/// A process of a cluster.
impl FileSnapshots {
    /// The boundaries this process has complete snapshots of (checked by [`open`](Self::open)).
    pub fn boundaries(&self) -> anyhow::Result<Vec<u64>> {
        complete_snapshots(&self.dir)
    }

    /// Restarts from `start`, the boundary the processes agreed on (0: from the beginning):
    /// the snapshots this process took after it are removed.
    pub fn resume_at(&self, start: u64) -> anyhow::Result<()> {
        for boundary in complete_snapshots(&self.dir)? {
            if boundary > start || start == 0 {
                let folder = self.dir.join(complete_name(boundary));
                std::fs::remove_dir_all(&folder).with_context(|| format!("removing {}", folder.display()))?;
            }
        }
        self.start.store(start, Ordering::Release);
        let workers = self.manifest.workers;
        *self.targets() = Targets::following(self.manifest.every_epochs, workers, start);
        if let Some(link) = &self.cluster {
            link.restarted(start);
        }
        Ok(())
    }

    /// Carries out the leader's decision.
    pub fn decided(&self, decision: Decision) {
        let Some(link) = &self.cluster else { return };
        tracing::debug!(?decision, process = link.membership.process, "snapshot decision");
        match decision {
            Decision::Take(boundary) => {
                let assigned = self.targets().assign(boundary);
                match assigned {
                    Assigned::Taking => {}
                    Assigned::Missed => {
                        let reached = self.targets().reached();
                        link.report(Report::Missed { process: link.membership.process, boundary, reached });
                    }
                    Assigned::Completed(completed) => self.complete(completed),
                }
            }
            Decision::Abandon(boundary) => {
                self.targets().abandon(boundary);
                lock(&self.failed).remove(&boundary);
                for folder in [partial_name(boundary), complete_name(boundary)] {
                    let _ = std::fs::remove_dir_all(self.dir.join(folder));
                }
            }
            Decision::Complete(boundary) => {
                self.completed(boundary);
                let keep = link.completed(boundary, self.keep);
                let result = complete_snapshots(&self.dir).and_then(|local| {
                    for old in local.into_iter().filter(|b| *b <= boundary && !keep.contains(b)) {
                        let folder = self.dir.join(complete_name(old));
                        std::fs::remove_dir_all(&folder).with_context(|| format!("removing {}", folder.display()))?;
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    tracing::error!(boundary, "pruning snapshots: {e:#}");
                }
            }
            Decision::Done => link.done(),
        }
    }

    /// The graph of `worker` has ended; once every worker's has, the leader is told.
    pub fn ended(&self, worker: usize) {
        if let Some(link) = &self.cluster {
            link.ended(worker);
        }
    }

    /// The link to the leader, in a cluster.
    pub fn link(&self) -> Option<&Link> {
        self.cluster.as_ref()
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
