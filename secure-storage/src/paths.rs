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
    let base = dirs::data_dir().ok_or(Error::NotFound {
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
    let base = dirs::config_dir().ok_or(Error::NotFound {
        path: PathBuf::from("<platform config directory: is HOME set?>"),
    })?;
    Ok(base.join(app_dir(app)?).join("vault.key"))
}

/// The app name as a directory name: it must be a valid app namespace, and not `.`/`..`
/// or contain a path separator.
fn app_dir(app: &str) -> Result<&str, Error> {
    Namespace::app(app)?;
    if app == "." || app == ".." || app.contains(['/', '\\']) {
        return Err(Error::InvalidKey {
            reason: "an app name used as a directory must not contain '/' or be '.' or '..'",
        });
    }
    Ok(app)
}
