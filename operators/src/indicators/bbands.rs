//! Bollinger bands, TA-Lib's BBANDS with a simple moving average.

use super::{Indicator, Ohlcv, RunningWindow, ta_is_zero_or_neg};

/// Outputs `upperband`, `middleband`, `lowerband`: the SMA of the close plus and minus
/// `dev` population standard deviations. Lookback `period - 1`. The variance is computed as
/// TA-Lib does, mean of squares minus square of the mean, and is 0 below TA-Lib's epsilon.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Bbands {
    sum: RunningWindow,
    sum_sq: RunningWindow,
    dev_up: f64,
    dev_down: f64,
}

impl Bbands {
    pub fn new(period: usize, dev_up: f64, dev_down: f64) -> Self {
        Bbands { sum: RunningWindow::new(period), sum_sq: RunningWindow::new(period), dev_up, dev_down }
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> [f64; 3] {
        let n = self.sum.period() as f64;
        let (Some(total), Some(total_sq)) = (self.sum.push(x), self.sum_sq.push(x * x)) else {
            return [f64::NAN; 3];
        };
        let mid = total / n;
        let variance = total_sq / n - mid * mid;
        let sd = if ta_is_zero_or_neg(variance) { 0.0 } else { variance.sqrt() };
        [mid + sd * self.dev_up, mid, mid - sd * self.dev_down]
    }
}

impl Indicator for Bbands {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.copy_from_slice(&self.push(bar.close));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_around_the_mean() {
        let mut b = Bbands::new(4, 2.0, 2.0);
        for x in [1.0, 2.0, 3.0] {
            assert!(b.push(x)[1].is_nan());
        }
        let [up, mid, low] = b.push(4.0);
        assert_eq!(mid, 2.5);
        let sd = (7.5f64 - 6.25).sqrt();
        assert!((up - (2.5 + 2.0 * sd)).abs() < 1e-12 && (low - (2.5 - 2.0 * sd)).abs() < 1e-12);
        let [up, mid, low] = Bbands::new(2, 2.0, 2.0).push(3.0);
        assert!(up.is_nan() && mid.is_nan() && low.is_nan());
    }

    #[test]
    fn flat_prices_have_zero_width() {
        let mut b = Bbands::new(3, 2.0, 1.0);
        let out = (0..5).map(|_| b.push(7.0)).last().unwrap();
        assert_eq!(out, [7.0, 7.0, 7.0]);
    }
}
