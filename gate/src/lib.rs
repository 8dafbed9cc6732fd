#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod audit_events;
mod caller;
mod config;
mod error;
mod forward;
mod gate;
mod policy;
#[cfg(feature = "redis")]
mod redis_anchor;
#[cfg(feature = "redis")]
mod redis_state;
#[cfg(feature = "redis")]
mod shared_limits;
mod tls;

pub use caller::{CALLER_HEADER, caller_header};
pub use config::Config;
pub use error::Error;
pub use gate::Gate;
#[cfg(feature = "redis")]
pub use redis_anchor::RedisAnchor;
#[cfg(feature = "redis")]
pub use redis_state::{DEFAULT_REDIS_TIMEOUT, RedisLimiter};
