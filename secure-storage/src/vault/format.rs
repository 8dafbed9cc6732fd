//! Encoding and decoding of the vault file, exactly as VAULT-FORMAT.md specifies.

use std::collections::BTreeMap;
use std::path::Path;

use hearth_token_guard::SecretBytes;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::digest::{SHA256, digest};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::keys::{Argon2Params, Subkeys};
use crate::{Error, Key};

const MAGIC: &[u8; 8] = b"HEARTHVT";
/// Written by this build. Version 1 (read only) differs in one point: its `key_check`
/// covers bytes 0..60, so an edited generation, count or length read as a wrong key.
const VERSION: u16 = 2;
const VERSION_1: u16 = 1;
const CIPHER_AES_256_GCM: u8 = 1;
const KDF_NONE: u8 = 0;
const KDF_ARGON2ID: u8 = 1;

/// Where `key_check` is stored.
const KEY_CHECK_AT: usize = 60;
/// Bytes covered by `key_check` in version 2: magic through `vault_id`, the only bytes a
/// wrong key can explain; everything after is covered by `body_mac` (`Tampered`).
const KEY_CHECK_COVERS: usize = 40;
/// Bytes covered by `header_sum`.
const HEADER_SUM_AT: usize = 92;
/// Where the body starts.
const HEADER_LEN: usize = 124;
const MAC_LEN: usize = 32;
/// A vault with no entries.
const OVERHEAD: usize = HEADER_LEN + MAC_LEN;
const TAG_LEN: usize = 16;
/// The smallest entry: a 1-byte name and an empty secret, with nonces, lengths and tags.
const MIN_ENTRY_LEN: usize = NONCE_LEN + 2 + (1 + TAG_LEN) + NONCE_LEN + 4 + TAG_LEN;
const MAX_NAME_LEN: usize = crate::key::MAX_KEY_LEN;

/// Largest vault file read: 256 MiB.
pub(crate) const MAX_FILE_LEN: usize = 256 << 20;
/// Largest secret the format can hold: 16 MiB.
pub const MAX_SECRET_LEN: usize = 16 << 20;

const LABEL_KEY_CHECK: &[u8] = b"hearth-vault v1 key-check";
const LABEL_BODY: &[u8] = b"hearth-vault v1 body";
const LABEL_NAME: &[u8] = b"hearth-vault v1 name";
const LABEL_ENTRY: &[u8] = b"hearth-vault v1 entry";

/// The fields of a header that persist between writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// `None` for a raw key or key file, the Argon2id costs for a passphrase.
    pub(crate) kdf: Option<Argon2Params>,
    pub(crate) vault_id: [u8; 16],
    pub(crate) generation: u64,
}

/// One entry, encrypted: name and secret ciphertexts with their nonces.
#[derive(Clone)]
pub(crate) struct Sealed {
    name_nonce: [u8; NONCE_LEN],
    name_ct: Box<[u8]>,
    nonce: [u8; NONCE_LEN],
    ct: Box<[u8]>,
}

/// What [`inspect`] learns from a vault file without its key.
///
/// ```
/// let err = hearth_secure_storage::vault::inspect(b"not a vault").unwrap_err();
/// assert!(matches!(err, hearth_secure_storage::Error::Corrupt { .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VaultInfo {
    /// Format version (2; 1 for a file no writer has touched since version 1).
    pub version: u16,
    /// The Argon2id costs for a passphrase vault; `None` for a key-file or raw-key vault.
    pub kdf: Option<Argon2Params>,
    /// How many writes the vault has seen.
    pub generation: u64,
    /// Number of entries.
    pub entries: u32,
}

/// A header whose checksum, limits and length checked out, but whose MACs are unverified.
pub(crate) struct Unverified<'a> {
    pub(crate) header: Header,
    pub(crate) version: u16,
    entry_count: u32,
    pub(crate) bytes: &'a [u8],
}

/// Checks what can be checked without the key (VAULT-FORMAT.md, steps 1–6), and walks the
/// entry frames, without decrypting anything.
///
/// Allocates nothing whatever the input: every length is checked against the input before
/// use. Useful to tell what a file is, and which key it needs.
///
/// ```
/// use hearth_secure_storage::vault;
///
/// let mut truncated = b"HEARTHVT".to_vec();
/// truncated.resize(100, 0);
/// assert!(vault::inspect(&truncated).is_err());
/// ```
pub fn inspect(bytes: &[u8]) -> Result<VaultInfo, Error> {
    let u = parse_header(bytes, Path::new("<vault>"))?;
    frames(&u)
        .try_for_each(|f| f.map(drop))
        .map_err(|_| Error::Corrupt {
            path: "<vault>".into(),
            reason: "entry framing",
        })?;
    Ok(VaultInfo {
        version: u.version,
        kdf: u.header.kdf,
        generation: u.header.generation,
        entries: u.entry_count,
    })
}

/// The (vault_id, generation) in the header of the file at `path`, read without checks
/// (a cache-validity test: any doubt makes the caller re-read the whole file).
pub(crate) fn identity(path: &Path) -> Option<([u8; 16], u64)> {
    use std::io::Read as _;
    let mut head = [0u8; 48];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let mut vault_id = [0u8; 16];
    vault_id.copy_from_slice(&head[24..40]);
    Some((vault_id, be_u64(&head[40..48])))
}

/// Steps 1–6 of VAULT-FORMAT.md.
pub(crate) fn parse_header<'a>(bytes: &'a [u8], path: &Path) -> Result<Unverified<'a>, Error> {
    let corrupt = |reason| Error::Corrupt {
        path: path.into(),
        reason,
    };
    if bytes.len() < OVERHEAD || bytes.len() > MAX_FILE_LEN {
        return Err(corrupt("file too short or too long"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("not a Hearth vault (bad magic)"));
    }
    let sum = digest(&SHA256, &bytes[..HEADER_SUM_AT]);
    if !cfg!(fuzzing) && sum.as_ref() != &bytes[HEADER_SUM_AT..HEADER_LEN] {
        return Err(corrupt("header checksum mismatch"));
    }
    let version = be_u16(&bytes[8..10]);
    if version != VERSION && version != VERSION_1 {
        return Err(Error::UnsupportedVersion {
            path: path.into(),
            found: version,
        });
    }
    if bytes[10] != CIPHER_AES_256_GCM {
        return Err(corrupt("unknown cipher"));
    }
    let params = Argon2Params {
        m_cost_kib: be_u32(&bytes[12..16]),
        t_cost: be_u32(&bytes[16..20]),
        p_cost: be_u32(&bytes[20..24]),
    };
    let kdf = match bytes[11] {
        KDF_NONE
            if params
                == (Argon2Params {
                    m_cost_kib: 0,
                    t_cost: 0,
                    p_cost: 0,
                }) =>
        {
            None
        }
        KDF_ARGON2ID if params.is_preset() => Some(params),
        KDF_NONE | KDF_ARGON2ID => {
            return Err(corrupt(
                "key derivation costs are not one of the presets a vault may use",
            ));
        }
        _ => return Err(corrupt("unknown key derivation")),
    };
    let mut vault_id = [0u8; 16];
    vault_id.copy_from_slice(&bytes[24..40]);
    let generation = be_u64(&bytes[40..48]);
    let entry_count = be_u32(&bytes[48..52]);
    let body_len = be_u64(&bytes[52..60]);
    if u64::try_from(bytes.len() - OVERHEAD).ok() != Some(body_len) {
        return Err(corrupt(
            "length does not match the header (truncated or extended)",
        ));
    }
    if entry_count as usize > (bytes.len() - OVERHEAD) / MIN_ENTRY_LEN {
        return Err(corrupt("more entries than the body can hold"));
    }
    Ok(Unverified {
        header: Header {
            kdf,
            vault_id,
            generation,
        },
        version,
        entry_count,
        bytes,
    })
}

/// Whether `key_check` matches under `keys` for a header of `version` with the Argon2id
/// `costs` (`None`: as written). A reader whose check fails tries the other versions and
/// presets this way, so that an edited version or costs read as `Tampered`, not as a wrong
/// key.
pub(crate) fn key_check_matches(
    bytes: &[u8],
    version: u16,
    keys: &Subkeys,
    costs: Option<Argon2Params>,
) -> bool {
    let covered = if version == VERSION_1 {
        KEY_CHECK_AT
    } else {
        KEY_CHECK_COVERS
    };
    let mut header = [0u8; KEY_CHECK_AT];
    header[..covered].copy_from_slice(&bytes[..covered]);
    header[8..10].copy_from_slice(&version.to_be_bytes());
    if let Some(p) = costs {
        header[12..16].copy_from_slice(&p.m_cost_kib.to_be_bytes());
        header[16..20].copy_from_slice(&p.t_cost.to_be_bytes());
        header[20..24].copy_from_slice(&p.p_cost.to_be_bytes());
    }
    let key_check = mac(keys, LABEL_KEY_CHECK, &[&header[..covered]]);
    hearth_token_guard::constant_time_eq(key_check.as_ref(), &bytes[KEY_CHECK_AT..HEADER_SUM_AT])
}

/// Whether the first entry's name decrypts under `keys`: proof that they are this vault's
/// keys whatever its header says (the name's AAD carries only the vault id). Read from
/// the start of the body, whatever `entry_count` says; `false` for an empty vault.
pub(crate) fn first_name_opens(u: &Unverified<'_>, keys: &Subkeys) -> bool {
    let mut body = &u.bytes[HEADER_LEN..u.bytes.len() - MAC_LEN];
    let Ok(frame) = next_frame(&mut body) else {
        return false;
    };
    let mut name = frame.name_ct.to_vec();
    let aad = [LABEL_NAME, &u.header.vault_id[..]].concat();
    keys.enc
        .open_in_place(
            Nonce::assume_unique_for_key(frame.name_nonce),
            Aad::from(aad),
            &mut name,
        )
        .is_ok()
}

/// The versions this build reads.
pub(crate) const READ_VERSIONS: [u16; 2] = [VERSION, VERSION_1];

/// Steps 8–10: key check, body MAC, entry frames, names.
pub(crate) fn verify(
    u: &Unverified<'_>,
    keys: &Subkeys,
    path: &Path,
) -> Result<BTreeMap<Key, Sealed>, Error> {
    let bytes = u.bytes;
    if !cfg!(fuzzing) && !key_check_matches(bytes, u.version, keys, u.header.kdf) {
        return Err(Error::WrongKey { path: path.into() });
    }
    let body_end = bytes.len() - MAC_LEN;
    let body_mac = mac(keys, LABEL_BODY, &[&bytes[..body_end]]);
    let tampered = || Error::Tampered { path: path.into() };
    if !cfg!(fuzzing)
        && !hearth_token_guard::constant_time_eq(body_mac.as_ref(), &bytes[body_end..])
    {
        return Err(tampered());
    }
    let mut entries = BTreeMap::new();
    let mut last: Option<Key> = None;
    for frame in frames(u) {
        let frame = frame.map_err(|()| tampered())?;
        let mut name_buf = frame.name_ct.to_vec();
        let name_aad = [LABEL_NAME, &u.header.vault_id[..]].concat();
        let name = keys
            .enc
            .open_in_place(
                Nonce::assume_unique_for_key(frame.name_nonce),
                Aad::from(name_aad),
                &mut name_buf,
            )
            .map_err(|_| tampered())?;
        let key: Key = std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(tampered)?;
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(tampered()); // out of order or duplicated
        }
        last = Some(key.clone());
        entries.insert(
            key,
            Sealed {
                name_nonce: frame.name_nonce,
                name_ct: frame.name_ct.into(),
                nonce: frame.nonce,
                ct: frame.ct.into(),
            },
        );
    }
    Ok(entries)
}

/// The whole file for `header` and `entries` (sorted by the map), MACs included.
pub(crate) fn encode(header: &Header, entries: &BTreeMap<Key, Sealed>, keys: &Subkeys) -> Vec<u8> {
    let body_len: usize = entries
        .values()
        .map(|s| NONCE_LEN + 2 + s.name_ct.len() + NONCE_LEN + 4 + s.ct.len())
        .sum();
    let mut out = Vec::with_capacity(OVERHEAD + body_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.push(CIPHER_AES_256_GCM);
    let (kdf, p) = match header.kdf {
        Some(p) => (KDF_ARGON2ID, p),
        None => (
            KDF_NONE,
            Argon2Params {
                m_cost_kib: 0,
                t_cost: 0,
                p_cost: 0,
            },
        ),
    };
    out.push(kdf);
    out.extend_from_slice(&p.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&p.t_cost.to_be_bytes());
    out.extend_from_slice(&p.p_cost.to_be_bytes());
    out.extend_from_slice(&header.vault_id);
    out.extend_from_slice(&header.generation.to_be_bytes());
    // Entry count and body length fit: a map this large could not have been built.
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&(body_len as u64).to_be_bytes());
    let key_check = mac(keys, LABEL_KEY_CHECK, &[&out[..KEY_CHECK_COVERS]]);
    out.extend_from_slice(key_check.as_ref());
    let sum = digest(&SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    for s in entries.values() {
        out.extend_from_slice(&s.name_nonce);
        out.extend_from_slice(&(s.name_ct.len() as u16).to_be_bytes());
        out.extend_from_slice(&s.name_ct);
        out.extend_from_slice(&s.nonce);
        out.extend_from_slice(&(s.ct.len() as u32).to_be_bytes());
        out.extend_from_slice(&s.ct);
    }
    let body_mac = mac(keys, LABEL_BODY, &[&out]);
    out.extend_from_slice(body_mac.as_ref());
    out
}

/// Encrypts `secret` (and `key`'s name) for the vault `vault_id` under fresh random nonces.
pub(crate) fn seal(
    keys: &Subkeys,
    vault_id: &[u8; 16],
    key: &Key,
    secret: &[u8],
) -> Result<Sealed, Error> {
    let rng = SystemRandom::new();
    let mut name_nonce = [0u8; NONCE_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut name_nonce).map_err(|_| Error::Rng)?;
    rng.fill(&mut nonce).map_err(|_| Error::Rng)?;
    let name_aad = [LABEL_NAME, &vault_id[..]].concat();
    let mut name_ct = key.as_str().as_bytes().to_vec();
    keys.enc
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(name_nonce),
            Aad::from(name_aad),
            &mut name_ct,
        )
        .map_err(|_| Error::Rng)?;
    let mut ct = zeroize::Zeroizing::new(Vec::with_capacity(secret.len() + TAG_LEN));
    ct.extend_from_slice(secret);
    keys.enc
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(entry_aad(vault_id, key)),
            &mut *ct,
        )
        .map_err(|_| Error::Rng)?;
    Ok(Sealed {
        name_nonce,
        name_ct: name_ct.into(),
        nonce,
        ct: ct.as_slice().into(),
    })
}

/// Decrypts the secret of `sealed`, stored under `key` in the vault `vault_id`.
pub(crate) fn open(
    keys: &Subkeys,
    vault_id: &[u8; 16],
    key: &Key,
    sealed: &Sealed,
    path: &Path,
) -> Result<SecretBytes, Error> {
    let mut buf = zeroize::Zeroizing::new(sealed.ct.to_vec());
    let plain = keys
        .enc
        .open_in_place(
            Nonce::assume_unique_for_key(sealed.nonce),
            Aad::from(entry_aad(vault_id, key)),
            &mut buf,
        )
        .map_err(|_| Error::Tampered { path: path.into() })?;
    Ok(SecretBytes::from_slice(plain))
}

fn entry_aad(vault_id: &[u8; 16], key: &Key) -> Vec<u8> {
    let name = key.as_str().as_bytes();
    let mut aad = Vec::with_capacity(LABEL_ENTRY.len() + 16 + 2 + name.len());
    aad.extend_from_slice(LABEL_ENTRY);
    aad.extend_from_slice(vault_id);
    aad.extend_from_slice(&(name.len() as u16).to_be_bytes());
    aad.extend_from_slice(name);
    aad
}

fn mac(keys: &Subkeys, label: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(&keys.mac);
    ctx.update(label);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign()
}

/// One entry's fields, borrowed from the file.
struct Frame<'a> {
    name_nonce: [u8; NONCE_LEN],
    name_ct: &'a [u8],
    nonce: [u8; NONCE_LEN],
    ct: &'a [u8],
}

/// Walks the body's entry frames: exactly `entry_count`, each within its limits, and no
/// trailing bytes. Yields `Err(())` once, at the first violation.
fn frames<'a>(u: &Unverified<'a>) -> impl Iterator<Item = Result<Frame<'a>, ()>> {
    let mut body = &u.bytes[HEADER_LEN..u.bytes.len() - MAC_LEN];
    let mut left = u.entry_count;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        if left == 0 {
            if body.is_empty() {
                return None;
            }
            failed = true;
            return Some(Err(())); // trailing bytes
        }
        left -= 1;
        let frame = next_frame(&mut body);
        failed = frame.is_err();
        Some(frame)
    })
}

fn next_frame<'a>(body: &mut &'a [u8]) -> Result<Frame<'a>, ()> {
    let name_nonce = take_array(body)?;
    let name_len = usize::from(be_u16(take(body, 2)?));
    if !(1 + TAG_LEN..=MAX_NAME_LEN + TAG_LEN).contains(&name_len) {
        return Err(());
    }
    let name_ct = take(body, name_len)?;
    let nonce = take_array(body)?;
    let ct_len = be_u32(take(body, 4)?) as usize;
    if !(TAG_LEN..=MAX_SECRET_LEN + TAG_LEN).contains(&ct_len) {
        return Err(());
    }
    let ct = take(body, ct_len)?;
    Ok(Frame {
        name_nonce,
        name_ct,
        nonce,
        ct,
    })
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a [u8], ()> {
    if body.len() < n {
        return Err(());
    }
    let (head, rest) = body.split_at(n);
    *body = rest;
    Ok(head)
}

fn take_array(body: &mut &[u8]) -> Result<[u8; NONCE_LEN], ()> {
    let mut a = [0u8; NONCE_LEN];
    a.copy_from_slice(take(body, NONCE_LEN)?);
    Ok(a)
}

fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::keys::subkeys;

    fn keys(byte: u8, vault_id: &[u8; 16]) -> Subkeys {
        subkeys(&SecretBytes::from_slice(&[byte; 32]), vault_id)
    }

    #[test]
    fn layout_matches_the_spec() {
        assert_eq!(MIN_ENTRY_LEN, 63);
        let h = Header {
            kdf: None,
            vault_id: [3; 16],
            generation: 9,
        };
        let k = keys(1, &h.vault_id);
        let bytes = encode(&h, &BTreeMap::new(), &k);
        assert_eq!(bytes.len(), 156);
        assert_eq!(&bytes[..8], b"HEARTHVT");
        let u = parse_header(&bytes, Path::new("v")).unwrap();
        assert_eq!(u.header, h);
        assert!(verify(&u, &k, Path::new("v")).unwrap().is_empty());
    }

    #[test]
    fn a_secret_cannot_move_to_another_name_or_vault() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let ka = keys(7, &a);
        let key: Key = "app::one".parse().unwrap();
        let other: Key = "app::two".parse().unwrap();
        let sealed = seal(&ka, &a, &key, b"secret").unwrap();
        assert_eq!(
            open(&ka, &a, &key, &sealed, Path::new("v"))
                .unwrap()
                .expose_secret(),
            b"secret"
        );
        assert!(matches!(
            open(&ka, &a, &other, &sealed, Path::new("v")),
            Err(Error::Tampered { .. })
        ));
        // Same raw key, other vault: the subkeys and the AAD both differ.
        let kb = keys(7, &b);
        assert!(open(&kb, &b, &key, &sealed, Path::new("v")).is_err());
        assert!(open(&ka, &b, &key, &sealed, Path::new("v")).is_err());
    }

    #[test]
    fn nonces_are_fresh_for_every_seal() {
        let id = [5u8; 16];
        let k = keys(1, &id);
        let key: Key = "app::k".parse().unwrap();
        let s1 = seal(&k, &id, &key, b"x").unwrap();
        let s2 = seal(&k, &id, &key, b"x").unwrap();
        assert_ne!(s1.nonce, s2.nonce);
        assert_ne!(s1.name_nonce, s2.name_nonce);
        assert_ne!(s1.ct, s2.ct);
    }

    #[test]
    fn hostile_headers_are_rejected_before_derivation() {
        let h = Header {
            kdf: Some(Argon2Params::OWASP_7_MIB),
            vault_id: [1; 16],
            generation: 0,
        };
        let mut bytes = encode(&h, &BTreeMap::new(), &keys(1, &h.vault_id));
        bytes[12..16].copy_from_slice(&u32::MAX.to_be_bytes()); // 4 TiB of memory
        let sum = digest(&SHA256, &bytes[..HEADER_SUM_AT]);
        bytes[HEADER_SUM_AT..HEADER_LEN].copy_from_slice(sum.as_ref());
        assert!(matches!(
            parse_header(&bytes, Path::new("v")),
            Err(Error::Corrupt { .. })
        ));

        let mut bytes = encode(&h, &BTreeMap::new(), &keys(1, &h.vault_id));
        bytes[48..52].copy_from_slice(&u32::MAX.to_be_bytes()); // 4 billion entries
        let sum = digest(&SHA256, &bytes[..HEADER_SUM_AT]);
        bytes[HEADER_SUM_AT..HEADER_LEN].copy_from_slice(sum.as_ref());
        assert!(matches!(
            parse_header(&bytes, Path::new("v")),
            Err(Error::Corrupt { .. })
        ));
    }
}
