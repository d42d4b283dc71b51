//! The paper broker: fills market orders against the ticks that follow them.

use serde::{Deserialize, Serialize};

use crate::event::{Fill, Order, SECOND, Symbol, Tick};

/// Execution parameters, as written in the job config's `[broker]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerParams {
    /// An order can fill only on a tick at least this long after it (event time).
    pub latency_ms: f64,
    /// Price concession per fill, in basis points of the tick price.
    pub slippage_bps: f64,
    /// Fee per fill, in basis points of the notional.
    pub fee_bps: f64,
}

impl Default for BrokerParams {
    fn default() -> Self {
        BrokerParams { latency_ms: 1.0, slippage_bps: 1.0, fee_bps: 0.5 }
    }
}

impl BrokerParams {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v, max) in [
            ("latency_ms", self.latency_ms, 3_600_000.0),
            ("slippage_bps", self.slippage_bps, 10_000.0),
            ("fee_bps", self.fee_bps, 10_000.0),
        ] {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return Err(format!("broker.{key} must be between 0 and {max}, got {v}"));
            }
        }
        Ok(())
    }

    pub fn latency_ns(&self) -> i64 {
        (self.latency_ms * (SECOND as f64 / 1000.0)).round() as i64
    }
}

/// Open orders by symbol.
#[derive(Clone, Debug, Default)]
pub struct PaperBroker {
    params: BrokerParams,
    open: Vec<Vec<Order>>,
    open_count: usize,
}

impl PaperBroker {
    pub fn new(params: BrokerParams) -> Self {
        PaperBroker { params, open: Vec::new(), open_count: 0 }
    }

    pub fn submit(&mut self, order: Order) {
        let i = order.symbol.0 as usize;
        if self.open.len() <= i {
            self.open.resize_with(i + 1, Vec::new);
        }
        self.open[i].push(order);
        self.open_count += 1;
    }

    pub fn has_open(&self) -> bool {
        self.open_count > 0
    }

    /// Whether an order of `symbol` is waiting for a tick.
    pub fn has_open_for(&self, symbol: Symbol) -> bool {
        self.open.get(symbol.0 as usize).is_some_and(|orders| !orders.is_empty())
    }

    /// Fills every open order of the tick's symbol that the tick may fill, in order of arrival.
    pub fn on_tick(&mut self, tick: &Tick, fills: &mut Vec<Fill>) {
        let Some(orders) = self.open.get_mut(tick.symbol.0 as usize) else {
            return;
        };
        if orders.is_empty() {
            return;
        }
        let latency = self.params.latency_ns();
        let before = orders.len();
        orders.retain(|o| {
            if tick.ts < o.ts + latency {
                return true;
            }
            let price = tick.price * (1.0 + o.side.sign() * self.params.slippage_bps / 10_000.0);
            fills.push(Fill {
                order_id: o.id.clone(),
                account: o.account.clone(),
                symbol: o.symbol,
                ts: tick.ts,
                side: o.side,
                qty: o.qty,
                price,
                fee: o.qty * price * self.params.fee_bps / 10_000.0,
            });
            false
        });
        self.open_count -= before - orders.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{OrderKind, Side};

    #[test]
    fn fills_on_the_first_tick_after_the_latency() {
        let mut broker = PaperBroker::new(BrokerParams { latency_ms: 1.0, slippage_bps: 10.0, fee_bps: 1.0 });
        broker.submit(Order {
            id: "o1".into(),
            account: "a".into(),
            symbol: Symbol(0),
            ts: 0,
            side: Side::Buy,
            qty: 10.0,
            kind: OrderKind::Market,
            limit_price: None,
            decision_price: 100.0,
            reason: String::new(),
        });
        let tick = |ts, price| Tick { symbol: Symbol(0), ts, price, size: 1.0, bid: None, ask: None };
        let mut fills = Vec::new();
        broker.on_tick(&tick(500_000, 100.0), &mut fills);
        assert!(fills.is_empty() && broker.has_open());
        broker.on_tick(&tick(1_000_000, 200.0), &mut fills);
        assert_eq!(fills.len(), 1);
        assert!((fills[0].price - 200.2).abs() < 1e-12);
        assert!((fills[0].fee - 10.0 * 200.2 * 1e-4).abs() < 1e-12);
        assert!(!broker.has_open());
    }
}
