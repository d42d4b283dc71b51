//! The trend + sentiment strategy: a pure per-symbol state machine and the operator that
//! drives it.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::event::{IndicatorSet, SECOND, Sentiment, Signal, Ts};
use crate::indicators::IndicatorSuite;
use crate::stash::{EpochStash, ready_epoch};

/// Strategy parameters, as written in the job config's `[strategy]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategyParams {
    /// Indicator column of the fast trend average.
    pub fast: String,
    /// Indicator column of the slow trend average.
    pub slow: String,
    /// Indicator column of the RSI (mean-reversion term).
    pub rsi: String,
    pub trend_weight: f64,
    pub rsi_weight: f64,
    pub sentiment_weight: f64,
    /// Relative gap between the averages that counts as a full trend (0.002 = 0.2%).
    pub trend_scale: f64,
    /// Half-life of a symbol's news sentiment, in seconds of event time.
    pub sentiment_half_life_s: f64,
}

impl Default for StrategyParams {
    fn default() -> Self {
        StrategyParams {
            fast: "ema_12".into(),
            slow: "ema_26".into(),
            rsi: "rsi_14".into(),
            trend_weight: 0.4,
            rsi_weight: 0.2,
            sentiment_weight: 0.4,
            trend_scale: 0.002,
            sentiment_half_life_s: 900.0,
        }
    }
}

impl StrategyParams {
    /// Checks the parameters against the configured indicators; the error names the key.
    pub fn resolve(&self, suite: &IndicatorSuite) -> Result<StrategyColumns, String> {
        let column = |key: &str, name: &str| {
            suite.index_of(name).ok_or_else(|| {
                format!(
                    "strategy.{key} = \"{name}\" is not a configured indicator column (have: {})",
                    suite.columns().join(", ")
                )
            })
        };
        for (key, v) in [
            ("trend_weight", self.trend_weight),
            ("rsi_weight", self.rsi_weight),
            ("sentiment_weight", self.sentiment_weight),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("strategy.{key} must be a non-negative number, got {v}"));
            }
        }
        if !(self.trend_scale.is_finite() && self.trend_scale > 0.0) {
            return Err(format!("strategy.trend_scale must be positive, got {}", self.trend_scale));
        }
        if !(self.sentiment_half_life_s.is_finite() && self.sentiment_half_life_s > 0.0) {
            return Err(format!("strategy.sentiment_half_life_s must be positive, got {}", self.sentiment_half_life_s));
        }
        Ok(StrategyColumns {
            fast: column("fast", &self.fast)?,
            slow: column("slow", &self.slow)?,
            rsi: column("rsi", &self.rsi)?,
        })
    }
}

/// Where the strategy's inputs sit in an [`IndicatorSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrategyColumns {
    pub fast: usize,
    pub slow: usize,
    pub rsi: usize,
}

/// One symbol's strategy state: its decaying news sentiment.
#[derive(Clone, Debug, Default)]
pub struct SymbolStrategy {
    sentiment: f64,
    sentiment_ts: Ts,
}

impl SymbolStrategy {
    fn decayed(&self, ts: Ts, half_life_s: f64) -> f64 {
        let dt = (ts - self.sentiment_ts).max(0) as f64 / SECOND as f64;
        self.sentiment * 0.5f64.powf(dt / half_life_s)
    }

    /// Adds an article's score, weighted by its confidence, to the decayed aggregate.
    pub fn on_sentiment(&mut self, s: &Sentiment, params: &StrategyParams) {
        let aggregate = self.decayed(s.ts, params.sentiment_half_life_s) + s.score * s.confidence;
        self.sentiment = aggregate.clamp(-1.0, 1.0);
        self.sentiment_ts = s.ts;
    }

    /// The signal at a bar close.
    pub fn on_indicators(&mut self, set: &IndicatorSet, params: &StrategyParams, cols: StrategyColumns) -> Signal {
        let (fast, slow, rsi) = (set.values[cols.fast], set.values[cols.slow], set.values[cols.rsi]);
        let sentiment = self.decayed(set.ts, params.sentiment_half_life_s);
        let trend = if fast.is_nan() || slow.is_nan() || slow == 0.0 {
            None
        } else {
            Some(((fast - slow) / slow / params.trend_scale).tanh())
        };
        let reversion = if rsi.is_nan() { None } else { Some((50.0 - rsi) / 50.0) };
        let mut strength = params.sentiment_weight * sentiment;
        let mut weight = params.sentiment_weight;
        let mut reasons = format!("sentiment {sentiment:+.3}");
        if let Some(t) = trend {
            strength += params.trend_weight * t;
            weight += params.trend_weight;
            let _ = write!(reasons, "; trend {t:+.3}");
        }
        if let Some(r) = reversion {
            strength += params.rsi_weight * r;
            weight += params.rsi_weight;
            let _ = write!(reasons, "; rsi {rsi:.1}");
        }
        let total = params.trend_weight + params.rsi_weight + params.sentiment_weight;
        let confidence = if total > 0.0 { weight / total } else { 0.0 };
        Signal {
            symbol: set.symbol,
            ts: set.ts,
            strength: strength.clamp(-1.0, 1.0),
            confidence,
            price: set.close,
            reasons,
        }
    }
}

/// Extension trait for running the strategy.
pub trait Signals<'scope> {
    /// Joins indicator sets with per-symbol sentiment and emits a [`Signal`] per bar. Within an
    /// epoch, records apply in event-time order, sentiment before indicators at equal times.
    fn signals(
        self,
        sentiment: StreamVec<'scope, u64, Sentiment>,
        params: Arc<StrategyParams>,
        cols: StrategyColumns,
    ) -> StreamVec<'scope, u64, Signal>;
}

impl<'scope> Signals<'scope> for StreamVec<'scope, u64, IndicatorSet> {
    fn signals(
        self,
        sentiment: StreamVec<'scope, u64, Sentiment>,
        params: Arc<StrategyParams>,
        cols: StrategyColumns,
    ) -> StreamVec<'scope, u64, Signal> {
        self.binary_frontier(
            sentiment,
            Exchange::new(|s: &IndicatorSet| s.symbol.route()),
            Exchange::new(|s: &Sentiment| s.symbol.route()),
            "Strategy",
            move |_initial, _info| {
                let mut sets = EpochStash::<IndicatorSet>::default();
                let mut news = EpochStash::<Sentiment>::default();
                let mut state: Vec<SymbolStrategy> = Vec::new();
                move |(input1, frontier1), (input2, frontier2), output| {
                    input1.for_each_stamp(|cap, data| sets.push(&cap, 0, data));
                    input2.for_each_stamp(|cap, data| news.push(&cap, 0, data));
                    while let Some(epoch) =
                        ready_epoch([sets.first_epoch(), news.first_epoch()], &[frontier1, frontier2])
                    {
                        let mut scored = news.take(epoch).map(|(_, v)| v).unwrap_or_default();
                        let Some((cap, mut bars)) = sets.take(epoch) else {
                            // Sentiment alone changes state but emits nothing.
                            scored.sort_by(|a, b| (a.ts, a.symbol, &a.news_id).cmp(&(b.ts, b.symbol, &b.news_id)));
                            for s in &scored {
                                slot(&mut state, s.symbol.0 as usize).on_sentiment(s, &params);
                            }
                            continue;
                        };
                        scored.sort_by(|a, b| (a.ts, a.symbol, &a.news_id).cmp(&(b.ts, b.symbol, &b.news_id)));
                        bars.sort_by_key(|s| (s.ts, s.symbol));
                        let mut session = output.session(&cap);
                        let mut pending = scored.iter().peekable();
                        for set in &bars {
                            while let Some(s) = pending.next_if(|s| s.ts <= set.ts) {
                                slot(&mut state, s.symbol.0 as usize).on_sentiment(s, &params);
                            }
                            session.give(slot(&mut state, set.symbol.0 as usize).on_indicators(set, &params, cols));
                        }
                        for s in pending {
                            slot(&mut state, s.symbol.0 as usize).on_sentiment(s, &params);
                        }
                    }
                }
            },
        )
    }
}

fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Symbol;

    fn set(ts: Ts, fast: f64, slow: f64, rsi: f64) -> IndicatorSet {
        IndicatorSet { symbol: Symbol(0), ts, close: 100.0, values: vec![fast, slow, rsi] }
    }

    #[test]
    fn trend_and_news_push_the_same_way() {
        let params = StrategyParams::default();
        let cols = StrategyColumns { fast: 0, slow: 1, rsi: 2 };
        let mut s = SymbolStrategy::default();
        let flat = s.on_indicators(&set(0, 100.0, 100.0, 50.0), &params, cols);
        assert_eq!(flat.strength, 0.0);
        assert_eq!(flat.confidence, 1.0);
        let news = Sentiment {
            news_id: "n".into(),
            symbol: Symbol(0),
            ts: 0,
            score: 0.8,
            confidence: 1.0,
            model: "t".into(),
            latency_ns: 0,
            cost_usd: 0.0,
        };
        s.on_sentiment(&news, &params);
        let up = s.on_indicators(&set(0, 100.5, 100.0, 50.0), &params, cols);
        assert!(up.strength > 0.6, "{up:?}");
        // One half-life later the news counts half.
        let later = s.on_indicators(&set(900 * SECOND, 100.0, 100.0, 50.0), &params, cols);
        assert!((later.strength - 0.4 * 0.4).abs() < 1e-12, "{later:?}");
    }

    #[test]
    fn warming_up_lowers_confidence() {
        let params = StrategyParams::default();
        let cols = StrategyColumns { fast: 0, slow: 1, rsi: 2 };
        let sig = SymbolStrategy::default().on_indicators(&set(0, f64::NAN, f64::NAN, f64::NAN), &params, cols);
        assert_eq!(sig.strength, 0.0);
        assert!((sig.confidence - 0.4).abs() < 1e-12);
    }
}
