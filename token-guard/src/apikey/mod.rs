//! API keys in a format made for secret scanners, exactly as `API-KEY-FORMAT.md` writes it:
//! `prefix_` + 8-character id + 32-character secret + 6-character base62 CRC-32.

mod cache;
mod permissions;
mod registry;

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::{ApiKey, Error};

pub use permissions::{Permission, PermissionSet, Roles};
pub use registry::{KeyRecord, KeyRegistry, MIN_SEAL_KEY_LEN, Principal, Role};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the public key id.
pub const ID_LEN: usize = 8;
/// Length of the secret part.
pub const SECRET_LEN: usize = 32;
/// Length of the checksum.
pub const CHECKSUM_LEN: usize = 6;
/// The default prefix.
pub const DEFAULT_PREFIX: &str = "hth";

/// The public id of an API key: selects its record; not secret.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The id text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for KeyId {
    type Err = Error;

    /// Parses an id as `list` prints it: exactly 8 base62 characters.
    ///
    /// ```
    /// use hearth_token_guard::apikey::KeyId;
    ///
    /// let id: KeyId = "a1B2c3D4".parse()?;
    /// assert_eq!(id.as_str(), "a1B2c3D4");
    /// assert!("a1B2c3D".parse::<KeyId>().is_err());
    /// assert!("a1B2c3D_".parse::<KeyId>().is_err());
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    fn from_str(text: &str) -> Result<Self, Error> {
        if text.len() == ID_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::MalformedApiKey {
                reason: "a key id is 8 characters of 0-9 A-Z a-z",
            })
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// Generates a key with `prefix` (1-10 of `[a-z0-9]`): returns the key (show it once) and
/// its id.
///
/// ```
/// use hearth_token_guard::apikey;
///
/// let (key, id) = apikey::generate("hth")?;
/// assert_eq!(key.expose_secret().len(), 50);
/// assert_eq!(apikey::parse(key.expose_secret(), "hth")?, id);
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn generate(prefix: &str) -> Result<(ApiKey, KeyId), Error> {
    check_prefix(prefix)?;
    let mut body = [0u8; ID_LEN + SECRET_LEN];
    fill_base62(&mut body)?;
    let mut text = String::with_capacity(prefix.len() + 1 + ID_LEN + SECRET_LEN + CHECKSUM_LEN);
    text.push_str(prefix);
    text.push('_');
    text.extend(body.iter().map(|&b| char::from(b)));
    let checksum = base62_u32(crc32(text.as_bytes()));
    text.extend(checksum.iter().map(|&b| char::from(b)));
    let id = KeyId(body[..ID_LEN].iter().map(|&b| char::from(b)).collect());
    zeroize::Zeroize::zeroize(&mut body);
    Ok((ApiKey::new(text), id))
}

/// Checks a presented key's shape and checksum (no lookup) and returns its id.
/// [`Error::MalformedApiKey`] says what is wrong, never echoing the key.
///
/// ```
/// use hearth_token_guard::{Error, apikey};
///
/// let id = apikey::parse("hth_3fK9xQ2aZb7Lm1Np4Qr6St8Uv0Wx2Yz4Ab6Cd8Ef3gcz3F", "hth")?;
/// assert_eq!(id.as_str(), "3fK9xQ2a");
/// let typo = apikey::parse("hth_3fK9xQ2aZb7Lm1Np4Qr6St8Uv0Wx2Yz4Ab6Cd8Eg3gcz3F", "hth");
/// assert!(matches!(typo, Err(Error::MalformedApiKey { reason: "checksum mismatch" })));
/// # Ok::<(), Error>(())
/// ```
pub fn parse(key: &str, prefix: &str) -> Result<KeyId, Error> {
    let bad = |reason| Error::MalformedApiKey { reason };
    let expected = prefix.len() + 1 + ID_LEN + SECRET_LEN + CHECKSUM_LEN;
    if key.len() != expected {
        return Err(bad("wrong length"));
    }
    let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return Err(bad("wrong prefix"));
    };
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("characters outside 0-9 A-Z a-z"));
    }
    let (covered, checksum) = key.split_at(key.len() - CHECKSUM_LEN);
    if base62_u32(crc32(covered.as_bytes())) != checksum.as_bytes() {
        return Err(bad("checksum mismatch"));
    }
    Ok(KeyId(rest[..ID_LEN].to_owned()))
}

fn check_prefix(prefix: &str) -> Result<(), Error> {
    let ok = (1..=10).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::MalformedApiKey {
            reason: "a prefix is 1 to 10 of a-z 0-9",
        })
    }
}

/// Uniform base62 characters from the OS CSPRNG (rejection sampling: bytes >= 248 redrawn).
fn fill_base62(out: &mut [u8]) -> Result<(), Error> {
    let rng = SystemRandom::new();
    let mut pool = [0u8; 64];
    let mut i = 0;
    while i < out.len() {
        rng.fill(&mut pool).map_err(|_| Error::Rng)?;
        for &b in pool.iter().filter(|&&b| b < 248) {
            if i == out.len() {
                break;
            }
            out[i] = ALPHABET[usize::from(b % 62)];
            i += 1;
        }
    }
    zeroize::Zeroize::zeroize(&mut pool);
    Ok(())
}

/// CRC-32/ISO-HDLC (zlib's): reflected polynomial 0xEDB88320, init and final XOR all ones.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Six base62 digits, most significant first, zero-padded.
fn base62_u32(mut n: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_from_the_spec() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(&base62_u32(0xCBF4_3926), b"3jZRME");
        assert_eq!(&base62_u32(0), b"000000");
        assert_eq!(&base62_u32(u32::MAX), b"4gfFC3");
        let key = "hth_3fK9xQ2aZb7Lm1Np4Qr6St8Uv0Wx2Yz4Ab6Cd8Ef3gcz3F";
        assert_eq!(parse(key, "hth").unwrap().as_str(), "3fK9xQ2a");
    }

    #[test]
    fn ten_thousand_keys_validate_and_every_single_character_change_is_caught() {
        for n in 0..10_000 {
            let (key, id) = generate(DEFAULT_PREFIX).unwrap();
            let text = key.expose_secret();
            assert_eq!(parse(text, DEFAULT_PREFIX).unwrap(), id);
            // Every position, a different character from the alphabet (a sample per key
            // keeps this fast; all positions are covered across the loop).
            let pos = DEFAULT_PREFIX.len() + 1 + n % (ID_LEN + SECRET_LEN + CHECKSUM_LEN);
            let mut bytes = text.as_bytes().to_vec();
            let original = bytes[pos];
            for &c in ALPHABET.iter().filter(|&&c| c != original) {
                bytes[pos] = c;
                let changed = std::str::from_utf8(&bytes).unwrap();
                assert!(
                    parse(changed, DEFAULT_PREFIX).is_err(),
                    "undetected change at {pos}"
                );
            }
        }
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        let (key, _) = generate("hth").unwrap();
        let k = key.expose_secret();
        assert!(matches!(
            parse(k, "abc"),
            Err(Error::MalformedApiKey { .. })
        ));
        assert!(matches!(
            parse(&k[..k.len() - 1], "hth"),
            Err(Error::MalformedApiKey {
                reason: "wrong length"
            })
        ));
        let bad = format!("{}-{}", &k[..10], &k[11..]);
        assert!(matches!(
            parse(&bad, "hth"),
            Err(Error::MalformedApiKey { .. })
        ));
        assert!(generate("Has_Upper").is_err());
        assert!(generate("").is_err());
    }
}
