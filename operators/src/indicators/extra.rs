//! Indicators beyond TA-Lib: session VWAP, realized volatility, rolling z-score, Keltner and
//! Donchian channels, and the pattern features of the cup-and-handle scanner. Each definition is
//! stated on its type, and tested against a from-scratch computation.

use super::{Atr, Ema, Extreme, Indicator, Ohlcv, Ring, Variance};

const DAY_NS: i64 = 86_400_000_000_000;

/// Session VWAP: `Σ typical price × volume / Σ volume` over the bars of the current session, a
/// UTC day (`ts` is the bar's end, so a bar ending at midnight belongs to the day before). The
/// typical price is `(high + low + close) / 3`; while the session has traded no volume the VWAP
/// is the latest typical price. Lookback 0.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionVwap {
    day: Option<i64>,
    turnover: f64,
    volume: f64,
}

impl Indicator for SessionVwap {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let day = (bar.ts - 1).div_euclid(DAY_NS);
        if self.day != Some(day) {
            *self = SessionVwap { day: Some(day), ..Self::default() };
        }
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        self.turnover += tp * bar.volume;
        self.volume += bar.volume;
        out[0] = if self.volume > 0.0 { self.turnover / self.volume } else { tp };
    }
}

/// Realized volatility per bar: the root mean square of the last `n` log returns of the close,
/// `sqrt(Σ ln(cₜ / cₜ₋₁)² / n)` (zero mean, not annualized: multiply by `sqrt(bars per year)`).
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RealizedVol {
    prev: f64,
    squares: Ring,
}

impl RealizedVol {
    pub fn new(n: usize) -> Self {
        RealizedVol { prev: f64::NAN, squares: Ring::new(n) }
    }
}

impl Indicator for RealizedVol {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let prev = std::mem::replace(&mut self.prev, bar.close);
        out[0] = f64::NAN;
        if prev.is_nan() || prev <= 0.0 || bar.close <= 0.0 {
            return;
        }
        let r = (bar.close / prev).ln();
        self.squares.push(r * r);
        if self.squares.is_full() {
            out[0] = (self.squares.iter().sum::<f64>() / self.squares.len() as f64).sqrt();
        }
    }
}

/// Rolling z-score of the close: `(close - mean) / population deviation` over the last `n`
/// closes; 0 when the deviation is 0. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ZScore(Variance);

impl ZScore {
    pub fn new(n: usize) -> Self {
        ZScore(Variance::new(n))
    }
}

impl Indicator for ZScore {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (mean, var) = self.0.push_with_mean(bar.close);
        out[0] = if var.is_nan() {
            f64::NAN
        } else {
            let sd = var.sqrt();
            if sd > 0.0 { (bar.close - mean) / sd } else { 0.0 }
        };
    }
}

/// Keltner channel (`upperband`, `middleband`, `lowerband`): the EMA of the close over `n`,
/// plus and minus `mult` times the ATR over `n` (TA-Lib's EMA and ATR). Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Keltner {
    ema: Ema,
    atr: Atr,
    mult: f64,
}

impl Keltner {
    pub fn new(n: usize, mult: f64) -> Self {
        Keltner { ema: Ema::new(n), atr: Atr::new(n, false), mult }
    }
}

impl Indicator for Keltner {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mid = self.ema.push(bar.close);
        let mut atr = [f64::NAN];
        self.atr.update(bar, &mut atr);
        let atr = atr[0];
        out.copy_from_slice(&if mid.is_nan() || atr.is_nan() {
            [f64::NAN; 3]
        } else {
            [mid + self.mult * atr, mid, mid - self.mult * atr]
        });
    }
}

/// Donchian channel (`upperband`, `middleband`, `lowerband`): the highest high and lowest low of
/// the last `n` bars and their midpoint. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Donchian {
    high: Extreme,
    low: Extreme,
}

impl Donchian {
    pub fn new(n: usize) -> Self {
        Donchian { high: Extreme::max(n), low: Extreme::min(n) }
    }
}

impl Indicator for Donchian {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (hh, _) = self.high.push(bar.high);
        let (ll, _) = self.low.push(bar.low);
        out.copy_from_slice(&if self.high.is_full() { [hh, (hh + ll) / 2.0, ll] } else { [f64::NAN; 3] });
    }
}

/// Support strength, 0..1: the share of the last `n` bars whose low lies within `tolerance_pct`
/// percent above the window's lowest low. Many bars holding at the same floor make a strong
/// support (the base of a cup). O(n) per update. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SupportStrength {
    lows: Ring,
    lowest: Extreme,
    tolerance: f64,
}

impl SupportStrength {
    pub fn new(n: usize, tolerance_pct: f64) -> Self {
        SupportStrength { lows: Ring::new(n), lowest: Extreme::min(n), tolerance: tolerance_pct / 100.0 }
    }
}

impl Indicator for SupportStrength {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.lows.push(bar.low);
        let (floor, _) = self.lowest.push(bar.low);
        out[0] = if self.lows.is_full() {
            let band = floor * (1.0 + self.tolerance);
            self.lows.iter().filter(|low| *low <= band).count() as f64 / self.lows.len() as f64
        } else {
            f64::NAN
        };
    }
}

/// Resistance break, percent: how far the close lies above the highest high of the previous `n`
/// bars (not counting this one), `(close / prior high - 1) × 100`, and 0 when it does not.
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ResistanceBreak {
    highest: Extreme,
}

impl ResistanceBreak {
    pub fn new(n: usize) -> Self {
        ResistanceBreak { highest: Extreme::max(n) }
    }
}

impl Indicator for ResistanceBreak {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = if self.highest.is_full() {
            let (prior, _) = self.highest.peek();
            if bar.close > prior && prior > 0.0 { (bar.close / prior - 1.0) * 100.0 } else { 0.0 }
        } else {
            f64::NAN
        };
        self.highest.push(bar.high);
    }
}
