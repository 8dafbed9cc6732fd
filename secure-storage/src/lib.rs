//! Where Hearth keeps secrets at rest.
//!
//! - [`SecureStorage`]: one trait for every backend (store, retrieve, delete, list and
//!   clear by [`Namespace`], [`info`](SecureStorage::info)), with typed text secrets
//!   through [`SecureStorageExt`] and an async twin ([`AsyncSecureStorage`], feature
//!   `async`).
//! - [`Key`]: validated names in the `app::segment::…` form the seed apps use, e.g.
//!   `jellytau::{server_id}::{user_id}::access_token`.
//! - [`EncryptedFileStore`]: the vault, one authenticated AES-256-GCM file (format in
//!   `VAULT-FORMAT.md`), unlocked by a passphrase (Argon2id), a key file or a raw key;
//!   durable, crash-safe, shared safely between threads and processes.
//! - [`KeyringStore`] (feature `keyring`, default): the OS credential store (Secret
//!   Service, Keychain, Windows Credential Manager) or kernel keyutils, with list and clear
//!   everywhere and every call bounded in time.
//! - [`HybridStore`]: the vault's key in the OS keyring, the secrets in the vault; any
//!   size, enumerable, rollback detected.
//! - [`Storage`] and [`default_store`]: the fallback chain, which returns the store it
//!   chose and a [`FallbackReport`] of every backend tried and why it was skipped.
//! - [`migrate`]: move a namespace between backends, verified, with a dry run.
//! - [`MemoryStore`]: for tests; never a silent fallback.
//! - [`default_vault_path`] / [`default_key_file`]: platform-standard locations.
//!
//! ```
//! use hearth_secure_storage::{EncryptedFileStore, KeySource, Namespace, SecureStorageExt, SecureStorage};
//! use hearth_token_guard::AccessToken;
//!
//! let dir = std::env::temp_dir().join(format!("hearth-doc-lib-{}", std::process::id()));
//! let store = EncryptedFileStore::open(dir.join("vault.hearth"), KeySource::KeyFile(dir.join("vault.key")))?;
//! let ns = Namespace::app("jellytau")?.child("srv-1")?;
//! store.store_secret(&ns.key(["user-7", "access_token"])?, &AccessToken::new("jf-abc"))?;
//! assert_eq!(store.list(&ns)?.len(), 1);
//! assert_eq!(store.clear(&ns)?, 1); // logout
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), hearth_secure_storage::Error>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "async")]
mod async_storage;
#[cfg(feature = "keyring")]
mod chain;
mod error;
#[cfg(feature = "keyring")]
mod hybrid;
mod key;
#[cfg(feature = "keyring")]
mod keyring_store;
mod marker;
mod memory;
mod migrate;
mod paths;
mod storage;
pub mod vault;

#[cfg(feature = "async")]
pub use async_storage::{AsyncSecureStorage, Blocking};
#[cfg(feature = "keyring")]
pub use chain::{Attempt, FallbackReport, SkipReason, Storage, default_store};
pub use error::Error;
pub use hearth_token_guard::ErrorKind;
#[cfg(feature = "keyring")]
pub use hybrid::HybridStore;
pub use key::{Key, KeyBuilder, MAX_KEY_LEN, MAX_PART_LEN, Namespace, SEPARATOR};
#[cfg(feature = "keyring")]
pub use keyring_store::{KeyringBackend, KeyringStore};
pub use marker::parse_backend_marker;
pub use memory::MemoryStore;
pub use migrate::migrate;
pub use paths::{default_key_file, default_vault_path};
pub use storage::{BackendInfo, Persistence, SecureStorage, SecureStorageExt};
pub use vault::{Argon2Params, EncryptedFileStore, KeySource, VaultOptions};
