//! Where a request carries its credential: `Authorization: Bearer`, `X-Api-Key`, or an
//! `access_token` query parameter (browsers cannot set headers on a WebSocket upgrade).

use hearth_token_guard::AccessToken;
use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The credential found in a request, still unverified; or why none could be read.
pub(super) enum Presented {
    None,
    Malformed,
    Token(AccessToken),
}

/// The first credential in order: `Authorization`, `X-Api-Key`, `access_token` in the
/// query. A present but malformed header is an error, not a reason to look further.
pub(super) fn presented(headers: &HeaderMap, query: Option<&str>) -> Presented {
    if let Some(value) = headers.get(AUTHORIZATION) {
        return match AccessToken::from_bearer_header(value.as_bytes()) {
            Ok(token) => Presented::Token(token),
            Err(_) => Presented::Malformed,
        };
    }
    if let Some(value) = headers.get("x-api-key") {
        return match value.to_str() {
            Ok(v) if !v.is_empty() && v.len() <= hearth_token_guard::MAX_BEARER_LEN => {
                Presented::Token(AccessToken::new(v))
            }
            _ => Presented::Malformed,
        };
    }
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
    });
    match from_query {
        Some(v) if !v.is_empty() && v.len() <= hearth_token_guard::MAX_BEARER_LEN => {
            Presented::Token(AccessToken::new(v))
        }
        Some(_) => Presented::Malformed,
        None => Presented::None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn token(p: Presented) -> Option<String> {
        match p {
            Presented::Token(t) => Some(t.expose_secret().to_owned()),
            _ => None,
        }
    }

    #[test]
    fn the_authorization_header_wins_then_x_api_key_then_the_query() {
        let mut h = HeaderMap::new();
        assert!(matches!(presented(&h, None), Presented::None));
        assert_eq!(
            token(presented(&h, Some("a=1&access_token=q1"))).unwrap(),
            "q1"
        );
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert_eq!(token(presented(&h, Some("access_token=q1"))).unwrap(), "k1");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer b1"));
        assert_eq!(token(presented(&h, Some("access_token=q1"))).unwrap(), "b1");
    }

    #[test]
    fn malformed_credentials_are_not_skipped() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert!(matches!(presented(&h, None), Presented::Malformed));
        assert!(matches!(
            presented(&HeaderMap::new(), Some("access_token=")),
            Presented::Malformed
        ));
    }
}
