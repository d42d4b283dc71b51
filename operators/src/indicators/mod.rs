//! Streaming technical indicators with TA-Lib's definitions, seeding and lookback.
//!
//! Each indicator is a small state machine updated once per bar in O(1) time and memory, with
//! no allocation per update. Values are NaN until TA-Lib would give one.

mod bbands;
mod ema;
mod macd;
mod rsi;
mod sma;

use std::fmt;

pub use bbands::Bbands;
pub use ema::Ema;
pub use macd::Macd;
pub use rsi::Rsi;
pub use sma::RunningWindow;

/// TA-Lib's epsilon for its zero tests (TA-Lib 0.6 and later; 0.4 used 1e-8).
pub(crate) const TA_EPSILON: f64 = 0.00000000000001;

/// TA-Lib's `TA_IS_ZERO`.
#[inline]
pub(crate) fn ta_is_zero(v: f64) -> bool {
    -TA_EPSILON < v && v < TA_EPSILON
}

/// TA-Lib's `TA_IS_ZERO_OR_NEG`.
#[inline]
pub(crate) fn ta_is_zero_or_neg(v: f64) -> bool {
    v < TA_EPSILON
}

/// The bar fields indicators read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ohlcv {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// One streaming indicator.
pub trait Indicator: Send {
    /// Folds in the next bar and writes this indicator's outputs (NaN while warming up).
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]);
}

/// An indicator and its parameters, as named in a config: `ema_20`, `macd_12_26_9`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IndicatorSpec {
    Ema { period: usize },
    Rsi { period: usize },
    Macd { fast: usize, slow: usize, signal: usize },
    Bbands { period: usize, dev_up: f64, dev_down: f64 },
}

impl IndicatorSpec {
    /// Parses TA-Lib's lower-case function name followed by its parameters joined by `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split('_');
        let name = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let int = |i: usize, default: usize| -> Result<usize, String> {
            match params.get(i) {
                None => Ok(default),
                Some(p) => match p.parse::<usize>() {
                    Ok(v) if v >= 1 => Ok(v),
                    _ => Err(format!("indicator `{text}`: parameter {} must be a positive integer, got `{p}`", i + 1)),
                },
            }
        };
        let float = |i: usize, default: f64| -> Result<f64, String> {
            match params.get(i) {
                None => Ok(default),
                Some(p) => p.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                    format!("indicator `{text}`: parameter {} must be a non-negative number, got `{p}`", i + 1)
                }),
            }
        };
        let arity = |n: usize| -> Result<(), String> {
            if params.len() > n {
                Err(format!("indicator `{text}`: `{name}` takes at most {n} parameters"))
            } else {
                Ok(())
            }
        };
        let spec = match name {
            "ema" => {
                arity(1)?;
                IndicatorSpec::Ema { period: int(0, 30)? }
            }
            "rsi" => {
                arity(1)?;
                IndicatorSpec::Rsi { period: int(0, 14)? }
            }
            "macd" => {
                arity(3)?;
                let (fast, slow, signal) = (int(0, 12)?, int(1, 26)?, int(2, 9)?);
                if fast < 2 || slow < 2 {
                    return Err(format!("indicator `{text}`: MACD periods must be at least 2"));
                }
                IndicatorSpec::Macd { fast: fast.min(slow), slow: fast.max(slow), signal }
            }
            "bbands" => {
                arity(3)?;
                let period = int(0, 5)?;
                if period < 2 {
                    return Err(format!("indicator `{text}`: BBANDS period must be at least 2"));
                }
                IndicatorSpec::Bbands { period, dev_up: float(1, 2.0)?, dev_down: float(2, 2.0)? }
            }
            other => {
                return Err(format!("unknown indicator `{other}` in `{text}`: expected one of ema, rsi, macd, bbands"));
            }
        };
        Ok(spec)
    }

    /// Output column names: the spec's name, then TA-Lib's output name for multi-output functions.
    pub fn columns(&self) -> Vec<String> {
        let base = self.to_string();
        match self {
            IndicatorSpec::Ema { .. } | IndicatorSpec::Rsi { .. } => vec![base],
            IndicatorSpec::Macd { .. } => {
                ["macd", "macdsignal", "macdhist"].iter().map(|o| format!("{base}_{o}")).collect()
            }
            IndicatorSpec::Bbands { .. } => {
                ["upperband", "middleband", "lowerband"].iter().map(|o| format!("{base}_{o}")).collect()
            }
        }
    }

    /// A fresh state machine for this spec.
    pub fn build(&self) -> Box<dyn Indicator> {
        match *self {
            IndicatorSpec::Ema { period } => Box::new(Ema::new(period)),
            IndicatorSpec::Rsi { period } => Box::new(Rsi::new(period)),
            IndicatorSpec::Macd { fast, slow, signal } => Box::new(Macd::new(fast, slow, signal)),
            IndicatorSpec::Bbands { period, dev_up, dev_down } => Box::new(Bbands::new(period, dev_up, dev_down)),
        }
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorSpec::Ema { period } => write!(f, "ema_{period}"),
            IndicatorSpec::Rsi { period } => write!(f, "rsi_{period}"),
            IndicatorSpec::Macd { fast, slow, signal } => write!(f, "macd_{fast}_{slow}_{signal}"),
            IndicatorSpec::Bbands { period, dev_up, dev_down } => write!(f, "bbands_{period}_{dev_up}_{dev_down}"),
        }
    }
}

/// A configured set of indicators: the specs and their flattened output columns.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorSuite {
    specs: Vec<IndicatorSpec>,
    columns: Vec<String>,
}

impl IndicatorSuite {
    pub fn new_checked<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let specs = names.iter().map(|n| IndicatorSpec::parse(n.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let columns: Vec<String> = specs.iter().flat_map(IndicatorSpec::columns).collect();
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(format!("indicator column `{c}` is configured twice"));
            }
        }
        Ok(IndicatorSuite { specs, columns })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The position of `column` in each [`crate::event::IndicatorSet`]'s values.
    pub fn index_of(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Fresh state for one symbol.
    pub fn bank(&self) -> IndicatorBank {
        let indicators = self.specs.iter().map(|s| (s.build(), s.columns().len())).collect();
        IndicatorBank { indicators, width: self.columns.len() }
    }
}

/// The state of every configured indicator for one symbol.
pub struct IndicatorBank {
    indicators: Vec<(Box<dyn Indicator>, usize)>,
    width: usize,
}

impl IndicatorBank {
    /// Updates every indicator with `bar`, writing all columns into `out` (resized to fit).
    pub fn update(&mut self, bar: &Ohlcv, out: &mut Vec<f64>) {
        out.resize(self.width, f64::NAN);
        let mut at = 0;
        for (indicator, width) in &mut self.indicators {
            indicator.update(bar, &mut out[at..at + *width]);
            at += *width;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_talib() {
        let set = IndicatorSuite::new_checked(&["ema_20", "rsi_14", "macd_12_26_9", "bbands_20_2_2"]).unwrap();
        assert_eq!(
            set.columns(),
            [
                "ema_20",
                "rsi_14",
                "macd_12_26_9_macd",
                "macd_12_26_9_macdsignal",
                "macd_12_26_9_macdhist",
                "bbands_20_2_2_upperband",
                "bbands_20_2_2_middleband",
                "bbands_20_2_2_lowerband"
            ]
        );
    }

    #[test]
    fn bad_specs_name_the_problem() {
        assert!(IndicatorSpec::parse("emma_3").unwrap_err().contains("unknown indicator `emma`"));
        assert!(IndicatorSpec::parse("ema_x").unwrap_err().contains("positive integer"));
        assert!(IndicatorSpec::parse("rsi_14_2").unwrap_err().contains("at most 1"));
        assert!(IndicatorSuite::new_checked(&["ema_5", "ema_5"]).unwrap_err().contains("twice"));
    }
}
