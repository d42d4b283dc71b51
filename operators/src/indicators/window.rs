//! Small fixed-size windows the indicators share: a ring of the last values, and rolling
//! extremes. Both allocate once, at construction.

use std::collections::VecDeque;

/// The last `len` values.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ring {
    values: Vec<f64>,
    head: usize,
    count: usize,
}

impl Ring {
    pub fn new(len: usize) -> Self {
        Ring { values: vec![0.0; len.max(1)], head: 0, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_full(&self) -> bool {
        self.count >= self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `x` and returns the value that fell out (once full).
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let out = self.is_full().then(|| self.values[self.head]);
        self.values[self.head] = x;
        self.head = (self.head + 1) % self.values.len();
        self.count += 1;
        out
    }

    /// The values oldest first, without index arithmetic per element.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let split = if self.is_full() { self.head } else { 0 };
        let filled = self.count.min(self.values.len());
        let (newer, older) = self.values[..filled.max(split)].split_at(split);
        older.iter().chain(newer).copied()
    }

    /// The value `age` steps back (0 = newest).
    #[inline]
    pub fn back(&self, age: usize) -> f64 {
        let n = self.values.len();
        self.values[(self.head + n - 1 - age % n) % n]
    }
}

/// The extreme of the last `len` values, with the index where it was seen; on ties the most
/// recent index wins (as TA-Lib's AROON does).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Extreme {
    len: u64,
    want_max: bool,
    seen: u64,
    deque: VecDeque<(u64, f64)>,
}

impl Extreme {
    pub fn max(len: usize) -> Self {
        Extreme { len: len.max(1) as u64, want_max: true, seen: 0, deque: VecDeque::with_capacity(len + 1) }
    }

    pub fn min(len: usize) -> Self {
        Extreme { len: len.max(1) as u64, want_max: false, seen: 0, deque: VecDeque::with_capacity(len + 1) }
    }

    /// Adds `x`; returns (extreme, its age in steps: 0 = newest) over the last `len` values.
    #[inline]
    pub fn push(&mut self, x: f64) -> (f64, u64) {
        let i = self.seen;
        self.seen += 1;
        while let Some(&(_, v)) = self.deque.back() {
            let dominated = if self.want_max { v <= x } else { v >= x };
            if !dominated {
                break;
            }
            self.deque.pop_back();
        }
        self.deque.push_back((i, x));
        while let Some(&(j, _)) = self.deque.front() {
            if j + self.len > i {
                break;
            }
            self.deque.pop_front();
        }
        let (j, v) = self.deque.front().copied().unwrap_or((i, x));
        (v, i - j)
    }

    pub fn is_full(&self) -> bool {
        self.seen >= self.len
    }

    /// The current extreme and its age, without adding a value.
    pub fn peek(&self) -> (f64, u64) {
        self.deque.front().map_or((f64::NAN, 0), |&(j, v)| (v, self.seen - 1 - j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_remembers_the_last_values() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        r.push(2.0);
        r.push(3.0);
        assert_eq!((r.back(0), r.back(2)), (3.0, 1.0));
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.back(2), 2.0);
        assert_eq!(r.iter().collect::<Vec<_>>(), [2.0, 3.0, 4.0]);
        let mut partial = Ring::new(4);
        partial.push(5.0);
        partial.push(6.0);
        assert_eq!(partial.iter().collect::<Vec<_>>(), [5.0, 6.0]);
    }

    #[test]
    fn extremes_slide_and_prefer_recent_ties() {
        let mut hi = Extreme::max(3);
        let got: Vec<_> = [1.0, 3.0, 2.0, 3.0, 1.0, 0.0, 0.0].iter().map(|x| hi.push(*x)).collect();
        assert_eq!(got, [(1.0, 0), (3.0, 0), (3.0, 1), (3.0, 0), (3.0, 1), (3.0, 2), (1.0, 2)]);
        let mut lo = Extreme::min(2);
        assert_eq!(lo.push(2.0), (2.0, 0));
        assert_eq!(lo.push(5.0), (2.0, 1));
        assert_eq!(lo.push(6.0), (5.0, 1));
    }
}
