//! `Authorization: Bearer` values (RFC 6750 §2.1), built and parsed strictly.

use http::HeaderValue;
use zeroize::Zeroizing;

use crate::{AccessToken, Error};

/// Largest `Authorization` value [`AccessToken::from_bearer_header`] accepts: 8 KiB, room
/// for a large JWT while bounding the work done on hostile input.
pub const MAX_BEARER_LEN: usize = 8192;

const SCHEME: &[u8] = b"Bearer";

/// RFC 6750 `b64token`: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`.
fn is_b64token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// Returns the offset of the first byte that breaks `1*b64token-char *"="`, if any.
pub(crate) fn first_invalid_token68(token: &[u8]) -> Option<usize> {
    let body = token.iter().take_while(|&&b| is_b64token_char(b)).count();
    if body == 0 {
        return Some(0);
    }
    let pad = token[body..].iter().take_while(|&&b| b == b'=').count();
    let end = body + pad;
    (end < token.len()).then_some(end)
}

impl AccessToken {
    /// Builds `Authorization: Bearer <token>` as a [`HeaderValue`] marked sensitive, so
    /// HTTP/2 HPACK never indexes it and `http`'s `Debug` prints `Sensitive`.
    ///
    /// Fails with [`Error::MalformedBearer`] if the token is not RFC 6750 token68 (such a
    /// value cannot be sent as a bearer credential), or [`Error::TooLong`] past
    /// [`MAX_BEARER_LEN`].
    ///
    /// ```
    /// use hearth_token_guard::AccessToken;
    ///
    /// let value = AccessToken::new("mF_9.B5f-4.1JqM").bearer_header()?;
    /// assert!(value.is_sensitive());
    /// assert_eq!(value.as_bytes(), b"Bearer mF_9.B5f-4.1JqM");
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn bearer_header(&self) -> Result<HeaderValue, Error> {
        self.authorization_header(SCHEME)
    }

    /// Builds `Authorization: DPoP <token>` (RFC 9449 §7.1) for a DPoP-bound token, marked
    /// sensitive, with the checks of [`bearer_header`](Self::bearer_header) (the token has
    /// the same token68 syntax).
    ///
    /// ```
    /// use hearth_token_guard::AccessToken;
    ///
    /// let value = AccessToken::new("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU").dpop_header()?;
    /// assert!(value.is_sensitive());
    /// assert!(value.as_bytes().starts_with(b"DPoP Kz~8"));
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn dpop_header(&self) -> Result<HeaderValue, Error> {
        self.authorization_header(b"DPoP")
    }

    fn authorization_header(&self, scheme: &[u8]) -> Result<HeaderValue, Error> {
        let token = self.expose_secret().as_bytes();
        if scheme.len() + 1 + token.len() > MAX_BEARER_LEN {
            return Err(Error::TooLong {
                limit: MAX_BEARER_LEN,
            });
        }
        if let Some(at) = first_invalid_token68(token) {
            return Err(Error::MalformedBearer {
                at: scheme.len() + 1 + at,
            });
        }
        let mut line = Zeroizing::new(Vec::with_capacity(scheme.len() + 1 + token.len()));
        line.extend_from_slice(scheme);
        line.push(b' ');
        line.extend_from_slice(token);
        // Every byte was checked above, so this cannot fail; map it anyway rather than panic.
        let mut value = HeaderValue::from_bytes(&line).map_err(|_| Error::MalformedBearer {
            at: scheme.len() + 1,
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Parses an `Authorization` value strictly: the scheme `Bearer` in any case, exactly
    /// one space, then a token in RFC 6750's token68 syntax, at most [`MAX_BEARER_LEN`]
    /// bytes in all.
    ///
    /// Accepts anything that is `AsRef<[u8]>`, including [`HeaderValue`]. Errors:
    /// [`Error::NotBearer`] for another scheme (try the next one),
    /// [`Error::MalformedBearer`] with the offset of the first bad byte,
    /// [`Error::TooLong`]. No error message contains the token.
    ///
    /// ```
    /// use hearth_token_guard::{AccessToken, Error};
    ///
    /// let t = AccessToken::from_bearer_header(b"bearer mF_9.B5f-4.1JqM")?;
    /// assert_eq!(t.expose_secret(), "mF_9.B5f-4.1JqM");
    ///
    /// let two_spaces = AccessToken::from_bearer_header(b"Bearer  abc");
    /// assert!(matches!(two_spaces, Err(Error::MalformedBearer { at: 7 })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_bearer_header(value: impl AsRef<[u8]>) -> Result<AccessToken, Error> {
        let value = value.as_ref();
        if value.len() > MAX_BEARER_LEN {
            return Err(Error::TooLong {
                limit: MAX_BEARER_LEN,
            });
        }
        let scheme_end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
        if !value[..scheme_end].eq_ignore_ascii_case(SCHEME) {
            return Err(Error::NotBearer);
        }
        let token_start = scheme_end + 1;
        if token_start > value.len() {
            return Err(Error::MalformedBearer { at: value.len() });
        }
        let token = &value[token_start..];
        if let Some(at) = first_invalid_token68(token) {
            return Err(Error::MalformedBearer {
                at: token_start + at,
            });
        }
        // token68 is ASCII, so this is valid UTF-8; map rather than panic regardless.
        let text = std::str::from_utf8(token).map_err(|e| Error::MalformedBearer {
            at: token_start + e.valid_up_to(),
        })?;
        Ok(AccessToken::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<AccessToken, Error> {
        AccessToken::from_bearer_header(v)
    }

    #[test]
    fn accepts_rfc6750_example_in_any_scheme_case() {
        for v in [
            "Bearer mF_9.B5f-4.1JqM",
            "BEARER mF_9.B5f-4.1JqM",
            "bEaReR mF_9.B5f-4.1JqM",
        ] {
            assert_eq!(parse(v).unwrap().expose_secret(), "mF_9.B5f-4.1JqM");
        }
        assert_eq!(parse("Bearer a+/b==").unwrap().expose_secret(), "a+/b==");
        assert_eq!(parse("Bearer ~").unwrap().expose_secret(), "~");
    }

    #[test]
    fn refuses_other_schemes() {
        for v in [
            "Basic abc",
            "",
            "Bear abc",
            "Bearerx abc",
            "Token abc",
            " Bearer abc",
        ] {
            assert!(matches!(parse(v), Err(Error::NotBearer)), "{v:?}");
        }
    }

    #[test]
    fn refuses_bad_syntax_with_position() {
        let cases = [
            ("Bearer", 6),
            ("Bearer ", 7),
            ("Bearer  abc", 7),
            ("Bearer abc ", 10),
            ("Bearer ab c", 9),
            ("Bearer =abc", 7),
            ("Bearer ab=c", 10),
            ("Bearer ab\tc", 9),
            ("Bearer abc\r\n", 10),
            ("Bearer ab\u{e9}", 9),
        ];
        for (v, at) in cases {
            match parse(v) {
                Err(Error::MalformedBearer { at: got }) => assert_eq!(got, at, "{v:?}"),
                other => panic!("{v:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn enforces_the_size_cap() {
        let ok = format!("Bearer {}", "a".repeat(MAX_BEARER_LEN - 7));
        assert!(parse(&ok).is_ok());
        let long = format!("Bearer {}", "a".repeat(MAX_BEARER_LEN - 6));
        assert!(matches!(
            parse(&long),
            Err(Error::TooLong {
                limit: MAX_BEARER_LEN
            })
        ));
        let huge = AccessToken::new("a".repeat(MAX_BEARER_LEN));
        assert!(matches!(huge.bearer_header(), Err(Error::TooLong { .. })));
    }

    #[test]
    fn header_round_trips_and_is_sensitive() {
        let t = AccessToken::new("abc.DEF-123_~+/==");
        let h = t.bearer_header().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(format!("{h:?}"), "Sensitive");
        assert_eq!(AccessToken::from_bearer_header(&h).unwrap(), t);
    }

    #[test]
    fn header_refuses_tokens_that_are_not_token68() {
        let t = AccessToken::new("has space");
        assert!(matches!(
            t.bearer_header(),
            Err(Error::MalformedBearer { at: 10 })
        ));
        let t = AccessToken::new("line\r\nInjected: 1");
        assert!(matches!(
            t.bearer_header(),
            Err(Error::MalformedBearer { .. })
        ));
    }

    #[test]
    fn errors_never_contain_the_token() {
        for v in [
            "Bearer secret-part with-space",
            "Bearer  secret",
            "Basic secret",
        ] {
            let e = parse(v).unwrap_err();
            assert!(!e.to_string().contains("secret"), "{e}");
            assert!(!format!("{e:?}").contains("secret"), "{e:?}");
        }
    }
}
