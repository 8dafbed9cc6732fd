//! The marker file that records which backend a fallback chain chose for an app.
//!
//! Format (UTF-8, not secret): the line `hearth-backend 1`, then the backend's name
//! (`[a-z0-9-]`, 1-32 characters), each ending in `\n`. Anything else is
//! [`Error::Corrupt`]: an unreadable choice is never taken as "no choice yet".

#[cfg(feature = "keyring")]
use std::path::Path;

#[cfg(feature = "keyring")]
use hearth_token_guard::private_file::{self, WriteMode};

#[cfg(feature = "keyring")]
use crate::Error;

const HEADER: &str = "hearth-backend 1\n";
#[cfg(feature = "keyring")]
const MAX_LEN: usize = 64;

/// Parses the bytes of a fallback chain's marker file into the backend it records, `None`
/// if they are not exactly a marker (`hearth-backend 1`, then a name of `[a-z0-9-]`, 1-32
/// characters, each line ending in `\n`). The chain treats such a file as
/// [`Error::Corrupt`](crate::Error::Corrupt), never as "no choice yet".
///
/// ```
/// use hearth_secure_storage::parse_backend_marker;
///
/// assert_eq!(parse_backend_marker(b"hearth-backend 1\nhybrid\n"), Some("hybrid"));
/// assert_eq!(parse_backend_marker(b"hybrid\n"), None);
/// ```
#[must_use]
pub fn parse_backend_marker(bytes: &[u8]) -> Option<&str> {
    parse(bytes)
}

/// Parses a marker's bytes into the backend name.
pub(crate) fn parse(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let name = text.strip_prefix(HEADER)?.strip_suffix('\n')?;
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(name)
}

/// The recorded backend, `None` if there is no marker.
#[cfg(feature = "keyring")]
pub(crate) fn read(path: &Path) -> Result<Option<String>, Error> {
    let bytes = match private_file::read(path, MAX_LEN) {
        Ok(bytes) => bytes,
        Err(hearth_token_guard::Error::NotFound { .. }) => return Ok(None),
        Err(hearth_token_guard::Error::TooLong { .. }) => return Err(corrupt(path)),
        Err(e) => return Err(e.into()),
    };
    parse(&bytes)
        .map(|n| Some(n.to_owned()))
        .ok_or_else(|| corrupt(path))
}

/// Records `backend` (0600 in a 0700 directory, atomically).
#[cfg(feature = "keyring")]
pub(crate) fn write(path: &Path, backend: &str) -> Result<(), Error> {
    let text = format!("{HEADER}{backend}\n");
    debug_assert!(parse(text.as_bytes()).is_some());
    private_file::write(path, text.as_bytes(), WriteMode::Replace)?;
    Ok(())
}

/// Records `backend` unless a choice is recorded already, and returns the choice that
/// stands: of two first uses racing, both end with the one whose marker was written
/// first, never each with its own.
#[cfg(feature = "keyring")]
pub(crate) fn write_first(path: &Path, backend: &str) -> Result<String, Error> {
    let text = format!("{HEADER}{backend}\n");
    match private_file::write(path, text.as_bytes(), WriteMode::CreateNew) {
        Ok(()) => Ok(backend.to_owned()),
        Err(hearth_token_guard::Error::AlreadyExists { .. }) => {
            read(path)?.ok_or_else(|| corrupt(path))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(feature = "keyring")]
fn corrupt(path: &Path) -> Error {
    Error::Corrupt {
        path: path.into(),
        reason: "not a Hearth backend marker",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_strictly() {
        assert_eq!(parse(b"hearth-backend 1\nhybrid\n"), Some("hybrid"));
        assert_eq!(
            parse(b"hearth-backend 1\nsecret-service\n"),
            Some("secret-service")
        );
        for bad in [
            &b""[..],
            b"hybrid\n",
            b"hearth-backend 1\nhybrid",
            b"hearth-backend 1\n\n",
            b"hearth-backend 2\nhybrid\n",
            b"hearth-backend 1\nHybrid\n",
            b"hearth-backend 1\nhy brid\n",
            b"hearth-backend 1\nhybrid\nvault\n",
            b"hearth-backend 1\n\xff\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    #[cfg(feature = "keyring")]
    fn a_written_marker_reads_back_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("hearth-marker-{}", std::process::id()));
        let path = dir.join("app/backend");
        assert_eq!(read(&path).unwrap(), None);
        write(&path, "vault").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some("vault"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            write_first(&path, "hybrid").unwrap(),
            "vault",
            "the first choice stands"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(write_first(&path, "hybrid").unwrap(), "hybrid");
        std::fs::write(&path, b"junk").unwrap();
        assert!(matches!(read(&path), Err(Error::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
