//! IPv4 prefixes (CIDR) and addresses as Azure's virtual networks use them: parsing with the
//! two ways Azure tells a bad prefix apart (not CIDR at all; host bits set), containment,
//! overlap, and the addresses a subnet hands out past the five Azure keeps in every subnet.
//! IPv6 is not simulated: an IPv6 prefix is refused as not being IPv4 CIDR.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// An IPv4 prefix whose host bits are zero, e.g. `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    network: u32,
    length: u8,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `a.b.c.d/n` with four decimal octets and a length of at most 32: Azure's
    /// `InvalidAddressPrefixFormat`.
    #[error("the prefix is not in IPv4 CIDR notation")]
    Format,
    /// Host bits are set (`10.0.0.1/24`): Azure's `InvalidCIDRNotation`, which names the
    /// prefix the client probably meant.
    #[error("host bits are set; for its length the prefix would be {0}")]
    HostBits(Ipv4Cidr),
}

/// The first four addresses of a subnet are reserved (network, default gateway, two for
/// Azure DNS), and so is the last (broadcast).
const RESERVED_AT_START: u32 = 4;

impl Ipv4Cidr {
    /// `address/length`, which must already be a network address. Used for the constant
    /// ranges below; input goes through [`Ipv4Cidr::parse`].
    const fn new(address: u32, length: u8) -> Self {
        let network = address & mask(length);
        assert!(network == address && length <= 32, "a network address");
        Self { network, length }
    }

    /// Parses `a.b.c.d/n` as Azure accepts it: decimal octets without leading zeros, a
    /// length of 0 to 32, no spaces, no host bits.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (address, length) = text.split_once('/').ok_or(CidrError::Format)?;
        let address: Ipv4Addr = address.parse().map_err(|_| CidrError::Format)?;
        // `u8::from_str` takes a leading `+`; a length is digits only.
        if length.is_empty() || length.len() > 2 || !length.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::Format);
        }
        let length: u8 = length.parse().map_err(|_| CidrError::Format)?;
        if length > 32 {
            return Err(CidrError::Format);
        }
        let address = u32::from(address);
        let network = address & mask(length);
        if network != address {
            return Err(CidrError::HostBits(Self { network, length }));
        }
        Ok(Self { network, length })
    }

    pub fn length(&self) -> u8 {
        self.length
    }

    fn first(&self) -> u32 {
        self.network
    }

    fn last(&self) -> u32 {
        self.network | !mask(self.length)
    }

    /// Whether every address of `other` is in this prefix.
    pub fn contains(&self, other: &Ipv4Cidr) -> bool {
        other.length >= self.length && other.network & mask(self.length) == self.network
    }

    pub fn contains_address(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.length) == self.network
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The addresses a subnet with this prefix hands out, lowest first: all but the five
    /// reserved ones. None for a /30 or longer.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = self.first().saturating_add(RESERVED_AT_START);
        // A /31 or /32 has no broadcast address to spare; it has no hosts either way.
        let last = self.last().saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }

    /// Whether `address` is in this prefix but one of the five it reserves.
    pub fn is_reserved(&self, address: Ipv4Addr) -> bool {
        self.contains_address(address) && !self.hosts_contain(address)
    }

    fn hosts_contain(&self, address: Ipv4Addr) -> bool {
        let address = u32::from(address);
        address >= self.first().saturating_add(RESERVED_AT_START)
            && address <= self.last().saturating_sub(1)
    }
}

/// The network mask of a prefix length (0 to 32).
const fn mask(length: u8) -> u32 {
    if length == 0 {
        0
    } else {
        u32::MAX << (32 - length as u32)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.length)
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = CidrError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Ipv4Cidr> for String {
    fn from(cidr: Ipv4Cidr) -> Self {
        cidr.to_string()
    }
}

/// Where static public IP addresses come from: the three documentation ranges of RFC 5737
/// (TEST-NET-1, -2 and -3), so that no simulated address is anyone's real one.
const PUBLIC_RANGES: [Ipv4Cidr; 3] = [
    Ipv4Cidr::new(0xC000_0200, 24),
    Ipv4Cidr::new(0xC633_6400, 24),
    Ipv4Cidr::new(0xCB00_7100, 24),
];

/// The public addresses a subscription's static public IPs are given, in order: each
/// documentation range without its network and broadcast addresses.
pub fn public_addresses() -> impl Iterator<Item = Ipv4Addr> {
    PUBLIC_RANGES
        .into_iter()
        .flat_map(|range| (range.first() + 1..range.last()).map(Ipv4Addr::from))
}

/// How many addresses [`public_addresses`] has: what a subscription's quota says.
pub fn public_address_count() -> usize {
    PUBLIC_RANGES
        .iter()
        .map(|range| (range.last() - range.first() - 1) as usize)
        .sum()
}

/// An address as stored (an integer column).
pub fn to_column(address: Ipv4Addr) -> i64 {
    i64::from(u32::from(address))
}

/// An address from its column; `None` for a value no address has.
pub fn from_column(value: i64) -> Option<Ipv4Addr> {
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Cidr {
        Ipv4Cidr::parse(text).unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_in_cidr_notation_only() {
        assert_eq!(cidr("10.0.0.0/16").to_string(), "10.0.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("192.168.1.7/32").length(), 32);
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/008",
            "10.0.0.0/-1",
            "010.0.0.0/8",
            "10.0.0.256/32",
            " 10.0.0.0/8",
            "10.0.0.0/8 ",
            "10.0.0.0/8/8",
            "fd00::/8",
            "ten.0.0.0/8",
        ] {
            assert_eq!(Ipv4Cidr::parse(bad), Err(CidrError::Format), "{bad:?}");
        }
    }

    #[test]
    fn host_bits_name_the_network_meant() {
        assert_eq!(
            Ipv4Cidr::parse("10.10.10.0/16"),
            Err(CidrError::HostBits(cidr("10.10.0.0/16")))
        );
        assert_eq!(
            Ipv4Cidr::parse("10.0.0.1/0"),
            Err(CidrError::HostBits(cidr("0.0.0.0/0")))
        );
    }

    #[test]
    fn prefixes_round_trip_through_serde_and_refuse_bad_text() {
        let json = serde_json::to_string(&cidr("10.1.0.0/24")).unwrap();
        assert_eq!(json, "\"10.1.0.0/24\"");
        assert_eq!(
            serde_json::from_str::<Ipv4Cidr>(&json).unwrap(),
            cidr("10.1.0.0/24")
        );
        assert!(serde_json::from_str::<Ipv4Cidr>("\"10.1.0.1/24\"").is_err());
    }

    #[test]
    fn containment_is_by_prefix() {
        let space = cidr("10.0.0.0/16");
        assert!(space.contains(&cidr("10.0.0.0/24")));
        assert!(space.contains(&cidr("10.0.255.0/24")));
        assert!(space.contains(&space));
        assert!(!space.contains(&cidr("10.1.0.0/24")));
        assert!(!space.contains(&cidr("10.0.0.0/15")));
        assert!(cidr("0.0.0.0/0").contains(&cidr("255.255.255.255/32")));
        assert!(space.contains_address(ip("10.0.200.1")));
        assert!(!space.contains_address(ip("10.1.0.0")));
    }

    #[test]
    fn overlap_is_any_shared_address() {
        assert!(cidr("10.0.0.0/24").overlaps(&cidr("10.0.0.128/25")));
        assert!(cidr("10.0.0.128/25").overlaps(&cidr("10.0.0.0/16")));
        assert!(!cidr("10.0.0.0/25").overlaps(&cidr("10.0.0.128/25")));
        assert!(!cidr("10.0.0.0/24").overlaps(&cidr("10.0.1.0/24")));
        assert!(cidr("10.0.1.255/32").overlaps(&cidr("10.0.1.0/24")));
    }

    #[test]
    fn hosts_skip_the_first_four_and_the_last_address() {
        let subnet = cidr("10.0.0.0/24");
        let hosts: Vec<Ipv4Addr> = subnet.hosts().collect();
        assert_eq!(hosts.len(), 251);
        assert_eq!(hosts[0], ip("10.0.0.4"));
        assert_eq!(hosts[1], ip("10.0.0.5"));
        assert_eq!(hosts.last(), Some(&ip("10.0.0.254")));
        for reserved in ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.255"] {
            assert!(subnet.is_reserved(ip(reserved)), "{reserved}");
        }
        assert!(!subnet.is_reserved(ip("10.0.0.4")));
        assert!(!subnet.is_reserved(ip("10.0.1.0")), "outside, not reserved");
    }

    #[test]
    fn a_slash_29_has_three_hosts_and_longer_prefixes_none() {
        let hosts: Vec<Ipv4Addr> = cidr("10.0.0.8/29").hosts().collect();
        assert_eq!(hosts, [ip("10.0.0.12"), ip("10.0.0.13"), ip("10.0.0.14")]);
        for none in ["10.0.0.0/30", "10.0.0.0/31", "10.0.0.0/32"] {
            assert_eq!(cidr(none).hosts().count(), 0, "{none}");
        }
        let top = cidr("255.255.255.248/29");
        assert_eq!(top.hosts().last(), Some(ip("255.255.255.254")));
        assert!(top.is_reserved(ip("255.255.255.255")));
    }

    #[test]
    fn public_addresses_come_from_the_documentation_ranges() {
        let addresses: Vec<Ipv4Addr> = public_addresses().collect();
        assert_eq!(addresses.len(), public_address_count());
        assert_eq!(addresses.len(), 3 * 254);
        assert_eq!(addresses[0], ip("192.0.2.1"));
        assert_eq!(addresses[253], ip("192.0.2.254"));
        assert_eq!(addresses[254], ip("198.51.100.1"));
        assert_eq!(addresses.last(), Some(&ip("203.0.113.254")));
        assert!(addresses.iter().all(Ipv4Addr::is_documentation));
    }

    #[test]
    fn addresses_round_trip_through_their_column() {
        for address in [ip("0.0.0.0"), ip("10.0.0.4"), ip("255.255.255.255")] {
            assert_eq!(from_column(to_column(address)), Some(address));
        }
        assert_eq!(from_column(-1), None);
        assert_eq!(from_column(1 << 32), None);
    }
}
