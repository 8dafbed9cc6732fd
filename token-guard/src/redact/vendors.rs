//! Vendors' token formats: a fixed prefix, then a body of a known alphabet and length.
//!
//! The formats are those of the high-confidence prefix rules in gitleaks' default rule set
//! (`config/gitleaks.toml`, MIT; formats taken, code written here), plus Hearth's own
//! `hth_` API keys (`API-KEY-FORMAT.md`), which are masked only when their CRC-32 checks.
//! A token must start a word (the byte before it is not a letter or digit); the whole run
//! of its alphabet is masked.

use std::sync::LazyLock;

use super::Detector;
use super::scan::{Scan, is_alnum, run};

/// The alphabet of a token's body.
#[derive(Clone, Copy)]
#[repr(usize)]
pub(super) enum Body {
    /// `[0-9A-Za-z]`
    Alnum,
    /// `[0-9A-Za-z_]`
    Word,
    /// `[0-9A-Za-z_-]`
    Url,
    /// `[0-9A-Za-z-]`
    Dash,
    /// `[0-9A-Fa-f]`
    Hex,
    /// `[A-Z2-7]` (base32, AWS key ids)
    Base32,
    /// `[A-Za-z]`
    Alpha,
    /// `[0-9A-Za-z+/=_-]` (base64 of either alphabet)
    Base64,
    /// `[0-9A-Za-z=_.-]`
    Dotted,
}

/// How many alphabets there are (the size of [`Runs`]).
const BODIES: usize = Body::Dotted as usize + 1;

/// The last run of each alphabet measured in this text. Hits come in text order, so a
/// token that starts inside a run measured before ends where that run ends: no run is read
/// twice, however many prefixes it holds (`xoxb-xoxb-xoxb-…`).
#[derive(Default)]
pub(super) struct Runs([Option<std::ops::Range<usize>>; BODIES]);

impl Runs {
    /// Where the run of `body`'s alphabet that starts at `from` ends.
    fn end(&mut self, bytes: &[u8], body: Body, from: usize) -> usize {
        let slot = &mut self.0[body as usize];
        if let Some(r) = slot
            && r.contains(&from)
        {
            return r.end;
        }
        let end = run(bytes, from, |b| body.allows(b));
        *slot = Some(from..end);
        end
    }
}

/// Each alphabet as a table, for the hot loop that measures bodies (built at compile
/// time: no lazy initialisation to check on every byte).
static TABLES: [[bool; 256]; BODIES] = {
    const ALL: [Body; BODIES] = [
        Body::Alnum,
        Body::Word,
        Body::Url,
        Body::Dash,
        Body::Hex,
        Body::Base32,
        Body::Alpha,
        Body::Base64,
        Body::Dotted,
    ];
    let mut tables = [[false; 256]; BODIES];
    let mut i = 0;
    while i < BODIES {
        let mut b = 0;
        while b < 256 {
            tables[ALL[i] as usize][b] = ALL[i].test(b as u8);
            b += 1;
        }
        i += 1;
    }
    tables
};

impl Body {
    fn allows(self, b: u8) -> bool {
        TABLES[self as usize][usize::from(b)]
    }

    const fn test(self, b: u8) -> bool {
        let alnum = b.is_ascii_alphanumeric();
        match self {
            Body::Alnum => alnum,
            Body::Word => alnum || b == b'_',
            Body::Url => alnum || b == b'_' || b == b'-',
            Body::Dash => alnum || b == b'-',
            Body::Hex => b.is_ascii_hexdigit(),
            Body::Base32 => b.is_ascii_uppercase() || b >= b'2' && b <= b'7',
            Body::Alpha => b.is_ascii_alphabetic(),
            Body::Base64 => alnum || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'),
            Body::Dotted => alnum || matches!(b, b'=' | b'_' | b'.' | b'-'),
        }
    }
}

/// One vendor format.
pub(super) struct Vendor {
    /// The prefix, exactly as the vendor writes it (matched case-sensitively).
    pub(super) prefix: &'static str,
    /// Who issues it (`--stats` and [`Detector::Vendor`]).
    pub(super) vendor: &'static str,
    body: Body,
    /// Shortest body accepted.
    min: usize,
    /// The body is exactly `min` long (AWS key ids: a longer run of capitals is a word or
    /// a DNA read, not a key id).
    exact: bool,
}

const fn v(prefix: &'static str, vendor: &'static str, body: Body, min: usize) -> Vendor {
    Vendor {
        prefix,
        vendor,
        body,
        min,
        exact: false,
    }
}

const fn exactly(prefix: &'static str, vendor: &'static str, body: Body, len: usize) -> Vendor {
    Vendor {
        exact: true,
        ..v(prefix, vendor, body, len)
    }
}

/// gitleaks rule ids in comments.
pub(super) const VENDORS: &[Vendor] = &[
    // github-pat, github-oauth, github-app-token (ghu_, ghs_), github-refresh-token
    v("ghp_", "github", Body::Alnum, 36),
    v("gho_", "github", Body::Alnum, 36),
    v("ghu_", "github", Body::Alnum, 36),
    v("ghs_", "github", Body::Alnum, 36),
    v("ghr_", "github", Body::Alnum, 36),
    // github-fine-grained-pat
    v("github_pat_", "github", Body::Word, 82),
    // gitlab-pat, gitlab-deploy-token, gitlab-runner-authentication-token,
    // gitlab-ptt (pipeline trigger), gitlab-scim-token
    v("glpat-", "gitlab", Body::Url, 20),
    v("gldt-", "gitlab", Body::Url, 20),
    v("glrt-", "gitlab", Body::Url, 20),
    v("glptt-", "gitlab", Body::Hex, 40),
    v("glsoat-", "gitlab", Body::Url, 20),
    // slack-bot-token, slack-user-token, slack-legacy-*, slack-app-token
    v("xoxb-", "slack", Body::Dash, 20),
    v("xoxp-", "slack", Body::Dash, 20),
    v("xoxe-", "slack", Body::Dash, 20),
    v("xoxa-", "slack", Body::Dash, 20),
    v("xoxr-", "slack", Body::Dash, 20),
    v("xoxs-", "slack", Body::Dash, 20),
    v("xoxo-", "slack", Body::Dash, 20),
    v("xapp-", "slack", Body::Dash, 20),
    // slack-webhook-url: the path after `services/` is the secret
    v("hooks.slack.com/services/", "slack", Body::Base64, 20),
    // aws-access-token (key ids; the secret key is caught by its name)
    exactly("AKIA", "aws", Body::Base32, 16),
    exactly("ASIA", "aws", Body::Base32, 16),
    exactly("ABIA", "aws", Body::Base32, 16),
    exactly("ACCA", "aws", Body::Base32, 16),
    // gcp-api-key
    v("AIza", "google", Body::Url, 35),
    // openai-api-key (project, service account, admin, legacy)
    v("sk-proj-", "openai", Body::Url, 40),
    v("sk-svcacct-", "openai", Body::Url, 40),
    v("sk-admin-", "openai", Body::Url, 40),
    v("sk-", "openai", Body::Alnum, 40),
    // anthropic-api-key, anthropic-admin-api-key
    v("sk-ant-", "anthropic", Body::Url, 40),
    // stripe-access-token (secret and restricted keys), stripe webhook secrets
    v("sk_live_", "stripe", Body::Alnum, 10),
    v("sk_test_", "stripe", Body::Alnum, 10),
    v("sk_prod_", "stripe", Body::Alnum, 10),
    v("rk_live_", "stripe", Body::Alnum, 10),
    v("rk_test_", "stripe", Body::Alnum, 10),
    v("rk_prod_", "stripe", Body::Alnum, 10),
    v("whsec_", "stripe", Body::Alnum, 32),
    // npm-access-token
    v("npm_", "npm", Body::Alnum, 36),
    // pypi-upload-token
    v("pypi-AgEIcHlwaS5vcmc", "pypi", Body::Url, 50),
    // huggingface-access-token, huggingface-organization-api-token
    v("hf_", "huggingface", Body::Alpha, 34),
    v("api_org_", "huggingface", Body::Alpha, 34),
    // shopify-access-token, -custom-access-token, -private-app-access-token,
    // -shared-secret
    v("shpat_", "shopify", Body::Hex, 32),
    v("shpca_", "shopify", Body::Hex, 32),
    v("shppa_", "shopify", Body::Hex, 32),
    v("shpss_", "shopify", Body::Hex, 32),
    // sendgrid-api-token
    v("SG.", "sendgrid", Body::Dotted, 66),
    // digitalocean-pat, -access-token, -refresh-token
    v("dop_v1_", "digitalocean", Body::Hex, 64),
    v("doo_v1_", "digitalocean", Body::Hex, 64),
    v("dor_v1_", "digitalocean", Body::Hex, 64),
    // doppler-api-token
    v("dp.pt.", "doppler", Body::Alnum, 43),
    // databricks-api-token
    v("dapi", "databricks", Body::Hex, 32),
    // grafana-cloud-api-token, grafana-service-account-token
    v("glc_", "grafana", Body::Base64, 32),
    v("glsa_", "grafana", Body::Word, 32),
    // postman-api-token
    v("PMAK-", "postman", Body::Dash, 59),
    // linear-api-key
    v("lin_api_", "linear", Body::Alnum, 40),
    // age-secret-key
    v("AGE-SECRET-KEY-1", "age", Body::Alnum, 58),
    // hashicorp vault service and batch tokens
    v("hvs.", "vault", Body::Url, 24),
    v("hvb.", "vault", Body::Url, 24),
    // pulumi-api-token
    v("pul-", "pulumi", Body::Hex, 40),
    // sentry-org-token, sentry-user-token
    v("sntrys_", "sentry", Body::Base64, 32),
    v("sntryu_", "sentry", Body::Hex, 64),
    // square-access-token, square-secret
    v("sq0atp-", "square", Body::Url, 22),
    v("sq0csp-", "square", Body::Url, 43),
    // figma-pat (personal access tokens since 2022)
    v("figd_", "figma", Body::Url, 40),
    // new-relic-user-api-key
    v("NRAK-", "newrelic", Body::Alnum, 27),
    // alibaba-access-key-id
    v("LTAI", "alibaba", Body::Alnum, 20),
    // 1password service account tokens
    v("ops_eyJ", "1password", Body::Base64, 100),
    // Hearth's own API keys: `hth_` + id + secret + CRC-32, checked below.
    v("hth_", "hearth", Body::Alnum, 46),
];

/// `hth_` + id + secret + checksum.
const HEARTH_KEY_LEN: usize =
    4 + crate::apikey::ID_LEN + crate::apikey::SECRET_LEN + crate::apikey::CHECKSUM_LEN;

/// What the search looks for: the vendors' prefixes grouped by their first three letters,
/// each group searched as the group's longest common prefix (lowercase). Fewer, and
/// distinct, literals keep the SIMD search fast: over 64 literals it falls back to a
/// search 5-10 times slower.
pub(super) struct Stem {
    /// Lowercase.
    pub(super) literal: String,
    members: Vec<&'static Vendor>,
}

pub(super) static STEMS: LazyLock<Vec<Stem>> = LazyLock::new(|| {
    let mut stems: Vec<Stem> = Vec::new();
    for vendor in VENDORS {
        let lower = vendor.prefix.to_ascii_lowercase();
        match stems
            .iter_mut()
            .find(|s| s.literal.get(..3) == lower.get(..3))
        {
            Some(stem) => {
                let common = stem
                    .literal
                    .bytes()
                    .zip(lower.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                stem.literal.truncate(common);
                stem.members.push(vendor);
            }
            None => stems.push(Stem {
                literal: lower,
                members: vec![vendor],
            }),
        }
    }
    stems
});

/// Checks a hit of `stem` at `start`: the first of its vendors whose format is there.
pub(super) fn check_stem(scan: &mut Scan<'_>, stem: &Stem, start: usize) -> Option<usize> {
    stem.members
        .iter()
        .find_map(|vendor| check(scan, vendor, start))
}

/// Checks `vendor`'s format at `start`.
fn check(scan: &mut Scan<'_>, vendor: &Vendor, start: usize) -> Option<usize> {
    let bytes = scan.bytes;
    let end = start + vendor.prefix.len();
    // Every byte of the shortest body must be in the alphabet: its last one first, before
    // anything else, which rejects most near misses (`ghp_ghp_…`) in one load.
    if !bytes
        .get(end + vendor.min - 1)
        .is_some_and(|&b| vendor.body.allows(b))
    {
        return None;
    }
    let prefix = vendor.prefix.as_bytes();
    if !bytes[start..].starts_with(prefix) || (start > 0 && is_alnum(bytes[start - 1])) {
        return None;
    }
    let body_end = scan.runs.end(bytes, vendor.body, end);
    if body_end < end + vendor.min
        || vendor.exact
            && (body_end > end + vendor.min || bytes.get(body_end).is_some_and(|b| is_alnum(*b)))
    {
        return None;
    }
    if vendor.vendor == "hearth" {
        if body_end != start + HEARTH_KEY_LEN {
            return None;
        }
        let key = std::str::from_utf8(&bytes[start..body_end]).ok()?;
        crate::apikey::parse(key, crate::apikey::DEFAULT_PREFIX).ok()?;
    }
    let from = if vendor.prefix.ends_with('/') {
        end // a webhook URL: its path is the secret, the host is not
    } else {
        start
    };
    if body_end <= scan.covered {
        return None; // inside what is masked already
    }
    scan.mask(from..body_end, Detector::Vendor(vendor.vendor));
    Some(body_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_is_distinct_and_long_enough_to_search() {
        for (i, a) in VENDORS.iter().enumerate() {
            assert!(a.prefix.len() >= 3, "{}", a.prefix);
            assert!(
                VENDORS[..i].iter().all(|b| b.prefix != a.prefix),
                "{}",
                a.prefix
            );
        }
        // Every vendor is in exactly one stem, which starts its prefix.
        let members: usize = STEMS.iter().map(|s| s.members.len()).sum();
        assert_eq!(members, VENDORS.len());
        for stem in STEMS.iter() {
            assert!(stem.literal.len() >= 3, "{}", stem.literal);
            for v in &stem.members {
                assert!(v.prefix.to_ascii_lowercase().starts_with(&stem.literal));
            }
        }
    }

    #[test]
    fn a_short_or_embedded_token_is_left_alone() {
        for text in [
            "ghp_short",
            "xghp_0123456789abcdefghijABCDEFGHIJ012345",
            "AKIAshortlower",
            "sk-learn is a library",
            "dapiX",
            "msg.len() == 3",
            "ACCATGCGTACGTTAGCATGCA read aligned",
        ] {
            assert_eq!(crate::redact(text), text);
        }
    }

    #[test]
    fn hearth_keys_need_their_checksum() {
        let (key, _) = crate::apikey::generate("hth").unwrap();
        let key = crate::ExposeSecretBytes::expose_secret_bytes(&key);
        let key = std::str::from_utf8(key).unwrap();
        assert_eq!(crate::redact(&format!("k {key} x")), "k [REDACTED] x");
        let mut forged = key.to_owned();
        let last = forged.pop().unwrap();
        forged.push(if last == 'a' { 'b' } else { 'a' });
        assert_eq!(
            crate::redact(&format!("k {forged} x")),
            format!("k {forged} x")
        );
    }

    #[test]
    fn a_token_whose_prefix_starts_inside_another_token_is_masked_too() {
        let hook = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX";
        let glued = format!("{hook}/{}", &hook[8..]);
        assert_eq!(
            crate::redact(&glued),
            "https://hooks.slack.com/services/[REDACTED].slack.com/services/[REDACTED]"
        );
        let many = "xoxb-".repeat(10_000);
        assert_eq!(crate::redact(&many), "[REDACTED]");
    }
}
