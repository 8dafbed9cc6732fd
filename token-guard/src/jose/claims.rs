//! [`check_claims`]: the registered JWT claims (RFC 7519 §4.1) a relying party must check
//! before trusting any other.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::bad;
use crate::Error;

/// What a token's claims must say: who issued it, for whom, and when it is valid.
#[derive(Debug, Clone, Copy)]
pub struct ClaimChecks<'a> {
    /// `iss`, compared exactly (RFC 9068 §4: the issuer's identifier as configured).
    pub issuer: &'a str,
    /// An `aud` value that must be present (`aud` may be a string or an array).
    pub audience: &'a str,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (a minute is usual).
    pub leeway: Duration,
    /// The time to check against.
    pub now: SystemTime,
}

/// Checks the registered claims of a verified token's payload and returns all its claims.
/// `exp` is required; `nbf` and `iat` are checked when present (`iat` may not lie in the
/// future by more than the leeway). Refusals are [`Error::InvalidJose`] with the claim
/// named in the reason.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hearth_token_guard::jose::{ClaimChecks, check_claims};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// let checks = ClaimChecks {
///     issuer: "https://id.example/realms/jan",
///     audience: "jan-api",
///     leeway: Duration::from_secs(60),
///     now,
/// };
/// let claims = br#"{"iss":"https://id.example/realms/jan","aud":["account","jan-api"],
///                   "exp":1800000300,"sub":"alice"}"#;
/// assert_eq!(check_claims(claims, &checks)?["sub"], "alice");
/// let expired = br#"{"iss":"https://id.example/realms/jan","aud":"jan-api","exp":1799999000}"#;
/// assert!(check_claims(expired, &checks).is_err());
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn check_claims(payload: &[u8], checks: &ClaimChecks<'_>) -> Result<Map<String, Value>, Error> {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(payload) else {
        return Err(bad("the token's claims are not a JSON object"));
    };
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == checks.issuer => {}
        Some(Value::String(_)) => return Err(bad("the token's iss is another issuer")),
        _ => return Err(bad("the token has no iss")),
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == checks.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(checks.audience)),
        _ => return Err(bad("the token has no aud")),
    };
    if !for_us {
        return Err(bad("the token's aud does not name this audience"));
    }
    let now = checks
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let leeway = checks.leeway.as_secs();
    let time = |name: &str| -> Result<Option<u64>, Error> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .map(Some)
                .ok_or(bad(
                    "a time claim (exp, nbf, iat) is not a number of seconds",
                )),
        }
    };
    let exp = time("exp")?.ok_or(bad("the token has no exp"))?;
    if now >= exp.saturating_add(leeway) {
        return Err(bad("the token has expired (exp)"));
    }
    if let Some(nbf) = time("nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(bad("the token is not valid yet (nbf)"));
    }
    if let Some(iat) = time("iat")?
        && iat > now.saturating_add(leeway)
    {
        return Err(bad("the token was issued in the future (iat)"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registered_claim_is_enforced() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let checks = ClaimChecks {
            issuer: "https://iss",
            audience: "api",
            leeway: Duration::from_secs(60),
            now,
        };
        let ok = |json: &str| check_claims(json.as_bytes(), &checks).is_ok();
        let base = r#""iss":"https://iss","aud":"api""#;
        assert!(ok(&format!("{{{base},\"exp\":1000100}}")));
        assert!(
            ok(&format!("{{{base},\"exp\":999950}}")),
            "within the leeway"
        );
        assert!(
            !ok(&format!("{{{base},\"exp\":999940}}")),
            "past the leeway"
        );
        assert!(!ok(&format!("{{{base}}}")), "no exp");
        assert!(
            !ok(&format!("{{{base},\"exp\":\"1000100\"}}")),
            "a string exp"
        );
        assert!(
            !ok(&format!("{{{base},\"exp\":1000100,\"nbf\":1000100}}")),
            "nbf ahead"
        );
        assert!(
            ok(&format!("{{{base},\"exp\":1000100,\"nbf\":1000050}}")),
            "nbf in leeway"
        );
        assert!(
            !ok(&format!("{{{base},\"exp\":1000100,\"iat\":1000100}}")),
            "iat ahead"
        );
        assert!(
            !ok(r#"{"iss":"https://iss/","aud":"api","exp":1000100}"#),
            "iss exactly"
        );
        assert!(!ok(r#"{"aud":"api","exp":1000100}"#), "no iss");
        assert!(
            !ok(r#"{"iss":"https://iss","aud":"other","exp":1000100}"#),
            "aud"
        );
        assert!(
            ok(r#"{"iss":"https://iss","aud":["x","api"],"exp":1000100}"#),
            "aud array"
        );
        assert!(
            !ok(r#"{"iss":"https://iss","aud":["x"],"exp":1000100}"#),
            "aud array"
        );
        assert!(!ok(r#"{"iss":"https://iss","exp":1000100}"#), "no aud");
        assert!(!ok("[1]"), "not an object");
    }
}
