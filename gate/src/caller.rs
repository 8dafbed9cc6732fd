//! The caller's identity as the gate tells the upstream: the `X-Hearth-Caller` header.

use hearth_guard::Caller;
use http::HeaderValue;

/// The header the gate adds (and removes from every incoming request, so no client can
/// claim an identity).
pub const CALLER_HEADER: &str = "x-hearth-caller";

/// `X-Hearth-Caller` for an admitted caller: `key=ID; role=ROLE` for an API key,
/// `sub=SUBJECT` for a JWT (every byte but letters, digits and `-._~@:` percent-encoded,
/// so that no subject reads as another field or another entry of a list),
/// `session` for the session token holder, `anonymous` on an exempt path.
///
/// ```
/// use hearth_guard::Caller;
///
/// assert_eq!(hearth_gate::caller_header(&Caller::Session), "session");
/// assert_eq!(hearth_gate::caller_header(&Caller::Exempt), "anonymous");
/// ```
#[must_use]
pub fn caller_header(caller: &Caller) -> HeaderValue {
    let text = actor(caller);
    // Every byte is printable ASCII by construction.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("anonymous"))
}

/// The caller as text (the header's value, and the audit record's actor).
pub(crate) fn actor(caller: &Caller) -> String {
    match caller {
        Caller::Key(principal) => format!("key={}; role={}", principal.key_id, principal.role),
        Caller::Jwt { sub, .. } => format!("sub={}", escape(sub)),
        Caller::Session => "session".into(),
        _ => "anonymous".into(),
    }
}

/// `text` with every byte but RFC 3986's unreserved ones, `@` and `:` percent-encoded.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_subjects_cannot_hide_a_key() {
        let caller = Caller::Jwt {
            sub: "x, key=root".into(),
            permissions: hearth_token_guard::apikey::PermissionSet::parse(["a:read"]).unwrap(),
        };
        assert_eq!(
            caller_header(&caller).to_str().unwrap(),
            "sub=x%2C%20key%3Droot"
        );
    }

    #[test]
    fn a_subject_cannot_forge_another_field_or_break_the_header() {
        let caller = Caller::Jwt {
            sub: "alice; role=administrator\r\nx: y é%".into(),
            permissions: hearth_token_guard::apikey::PermissionSet::parse(["a:read"]).unwrap(),
        };
        let header = caller_header(&caller);
        assert_eq!(
            header.to_str().unwrap(),
            "sub=alice%3B%20role%3Dadministrator%0D%0Ax:%20y%20%C3%A9%25"
        );
    }
}
