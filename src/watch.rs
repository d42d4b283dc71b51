//! What a watcher sees of a running job beyond its counters: positions, a thinned P&L curve,
//! the latest risk events and refusals per rule. Updated per position, P&L row and risk event
//! (not per tick), read by the dashboard and the metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tradeflow_operators::{Pnl, Position, RiskEvent, RiskEventKind, SymbolTable, Ts};

use crate::timefmt::format_ts;

/// Points the P&L curve keeps; past it, every other point is dropped and the spacing doubles.
const CURVE_POINTS: usize = 1_000;
/// Risk events kept, newest last.
const RISK_EVENTS: usize = 50;

#[derive(Clone, Debug, Serialize)]
pub struct RiskLine {
    pub time: String,
    pub account: String,
    pub kind: String,
    pub rule: String,
    pub symbol: String,
    pub detail: String,
}

#[derive(Default)]
struct Curve {
    points: Vec<(Ts, f64)>,
    /// The least event time between two points.
    spacing: Ts,
}

/// A running job's watched state.
#[derive(Default)]
pub struct Watch {
    positions: Mutex<BTreeMap<(String, String), f64>>,
    curve: Mutex<Curve>,
    risk: Mutex<VecDeque<RiskLine>>,
    refusals: Mutex<BTreeMap<String, u64>>,
}

/// A copy of the watched state, as the dashboard receives it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WatchView {
    /// (account, symbol, quantity) of open positions.
    pub positions: Vec<(String, String, f64)>,
    /// (event time ns, equity).
    pub curve: Vec<(Ts, f64)>,
    pub risk_events: Vec<RiskLine>,
    pub refusals: BTreeMap<String, u64>,
}

impl Watch {
    pub fn on_position(&self, position: &Position, symbols: &SymbolTable) {
        if let Ok(mut positions) = self.positions.lock() {
            let key = (position.account.clone(), symbols.name(position.symbol).to_owned());
            if position.qty == 0.0 {
                positions.remove(&key);
            } else {
                positions.insert(key, position.qty);
            }
        }
    }

    pub fn on_pnl(&self, pnl: &Pnl) {
        if let Ok(mut curve) = self.curve.lock() {
            let due = curve.points.last().is_none_or(|(last, _)| pnl.ts >= last + curve.spacing);
            if due {
                curve.points.push((pnl.ts, pnl.equity));
            }
            if curve.points.len() > CURVE_POINTS {
                let kept: Vec<_> = curve.points.iter().step_by(2).copied().collect();
                curve.points = kept;
                curve.spacing = (curve.spacing * 2).max(1_000_000_000);
            }
        }
    }

    pub fn on_risk_event(&self, event: &RiskEvent, symbols: &SymbolTable) {
        if event.kind == RiskEventKind::Rejected
            && let Ok(mut refusals) = self.refusals.lock()
        {
            *refusals.entry(event.rule.clone()).or_insert(0) += 1;
        }
        if let Ok(mut risk) = self.risk.lock() {
            risk.push_back(RiskLine {
                time: format_ts(event.ts),
                account: event.account.clone(),
                kind: event.kind.as_str().to_owned(),
                rule: event.rule.clone(),
                symbol: event.symbol.map(|s| symbols.name(s).to_owned()).unwrap_or_default(),
                detail: event.detail.clone(),
            });
            if risk.len() > RISK_EVENTS {
                risk.pop_front();
            }
        }
    }

    /// Refusals per rule so far.
    pub fn refusals(&self) -> BTreeMap<String, u64> {
        self.refusals.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn view(&self) -> WatchView {
        WatchView {
            positions: self
                .positions
                .lock()
                .map(|p| p.iter().map(|((a, s), q)| (a.clone(), s.clone(), *q)).collect())
                .unwrap_or_default(),
            curve: self.curve.lock().map(|c| c.points.clone()).unwrap_or_default(),
            risk_events: self.risk.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default(),
            refusals: self.refusals(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_thins_itself_and_stays_bounded() {
        let watch = Watch::default();
        for i in 0..10_000i64 {
            let pnl = Pnl {
                account: "a".into(),
                ts: i * 1_000_000_000,
                cash: 0.0,
                equity: i as f64,
                realized: 0.0,
                unrealized: 0.0,
                fees: 0.0,
                gross_exposure: 0.0,
                peak_equity: 0.0,
                drawdown: 0.0,
                day_pnl: 0.0,
                week_pnl: 0.0,
            };
            watch.on_pnl(&pnl);
        }
        let curve = watch.view().curve;
        assert!(curve.len() <= CURVE_POINTS && curve.len() > CURVE_POINTS / 4, "{}", curve.len());
        assert_eq!(curve[0], (0, 0.0));
        assert!(curve.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
