//! Property test: over random sequences of signals, trades and kill-switch commands (fills at
//! the decision price), every order the risk book sends keeps the position and the gross
//! exposure within their limits at that price, unless it only reduces; while halted it sends
//! only reducing orders; and every order has its audit record.

use proptest::prelude::*;
use tradeflow_operators::risk::{Decision, RiskBook, RiskParams, Sizing};
use tradeflow_operators::{Command, Control, Fill, SECOND, Signal, Symbol, SymbolTable};

#[derive(Clone, Debug)]
enum Step {
    Signal {
        symbol: u32,
        strength: f64,
        move_pct: f64,
    },
    /// A trade moves the price (and may reach a tier's take-profit or stop-loss).
    Trade {
        symbol: u32,
        move_pct: f64,
    },
    Halt,
    Resume,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        20 => (0u32..6, -1.0f64..1.0, -0.04f64..0.04).prop_map(|(symbol, strength, move_pct)| Step::Signal { symbol, strength, move_pct }),
        20 => (0u32..6, -0.06f64..0.06).prop_map(|(symbol, move_pct)| Step::Trade { symbol, move_pct }),
        1 => Just(Step::Halt),
        1 => Just(Step::Resume),
    ];
    prop::collection::vec(step, 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn no_order_breaks_a_limit(steps in steps(), position_pct in 0.01f64..0.2, sizing in 0usize..3) {
        let sizing = [Sizing::Fixed, Sizing::VolTarget, Sizing::Kelly][sizing];
        let params = RiskParams {
            sizing,
            position_pct,
            vol_column: "realvol".into(),
            kelly_cap_pct: position_pct,
            max_position_pct: 0.05,
            max_gross_exposure_pct: 0.12,
            price_band_pct: 0.2,
            ..RiskParams::default()
        };
        let (max_position, max_gross) = (params.max_position_pct, params.max_gross_exposure_pct);
        let symbols = SymbolTable::new(["A", "B", "C", "D", "E", "F"]);
        let mut book = RiskBook::new(params);
        let mut prices = [100.0f64; 6];
        let mut held = [0.0f64; 6];
        let mut out = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let ts = (i as i64 + 1) * 30 * SECOND;
            out.clear();
            let halted_before = book.is_halted();
            match step {
                Step::Halt => book.on_control(&Control { ts, command: Command::Halt }, &symbols, &mut out),
                Step::Resume => book.on_control(&Control { ts, command: Command::Resume }, &symbols, &mut out),
                Step::Signal { symbol, strength, move_pct } => {
                    let s = *symbol as usize;
                    prices[s] *= 1.0 + move_pct;
                    let volatility = 0.1 + 0.4 * strength.abs();
                    let sig = Signal { symbol: Symbol(*symbol), ts, strength: *strength, confidence: 1.0, price: prices[s], volatility, reasons: String::new(), inputs: String::new(), basis: None };
                    book.on_signal(&sig, &symbols, &mut out);
                }
                Step::Trade { symbol, move_pct } => {
                    let s = *symbol as usize;
                    prices[s] *= 1.0 + move_pct;
                    book.on_trade(Symbol(*symbol), ts, prices[s], &symbols, &mut out);
                }
            }
            let audited: Vec<String> = out.iter().filter_map(|d| match d { Decision::Audit(a) => Some(a.order_id.clone()), _ => None }).collect();
            for d in out.clone() {
                let Decision::Order(order) = d else { continue };
                prop_assert!(audited.contains(&order.id), "no audit for {}", order.id);
                let s = order.symbol.0 as usize;
                let signed = order.side.sign() * order.qty;
                let after = held[s] + signed;
                let reducing = after.abs() < held[s].abs() && after * held[s] >= 0.0;
                prop_assert!(!halted_before || reducing, "an entry while halted: {:?}", order);
                if !reducing {
                    let equity = book.equity();
                    prop_assert!(after.abs() * order.decision_price <= max_position * equity + 1e-6, "position limit: {:?}", order);
                    let gross: f64 = (0..6).map(|k| if k == s { after.abs() * order.decision_price } else { held[k].abs() * prices[k] }).sum();
                    prop_assert!(gross <= max_gross * equity + 1e-6, "gross limit: {} > {} x {}", gross, max_gross, equity);
                }
                // The broker fills at once, at the decision price.
                book.apply_fill(&Fill { order_id: order.id.clone(), account: order.account.clone(), symbol: order.symbol, ts, side: order.side, qty: order.qty, price: order.decision_price, fee: 0.0 });
                held[s] = after;
                prop_assert!((book.position(order.symbol) - held[s]).abs() < 1e-9);
            }
        }
    }
}
