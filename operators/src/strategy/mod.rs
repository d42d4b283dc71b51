//! Strategies: the rules (pure functions in `rules.rs`), the per-symbol state they keep, and
//! the operator that drives them.

mod review;
mod rules;
pub mod strategist;

pub use rules::{CrossoverParams, EnsembleColumns, EnsembleParams, Verdict, ZscoreParams};

use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::event::{Audit, Basis, IndicatorSet, SECOND, Sentiment, Signal, Ts};
use crate::indicators::IndicatorSuite;
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::stash::{EpochStash, append, frontier_epoch, ready_epoch};

/// The job config's `[strategy]` section: `kind` picks the rule, the other keys are its
/// parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StrategyParams {
    Ensemble(EnsembleParams),
    MaCrossover(CrossoverParams),
    Zscore(ZscoreParams),
}

impl Default for StrategyParams {
    fn default() -> Self {
        StrategyParams::Ensemble(EnsembleParams::default())
    }
}

/// Where the volatility forecast that sizing reads comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct VolatilitySource {
    /// An indicator column of per-bar volatility (realized, or GARCH when present).
    pub column: String,
    /// Bars per year, to annualize it: `sqrt(bars_per_year)`.
    pub bars_per_year: f64,
}

fn column(suite: &IndicatorSuite, key: &str, name: &str) -> Result<usize, String> {
    suite.index_of(name).ok_or_else(|| {
        format!(
            "strategy.{key} = \"{name}\" is not a configured indicator column (have: {})",
            suite.columns().join(", ")
        )
    })
}

/// An optional column: an empty name leaves it out.
fn optional(suite: &IndicatorSuite, key: &str, name: &str) -> Result<Option<usize>, String> {
    if name.is_empty() { Ok(None) } else { column(suite, key, name).map(Some) }
}

fn positive(key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("strategy.{key} must be positive, got {v}")) }
}

impl StrategyParams {
    /// Checks the parameters against the configured indicators and resolves the columns the
    /// rule reads; the error names the key.
    pub fn resolve(&self, suite: &IndicatorSuite, volatility: Option<&VolatilitySource>) -> Result<Strategy, String> {
        let rule = match self {
            StrategyParams::Ensemble(p) => {
                for (key, v) in [
                    ("trend_weight", p.trend_weight),
                    ("technical_weight", p.technical_weight),
                    ("pattern_weight", p.pattern_weight),
                ] {
                    if !v.is_finite() || v < 0.0 {
                        return Err(format!("strategy.{key} must be a non-negative number, got {v}"));
                    }
                }
                if p.trend_weight + p.technical_weight + p.pattern_weight <= 0.0 {
                    return Err("strategy: at least one of the ensemble weights must be positive".into());
                }
                if !(0.0..=1.0).contains(&p.sentiment_share) {
                    return Err(format!("strategy.sentiment_share must be between 0 and 1, got {}", p.sentiment_share));
                }
                positive("trend_scale", p.trend_scale)?;
                positive("sentiment_half_life_s", p.sentiment_half_life_s)?;
                positive("pattern_scale_pct", p.pattern_scale_pct)?;
                let bands = |suffix: &str| {
                    if p.bbands.is_empty() {
                        Ok(None)
                    } else {
                        column(suite, "bbands", &format!("{}_{suffix}", p.bbands)).map(Some)
                    }
                };
                Rule::Ensemble(Box::new((
                    p.clone(),
                    EnsembleColumns {
                        fast: column(suite, "fast", &p.fast)?,
                        slow: column(suite, "slow", &p.slow)?,
                        rsi: optional(suite, "rsi", &p.rsi)?,
                        macd_hist: optional(suite, "macd_hist", &p.macd_hist)?,
                        bb_upper: bands("upperband")?,
                        bb_middle: bands("middleband")?,
                        breakout: optional(suite, "breakout", &p.breakout)?,
                        support: optional(suite, "support", &p.support)?,
                        cup_handle: optional(suite, "cup_handle", &p.cup_handle)?,
                    },
                )))
            }
            StrategyParams::MaCrossover(p) => {
                if !(p.band.is_finite() && p.band >= 0.0) {
                    return Err(format!("strategy.band must be a non-negative number, got {}", p.band));
                }
                Rule::Crossover(p.clone(), column(suite, "fast", &p.fast)?, column(suite, "slow", &p.slow)?)
            }
            StrategyParams::Zscore(p) => {
                positive("full_z", p.full_z)?;
                Rule::Zscore(p.clone(), column(suite, "column", &p.column)?)
            }
        };
        let volatility = match volatility {
            None => None,
            Some(v) => {
                let i = suite.index_of(&v.column).ok_or_else(|| {
                    format!(
                        "risk.vol_column = \"{}\" is not a configured indicator column (have: {})",
                        v.column,
                        suite.columns().join(", ")
                    )
                })?;
                if !(v.bars_per_year.is_finite() && v.bars_per_year >= 1.0) {
                    return Err(format!("risk.bars_per_year must be at least 1, got {}", v.bars_per_year));
                }
                Some((i, v.bars_per_year.sqrt()))
            }
        };
        let mut read: Vec<usize> = match &rule {
            Rule::Ensemble(e) => {
                let c = &e.1;
                [Some(c.fast), Some(c.slow), c.rsi, c.macd_hist, c.bb_upper, c.bb_middle, c.breakout, c.support]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            Rule::Crossover(_, fast, slow) => vec![*fast, *slow],
            Rule::Zscore(_, z) => vec![*z],
        };
        read.extend(volatility.map(|v| v.0));
        let mut seen = Vec::new();
        read.retain(|i| {
            !seen.contains(i) && {
                seen.push(*i);
                true
            }
        });
        if read.len() > Basis::CAPACITY {
            return Err(format!("strategy: reads {} columns, at most {} are supported", read.len(), Basis::CAPACITY));
        }
        let inputs = read.into_iter().map(|i| (i, suite.columns()[i].clone())).collect();
        Ok(Strategy { rule, volatility, inputs })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    Ensemble(Box<(EnsembleParams, EnsembleColumns)>),
    Crossover(CrossoverParams, usize, usize),
    Zscore(ZscoreParams, usize),
}

/// A strategy resolved against the job's indicator columns, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategy {
    rule: Rule,
    /// The volatility column and its annualization factor.
    volatility: Option<(usize, f64)>,
    /// The columns the rule reads, listed in each signal's `inputs`.
    inputs: Vec<(usize, String)>,
}

/// One symbol's strategy state: its decaying news sentiment.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SymbolStrategy {
    sentiment: f64,
    sentiment_ts: Ts,
}

impl SymbolStrategy {
    fn decayed(&self, ts: Ts, half_life_s: f64) -> f64 {
        let dt = (ts - self.sentiment_ts).max(0) as f64 / SECOND as f64;
        self.sentiment * 0.5f64.powf(dt / half_life_s)
    }
}

impl Strategy {
    fn half_life_s(&self) -> Option<f64> {
        match &self.rule {
            Rule::Ensemble(e) => Some(e.0.sentiment_half_life_s),
            _ => None,
        }
    }

    /// Adds an article's score, weighted by its confidence, to the symbol's decayed aggregate.
    pub fn on_sentiment(&self, state: &mut SymbolStrategy, s: &Sentiment) {
        if let Some(half_life) = self.half_life_s() {
            let aggregate = state.decayed(s.ts, half_life) + s.score * s.confidence;
            state.sentiment = aggregate.clamp(-1.0, 1.0);
            state.sentiment_ts = s.ts;
        }
    }

    /// The signal at a bar close, with its numbers: its words are left to [`explain`](Self::explain).
    pub fn on_indicators(&self, state: &SymbolStrategy, set: &IndicatorSet) -> Signal {
        let v = &set.values;
        let sentiment = self.half_life_s().map(|h| state.decayed(set.ts, h));
        let verdict = match &self.rule {
            Rule::Ensemble(e) => e.0.verdict(&e.1, v, set.close, sentiment.unwrap_or(0.0)),
            Rule::Crossover(p, fast, slow) => p.verdict(v[*fast], v[*slow]),
            Rule::Zscore(p, z) => p.verdict(v[*z]),
        };
        let mut values = [f64::NAN; Basis::CAPACITY];
        for (slot, (i, _)) in values.iter_mut().zip(&self.inputs) {
            *slot = v[*i];
        }
        Signal {
            symbol: set.symbol,
            ts: set.ts,
            strength: verdict.strength,
            confidence: verdict.confidence,
            price: set.close,
            volatility: self.volatility.map_or(f64::NAN, |(i, annualize)| v[i] * annualize),
            reasons: String::new(),
            inputs: String::new(),
            basis: Some(Basis { values, sentiment, parts: verdict.parts }),
        }
    }

    /// Renders a signal's `reasons` (the rule's words first, then anything added on the way) and
    /// `inputs` from its numbers, once; a signal already explained is left as it is.
    pub fn explain(&self, signal: &mut Signal) {
        if let Some(basis) = signal.basis.take() {
            (signal.reasons, signal.inputs) = self.words(&basis, &signal.reasons);
        }
    }

    /// [`explain`](Self::explain) for the audit record of an order a signal made.
    pub fn explain_audit(&self, audit: &mut Audit) {
        if let Some(basis) = audit.basis.take() {
            (audit.reasons, audit.inputs) = self.words(&basis, &audit.reasons);
        }
    }

    /// The reasons (followed by `added`) and the inputs of a basis, in words.
    fn words(&self, basis: &Basis, added: &str) -> (String, String) {
        let mut reasons = String::new();
        match &self.rule {
            Rule::Ensemble(e) => e.0.describe(&e.1, &basis.parts, basis.sentiment.unwrap_or(0.0), &mut reasons),
            Rule::Crossover(p, ..) => p.describe(&basis.parts, &mut reasons),
            Rule::Zscore(p, _) => p.describe(&basis.parts, &mut reasons),
        }
        reasons.push_str(added);
        let mut inputs = String::new();
        for ((_, name), value) in self.inputs.iter().zip(&basis.values) {
            let _ = write!(inputs, "{}{name}={value}", if inputs.is_empty() { "" } else { " " });
        }
        if let Some(s) = basis.sentiment {
            let _ = write!(inputs, " sentiment={s}");
        }
        (reasons, inputs)
    }
}

/// Extension trait for running the strategy.
pub trait Signals<'scope> {
    /// Joins indicator sets with per-symbol sentiment and emits a [`Signal`] per bar. Within an
    /// epoch, records apply in event-time order, indicators before sentiment at equal times: a set
    /// comes from a bar stamped at the epoch of its last instant, news stamped at the bar's end
    /// belongs to a later epoch, and the order must not depend on the epoch length.
    fn signals(
        self,
        sentiment: StreamVec<'scope, u64, Sentiment>,
        strategy: Arc<Strategy>,
    ) -> StreamVec<'scope, u64, Signal>
    where
        Self: Sized,
    {
        self.signals_saved(sentiment, strategy, None)
    }

    /// [`signals`](Self::signals), with each symbol's strategy state in the snapshots.
    fn signals_saved(
        self,
        sentiment: StreamVec<'scope, u64, Sentiment>,
        strategy: Arc<Strategy>,
        snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Signal>;
}

impl<'scope> Signals<'scope> for StreamVec<'scope, u64, IndicatorSet> {
    fn signals_saved(
        self,
        sentiment: StreamVec<'scope, u64, Sentiment>,
        strategy: Arc<Strategy>,
        mut snapshot: Option<SnapshotPort>,
    ) -> StreamVec<'scope, u64, Signal> {
        self.binary_frontier(
            sentiment,
            Exchange::new(|s: &IndicatorSet| s.symbol.route()),
            Exchange::new(|s: &Sentiment| s.symbol.route()),
            "Strategy",
            move |_initial, _info| {
                let mut sets = EpochStash::<IndicatorSet>::default();
                let mut news = EpochStash::<Sentiment>::default();
                let mut state: Vec<SymbolStrategy> =
                    snapshot.as_ref().and_then(SnapshotPort::restore_or_panic).unwrap_or_default();
                move |(input1, frontier1), (input2, frontier2), output| {
                    input2.for_each_stamp(|cap, data| news.push(&cap, 0, data));
                    // A symbol's sets come from one upstream worker in epoch order, and each
                    // symbol's state is its own. A set from a bar is stamped at the epoch of the
                    // bar's last instant and timed at its end, after every sentiment of that
                    // epoch: once all of those are in, it can be decided as it arrives, without
                    // waiting for the sets' frontier. Not when older sets wait, when a snapshot
                    // boundary may fall at or before its epoch, or when some sentiment up to
                    // its epoch is not before it (then the frontier decides the order).
                    let eager_before = snapshot.as_ref().map_or(u64::MAX, SnapshotPort::next_boundary);
                    input1.for_each_stamp(|cap, data| {
                        let Some(&epoch) = cap.least() else { return };
                        let mut batch: Vec<IndicatorSet> = Vec::new();
                        data.for_each(|d| append(&mut batch, d));
                        let first_ts = batch.iter().map(|s| s.ts).min().unwrap_or(Ts::MIN);
                        let eager = epoch < eager_before
                            && sets.is_empty()
                            && !frontier2.less_equal(&epoch)
                            && news.records_upto(epoch).all(|s| s.ts < first_ts);
                        if !eager {
                            sets.push(&cap, 0, std::iter::once(&mut batch));
                            return;
                        }
                        while let Some(older) = news.first_epoch().filter(|e| *e <= epoch) {
                            let mut scored = news.take(older).map(|(_, v)| v).unwrap_or_default();
                            apply_news(&strategy, &mut state, &mut scored);
                        }
                        // Arrival order: a symbol's sets arrive in time order, and the symbols'
                        // states are independent.
                        let mut session = output.session(&cap);
                        for set in &batch {
                            session.give(strategy.on_indicators(slot(&mut state, set.symbol.0 as usize), set));
                        }
                    });
                    while let Some(epoch) =
                        ready_epoch([sets.first_epoch(), news.first_epoch()], &[frontier1, frontier2])
                    {
                        checkpoint(&mut snapshot, Some(epoch), || &state);
                        let mut scored = news.take(epoch).map(|(_, v)| v).unwrap_or_default();
                        let Some((cap, mut bars)) = sets.take(epoch) else {
                            // Sentiment alone changes state but emits nothing.
                            apply_news(&strategy, &mut state, &mut scored);
                            continue;
                        };
                        in_time_order(&mut scored);
                        bars.sort_by_key(|s| (s.ts, s.symbol));
                        let mut session = output.session(&cap);
                        let mut pending = scored.iter().peekable();
                        for set in &bars {
                            while let Some(s) = pending.next_if(|s| s.ts < set.ts) {
                                strategy.on_sentiment(slot(&mut state, s.symbol.0 as usize), s);
                            }
                            session.give(strategy.on_indicators(slot(&mut state, set.symbol.0 as usize), set));
                        }
                        for s in pending {
                            strategy.on_sentiment(slot(&mut state, s.symbol.0 as usize), s);
                        }
                    }
                    let upto = frontier_epoch(frontier1.frontier())
                        .into_iter()
                        .chain(frontier_epoch(frontier2.frontier()))
                        .min();
                    checkpoint(&mut snapshot, upto, || &state);
                }
            },
        )
    }
}

/// Sentiment in event-time order, ties by symbol, then article.
fn in_time_order(scored: &mut [Sentiment]) {
    scored.sort_by(|a, b| (a.ts, a.symbol, &a.news_id).cmp(&(b.ts, b.symbol, &b.news_id)));
}

/// Applies one epoch's sentiment in [`in_time_order`].
fn apply_news(strategy: &Strategy, state: &mut Vec<SymbolStrategy>, scored: &mut [Sentiment]) {
    in_time_order(scored);
    for s in scored.iter() {
        strategy.on_sentiment(slot(state, s.symbol.0 as usize), s);
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

    fn suite() -> IndicatorSuite {
        IndicatorSuite::new_checked(&["ema_12", "ema_26", "zscore_20", "realvol_30"].map(String::from)).unwrap()
    }

    fn set(ts: Ts, values: [f64; 4]) -> IndicatorSet {
        IndicatorSet { symbol: Symbol(0), ts, close: 100.0, values: values.as_slice().into() }
    }

    fn news(score: f64) -> Sentiment {
        Sentiment {
            news_id: "n".into(),
            symbol: Symbol(0),
            ts: 0,
            score,
            confidence: 1.0,
            model: "t".into(),
            latency_ns: 0,
            cost_usd: 0.0,
        }
    }

    /// The ensemble with only its trend component (which weighs in the news).
    fn trend_and_news() -> Strategy {
        let p = EnsembleParams {
            rsi: String::new(),
            macd_hist: String::new(),
            bbands: String::new(),
            breakout: String::new(),
            support: String::new(),
            ..EnsembleParams::default()
        };
        StrategyParams::Ensemble(p).resolve(&suite(), None).unwrap()
    }

    #[test]
    fn news_decays_with_its_half_life() {
        let strategy = trend_and_news();
        let mut state = SymbolStrategy::default();
        strategy.on_sentiment(&mut state, &news(0.8));
        let now = strategy.on_indicators(&state, &set(0, [100.0, 100.0, 0.0, 0.01]));
        // Only the trend component is configured: half moving averages (flat), half news.
        assert!((now.strength - 0.5 * 0.8).abs() < 1e-15 && now.confidence == 1.0, "{now:?}");
        let mut later = strategy.on_indicators(&state, &set(900 * SECOND, [100.0, 100.0, 0.0, 0.01]));
        assert!((later.strength - now.strength / 2.0).abs() < 1e-15, "{later:?}");
        strategy.explain(&mut later);
        assert_eq!(later.inputs, "ema_12=100 ema_26=100 sentiment=0.4");
        assert_eq!(later.reasons, "ensemble: trend +0.200 x 0.4 (news +0.400)");
    }

    /// Runs the strategy operator over one set timed at the end of minute one (stamped at the
    /// epoch of the minute's last instant) and two articles, one before it and one at its time;
    /// `news_first`: the sentiment's frontier is past the set's epoch when the set comes (the
    /// set is decided as it arrives), else the set waits for it.
    fn signal_at_minute_end(news_first: bool) -> Signal {
        use crate::event::MINUTE;
        use timely::dataflow::operators::capture::Capture;
        use timely::dataflow::operators::vec::Input;

        let clock = crate::time::EpochClock::new(SECOND / 100);
        let strategy = Arc::new(trend_and_news());
        let captured = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (mut sets, mut news) = worker.dataflow::<u64, _, _>(|scope| {
                let (sets, set_stream) = scope.new_input::<IndicatorSet>();
                let (news, news_stream) = scope.new_input::<Sentiment>();
                set_stream.signals(news_stream, strategy).capture_into(tx);
                (sets, news)
            });
            let send_news = |news: &mut timely::dataflow::operators::vec::input::Handle<u64, Sentiment>| {
                for (ts, score) in [(MINUTE - SECOND, 0.8), (MINUTE, -0.8)] {
                    news.advance_to(clock.epoch(ts));
                    news.send(Sentiment { ts, ..super::tests::news(score) });
                }
                news.advance_to(clock.epoch(MINUTE) + 1);
            };
            if news_first {
                send_news(&mut news);
                for _ in 0..5 {
                    worker.step();
                }
            }
            sets.advance_to(clock.epoch(MINUTE - 1));
            sets.send(set(MINUTE, [100.0, 100.0, 0.0, 0.01]));
            worker.step();
            if !news_first {
                send_news(&mut news);
            }
            sets.close();
            news.close();
            while worker.step() {}
            rx
        });
        let signals = crate::testing::records(captured);
        assert_eq!(signals.len(), 1);
        signals.into_iter().next().unwrap()
    }

    #[test]
    fn news_at_a_sets_time_comes_after_it_whether_or_not_the_set_waited() {
        let (decided_on_arrival, waited) = (signal_at_minute_end(true), signal_at_minute_end(false));
        let sentiment = |s: &Signal| s.basis.as_ref().and_then(|b| b.sentiment);
        // Only the article a second before, decayed over that second; not the negative one at
        // the set's own time.
        let expected = 0.8 * 0.5f64.powf(1.0 / EnsembleParams::default().sentiment_half_life_s);
        assert_eq!(sentiment(&decided_on_arrival), Some(expected));
        assert_eq!(format!("{decided_on_arrival:?}"), format!("{waited:?}"));
    }

    #[test]
    fn signals_carry_the_annualized_volatility_forecast() {
        let vol = VolatilitySource { column: "realvol_30".into(), bars_per_year: 98_280.0 };
        let strategy = StrategyParams::Zscore(ZscoreParams::default()).resolve(&suite(), Some(&vol)).unwrap();
        let mut sig = strategy.on_indicators(&SymbolStrategy::default(), &set(0, [1.0, 1.0, 1.0, 0.001]));
        assert!((sig.volatility - 0.001 * 98_280f64.sqrt()).abs() < 1e-15);
        strategy.explain(&mut sig);
        assert_eq!((sig.strength, sig.inputs.as_str()), (-0.5, "zscore_20=1 realvol_30=0.001"));
    }

    #[test]
    fn words_come_once_rule_first_and_reach_the_audit() {
        let strategy = StrategyParams::Zscore(ZscoreParams::default()).resolve(&suite(), None).unwrap();
        let mut sig = strategy.on_indicators(&SymbolStrategy::default(), &set(0, [1.0, 1.0, f64::NAN, 0.001]));
        assert_eq!((sig.reasons.as_str(), sig.inputs.as_str()), ("", ""), "no words on the way to the orders");
        // What is added on the way (the strategist's verdict) follows the rule's words.
        sig.reasons.push_str("; strategist approved x1.00");
        let basis = sig.basis;
        strategy.explain(&mut sig);
        assert_eq!(sig.reasons, "zscore: warming up; strategist approved x1.00");
        assert_eq!(sig.inputs, "zscore_20=NaN");
        let explained = sig.clone();
        strategy.explain(&mut sig);
        // (Compared as text: the volatility is NaN.)
        assert_eq!(format!("{sig:?}"), format!("{explained:?}"), "explaining twice changes nothing");
        let mut audit = Audit {
            order_id: "o".into(),
            account: "a".into(),
            symbol: Symbol(0),
            ts: 0,
            strength: 0.0,
            confidence: 0.0,
            reasons: "; strategist approved x1.00".into(),
            inputs: String::new(),
            basis: basis.map(Box::new),
            sizing: String::new(),
            checks: String::new(),
        };
        strategy.explain_audit(&mut audit);
        assert_eq!((audit.reasons, audit.inputs), (explained.reasons, explained.inputs));
    }

    #[test]
    fn unknown_columns_name_the_key() {
        let p = StrategyParams::MaCrossover(CrossoverParams { slow: "sma_200".into(), ..CrossoverParams::default() });
        let e = p.resolve(&suite(), None).unwrap_err();
        assert!(e.starts_with("strategy.slow = \"sma_200\" is not a configured indicator column"), "{e}");
        let vol = VolatilitySource { column: "garch".into(), bars_per_year: 252.0 };
        let e = StrategyParams::Zscore(ZscoreParams::default()).resolve(&suite(), Some(&vol)).unwrap_err();
        assert!(e.starts_with("risk.vol_column = \"garch\""), "{e}");
    }
}
