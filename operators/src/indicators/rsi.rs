//! Relative strength index, TA-Lib's RSI (Wilder smoothing seeded by a simple average).

use super::{Indicator, Ohlcv, ta_is_zero};

/// Average gain and average loss of the last `period` changes, Wilder-smoothed and seeded by
/// plain averages, in TA-Lib's order of operations (shared by RSI and CMO).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct GainLoss {
    period: usize,
    prev: f64,
    seen: usize,
    gain: f64,
    loss: f64,
}

impl GainLoss {
    pub(super) fn new(period: usize) -> Self {
        GainLoss { period: period.max(1), prev: f64::NAN, seen: 0, gain: 0.0, loss: 0.0 }
    }

    fn add(&mut self, change: f64) {
        if change < 0.0 { self.loss -= change } else { self.gain += change }
    }

    /// `(average gain, average loss)` once `period` changes have been seen.
    #[inline]
    pub(super) fn push(&mut self, x: f64) -> Option<(f64, f64)> {
        self.seen += 1;
        let change = x - self.prev;
        self.prev = x;
        if self.seen == 1 {
            return None;
        }
        let n = self.period as f64;
        if self.seen <= self.period {
            self.add(change);
            return None;
        }
        if self.seen > self.period + 1 {
            self.loss *= n - 1.0;
            self.gain *= n - 1.0;
        }
        self.add(change);
        self.loss /= n;
        self.gain /= n;
        Some((self.gain, self.loss))
    }
}

/// RSI over `period` changes. Lookback `period`: the first value comes with the
/// `period + 1`-th price.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Rsi(GainLoss);

impl Rsi {
    pub fn new(period: usize) -> Self {
        Rsi(GainLoss::new(period))
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let Some((gain, loss)) = self.0.push(x) else { return f64::NAN };
        let total = gain + loss;
        if ta_is_zero(total) { 0.0 } else { 100.0 * (gain / total) }
    }
}

impl Indicator for Rsi {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_after_period_changes() {
        let mut rsi = Rsi::new(2);
        assert!(rsi.push(10.0).is_nan());
        assert!(rsi.push(11.0).is_nan());
        // gains 1, losses 0.5 over two changes: 100 * 0.5 / 0.75
        let v = rsi.push(10.5);
        assert!((v - 100.0 * 0.5 / 0.75).abs() < 1e-12, "{v}");
        // Wilder: gain = (0.5*1 + 0)/2, loss = (0.25*1 + 1)/2
        let v = rsi.push(9.5);
        assert!((v - 100.0 * 0.25 / (0.25 + 0.625)).abs() < 1e-12, "{v}");
    }

    #[test]
    fn flat_prices_give_zero() {
        let mut rsi = Rsi::new(3);
        let last = (0..10).map(|_| rsi.push(5.0)).last().unwrap();
        assert_eq!(last, 0.0);
    }
}
