//! Log scrubbing: mask secrets in text before it reaches a log.
//!
//! One engine, in linear time for any input (see [`redact`]), behind every entry point:
//! [`redact`] for one text, [`Redactor`] for the app's live secrets too,
//! [`Redactor::redact_stream`] for a stream (`hearth redact`), and with the `tracing` and
//! `log` features, writers that scrub every formatted event.

mod jwt;
#[cfg(feature = "log")]
mod log;
mod names;
mod pem;
mod scan;
mod stream;
mod structures;
#[cfg(feature = "tracing")]
mod tracing;
mod vendors;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{PoisonError, RwLock};

use crate::{Error, ExposeSecretBytes, SecretBytes};

#[cfg(feature = "log")]
pub use self::log::RedactingLogger;
#[cfg(feature = "tracing")]
pub use self::tracing::{RedactingMakeWriter, RedactingWriter};
pub use stream::Tally;

/// What every masked secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest secret a [`Redactor`] accepts: shorter strings occur in ordinary text too often
/// for masking them to be useful.
pub const MIN_REGISTERED_LEN: usize = 8;

/// Which rule found a secret (`hearth redact --stats` counts by it).
///
/// ```
/// use hearth_token_guard::{Detector, find_secrets};
///
/// let found = find_secrets(b"pushed with ghp_0123456789abcdefghijABCDEFGHIJ012345");
/// assert!(found.iter().any(|f| f.detector == Detector::Vendor("github")));
/// assert_eq!(Detector::Vendor("github").to_string(), "github");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Detector {
    /// A vendor's token format (gitleaks' prefix rules, Hearth's own `hth_` keys), by
    /// vendor: `"github"`, `"aws"`, `"hearth"`, ...
    Vendor(&'static str),
    /// A JWT (JWS or JWE compact form).
    Jwt,
    /// A PEM private key block.
    PrivateKey,
    /// The value of a sensitive name (`password=`, `"apiKey":`, `DB_PASSWORD=`, ...).
    Name,
    /// The token after `Bearer`.
    Bearer,
    /// The credentials of an `Authorization` or `Proxy-Authorization` value.
    Authorization,
    /// The password (or token) in a URL's userinfo.
    UrlUserinfo,
    /// The password of `curl -u user:password`.
    CurlUser,
    /// A cookie value of a `Cookie` or `Set-Cookie` header.
    Cookie,
    /// A secret registered with a [`Redactor`].
    Registered,
}

impl Detector {
    /// Its name: the vendor's, or `jwt`, `private-key`, `name`, `bearer`,
    /// `authorization`, `url-userinfo`, `curl-user`, `cookie`, `registered`.
    ///
    /// ```
    /// assert_eq!(hearth_token_guard::Detector::PrivateKey.name(), "private-key");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Detector::Vendor(vendor) => vendor,
            Detector::Jwt => "jwt",
            Detector::PrivateKey => "private-key",
            Detector::Name => "name",
            Detector::Bearer => "bearer",
            Detector::Authorization => "authorization",
            Detector::UrlUserinfo => "url-userinfo",
            Detector::CurlUser => "curl-user",
            Detector::Cookie => "cookie",
            Detector::Registered => "registered",
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One secret found: where, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its bytes in the text.
    pub range: Range<usize>,
    /// The rule that found it.
    pub detector: Detector,
}

/// Masks the secrets that have a recognizable shape in `text`, each replaced by
/// [`REDACTED`]. Names and schemes match in any ASCII case.
///
/// - **Vendor tokens**: the high-confidence prefix formats of gitleaks' default rules —
///   GitHub (`ghp_ gho_ ghu_ ghs_ ghr_ github_pat_`), GitLab (`glpat-` …), Slack (`xoxb-` …,
///   webhook URLs), AWS key ids (`AKIA` …), Google API keys (`AIza`), OpenAI (`sk-proj-` …),
///   Anthropic (`sk-ant-`), Stripe (`sk_live_` …), npm, PyPI, Hugging Face, Shopify,
///   SendGrid, DigitalOcean, Doppler, Databricks, Grafana, Postman, Linear, age, Vault,
///   Pulumi, Sentry, Square, Figma, New Relic, Alibaba, 1Password — and Hearth's own `hth_`
///   API keys when their checksum holds.
/// - **JWTs** (`eyJ…` and two or more further segments), the whole run.
/// - **PEM private key blocks** whose body looks like base64 and whose END comes within
///   100 lines and 64 KiB; lines separated by newlines, `\n` escapes (a key in a JSON
///   string) or spaces.
/// - **Sensitive names**: the value of any name whose last word is `token`, `secret`,
///   `password`, `passwd`, `pwd`, `passphrase`, `key`, `apikey`, `credential(s)`, `auth`,
///   `session` or `cookie` (words split at `_ - .` and camelCase; `PGPASSWORD` too), written
///   `k=v`, `k: v`, `"k": "v"`, `k => 'v'`, `<k>v</k>`, `k%3Dv`, `--k v` or `--k=v`, and
///   OAuth's `code` and `code_verifier`. Values that cannot be secrets stay: booleans,
///   `null`, integers of up to four digits (`primary_key=42`), and after a bare generic
///   name (`token: expired`) values under 8 bytes.
/// - **Structures**: the token after `Bearer`; `Authorization` / `Proxy-Authorization`
///   credentials of any scheme; URL userinfo passwords (`https://alice:[REDACTED]@host`);
///   `curl -u user:password`; `Cookie` and `Set-Cookie` values.
///
/// **Time** is linear in the length of `text` for any input: one SIMD multi-literal search,
/// then per hit a check that either masks what it read or reads a bounded amount (at most
/// 64 KiB for a PEM body, 1 KiB for a URL authority, 64 bytes for a name); masked spans are
/// not examined again. Returns the input unchanged, without allocating, when nothing
/// matches. To also mask the app's own live secrets, whatever their shape, use a
/// [`Redactor`].
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
/// assert_eq!(redact("DB_PASSWORD=hunter2 PORT=5432"), "DB_PASSWORD=[REDACTED] PORT=5432");
/// assert!(matches!(redact("nothing to see"), std::borrow::Cow::Borrowed(_)));
/// ```
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut found = Vec::new();
    scan::find(text.as_bytes(), true, &mut found);
    apply_str(text, found)
}

/// Where [`redact`] would mask, and why: every secret its built-in rules find in `text`
/// (spans may overlap; bytes need not be UTF-8).
///
/// ```
/// use hearth_token_guard::{Detector, find_secrets};
///
/// let found = find_secrets(b"password=hunter2");
/// assert_eq!(found.len(), 1);
/// assert_eq!((found[0].range.clone(), found[0].detector), (9..16, Detector::Name));
/// ```
#[must_use]
pub fn find_secrets(text: &[u8]) -> Vec<Found> {
    let mut found = Vec::new();
    scan::find(text, true, &mut found);
    found
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
        apply_str(text, self.find(text.as_bytes()))
    }

    /// [`redact`](Self::redact) for bytes that need not be UTF-8 (a formatted log event,
    /// a line of a file): invalid sequences pass through byte for byte.
    ///
    /// ```
    /// use hearth_token_guard::Redactor;
    ///
    /// let out = Redactor::new().redact_bytes(b"\xff password=hunter2");
    /// assert_eq!(&out[..], b"\xff password=[REDACTED]");
    /// ```
    #[must_use]
    pub fn redact_bytes<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        let found = self.find(text);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        write_masked(text, found, 0..text.len(), &mut out);
        Cow::Owned(out)
    }

    /// Every secret found in `text`: the built-in rules' and the registered secrets'.
    ///
    /// ```
    /// use hearth_token_guard::{AccessToken, Detector, Redactor};
    ///
    /// let r = Redactor::new();
    /// r.register(&AccessToken::new("opaque-token-1"))?;
    /// let found = r.find(b"got opaque-token-1");
    /// assert_eq!(found[0].detector, Detector::Registered);
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn find(&self, text: &[u8]) -> Vec<Found> {
        self.find_in(text, true)
    }

    /// [`find`](Self::find); `end_is_final` says whether `text` ends the input.
    fn find_in(&self, text: &[u8], end_is_final: bool) -> Vec<Found> {
        let mut found = Vec::new();
        scan::find(text, end_is_final, &mut found);
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        for secret in secrets.iter() {
            let needle = secret.expose_secret();
            found.extend(memchr::memmem::find_iter(text, needle).map(|at| Found {
                range: at..at + needle.len(),
                detector: Detector::Registered,
            }));
        }
        found
    }
}

/// Masks `found` in `text`; borrows when there is nothing to mask.
fn apply_str(text: &str, found: Vec<Found>) -> Cow<'_, str> {
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + found.len() * REDACTED.len());
    // Spans are widened to whole characters, so every kept piece is a `str` slice: the
    // output needs no second UTF-8 validation pass.
    masked_pieces(text.as_bytes(), found, 0..text.len(), |piece| {
        out.push_str(match piece {
            Piece::Kept(r) => text.get(r).unwrap_or("\u{FFFD}"),
            Piece::Masked => REDACTED,
        });
    });
    Cow::Owned(out)
}

/// Writes `text[range]` to `out` with the union of `found` replaced by [`REDACTED`]
/// (overlapping or touching spans become one; spans are clipped to `range` and widened
/// to whole UTF-8 characters).
fn write_masked(text: &[u8], found: Vec<Found>, range: Range<usize>, out: &mut Vec<u8>) {
    out.reserve(range.len() + found.len() * REDACTED.len());
    masked_pieces(text, found, range, |piece| match piece {
        Piece::Kept(r) => out.extend_from_slice(&text[r]),
        Piece::Masked => out.extend_from_slice(REDACTED.as_bytes()),
    });
}

/// One piece of a masked text, in order.
enum Piece {
    /// Bytes kept as they are.
    Kept(Range<usize>),
    /// [`REDACTED`] in place of a span (or of several that overlap or touch).
    Masked,
}

/// Cuts `text[range]` into the pieces of its masked form (see [`write_masked`]).
fn masked_pieces(
    text: &[u8],
    mut found: Vec<Found>,
    range: Range<usize>,
    mut emit: impl FnMut(Piece),
) {
    if !found.is_sorted_by_key(|f| f.range.start) {
        found.sort_unstable_by_key(|f| f.range.start);
    }
    let mut copied = range.start;
    let mut after_mask = false;
    for f in found {
        let start = char_start(text, f.range.start).max(range.start);
        let end = char_end(text, f.range.end).min(range.end);
        if start >= end {
            continue;
        }
        if after_mask && start <= copied {
            copied = copied.max(end);
            continue;
        }
        if copied < start {
            emit(Piece::Kept(copied..start));
        }
        emit(Piece::Masked);
        copied = end;
        after_mask = true;
    }
    if copied < range.end {
        emit(Piece::Kept(copied..range.end));
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// `i` moved back over at most three UTF-8 continuation bytes.
fn char_start(text: &[u8], mut i: usize) -> usize {
    let floor = i.saturating_sub(3);
    while i > floor && i < text.len() && is_continuation(text[i]) {
        i -= 1;
    }
    i
}

/// `i` moved forward over at most three UTF-8 continuation bytes.
fn char_end(text: &[u8], mut i: usize) -> usize {
    let ceil = (i + 3).min(text.len());
    while i < ceil && is_continuation(text[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessToken, SecretBytes};

    fn apply(text: &str, spans: Vec<Range<usize>>) -> Cow<'_, str> {
        let found = spans
            .into_iter()
            .map(|range| Found {
                range,
                detector: Detector::Registered,
            })
            .collect();
        apply_str(text, found)
    }

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
    fn a_masked_range_is_written_clipped() {
        let mut out = Vec::new();
        let found = vec![Found {
            range: 2..6,
            detector: Detector::Name,
        }];
        write_masked(b"abcdefgh", found, 4..8, &mut out);
        assert_eq!(out, b"[REDACTED]gh");
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
