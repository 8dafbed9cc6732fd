#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod audit_events;
mod caller;
mod config;
mod error;
mod forward;
mod gate;
mod policy;
mod tls;

pub use caller::{CALLER_HEADER, caller_header};
pub use config::Config;
pub use error::Error;
pub use gate::Gate;
