//! A running window sum in TA-Lib's order of operations.

/// Sum of the last `period` values, added and subtracted in the order TA-Lib's SMA uses
/// (add the new value, read the total, subtract the value leaving), so that results agree
/// with TA-Lib to the last bit rather than only approximately.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunningWindow {
    ring: Vec<f64>,
    head: usize,
    count: usize,
    total: f64,
}

impl RunningWindow {
    pub fn new(period: usize) -> Self {
        RunningWindow { ring: vec![0.0; period.max(1)], head: 0, count: 0, total: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.ring.len()
    }

    /// Adds `x`; once `period` values are in, returns the total of the last `period`.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let period = self.ring.len();
        self.total += x;
        self.ring[self.head] = x;
        self.head = (self.head + 1) % period;
        self.count += 1;
        if self.count < period {
            return None;
        }
        let total = self.total;
        // After the wrap, `head` points at the oldest value in the window.
        self.total -= self.ring[self.head];
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_the_last_period_values() {
        let mut w = RunningWindow::new(3);
        let out: Vec<_> = [1.0, 2.0, 3.0, 4.0, 10.0].iter().map(|x| w.push(*x)).collect();
        assert_eq!(out, [None, None, Some(6.0), Some(9.0), Some(17.0)]);
    }
}
