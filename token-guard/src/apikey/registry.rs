//! [`KeyRegistry`]: issued API keys, stored as SHA-256 hashes only.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::hmac;

use super::cache::{Broken, FLUSH_EVERY, RECHECK, Shared, Stamp};
use super::{KeyId, generate, parse};
use crate::private_file::{self, DirLock, LOCK_TIMEOUT, WriteMode};
use crate::{ApiKey, Error, constant_time_eq};

/// What a key may do. The three roles of MediaEngine's API, or an app-defined name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Everything, key management included.
    Administrator,
    /// Read and change content.
    Curator,
    /// Read only.
    Consumer,
    /// An app-defined role: 1-32 of `[a-z0-9_-]`.
    Custom(String),
}

impl Role {
    /// Parses `administrator`, `curator`, `consumer` or a custom name.
    ///
    /// ```
    /// use hearth_token_guard::apikey::Role;
    ///
    /// assert_eq!(Role::parse("curator")?, Role::Curator);
    /// assert_eq!(Role::parse("uploader")?, Role::Custom("uploader".into()));
    /// assert!(Role::parse("Bad Role").is_err());
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn parse(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "administrator" => Role::Administrator,
            "curator" => Role::Curator,
            "consumer" => Role::Consumer,
            other
                if (1..=32).contains(&other.len())
                    && other.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    }) =>
            {
                Role::Custom(other.to_owned())
            }
            _ => {
                return Err(Error::InvalidPermission {
                    reason: "a role is 1 to 32 of a-z 0-9 _ -",
                });
            }
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Administrator => "administrator",
            Role::Curator => "curator",
            Role::Consumer => "consumer",
            Role::Custom(name) => name,
        })
    }
}

/// Who a verified key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id.
    pub key_id: KeyId,
    /// Its role.
    pub role: Role,
}

/// A key as the registry keeps it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The public id.
    pub id: KeyId,
    /// Its role.
    pub role: Role,
    /// A label for people (`"living-room tablet"`).
    pub label: String,
    /// When it was created (Unix seconds).
    pub created: u64,
    /// When it was last verified (Unix seconds), to the minute.
    pub last_used: Option<u64>,
    /// When it stops working (Unix seconds), if ever.
    pub expires: Option<u64>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The prefix and last four characters, to recognize a key without revealing it.
    pub hint: String,
    hash: [u8; 32],
}

/// Issued API keys in an owner-only file: create (the key is shown once), verify in
/// constant time, revoke one key without touching the others, list without secrets.
///
/// The records are held in memory, shared by every clone: [`verify`](Self::verify) reads
/// the file only when it changed (it compares the file's metadata at most once a second,
/// so another process's revocation is seen within a second; this registry's own changes
/// at once), and never writes: last-used times wait in memory and are written in one batch
/// by [`flush_last_used`](Self::flush_last_used) (hearth-guard calls it off the async
/// threads about once a minute; call it before exit to keep the last minute's).
///
/// ```
/// use hearth_token_guard::apikey::{KeyRegistry, Role};
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-reg-{}", std::process::id()));
/// let registry = KeyRegistry::open(dir.join("keys"));
/// let (key, record) = registry.create(Role::Curator, "tablet", None)?;
/// let who = registry.verify(key.expose_secret())?;
/// assert_eq!((who.key_id, who.role), (record.id.clone(), Role::Curator));
/// registry.revoke(&record.id)?;
/// assert!(registry.verify(key.expose_secret()).is_err());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyRegistry {
    path: PathBuf,
    prefix: String,
    shared: Shared,
    /// The key of the file's seal, when the registry is sealed.
    seal: Option<hmac::Key>,
}

/// The first line of an unsealed registry.
const HEADER: &str = "hearth-keys-v1";
/// The first word of a sealed registry's first line; the seal (base64url of an
/// HMAC-SHA256 of everything after that line) follows it.
const SEALED: &str = "hearth-keys-v2";
/// Shortest seal key accepted.
pub const MIN_SEAL_KEY_LEN: usize = 32;

impl KeyRegistry {
    /// A registry in `path` (created 0600 in a 0700 directory on the first key), issuing
    /// keys with the default prefix `hth`.
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            prefix: super::DEFAULT_PREFIX.to_owned(),
            shared: Shared::default(),
            seal: None,
        }
    }

    /// The same registry, sealed with `key` (at least [`MIN_SEAL_KEY_LEN`] bytes; keep it
    /// in SecureStorage, away from the registry file): every write carries an
    /// HMAC-SHA256 of the whole file under it, and every read checks it, so a record
    /// edited outside Hearth (a role raised to `administrator`, a revoked flag set back
    /// to 0, a line copied from an older file) is [`Error::Tampered`] and no key is
    /// admitted. An unsealed file is `Tampered` too (a seal cannot be stripped to pass);
    /// [`seal`](Self::seal) converts one once. What a seal cannot see: the whole file
    /// replaced by an older sealed copy.
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    /// use hearth_token_guard::apikey::{KeyRegistry, Role};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-seal-{}", std::process::id()));
    /// let seal = SecretBytes::generate(32)?;
    /// let registry = KeyRegistry::open(dir.join("keys")).with_seal_key(&seal)?;
    /// let (key, _) = registry.create(Role::Consumer, "tv", None)?;
    /// let edited = std::fs::read_to_string(dir.join("keys"))?.replace(" consumer ", " administrator ");
    /// std::fs::write(dir.join("keys"), edited)?;
    /// let err = registry.list().unwrap_err();
    /// assert!(matches!(err, hearth_token_guard::Error::Tampered { .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_seal_key(mut self, key: &crate::SecretBytes) -> Result<Self, Error> {
        let bytes = key.expose_secret();
        if bytes.len() < MIN_SEAL_KEY_LEN {
            return Err(Error::ShortKey {
                len: bytes.len(),
                min: MIN_SEAL_KEY_LEN,
            });
        }
        self.seal = Some(hmac::Key::new(hmac::HMAC_SHA256, bytes));
        Ok(self)
    }

    /// Seals this registry's file with `key` (see [`with_seal_key`](Self::with_seal_key))
    /// and returns the sealed registry: run once, on a file you trust, when a registry
    /// starts being sealed. A file sealed already must pass its check under `key`.
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    /// use hearth_token_guard::apikey::{KeyRegistry, Role};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-reseal-{}", std::process::id()));
    /// let old = KeyRegistry::open(dir.join("keys"));
    /// let (key, _) = old.create(Role::Consumer, "tv", None)?;
    /// let sealed = old.seal(&SecretBytes::generate(32)?)?;
    /// assert!(sealed.verify(key.expose_secret()).is_ok());
    /// assert!(old.list().is_err(), "an unsealed registry cannot read a sealed file");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn seal(&self, key: &crate::SecretBytes) -> Result<Self, Error> {
        let sealed = Self {
            shared: Shared::default(),
            ..self.clone()
        }
        .with_seal_key(key)?;
        let lock = self.lock_dir()?;
        let unsealed = Self {
            seal: None,
            shared: Shared::default(),
            ..self.clone()
        };
        match unsealed.load() {
            Ok(records) => sealed.store(&lock, records)?,
            // Sealed already: it must pass its check under this key.
            Err(Error::Tampered { .. }) => drop(sealed.load()?),
            Err(e) => return Err(e),
        }
        Ok(sealed)
    }

    /// Issues a key. The returned [`ApiKey`] is the only copy of the secret: show it once.
    pub fn create(
        &self,
        role: Role,
        label: &str,
        expires: Option<SystemTime>,
    ) -> Result<(ApiKey, KeyRecord), Error> {
        let label: String = label
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        let (key, id) = generate(&self.prefix)?;
        let text = key.expose_secret();
        let record = KeyRecord {
            id,
            role,
            label,
            created: now(),
            last_used: None,
            expires: expires.map(unix),
            revoked: false,
            hint: format!("{}_...{}", self.prefix, &text[text.len() - 4..]),
            hash: hash(text),
        };
        self.update(|records| records.push(record.clone()))?;
        Ok((key, record))
    }

    /// Verifies a presented key: format and checksum first (no lookup for a typo), then its
    /// record by id, then SHA-256 digests compared in constant time; revoked and expired
    /// keys are refused. Notes the use in memory (to the minute) for the next
    /// [`flush_last_used`](Self::flush_last_used); reads the file only if it changed.
    pub fn verify(&self, presented: &str) -> Result<Principal, Error> {
        let id = parse(presented, &self.prefix)?;
        let records = self.current()?;
        let Some(record) = records.iter().find(|r| r.id == id) else {
            return Err(Error::UnknownApiKey);
        };
        if !constant_time_eq(&record.hash, &hash(presented)) {
            return Err(Error::UnknownApiKey);
        }
        if record.revoked {
            return Err(Error::RevokedApiKey);
        }
        let t = now();
        if record.expires.is_some_and(|e| t >= e) {
            return Err(Error::ExpiredApiKey);
        }
        let principal = Principal {
            key_id: record.id.clone(),
            role: record.role.clone(),
        };
        let mut cache = self.shared.lock();
        let last = cache.pending.get(&id).copied().or(record.last_used);
        if last.is_none_or(|u| t >= u + 60) {
            cache.pending.insert(id, t);
        }
        Ok(principal)
    }

    /// Whether last-used times are waiting and the last flush was a minute ago or more.
    pub fn flush_due(&self) -> bool {
        let cache = self.shared.lock();
        !cache.pending.is_empty() && cache.flushed.is_none_or(|f| f.elapsed() >= FLUSH_EVERY)
    }

    /// Writes the last-used times noted since the last flush, in one locked write; returns
    /// how many. Best effort: on failure they are kept for the next flush, and no key's
    /// admission ever waits for this.
    pub fn flush_last_used(&self) -> Result<usize, Error> {
        let pending = {
            let mut cache = self.shared.lock();
            cache.flushed = Some(Instant::now());
            std::mem::take(&mut cache.pending)
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let n = pending.len();
        let written = self.update(|records| {
            for r in records.iter_mut() {
                if let Some(&t) = pending.get(&r.id) {
                    r.last_used = Some(r.last_used.map_or(t, |u| u.max(t)));
                }
            }
        });
        if written.is_err() {
            let mut cache = self.shared.lock();
            for (id, t) in pending {
                let slot = cache.pending.entry(id).or_insert(t);
                *slot = (*slot).max(t);
            }
        }
        written.map(|()| n)
    }

    /// How many times this registry (with its clones) has read its file: a diagnostic
    /// (lookups read it only when it changed).
    pub fn file_reads(&self) -> u64 {
        self.shared.lock().reads
    }

    /// The records, from memory unless the file changed since they were read.
    fn current(&self) -> Result<Arc<Vec<KeyRecord>>, Error> {
        let fresh = |checked: Option<Instant>| checked.is_some_and(|c| c.elapsed() < RECHECK);
        {
            let cache = self.shared.lock();
            if fresh(cache.checked) {
                if let Some((_, broken)) = cache.failed {
                    return Err(self.broken(broken));
                }
                if let Some((records, _)) = &cache.records {
                    return Ok(Arc::clone(records));
                }
            }
        }
        let stamp = Stamp::of(&self.path).map_err(|e| Error::io(&self.path, e))?;
        {
            let mut cache = self.shared.lock();
            if let Some((seen, broken)) = cache.failed
                && Stamp::unchanged(&seen, &stamp)
            {
                cache.checked = Some(Instant::now());
                return Err(self.broken(broken));
            }
            if cache.failed.is_none()
                && let Some((records, seen)) = &cache.records
                && Stamp::unchanged(seen, &stamp)
            {
                let records = Arc::clone(records);
                cache.checked = Some(Instant::now());
                return Ok(records);
            }
        }
        // Read after the stamp: a change in between is seen at the next check.
        let loaded = self.load();
        let mut cache = self.shared.lock();
        cache.reads += 1;
        cache.checked = Some(Instant::now());
        match loaded {
            Ok(records) => {
                let records = Arc::new(records);
                cache.records = Some((Arc::clone(&records), stamp));
                cache.failed = None;
                Ok(records)
            }
            Err(e) => {
                // A broken version is remembered (not read again until it changes); an
                // I/O error may pass, and is retried at the next check.
                cache.failed = match &e {
                    Error::Tampered { reason, .. } => Some((stamp, Broken::Tampered(reason))),
                    Error::MalformedTokenFile { .. } => Some((stamp, Broken::Malformed)),
                    _ => None,
                };
                Err(e)
            }
        }
    }

    fn broken(&self, broken: Broken) -> Error {
        let path = self.path.clone();
        match broken {
            Broken::Tampered(reason) => Error::Tampered { path, reason },
            Broken::Malformed => Error::MalformedTokenFile { path },
        }
    }

    /// Revokes one key; returns whether it existed (and was not already revoked).
    pub fn revoke(&self, id: &KeyId) -> Result<bool, Error> {
        self.update(|records| match records.iter_mut().find(|r| &r.id == id) {
            Some(r) if !r.revoked => {
                r.revoked = true;
                true
            }
            _ => false,
        })
    }

    /// Every key, without secrets, as the file holds them now (with the last-used times
    /// not yet flushed).
    pub fn list(&self) -> Result<Vec<KeyRecord>, Error> {
        let mut records = self.load()?;
        let cache = self.shared.lock();
        for r in &mut records {
            if let Some(&t) = cache.pending.get(&r.id) {
                r.last_used = Some(r.last_used.map_or(t, |u| u.max(t)));
            }
        }
        Ok(records)
    }

    fn load(&self) -> Result<Vec<KeyRecord>, Error> {
        let bytes = match private_file::read(&self.path, 16 << 20) {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let bad = || Error::MalformedTokenFile {
            path: self.path.clone(),
        };
        let tampered = |reason| Error::Tampered {
            path: self.path.clone(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let sealed = first.strip_prefix(SEALED).and_then(|s| s.strip_prefix(' '));
        match (sealed, &self.seal) {
            (None, None) if first == HEADER => {}
            (None, Some(_)) if first == HEADER => {
                return Err(tampered(
                    "is not sealed, but this registry requires its seal (seal it once with \
                     KeyRegistry::seal)",
                ));
            }
            (Some(_), None) => {
                return Err(tampered("is sealed: open it with its seal key"));
            }
            (Some(mac), Some(key)) => {
                let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| bad())?;
                hmac::verify(key, &sealed_message(rest), &mac).map_err(|_| {
                    tampered(
                        "failed its integrity check: it was changed outside Hearth, or the \
                         seal key is not its own",
                    )
                })?;
            }
            _ => return Err(bad()),
        }
        rest.lines()
            .filter(|l| !l.is_empty())
            .map(|l| decode(l).ok_or_else(bad))
            .collect()
    }

    /// Locks the registry's directory for a read-change-write.
    fn lock_dir(&self) -> Result<DirLock, Error> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DirLock::acquire(&dir, LOCK_TIMEOUT)
    }

    fn update<T>(&self, change: impl FnOnce(&mut Vec<KeyRecord>) -> T) -> Result<T, Error> {
        let lock = self.lock_dir()?;
        let mut records = self.load()?;
        let out = change(&mut records);
        self.store(&lock, records)?;
        Ok(out)
    }

    /// Writes `records` (sealed when this registry has a seal key) under `lock`.
    fn store(&self, lock: &DirLock, records: Vec<KeyRecord>) -> Result<(), Error> {
        let mut body = String::new();
        for r in &records {
            body.push_str(&encode(r));
            body.push('\n');
        }
        let first = match &self.seal {
            Some(key) => format!(
                "{SEALED} {}",
                URL_SAFE_NO_PAD.encode(hmac::sign(key, &sealed_message(&body)))
            ),
            None => HEADER.to_owned(),
        };
        let text = format!("{first}\n{body}");
        private_file::write_locked(lock, &self.path, text.as_bytes(), WriteMode::Replace)?;
        // This registry sees its own change at once (and its next lookup reads nothing).
        let stamp = Stamp::of(&self.path).ok().flatten();
        let mut cache = self.shared.lock();
        cache.records = Some((Arc::new(records), stamp));
        cache.failed = None;
        cache.checked = Some(Instant::now());
        Ok(())
    }
}

/// What a registry's seal covers: a label, then every record line.
fn sealed_message(body: &str) -> Vec<u8> {
    [SEALED.as_bytes(), b"\n", body.as_bytes()].concat()
}

fn encode(r: &KeyRecord) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let hex: String = r.hash.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{} {} {} {} {} {} {} {} {}",
        r.id,
        r.role,
        r.created,
        opt(r.last_used),
        opt(r.expires),
        u8::from(r.revoked),
        hex,
        URL_SAFE_NO_PAD.encode(r.hint.as_bytes()),
        URL_SAFE_NO_PAD.encode(r.label.as_bytes()),
    )
}

fn decode(line: &str) -> Option<KeyRecord> {
    let f: Vec<&str> = line.split(' ').collect();
    let [
        id,
        role,
        created,
        last_used,
        expires,
        revoked,
        hex,
        hint,
        label,
    ] = f[..]
    else {
        return None;
    };
    let opt = |v: &str| {
        if v == "-" {
            Some(None)
        } else {
            v.parse().ok().map(Some)
        }
    };
    let mut hash = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, b) in hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let text = |b64: &str| {
        URL_SAFE_NO_PAD
            .decode(b64)
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
    };
    Some(KeyRecord {
        id: KeyId(id.to_owned()),
        role: Role::parse(role).ok()?,
        label: text(label)?,
        created: created.parse().ok()?,
        last_used: opt(last_used)?,
        expires: opt(expires)?,
        revoked: revoked == "1",
        hint: text(hint)?,
        hash,
    })
}

fn hash(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
    out
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn now() -> u64 {
    unix(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("hearth-reg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn create_verify_revoke_list() {
        let dir = scratch("cycle");
        let reg = KeyRegistry::open(dir.join("keys"));
        let (admin, admin_rec) = reg.create(Role::Administrator, "ops laptop", None).unwrap();
        let (reader, reader_rec) = reg.create(Role::Consumer, "tv", None).unwrap();
        assert_eq!(
            reg.verify(admin.expose_secret()).unwrap().role,
            Role::Administrator
        );
        assert_eq!(
            reg.verify(reader.expose_secret()).unwrap().key_id,
            reader_rec.id
        );

        assert!(reg.revoke(&reader_rec.id).unwrap());
        assert!(!reg.revoke(&reader_rec.id).unwrap());
        assert!(matches!(
            reg.verify(reader.expose_secret()),
            Err(Error::RevokedApiKey)
        ));
        assert!(
            reg.verify(admin.expose_secret()).is_ok(),
            "other keys untouched"
        );

        let listed = reg.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id, admin_rec.id);
        assert!(listed[0].last_used.is_some());
        let k = admin.expose_secret();
        assert_eq!(listed[0].hint, format!("hth_...{}", &k[k.len() - 4..]));
        let file = std::fs::read_to_string(dir.join("keys")).unwrap();
        assert!(
            !file.contains(admin.expose_secret()) && !file.contains(&admin.expose_secret()[12..44]),
            "no secret on disk"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lookups_read_the_file_only_when_it_changed_and_never_write_it() {
        let dir = scratch("cache");
        let reg = KeyRegistry::open(dir.join("keys"));
        let (key, rec) = reg.create(Role::Consumer, "tv", None).unwrap();
        let before = std::fs::read(dir.join("keys")).unwrap();
        let started = Instant::now();
        for _ in 0..1000 {
            reg.verify(key.expose_secret()).unwrap();
            let (forged, _) = generate("hth").unwrap();
            assert!(reg.verify(forged.expose_secret()).is_err());
        }
        // Its own write is in memory already. For two seconds after a write the file's
        // stamp is not trusted, so it may be read once per recheck in that time; never
        // once per lookup.
        assert!(
            reg.file_reads() <= reads_allowed(started),
            "{} reads in {:?}",
            reg.file_reads(),
            started.elapsed()
        );
        assert_eq!(
            std::fs::read(dir.join("keys")).unwrap(),
            before,
            "no write per lookup"
        );
        // The use is noted, and written in one flush.
        assert!(reg.flush_due());
        assert_eq!(reg.flush_last_used().unwrap(), 1);
        assert!(!reg.flush_due());
        let on_disk = KeyRegistry::open(dir.join("keys")).list().unwrap();
        assert!(on_disk[0].last_used.is_some());
        // Another process (here another registry on the same file) revokes the key: seen
        // within RECHECK, with one read.
        assert!(KeyRegistry::open(dir.join("keys")).revoke(&rec.id).unwrap());
        let (reads, revoked) = (reg.file_reads(), Instant::now());
        let deadline = Instant::now() + RECHECK * 5;
        while reg.verify(key.expose_secret()).is_ok() {
            assert!(Instant::now() < deadline, "the revocation was never seen");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(matches!(
            reg.verify(key.expose_secret()),
            Err(Error::RevokedApiKey)
        ));
        let new_reads = reg.file_reads() - reads;
        assert!(
            (1..=reads_allowed(revoked)).contains(&new_reads),
            "{new_reads}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The most reads a registry may make since `since`: one per recheck interval
    /// (while a recent write keeps the stamp untrusted), plus one.
    fn reads_allowed(since: Instant) -> u64 {
        since.elapsed().as_secs() / RECHECK.as_secs() + 1
    }

    #[test]
    fn a_sealed_registry_refuses_every_edit_made_outside_it() {
        let dir = scratch("sealed");
        let path = dir.join("keys");
        let seal = crate::SecretBytes::generate(32).unwrap();
        let reg = KeyRegistry::open(&path).with_seal_key(&seal).unwrap();
        let (key, rec) = reg.create(Role::Consumer, "tv", None).unwrap();
        let (_, doomed) = reg.create(Role::Curator, "old", None).unwrap();
        let before_revoke = std::fs::read_to_string(&path).unwrap();
        assert!(reg.revoke(&doomed.id).unwrap());
        let good = std::fs::read_to_string(&path).unwrap();
        assert!(good.starts_with("hearth-keys-v2 "));
        let tampered = |text: &str| {
            private_file::write(&path, text.as_bytes(), WriteMode::Replace).unwrap();
            let fresh = KeyRegistry::open(&path).with_seal_key(&seal).unwrap();
            matches!(fresh.list(), Err(Error::Tampered { .. }))
                && matches!(
                    fresh.verify(key.expose_secret()),
                    Err(Error::Tampered { .. })
                )
        };
        let lines: Vec<&str> = good.lines().collect();
        let old_line = before_revoke.lines().nth(2).unwrap();
        let cases = [
            ("role raised", good.replace(" consumer ", " administrator ")),
            (
                "revocation undone",
                good.replace(&lines[2].to_owned(), old_line),
            ),
            ("a record removed", format!("{}\n{}\n", lines[0], lines[2])),
            (
                "a record added",
                format!(
                    "{good}{}\n",
                    lines[1].replace(&rec.id.to_string(), "AAAAAAAA")
                ),
            ),
            (
                "the seal removed",
                good.replacen(lines[0], "hearth-keys-v1", 1),
            ),
            (
                "the seal changed",
                good.replacen(&lines[0][15..20], "AAAAA", 1),
            ),
        ];
        for (what, text) in cases {
            assert_ne!(text, good, "{what}: the edit changed nothing");
            assert!(tampered(&text), "{what}");
        }
        // A broken file is read once per version, not once per lookup.
        let edited = good.replace(" consumer ", " administrator ");
        private_file::write(&path, edited.as_bytes(), WriteMode::Replace).unwrap();
        let broken = KeyRegistry::open(&path).with_seal_key(&seal).unwrap();
        let started = Instant::now();
        for _ in 0..1000 {
            assert!(matches!(
                broken.verify(key.expose_secret()),
                Err(Error::Tampered { .. })
            ));
        }
        assert!(broken.file_reads() >= 1 && broken.file_reads() <= reads_allowed(started));
        // Another seal key, and no seal key at all, cannot read it either.
        private_file::write(&path, good.as_bytes(), WriteMode::Replace).unwrap();
        let other = crate::SecretBytes::generate(32).unwrap();
        let wrong = KeyRegistry::open(&path).with_seal_key(&other).unwrap();
        assert!(matches!(wrong.list(), Err(Error::Tampered { .. })));
        assert!(matches!(
            KeyRegistry::open(&path).list(),
            Err(Error::Tampered { .. })
        ));
        // The untouched file reads.
        let fresh = KeyRegistry::open(&path).with_seal_key(&seal).unwrap();
        assert_eq!(
            fresh.verify(key.expose_secret()).unwrap().role,
            Role::Consumer
        );
        assert!(matches!(
            KeyRegistry::open(&path).with_seal_key(&crate::SecretBytes::generate(16).unwrap()),
            Err(Error::ShortKey { len: 16, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_forged_and_expired_keys_are_refused() {
        let dir = scratch("refuse");
        let reg = KeyRegistry::open(dir.join("keys"));
        let (key, rec) = reg
            .create(
                Role::Curator,
                "x",
                Some(SystemTime::now() - Duration::from_secs(1)),
            )
            .unwrap();
        assert!(matches!(
            reg.verify(key.expose_secret()),
            Err(Error::ExpiredApiKey)
        ));
        // A well-formed key with a registered id but another secret.
        let (other, _) = generate("hth").unwrap();
        let forged = format!("hth_{}{}", rec.id, &other.expose_secret()[12..44]);
        let forged = format!(
            "{forged}{}",
            std::str::from_utf8(&super::super::base62_u32(super::super::crc32(
                forged.as_bytes()
            )))
            .unwrap()
        );
        assert!(matches!(reg.verify(&forged), Err(Error::UnknownApiKey)));
        assert!(matches!(
            reg.verify(other.expose_secret()),
            Err(Error::UnknownApiKey)
        ));
        assert!(matches!(
            reg.verify("hth_short"),
            Err(Error::MalformedApiKey { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
