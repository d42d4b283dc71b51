//! Reading events into the dataflow: event-time epochs, a watermark, and dead letters.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use timely::ExchangeData;
use timely::dataflow::operators::OkErr;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::{Scope, StreamVec};
use timely::scheduling::SyncActivator;

use crate::event::{DeadLetter, EventTime, Ts, truncate_utf8};
use crate::sink::SinkProgress;
use crate::snapshot::SnapshotPort;
use crate::time::{Admission, EpochClock, Watermark};

/// What a reader has for the source after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// More may be read at once.
    More,
    /// Nothing now; ask again after a short pause.
    Idle,
    /// Nothing more, ever.
    Exhausted,
}

/// One worker's share of an input: a file, a simulator, a set of Kafka partitions.
pub trait EventReader<R>: 'static {
    /// Appends at most `max` records (or dead letters for input that could not be read), each
    /// with its position in the input (a line number, an offset).
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus;
    /// Names the input at `position` for a dead letter, e.g. `ticks.csv:17`.
    fn origin(&self, position: u64) -> String;
    /// How many independently ordered lanes the input has (Kafka partitions): each keeps its
    /// own watermark. One for a file or a simulator.
    fn lanes(&self) -> usize {
        1
    }
    /// The lane of the record at `position`, below `lanes()`.
    fn lane(&self, _position: u64) -> usize {
        0
    }
    /// Whether `lane` has read all its input holds for now (a Kafka partition at its end).
    /// Only such a lane counts as idle: one that is behind and gets nothing (its broker is
    /// down) is waited for, or the others would move on and its records would come late.
    fn caught_up(&self, _lane: usize) -> bool {
        true
    }
    /// The job is stopping: nothing more will be read. A reader that commits its position
    /// (Kafka) records how far it got.
    fn stop(&mut self) {}
    /// How far the reader has read, enough to resume right after the last record it gave
    /// (the next line of a file, the next offset of each partition): kept in snapshots.
    fn position(&self) -> Vec<u64> {
        Vec::new()
    }
    /// Continues right after `position`, as [`position`](Self::position) gave it in an earlier
    /// run over the same input. A reader that cannot says so.
    fn resume(&mut self, _position: &[u64]) -> Result<(), String> {
        Err("this source cannot resume from a snapshot".into())
    }
    /// Its [`position`](Self::position) was just saved in the snapshot at `boundary`. A reader
    /// that commits its position (Kafka) records it, to commit once that snapshot is complete.
    fn saved(&mut self, _boundary: u64) {}
}

impl<R: 'static> EventReader<R> for Box<dyn EventReader<R>> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        (**self).read(max, out)
    }
    fn origin(&self, position: u64) -> String {
        (**self).origin(position)
    }
    fn lanes(&self) -> usize {
        (**self).lanes()
    }
    fn lane(&self, position: u64) -> usize {
        (**self).lane(position)
    }
    fn caught_up(&self, lane: usize) -> bool {
        (**self).caught_up(lane)
    }
    fn stop(&mut self) {
        (**self).stop()
    }
    fn position(&self) -> Vec<u64> {
        (**self).position()
    }
    fn resume(&mut self, position: &[u64]) -> Result<(), String> {
        (**self).resume(position)
    }
    fn saved(&mut self, boundary: u64) {
        (**self).saved(boundary)
    }
}

/// A reader that ends early, cleanly, when `stop` is set: the job's graceful stop. What was
/// read still flows through the graph and out through the sinks.
pub struct Stoppable<Rd> {
    pub inner: Rd,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

impl<R, Rd: EventReader<R>> EventReader<R> for Stoppable<Rd> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        if self.stop.load(Ordering::Relaxed) {
            self.inner.stop();
            return ReadStatus::Exhausted;
        }
        self.inner.read(max, out)
    }
    fn origin(&self, position: u64) -> String {
        self.inner.origin(position)
    }
    fn lanes(&self) -> usize {
        self.inner.lanes()
    }
    fn lane(&self, position: u64) -> usize {
        self.inner.lane(position)
    }
    fn caught_up(&self, lane: usize) -> bool {
        self.inner.caught_up(lane)
    }
    fn stop(&mut self) {
        self.inner.stop()
    }
    fn position(&self) -> Vec<u64> {
        self.inner.position()
    }
    fn resume(&mut self, position: &[u64]) -> Result<(), String> {
        self.inner.resume(position)
    }
    fn saved(&mut self, boundary: u64) {
        self.inner.saved(boundary)
    }
}

/// A deterministic reader (a file, the simulator) made resumable by counting: its position is
/// the number of items it has given, and resuming reads that many again and drops them.
pub struct Counted<Rd> {
    pub inner: Rd,
    count: u64,
}

impl<Rd> Counted<Rd> {
    pub fn new(inner: Rd) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R, Rd: EventReader<R>> EventReader<R> for Counted<Rd> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        let before = out.len();
        let status = self.inner.read(max, out);
        self.count += (out.len() - before) as u64;
        status
    }
    fn origin(&self, position: u64) -> String {
        self.inner.origin(position)
    }
    fn lanes(&self) -> usize {
        self.inner.lanes()
    }
    fn lane(&self, position: u64) -> usize {
        self.inner.lane(position)
    }
    fn caught_up(&self, lane: usize) -> bool {
        self.inner.caught_up(lane)
    }
    fn stop(&mut self) {
        self.inner.stop()
    }
    fn position(&self) -> Vec<u64> {
        vec![self.count]
    }
    fn resume(&mut self, position: &[u64]) -> Result<(), String> {
        let &[target] = position else {
            return Err(format!("expected one position, the snapshot has {}", position.len()));
        };
        let mut skipped = Vec::new();
        while self.count < target {
            let max = (target - self.count).min(4096) as usize;
            let status = self.read(max, &mut skipped);
            skipped.clear();
            if status == ReadStatus::Exhausted && self.count < target {
                return Err(format!(
                    "the input ends after {} records, before the {target} the snapshot had read",
                    self.count
                ));
            }
        }
        Ok(())
    }
}

/// A reader with nothing to read: an input the job does not use, or another worker's file.
pub struct NoInput;

impl<R: 'static> EventReader<R> for NoInput {
    fn read(&mut self, _max: usize, _out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        ReadStatus::Exhausted
    }
    fn origin(&self, position: u64) -> String {
        format!("no input @{position}")
    }
    fn resume(&mut self, _position: &[u64]) -> Result<(), String> {
        Ok(())
    }
}

/// How a source decides what is late.
#[derive(Clone, Copy, Debug)]
pub struct SourcePolicy {
    pub clock: EpochClock,
    /// A record this far behind the largest event time seen is still accepted.
    pub allowed_lateness: i64,
    /// A record further ahead of the largest event time seen is refused.
    pub max_ahead: i64,
    /// Records per activation, so other operators get to run.
    pub batch: usize,
    /// Pause before asking an idle reader again.
    pub idle_poll: Duration,
    /// A lane with no record for this long (wall clock) stops holding the frontier back.
    pub idle_timeout: Duration,
}

/// One lane's watermark and when it last had a record.
struct Lane {
    watermark: Watermark,
    last: Instant,
}

/// The event time the source may advance its frontier to: the smallest watermark of the lanes
/// that are not idle; nothing while one of those has no record yet; the largest watermark when
/// every lane is idle.
fn combined_watermark(lanes: &[Lane], idle_timeout: Duration, caught_up: impl Fn(usize) -> bool) -> Option<Ts> {
    let idle = |(i, l): &(usize, &Lane)| l.last.elapsed() >= idle_timeout && caught_up(*i);
    let mut active = lanes.iter().enumerate().filter(|il| !idle(il)).map(|(_, l)| l).peekable();
    if active.peek().is_some() {
        active.map(|l| l.watermark.watermark()).try_fold(Ts::MAX, |min, w| w.map(|w| min.min(w)))
    } else {
        lanes.iter().filter_map(|l| l.watermark.watermark()).max()
    }
}

/// How long a source that is far enough ahead waits before looking at the probe again.
const PACE_POLL: Duration = Duration::from_micros(200);

/// Keeps a source within a bounded distance of what the graph has finished, so that memory
/// stays flat however far the input reaches: the source reads only while its frontier is at most
/// `max_epochs_ahead` epochs past every sink's accepted frontier and the frontier of the probed
/// streams (the most downstream ones that no sink takes).
///
/// Each sink registers its [`SinkProgress`] in `sinks`. A sink that holds back (a store that is
/// down and a buffer at its bound) stops accepting, and so stops the sources.
#[derive(Clone)]
pub struct Pace {
    pub probe: ProbeHandle<u64>,
    pub max_epochs_ahead: u64,
    pub sinks: Rc<RefCell<Vec<Arc<SinkProgress>>>>,
}

impl Pace {
    pub fn new(probe: ProbeHandle<u64>, max_epochs_ahead: u64) -> Self {
        Pace { probe, max_epochs_ahead, sinks: Rc::default() }
    }

    /// The furthest epoch a source may be at: `max_epochs_ahead` past what the probed streams
    /// and every sink have finished (`u64::MAX` once they all have).
    fn limit(&self) -> u64 {
        let probed = self.probe.with_frontier(|f| f.iter().min().copied()).unwrap_or(u64::MAX);
        let accepted = self.sinks.borrow().iter().map(|s| s.accepted.load(Ordering::Acquire)).min();
        probed.min(accepted.unwrap_or(u64::MAX)).saturating_add(self.max_epochs_ahead)
    }
}

/// Counters a source keeps for progress reports and metrics.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub records: AtomicU64,
    pub dead_letters: AtomicU64,
    /// Largest accepted event time (0 before the first record).
    pub max_ts: AtomicI64,
    /// The epoch the source's frontier is at (`u64::MAX` once it has finished): what a
    /// [`live_control`](crate::live_control::live_control) source follows.
    pub frontier: AtomicU64,
    /// When (wall clock) the source first emitted each recent epoch: for latencies measured
    /// from the input, such as tick to order.
    pub first_seen: EpochWallClock,
    /// Operators woken whenever `frontier` moves, so that one following it does not hold the
    /// graph back until its next poll.
    followers: std::sync::Mutex<Vec<SyncActivator>>,
}

impl SourceStats {
    /// Wakes `follower` each time the source's frontier moves.
    pub fn add_follower(&self, follower: SyncActivator) {
        if let Ok(mut followers) = self.followers.lock() {
            followers.push(follower);
        }
    }

    /// Records the source's frontier, waking the followers if it moved.
    fn advance_frontier(&self, epoch: u64) {
        if self.frontier.swap(epoch, Ordering::AcqRel) != epoch
            && let Ok(mut followers) = self.followers.lock()
        {
            // A follower whose dataflow is gone has nothing left to follow.
            followers.retain(|f| f.activate().is_ok());
        }
    }
}

/// The wall-clock instant each of the most recent epochs was first emitted, newest last.
#[derive(Debug, Default)]
pub struct EpochWallClock {
    seen: std::sync::Mutex<std::collections::VecDeque<(u64, Instant)>>,
    /// The newest epoch noted (plus one; 0 before any), so that an epoch already noted costs
    /// an atomic read and no lock.
    newest: AtomicU64,
}

/// Epochs an [`EpochWallClock`] remembers.
const EPOCHS_REMEMBERED: usize = 65_536;

impl EpochWallClock {
    /// Notes `epoch` if it is newer than every epoch noted so far (once per new epoch).
    pub fn note(&self, epoch: u64) {
        if epoch < self.newest.load(Ordering::Relaxed) {
            return;
        }
        self.newest.fetch_max(epoch.saturating_add(1), Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock()
            && seen.back().is_none_or(|(last, _)| epoch > *last)
        {
            seen.push_back((epoch, Instant::now()));
            if seen.len() > EPOCHS_REMEMBERED {
                seen.pop_front();
            }
        }
    }

    /// When `epoch` (or the newest epoch before it) was first emitted.
    pub fn at(&self, epoch: u64) -> Option<Instant> {
        let seen = self.seen.lock().ok()?;
        let after = seen.partition_point(|(e, _)| *e <= epoch);
        after.checked_sub(1).map(|i| seen[i].1)
    }
}

/// Creates a source that reads records from `reader`, stamps each with the epoch of its event
/// time, holds the frontier at the epoch of the watermark (per lane, combined: see
/// [`EventReader::lanes`]), and sends what is late, too far ahead, or unreadable to the second
/// stream with the reason.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use timely::dataflow::operators::Capture;
/// use tradeflow_operators::testing::records;
/// use tradeflow_operators::source::{ingest, EventReader, ReadStatus, SourcePolicy, SourceStats};
/// use tradeflow_operators::{DeadLetter, EpochClock, Symbol, Tick};
///
/// struct Fixed(Vec<i64>);
/// impl EventReader<Tick> for Fixed {
///     fn read(&mut self, _max: usize, out: &mut Vec<(u64, Result<Tick, DeadLetter>)>) -> ReadStatus {
///         let ticks = self.0.drain(..).map(|ts| Ok(Tick { symbol: Symbol(0), ts, price: 1.0, size: 1.0, bid: None, ask: None }));
///         out.extend((1..).zip(ticks));
///         ReadStatus::Exhausted
///     }
///     fn origin(&self, line: u64) -> String { format!("fixed:{line}") }
/// }
/// let policy = SourcePolicy {
///     clock: EpochClock::new(10), allowed_lateness: 5, max_ahead: 1_000, batch: 100,
///     idle_poll: Duration::from_millis(1), idle_timeout: Duration::from_secs(1),
/// };
/// let (ticks, dead) = timely::example(move |scope| {
///     let (ticks, dead) = ingest(scope, "ticks", Fixed(vec![100, 97, 50, 120]), policy, None, Arc::new(SourceStats::default()));
///     (ticks.capture(), dead.capture())
/// });
/// let mut ticks: Vec<i64> = records(ticks).into_iter().map(|t| t.ts).collect();
/// ticks.sort();
/// let dead: Vec<DeadLetter> = records(dead).into_iter().collect();
/// assert_eq!(ticks, [97, 100, 120]);
/// assert!(dead[0].reason.starts_with("late"));
/// assert_eq!(dead[0].origin, "fixed:3");
/// ```
pub fn ingest<'scope, R, Rd>(
    scope: Scope<'scope, u64>,
    name: &str,
    reader: Rd,
    policy: SourcePolicy,
    pace: Option<Pace>,
    stats: Arc<SourceStats>,
) -> (StreamVec<'scope, u64, R>, StreamVec<'scope, u64, DeadLetter>)
where
    R: EventTime + ExchangeData + Clone + std::fmt::Debug + Serialize + DeserializeOwned,
    Rd: EventReader<R>,
{
    ingest_saved(scope, name, reader, policy, pace, stats, None)
}

/// What a source keeps in a snapshot at boundary `B`: where its reader had got to, the
/// lanes' watermarks, and the records already sent for epochs at or after `B` (which the
/// operators downstream had not yet processed).
#[derive(Serialize, Deserialize)]
struct SourceState<R> {
    position: Vec<u64>,
    watermarks: Vec<Watermark>,
    ahead: Vec<(u64, Result<R, DeadLetter>)>,
}

/// [`ingest`], with the source's position in the snapshots: restored, the reader resumes
/// after the position saved and the records saved are sent again.
pub fn ingest_saved<'scope, R, Rd>(
    scope: Scope<'scope, u64>,
    name: &str,
    mut reader: Rd,
    policy: SourcePolicy,
    pace: Option<Pace>,
    stats: Arc<SourceStats>,
    mut snapshot: Option<SnapshotPort>,
) -> (StreamVec<'scope, u64, R>, StreamVec<'scope, u64, DeadLetter>)
where
    R: EventTime + ExchangeData + Clone + std::fmt::Debug + Serialize + DeserializeOwned,
    Rd: EventReader<R>,
{
    let label = name.to_owned();
    let mixed: StreamVec<'scope, u64, Result<R, DeadLetter>> = source(scope, name, move |initial, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = Some(initial);
        let started = Instant::now();
        let mut lanes: Vec<Lane> = (0..reader.lanes().max(1))
            .map(|_| Lane { watermark: Watermark::new(policy.allowed_lateness, policy.max_ahead), last: started })
            .collect();
        let mut buffer: Vec<(u64, Result<R, DeadLetter>)> = Vec::with_capacity(policy.batch);
        let mut accepted: Vec<(u64, Result<R, DeadLetter>)> = Vec::with_capacity(policy.batch);
        // Records (and dead letters) sent for epochs at or after the next boundary: part of
        // the next snapshot.
        let mut ahead: Vec<(u64, Result<R, DeadLetter>)> = Vec::new();
        let mut resend: Vec<(u64, Result<R, DeadLetter>)> = Vec::new();
        let mut start = 0;
        if let Some(port) = snapshot.as_ref()
            && let Some(state) = port.restore_or_panic::<SourceState<R>>()
        {
            if state.watermarks.len() != lanes.len() {
                panic!(
                    "snapshot of source `{label}`: {} lanes (partitions) then, {} now",
                    state.watermarks.len(),
                    lanes.len()
                );
            }
            if let Err(e) = reader.resume(&state.position) {
                panic!("source `{label}` cannot resume from the snapshot: {e}");
            }
            for (lane, watermark) in lanes.iter_mut().zip(state.watermarks) {
                lane.watermark = watermark;
            }
            start = port.start();
            resend = state.ahead.into_iter().filter(|(epoch, _)| *epoch >= start).collect();
        }

        // With snapshots, the frontier stays within the pace too, not only the reading: one
        // batch of a sparse input (news) can reach hours ahead, and operators that far ahead
        // would hold off every snapshot (see `snapshot`). `desired` is where the watermarks
        // would put it; records are sent at once either way.
        let capped = snapshot.is_some();
        let mut desired = 0;
        let mut exhausted = false;
        // The epochs at or after the frontier that records were sent for (when capped): the
        // frontier may jump to the first of them however far ahead, as nothing is processed
        // before it.
        let mut sent_ahead: BTreeSet<u64> = BTreeSet::new();
        move |output| {
            let Some(held) = cap.as_mut() else { return };
            if start > *held.time() {
                // Restarted: what was sent for the boundary and after goes again, first.
                for (epoch, item) in resend.drain(..) {
                    // Sent again, they are part of the next snapshot as much as new ones.
                    ahead.push((epoch, item.clone()));
                    if capped {
                        sent_ahead.insert(epoch);
                    }
                    output.session(&held.delayed(&epoch)).give(item);
                }
                held.downgrade(&start);
                stats.advance_frontier(start);
            }
            let limit = pace.as_ref().map_or(u64::MAX, Pace::limit);
            desired = desired.max(*held.time());
            // Far enough ahead: look again shortly, letting an idle worker park rather than spin
            // (workers may outnumber cores).
            let paced_out = !exhausted && desired > limit;
            let status = if exhausted {
                ReadStatus::Exhausted
            } else if paced_out {
                // Lanes we do not read are not idle.
                let now = Instant::now();
                lanes.iter_mut().for_each(|l| l.last = now);
                ReadStatus::Idle
            } else {
                reader.read(policy.batch, &mut buffer)
            };
            let (mut records, mut dead) = (0, 0);
            for (position, item) in buffer.drain(..) {
                match item {
                    Ok(record) => {
                        let ts = record.event_ts();
                        let lane = reader.lane(position).min(lanes.len() - 1);
                        lanes[lane].last = Instant::now();
                        let epoch = policy.clock.epoch(ts);
                        let admitted = match lanes[lane].watermark.admit(ts) {
                            // A lane that was idle may come back behind what the others have
                            // already closed: late for the source as a whole.
                            Admission::Accept if epoch < *held.time() => Err(format!(
                                "late: event time {ts} is behind the source's frontier (its partition was idle)"
                            )),
                            Admission::Accept => Ok(()),
                            refused => Err(refused.reason(ts).unwrap_or_default()),
                        };
                        match admitted {
                            Ok(()) => {
                                records += 1;
                                accepted.push((epoch, Ok(record)));
                            }
                            Err(reason) => {
                                dead += 1;
                                let mut raw = format!("{record:?}");
                                truncate_utf8(&mut raw, 4096);
                                let letter = DeadLetter { ts: ts.max(0), origin: reader.origin(position), reason, raw };
                                accepted.push((*held.time(), Err(letter)));
                            }
                        }
                    }
                    Err(mut letter) => {
                        dead += 1;
                        if letter.ts == 0 {
                            letter.ts = lanes.iter().filter_map(|l| l.watermark.watermark()).max().unwrap_or(0);
                        }
                        accepted.push((*held.time(), Err(letter)));
                    }
                }
            }
            // Emit in runs of equal epoch, one capability per run. Lanes (partitions) interleave
            // in a batch at different event times: group by epoch first, keeping each lane's
            // order, or every small run costs a message and its progress update downstream.
            accepted.sort_by_key(|(epoch, _)| *epoch);
            let mut items = accepted.drain(..).peekable();
            let keep_from = snapshot.as_ref().map_or(u64::MAX, SnapshotPort::next_boundary);
            while let Some((epoch, first)) = items.next() {
                stats.first_seen.note(epoch);
                if capped {
                    sent_ahead.insert(epoch);
                }
                let at = held.delayed(&epoch);
                let mut session = output.session(&at);
                if epoch >= keep_from {
                    ahead.push((epoch, first.clone()));
                }
                session.give(first);
                while let Some((_, item)) = items.next_if(|(e, _)| *e == epoch) {
                    if epoch >= keep_from {
                        ahead.push((epoch, item.clone()));
                    }
                    session.give(item);
                }
            }
            drop(items);
            stats.records.fetch_add(records, Ordering::Relaxed);
            stats.dead_letters.fetch_add(dead, Ordering::Relaxed);
            if let Some(newest) = lanes.iter().filter_map(|l| l.watermark.watermark()).max() {
                stats.max_ts.fetch_max(newest + policy.allowed_lateness, Ordering::Relaxed);
            }
            if let Some(wm) = combined_watermark(&lanes, policy.idle_timeout, |lane| reader.caught_up(lane)) {
                desired = desired.max(policy.clock.epoch(wm));
            }
            exhausted |= matches!(status, ReadStatus::Exhausted);
            sent_ahead = sent_ahead.split_off(held.time());
            // Exhausted, the source ends once its frontier has passed all it sent; until then
            // (when capped) it follows the pace.
            let ends = exhausted && (!capped || sent_ahead.is_empty() || limit == u64::MAX);
            let reach = match (capped, exhausted) {
                (false, _) => desired,
                (true, false) => desired.min(limit.max(sent_ahead.first().copied().unwrap_or(u64::MAX))),
                (true, true) => limit.max(sent_ahead.first().copied().unwrap_or(u64::MAX)),
            };
            if !ends && reach > *held.time() {
                held.downgrade(&reach);
            }
            if let Some(port) = snapshot.as_mut()
                && let Some(boundary) = port.due(*held.time())
            {
                let state = SourceState {
                    position: reader.position(),
                    watermarks: lanes.iter().map(|l| l.watermark.clone()).collect(),
                    ahead: ahead.iter().filter(|(e, _)| *e >= boundary).cloned().collect(),
                };
                port.save(boundary, &state);
                reader.saved(boundary);
                let next = port.next_boundary();
                ahead.retain(|(e, _)| *e >= next);
            }
            match status {
                _ if paced_out || (exhausted && !ends) => activator.activate_after(PACE_POLL),
                ReadStatus::More => activator.activate(),
                ReadStatus::Idle => activator.activate_after(policy.idle_poll),
                ReadStatus::Exhausted => {
                    cap = None;
                    if let Some(port) = snapshot.as_mut() {
                        let watermarks = lanes.iter().map(|l| l.watermark.clone()).collect();
                        // It stands for every later boundary: a restart keeps what it sent for
                        // epochs at or after its own.
                        let ahead = std::mem::take(&mut ahead);
                        port.finish(&SourceState::<R> { position: reader.position(), watermarks, ahead });
                    }
                }
            }
            let reached = cap.as_ref().map_or(u64::MAX, |c| *c.time());
            stats.advance_frontier(reached);
        }
    });
    mixed.ok_err(|item: Result<R, DeadLetter>| item)
}
