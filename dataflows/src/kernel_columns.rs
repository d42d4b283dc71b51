//! Indicator columns computed by the batched kernels: per epoch, every symbol with a new bar
//! is gathered into one batch per kernel, launched once, and the results are written into the
//! symbols' indicator sets.
//!
//! - `garch_vol`: the GARCH(1,1) one-step volatility forecast of the next bar's log return
//!   (return units, per bar: the strategy annualizes it like any volatility column). Fitted on
//!   the last `window` returns every `refit_every` bars; between fits the forecast follows the
//!   GARCH recursion with the fitted parameters.
//! - `cup_handle`: the cup-and-handle confidence (0..1) over the last bars.
//! - `k_ema_N`, `k_rsi_N`, `k_mean_N`, `k_var_N`, `k_zscore_N`: the batched indicators over
//!   the last `history` closes.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradeflow_kernels::{CupParams, GarchOptions, GarchParams, IndicatorParams, Kernels, Ragged};
use tradeflow_operators::batch::Resumable;
use tradeflow_operators::{Bar, IndicatorSet};

pub const GARCH_COLUMN: &str = "garch_vol";
pub const CUP_COLUMN: &str = "cup_handle";

/// When and on what GARCH(1,1) is fitted.
#[derive(Clone, Debug, PartialEq)]
pub struct GarchSetup {
    pub window: usize,
    pub min_returns: usize,
    pub refit_every: usize,
    pub zero_mean: bool,
}

/// The batched indicators and the history they see.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchedIndicators {
    pub params: IndicatorParams,
    pub history: usize,
}

/// Which kernels add columns, on which backend.
#[derive(Clone, Debug)]
pub struct KernelSetup {
    pub kernels: Arc<Kernels>,
    pub garch: Option<GarchSetup>,
    pub cup_handle: Option<CupParams>,
    pub indicators: Option<BatchedIndicators>,
}

impl KernelSetup {
    /// The columns the kernels add to the indicator suite, in order.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.garch.is_some() {
            out.push(GARCH_COLUMN.to_string());
        }
        if self.cup_handle.is_some() {
            out.push(CUP_COLUMN.to_string());
        }
        if let Some(b) = &self.indicators {
            let p = b.params;
            out.extend([
                format!("k_ema_{}", p.ema_period),
                format!("k_rsi_{}", p.rsi_period),
                format!("k_mean_{}", p.window),
                format!("k_var_{}", p.window),
                format!("k_zscore_{}", p.window),
            ]);
        }
        out
    }

    fn history(&self) -> usize {
        let garch = self.garch.as_ref().map_or(0, |g| g.window + 1);
        let cup = self.cup_handle.map_or(0, |c| c.bars());
        let ind = self.indicators.as_ref().map_or(0, |b| b.history);
        garch.max(cup).max(ind).max(2)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct GarchState {
    params: GarchParams,
    /// Forecast variance of the next return, in the fit's scale.
    variance_next: f64,
    scale: f64,
}

/// One symbol's recent bars and fitted GARCH: what a snapshot keeps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    closes: VecDeque<f64>,
    volumes: VecDeque<f64>,
    garch: Option<GarchState>,
    bars_since_fit: usize,
}

/// The per-symbol histories and fitted state the kernel columns need: a pure state machine,
/// driven one epoch at a time.
pub struct KernelColumns {
    setup: KernelSetup,
    /// Where each added column sits in an indicator set.
    first_column: usize,
    history: Vec<History>,
    keep: usize,
}

impl Resumable for KernelColumns {
    type State = Vec<History>;

    fn state(&self) -> Vec<History> {
        self.history.clone()
    }

    fn resume(&mut self, state: Vec<History>) {
        self.history = state;
    }
}

impl KernelColumns {
    /// `first_column` is the position of the first added column in the suite.
    pub fn new(setup: KernelSetup, first_column: usize) -> Self {
        let keep = setup.history();
        KernelColumns { setup, first_column, history: Vec::new(), keep }
    }

    fn slot(&mut self, symbol: usize) -> &mut History {
        if self.history.len() <= symbol {
            self.history.resize_with(symbol + 1, History::default);
        }
        &mut self.history[symbol]
    }

    fn push_bar(&mut self, bar: &Bar) {
        let keep = self.keep;
        let h = self.slot(bar.symbol.0 as usize);
        if let (Some(g), Some(&prev)) = (h.garch.as_mut(), h.closes.back())
            && prev > 0.0
            && bar.close > 0.0
        {
            let e = (bar.close / prev).ln() * g.scale - g.params.mu;
            g.variance_next = g.params.omega + g.params.alpha * e * e + g.params.beta * g.variance_next;
        }
        h.closes.push_back(bar.close);
        h.volumes.push_back(bar.volume);
        if h.closes.len() > keep {
            h.closes.pop_front();
            h.volumes.pop_front();
        }
        h.bars_since_fit += 1;
    }

    /// One epoch: folds in its bars, runs each kernel once over the symbols that had one, and
    /// fills the added columns of `sets`. A kernel that fails leaves its columns NaN and says
    /// why in `errors`.
    pub fn on_epoch(&mut self, mut bars: Vec<Bar>, sets: &mut [IndicatorSet], errors: &mut Vec<String>) {
        bars.sort_by_key(|b| (b.symbol, b.end));
        for bar in &bars {
            self.push_bar(bar);
        }
        let mut symbols: Vec<usize> = sets.iter().map(|s| s.symbol.0 as usize).collect();
        symbols.sort_unstable();
        symbols.dedup();
        let mut column = self.first_column;
        let width = self.setup.columns().len();
        for set in sets.iter_mut() {
            set.values.resize(self.first_column + width, f64::NAN);
        }
        if let Some(garch) = self.setup.garch.clone() {
            self.refit_garch(&garch, &symbols, errors);
            for set in sets.iter_mut() {
                let h = self.slot(set.symbol.0 as usize);
                set.values[column] = h.garch.map_or(f64::NAN, |g| g.variance_next.sqrt() / g.scale);
            }
            column += 1;
        }
        if let Some(params) = self.setup.cup_handle {
            let found = self.scan_cups(params, &symbols, errors);
            for set in sets.iter_mut() {
                set.values[column] = found.iter().find(|f| f.0 == set.symbol.0 as usize).map_or(f64::NAN, |f| f.1);
            }
            column += 1;
        }
        if let Some(b) = self.setup.indicators.clone() {
            let rows = self.batch_rows(&symbols, b.history, |h| &h.closes);
            match self.setup.kernels.indicators(&rows, b.params) {
                Ok(values) => {
                    for set in sets.iter_mut() {
                        if let Some(i) = symbols.iter().position(|&s| s == set.symbol.0 as usize) {
                            let v = values[i];
                            set.values[column..column + 5]
                                .copy_from_slice(&[v.ema, v.rsi, v.mean, v.variance, v.zscore]);
                        }
                    }
                }
                Err(e) => errors.push(format!("batched indicators: {e}")),
            }
        }
    }

    fn batch_rows(
        &mut self,
        symbols: &[usize],
        last: usize,
        field: impl Fn(&History) -> &VecDeque<f64>,
    ) -> Ragged<f64> {
        let mut rows = Ragged::with_capacity(symbols.len(), symbols.len() * last);
        for &s in symbols {
            let values = field(self.slot(s));
            rows.push_iter(values.iter().skip(values.len().saturating_sub(last)).copied());
        }
        rows
    }

    fn refit_garch(&mut self, garch: &GarchSetup, symbols: &[usize], errors: &mut Vec<String>) {
        let due: Vec<usize> = symbols
            .iter()
            .copied()
            .filter(|&s| {
                let h = self.slot(s);
                h.closes.len() > garch.min_returns && (h.garch.is_none() || h.bars_since_fit >= garch.refit_every)
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let mut returns = Ragged::with_capacity(due.len(), due.len() * garch.window);
        for &s in &due {
            let closes = &self.slot(s).closes;
            let from = closes.len().saturating_sub(garch.window + 1);
            let tail: Vec<f64> = closes.iter().skip(from).copied().collect();
            returns.push_iter(tail.windows(2).map(|w| (w[1] / w[0]).ln()).filter(|r| r.is_finite()));
        }
        let opts = GarchOptions { zero_mean: garch.zero_mean, ..GarchOptions::default() };
        match self.setup.kernels.garch_fit(&returns, opts) {
            Ok(fits) => {
                for (s, fit) in due.into_iter().zip(fits) {
                    let h = self.slot(s);
                    h.bars_since_fit = 0;
                    if fit.is_valid() {
                        h.garch =
                            Some(GarchState { params: fit.params, variance_next: fit.variance_next, scale: fit.scale });
                    }
                }
            }
            Err(e) => errors.push(format!("GARCH fit: {e}")),
        }
    }

    fn scan_cups(&mut self, params: CupParams, symbols: &[usize], errors: &mut Vec<String>) -> Vec<(usize, f64)> {
        let need = (params.min_cup + params.min_handle + 2) as usize;
        let ready: Vec<usize> = symbols.iter().copied().filter(|&s| self.slot(s).closes.len() >= need).collect();
        let closes = self.batch_rows(&ready, params.bars(), |h| &h.closes);
        let volumes = self.batch_rows(&ready, params.bars(), |h| &h.volumes);
        match self.setup.kernels.cup_handle(&closes, volumes.values(), params) {
            Ok(found) => ready.into_iter().zip(found).map(|(s, (confidence, _))| (s, confidence)).collect(),
            Err(e) => {
                errors.push(format!("cup-and-handle scan: {e}"));
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeflow_kernels::GpuPolicy;
    use tradeflow_operators::{MINUTE, Symbol};

    fn machine() -> KernelColumns {
        let setup = KernelSetup {
            kernels: Arc::new(Kernels::select(GpuPolicy::Off).unwrap()),
            garch: Some(GarchSetup { window: 40, min_returns: 15, refit_every: 7, zero_mean: false }),
            cup_handle: Some(CupParams::default()),
            indicators: Some(BatchedIndicators {
                params: IndicatorParams { ema_period: 5, rsi_period: 4, window: 10 },
                history: 30,
            }),
        };
        KernelColumns::new(setup, 1)
    }

    /// Minute `i`'s bars and indicator sets for three symbols on a wavy, drifting path.
    fn epoch(i: i64) -> (Vec<Bar>, Vec<IndicatorSet>) {
        let bars: Vec<Bar> = (0..3u32)
            .map(|s| {
                let close = 100.0 + f64::from(s) * 5.0 + (i as f64 * 0.37 + f64::from(s)).sin() * 3.0 + i as f64 * 0.05;
                let end = (i + 1) * MINUTE;
                Bar {
                    symbol: Symbol(s),
                    start: end - MINUTE,
                    end,
                    open: close,
                    high: close + 0.5,
                    low: close - 0.5,
                    close,
                    volume: 100.0 + (i % 7) as f64,
                    vwap: close,
                    trades: 3,
                }
            })
            .collect();
        let sets = bars
            .iter()
            .map(|b| IndicatorSet { symbol: b.symbol, ts: b.end, close: b.close, values: [b.close].as_slice().into() })
            .collect();
        (bars, sets)
    }

    fn run(columns: &mut KernelColumns, epochs: std::ops::Range<i64>) -> Vec<Vec<u64>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for i in epochs {
            let (bars, mut sets) = epoch(i);
            columns.on_epoch(bars, &mut sets, &mut errors);
            out.extend(sets.into_iter().map(|s| s.values.iter().map(|v| v.to_bits()).collect()));
        }
        assert!(errors.is_empty(), "{errors:?}");
        out
    }

    #[test]
    fn restored_from_its_saved_state_it_continues_bit_for_bit() {
        let whole = run(&mut machine(), 0..120);
        let mut first = machine();
        let mut resumed_rows = run(&mut first, 0..50);
        let bytes = postcard::to_allocvec(&first.state()).unwrap();
        drop(first);
        let mut second = machine();
        second.resume(postcard::from_bytes(&bytes).unwrap());
        resumed_rows.extend(run(&mut second, 50..120));
        assert_eq!(resumed_rows, whole);
        let garch_after_restart = whole[150..].iter().filter(|row| f64::from_bits(row[1]).is_finite()).count();
        assert!(garch_after_restart > 100, "GARCH forecasts after the restart: {garch_after_restart}");
    }
}
