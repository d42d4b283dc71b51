//! The paper broker in a whole run with limit entries, the spread model and partial fills:
//! every fill is checked against the tick it happened on, and the same with 1 and 2 workers.

mod common;

use std::collections::HashMap;

use common::{FAST_ENSEMBLE, Table, run_job, write_config};

const SLIPPAGE_BPS: f64 = 1.0;
const VOLUME_SHARE: f64 = 0.05;

fn config() -> String {
    format!(
        r#"
[job]
name = "limits"
epoch_ms = 500

[source]
kind = "simulator"
seed = 11
symbols = 8
start = "2024-03-04T14:30:00Z"
duration_s = 1800
ticks_per_second = 2.0
news_per_hour = 120
jump_pct = 3.0

{FAST_ENSEMBLE}
[risk]
position_pct = 0.05
entry_order = "limit"
limit_offset_bps = 3
limit_ttl_s = 20

[broker]
latency_ms = 2
slippage_model = "spread"
slippage_bps = {SLIPPAGE_BPS}
max_volume_share = {VOLUME_SHARE}
"#
    )
}

struct Quote {
    size: f64,
    bid: f64,
    ask: f64,
}

#[test]
fn fills_respect_limits_volume_and_quotes_and_expiries_close_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "limits.toml", &config());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run_job(&config, &one, &["-w", "1"]);
    run_job(&config, &two, &["-w", "2"]);

    let ticks = Table::read(&one, "ticks");
    let mut quotes: HashMap<(String, i64), Quote> = HashMap::new();
    let (t_sym, t_ts, t_size, t_bid, t_ask) =
        (ticks.text("symbol"), ticks.ts("ts"), ticks.f64("size"), ticks.f64("bid"), ticks.f64("ask"));
    for i in 0..ticks.len() {
        let q = Quote { size: t_size[i], bid: t_bid[i], ask: t_ask[i] };
        assert!(quotes.insert((t_sym[i].clone(), t_ts[i]), q).is_none(), "one tick per symbol and instant");
    }

    let orders = Table::read(&one, "orders");
    let (o_id, o_kind, o_side, o_qty, o_limit, o_expires) = (
        orders.text("id"),
        orders.text("kind"),
        orders.text("side"),
        orders.f64("qty"),
        orders.f64("limit_price"),
        orders.ts("expires"),
    );
    let order: HashMap<&str, usize> = o_id.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    assert!(o_kind.iter().filter(|k| *k == "limit").count() > 10, "entries are limit orders");

    let fills = Table::read(&one, "fills");
    let (f_id, f_sym, f_ts, f_qty, f_price) =
        (fills.text("order_id"), fills.text("symbol"), fills.ts("ts"), fills.f64("qty"), fills.f64("price"));
    let mut filled: HashMap<&str, f64> = HashMap::new();
    let mut traded_on_tick: HashMap<(String, i64), f64> = HashMap::new();
    let mut fills_per_order: HashMap<&str, usize> = HashMap::new();
    for j in 0..fills.len() {
        let i = order[f_id[j].as_str()];
        let quote = &quotes[&(f_sym[j].clone(), f_ts[j])];
        let buy = o_side[i] == "buy";
        let expected =
            if buy { quote.ask } else { quote.bid } * (1.0 + if buy { 1.0 } else { -1.0 } * SLIPPAGE_BPS / 1e4);
        assert_eq!(f_price[j], expected, "fill {j} of {} is not at the far side of the quote", f_id[j]);
        if o_kind[i] == "limit" {
            let ok = if buy { f_price[j] <= o_limit[i] } else { f_price[j] >= o_limit[i] };
            assert!(ok, "{} filled at {} beyond its limit {}", f_id[j], f_price[j], o_limit[i]);
            assert!(f_ts[j] < o_expires[i], "{} filled after its expiry", f_id[j]);
        }
        *filled.entry(&f_id[j]).or_default() += f_qty[j];
        *traded_on_tick.entry((f_sym[j].clone(), f_ts[j])).or_default() += f_qty[j];
        *fills_per_order.entry(&f_id[j]).or_default() += 1;
    }
    for ((symbol, ts), qty) in &traded_on_tick {
        let size = quotes[&(symbol.clone(), *ts)].size;
        assert!(*qty <= VOLUME_SHARE * size + 1e-9, "{qty} traded on a tick of {size} ({symbol} at {ts})");
    }
    assert!(fills_per_order.values().any(|n| *n > 1), "big orders fill over several ticks");

    let expiries = Table::read(&one, "expiries");
    let (e_id, e_ts, e_qty) = (expiries.text("order_id"), expiries.ts("ts"), expiries.f64("qty"));
    assert!(!expiries.is_empty(), "some limit entries should expire unfilled");
    let mut expired: HashMap<&str, f64> = HashMap::new();
    for k in 0..expiries.len() {
        let i = order[e_id[k].as_str()];
        assert_eq!((o_kind[i].as_str(), e_ts[k]), ("limit", o_expires[i]), "{}", e_id[k]);
        expired.insert(&e_id[k], e_qty[k]);
    }
    for (i, id) in o_id.iter().enumerate() {
        let done = filled.get(id.as_str()).copied().unwrap_or(0.0) + expired.get(id.as_str()).copied().unwrap_or(0.0);
        assert!(done <= o_qty[i] + 1e-9, "{id}: {done} filled or expired of {}", o_qty[i]);
        if expired.contains_key(id.as_str()) {
            assert!((done - o_qty[i]).abs() < 1e-9, "{id}: an expiry reports exactly the unfilled rest");
        }
    }

    let kinds = Table::read(&one, "risk_events").text("kind");
    assert!(!kinds.iter().any(|k| k == "reconciliation"), "partial fills and expiries reconcile");

    for stream in ["orders", "fills", "expiries", "positions", "pnl", "audit", "risk_events"] {
        let (a, b) = (Table::read(&one, stream).sorted_rows(&[]), Table::read(&two, stream).sorted_rows(&[]));
        assert!(a == b, "{stream} differs between 1 and 2 workers");
    }
}
