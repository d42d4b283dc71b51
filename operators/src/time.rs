//! Event time to timely epochs, and the watermark that decides what is late.

use serde::{Deserialize, Serialize};

use crate::event::{MAX_EVENT_TS, Ts};

/// Maps event times to timely timestamps: `epoch = ts / epoch_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochClock {
    epoch_len: i64,
}

impl EpochClock {
    /// `epoch_len` in nanoseconds; must be positive.
    pub fn new_checked(epoch_len: i64) -> Result<Self, String> {
        if epoch_len <= 0 {
            return Err(format!("epoch length must be positive, got {epoch_len} ns"));
        }
        Ok(EpochClock { epoch_len })
    }

    /// Panics on a non-positive length: for lengths known good.
    pub fn new(epoch_len: i64) -> Self {
        Self::new_checked(epoch_len).expect("valid epoch length")
    }

    pub fn epoch_len(&self) -> i64 {
        self.epoch_len
    }

    /// The epoch of a non-negative event time (negative times are refused at the sources).
    #[inline]
    pub fn epoch(&self, ts: Ts) -> u64 {
        (ts.max(0) / self.epoch_len) as u64
    }

    /// The first event time of `epoch`.
    #[inline]
    pub fn start_of(&self, epoch: u64) -> Ts {
        (epoch as i64).saturating_mul(self.epoch_len)
    }
}

/// Why a record was not accepted by a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Accept,
    /// Behind the watermark by this many nanoseconds.
    Late {
        behind_ns: i64,
    },
    /// Ahead of the largest time seen by more than the configured horizon.
    TooFarAhead {
        ahead_ns: i64,
    },
    /// Before the Unix epoch.
    Negative,
    /// After [`MAX_EVENT_TS`].
    OutOfRange,
}

impl Admission {
    /// A reason for the dead-letter sink, `None` when accepted.
    pub fn reason(&self, ts: Ts) -> Option<String> {
        match self {
            Admission::Accept => None,
            Admission::Late { behind_ns } => Some(format!(
                "late: event time {ts} is {behind_ns} ns behind the watermark (raise `allowed_lateness` to accept it)"
            )),
            Admission::TooFarAhead { ahead_ns } => Some(format!(
                "too far in the future: event time {ts} is {ahead_ns} ns ahead of the newest record (limit `max_ahead`)"
            )),
            Admission::Negative => Some(format!("negative event time {ts}: times are ns since 1970-01-01")),
            Admission::OutOfRange => {
                Some(format!("event time {ts} is after 2200-01-01: times are ns since 1970-01-01"))
            }
        }
    }
}

/// Per-source watermark: the largest event time seen minus the allowed lateness.
///
/// ```
/// use tradeflow_operators::time::{Admission, Watermark};
/// let mut wm = Watermark::new(10, 1_000);
/// assert_eq!(wm.admit(100), Admission::Accept);
/// assert_eq!(wm.admit(95), Admission::Accept); // within the lateness
/// assert_eq!(wm.admit(80), Admission::Late { behind_ns: 10 });
/// assert_eq!(wm.admit(5_000), Admission::TooFarAhead { ahead_ns: 4_900 });
/// assert_eq!(wm.watermark(), Some(90));
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    allowed_lateness: i64,
    max_ahead: i64,
    max_seen: Option<Ts>,
}

impl Watermark {
    pub fn new(allowed_lateness: i64, max_ahead: i64) -> Self {
        Watermark { allowed_lateness: allowed_lateness.max(0), max_ahead: max_ahead.max(0), max_seen: None }
    }

    /// Decides on a record and, if accepted, advances the watermark.
    pub fn admit(&mut self, ts: Ts) -> Admission {
        if ts < 0 {
            return Admission::Negative;
        }
        if ts > MAX_EVENT_TS {
            return Admission::OutOfRange;
        }
        if let Some(max) = self.max_seen {
            let watermark = max - self.allowed_lateness;
            if ts < watermark {
                return Admission::Late { behind_ns: watermark - ts };
            }
            if ts - max > self.max_ahead {
                return Admission::TooFarAhead { ahead_ns: ts - max };
            }
        }
        self.max_seen = Some(self.max_seen.map_or(ts, |m| m.max(ts)));
        Admission::Accept
    }

    /// No record earlier than this is accepted any more; `None` before the first record.
    pub fn watermark(&self) -> Option<Ts> {
        self.max_seen.map(|m| (m - self.allowed_lateness).max(0))
    }

    /// Moves the watermark forward without a record (an idle source's timeout).
    pub fn advance_to(&mut self, ts: Ts) {
        let target = ts.saturating_add(self.allowed_lateness);
        self.max_seen = Some(self.max_seen.map_or(target, |m| m.max(target)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_down() {
        let clock = EpochClock::new(1_000);
        assert_eq!(clock.epoch(0), 0);
        assert_eq!(clock.epoch(999), 0);
        assert_eq!(clock.epoch(1_000), 1);
        assert_eq!(clock.start_of(3), 3_000);
        assert!(EpochClock::new_checked(0).is_err());
    }

    #[test]
    fn times_outside_the_epoch_range_are_refused() {
        let mut wm = Watermark::new(0, 10);
        assert_eq!(wm.admit(-1), Admission::Negative);
        // Regression: a first record near i64::MAX used to be accepted and overflow window ends.
        assert_eq!(wm.admit(i64::MAX - 5), Admission::OutOfRange);
        assert_eq!(wm.watermark(), None);
    }
}
