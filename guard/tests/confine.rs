//! Path confinement against a real directory tree with real symlinks.
#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use hearth_guard::{Confined, Error, confine};

fn tree(name: &str) -> (PathBuf, Confined) {
    let base = std::env::temp_dir().join(format!("hearth-confine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("library");
    std::fs::create_dir_all(root.join("music/album")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(root.join("music/album/track.flac"), b"x").unwrap();
    symlink("/etc", root.join("etc-link")).unwrap();
    symlink("../outside", root.join("sibling-link")).unwrap();
    symlink("music/album", root.join("favourite")).unwrap();
    symlink("favourite", root.join("chain")).unwrap();
    symlink("missing-target", root.join("dangling")).unwrap();
    symlink("/", root.join("music/root-link")).unwrap();
    let confined = Confined::new(&root).unwrap();
    (base, confined)
}

fn refused(c: &Confined, p: &str) -> bool {
    matches!(c.resolve(p), Err(Error::PathRefused { .. }))
}

#[test]
fn symlinks_out_of_the_root_are_refused_wherever_they_sit() {
    let (base, c) = tree("escape");
    for p in [
        "etc-link",
        "etc-link/passwd",
        "etc-link/new-file",
        "sibling-link",
        "sibling-link/x",
        "music/root-link/etc",
        "dangling",
        "dangling/x",
    ] {
        assert!(refused(&c, p), "{p:?} was not refused");
    }
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn symlinks_inside_the_root_resolve_inside_it() {
    let (base, c) = tree("inside");
    let real = c.resolve("chain/track.flac").unwrap();
    assert_eq!(real, c.root().join("music/album/track.flac"));
    assert_eq!(
        c.resolve("favourite").unwrap(),
        c.root().join("music/album")
    );
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn traversal_vectors_are_refused_and_new_paths_stay_inside() {
    let (base, c) = tree("vectors");
    // `%2e%2e` decoded by the caller is `..`; left encoded it is a literal name, inside.
    for p in [
        "../outside",
        "..\\outside",
        "music/../../outside",
        "C:\\Windows",
        "\\\\srv\\s",
        "/etc",
    ] {
        assert!(refused(&c, p), "{p:?}");
    }
    let literal = c.resolve("%2e%2e/x").unwrap();
    assert!(literal.starts_with(c.root()), "{}", literal.display());
    let new = c.resolve("music/new album/cover.jpg").unwrap();
    assert_eq!(new, c.root().join("music/new album/cover.jpg"));
    assert_eq!(c.resolve(".").unwrap(), c.root());
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn a_root_reached_through_a_symlink_is_its_real_path() {
    let (base, _) = tree("rootlink");
    symlink(base.join("library"), base.join("lib-alias")).unwrap();
    let via_alias = confine(base.join("lib-alias"), "music").unwrap();
    assert_eq!(
        via_alias,
        std::fs::canonicalize(base.join("library/music")).unwrap()
    );
    assert!(matches!(
        confine(base.join("no-such-root"), "x"),
        Err(Error::LocalIo { .. })
    ));
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn opened_handles_never_leave_the_root() {
    let (base, c) = tree("handles");
    let read = |p: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut c.open(p)?, &mut text).unwrap();
        Ok::<_, Error>(text)
    };
    assert_eq!(
        read("chain/track.flac").unwrap(),
        "x",
        "an inside symlink is followed"
    );
    std::fs::write(base.join("outside/secret"), b"OUTSIDE").unwrap();
    for p in [
        "etc-link/passwd",
        "sibling-link/secret",
        "music/root-link/etc/passwd",
        "../outside/secret",
        "dangling",
    ] {
        assert!(c.open(p).is_err(), "{p:?} was opened");
    }
    // create_new makes missing directories, inside only, and never overwrites.
    std::io::Write::write_all(&mut c.create_new("uploads/new/a.txt").unwrap(), b"hi").unwrap();
    assert_eq!(read("uploads/new/a.txt").unwrap(), "hi");
    assert!(c.create_new("uploads/new/a.txt").is_err());
    let planted = c.create_new("sibling-link/planted");
    assert!(
        matches!(planted, Err(Error::PathRefused { .. })),
        "{planted:?}"
    );
    assert!(!base.join("outside/planted").exists());
    let names: Vec<String> = c
        .read_dir("music/album")
        .unwrap()
        .into_iter()
        .map(|e| e.name.into_string().unwrap())
        .collect();
    assert_eq!(names, ["track.flac"]);
    assert!(
        c.read_dir(".")
            .unwrap()
            .iter()
            .any(|e| e.name == "music" && e.is_dir)
    );
    assert!(c.read_dir("sibling-link").is_err());
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn a_symlink_swapped_in_by_a_racing_thread_never_lets_a_read_escape() {
    let (base, c) = tree("race");
    // `root/box` flips between a real directory holding "inside" and a symlink to a
    // directory outside holding "OUTSIDE", by atomic renames, as fast as a thread can.
    let root = c.root().to_path_buf();
    std::fs::create_dir_all(base.join("outside-box")).unwrap();
    std::fs::write(base.join("outside-box/file"), b"OUTSIDE").unwrap();
    std::fs::create_dir_all(root.join("real-box")).unwrap();
    std::fs::write(root.join("real-box/file"), b"inside").unwrap();
    symlink(base.join("outside-box"), root.join("evil-box")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (root, stop) = (root.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Swap `box` between the two by renaming whichever is parked into place.
                let _ = std::fs::rename(root.join("real-box"), root.join("box"));
                let _ = std::fs::rename(root.join("box"), root.join("real-box"));
                let _ = std::fs::rename(root.join("evil-box"), root.join("box"));
                let _ = std::fs::rename(root.join("box"), root.join("evil-box"));
                flips += 1;
            }
            flips
        })
    };
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..10_000 {
        match c.open("box/file") {
            Ok(mut f) => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut f, &mut text).unwrap();
                assert_eq!(text, "inside", "a read escaped the root");
                inside += 1;
            }
            Err(_) => refused += 1,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = racer.join().unwrap();
    assert_eq!(inside + refused, 10_000);
    assert!(flips > 0, "the racer never ran");
    assert!(
        inside > 0,
        "no read ever found the real directory: the race was not run"
    );
    eprintln!("{inside} reads inside, {refused} refused or missing, {flips} swap rounds");
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn a_fifo_planted_inside_the_root_is_refused_without_hanging() {
    let (base, c) = tree("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(c.root().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let confined = c.clone();
    std::thread::spawn(move || {
        let _ = tx.send(confined.open("pipe").map(drop));
    });
    let opened = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("open hung on a FIFO");
    assert!(
        matches!(opened, Err(Error::PathRefused { .. })),
        "{opened:?}"
    );
    // A missing file is an I/O error naming the path under the root, not the root itself.
    let missing = c.open("music/none.flac").unwrap_err().to_string();
    assert!(!missing.contains(&*c.root().to_string_lossy()), "{missing}");
    std::fs::remove_dir_all(base).unwrap();
}
