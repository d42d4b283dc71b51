//! Momentum: CMO, ROC, MOM, APO, PPO, TRIX (RSI and MACD have their own files).

use super::rsi::GainLoss;
use super::{Ema, Indicator, Ohlcv, Ring, Sma, ta_is_zero};

/// Chande momentum oscillator, `100 (gain - loss) / (gain + loss)` with RSI's smoothing.
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Cmo(GainLoss);

impl Cmo {
    pub fn new(n: usize) -> Self {
        Cmo(GainLoss::new(n))
    }
}

impl Indicator for Cmo {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = match self.0.push(bar.close) {
            None => f64::NAN,
            Some((gain, loss)) if ta_is_zero(gain + loss) => 0.0,
            Some((gain, loss)) => 100.0 * ((gain - loss) / (gain + loss)),
        };
    }
}

/// Rate of change in percent, `(x / x[n] - 1) * 100`. Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Roc(Ring);

impl Roc {
    pub fn new(n: usize) -> Self {
        Roc(Ring::new(n.max(1) + 1))
    }
}

impl Indicator for Roc {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.0.push(bar.close);
        out[0] = if !self.0.is_full() {
            f64::NAN
        } else {
            let then = self.0.back(self.0.len() - 1);
            if then != 0.0 { ((bar.close / then) - 1.0) * 100.0 } else { 0.0 }
        };
    }
}

/// Momentum, `x - x[n]`. Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Mom(Ring);

impl Mom {
    pub fn new(n: usize) -> Self {
        Mom(Ring::new(n.max(1) + 1))
    }
}

impl Indicator for Mom {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.0.push(bar.close);
        out[0] = if self.0.is_full() { bar.close - self.0.back(self.0.len() - 1) } else { f64::NAN };
    }
}

/// Absolute (APO) or percentage (PPO) price oscillator of two simple averages (TA-Lib's
/// default MA type). Lookback `slow - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PriceOscillator {
    fast: Sma,
    slow: Sma,
    percent: bool,
}

impl PriceOscillator {
    pub fn new(fast: usize, slow: usize, percent: bool) -> Self {
        let (fast, slow) = (fast.min(slow), fast.max(slow));
        PriceOscillator { fast: Sma::new(fast), slow: Sma::new(slow), percent }
    }
}

impl Indicator for PriceOscillator {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (fast, slow) = (self.fast.push(bar.close), self.slow.push(bar.close));
        out[0] = if slow.is_nan() {
            f64::NAN
        } else if !self.percent {
            fast - slow
        } else if ta_is_zero(slow) {
            0.0
        } else {
            ((fast - slow) / slow) * 100.0
        };
    }
}

/// TRIX: the one-bar rate of change, in percent, of a triple EMA. Lookback `3 (n - 1) + 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Trix {
    emas: [Ema; 3],
    prev: f64,
}

impl Trix {
    pub fn new(n: usize) -> Self {
        Trix { emas: [Ema::new(n), Ema::new(n), Ema::new(n)], prev: f64::NAN }
    }
}

impl Indicator for Trix {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mut x = bar.close;
        for ema in &mut self.emas {
            if x.is_nan() {
                break;
            }
            x = ema.push(x);
        }
        out[0] = if x.is_nan() || self.prev.is_nan() {
            f64::NAN
        } else if self.prev != 0.0 {
            ((x / self.prev) - 1.0) * 100.0
        } else {
            0.0
        };
        if !x.is_nan() {
            self.prev = x;
        }
    }
}
