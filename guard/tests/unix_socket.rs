//! The private Unix socket helper with real sockets, a real umask of 000, and (as root) a
//! real process of another user connecting.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use hearth_guard::Error;
use hearth_guard::{bind_private_socket, check_peer_uid, peer_uid};

const CLIENT_ENV: &str = "HEARTH_SOCKET_CLIENT";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-sock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// One test, because the umask is per process: nothing else runs in this binary while it
/// is 000.
#[test]
fn sockets_are_private_stale_ones_replaced_live_ones_kept_and_peers_checked() {
    if let Ok(path) = std::env::var(CLIENT_ENV) {
        // The other-user client (see the end of this test).
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(b"hi").unwrap();
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf);
        return;
    }
    let dir = scratch("umask");
    let path = dir.join("run/app.sock");

    // Under umask 000: the directory is 0700 and the socket 0600 anyway.
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let listener = bind_private_socket(&path);
    rustix::process::umask(old);
    let listener = listener.unwrap();
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);

    // A live server's socket is not taken over.
    assert!(matches!(
        bind_private_socket(&path),
        Err(Error::SocketInUse { .. })
    ));
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );

    // Same user: the peer check passes on both ends.
    let client = UnixStream::connect(&path).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    check_peer_uid(&server_side).unwrap();
    check_peer_uid(&client).unwrap();
    drop((client, server_side));

    // A dead server's socket is stale: replaced.
    drop(listener);
    let listener = bind_private_socket(&path).unwrap();
    assert_eq!(mode(&path), 0o600);

    // Not a socket: left alone.
    let file = dir.join("run/not-a-socket");
    std::fs::write(&file, b"data").unwrap();
    assert!(matches!(
        bind_private_socket(&file),
        Err(Error::SocketInUse { .. })
    ));
    assert_eq!(std::fs::read(&file).unwrap(), b"data");

    // A directory others can enter is refused.
    let open_dir = dir.join("open");
    std::fs::create_dir_all(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = bind_private_socket(&open_dir.join("s.sock")).unwrap_err();
    assert!(err.to_string().contains("0700"), "{err}");

    other_user_is_caught_by_the_peer_check(&dir, &path, listener);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// As root: open the directory and socket up (as a misconfiguration would), connect as
/// `nobody` from a real process, and see the uid check refuse it. Other users cannot be
/// impersonated without root, so the check is skipped (and says so) otherwise.
fn other_user_is_caught_by_the_peer_check(
    dir: &Path,
    path: &Path,
    listener: std::os::unix::net::UnixListener,
) {
    if rustix::process::getuid().as_raw() != 0 {
        eprintln!("not root: the other-user half of this test needs root and is skipped");
        return;
    }
    for p in [dir, path.parent().unwrap()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The test binary under target/ may not be readable by nobody: run a copy.
    let exe = dir.join("client-exe");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "sockets_are_private_stale_ones_replaced_live_ones_kept_and_peers_checked",
            "--nocapture",
        ])
        .env(CLIENT_ENV, path)
        // Its own libtest summary would count twice in the suite's totals.
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    assert_eq!(peer_uid(&conn).unwrap(), 65534);
    match check_peer_uid(&conn) {
        Err(Error::PeerUidMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (0, 65534));
        }
        other => panic!("another user's connection was not refused: {other:?}"),
    }
    let mut buf = [0u8; 2];
    conn.read_exact(&mut buf).unwrap();
    drop(conn);
    assert!(child.wait().unwrap().success());
}
