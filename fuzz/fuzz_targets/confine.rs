//! Path confinement on arbitrary strings against a real tree with symlinks that lead in
//! and out: never panics, and every accepted path is inside the real root.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hearth_guard::Confined;
use libfuzzer_sys::fuzz_target;

fn root() -> &'static Confined {
    static ROOT: OnceLock<Confined> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base: PathBuf =
            std::env::temp_dir().join(format!("hearth-fuzz-confine-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        let link = |target: &str, name: &str| {
            let _ = std::os::unix::fs::symlink(target, root.join(name));
        };
        link("/etc", "etc");
        link("../outside", "out");
        link("a/b", "in");
        link("in", "chain");
        link("nowhere", "dangling");
        Confined::new(&root).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let root = root();
    if let Ok(path) = root.resolve(text) {
        assert!(
            path.starts_with(root.root()),
            "{text:?} -> {}",
            path.display()
        );
        assert!(!text.split('/').any(|c| c == ".."), "{text:?}");
    }
});
