//! Session token files under a hostile umask, symlinks, loose permissions and foreign
//! owners. Every test in this binary runs with umask 000: files and directories must come
//! out 0600/0700 regardless.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Once;

use hearth_token_guard::private_file::WriteMode;
use hearth_token_guard::{Error, SessionToken, SessionTokenFile};

fn permissive_umask() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        rustix::process::umask(rustix::fs::Mode::empty());
    });
}

fn scratch(name: &str) -> PathBuf {
    permissive_umask();
    let p = std::env::temp_dir().join(format!("hearth-sf-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    p
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn files_are_0600_and_new_directories_0700_under_umask_000() {
    let root = scratch("modes");
    let path = root.join("a/b/ws_token");
    let f = SessionTokenFile::generate(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&root.join("a/b")), 0o700);
    assert_eq!(mode(&root.join("a")), 0o700);
    assert_eq!(mode(&root), 0o700);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{}\n", f.token().expose_secret())
    );

    // A control file written by plain std under the same umask is world-writable: the
    // umask really is 000 here, so the assertions above are not vacuous.
    fs::write(root.join("a/control"), b"x").unwrap();
    assert_eq!(mode(&root.join("a/control")), 0o666);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn rotation_replaces_atomically_and_keeps_0600() {
    let root = scratch("rotate");
    let path = root.join("tok");
    let first = SessionTokenFile::generate(&path).unwrap();
    let second =
        SessionTokenFile::create(&path, SessionToken::generate().unwrap(), WriteMode::Replace)
            .unwrap();
    assert_ne!(first.token(), second.token());
    let read = SessionTokenFile::open(&path).unwrap();
    assert_eq!(read.token(), second.token());
    assert!(read.verify(second.token().expose_secret()));
    assert!(!read.verify(first.token().expose_secret()));
    assert_eq!(mode(&path), 0o600);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_symlinked_token_path_is_refused_for_reading_and_writing() {
    let root = scratch("symlink");
    let real = root.join("real");
    SessionTokenFile::generate(&real).unwrap();
    let link = root.join("link");
    symlink(&real, &link).unwrap();

    let err = SessionTokenFile::open(&link).unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");

    for mode in [WriteMode::Replace, WriteMode::CreateNew] {
        let err =
            SessionTokenFile::create(&link, SessionToken::generate().unwrap(), mode).unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err:?}");
    }
    // The link's target was not touched through it.
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A dangling symlink planted where the token will be written is refused too.
    let planted = root.join("planted");
    symlink(root.join("elsewhere"), &planted).unwrap();
    assert!(matches!(
        SessionTokenFile::generate(&planted),
        Err(Error::Symlink { .. })
    ));
    assert!(!root.join("elsewhere").exists());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_symlinked_directory_is_refused() {
    let root = scratch("symdir");
    fs::create_dir_all(root.join("real")).unwrap();
    fs::set_permissions(root.join("real"), fs::Permissions::from_mode(0o700)).unwrap();
    symlink(root.join("real"), root.join("dir")).unwrap();
    let err = SessionTokenFile::generate(root.join("dir/tok")).unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err:?}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_group_readable_token_file_is_refused_with_a_clear_error() {
    let root = scratch("loose");
    let path = root.join("tok");
    SessionTokenFile::generate(&path).unwrap();
    for loose in [0o640, 0o604, 0o660, 0o644] {
        fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
        let err = SessionTokenFile::open(&path).unwrap_err();
        match &err {
            Error::InsecurePermissions { mode, .. } => assert_eq!(*mode, loose),
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{loose:04o}")) && msg.contains("0600"),
            "{msg}"
        );
        assert!(msg.contains("tok"), "{msg}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(
        SessionTokenFile::open(&path).is_ok(),
        "owner read-only is private"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_directory_others_can_write_to_is_refused() {
    let root = scratch("opendir");
    fs::create_dir_all(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
    let err = SessionTokenFile::generate(root.join("tok")).unwrap_err();
    assert!(
        matches!(err, Error::InsecurePermissions { mode: 0o777, .. }),
        "{err:?}"
    );
    assert!(!root.join("tok").exists());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn malformed_contents_are_reported_not_returned() {
    let root = scratch("malformed");
    fs::create_dir_all(&root).unwrap();
    for (i, bad) in [&b""[..], b"\n", b"two words\n", b"tok\n\n", b"\xff\xfe"]
        .iter()
        .enumerate()
    {
        let p = root.join(format!("bad{i}"));
        fs::write(&p, bad).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let err = SessionTokenFile::open(&p).unwrap_err();
        assert!(
            matches!(err, Error::MalformedTokenFile { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let big = root.join("big");
    fs::write(&big, vec![b'a'; 5000]).unwrap();
    fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        SessionTokenFile::open(&big),
        Err(Error::TooLong { .. })
    ));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_file_owned_by_another_user_is_refused() {
    let root = scratch("owner");
    let path = root.join("tok");
    SessionTokenFile::generate(&path).unwrap();
    let me = rustix::process::geteuid();
    if !me.is_root() {
        // Only root can give a file away; as another user this case cannot be set up.
        eprintln!("skipped: not root, cannot chown");
        fs::remove_dir_all(&root).unwrap();
        return;
    }
    let nobody = rustix::process::Uid::from_raw(65534);
    rustix::fs::chown(&path, Some(nobody), None).unwrap();
    let err = SessionTokenFile::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::WrongOwner { owner: 65534, .. }),
        "{err:?}"
    );
    rustix::fs::chown(&root, Some(nobody), None).unwrap();
    let err = SessionTokenFile::generate(root.join("other")).unwrap_err();
    assert!(matches!(err, Error::WrongOwner { .. }), "{err:?}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn concurrent_writers_never_interleave() {
    let root = scratch("concurrent");
    let path = root.join("tok");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let t = SessionToken::generate_with_len(512).unwrap();
                    SessionTokenFile::create(&path, t, WriteMode::Replace).unwrap();
                    let read = SessionTokenFile::open(&path).unwrap();
                    assert_eq!(read.token().expose_secret().len(), 683);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let names: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["tok"], "no temporary files left behind");
    fs::remove_dir_all(&root).unwrap();
}
