//! The two rtnetlink requests a fresh network namespace needs: loopback up, and the addresses
//! the sandbox answers on added to it. `ip link set lo up` and `ip addr add … dev lo` would
//! do the same, but would make iproute2 a requirement of the agent.

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;

use rustix::net::{recv, send, socket, AddressFamily, RecvFlags, SendFlags, SocketType};

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFF_UP: u32 = 0x1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// `RT_SCOPE_HOST`: the address is reachable on this host only, as 127.0.0.1 is.
const RT_SCOPE_HOST: u8 = 254;
const NLMSG_HEADER_LEN: usize = 16;

/// Brings `lo` up and adds each of `addresses` to it, in the calling thread's network
/// namespace.
pub(super) fn configure_loopback(addresses: &[IpAddr]) -> io::Result<()> {
    let netlink = socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    let lo = rustix::net::netdevice::name_to_index(&netlink, "lo")?;
    request(&netlink, &link_up(1, lo))?;
    for (sequence, address) in (2..).zip(addresses) {
        request(&netlink, &add_address(sequence, lo, *address))?;
    }
    Ok(())
}

/// Sends one request and reads the kernel's acknowledgement (a zero error) or its errno.
fn request(netlink: &OwnedFd, message: &[u8]) -> io::Result<()> {
    send(netlink, message, SendFlags::empty())?;
    let mut reply = [0u8; 1024];
    let (len, _) = recv(netlink, &mut reply, RecvFlags::empty())?;
    acknowledgement(&reply[..len])
}

/// `RTM_NEWLINK` setting `IFF_UP` on interface `index`.
fn link_up(sequence: u32, index: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&[0, 0]); // ifi_family AF_UNSPEC, padding
    body.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    body.extend_from_slice(&index.to_ne_bytes());
    body.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    body.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change: only IFF_UP changes
    message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, sequence, &body)
}

/// `RTM_NEWADDR` adding `address` (a host route: /32 or /128) to interface `index`.
fn add_address(sequence: u32, index: u32, address: IpAddr) -> Vec<u8> {
    let (family, octets) = match address {
        IpAddr::V4(v4) => (rustix::net::AddressFamily::INET, v4.octets().to_vec()),
        IpAddr::V6(v6) => (rustix::net::AddressFamily::INET6, v6.octets().to_vec()),
    };
    let prefix_len = (octets.len() * 8) as u8;
    let mut body = vec![
        family.as_raw() as u8,
        prefix_len,
        0, // ifa_flags
        RT_SCOPE_HOST,
    ];
    body.extend_from_slice(&index.to_ne_bytes());
    for kind in [IFA_LOCAL, IFA_ADDRESS] {
        body.extend_from_slice(&((4 + octets.len()) as u16).to_ne_bytes());
        body.extend_from_slice(&kind.to_ne_bytes());
        body.extend_from_slice(&octets);
    }
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    message(RTM_NEWADDR, flags, sequence, &body)
}

/// A netlink header (length, type, flags, sequence, port 0: the kernel) before `body`.
fn message(kind: u16, flags: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HEADER_LEN + body.len();
    let mut message = Vec::with_capacity(len);
    message.extend_from_slice(&(len as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&sequence.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(body);
    message
}

/// The kernel's answer to a request with `NLM_F_ACK`: an `NLMSG_ERROR` whose error is 0 on
/// success, or minus the errno.
fn acknowledgement(reply: &[u8]) -> io::Result<()> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "a malformed netlink reply");
    let kind = u16::from_ne_bytes(reply.get(4..6).ok_or_else(malformed)?.try_into().unwrap());
    let error = reply
        .get(NLMSG_HEADER_LEN..NLMSG_HEADER_LEN + 4)
        .ok_or_else(malformed)?;
    let error = i32::from_ne_bytes(error.try_into().unwrap());
    match (kind, error) {
        (NLMSG_ERROR, 0) => Ok(()),
        (NLMSG_ERROR, negative) => Err(io::Error::from_raw_os_error(-negative)),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bringing_a_link_up_changes_only_its_up_flag() {
        let message = link_up(7, 1);
        assert_eq!(message.len(), 32);
        assert_eq!(u32::from_ne_bytes(message[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(message[4..6].try_into().unwrap()), 16);
        assert_eq!(u16::from_ne_bytes(message[6..8].try_into().unwrap()), 0x5);
        assert_eq!(u32::from_ne_bytes(message[8..12].try_into().unwrap()), 7);
        assert_eq!(u32::from_ne_bytes(message[20..24].try_into().unwrap()), 1);
        assert_eq!(&message[24..], &[1, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn an_ipv4_address_is_added_as_a_host_scoped_slash_32() {
        let message = add_address(2, 1, "168.63.129.16".parse().unwrap());
        // Header, ifaddrmsg, then IFA_LOCAL and IFA_ADDRESS of 8 bytes each.
        assert_eq!(message.len(), 16 + 8 + 8 + 8);
        assert_eq!(u16::from_ne_bytes(message[6..8].try_into().unwrap()), 0x605);
        assert_eq!(&message[16..20], &[2, 32, 0, 254]);
        assert_eq!(&message[24..26], &8u16.to_ne_bytes());
        assert_eq!(&message[26..28], &IFA_LOCAL.to_ne_bytes());
        assert_eq!(&message[28..32], &[168, 63, 129, 16]);
        assert_eq!(&message[34..36], &IFA_ADDRESS.to_ne_bytes());
        assert_eq!(&message[36..40], &[168, 63, 129, 16]);
    }

    #[test]
    fn an_ipv6_address_is_a_slash_128() {
        let message = add_address(2, 1, "fd00::1".parse().unwrap());
        assert_eq!(message.len(), 16 + 8 + 20 + 20);
        assert_eq!(&message[16..18], &[10, 128]);
    }

    #[test]
    fn acknowledgements_carry_zero_or_minus_the_errno() {
        let ack = |error: i32| message(NLMSG_ERROR, 0, 1, &error.to_ne_bytes());
        assert!(acknowledgement(&ack(0)).is_ok());
        let refused = acknowledgement(&ack(-17)).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(17));
        assert!(acknowledgement(&[0; 8]).is_err());
        assert!(acknowledgement(&message(RTM_NEWADDR, 0, 1, &[0; 4])).is_err());
    }
}
