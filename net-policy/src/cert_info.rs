//! [`CertInfo`]: what a person needs to decide whether to trust a certificate: its pin,
//! subject, issuer and validity, read from DER by a small bounded parser.

use std::fmt;

use crate::{Error, Pin};

/// A certificate described for a trust prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertInfo {
    /// The pin of its public key.
    pub pin: Pin,
    /// The subject, e.g. `CN=jellyfin.home.arpa, O=Home`.
    pub subject: String,
    /// The issuer (the same as the subject for a self-signed certificate).
    pub issuer: String,
    /// Start of validity, `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_before: String,
    /// End of validity, `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_after: String,
}

impl fmt::Display for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subject: {}\nissuer:  {}\nvalid:   {} to {}\npin:     {}",
            self.subject, self.issuer, self.not_before, self.not_after, self.pin
        )
    }
}

impl CertInfo {
    /// Describes a DER certificate.
    ///
    /// ```
    /// let err = hearth_net_policy::CertInfo::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
    /// assert!(matches!(err, hearth_net_policy::Error::BadCertificate { .. }));
    /// ```
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let pin = Pin::of_certificate(der)?;
        let bad = |reason: &str| Error::BadCertificate {
            reason: format!("cannot describe certificate: {reason}"),
        };
        let mut cert = Der::new(der)
            .expect(0x30)
            .map_err(|()| bad("not a SEQUENCE"))?;
        let mut tbs = cert.expect(0x30).map_err(|()| bad("no TBSCertificate"))?;
        if tbs.peek() == Some(0xa0) {
            tbs.skip().map_err(|()| bad("version"))?;
        }
        tbs.skip().map_err(|()| bad("serial"))?;
        tbs.skip().map_err(|()| bad("signature algorithm"))?;
        let issuer =
            name(tbs.expect(0x30).map_err(|()| bad("issuer"))?).map_err(|()| bad("issuer"))?;
        let mut validity = tbs.expect(0x30).map_err(|()| bad("validity"))?;
        let not_before = time(&mut validity).map_err(|()| bad("notBefore"))?;
        let not_after = time(&mut validity).map_err(|()| bad("notAfter"))?;
        let subject =
            name(tbs.expect(0x30).map_err(|()| bad("subject"))?).map_err(|()| bad("subject"))?;
        Ok(Self {
            pin,
            subject,
            issuer,
            not_before,
            not_after,
        })
    }
}

impl CertInfo {
    /// `not_before` and `not_after` as seconds since the Unix epoch (`None` before 1970).
    pub(crate) fn validity_unix(&self) -> Option<(u64, u64)> {
        Some((
            unix_seconds(&self.not_before)?,
            unix_seconds(&self.not_after)?,
        ))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (as [`time`] writes it) as seconds since the Unix epoch.
fn unix_seconds(t: &str) -> Option<u64> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<u64>().ok();
    let (year, month, day) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, m, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    // Days from 1970-01-01 to the date (the proleptic Gregorian civil calendar).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// A cursor over DER TLVs. Every length is checked against the remaining input.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Self { rest }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next TLV: (tag, contents).
    fn next(&mut self) -> Result<(u8, &'a [u8]), ()> {
        let [tag, first, rest @ ..] = self.rest else {
            return Err(());
        };
        let (len, rest) = match *first {
            n if n < 0x80 => (usize::from(n), rest),
            0x81 => {
                let (&n, rest) = rest.split_first().ok_or(())?;
                (usize::from(n), rest)
            }
            0x82 => match rest {
                [a, b, rest @ ..] => ((usize::from(*a) << 8) | usize::from(*b), rest),
                _ => return Err(()),
            },
            0x83 => match rest {
                [a, b, c, rest @ ..] => (
                    (usize::from(*a) << 16) | (usize::from(*b) << 8) | usize::from(*c),
                    rest,
                ),
                _ => return Err(()),
            },
            _ => return Err(()),
        };
        if rest.len() < len {
            return Err(());
        }
        let (contents, after) = rest.split_at(len);
        self.rest = after;
        Ok((*tag, contents))
    }

    fn expect(&mut self, tag: u8) -> Result<Der<'a>, ()> {
        match self.next()? {
            (t, contents) if t == tag => Ok(Der::new(contents)),
            _ => Err(()),
        }
    }

    fn skip(&mut self) -> Result<(), ()> {
        self.next().map(drop)
    }
}

/// An X.501 Name as `CN=…, O=…` (common attribute types named, others as dotted OIDs).
fn name(mut seq: Der<'_>) -> Result<String, ()> {
    let mut parts = Vec::new();
    while seq.peek().is_some() {
        let mut set = seq.expect(0x31)?;
        while set.peek().is_some() {
            let mut atv = set.expect(0x30)?;
            let (tag, oid) = atv.next()?;
            if tag != 0x06 {
                return Err(());
            }
            let (_, value) = atv.next()?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN".to_owned(),
                [0x55, 0x04, 0x0a] => "O".to_owned(),
                [0x55, 0x04, 0x0b] => "OU".to_owned(),
                [0x55, 0x04, 0x06] => "C".to_owned(),
                [0x55, 0x04, 0x07] => "L".to_owned(),
                [0x55, 0x04, 0x08] => "ST".to_owned(),
                other => other.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            };
            let text: String = String::from_utf8_lossy(value)
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            parts.push(format!("{label}={text}"));
        }
    }
    Ok(parts.join(", "))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// `YYYY-MM-DDTHH:MM:SSZ`.
fn time(seq: &mut Der<'_>) -> Result<String, ()> {
    let (tag, value) = seq.next()?;
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let (year, rest) = match (tag, value) {
        (0x17, [y @ .., b'Z']) if y.len() == 12 && digits(y) => {
            let yy = u32::from(y[0] - b'0') * 10 + u32::from(y[1] - b'0');
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &y[2..])
        }
        (0x18, [y @ .., b'Z']) if y.len() == 14 && digits(y) => {
            let yyyy = y[..4]
                .iter()
                .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
            (yyyy, &y[4..])
        }
        _ => return Err(()),
    };
    let two = |i: usize| std::str::from_utf8(&rest[i..i + 2]).unwrap_or("00");
    Ok(format!(
        "{year:04}-{}-{}T{}:{}:{}Z",
        two(0),
        two(2),
        two(4),
        two(6),
        two(8)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_hostile_input_is_an_error() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0, 0, 0, 1],
            &[0x30, 0x05, 0x30, 0x80],
            &[0x30, 0x82, 0xff, 0xff],
        ] {
            assert!(CertInfo::from_der(bad).is_err());
        }
    }

    #[test]
    fn validity_times_convert_to_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(unix_seconds("2026-12-02T01:21:07Z"), Some(1_796_174_467));
        assert_eq!(unix_seconds("1969-12-31T23:59:59Z"), None);
        assert_eq!(unix_seconds("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn times_are_normalized() {
        let mut utc = Der::new(b"\x17\x0d991231235959Z");
        assert_eq!(time(&mut utc).unwrap(), "1999-12-31T23:59:59Z");
        let mut generalized = Der::new(b"\x18\x0f20500101000000Z");
        assert_eq!(time(&mut generalized).unwrap(), "2050-01-01T00:00:00Z");
        assert!(time(&mut Der::new(b"\x17\x0d99123123595xZ")).is_err());
    }
}
