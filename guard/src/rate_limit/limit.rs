//! [`Limit`]: how many requests a client may make, as a token bucket or a sliding window.

use std::time::Duration;

use crate::Error;

/// The most requests a sliding window may count: its log costs 4 bytes per request per
/// client, so larger limits should use a token bucket.
pub const MAX_WINDOW_REQUESTS: u32 = 10_000;

/// A rate limit.
///
/// - [`Limit::token_bucket`]: `rate` requests per `per` on average, with bursts of up to
///   `burst` (GCRA: one `u64` per client, no background refill).
/// - [`Limit::sliding_window`]: at most `max` requests in *any* span of `window`, exactly
///   (a log of the last `max` admissions per client, at millisecond resolution).
///
/// ```
/// use std::time::Duration;
/// use hearth_guard::Limit;
///
/// let general = Limit::sliding_window(60, Duration::from_secs(60))?;
/// let streaming = Limit::token_bucket(100, Duration::from_secs(60), 20)?;
/// assert!(Limit::sliding_window(0, Duration::from_secs(1)).is_err());
/// # let _ = (general, streaming);
/// # Ok::<(), hearth_guard::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub(super) kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// GCRA: `interval_ns` between requests on average; `tolerance_ns` is how far ahead
    /// of now the theoretical arrival time may run (`interval * (burst - 1)`).
    Bucket { interval_ns: u64, tolerance_ns: u64 },
    /// At most `max` admissions in any `window_ms`.
    Window { max: u32, window_ms: u32 },
}

const MAX_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

impl Limit {
    /// `rate` requests per `per` on average, bursts of up to `burst` at once.
    ///
    /// `rate` and `burst` are at least 1; `per` is 1 ms to 24 hours; the interval
    /// `per / rate` must be at least 1 ns.
    pub fn token_bucket(rate: u32, per: Duration, burst: u32) -> Result<Self, Error> {
        if rate == 0 || burst == 0 {
            return Err(invalid(
                "a token bucket needs a rate and a burst of at least 1",
            ));
        }
        check_period(per)?;
        let interval_ns = (per.as_nanos() / u128::from(rate)) as u64;
        if interval_ns == 0 {
            return Err(invalid(
                "a token bucket's rate is above one request per nanosecond",
            ));
        }
        Ok(Self {
            kind: Kind::Bucket {
                interval_ns,
                tolerance_ns: interval_ns * u64::from(burst - 1),
            },
        })
    }

    /// At most `max` requests (1 to [`MAX_WINDOW_REQUESTS`]) in any span of `window`
    /// (1 ms to 24 hours).
    pub fn sliding_window(max: u32, window: Duration) -> Result<Self, Error> {
        if max == 0 || max > MAX_WINDOW_REQUESTS {
            return Err(invalid("a sliding window admits 1 to 10000 requests"));
        }
        check_period(window)?;
        Ok(Self {
            kind: Kind::Window {
                max,
                window_ms: window.as_millis() as u32,
            },
        })
    }

    /// How long a client that stops sending needs before it holds no state worth keeping.
    pub(super) fn idle_after_ns(&self) -> u64 {
        match self.kind {
            Kind::Bucket {
                interval_ns,
                tolerance_ns,
            } => interval_ns + tolerance_ns,
            Kind::Window { window_ms, .. } => u64::from(window_ms) * 1_000_000,
        }
    }
}

fn check_period(period: Duration) -> Result<(), Error> {
    if period < Duration::from_millis(1) || period > MAX_PERIOD {
        return Err(invalid("a rate-limit period is 1 ms to 24 hours"));
    }
    Ok(())
}

fn invalid(reason: &'static str) -> Error {
    Error::InvalidConfig { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_range_are_typed_errors() {
        let s = Duration::from_secs(1);
        for bad in [
            Limit::token_bucket(0, s, 1),
            Limit::token_bucket(1, s, 0),
            Limit::token_bucket(1, Duration::ZERO, 1),
            Limit::token_bucket(1, Duration::from_secs(90_000), 1),
            Limit::token_bucket(u32::MAX, Duration::from_millis(1), 1),
            Limit::sliding_window(0, s),
            Limit::sliding_window(MAX_WINDOW_REQUESTS + 1, s),
            Limit::sliding_window(10, Duration::from_micros(10)),
        ] {
            assert!(matches!(bad, Err(Error::InvalidConfig { .. })), "{bad:?}");
        }
    }

    #[test]
    fn a_bucket_interval_is_period_over_rate() {
        let limit = Limit::token_bucket(100, Duration::from_secs(1), 10).unwrap();
        assert_eq!(
            limit.kind,
            Kind::Bucket {
                interval_ns: 10_000_000,
                tolerance_ns: 90_000_000
            }
        );
    }
}
