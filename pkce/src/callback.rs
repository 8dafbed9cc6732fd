//! [`Callback`]: the redirect back from the authorization server, parsed once, from a deep
//! link's URL or from the loopback request, with the code decoded straight into an
//! [`AuthorizationCode`].

use std::collections::HashSet;

use hearth_token_guard::AuthorizationCode;
use zeroize::Zeroizing;

use crate::Error;
use crate::form;
use crate::redirect_uri::{MAX_URL_LEN, Target};

/// The authorization response (RFC 6749 §4.1.2, RFC 9207): where it arrived and what it
/// carries. Checked against a sign-in by
/// [`PendingAuthorization::complete_callback`](crate::PendingAuthorization::complete_callback).
///
/// Parsing refuses a repeated parameter (parameter pollution), bad form encoding, and URLs
/// over 8 KiB; it is linear in the input. `Debug` shows neither the code nor the state.
///
/// ```
/// use hearth_pkce::Callback;
///
/// let cb = Callback::parse("com.example.app:/oauth2redirect?code=abc&state=xyz")?;
/// assert!(cb.has_code());
/// assert!(!format!("{cb:?}").contains("abc"));
/// assert!(Callback::parse("com.example.app:/cb?code=a&code=b").is_err());
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
pub struct Callback {
    pub(crate) target: Target,
    pub(crate) state: Option<Zeroizing<String>>,
    pub(crate) code: Option<AuthorizationCode>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
    pub(crate) iss: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("target", &self.target)
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("error", &self.error)
            .field("iss", &self.iss)
            .finish()
    }
}

impl Callback {
    /// Parses a callback URL, as a deep-link handler receives it (the fragment, if any, is
    /// ignored).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.split('#').next().unwrap_or_default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        Self::from_parts(Target::parse(base)?, query)
    }

    /// The callback a loopback request carries: `http://HOST` plus its request target.
    #[cfg(any(feature = "loopback", test))]
    pub(crate) fn from_loopback(host: &str, path_and_query: &str) -> Result<Self, Error> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Self::from_parts(Target::parse(&format!("http://{host}{path}"))?, query)
    }

    fn from_parts(target: Target, query: &str) -> Result<Self, Error> {
        if query.len() > MAX_URL_LEN {
            return Err(Error::MalformedCallback {
                reason: "the query is longer than 8 KiB",
            });
        }
        let mut cb = Self {
            target,
            state: None,
            code: None,
            error: None,
            error_description: None,
            iss: None,
        };
        let mut seen = HashSet::new();
        for (name, value) in form::pairs(query) {
            let name = form::decode(name)?;
            if !seen.insert(name.clone()) {
                return Err(Error::DuplicateParameter {
                    name: printable(&name),
                });
            }
            let value = Zeroizing::new(form::decode(value)?);
            match name.as_str() {
                "state" => cb.state = Some(value),
                "code" => {
                    cb.code = (!value.is_empty()).then(|| AuthorizationCode::new(value.as_str()));
                }
                "error" => cb.error = Some(printable(&value)),
                "error_description" => cb.error_description = Some(printable(&value)),
                "iss" => cb.iss = Some(value.as_str().to_owned()),
                _ => {}
            }
        }
        Ok(cb)
    }

    /// Whether it carries a (non-empty) `code`.
    #[must_use]
    pub fn has_code(&self) -> bool {
        self.code.is_some()
    }

    /// The `error` the authorization server sent, if any (RFC 6749 §4.1.2.1).
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// Printable text for messages: control characters dropped, at most 256 characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_and_duplicates_refused() {
        let cb = Callback::parse(
            "http://127.0.0.1:9/cb?code=a%2Bb&state=s&iss=https%3A%2F%2Fas&x=1#frag",
        )
        .unwrap();
        assert_eq!(cb.code.as_ref().unwrap().expose_secret(), "a+b");
        assert_eq!(cb.state.as_deref().map(String::as_str), Some("s"));
        assert_eq!(cb.iss.as_deref(), Some("https://as"));
        assert_eq!(cb.target.path, "/cb");
        for dup in [
            "state=a&state=b",
            "code=a&code=",
            "x=1&x=2",
            "st%61te=a&state=b",
        ] {
            let err = Callback::parse(&format!("com.example.app:/cb?{dup}")).unwrap_err();
            assert!(
                matches!(err, Error::DuplicateParameter { .. }),
                "{dup}: {err}"
            );
        }
        assert!(matches!(
            Callback::parse("com.example.app:/cb?code=%zz").unwrap_err(),
            Error::MalformedCallback { .. }
        ));
    }

    #[test]
    fn an_empty_code_is_no_code() {
        assert!(
            !Callback::parse("com.example.app:/cb?code=&state=s")
                .unwrap()
                .has_code()
        );
    }

    #[test]
    fn the_loopback_form_matches_the_url_form() {
        let a = Callback::from_loopback("127.0.0.1:9", "/cb?code=c&state=s").unwrap();
        let b = Callback::parse("http://127.0.0.1:9/cb?code=c&state=s").unwrap();
        assert_eq!(a.target, b.target);
    }
}
