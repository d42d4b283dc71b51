//! Moving average convergence/divergence, TA-Lib's MACD.

use super::{Ema, Indicator, Ohlcv};

/// Outputs `macd`, `macdsignal`, `macdhist`. As in TA-Lib, the fast EMA is seeded on the
/// `fast` prices that end where the slow EMA's seed ends, so both start together, and nothing
/// is output until the signal EMA (seeded on the first `signal` MACD values) is ready:
/// lookback `slow - 1 + signal - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    fast_skip: usize,
    seen: usize,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        let (fast, slow) = (fast.min(slow), fast.max(slow));
        Macd { fast: Ema::new(fast), slow: Ema::new(slow), signal: Ema::new(signal), fast_skip: slow - fast, seen: 0 }
    }

    /// `[macd, signal, hist]`, NaN while warming up.
    #[inline]
    pub fn push(&mut self, x: f64) -> [f64; 3] {
        self.seen += 1;
        let slow = self.slow.push(x);
        if self.seen <= self.fast_skip {
            return [f64::NAN; 3];
        }
        let fast = self.fast.push(x);
        if slow.is_nan() {
            return [f64::NAN; 3];
        }
        let macd = fast - slow;
        let signal = self.signal.push(macd);
        if signal.is_nan() {
            return [f64::NAN; 3];
        }
        [macd, signal, macd - signal]
    }
}

impl Indicator for Macd {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.copy_from_slice(&self.push(bar.close));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TA-Lib's batch algorithm, written out directly.
    fn batch(xs: &[f64], fast: usize, slow: usize, signal: usize) -> Vec<[f64; 3]> {
        let ema = |xs: &[f64], start: usize, period: usize| -> Vec<f64> {
            let k = 2.0 / (period as f64 + 1.0);
            let mut out = vec![f64::NAN; xs.len()];
            let mut v = xs[start..start + period].iter().sum::<f64>() / period as f64;
            out[start + period - 1] = v;
            for i in start + period..xs.len() {
                v += (xs[i] - v) * k;
                out[i] = v;
            }
            out
        };
        let slow_e = ema(xs, 0, slow);
        let fast_e = ema(xs, slow - fast, fast);
        let macd: Vec<f64> = (slow - 1..xs.len()).map(|i| fast_e[i] - slow_e[i]).collect();
        let sig = ema(&macd, 0, signal);
        let mut out = vec![[f64::NAN; 3]; xs.len()];
        for j in signal - 1..macd.len() {
            out[slow - 1 + j] = [macd[j], sig[j], macd[j] - sig[j]];
        }
        out
    }

    #[test]
    fn matches_the_batch_definition() {
        let xs: Vec<f64> = (0..120).map(|i| 100.0 + (i as f64 * 0.37).sin() * 5.0 + i as f64 * 0.1).collect();
        let mut m = Macd::new(12, 26, 9);
        let expected = batch(&xs, 12, 26, 9);
        for (i, x) in xs.iter().enumerate() {
            let got = m.push(*x);
            for k in 0..3 {
                let e = expected[i][k];
                assert!(
                    (got[k].is_nan() && e.is_nan()) || got[k] == e,
                    "row {i} output {k}: got {} expected {e}",
                    got[k]
                );
            }
        }
        assert!(expected[32][0].is_nan() && !expected[33][0].is_nan());
    }
}
