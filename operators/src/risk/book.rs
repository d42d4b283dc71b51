//! The risk book: one account's cash, positions, tiers and P&L, and the decisions it makes on
//! signals, marks and control. A pure state machine; the operator in `risk/mod.rs` feeds it in
//! a fixed order. The pre-trade checks live in `checks.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::params::RiskParams;
use crate::event::{
    Audit, Command, Control, Expiry, Fill, Order, OrderKind, Pnl, Position, RiskEvent, RiskEventKind, SECOND, Side,
    Signal, Symbol, Ts,
};
use crate::symbols::SymbolTable;

/// The part of an open position that one tier of its entry owns.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct TierState {
    /// Index into `RiskParams::tiers`.
    tier: usize,
    qty: f64,
    done: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Holding {
    pub(super) qty: f64,
    avg_price: f64,
    realized: f64,
    /// Ordered but not yet filled (or expired), signed.
    pub(super) pending: f64,
    pub(super) mark: f64,
    /// The mark before the latest one (the fat-finger reference).
    pub(super) prev_mark: f64,
    /// Event time of the latest trade seen (a 1-second bar's end).
    pub(super) traded_at: Option<Ts>,
    stale: bool,
    /// Event times of this symbol's orders in the last minute.
    pub(super) recent_orders: VecDeque<Ts>,
    tiers: Vec<TierState>,
    /// After a take-profit or stop-loss, no new entry this way (+1 long, -1 short) until the
    /// signal has left it.
    blocked: f64,
}

impl Holding {
    /// Held plus ordered.
    fn open(&self) -> f64 {
        self.qty + self.pending
    }

    /// Holds and orders nothing, at a finite mark: every term it adds to the book's sums
    /// (equity, unrealized P&L, exposures) is `+0.0`. Marks change without the book noting it,
    /// but only to positive finite prices, which keeps a quiet holding quiet.
    fn quiet(&self) -> bool {
        self.qty.to_bits() == 0
            && self.pending.to_bits() == 0
            && self.avg_price.to_bits() == 0
            && (self.mark.to_bits() == 0 || (self.mark.is_finite() && self.mark > 0.0))
    }

    /// Settles `q` (signed) of what was ordered; a fill we did not order (a manual trade)
    /// settles nothing.
    fn settle(&mut self, q: f64) {
        let before = self.pending;
        self.pending -= q;
        if self.pending.abs() < 1e-9 || before == 0.0 || before.signum() != self.pending.signum() {
            self.pending = 0.0;
        }
    }
}

/// What the book decided; the operator sends each to its stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Order(Order),
    Event(RiskEvent),
    Position(Position),
    Audit(Audit),
}

/// One account's book.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RiskBook {
    /// Shared: every candidate order's checks read the limits while they update the book.
    pub(super) params: Arc<RiskParams>,
    cash: f64,
    fees: f64,
    realized: f64,
    pub(super) holdings: Vec<Holding>,
    halted: bool,
    peak_equity: f64,
    /// The UTC day and its opening equity, for the daily loss limit.
    pub(super) day: Option<(i64, f64)>,
    /// The week (Monday-based) and its opening equity, for the weekly loss limit.
    pub(super) week: Option<(i64, f64)>,
    /// The loss rule and period whose suspension was announced.
    pub(super) suspended: Option<(String, i64)>,
    pub(super) recent_orders: VecDeque<Ts>,
    next_stale_scan: Ts,
    /// The symbols holding or ordering anything, ascending: the only ones whose terms in the
    /// equity and exposure sums can be other than zero, so that a signal costs the positions
    /// open rather than every symbol. Derived from `holdings`, so not saved; rebuilt when
    /// unknown (after a restore).
    #[serde(skip)]
    active: Option<Vec<u32>>,
}

/// An order to send and how it came about, for its id and its audit record.
struct Origin<'a> {
    symbol: Symbol,
    ts: Ts,
    /// Signed: positive buys.
    qty: f64,
    price: f64,
    /// An entry follows `entry_order`; everything else is a market order.
    entry: bool,
    tag: &'a str,
    signal: Option<&'a Signal>,
    reason: String,
    sizing: String,
    checks: String,
}

impl RiskBook {
    /// A book at its initial cash, with `params` (owned, or shared with the operator).
    pub fn new(params: impl Into<Arc<RiskParams>>) -> Self {
        let params = params.into();
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
            suspended: None,
            recent_orders: VecDeque::new(),
            next_stale_scan: Ts::MIN,
            active: Some(Vec::new()),
        }
    }

    /// Sums `term` over the holdings in symbol order, leaving out `skip`: the same bits as
    /// summing every holding. A quiet holding's term is `+0.0`, which changes a sum only when
    /// it is `-0.0` (to `+0.0`), so one such addition stands for each run of quiet holdings.
    pub(super) fn sum_holdings(&self, skip: Option<usize>, term: impl Fn(&Holding) -> f64) -> f64 {
        let included = |i: &usize| Some(*i) != skip;
        let Some(active) = &self.active else {
            return self.holdings.iter().enumerate().filter(|(i, _)| included(i)).map(|(_, h)| term(h)).sum();
        };
        let quiet_run = |from: usize, to: usize| (from..to).any(|i| included(&i));
        let mut sum: f64 = std::iter::empty::<f64>().sum();
        let mut next = 0;
        for &i in active {
            let i = i as usize;
            if quiet_run(next, i) {
                sum += 0.0;
            }
            if included(&i) {
                sum += term(&self.holdings[i]);
            }
            next = i + 1;
        }
        if quiet_run(next, self.holdings.len()) {
            sum += 0.0;
        }
        sum
    }

    /// Records whether symbol `s` now holds or orders anything.
    fn note_activity(&mut self, s: Symbol) {
        let holdings = &self.holdings;
        let active = self
            .active
            .get_or_insert_with(|| (0..holdings.len() as u32).filter(|&i| !holdings[i as usize].quiet()).collect());
        let busy = holdings.get(s.0 as usize).is_some_and(|h| !h.quiet());
        match (active.binary_search(&s.0), busy) {
            (Err(at), true) => active.insert(at, s.0),
            (Ok(at), false) => {
                active.remove(at);
            }
            _ => {}
        }
    }

    pub(super) fn holding(&mut self, s: Symbol) -> &mut Holding {
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
        self.cash + self.sum_holdings(None, |h| h.qty * h.mark)
    }

    /// Records the latest price of a symbol.
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

    /// A trade price (a 1-second bar's close): marks the symbol, ends its staleness, and closes
    /// the tiers whose take-profit or stop-loss it reached.
    pub fn on_trade(&mut self, s: Symbol, ts: Ts, price: f64, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        if !(price.is_finite() && price > 0.0) {
            return;
        }
        // Unlike a signal's re-mark, every trade moves the reference: the band compares a
        // decision with the trade before the latest one.
        let h = self.holding(s);
        h.prev_mark = if h.mark > 0.0 { h.mark } else { price };
        h.mark = price;
        let quiet = h.traded_at.map_or(0, |t| ts - t);
        h.traded_at = Some(h.traded_at.map_or(ts, |t| t.max(ts)));
        if std::mem::take(&mut h.stale) {
            let detail = format!("trading again after {:.1} s without a trade", quiet as f64 / SECOND as f64);
            out.push(self.event(ts, RiskEventKind::Resumed, "stale_data", Some(s), detail));
        }
        self.check_exits(s, ts, price, symbols, out);
    }

    /// Starts a new day or week (with its opening equity) when `ts` is in one, and raises the
    /// peak; returns the equity.
    fn roll_periods(&mut self, ts: Ts) -> f64 {
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
        equity
    }

    /// Rolls the periods; past the drawdown limit, halts and flattens.
    fn watch_equity(&mut self, ts: Ts, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        let equity = self.roll_periods(ts);
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
        h.settle(q);
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
        self.note_activity(fill.symbol);
        Position {
            account: self.params.account.clone(),
            symbol: fill.symbol,
            ts: fill.ts,
            qty,
            avg_price,
            realized_pnl,
        }
    }

    /// The unfilled rest of an expired order is no longer pending.
    pub fn apply_expiry(&mut self, e: &Expiry) {
        self.holding(e.symbol).settle(e.side.sign() * e.qty);
        self.note_activity(e.symbol);
    }

    /// The account at `ts`, positions at their latest marks (a new day or week starts here).
    pub fn pnl(&mut self, ts: Ts) -> Pnl {
        let equity = self.roll_periods(ts);
        let unrealized = self.sum_holdings(None, |h| h.qty * (h.mark - h.avg_price));
        let gross_exposure = self.sum_holdings(None, |h| (h.qty * h.mark).abs());
        let peak_equity = self.peak_equity;
        let since = |period: Option<(i64, f64)>| period.map_or(0.0, |(_, open)| equity - open);
        Pnl {
            account: self.params.account.clone(),
            ts,
            cash: self.cash,
            equity,
            realized: self.realized,
            unrealized,
            fees: self.fees,
            gross_exposure,
            peak_equity,
            drawdown: 1.0 - equity / peak_equity,
            day_pnl: since(self.day),
            week_pnl: since(self.week),
        }
    }

    pub(super) fn event(
        &self,
        ts: Ts,
        kind: RiskEventKind,
        rule: &str,
        symbol: Option<Symbol>,
        detail: String,
    ) -> Decision {
        Decision::Event(RiskEvent { ts, account: self.params.account.clone(), kind, rule: rule.into(), symbol, detail })
    }

    /// Sends an order and its audit record.
    fn send(&mut self, origin: Origin, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        let Origin { symbol: s, ts, qty, price, entry, .. } = origin;
        self.holding(s).pending += qty;
        self.note_activity(s);
        let side = if qty > 0.0 { Side::Buy } else { Side::Sell };
        let p = &self.params;
        let (kind, limit_price, expires) = if entry && p.entry_order == OrderKind::Limit {
            let limit = price * (1.0 - side.sign() * p.limit_offset_bps / 10_000.0);
            (OrderKind::Limit, Some(limit), Some(ts + p.limit_ttl()))
        } else {
            (OrderKind::Market, None, None)
        };
        let mut id = format!("{}-{}-{}", p.account, symbols.name(s), ts);
        if !origin.tag.is_empty() {
            id.push('-');
            id.push_str(origin.tag);
        }
        let order = Order {
            id,
            account: p.account.clone(),
            symbol: s,
            ts,
            side,
            qty: qty.abs(),
            kind,
            limit_price,
            expires,
            decision_price: price,
            reason: origin.reason.clone(),
        };
        let audit = Audit {
            order_id: order.id.clone(),
            account: order.account.clone(),
            symbol: s,
            ts,
            strength: origin.signal.map_or(f64::NAN, |g| g.strength),
            confidence: origin.signal.map_or(f64::NAN, |g| g.confidence),
            reasons: origin.signal.map_or(origin.reason, |g| g.reasons.clone()),
            inputs: origin.signal.map_or_else(String::new, |g| g.inputs.clone()),
            basis: origin.signal.and_then(|g| g.basis).map(Box::new),
            sizing: origin.sizing,
            checks: origin.checks,
        };
        out.push(Decision::Order(order));
        out.push(Decision::Audit(audit));
    }

    /// Splits an entry of `total` units over the tiers: whole units, the rest to the last tier.
    fn plan_tiers(&self, total: f64) -> Vec<TierState> {
        let n = self.params.tiers.len();
        let mut left = total;
        self.params
            .tiers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let qty = if i + 1 == n { left } else { (t.share * total).floor().min(left) };
                left -= qty;
                TierState { tier: i, qty, done: qty <= 0.0 }
            })
            .collect()
    }

    /// Turns a signal into at most one order, after the checks. A position is entered in tiers
    /// when |strength| reaches the entry threshold, held while the signal keeps its side (the
    /// tiers' exits manage it), closed when |strength| falls below the exit threshold, and
    /// reversed when the signal turns to the other side.
    pub fn on_signal(&mut self, sig: &Signal, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        if !(sig.price.is_finite() && sig.price > 0.0) {
            return;
        }
        self.mark(sig.symbol, sig.price);
        self.watch_equity(sig.ts, symbols, out);
        let equity = self.equity();
        let (entry, exit, min_qty) =
            (self.params.entry_threshold, self.params.exit_threshold, self.params.min_order_qty);
        let h = self.holding(sig.symbol);
        let open = h.open();
        if open == 0.0 {
            h.tiers.clear();
        }
        let side = if sig.strength.abs() >= entry {
            sig.strength.signum()
        } else if sig.strength.abs() < exit {
            0.0
        } else {
            return;
        };
        if side != h.blocked {
            h.blocked = 0.0;
        } else if side != 0.0 {
            return;
        }
        if side * open > 0.0 {
            return;
        }
        // Sized without words: most candidates at a busy minute are refused, and the words of
        // the size are wanted only for an order sent.
        let target = if side == 0.0 {
            0.0
        } else {
            let fraction = self.params.fraction(sig.strength, sig.confidence, sig.volatility);
            side * (fraction * equity.max(0.0) / sig.price).floor()
        };
        let delta = target - open;
        if delta.abs() < min_qty {
            return;
        }
        let reducing = target.abs() < open.abs() && target * open >= 0.0;
        if self.halted {
            let detail = format!("kill switch engaged: refused {delta:+} at {}", sig.price);
            out.push(self.event(sig.ts, RiskEventKind::Rejected, "kill_switch", Some(sig.symbol), detail));
            return;
        }
        let checks = match self.pre_trade(sig, target, delta, equity, reducing, out) {
            Ok(checks) => checks,
            Err((rule, detail)) => {
                out.push(self.event(sig.ts, RiskEventKind::Rejected, rule, Some(sig.symbol), detail));
                return;
            }
        };
        let sizing = if side == 0.0 {
            "close: |strength| below exit_threshold".to_string()
        } else {
            let (_, how) = self.params.size_fraction(sig.strength, sig.confidence, sig.volatility);
            let units = target.abs();
            format!("{how} of equity {equity:.2} at {:.4} = {units} units", sig.price)
        };
        self.recent_orders.push_back(sig.ts);
        let tiers = if target == 0.0 { Vec::new() } else { self.plan_tiers(target.abs()) };
        let h = self.holding(sig.symbol);
        h.recent_orders.push_back(sig.ts);
        h.tiers = tiers;
        let reason = format!("signal {:+.3}: target {target:+}", sig.strength);
        let origin = Origin {
            symbol: sig.symbol,
            ts: sig.ts,
            qty: delta,
            price: sig.price,
            entry: target != 0.0,
            tag: "",
            signal: Some(sig),
            reason,
            sizing,
            checks,
        };
        self.send(origin, symbols, out);
    }

    /// Closes the tiers whose take-profit or stop-loss `price` reached, with market orders.
    fn check_exits(&mut self, s: Symbol, ts: Ts, price: f64, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        let h = &self.holdings[s.0 as usize];
        if h.tiers.is_empty() || h.qty == 0.0 || h.avg_price <= 0.0 {
            return;
        }
        let side = h.qty.signum();
        let entry = h.avg_price;
        let moved = side * (price / entry - 1.0);
        let mut exits = Vec::new();
        for (i, t) in h.tiers.iter().enumerate().filter(|(_, t)| !t.done) {
            let tier = &self.params.tiers[t.tier];
            let hit = match (tier.take_profit_pct, tier.stop_loss_pct) {
                (Some(tp), _) if moved >= tp => ("take_profit", "tp", tp),
                (_, Some(sl)) if moved <= -sl => ("stop_loss", "sl", sl),
                _ => continue,
            };
            exits.push((i, t.qty, tier.name.clone(), hit));
        }
        for (i, tier_qty, name, (rule, tag, level)) in exits {
            let h = self.holding(s);
            h.tiers[i].done = true;
            h.blocked = side;
            let open = h.open();
            let qty = if open * side > 0.0 { tier_qty.min(open.abs()) } else { 0.0 };
            if qty <= 0.0 {
                continue;
            }
            let detail = format!(
                "tier {name} ({}): {price:.4} against the entry {entry:.4} is {:+.2}% for the position ({rule}_pct {level}): closing {qty}",
                if side > 0.0 { "long" } else { "short" },
                moved * 100.0
            );
            out.push(self.event(ts, RiskEventKind::Exit, rule, Some(s), detail.clone()));
            let origin = Origin {
                symbol: s,
                ts,
                qty: -side * qty,
                price,
                entry: false,
                tag: &format!("{tag}{}", i + 1),
                signal: None,
                reason: detail,
                sizing: format!("the tier's {tier_qty} units, at most the {} still held", open.abs()),
                checks: "exempt: a take-profit or stop-loss only reduces the position".into(),
            };
            self.send(origin, symbols, out);
        }
    }

    /// Marks symbols without a trade for `stale_after_s` as stale (and closes their positions
    /// when `flatten_on_stale`). Scans at most once per second of event time.
    pub fn check_stale(&mut self, now: Ts, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        if now < self.next_stale_scan {
            return;
        }
        self.next_stale_scan = now + SECOND;
        let (limit, flatten) = (self.params.stale_after(), self.params.flatten_on_stale);
        for i in 0..self.holdings.len() {
            let h = &mut self.holdings[i];
            let Some(at) = h.traded_at.filter(|at| !h.stale && now - at > limit) else { continue };
            h.stale = true;
            let (open, mark) = (h.open(), h.mark);
            let s = Symbol(i as u32);
            let quiet = (now - at) as f64 / SECOND as f64;
            let action = if flatten && open != 0.0 { "closing the position" } else { "no new orders" };
            let detail = format!("no trade for {quiet:.1} s (stale_after_s {}): {action}", self.params.stale_after_s);
            out.push(self.event(now, RiskEventKind::Stale, "stale_data", Some(s), detail.clone()));
            if flatten && open != 0.0 {
                self.holding(s).tiers.clear();
                let origin = Origin {
                    symbol: s,
                    ts: now,
                    qty: -open,
                    price: mark,
                    entry: false,
                    tag: "stale",
                    signal: None,
                    reason: detail,
                    sizing: format!("everything held or ordered: {open}"),
                    checks: "exempt: closing a stale position only reduces it".into(),
                };
                self.send(origin, symbols, out);
            }
        }
    }

    /// Applies a kill-switch command.
    pub fn on_control(&mut self, c: &Control, symbols: &SymbolTable, out: &mut Vec<Decision>) {
        match &c.command {
            Command::SetLimit { limit, value } => match self.params.with_limit(limit, *value) {
                Ok(next) => {
                    let detail = format!("{limit}: {} -> {value}", self.params.limit(limit).unwrap_or(f64::NAN));
                    self.params = Arc::new(next);
                    out.push(self.event(c.ts, RiskEventKind::Limit, limit, None, detail));
                }
                Err(reason) => {
                    out.push(self.event(c.ts, RiskEventKind::Limit, "set_limit", None, format!("refused: {reason}")));
                }
            },
            Command::Halt => {
                self.halted = true;
                out.push(self.event(c.ts, RiskEventKind::Halted, "kill_switch", None, "halt: no new orders".into()));
            }
            Command::Resume => {
                self.halted = false;
                let detail = "resume: orders accepted".to_string();
                out.push(self.event(c.ts, RiskEventKind::Resumed, "kill_switch", None, detail));
            }
            Command::Flatten => {
                self.halted = true;
                let detail = "flatten: closing all positions, then halt".to_string();
                out.push(self.event(c.ts, RiskEventKind::Flatten, "kill_switch", None, detail));
                for i in 0..self.holdings.len() {
                    let h = &mut self.holdings[i];
                    let (open, mark) = (h.open(), h.mark);
                    if open != 0.0 {
                        h.tiers.clear();
                        let origin = Origin {
                            symbol: Symbol(i as u32),
                            ts: c.ts,
                            qty: -open,
                            price: mark,
                            entry: false,
                            tag: "flatten",
                            signal: None,
                            reason: "flatten (kill switch)".into(),
                            sizing: format!("everything held or ordered: {open}"),
                            checks: "exempt: flattening only reduces positions".into(),
                        };
                        self.send(origin, symbols, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MINUTE;
    use crate::risk::params::Tier;

    fn fill(side: Side, qty: f64, price: f64) -> Fill {
        Fill { order_id: "o".into(), account: "a".into(), symbol: Symbol(0), ts: 1, side, qty, price, fee: 1.0 }
    }

    fn signal_for(symbol: u32, ts: Ts, strength: f64, price: f64) -> Signal {
        Signal {
            symbol: Symbol(symbol),
            ts,
            strength,
            confidence: 1.0,
            price,
            volatility: f64::NAN,
            reasons: "test".into(),
            inputs: "x=1".into(),
            basis: None,
        }
    }

    fn signal(strength: f64, price: f64) -> Signal {
        signal_for(0, 10, strength, price)
    }

    fn fill_at(symbol: u32, qty: f64, price: f64) -> Fill {
        let side = if qty > 0.0 { Side::Buy } else { Side::Sell };
        Fill {
            order_id: "o".into(),
            account: "a".into(),
            symbol: Symbol(symbol),
            ts: 0,
            side,
            qty: qty.abs(),
            price,
            fee: 0.0,
        }
    }

    fn fill_of(o: &Order) -> Fill {
        Fill {
            order_id: o.id.clone(),
            account: o.account.clone(),
            symbol: o.symbol,
            ts: o.ts,
            side: o.side,
            qty: o.qty,
            price: o.decision_price,
            fee: 0.0,
        }
    }

    fn rejection(out: &[Decision]) -> Option<(&str, &str)> {
        out.iter().find_map(|d| match d {
            Decision::Event(e) if e.kind == RiskEventKind::Rejected => Some((e.rule.as_str(), e.detail.as_str())),
            _ => None,
        })
    }

    fn orders(out: &[Decision]) -> Vec<&Order> {
        out.iter()
            .filter_map(|d| match d {
                Decision::Order(o) => Some(o),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[Decision], kind: RiskEventKind) -> Vec<&RiskEvent> {
        out.iter()
            .filter_map(|d| match d {
                Decision::Event(e) if e.kind == kind => Some(e),
                _ => None,
            })
            .collect()
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
    fn pnl_reports_the_peak_the_drawdown_and_the_periods() {
        let mut book = RiskBook::new(RiskParams { initial_cash: 10_000.0, ..RiskParams::default() });
        book.apply_fill(&fill_at(0, 10.0, 100.0));
        book.mark(Symbol(0), 120.0);
        let up = book.pnl(SECOND); // day 0: opens at 10,200 (the fill at 100 is marked at 120)
        assert_eq!((up.equity, up.peak_equity, up.drawdown, up.day_pnl), (10_200.0, 10_200.0, 0.0, 0.0));
        book.mark(Symbol(0), 90.0);
        let next_day = book.pnl(86_400 * SECOND + SECOND);
        assert_eq!((next_day.equity, next_day.peak_equity), (9_900.0, 10_200.0));
        assert!((next_day.drawdown - 300.0 / 10_200.0).abs() < 1e-15);
        // A new day opens at the equity of its first row; the week (Thursday to Friday) goes on.
        assert_eq!((next_day.day_pnl, next_day.week_pnl), (0.0, -300.0));
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
        assert_eq!(orders(&out).len(), 1);
        assert_eq!(rejection(&out).unwrap().0, "order_rate_symbol");
        out.clear();
        book.on_signal(&signal_for(0, 62 * SECOND, -1.0, 100.0), &symbols, &mut out);
        assert_eq!(orders(&out).len(), 1, "a minute later it may trade again: {out:?}");
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
        let [suspended] = &events(&out, RiskEventKind::Suspended)[..] else { panic!("{out:?}") };
        assert_eq!(suspended.rule, "daily_loss");
        out.clear();
        book.on_signal(&signal_for(1, 2 * SECOND, 1.0, 50.0), &symbols, &mut out);
        assert!(events(&out, RiskEventKind::Suspended).is_empty(), "announced once: {out:?}");
        out.clear();
        book.on_signal(&signal_for(0, 2 * SECOND, 0.0, 91.0), &symbols, &mut out);
        assert!(matches!(&orders(&out)[..], [o] if o.side == Side::Sell), "exits stay allowed: {out:?}");
        // The next UTC day starts afresh.
        out.clear();
        book.on_signal(&signal_for(1, 86_400 * SECOND, 1.0, 50.0), &symbols, &mut out);
        assert_eq!(orders(&out).len(), 1, "{out:?}");
    }

    #[test]
    fn closing_a_short_is_a_reduction_even_under_a_loss_limit() {
        let symbols = SymbolTable::new(["X"]);
        let mut book =
            RiskBook::new(RiskParams { max_drawdown_pct: 0.5, price_band_pct: 1.0, ..RiskParams::default() });
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, 0, 0.0, 100.0), &symbols, &mut out);
        book.apply_fill(&fill_at(0, -4000.0, 100.0));
        book.mark(Symbol(0), 110.0); // 40,000 lost
        book.on_signal(&signal_for(0, SECOND, 0.0, 110.0), &symbols, &mut out);
        assert!(matches!(&orders(&out)[..], [o] if o.side == Side::Buy && o.qty == 4000.0), "{out:?}");
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
        assert_eq!(orders(&out).len(), 1, "a new week: {out:?}");
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
        let halts = events(&out, RiskEventKind::Halted);
        assert!(halts.iter().any(|e| e.rule == "max_drawdown"), "{out:?}");
        assert!(orders(&out).iter().any(|o| o.side == Side::Sell && o.qty == 5000.0), "{out:?}");
        assert!(book.is_halted());
    }

    #[test]
    fn kill_switch_halts_and_flattens() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams::default());
        let mut out = Vec::new();
        book.on_signal(&signal(1.0, 100.0), &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.side, o.qty, o.id.as_str()), (Side::Buy, 400.0, "paper-X-10"));
        out.clear();
        book.on_control(&Control { ts: 11, command: Command::Flatten }, &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.side, o.qty, o.id.as_str()), (Side::Sell, 400.0, "paper-X-11-flatten"));
        out.clear();
        book.on_signal(&signal(-1.0, 100.0), &symbols, &mut out);
        assert!(matches!(&out[..], [Decision::Event(e)] if e.rule == "kill_switch"));
    }

    #[test]
    fn a_limit_changed_while_running_applies_to_the_next_order() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams::default());
        let set =
            |limit: &str, value: f64| Control { ts: 5, command: Command::SetLimit { limit: limit.into(), value } };
        let mut out = Vec::new();
        book.on_control(&set("max_order_notional", 10_000.0), &symbols, &mut out);
        let [e] = &events(&out, RiskEventKind::Limit)[..] else { panic!("{out:?}") };
        assert_eq!((e.rule.as_str(), e.detail.as_str()), ("max_order_notional", "max_order_notional: 100000 -> 10000"));
        out.clear();
        // The 400-share entry of `kill_switch_halts_and_flattens` is now 40,000 of notional: refused.
        book.on_signal(&signal(1.0, 100.0), &symbols, &mut out);
        assert!(orders(&out).is_empty(), "{out:?}");
        assert!(events(&out, RiskEventKind::Rejected).iter().any(|e| e.rule == "max_order_notional"), "{out:?}");

        // Unknown limits and values a config would refuse are refused, and change nothing.
        for (limit, value) in [("max_leverage", 2.0), ("max_position_pct", 1.5), ("max_orders_per_minute_symbol", 2.5)]
        {
            out.clear();
            book.on_control(&set(limit, value), &symbols, &mut out);
            let [e] = &events(&out, RiskEventKind::Limit)[..] else { panic!("{out:?}") };
            assert!(e.rule == "set_limit" && e.detail.starts_with("refused: "), "{e:?}");
        }
        assert_eq!(book.params.limit("max_position_pct"), RiskParams::default().limit("max_position_pct"));
    }

    #[test]
    fn entries_split_into_tiers_that_exit_at_their_own_levels() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams { price_band_pct: 1.0, ..RiskParams::default() });
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, 0, 1.0, 100.0), &symbols, &mut out);
        let entry = orders(&out)[0].clone();
        assert_eq!(entry.qty, 400.0);
        book.apply_fill(&fill_of(&entry));
        out.clear();
        // +6%: only the conservative tier (+5%) takes its profit, a quarter of the position.
        book.on_trade(Symbol(0), SECOND, 106.0, &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.side, o.qty, o.id.as_str()), (Side::Sell, 100.0, "paper-X-1000000000-tp1"));
        let [e] = &events(&out, RiskEventKind::Exit)[..] else { panic!("{out:?}") };
        assert_eq!(e.rule, "take_profit");
        assert!(
            e.detail.starts_with("tier conservative (long): 106.0000 against the entry 100.0000 is +6.00%"),
            "{}",
            e.detail
        );
        book.apply_fill(&fill_of(o));
        out.clear();
        // Back to -8%: the moderate tier (-7%) stops out; the aggressive one (-10%) holds.
        book.on_trade(Symbol(0), 2 * SECOND, 92.0, &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.qty, o.id.as_str()), (200.0, "paper-X-2000000000-sl2"));
        book.apply_fill(&fill_of(o));
        out.clear();
        // The signal still says long: the remaining tier is held, not topped up.
        book.on_signal(&signal_for(0, 3 * SECOND, 1.0, 92.0), &symbols, &mut out);
        assert!(orders(&out).is_empty(), "{out:?}");
        book.on_trade(Symbol(0), 4 * SECOND, 89.0, &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.qty, o.id.as_str()), (100.0, "paper-X-4000000000-sl3"));
        book.apply_fill(&fill_of(o));
        out.clear();
        // Flat after the stops: no new long until the signal has left the long side.
        book.on_signal(&signal_for(0, 5 * SECOND, 1.0, 89.0), &symbols, &mut out);
        assert!(orders(&out).is_empty(), "{out:?}");
        book.on_signal(&signal_for(0, 6 * SECOND, 0.0, 89.0), &symbols, &mut out);
        book.on_signal(&signal_for(0, 7 * SECOND, 1.0, 89.0), &symbols, &mut out);
        assert_eq!(orders(&out).len(), 1, "{out:?}");
    }

    #[test]
    fn every_order_has_an_audit_record_with_its_checks() {
        let symbols = SymbolTable::new(["X"]);
        let mut book = RiskBook::new(RiskParams::default());
        let mut out = Vec::new();
        book.on_trade(Symbol(0), 0, 100.0, &symbols, &mut out);
        book.on_signal(&signal_for(0, SECOND, 0.5, 100.0), &symbols, &mut out);
        let [Decision::Order(o), Decision::Audit(a)] = &out[..] else { panic!("{out:?}") };
        assert_eq!((a.order_id.as_str(), a.strength, a.inputs.as_str()), (o.id.as_str(), 0.5, "x=1"));
        assert!(a.sizing.contains("fixed: |strength| 0.500 x position_pct 0.04 = 0.02000"), "{}", a.sizing);
        for rule in [
            "stale_data 1.0s",
            "daily_loss",
            "weekly_loss",
            "max_position 20000.00 <= 50000.00",
            "max_gross_exposure",
            "max_order_notional",
            "price_band",
            "order_rate_symbol 0 < 4",
            "order_rate_account",
            "kill_switch off",
        ] {
            assert!(a.checks.contains(rule), "{rule} missing from {}", a.checks);
        }
        // The words are written only once every check has passed: all of them, in order.
        assert_eq!(
            a.sizing,
            "fixed: |strength| 0.500 x position_pct 0.04 = 0.02000 of equity 1000000.00 at 100.0000 = 200 units"
        );
        assert_eq!(
            a.checks,
            "stale_data 1.0s <= 30s; daily_loss 0.00 < 30000.00; weekly_loss 0.00 < 60000.00; \
             max_position 20000.00 <= 50000.00; max_gross_exposure 20000.00 <= 200000.00; \
             max_order_notional 20000.00 <= 100000.00; price_band 0.000% <= 10%; order_rate_symbol 0 < 4; \
             order_rate_account 0 < 120; kill_switch off"
        );
    }

    #[test]
    fn stale_data_refuses_orders_and_optionally_flattens() {
        let symbols = SymbolTable::new(["X", "Y"]);
        let params = RiskParams { flatten_on_stale: true, ..RiskParams::default() };
        let mut book = RiskBook::new(params);
        let mut out = Vec::new();
        book.on_trade(Symbol(0), 0, 100.0, &symbols, &mut out);
        book.on_trade(Symbol(1), 0, 50.0, &symbols, &mut out);
        book.apply_fill(&fill_at(0, 100.0, 100.0));
        book.check_stale(30 * SECOND, &symbols, &mut out);
        assert!(out.is_empty(), "30 s is not yet stale: {out:?}");
        book.check_stale(31 * SECOND, &symbols, &mut out);
        let stale = events(&out, RiskEventKind::Stale);
        assert_eq!(stale.len(), 2, "{out:?}");
        assert!(stale[0].detail.contains("no trade for 31.0 s"), "{}", stale[0].detail);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.side, o.qty, o.id.as_str()), (Side::Sell, 100.0, "paper-X-31000000000-stale"));
        out.clear();
        book.on_signal(&signal_for(1, 40 * SECOND, 1.0, 50.0), &symbols, &mut out);
        assert_eq!(rejection(&out).unwrap().0, "stale_data");
        out.clear();
        book.on_trade(Symbol(1), 41 * SECOND, 50.0, &symbols, &mut out);
        assert_eq!(events(&out, RiskEventKind::Resumed)[0].rule, "stale_data");
        book.on_signal(&signal_for(1, 42 * SECOND, 1.0, 50.0), &symbols, &mut out);
        assert_eq!(orders(&out).len(), 1, "{out:?}");
    }

    #[test]
    fn limit_entries_expire_and_free_their_pending_size() {
        let symbols = SymbolTable::new(["X"]);
        let params = RiskParams { entry_order: OrderKind::Limit, limit_offset_bps: 10.0, ..RiskParams::default() };
        let mut book = RiskBook::new(params);
        let mut out = Vec::new();
        book.on_signal(&signal_for(0, 0, 1.0, 100.0), &symbols, &mut out);
        let [o] = &orders(&out)[..] else { panic!("{out:?}") };
        assert_eq!((o.kind, o.limit_price, o.expires), (OrderKind::Limit, Some(99.9), Some(MINUTE)));
        let expiry = Expiry {
            order_id: o.id.clone(),
            account: o.account.clone(),
            symbol: o.symbol,
            ts: MINUTE,
            side: o.side,
            qty: 400.0,
        };
        out.clear();
        book.apply_expiry(&expiry);
        book.on_signal(&signal_for(0, 2 * MINUTE, 1.0, 100.0), &symbols, &mut out);
        assert_eq!(orders(&out).len(), 1, "nothing pending after the expiry: {out:?}");
    }

    #[test]
    fn tiers_split_whole_units_and_give_the_rest_to_the_last() {
        let book = RiskBook::new(RiskParams::default());
        let qty: Vec<f64> = book.plan_tiers(7.0).iter().map(|t| t.qty).collect();
        assert_eq!(qty, [1.0, 3.0, 3.0]);
        let one = RiskBook::new(RiskParams {
            tiers: vec![Tier { name: "all".into(), share: 1.0, take_profit_pct: None, stop_loss_pct: None }],
            ..RiskParams::default()
        });
        assert_eq!(one.plan_tiers(7.0)[0].qty, 7.0);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Signal(u32, f64, f64),
        Trade(u32, f64),
        /// A fill of the first order working for the symbol (a fraction of it), or a manual
        /// trade of `qty` when none works.
        Fill(u32, f64, f64),
        /// The rest of the symbol's first working order expires.
        Expire(u32),
    }

    fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
        use proptest::prelude::*;
        let symbol = 0u32..12;
        let step = prop_oneof![
            (symbol.clone(), -1.0f64..1.0, 50.0f64..150.0).prop_map(|(s, strength, p)| Step::Signal(s, strength, p)),
            (symbol.clone(), 50.0f64..150.0).prop_map(|(s, p)| Step::Trade(s, p)),
            (symbol.clone(), 0.1f64..1.0, -40.0f64..40.0).prop_map(|(s, part, qty)| Step::Fill(s, part, qty)),
            symbol.prop_map(Step::Expire),
        ];
        proptest::collection::vec(step, 1..150)
    }

    /// Every sum the book takes, as bits: equity, the P&L row's sums, each symbol's exposure
    /// without it.
    fn sums(book: &RiskBook, ts: Ts) -> Vec<u64> {
        let mut book = book.clone();
        let pnl = book.pnl(ts);
        let mut bits = vec![book.equity(), pnl.equity, pnl.unrealized, pnl.gross_exposure];
        bits.extend((0..14).map(|s| book.gross_exposure_without(Symbol(s))));
        bits.into_iter().map(f64::to_bits).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// The book sums over the symbols holding or ordering anything; every other symbol
        /// would add zero. Guards that the index stays true through orders, fills, closes and
        /// expiries, and after a restore (which rebuilds it).
        #[test]
        fn sums_over_active_symbols_equal_sums_over_every_symbol_bit_for_bit(steps in steps()) {
            let names: Vec<String> = (0..12).map(|i| format!("S{i}")).collect();
            let symbols = SymbolTable::new(names.iter().map(String::as_str));
            let params = RiskParams { initial_cash: 50_000.0, price_band_pct: 1.0, ..RiskParams::default() };
            let mut book = RiskBook::new(params);
            let mut working: Vec<Order> = Vec::new();
            let mut out = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                let ts = (i as i64 + 1) * 20 * SECOND;
                match *step {
                    Step::Signal(s, strength, price) => book.on_signal(&signal_for(s, ts, strength, price), &symbols, &mut out),
                    Step::Trade(s, price) => book.on_trade(Symbol(s), ts, price, &symbols, &mut out),
                    Step::Fill(s, part, qty) => match working.iter().position(|o| o.symbol.0 == s) {
                        Some(at) => {
                            let mut fill = fill_of(&working[at]);
                            fill.qty = (working[at].qty * part).floor().max(1.0);
                            working[at].qty -= fill.qty;
                            if working[at].qty <= 0.0 {
                                working.remove(at);
                            }
                            book.apply_fill(&fill);
                        }
                        None if qty != 0.0 => {
                            book.apply_fill(&fill_at(s, qty, 100.0));
                        }
                        None => {}
                    },
                    Step::Expire(s) => {
                        if let Some(at) = working.iter().position(|o| o.symbol.0 == s) {
                            let o = working.remove(at);
                            let expiry = Expiry {
                                order_id: o.id.clone(),
                                account: o.account.clone(),
                                symbol: o.symbol,
                                ts,
                                side: o.side,
                                qty: o.qty,
                            };
                            book.apply_expiry(&expiry);
                        }
                    }
                }
                working.extend(out.drain(..).filter_map(|d| match d {
                    Decision::Order(o) => Some(o),
                    _ => None,
                }));
                let mut every = book.clone();
                every.active = None;
                proptest::prop_assert_eq!(sums(&book, ts), sums(&every, ts), "after {:?}", step);
                // A restored book does not know its active symbols until it changes one.
                if i % 17 == 0 {
                    book.active = None;
                }
            }
        }
    }
}
