//! Path confinement: turn an untrusted relative path (a folder setting, a file name from a
//! request) into a path that stays inside a root, symlinks included.
//!
//! Lexical cleaning (`path-clean`, tower-http's `ServeDir`) stops `..` but not a symlink
//! inside the root that points out of it. [`Confined::resolve`] refuses the lexical attacks
//! on every platform (so a vector that is harmless on Linux is still refused), then walks
//! the path one component at a time and resolves every symlink it meets against the real
//! root.
//!
//! [`Confined::open`], [`create_new`](Confined::create_new) and
//! [`read_dir`](Confined::read_dir) go further: after the same lexical checks they open
//! through a handle on the root with cap-std (on Linux `openat2` with `RESOLVE_BENEATH`,
//! elsewhere a walk that never follows a symlink out), and return the opened file, so no
//! path is resolved twice and a symlink swapped in between a check and the open cannot
//! lead out. [`resolve`](Confined::resolve) returns a path, which a process that can write
//! inside the root could race (swap a component for a symlink before the caller opens it):
//! use it only to display or to create what does not exist yet.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

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
    /// The root, opened once: every handle-returning call starts from it.
    dir: Arc<Dir>,
}

/// One entry of [`Confined::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfinedEntry {
    /// Its file name.
    pub name: OsString,
    /// Whether it is a directory (a symlink is not, whatever it points to).
    pub is_dir: bool,
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
        let dir = Dir::open_ambient_dir(&real, cap_std::ambient_authority()).map_err(|source| {
            Error::LocalIo {
                path: real.clone(),
                source,
            }
        })?;
        Ok(Self {
            root: real,
            dir: Arc::new(dir),
        })
    }

    /// Opens `untrusted` for reading, beneath the root: the lexical checks of
    /// [`resolve`](Self::resolve), then an open through the root's handle with cap-std (on
    /// Linux `openat2` with `RESOLVE_BENEATH`; elsewhere a walk that never follows a
    /// symlink out) that no symlink can lead out of, swapped in or not. A symlink inside the root that stays
    /// inside is followed; one that leads out (or is absolute) is refused.
    ///
    /// ```
    /// use std::io::Read;
    /// use hearth_guard::Confined;
    ///
    /// let root = std::env::temp_dir().join(format!("hearth-doc-open-{}", std::process::id()));
    /// std::fs::create_dir_all(root.join("music"))?;
    /// std::fs::write(root.join("music/track.txt"), "la")?;
    /// let media = Confined::new(&root)?;
    /// let mut text = String::new();
    /// media.open("music/track.txt")?.read_to_string(&mut text)?;
    /// assert_eq!(text, "la");
    /// assert!(media.open("../outside").is_err());
    /// # std::fs::remove_dir_all(&root)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Only a regular file is opened: a FIFO or device planted inside the root is refused
    /// (it is opened non-blocking, so a FIFO with no writer cannot hang the caller).
    pub fn open(&self, untrusted: &str) -> Result<File, Error> {
        let path = relative(untrusted)?;
        let mut options = cap_std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt as _;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = self
            .dir
            .open_with(&path, &options)
            .map(cap_std::fs::File::into_std)
            .map_err(|e| self.failed(&path, e))?;
        let meta = file.metadata().map_err(|e| self.failed(&path, e))?;
        if !meta.is_file() {
            return Err(refused("the path is not a regular file"));
        }
        #[cfg(unix)]
        {
            // Back to blocking reads, as `File::open` gives.
            let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| self.failed(&path, e.into()))?;
            rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
                .map_err(|e| self.failed(&path, e.into()))?;
        }
        Ok(file)
    }

    /// Creates `untrusted` (which must not exist) for writing, beneath the root, with any
    /// missing directories before it; the file is created with mode 0666 less the umask,
    /// like `File::create`.
    pub fn create_new(&self, untrusted: &str) -> Result<File, Error> {
        let path = relative(untrusted)?;
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let created = match self.dir.open_with(&path, &options) {
            // A directory before it is missing: make them (beneath the root), then again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                match parent {
                    Some(parent) => {
                        self.dir
                            .create_dir_all(parent)
                            .map_err(|e| self.failed(parent, e))?;
                        self.dir.open_with(&path, &options)
                    }
                    None => Err(e),
                }
            }
            other => other,
        };
        created
            .map(cap_std::fs::File::into_std)
            .map_err(|e| self.failed(&path, e))
    }

    /// The entries of the directory `untrusted` (`"."` for the root), beneath the root,
    /// sorted by name.
    pub fn read_dir(&self, untrusted: &str) -> Result<Vec<ConfinedEntry>, Error> {
        let path = relative(untrusted)?;
        let entries = if path.as_os_str().is_empty() {
            self.dir.entries()
        } else {
            self.dir.read_dir(&path)
        }
        .map_err(|e| self.failed(&path, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.failed(&path, e))?;
            let kind = entry.file_type().map_err(|e| self.failed(&path, e))?;
            out.push(ConfinedEntry {
                name: entry.file_name(),
                is_dir: kind.is_dir(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// An I/O failure under the root: a path that would lead out is refused, anything
    /// else is reported with the root-relative path (the root's own location is the
    /// server's business, not the client's).
    fn failed(&self, path: &Path, source: io::Error) -> Error {
        if escaped(&source) {
            return refused("the path leads outside the root");
        }
        if source.kind() == io::ErrorKind::PermissionDenied {
            // cap-std also answers an escape on platforms without openat2 so.
            return refused("the path leads outside the root, or is not accessible");
        }
        Error::LocalIo {
            path: path.to_path_buf(),
            source,
        }
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

/// Whether `e` is what `openat2(RESOLVE_BENEATH)` answers for a path that would leave the
/// root (`EXDEV`) or a symlink it will not follow (`ELOOP`).
fn escaped(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        let code = e.raw_os_error();
        code == Some(rustix::io::Errno::XDEV.raw_os_error())
            || code == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The lexical checks, then the components joined as a relative path (empty for the
/// root itself).
fn relative(untrusted: &str) -> Result<PathBuf, Error> {
    Ok(lexical(untrusted)?.iter().collect())
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
