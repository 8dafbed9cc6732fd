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
