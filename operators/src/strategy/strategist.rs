//! Escalating the decisions that matter to a stronger model, under a hard daily budget.
//!
//! A signal is escalated when the bar close moved more than `sigma` standard deviations of the
//! symbol's recent bar returns, or when the position it proposes is above `position_pct` of
//! equity. The strategist answers with a verdict: approve (the signal's strength scaled by
//! `size_factor`) or veto (the signal is dropped, so the book keeps what it holds). Before each
//! call the worst-case cost is reserved against the day's budget (UTC days of event time);
//! when it does not fit, or the call fails, the rule-based signal goes through unchanged. Every
//! escalation is recorded as a `strategist` risk event. All signals meet on worker 0, so the
//! budget is one budget however many workers run.
//!
//! In a snapshot at boundary `B` the budget is what every call before `B` really cost: planning
//! waits at `B` until the calls in flight have answered (or timed out) and settled.
//!
//! The operator is in [`review`](super::review).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::batch::Resumable;
use crate::call::BoxFuture;
use crate::event::{SECOND, Signal, Symbol, Ts};
use crate::risk::RiskParams;
use crate::sentiment::ModelError;

pub use super::review::ReviewSignals;

const DAY: Ts = 86_400 * SECOND;

/// The stronger model's structured answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub approve: bool,
    /// From 0 to 1: the share of the proposed size to take.
    pub size_factor: f64,
    pub reason: String,
}

/// What a strategist call returned and cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Reviewed {
    pub verdict: Verdict,
    pub model: String,
    pub cost_usd: f64,
}

/// A model that reviews one decision.
pub trait StrategistModel: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// The most a call with this prompt can cost (its prompt tokens estimated, its completion
    /// at the token limit): what the budget reserves before the call.
    fn worst_case_cost(&self, prompt: &str) -> f64;
    fn review(&self, prompt: String) -> BoxFuture<Result<Reviewed, ModelError>>;
}

/// When to escalate, and how much may be spent.
#[derive(Clone, Debug, PartialEq)]
pub struct EscalationRules {
    /// A bar return beyond this many standard deviations escalates.
    pub sigma: f64,
    /// A proposed position above this share of equity (0.05 = 5%) escalates.
    pub position_share: f64,
    /// Bar returns the standard deviation is taken over.
    pub window: usize,
    /// Returns needed before the sigma rule applies.
    pub min_history: usize,
    pub daily_budget_usd: f64,
}

/// Why a signal was escalated.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    Move { sigmas: f64 },
    Position { share: f64 },
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Move { sigmas } => write!(f, "bar move of {sigmas:+.2} sigma"),
            Trigger::Position { share } => write!(f, "proposed position {:.2}% of equity", share * 100.0),
        }
    }
}

/// The pure part: per-symbol return history and the day's spending.
#[derive(Debug)]
pub struct Escalation {
    rules: EscalationRules,
    risk: Arc<RiskParams>,
    closes: HashMap<Symbol, (f64, VecDeque<f64>)>,
    budget: Budget,
}

/// A daily budget in USD; reservations are settled at the real cost when the answer comes.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub daily_usd: f64,
    pub day: i64,
    pub spent_usd: f64,
    /// Reservations not settled yet: calls in flight.
    pub unsettled: usize,
}

impl Budget {
    pub fn new(daily_usd: f64) -> Self {
        Budget { daily_usd, day: i64::MIN, spent_usd: 0.0, unsettled: 0 }
    }

    /// Reserves `usd` on the day of `ts` if it fits; the day's spending so far otherwise.
    pub fn reserve(&mut self, ts: Ts, usd: f64) -> Result<(), f64> {
        let day = ts.div_euclid(DAY);
        if day != self.day {
            (self.day, self.spent_usd) = (day, 0.0);
        }
        if self.spent_usd + usd > self.daily_usd {
            return Err(self.spent_usd);
        }
        self.spent_usd += usd;
        self.unsettled += 1;
        Ok(())
    }

    /// Replaces a reservation made on the day of `ts` by what the call really cost.
    pub fn settle(&mut self, ts: Ts, reserved: f64, actual: f64) {
        self.unsettled = self.unsettled.saturating_sub(1);
        if ts.div_euclid(DAY) == self.day {
            self.spent_usd = (self.spent_usd - reserved + actual).max(0.0);
        }
    }
}

impl Escalation {
    pub fn new(rules: EscalationRules, risk: Arc<RiskParams>) -> Self {
        let budget = Budget::new(rules.daily_budget_usd);
        Escalation { rules, risk, closes: HashMap::new(), budget }
    }

    /// Takes in the signal's bar close and says whether the signal must be escalated.
    pub fn observe(&mut self, signal: &Signal) -> Option<Trigger> {
        let (last, returns) = self.closes.entry(signal.symbol).or_insert((f64::NAN, VecDeque::new()));
        let mut trigger = None;
        if last.is_finite() && *last > 0.0 && signal.price.is_finite() && signal.price > 0.0 {
            let r = (signal.price / *last).ln();
            if returns.len() >= self.rules.min_history.max(2) {
                let n = returns.len() as f64;
                let mean = returns.iter().sum::<f64>() / n;
                let var = returns.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
                let sigmas = (r - mean) / var.sqrt();
                if var > 0.0 && sigmas.abs() > self.rules.sigma {
                    trigger = Some(Trigger::Move { sigmas });
                }
            }
            returns.push_back(r);
            if returns.len() > self.rules.window.max(2) {
                returns.pop_front();
            }
        }
        *last = signal.price;
        if trigger.is_none() {
            let share = self.risk.fraction(signal.strength, signal.confidence, signal.volatility);
            if share > self.rules.position_share && signal.strength.abs() >= self.risk.entry_threshold {
                trigger = Some(Trigger::Position { share });
            }
        }
        trigger
    }

    pub fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }
}

/// What a snapshot keeps of an [`Escalation`]: each symbol's last close and recent returns,
/// and the day's spending (every reservation settled).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationState {
    closes: Vec<(Symbol, f64, VecDeque<f64>)>,
    day: i64,
    spent_usd: f64,
}

impl Resumable for Escalation {
    type State = EscalationState;

    fn state(&self) -> EscalationState {
        let mut closes: Vec<_> = self.closes.iter().map(|(s, (last, r))| (*s, *last, r.clone())).collect();
        closes.sort_by_key(|c| c.0);
        EscalationState { closes, day: self.budget.day, spent_usd: self.budget.spent_usd }
    }

    fn resume(&mut self, state: EscalationState) {
        self.closes = state.closes.into_iter().map(|(s, last, r)| (s, (last, r))).collect();
        (self.budget.day, self.budget.spent_usd) = (state.day, state.spent_usd);
    }
}

/// The question put to the strategist about one signal.
pub fn prompt(signal: &Signal, ticker: &str, trigger: &Trigger) -> String {
    format!(
        "You review trading decisions. Ticker {ticker}, price {:.4}, the rule-based strategy proposes \
         strength {:+.3} (-1 full short .. 1 full long), confidence {:.2}. Escalated because: {trigger}. \
         Reasons: {}. Inputs: {}. Answer with one JSON object: \"approve\" (true or false), \
         \"size_factor\" (0 to 1, the share of the proposed size to take) and \"reason\" (one sentence).",
        signal.price, signal.strength, signal.confidence, signal.reasons, signal.inputs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_what_does_not_fit_and_resets_each_day() {
        let mut budget = Budget::new(1.0);
        assert_eq!(budget.reserve(10, 0.6), Ok(()));
        assert_eq!(budget.reserve(20, 0.6), Err(0.6), "0.6 + 0.6 > 1.0");
        assert_eq!(budget.unsettled, 1, "a refused reservation is not a call in flight");
        budget.settle(10, 0.6, 0.1);
        assert_eq!(budget.unsettled, 0);
        assert_eq!(budget.reserve(20, 0.6), Ok(()), "the real cost freed the rest");
        assert_eq!(budget.reserve(DAY + 1, 1.0), Ok(()), "a new day");
    }
}
