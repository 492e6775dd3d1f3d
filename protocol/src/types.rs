//! Typed forms of the protocol's identifiers and enumerations.

use core::fmt;
use core::str::FromStr;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{
    ProtocolError, KIND_TCP_CONNECTION, KIND_TCP_LISTENER, KIND_UDP, OPT_EXCLUSIVEADDRUSE,
    OPT_IPV6_V6ONLY, OPT_KEEPALIVE, OPT_NODELAY, OPT_RCVBUF, OPT_REUSEADDR, OPT_SNDBUF,
    SECURE_ALLOW_INSECURE, SECURE_GUARANTEE_ENCRYPTION, SECURE_INFO_ENCRYPTED,
    SECURE_INFO_IMPERSONATED, SECURE_INFO_SECURED, SECURE_PROTOCOL_DEFAULT, SECURE_PROTOCOL_IPSEC,
    SECURE_PROTOCOL_IPSEC2, SERVICE_DISCARD, SERVICE_ECHO, SERVICE_NONE, SERVICE_SOURCE,
    STATE_BOUND, STATE_BROKEN, STATE_CONNECTED, STATE_DISCONNECTED, STATE_LISTENING,
    STATE_PEER_CLOSED,
};

/// An endpoint's id, assigned by the driver from a counter starting at 1 and never reused
/// while the driver is loaded. 0 is never a valid id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

impl EndpointId {
    /// The id, or `None` for the never-valid 0.
    #[must_use]
    pub const fn new(value: u64) -> Option<Self> {
        if value == 0 {
            None
        } else {
            Some(Self(value))
        }
    }

    /// The id, or [`ProtocolError::InvalidParameter`] for 0.
    pub(crate) const fn checked(value: u64) -> Result<Self, ProtocolError> {
        match Self::new(value) {
            Some(id) => Ok(id),
            None => Err(ProtocolError::InvalidParameter),
        }
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for EndpointId {
    type Err = ProtocolError;

    /// Parses a decimal id; 0 and non-numbers are [`ProtocolError::InvalidParameter`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value = text
            .parse::<u64>()
            .map_err(|_| ProtocolError::InvalidParameter)?;
        Self::checked(value)
    }
}

/// Declares a small enum with its wire value and display name.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:path, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The value on the wire.
            #[must_use]
            pub const fn as_u32(self) -> u32 {
                match self {
                    $(Self::$variant => $value,)*
                }
            }

            /// The variant for a wire value, or `None` for an unknown one.
            #[must_use]
            pub const fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The lowercase name used by `wskctl` (tables, JSON and arguments).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The variant whose [`name`](Self::name) is `text`.
            #[must_use]
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum! {
    /// What an endpoint is.
    EndpointKind {
        /// A connected TCP socket.
        TcpConnection = KIND_TCP_CONNECTION, "tcp";
        /// A listening TCP socket with its in-kernel service.
        TcpListener = KIND_TCP_LISTENER, "tcp-listener";
        /// A bound UDP socket: user-driven or running the UDP echo service.
        Udp = KIND_UDP, "udp";
    }
}

wire_enum! {
    /// Where an endpoint is in its life.
    EndpointState {
        /// A connection that can send and receive.
        Connected = STATE_CONNECTED, "connected";
        /// A listener accepting connections.
        Listening = STATE_LISTENING, "listening";
        /// A connection whose peer closed its side (receives return EOF).
        PeerClosed = STATE_PEER_CLOSED, "peer-closed";
        /// An endpoint whose socket failed; only closing it is useful.
        Broken = STATE_BROKEN, "broken";
        /// A UDP socket bound to its local address.
        Bound = STATE_BOUND, "bound";
        /// A connection after DISCONNECT: it no longer sends (graceful) or is reset
        /// (abortive); only receiving what is left and closing it are useful.
        Disconnected = STATE_DISCONNECTED, "disconnected";
    }
}

wire_enum! {
    /// The in-kernel service a listener runs on each accepted connection.
    ///
    /// LIST reports a UDP endpoint's [`UdpService`] with the same values.
    Service {
        /// No service (connections are accepted and closed).
        None = SERVICE_NONE, "none";
        /// Echo: everything received is sent back.
        Echo = SERVICE_ECHO, "echo";
        /// Discard: everything received is dropped (and counted).
        Discard = SERVICE_DISCARD, "discard";
        /// Source: sends [`crate::source_byte`]s as fast as the peer takes them, until the
        /// peer closes.
        Source = SERVICE_SOURCE, "source";
    }
}

wire_enum! {
    /// What a UDP socket (`UDP_BIND`) does with its datagrams.
    UdpService {
        /// Nothing by itself: the caller drives it with `SEND_TO` and `RECV_FROM`.
        None = SERVICE_NONE, "none";
        /// Echo: every datagram is sent back to its sender.
        Echo = SERVICE_ECHO, "echo";
    }
}

impl From<UdpService> for Service {
    /// The same wire value (LIST's `service` field for a UDP endpoint).
    fn from(service: UdpService) -> Self {
        match service {
            UdpService::None => Self::None,
            UdpService::Echo => Self::Echo,
        }
    }
}

wire_enum! {
    /// A socket option of `SOCKET_OPTION`, named after its Winsock option.
    OptionId {
        /// `SO_KEEPALIVE` (bool; get and set).
        Keepalive = OPT_KEEPALIVE, "keepalive";
        /// `TCP_NODELAY` (bool; get and set).
        NoDelay = OPT_NODELAY, "nodelay";
        /// `SO_RCVBUF` (bytes; get and set).
        RcvBuf = OPT_RCVBUF, "rcvbuf";
        /// `SO_SNDBUF` (bytes; get and set).
        SndBuf = OPT_SNDBUF, "sndbuf";
        /// `SO_REUSEADDR` (bool; get only: set it at bind time with [`crate::FLAG_REUSEADDR`]).
        ReuseAddr = OPT_REUSEADDR, "reuseaddr";
        /// `SO_EXCLUSIVEADDRUSE` (bool; get only: set it at bind time with
        /// [`crate::FLAG_EXCLUSIVEADDRUSE`]).
        ExclusiveAddrUse = OPT_EXCLUSIVEADDRUSE, "exclusiveaddruse";
        /// `IPV6_V6ONLY` (bool; get only: set it at bind time with [`crate::FLAG_V6ONLY`] or
        /// [`crate::FLAG_DUAL_STACK`]).
        Ipv6V6Only = OPT_IPV6_V6ONLY, "ipv6-v6only";
    }
}

impl OptionId {
    /// Every option, in wire order.
    pub const ALL: [Self; 7] = [
        Self::Keepalive,
        Self::NoDelay,
        Self::RcvBuf,
        Self::SndBuf,
        Self::ReuseAddr,
        Self::ExclusiveAddrUse,
        Self::Ipv6V6Only,
    ];

    /// Whether `SOCKET_OPTION` may set it (the others are fixed when the socket is bound).
    #[must_use]
    pub const fn is_settable(self) -> bool {
        matches!(
            self,
            Self::Keepalive | Self::NoDelay | Self::RcvBuf | Self::SndBuf
        )
    }

    /// Whether its value is a boolean (0 or 1) rather than a byte count.
    #[must_use]
    pub const fn is_bool(self) -> bool {
        !matches!(self, Self::RcvBuf | Self::SndBuf)
    }

    /// Whether `value` is one this option can be set to: 0 or 1 for a boolean, at most
    /// [`crate::MAX_OPTION_VALUE`] for a size. Says nothing about get-only options.
    #[must_use]
    pub const fn accepts(self, value: u32) -> bool {
        if self.is_bool() {
            value <= 1
        } else {
            value <= crate::MAX_OPTION_VALUE
        }
    }
}

/// Driver-wide counters since the driver loaded (the STATS reply, which carries this layout
/// after its header).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Stats {
    /// Endpoints open now.
    pub endpoints_open: u32,
    /// The most endpoints open at once.
    pub endpoints_peak: u32,
    /// Endpoints opened in all.
    pub endpoints_opened: u64,
    /// Bytes sent by all endpoints and services.
    pub bytes_sent: u64,
    /// Bytes received by all endpoints and services.
    pub bytes_received: u64,
    /// Connections accepted and served by all listeners.
    pub connections_served: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Milliseconds since the driver loaded.
    pub uptime_ms: u64,
    /// Connections in-kernel listeners closed on arrival because they were serving (or
    /// queueing) their `max_connections` already; also counted in `errors`.
    pub connections_refused: u64,
    /// The driver's limits, set at load from its registry parameters: endpoints open at once.
    pub max_endpoints: u32,
    /// The most connections one listener may serve at once (`MaxConnectionsPerListener`).
    pub max_connections_per_listener: u32,
    /// Per-handle quota: endpoints owned (`EndpointsPerHandle`).
    pub quota_endpoints: u32,
    /// Per-handle quota: direct-I/O requests pended (`PendedRequestsPerHandle`).
    pub quota_pended: u32,
    /// Per-handle quota: bytes of user memory locked (`LockedBytesPerHandle`).
    pub quota_locked_bytes: u64,
}

/// What the driver's WSK library holds now (the HELD reply): after every endpoint it opened
/// is closed, each count is back where it was before (else something leaked). The HELD reply
/// carries this layout after its header.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Held {
    /// Nonpaged pool allocations not freed.
    pub pool_allocations: u64,
    /// Bytes of those allocations.
    pub pool_bytes: u64,
    /// IRPs not freed.
    pub irps: u64,
    /// MDLs not freed.
    pub mdls: u64,
    /// Provider sockets not closed.
    pub sockets: u64,
    /// Work items not freed.
    pub work_items: u64,
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{EndpointId, EndpointKind, EndpointState, OptionId, Service, UdpService};
    use crate::ProtocolError;
    use std::string::ToString;

    #[test]
    fn endpoint_id_rejects_zero() {
        assert_eq!(EndpointId::new(0), None);
        assert_eq!(EndpointId::new(3), Some(EndpointId(3)));
        assert_eq!(
            "0".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            "-1".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            "x".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!("42".parse::<EndpointId>(), Ok(EndpointId(42)));
        assert_eq!(
            EndpointId(18_446_744_073_709_551_615).to_string(),
            "18446744073709551615"
        );
    }

    #[test]
    fn enums_round_trip() {
        for (kind, value) in [
            (EndpointKind::TcpConnection, 1),
            (EndpointKind::TcpListener, 2),
            (EndpointKind::Udp, 3),
        ] {
            assert_eq!(kind.as_u32(), value);
            assert_eq!(EndpointKind::from_u32(kind.as_u32()), Some(kind));
            assert_eq!(EndpointKind::from_name(kind.name()), Some(kind));
        }
        for (state, value) in [
            (EndpointState::Connected, 1),
            (EndpointState::Listening, 2),
            (EndpointState::PeerClosed, 3),
            (EndpointState::Broken, 4),
            (EndpointState::Bound, 5),
            (EndpointState::Disconnected, 6),
        ] {
            assert_eq!(state.as_u32(), value);
            assert_eq!(EndpointState::from_u32(state.as_u32()), Some(state));
            assert_eq!(EndpointState::from_name(&state.to_string()), Some(state));
        }
        for (service, value) in [
            (Service::None, 0),
            (Service::Echo, 1),
            (Service::Discard, 2),
            (Service::Source, 3),
        ] {
            assert_eq!(service.as_u32(), value);
            assert_eq!(Service::from_u32(value), Some(service));
            assert_eq!(Service::from_name(service.name()), Some(service));
        }
        for (service, value) in [(UdpService::None, 0), (UdpService::Echo, 1)] {
            assert_eq!(service.as_u32(), value);
            assert_eq!(UdpService::from_u32(value), Some(service));
            assert_eq!(Service::from(service).as_u32(), value);
            assert_eq!(UdpService::from_name(service.name()), Some(service));
        }
        assert_eq!(Service::from_u32(4), None);
        assert_eq!(UdpService::from_u32(2), None);
        assert_eq!(EndpointKind::from_u32(0), None);
        assert_eq!(EndpointKind::from_u32(4), None);
        assert_eq!(EndpointState::from_u32(0), None);
        assert_eq!(EndpointState::from_u32(7), None);
        assert_eq!(Service::from_name("echo"), Some(Service::Echo));
        assert_eq!(Service::from_name("ECHO"), None);
        assert_eq!(EndpointKind::Udp.to_string(), "udp");
    }

    #[test]
    fn option_ids() {
        for (index, option) in OptionId::ALL.iter().enumerate() {
            assert_eq!(option.as_u32(), u32::try_from(index).unwrap() + 1);
            assert_eq!(OptionId::from_u32(option.as_u32()), Some(*option));
            assert_eq!(OptionId::from_name(option.name()), Some(*option));
        }
        assert_eq!(OptionId::from_u32(0), None);
        assert_eq!(OptionId::from_u32(8), None);
        let settable: std::vec::Vec<_> = OptionId::ALL
            .iter()
            .filter(|option| option.is_settable())
            .copied()
            .collect();
        assert_eq!(
            settable,
            [
                OptionId::Keepalive,
                OptionId::NoDelay,
                OptionId::RcvBuf,
                OptionId::SndBuf
            ]
        );
        assert!(OptionId::Keepalive.is_bool() && OptionId::Ipv6V6Only.is_bool());
        assert!(!OptionId::RcvBuf.is_bool() && !OptionId::SndBuf.is_bool());
        assert!(OptionId::NoDelay.accepts(1) && !OptionId::NoDelay.accepts(2));
        assert!(OptionId::SndBuf.accepts(0) && OptionId::SndBuf.accepts(0x7FFF_FFFF));
        assert!(!OptionId::SndBuf.accepts(0x8000_0000));
        assert_eq!(OptionId::Ipv6V6Only.to_string(), "ipv6-v6only");
    }
}

wire_enum! {
    /// The security protocol of Winsock's secure socket extensions
    /// (`SOCKET_SECURITY_PROTOCOL`), in `TCP_CONNECT`, `TCP_LISTEN`, `UDP_BIND`,
    /// `SET_PEER_TARGET_NAME` and the `QUERY_SECURITY` reply.
    SecureProtocol {
        /// `SOCKET_SECURITY_PROTOCOL_DEFAULT`: what the administrator configured (IPsec).
        Default = SECURE_PROTOCOL_DEFAULT, "default";
        /// `SOCKET_SECURITY_PROTOCOL_IPSEC`.
        Ipsec = SECURE_PROTOCOL_IPSEC, "ipsec";
        /// `SOCKET_SECURITY_PROTOCOL_IPSEC2` (Windows 7 and later).
        Ipsec2 = SECURE_PROTOCOL_IPSEC2, "ipsec2";
    }
}

/// Validated secure socket settings (`SIO_SET_SECURITY` with `SOCKET_SECURITY_SETTINGS`) of a
/// `TCP_CONNECT`, `TCP_LISTEN` or `UDP_BIND` with [`crate::FLAG_SECURE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketSecurity {
    /// The protocol; [`SecureProtocol::Default`] is what Microsoft recommends.
    pub protocol: SecureProtocol,
    /// [`SECURE_GUARANTEE_ENCRYPTION`]: no packet leaves unencrypted.
    pub guarantee_encryption: bool,
    /// [`SECURE_ALLOW_INSECURE`]: clear text when security cannot be negotiated.
    pub allow_insecure: bool,
}

impl SocketSecurity {
    /// The wire's `settings` bits.
    #[must_use]
    pub const fn settings(self) -> u32 {
        let mut bits = 0;
        if self.guarantee_encryption {
            bits |= SECURE_GUARANTEE_ENCRYPTION;
        }
        if self.allow_insecure {
            bits |= SECURE_ALLOW_INSECURE;
        }
        bits
    }
}

/// What `QUERY_SECURITY` reports (`SOCKET_SECURITY_QUERY_INFO` without token handles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SecurityQuery {
    /// The protocol that secures the traffic (the raw value when it is not one of
    /// [`SecureProtocol`]'s: a later Windows may report more).
    pub protocol: Result<SecureProtocol, u32>,
    /// The `SECURE_INFO_*` bits.
    pub flags: u32,
}

impl SecurityQuery {
    /// [`SECURE_INFO_SECURED`]: the traffic is authenticated.
    #[must_use]
    pub const fn is_secured(&self) -> bool {
        self.flags & SECURE_INFO_SECURED != 0
    }

    /// [`SECURE_INFO_ENCRYPTED`]: the traffic is encrypted.
    #[must_use]
    pub const fn is_encrypted(&self) -> bool {
        self.flags & SECURE_INFO_ENCRYPTED != 0
    }

    /// [`SECURE_INFO_IMPERSONATED`]: the peer's token was impersonated.
    #[must_use]
    pub const fn is_impersonated(&self) -> bool {
        self.flags & SECURE_INFO_IMPERSONATED != 0
    }
}
