//! The built-in market simulator: deterministic from a seed, many symbols, geometric Brownian
//! motion with volatility regimes and news-driven jumps. Headlines precede their jumps (and a
//! drift follows them), so news sentiment carries real signal.

use serde::Deserialize;
use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{DeadLetter, MAX_EVENT_TS, News, SECOND, Symbol, Tick, Ts};

use super::rng::Rng;
use crate::config::{TEN_YEARS_S, TimeText, within};

/// Seconds in a trading year (252 days of 6.5 hours), for scaling annual volatility.
const TRADING_YEAR_S: f64 = 252.0 * 6.5 * 3600.0;
/// Volatility multipliers of the calm, normal and stressed regimes.
const REGIMES: [f64; 3] = [0.6, 1.0, 2.0];
/// Mean time a symbol stays in one regime.
const REGIME_MEAN_S: f64 = 1800.0;
/// After a news jump, the price keeps drifting the same way by half the jump over this long.
const DRIFT_S: f64 = 1800.0;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    pub seed: u64,
    /// Number of symbols.
    pub symbols: usize,
    /// Event time of the first tick.
    pub start: TimeText,
    pub duration_s: f64,
    /// Mean trades per second per symbol.
    pub ticks_per_second: f64,
    /// Typical annualized volatility (each symbol draws its own around it).
    pub annual_vol: f64,
    /// News articles per hour across all symbols.
    pub news_per_hour: f64,
    /// Typical size of a news-driven jump, in percent.
    pub jump_pct: f64,
    /// A headline comes up to this many seconds before its jump.
    pub news_lead_max_s: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 42,
            symbols: 50,
            start: TimeText::Text("2024-01-02T14:30:00Z".into()),
            duration_s: 23_400.0,
            ticks_per_second: 3.0,
            annual_vol: 0.3,
            news_per_hour: 30.0,
            jump_pct: 2.0,
            news_lead_max_s: 180.0,
        }
    }
}

impl SimulatorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100_000).contains(&self.symbols) {
            return Err(format!("source.symbols must be between 1 and 100000, got {}", self.symbols));
        }
        let start = self.start.resolve().map_err(|e| format!("source.start: {e}"))?;
        for (key, v, max) in [
            ("duration_s", self.duration_s, TEN_YEARS_S),
            ("ticks_per_second", self.ticks_per_second, 1e6),
            ("annual_vol", self.annual_vol, 10.0),
            ("news_per_hour", self.news_per_hour, 1e6),
            ("jump_pct", self.jump_pct, 50.0),
            ("news_lead_max_s", self.news_lead_max_s, 86_400.0),
        ] {
            within(&format!("source.{key}"), v, max)?;
        }
        if self.duration_s <= 0.0 || self.ticks_per_second <= 0.0 || self.annual_vol <= 0.0 {
            return Err("source.duration_s, source.ticks_per_second and source.annual_vol must be positive".into());
        }
        if !(0..=MAX_EVENT_TS / 2).contains(&start) {
            return Err(format!("source.start must be between 1970-01-01 and 2100-01-01, got {start} ns"));
        }
        Ok(())
    }

    pub fn start_ts(&self) -> Ts {
        self.start.resolve().unwrap_or(0)
    }

    pub fn end_ts(&self) -> Ts {
        self.start_ts() + (self.duration_s * SECOND as f64) as Ts
    }

    /// Pronounceable made-up tickers, the same for a given count on every machine.
    pub fn symbol_names(&self) -> Vec<String> {
        const C: &[u8] = b"BDFGKLMNPRSTVZ";
        const V: &[u8] = b"AEIOU";
        (0..self.symbols)
            .map(|i| {
                let (a, rest) = (i % C.len(), i / C.len());
                let (b, rest) = (rest % V.len(), rest / V.len());
                let (c, rest) = (rest % C.len(), rest / C.len());
                let (d, rest) = (rest % V.len(), rest / V.len());
                let mut name: String = [C[a], V[b], C[c], V[d]].iter().map(|&x| x as char).collect();
                if rest > 0 {
                    name.push_str(&rest.to_string());
                }
                name
            })
            .collect()
    }
}

/// A scheduled news story and the jump it announces.
#[derive(Clone, Debug)]
pub struct NewsEvent {
    pub news: News,
    pub symbol: Symbol,
    /// Log-price jump (0 for neutral news).
    pub jump: f64,
    pub jump_ts: Ts,
}

const POSITIVE: &[&str] = &[
    "{T} beats earnings estimates and raises full-year guidance",
    "{T} shares surge after regulator approval of flagship product",
    "{T} wins major contract; analysts upgrade to outperform",
    "{T} announces record quarterly profit and larger buyback",
    "{T} soars as partnership boosts growth outlook",
];
const NEGATIVE: &[&str] = &[
    "{T} misses estimates and cuts guidance",
    "{T} shares plunge after regulator opens fraud probe",
    "{T} downgraded to underperform on weak demand",
    "{T} warns of losses as recall widens",
    "{T} tumbles after disappointing quarterly results",
];
const NEUTRAL: &[&str] = &[
    "{T} to hold annual shareholder meeting next month",
    "{T} names new head of investor relations",
    "{T} schedules earnings call for next week",
];

/// The whole run's news, in event-time order. Every worker computes the same schedule.
pub fn news_schedule(cfg: &SimulatorConfig, names: &[String]) -> Vec<NewsEvent> {
    let mut rng = Rng::derive(cfg.seed, 0x4E45_5753);
    let (start, end) = (cfg.start_ts(), cfg.end_ts());
    let mut events = Vec::new();
    if cfg.news_per_hour <= 0.0 || names.is_empty() {
        return events;
    }
    let mean_gap_s = 3600.0 / cfg.news_per_hour;
    let mut t = start as f64;
    let mut n = 0u64;
    loop {
        t += rng.exponential(mean_gap_s) * SECOND as f64;
        let ts = t as Ts;
        if ts >= end {
            break;
        }
        n += 1;
        let s = rng.below(names.len());
        let kind = rng.uniform();
        let (templates, direction) = if kind < 0.4 {
            (POSITIVE, 1.0)
        } else if kind < 0.8 {
            (NEGATIVE, -1.0)
        } else {
            (NEUTRAL, 0.0)
        };
        let headline = templates[rng.below(templates.len())].replace("{T}", &names[s]);
        let jump = direction * cfg.jump_pct / 100.0 * (0.5 + rng.uniform());
        let lead = rng.uniform() * cfg.news_lead_max_s;
        let body = format!("{headline}. Market participants reacted to the report on {}.", names[s]);
        let news = News {
            id: format!("sim-{}-{n}", cfg.seed),
            ts,
            source: "simwire".into(),
            headline,
            body,
            symbols: vec![Symbol(s as u32)],
        };
        let jump_ts = ts + (lead * SECOND as f64) as Ts;
        // Some stories are repeated by a second wire a few seconds later: the same id.
        if rng.uniform() < 0.1 {
            let mut repeat = news.clone();
            repeat.ts += (rng.uniform() * 5.0 * SECOND as f64) as Ts;
            repeat.source = "simwire-b".into();
            events.push(NewsEvent { news: repeat, symbol: Symbol(s as u32), jump: 0.0, jump_ts });
        }
        events.push(NewsEvent { news, symbol: Symbol(s as u32), jump, jump_ts });
    }
    events.sort_by_key(|e| (e.news.ts, e.jump == 0.0));
    events
}

/// One symbol's price path.
struct Path {
    symbol: Symbol,
    rng: Rng,
    log_price: f64,
    sigma: f64,
    regime: usize,
    spread_bps: f64,
    rate_s: f64,
    next_ts: Ts,
    last_ts: Ts,
    drift_per_s: f64,
    drift_until: Ts,
    /// (jump time, log jump), soonest last.
    jumps: Vec<(Ts, f64)>,
}

impl Path {
    fn new(cfg: &SimulatorConfig, symbol: Symbol, jumps: Vec<(Ts, f64)>) -> Self {
        let mut rng = Rng::derive(cfg.seed, u64::from(symbol.0) + 1);
        let start = cfg.start_ts();
        let price = (20f64.ln() + rng.uniform() * (500f64 / 20.0).ln()).exp();
        let sigma = cfg.annual_vol * (0.5 + rng.uniform());
        let mut path = Path {
            symbol,
            log_price: price.ln(),
            sigma,
            regime: 1,
            spread_bps: 1.0 + 4.0 * rng.uniform(),
            rate_s: cfg.ticks_per_second,
            next_ts: start,
            last_ts: start,
            drift_per_s: 0.0,
            drift_until: start,
            jumps,
            rng,
        };
        path.next_ts = start + path.gap();
        path
    }

    fn gap(&mut self) -> Ts {
        ((self.rng.exponential(1.0 / self.rate_s) * SECOND as f64) as Ts).max(1)
    }

    /// The trade at `next_ts`, then schedules the following one.
    fn step(&mut self) -> Tick {
        let ts = self.next_ts;
        let dt_s = (ts - self.last_ts) as f64 / SECOND as f64;
        if self.rng.uniform() < 1.0 - (-dt_s / REGIME_MEAN_S).exp() {
            self.regime = self.rng.below(REGIMES.len());
        }
        let sigma = self.sigma * REGIMES[self.regime];
        let dt_y = dt_s / TRADING_YEAR_S;
        let drift_s = if self.last_ts < self.drift_until {
            dt_s.min((self.drift_until - self.last_ts) as f64 / SECOND as f64)
        } else {
            0.0
        };
        self.log_price +=
            self.drift_per_s * drift_s - 0.5 * sigma * sigma * dt_y + sigma * dt_y.sqrt() * self.rng.normal();
        while let Some(&(at, jump)) = self.jumps.last() {
            if at > ts {
                break;
            }
            self.jumps.pop();
            self.log_price += jump;
            self.drift_per_s = 0.5 * jump / DRIFT_S;
            self.drift_until = at + (DRIFT_S * SECOND as f64) as Ts;
        }
        self.last_ts = ts;
        self.next_ts = ts + self.gap();

        let latent = self.log_price.exp();
        let price = ((latent * 100.0).round() / 100.0).max(0.01);
        let half = latent * self.spread_bps / 20_000.0;
        let bid = (((latent - half) * 100.0).floor() / 100.0).max(0.01);
        let mut ask = ((latent + half) * 100.0).ceil() / 100.0;
        if ask <= bid {
            ask = bid + 0.01;
        }
        let size = (self.rng.normal().exp() * 100.0).round().max(1.0);
        Tick { symbol: self.symbol, ts, price: price.clamp(bid, ask), size, bid: Some(bid), ask: Some(ask) }
    }
}

/// One worker's ticks: the symbols it owns, merged in event-time order, a second at a time.
pub struct TickSimulator {
    paths: Vec<Path>,
    slice_start: Ts,
    end: Ts,
    slice: Vec<Tick>,
    at: usize,
}

impl TickSimulator {
    /// The simulator for worker `index` of `peers`: the symbols whose route lands on it.
    pub fn new(cfg: &SimulatorConfig, schedule: &[NewsEvent], index: usize, peers: usize) -> Self {
        let paths = (0..cfg.symbols as u32)
            .map(Symbol)
            .filter(|s| (s.route() % peers as u64) as usize == index)
            .map(|s| {
                let mut jumps: Vec<(Ts, f64)> =
                    schedule.iter().filter(|e| e.symbol == s && e.jump != 0.0).map(|e| (e.jump_ts, e.jump)).collect();
                jumps.sort_by_key(|j| std::cmp::Reverse(j.0));
                Path::new(cfg, s, jumps)
            })
            .collect();
        TickSimulator { paths, slice_start: cfg.start_ts(), end: cfg.end_ts(), slice: Vec::new(), at: 0 }
    }
}

impl EventReader<Tick> for TickSimulator {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<Tick, DeadLetter>)>) -> ReadStatus {
        let mut taken = 0;
        while taken < max {
            if self.at == self.slice.len() {
                if self.slice_start >= self.end {
                    return ReadStatus::Exhausted;
                }
                let slice_end = (self.slice_start + SECOND).min(self.end);
                self.slice.clear();
                self.at = 0;
                for path in &mut self.paths {
                    while path.next_ts < slice_end {
                        self.slice.push(path.step());
                    }
                }
                // Stable: equal times keep symbol order.
                self.slice.sort_by_key(|t| t.ts);
                self.slice_start = slice_end;
                continue;
            }
            let n = (self.slice.len() - self.at).min(max - taken);
            out.extend(self.slice[self.at..self.at + n].iter().map(|t| (t.ts as u64, Ok(t.clone()))));
            self.at += n;
            taken += n;
        }
        ReadStatus::More
    }

    fn origin(&self, ts: u64) -> String {
        format!("simulator ticks @{ts}")
    }
}

/// The news wire: every article, on one worker.
pub struct NewsSimulator {
    news: std::vec::IntoIter<News>,
}

impl NewsSimulator {
    pub fn new(schedule: &[NewsEvent], index: usize) -> Self {
        let news: Vec<News> = if index == 0 { schedule.iter().map(|e| e.news.clone()).collect() } else { Vec::new() };
        NewsSimulator { news: news.into_iter() }
    }
}

impl EventReader<News> for NewsSimulator {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<News, DeadLetter>)>) -> ReadStatus {
        out.extend(self.news.by_ref().take(max).map(|n| (n.ts as u64, Ok(n))));
        if self.news.len() == 0 { ReadStatus::Exhausted } else { ReadStatus::More }
    }

    fn origin(&self, ts: u64) -> String {
        format!("simulator news @{ts}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimulatorConfig {
        SimulatorConfig { symbols: 6, duration_s: 600.0, news_per_hour: 120.0, ..SimulatorConfig::default() }
    }

    fn all_ticks(cfg: &SimulatorConfig, peers: usize) -> Vec<Tick> {
        let schedule = news_schedule(cfg, &cfg.symbol_names());
        let mut ticks = Vec::new();
        for index in 0..peers {
            let mut sim = TickSimulator::new(cfg, &schedule, index, peers);
            let mut out = Vec::new();
            while sim.read(1000, &mut out) != ReadStatus::Exhausted {}
            ticks.extend(out.into_iter().map(|(_, t)| t.unwrap()));
        }
        ticks.sort_by_key(|t| (t.symbol, t.ts));
        ticks
    }

    #[test]
    fn deterministic_and_independent_of_worker_count() {
        let cfg = small();
        let one = all_ticks(&cfg, 1);
        assert_eq!(one, all_ticks(&cfg, 3));
        assert!(one.len() > 6 * 600 * 2, "{} ticks", one.len());
        assert!(
            one.iter()
                .all(|t| t.price > 0.0 && t.bid.unwrap() <= t.price && t.price <= t.ask.unwrap() && t.size >= 1.0)
        );
    }

    #[test]
    fn ticks_come_in_event_time_order() {
        let cfg = small();
        let mut sim = TickSimulator::new(&cfg, &[], 0, 1);
        let mut out = Vec::new();
        while sim.read(333, &mut out) != ReadStatus::Exhausted {}
        assert!(out.windows(2).all(|w| w[0].1.as_ref().unwrap().ts <= w[1].1.as_ref().unwrap().ts));
    }

    #[test]
    fn news_precedes_jumps_in_the_stated_direction() {
        let cfg = small();
        let names = cfg.symbol_names();
        let schedule = news_schedule(&cfg, &names);
        assert!(schedule.len() > 5);
        for e in &schedule {
            assert!(e.jump_ts >= e.news.ts - 5 * SECOND);
            if e.jump > 0.0 {
                assert!(POSITIVE.iter().any(|t| t.replace("{T}", &names[e.symbol.0 as usize]) == e.news.headline));
            }
        }
        assert_eq!(names[0], "BABA");
        assert_eq!(cfg.symbol_names().len(), 6);
    }
}
