//! The pre-trade checks of a signal's order, in a fixed order. Each passed check is written
//! down with its value and limit for the audit trail; the first broken one is the rejection.

use std::fmt::Write as _;

use super::book::{Decision, RiskBook};
use crate::event::{MINUTE, RiskEventKind, SECOND, Signal, Symbol};

/// The rule that refused an order and the numbers that made it.
pub(super) type Rejection = (&'static str, String);

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
        let mut passed = String::new();
        let mut pass = |text: String| {
            let _ = write!(passed, "{}{text}", if passed.is_empty() { "" } else { "; " });
        };
        let p = self.params.clone();
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
            pass(format!("stale_data {:.1}s <= {}s", quiet as f64 / SECOND as f64, p.stale_after_s));
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
                pass(format!("{rule} {loss:.2} < {:.2}", limit * open));
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
            pass(format!("max_position {notional:.2} <= {limit:.2}"));
            let gross = self.gross_exposure_without(sig.symbol) + notional;
            let limit = p.max_gross_exposure_pct * equity;
            if gross > limit {
                let detail = format!(
                    "gross exposure {gross:.2} would exceed max_gross_exposure_pct {} x equity {equity:.2} = {limit:.2}",
                    p.max_gross_exposure_pct
                );
                return Err(("max_gross_exposure", detail));
            }
            pass(format!("max_gross_exposure {gross:.2} <= {limit:.2}"));
            let order_notional = delta.abs() * sig.price;
            if order_notional > p.max_order_notional {
                let detail = format!(
                    "order notional {order_notional:.2} exceeds max_order_notional {:.2}",
                    p.max_order_notional
                );
                return Err(("max_order_notional", detail));
            }
            pass(format!("max_order_notional {order_notional:.2} <= {:.2}", p.max_order_notional));
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
            pass(format!("price_band {:.3}% <= {}%", moved * 100.0, p.price_band_pct * 100.0));
        }
        let symbol_orders = h.recent_orders.len();
        if symbol_orders >= p.max_orders_per_minute_symbol {
            let detail = format!(
                "{symbol_orders} orders in the last minute (max_orders_per_minute_symbol {})",
                p.max_orders_per_minute_symbol
            );
            return Err(("order_rate_symbol", detail));
        }
        pass(format!("order_rate_symbol {symbol_orders} < {}", p.max_orders_per_minute_symbol));
        if account_orders >= p.max_orders_per_minute_account {
            let detail = format!(
                "{account_orders} orders in the last minute (max_orders_per_minute_account {})",
                p.max_orders_per_minute_account
            );
            return Err(("order_rate_account", detail));
        }
        pass(format!("order_rate_account {account_orders} < {}", p.max_orders_per_minute_account));
        pass("kill_switch off".into());
        Ok(passed)
    }
}
