//! The pre-trade checks of a signal's order, in a fixed order. Each passed check is noted with
//! its value and limit, and put into words for the audit trail once every check has passed;
//! the first broken one is the rejection.

use std::fmt::Write as _;
use std::sync::Arc;

use super::book::{Decision, RiskBook};
use crate::event::{MINUTE, RiskEventKind, SECOND, Signal, Symbol};

/// The rule that refused an order and the numbers that made it.
pub(super) type Rejection = (&'static str, String);

/// A check passed, with the numbers its words are made of (only an order sent is written up:
/// at a busy minute most candidates are refused by a later check).
enum Passed {
    StaleData { quiet_s: f64, limit_s: f64 },
    Loss { rule: &'static str, loss: f64, limit: f64 },
    MaxPosition { notional: f64, limit: f64 },
    MaxGrossExposure { gross: f64, limit: f64 },
    MaxOrderNotional { notional: f64, limit: f64 },
    PriceBand { moved_pct: f64, limit_pct: f64 },
    OrderRateSymbol { orders: usize, limit: usize },
    OrderRateAccount { orders: usize, limit: usize },
    KillSwitchOff,
}

impl Passed {
    fn write(&self, out: &mut String) {
        let _ = match self {
            Passed::StaleData { quiet_s, limit_s } => write!(out, "stale_data {quiet_s:.1}s <= {limit_s}s"),
            Passed::Loss { rule, loss, limit } => write!(out, "{rule} {loss:.2} < {limit:.2}"),
            Passed::MaxPosition { notional, limit } => write!(out, "max_position {notional:.2} <= {limit:.2}"),
            Passed::MaxGrossExposure { gross, limit } => write!(out, "max_gross_exposure {gross:.2} <= {limit:.2}"),
            Passed::MaxOrderNotional { notional, limit } => {
                write!(out, "max_order_notional {notional:.2} <= {limit:.2}")
            }
            Passed::PriceBand { moved_pct, limit_pct } => write!(out, "price_band {moved_pct:.3}% <= {limit_pct}%"),
            Passed::OrderRateSymbol { orders, limit } => write!(out, "order_rate_symbol {orders} < {limit}"),
            Passed::OrderRateAccount { orders, limit } => write!(out, "order_rate_account {orders} < {limit}"),
            Passed::KillSwitchOff => write!(out, "kill_switch off"),
        };
    }

    /// The passed checks in words, `; ` between them.
    fn words(passed: &[Passed]) -> String {
        let mut out = String::new();
        for (i, check) in passed.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            check.write(&mut out);
        }
        out
    }
}

impl RiskBook {
    /// Gross exposure of everything held or ordered, at the latest marks, leaving out `skip`.
    pub(super) fn gross_exposure_without(&self, skip: Symbol) -> f64 {
        self.sum_holdings(Some(skip.0 as usize), |h| ((h.qty + h.pending) * h.mark).abs())
    }

    /// Runs every check that applies to an order of `delta` towards `target` (entries get the
    /// loss, position, exposure and notional limits; every order gets the data, band and rate
    /// checks). Returns the passed checks in words, or the first rule broken.
    pub(super) fn pre_trade(
        &mut self,
        sig: &Signal,
        target: f64,
        delta: f64,
        equity: f64,
        reducing: bool,
        out: &mut Vec<Decision>,
    ) -> Result<String, Rejection> {
        let mut passed = Vec::with_capacity(10);
        let mut pass = |check: Passed| passed.push(check);
        let p = Arc::clone(&self.params);
        let h = self.holding(sig.symbol);
        if let Some(at) = h.traded_at {
            let quiet = sig.ts - at;
            if quiet > p.stale_after() {
                let detail = format!(
                    "no trade for {:.1} s (stale_after_s {}): market data is stale",
                    quiet as f64 / SECOND as f64,
                    p.stale_after_s
                );
                return Err(("stale_data", detail));
            }
            pass(Passed::StaleData { quiet_s: quiet as f64 / SECOND as f64, limit_s: p.stale_after_s });
        }

        if !reducing {
            let periods = [
                (self.day, "daily_loss", "daily_loss_pct", p.daily_loss_pct),
                (self.week, "weekly_loss", "weekly_loss_pct", p.weekly_loss_pct),
            ];
            for (period, rule, key, limit) in periods {
                let Some((index, open)) = period else { continue };
                let loss = open - equity;
                if loss >= limit * open {
                    let detail = format!("{rule}: loss {loss:.2} reached {key} {limit} x opening equity {open:.2}");
                    if self.suspended.as_ref().is_none_or(|(r, i)| (r.as_str(), *i) != (rule, index)) {
                        self.suspended = Some((rule.to_owned(), index));
                        let announce = format!("{detail}: new entries suspended until the {rule} period ends");
                        out.push(self.event(sig.ts, RiskEventKind::Suspended, rule, None, announce));
                    }
                    return Err((rule, detail));
                }
                pass(Passed::Loss { rule, loss, limit: limit * open });
            }
            let notional = target.abs() * sig.price;
            let limit = p.max_position_pct * equity;
            if notional > limit {
                let detail = format!(
                    "position {target:+} x {:.4} = {notional:.2} would exceed max_position_pct {} x equity {equity:.2} = {limit:.2}",
                    sig.price, p.max_position_pct
                );
                return Err(("max_position", detail));
            }
            pass(Passed::MaxPosition { notional, limit });
            let gross = self.gross_exposure_without(sig.symbol) + notional;
            let limit = p.max_gross_exposure_pct * equity;
            if gross > limit {
                let detail = format!(
                    "gross exposure {gross:.2} would exceed max_gross_exposure_pct {} x equity {equity:.2} = {limit:.2}",
                    p.max_gross_exposure_pct
                );
                return Err(("max_gross_exposure", detail));
            }
            pass(Passed::MaxGrossExposure { gross, limit });
            let order_notional = delta.abs() * sig.price;
            if order_notional > p.max_order_notional {
                let detail = format!(
                    "order notional {order_notional:.2} exceeds max_order_notional {:.2}",
                    p.max_order_notional
                );
                return Err(("max_order_notional", detail));
            }
            pass(Passed::MaxOrderNotional { notional: order_notional, limit: p.max_order_notional });
        }

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
        if h.prev_mark > 0.0 && moved > p.price_band_pct {
            let detail = format!(
                "price {:.4} is {:.2}% from the previous mark {:.4} (price_band_pct {})",
                sig.price,
                moved * 100.0,
                h.prev_mark,
                p.price_band_pct
            );
            return Err(("price_band", detail));
        }
        if h.prev_mark > 0.0 {
            pass(Passed::PriceBand { moved_pct: moved * 100.0, limit_pct: p.price_band_pct * 100.0 });
        }
        let symbol_orders = h.recent_orders.len();
        if symbol_orders >= p.max_orders_per_minute_symbol {
            let detail = format!(
                "{symbol_orders} orders in the last minute (max_orders_per_minute_symbol {})",
                p.max_orders_per_minute_symbol
            );
            return Err(("order_rate_symbol", detail));
        }
        pass(Passed::OrderRateSymbol { orders: symbol_orders, limit: p.max_orders_per_minute_symbol });
        if account_orders >= p.max_orders_per_minute_account {
            let detail = format!(
                "{account_orders} orders in the last minute (max_orders_per_minute_account {})",
                p.max_orders_per_minute_account
            );
            return Err(("order_rate_account", detail));
        }
        pass(Passed::OrderRateAccount { orders: account_orders, limit: p.max_orders_per_minute_account });
        pass(Passed::KillSwitchOff);
        Ok(Passed::words(&passed))
    }
}
