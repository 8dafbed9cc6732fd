//! The driver: three multi-literal searches find every place a secret could start, and each
//! hit is confirmed by its detector, in one left-to-right pass.
//!
//! The search is ASCII case-insensitive: the text is lowercased a 16 KiB chunk at a time
//! into a stack buffer and searched for lowercase literals, which lets aho-corasick use its
//! SIMD (Teddy) prefilter; its own case-insensitive mode cannot and runs about 8 times
//! slower. Clean text therefore costs one folding copy and three SIMD passes, and allocates
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
    /// A group of vendors' token prefixes: index into [`vendors::STEMS`].
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
    /// `curl`: the command `-u` belongs to.
    Curl,
}

/// One multi-literal search: its automaton, and what each literal introduces.
struct Search {
    /// For ordinary text: aho-corasick's SIMD (Teddy) searcher, called directly: as the
    /// prefilter of an automaton each hit costs a second confirmation (about twice the
    /// time per hit). `None` where Teddy is unavailable (no SSSE3 or NEON).
    packed: Option<aho_corasick::packed::Searcher>,
    /// For ordinary text where there is no `packed`: leftmost-longest matches.
    sparse: AhoCorasick,
    /// For text dense with literals (a hostile line repeating one): a DFA without
    /// prefilter, walked byte by byte here, reporting every match; it costs a few
    /// nanoseconds per match where restarting the prefilter costs tens.
    dense: aho_corasick::dfa::DFA,
    triggers: Vec<Trigger>,
    /// The literals, in pattern order.
    #[cfg(test)]
    literals: Vec<String>,
    /// Literals a proper suffix of which begins a literal of the same search: after a
    /// sparse hit of one, the search goes on from the next byte, not past the hit, so that
    /// an overlapping literal (`secretoken` holds `token`) is not missed.
    overlapping: Vec<bool>,
    longest: usize,
}

impl Search {
    fn new(literals: Vec<(String, Trigger)>) -> Self {
        let overlapping = literals
            .iter()
            .map(|(lit, _)| {
                (1..lit.len()).any(|i| {
                    literals.iter().any(|(other, _)| {
                        other.starts_with(&lit[i..]) || lit[i..].starts_with(other.as_str())
                    })
                })
            })
            .collect();
        // The literals are constants; building cannot fail (a unit test builds both).
        let sparse = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(literals.iter().map(|(lit, _)| lit))
            .expect("built-in redaction literals are valid");
        let dense = aho_corasick::dfa::DFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .byte_classes(false)
            .build(literals.iter().map(|(lit, _)| lit))
            .expect("built-in redaction literals are valid");
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(literals.iter().map(|(lit, _)| lit))
            .build();
        Self {
            packed,
            sparse,
            dense,
            triggers: literals.iter().map(|(_, t)| *t).collect(),
            #[cfg(test)]
            literals: literals.iter().map(|(l, _)| l.clone()).collect(),
            overlapping,
            longest: literals.iter().map(|(l, _)| l.len()).max().unwrap_or(1),
        }
    }

    /// Appends the hits in `folded[from..]` (the chunk at `pos`) that start before
    /// `limit`.
    fn hits(&self, chunk: &Chunk<'_>, dense: bool, hits: &mut Hits) {
        let folded = chunk.folded;
        if dense {
            self.dense_hits(chunk, hits);
            return;
        }
        let mut at = chunk.from;
        if let Some(packed) = &self.packed {
            while let Some(m) = packed.find_in(folded, aho_corasick::Span::from(at..folded.len())) {
                if m.start() >= chunk.limit {
                    break; // found again, whole, in the next chunk
                }
                let i = m.pattern().as_usize();
                hits.push(chunk.pos + m.start(), chunk.pos + m.end(), self.triggers[i]);
                at = if self.overlapping[i] {
                    m.start() + 1
                } else {
                    m.end()
                };
            }
            return;
        }
        'search: while at < folded.len() {
            let input = aho_corasick::Input::new(folded).span(at..folded.len());
            for m in self.sparse.find_iter(input) {
                if m.start() >= chunk.limit {
                    break 'search; // found again, whole, in the next chunk
                }
                let i = m.pattern().as_usize();
                hits.push(chunk.pos + m.start(), chunk.pos + m.end(), self.triggers[i]);
                if self.overlapping[i] {
                    at = m.start() + 1;
                    continue 'search;
                }
            }
            break;
        }
    }
}

impl Search {
    /// [`hits`](Self::hits) by walking the DFA byte by byte, reporting every literal.
    fn dense_hits(&self, chunk: &Chunk<'_>, hits: &mut Hits) {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::Automaton as _;
        let dfa = &self.dense;
        let Ok(mut sid) = dfa.start_state(Anchored::No) else {
            return; // an unanchored DFA always has its start state
        };
        for (i, &b) in chunk.folded[chunk.from..].iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                let end = chunk.from + i + 1;
                for k in 0..dfa.match_len(sid) {
                    let pid = dfa.match_pattern(sid, k);
                    let start = end - dfa.pattern_len(pid);
                    if start < chunk.limit {
                        let t = self.triggers[pid.as_usize()];
                        hits.push(chunk.pos + start, chunk.pos + end, t);
                    }
                }
            }
        }
    }
}

/// One chunk of folded text being searched.
struct Chunk<'a> {
    folded: &'a [u8],
    /// Its offset in the text.
    pos: usize,
    /// Where in it the search starts (before: inside a masked span).
    from: usize,
    /// Hits starting here or later are left to the next chunk.
    limit: usize,
}

/// The hits in one chunk: where each literal starts and ends, and what it introduces.
#[derive(Default)]
struct Hits {
    list: Vec<(usize, usize, Trigger)>,
    /// Whether they were pushed in text order (of two at one place, the longer first), so
    /// that no sort is needed: checked at each push, where the last hit is at hand.
    in_order: bool,
}

impl Hits {
    fn clear(&mut self) {
        self.list.clear();
        self.in_order = true;
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize, trigger: Trigger) {
        if let Some(&(s, e, _)) = self.list.last() {
            self.in_order &= s < start || s == start && e >= end;
        }
        self.list.push((start, end, trigger));
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

/// A chunk with more hits than one per this many bytes is searched in dense mode.
const DENSE: usize = 16;

/// The searches. aho-corasick's SIMD search (Teddy) fingerprints the first bytes of each
/// literal, as many as its shortest literal has (at most 4), in 8 buckets (16 when there
/// are over 32 literals, at half the speed); a text window that passes a bucket's
/// fingerprint is compared with each of its literals. On lowercased text the fingerprints
/// of unrelated literals in one bucket pass most windows, so the literals are laid out to
/// keep that rare:
/// - the 3-byte literals (`eyj`, `://`, `key`, `sk-`, ...) in a search of their own, so
///   the others are fingerprinted on 4 bytes;
/// - the others sorted and split in two searches of at most 32 (each one 8-bucket pass),
///   each bucket holding neighbours in sorted order (literals that share leading bytes).
///
/// Three passes over the text cost less than two with looser fingerprints (measured in
/// `benches/redact.rs`).
static SEARCHES: LazyLock<[Search; SEARCHES_LEN]> = LazyLock::new(|| {
    let mut literals: Vec<(String, Trigger)> = vec![
        ("eyj".into(), Trigger::Jwt),
        ("-----begin ".into(), Trigger::Pem),
        ("bearer".into(), Trigger::Bearer),
        ("authorization".into(), Trigger::Authorization),
        ("://".into(), Trigger::Userinfo),
        ("-u ".into(), Trigger::CurlUser),
        ("--user".into(), Trigger::CurlUser),
        ("--proxy-user".into(), Trigger::CurlUser),
        ("curl".into(), Trigger::Curl),
        (":\\/\\/".into(), Trigger::Userinfo),
    ];
    literals.extend(
        names::WORDS
            .iter()
            .enumerate()
            .map(|(i, w)| (w.word.to_owned(), Trigger::Word(i))),
    );
    literals.extend(
        vendors::STEMS
            .iter()
            .enumerate()
            .map(|(i, s)| (s.literal.clone(), Trigger::Vendor(i))),
    );
    literals.sort_by(|a, b| a.0.cmp(&b.0));
    let (short, long): (Vec<_>, Vec<_>) = literals.into_iter().partition(|(l, _)| l.len() < 4);
    let (first, second) = long.split_at(long.len().div_ceil(2));
    [
        Search::new(bucketed(short)),
        Search::new(bucketed(first.to_vec())),
        Search::new(bucketed(second.to_vec())),
    ]
});

/// How many searches there are.
const SEARCHES_LEN: usize = 3;

/// Teddy's slim buckets.
const BUCKETS: usize = 8;

/// Orders sorted `literals` so that Teddy, which deals literal `i` to bucket `i % 8`
/// (unless one with the same low nibbles is placed already), puts sorted neighbours
/// together: the list is cut into 8 runs and dealt one from each run in turn.
fn bucketed(literals: Vec<(String, Trigger)>) -> Vec<(String, Trigger)> {
    let n = literals.len();
    let (size, extra) = (n / BUCKETS, n % BUCKETS);
    // Run k starts at `starts[k]`; the first `extra` runs have one more literal.
    let starts: Vec<usize> = (0..BUCKETS).map(|k| k * size + k.min(extra)).collect();
    let mut out = Vec::with_capacity(n);
    for round in 0..size + usize::from(extra > 0) {
        for (k, &start) in starts.iter().enumerate() {
            if round < size + usize::from(k < extra) {
                out.push(literals[start + round].clone());
            }
        }
    }
    out
}

/// Bytes of text lowercased and searched at a time.
const CHUNK: usize = 16 * 1024;

/// Consecutive chunks overlap by this much (longest literal - 1), so a literal cut by a
/// chunk boundary is found whole in the next chunk.
static OVERLAP: LazyLock<usize> =
    LazyLock::new(|| SEARCHES.iter().map(|s| s.longest).max().unwrap_or(1) - 1);

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
    /// The last URL authority measured (from after its `://` to its first stop byte):
    /// a `://` inside it ends where it ends, so no authority byte is read twice.
    pub(super) authority: Option<Range<usize>>,
    /// Where the last `curl` command word ended, and up to where no end of command has
    /// been seen since.
    pub(super) curl: Option<usize>,
    pub(super) curl_checked: usize,
    out: &'a mut Vec<Found>,
    /// Where this text's finds start in `out`.
    first: usize,
}

impl Scan<'_> {
    /// Records a secret at `range`.
    pub(super) fn mask(&mut self, range: Range<usize>, detector: Detector) {
        if range.start >= range.end {
            return;
        }
        // A span that extends this text's last one of the same kind joins it: a hostile
        // line of overlapping secrets (`://a:b@://a:b@…`) stays one span, not one per hit.
        if self.out.len() > self.first
            && let Some(last) = self.out.last_mut()
            && (last.range.start..=last.range.end).contains(&range.start)
            && last.detector == detector
        {
            last.range.end = last.range.end.max(range.end);
            return;
        }
        self.out.push(Found { range, detector });
    }
}

/// Appends every built-in secret found in `bytes` to `out`.
pub(super) fn find(bytes: &[u8], end_is_final: bool, out: &mut Vec<Found>) {
    let mut scan = Scan {
        bytes,
        end_is_final,
        covered: 0,
        runs: vendors::Runs::default(),
        authority: None,
        curl: None,
        curl_checked: 0,
        first: out.len(),
        out,
    };
    // A short text (one log line) gets a small buffer: zeroing 16 KiB for it would cost
    // more than scanning it.
    if bytes.len() <= SMALL {
        let mut small = [0u8; SMALL];
        scan_chunks(&mut scan, &mut small);
    } else {
        let mut folded = [0u8; CHUNK];
        scan_chunks(&mut scan, &mut folded);
    }
}

/// Texts up to this long are scanned in one small buffer.
const SMALL: usize = 512;

/// The pass of [`find`], lowercasing into `folded` (whose length is the chunk size)
/// and wiping it afterwards.
fn scan_chunks(scan: &mut Scan<'_>, folded: &mut [u8]) {
    let bytes = scan.bytes;
    let chunk_len = folded.len();
    let overlap = *OVERLAP;
    let mut hits = Hits::default();
    // Everything before this offset is inside a masked span.
    let mut covered: usize = 0;
    // Per search: whether the last chunk was dense with its literals.
    let mut dense = [false; SEARCHES_LEN];
    let mut pos = 0;
    loop {
        let end = (pos + chunk_len).min(bytes.len());
        let n = end - pos;
        let last = end == bytes.len();
        // What lies inside a masked span is not searched again, but for its last REACH
        // bytes (a name there may have its value after the span).
        let from = covered.saturating_sub(REACH).saturating_sub(pos).min(n);
        hits.clear();
        if from < n {
            // One pass that copies and folds (the compiler vectorises it).
            for (f, b) in folded[from..n].iter_mut().zip(&bytes[pos + from..end]) {
                *f = b.to_ascii_lowercase();
            }
            let chunk = Chunk {
                folded: &folded[..n],
                pos,
                from,
                limit: if last { n } else { n - overlap },
            };
            for (search, dense) in SEARCHES.iter().zip(&mut dense) {
                let before = hits.len();
                search.hits(&chunk, *dense, &mut hits);
                *dense = hits.len() - before > (n - from) / DENSE;
            }
        }
        // In text order; of two literals at one place, the longer first. Each search's hits
        // come (nearly) in order, and a stable sort merges such runs in linear time.
        if !hits.in_order {
            hits.list.sort_by_key(|&(s, e, _)| (s, usize::MAX - e));
        }
        for &(start, end, trigger) in &hits.list {
            if start < covered && !worth_checking_inside(trigger, end, covered) {
                continue;
            }
            scan.covered = covered;
            if let Some(until) = check(scan, trigger, start, end) {
                covered = covered.max(until);
            }
        }
        if last {
            break;
        }
        pos = end - overlap;
    }
    // The buffer held a copy of the text, secrets included (only its used part: wiping
    // all 16 KiB for every short line would cost more than scanning it).
    folded[..bytes.len().min(chunk_len)].zeroize();
}

/// Farthest a detector looks from the end of its literal to where its value starts (a
/// closing quote, blanks, a separator, blanks, a bracket, blanks, an opening quote: 150
/// bytes at most).
const REACH: usize = 160;

/// Whether a hit inside a masked span (ending at `covered`) is still checked: a PEM
/// header always (its checks are bounded and cannot overlap); a vendor prefix always (its
/// body is measured once per alphabet, see `vendors::Runs`, so a token that starts inside
/// another and runs past it is caught); a name or a scheme near the span's end, whose value
/// may start past it (`…eyJ.x.ytoken=value`) — it reads at most [`REACH`] bytes of the
/// span. A JWT starting inside a span ends inside it.
fn worth_checking_inside(trigger: Trigger, end: usize, covered: usize) -> bool {
    match trigger {
        Trigger::Pem | Trigger::Vendor(_) | Trigger::Curl => true,
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
        Trigger::Vendor(i) => vendors::check_stem(scan, &vendors::STEMS[i], start),
        Trigger::Jwt => jwt::check(scan, start),
        Trigger::Pem => pem::check(scan, start, end),
        Trigger::Bearer => structures::bearer(scan, start, end),
        Trigger::Authorization => structures::authorization(scan, start, end),
        Trigger::Userinfo => structures::userinfo(scan, start, end),
        Trigger::CurlUser => structures::curl_user(scan, start, end),
        Trigger::Curl => structures::curl(scan, start, end),
    }
}

/// `from` plus the length of the run of bytes satisfying `pred`.
#[inline]
pub(super) fn run(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    from + bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|&&b| pred(b))
        .count()
}

/// [`run`], looking at no more than `limit` bytes.
#[inline]
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

/// Spaces and tabs, at most 48 of them (aligned config dumps).
#[inline]
pub(super) fn skip_blanks(bytes: &[u8], from: usize) -> usize {
    run_within(bytes, from, 48, |b| b == b' ' || b == b'\t')
}

/// Letters and digits: what continues a word.
#[inline]
pub(super) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_searches_build_within_the_simd_limit() {
        let mut all = Vec::new();
        for search in SEARCHES.iter() {
            assert_eq!(search.sparse.patterns_len(), search.triggers.len());
            assert_eq!(
                aho_corasick::automaton::Automaton::patterns_len(&search.dense),
                search.triggers.len()
            );
            // Slim Teddy (one 8-bucket pass) takes 32.
            assert!(search.triggers.len() <= 32, "{}", search.triggers.len());
            if cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("ssse3") {
                assert!(search.packed.is_some());
            }
            // At one place leftmost-longest reports only the longer of two literals: a
            // vendor stem must not hide a word or structure literal, nor the reverse.
            for (a, ta) in search.literals.iter().zip(&search.triggers) {
                for (b, tb) in search.literals.iter().zip(&search.triggers) {
                    let vendor = |t: &Trigger| matches!(t, Trigger::Vendor(_));
                    assert!(
                        a == b || !b.starts_with(a.as_str()) || vendor(ta) == vendor(tb),
                        "{a} hides {b}"
                    );
                }
            }
            all.extend(search.literals.iter().cloned());
        }
        // Every literal once, each trigger word and vendor stem in some search.
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
        assert_eq!(count, 10 + names::WORDS.len() + vendors::STEMS.len());
        assert!(*OVERLAP >= "-----begin ".len());
        // `secret` ends with the `t` that starts `token`.
        let secret = SEARCHES.iter().find_map(|s| {
            s.literals
                .iter()
                .position(|l| l == "secret")
                .map(|i| s.overlapping[i])
        });
        assert_eq!(secret, Some(true));
    }

    #[test]
    fn literals_are_dealt_to_buckets_in_sorted_runs() {
        let lits: Vec<(String, Trigger)> = (0..19)
            .map(|i| (format!("l{i:02}"), Trigger::Jwt))
            .collect();
        let dealt = bucketed(lits);
        // 19 = 3 runs of 3 and 5 of 2; literal i goes to bucket i % 8.
        let names: Vec<&str> = dealt.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            &names[..8],
            ["l00", "l03", "l06", "l09", "l11", "l13", "l15", "l17"]
        );
        assert_eq!(
            &names[8..16],
            ["l01", "l04", "l07", "l10", "l12", "l14", "l16", "l18"]
        );
        assert_eq!(&names[16..], ["l02", "l05", "l08"]);
    }

    #[test]
    fn overlapping_literals_are_all_seen() {
        assert_eq!(spans("secretoken=abc123xyz"), ["abc123xyz"]);
        assert_eq!(spans("credentialsecret=abc123xyz"), ["abc123xyz"]);
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
        let text = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";
        assert_eq!(spans(text), [&text[5..]]);
    }
}
