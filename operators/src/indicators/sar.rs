//! Parabolic SAR, TA-Lib's SAR: the first direction comes from the minus directional
//! movement of the first two bars; the stop never enters the last two bars' range.

use super::{Indicator, Ohlcv};

/// Parabolic stop and reverse (`acceleration` step and `maximum`). Lookback 1.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sar {
    step: f64,
    maximum: f64,
    first: Option<(f64, f64)>,
    started: bool,
    long: bool,
    sar: f64,
    ep: f64,
    af: f64,
    high: f64,
    low: f64,
}

impl Sar {
    pub fn new(acceleration: f64, maximum: f64) -> Self {
        let step = acceleration.min(maximum);
        Sar { step, maximum, first: None, started: false, long: true, sar: 0.0, ep: 0.0, af: step, high: 0.0, low: 0.0 }
    }

    fn step(&mut self, bar: &Ohlcv) -> f64 {
        let (prev_low, prev_high) = (self.low, self.high);
        self.low = bar.low;
        self.high = bar.high;
        let out;
        if self.long {
            if self.low <= self.sar {
                self.long = false;
                self.sar = self.ep.max(prev_high).max(self.high);
                out = self.sar;
                self.af = self.step;
                self.ep = self.low;
                self.sar += self.af * (self.ep - self.sar);
                self.sar = self.sar.max(prev_high).max(self.high);
            } else {
                out = self.sar;
                if self.high > self.ep {
                    self.ep = self.high;
                    self.af = (self.af + self.step).min(self.maximum);
                }
                self.sar += self.af * (self.ep - self.sar);
                self.sar = self.sar.min(prev_low).min(self.low);
            }
        } else if self.high >= self.sar {
            self.long = true;
            self.sar = self.ep.min(prev_low).min(self.low);
            out = self.sar;
            self.af = self.step;
            self.ep = self.high;
            self.sar += self.af * (self.ep - self.sar);
            self.sar = self.sar.min(prev_low).min(self.low);
        } else {
            out = self.sar;
            if self.low < self.ep {
                self.ep = self.low;
                self.af = (self.af + self.step).min(self.maximum);
            }
            self.sar += self.af * (self.ep - self.sar);
            self.sar = self.sar.max(prev_high).max(self.high);
        }
        out
    }
}

impl Indicator for Sar {
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        if !self.started {
            let Some((high0, low0)) = self.first else {
                self.first = Some((bar.high, bar.low));
                out[0] = f64::NAN;
                return;
            };
            let (up, down) = (bar.high - high0, low0 - bar.low);
            let minus_dm = if down > 0.0 && up < down { down } else { 0.0 };
            self.long = minus_dm <= 0.0;
            (self.ep, self.sar) = if self.long { (bar.high, low0) } else { (bar.low, high0) };
            (self.low, self.high) = (bar.low, bar.high);
            self.started = true;
        }
        out[0] = self.step(bar);
    }
}
