//! [`LimitState`] and [`Limit::admit_at`]: a limit's rule as a pure function of one
//! client's state and a time the caller gives, the rule [`RateLimiter`](crate::RateLimiter)
//! applies; for replaying a trace, or for checking another store's implementation of the
//! same limit (hearth-gate's Redis scripts) decision by decision.

use std::time::Duration;

use super::RetryAfter;
use super::limit::{Kind, Limit};
use super::slot::{Slot, WindowLog};

/// One client's state under one [`Limit`], for [`Limit::admit_at`].
#[derive(Default)]
pub struct LimitState {
    tat: u64,
    log: WindowLog,
}

impl std::fmt::Debug for LimitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitState").finish_non_exhaustive()
    }
}

/// What a [`Limit`] is, in numbers: for implementing it in another store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitShape {
    /// GCRA: one request per `interval` on average; the theoretical arrival time may run
    /// up to `tolerance` ahead of now (`interval × (burst − 1)`).
    TokenBucket {
        /// The time between requests on average.
        interval: Duration,
        /// How far ahead of now the next arrival time may be.
        tolerance: Duration,
    },
    /// At most `max` admissions in any span of `window` (millisecond resolution).
    SlidingWindow {
        /// The admissions allowed in any span of `window`.
        max: u32,
        /// The span.
        window: Duration,
    },
}

impl Limit {
    /// The limit's numbers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hearth_guard::{Limit, LimitShape};
    ///
    /// let bucket = Limit::token_bucket(10, Duration::from_secs(1), 3)?;
    /// assert_eq!(bucket.shape(), LimitShape::TokenBucket {
    ///     interval: Duration::from_millis(100),
    ///     tolerance: Duration::from_millis(200),
    /// });
    /// # Ok::<(), hearth_guard::Error>(())
    /// ```
    #[must_use]
    pub fn shape(&self) -> LimitShape {
        match self.kind {
            Kind::Bucket {
                interval_ns,
                tolerance_ns,
            } => LimitShape::TokenBucket {
                interval: Duration::from_nanos(interval_ns),
                tolerance: Duration::from_nanos(tolerance_ns),
            },
            Kind::Window { max, window_ms } => LimitShape::SlidingWindow {
                max,
                window: Duration::from_millis(u64::from(window_ms)),
            },
        }
    }

    /// Admits a request at `now` (any clock, counted from any origin, never going back)
    /// for the client whose state is `state`, or says how long until it would be; the
    /// same decision a [`RateLimiter`](crate::RateLimiter) with this limit makes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hearth_guard::{Limit, LimitState};
    ///
    /// let limit = Limit::sliding_window(2, Duration::from_secs(1))?;
    /// let mut client = LimitState::default();
    /// let t = Duration::from_secs(100);
    /// assert!(limit.admit_at(&mut client, t).is_ok());
    /// assert!(limit.admit_at(&mut client, t).is_ok());
    /// let wait = limit.admit_at(&mut client, t).unwrap_err();
    /// assert_eq!(wait.duration(), Duration::from_secs(1));
    /// assert!(limit.admit_at(&mut client, t + Duration::from_secs(1)).is_ok());
    /// # Ok::<(), hearth_guard::Error>(())
    /// ```
    pub fn admit_at(&self, state: &mut LimitState, now: Duration) -> Result<(), RetryAfter> {
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let decided = match self.kind {
            Kind::Bucket { .. } => state.tat.admit(self.kind, now_ns),
            Kind::Window { .. } => state.log.admit(self.kind, now_ns),
        };
        decided.map_err(|ns| RetryAfter::new(Duration::from_nanos(ns)))
    }
}
