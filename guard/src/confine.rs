//! Path confinement: turn an untrusted relative path (a folder setting, a file name from a
//! request) into a path that stays inside a root, symlinks included.
//!
//! Lexical cleaning (`path-clean`, tower-http's `ServeDir`) stops `..` but not a symlink
//! inside the root that points out of it. [`Confined::resolve`] refuses the lexical attacks
//! on every platform (so a vector that is harmless on Linux is still refused), then walks
//! the path one component at a time and resolves every symlink it meets against the real
//! root.
//!
//! Limit: another local process that can write inside the root could swap a component
//! for a symlink between this check and the caller's `open` (a TOCTOU race). Against such
//! an attacker, open through directory handles (`openat`, cap-std) instead.

use std::io;
use std::path::{Path, PathBuf};

use crate::Error;

/// Directories that are never a sensible root for user content.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
    "/System",
    "/Library",
    "/private/etc",
];

/// Windows device names, refused as any path component (with or without an extension).
const DEVICES: &[&str] = &[
    "con", "prn", "aux", "nul", "conin$", "conout$", "com1", "com2", "com3", "com4", "com5",
    "com6", "com7", "com8", "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8",
    "lpt9",
];

/// A root directory that untrusted relative paths are resolved inside.
///
/// ```
/// use hearth_guard::Confined;
///
/// let root = std::env::temp_dir().join(format!("hearth-doc-confine-{}", std::process::id()));
/// std::fs::create_dir_all(root.join("music"))?;
/// let media = Confined::new(&root)?;
///
/// let inside = media.resolve("music/album 1")?;
/// assert!(inside.starts_with(media.root()));
/// for attack in ["../etc/passwd", "..\\windows", "/etc", "C:\\Windows", "\\\\server\\share",
///                "music/../../x", "NUL", "a\0b"] {
///     assert!(media.resolve(attack).is_err(), "{attack:?}");
/// }
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Confined {
    root: PathBuf,
}

impl Confined {
    /// Uses `root` (which must exist) as the confinement root; its real path (symlinks
    /// resolved) is what results are checked against. System directories (`/`, `/etc`,
    /// `/usr`, ...) are refused as roots.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        let root = root.as_ref();
        let real = std::fs::canonicalize(root).map_err(|source| Error::LocalIo {
            path: root.to_path_buf(),
            source,
        })?;
        if !real.is_dir() {
            return Err(refused("the root is not a directory"));
        }
        if SYSTEM_DIRS.iter().any(|d| real == Path::new(d)) {
            return Err(refused("a system directory cannot be a root"));
        }
        Ok(Self { root: real })
    }

    /// The real root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `untrusted` (a relative path with `/` separators) inside the root.
    ///
    /// Refused: empty input, NUL and control characters, absolute paths, `..` anywhere,
    /// backslashes (Windows separators: `..\` and `\\server\share`), drive letters and
    /// any `:` (`C:`, NTFS streams), Windows device names (`CON`, `NUL.txt`, `COM1`),
    /// components ending in a dot or space (Windows drops those), and symlinks whose
    /// target is outside the root. Components that do not exist yet are allowed (to
    /// create them); existing symlinks inside the root are followed.
    pub fn resolve(&self, untrusted: &str) -> Result<PathBuf, Error> {
        let parts = lexical(untrusted)?;
        let mut path = self.root.clone();
        let mut exists = true;
        for part in parts {
            path.push(part);
            if !exists {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    path = match std::fs::canonicalize(&path) {
                        Ok(real) => real,
                        // A dangling link: where it points cannot be checked.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(refused("a symlink on the path points nowhere"));
                        }
                        Err(source) => return Err(Error::LocalIo { path, source }),
                    };
                    if !path.starts_with(&self.root) {
                        return Err(refused("a symlink on the path leads outside the root"));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => exists = false,
                Err(source) => return Err(Error::LocalIo { path, source }),
            }
        }
        Ok(path)
    }
}

/// [`Confined::new`]`(root)?.resolve(untrusted)`.
///
/// ```
/// let root = std::env::temp_dir();
/// assert!(hearth_guard::confine(&root, "../x").is_err());
/// ```
pub fn confine(root: impl AsRef<Path>, untrusted: &str) -> Result<PathBuf, Error> {
    Confined::new(root)?.resolve(untrusted)
}

fn refused(reason: &'static str) -> Error {
    Error::PathRefused { reason }
}

/// The lexical checks; returns the normal components (no `.`, no empty ones).
fn lexical(untrusted: &str) -> Result<Vec<&str>, Error> {
    if untrusted.is_empty() {
        return Err(refused("the path is empty"));
    }
    if untrusted.len() > 4096 {
        return Err(refused("the path is longer than 4096 bytes"));
    }
    if untrusted.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(refused("the path contains a NUL or control character"));
    }
    if untrusted.contains('\\') {
        return Err(refused(
            "the path contains a backslash (a Windows separator)",
        ));
    }
    if untrusted.starts_with('/') {
        return Err(refused("the path is absolute"));
    }
    if untrusted.contains(':') {
        return Err(refused("the path contains ':' (a drive letter or stream)"));
    }
    let mut parts = Vec::new();
    for part in untrusted.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(refused("the path contains '..'")),
            _ => {}
        }
        if part.ends_with('.') || part.ends_with(' ') {
            return Err(refused("a path component ends in a dot or space"));
        }
        let stem = part.split('.').next().unwrap_or(part).trim_end();
        if DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d)) {
            return Err(refused("a path component is a Windows device name"));
        }
        parts.push(part);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_vectors() {
        for bad in [
            "",
            "..",
            "../",
            "a/../b",
            "a/..",
            "..\\x",
            "a\\..\\b",
            "/etc/passwd",
            "//server/share",
            "\\\\server\\share",
            "\\\\?\\C:\\x",
            "C:\\Windows",
            "c:/windows",
            "C:",
            "file.txt:stream",
            "a\0b",
            "a\nb",
            "NUL",
            "nul.txt",
            "a/Com1.log",
            "LPT9",
            "CONIN$",
            "trailing.",
            "trailing ",
            "dir./x",
        ] {
            assert!(lexical(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(lexical("./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert_eq!(lexical(".").unwrap(), Vec::<&str>::new());
        assert_eq!(
            lexical("console/com10.txt").unwrap(),
            ["console", "com10.txt"]
        );
        assert_eq!(lexical("...x/a..b").unwrap(), ["...x", "a..b"]);
    }

    #[test]
    fn system_directories_are_not_roots() {
        for dir in ["/", "/etc", "/usr", "/proc"] {
            if Path::new(dir).is_dir() {
                assert!(
                    matches!(Confined::new(dir), Err(Error::PathRefused { .. })),
                    "{dir}"
                );
            }
        }
    }
}
