//! Inputs generated ahead of a run and held in memory: what the benchmark harness replays, so
//! that a measurement times the graph and not the simulator. Optionally released by event time
//! at a fixed speed, for latency measurements.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{DeadLetter, News, Tick};

use super::simulator::{NewsSimulator, SimulatorConfig, TickSimulator, news_schedule};

/// Every worker's share of the simulator's ticks and news, generated once.
#[derive(Debug)]
pub struct Preloaded {
    pub ticks: Vec<Arc<Vec<Tick>>>,
    pub news: Vec<Arc<Vec<News>>>,
    /// Ticks per second of wall time across all workers, or as fast as the graph takes them.
    pub rate: Option<f64>,
    /// When the first worker began reading: every worker's paced ticks are due from the same
    /// instant.
    started: Arc<OnceLock<Instant>>,
}

/// Releases records by event time at a fixed speed. Paced by count instead, workers whose
/// shares are denser in some stretch of event time would fall behind the others, and hold
/// every epoch back by as much.
#[derive(Clone, Debug)]
struct Pacing {
    first_ts: i64,
    /// Event time released per second of wall time, in ns.
    event_ns_per_s: f64,
    started: Arc<OnceLock<Instant>>,
}

fn drain<R>(mut reader: impl EventReader<R>) -> Vec<R> {
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(65_536);
    loop {
        let status = reader.read(65_536, &mut batch);
        out.extend(batch.drain(..).filter_map(|(_, r)| r.ok()));
        if status == ReadStatus::Exhausted {
            return out;
        }
    }
}

impl Preloaded {
    /// Runs the simulator to its end for `peers` workers, keeping everything in memory.
    pub fn from_simulator(sim: &SimulatorConfig, peers: usize) -> Self {
        let schedule = news_schedule(sim, &sim.symbol_names());
        let ticks = (0..peers).map(|i| Arc::new(drain(TickSimulator::new(sim, &schedule, i, peers)))).collect();
        let news = (0..peers).map(|i| Arc::new(drain(NewsSimulator::new(&schedule, i)))).collect();
        Preloaded { ticks, news, rate: None, started: Arc::default() }
    }

    pub fn tick_count(&self) -> usize {
        self.ticks.iter().map(|t| t.len()).sum()
    }

    pub(crate) fn readers(&self, index: usize) -> (MemoryReader<Tick>, MemoryReader<News>) {
        let ticks = self.ticks.get(index).cloned().unwrap_or_default();
        let news = self.news.get(index).cloned().unwrap_or_default();
        (MemoryReader::new(ticks, self.pacing()), MemoryReader::new(news, None))
    }

    /// `rate` ticks a second on average: the event time all workers' ticks span, at that rate.
    fn pacing(&self) -> Option<Pacing> {
        let rate = self.rate?;
        let first_ts = self.ticks.iter().filter_map(|t| t.first()).map(|t| t.ts).min()?;
        let last_ts = self.ticks.iter().filter_map(|t| t.last()).map(|t| t.ts).max()?;
        let event_ns_per_s = (last_ts - first_ts) as f64 * rate / self.tick_count().max(1) as f64;
        Some(Pacing { first_ts, event_ns_per_s, started: Arc::clone(&self.started) })
    }
}

/// Reads records (in event-time order) out of a shared vector, optionally paced.
pub struct MemoryReader<R> {
    records: Arc<Vec<R>>,
    at: usize,
    pacing: Option<Pacing>,
}

impl<R> MemoryReader<R> {
    fn new(records: Arc<Vec<R>>, pacing: Option<Pacing>) -> Self {
        MemoryReader { records, at: 0, pacing }
    }
}

trait EventTime {
    fn event_ts(&self) -> i64;
}

impl EventTime for Tick {
    fn event_ts(&self) -> i64 {
        self.ts
    }
}

impl EventTime for News {
    fn event_ts(&self) -> i64 {
        self.ts
    }
}

impl<R: EventTime + Clone + 'static> EventReader<R> for MemoryReader<R> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        if self.at >= self.records.len() {
            return ReadStatus::Exhausted;
        }
        let mut until = (self.at + max).min(self.records.len());
        if let Some(p) = &self.pacing {
            let started = *p.started.get_or_init(Instant::now);
            let due_ts = p.first_ts as f64 + started.elapsed().as_secs_f64() * p.event_ns_per_s;
            until = self.at + self.records[self.at..until].partition_point(|r| r.event_ts() as f64 <= due_ts);
            if until == self.at {
                return ReadStatus::Idle;
            }
        }
        out.extend(self.records[self.at..until].iter().map(|r| (r.event_ts() as u64, Ok(r.clone()))));
        self.at = until;
        ReadStatus::More
    }

    fn origin(&self, position: u64) -> String {
        format!("preloaded records @{position}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeflow_operators::Symbol;

    fn ticks(n: usize) -> Arc<Vec<Tick>> {
        Arc::new(
            (0..n)
                .map(|i| Tick { symbol: Symbol(0), ts: i as i64, price: 1.0, size: 1.0, bid: None, ask: None })
                .collect(),
        )
    }

    #[test]
    fn memory_reader_gives_everything_in_order_then_ends() {
        let mut reader = MemoryReader::new(ticks(10), None);
        let mut out = Vec::new();
        assert_eq!(reader.read(4, &mut out), ReadStatus::More);
        assert_eq!(reader.read(100, &mut out), ReadStatus::More);
        assert_eq!(reader.read(100, &mut out), ReadStatus::Exhausted);
        let ts: Vec<u64> = out.iter().map(|(p, _)| *p).collect();
        assert_eq!(ts, (0..10).collect::<Vec<u64>>());
    }

    #[test]
    fn a_paced_reader_releases_no_more_than_its_rate() {
        // 1,000 a second (one a ns of event time): within the first few milliseconds only a
        // handful are due.
        let pacing = Pacing { first_ts: 0, event_ns_per_s: 1000.0, started: Arc::default() };
        let mut reader = MemoryReader::new(ticks(100_000), Some(pacing));
        let mut out = Vec::new();
        let started = Instant::now();
        while reader.read(100_000, &mut out) != ReadStatus::Exhausted && started.elapsed().as_millis() < 50 {}
        let due = (started.elapsed().as_secs_f64() * 1000.0).ceil() as usize + 1;
        assert!(out.len() <= due, "{} released after {:?}", out.len(), started.elapsed());
    }
}
