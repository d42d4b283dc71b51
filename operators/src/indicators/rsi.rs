//! Relative strength index, TA-Lib's RSI (Wilder smoothing seeded by a simple average).

use super::{Indicator, Ohlcv, ta_is_zero};

/// RSI over `period` changes. Lookback `period`: the first value comes with the
/// `period + 1`-th price.
#[derive(Clone, Debug)]
pub struct Rsi {
    period: usize,
    prev: f64,
    seen: usize,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(period: usize) -> Self {
        Rsi { period: period.max(1), prev: f64::NAN, seen: 0, gain: 0.0, loss: 0.0 }
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        self.seen += 1;
        let first = self.seen == 1;
        let change = x - self.prev;
        self.prev = x;
        if first {
            return f64::NAN;
        }
        let n = self.period as f64;
        if self.seen <= self.period {
            // Seed: plain sums of gains and losses.
            if change < 0.0 {
                self.loss -= change
            } else {
                self.gain += change
            }
            return f64::NAN;
        }
        if self.seen == self.period + 1 {
            if change < 0.0 {
                self.loss -= change
            } else {
                self.gain += change
            }
            self.loss /= n;
            self.gain /= n;
        } else {
            self.loss *= n - 1.0;
            self.gain *= n - 1.0;
            if change < 0.0 {
                self.loss -= change
            } else {
                self.gain += change
            }
            self.loss /= n;
            self.gain /= n;
        }
        let total = self.gain + self.loss;
        if ta_is_zero(total) { 0.0 } else { 100.0 * (self.gain / total) }
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
