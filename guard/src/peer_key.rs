//! [`PeerKey`]: what a peer's budgets (rate limits, failed credentials, connections) are
//! counted under.

use std::net::IpAddr;

/// A peer for counting: an IPv4 address as it is, an IPv6 address by its /64 (one host
/// on a LAN or at an ISP is handed a whole /64, so per-address budgets would be 2^64
/// budgets). An IPv4-mapped IPv6 address counts as the IPv4 address it maps.
///
/// The trade-off: the devices of one IPv6 LAN usually share one /64, so they share its
/// budgets (a device spending its failed-key budget spends theirs; IPv4 peers and
/// credential holders' own rate limits are unaffected). Keyed by address instead, one
/// device could take every place with addresses it makes up.
///
/// ```
/// use hearth_guard::PeerKey;
///
/// let a = PeerKey::of("2001:db8:1:2::10".parse().unwrap());
/// let b = PeerKey::of("2001:db8:1:2:ffff::1".parse().unwrap());
/// assert_eq!(a, b, "one /64, one budget");
/// assert_ne!(a, PeerKey::of("2001:db8:1:3::10".parse().unwrap()));
/// assert_eq!(
///     PeerKey::of("::ffff:127.0.0.1".parse().unwrap()),
///     PeerKey::of("127.0.0.1".parse().unwrap())
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerKey(PeerKeyInner);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKeyInner {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl PeerKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(PeerKeyInner::V4(v4.octets())),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(PeerKeyInner::V4(v4.octets())),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Self(PeerKeyInner::V6Prefix(prefix))
                }
            },
        }
    }
}

/// `192.0.2.7` for an IPv4 peer, `2001:db8:1:2::/64` for an IPv6 one: a name for the key
/// in a shared store (hearth-gate's Redis limits).
///
/// ```
/// use hearth_guard::PeerKey;
///
/// assert_eq!(PeerKey::of("192.0.2.7".parse()?).to_string(), "192.0.2.7");
/// assert_eq!(PeerKey::of("::ffff:192.0.2.7".parse()?).to_string(), "192.0.2.7");
/// assert_eq!(PeerKey::of("2001:db8:1:2:3:4:5:6".parse()?).to_string(), "2001:db8:1:2::/64");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            PeerKeyInner::V4(octets) => write!(f, "{}", std::net::Ipv4Addr::from(octets)),
            PeerKeyInner::V6Prefix(prefix) => {
                let mut full = [0u8; 16];
                full[..8].copy_from_slice(&prefix);
                write!(f, "{}/64", std::net::Ipv6Addr::from(full))
            }
        }
    }
}
