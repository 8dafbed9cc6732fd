//! Platform-standard locations for the default vault and its key file.

use std::path::PathBuf;

use crate::{Error, Namespace};

/// `<data dir>/<app>/vault.hearth`: `$XDG_DATA_HOME` or `~/.local/share` on Linux,
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows.
///
/// ```
/// let p = hearth_secure_storage::default_vault_path("jellytau")?;
/// assert!(p.ends_with("jellytau/vault.hearth"));
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub fn default_vault_path(app: &str) -> Result<PathBuf, Error> {
    let base = data_dir().ok_or(Error::NotFound {
        path: PathBuf::from("<platform data directory: is HOME set?>"),
    })?;
    Ok(base.join(app_dir(app)?).join("vault.hearth"))
}

/// `<config dir>/<app>/vault.key`: `$XDG_CONFIG_HOME` or `~/.config` on Linux,
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows.
///
/// A key file kept apart from the vault protects a copied or backed-up vault file (and
/// backups that take the data directory only). It does not protect against anything
/// running as the same user, which can read both; use a passphrase or the OS keyring for
/// that.
///
/// ```
/// let p = hearth_secure_storage::default_key_file("jellytau")?;
/// assert!(p.ends_with("jellytau/vault.key"));
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub fn default_key_file(app: &str) -> Result<PathBuf, Error> {
    let base = config_dir().ok_or(Error::NotFound {
        path: PathBuf::from("<platform config directory: is HOME set?>"),
    })?;
    Ok(base.join(app_dir(app)?).join("vault.key"))
}

// The platform rules, written out rather than pulled in: the usual crate for this (`dirs`)
// brings an MPL-2.0 dependency, and the rules are a few lines.

/// An absolute path from the environment variable `var`, if set (XDG requires absolute
/// paths and says to ignore relative ones).
fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

#[cfg(not(windows))]
fn home() -> Option<PathBuf> {
    env_dir("HOME")
}

#[cfg(target_os = "macos")]
fn data_dir() -> Option<PathBuf> {
    home().map(|h| h.join("Library/Application Support"))
}

#[cfg(target_os = "macos")]
fn config_dir() -> Option<PathBuf> {
    data_dir()
}

#[cfg(windows)]
fn data_dir() -> Option<PathBuf> {
    env_dir("APPDATA")
}

#[cfg(windows)]
fn config_dir() -> Option<PathBuf> {
    env_dir("APPDATA")
}

#[cfg(not(any(target_os = "macos", windows)))]
fn data_dir() -> Option<PathBuf> {
    env_dir("XDG_DATA_HOME").or_else(|| home().map(|h| h.join(".local/share")))
}

#[cfg(not(any(target_os = "macos", windows)))]
fn config_dir() -> Option<PathBuf> {
    env_dir("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config")))
}

/// The app name as a directory name: it must be a valid app namespace, and not `.`/`..`
/// or contain a path separator.
pub(crate) fn app_dir(app: &str) -> Result<&str, Error> {
    Namespace::app(app)?;
    if app == "." || app == ".." || app.contains(['/', '\\']) {
        return Err(Error::InvalidKey {
            reason: "an app name used as a directory must not contain '/' or be '.' or '..'",
        });
    }
    Ok(app)
}
