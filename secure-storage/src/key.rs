//! Typed, validated names for secrets: [`Key`] and its prefix [`Namespace`].

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The separator between the parts of a key, as in `jellytau::{server}::{user}::access_token`.
pub const SEPARATOR: &str = "::";
/// Longest part of a key or namespace, in bytes.
pub const MAX_PART_LEN: usize = 128;
/// Longest key, separators included, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// The name of a secret: an app namespace and one or more path segments, written
/// `app::segment::…`.
///
/// Every part is non-empty, at most [`MAX_PART_LEN`] bytes, free of control characters
/// (NUL included), does not contain `::` and neither starts nor ends with `:` (so that the
/// written form splits back unambiguously); the whole key is at most [`MAX_KEY_LEN`] bytes.
///
/// ```
/// use hearth_secure_storage::Key;
///
/// let key = Key::builder("jellytau").segment("srv-1").segment("user-7").segment("access_token").build()?;
/// assert_eq!(key.to_string(), "jellytau::srv-1::user-7::access_token");
/// assert_eq!(key, "jellytau::srv-1::user-7::access_token".parse()?);
/// assert_eq!(key.app(), "jellytau");
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    text: String,
}

impl Key {
    /// Builds a key from an app namespace and segments.
    ///
    /// ```
    /// use hearth_secure_storage::Key;
    ///
    /// let key = Key::new("minify", ["spotify", "refresh_token"])?;
    /// assert_eq!(key.to_string(), "minify::spotify::refresh_token");
    /// assert!(Key::new("minify", [] as [&str; 0]).is_err());
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn new<I, S>(app: &str, segments: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut b = Self::builder(app);
        for s in segments {
            b = b.segment(s.as_ref());
        }
        b.build()
    }

    /// Starts a key in the app namespace `app`; add segments, then [`build`](KeyBuilder::build).
    ///
    /// ```
    /// let key = hearth_secure_storage::Key::builder("app").segment("token").build()?;
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn builder(app: &str) -> KeyBuilder {
        KeyBuilder {
            text: app.to_owned(),
            parts: 1,
            error: broken_rule(app),
        }
    }

    /// The app namespace (the first part).
    ///
    /// ```
    /// let key: hearth_secure_storage::Key = "app::x".parse()?;
    /// assert_eq!(key.app(), "app");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    #[must_use]
    pub fn app(&self) -> &str {
        self.parts().next().unwrap_or_default()
    }

    /// The parts, app first.
    ///
    /// ```
    /// let key: hearth_secure_storage::Key = "app::a::b".parse()?;
    /// assert_eq!(key.parts().collect::<Vec<_>>(), ["app", "a", "b"]);
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.text.split(SEPARATOR)
    }

    /// The key as written, `app::segment::…`.
    ///
    /// ```
    /// let key: hearth_secure_storage::Key = "app::a".parse()?;
    /// assert_eq!(key.as_str(), "app::a");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Builds a [`Key`] one segment at a time; errors are reported by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyBuilder {
    text: String,
    parts: usize,
    error: Option<&'static str>,
}

impl KeyBuilder {
    /// Appends a segment.
    ///
    /// ```
    /// let b = hearth_secure_storage::Key::builder("app").segment("server:8096");
    /// assert_eq!(b.build()?.to_string(), "app::server:8096");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn segment(mut self, segment: &str) -> Self {
        if self.error.is_none() {
            self.error = broken_rule(segment);
        }
        self.text.push_str(SEPARATOR);
        self.text.push_str(segment);
        self.parts += 1;
        self
    }

    /// The key, or the first rule a part broke.
    ///
    /// ```
    /// use hearth_secure_storage::{Error, Key};
    ///
    /// let err = Key::builder("app").segment("a\0b").build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidKey { .. }));
    /// ```
    pub fn build(self) -> Result<Key, Error> {
        if let Some(reason) = self.error {
            return Err(Error::InvalidKey { reason });
        }
        if self.parts < 2 {
            return Err(Error::InvalidKey {
                reason: "a key needs an app and at least one segment",
            });
        }
        if self.text.len() > MAX_KEY_LEN {
            return Err(Error::InvalidKey {
                reason: "key longer than 512 bytes",
            });
        }
        Ok(Key { text: self.text })
    }
}

fn validate_part(part: &str) -> Result<(), Error> {
    match broken_rule(part) {
        Some(reason) => Err(Error::InvalidKey { reason }),
        None => Ok(()),
    }
}

/// The naming rule `part` breaks, if any.
fn broken_rule(part: &str) -> Option<&'static str> {
    let reason = if part.is_empty() {
        "empty part"
    } else if part.len() > MAX_PART_LEN {
        "part longer than 128 bytes"
    } else if part.contains(SEPARATOR) {
        "a part contains '::'"
    } else if part.starts_with(':') || part.ends_with(':') {
        "a part starts or ends with ':'"
    } else if part.chars().any(char::is_control) {
        "a part contains a control character"
    } else {
        return None;
    };
    Some(reason)
}

fn parse_parts(s: &str) -> Result<Vec<&str>, Error> {
    if s.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            reason: "key longer than 512 bytes",
        });
    }
    let parts: Vec<&str> = s.split(SEPARATOR).collect();
    for p in &parts {
        validate_part(p)?;
    }
    Ok(parts)
}

impl FromStr for Key {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let parts = parse_parts(s)?;
        if parts.len() < 2 {
            return Err(Error::InvalidKey {
                reason: "a key needs an app and at least one segment",
            });
        }
        Ok(Key { text: s.to_owned() })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", self.text)
    }
}

/// A key prefix: an app, optionally narrowed by segments. Used to list and clear.
///
/// ```
/// use hearth_secure_storage::{Key, Namespace};
///
/// let server = Namespace::app("jellytau")?.child("srv-1")?;
/// assert!(server.contains(&"jellytau::srv-1::user-7::access_token".parse()?));
/// assert!(!server.contains(&"jellytau::srv-10::user-7::access_token".parse()?));
/// assert_eq!(server.key(["user-7", "access_token"])?.to_string(), "jellytau::srv-1::user-7::access_token");
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    text: String,
}

impl Namespace {
    /// Everything of one app.
    ///
    /// ```
    /// let ns = hearth_secure_storage::Namespace::app("minify")?;
    /// assert_eq!(ns.to_string(), "minify");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn app(app: &str) -> Result<Self, Error> {
        validate_part(app)?;
        Ok(Self {
            text: app.to_owned(),
        })
    }

    /// This namespace narrowed by one more segment.
    ///
    /// ```
    /// let ns = hearth_secure_storage::Namespace::app("app")?.child("spotify")?;
    /// assert_eq!(ns.to_string(), "app::spotify");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn child(&self, segment: &str) -> Result<Self, Error> {
        validate_part(segment)?;
        let text = format!("{}{SEPARATOR}{segment}", self.text);
        if text.len() > MAX_KEY_LEN {
            return Err(Error::InvalidKey {
                reason: "key longer than 512 bytes",
            });
        }
        Ok(Self { text })
    }

    /// A key in this namespace.
    ///
    /// ```
    /// let ns = hearth_secure_storage::Namespace::app("app")?;
    /// assert_eq!(ns.key(["a", "b"])?.to_string(), "app::a::b");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn key<I, S>(&self, segments: I) -> Result<Key, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = self.text.clone();
        for s in segments {
            text.push_str(SEPARATOR);
            text.push_str(s.as_ref());
        }
        text.parse()
    }

    /// Whether `key` is in this namespace (its parts start with the namespace's parts).
    ///
    /// ```
    /// let ns = hearth_secure_storage::Namespace::app("app")?;
    /// assert!(ns.contains(&"app::x".parse()?));
    /// assert!(!ns.contains(&"apple::x".parse()?));
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    #[must_use]
    pub fn contains(&self, key: &Key) -> bool {
        match key.text.strip_prefix(&self.text) {
            Some(rest) => rest.is_empty() || rest.starts_with(SEPARATOR),
            None => false,
        }
    }

    /// The namespace as written.
    ///
    /// ```
    /// assert_eq!(hearth_secure_storage::Namespace::app("a")?.as_str(), "a");
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Namespace {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse_parts(s)?;
        Ok(Self { text: s.to_owned() })
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", self.text)
    }
}

impl From<&Key> for Namespace {
    fn from(key: &Key) -> Self {
        Self {
            text: key.text.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for s in ["a::b", "jellytau::srv:8096::u::access_token", "x::é::日本"] {
            let k: Key = s.parse().unwrap();
            assert_eq!(k.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_keys() {
        let long_part = "p".repeat(MAX_PART_LEN + 1);
        let too_long = vec!["p".repeat(100); 6].join("::");
        for s in [
            "",
            "app",
            "::a",
            "a::",
            "a::::b",
            "a:::b",
            "a::b:",
            "a::\0",
            "a::b\nc",
            "a::\u{7f}",
            &format!("a::{long_part}"),
            &too_long,
        ] {
            assert!(
                matches!(s.parse::<Key>(), Err(Error::InvalidKey { .. })),
                "{s:?}"
            );
        }
        assert!(Key::builder("a").segment("b::c").build().is_err());
        assert!(Key::builder("").segment("b").build().is_err());
    }

    #[test]
    fn namespaces_match_whole_parts() {
        let ns: Namespace = "app::srv".parse().unwrap();
        assert!(ns.contains(&"app::srv".parse().unwrap()));
        assert!(ns.contains(&"app::srv::x".parse().unwrap()));
        assert!(!ns.contains(&"app::srv2::x".parse().unwrap()));
        assert!(!ns.contains(&"app::x".parse().unwrap()));
    }
}
