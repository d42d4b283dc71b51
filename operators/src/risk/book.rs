//! The risk book: one account's cash, positions and P&L, and the pre-trade checks.
//! A pure state machine; the operator in `risk/mod.rs` feeds it in a fixed order.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::event::{
    Command, Control, Fill, MINUTE, Order, OrderKind, Pnl, Position, RiskEvent, RiskEventKind, SECOND, Side, Signal,
    Symbol, Ts,
};
use crate::symbols::SymbolTable;

/// Risk and sizing parameters, as written in the job config's `[risk]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskParams {
    pub account: String,
    pub initial_cash: f64,
    /// Position size, as a fraction of equity, at full signal strength.
    pub position_pct: f64,
    /// The largest position allowed in one symbol, as a fraction of equity.
    pub max_position_pct: f64,
    /// |strength| at or above which a position is opened or resized.
    pub entry_threshold: f64,
    /// |strength| below which a position is closed.
    pub exit_threshold: f64,
    /// Orders smaller than this many units are not sent.
    pub min_order_qty: f64,
    /// Gross exposure (sum of |position| x price) may not exceed this fraction of equity.
    pub max_gross_exposure_pct: f64,
    /// No single order may trade more than this notional.
    pub max_order_notional: f64,
    /// Fat-finger band: a decision price this far (fraction) from the previous mark is refused.
    pub price_band_pct: f64,
    /// Orders per symbol per minute of event time.
    pub max_orders_per_minute_symbol: usize,
    /// Orders per account per minute of event time.
    pub max_orders_per_minute_account: usize,
    /// A loss of this fraction of the day's opening equity suspends new entries until the next
    /// UTC day.
    pub daily_loss_pct: f64,
    /// A loss of this fraction of the week's opening equity suspends new entries until the next
    /// week (weeks start on Monday, 00:00 UTC).
    pub weekly_loss_pct: f64,
    /// A fall of this fraction from peak equity halts trading and flattens every position.
    pub max_drawdown_pct: f64,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams {
            account: "paper".into(),
            initial_cash: 1_000_000.0,
            position_pct: 0.04,
            max_position_pct: 0.05,
            entry_threshold: 0.3,
            exit_threshold: 0.1,
            min_order_qty: 1.0,
            max_gross_exposure_pct: 0.20,
            max_order_notional: 100_000.0,
            price_band_pct: 0.10,
            max_orders_per_minute_symbol: 4,
            max_orders_per_minute_account: 120,
            daily_loss_pct: 0.03,
            weekly_loss_pct: 0.06,
            max_drawdown_pct: 0.10,
        }
    }
}

impl RiskParams {
    pub fn validate(&self) -> Result<(), String> {
        let frac = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("risk.{key} must be between 0 and 1, got {v}")) }
        };
        if self.account.is_empty() {
            return Err("risk.account must not be empty".into());
        }
        if !(self.initial_cash.is_finite() && self.initial_cash > 0.0) {
            return Err(format!("risk.initial_cash must be positive, got {}", self.initial_cash));
        }
        frac("position_pct", self.position_pct)?;
        frac("max_position_pct", self.max_position_pct)?;
        frac("entry_threshold", self.entry_threshold)?;
        frac("exit_threshold", self.exit_threshold)?;
        if self.exit_threshold > self.entry_threshold {
            return Err(format!(
                "risk.exit_threshold ({}) must not exceed risk.entry_threshold ({})",
                self.exit_threshold, self.entry_threshold
            ));
        }
        if !(self.min_order_qty.is_finite() && self.min_order_qty > 0.0) {
            return Err(format!("risk.min_order_qty must be positive, got {}", self.min_order_qty));
        }
        if !(0.0..=10.0).contains(&self.max_gross_exposure_pct) {
            return Err(format!(
                "risk.max_gross_exposure_pct must be between 0 and 10, got {}",
                self.max_gross_exposure_pct
            ));
        }
        if !(self.max_order_notional.is_finite() && self.max_order_notional > 0.0) {
            return Err(format!("risk.max_order_notional must be positive, got {}", self.max_order_notional));
        }
        frac("price_band_pct", self.price_band_pct)?;
        frac("daily_loss_pct", self.daily_loss_pct)?;
        frac("weekly_loss_pct", self.weekly_loss_pct)?;
        frac("max_drawdown_pct", self.max_drawdown_pct)?;
        if self.max_orders_per_minute_symbol == 0 || self.max_orders_per_minute_account == 0 {
            return Err(
                "risk.max_orders_per_minute_symbol and risk.max_orders_per_minute_account must be at least 1".into()
            );
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
struct Holding {
    qty: f64,
    avg_price: f64,
    realized: f64,
    /// Ordered but not yet filled, signed.
    pending: f64,
    mark: f64,
    /// The mark before the latest one (the fat-finger reference).
    prev_mark: f64,
    /// Event times of this symbol's orders in the last minute.
    recent_orders: VecDeque<Ts>,
}

/// What the book decided; the operator sends each to its stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Order(Order),
    Event(RiskEvent),
    Position(Position),
}

/// One account's book.
#[derive(Clone, Debug)]
pub struct RiskBook {
    params: RiskParams,
    cash: f64,
    fees: f64,
    realized: f64,
    holdings: Vec<Holding>,
    halted: bool,
    peak_equity: f64,
    /// The UTC day and its opening equity, for the daily loss limit.
    day: Option<(i64, f64)>,
    /// The week (Monday-based) and its opening equity, for the weekly loss limit.
    week: Option<(i64, f64)>,
    recent_orders: VecDeque<Ts>,
}

impl RiskBook {
    pub fn new(params: RiskParams) -> Self {
        RiskBook {
            cash: params.initial_cash,
            peak_equity: params.initial_cash,
            params,
            fees: 0.0,
            realized: 0.0,
            holdings: Vec::new(),
            halted: false,
            day: None,
            week: None,
            recent_orders: VecDeque::new(),
        }
    }

    fn holding(&mut self, s: Symbol) -> &mut Holding {
        let i = s.0 as usize;
        if self.holdings.len() <= i {
            self.holdings.resize_with(i + 1, Holding::default);
        }
        &mut self.holdings[i]
    }

    pub fn position(&self, s: Symbol) -> f64 {
        self.holdings.get(s.0 as usize).map_or(0.0, |h| h.qty)
    }

    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Cash plus every position at its mark.
    pub fn equity(&self) -> f64 {
        self.cash + self.holdings.iter().map(|h| h.qty * h.mark).sum::<f64>()
    }

    pub fn mark(&mut self, s: Symbol, price: f64) {
        if price.is_finite() && price > 0.0 {
            let h = self.holding(s);
            // A signal re-marks at the bar close its mark already brought: keep the reference.
            if price != h.mark {
                h.prev_mark = if h.mark > 0.0 { h.mark } else { price };
                h.mark = price;
            }
        }
    }

    /// Gross exposure of everything held or ordered, at the latest marks, leaving out `skip`.
    fn gross_exposure_without(&self, skip: Symbol) -> f64 {
        self.holdings
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip.0 as usize)
            .map(|(_, h)| ((h.qty + h.pending) * h.mark).abs())
            .sum()
    }

    /// The first pre-trade rule an entry (an order that does not only reduce) would break.
    fn entry_violation(&self, sig: &Signal, target: f64, delta: f64, equity: f64) -> Option<(&'static str, String)> {
        let p = &self.params;
        let periods = [
            (self.day, "daily_loss", "daily_loss_pct", p.daily_loss_pct),
            (self.week, "weekly_loss", "weekly_loss_pct", p.weekly_loss_pct),
        ];
        for (period, rule, key, limit) in periods {
            if let Some((_, open)) = period {
                let loss = open - equity;
                if loss >= limit * open {
                    let detail = format!("{rule}: loss {loss:.2} reached {key} {limit} x opening equity {open:.2}");
                    return Some((rule, detail));
                }
            }
        }
        let notional = target.abs() * sig.price;
        let limit = p.max_position_pct * equity;
        if notional > limit {
            let detail = format!(
                "position {target:+} x {:.4} = {notional:.2} would exceed max_position_pct {} x equity {equity:.2} = {limit:.2}",
                sig.price, p.max_position_pct
            );
            return Some(("max_position", detail));
        }
        let gross = self.gross_exposure_without(sig.symbol) + notional;
        let limit = p.max_gross_exposure_pct * equity;
        if gross > limit {
            let detail = format!(
                "gross exposure {gross:.2} would exceed max_gross_exposure_pct {} x equity {equity:.2} = {limit:.2}",
                p.max_gross_exposure_pct
            );
            return Some(("max_gross_exposure", detail));
        }
        let order_notional = delta.abs() * sig.price;
        if order_notional > p.max_order_notional {
            let detail =
                format!("order notional {order_notional:.2} exceeds max_order_notional {:.2}", p.max_order_notional);
            return Some(("max_order_notional", detail));
        }
        None
    }

    /// The first rule any order would break: the fat-finger band and the order rates.
    fn order_violation(&mut self, sig: &Signal) -> Option<(&'static str, String)> {
        let (band, per_symbol, per_account) = (
            self.params.price_band_pct,
            self.params.max_orders_per_minute_symbol,
            self.params.max_orders_per_minute_account,
        );
        let since = sig.ts - MINUTE;
        while self.recent_orders.front().is_some_and(|t| *t <= since) {
            self.recent_orders.pop_front();
        }
        let account_orders = self.recent_orders.len();
        let h = self.holding(sig.symbol);
        while h.recent_orders.front().is_some_and(|t| *t <= since) {
            h.recent_orders.pop_front();
        }
        let moved = (sig.price / h.prev_mark - 1.0).abs();
        if h.prev_mark > 0.0 && moved > band {
            let detail = format!(
                "price {:.4} is {:.2}% from the previous mark {:.4} (price_band_pct {band})",
                sig.price,
                moved * 100.0,
                h.prev_mark
            );
            return Some(("price_band", detail));
        }
        if h.recent_orders.len() >= per_symbol {
            return Some((
                "order_rate_symbol",
                format!(
                    "{} orders in the last minute (max_orders_per_minute_symbol {per_symbol})",
                    h.recent_orders.len()
                ),
            ));
        }
        if account_orders >= per_account {
            return Some((
                "order_rate_account",
                format!("{account_orders} orders in the last minute (max_orders_per_minute_account {per_account})"),
            ));
        }
        None
    }

    /// Tracks the day's opening equity and the peak; past the drawdown limit, halts and flattens.
    fn watch_equity(&mut self, ts: Ts, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        let equity = self.equity();
        let day = ts.div_euclid(86_400 * SECOND);
        if self.day.is_none_or(|(d, _)| d != day) {
            self.day = Some((day, equity));
        }
        // 1970-01-01 was a Thursday: shift by three days so that weeks start on Monday.
        let week = (day + 3).div_euclid(7);
        if self.week.is_none_or(|(w, _)| w != week) {
            self.week = Some((week, equity));
        }
        self.peak_equity = self.peak_equity.max(equity);
        let drawdown = 1.0 - equity / self.peak_equity;
        if !self.halted && drawdown >= self.params.max_drawdown_pct {
            let detail = format!(
                "equity {equity:.2} is {:.2}% below its peak {:.2} (max_drawdown_pct {}): halt and flatten",
                drawdown * 100.0,
                self.peak_equity,
                self.params.max_drawdown_pct
            );
            out.push(self.event(ts, RiskEventKind::Halted, "max_drawdown", None, detail));
            self.on_control(&Control { ts, command: Command::Flatten }, symbols, out);
        }
    }

    /// Books a fill: cash, average price, realized P&L; returns the new position.
    pub fn apply_fill(&mut self, fill: &Fill) -> Position {
        let q = fill.side.sign() * fill.qty;
        self.cash -= q * fill.price + fill.fee;
        self.fees += fill.fee;
        let h = self.holding(fill.symbol);
        // A fill settles what was ordered; one we did not order (a manual trade) settles nothing.
        let before = h.pending;
        h.pending -= q;
        if h.pending.abs() < 1e-9 || before == 0.0 || before.signum() != h.pending.signum() {
            h.pending = 0.0;
        }
        let mut realized = 0.0;
        if h.qty == 0.0 || h.qty.signum() == q.signum() {
            h.avg_price = (h.avg_price * h.qty.abs() + fill.price * q.abs()) / (h.qty.abs() + q.abs());
            h.qty += q;
        } else {
            let closing = q.abs().min(h.qty.abs());
            realized = closing * (fill.price - h.avg_price) * h.qty.signum();
            let before = h.qty;
            h.qty += q;
            if h.qty.abs() < 1e-9 {
                h.qty = 0.0;
                h.avg_price = 0.0;
            } else if h.qty.signum() != before.signum() {
                h.avg_price = fill.price;
            }
        }
        h.realized += realized;
        if h.mark == 0.0 {
            h.mark = fill.price;
        }
        let (qty, avg_price, realized_pnl) = (h.qty, h.avg_price, h.realized);
        self.realized += realized;
        Position {
            account: self.params.account.clone(),
            symbol: fill.symbol,
            ts: fill.ts,
            qty,
            avg_price,
            realized_pnl,
        }
    }

    pub fn pnl(&self, ts: Ts) -> Pnl {
        let unrealized = self.holdings.iter().map(|h| h.qty * (h.mark - h.avg_price)).sum();
        let gross_exposure = self.holdings.iter().map(|h| (h.qty * h.mark).abs()).sum();
        Pnl {
            account: self.params.account.clone(),
            ts,
            cash: self.cash,
            equity: self.equity(),
            realized: self.realized,
            unrealized,
            fees: self.fees,
            gross_exposure,
        }
    }

    fn event(&self, ts: Ts, kind: RiskEventKind, rule: &str, symbol: Option<Symbol>, detail: String) -> Decision {
        Decision::Event(RiskEvent { ts, account: self.params.account.clone(), kind, rule: rule.into(), symbol, detail })
    }

    fn order(&mut self, symbols: &SymbolTable, s: Symbol, ts: Ts, qty: f64, price: f64, reason: String) -> Decision {
        self.holding(s).pending += qty;
        let side = if qty > 0.0 { Side::Buy } else { Side::Sell };
        Decision::Order(Order {
            id: format!("{}-{}-{}", self.params.account, symbols.name(s), ts),
            account: self.params.account.clone(),
            symbol: s,
            ts,
            side,
            qty: qty.abs(),
            kind: OrderKind::Market,
            limit_price: None,
            decision_price: price,
            reason,
        })
    }

    /// Turns a signal into at most one order, after the checks.
    pub fn on_signal(&mut self, sig: &Signal, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        if !(sig.price.is_finite() && sig.price > 0.0) {
            return;
        }
        self.mark(sig.symbol, sig.price);
        self.watch_equity(sig.ts, symbols, out);
        let equity = self.equity();
        let p = &self.params;
        let (entry, exit, size_pct, min_qty) = (p.entry_threshold, p.exit_threshold, p.position_pct, p.min_order_qty);
        let h = self.holding(sig.symbol);
        let current = h.qty + h.pending;
        let target = if sig.strength.abs() >= entry {
            sig.strength.signum() * (sig.strength.abs() * size_pct * equity.max(0.0) / sig.price).floor()
        } else if sig.strength.abs() < exit {
            0.0
        } else {
            current
        };
        let delta = target - current;
        if delta.abs() < min_qty {
            return;
        }
        let reducing = target.abs() < current.abs() && target.signum() * current.signum() >= 0.0;
        if self.halted {
            let detail = format!("kill switch engaged: refused {delta:+} at {}", sig.price);
            out.push(self.event(sig.ts, RiskEventKind::Rejected, "kill_switch", Some(sig.symbol), detail));
            return;
        }
        let violation = if reducing { None } else { self.entry_violation(sig, target, delta, equity) };
        if let Some((rule, detail)) = violation.or_else(|| self.order_violation(sig)) {
            out.push(self.event(sig.ts, RiskEventKind::Rejected, rule, Some(sig.symbol), detail));
            return;
        }
        self.recent_orders.push_back(sig.ts);
        self.holding(sig.symbol).recent_orders.push_back(sig.ts);
        let reason = format!("signal {:+.3} ({}); target {target:+}", sig.strength, sig.reasons);
        let order = self.order(symbols, sig.symbol, sig.ts, delta, sig.price, reason);
        out.push(order);
    }

    /// Applies a kill-switch command.
    pub fn on_control(&mut self, c: &Control, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        match c.command {
            Command::Halt => {
                self.halted = true;
                out.push(self.event(c.ts, RiskEventKind::Halted, "kill_switch", None, "halt: no new orders".into()));
            }
            Command::Resume => {
                self.halted = false;
                out.push(self.event(
                    c.ts,
                    RiskEventKind::Resumed,
                    "kill_switch",
                    None,
                    "resume: orders accepted".into(),
                ));
            }
            Command::Flatten => {
                self.halted = true;
                out.push(self.event(
                    c.ts,
                    RiskEventKind::Flatten,
                    "kill_switch",
                    None,
                    "flatten: closing all positions, then halt".into(),
                ));
                for i in 0..self.holdings.len() {
                    let h = &self.holdings[i];
                    let open = h.qty + h.pending;
                    if open != 0.0 {
                        let mark = h.mark;
                        let order =
                            self.order(symbols, Symbol(i as u32), c.ts, -open, mark, "flatten (kill switch)".into());
                        out.push(order);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(side: Side, qty: f64, price: f64) -> Fill {
        Fill { order_id: "o".into(), account: "a".into(), symbol: Symbol(0), ts: 1, side, qty, price, fee: 1.0 }
    }

    fn signal(strength: f64, price: f64) -> Signal {
        Signal { symbol: Symbol(0), ts: 10, strength, confidence: 1.0, price, reasons: String::new() }
    }

    #[test]
    fn accounting_matches_cash_flow_plus_marks() {
        let mut book = RiskBook::new(RiskParams { initial_cash: 10_000.0, ..RiskParams::default() });
        book.apply_fill(&fill(Side::Buy, 10.0, 100.0));
        book.apply_fill(&fill(Side::Buy, 10.0, 110.0));
        let p = book.apply_fill(&fill(Side::Sell, 15.0, 120.0));
        assert_eq!((p.qty, p.avg_price, p.realized_pnl), (5.0, 105.0, 15.0 * 15.0));
        let p = book.apply_fill(&fill(Side::Sell, 10.0, 100.0));
        assert_eq!((p.qty, p.avg_price), (-5.0, 100.0));
        book.mark(Symbol(0), 90.0);
        let pnl = book.pnl(2);
        let cash = 10_000.0 - 1000.0 - 1100.0 + 1800.0 + 1000.0 - 4.0;
        assert_eq!(pnl.cash, cash);
        assert_eq!(pnl.equity, cash - 5.0 * 90.0);
        assert!((pnl.equity - (10_000.0 + pnl.realized + pnl.unrealized - pnl.fees)).abs() < 1e-9);
    }

    #[test]
    fn max_position_rejects_with_the_numbers() {
        let params = RiskParams { position_pct: 0.10, max_position_pct: 0.05, ..RiskParams::default() };
        let mut book = RiskBook::new(params);
        let mut out = Vec::new();
        book.on_signal(&signal(0.9, 100.0), &SymbolTable::new(["X"]), &mut out);
        let [Decision::Event(e)] = &out[..] else { panic!("{out:?}") };
        assert_eq!((e.kind, e.rule.as_str()), (RiskEventKind::Rejected, "max_position"));
        assert!(e.detail.contains("50000.00"), "{}", e.detail);
    }

    fn signal_for(symbol: u32, ts: Ts, strength: f64, price: f64) -> Signal {
        Signal { symbol: Symbol(symbol), ts, strength, confidence: 1.0, price, reasons: String::new() }
    }

    fn fill_at(symbol: u32, qty: f64, price: f64) -> Fill {
        Fill {
            order_id: "o".into(),
            account: "a".into(),
            symbol: Symbol(symbol),
            ts: 0,
            side: Side::Buy,
            qty,
            price,
            fee: 0.0,
        }
    }

    fn rejection(out: &[Decision]) -> Option<(&str, &str)> {
        out.iter().find_map(|d| match d {
            Decision::Event(e) if e.kind == RiskEventKind::Rejected => Some((e.rule.as_str(), e.detail.as_str())),
            _ => None,
        })
    }

    #[test]
    fn gross_exposure_order_notional_and_price_band_refuse_with_numbers() {
        let symbols = SymbolTable::new(["X", "Y"]);
        let params = RiskParams { position_pct: 0.05, max_gross_exposure_pct: 0.08, ..RiskParams::default() };
        let mut book = RiskBook::new(params);
        book.mark(Symbol(0), 100.0);
        book.apply_fill(&fill_at(0, 500.0, 100.0));
        let mut out = Vec::new();
        book.on_signal(&signal_for(1, 10, 1.0, 100.0), &symbols, &mut out);
        let (rule, detail) = rejection(&out).unwrap();
        assert_eq!(rule, "max_gross_exposure");
        assert!(detail.contains("100000.00") && detail.contains("80000.00"), "{detail}");

        let mut book = RiskBook::new(RiskParams { max_order_notional: 10_000.0, ..RiskParams::default() });
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, 10, 1.0, 100.0), &symbols, &mut out);
        assert_eq!(rejection(&out).unwrap().0, "max_order_notional");

        let mut book = RiskBook::new(RiskParams::default());
        book.mark(Symbol(0), 100.0);
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, 10, 1.0, 120.0), &symbols, &mut out);
        let (rule, detail) = rejection(&out).unwrap();
        assert_eq!(rule, "price_band");
        assert!(detail.contains("20.00%"), "{detail}");
    }

    #[test]
    fn order_rate_is_limited_per_symbol_per_minute() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams { max_orders_per_minute_symbol: 1, ..RiskParams::default() });
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, SECOND, 1.0, 100.0), &symbols, &mut out);
        book.on_signal(&signal_for(0, 2 * SECOND, -1.0, 100.0), &symbols, &mut out);
        assert!(matches!(&out[0], Decision::Order(_)));
        assert_eq!(rejection(&out).unwrap().0, "order_rate_symbol");
        out.clear();
        book.on_signal(&signal_for(0, 62 * SECOND, -1.0, 100.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Order(_)]), "a minute later it may trade again: {out:?}");
    }

    #[test]
    fn daily_loss_suspends_entries_but_not_exits() {
        let symbols = SymbolTable::new(["X", "Y"]);
        let mut book =
            RiskBook::new(RiskParams { max_drawdown_pct: 0.5, price_band_pct: 1.0, ..RiskParams::default() });
        book.mark(Symbol(0), 100.0);
        let mut out = Vec::new();
        book.on_signal(&signal_for(1, 0, 0.0, 50.0), &symbols, &mut out); // opens the day at 1,000,000
        book.apply_fill(&fill_at(0, 4000.0, 100.0));
        book.mark(Symbol(0), 91.0); // 36,000 lost: 3.6% of the day's opening equity
        book.on_signal(&signal_for(1, SECOND, 1.0, 50.0), &symbols, &mut out);
        assert_eq!(rejection(&out).unwrap().0, "daily_loss", "{out:?}");
        out.clear();
        book.on_signal(&signal_for(0, 2 * SECOND, 0.0, 91.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Order(o)] if o.side == Side::Sell), "exits stay allowed: {out:?}");
        // The next UTC day starts afresh.
        out.clear();
        book.on_signal(&signal_for(1, 86_400 * SECOND, 1.0, 50.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Order(_)]), "{out:?}");
    }

    #[test]
    fn weekly_loss_outlasts_the_day_until_monday() {
        let symbols = SymbolTable::new(["X", "Y"]);
        let params = RiskParams {
            daily_loss_pct: 0.5,
            weekly_loss_pct: 0.02,
            max_drawdown_pct: 0.5,
            price_band_pct: 1.0,
            ..RiskParams::default()
        };
        let mut book = RiskBook::new(params);
        let tuesday = 5 * 86_400 * SECOND; // 1970-01-06
        let mut out = Vec::new();
        book.mark(Symbol(0), 100.0);
        book.on_signal(&signal_for(1, tuesday, 0.0, 50.0), &symbols, &mut out); // opens the week
        book.apply_fill(&fill_at(0, 1000.0, 100.0));
        book.mark(Symbol(0), 70.0); // 30,000 lost: 3% of the week's opening equity
        book.on_signal(&signal_for(1, tuesday + 86_400 * SECOND, 1.0, 50.0), &symbols, &mut out);
        let (rule, detail) = rejection(&out).unwrap();
        assert_eq!(rule, "weekly_loss", "{detail}");
        out.clear();
        let monday = tuesday + 6 * 86_400 * SECOND;
        book.on_signal(&signal_for(1, monday, 1.0, 50.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Order(_)]), "a new week: {out:?}");
    }

    #[test]
    fn max_drawdown_halts_and_flattens() {
        let symbols = SymbolTable::new(["X"]);
        let params =
            RiskParams { max_drawdown_pct: 0.10, daily_loss_pct: 1.0, price_band_pct: 1.0, ..RiskParams::default() };
        let mut book = RiskBook::new(params);
        book.mark(Symbol(0), 100.0);
        book.apply_fill(&fill_at(0, 5000.0, 100.0));
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, SECOND, 1.0, 78.0), &symbols, &mut out); // 110,000 lost: 11%
        assert!(
            out.iter().any(
                |d| matches!(d, Decision::Event(e) if e.rule == "max_drawdown" && e.kind == RiskEventKind::Halted)
            ),
            "{out:?}"
        );
        assert!(
            out.iter().any(|d| matches!(d, Decision::Order(o) if o.side == Side::Sell && o.qty == 5000.0)),
            "{out:?}"
        );
        assert!(book.is_halted());
    }

    #[test]
    fn kill_switch_halts_and_flattens() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams::default());
        let mut out = Vec::new();
        book.on_signal(&signal(1.0, 100.0), &symbols, &mut out);
        let [Decision::Order(o)] = &out[..] else { panic!("{out:?}") };
        assert_eq!((o.side, o.qty, o.id.as_str()), (Side::Buy, 400.0, "paper-X-10"));
        out.clear();
        book.on_control(&Control { ts: 11, command: Command::Flatten }, &symbols, &mut out);
        assert!(matches!(&out[1], Decision::Order(o) if o.side == Side::Sell && o.qty == 400.0));
        out.clear();
        book.on_signal(&signal(-1.0, 100.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Event(e)] if e.rule == "kill_switch"));
    }
}
