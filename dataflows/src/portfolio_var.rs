//! The portfolio's Monte-Carlo VaR: minute bars and positions meet on worker 0; every
//! `every` of event time the covariance of the held symbols' aligned bar returns is scaled to
//! the horizon (square-root-of-time, mean zero), factored, and handed to the Monte-Carlo kernel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tradeflow_kernels::{Kernels, portfolio_var};
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

/// The pure state: recent closes by bar end, positions, and when the next estimate is due.
pub struct VarBook {
    setup: VarSetup,
    account: String,
    closes: BTreeMap<u32, VecDeque<(Ts, f64)>>,
    held: BTreeMap<u32, f64>,
    next_due: Option<Ts>,
}

impl VarBook {
    pub fn new(setup: VarSetup, account: String) -> Self {
        VarBook { setup, account, closes: BTreeMap::new(), held: BTreeMap::new(), next_due: None }
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
                self.held.remove(&p.symbol.0);
            } else {
                self.held.insert(p.symbol.0, p.qty);
            }
        }
        bars.sort_by_key(|b| (b.end, b.symbol));
        let keep = self.setup.window + 1;
        for b in &bars {
            let series = self.closes.entry(b.symbol.0).or_default();
            series.push_back((b.end, b.close));
            if series.len() > keep {
                series.pop_front();
            }
        }
        let Some(now) = bars.last().map(|b| b.end) else { return Ok(None) };
        let due = *self.next_due.get_or_insert(now);
        if now < due {
            return Ok(None);
        }
        self.next_due = Some(now - now.rem_euclid(self.setup.every) + self.setup.every);
        self.estimate(kernels, now)
    }

    fn estimate(&self, kernels: &Kernels, now: Ts) -> Result<Option<PortfolioVar>, String> {
        let held: Vec<(u32, f64)> = self.held.iter().map(|(s, q)| (*s, *q)).collect();
        if held.is_empty() {
            return Ok(None);
        }
        // Bar ends every held symbol has, so that the returns line up in time.
        let mut common: Option<Vec<Ts>> = None;
        for (s, _) in &held {
            let ends: Vec<Ts> = self.closes.get(s).map(|c| c.iter().map(|x| x.0).collect()).unwrap_or_default();
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
                let series = &self.closes[s];
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
        let values: Vec<f64> = held.iter().map(|(s, q)| q * self.closes[s].back().map_or(0.0, |x| x.1)).collect();
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
