//! Log scrubbing: mask secrets in text before it reaches a log.

mod patterns;
mod stream;

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{PoisonError, RwLock};

use crate::{Error, ExposeSecretBytes, SecretBytes};

/// What every masked secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest secret a [`Redactor`] accepts: shorter strings occur in ordinary text too often
/// for masking them to be useful.
pub const MIN_REGISTERED_LEN: usize = 8;

/// Masks the secrets that have a recognizable shape in `text`.
///
/// Masked, each replaced by [`REDACTED`] (keys and schemes match in any ASCII case):
/// - the token after `Bearer ` (tokens of 8+ characters, so prose is spared);
/// - the credentials of an `Authorization` or `Proxy-Authorization` value, any scheme
///   (`Basic`, `Digest`, `Negotiate`, ...);
/// - JWTs (JWS and JWE: `eyJ…` and two or more further dot-separated segments), always the
///   whole run, however long;
/// - the values of `access_token`, `refresh_token`, `id_token`, `client_secret`,
///   `code_verifier`, `password`, `api_key`, `apikey` and `x-api-key`, and values of 8+
///   characters of the generic `code`, `token` and `secret` (so `exit code=1` stays
///   readable), written as a query or form parameter (`key=value`), a header or log field
///   (`key: value`) or a JSON member (`"key":"value"`, also backslash-escaped); a key must
///   be a whole word (`zipcode=` is not `code=`, but `X-Emby-Token:` is `token:`);
/// - PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to the matching `END` line,
///   or to the end of the text if it is cut off).
///
/// Returns the input unchanged, without allocating, when nothing matches. To also mask
/// the app's own live secrets (whatever their shape), use a [`Redactor`].
///
/// ```
/// use hearth_token_guard::redact;
///
/// assert_eq!(
///     redact("POST /token code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj"),
///     "POST /token code=[REDACTED]&state=af0ifjsldkj",
/// );
/// assert_eq!(
///     redact(r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","expires_in":3600}"#),
///     r#"{"access_token":"[REDACTED]","expires_in":3600}"#,
/// );
/// assert!(matches!(redact("nothing to see"), std::borrow::Cow::Borrowed(_)));
/// ```
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut spans = Vec::new();
    patterns::find(text, &mut spans);
    apply(text, spans)
}

/// Masks the built-in secret shapes of [`redact`] plus every secret registered with it.
///
/// Register each live token when it is obtained and unregister it when it is dropped or
/// rotated; a logging layer then scrubs those exact strings wherever they appear, in any
/// format. Safe to share between threads (`&self` everywhere), and usable as a `static`.
///
/// ```
/// use hearth_token_guard::{ApiKey, Redactor};
///
/// static REDACTOR: Redactor = Redactor::new();
///
/// let key = ApiKey::new("jf-7f3a9c1e0b2d4c8a");
/// REDACTOR.register(&key)?;
/// assert_eq!(REDACTOR.redact("X-Emby-Token=jf-7f3a9c1e0b2d4c8a"), "X-Emby-Token=[REDACTED]");
/// assert!(REDACTOR.unregister(&key));
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<SecretBytes>>,
}

impl Redactor {
    /// An empty redactor; it masks what [`redact`] masks.
    ///
    /// ```
    /// use hearth_token_guard::Redactor;
    ///
    /// let r = Redactor::new();
    /// assert_eq!(r.redact("Bearer abcdefgh12345678"), "Bearer [REDACTED]");
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            secrets: RwLock::new(Vec::new()),
        }
    }

    /// Registers a secret to be masked wherever it appears. Registering the same secret
    /// twice keeps one copy. Secrets shorter than [`MIN_REGISTERED_LEN`] bytes are refused
    /// with [`Error::TooShortToRedact`].
    ///
    /// ```
    /// use hearth_token_guard::{Error, Password, Redactor};
    ///
    /// let r = Redactor::new();
    /// assert!(matches!(r.register(&Password::new("short")), Err(Error::TooShortToRedact { .. })));
    /// ```
    pub fn register(&self, secret: &impl ExposeSecretBytes) -> Result<(), Error> {
        let bytes = secret.expose_secret_bytes();
        if bytes.len() < MIN_REGISTERED_LEN {
            return Err(Error::TooShortToRedact {
                min: MIN_REGISTERED_LEN,
            });
        }
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if !secrets.iter().any(|s| s.verify(bytes)) {
            secrets.push(SecretBytes::from_slice(bytes));
        }
        Ok(())
    }

    /// Forgets a registered secret (its copy is zeroized). Returns whether it was there.
    ///
    /// ```
    /// use hearth_token_guard::{AccessToken, Redactor};
    ///
    /// let r = Redactor::new();
    /// let t = AccessToken::new("opaque-token-1");
    /// r.register(&t)?;
    /// assert!(r.unregister(&t));
    /// assert!(!r.unregister(&t));
    /// assert_eq!(r.redact("opaque-token-1"), "opaque-token-1");
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn unregister(&self, secret: &impl ExposeSecretBytes) -> bool {
        let bytes = secret.expose_secret_bytes();
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        let before = secrets.len();
        secrets.retain(|s| !s.verify(bytes));
        secrets.len() != before
    }

    /// How many secrets are registered.
    ///
    /// ```
    /// assert_eq!(hearth_token_guard::Redactor::new().registered(), 0);
    /// ```
    #[must_use]
    pub fn registered(&self) -> usize {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Masks the registered secrets and the built-in shapes of [`redact`] in `text`;
    /// borrows the input when nothing matches.
    ///
    /// ```
    /// use hearth_token_guard::{RefreshToken, Redactor};
    ///
    /// let r = Redactor::new();
    /// r.register(&RefreshToken::new("rt.1234567890"))?;
    /// assert_eq!(r.redact("retry with rt.1234567890 failed"), "retry with [REDACTED] failed");
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = Vec::new();
        patterns::find(text, &mut spans);
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        for secret in secrets.iter() {
            let needle = secret.expose_secret();
            spans.extend(
                memchr::memmem::find_iter(text.as_bytes(), needle).map(|at| at..at + needle.len()),
            );
        }
        drop(secrets);
        apply(text, spans)
    }
}

/// Replaces the union of `spans` in `text` with [`REDACTED`] (overlapping or touching
/// spans become one).
fn apply(text: &str, mut spans: Vec<Range<usize>>) -> Cow<'_, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut after_mask = false;
    for span in spans {
        // A registered secret of arbitrary bytes may cut a character: widen to boundaries.
        let start = floor_char_boundary(text, span.start);
        let end = ceil_char_boundary(text, span.end);
        if after_mask && start <= copied {
            copied = copied.max(end);
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
        after_mask = true;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessToken, SecretBytes};

    #[test]
    fn overlapping_and_touching_spans_merge() {
        assert_eq!(apply("abcdef", vec![1..3, 2..4]), "a[REDACTED]ef");
        assert_eq!(apply("abcdef", vec![3..4, 1..3]), "a[REDACTED]ef");
        assert_eq!(
            apply("abcdef", std::iter::once(0..6).collect()),
            "[REDACTED]"
        );
        assert_eq!(
            apply("abcdef", vec![0..1, 5..6]),
            "[REDACTED]bcde[REDACTED]"
        );
    }

    #[test]
    fn spans_widen_to_char_boundaries() {
        let text = "x\u{e9}\u{e9}y";
        // A span cutting both 2-byte characters in half.
        assert_eq!(apply(text, std::iter::once(2..4).collect()), "x[REDACTED]y");
    }

    #[test]
    fn registered_byte_secrets_that_cut_characters_do_not_panic() {
        let r = Redactor::new();
        // "é" is C3 A9: this secret ends in the middle of one.
        let secret = SecretBytes::from_slice(b"abcdefgh\xc3");
        r.register(&secret).unwrap();
        assert_eq!(r.redact("--abcdefgh\u{e9}--"), "--[REDACTED]--");
    }

    #[test]
    fn registered_secrets_are_masked_in_any_context() {
        let r = Redactor::new();
        let t = AccessToken::new("opaque.TOKEN.value");
        r.register(&t).unwrap();
        r.register(&t).unwrap();
        assert_eq!(r.registered(), 1);
        assert_eq!(
            r.redact("a opaque.TOKEN.value b opaque.TOKEN.valueopaque.TOKEN.value"),
            "a [REDACTED] b [REDACTED]"
        );
    }

    #[test]
    fn clean_text_is_borrowed() {
        let r = Redactor::new();
        r.register(&AccessToken::new("registered-token")).unwrap();
        assert!(matches!(r.redact("all clear here"), Cow::Borrowed(_)));
        assert!(matches!(redact("all clear here"), Cow::Borrowed(_)));
    }
}
