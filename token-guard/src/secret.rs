//! Typed text secrets: one generic [`Secret`] and a marker [`Kind`] per use.

use std::fmt;
use std::marker::PhantomData;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroize;

use crate::{DEFAULT_SECRET_BYTES, Error, compare::constant_time_eq, random};

/// What a [`Secret`] is used for; its [`NAME`](Kind::NAME) is what `Debug` prints.
///
/// Define new kinds with [`secret_kind!`](crate::secret_kind), one line each.
pub trait Kind: 'static {
    /// The type name shown by `Debug`, e.g. `"AccessToken"`.
    const NAME: &'static str;
}

/// Secret text of kind `K`: a token, a code, a password.
///
/// - `Debug` prints `Name([REDACTED])` and nothing else; there is no `Display`.
/// - The text is reachable only through [`expose_secret`](Secret::expose_secret), so every
///   read is greppable.
/// - The memory is zeroized on drop (and the `String` given to [`new`](Secret::new) is
///   zeroized after it is copied).
/// - `==` compares in constant time, independent of content and length.
/// - Nothing serializes it unless the caller opts in (see the `serde` feature).
///
/// ```
/// use hearth_token_guard::{RefreshToken, Secret};
///
/// let a = RefreshToken::new("1//0gLm-refresh");
/// let b = RefreshToken::new(String::from("1//0gLm-refresh"));
/// assert_eq!(a, b); // constant-time
/// assert_eq!(format!("{a:?}"), "RefreshToken([REDACTED])");
/// assert_eq!(format!("{:?}", Some(&a)), "Some(RefreshToken([REDACTED]))");
/// ```
pub struct Secret<K: Kind> {
    inner: SecretString,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Secret<K> {
    /// Wraps `value`. A `String` passed in is zeroized once copied into the secret.
    ///
    /// ```
    /// use hearth_token_guard::Password;
    ///
    /// let p = Password::new("correct horse battery staple");
    /// assert_eq!(p.expose_secret().len(), 28);
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        let mut value = value.into();
        // Copy into an exact-size allocation ourselves: `String::into_boxed_str` may
        // reallocate and leave the old buffer unwiped.
        let inner = SecretString::from(value.as_str());
        if value.capacity() == value.len() {
            // Wipe just the bytes: `String::zeroize` also clears the (here empty) spare
            // capacity with a `memset` call, which alone cost ~60 ns (BENCHMARKS.md, pkce).
            value.as_mut_str().zeroize();
        } else {
            value.zeroize();
        }
        Self {
            inner,
            kind: PhantomData,
        }
    }

    /// A fresh random secret of [`DEFAULT_SECRET_BYTES`] (32) bytes from the OS CSPRNG,
    /// encoded URL-safe base64 without padding (43 characters).
    ///
    /// Fails with [`Error::Rng`] if the OS generator fails; there is no fallback.
    ///
    /// ```
    /// use hearth_token_guard::SessionToken;
    ///
    /// let t = SessionToken::generate()?;
    /// assert_eq!(t.expose_secret().len(), 43);
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn generate() -> Result<Self, Error> {
        Self::generate_with_len(DEFAULT_SECRET_BYTES)
    }

    /// Like [`generate`](Secret::generate) with `bytes` random bytes, from
    /// [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES) to
    /// [`MAX_SECRET_BYTES`](crate::MAX_SECRET_BYTES); other sizes give
    /// [`Error::InvalidLength`].
    ///
    /// ```
    /// use hearth_token_guard::ApiKey;
    ///
    /// assert_eq!(ApiKey::generate_with_len(48)?.expose_secret().len(), 64);
    /// assert!(ApiKey::generate_with_len(8).is_err());
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn generate_with_len(bytes: usize) -> Result<Self, Error> {
        // The token's capacity equals its length: it moves into the secret as is.
        let token = random::random_token(bytes)?;
        Ok(Self {
            inner: SecretString::from(token),
            kind: PhantomData,
        })
    }

    /// The secret text. Call it only where the secret must leave the type: a header, a
    /// request body, a keyring write.
    ///
    /// ```
    /// use hearth_token_guard::ClientSecret;
    ///
    /// let s = ClientSecret::new("shh");
    /// assert_eq!(s.expose_secret(), "shh");
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.inner.expose_secret()
    }

    /// Compares the secret with `presented` in constant time (content and length).
    ///
    /// ```
    /// use hearth_token_guard::SessionToken;
    ///
    /// let t = SessionToken::new("abc123-session");
    /// assert!(t.verify("abc123-session"));
    /// assert!(!t.verify("abc123"));
    /// ```
    #[must_use]
    pub fn verify(&self, presented: impl AsRef<[u8]>) -> bool {
        constant_time_eq(self.expose_secret().as_bytes(), presented.as_ref())
    }
}

impl<K: Kind> fmt::Debug for Secret<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}([REDACTED])", K::NAME)
    }
}

impl<K: Kind> Clone for Secret<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Kind> PartialEq for Secret<K> {
    fn eq(&self, other: &Self) -> bool {
        self.verify(other.expose_secret())
    }
}

impl<K: Kind> Eq for Secret<K> {}

impl<K: Kind> From<String> for Secret<K> {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl<K: Kind> From<&str> for Secret<K> {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Read access to a secret's bytes, for code generic over secret types (such as
/// [`Redactor::register`](crate::Redactor::register)).
pub trait ExposeSecretBytes {
    /// The secret's bytes.
    fn expose_secret_bytes(&self) -> &[u8];
}

impl<K: Kind> ExposeSecretBytes for Secret<K> {
    fn expose_secret_bytes(&self) -> &[u8] {
        self.expose_secret().as_bytes()
    }
}

/// Defines a new secret kind in one line: a marker type and a [`Secret`] alias.
///
/// ```
/// hearth_token_guard::secret_kind!(
///     /// A Jellyfin server's device id, which grants access by itself.
///     pub DeviceId, DeviceIdKind
/// );
///
/// let id = DeviceId::new("f00d-cafe");
/// assert_eq!(format!("{id:?}"), "DeviceId([REDACTED])");
/// ```
#[macro_export]
macro_rules! secret_kind {
    ($(#[$meta:meta])* $vis:vis $name:ident, $kind:ident) => {
        #[doc = concat!("Marker kind of [`", stringify!($name), "`].")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $kind {}

        impl $crate::Kind for $kind {
            const NAME: &'static str = stringify!($name);
        }

        $(#[$meta])*
        $vis type $name = $crate::Secret<$kind>;
    };
}

secret_kind!(
    /// An OAuth 2.0 access token (RFC 6749 §1.4), sent as `Authorization: Bearer`.
    pub AccessToken, AccessTokenKind
);
secret_kind!(
    /// An OAuth 2.0 refresh token (RFC 6749 §1.5); rotate it on every use (RFC 9700).
    pub RefreshToken, RefreshTokenKind
);
secret_kind!(
    /// An OpenID Connect ID token (a JWT).
    pub IdToken, IdTokenKind
);
secret_kind!(
    /// An OAuth 2.0 authorization code, exchanged once for tokens.
    pub AuthorizationCode, AuthorizationCodeKind
);
secret_kind!(
    /// A confidential client's secret.
    pub ClientSecret, ClientSecretKind
);
secret_kind!(
    /// An API key presented to a server.
    pub ApiKey, ApiKeyKind
);
secret_kind!(
    /// A per-session token for local IPC (see [`SessionTokenFile`](crate::SessionTokenFile)).
    pub SessionToken, SessionTokenKind
);
secret_kind!(
    /// A user's password or passphrase.
    pub Password, PasswordKind
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_kind_only() {
        let t = AccessToken::new("tok-123456");
        assert_eq!(format!("{t:?}"), "AccessToken([REDACTED])");
        assert_eq!(format!("{t:#?}"), "AccessToken([REDACTED])");
        assert_eq!(format!("{:?}", Password::new("pw")), "Password([REDACTED])");
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(ApiKey::new("k-1"), ApiKey::new("k-1"));
        assert_ne!(ApiKey::new("k-1"), ApiKey::new("k-2"));
        assert_ne!(ApiKey::new("k-1"), ApiKey::new("k-1 "));
    }

    #[test]
    fn generated_secrets_differ() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.clone(), a);
    }

    #[test]
    fn secrets_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<AccessToken>();
        check::<crate::SecretBytes>();
    }
}
