//! [`migrate`]: move a namespace from one backend to another, verified.

use crate::{Error, Key, Namespace, SecureStorage};

/// Moves every secret of `namespace` from `from` to `to`: for each key, copy, read back
/// and compare (constant time), then delete from the source. A key that does not verify
/// stops the migration with [`Error::MigrationUnverified`], leaving it in the source.
/// With `dry_run`, nothing is written: the keys that would move are returned.
///
/// ```
/// use hearth_secure_storage::{MemoryStore, Namespace, SecureStorage, migrate};
/// use hearth_token_guard::SecretBytes;
///
/// let (old, new) = (MemoryStore::new(), MemoryStore::new());
/// old.store(&"app::a".parse()?, &SecretBytes::from_slice(b"1"))?;
/// let ns = Namespace::app("app")?;
/// assert_eq!(migrate(&old, &new, &ns, true)?.len(), 1); // dry run
/// assert!(new.list(&ns)?.is_empty());
/// assert_eq!(migrate(&old, &new, &ns, false)?.len(), 1);
/// assert!(old.list(&ns)?.is_empty() && new.list(&ns)?.len() == 1);
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub fn migrate(
    from: &dyn SecureStorage,
    to: &dyn SecureStorage,
    namespace: &Namespace,
    dry_run: bool,
) -> Result<Vec<Key>, Error> {
    let keys = from.list(namespace)?;
    if dry_run {
        return Ok(keys);
    }
    let mut moved = Vec::with_capacity(keys.len());
    for key in keys {
        // Listed but gone since (another process): nothing to move.
        let Some(secret) = from.retrieve(&key)? else {
            continue;
        };
        to.store(&key, &secret)?;
        match to.retrieve(&key)? {
            Some(back) if back == secret => {}
            _ => {
                return Err(Error::MigrationUnverified {
                    key: key.to_string(),
                });
            }
        }
        from.delete(&key)?;
        moved.push(key);
    }
    Ok(moved)
}
