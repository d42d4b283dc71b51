//! Volatility: STDDEV, VAR, TRANGE, ATR, NATR (BBANDS is in `bbands.rs`).

use super::{Indicator, Ohlcv, Ring, Sma, ta_is_zero, ta_is_zero_or_neg};

/// TA-Lib's true range of a bar given the previous close.
#[inline]
pub fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let up = (prev_close - high).abs();
    if up > greatest {
        greatest = up;
    }
    let down = (prev_close - low).abs();
    if down > greatest {
        greatest = down;
    }
    greatest
}

/// Population variance over `n` (TA-Lib's VAR; its deviation multiplier does not apply),
/// computed in two passes over the window, mean first, as TA-Lib 0.8 does: the one-pass
/// `E[x²] - E[x]²` loses the digits of a small variance of large prices. O(n) per update.
/// Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Variance(Ring);

impl Variance {
    pub fn new(n: usize) -> Self {
        Variance(Ring::new(n))
    }
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        self.push_with_mean(x).1
    }

    /// Adds `x`; returns the window's (mean, variance), NaN until the window is full.
    #[inline]
    pub fn push_with_mean(&mut self, x: f64) -> (f64, f64) {
        self.0.push(x);
        if !self.0.is_full() {
            return (f64::NAN, f64::NAN);
        }
        let n = self.0.len() as f64;
        let mean = self.0.iter().sum::<f64>() / n;
        (mean, self.0.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n)
    }
}

impl Indicator for Variance {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close);
    }
}

/// Population standard deviation times `dev`; 0 where the variance is below TA-Lib's epsilon.
/// Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StdDev {
    var: Variance,
    dev: f64,
}

impl StdDev {
    pub fn new(n: usize, dev: f64) -> Self {
        StdDev { var: Variance::new(n), dev }
    }
}

impl Indicator for StdDev {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let v = self.var.push(bar.close);
        out[0] = if v.is_nan() {
            f64::NAN
        } else if ta_is_zero_or_neg(v) {
            0.0
        } else {
            v.sqrt() * self.dev
        };
    }
}

/// True range. Lookback 1.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TRange {
    prev_close: f64,
    seen: bool,
}

impl TRange {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for TRange {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = if self.seen { true_range(bar.high, bar.low, self.prev_close) } else { f64::NAN };
        self.seen = true;
        self.prev_close = bar.close;
    }
}

/// Average true range: Wilder smoothing seeded with the simple average of the first `n` true
/// ranges. `normalized` gives NATR (ATR / close * 100). Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Atr {
    n: usize,
    tr: TRange,
    seed: Sma,
    value: f64,
    normalized: bool,
}

impl Atr {
    pub fn new(n: usize, normalized: bool) -> Self {
        let n = n.max(1);
        Atr { n, tr: TRange::new(), seed: Sma::new(n), value: f64::NAN, normalized }
    }
}

impl Indicator for Atr {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mut tr = [f64::NAN];
        self.tr.update(bar, &mut tr);
        let tr = tr[0];
        if tr.is_nan() {
            out[0] = f64::NAN;
            return;
        }
        if self.value.is_nan() {
            self.value = self.seed.push(tr);
        } else {
            let n = self.n as f64;
            self.value = (self.value * (n - 1.0) + tr) / n;
        }
        out[0] = if self.value.is_nan() || !self.normalized {
            self.value
        } else if ta_is_zero(bar.close) {
            0.0
        } else {
            (self.value / bar.close) * 100.0
        };
    }
}
