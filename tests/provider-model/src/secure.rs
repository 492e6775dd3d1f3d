//! Winsock's secure socket extensions (`SIO_SET_SECURITY`, `SIO_SET_PEER_TARGET_NAME`,
//! `SIO_DELETE_PEER_TARGET_NAME`, `SIO_QUERY_SECURITY`) as a provider without IPsec answers
//! them through `WskControlSocket` (`WskIoctl`), defined once for both providers.
//!
//! On Windows these codes pass through WSK to the transport, where Application Layer
//! Enforcement applies IPsec ("Winsock Secure Socket Extensions", Secure Socket
//! Architecture); the WSK IOCTL list adds that "the underlying network protocol might support
//! additional socket I/O control operations". Neither provider here has IPsec, so:
//!
//! - Every request is validated as the Winsock pages describe (`WSASetSocketSecurity`,
//!   `WSASetSocketPeerTargetName`, `WSADeleteSocketPeerTargetName`,
//!   `WSAQuerySocketSecurity` and the `mstcpip.h` structures), with the order rules: security
//!   settings before bind and connect and once per socket, a peer target name before connect.
//! - Settings that require security (no `SOCKET_SETTINGS_ALLOW_INSECURE`, or
//!   `SOCKET_SETTINGS_GUARANTEE_ENCRYPTION`) get `STATUS_NOT_SUPPORTED`: honouring them without
//!   IPsec would send clear text the caller forbade. Settings that allow clear text are
//!   recorded and, as `WSASetSocketSecurity` does, ask for `SO_EXCLUSIVEADDRUSE`.
//! - A query reports what is true here: `SOCKET_SECURITY_PROTOCOL_IPSEC` (IPSEC2 when asked
//!   for), no `SOCKET_INFO_CONNECTION_*` flag, and no token handles whatever the access mask
//!   (nothing authenticated the peer).
//!
//! Statuses where Winsock names only an error code: WSAEINVAL → `STATUS_INVALID_PARAMETER`,
//! WSAEMSGSIZE (buffer too small) → `STATUS_BUFFER_TOO_SMALL`, WSAEISCONN →
//! `STATUS_CONNECTION_ACTIVE`; too late in the socket's life (after bind, a second
//! `SIO_SET_SECURITY`) → `STATUS_INVALID_DEVICE_STATE`; a category the code means nothing on →
//! `STATUS_INVALID_DEVICE_REQUEST`; deleting a name never set → `STATUS_NOT_FOUND`.

use std::net::SocketAddr;

use wsk_bindings::{self as sys, NtStatus, AF_INET6_FAMILY, AF_INET_FAMILY};

use crate::sockaddr;

/// Longest peer target name this model keeps, in UTF-16 units (the pages set no limit; a
/// service principal name is a service class, a host name and a port).
pub const MAX_NAME_UNITS: usize = 512;

/// What the socket is, for the rules above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A connection-oriented socket (or a stream socket before it listens).
    Connection,
    /// A listening socket.
    Listen,
    /// A datagram socket.
    Datagram,
    /// A basic socket: no bind or connect for settings to act on.
    Basic,
}

/// Where the socket is in its life when a request arrives.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// The socket's kind.
    pub kind: Kind,
    /// Its address family (`AF_INET_FAMILY` or `AF_INET6_FAMILY`).
    pub family: u16,
    /// Bound to a local address.
    pub bound: bool,
    /// Connected (connection sockets).
    pub connected: bool,
}

/// Settings a socket accepted through `SIO_SET_SECURITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `SOCKET_SECURITY_PROTOCOL_*`.
    pub protocol: u32,
    /// `SOCKET_SETTINGS_*`.
    pub flags: u32,
    /// `SOCKET_SETTINGS_IPSEC_*` (0 for the plain structure).
    pub ipsec_flags: u32,
}

/// One peer target name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PeerName {
    /// The peer (datagram sockets); `None` on connection sockets (one name per socket).
    peer: Option<SocketAddr>,
    name: Vec<u16>,
}

/// The answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The request's status.
    pub status: NtStatus,
    /// Bytes written to the output (or, with `STATUS_BUFFER_TOO_SMALL`, the bytes needed).
    pub returned: usize,
    /// The provider must also set `SO_EXCLUSIVEADDRUSE` (accepted `SIO_SET_SECURITY`).
    pub exclusive_address: bool,
}

impl Answer {
    fn status(status: NtStatus) -> Self {
        Self {
            status,
            returned: 0,
            exclusive_address: false,
        }
    }
}

/// One socket's secure-socket state.
#[derive(Clone, Debug, Default)]
pub struct SecureSocket {
    settings: Option<Settings>,
    names: Vec<PeerName>,
}

/// Whether `code` is one of the four secure socket codes.
#[must_use]
pub fn is_secure_socket_code(code: u32) -> bool {
    matches!(
        code,
        sys::SIO_SET_SECURITY
            | sys::SIO_QUERY_SECURITY
            | sys::SIO_SET_PEER_TARGET_NAME
            | sys::SIO_DELETE_PEER_TARGET_NAME
    )
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn invalid() -> Answer {
    Answer::status(NtStatus::INVALID_PARAMETER)
}

impl SecureSocket {
    /// The settings `SIO_SET_SECURITY` recorded.
    #[must_use]
    pub fn settings(&self) -> Option<Settings> {
        self.settings
    }

    /// The peer target name set for `peer` (datagram sockets) or for the connection.
    #[must_use]
    pub fn peer_target_name(&self, peer: Option<SocketAddr>) -> Option<&[u16]> {
        self.names
            .iter()
            .find(|n| n.peer == peer)
            .map(|n| n.name.as_slice())
    }

    /// Answers `code` (one of [`is_secure_socket_code`]) with the client's `input` (`None`:
    /// a NULL buffer) and `output` (`None`: NULL).
    pub fn ioctl(
        &mut self,
        phase: Phase,
        code: u32,
        input: Option<&[u8]>,
        output: Option<&mut [u8]>,
    ) -> Answer {
        if phase.family != AF_INET_FAMILY && phase.family != AF_INET6_FAMILY {
            return invalid();
        }
        match code {
            sys::SIO_SET_SECURITY => self.set_security(phase, input),
            sys::SIO_SET_PEER_TARGET_NAME => self.set_peer_target_name(phase, input),
            sys::SIO_DELETE_PEER_TARGET_NAME => self.delete_peer_target_name(phase, input),
            sys::SIO_QUERY_SECURITY => query_security(phase, input, output),
            _ => Answer::status(NtStatus::INVALID_DEVICE_REQUEST),
        }
    }

    fn set_security(&mut self, phase: Phase, input: Option<&[u8]>) -> Answer {
        if phase.kind == Kind::Basic {
            return Answer::status(NtStatus::INVALID_DEVICE_REQUEST);
        }
        if phase.connected {
            return Answer::status(NtStatus::CONNECTION_ACTIVE);
        }
        if phase.bound || self.settings.is_some() {
            return Answer::status(NtStatus::INVALID_DEVICE_STATE);
        }
        let settings = match parse_settings(input) {
            Ok(s) => s,
            Err(status) => return Answer::status(status),
        };
        let required = settings.flags & sys::SOCKET_SETTINGS_ALLOW_INSECURE == 0
            || settings.flags & sys::SOCKET_SETTINGS_GUARANTEE_ENCRYPTION != 0;
        if required {
            return Answer::status(NtStatus::NOT_SUPPORTED);
        }
        self.settings = Some(settings);
        Answer {
            status: NtStatus::SUCCESS,
            returned: 0,
            exclusive_address: true,
        }
    }

    fn set_peer_target_name(&mut self, phase: Phase, input: Option<&[u8]>) -> Answer {
        match phase.kind {
            Kind::Connection if phase.connected => {
                return Answer::status(NtStatus::CONNECTION_ACTIVE)
            }
            Kind::Connection | Kind::Datagram => {}
            Kind::Listen | Kind::Basic => return Answer::status(NtStatus::INVALID_DEVICE_REQUEST),
        }
        let Some(input) = input else {
            return invalid();
        };
        let (peer, name) = match parse_peer_target_name(input) {
            Ok(parsed) => parsed,
            Err(status) => return Answer::status(status),
        };
        let peer = if phase.kind == Kind::Datagram {
            match peer {
                Some(p) if !(p.ip().is_unspecified() && p.port() == 0) => Some(p),
                _ => return invalid(),
            }
        } else {
            None
        };
        self.names.retain(|n| n.peer != peer);
        self.names.push(PeerName { peer, name });
        Answer::status(NtStatus::SUCCESS)
    }

    fn delete_peer_target_name(&mut self, phase: Phase, input: Option<&[u8]>) -> Answer {
        if !matches!(phase.kind, Kind::Connection | Kind::Datagram) {
            return Answer::status(NtStatus::INVALID_DEVICE_REQUEST);
        }
        let Some(peer) = input.and_then(sockaddr::from_bytes) else {
            return invalid();
        };
        let key = (phase.kind == Kind::Datagram).then_some(peer);
        let before = self.names.len();
        self.names.retain(|n| n.peer != key);
        if self.names.len() == before {
            return Answer::status(NtStatus::NOT_FOUND);
        }
        Answer::status(NtStatus::SUCCESS)
    }
}

/// `SOCKET_SECURITY_SETTINGS` (8 bytes) or `SOCKET_SECURITY_SETTINGS_IPSEC` (84 bytes and its
/// strings); NULL means the default settings.
fn parse_settings(input: Option<&[u8]>) -> Result<Settings, NtStatus> {
    let Some(input) = input.filter(|i| !i.is_empty()) else {
        return Ok(Settings {
            protocol: sys::SOCKET_SECURITY_PROTOCOL_DEFAULT,
            flags: 0,
            ipsec_flags: 0,
        });
    };
    let (Some(protocol), Some(flags)) = (u32_at(input, 0), u32_at(input, 4)) else {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    };
    let known_flags =
        sys::SOCKET_SETTINGS_GUARANTEE_ENCRYPTION | sys::SOCKET_SETTINGS_ALLOW_INSECURE;
    if protocol >= sys::SOCKET_SECURITY_PROTOCOL_INVALID || flags & !known_flags != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if input.len() == size_of::<sys::SOCKET_SECURITY_SETTINGS>() {
        return Ok(Settings {
            protocol,
            flags,
            ipsec_flags: 0,
        });
    }
    // The IPsec structure, whose protocol "must be set to SOCKET_SECURITY_PROTOCOL_IPSEC".
    let strings = sys::SOCKET_SECURITY_SETTINGS_IPSEC_STRINGS;
    if input.len() < strings || protocol != sys::SOCKET_SECURITY_PROTOCOL_IPSEC {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let known_ipsec = sys::SOCKET_SETTINGS_IPSEC_SKIP_FILTER_INSTANTIATION
        | sys::SOCKET_SETTINGS_IPSEC_OPTIONAL_PEER_NAME_VERIFICATION
        | sys::SOCKET_SETTINGS_IPSEC_ALLOW_FIRST_INBOUND_PKT_UNENCRYPTED
        | sys::SOCKET_SETTINGS_IPSEC_PEER_NAME_IS_RAW_FORMAT;
    let ipsec_flags = u32_at(input, 8).ok_or(NtStatus::INVALID_PARAMETER)?;
    // Reserved (GUID at 44) and Reserved2 (UINT64 at 64) must be zero.
    let reserved_zero = input.get(44..72).is_some_and(|r| r.iter().all(|b| *b == 0));
    if ipsec_flags & !known_ipsec != 0 || !reserved_zero {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut total = 0usize;
    for at in [72, 76, 80] {
        let len = u32_at(input, at).ok_or(NtStatus::INVALID_PARAMETER)?;
        let len = usize::try_from(len).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        if len % 2 != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        total = total.checked_add(len).ok_or(NtStatus::INVALID_PARAMETER)?;
    }
    if strings
        .checked_add(total)
        .is_none_or(|end| end > input.len())
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(Settings {
        protocol,
        flags,
        ipsec_flags,
    })
}

/// The units a `PeerTargetNameStringLen` of `len` counts for `protocol`: bytes for IPSEC2 (as
/// documented), UTF-16 units otherwise (as Windows reads it and Microsoft's own sample writes
/// it; see `wsk::secure`).
fn name_units(protocol: u32, len: usize) -> Option<usize> {
    if protocol == sys::SOCKET_SECURITY_PROTOCOL_IPSEC2 {
        (len % 2 == 0).then_some(len / 2)
    } else {
        Some(len)
    }
}

/// `SOCKET_PEER_TARGET_NAME`: the peer (if its family is one WSK uses) and the name.
fn parse_peer_target_name(input: &[u8]) -> Result<(Option<SocketAddr>, Vec<u16>), NtStatus> {
    let strings = sys::SOCKET_PEER_TARGET_NAME_STRINGS;
    if input.len() < strings {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    let protocol = u32_at(input, 0).ok_or(NtStatus::INVALID_PARAMETER)?;
    let len = u32_at(input, 136).ok_or(NtStatus::INVALID_PARAMETER)?;
    if protocol >= sys::SOCKET_SECURITY_PROTOCOL_INVALID {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let units = usize::try_from(len)
        .ok()
        .and_then(|len| name_units(protocol, len))
        .filter(|u| (1..=MAX_NAME_UNITS).contains(u))
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    let bytes = input
        .get(strings..strings + units * 2)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    let name = bytes
        .chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect();
    let peer = input.get(8..136).and_then(sockaddr::from_bytes);
    Ok((peer, name))
}

/// `SIO_QUERY_SECURITY`: the template (optional on connected TCP sockets) in,
/// `SOCKET_SECURITY_QUERY_INFO` out.
fn query_security(phase: Phase, input: Option<&[u8]>, output: Option<&mut [u8]>) -> Answer {
    let template_size = size_of::<sys::SOCKET_SECURITY_QUERY_TEMPLATE>();
    let input = input.filter(|i| !i.is_empty());
    let protocol = match (phase.kind, input) {
        (Kind::Listen | Kind::Basic, _) => return Answer::status(NtStatus::INVALID_DEVICE_REQUEST),
        (Kind::Connection, None) => sys::SOCKET_SECURITY_PROTOCOL_DEFAULT,
        (_, Some(t)) if t.len() < template_size => {
            return Answer::status(NtStatus::BUFFER_TOO_SMALL)
        }
        (Kind::Datagram, None) => return Answer::status(NtStatus::BUFFER_TOO_SMALL),
        (kind, Some(t)) => {
            let Some(protocol) = u32_at(t, 0) else {
                return invalid();
            };
            let peer = t.get(8..136).and_then(sockaddr::from_bytes);
            if protocol >= sys::SOCKET_SECURITY_PROTOCOL_INVALID
                || (kind == Kind::Datagram && peer.is_none())
            {
                return invalid();
            }
            protocol
        }
    };
    if phase.kind == Kind::Connection && !phase.connected {
        return Answer::status(NtStatus::INVALID_DEVICE_STATE);
    }
    let info_size = size_of::<sys::SOCKET_SECURITY_QUERY_INFO>();
    let Some(out) = output.and_then(|o| o.get_mut(..info_size)) else {
        return Answer {
            status: NtStatus::BUFFER_TOO_SMALL,
            returned: info_size,
            exclusive_address: false,
        };
    };
    let info = sys::SOCKET_SECURITY_QUERY_INFO {
        SecurityProtocol: if protocol == sys::SOCKET_SECURITY_PROTOCOL_IPSEC2 {
            protocol
        } else {
            sys::SOCKET_SECURITY_PROTOCOL_IPSEC
        },
        Flags: 0,
        PeerApplicationAccessTokenHandle: 0,
        PeerMachineAccessTokenHandle: 0,
    };
    out[..4].copy_from_slice(&info.SecurityProtocol.to_ne_bytes());
    out[4..8].copy_from_slice(&info.Flags.to_ne_bytes());
    out[8..16].copy_from_slice(&info.PeerApplicationAccessTokenHandle.to_ne_bytes());
    out[16..24].copy_from_slice(&info.PeerMachineAccessTokenHandle.to_ne_bytes());
    Answer {
        status: NtStatus::SUCCESS,
        returned: info_size,
        exclusive_address: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: Phase = Phase {
        kind: Kind::Connection,
        family: AF_INET_FAMILY,
        bound: false,
        connected: false,
    };

    fn settings(protocol: u32, flags: u32) -> Vec<u8> {
        [protocol.to_ne_bytes(), flags.to_ne_bytes()].concat()
    }

    fn peer_name(protocol: u32, peer: Option<SocketAddr>, name: &str, len: u32) -> Vec<u8> {
        let mut v = vec![0u8; sys::SOCKET_PEER_TARGET_NAME_STRINGS];
        v[..4].copy_from_slice(&protocol.to_ne_bytes());
        if let Some(p) = peer {
            let (bytes, n) = sockaddr::to_bytes(p);
            v[8..8 + n].copy_from_slice(&bytes[..n]);
        }
        v[136..140].copy_from_slice(&len.to_ne_bytes());
        v.extend(name.encode_utf16().flat_map(u16::to_ne_bytes));
        v
    }

    fn status(s: &mut SecureSocket, phase: Phase, code: u32, input: Option<&[u8]>) -> NtStatus {
        s.ioctl(phase, code, input, None).status
    }

    #[test]
    fn settings_that_require_security_are_not_supported_and_clear_text_ones_are_kept() {
        let allow = sys::SOCKET_SETTINGS_ALLOW_INSECURE;
        let cases: &[(Option<Vec<u8>>, NtStatus)] = &[
            (None, NtStatus::NOT_SUPPORTED),
            (Some(settings(0, 0)), NtStatus::NOT_SUPPORTED),
            (Some(settings(1, 1 | allow)), NtStatus::NOT_SUPPORTED),
            (Some(settings(3, allow)), NtStatus::INVALID_PARAMETER),
            (Some(settings(0, 0x10 | allow)), NtStatus::INVALID_PARAMETER),
            (Some(vec![0; 5]), NtStatus::BUFFER_TOO_SMALL),
            (
                Some([settings(0, allow), vec![0; 4]].concat()),
                NtStatus::INVALID_PARAMETER,
            ),
        ];
        for (input, want) in cases {
            let mut s = SecureSocket::default();
            let got = status(&mut s, TCP, sys::SIO_SET_SECURITY, input.as_deref());
            assert_eq!(got, *want, "{input:?}");
            assert_eq!(s.settings(), None);
        }
        let mut s = SecureSocket::default();
        let answer = s.ioctl(TCP, sys::SIO_SET_SECURITY, Some(&settings(0, allow)), None);
        assert_eq!(answer.status, NtStatus::SUCCESS);
        assert!(
            answer.exclusive_address,
            "WSASetSocketSecurity takes the port exclusively"
        );
        assert_eq!(s.settings().map(|x| x.flags), Some(allow));
        // Once per socket.
        let again = status(
            &mut s,
            TCP,
            sys::SIO_SET_SECURITY,
            Some(&settings(0, allow)),
        );
        assert_eq!(again, NtStatus::INVALID_DEVICE_STATE);
    }

    #[test]
    fn settings_come_before_bind_and_connect() {
        let input = settings(0, sys::SOCKET_SETTINGS_ALLOW_INSECURE);
        let bound = Phase { bound: true, ..TCP };
        let connected = Phase {
            bound: true,
            connected: true,
            ..TCP
        };
        let mut s = SecureSocket::default();
        assert_eq!(
            status(&mut s, bound, sys::SIO_SET_SECURITY, Some(&input)),
            NtStatus::INVALID_DEVICE_STATE
        );
        assert_eq!(
            status(&mut s, connected, sys::SIO_SET_SECURITY, Some(&input)),
            NtStatus::CONNECTION_ACTIVE
        );
        let basic = Phase {
            kind: Kind::Basic,
            ..TCP
        };
        assert_eq!(
            status(&mut s, basic, sys::SIO_SET_SECURITY, Some(&input)),
            NtStatus::INVALID_DEVICE_REQUEST
        );
    }

    #[test]
    fn ipsec_settings_are_checked_field_by_field() {
        let allow = sys::SOCKET_SETTINGS_ALLOW_INSECURE;
        let ipsec = |protocol: u32, ipsec_flags: u32, lens: [u32; 3], strings: usize| {
            let mut v = vec![0u8; sys::SOCKET_SECURITY_SETTINGS_IPSEC_STRINGS + strings];
            v[..4].copy_from_slice(&protocol.to_ne_bytes());
            v[4..8].copy_from_slice(&allow.to_ne_bytes());
            v[8..12].copy_from_slice(&ipsec_flags.to_ne_bytes());
            for (i, len) in lens.iter().enumerate() {
                v[72 + 4 * i..76 + 4 * i].copy_from_slice(&len.to_ne_bytes());
            }
            v
        };
        let cases = [
            (ipsec(1, 1, [2, 4, 6], 12), NtStatus::SUCCESS),
            (ipsec(0, 1, [0, 0, 0], 0), NtStatus::INVALID_PARAMETER),
            (ipsec(1, 0x10, [0, 0, 0], 0), NtStatus::INVALID_PARAMETER),
            (ipsec(1, 0, [2, 4, 8], 12), NtStatus::INVALID_PARAMETER),
            (ipsec(1, 0, [3, 0, 0], 4), NtStatus::INVALID_PARAMETER),
            (
                ipsec(1, 0, [u32::MAX, 2, 0], 4),
                NtStatus::INVALID_PARAMETER,
            ),
        ];
        for (input, want) in cases {
            let mut s = SecureSocket::default();
            assert_eq!(
                status(&mut s, TCP, sys::SIO_SET_SECURITY, Some(&input)),
                want
            );
        }
        let mut reserved = ipsec(1, 0, [0, 0, 0], 0);
        reserved[50] = 1;
        let mut s = SecureSocket::default();
        assert_eq!(
            status(&mut s, TCP, sys::SIO_SET_SECURITY, Some(&reserved)),
            NtStatus::INVALID_PARAMETER
        );
    }

    #[test]
    fn peer_target_names_are_kept_per_peer_and_checked() {
        let udp = Phase {
            kind: Kind::Datagram,
            bound: true,
            ..TCP
        };
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let other: SocketAddr = "[::1]:9".parse().unwrap();
        let mut s = SecureSocket::default();
        let code = sys::SIO_SET_PEER_TARGET_NAME;
        let ok = peer_name(1, Some(peer), "host/a", 6);
        assert_eq!(status(&mut s, udp, code, Some(&ok)), NtStatus::SUCCESS);
        // IPSEC2 counts bytes.
        let ok2 = peer_name(2, Some(other), "host/b", 12);
        assert_eq!(status(&mut s, udp, code, Some(&ok2)), NtStatus::SUCCESS);
        let a: Vec<u16> = "host/a".encode_utf16().collect();
        assert_eq!(s.peer_target_name(Some(peer)), Some(a.as_slice()));
        let bad = [
            (
                peer_name(1, Some(peer), "host/a", 7),
                NtStatus::INVALID_PARAMETER,
            ),
            (
                peer_name(2, Some(peer), "host/a", 13),
                NtStatus::INVALID_PARAMETER,
            ),
            (peer_name(1, Some(peer), "", 0), NtStatus::INVALID_PARAMETER),
            (
                peer_name(3, Some(peer), "x", 1),
                NtStatus::INVALID_PARAMETER,
            ),
            (peer_name(1, None, "x", 1), NtStatus::INVALID_PARAMETER),
            (
                peer_name(1, Some("0.0.0.0:0".parse().unwrap()), "x", 1),
                NtStatus::INVALID_PARAMETER,
            ),
            (vec![0; 100], NtStatus::BUFFER_TOO_SMALL),
        ];
        for (input, want) in bad {
            assert_eq!(status(&mut s, udp, code, Some(&input)), want);
        }
        let long = "x".repeat(MAX_NAME_UNITS + 1);
        let too_long = peer_name(1, Some(peer), &long, u32::try_from(long.len()).unwrap());
        assert_eq!(
            status(&mut s, udp, code, Some(&too_long)),
            NtStatus::INVALID_PARAMETER
        );

        let (addr, n) = sockaddr::to_bytes(peer);
        let delete = sys::SIO_DELETE_PEER_TARGET_NAME;
        assert_eq!(
            status(&mut s, udp, delete, Some(&addr[..n])),
            NtStatus::SUCCESS
        );
        assert_eq!(s.peer_target_name(Some(peer)), None);
        assert_eq!(
            status(&mut s, udp, delete, Some(&addr[..n])),
            NtStatus::NOT_FOUND
        );
        assert_eq!(
            status(&mut s, udp, delete, Some(&addr[..4])),
            NtStatus::INVALID_PARAMETER
        );
        assert!(s.peer_target_name(Some(other)).is_some());
    }

    #[test]
    fn a_connection_names_its_peer_before_connect_only() {
        let mut s = SecureSocket::default();
        let code = sys::SIO_SET_PEER_TARGET_NAME;
        let input = peer_name(0, None, "host/server", 11);
        assert_eq!(status(&mut s, TCP, code, Some(&input)), NtStatus::SUCCESS);
        let name: Vec<u16> = "host/server".encode_utf16().collect();
        assert_eq!(s.peer_target_name(None), Some(name.as_slice()));
        let connected = Phase {
            bound: true,
            connected: true,
            ..TCP
        };
        assert_eq!(
            status(&mut s, connected, code, Some(&input)),
            NtStatus::CONNECTION_ACTIVE
        );
        let listen = Phase {
            kind: Kind::Listen,
            ..TCP
        };
        assert_eq!(
            status(&mut s, listen, code, Some(&input)),
            NtStatus::INVALID_DEVICE_REQUEST
        );
    }

    #[test]
    fn a_query_reports_an_unsecured_connection_without_tokens() {
        let connected = Phase {
            bound: true,
            connected: true,
            ..TCP
        };
        let mut template = vec![0u8; size_of::<sys::SOCKET_SECURITY_QUERY_TEMPLATE>()];
        template[136..140].copy_from_slice(&0x8u32.to_ne_bytes()); // TOKEN_QUERY
        let mut s = SecureSocket::default();
        let mut out = [0xAAu8; 24];
        let code = sys::SIO_QUERY_SECURITY;
        let a = s.ioctl(connected, code, Some(&template), Some(&mut out));
        assert_eq!((a.status, a.returned), (NtStatus::SUCCESS, 24));
        let mut want = [0u8; 24];
        want[..4].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(out, want, "IPSEC, no flags, no token handles");
        // No template on a TCP socket: the default query.
        let a = s.ioctl(connected, code, None, Some(&mut out));
        assert_eq!(a.status, NtStatus::SUCCESS);
        // Too small an output: the size needed.
        let a = s.ioctl(connected, code, None, Some(&mut [0u8; 23]));
        assert_eq!((a.status, a.returned), (NtStatus::BUFFER_TOO_SMALL, 24));
        assert_eq!(
            s.ioctl(TCP, code, None, Some(&mut out)).status,
            NtStatus::INVALID_DEVICE_STATE
        );
        assert_eq!(
            s.ioctl(connected, code, Some(&template[..100]), Some(&mut out))
                .status,
            NtStatus::BUFFER_TOO_SMALL
        );
        // A datagram socket must name the peer.
        let udp = Phase {
            kind: Kind::Datagram,
            bound: true,
            ..TCP
        };
        assert_eq!(
            s.ioctl(udp, code, Some(&template), Some(&mut out)).status,
            NtStatus::INVALID_PARAMETER
        );
        let (addr, n) = sockaddr::to_bytes("127.0.0.1:7".parse().unwrap());
        template[8..8 + n].copy_from_slice(&addr[..n]);
        assert_eq!(
            s.ioctl(udp, code, Some(&template), Some(&mut out)).status,
            NtStatus::SUCCESS
        );
    }
}
