//! The risk book: one account's cash, positions and P&L, and the pre-trade checks.
//! A pure state machine; the operator in `risk/mod.rs` feeds it in a fixed order.

use serde::{Deserialize, Serialize};

use crate::event::{
    Command, Control, Fill, Order, OrderKind, Pnl, Position, RiskEvent, RiskEventKind, Side, Signal, Symbol, Ts,
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
}

impl RiskBook {
    pub fn new(params: RiskParams) -> Self {
        RiskBook { cash: params.initial_cash, params, fees: 0.0, realized: 0.0, holdings: Vec::new(), halted: false }
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
            self.holding(s).mark = price;
        }
    }

    /// Books a fill: cash, average price, realized P&L; returns the new position.
    pub fn apply_fill(&mut self, fill: &Fill) -> Position {
        let q = fill.side.sign() * fill.qty;
        self.cash -= q * fill.price + fill.fee;
        self.fees += fill.fee;
        let h = self.holding(fill.symbol);
        h.pending -= q;
        if h.pending.abs() < 1e-9 {
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
        let equity = self.equity();
        let p = &self.params;
        let (entry, exit, size_pct, max_pct, min_qty) =
            (p.entry_threshold, p.exit_threshold, p.position_pct, p.max_position_pct, p.min_order_qty);
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
        let limit = max_pct * equity;
        let notional = target.abs() * sig.price;
        if !reducing && notional > limit {
            let detail = format!(
                "position {target:+} x {:.4} = {notional:.2} would exceed max_position_pct {max_pct} x equity {equity:.2} = {limit:.2}",
                sig.price
            );
            out.push(self.event(sig.ts, RiskEventKind::Rejected, "max_position", Some(sig.symbol), detail));
            return;
        }
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
