//! The trading graph: ticks to bars to indicators to signals, news to sentiment, signals
//! through the risk book to orders, orders to the broker, and fills back to the book.
//!
//! ```text
//! ticks ─► bars 1s ─► bars 1m ─► indicators ─┐
//! news  ─► dedupe + sentiment (model calls) ─┴► signals ─► strategist (optional) ─┐
//! control ────────────────────────────────────────────────────────────────────────┤
//! bars 1s (trade prices) ─────────────────────────────────────────────────────────┼► risk book ─► orders ─► paper broker ◄─ ticks
//!              fills, expiries (feedback, +1 epoch) ──────────────────────────────┘     │                      │
//!                                                ▲────────────────────────────────────── audit ────────────────┘
//! fills ⋈ positions (differential, by account and symbol) ─► reconciliation risk events
//! ```
//!
//! Signals carry their numbers to the risk book; their words (`reasons`, `inputs`, and the
//! audit's copy of them) are rendered once the risk book has passed their epoch, so that a
//! worker reaches the orders before it formats text (the strategist, which reads the words,
//! gets them before its review).
//!
//! With `[kernels]` configured, the indicators pass through the batched kernels (GARCH
//! volatility, cup-and-handle, batched indicators: [`kernel_columns`](crate::kernel_columns))
//! before the strategy reads them, and bars with positions feed the Monte-Carlo VaR
//! ([`portfolio_var`](crate::portfolio_var)).

use std::sync::Arc;

use timely::dataflow::StreamVec;
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concat, ConnectLoop, Feedback};

use tradeflow_operators::after::MapAfter;
use tradeflow_operators::batch::EpochBatch;
use tradeflow_operators::broker::{BrokerParams, Execute, Execution};
use tradeflow_operators::call::CallLimits;
use tradeflow_operators::indicate::Indicate;
use tradeflow_operators::indicators::IndicatorSuite;
use tradeflow_operators::reconcile::Reconcile;
use tradeflow_operators::risk::{RiskCheck, RiskInputs, RiskParams};
use tradeflow_operators::sentiment::{NewsScoring, ScoreNews};
use tradeflow_operators::snapshot::Snapshots;
use tradeflow_operators::strategy::strategist::{Escalation, EscalationRules, ReviewSignals, StrategistModel};
use tradeflow_operators::strategy::{Signals, Strategy};
use tradeflow_operators::{
    Audit, Bar, Bars, Control, EpochClock, Expiry, Fill, IndicatorSet, MINUTE, News, Order, Pnl, PortfolioVar,
    Position, RiskEvent, SECOND, Sentiment, Signal, SymbolTable, Tick,
};

use crate::kernel_columns::{KernelColumns, KernelSetup};
use crate::portfolio_var::{VarBook, VarParams};

/// Everything the graph needs to know, resolved and validated by the caller.
#[derive(Clone)]
pub struct TradingParams {
    pub clock: EpochClock,
    pub symbols: Arc<SymbolTable>,
    pub indicators: Arc<IndicatorSuite>,
    pub strategy: Arc<Strategy>,
    pub risk: Arc<RiskParams>,
    pub broker: BrokerParams,
    /// The news model, its fallback and limits, and the runtime its calls run on.
    pub news: NewsScoring,
    /// The stronger model the decisions that matter are escalated to, if any.
    pub strategist: Option<StrategistSetup>,
    /// Indicator columns from the batched kernels, if any, and where the first one sits in
    /// `indicators` (the kernel columns come last).
    pub kernels: Option<(KernelSetup, usize)>,
    /// The portfolio's Monte-Carlo VaR, if asked for.
    pub var: Option<VarParams>,
}

/// The strategist model and when to ask it.
#[derive(Clone)]
pub struct StrategistSetup {
    pub model: Arc<dyn StrategistModel>,
    pub rules: EscalationRules,
    pub limits: CallLimits,
}

/// The graph's inputs.
pub struct TradingInputs<'scope> {
    pub ticks: StreamVec<'scope, u64, Tick>,
    pub news: StreamVec<'scope, u64, News>,
    pub control: StreamVec<'scope, u64, Control>,
    /// This worker's snapshots, if the job keeps them.
    pub snapshots: Option<Snapshots>,
}

/// Every stream the graph produces, for the sinks.
pub struct TradingOutputs<'scope> {
    pub bars_1s: StreamVec<'scope, u64, Bar>,
    pub bars_1m: StreamVec<'scope, u64, Bar>,
    pub indicators: StreamVec<'scope, u64, IndicatorSet>,
    pub sentiment: StreamVec<'scope, u64, Sentiment>,
    pub signals: StreamVec<'scope, u64, Signal>,
    pub orders: StreamVec<'scope, u64, Order>,
    pub fills: StreamVec<'scope, u64, Fill>,
    pub expiries: StreamVec<'scope, u64, Expiry>,
    pub positions: StreamVec<'scope, u64, Position>,
    pub pnl: StreamVec<'scope, u64, Pnl>,
    pub risk_events: StreamVec<'scope, u64, RiskEvent>,
    pub audit: StreamVec<'scope, u64, Audit>,
    /// Empty unless the VaR is configured.
    pub var: StreamVec<'scope, u64, PortfolioVar>,
}

/// Builds the trading graph on `inputs`. The epoch length of `params.clock` must divide one
/// second (bars close on epoch boundaries).
pub fn trading_graph<'scope>(inputs: TradingInputs<'scope>, params: &TradingParams) -> TradingOutputs<'scope> {
    let TradingInputs { ticks, news, control, snapshots } = inputs;
    let scope = ticks.scope();
    let clock = params.clock;
    let port = |name: &str| snapshots.as_ref().map(|s| s.port(name));

    let bars_1s = ticks.clone().bars_saved(SECOND, clock, port("bars_1s"));
    let bars_1m = bars_1s.clone().bars_saved(MINUTE, clock, port("bars_1m"));
    let indicators = bars_1m.clone().indicators_saved(Arc::clone(&params.indicators), port("indicators"));
    let indicators = match &params.kernels {
        Some((setup, first_column)) => {
            let columns = KernelColumns::new(setup.clone(), *first_column);
            let mut errors = Vec::new();
            indicators.epoch_batch_saved(
                bars_1m.clone(),
                "KernelColumns",
                |s: &IndicatorSet| s.symbol.route(),
                |b: &Bar| b.symbol.route(),
                columns,
                move |columns: &mut KernelColumns, _epoch, mut sets: Vec<IndicatorSet>, bars: Vec<Bar>, out| {
                    sets.sort_by_key(|s| (s.ts, s.symbol));
                    columns.on_epoch(bars, &mut sets, &mut errors);
                    // A failed launch leaves its columns NaN (the strategy reads them as
                    // warming up); the job goes on and says why.
                    for e in errors.drain(..) {
                        tracing::warn!("kernel columns: {e}");
                    }
                    out.extend(sets);
                },
                port("kernel_columns"),
            )
        }
        None => indicators,
    };
    let sentiment = news.sentiment_saved(params.news.clone(), port("sentiment"));
    let signals = indicators.clone().signals_saved(sentiment.clone(), Arc::clone(&params.strategy), port("strategy"));
    let (signals, reviews) = match &params.strategist {
        Some(setup) => {
            let escalation = Escalation::new(setup.rules.clone(), Arc::clone(&params.risk));
            let strategy = Arc::clone(&params.strategy);
            let explained = signals.map(move |mut s| {
                strategy.explain(&mut s);
                s
            });
            let (signals, reviews) = explained.review_saved(
                Arc::clone(&setup.model),
                escalation,
                Arc::clone(&params.symbols),
                params.risk.account.clone(),
                params.news.runtime.clone(),
                setup.limits,
                port("strategist"),
            );
            (signals, Some(reviews))
        }
        None => (signals, None),
    };

    // The broker's reports return to the book one epoch after the broker made them.
    let (report_loop, reported) = scope.feedback::<Vec<Execution>>(1);
    let risk = RiskInputs { signals: signals.clone(), marks: bars_1s.clone(), control, reports: reported }.risk_saved(
        Arc::clone(&params.risk),
        Arc::clone(&params.symbols),
        port("risk"),
    );

    let executions = risk.orders.clone().paper_broker_saved(ticks, params.broker.clone(), port("broker"));
    executions.clone().connect_loop(report_loop);
    let fills = executions.clone().flat_map(|e| match e {
        Execution::Fill(f) => Some(f),
        Execution::Expired(_) => None,
    });
    let expiries = executions.flat_map(|e| match e {
        Execution::Expired(x) => Some(x),
        Execution::Fill(_) => None,
    });
    let var = match params.var.as_ref() {
        Some(p) => {
            let kernels = Arc::clone(&p.kernels);
            let book = VarBook::new(p.setup.clone(), params.risk.account.clone());
            bars_1m.clone().epoch_batch_saved(
                risk.positions.clone(),
                "PortfolioVar",
                |_: &Bar| 0,
                |_: &Position| 0,
                book,
                move |book: &mut VarBook, _epoch, bars: Vec<Bar>, positions: Vec<Position>, out| match book
                    .on_epoch(&kernels, bars, positions)
                {
                    Ok(estimate) => out.extend(estimate),
                    Err(e) => tracing::warn!("portfolio VaR: {e}"),
                },
                port("portfolio_var"),
            )
        }
        None => empty(scope),
    };
    // The positions the broker's fills add up to, kept against the book's (differential).
    // The fills side keeps the fills of recent epochs: it can save any boundary since its last.
    let fills_port = snapshots.as_ref().map(|s| s.retaining_port("reconcile_fills"));
    let reconcile_ports = fills_port.zip(port("reconcile_positions"));
    let breaks = fills.clone().reconcile_saved(risk.positions.clone(), clock, reconcile_ports);

    // The words of 500 signals take longer than the decisions made from them: they wait
    // until the risk book has passed the epoch.
    let strategy = Arc::clone(&params.strategy);
    let signals = signals.map_after(&risk.pnl, "ExplainSignals", move |s| strategy.explain(s));
    let strategy = Arc::clone(&params.strategy);
    let audit = risk.audit.map(move |mut a| {
        strategy.explain_audit(&mut a);
        a
    });

    TradingOutputs {
        bars_1s,
        bars_1m,
        indicators,
        sentiment,
        signals,
        orders: risk.orders,
        fills,
        expiries,
        positions: risk.positions,
        pnl: risk.pnl,
        risk_events: match reviews {
            Some(reviews) => risk.events.concat(breaks).concat(reviews),
            None => risk.events.concat(breaks),
        },
        audit,
        var,
    }
}
