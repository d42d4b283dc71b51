//! Oscillators: STOCH, STOCHF, STOCHRSI, WILLR, CCI, ULTOSC, AROON, AROONOSC, BOP, MFI.

use super::volatility::true_range;
use super::{Extreme, Indicator, Ohlcv, Ring, Rsi, RunningWindow, Sma, ta_is_zero, ta_is_zero_or_neg};

/// The raw stochastic %K over `n` bars: where the close sits in the high-low range, 0..100.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct FastK {
    high: Extreme,
    low: Extreme,
}

impl FastK {
    fn new(n: usize) -> Self {
        FastK { high: Extreme::max(n), low: Extreme::min(n) }
    }
    fn push(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let (hh, _) = self.high.push(high);
        let (ll, _) = self.low.push(low);
        if !self.high.is_full() {
            return f64::NAN;
        }
        let diff = (hh - ll) / 100.0;
        if diff != 0.0 { (close - ll) / diff } else { 0.0 }
    }
}

/// Slow stochastic (`slowk`, `slowd`): %K smoothed by an SMA, and that smoothed again.
/// Lookback `fastk - 1 + slowk - 1 + slowd - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Stoch {
    fast_k: FastK,
    slow_k: Sma,
    slow_d: Sma,
}

impl Stoch {
    pub fn new(fast_k: usize, slow_k: usize, slow_d: usize) -> Self {
        Stoch { fast_k: FastK::new(fast_k), slow_k: Sma::new(slow_k), slow_d: Sma::new(slow_d) }
    }
}

impl Indicator for Stoch {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let k = self.fast_k.push(bar.high, bar.low, bar.close);
        let sk = if k.is_nan() { f64::NAN } else { self.slow_k.push(k) };
        let sd = if sk.is_nan() { f64::NAN } else { self.slow_d.push(sk) };
        out.copy_from_slice(&if sd.is_nan() { [f64::NAN; 2] } else { [sk, sd] });
    }
}

/// Fast stochastic (`fastk`, `fastd`). Lookback `fastk - 1 + fastd - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StochF {
    fast_k: FastK,
    fast_d: Sma,
}

impl StochF {
    pub fn new(fast_k: usize, fast_d: usize) -> Self {
        StochF { fast_k: FastK::new(fast_k), fast_d: Sma::new(fast_d) }
    }
    fn push(&mut self, high: f64, low: f64, close: f64) -> [f64; 2] {
        let k = self.fast_k.push(high, low, close);
        let d = if k.is_nan() { f64::NAN } else { self.fast_d.push(k) };
        if d.is_nan() { [f64::NAN; 2] } else { [k, d] }
    }
}

impl Indicator for StochF {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.copy_from_slice(&self.push(bar.high, bar.low, bar.close));
    }
}

/// Stochastic RSI (`fastk`, `fastd`): the fast stochastic of the RSI.
/// Lookback `n + fastk - 1 + fastd - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StochRsi {
    rsi: Rsi,
    stoch: StochF,
}

impl StochRsi {
    pub fn new(n: usize, fast_k: usize, fast_d: usize) -> Self {
        StochRsi { rsi: Rsi::new(n), stoch: StochF::new(fast_k, fast_d) }
    }
}

impl Indicator for StochRsi {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let r = self.rsi.push(bar.close);
        out.copy_from_slice(&if r.is_nan() { [f64::NAN; 2] } else { self.stoch.push(r, r, r) });
    }
}

/// Williams' %R, -100..0. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Willr {
    high: Extreme,
    low: Extreme,
}

impl Willr {
    pub fn new(n: usize) -> Self {
        Willr { high: Extreme::max(n), low: Extreme::min(n) }
    }
}

impl Indicator for Willr {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (hh, _) = self.high.push(bar.high);
        let (ll, _) = self.low.push(bar.low);
        out[0] = if !self.high.is_full() {
            f64::NAN
        } else {
            let diff = (hh - ll) / -100.0;
            if diff != 0.0 { (hh - bar.close) / diff } else { 0.0 }
        };
    }
}

/// Commodity channel index over the typical price. The mean deviation needs the whole window:
/// O(n) per update, as in TA-Lib. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Cci(Ring);

impl Cci {
    pub fn new(n: usize) -> Self {
        Cci(Ring::new(n))
    }
}

impl Indicator for Cci {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        self.0.push(tp);
        if !self.0.is_full() {
            out[0] = f64::NAN;
            return;
        }
        let n = self.0.len();
        let mean = self.0.iter().sum::<f64>() / n as f64;
        let deviation: f64 = self.0.iter().map(|x| (x - mean).abs()).sum();
        let distance = tp - mean;
        out[0] = if distance != 0.0 && deviation != 0.0 { distance / (0.015 * (deviation / n as f64)) } else { 0.0 };
    }
}

/// Ultimate oscillator over three periods (weights 4, 2, 1 from the shortest).
/// Lookback: the longest period.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct UltOsc {
    prev_close: f64,
    sums: [(RunningWindow, RunningWindow); 3],
}

impl UltOsc {
    pub fn new(p1: usize, p2: usize, p3: usize) -> Self {
        let mut periods = [p1.max(1), p2.max(1), p3.max(1)];
        periods.sort_unstable();
        UltOsc { prev_close: f64::NAN, sums: periods.map(|p| (RunningWindow::new(p), RunningWindow::new(p))) }
    }
}

impl Indicator for UltOsc {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let prev = self.prev_close;
        self.prev_close = bar.close;
        out[0] = f64::NAN;
        if prev.is_nan() {
            return;
        }
        let true_low = bar.low.min(prev);
        let buying = bar.close - true_low;
        let range = true_range(bar.high, bar.low, prev);
        let mut totals = [None; 3];
        for (slot, (a, b)) in totals.iter_mut().zip(self.sums.iter_mut()) {
            *slot = a.push(buying).zip(b.push(range));
        }
        if let [Some((a1, b1)), Some((a2, b2)), Some((a3, b3))] = totals {
            let mut sum = 0.0;
            if !ta_is_zero(b1) {
                sum += 4.0 * (a1 / b1);
            }
            if !ta_is_zero(b2) {
                sum += 2.0 * (a2 / b2);
            }
            if !ta_is_zero(b3) {
                sum += a3 / b3;
            }
            out[0] = 100.0 * (sum / 7.0);
        }
    }
}

/// Aroon (`aroondown`, `aroonup`), or the oscillator `up - down` when `oscillator`: how
/// recently the `n + 1`-bar low and high were made. Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Aroon {
    n: usize,
    high: Extreme,
    low: Extreme,
    oscillator: bool,
}

impl Aroon {
    pub fn new(n: usize, oscillator: bool) -> Self {
        let n = n.max(1);
        Aroon { n, high: Extreme::max(n + 1), low: Extreme::min(n + 1), oscillator }
    }
}

impl Indicator for Aroon {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (_, high_age) = self.high.push(bar.high);
        let (_, low_age) = self.low.push(bar.low);
        if !self.high.is_full() {
            out.fill(f64::NAN);
            return;
        }
        let factor = 100.0 / self.n as f64;
        if self.oscillator {
            out[0] = factor * (low_age as f64 - high_age as f64);
        } else {
            out[0] = factor * (self.n as f64 - low_age as f64);
            out[1] = factor * (self.n as f64 - high_age as f64);
        }
    }
}

/// Balance of power, `(close - open) / (high - low)`. Lookback 0.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Bop;

impl Indicator for Bop {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let range = bar.high - bar.low;
        out[0] = if ta_is_zero_or_neg(range) { 0.0 } else { (bar.close - bar.open) / range };
    }
}

/// Money flow index: RSI-like ratio of volume-weighted typical-price flows. Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Mfi {
    prev_tp: f64,
    positive: RunningWindow,
    negative: RunningWindow,
}

impl Mfi {
    pub fn new(n: usize) -> Self {
        Mfi { prev_tp: f64::NAN, positive: RunningWindow::new(n), negative: RunningWindow::new(n) }
    }
}

impl Indicator for Mfi {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        let change = tp - self.prev_tp;
        let first = self.prev_tp.is_nan();
        self.prev_tp = tp;
        out[0] = f64::NAN;
        if first {
            return;
        }
        let flow = tp * bar.volume;
        let (up, down) = if change < 0.0 {
            (0.0, flow)
        } else if change > 0.0 {
            (flow, 0.0)
        } else {
            (0.0, 0.0)
        };
        if let (Some(pos), Some(neg)) = (self.positive.push(up), self.negative.push(down)) {
            let total = pos + neg;
            out[0] = if ta_is_zero(total) { 0.0 } else { 100.0 * (pos / total) };
        }
    }
}
