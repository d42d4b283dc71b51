//! One epoch of the risk book's inputs, and the fixed order in which the book applies them.

use crate::broker::Execution;
use crate::event::{Bar, Control, Signal, Symbol, Ts};

/// A symbol's latest trade price: the close of a bar, at the bar's end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub symbol: Symbol,
    pub ts: Ts,
    pub price: f64,
}

impl From<&Bar> for Mark {
    fn from(bar: &Bar) -> Self {
        Mark { symbol: bar.symbol, ts: bar.end, price: bar.close }
    }
}

/// Everything the book received for one epoch, one list per input.
#[derive(Debug, Default)]
pub struct EpochInputs {
    /// Fills and expiries, fed back one epoch after the broker made them.
    pub reports: Vec<Execution>,
    pub marks: Vec<Mark>,
    pub signals: Vec<Signal>,
    pub control: Vec<Control>,
}

/// Where one input sits in its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Input {
    Report(u32),
    Mark(u32),
    Signal(u32),
    Control(u32),
}

/// An input's place in the order: group (broker reports first: they belong to the previous
/// epoch), event time, rank at equal times, symbol; then the input itself, which breaks the
/// remaining ties by arrival (control of one instant) or by order id (reports, sorted first).
type Place = ((u8, Ts, u8, u32), Input);

impl EpochInputs {
    /// The inputs in the order the book applies them: broker reports first, then by event time;
    /// at equal times trades (marks), then signals, then control; then by symbol. This order
    /// makes the book's decisions the same for any number of workers and any epoch length:
    /// marks and signals come from bars, which close at their end but are stamped at the epoch
    /// of their last instant, before a control message of that same time can arrive. `places`
    /// is a buffer kept between epochs.
    pub fn in_order<'a>(&mut self, places: &'a mut Vec<Place>) -> &'a [Place] {
        self.reports.sort_by(|a, b| report_key(a).cmp(&report_key(b)).then_with(|| order_id(a).cmp(order_id(b))));
        places.clear();
        places.extend(self.reports.iter().zip(0..).map(|(r, i)| (report_key(r), Input::Report(i))));
        places.extend(self.marks.iter().zip(0..).map(|(m, i)| ((1, m.ts, 0, m.symbol.0), Input::Mark(i))));
        places.extend(self.signals.iter().zip(0..).map(|(s, i)| ((1, s.ts, 1, s.symbol.0), Input::Signal(i))));
        places.extend(self.control.iter().zip(0..).map(|(c, i)| ((1, c.ts, 2, 0), Input::Control(i))));
        places.sort_unstable();
        places
    }

    /// The latest event time among the inputs.
    pub fn latest(&self) -> Option<Ts> {
        let reports = self.reports.iter().map(|r| report_key(r).1);
        let marks = self.marks.iter().map(|m| m.ts);
        let signals = self.signals.iter().map(|s| s.ts);
        reports.chain(marks).chain(signals).chain(self.control.iter().map(|c| c.ts)).max()
    }
}

fn report_key(r: &Execution) -> (u8, Ts, u8, u32) {
    match r {
        Execution::Fill(f) => (0, f.ts, 0, f.symbol.0),
        Execution::Expired(e) => (0, e.ts, 1, e.symbol.0),
    }
}

fn order_id(r: &Execution) -> &str {
    match r {
        Execution::Fill(f) => &f.order_id,
        Execution::Expired(e) => &e.order_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Command, Expiry, Fill, Side};

    fn signal(symbol: u32, ts: Ts) -> Signal {
        Signal {
            symbol: Symbol(symbol),
            ts,
            strength: 1.0,
            confidence: 1.0,
            price: 10.0,
            volatility: f64::NAN,
            reasons: String::new(),
            inputs: String::new(),
            basis: None,
        }
    }

    fn fill(order_id: &str, symbol: u32, ts: Ts) -> Execution {
        Execution::Fill(Fill {
            order_id: order_id.into(),
            account: "main".into(),
            symbol: Symbol(symbol),
            ts,
            side: Side::Buy,
            qty: 1.0,
            price: 10.0,
            fee: 0.0,
        })
    }

    fn halt(ts: Ts) -> Control {
        Control { ts, command: Command::Halt }
    }

    #[test]
    fn reports_come_first_then_marks_signals_and_control_at_equal_times() {
        let expiry = Execution::Expired(Expiry {
            order_id: "a".into(),
            account: "main".into(),
            symbol: Symbol(0),
            ts: 5,
            side: Side::Buy,
            qty: 1.0,
        });
        let mut inputs = EpochInputs {
            reports: vec![fill("z", 3, 9), expiry, fill("b", 3, 9), fill("a", 3, 9)],
            marks: vec![Mark { symbol: Symbol(2), ts: 20, price: 1.0 }, Mark { symbol: Symbol(1), ts: 20, price: 1.0 }],
            signals: vec![signal(1, 20), signal(0, 10)],
            control: vec![halt(20), halt(10)],
        };
        let mut places = Vec::new();
        let order: Vec<Input> = inputs.in_order(&mut places).iter().map(|p| p.1).collect();
        assert_eq!(
            order,
            vec![
                Input::Report(0), // the expiry at 5
                Input::Report(1), // fills of one symbol and time, by order id: a, b, z
                Input::Report(2),
                Input::Report(3),
                Input::Signal(1), // at 10: the signal, then the halt
                Input::Control(1),
                Input::Mark(1), // at 20: marks by symbol, the signal, the halt
                Input::Mark(0),
                Input::Signal(0),
                Input::Control(0),
            ]
        );
        let ids: Vec<&str> = inputs.reports.iter().map(order_id).collect();
        assert_eq!(ids, ["a", "a", "b", "z"]);
        assert_eq!(inputs.latest(), Some(20));
    }
}
