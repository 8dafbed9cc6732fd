//! [`AuditLog`]: the writer. One thread owns the file; appenders hand it entries and wait
//! until their record is on disk (group commit: one write and one `fdatasync` per batch,
//! then the head anchored).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::Record;
use crate::verify::verify;
use crate::{Anchor, AuditKey, Entry, Error, Head};

/// How the log rotates and batches.
///
/// ```
/// use hearth_audit::AuditOptions;
///
/// let options = AuditOptions::default().max_file_bytes(1 << 20);
/// assert_eq!(options.file_limit(), 1 << 20);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct AuditOptions {
    max_file_bytes: u64,
    max_batch: usize,
}

impl Default for AuditOptions {
    /// Files rotated past 64 MiB; at most 4096 records per group commit.
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
            max_batch: 4096,
        }
    }
}

impl AuditOptions {
    /// Rotate the active file once it holds this many bytes (at least 4 KiB).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes.max(4096);
        self
    }

    /// The rotation size.
    #[must_use]
    pub fn file_limit(&self) -> u64 {
        self.max_file_bytes
    }
}

struct Job {
    entry: Entry,
    done: mpsc::SyncSender<Result<u64, Error>>,
}

/// An append-only, HMAC-chained audit log (JSON Lines, one record per line; the format is
/// in [`Record`]).
///
/// - [`append`](Self::append) returns once the record is written, `fdatasync`ed and the
///   head anchored: an acknowledged record survives a crash. Concurrent appends share
///   one commit.
/// - Opening checks the whole chain against the anchored head (linear in the log's size)
///   and removes a torn last line (an append cut short by a crash, never acknowledged); a
///   log that was cut short, edited or put back from an older copy is refused as
///   [`Error::Tampered`].
/// - One writer at a time: a second `open` of the same log, in any process, is
///   [`Error::Busy`].
/// - After a failed write the log stops ([`Error::Stopped`]): what reached the disk is
///   not known, so the next `open` finds out.
/// - Files are 0600 in a 0700 directory; rotated files are `NAME.<first seq>`.
///
/// ```
/// use std::sync::Arc;
/// use hearth_audit::{AuditKey, AuditLog, AuditOptions, Entry, Event, Outcome, StorageAnchor, verify};
/// use hearth_secure_storage::MemoryStore;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-audit-{}", std::process::id()));
/// let path = dir.join("audit.jsonl");
/// let store = Arc::new(MemoryStore::new());
/// let (key, _) = AuditKey::generate()?;
/// let anchor = StorageAnchor::new(store, "app::audit::head".parse().unwrap());
/// let log = AuditLog::open(&path, AuditKey::from_bytes(&[1; 32])?, Box::new(anchor), AuditOptions::default())?;
/// let seq = log.append(Entry::new(Event::Login, "alice", "session", "sign in", Outcome::Success)?)?;
/// assert_eq!(seq, 1);
/// drop(log);
/// assert_eq!(verify(&path, &AuditKey::from_bytes(&[1; 32])?, None)?.records, 1);
/// # drop(key); std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_audit::Error>(())
/// ```
pub struct AuditLog {
    jobs: Option<mpsc::SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
    path: PathBuf,
    /// Set by the writer when a write failed: nothing is recorded from then on.
    stopped: Arc<AtomicBool>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, MACed with `key`, its head kept by `anchor`.
    pub fn open(
        path: &Path,
        key: AuditKey,
        anchor: Box<dyn Anchor>,
        options: AuditOptions,
    ) -> Result<Self, Error> {
        let lock = WriterLock::take(path)?;
        Self::open_locked(path, key, anchor, options, lock)
    }

    /// Opens (or creates) the log at `path` with its MAC key and anchored head kept in
    /// `store` under `namespace` (`NS::key` and `NS::head`); the key is made on first
    /// use, under the writer lock.
    #[cfg(feature = "storage")]
    pub fn open_in(
        path: &Path,
        store: std::sync::Arc<dyn hearth_secure_storage::SecureStorage>,
        namespace: &hearth_secure_storage::Namespace,
        options: AuditOptions,
    ) -> Result<Self, Error> {
        let anchor = crate::StorageAnchor::new(Arc::clone(&store), namespace.key(["head"])?);
        Self::open_in_with_anchor(path, store, namespace, Box::new(anchor), options)
    }

    /// [`open_in`](Self::open_in) with the head kept by `anchor` instead (a store the
    /// writers of several hosts share, hearth-gate's Redis); the MAC key is still `NS::key`
    /// in `store`, made on first use under the writer lock.
    #[cfg(feature = "storage")]
    pub fn open_in_with_anchor(
        path: &Path,
        store: std::sync::Arc<dyn hearth_secure_storage::SecureStorage>,
        namespace: &hearth_secure_storage::Namespace,
        anchor: Box<dyn Anchor>,
        options: AuditOptions,
    ) -> Result<Self, Error> {
        let lock = WriterLock::take(path)?;
        let key = AuditKey::load_or_create(store.as_ref(), &namespace.key(["key"])?)?;
        Self::open_locked(path, key, anchor, options, lock)
    }

    fn open_locked(
        path: &Path,
        key: AuditKey,
        anchor: Box<dyn Anchor>,
        options: AuditOptions,
        lock: WriterLock,
    ) -> Result<Self, Error> {
        let anchored = anchor.load()?;
        let found = verify(path, &key, anchored.as_ref())?;
        if anchored.is_none() && found.records > 0 {
            return Err(Error::Tampered {
                file: found.files.last().cloned().unwrap_or_else(|| path.into()),
                line: 0,
                seq: None,
                reason: "the log has records but no anchored head: the anchor was removed".into(),
            });
        }
        if anchored.is_none() {
            // Anchored before the first record, so a log with records and no anchor is
            // always a removed anchor, never a crash.
            anchor.store(&Head::GENESIS)?;
        }
        if let Some(torn) = &found.torn_tail {
            let file = OpenOptions::new()
                .write(true)
                .open(&torn.file)
                .map_err(|e| Error::io(&torn.file, e))?;
            file.set_len(torn.valid_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&torn.file, e))?;
        }
        let (file, size) = open_active(path)?;
        let active_first = if size == 0 { None } else { first_seq(path)? };
        let stopped = Arc::new(AtomicBool::new(false));
        let mut writer = Writer {
            path: path.to_path_buf(),
            file,
            size,
            active_first,
            head: found.head,
            key,
            anchor,
            options,
            stopped: Arc::clone(&stopped),
            _lock: lock,
        };
        let (jobs, queue) = mpsc::sync_channel::<Job>(options.max_batch);
        let worker = std::thread::Builder::new()
            .name("hearth-audit".into())
            .spawn(move || writer.run(&queue))
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            jobs: Some(jobs),
            worker: Some(worker),
            path: path.to_path_buf(),
            stopped,
        })
    }

    /// Appends `entry`; returns its `seq` once it is durable and anchored.
    pub fn append(&self, entry: Entry) -> Result<u64, Error> {
        let (done, outcome) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or(Error::Stopped)?;
        jobs.send(Job { entry, done }).map_err(|_| Error::Stopped)?;
        outcome.recv().map_err(|_| Error::Stopped)?
    }

    /// Hands `entry` to the writer without waiting for it to be durable: for a server's
    /// request path, which must not wait on a disk (a denial record). `Ok(false)` when the
    /// writer's queue (as many entries as a group commit holds) is full: the entry is not
    /// recorded, and the caller should count it (and record the count later). Use
    /// [`append`](Self::append) when the record must be on disk before going on.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hearth_audit::{AuditLog, AuditOptions, Entry, Event, Outcome};
    /// use hearth_secure_storage::MemoryStore;
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-submit-{}", std::process::id()));
    /// let ns = "app::audit".parse().unwrap();
    /// let log = AuditLog::open_in(&dir.join("audit.jsonl"), Arc::new(MemoryStore::new()), &ns,
    ///     AuditOptions::default())?;
    /// let entry = Entry::new(Event::FailedAuthAttempt, "-", "/api", "GET", Outcome::Denied)?;
    /// assert!(log.submit(entry)?);
    /// drop(log); // waits for what was handed over
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_audit::Error>(())
    /// ```
    pub fn submit(&self, entry: Entry) -> Result<bool, Error> {
        // A writer that failed records nothing more: say so, not "queued".
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::Stopped);
        }
        let (done, _outcome) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or(Error::Stopped)?;
        match jobs.try_send(Job { entry, done }) {
            Ok(()) => Ok(true),
            Err(mpsc::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(Error::Stopped),
        }
    }

    /// The log's active file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AuditLog {
    /// Waits for the records already handed over, then releases the writer lock.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    /// The first record's seq in the active file, if it has one.
    active_first: Option<u64>,
    head: Head,
    key: AuditKey,
    anchor: Box<dyn Anchor>,
    options: AuditOptions,
    stopped: Arc<AtomicBool>,
    _lock: WriterLock,
}

impl Writer {
    fn run(&mut self, queue: &mpsc::Receiver<Job>) {
        while let Ok(first) = queue.recv() {
            let mut jobs = vec![first];
            while jobs.len() < self.options.max_batch {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if self.stopped.load(Ordering::Acquire) {
                for job in jobs {
                    let _ = job.done.send(Err(Error::Stopped));
                }
                continue;
            }
            match self.commit(&jobs) {
                Ok(first_seq) => {
                    for (i, job) in jobs.into_iter().enumerate() {
                        let _ = job.done.send(Ok(first_seq + i as u64));
                    }
                }
                Err(e) => {
                    self.stopped.store(true, Ordering::Release);
                    let text = e.to_string();
                    for job in jobs {
                        let _ = job.done.send(Err(Error::io(
                            &self.path,
                            std::io::Error::other(text.clone()),
                        )));
                    }
                }
            }
        }
    }

    /// Writes one batch; returns the first record's seq.
    fn commit(&mut self, jobs: &[Job]) -> Result<u64, Error> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let time = crate::time::utc_millis(millis);
        let mut text = String::with_capacity(jobs.len() * 320);
        let mut head = self.head;
        for job in jobs {
            head = Record::write_line(&mut text, &self.key, &head, &job.entry, &time);
        }
        let first = self.head.seq + 1;
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        self.size += text.len() as u64;
        self.active_first.get_or_insert(first);
        self.anchor.store(&head)?;
        self.head = head;
        if self.size >= self.options.max_file_bytes {
            self.rotate()?;
        }
        Ok(first)
    }

    /// Renames the active file to `NAME.<its first seq>` and starts an empty one.
    fn rotate(&mut self) -> Result<(), Error> {
        let Some(first) = self.active_first else {
            return Ok(());
        };
        let mut rotated = self.path.as_os_str().to_owned();
        rotated.push(format!(".{first:012}"));
        std::fs::rename(&self.path, &rotated).map_err(|e| Error::io(&self.path, e))?;
        sync_dir(&self.path)?;
        let (file, size) = open_active(&self.path)?;
        self.file = file;
        self.size = size;
        self.active_first = None;
        Ok(())
    }
}

/// The active file, opened for appending (created 0600, its directory 0700 and synced).
fn open_active(path: &Path) -> Result<(File, u64), Error> {
    let dir = parent(path);
    hearth_token_guard::private_file::ensure_private_dir(dir)?;
    let existed = path.exists();
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    if !existed {
        file.sync_all().map_err(|e| Error::io(path, e))?;
        sync_dir(path)?;
    }
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    Ok((file, size))
}

/// The seq of the active file's first record.
fn first_seq(path: &Path) -> Result<Option<u64>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .next()
        .and_then(|l| Record::parse(l).ok())
        .map(|r| r.seq))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn sync_dir(path: &Path) -> Result<(), Error> {
    let dir = parent(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// An exclusive `flock` on `NAME.lock`, held by the writer thread (released when the
/// file is closed); taking it waits up to half a second.
struct WriterLock {
    _file: File,
}

impl WriterLock {
    fn take(path: &Path) -> Result<Self, Error> {
        hearth_token_guard::private_file::ensure_private_dir(parent(path))?;
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&lock)
            .map_err(|e| Error::io(&lock, e))?;
        // A writer that just closed the log may still hold the lock for an instant, in a
        // child process this one forked meanwhile (the descriptor lives until that child
        // execs): wait a little before calling it another writer.
        for attempt in 0..50 {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Self { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) if attempt < 49 => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => break,
                Err(e) => return Err(Error::io(&lock, e.into())),
            }
        }
        Err(Error::Busy { path: path.into() })
    }
}
