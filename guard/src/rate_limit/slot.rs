//! The per-client state of each algorithm and its admission rule, as pure functions of
//! the state and the time (unit-tested with a hand-driven clock).

use std::collections::VecDeque;

use super::limit::Kind;

/// One client's state under one limit.
pub(super) trait Slot: Default {
    /// Admits (updating the state) or returns the nanoseconds until it would admit.
    fn admit(&mut self, kind: Kind, now_ns: u64) -> Result<(), u64>;
    /// Whether the state is back to that of a client never seen (so it may be dropped).
    fn idle(&self, kind: Kind, now_ns: u64) -> bool;
    /// Gives back one admitted request (counted before its outcome was known).
    fn refund(&mut self, kind: Kind);
}

/// GCRA: the theoretical arrival time of the next request, in clock nanoseconds.
pub(super) fn gcra(tat: u64, kind: Kind, now_ns: u64) -> Result<u64, u64> {
    let Kind::Bucket {
        interval_ns,
        tolerance_ns,
    } = kind
    else {
        unreachable!("a bucket slot under a window limit")
    };
    let tat = tat.max(now_ns);
    let ahead = tat - now_ns;
    if ahead > tolerance_ns {
        Err(ahead - tolerance_ns)
    } else {
        Ok(tat + interval_ns)
    }
}

impl Slot for u64 {
    fn admit(&mut self, kind: Kind, now_ns: u64) -> Result<(), u64> {
        *self = gcra(*self, kind, now_ns)?;
        Ok(())
    }

    fn idle(&self, _: Kind, now_ns: u64) -> bool {
        *self <= now_ns
    }

    fn refund(&mut self, kind: Kind) {
        if let Kind::Bucket { interval_ns, .. } = kind {
            *self = self.saturating_sub(interval_ns);
        }
    }
}

/// The admission times (milliseconds, wrapping `u32`) of the last `max` admitted requests
/// still inside the window, oldest first.
#[derive(Default)]
pub(super) struct WindowLog(VecDeque<u32>);

fn window(kind: Kind) -> (u32, u32) {
    let Kind::Window { max, window_ms } = kind else {
        unreachable!("a window slot under a bucket limit")
    };
    (max, window_ms)
}

impl Slot for WindowLog {
    fn admit(&mut self, kind: Kind, now_ns: u64) -> Result<(), u64> {
        let (max, window_ms) = window(kind);
        let now = (now_ns / 1_000_000) as u32;
        while let Some(&oldest) = self.0.front() {
            if now.wrapping_sub(oldest) >= window_ms {
                self.0.pop_front();
            } else {
                break;
            }
        }
        match self.0.front() {
            Some(&oldest) if self.0.len() >= max as usize => {
                let wait_ms = window_ms - now.wrapping_sub(oldest);
                // The clock has millisecond steps: wait until the step that frees a slot.
                Err(u64::from(wait_ms) * 1_000_000 - now_ns % 1_000_000)
            }
            _ => {
                self.0.push_back(now);
                Ok(())
            }
        }
    }

    fn refund(&mut self, _: Kind) {
        self.0.pop_back();
    }

    fn idle(&self, kind: Kind, now_ns: u64) -> bool {
        let (_, window_ms) = window(kind);
        let now = (now_ns / 1_000_000) as u32;
        self.0
            .back()
            .is_none_or(|&newest| now.wrapping_sub(newest) >= window_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Limit;
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_bucket_admits_its_burst_then_one_per_interval() {
        let kind = Limit::token_bucket(10, Duration::from_secs(1), 3)
            .unwrap()
            .kind;
        let t0 = 5_000 * MS;
        let mut tat = 0u64;
        for _ in 0..3 {
            tat.admit(kind, t0).unwrap();
        }
        assert_eq!(tat.admit(kind, t0), Err(100 * MS));
        assert_eq!(tat.admit(kind, t0 + 99 * MS), Err(MS));
        tat.admit(kind, t0 + 100 * MS).unwrap();
        assert!(!tat.idle(kind, t0 + 100 * MS));
        assert!(tat.idle(kind, t0 + 400 * MS));
        // Fully refilled after a long pause: the burst again, not more.
        for _ in 0..3 {
            tat.admit(kind, t0 + 10_000 * MS).unwrap();
        }
        assert!(tat.admit(kind, t0 + 10_000 * MS).is_err());
    }

    #[test]
    fn a_window_never_admits_more_than_max_in_any_span() {
        let kind = Limit::sliding_window(3, Duration::from_millis(1000))
            .unwrap()
            .kind;
        let mut log = WindowLog::default();
        let t0 = 7_000 * MS;
        log.admit(kind, t0).unwrap();
        log.admit(kind, t0 + 400 * MS).unwrap();
        log.admit(kind, t0 + 999 * MS).unwrap();
        // Straddling a boundary does not help: the span [t0+400, t0+1399] holds 3 already.
        assert_eq!(log.admit(kind, t0 + 999 * MS), Err(MS));
        log.admit(kind, t0 + 1000 * MS).unwrap();
        assert_eq!(log.admit(kind, t0 + 1100 * MS), Err(300 * MS));
        log.admit(kind, t0 + 1400 * MS).unwrap();
        assert!(!log.idle(kind, t0 + 1400 * MS));
        assert!(log.idle(kind, t0 + 2400 * MS));
    }

    #[test]
    fn a_refund_gives_back_exactly_one_request() {
        let bucket = Limit::token_bucket(10, Duration::from_secs(1), 2)
            .unwrap()
            .kind;
        let window = Limit::sliding_window(2, Duration::from_secs(1))
            .unwrap()
            .kind;
        let t0 = 9_000 * MS;
        let mut tat = 0u64;
        let mut log = WindowLog::default();
        for _ in 0..2 {
            tat.admit(bucket, t0).unwrap();
            log.admit(window, t0).unwrap();
        }
        assert!(tat.admit(bucket, t0).is_err() && log.admit(window, t0).is_err());
        tat.refund(bucket);
        log.refund(window);
        tat.admit(bucket, t0).unwrap();
        log.admit(window, t0).unwrap();
        assert!(tat.admit(bucket, t0).is_err() && log.admit(window, t0).is_err());
    }

    #[test]
    fn a_window_survives_the_millisecond_clock_wrapping() {
        let kind = Limit::sliding_window(1, Duration::from_millis(10))
            .unwrap()
            .kind;
        let mut log = WindowLog::default();
        let before_wrap = (u64::from(u32::MAX) - 4) * MS;
        log.admit(kind, before_wrap).unwrap();
        assert_eq!(log.admit(kind, before_wrap + 5 * MS), Err(5 * MS));
        log.admit(kind, before_wrap + 10 * MS).unwrap();
    }
}
