//! Directional movement (Wilder): PLUS_DI, MINUS_DI, DX, ADX, ADXR.

use super::volatility::true_range;
use super::{Indicator, Ohlcv, Ring, ta_is_zero};

/// Smoothed +DM, -DM and true range with TA-Lib's seeding: plain sums over the first `n - 1`
/// moves, then `x - x / n + new`. Gives its first values on bar `n` (counting from 0).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Movement {
    n: usize,
    seen: usize,
    prev: Option<(f64, f64, f64)>,
    plus: f64,
    minus: f64,
    tr: f64,
}

impl Movement {
    fn new(n: usize) -> Self {
        Movement { n: n.max(1), seen: 0, prev: None, plus: 0.0, minus: 0.0, tr: 0.0 }
    }

    fn push(&mut self, bar: &Ohlcv) -> Option<(f64, f64, f64)> {
        let (prev_high, prev_low, prev_close) = self.prev.replace((bar.high, bar.low, bar.close))?;
        self.seen += 1;
        let up = bar.high - prev_high;
        let down = prev_low - bar.low;
        let (plus_dm, minus_dm) = if down > 0.0 && up < down {
            (0.0, down)
        } else if up > 0.0 && up > down {
            (up, 0.0)
        } else {
            (0.0, 0.0)
        };
        let tr = true_range(bar.high, bar.low, prev_close);
        let n = self.n as f64;
        if self.seen < self.n {
            self.plus += plus_dm;
            self.minus += minus_dm;
            self.tr += tr;
            return None;
        }
        self.plus = self.plus - self.plus / n + plus_dm;
        self.minus = self.minus - self.minus / n + minus_dm;
        self.tr = self.tr - self.tr / n + tr;
        Some((self.plus, self.minus, self.tr))
    }
}

/// `100 |-DI - +DI| / (-DI + +DI)`, or `None` where TA-Lib skips it (a zero range or sum).
fn dx(plus: f64, minus: f64, tr: f64) -> Option<f64> {
    if ta_is_zero(tr) {
        return None;
    }
    let (minus_di, plus_di) = (100.0 * (minus / tr), 100.0 * (plus / tr));
    let sum = minus_di + plus_di;
    (!ta_is_zero(sum)).then(|| 100.0 * ((minus_di - plus_di).abs() / sum))
}

/// +DI (`plus`) or -DI: smoothed directional movement over smoothed true range, in percent.
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Di {
    movement: Movement,
    plus: bool,
}

impl Di {
    pub fn new(n: usize, plus: bool) -> Self {
        Di { movement: Movement::new(n), plus }
    }
}

impl Indicator for Di {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = match self.movement.push(bar) {
            None => f64::NAN,
            Some((_, _, tr)) if ta_is_zero(tr) => 0.0,
            Some((plus, minus, tr)) => 100.0 * ((if self.plus { plus } else { minus }) / tr),
        };
    }
}

/// Directional movement index; where it is undefined it repeats its last value (0 at first).
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Dx {
    movement: Movement,
    last: f64,
}

impl Dx {
    pub fn new(n: usize) -> Self {
        Dx { movement: Movement::new(n), last: 0.0 }
    }
}

impl Indicator for Dx {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = match self.movement.push(bar) {
            None => f64::NAN,
            Some((plus, minus, tr)) => {
                if let Some(v) = dx(plus, minus, tr) {
                    self.last = v;
                }
                self.last
            }
        };
    }
}

/// Average directional index: the mean of the first `n` DX values, then Wilder smoothing.
/// Lookback `2 n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Adx {
    n: usize,
    movement: Movement,
    count: usize,
    sum: f64,
    value: f64,
}

impl Adx {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Adx { n, movement: Movement::new(n), count: 0, sum: 0.0, value: f64::NAN }
    }

    fn push(&mut self, bar: &Ohlcv) -> f64 {
        let Some((plus, minus, tr)) = self.movement.push(bar) else { return f64::NAN };
        let dx = dx(plus, minus, tr);
        let n = self.n as f64;
        self.count += 1;
        if self.count <= self.n {
            self.sum += dx.unwrap_or(0.0);
            if self.count < self.n {
                return f64::NAN;
            }
            self.value = self.sum / n;
        } else if let Some(dx) = dx {
            self.value = (self.value * (n - 1.0) + dx) / n;
        }
        self.value
    }
}

impl Indicator for Adx {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar);
    }
}

/// ADX rating: the mean of today's ADX and the ADX `n - 1` bars ago. Lookback `3 n - 2`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Adxr {
    adx: Adx,
    history: Ring,
}

impl Adxr {
    pub fn new(n: usize) -> Self {
        Adxr { adx: Adx::new(n), history: Ring::new(n.max(1)) }
    }
}

impl Indicator for Adxr {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let adx = self.adx.push(bar);
        out[0] = f64::NAN;
        if adx.is_nan() {
            return;
        }
        self.history.push(adx);
        if self.history.is_full() {
            out[0] = (adx + self.history.back(self.history.len() - 1)) / 2.0;
        }
    }
}
