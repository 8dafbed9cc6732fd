//! A tamper-evident, append-only audit log for local servers and apps.
//!
//! Each record is one JSON line, `{seq, time, event, actor, resource, action, result,
//! peer, request_id, prev_mac, mac}`, with `mac = HMAC-SHA256(K, prev_mac || record)`:
//! editing, removing, reordering or inserting a record breaks the chain, and the head
//! (`seq`, `mac`), anchored in secure storage after every group commit, shows when
//! records were cut off the end or an older copy of the file was put back. The key `K`
//! stays in secure storage, away from the log.
//!
//! - [`AuditLog`]: the writer (group commit, durable acknowledgements, rotation, one
//!   writer at a time).
//! - [`Entry`], [`Event`], [`Outcome`]: what an app records; text is redacted first, so
//!   no token or key reaches the file.
//! - [`verify`]: the whole chain checked; the first bad record named.
//!
//! ```
//! use std::sync::Arc;
//! use hearth_audit::{AuditLog, AuditOptions, Entry, Event, Outcome};
//! use hearth_secure_storage::MemoryStore;
//!
//! let dir = std::env::temp_dir().join(format!("hearth-doc-lib-{}", std::process::id()));
//! let store = Arc::new(MemoryStore::new()); // the OS keyring in an app
//! let ns = "app::audit".parse().unwrap();
//! let log = AuditLog::open_in(&dir.join("audit.jsonl"), store, &ns, AuditOptions::default())?;
//! log.append(Entry::new(Event::FailedAuthAttempt, "key:k7", "/api/keys", "POST", Outcome::Denied)?
//!     .peer("192.0.2.7")?)?;
//! # drop(log); std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), hearth_audit::Error>(())
//! ```
#![forbid(unsafe_code)]

mod anchor;
mod entry;
mod error;
mod key;
mod log;
mod record;
mod time;
mod verify;

#[cfg(feature = "storage")]
pub use anchor::StorageAnchor;
pub use anchor::{Anchor, Head};
pub use entry::{Entry, Event, MAX_FIELD_LEN, Outcome};
pub use error::Error;
pub use hearth_token_guard::ErrorKind;
pub use key::AuditKey;
pub use log::{AuditLog, AuditOptions};
pub use record::{MAX_LINE_LEN, Record};
pub use verify::{TornTail, Verified, verify};
