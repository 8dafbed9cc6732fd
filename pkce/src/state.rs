//! [`State`] and [`Nonce`]: unguessable per-sign-in values, 256 bits from the OS CSPRNG.

use std::fmt;

use hearth_token_guard::{Secret, secret_kind};

use crate::Error;

secret_kind!(
    /// The raw secret inside a [`State`] or [`Nonce`].
    pub OneTimeSecret, OneTimeKind
);

macro_rules! one_time_value {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        pub struct $name(Secret<OneTimeKind>);

        impl $name {
            /// A fresh value: 32 random bytes (256 bits; RFC 9700 asks for at least 128).
            pub fn generate() -> Result<Self, Error> {
                Ok(Self(Secret::generate()?))
            }

            /// The value, for the authorization URL.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// Compares with a received value in constant time (content and length).
            #[must_use]
            pub fn verify(&self, presented: &str) -> bool {
                self.0.verify(presented)
            }

            pub(crate) fn from_saved(text: &str) -> Self {
                Self(Secret::new(text))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

one_time_value!(
    /// The OAuth `state` of one sign-in, checked on the callback before anything else.
    ///
    /// ```
    /// let s = hearth_pkce::State::generate()?;
    /// assert!(s.verify(s.expose_secret()));
    /// assert_eq!(format!("{s:?}"), "State([REDACTED])");
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    State
);

one_time_value!(
    /// The OpenID Connect `nonce` of one sign-in, to compare with the ID token's claim.
    ///
    /// ```
    /// let n = hearth_pkce::Nonce::generate()?;
    /// assert_eq!(n.expose_secret().len(), 43);
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    Nonce
);
