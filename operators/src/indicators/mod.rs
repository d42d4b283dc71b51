//! Streaming technical indicators with TA-Lib's definitions, seeding and lookback.
//!
//! Each indicator is a small state machine updated once per bar in O(1) time and memory, with
//! no allocation per update. Values are NaN until TA-Lib would give one.

mod bbands;
mod directional;
mod ema;
mod extra;
mod ma;
mod macd;
mod momentum;
mod oscillators;
mod registry;
mod regression;
mod rsi;
mod sar;
mod sma;
mod volatility;
mod volume;
mod window;

use std::fmt;

pub use bbands::Bbands;
pub use directional::{Adx, Adxr, Di, Dx};
pub use ema::Ema;
pub use extra::{Donchian, Keltner, RealizedVol, ResistanceBreak, SessionVwap, SupportStrength, ZScore};
pub use ma::{Dema, Kama, Sma, T3, Tema, Trima, Wma};
pub use macd::Macd;
pub use momentum::{Cmo, Mom, PriceOscillator, Roc, Trix};
pub use oscillators::{Aroon, Bop, Cci, Mfi, Stoch, StochF, StochRsi, UltOsc, Willr};
pub use registry::{Definition, INDICATORS, Param};
pub use regression::{LinearReg, Midpoint};
pub use rsi::Rsi;
pub use sar::Sar;
pub use sma::RunningWindow;
pub use volatility::{Atr, StdDev, TRange, Variance, true_range};
pub use volume::{Ad, AdOsc, Obv};
pub use window::{Extreme, Ring};

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
    /// Event time of the bar (its end), ns: sessions are UTC days.
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// One streaming indicator.
pub trait Indicator: Send + IndicatorState {
    /// Folds in the next bar and writes this indicator's outputs (NaN while warming up).
    fn update(&mut self, bar: &Ohlcv, out: &mut [f64]);
}

/// Saving and restoring an indicator's state for a snapshot; every indicator is plain data
/// with serde's derives, which gives it this.
pub trait IndicatorState {
    fn save_state(&self) -> Vec<u8>;
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String>;
}

impl<T: serde::Serialize + serde::de::DeserializeOwned> IndicatorState for T {
    fn save_state(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// An indicator and its parameters, as named in a config: TA-Lib's function name in lower case,
/// then its parameters joined by `_` (`ema_20`, `macd_12_26_9`, `bbands_20_2_2`); parameters
/// left out take TA-Lib's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorSpec {
    definition: &'static Definition,
    params: Vec<f64>,
}

impl IndicatorSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        // The longest name that prefixes the text wins (`linearreg_slope` over `linearreg`).
        let definition = INDICATORS
            .iter()
            .filter(|d| text == d.name || text.strip_prefix(d.name).is_some_and(|rest| rest.starts_with('_')))
            .max_by_key(|d| d.name.len())
            .ok_or_else(|| {
                let name = text.split('_').next().unwrap_or_default();
                format!("unknown indicator `{name}` in `{text}`: see the README's indicator table for the names")
            })?;
        let rest = text[definition.name.len()..].strip_prefix('_').unwrap_or("");
        let given: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('_').collect() };
        if given.len() > definition.params.len() {
            return Err(format!(
                "indicator `{text}`: `{}` takes at most {} parameters ({})",
                definition.name,
                definition.params.len(),
                definition.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut params = Vec::with_capacity(definition.params.len());
        for (i, param) in definition.params.iter().enumerate() {
            let value = match given.get(i) {
                None => param.default,
                Some(g) => param
                    .parse(g)
                    .map_err(|e| format!("indicator `{text}`: parameter {} ({}) {e}", i + 1, param.name))?,
            };
            params.push(value);
        }
        (definition.check)(&params).map_err(|e| format!("indicator `{text}`: {e}"))?;
        Ok(IndicatorSpec { definition, params })
    }

    pub fn definition(&self) -> &'static Definition {
        self.definition
    }

    /// Output column names: the spec's name, then TA-Lib's output name for multi-output functions.
    pub fn columns(&self) -> Vec<String> {
        let base = self.to_string();
        match self.definition.outputs {
            [] | [_] => vec![base],
            outputs => outputs.iter().map(|o| format!("{base}_{o}")).collect(),
        }
    }

    /// Bars without a value at the start (TA-Lib's lookback).
    pub fn lookback(&self) -> usize {
        (self.definition.lookback)(&self.params)
    }

    /// A fresh state machine for this spec.
    pub fn build(&self) -> Box<dyn Indicator> {
        (self.definition.build)(&self.params)
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.definition.name)?;
        for value in &self.params {
            write!(f, "_{value}")?;
        }
        Ok(())
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

    /// Appends columns that another operator fills in (the batched kernels' outputs): the
    /// indicator state machines leave them NaN.
    pub fn with_columns(mut self, extra: &[String]) -> Result<Self, String> {
        for c in extra {
            if self.columns.contains(c) {
                return Err(format!("column `{c}` is configured twice"));
            }
            self.columns.push(c.clone());
        }
        Ok(self)
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

    /// Every indicator's state, in the suite's order.
    pub fn save(&self) -> Vec<Vec<u8>> {
        self.indicators.iter().map(|(i, _)| i.save_state()).collect()
    }

    /// Restores what [`save`](Self::save) gave, for the same suite.
    pub fn load(&mut self, states: &[Vec<u8>]) -> Result<(), String> {
        if states.len() != self.indicators.len() {
            return Err(format!("{} indicator states for {} indicators", states.len(), self.indicators.len()));
        }
        for ((indicator, _), state) in self.indicators.iter_mut().zip(states) {
            indicator.load_state(state)?;
        }
        Ok(())
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
        assert!(IndicatorSpec::parse("ema_x").unwrap_err().contains("must be a number"));
        assert!(IndicatorSpec::parse("ema_2.5").unwrap_err().contains("must be an integer"));
        assert!(IndicatorSpec::parse("rsi_14_2").unwrap_err().contains("at most 1"));
        assert!(IndicatorSpec::parse("ema_0").unwrap_err().contains("at least 1"));
        assert!(IndicatorSuite::new_checked(&["ema_5", "ema_5"]).unwrap_err().contains("twice"));
    }

    #[test]
    fn defaults_and_longest_names() {
        assert_eq!(IndicatorSpec::parse("sma").unwrap().to_string(), "sma_30");
        assert_eq!(IndicatorSpec::parse("linearreg_slope").unwrap().to_string(), "linearreg_slope_14");
        assert_eq!(IndicatorSpec::parse("stoch").unwrap().columns(), ["stoch_5_3_3_slowk", "stoch_5_3_3_slowd"]);
        assert_eq!(IndicatorSpec::parse("t3_5_0.7").unwrap().to_string(), "t3_5_0.7");
        assert_eq!(IndicatorSpec::parse("adxr_14").unwrap().lookback(), 40);
    }
}
