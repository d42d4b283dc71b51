//! The event model: every record that flows through the trading graph.
//!
//! All `ts` fields are event times in nanoseconds since the Unix epoch, set by the source
//! (the exchange or the news wire), never by the clock of the machine that processes them.
//! Symbols are interned to [`Symbol`] on the hot path; strings appear only at the edges.

use serde::{Deserialize, Serialize};

/// Event time: nanoseconds since the Unix epoch.
pub type Ts = i64;

/// Nanoseconds in one second, the unit every duration in the model is built from.
pub const SECOND: i64 = 1_000_000_000;
/// Nanoseconds in one minute.
pub const MINUTE: i64 = 60 * SECOND;

/// An interned instrument symbol: an index into the job's [`crate::SymbolTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Symbol(pub u32);

impl Symbol {
    /// The value used to route records of this symbol to a worker.
    #[inline]
    pub fn route(self) -> u64 {
        // A multiplicative hash spreads consecutive ids over workers evenly for any count.
        u64::from(self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
    }
}

/// A trade print, optionally with the quote in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: Symbol,
    pub ts: Ts,
    pub price: f64,
    pub size: f64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
}

/// An OHLCV bar over the half-open event-time window `[start, end)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub symbol: Symbol,
    pub start: Ts,
    pub end: Ts,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Volume-weighted average price; the close when the window traded no volume.
    pub vwap: f64,
    pub trades: u64,
}

/// A news article, possibly naming several symbols.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct News {
    pub id: String,
    pub ts: Ts,
    pub source: String,
    pub headline: String,
    pub body: String,
    pub symbols: Vec<Symbol>,
}

/// The sentiment of one article towards one symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub news_id: String,
    pub symbol: Symbol,
    pub ts: Ts,
    /// From -1 (very negative) to 1 (very positive).
    pub score: f64,
    /// From 0 to 1.
    pub confidence: f64,
    pub model: String,
    /// Wall-clock scoring time in nanoseconds (a measurement, not event time).
    pub latency_ns: i64,
    pub cost_usd: f64,
}

/// Indicator values of one symbol at one bar close; names live in the graph's indicator set.
/// A value is NaN until the indicator's lookback is met.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndicatorSet {
    pub symbol: Symbol,
    pub ts: Ts,
    /// The bar close the values were computed from.
    pub close: f64,
    pub values: IndicatorValues,
}

/// An indicator set's values, held inline up to 16 columns (the demo's set has 12): every
/// symbol's set is made, handed to the strategy and copied for each sink at a minute's close,
/// and a heap allocation for each would cost more than the indicators themselves.
pub type IndicatorValues = smallvec::SmallVec<[f64; 16]>;

/// A strategy's view on one symbol at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub symbol: Symbol,
    pub ts: Ts,
    /// From -1 (full short) to 1 (full long).
    pub strength: f64,
    /// From 0 to 1.
    pub confidence: f64,
    /// The price the decision was made at (the bar close).
    pub price: f64,
    /// The annualized volatility forecast for the symbol (NaN when none is configured or known
    /// yet), for volatility-targeted sizing.
    pub volatility: f64,
    /// What moved the signal, in words a risk manager can read. While `basis` is still held
    /// this is only what was added on the way (the strategist's verdict); the rule's own words
    /// come first once explained.
    pub reasons: String,
    /// The indicator and sentiment values behind it, `name=value` separated by spaces (empty
    /// until explained).
    pub inputs: String,
    /// The numbers the words are rendered from, until `Strategy::explain` renders them: words
    /// cost more than the rule itself, so they are written where records leave the graph,
    /// after the risk book has decided.
    #[serde(default)]
    pub basis: Option<Basis>,
}

/// The numbers behind a signal: the values its strategy read and what its rule made of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Basis {
    /// The strategy's input columns' values, in the strategy's order; the rest is unused.
    pub values: [f64; Basis::CAPACITY],
    /// The symbol's decayed news sentiment, for rules that read it.
    pub sentiment: Option<f64>,
    /// The rule's parts (the ensemble's trend, technical and pattern components; the crossover's
    /// fast and slow averages; the z-score), `None` where unknown.
    pub parts: [Option<f64>; 3],
}

impl Basis {
    /// The most input columns a strategy reads (the ensemble reads nine at most).
    pub const CAPACITY: usize = 12;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    Market,
    Limit,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Market => "market",
            OrderKind::Limit => "limit",
        }
    }
}

/// An order that passed the risk checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Deterministic: the same input gives the same ids, so a broker can reject replays.
    pub id: String,
    pub account: String,
    pub symbol: Symbol,
    pub ts: Ts,
    pub side: Side,
    /// Always positive; the side gives the direction.
    pub qty: f64,
    pub kind: OrderKind,
    pub limit_price: Option<f64>,
    /// A limit order still unfilled at this event time expires (the broker reports an [`Expiry`]).
    pub expires: Option<Ts>,
    /// The price the decision was made at.
    pub decision_price: f64,
    pub reason: String,
}

/// The unfilled rest of an order that expired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expiry {
    pub order_id: String,
    pub account: String,
    pub symbol: Symbol,
    /// The order's expiry time.
    pub ts: Ts,
    pub side: Side,
    /// What was left unfilled.
    pub qty: f64,
}

/// Why an order was sent: the signal, the values behind it, the sizing and every check passed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub order_id: String,
    pub account: String,
    pub symbol: Symbol,
    pub ts: Ts,
    /// The signal's strength and confidence (NaN for orders no signal made: exits, flattening).
    pub strength: f64,
    pub confidence: f64,
    /// The signal's reasons, or the rule that closed the position.
    pub reasons: String,
    /// The indicator and sentiment values behind the signal.
    pub inputs: String,
    /// The signal's numbers while its words are not yet rendered (see [`Signal::basis`]);
    /// boxed, as most decisions carry none.
    #[serde(default)]
    pub basis: Option<Box<Basis>>,
    /// How the size was reached.
    pub sizing: String,
    /// Every pre-trade check with its value and limit, or why checks did not apply.
    pub checks: String,
}

/// An execution of (part of) an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub order_id: String,
    pub account: String,
    pub symbol: Symbol,
    pub ts: Ts,
    pub side: Side,
    pub qty: f64,
    pub price: f64,
    pub fee: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RiskEventKind {
    /// An order was refused by a pre-trade check.
    Rejected,
    /// Trading was halted (kill switch).
    Halted,
    /// Trading resumed after a halt.
    Resumed,
    /// Positions are being closed.
    Flatten,
    /// New entries are suspended (daily or weekly loss) until the period ends.
    Suspended,
    /// A symbol's market data went stale (no tick for too long).
    Stale,
    /// A tier of a position reached its take-profit or stop-loss level.
    Exit,
    /// The book's positions and the broker's fills disagree.
    Reconciliation,
    /// A limit was changed by a control command (or the change was refused).
    Limit,
    /// A signal was escalated to the strategist model (its verdict, or why there was none).
    Strategist,
}

impl RiskEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskEventKind::Rejected => "rejected",
            RiskEventKind::Halted => "halted",
            RiskEventKind::Resumed => "resumed",
            RiskEventKind::Flatten => "flatten",
            RiskEventKind::Suspended => "suspended",
            RiskEventKind::Stale => "stale",
            RiskEventKind::Exit => "exit",
            RiskEventKind::Reconciliation => "reconciliation",
            RiskEventKind::Limit => "limit",
            RiskEventKind::Strategist => "strategist",
        }
    }
}

/// A rejection, a limit hit, a halt or a kill switch, with the rule and numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskEvent {
    pub ts: Ts,
    pub account: String,
    pub kind: RiskEventKind,
    /// The rule that fired, e.g. `max_position` or `kill_switch`.
    pub rule: String,
    pub symbol: Option<Symbol>,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Stop sending new orders.
    Halt,
    /// Close every position, then stay halted.
    Flatten,
    /// Accept new orders again.
    Resume,
    /// Change one of the risk book's limits (a `[risk]` key, e.g. `max_position_pct`) from now
    /// on: `{"set_limit": {"limit": "max_position_pct", "value": 0.02}}`.
    #[serde(rename = "set_limit")]
    SetLimit { limit: String, value: f64 },
}

/// An operator's instruction to the risk book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub ts: Ts,
    pub command: Command,
}

/// The position of one account in one symbol after a fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub account: String,
    pub symbol: Symbol,
    pub ts: Ts,
    pub qty: f64,
    pub avg_price: f64,
    pub realized_pnl: f64,
}

/// Monte-Carlo value at risk of an account's positions over a horizon, as positive losses in
/// the account's currency, at 95% and 99%, with the expected shortfall beyond each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioVar {
    pub account: String,
    pub ts: Ts,
    /// Positions held and their gross market value.
    pub positions: u32,
    pub gross: f64,
    pub var95: f64,
    pub cvar95: f64,
    pub var99: f64,
    pub cvar99: f64,
    /// Simulated paths, bar returns in the covariance, and the horizon in bars.
    pub paths: u32,
    pub observations: u32,
    pub horizon_bars: u32,
}

/// An account's profit and loss at one instant, positions marked at the last bar close.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pnl {
    pub account: String,
    pub ts: Ts,
    pub cash: f64,
    pub equity: f64,
    pub realized: f64,
    pub unrealized: f64,
    pub fees: f64,
    pub gross_exposure: f64,
    /// The highest equity so far, and the fall from it (a fraction, 0 at the peak).
    pub peak_equity: f64,
    pub drawdown: f64,
    /// Equity now minus at the start of the UTC day and of the week (Monday 00:00 UTC).
    pub day_pnl: f64,
    pub week_pnl: f64,
}

/// A record that could not be accepted, kept with the reason instead of being dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The record's event time when it could be read, else the source's watermark.
    pub ts: Ts,
    /// Where it came from: `file.csv:17`, `simulator`, `topic/partition@offset`.
    pub origin: String,
    pub reason: String,
    /// The raw input, as received (truncated to a few KiB).
    pub raw: String,
}

/// Records that carry an event time.
pub trait EventTime {
    fn event_ts(&self) -> Ts;
}

macro_rules! event_time_field {
    ($($t:ty),*) => { $(impl EventTime for $t { #[inline] fn event_ts(&self) -> Ts { self.ts } })* };
}
event_time_field!(
    Tick,
    News,
    Sentiment,
    IndicatorSet,
    Signal,
    Order,
    Fill,
    RiskEvent,
    Control,
    Position,
    Pnl,
    DeadLetter,
    Expiry,
    Audit
);

impl EventTime for Bar {
    /// A bar is known when its window closes.
    #[inline]
    fn event_ts(&self) -> Ts {
        self.end
    }
}

/// Records that belong to one symbol.
pub trait Keyed {
    fn symbol(&self) -> Symbol;
}

macro_rules! keyed_field {
    ($($t:ty),*) => { $(impl Keyed for $t { #[inline] fn symbol(&self) -> Symbol { self.symbol } })* };
}
keyed_field!(Tick, Bar, Sentiment, IndicatorSet, Signal, Order, Fill, Position, Expiry, Audit);

/// A stable routing hash of a string key (FNV-1a): the same in every process and version.
#[inline]
pub fn route_str(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Cuts `text` to at most `max` bytes on a character boundary (for raw input kept in dead letters).
pub fn truncate_utf8(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// The latest event time a source accepts (2200-01-01): far enough for any real clock, and far
/// enough from `i64::MAX` that window ends and latencies added to it cannot overflow.
pub const MAX_EVENT_TS: Ts = 7_258_118_400 * SECOND;
