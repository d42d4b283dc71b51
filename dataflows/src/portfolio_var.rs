//! The portfolio's Monte-Carlo VaR: minute bars and positions meet on worker 0; every
//! `every` of event time the covariance of the held symbols' aligned bar returns is scaled to
//! the horizon (square-root-of-time, mean zero), factored, and handed to the Monte-Carlo kernel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradeflow_kernels::{Kernels, portfolio_var};
use tradeflow_operators::batch::Resumable;
use tradeflow_operators::{Bar, PortfolioVar, Position, Ts};

/// When and how the VaR is estimated.
#[derive(Clone, Debug, PartialEq)]
pub struct VarSetup {
    /// Event time between estimates.
    pub every: Ts,
    /// Bar returns in the covariance.
    pub window: usize,
    /// Fewest aligned returns an estimate needs.
    pub min_observations: usize,
    /// Bars the losses are over (returns' mean and covariance scaled by it).
    pub horizon_bars: u32,
    pub paths: u32,
    pub seed: u64,
}

/// The pure state machine: the setup and a [`VarState`].
pub struct VarBook {
    setup: VarSetup,
    account: String,
    state: VarState,
}

/// Recent closes by bar end, positions, and when the next estimate is due: what a snapshot
/// keeps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VarState {
    closes: BTreeMap<u32, VecDeque<(Ts, f64)>>,
    held: BTreeMap<u32, f64>,
    next_due: Option<Ts>,
}

impl Resumable for VarBook {
    type State = VarState;

    fn state(&self) -> VarState {
        self.state.clone()
    }

    fn resume(&mut self, state: VarState) {
        self.state = state;
    }
}

impl VarBook {
    pub fn new(setup: VarSetup, account: String) -> Self {
        VarBook { setup, account, state: VarState::default() }
    }

    /// One epoch's bars and position updates; an estimate when one is due.
    pub fn on_epoch(
        &mut self,
        kernels: &Kernels,
        mut bars: Vec<Bar>,
        mut positions: Vec<Position>,
    ) -> Result<Option<PortfolioVar>, String> {
        positions.sort_by_key(|p| (p.ts, p.symbol));
        for p in positions.iter().filter(|p| p.account == self.account) {
            if p.qty == 0.0 {
                self.state.held.remove(&p.symbol.0);
            } else {
                self.state.held.insert(p.symbol.0, p.qty);
            }
        }
        bars.sort_by_key(|b| (b.end, b.symbol));
        let keep = self.setup.window + 1;
        for b in &bars {
            let series = self.state.closes.entry(b.symbol.0).or_default();
            series.push_back((b.end, b.close));
            if series.len() > keep {
                series.pop_front();
            }
        }
        let Some(now) = bars.last().map(|b| b.end) else { return Ok(None) };
        let due = *self.state.next_due.get_or_insert(now);
        if now < due {
            return Ok(None);
        }
        self.state.next_due = Some(now - now.rem_euclid(self.setup.every) + self.setup.every);
        self.estimate(kernels, now)
    }

    fn estimate(&self, kernels: &Kernels, now: Ts) -> Result<Option<PortfolioVar>, String> {
        let held: Vec<(u32, f64)> = self.state.held.iter().map(|(s, q)| (*s, *q)).collect();
        if held.is_empty() {
            return Ok(None);
        }
        // Bar ends every held symbol has, so that the returns line up in time.
        let mut common: Option<Vec<Ts>> = None;
        for (s, _) in &held {
            let ends: Vec<Ts> = self.state.closes.get(s).map(|c| c.iter().map(|x| x.0).collect()).unwrap_or_default();
            common = Some(match common {
                None => ends,
                Some(c) => c.into_iter().filter(|t| ends.binary_search(t).is_ok()).collect(),
            });
        }
        let common = common.unwrap_or_default();
        if common.len() < self.setup.min_observations + 1 {
            return Ok(None);
        }
        let returns: Vec<Vec<f64>> = held
            .iter()
            .map(|(s, _)| {
                let series = &self.state.closes[s];
                let at: Vec<f64> =
                    common.iter().filter_map(|t| series.iter().find(|x| x.0 == *t).map(|x| x.1)).collect();
                at.windows(2).map(|w| (w[1] / w[0]).ln()).collect()
            })
            .collect();
        let n = held.len();
        let m = returns[0].len();
        if returns.iter().any(|r| r.len() != m || r.iter().any(|v| !v.is_finite())) {
            return Err("bar returns of the held symbols are not finite".into());
        }
        let h = f64::from(self.setup.horizon_bars);
        let means: Vec<f64> = returns.iter().map(|r| r.iter().sum::<f64>() / m as f64).collect();
        let mut cov = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let c = (0..m).map(|t| (returns[i][t] - means[i]) * (returns[j][t] - means[j])).sum::<f64>()
                    / (m as f64 - 1.0)
                    * h;
                cov[i * n + j] = c;
                cov[j * n + i] = c;
            }
        }
        let values: Vec<f64> = held.iter().map(|(s, q)| q * self.state.closes[s].back().map_or(0.0, |x| x.1)).collect();
        // The returns' mean is taken as zero: a few hours' sample mean, scaled to the horizon,
        // is noise that would swamp the risk.
        let horizon_means = vec![0.0; n];
        let est = portfolio_var(kernels, &cov, &horizon_means, &values, self.setup.paths, self.setup.seed)
            .map_err(|e| e.to_string())?;
        Ok(Some(PortfolioVar {
            account: self.account.clone(),
            ts: now,
            positions: n as u32,
            gross: values.iter().map(|v| v.abs()).sum(),
            var95: est.var95,
            cvar95: est.cvar95,
            var99: est.var99,
            cvar99: est.cvar99,
            paths: est.paths,
            observations: m as u32,
            horizon_bars: self.setup.horizon_bars,
        }))
    }
}

/// The kernels and the VaR setup, shared by the graph.
#[derive(Clone, Debug)]
pub struct VarParams {
    pub kernels: Arc<Kernels>,
    pub setup: VarSetup,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeflow_kernels::GpuPolicy;
    use tradeflow_operators::{MINUTE, Symbol};

    fn book() -> VarBook {
        let every = 10 * MINUTE;
        let setup = VarSetup { every, window: 30, min_observations: 10, horizon_bars: 30, paths: 2000, seed: 3 };
        VarBook::new(setup, "paper".into())
    }

    /// Minute `i`: two symbols' bars, and a position change every 25 minutes.
    fn minute(i: i64) -> (Vec<Bar>, Vec<Position>) {
        let end = (i + 1) * MINUTE;
        let bars = (0..2u32)
            .map(|s| {
                let close = 50.0 * f64::from(s + 1) + (i as f64 * 0.61 + f64::from(s) * 2.0).sin();
                Bar {
                    symbol: Symbol(s),
                    start: end - MINUTE,
                    end,
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume: 1.0,
                    vwap: close,
                    trades: 1,
                }
            })
            .collect();
        let positions = if i % 25 == 0 {
            let qty = (i / 25 % 3) as f64 * 10.0;
            let at = |s| Position {
                account: "paper".into(),
                symbol: Symbol(s),
                ts: end,
                qty,
                avg_price: 50.0,
                realized_pnl: 0.0,
            };
            vec![at(0), at(1)]
        } else {
            Vec::new()
        };
        (bars, positions)
    }

    fn run(book: &mut VarBook, kernels: &Kernels, minutes: std::ops::Range<i64>) -> Vec<PortfolioVar> {
        minutes
            .filter_map(|i| {
                let (bars, positions) = minute(i);
                book.on_epoch(kernels, bars, positions).unwrap()
            })
            .collect()
    }

    #[test]
    fn restored_from_its_saved_state_it_gives_the_same_estimates() {
        let kernels = Kernels::select(GpuPolicy::Off).unwrap();
        let whole = run(&mut book(), &kernels, 0..200);
        let mut first = book();
        let mut resumed = run(&mut first, &kernels, 0..97);
        let bytes = postcard::to_allocvec(&first.state()).unwrap();
        let mut second = book();
        second.resume(postcard::from_bytes(&bytes).unwrap());
        resumed.extend(run(&mut second, &kernels, 97..200));
        assert_eq!(resumed, whole);
        assert!(whole.iter().filter(|v| v.ts > 97 * MINUTE).count() >= 5, "{} estimates", whole.len());
    }
}
