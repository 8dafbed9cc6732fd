//! [`Record`]: one line of the log, its canonical text and its MAC.
//!
//! A line is `{"seq":…,"time":…,"event":…,"actor":…,"resource":…,"action":…,"result":…,
//! "peer":…,"request_id":…,"prev_mac":…,"mac":…}` with the members in that order, strings
//! as serde_json writes them, and `mac = HMAC-SHA256(K, prev_mac || body)`, where `body` is
//! the line up to (not including) `,"mac":`, and `prev_mac` is the previous record's MAC
//! (32 zero bytes for the first record). A line is accepted only if writing its parsed
//! record again gives the same bytes, so there is exactly one text per record.

use ring::hmac;
use serde_json::Value;

use crate::entry::{Entry, Event, Outcome};
use crate::{AuditKey, Head};

/// The longest line a reader accepts, in bytes (the fields' limits keep writers far below).
pub const MAX_LINE_LEN: usize = 16 * 1024;

/// One record, as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was appended: RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The event's name.
    pub event: String,
    /// Who acted.
    pub actor: String,
    /// What was acted on.
    pub resource: String,
    /// What was done.
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub result: String,
    /// The peer, when recorded.
    pub peer: Option<String>,
    /// The request id, when recorded.
    pub request_id: Option<String>,
    /// The previous record's MAC.
    pub prev_mac: [u8; 32],
    /// This record's MAC.
    pub mac: [u8; 32],
}

impl Record {
    /// The record for `entry` after `prev`, at `millis` since the Unix epoch (the
    /// writer writes its line directly: [`write_line`](Self::write_line)).
    #[cfg(test)]
    pub(crate) fn seal(key: &AuditKey, prev: &Head, entry: &Entry, millis: u64) -> Self {
        let mut record = Self {
            seq: prev.seq + 1,
            time: crate::time::utc_millis(millis),
            event: entry.event.name().to_owned(),
            actor: entry.actor.clone(),
            resource: entry.resource.clone(),
            action: entry.action.clone(),
            result: entry.result.name().to_owned(),
            peer: entry.peer.clone(),
            request_id: entry.request_id.clone(),
            prev_mac: prev.mac,
            mac: [0; 32],
        };
        record.mac = key.mac(&record.prev_mac, record.body().as_bytes());
        record
    }

    /// The canonical line, with its newline.
    #[must_use]
    pub fn line(&self) -> String {
        let mut line = self.body();
        line.push_str(",\"mac\":\"");
        line.push_str(&hex(&self.mac));
        line.push_str("\"}\n");
        line
    }

    /// Everything the MAC covers.
    fn body(&self) -> String {
        let mut out = String::with_capacity(320);
        write_body(
            &mut out,
            &Fields {
                seq: self.seq,
                time: &self.time,
                event: &self.event,
                actor: &self.actor,
                resource: &self.resource,
                action: &self.action,
                result: &self.result,
                peer: self.peer.as_deref(),
                request_id: self.request_id.as_deref(),
                prev_mac: &self.prev_mac,
            },
        );
        out
    }

    /// Appends to `out` the canonical line of `entry` after `prev` at `time` (RFC 3339),
    /// exactly `seal(…).line()`, without building the record; returns
    /// its head. The writer's hot path: one pass, no allocation per field.
    pub(crate) fn write_line(
        out: &mut String,
        key: &AuditKey,
        prev: &Head,
        entry: &Entry,
        time: &str,
    ) -> Head {
        let start = out.len();
        let seq = prev.seq + 1;
        write_body(
            out,
            &Fields {
                seq,
                time,
                event: entry.event.name(),
                actor: &entry.actor,
                resource: &entry.resource,
                action: &entry.action,
                result: entry.result.name(),
                peer: entry.peer.as_deref(),
                request_id: entry.request_id.as_deref(),
                prev_mac: &prev.mac,
            },
        );
        let mac = key.mac(&prev.mac, &out.as_bytes()[start..]);
        out.push_str(",\"mac\":\"");
        push_hex(out, &mac);
        out.push_str("\"}\n");
        Head { seq, mac }
    }

    /// Parses one line (without its newline). Refuses anything that is not exactly the
    /// canonical text of a record; the MAC is checked by [`verify_mac`](Self::verify_mac).
    ///
    /// ```
    /// use hearth_audit::Record;
    ///
    /// assert!(Record::parse(r#"{"seq":1}"#).is_err());
    /// ```
    pub fn parse(line: &str) -> Result<Self, &'static str> {
        if line.len() > MAX_LINE_LEN {
            return Err("the line is longer than any record");
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
            return Err("not a JSON object");
        };
        let text = |name: &str| match map.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err("a field is missing or not a string"),
        };
        let optional = |name: &str| match map.get(name) {
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err("a field is missing or not a string"),
        };
        let digest = |name: &str| -> Result<[u8; 32], &'static str> {
            unhex(&text(name)?).ok_or("a MAC is not 64 lowercase hex digits")
        };
        let record = Self {
            seq: map
                .get("seq")
                .and_then(Value::as_u64)
                .filter(|s| *s > 0)
                .ok_or("seq is not a positive integer")?,
            time: text("time")?,
            event: text("event")?,
            actor: text("actor")?,
            resource: text("resource")?,
            action: text("action")?,
            result: text("result")?,
            peer: optional("peer")?,
            request_id: optional("request_id")?,
            prev_mac: digest("prev_mac")?,
            mac: digest("mac")?,
        };
        if Event::parse(&record.event).is_none() {
            return Err("the event name is not UPPER_SNAKE_CASE");
        }
        if Outcome::parse(&record.result).is_none() {
            return Err("the result is not success, failure or denied");
        }
        if !crate::time::is_utc_millis(&record.time) {
            return Err("the time is not RFC 3339 UTC with milliseconds");
        }
        let again = record.line();
        if again.strip_suffix('\n') != Some(line) {
            return Err("the line is not in the log's canonical form");
        }
        Ok(record)
    }

    /// Whether the MAC is `key`'s over this record after `prev_mac` (constant time).
    #[must_use]
    pub fn verify_mac(&self, key: &AuditKey) -> bool {
        key.verify(&self.prev_mac, self.body().as_bytes(), &self.mac)
    }

    /// This record as a chain head.
    #[must_use]
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            mac: self.mac,
        }
    }
}

impl AuditKey {
    pub(crate) fn mac(&self, prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(prev);
        ctx.update(body);
        let mut out = [0; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    fn verify(&self, prev: &[u8; 32], body: &[u8], mac: &[u8; 32]) -> bool {
        let mut input = Vec::with_capacity(32 + body.len());
        input.extend_from_slice(prev);
        input.extend_from_slice(body);
        hmac::verify(&self.0, &input, mac).is_ok()
    }
}

pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, bytes);
    out
}

fn push_hex(out: &mut String, bytes: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// A record's fields, borrowed, in their canonical order.
struct Fields<'a> {
    seq: u64,
    time: &'a str,
    event: &'a str,
    actor: &'a str,
    resource: &'a str,
    action: &'a str,
    result: &'a str,
    peer: Option<&'a str>,
    request_id: Option<&'a str>,
    prev_mac: &'a [u8; 32],
}

/// The canonical text the MAC covers (everything but the closing `,"mac":…}`).
fn write_body(out: &mut String, f: &Fields<'_>) {
    use std::fmt::Write as _;
    let _ = write!(out, "{{\"seq\":{}", f.seq);
    for (name, value) in [
        ("time", Some(f.time)),
        ("event", Some(f.event)),
        ("actor", Some(f.actor)),
        ("resource", Some(f.resource)),
        ("action", Some(f.action)),
        ("result", Some(f.result)),
        ("peer", f.peer),
        ("request_id", f.request_id),
    ] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        match value {
            Some(v) => push_json_string(out, v),
            None => out.push_str("null"),
        }
    }
    out.push_str(",\"prev_mac\":\"");
    push_hex(out, f.prev_mac);
    out.push('"');
}

/// `text` as a JSON string, escaped exactly as serde_json escapes it (the canonical form
/// `parse` checks against).
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0; 32];
    for (o, pair) in out.iter_mut().zip(digits.chunks(2)) {
        *o = value(pair[0])? << 4 | value(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes(&[7; 32]).unwrap()
    }

    fn sealed() -> Record {
        let entry = Entry::new(
            Event::Login,
            "alice \"the admin\"",
            "séance",
            "sign in",
            Outcome::Success,
        )
        .unwrap()
        .peer("::1")
        .unwrap();
        Record::seal(&key(), &Head::GENESIS, &entry, 1_800_000_000_123)
    }

    #[test]
    fn a_sealed_record_parses_back_and_its_mac_holds() {
        let record = sealed();
        let line = record.line();
        assert!(line.ends_with("\"}\n"));
        assert!(
            line.contains("\"time\":\"2027-01-15T08:00:00.123Z\""),
            "{line}"
        );
        let parsed = Record::parse(line.trim_end_matches('\n')).unwrap();
        assert_eq!(parsed, record);
        assert!(parsed.verify_mac(&key()));
        assert!(!parsed.verify_mac(&AuditKey::from_bytes(&[8; 32]).unwrap()));
    }

    #[test]
    fn any_other_text_for_the_same_record_is_refused() {
        let line = sealed().line();
        let line = line.trim_end_matches('\n');
        for other in [
            line.replacen("{\"seq\":1,", "{\"seq\":1 ,", 1),
            line.replacen("\"seq\":1", "\"seq\":1.0", 1),
            line.replacen("séance", "s\\u00e9ance", 1),
            line.replacen("\"peer\":\"::1\"", "\"peer\":\"::1\",\"peer\":\"::1\"", 1),
            format!("{line} "),
            line.replacen("\"result\":\"success\"", "\"result\":\"ok\"", 1),
        ] {
            assert!(Record::parse(&other).is_err(), "{other}");
        }
    }

    #[test]
    fn an_edited_field_breaks_the_mac() {
        let line = sealed().line().replacen("alice", "mallory", 1);
        let parsed = Record::parse(line.trim_end_matches('\n')).unwrap();
        assert!(!parsed.verify_mac(&key()));
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_does() {
        for text in [
            "plain",
            "q\"b\\s",
            "\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
            "é/😀",
            "",
        ] {
            let mut ours = String::new();
            push_json_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn the_writer_writes_what_seal_and_line_would() {
        let key = AuditKey::from_bytes(&[9; 32]).unwrap();
        let prev = Head {
            seq: 41,
            mac: [7; 32],
        };
        let entry = Entry::new(Event::Login, "alice \"a\"", "/x\\y", "é", Outcome::Success)
            .unwrap()
            .peer("192.0.2.1")
            .unwrap();
        let mut text = String::from("before\n");
        let head = Record::write_line(&mut text, &key, &prev, &entry, "2026-12-03T10:00:00.000Z");
        let sealed = Record::seal(&key, &prev, &entry, 1_796_292_000_000);
        assert_eq!(&text["before\n".len()..], sealed.line());
        assert_eq!(head, sealed.head());
    }

    #[test]
    fn hex_round_trips_and_refuses_uppercase() {
        let bytes = [0xab; 32];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex(&hex(&bytes).to_uppercase()), None);
        assert_eq!(unhex("ab"), None);
    }
}
