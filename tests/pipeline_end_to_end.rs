//! The whole binary on a small simulated session: outputs checked against batch
//! recomputations from the ticks, and identical for 1 and 2 workers.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::{Table, run_job, write_config};
use tradeflow::job::STREAMS;

const SLIPPAGE_BPS: f64 = 2.0;
const FEE_BPS: f64 = 1.0;
const LATENCY_MS: i64 = 5;
const INITIAL_CASH: f64 = 1_000_000.0;

fn config() -> String {
    format!(
        r#"
[job]
name = "e2e"
workers = 1
epoch_ms = 250

[source]
kind = "simulator"
seed = 7
symbols = 12
start = "2024-03-01T14:30:00Z"
duration_s = 2400
ticks_per_second = 2.0
news_per_hour = 120
jump_pct = 3.0

[indicators]
set = ["ema_3", "ema_8", "rsi_5", "resistance_break_10", "support_10_1"]

[strategy]
kind = "ensemble"
fast = "ema_3"
slow = "ema_8"
rsi = "rsi_5"
macd_hist = ""
bbands = ""
breakout = "resistance_break_10"
support = "support_10_1"

[risk]
initial_cash = {INITIAL_CASH}
position_pct = 0.12
max_position_pct = 0.05

[[risk.tiers]]
name = "quick"
share = 0.5
take_profit_pct = 0.002
stop_loss_pct = 0.002

[[risk.tiers]]
name = "slow"
share = 0.5
take_profit_pct = 0.004
stop_loss_pct = 0.003

[broker]
latency_ms = {LATENCY_MS}
slippage_bps = {SLIPPAGE_BPS}
fee_bps = {FEE_BPS}
max_volume_share = 1e9

[[control]]
ts = "2024-03-01T15:00:00Z"
command = "halt"

[[control]]
ts = "2024-03-01T15:05:00Z"
command = "resume"

[output]
batch_rows = 1000
"#
    )
}

struct Tick {
    ts: i64,
    price: f64,
    size: f64,
}

fn ticks_by_symbol(run: &Path) -> HashMap<String, Vec<Tick>> {
    let t = Table::read(run, "ticks");
    let (ts, sym, price, size) = (t.ts("ts"), t.text("symbol"), t.f64("price"), t.f64("size"));
    let mut by: HashMap<String, Vec<Tick>> = HashMap::new();
    for i in 0..t.len() {
        by.entry(sym[i].clone()).or_default().push(Tick { ts: ts[i], price: price[i], size: size[i] });
    }
    for v in by.values_mut() {
        v.sort_by_key(|t| t.ts);
    }
    by
}

/// OHLCV bars recomputed from scratch: a group-by over all ticks.
fn batch_bars(ticks: &HashMap<String, Vec<Tick>>, width: i64) -> BTreeMap<(String, i64), [f64; 6]> {
    let mut bars = BTreeMap::new();
    for (symbol, ticks) in ticks {
        let mut groups: BTreeMap<i64, Vec<&Tick>> = BTreeMap::new();
        for t in ticks {
            groups.entry(t.ts.div_euclid(width) * width).or_default().push(t);
        }
        for (start, g) in groups {
            let volume: f64 = g.iter().map(|t| t.size).sum();
            let turnover: f64 = g.iter().map(|t| t.price * t.size).sum();
            let high = g.iter().map(|t| t.price).fold(f64::MIN, f64::max);
            let low = g.iter().map(|t| t.price).fold(f64::MAX, f64::min);
            bars.insert(
                (symbol.clone(), start + width),
                [g[0].price, high, low, g[g.len() - 1].price, volume, turnover / volume],
            );
        }
    }
    bars
}

fn assert_bars_match(run: &Path, stream: &str, expected: &BTreeMap<(String, i64), [f64; 6]>) {
    let t = Table::read(run, stream);
    assert_eq!(t.len(), expected.len(), "{stream}: bar count");
    let (end, sym) = (t.ts("ts"), t.text("symbol"));
    let cols = ["open", "high", "low", "close", "volume", "vwap"].map(|c| t.f64(c));
    for i in 0..t.len() {
        let want = expected
            .get(&(sym[i].clone(), end[i]))
            .unwrap_or_else(|| panic!("{stream}: unexpected bar {} {}", sym[i], end[i]));
        for (k, col) in cols.iter().enumerate() {
            let got = col[i];
            // OHLC and volumes are exact; the VWAP is a sum of products in another order.
            let tolerance = if k == 5 { 1e-12 * want[k].abs() } else { 0.0 };
            assert!(
                (got - want[k]).abs() <= tolerance,
                "{stream} {} @{}: column {k} is {got}, batch says {}",
                sym[i],
                end[i],
                want[k]
            );
        }
    }
}

#[test]
fn outputs_match_batch_recomputation_and_do_not_depend_on_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "e2e.toml", &config());
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let four = dir.path().join("four");
    run_job(&config, &one, &["-w", "1"]);
    run_job(&config, &two, &["-w", "2"]);
    run_job(&config, &four, &["-w", "4"]);

    // Bars equal a group-by over the ticks, at both widths.
    let ticks = ticks_by_symbol(&one);
    assert!(ticks.values().map(Vec::len).sum::<usize>() > 50_000);
    assert_bars_match(&one, "bars_1s", &batch_bars(&ticks, 1_000_000_000));
    assert_bars_match(&one, "bars_1m", &batch_bars(&ticks, 60_000_000_000));

    // Every order has one fill, at the first tick the latency allows, at that tick's price
    // moved against us by the slippage.
    let orders = Table::read(&one, "orders");
    let fills = Table::read(&one, "fills");
    assert!(orders.len() > 20, "the strategy should trade: {} orders", orders.len());
    let fill_of: HashMap<String, usize> =
        fills.text("order_id").into_iter().enumerate().map(|(i, id)| (id, i)).collect();
    let (f_ts, f_price, f_qty, f_fee) = (fills.ts("ts"), fills.f64("price"), fills.f64("qty"), fills.f64("fee"));
    let (o_id, o_ts, o_sym, o_side, o_qty) =
        (orders.text("id"), orders.ts("ts"), orders.text("symbol"), orders.text("side"), orders.f64("qty"));
    let mut unfilled = 0;
    for i in 0..orders.len() {
        let symbol_ticks = &ticks[&o_sym[i]];
        let earliest = o_ts[i] + LATENCY_MS * 1_000_000;
        let Some(&j) = fill_of.get(&o_id[i]) else {
            // Only an order placed after its symbol's last tick may stay open.
            assert!(symbol_ticks.iter().all(|t| t.ts < earliest), "order {} was never filled", o_id[i]);
            unfilled += 1;
            continue;
        };
        let tick = symbol_ticks.iter().find(|t| t.ts >= earliest).expect("a tick to fill on");
        let sign = if o_side[i] == "buy" { 1.0 } else { -1.0 };
        assert_eq!(f_ts[j], tick.ts, "order {} filled on the wrong tick", o_id[i]);
        assert_eq!(f_price[j], tick.price * (1.0 + sign * SLIPPAGE_BPS / 10_000.0), "order {}", o_id[i]);
        assert_eq!(f_qty[j], o_qty[i]);
        assert!((f_fee[j] - f_qty[j] * f_price[j] * FEE_BPS / 10_000.0).abs() < 1e-9);
    }
    assert_eq!(fills.len() + unfilled, orders.len());

    // The final P&L equals the cash flow of the fills plus positions marked at the last price.
    let mut cash = INITIAL_CASH;
    let mut position: HashMap<String, f64> = HashMap::new();
    let (f_sym, f_side) = (fills.text("symbol"), fills.text("side"));
    for j in 0..fills.len() {
        let q = if f_side[j] == "buy" { f_qty[j] } else { -f_qty[j] };
        cash -= q * f_price[j] + f_fee[j];
        *position.entry(f_sym[j].clone()).or_default() += q;
    }
    let marked: f64 = position.iter().map(|(s, q)| q * ticks[s].last().unwrap().price).sum();
    let pnl = Table::read(&one, "pnl");
    let last = pnl.ts("ts").iter().enumerate().max_by_key(|(_, t)| **t).map(|(i, _)| i).unwrap();
    let (equity, pnl_cash) = (pnl.f64("equity")[last], pnl.f64("cash")[last]);
    assert!((pnl_cash - cash).abs() < 1e-6, "cash {pnl_cash} vs cash flow {cash}");
    assert!((equity - (cash + marked)).abs() < 1e-6, "equity {equity} vs cash + marked positions {}", cash + marked);

    // The kill switch held: no order between the halt and the resume, and refusals say why.
    let (halt, resume) = (1_709_305_200_000_000_000i64, 1_709_305_500_000_000_000i64);
    assert!(o_ts.iter().all(|t| *t < halt || *t >= resume), "an order was sent while halted");
    let events = Table::read(&one, "risk_events");
    let rules = events.text("rule");
    assert!(rules.iter().any(|r| r == "kill_switch"));
    assert!(rules.iter().any(|r| r == "max_position"), "position_pct above max_position_pct must be refused");
    let kinds = events.text("kind");
    assert!(!kinds.iter().any(|k| k == "reconciliation"), "the book's positions must equal the broker's fills");
    let exits = (0..events.len()).filter(|&i| kinds[i] == "exit").count();
    assert!(exits > 0, "the tiers' take-profits and stop-losses should fire");
    assert!(o_id.iter().any(|id| id.ends_with("-tp1") || id.ends_with("-sl1")), "tier exits are orders");

    // Every order has its audit row, with the checks it passed.
    let audit = Table::read(&one, "audit");
    let mut audited = audit.text("order_id");
    let mut ids = o_id.clone();
    audited.sort();
    ids.sort();
    assert_eq!(audited, ids);
    assert!(audit.text("checks").iter().any(|c| c.contains("max_gross_exposure") && c.contains("kill_switch off")));

    // Signals reach the risk book as numbers; their words are written with them all the same,
    // and an order a signal made has the signal's words in its audit row.
    let signals = Table::read(&one, "signals");
    assert!(!signals.is_empty());
    for (reasons, inputs) in signals.text("reasons").iter().zip(signals.text("inputs")) {
        assert!(reasons.contains(':') && inputs.contains('='), "a signal without its words: `{reasons}` `{inputs}`");
    }
    let (a_strength, a_reasons, a_inputs) = (audit.f64("strength"), audit.text("reasons"), audit.text("inputs"));
    let from_signals: Vec<usize> = (0..audit.len()).filter(|&i| !a_strength[i].is_nan()).collect();
    assert!(!from_signals.is_empty(), "no order came from a signal");
    for i in from_signals {
        assert!(
            a_reasons[i].contains(':') && a_inputs[i].contains('='),
            "audit row {i}: `{}` `{}`",
            a_reasons[i],
            a_inputs[i]
        );
    }

    // Identical outputs with 1, 2 and 4 workers (latency is a wall-clock measurement).
    for stream in STREAMS {
        let a = Table::read(&one, stream).sorted_rows(&["latency_ns"]);
        for (workers, run) in [(2, &two), (4, &four)] {
            let b = Table::read(run, stream).sorted_rows(&["latency_ns"]);
            assert_eq!(a.len(), b.len(), "{stream}: row count differs between 1 and {workers} workers");
            if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                panic!("{stream} differs between 1 and {workers} workers:\n  1: {}\n  {workers}: {}", a[i], b[i]);
            }
        }
    }
}
