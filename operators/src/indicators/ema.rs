//! Exponential moving average, TA-Lib's EMA.

use super::{Indicator, Ohlcv};

/// EMA seeded with the simple average of the first `period` values (TA-Lib's default),
/// smoothing factor `2 / (period + 1)`. Lookback `period - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_total: f64,
    value: f64,
}

impl Ema {
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Ema { period, k: 2.0 / (period as f64 + 1.0), seen: 0, seed_total: 0.0, value: f64::NAN }
    }

    /// Folds in `x`, returning the EMA once the seed window is full.
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        self.seen += 1;
        if self.seen < self.period {
            self.seed_total += x;
            f64::NAN
        } else if self.seen == self.period {
            self.seed_total += x;
            self.value = self.seed_total / self.period as f64;
            self.value
        } else {
            self.value += (x - self.value) * self.k;
            self.value
        }
    }
}

impl Indicator for Ema {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_with_the_simple_average() {
        let mut ema = Ema::new(3);
        assert!(ema.push(1.0).is_nan());
        assert!(ema.push(2.0).is_nan());
        assert_eq!(ema.push(3.0), 2.0);
        assert_eq!(ema.push(6.0), 2.0 + (6.0 - 2.0) * 0.5);
    }
}
