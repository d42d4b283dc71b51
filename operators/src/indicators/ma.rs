//! Moving averages: SMA, WMA, DEMA, TEMA, TRIMA, KAMA, T3 (EMA is in `ema.rs`).

use super::{Ema, Indicator, Ohlcv, Ring, RunningWindow, ta_is_zero};

/// Simple moving average in TA-Lib's order of operations. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sma(RunningWindow);

impl Sma {
    pub fn new(n: usize) -> Self {
        Sma(RunningWindow::new(n))
    }
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let n = self.0.period() as f64;
        self.0.push(x).map_or(f64::NAN, |total| total / n)
    }
}

impl Indicator for Sma {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close);
    }
}

/// Weighted moving average (weights 1..n, newest heaviest), TA-Lib's running form.
/// Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Wma {
    ring: Ring,
    seen: usize,
    sum: f64,
    sub: f64,
    trailing: f64,
    divider: f64,
}

impl Wma {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Wma { ring: Ring::new(n), seen: 0, sum: 0.0, sub: 0.0, trailing: 0.0, divider: (n * (n + 1) / 2) as f64 }
    }
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let n = self.ring.len();
        self.seen += 1;
        self.ring.push(x);
        if self.seen < n {
            self.sub += x;
            self.sum += x * self.seen as f64;
            return f64::NAN;
        }
        self.sub += x;
        self.sub -= self.trailing;
        self.sum += x * n as f64;
        self.trailing = self.ring.back(n - 1);
        let out = self.sum / self.divider;
        self.sum -= self.sub;
        out
    }
}

impl Indicator for Wma {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close);
    }
}

/// Double EMA: `2 EMA - EMA(EMA)`. Lookback `2 (n - 1)`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Dema(Ema, Ema);

impl Dema {
    pub fn new(n: usize) -> Self {
        Dema(Ema::new(n), Ema::new(n))
    }
}

impl Indicator for Dema {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let e1 = self.0.push(bar.close);
        out[0] = if e1.is_nan() { f64::NAN } else { 2.0 * e1 - self.1.push(e1) };
    }
}

/// Triple EMA: `3 EMA - 3 EMA(EMA) + EMA(EMA(EMA))`. Lookback `3 (n - 1)`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Tema(Ema, Ema, Ema);

impl Tema {
    pub fn new(n: usize) -> Self {
        Tema(Ema::new(n), Ema::new(n), Ema::new(n))
    }
}

impl Indicator for Tema {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let e1 = self.0.push(bar.close);
        let e2 = if e1.is_nan() { f64::NAN } else { self.1.push(e1) };
        let e3 = if e2.is_nan() { f64::NAN } else { self.2.push(e2) };
        out[0] = if e3.is_nan() { f64::NAN } else { e3 + (3.0 * e1 - 3.0 * e2) };
    }
}

/// Triangular moving average: an SMA of an SMA (periods `(n+1)/2` twice for odd `n`,
/// `n/2` and `n/2 + 1` for even `n`), equal to TA-Lib's weights. Lookback `n - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Trima(Sma, Sma);

impl Trima {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        let (a, b) = if n % 2 == 1 { (n.div_ceil(2), n.div_ceil(2)) } else { (n / 2, n / 2 + 1) };
        Trima(Sma::new(a), Sma::new(b))
    }
}

impl Indicator for Trima {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let inner = self.0.push(bar.close);
        out[0] = if inner.is_nan() { f64::NAN } else { self.1.push(inner) };
    }
}

/// Kaufman adaptive moving average (TA-Lib: fast 2, slow 30, efficiency over `n`).
/// Lookback `n`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Kama {
    ring: Ring,
    seen: usize,
    sum_roc: f64,
    trailing: f64,
    value: f64,
}

impl Kama {
    const SLOW: f64 = 2.0 / (30.0 + 1.0);
    const DIFF: f64 = 2.0 / (2.0 + 1.0) - Self::SLOW;

    pub fn new(n: usize) -> Self {
        Kama { ring: Ring::new(n.max(1) + 1), seen: 0, sum_roc: 0.0, trailing: 0.0, value: f64::NAN }
    }

    fn smooth(&mut self, x: f64, period_roc: f64) -> f64 {
        let er = if self.sum_roc <= period_roc || ta_is_zero(self.sum_roc) {
            1.0
        } else {
            (period_roc / self.sum_roc).abs()
        };
        let mut sc = er * Self::DIFF + Self::SLOW;
        sc *= sc;
        self.value = (x - self.value) * sc + self.value;
        self.value
    }
}

impl Indicator for Kama {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let x = bar.close;
        let n = self.ring.len() - 1;
        let t = self.seen;
        self.seen += 1;
        let prev = self.ring.back(0);
        self.ring.push(x);
        if t >= 1 && t <= n {
            self.sum_roc += (prev - x).abs();
        }
        out[0] = if t < n {
            f64::NAN
        } else if t == n {
            self.value = prev;
            let oldest = self.ring.back(n);
            self.trailing = oldest;
            self.smooth(x, x - oldest)
        } else {
            let oldest = self.ring.back(n);
            self.sum_roc -= (self.trailing - oldest).abs();
            self.sum_roc += (x - prev).abs();
            self.trailing = oldest;
            self.smooth(x, x - oldest)
        };
    }
}

/// One level of T3's EMA chain: seeded with the simple average of its first `n` inputs, then
/// `k x + (1 - k) e` (T3's own form of the update).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ChainEma {
    n: usize,
    k: f64,
    seen: usize,
    total: f64,
    value: f64,
}

impl ChainEma {
    fn new(n: usize) -> Self {
        ChainEma { n, k: 2.0 / (n as f64 + 1.0), seen: 0, total: 0.0, value: f64::NAN }
    }
    fn push(&mut self, x: f64) -> f64 {
        self.seen += 1;
        if self.seen <= self.n {
            self.total += x;
            if self.seen == self.n {
                self.value = self.total / self.n as f64;
            }
            return if self.seen == self.n { self.value } else { f64::NAN };
        }
        self.value = self.k * x + (1.0 - self.k) * self.value;
        self.value
    }
}

/// Tillson's T3 (`n`, volume factor `v`): six chained EMAs. Lookback `6 (n - 1)`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct T3 {
    levels: [ChainEma; 6],
    c: [f64; 4],
}

impl T3 {
    pub fn new(n: usize, v: f64) -> Self {
        let n = n.max(1);
        let v2 = v * v;
        let c1 = -v2 * v;
        let c2 = 3.0 * (v2 - c1);
        let c3 = -6.0 * v2 - 3.0 * (v - c1);
        let c4 = 1.0 + 3.0 * v - c1 + 3.0 * v2;
        T3 { levels: std::array::from_fn(|_| ChainEma::new(n)), c: [c1, c2, c3, c4] }
    }
}

impl Indicator for T3 {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mut x = bar.close;
        let mut e = [f64::NAN; 6];
        for (i, level) in self.levels.iter_mut().enumerate() {
            if x.is_nan() {
                break;
            }
            x = level.push(x);
            e[i] = x;
        }
        let [c1, c2, c3, c4] = self.c;
        out[0] = if e[5].is_nan() { f64::NAN } else { c1 * e[5] + c2 * e[4] + c3 * e[3] + c4 * e[2] };
    }
}
