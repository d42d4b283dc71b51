//! The strategist review as a timely operator: the [`Escalation`] state machine driven over a
//! stream of signals, its model calls made without blocking the worker.
//!
//! Whether a call fits the day's budget is decided as if every earlier call had already
//! answered, so that two runs of the same input decide alike however fast the model answers.
//! Planning reserves each call's worst case; a call that fits beside the worst cases of the
//! calls still in flight fits whatever they really cost. One that does not fit, while calls are
//! in flight, waits until they have answered and settled at their real cost, and is decided
//! then, together with the rest of its epoch, in order; the epochs after it are planned once
//! that is done. Near the limit the calls are thus made one after another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::vec::Map;

use super::strategist::{Escalation, Reviewed, StrategistModel, Trigger, prompt};
use crate::batch::Resumable;
use crate::call::{Call, CallLimits, CallOut};
use crate::event::{RiskEvent, RiskEventKind, Signal, Ts};
use crate::sentiment::ModelError;
use crate::snapshot::{SnapshotPort, checkpoint};
use crate::symbols::SymbolTable;

/// Extension trait for the strategist review.
pub trait ReviewSignals<'scope> {
    /// Passes signals through, escalating those that matter to `model`; returns the signals
    /// (approved, scaled or unchanged; vetoed ones dropped) and a risk event per escalation.
    fn review(
        self,
        model: Arc<dyn StrategistModel>,
        escalation: Escalation,
        symbols: Arc<SymbolTable>,
        account: String,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
    ) -> (StreamVec<'scope, u64, Signal>, StreamVec<'scope, u64, RiskEvent>)
    where
        Self: Sized,
    {
        self.review_saved(model, escalation, symbols, account, runtime, limits, None)
    }

    /// [`review`](Self::review), with the escalation's history and the day's spending in the
    /// snapshots.
    #[allow(clippy::too_many_arguments)]
    fn review_saved(
        self,
        model: Arc<dyn StrategistModel>,
        escalation: Escalation,
        symbols: Arc<SymbolTable>,
        account: String,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
        snapshot: Option<SnapshotPort>,
    ) -> (StreamVec<'scope, u64, Signal>, StreamVec<'scope, u64, RiskEvent>);
}

#[derive(Clone)]
enum Out {
    Signal(Signal),
    Event(RiskEvent),
}

impl Out {
    fn key(&self) -> (Ts, u32, u8) {
        match self {
            Out::Event(e) => (e.ts, e.symbol.map_or(0, |s| s.0), 0),
            Out::Signal(s) => (s.ts, s.symbol.0, 1),
        }
    }
}

/// What planning and the answers share.
struct Review {
    escalation: Mutex<Escalation>,
    /// Woken each time a reservation is settled.
    settled: tokio::sync::Notify,
    /// Decisions wait for the calls in flight to settle: planning holds until they are made.
    deferred: AtomicBool,
    model: Arc<dyn StrategistModel>,
    symbols: Arc<SymbolTable>,
    account: String,
}

impl Review {
    fn escalation(&self) -> MutexGuard<'_, Escalation> {
        // Nothing holding the lock can panic half-way.
        self.escalation.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces a reservation by the real cost.
    fn settle(&self, ts: Ts, reserved: f64, actual: f64) {
        self.escalation().budget().settle(ts, reserved, actual);
        self.settled.notify_waiters();
    }

    /// Returns once no reservation is waiting for its call's answer.
    async fn all_settled(&self) {
        loop {
            let notified = self.settled.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so that a settlement in between is not missed.
            notified.as_mut().enable();
            if self.escalation().budget().unsettled == 0 {
                return;
            }
            notified.await;
        }
    }

    fn ask(&self, signal: Signal, trigger: Trigger) -> Ask {
        let question = prompt(&signal, self.symbols.name(signal.symbol), &trigger);
        let reserve = self.model.worst_case_cost(&question);
        let event = RiskEvent {
            ts: signal.ts,
            account: self.account.clone(),
            kind: RiskEventKind::Strategist,
            rule: "failed".to_owned(),
            symbol: Some(signal.symbol),
            detail: String::new(),
        };
        Ask { signal, trigger: trigger.to_string(), question, reserve, event }
    }
}

/// One signal to put to the strategist.
#[derive(Clone)]
struct Ask {
    signal: Signal,
    trigger: String,
    question: String,
    /// The worst case the budget reserves for the call.
    reserve: f64,
    /// Its risk event, to fill in.
    event: RiskEvent,
}

impl Ask {
    /// The call does not fit: the rule-based signal stands.
    fn exhausted(mut self, spent: f64, daily: f64) -> Vec<Out> {
        self.event.rule = "budget_exhausted".to_owned();
        self.event.detail = format!(
            "{}; budget spent: ${spent:.4} of ${daily:.4} today, the call would reserve ${:.4}; the rule-based \
             signal stands",
            self.trigger, self.reserve
        );
        vec![Out::Event(self.event), Out::Signal(self.signal)]
    }

    /// No answer within the timeout: the rule-based signal stands.
    fn timed_out(mut self) -> Vec<Out> {
        self.event.detail = format!("{}; no answer in time; the rule-based signal stands", self.trigger);
        vec![Out::Event(self.event), Out::Signal(self.signal)]
    }

    /// What the answer makes of the signal. (The detail has the call's cost, not the day's
    /// spending after it: that depends on which other calls had answered by then.)
    fn answered(mut self, answer: Result<Reviewed, ModelError>, latency_ms: f64) -> Vec<Out> {
        let r = match answer {
            Err(e) => {
                self.event.detail = format!("{}; {e}; the rule-based signal stands", self.trigger);
                return vec![Out::Event(self.event), Out::Signal(self.signal)];
            }
            Ok(r) => r,
        };
        let factor = r.verdict.size_factor.clamp(0.0, 1.0);
        let outcome = match (r.verdict.approve, factor) {
            (false, _) => "vetoed",
            (true, f) if f < 1.0 => "reduced",
            _ => "approved",
        };
        self.event.rule = outcome.to_owned();
        self.event.detail = format!(
            "{}; {} says {outcome} x{factor:.2}: {}; cost ${:.6}; {latency_ms:.0} ms",
            self.trigger, r.model, r.verdict.reason, r.cost_usd
        );
        let mut out = vec![Out::Event(self.event)];
        if r.verdict.approve {
            let mut signal = self.signal;
            signal.strength *= factor;
            signal.reasons = format!("{}; strategist {outcome} x{factor:.2}", signal.reasons);
            out.push(Out::Signal(signal));
        }
        out
    }
}

/// Asks the model about an ask whose worst case is reserved, and settles the reservation at
/// the real cost.
async fn put(review: &Review, ask: Ask) -> Vec<Out> {
    let started = Instant::now();
    let answer = review.model.review(ask.question.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    review.settle(ask.signal.ts, ask.reserve, answer.as_ref().map_or(0.0, |r| r.cost_usd));
    ask.answered(answer, latency_ms)
}

/// No answer in time: the reservation is released and the rule-based signal stands.
fn give_up(review: &Review, ask: Ask) -> Vec<Out> {
    review.settle(ask.signal.ts, ask.reserve, 0.0);
    ask.timed_out()
}

/// The call of an ask whose worst case is reserved, under the operator's timeout.
fn call(review: &Arc<Review>, ask: Ask) -> Call<Out> {
    let on_timeout = {
        let (review, ask) = (Arc::clone(review), ask.clone());
        move || give_up(&review, ask)
    };
    let review = Arc::clone(review);
    let future = Box::pin(async move { put(&review, ask).await });
    Call::Pending { future, on_timeout: Box::new(on_timeout) }
}

/// Decides `waiting` (signals in order, each with its trigger if it is escalated) once every
/// call in flight has settled, making the calls that fit one after another, each under
/// `timeout`. Planning holds meanwhile.
fn decide_when_settled(review: &Arc<Review>, waiting: Vec<(Signal, Option<Trigger>)>, timeout: Duration) -> Call<Out> {
    review.deferred.store(true, Ordering::Release);
    let review = Arc::clone(review);
    Call::SelfTimed(Box::pin(async move {
        review.all_settled().await;
        let mut out = Vec::new();
        for (signal, trigger) in waiting {
            let Some(trigger) = trigger else {
                out.push(Out::Signal(signal));
                continue;
            };
            let ask = review.ask(signal, trigger);
            let fits = {
                let mut escalation = review.escalation();
                let daily = escalation.budget().daily_usd;
                escalation.budget().reserve(ask.signal.ts, ask.reserve).map_err(|spent| (spent, daily))
            };
            if let Err((spent, daily)) = fits {
                out.extend(ask.exhausted(spent, daily));
                continue;
            }
            match tokio::time::timeout(timeout, put(&review, ask.clone())).await {
                Ok(answered) => out.extend(answered),
                Err(_) => out.extend(give_up(&review, ask)),
            }
        }
        review.deferred.store(false, Ordering::Release);
        out
    }))
}

impl<'scope> ReviewSignals<'scope> for StreamVec<'scope, u64, Signal> {
    fn review_saved(
        self,
        model: Arc<dyn StrategistModel>,
        mut escalation: Escalation,
        symbols: Arc<SymbolTable>,
        account: String,
        runtime: tokio::runtime::Handle,
        limits: CallLimits,
        mut snapshot: Option<SnapshotPort>,
    ) -> (StreamVec<'scope, u64, Signal>, StreamVec<'scope, u64, RiskEvent>) {
        if let Some(saved) = snapshot.as_ref().and_then(SnapshotPort::restore_or_panic) {
            escalation.resume(saved);
        }
        let review = Arc::new(Review {
            escalation: Mutex::new(escalation),
            settled: tokio::sync::Notify::new(),
            deferred: AtomicBool::new(false),
            model,
            symbols,
            account,
        });
        let watched = Arc::clone(&review);
        // Planning holds while decisions wait for the calls in flight; a snapshot is saved
        // once every call before its boundary has settled, and planning waits until then.
        let progress = move |upto: Option<u64>| {
            if watched.deferred.load(Ordering::Acquire) {
                return false;
            }
            let Some(port) = snapshot.as_ref() else { return true };
            if upto.is_some_and(|upto| port.due(upto).is_none()) {
                return true;
            }
            let mut escalation = watched.escalation();
            if escalation.budget().unsettled > 0 {
                return false;
            }
            checkpoint(&mut snapshot, upto, || escalation.state());
            true
        };
        let timeout = limits.timeout;
        let reviewed = self.call_out_with(
            "Strategist",
            Exchange::new(|_: &Signal| 0),
            runtime,
            limits,
            move |_epoch, mut signals: Vec<Signal>| {
                signals.sort_by_key(|s| (s.ts, s.symbol));
                let (mut calls, mut passed) = (Vec::new(), Vec::new());
                let mut escalation = review.escalation();
                let mut signals = signals.into_iter();
                while let Some(signal) = signals.next() {
                    let Some(trigger) = escalation.observe(&signal) else {
                        passed.push(Out::Signal(signal));
                        continue;
                    };
                    let ask = review.ask(signal, trigger.clone());
                    let daily = escalation.budget().daily_usd;
                    match escalation.budget().reserve(ask.signal.ts, ask.reserve) {
                        // It fits beside the worst case of every call in flight.
                        Ok(()) => calls.push(call(&review, ask)),
                        // Whether it fits depends on what the calls in flight really cost.
                        Err(_) if escalation.budget().unsettled > 0 => {
                            let mut waiting = vec![(ask.signal, Some(trigger))];
                            waiting.extend(signals.by_ref().map(|s| {
                                let trigger = escalation.observe(&s);
                                (s, trigger)
                            }));
                            drop(escalation);
                            calls.push(decide_when_settled(&review, waiting, timeout));
                            break;
                        }
                        Err(spent) => passed.extend(ask.exhausted(spent, daily)),
                    }
                }
                calls.push(Call::Ready(passed));
                calls
            },
            |a: &Out, b: &Out| a.key().cmp(&b.key()),
            progress,
        );
        let events = reviewed.clone().flat_map(|o| if let Out::Event(e) = o { Some(e) } else { None });
        let signals = reviewed.flat_map(|o| if let Out::Signal(s) = o { Some(s) } else { None });
        (signals, events)
    }
}
