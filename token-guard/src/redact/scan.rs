//! The driver: one multi-literal search finds every place a secret could start, and each
//! hit is confirmed by its detector, in one left-to-right pass.
//!
//! The search is ASCII case-insensitive: the text is lowercased a 4 KiB chunk at a time
//! into a stack buffer and searched for lowercase literals, which lets aho-corasick use its
//! SIMD (Teddy) prefilter; its own case-insensitive mode cannot and runs about 8 times
//! slower. Clean text therefore costs a copy, a fold and one SIMD search, and allocates
//! nothing.
//!
//! **Linear time.** Every detector either masks what it examined or gives up after a
//! bounded look (16 bytes of spaces, a 64-byte name, a 1 KiB URL authority or `curl -u`
//! value, a 64 KiB PEM body; a run that a later hit would rescan starts at a character
//! that rejects that hit at once). A masked span is not read again: a hit inside one is
//! skipped, except a PEM header (bounded checks that cannot overlap), a vendor prefix (each
//! alphabet's runs are measured once) and a name within 64 bytes of the span's end, whose
//! value may start after it. So a text of `n` bytes costs `O(n)` whatever it repeats.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use zeroize::Zeroize;

use super::{Detector, Found, jwt, names, pem, structures, vendors};

/// What each search literal introduces.
#[derive(Clone, Copy, Debug)]
pub(super) enum Trigger {
    /// The last word of a sensitive name (`password`, `token`, ...): index into
    /// [`names::WORDS`].
    Word(usize),
    /// A vendor's token prefix: index into [`vendors::VENDORS`].
    Vendor(usize),
    /// `eyJ`: a JWS/JWE.
    Jwt,
    /// `-----BEGIN `: a PEM private key block.
    Pem,
    /// `Bearer <token68>`.
    Bearer,
    /// `Authorization:` / `Proxy-Authorization:`, any scheme.
    Authorization,
    /// `://`: URL userinfo.
    Userinfo,
    /// `-u ` / `--user` / `--proxy-user`: curl's credentials.
    CurlUser,
}

static TRIGGERS: LazyLock<Vec<(String, Trigger)>> = LazyLock::new(|| {
    let mut t: Vec<(String, Trigger)> = vec![
        ("eyj".into(), Trigger::Jwt),
        ("-----begin ".into(), Trigger::Pem),
        ("bearer".into(), Trigger::Bearer),
        ("authorization".into(), Trigger::Authorization),
        ("://".into(), Trigger::Userinfo),
        ("-u ".into(), Trigger::CurlUser),
        ("--user".into(), Trigger::CurlUser),
        ("--proxy-user".into(), Trigger::CurlUser),
    ];
    t.extend(
        names::WORDS
            .iter()
            .enumerate()
            .map(|(i, w)| (w.word.to_owned(), Trigger::Word(i))),
    );
    t.extend(
        vendors::VENDORS
            .iter()
            .enumerate()
            .map(|(i, v)| (v.prefix.to_ascii_lowercase(), Trigger::Vendor(i))),
    );
    t
});

static SEARCH: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build(TRIGGERS.iter().map(|(lit, _)| lit))
        // The literals are constants; building cannot fail (a unit test builds it).
        .expect("built-in redaction literals are valid")
});

/// Bytes of text lowercased and searched at a time.
const CHUNK: usize = 4096;

/// Consecutive chunks overlap by this much (longest literal - 1), so a literal cut by a
/// chunk boundary is found whole in the next chunk.
static OVERLAP: LazyLock<usize> =
    LazyLock::new(|| TRIGGERS.iter().map(|(l, _)| l.len()).max().unwrap_or(1) - 1);

/// One pass over a text: its bytes, and the secrets found so far.
pub(super) struct Scan<'a> {
    pub(super) bytes: &'a [u8],
    /// Whether the text ends where the input ends (a PEM block cut off by the end is then
    /// key material to mask), or a later piece may continue it.
    pub(super) end_is_final: bool,
    /// Everything before this offset is inside a masked span.
    pub(super) covered: usize,
    /// Vendor token bodies measured so far.
    pub(super) runs: vendors::Runs,
    out: &'a mut Vec<Found>,
}

impl Scan<'_> {
    /// Records a secret at `range`.
    pub(super) fn mask(&mut self, range: Range<usize>, detector: Detector) {
        if range.start < range.end {
            self.out.push(Found { range, detector });
        }
    }
}

/// Appends every built-in secret found in `bytes` to `out`.
pub(super) fn find(bytes: &[u8], end_is_final: bool, out: &mut Vec<Found>) {
    let mut scan = Scan {
        bytes,
        end_is_final,
        covered: 0,
        runs: vendors::Runs::default(),
        out,
    };
    let overlap = *OVERLAP;
    let mut folded = [0u8; CHUNK];
    let mut hits: Vec<(usize, usize, Trigger)> = Vec::new();
    // Everything before this offset is inside a masked span.
    let mut covered = 0;
    let mut pos = 0;
    loop {
        let end = (pos + CHUNK).min(bytes.len());
        let n = end - pos;
        let last = end == bytes.len();
        folded[..n].copy_from_slice(&bytes[pos..end]);
        folded[..n].make_ascii_lowercase();
        hits.clear();
        for m in SEARCH.find_overlapping_iter(&folded[..n]) {
            if !last && m.start() >= n - overlap {
                continue; // found again, whole, in the next chunk
            }
            let trigger = TRIGGERS[m.pattern().as_usize()].1;
            hits.push((pos + m.start(), pos + m.end(), trigger));
        }
        // In text order; of two literals at one place, the longer first.
        hits.sort_unstable_by_key(|&(s, e, _)| (s, usize::MAX - e));
        for &(start, end, trigger) in &hits {
            if start < covered && !worth_checking_inside(trigger, end, covered) {
                continue;
            }
            scan.covered = covered;
            if let Some(until) = check(&mut scan, trigger, start, end) {
                covered = covered.max(until);
            }
        }
        if last {
            break;
        }
        pos = end - overlap;
    }
    // The buffer held a copy of the text, secrets included.
    folded.zeroize();
}

/// Farthest a detector looks from the end of its literal to where its value starts (a
/// closing quote, blanks, a separator, blanks, an opening quote: 39 bytes at most).
const REACH: usize = 64;

/// Whether a hit inside a masked span (ending at `covered`) is still checked: a PEM
/// header always (its checks are bounded and cannot overlap); a vendor prefix always (its
/// body is measured once per alphabet, see `vendors::Runs`, so a token that starts inside
/// another and runs past it is caught); a name or a scheme near the span's end, whose value
/// may start past it (`…eyJ.x.ytoken=value`) — it reads at most [`REACH`] bytes of the
/// span. A JWT starting inside a span ends inside it.
fn worth_checking_inside(trigger: Trigger, end: usize, covered: usize) -> bool {
    match trigger {
        Trigger::Pem | Trigger::Vendor(_) => true,
        Trigger::Word(_)
        | Trigger::Bearer
        | Trigger::Authorization
        | Trigger::Userinfo
        | Trigger::CurlUser => end + REACH > covered,
        Trigger::Jwt => false,
    }
}

/// Runs the detector of `trigger` on the hit `start..end`; `Some(offset)` if it masked
/// something, with the offset up to which the text is consumed.
fn check(scan: &mut Scan<'_>, trigger: Trigger, start: usize, end: usize) -> Option<usize> {
    match trigger {
        Trigger::Word(i) => names::check(scan, &names::WORDS[i], start, end),
        Trigger::Vendor(i) => vendors::check(scan, &vendors::VENDORS[i], start, end),
        Trigger::Jwt => jwt::check(scan, start),
        Trigger::Pem => pem::check(scan, start, end),
        Trigger::Bearer => structures::bearer(scan, start, end),
        Trigger::Authorization => structures::authorization(scan, start, end),
        Trigger::Userinfo => structures::userinfo(scan, start, end),
        Trigger::CurlUser => structures::curl_user(scan, start, end),
    }
}

/// `from` plus the length of the run of bytes satisfying `pred`.
pub(super) fn run(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    from + bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|&&b| pred(b))
        .count()
}

/// [`run`], looking at no more than `limit` bytes.
pub(super) fn run_within(
    bytes: &[u8],
    from: usize,
    limit: usize,
    pred: impl Fn(u8) -> bool,
) -> usize {
    let to = (from + limit).min(bytes.len());
    from + bytes[from.min(to)..to]
        .iter()
        .take_while(|&&b| pred(b))
        .count()
}

/// Spaces and tabs, at most 16 of them.
pub(super) fn skip_blanks(bytes: &[u8], from: usize) -> usize {
    run_within(bytes, from, 16, |b| b == b' ' || b == b'\t')
}

/// Letters and digits: what continues a word.
pub(super) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_builds_and_its_literals_are_lowercase() {
        assert_eq!(SEARCH.patterns_len(), TRIGGERS.len());
        assert!(
            TRIGGERS.len() <= 128,
            "aho-corasick's SIMD search takes 128"
        );
        for (lit, _) in TRIGGERS.iter() {
            assert!(!lit.bytes().any(|b| b.is_ascii_uppercase()), "{lit}");
        }
        assert!(*OVERLAP >= "-----begin ".len());
    }

    /// The masked parts of `text`: the union of the spans found, in order.
    fn spans(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        find(text.as_bytes(), true, &mut v);
        v.sort_by_key(|f| (f.range.start, f.range.end));
        let mut union: Vec<Range<usize>> = Vec::new();
        for f in v {
            match union.last_mut() {
                Some(last) if f.range.start <= last.end => last.end = last.end.max(f.range.end),
                _ => union.push(f.range),
            }
        }
        union.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn literals_cut_by_a_chunk_boundary_are_found() {
        for offset in CHUNK - 20..CHUNK + 5 {
            let text = format!(
                "{}password=hunter2 and Bearer abcdefgh1234",
                "x ".repeat(offset / 2) + &" ".repeat(offset % 2)
            );
            assert_eq!(spans(&text), ["hunter2", "abcdefgh1234"], "offset {offset}");
        }
        let many = "access_token=abc ".repeat(1000);
        assert_eq!(spans(&many).len(), 1000);
    }

    #[test]
    fn a_masked_span_is_not_examined_again_but_a_pem_header_in_it_is() {
        // The JWT swallows the whole run: one span, not one per `eyJ`.
        let jwt = "eyJ.".repeat(1000);
        assert_eq!(spans(&jwt).len(), 1);
        let text =
            "key: -----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJB\n-----END RSA PRIVATE KEY-----";
        assert_eq!(spans(text), [&text[5..]]);
    }
}
