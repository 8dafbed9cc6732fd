//! [`SessionTokenFile`]: the per-session token a local server shares with its clients.

use std::path::{Path, PathBuf};

use crate::bearer::first_invalid_token68;
use crate::private_file::{self, WriteMode};
use crate::{Error, SessionToken};

/// Largest token file [`SessionTokenFile::open`] reads.
const MAX_FILE_LEN: usize = 4096;

/// A session token stored in an owner-only file, as JARVIS does for its local WebSocket:
/// the server generates a token per session and writes it to `~/.app/ws_token`; clients of
/// the same user read it and present it; the server compares in constant time.
///
/// The file holds the token and a newline. It is written with
/// [`private_file::write`] (atomic, durable, `0600` in a `0700` directory whatever the
/// umask) and read with [`private_file::read`] (no symlinks, no file other users can read).
///
/// ```
/// use hearth_token_guard::SessionTokenFile;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-s-{}", std::process::id()));
/// let server = SessionTokenFile::generate(dir.join("ws_token"))?;
///
/// // A client of the same user reads the token and presents it.
/// let client = SessionTokenFile::open(dir.join("ws_token"))?;
/// assert!(server.verify(client.token().expose_secret()));
/// assert!(!server.verify("guess"));
///
/// server.remove()?; // at the end of the session
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug)]
pub struct SessionTokenFile {
    path: PathBuf,
    token: SessionToken,
}

impl SessionTokenFile {
    /// Generates a fresh 32-byte token and writes it to `path`, which must not exist yet
    /// ([`Error::AlreadyExists`] otherwise).
    ///
    /// ```
    /// use hearth_token_guard::{Error, SessionTokenFile};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-g-{}", std::process::id()));
    /// let f = SessionTokenFile::generate(dir.join("t"))?;
    /// assert_eq!(f.token().expose_secret().len(), 43);
    /// assert!(matches!(SessionTokenFile::generate(dir.join("t")), Err(Error::AlreadyExists { .. })));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn generate(path: impl Into<PathBuf>) -> Result<Self, Error> {
        Self::create(path, SessionToken::generate()?, WriteMode::CreateNew)
    }

    /// Writes `token` to `path`; [`WriteMode::Replace`] rotates an existing file atomically.
    ///
    /// The token must be token68 text (as generated tokens are), so it can be presented as
    /// a bearer credential; otherwise [`Error::MalformedBearer`] reports the offset.
    ///
    /// ```
    /// use hearth_token_guard::{SessionToken, SessionTokenFile, private_file::WriteMode};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-c-{}", std::process::id()));
    /// let token = SessionToken::generate_with_len(48)?;
    /// let f = SessionTokenFile::create(dir.join("t"), token, WriteMode::Replace)?;
    /// assert_eq!(f.token().expose_secret().len(), 64);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn create(
        path: impl Into<PathBuf>,
        token: SessionToken,
        mode: WriteMode,
    ) -> Result<Self, Error> {
        let path = path.into();
        let text = token.expose_secret().as_bytes();
        if let Some(at) = first_invalid_token68(text) {
            return Err(Error::MalformedBearer { at });
        }
        if text.len() + 1 > MAX_FILE_LEN {
            return Err(Error::TooLong {
                limit: MAX_FILE_LEN - 1,
            });
        }
        let mut contents = zeroize::Zeroizing::new(Vec::with_capacity(text.len() + 1));
        contents.extend_from_slice(text);
        contents.push(b'\n');
        private_file::write(&path, &contents, mode)?;
        Ok(Self { path, token })
    }

    /// Reads the token from `path`, refusing symlinks ([`Error::Symlink`]), files others
    /// can access ([`Error::InsecurePermissions`]) or that belong to another user
    /// ([`Error::WrongOwner`]), and content that is not a single token line
    /// ([`Error::MalformedTokenFile`]).
    ///
    /// ```
    /// use hearth_token_guard::{Error, SessionTokenFile};
    ///
    /// let err = SessionTokenFile::open("/nonexistent/hearth/token").unwrap_err();
    /// assert!(matches!(err, Error::NotFound { .. }));
    /// ```
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let contents = private_file::read(&path, MAX_FILE_LEN)?;
        let text = contents.strip_suffix(b"\n").unwrap_or(&contents);
        if first_invalid_token68(text).is_some() {
            return Err(Error::MalformedTokenFile { path });
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| Error::MalformedTokenFile { path: path.clone() })?;
        Ok(Self {
            token: SessionToken::new(text),
            path,
        })
    }

    /// The token.
    ///
    /// ```
    /// # use hearth_token_guard::SessionTokenFile;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-t-{}", std::process::id()));
    /// let f = SessionTokenFile::generate(dir.join("t"))?;
    /// let header = format!("Bearer {}", f.token().expose_secret());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn token(&self) -> &SessionToken {
        &self.token
    }

    /// The file's path.
    ///
    /// ```
    /// # use hearth_token_guard::SessionTokenFile;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-p-{}", std::process::id()));
    /// let f = SessionTokenFile::generate(dir.join("t"))?;
    /// assert!(f.path().ends_with("t"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks a presented token in constant time (content and length).
    ///
    /// ```
    /// # use hearth_token_guard::SessionTokenFile;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-v-{}", std::process::id()));
    /// let f = SessionTokenFile::generate(dir.join("t"))?;
    /// assert!(!f.verify(""));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn verify(&self, presented: impl AsRef<[u8]>) -> bool {
        self.token.verify(presented)
    }

    /// Deletes the file (at the end of the session); the token is zeroized as `self` drops.
    ///
    /// ```
    /// # use hearth_token_guard::SessionTokenFile;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-r-{}", std::process::id()));
    /// let f = SessionTokenFile::generate(dir.join("t"))?;
    /// f.remove()?;
    /// assert!(!dir.join("t").exists());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn remove(self) -> Result<(), Error> {
        std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))
    }
}
