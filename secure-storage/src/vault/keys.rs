//! Where a vault's key comes from, and the subkeys derived from it (VAULT-FORMAT.md, "Keys").

use std::path::PathBuf;

use hearth_token_guard::private_file::{self, WriteMode};
use hearth_token_guard::{Password, SecretBytes};
use ring::{aead, hkdf, hmac};

use crate::Error;

/// Length of a vault master key, a raw key and a key file.
pub const KEY_LEN: usize = 32;

/// What unlocks a vault.
///
/// ```
/// use hearth_secure_storage::KeySource;
/// use hearth_token_guard::{Password, SecretBytes};
///
/// let from_user = KeySource::Passphrase(Password::new("correct horse battery staple"));
/// let from_disk = KeySource::KeyFile("/home/me/.config/app/vault.key".into());
/// let from_os = KeySource::RawKey(SecretBytes::generate(32)?); // e.g. Android Keystore
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A passphrase, stretched with Argon2id (parameters in [`VaultOptions`](crate::VaultOptions)
    /// when the vault is created, in the vault's header after that).
    Passphrase(Password),
    /// A file of exactly 32 random bytes, created 0600 (directory 0700) on first use.
    KeyFile(PathBuf),
    /// A 32-byte key the caller got elsewhere (Android Keystore, systemd credentials, the
    /// OS keyring).
    RawKey(SecretBytes),
}

impl KeySource {
    /// The key material: the passphrase bytes, or the 32-byte key (reading or creating the
    /// key file).
    pub(crate) fn material(&self) -> Result<SecretBytes, Error> {
        match self {
            KeySource::Passphrase(p) if p.expose_secret().is_empty() => {
                Err(Error::InvalidArgument {
                    reason: "the passphrase is empty",
                })
            }
            KeySource::Passphrase(p) => Ok(SecretBytes::from_slice(p.expose_secret().as_bytes())),
            KeySource::RawKey(k) if k.expose_secret().len() == KEY_LEN => Ok(k.clone()),
            KeySource::RawKey(_) => Err(Error::BadKeyFile {
                path: PathBuf::from("<raw key>"),
            }),
            KeySource::KeyFile(path) => read_or_create_key_file(path),
        }
    }

    /// Like `material`, but a missing key file is `NotFound` (it is never created).
    pub(crate) fn existing_material(&self) -> Result<SecretBytes, Error> {
        if let KeySource::KeyFile(path) = self {
            return match private_file::read(path, KEY_LEN + 1) {
                Ok(bytes) if bytes.len() == KEY_LEN => Ok(SecretBytes::from_slice(&bytes)),
                Ok(_) | Err(hearth_token_guard::Error::TooLong { .. }) => {
                    Err(Error::BadKeyFile { path: path.clone() })
                }
                Err(e) => Err(e.into()),
            };
        }
        self.material()
    }

    pub(crate) fn is_passphrase(&self) -> bool {
        matches!(self, KeySource::Passphrase(_))
    }
}

fn read_or_create_key_file(path: &PathBuf) -> Result<SecretBytes, Error> {
    match private_file::read(path, KEY_LEN + 1) {
        Ok(bytes) if bytes.len() == KEY_LEN => return Ok(SecretBytes::from_slice(&bytes)),
        Ok(_) | Err(hearth_token_guard::Error::TooLong { .. }) => {
            return Err(Error::BadKeyFile { path: path.clone() });
        }
        Err(hearth_token_guard::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let key = SecretBytes::generate(KEY_LEN)?;
    match private_file::write(path, key.expose_secret(), WriteMode::CreateNew) {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(hearth_token_guard::Error::AlreadyExists { .. }) => read_or_create_key_file(path),
        Err(e) => Err(e.into()),
    }
}

/// Argon2id cost parameters (RFC 9106) for passphrase-protected vaults.
///
/// A vault uses one of [`Argon2Params::PRESETS`], nothing else: the five equal-strength
/// OWASP settings and RFC 9106's second recommendation. The default is OWASP's
/// m = 19 456 KiB, t = 2, p = 1: tens of milliseconds per unlock (about 45 ms on this
/// project's 2-core test machine).
///
/// Why a fixed list: edited costs derive another key, which on its own cannot be told apart
/// from a wrong passphrase. Because the list is short, a reader whose key check fails tries
/// the other presets and reports an edit as [`Error::Tampered`], never as
/// [`Error::WrongKey`]; and a hostile header cannot ask for gigabytes or hours, since any
/// other value is [`Error::Corrupt`] before any derivation. The price: a wrong passphrase
/// costs the other five derivations too (about 0.5 s there, peak memory 64 MiB, the
/// largest preset's), VAULT-FORMAT.md step 8.
///
/// ```
/// use hearth_secure_storage::Argon2Params;
///
/// let p = Argon2Params::default();
/// assert_eq!((p.m_cost_kib, p.t_cost, p.p_cost), (19_456, 2, 1));
/// assert!(Argon2Params::PRESETS.contains(&Argon2Params::RFC_9106_SECOND));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory, in KiB.
    pub m_cost_kib: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP_19_MIB
    }
}

const fn params(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Argon2Params {
    Argon2Params {
        m_cost_kib,
        t_cost,
        p_cost,
    }
}

impl Argon2Params {
    /// OWASP: 46 MiB, 1 pass.
    pub const OWASP_46_MIB: Self = params(47_104, 1, 1);
    /// OWASP: 19 MiB, 2 passes (the default).
    pub const OWASP_19_MIB: Self = params(19_456, 2, 1);
    /// OWASP: 12 MiB, 3 passes.
    pub const OWASP_12_MIB: Self = params(12_288, 3, 1);
    /// OWASP: 9 MiB, 4 passes.
    pub const OWASP_9_MIB: Self = params(9_216, 4, 1);
    /// OWASP: 7 MiB, 5 passes (the least memory, for small devices).
    pub const OWASP_7_MIB: Self = params(7_168, 5, 1);
    /// RFC 9106 §4, second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const RFC_9106_SECOND: Self = params(65_536, 3, 4);

    /// Every cost a vault may use; a header with any other is [`Error::Corrupt`].
    pub const PRESETS: [Self; 6] = [
        Self::OWASP_46_MIB,
        Self::OWASP_19_MIB,
        Self::OWASP_12_MIB,
        Self::OWASP_9_MIB,
        Self::OWASP_7_MIB,
        Self::RFC_9106_SECOND,
    ];

    /// Whether these are one of [`PRESETS`](Self::PRESETS) (checked before any derivation).
    pub(crate) fn is_preset(&self) -> bool {
        Self::PRESETS.contains(self)
    }
}

/// The two subkeys of VAULT-FORMAT.md.
#[derive(Clone)]
pub(crate) struct Subkeys {
    pub(crate) enc: aead::LessSafeKey,
    pub(crate) mac: hmac::Key,
}

/// The master key `M`: the raw key, or Argon2id of the passphrase with the vault id as salt.
pub(crate) fn master_key(
    material: &SecretBytes,
    argon2: Option<Argon2Params>,
    vault_id: &[u8; 16],
) -> Result<SecretBytes, Error> {
    let Some(p) = argon2 else {
        return Ok(material.clone());
    };
    let params = argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(KEY_LEN))
        .map_err(|_| corrupt_params())?;
    let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    kdf.hash_password_into(material.expose_secret(), vault_id, &mut *out)
        .map_err(|_| corrupt_params())?;
    Ok(SecretBytes::from_slice(&*out))
}

fn corrupt_params() -> Error {
    Error::Corrupt {
        path: PathBuf::new(),
        reason: "Argon2id parameters rejected",
    }
}

/// `K_enc` and `K_mac` by HKDF-SHA256 with the vault id as salt.
pub(crate) fn subkeys(master: &SecretBytes, vault_id: &[u8; 16]) -> Subkeys {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, vault_id).extract(master.expose_secret());
    let enc = prk
        .expand(&[b"hearth-vault v1 aes-256-gcm"], &aead::AES_256_GCM)
        .map(aead::UnboundKey::from);
    let mac = prk
        .expand(&[b"hearth-vault v1 hmac-sha256"], hmac::HMAC_SHA256)
        .map(hmac::Key::from);
    // `expand` fails only for an output longer than 255 hash lengths; these are 32 bytes.
    match (enc, mac) {
        (Ok(enc), Ok(mac)) => Subkeys {
            enc: aead::LessSafeKey::new(enc),
            mac,
        },
        _ => unreachable!("HKDF-SHA256 can always expand to 32 bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_presets_are_accepted() {
        assert!(Argon2Params::default().is_preset());
        for p in Argon2Params::PRESETS {
            assert!(p.is_preset(), "{p:?}");
            // Each preset is also accepted by the Argon2 crate itself.
            assert!(argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(KEY_LEN)).is_ok());
        }
        let bad = [
            params(u32::MAX, 2, 1),
            params(19_456, 0, 1),
            params(19_456, 3, 1),
            params(19_456, 2, 2),
            params(19_455, 2, 1),
            // The hostile header of the issue: 2 GiB, 64 passes.
            params(2 * 1024 * 1024, 64, 1),
            params(0, 0, 0),
        ];
        for p in bad {
            assert!(!p.is_preset(), "{p:?}");
        }
    }

    #[test]
    fn argon2id_depends_on_passphrase_salt_and_params() {
        let p = Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let pw = SecretBytes::from_slice(b"pw");
        let a = master_key(&pw, Some(p), &[1; 16]).unwrap();
        assert_eq!(a, master_key(&pw, Some(p), &[1; 16]).unwrap());
        assert_ne!(a, master_key(&pw, Some(p), &[2; 16]).unwrap());
        assert_ne!(
            a,
            master_key(&SecretBytes::from_slice(b"pW"), Some(p), &[1; 16]).unwrap()
        );
        let p2 = Argon2Params { t_cost: 2, ..p };
        assert_ne!(a, master_key(&pw, Some(p2), &[1; 16]).unwrap());
    }
}
