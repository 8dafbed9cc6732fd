//! Guards for local servers (feature `guard`).

mod clock;
mod rate_limit;

pub use rate_limit::{
    DEFAULT_MAX_KEYS, GlobalLimiter, Limit, MAX_WINDOW_REQUESTS, RateLimiter, RetryAfter,
};
