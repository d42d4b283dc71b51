//! The three strategies as pure functions of one bar's indicator values (and, for the ensemble,
//! the symbol's decayed news sentiment). Each returns the signal's strength, its confidence and
//! the parts it was made of; `describe` puts those parts into words, later and off the path to
//! the orders. The inputs it read are listed by the caller.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// `[strategy] kind = "ensemble"`: trend (with news), technical and pattern components, each in
/// -1..1, weighted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleParams {
    /// Indicator column of the fast trend average.
    pub fast: String,
    /// Indicator column of the slow trend average.
    pub slow: String,
    /// Relative gap between the averages that counts as a full trend (0.002 = 0.2%).
    pub trend_scale: f64,
    /// The share of the trend (sequence) component that comes from news sentiment.
    pub sentiment_share: f64,
    /// Half-life of a symbol's news sentiment, in seconds of event time.
    pub sentiment_half_life_s: f64,
    /// Technical columns; an empty name leaves that input out.
    pub rsi: String,
    pub macd_hist: String,
    /// The Bollinger bands indicator (its `_upperband` and `_middleband` columns are read).
    pub bbands: String,
    /// Pattern columns: a resistance break (percent above the prior high) confirmed by support
    /// strength (0..1).
    pub breakout: String,
    pub support: String,
    /// The cup-and-handle confidence column (`cup_handle` from `[kernels.cup_handle]`); empty
    /// leaves it out. A confirmed pattern is a long pattern signal of that strength.
    pub cup_handle: String,
    /// Breakout, in percent, that counts as a full pattern signal.
    pub pattern_scale_pct: f64,
    pub trend_weight: f64,
    pub technical_weight: f64,
    pub pattern_weight: f64,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        EnsembleParams {
            fast: "ema_12".into(),
            slow: "ema_26".into(),
            trend_scale: 0.002,
            sentiment_share: 0.5,
            sentiment_half_life_s: 900.0,
            rsi: "rsi_14".into(),
            macd_hist: "macd_12_26_9_macdhist".into(),
            bbands: "bbands_20_2_2".into(),
            breakout: "resistance_break_50".into(),
            support: "support_50_1".into(),
            cup_handle: String::new(),
            pattern_scale_pct: 0.5,
            trend_weight: 0.4,
            technical_weight: 0.3,
            pattern_weight: 0.3,
        }
    }
}

/// `[strategy] kind = "ma_crossover"`: long while the fast average is above the slow one, short
/// while below, flat inside the band.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossoverParams {
    pub fast: String,
    pub slow: String,
    /// Relative gap (0.0005 = 0.05%) inside which the averages count as crossed over neither way.
    pub band: f64,
}

impl Default for CrossoverParams {
    fn default() -> Self {
        CrossoverParams { fast: "ema_12".into(), slow: "ema_26".into(), band: 0.0005 }
    }
}

/// `[strategy] kind = "zscore"`: mean reversion, `strength = -z / full_z` clipped to -1..1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZscoreParams {
    /// Indicator column of the z-score.
    pub column: String,
    /// |z| at which the signal is at full strength.
    pub full_z: f64,
}

impl Default for ZscoreParams {
    fn default() -> Self {
        ZscoreParams { column: "zscore_20".into(), full_z: 2.0 }
    }
}

/// What a rule concluded about one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub strength: f64,
    pub confidence: f64,
    /// What the rule's `describe` puts into words (see [`crate::event::Basis::parts`]).
    pub parts: [Option<f64>; 3],
}

/// Ensemble columns resolved to positions in the indicator set.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleColumns {
    pub fast: usize,
    pub slow: usize,
    pub rsi: Option<usize>,
    pub macd_hist: Option<usize>,
    pub bb_upper: Option<usize>,
    pub bb_middle: Option<usize>,
    pub breakout: Option<usize>,
    pub support: Option<usize>,
    pub cup_handle: Option<usize>,
}

fn known(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn value(values: &[f64], col: Option<usize>) -> Option<f64> {
    col.and_then(|i| known(values[i]))
}

/// The mean of the inputs that are known. (Summed from -0.0, as `Iterator::sum` does, so that
/// even the sign of a zero is what summing a collected list gives.)
fn mean(parts: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = parts.iter().flatten().fold((-0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

impl EnsembleParams {
    /// `strength = Σ wᵢ·cᵢ / Σ wᵢ`, the sum over the components that are known, the weights'
    /// sum over the configured ones; `confidence` is the weight known over the weight configured.
    pub fn verdict(&self, cols: &EnsembleColumns, values: &[f64], close: f64, sentiment: f64) -> Verdict {
        let (fast, slow) = (values[cols.fast], values[cols.slow]);
        let ma_trend =
            (!fast.is_nan() && !slow.is_nan() && slow != 0.0).then(|| ((fast - slow) / slow / self.trend_scale).tanh());
        let trend = Some(match ma_trend {
            Some(t) => (1.0 - self.sentiment_share) * t + self.sentiment_share * sentiment,
            None => self.sentiment_share * sentiment,
        });

        let rsi = value(values, cols.rsi).map(|r| (50.0 - r) / 50.0);
        let macd = value(values, cols.macd_hist).map(|h| (h / (close * self.trend_scale)).tanh());
        let bands = match (value(values, cols.bb_upper), value(values, cols.bb_middle)) {
            (Some(up), Some(mid)) if up > mid => Some(((mid - close) / (up - mid)).clamp(-1.0, 1.0)),
            _ => None,
        };
        let technical = mean(&[rsi, macd, bands]);

        let breakout = value(values, cols.breakout).map(|pct| {
            let support = value(values, cols.support).unwrap_or(0.0);
            (pct / self.pattern_scale_pct).tanh() * (0.5 + 0.5 * support)
        });
        // A cup-and-handle (confidence above 0) is a long signal at least that strong.
        let pattern = match (breakout, value(values, cols.cup_handle)) {
            (Some(b), Some(cup)) => Some(if cup > 0.0 { b.max(cup) } else { b }),
            (None, cup) => cup,
            (b, None) => b,
        };

        let parts = [trend, technical, pattern];
        let components = self.components(cols);
        let total: f64 = components.iter().filter(|c| c.2).map(|c| c.1).sum();
        let mut strength = 0.0;
        let mut present = 0.0;
        for ((_, weight, _), part) in components.iter().zip(&parts).filter(|(c, _)| c.2) {
            if let Some(v) = part {
                strength += weight * v;
                present += weight;
            }
        }
        let (strength, confidence) = if total > 0.0 { (strength / total, present / total) } else { (0.0, 0.0) };
        Verdict { strength: strength.clamp(-1.0, 1.0), confidence, parts }
    }

    /// The components in order: name, weight, and whether any of its columns is configured. A
    /// component with no configured column does not count; one still warming up does.
    fn components(&self, cols: &EnsembleColumns) -> [(&'static str, f64, bool); 3] {
        [
            ("trend", self.trend_weight, true),
            (
                "technical",
                self.technical_weight,
                cols.rsi.is_some() || cols.macd_hist.is_some() || cols.bb_upper.is_some(),
            ),
            ("pattern", self.pattern_weight, cols.breakout.is_some() || cols.cup_handle.is_some()),
        ]
    }

    /// The verdict's parts in words: each configured component with its weight, or that it is
    /// still warming up, then the news.
    pub fn describe(&self, cols: &EnsembleColumns, parts: &[Option<f64>; 3], sentiment: f64, out: &mut String) {
        out.push_str("ensemble:");
        for ((name, weight, _), part) in self.components(cols).into_iter().zip(parts).filter(|(c, _)| c.2) {
            let _ = match part {
                Some(v) => write!(out, " {name} {v:+.3} x {weight}"),
                None => write!(out, " {name} warming up"),
            };
        }
        let _ = write!(out, " (news {sentiment:+.3})");
    }
}

impl CrossoverParams {
    pub fn verdict(&self, fast: f64, slow: f64) -> Verdict {
        if fast.is_nan() || slow.is_nan() || slow == 0.0 {
            return Verdict { strength: 0.0, confidence: 0.0, parts: [None; 3] };
        }
        let (strength, _) = self.side((fast - slow) / slow);
        Verdict { strength, confidence: 1.0, parts: [Some(fast), Some(slow), None] }
    }

    /// The strength and its words for a relative gap between the averages.
    fn side(&self, gap: f64) -> (f64, &'static str) {
        if gap > self.band {
            (1.0, "above")
        } else if gap < -self.band {
            (-1.0, "below")
        } else {
            (0.0, "within the band of")
        }
    }

    /// The verdict's parts in words.
    pub fn describe(&self, parts: &[Option<f64>; 3], out: &mut String) {
        let _ = match parts {
            [Some(fast), Some(slow), _] => {
                let gap = (fast - slow) / slow;
                let side = self.side(gap).1;
                write!(out, "ma_crossover: fast {fast:.4} {side} slow {slow:.4} ({:+.3}%)", gap * 100.0)
            }
            _ => write!(out, "ma_crossover: warming up"),
        };
    }
}

impl ZscoreParams {
    pub fn verdict(&self, z: f64) -> Verdict {
        if z.is_nan() {
            return Verdict { strength: 0.0, confidence: 0.0, parts: [None; 3] };
        }
        Verdict { strength: self.strength(z), confidence: 1.0, parts: [Some(z), None, None] }
    }

    fn strength(&self, z: f64) -> f64 {
        (-z / self.full_z).clamp(-1.0, 1.0)
    }

    /// The verdict's parts in words.
    pub fn describe(&self, parts: &[Option<f64>; 3], out: &mut String) {
        let _ = match parts[0] {
            Some(z) => write!(out, "zscore: z {z:+.3}, reverting at {:+.3}", self.strength(z)),
            None => write!(out, "zscore: warming up"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_columns() -> EnsembleColumns {
        EnsembleColumns {
            fast: 0,
            slow: 1,
            rsi: Some(2),
            macd_hist: Some(3),
            bb_upper: Some(4),
            bb_middle: Some(5),
            breakout: Some(6),
            support: Some(7),
            cup_handle: None,
        }
    }

    #[test]
    fn ensemble_weights_its_components_as_configured() {
        let p = EnsembleParams::default();
        // A flat market with no news: every component is zero.
        let flat = [100.0, 100.0, 50.0, 0.0, 102.0, 100.0, 0.0, 0.3];
        let v = p.verdict(&all_columns(), &flat, 100.0, 0.0);
        assert_eq!((v.strength, v.confidence), (0.0, 1.0));
        // Only the pattern fires: a 0.5% breakout over a base of strength 1 is tanh(1) x 1.
        let breakout = [100.0, 100.0, 50.0, 0.0, 102.0, 100.0, 0.5, 1.0];
        let v = p.verdict(&all_columns(), &breakout, 100.0, 0.0);
        assert!((v.strength - 0.3 * 1f64.tanh()).abs() < 1e-15, "{v:?}");
        // Only the news: half of the trend component.
        let v = p.verdict(&all_columns(), &flat, 100.0, 0.8);
        assert!((v.strength - 0.4 * 0.5 * 0.8).abs() < 1e-15, "{v:?}");
        let mut words = String::new();
        p.describe(&all_columns(), &v.parts, 0.8, &mut words);
        assert_eq!(words, "ensemble: trend +0.400 x 0.4 technical +0.000 x 0.3 pattern +0.000 x 0.3 (news +0.800)");
    }

    #[test]
    fn a_cup_and_handle_is_a_long_pattern_at_least_its_confidence() {
        let p = EnsembleParams::default();
        let cols = EnsembleColumns { cup_handle: Some(8), ..all_columns() };
        // No breakout, a cup-and-handle of confidence 0.8: the pattern component is 0.8.
        let cup = [100.0, 100.0, 50.0, 0.0, 102.0, 100.0, 0.0, 0.3, 0.8];
        let v = p.verdict(&cols, &cup, 100.0, 0.0);
        assert!((v.strength - 0.3 * 0.8).abs() < 1e-15, "{v:?}");
        // No pattern found (0) leaves the breakout's reading alone.
        let none = [100.0, 100.0, 50.0, 0.0, 102.0, 100.0, 0.5, 1.0, 0.0];
        let v = p.verdict(&cols, &none, 100.0, 0.0);
        assert!((v.strength - 0.3 * 1f64.tanh()).abs() < 1e-15, "{v:?}");
        // Without the breakout column the cup alone is the pattern component, 0 when none.
        let cols = EnsembleColumns { breakout: None, support: None, ..cols };
        let v = p.verdict(&cols, &none, 100.0, 0.0);
        assert_eq!((v.strength, v.confidence), (0.0, 1.0));
    }

    #[test]
    fn ensemble_warming_up_lowers_confidence_not_strength_scale() {
        let p = EnsembleParams::default();
        let nan = [f64::NAN; 8];
        let v = p.verdict(&all_columns(), &nan, 100.0, 1.0);
        // The trend component still carries the news; technical and pattern are unknown.
        assert!((v.confidence - 0.4).abs() < 1e-15 && (v.strength - 0.4 * 0.5).abs() < 1e-15, "{v:?}");
        let mut words = String::new();
        p.describe(&all_columns(), &v.parts, 1.0, &mut words);
        assert_eq!(words, "ensemble: trend +0.500 x 0.4 technical warming up pattern warming up (news +1.000)");
    }

    #[test]
    fn mean_of_known_parts_matches_summing_a_list_bit_for_bit() {
        let parts = [Some(-0.0), None, Some(-0.0)];
        assert!(mean(&parts).is_some_and(|m| m == 0.0 && m.is_sign_negative()));
        let parts = [Some(0.1), Some(0.2), None, Some(0.3)];
        let list = [0.1f64, 0.2, 0.3];
        assert_eq!(mean(&parts).map(f64::to_bits), Some((list.iter().sum::<f64>() / 3.0).to_bits()));
        assert_eq!(mean(&[None, None]), None);
    }

    #[test]
    fn crossover_is_flat_inside_the_band() {
        let p = CrossoverParams::default();
        assert_eq!(p.verdict(101.0, 100.0).strength, 1.0);
        assert_eq!(p.verdict(99.0, 100.0).strength, -1.0);
        assert_eq!(p.verdict(100.04, 100.0).strength, 0.0);
        assert_eq!(p.verdict(f64::NAN, 100.0).confidence, 0.0);
        let words = |v: Verdict| {
            let mut out = String::new();
            p.describe(&v.parts, &mut out);
            out
        };
        assert_eq!(words(p.verdict(101.0, 100.0)), "ma_crossover: fast 101.0000 above slow 100.0000 (+1.000%)");
        assert_eq!(
            words(p.verdict(100.04, 100.0)),
            "ma_crossover: fast 100.0400 within the band of slow 100.0000 (+0.040%)"
        );
        assert_eq!(words(p.verdict(f64::NAN, 100.0)), "ma_crossover: warming up");
    }

    #[test]
    fn zscore_leans_against_the_move() {
        let p = ZscoreParams::default();
        assert_eq!(p.verdict(1.0).strength, -0.5);
        assert_eq!(p.verdict(-3.0).strength, 1.0);
        let mut words = String::new();
        p.describe(&p.verdict(1.0).parts, &mut words);
        assert_eq!(words, "zscore: z +1.000, reverting at -0.500");
    }
}
