//! The paper broker: fills market and limit orders against the ticks that follow them, with
//! latency, slippage (fixed or spread-crossing), fees, partial fills and limit-order expiry.

use serde::{Deserialize, Serialize};

use crate::event::{Expiry, Fill, Order, SECOND, Side, Symbol, Tick};

/// How a fill's price is reached from the tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlippageModel {
    /// The trade price moved against the order by `slippage_bps`.
    Bps,
    /// Buys pay the ask and sells get the bid (the trade price when a tick has no quote), then
    /// `slippage_bps` on top.
    Spread,
}

/// Execution parameters, as written in the job config's `[broker]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerParams {
    /// An order can fill only on a tick at least this long after it (event time).
    pub latency_ms: f64,
    pub slippage_model: SlippageModel,
    /// Price concession per fill, in basis points.
    pub slippage_bps: f64,
    /// Fee per fill, in basis points of the notional.
    pub fee_bps: f64,
    /// One tick fills at most this share of its size across the orders resting on it; the
    /// rest of an order waits for the next ticks (partial fills).
    pub max_volume_share: f64,
}

impl Default for BrokerParams {
    fn default() -> Self {
        BrokerParams {
            latency_ms: 1.0,
            slippage_model: SlippageModel::Bps,
            slippage_bps: 1.0,
            fee_bps: 0.5,
            max_volume_share: 1.0,
        }
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
        if !(self.max_volume_share.is_finite() && self.max_volume_share > 0.0) {
            return Err(format!("broker.max_volume_share must be positive, got {}", self.max_volume_share));
        }
        Ok(())
    }

    pub fn latency_ns(&self) -> i64 {
        (self.latency_ms * (SECOND as f64 / 1000.0)).round() as i64
    }

    /// The price an order of `side` gets on `tick`.
    fn execution_price(&self, side: Side, tick: &Tick) -> f64 {
        let base = match (self.slippage_model, side) {
            (SlippageModel::Bps, _) => tick.price,
            (SlippageModel::Spread, Side::Buy) => tick.ask.unwrap_or(tick.price),
            (SlippageModel::Spread, Side::Sell) => tick.bid.unwrap_or(tick.price),
        };
        base * (1.0 + side.sign() * self.slippage_bps / 10_000.0)
    }
}

/// What the broker reports back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Execution {
    Fill(Fill),
    Expired(Expiry),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Working {
    order: Order,
    remaining: f64,
}

/// Open orders by symbol.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PaperBroker {
    params: BrokerParams,
    open: Vec<Vec<Working>>,
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
        if !(order.qty.is_finite() && order.qty > 0.0) {
            return;
        }
        self.open[i].push(Working { remaining: order.qty, order });
        self.open_count += 1;
    }

    pub fn has_open(&self) -> bool {
        self.open_count > 0
    }

    /// Whether an order of `symbol` is waiting for a tick.
    pub fn has_open_for(&self, symbol: Symbol) -> bool {
        self.open.get(symbol.0 as usize).is_some_and(|orders| !orders.is_empty())
    }

    /// Applies one tick to the open orders of its symbol, oldest first: expires limit orders
    /// past their time, then fills what the tick's price and volume allow.
    pub fn on_tick(&mut self, tick: &Tick, out: &mut Vec<Execution>) {
        let Some(orders) = self.open.get_mut(tick.symbol.0 as usize) else {
            return;
        };
        if orders.is_empty() {
            return;
        }
        let params = &self.params;
        let latency = params.latency_ns();
        let mut volume_left = params.max_volume_share * tick.size;
        let before = orders.len();
        orders.retain_mut(|w| {
            let o = &w.order;
            if let Some(expires) = o.expires.filter(|e| tick.ts >= *e) {
                out.push(Execution::Expired(Expiry {
                    order_id: o.id.clone(),
                    account: o.account.clone(),
                    symbol: o.symbol,
                    ts: expires,
                    side: o.side,
                    qty: w.remaining,
                }));
                return false;
            }
            if tick.ts < o.ts + latency {
                return true;
            }
            let price = params.execution_price(o.side, tick);
            let marketable = match (o.limit_price, o.side) {
                (None, _) => true,
                (Some(limit), Side::Buy) => price <= limit,
                (Some(limit), Side::Sell) => price >= limit,
            };
            if !marketable {
                return true;
            }
            let qty = if w.remaining <= volume_left { w.remaining } else { volume_left.floor() };
            if qty <= 0.0 {
                return true;
            }
            volume_left -= qty;
            w.remaining -= qty;
            out.push(Execution::Fill(Fill {
                order_id: o.id.clone(),
                account: o.account.clone(),
                symbol: o.symbol,
                ts: tick.ts,
                side: o.side,
                qty,
                price,
                fee: qty * price * params.fee_bps / 10_000.0,
            }));
            w.remaining > 0.0
        });
        self.open_count -= before - orders.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::OrderKind;

    fn order(side: Side, qty: f64, limit_price: Option<f64>, expires: Option<i64>) -> Order {
        Order {
            id: "o1".into(),
            account: "a".into(),
            symbol: Symbol(0),
            ts: 0,
            side,
            qty,
            kind: if limit_price.is_some() { OrderKind::Limit } else { OrderKind::Market },
            limit_price,
            expires,
            decision_price: 100.0,
            reason: String::new(),
        }
    }

    fn tick(ts: i64, price: f64, size: f64) -> Tick {
        Tick { symbol: Symbol(0), ts, price, size, bid: Some(price - 0.05), ask: Some(price + 0.05) }
    }

    fn fills(out: &[Execution]) -> Vec<(f64, f64)> {
        out.iter()
            .filter_map(|e| match e {
                Execution::Fill(f) => Some((f.qty, f.price)),
                Execution::Expired(_) => None,
            })
            .collect()
    }

    #[test]
    fn fills_on_the_first_tick_after_the_latency() {
        let params = BrokerParams { slippage_bps: 10.0, fee_bps: 1.0, ..BrokerParams::default() };
        let mut broker = PaperBroker::new(params);
        broker.submit(order(Side::Buy, 10.0, None, None));
        let mut out = Vec::new();
        broker.on_tick(&tick(500_000, 100.0, 100.0), &mut out);
        assert!(out.is_empty() && broker.has_open());
        broker.on_tick(&tick(1_000_000, 200.0, 100.0), &mut out);
        let [Execution::Fill(f)] = &out[..] else { panic!("{out:?}") };
        assert!((f.price - 200.2).abs() < 1e-12);
        assert!((f.fee - 10.0 * 200.2 * 1e-4).abs() < 1e-12);
        assert!(!broker.has_open());
    }

    #[test]
    fn spread_model_crosses_the_quote() {
        let params =
            BrokerParams { slippage_model: SlippageModel::Spread, slippage_bps: 0.0, ..BrokerParams::default() };
        let mut broker = PaperBroker::new(params);
        broker.submit(order(Side::Buy, 1.0, None, None));
        broker.submit(Order { id: "o2".into(), ..order(Side::Sell, 1.0, None, None) });
        let mut out = Vec::new();
        broker.on_tick(&tick(SECOND, 100.0, 100.0), &mut out);
        assert_eq!(fills(&out), [(1.0, 100.05), (1.0, 99.95)]);
    }

    #[test]
    fn size_beyond_the_volume_share_fills_over_several_ticks() {
        let mut broker =
            PaperBroker::new(BrokerParams { max_volume_share: 0.25, slippage_bps: 0.0, ..BrokerParams::default() });
        broker.submit(order(Side::Buy, 100.0, None, None));
        let mut out = Vec::new();
        for ts in 1..=3 {
            broker.on_tick(&tick(ts * SECOND, 100.0, 150.0), &mut out);
        }
        // 37.5 shares of each tick's volume may trade: whole units while the order is bigger.
        assert_eq!(fills(&out), [(37.0, 100.0), (37.0, 100.0), (26.0, 100.0)]);
        assert!(!broker.has_open());
    }

    #[test]
    fn limit_orders_wait_for_their_price_and_expire_unfilled() {
        let mut broker = PaperBroker::new(BrokerParams { slippage_bps: 0.0, ..BrokerParams::default() });
        broker.submit(order(Side::Buy, 10.0, Some(99.0), Some(10 * SECOND)));
        let mut out = Vec::new();
        broker.on_tick(&tick(SECOND, 100.0, 100.0), &mut out);
        assert!(out.is_empty());
        broker.on_tick(&tick(2 * SECOND, 98.5, 4.0), &mut out);
        assert_eq!(fills(&out), [(4.0, 98.5)]);
        out.clear();
        broker.on_tick(&tick(11 * SECOND, 98.0, 100.0), &mut out);
        let [Execution::Expired(e)] = &out[..] else { panic!("{out:?}") };
        assert_eq!((e.qty, e.ts), (6.0, 10 * SECOND));
        assert!(!broker.has_open());
    }
}
