//! Volume: OBV, AD, ADOSC.

use super::{Indicator, Ohlcv};

/// On-balance volume, starting from the first bar's volume. Lookback 0.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Obv {
    value: f64,
    prev_close: Option<f64>,
}

impl Indicator for Obv {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        match self.prev_close {
            None => self.value = bar.volume,
            Some(prev) if bar.close > prev => self.value += bar.volume,
            Some(prev) if bar.close < prev => self.value -= bar.volume,
            Some(_) => {}
        }
        self.prev_close = Some(bar.close);
        out[0] = self.value;
    }
}

/// Chaikin accumulation/distribution line.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Ad {
    value: f64,
}

impl Ad {
    #[inline]
    fn push(&mut self, bar: &Ohlcv) -> f64 {
        let range = bar.high - bar.low;
        if range > 0.0 {
            self.value += (((bar.close - bar.low) - (bar.high - bar.close)) / range) * bar.volume;
        }
        self.value
    }
}

impl Indicator for Ad {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar);
    }
}

/// Chaikin A/D oscillator: fast EMA minus slow EMA of the A/D line, both seeded with its first
/// value (TA-Lib's ADOSC). Lookback `max(fast, slow) - 1`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AdOsc {
    ad: Ad,
    k: (f64, f64),
    ema: (f64, f64),
    seen: usize,
    lookback: usize,
}

impl AdOsc {
    pub fn new(fast: usize, slow: usize) -> Self {
        let k = |n: usize| 2.0 / (n as f64 + 1.0);
        AdOsc {
            ad: Ad::default(),
            k: (k(fast), k(slow)),
            ema: (0.0, 0.0),
            seen: 0,
            lookback: fast.max(slow).max(1) - 1,
        }
    }
}

impl Indicator for AdOsc {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let ad = self.ad.push(bar);
        if self.seen == 0 {
            self.ema = (ad, ad);
        } else {
            let (kf, ks) = self.k;
            self.ema.0 = kf * ad + (1.0 - kf) * self.ema.0;
            self.ema.1 = ks * ad + (1.0 - ks) * self.ema.1;
        }
        self.seen += 1;
        out[0] = if self.seen > self.lookback { self.ema.0 - self.ema.1 } else { f64::NAN };
    }
}
