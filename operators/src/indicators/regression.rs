//! Least-squares lines and window midpoints: LINEARREG, LINEARREG_SLOPE, MIDPOINT, MIDPRICE.

use super::{Extreme, Indicator, Ohlcv, Ring};

/// The least-squares line through the last `n` closes: its value at the newest bar, or its
/// slope per bar. Computed over the window as TA-Lib does (O(n) per update).
/// Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LinearReg {
    ring: Ring,
    slope: bool,
}

impl LinearReg {
    pub fn new(n: usize, slope: bool) -> Self {
        LinearReg { ring: Ring::new(n), slope }
    }
}

impl Indicator for LinearReg {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.ring.push(bar.close);
        if !self.ring.is_full() {
            out[0] = f64::NAN;
            return;
        }
        // Centred least squares (x = bars back from the newest, mean (n-1)/2), the stable form
        // TA-Lib 0.8 uses; the textbook `n Σxy - Σx Σy` loses digits to cancellation.
        let n = self.ring.len();
        let nf = n as f64;
        let mean_y = self.ring.iter().sum::<f64>() / nf;
        let mean_x = (nf - 1.0) / 2.0;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, y) in self.ring.iter().enumerate() {
            let dx = (n - 1 - i) as f64 - mean_x;
            sxy += dx * (y - mean_y);
            sxx += dx * dx;
        }
        // Per bar forward in time: x counts backwards.
        let m = if sxx > 0.0 { -sxy / sxx } else { 0.0 };
        out[0] = if self.slope { m } else { mean_y + m * mean_x };
    }
}

/// `(highest + lowest) / 2` over `n` bars: of the close (MIDPOINT) or of high and low
/// (MIDPRICE). Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Midpoint {
    high: Extreme,
    low: Extreme,
    of_close: bool,
}

impl Midpoint {
    pub fn new(n: usize, of_close: bool) -> Self {
        Midpoint { high: Extreme::max(n), low: Extreme::min(n), of_close }
    }
}

impl Indicator for Midpoint {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (h, l) = if self.of_close { (bar.close, bar.close) } else { (bar.high, bar.low) };
        let (hh, _) = self.high.push(h);
        let (ll, _) = self.low.push(l);
        out[0] = if self.high.is_full() { (hh + ll) / 2.0 } else { f64::NAN };
    }
}
