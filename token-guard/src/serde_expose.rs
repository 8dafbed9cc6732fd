//! Opt-in serde support (feature `serde`).
//!
//! Secrets implement `Deserialize`, so a config or token response can be read straight
//! into them. They do **not** implement `Serialize`: writing a secret out must be a choice
//! made per field, with `#[serde(serialize_with = "hearth_token_guard::serde_expose::serialize")]`,
//! so that no `#[derive(Serialize)]` on a struct that happens to hold a token can leak it.
//!
//! ```
//! use hearth_token_guard::{RefreshToken, serde_expose};
//!
//! let t: RefreshToken = serde_json::from_str(r#""1//0gLm-refresh""#).unwrap();
//! let json = serde_expose::serialize(&t, serde_json::value::Serializer).unwrap();
//! assert_eq!(json, "1//0gLm-refresh");
//! ```

use serde::{Deserialize, Deserializer, Serializer};

use crate::{Kind, Secret, SecretBytes};

/// Serializes a text secret as a string; use it with `#[serde(serialize_with = ...)]`.
///
/// ```
/// use hearth_token_guard::{AccessToken, serde_expose};
///
/// let v = serde_expose::serialize(&AccessToken::new("t"), serde_json::value::Serializer);
/// assert_eq!(v.unwrap(), "t");
/// ```
pub fn serialize<K: Kind, S: Serializer>(
    secret: &Secret<K>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// Serializes [`SecretBytes`] as bytes; use it with `#[serde(serialize_with = ...)]`.
///
/// ```
/// use hearth_token_guard::{SecretBytes, serde_expose};
///
/// let v = serde_expose::serialize_bytes(&SecretBytes::from_slice(&[1, 2]), serde_json::value::Serializer);
/// assert_eq!(v.unwrap(), serde_json::json!([1, 2]));
/// ```
pub fn serialize_bytes<S: Serializer>(
    secret: &SecretBytes,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(secret.expose_secret())
}

impl<'de, K: Kind> Deserialize<'de> for Secret<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(SecretBytes::new)
    }
}
