//! [`StoredTokens`] (feature `storage`): a [`Session`](crate::Session)'s tokens kept as one
//! secret in a hearth-secure-storage store, so that the next run, or another process,
//! starts from the latest rotated refresh token.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use hearth_secure_storage::{AsyncSecureStorage, Key};
use hearth_token_guard::{AccessToken, IdToken, RefreshToken, SecretBytes};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{Error, PersistTokens, TokenSet};

/// A token set stored under one key (one write, so a crash never leaves a new access token
/// beside an old refresh token). The format is a small JSON object, versioned.
///
/// ```
/// use std::sync::Arc;
/// use hearth_pkce::{StoredTokens, TokenSet};
/// use hearth_secure_storage::{Blocking, MemoryStore};
/// use hearth_token_guard::AccessToken;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let stored = StoredTokens::new(Arc::new(Blocking::new(MemoryStore::new())), "app::acct::tokens".parse().unwrap());
/// assert!(stored.load().await?.is_none());
/// # use hearth_pkce::PersistTokens;
/// stored.save(&TokenSet::new(AccessToken::new("at"))).await?;
/// assert_eq!(stored.load().await?.unwrap().access_token.expose_secret(), "at");
/// # Ok::<(), hearth_pkce::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct StoredTokens {
    store: Arc<dyn AsyncSecureStorage>,
    key: Key,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("store", &self.store.info().name)
            .field("key", &self.key.to_string())
            .finish()
    }
}

impl StoredTokens {
    /// Tokens under `key` in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn AsyncSecureStorage>, key: Key) -> Self {
        Self { store, key }
    }

    /// The stored tokens, if any. A stored value this version cannot read is
    /// [`Error::Persist`], never silently ignored.
    pub async fn load(&self) -> Result<Option<TokenSet>, Error> {
        let Some(bytes) = self.store.retrieve(&self.key).await.map_err(storage)? else {
            return Ok(None);
        };
        decode(bytes.expose_secret()).map(Some)
    }

    /// Removes the stored tokens (sign-out); whether there were any.
    pub async fn clear(&self) -> Result<bool, Error> {
        self.store.delete(&self.key).await.map_err(storage)
    }
}

#[async_trait::async_trait]
impl PersistTokens for StoredTokens {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let bytes = SecretBytes::new(encode(tokens).as_bytes().to_vec());
        self.store.store(&self.key, &bytes).await.map_err(storage)
    }

    async fn clear(&self) -> Result<(), Error> {
        StoredTokens::clear(self).await.map(drop)
    }
}

fn storage(e: hearth_secure_storage::Error) -> Error {
    Error::Storage(Arc::new(e))
}

/// `{"v":1,"access_token":…,"token_type":…,"expires_at":SECONDS,"refresh_token":…,…}`.
fn encode(t: &TokenSet) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::from("{\"v\":1"));
    let mut field = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":\"");
            escape_into(&mut out, v);
            out.push('"');
        }
    };
    field("access_token", Some(t.access_token.expose_secret()));
    field("token_type", Some(&t.token_type));
    field(
        "refresh_token",
        t.refresh_token.as_ref().map(|r| r.expose_secret()),
    );
    field("id_token", t.id_token.as_ref().map(|i| i.expose_secret()));
    field("scope", t.scope.as_deref());
    if let Some(at) = t.expires_at {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        out.push_str(&format!(",\"expires_at\":{secs}"));
    }
    out.push('}');
    out
}

/// JSON string escaping (RFC 8259 §7), into a buffer that is wiped.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<TokenSet, Error> {
    let bad = || Error::Persist {
        reason: "the stored tokens are not in a format this version reads".into(),
    };
    let json: Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
    let obj = json.as_object().ok_or_else(bad)?;
    if obj.get("v").and_then(Value::as_u64) != Some(1) {
        return Err(bad());
    }
    // Every field is what `encode` writes, or the value is refused: a stored set is
    // trusted as little as a token response.
    let text = |name: &str| match obj.get(name) {
        None => Ok(None),
        Some(Value::String(v)) if !v.is_empty() && !v.contains(|c: char| c.is_control()) => {
            Ok(Some(v.as_str()))
        }
        Some(_) => Err(bad()),
    };
    let access = text("access_token")?.ok_or_else(bad)?;
    // The token types a token response may carry: Bearer, or DPoP (RFC 9449) for a
    // client with a DPoP key.
    let token_type = match text("token_type")?.unwrap_or("bearer") {
        t if t.eq_ignore_ascii_case("bearer") => "bearer",
        t if t.eq_ignore_ascii_case("dpop") => "dpop",
        _ => return Err(bad()),
    };
    let mut set = TokenSet::new(AccessToken::new(access));
    set.token_type = token_type.into();
    set.refresh_token = text("refresh_token")?.map(RefreshToken::new);
    set.id_token = text("id_token")?.map(IdToken::new);
    set.scope = text("scope")?.map(str::to_owned);
    set.expires_at = match obj.get("expires_at") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
                .ok_or_else(bad)?,
        ),
    };
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dpop_bound_set_round_trips_and_other_types_are_refused() {
        let mut t = TokenSet::new(AccessToken::new("at"));
        t.token_type = "dpop".into();
        assert_eq!(decode(encode(&t).as_bytes()).unwrap().token_type, "dpop");
        let mac = br#"{"v":1,"access_token":"at","token_type":"mac"}"#;
        assert!(matches!(decode(mac), Err(Error::Persist { .. })));
    }

    #[test]
    fn round_trip_keeps_every_field_and_escapes() {
        let mut t = TokenSet::new(AccessToken::new("a\"b\\c/é"));
        t.refresh_token = Some(RefreshToken::new("rt"));
        t.id_token = Some(IdToken::new("e30.e30.sig"));
        t.scope = Some("openid offline_access".into());
        t.expires_at = Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
        let back = decode(encode(&t).as_bytes()).unwrap();
        assert_eq!(back.access_token.expose_secret(), "a\"b\\c/é");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "rt");
        assert_eq!(back.id_token.unwrap().expose_secret(), "e30.e30.sig");
        assert_eq!(back.scope.as_deref(), Some("openid offline_access"));
        assert_eq!(back.expires_at, t.expires_at);
        for bad in [
            &b"{}"[..],
            b"{\"v\":2,\"access_token\":\"a\"}",
            b"not json",
            b"{\"v\":1}",
            b"{\"v\":1,\"access_token\":\"\"}",
            b"{\"v\":1,\"access_token\":\"a\\u0001\"}",
            b"{\"v\":1,\"access_token\":\"a\",\"token_type\":\"mac\"}",
            b"{\"v\":1,\"access_token\":\"a\",\"refresh_token\":5}",
            b"{\"v\":1,\"access_token\":\"a\",\"expires_at\":18446744073709551615}",
            b"{\"v\":1,\"access_token\":\"a\",\"expires_at\":-1}",
        ] {
            assert!(
                matches!(decode(bad), Err(Error::Persist { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
