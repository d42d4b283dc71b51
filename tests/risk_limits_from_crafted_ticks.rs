//! Each risk rule driven past its threshold by crafted ticks through the whole binary: the
//! rejection or state change appears in `risk_events` with its rule and numbers, and no order
//! breaks the rule. The strategy is a 3-bar z-score at full strength for |z| ≥ 1, so a minute
//! that closes away from two flat ones gives a full signal against the move.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Table, run_job, write_config};

const START_S: i64 = 1_704_205_800; // 2024-01-02T14:30:00Z
const NS: i64 = 1_000_000_000;

#[derive(Clone, Copy)]
struct Tick {
    /// Seconds after the start (fractions allowed).
    at: f64,
    symbol: &'static str,
    price: f64,
}

/// One tick per second, half a second into each second of `[from, to)`.
fn flat(symbol: &'static str, from: i64, to: i64, price: f64) -> Vec<Tick> {
    (from..to).map(|s| Tick { at: s as f64 + 0.5, symbol, price }).collect()
}

fn ts(at_s: f64) -> i64 {
    START_S * NS + (at_s * 1e9).round() as i64
}

struct Run {
    dir: tempfile::TempDir,
    out: PathBuf,
}

impl Run {
    fn events(&self) -> Vec<(String, String, String, i64, String)> {
        let t = Table::read(&self.out, "risk_events");
        let (kind, rule, symbol, at, detail) =
            (t.text("kind"), t.text("rule"), t.text("symbol"), t.ts("ts"), t.text("detail"));
        (0..t.len()).map(|i| (kind[i].clone(), rule[i].clone(), symbol[i].clone(), at[i], detail[i].clone())).collect()
    }

    fn rejections(&self, rule: &str) -> Vec<(String, i64, String)> {
        self.events().into_iter().filter(|e| e.0 == "rejected" && e.1 == rule).map(|e| (e.2, e.3, e.4)).collect()
    }

    fn orders(&self) -> Vec<(String, i64, String, f64)> {
        let t = Table::read(&self.out, "orders");
        let (symbol, at, side, qty) = (t.text("symbol"), t.ts("ts"), t.text("side"), t.f64("qty"));
        (0..t.len()).map(|i| (symbol[i].clone(), at[i], side[i].clone(), qty[i])).collect()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn run(ticks: Vec<Tick>, symbols: &[&str], risk: &str) -> Run {
    run_with(ticks, symbols, "", risk)
}

fn run_with(mut ticks: Vec<Tick>, symbols: &[&str], job: &str, risk: &str) -> Run {
    ticks.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.symbol.cmp(b.symbol)));
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("ts,symbol,price,size\n");
    for t in &ticks {
        let _ = writeln!(csv, "{},{},{},100", ts(t.at), t.symbol, t.price);
    }
    std::fs::write(dir.path().join("ticks.csv"), csv).unwrap();
    let symbols = symbols.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    let config = format!(
        r#"
[job]
name = "crafted"
{job}

[source]
kind = "files"
ticks = "{ticks}"
symbols = [{symbols}]

[indicators]
set = ["zscore_3"]

[strategy]
kind = "zscore"
column = "zscore_3"
full_z = 1.0

[risk]
{risk}

[broker]
latency_ms = 1
slippage_bps = 0
fee_bps = 0
max_volume_share = 1e9
"#,
        ticks = dir.path().join("ticks.csv").display()
    );
    let config = write_config(dir.path(), "crafted.toml", &config);
    let out = dir.path().join("out");
    run_job(&config, &out, &[]);
    Run { dir, out }
}

/// Flat at `price` for minutes 0..3, then the fourth minute closes at `close` (a full signal at
/// 4:00 against the move), then flat at `after` until `end` seconds.
fn dip(symbol: &'static str, price: f64, close: f64, after: f64, end: i64) -> Vec<Tick> {
    let mut ticks = flat(symbol, 0, 239, price);
    ticks.push(Tick { at: 239.5, symbol, price: close });
    ticks.extend(flat(symbol, 240, end, after));
    ticks
}

#[test]
fn price_band_refuses_a_decision_far_from_the_previous_trade() {
    let r = run(dip("A", 100.0, 120.0, 120.0, 300), &["A"], "price_band_pct = 0.1");
    let rejected = r.rejections("price_band");
    let [(symbol, at, detail)] = &rejected[..] else { panic!("{:?}", r.events()) };
    assert_eq!((symbol.as_str(), *at), ("A", ts(240.0)));
    assert!(detail.contains("20.00% from the previous mark 100.0000"), "{detail}");
    assert!(r.orders().iter().all(|o| o.1 != ts(240.0)), "no order at the refused decision");
    let _ = r.path();
}

#[test]
fn stale_data_refuses_orders_and_marks_the_symbol() {
    // A trades once at 3:00.5 and then not at all; B keeps the clock moving.
    let mut ticks = flat("A", 0, 180, 100.0);
    ticks.push(Tick { at: 180.5, symbol: "A", price: 90.0 });
    ticks.extend(flat("B", 0, 300, 50.0));
    let r = run(ticks, &["A", "B"], "stale_after_s = 30");
    let stale: Vec<_> = r.events().into_iter().filter(|e| e.0 == "stale" && e.2 == "A").collect();
    let [(_, rule, _, at, detail)] = &stale[..] else { panic!("{:?}", r.events()) };
    assert_eq!(rule, "stale_data");
    assert!(*at > ts(211.0) && *at <= ts(213.0), "stale 30 s after the last trade (at 181): {at}");
    assert!(detail.contains("no new orders"), "{detail}");
    let rejected = r.rejections("stale_data");
    let [(symbol, at, detail)] = &rejected[..] else { panic!("{:?}", r.events()) };
    assert_eq!((symbol.as_str(), *at), ("A", ts(240.0)));
    assert!(detail.contains("no trade for 59.0 s (stale_after_s 30)"), "{detail}");
    assert!(r.orders().iter().all(|o| o.0 != "A"));
}

#[test]
fn sizing_limits_refuse_with_their_numbers() {
    // Two symbols dip at the same minute: full-strength longs of 4% of equity each.
    let ticks = [dip("A", 100.0, 90.0, 90.0, 300), dip("B", 100.0, 90.0, 90.0, 300)].concat();
    let r = run(ticks.clone(), &["A", "B"], "position_pct = 0.04\nmax_position_pct = 0.03");
    let rejected = r.rejections("max_position");
    assert!(rejected.len() == 2 && rejected.iter().all(|x| x.1 == ts(240.0)), "{:?}", r.events());
    assert!(rejected[0].2.contains("would exceed max_position_pct 0.03 x equity"), "{}", rejected[0].2);
    // A minute later the z-score is weaker (0.707): 2.83% of equity fits under 3%.
    assert!(r.orders().iter().all(|o| o.1 != ts(240.0)), "{:?}", r.orders());

    let r = run(ticks.clone(), &["A", "B"], "position_pct = 0.04\nmax_gross_exposure_pct = 0.06");
    let rejected = r.rejections("max_gross_exposure");
    assert!(!rejected.is_empty() && rejected.iter().all(|x| x.0 == "B"), "A fits, then B does not: {rejected:?}");
    assert_eq!(rejected[0].1, ts(240.0));
    assert!(
        rejected[0].2.contains("gross exposure 79920.00 would exceed max_gross_exposure_pct 0.06"),
        "{}",
        rejected[0].2
    );
    assert!(r.orders().iter().all(|o| o.0 == "A"), "{:?}", r.orders());

    let r = run(ticks.clone(), &["A", "B"], "position_pct = 0.04\nmax_order_notional = 30000");
    let rejected = r.rejections("max_order_notional");
    assert!(rejected.len() == 2 && rejected.iter().all(|x| x.1 == ts(240.0)), "{:?}", r.events());
    assert!(r.orders().iter().all(|o| o.1 != ts(240.0)));

    let r = run(ticks, &["A", "B"], "position_pct = 0.04\nmax_orders_per_minute_account = 1");
    let [(symbol, _, detail)] = &r.rejections("order_rate_account")[..] else { panic!("{:?}", r.events()) };
    assert_eq!(symbol, "B");
    assert!(detail.contains("1 orders in the last minute"), "{detail}");
}

#[test]
fn tiers_take_profit_and_stop_out_on_the_trades_that_reach_their_levels() {
    // A long entry at 90 (4:00; filled on the next tick at 90), +6% at 4:10.5, -8% at 4:30.5,
    // all before the next signal (5:00), which holds the long.
    let mut ticks = dip("A", 100.0, 90.0, 90.0, 250);
    ticks.extend(flat("A", 250, 270, 95.4));
    ticks.extend(flat("A", 270, 300, 82.8));
    let r = run(ticks, &["A"], "position_pct = 0.04\nexit_threshold = 0.0\nprice_band_pct = 0.5");
    let exits: Vec<_> = r.events().into_iter().filter(|e| e.0 == "exit").collect();
    let rules: Vec<(&str, i64)> = exits.iter().map(|e| (e.1.as_str(), e.3)).collect();
    assert_eq!(
        rules,
        [("take_profit", ts(251.0)), ("stop_loss", ts(271.0))],
        "the conservative tier at +5%, the moderate one at -7%: {exits:?}"
    );
    let orders = r.orders();
    let sold: Vec<f64> = orders.iter().filter(|o| o.2 == "sell").map(|o| o.3).collect();
    assert_eq!(sold, [111.0, 222.0], "a quarter, then half, of the 444 bought: {orders:?}");
}

#[test]
fn losses_suspend_entries_and_a_drawdown_halts_and_flattens() {
    // A: a full long of 20% of equity at 90, then falls 20% (4% of equity: past the daily
    // limit), then 60% (past the drawdown limit). B dips after the first fall and after the
    // halt.
    let mut ticks = dip("A", 100.0, 90.0, 90.0, 300);
    ticks.extend(flat("A", 300, 480, 72.0));
    ticks.extend(flat("A", 480, 660, 36.0));
    ticks.extend(flat("B", 0, 419, 50.0));
    ticks.push(Tick { at: 419.5, symbol: "B", price: 45.0 });
    ticks.extend(flat("B", 420, 599, 45.0));
    ticks.push(Tick { at: 599.5, symbol: "B", price: 40.0 });
    ticks.extend(flat("B", 600, 660, 40.0));
    let risk = r#"
position_pct = 0.2
max_position_pct = 0.25
max_gross_exposure_pct = 1.0
max_order_notional = 1000000
price_band_pct = 0.9
exit_threshold = 0.0
daily_loss_pct = 0.03
max_drawdown_pct = 0.1
[[risk.tiers]]
name = "all"
share = 1.0
"#;
    let r = run(ticks, &["A", "B"], risk);
    let events = r.events();
    let rejected = r.rejections("daily_loss");
    let Some((symbol, at, detail)) = rejected.first() else { panic!("{events:?}") };
    assert_eq!((symbol.as_str(), *at), ("B", ts(420.0)), "B's dip after A's first fall");
    assert!(detail.contains("loss 39996.00 reached daily_loss_pct 0.03"), "{detail}");
    assert!(events.iter().any(|e| e.0 == "suspended" && e.1 == "daily_loss"), "{events:?}");
    // A's second fall (8:00) is seen at the next signal (9:00): 12% below the peak.
    let halt = events.iter().find(|e| e.0 == "halted" && e.1 == "max_drawdown").expect("a drawdown halt");
    assert_eq!(halt.3, ts(540.0));
    assert!(halt.4.contains("12.00% below its peak"), "{}", halt.4);
    let orders = r.orders();
    let flatten: Vec<_> = orders.iter().filter(|o| o.1 == ts(540.0)).collect();
    assert!(matches!(&flatten[..], [o] if o.0 == "A" && o.2 == "sell" && o.3 == 2222.0), "{orders:?}");
    assert!(orders.iter().all(|o| o.0 != "B"), "no entry for B while suspended or halted: {orders:?}");
}

#[test]
fn a_weekly_loss_outlasts_the_day() {
    const DAY: i64 = 86_400;
    // Tuesday: A's long loses 4% of equity; B's dip is refused. Wednesday: B dips again and is
    // still refused, though the daily limit has started afresh.
    let mut ticks = dip("A", 100.0, 90.0, 90.0, 300);
    ticks.extend(flat("A", 300, 480, 72.0));
    let mut b = dip("B", 50.0, 45.0, 45.0, 480);
    for t in &mut b {
        t.at += 180.0;
    }
    ticks.extend(b.iter().copied());
    ticks.extend(b.iter().map(|t| Tick { at: t.at + DAY as f64, ..*t }));
    ticks.extend(flat("A", DAY, DAY + 660, 72.0));
    let risk = r#"
position_pct = 0.2
max_position_pct = 0.25
max_gross_exposure_pct = 1.0
max_order_notional = 1000000
price_band_pct = 0.9
exit_threshold = 0.0
daily_loss_pct = 0.5
weekly_loss_pct = 0.03
max_drawdown_pct = 0.5
stale_after_s = 200000
[[risk.tiers]]
name = "all"
share = 1.0
"#;
    let r = run_with(ticks, &["A", "B"], "max_ahead_s = 100000", risk);
    let rejected = r.rejections("weekly_loss");
    let days: Vec<i64> = rejected.iter().map(|x| (x.1 / NS - START_S).div_euclid(DAY)).collect();
    assert!(days.contains(&0) && days.contains(&1), "refused on both days: {:?}", r.events());
    assert!(rejected.iter().all(|x| x.0 == "B" && x.2.contains("reached weekly_loss_pct 0.03")), "{rejected:?}");
    assert!(r.rejections("daily_loss").is_empty());
    assert!(r.orders().iter().all(|o| o.0 != "B"), "{:?}", r.orders());
}
