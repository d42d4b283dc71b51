//! Holding records by epoch until the input frontier has passed them.
//!
//! Operators that must see a whole epoch before deciding (so that the result does not depend
//! on arrival order or on the number of workers) stash each batch under a capability for its
//! epoch and take the epochs out, oldest first, once every input frontier has passed them.

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::MutableAntichain;

/// Records grouped by epoch, each epoch with a capability to emit at that epoch.
pub struct EpochStash<D> {
    epochs: BTreeMap<u64, (Capability<u64>, Vec<D>)>,
}

impl<D> Default for EpochStash<D> {
    fn default() -> Self {
        EpochStash { epochs: BTreeMap::new() }
    }
}

impl<D> EpochStash<D> {
    /// Keeps the containers received under `cap`, holding a capability on `output_port`.
    pub fn push<'a>(
        &mut self,
        cap: &InputCapability<u64>,
        output_port: usize,
        data: impl Iterator<Item = &'a mut Vec<D>>,
    ) where
        D: 'a,
    {
        let Some(&time) = cap.least() else { return };
        let entry = self.epochs.entry(time).or_insert_with(|| (cap.delayed(&time, output_port), Vec::new()));
        for batch in data {
            append(&mut entry.1, batch);
        }
    }

    /// Keeps `data` for the epoch of `cap` (records restored from a snapshot).
    pub fn insert(&mut self, cap: Capability<u64>, mut data: Vec<D>) {
        let time = *cap.time();
        self.epochs.entry(time).or_insert_with(|| (cap, Vec::new())).1.append(&mut data);
    }

    /// The oldest stashed epoch.
    pub fn first_epoch(&self) -> Option<u64> {
        self.epochs.keys().next().copied()
    }

    /// Takes out everything stashed for `epoch`.
    pub fn take(&mut self, epoch: u64) -> Option<(Capability<u64>, Vec<D>)> {
        self.epochs.remove(&epoch)
    }

    /// The records stashed for `epoch` and the epochs before it.
    pub fn records_upto(&self, epoch: u64) -> impl Iterator<Item = &D> {
        self.epochs.range(..=epoch).flat_map(|(_, (_, records))| records)
    }

    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }
}

/// Moves `batch` into `into`: the whole buffer when `into` is empty, as it is for an epoch's
/// first batch, so that the records are not copied.
pub fn append<D>(into: &mut Vec<D>, batch: &mut Vec<D>) {
    if into.is_empty() {
        std::mem::swap(into, batch);
    } else {
        into.append(batch);
    }
}

/// The oldest of `candidates` that no frontier in `frontiers` can still produce data for.
pub fn ready_epoch(
    candidates: impl IntoIterator<Item = Option<u64>>,
    frontiers: &[&MutableAntichain<u64>],
) -> Option<u64> {
    let oldest = candidates.into_iter().flatten().min()?;
    frontiers.iter().all(|f| !f.less_equal(&oldest)).then_some(oldest)
}

/// The oldest epoch a frontier can still produce (`None` once the input has ended).
pub fn frontier_epoch(frontier: timely::progress::frontier::AntichainRef<'_, u64>) -> Option<u64> {
    frontier.iter().min().copied()
}
