//! Unix sockets only this user can reach: created 0600 in a 0700 directory whatever the
//! umask, stale sockets removed safely, and the peer's uid checked (`SO_PEERCRED`).

use std::io;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use hearth_token_guard::private_file;

use crate::Error;

/// Binds a listening socket at `path` that only this user can connect to.
///
/// The parent directory is created `0700` if missing and must grant nothing to group or
/// others (a `0755` directory is refused: between `bind` and `chmod` the socket has the
/// umask's mode, and only the directory keeps others out in that moment). A socket left
/// by a dead server is removed; a socket with a live server behind it, or anything that is
/// not a socket, is an error and is left alone. The socket ends up `0600`.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// use hearth_guard::{bind_private_socket, check_peer_uid};
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-sock-{}", std::process::id()));
/// let path = dir.join("ui.sock");
/// let listener = bind_private_socket(&path)?;
/// assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
///
/// let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
/// let (server_side, _) = listener.accept().unwrap();
/// check_peer_uid(&server_side)?; // same user: admitted
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_guard::Error>(())
/// ```
pub fn bind_private_socket(path: &Path) -> Result<UnixListener, Error> {
    let io_err = |source| Error::LocalIo {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    private_file::ensure_private_dir(dir)?;
    let mode = std::fs::metadata(dir).map_err(io_err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::LocalFile(
            hearth_token_guard::Error::InsecurePermissions {
                path: dir.to_path_buf(),
                mode,
                expected: "0700 for a socket directory",
            },
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(Error::SocketInUse {
                    path: path.to_path_buf(),
                    reason: "another server is listening on it",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        },
        Ok(_) => {
            return Err(Error::SocketInUse {
                path: path.to_path_buf(),
                reason: "it exists and is not a socket",
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(listener)
}

/// The uid of the process at the other end of a Unix socket (`SO_PEERCRED`, taken when
/// it connected).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_uid(stream: impl AsFd) -> Result<u32, Error> {
    let cred = rustix::net::sockopt::socket_peercred(stream).map_err(|e| Error::LocalIo {
        path: "SO_PEERCRED".into(),
        source: e.into(),
    })?;
    Ok(cred.uid.as_raw())
}

/// `Ok` when the peer runs as this process's user, else [`Error::PeerUidMismatch`].
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn check_peer_uid(stream: impl AsFd) -> Result<(), Error> {
    let expected = rustix::process::getuid().as_raw();
    let actual = peer_uid(stream)?;
    if actual == expected {
        Ok(())
    } else {
        Err(Error::PeerUidMismatch { expected, actual })
    }
}
