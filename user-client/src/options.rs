//! The typed options of the device's calls: how long a new endpoint lives
//! ([`Lifetime`]), how a connection is shut down ([`DisconnectMode`]), and the optional
//! parts of opening a TCP connection, a TCP listener or a UDP socket. Timeouts are
//! `Option<Duration>` throughout: `None` is the driver's default (10 s).

use std::net::SocketAddr;
use std::time::Duration;

use wskrs_protocol::{BindFlags, ConnectOptions, ListenOptions, SocketSecurity};

/// How long a new endpoint lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// It closes with the handle that opened it (the default).
    #[default]
    Handle,
    /// It outlives the handle (`FLAG_DETACH`) until a CLOSE, from any handle, ends it.
    Detached,
}

impl Lifetime {
    /// [`Lifetime::Detached`] when `detach`, else [`Lifetime::Handle`].
    #[must_use]
    pub const fn detached_if(detach: bool) -> Self {
        if detach {
            Self::Detached
        } else {
            Self::Handle
        }
    }

    /// Whether the endpoint outlives its handle (the wire's `FLAG_DETACH`).
    #[must_use]
    pub const fn is_detached(self) -> bool {
        matches!(self, Self::Detached)
    }
}

/// How [`Device::disconnect`](crate::Device::disconnect) shuts a connection down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DisconnectMode {
    /// Shut down the send direction: the peer reads end of stream, receiving goes on
    /// (`std::net::Shutdown::Write`).
    #[default]
    Graceful,
    /// Reset the connection (`std::net::Shutdown::Both` on a kernel stream).
    Abortive,
}

impl DisconnectMode {
    /// Whether this is a reset (the wire's `DISCONNECT_ABORTIVE`).
    #[must_use]
    pub const fn is_abortive(self) -> bool {
        matches!(self, Self::Abortive)
    }
}

/// The optional parts of [`Device::tcp_connect`](crate::Device::tcp_connect); the default
/// connects from any local address within the driver's default timeout, without secure
/// socket settings, and the connection closes with the handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpConnectOptions<'a> {
    /// The local address to bind first; `None` for any address and port.
    pub local: Option<SocketAddr>,
    /// How long the connection lives.
    pub lifetime: Lifetime,
    /// How long connecting may take; `None` for the driver's default (10 s).
    pub timeout: Option<Duration>,
    /// Options applied to the socket before it is bound.
    pub bind: BindFlags,
    /// Winsock's secure socket settings (`SIO_SET_SECURITY`), applied before bind; `None`
    /// for none.
    pub security: Option<SocketSecurity>,
    /// The peer's target name for the settings' protocol (`SIO_SET_PEER_TARGET_NAME` before
    /// connect; 1 to 127 bytes, no NUL); only with `security`.
    pub peer_target_name: Option<&'a str>,
}

impl<'a> TcpConnectOptions<'a> {
    /// The request's encoding of these options (0 stands for the driver's timeout).
    pub(crate) fn wire(&self) -> ConnectOptions<'a> {
        ConnectOptions {
            local: self.local,
            detach: self.lifetime.is_detached(),
            timeout_ms: wire_timeout(self.timeout),
            bind: self.bind,
            security: self.security,
            peer_target_name: self.peer_target_name,
        }
    }
}

/// The optional parts of [`Device::tcp_listen`](crate::Device::tcp_listen); the default is
/// a listener with the driver's backlog and connection limit, the provider's security
/// descriptor, closed with the handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpListenOptions<'a> {
    /// The listen backlog; `None` lets the driver choose.
    pub backlog: Option<u32>,
    /// Connections served at once, at most [`wskrs_protocol::MAX_CONNECTIONS`]; `None` for
    /// the driver's default ([`wskrs_protocol::DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: Option<u32>,
    /// How long the listener lives.
    pub lifetime: Lifetime,
    /// Options applied to the socket before it is bound.
    pub bind: BindFlags,
    /// The listening socket's security descriptor as SDDL (at most 256 bytes, no NUL);
    /// `None` for the provider's default.
    pub sddl: Option<&'a str>,
    /// Winsock's secure socket settings (`SIO_SET_SECURITY`), applied before bind; `None`
    /// for none.
    pub security: Option<SocketSecurity>,
}

impl<'a> TcpListenOptions<'a> {
    /// The request's encoding of these options (0 stands for the driver's choice).
    pub(crate) const fn wire(&self) -> ListenOptions<'a> {
        ListenOptions {
            backlog: match self.backlog {
                Some(backlog) => backlog,
                None => 0,
            },
            detach: self.lifetime.is_detached(),
            max_connections: match self.max_connections {
                Some(limit) => limit,
                None => 0,
            },
            bind: self.bind,
            sddl: self.sddl,
            security: self.security,
        }
    }
}

/// The optional parts of [`Device::udp_bind`](crate::Device::udp_bind); the default is a
/// socket bound with the provider's defaults that closes with the handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpBindOptions<'a> {
    /// How long the socket lives.
    pub lifetime: Lifetime,
    /// Options applied to the socket before it is bound.
    pub bind: BindFlags,
    /// The socket's security descriptor as SDDL (at most 256 bytes, no NUL); `None` for
    /// the provider's default.
    pub sddl: Option<&'a str>,
    /// Winsock's secure socket settings (`SIO_SET_SECURITY`), applied before bind; `None`
    /// for none.
    pub security: Option<SocketSecurity>,
}

impl<'a> UdpBindOptions<'a> {
    /// The request's encoding of these options.
    pub(crate) const fn wire(&self) -> wskrs_protocol::UdpBindOptions<'a> {
        wskrs_protocol::UdpBindOptions {
            detach: self.lifetime.is_detached(),
            bind: self.bind,
            sddl: self.sddl,
            security: self.security,
        }
    }
}

/// A request's `timeout_ms`: `None` is 0 (the driver's default); a duration is rounded up
/// to whole milliseconds, at least 1 (a zero duration waits as briefly as the driver can)
/// and at most `u32::MAX`.
pub(crate) fn wire_timeout(timeout: Option<Duration>) -> u32 {
    timeout.map_or(0, |timeout| {
        let ms = timeout.as_nanos().div_ceil(1_000_000).max(1);
        u32::try_from(ms).unwrap_or(u32::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::{wire_timeout, DisconnectMode, Lifetime, TcpListenOptions};
    use std::time::Duration;

    #[test]
    fn timeouts_round_up_to_milliseconds_and_none_is_the_default() {
        assert_eq!(wire_timeout(None), 0);
        assert_eq!(wire_timeout(Some(Duration::ZERO)), 1);
        assert_eq!(wire_timeout(Some(Duration::from_nanos(1))), 1);
        assert_eq!(wire_timeout(Some(Duration::from_micros(1500))), 2);
        assert_eq!(wire_timeout(Some(Duration::from_secs(30))), 30_000);
        assert_eq!(wire_timeout(Some(Duration::MAX)), u32::MAX);
    }

    #[test]
    fn flags_and_limits_reach_the_wire() {
        assert_eq!(Lifetime::default(), Lifetime::Handle);
        assert_eq!(Lifetime::detached_if(true), Lifetime::Detached);
        assert!(!Lifetime::detached_if(false).is_detached());
        assert_eq!(DisconnectMode::default(), DisconnectMode::Graceful);
        assert!(DisconnectMode::Abortive.is_abortive());
        let wire = TcpListenOptions::default().wire();
        assert_eq!(
            (wire.backlog, wire.max_connections, wire.detach),
            (0, 0, false)
        );
        let wire = TcpListenOptions {
            backlog: Some(64),
            max_connections: Some(8),
            lifetime: Lifetime::Detached,
            sddl: Some("D:P(A;;GA;;;SY)"),
            ..TcpListenOptions::default()
        }
        .wire();
        assert_eq!(
            (wire.backlog, wire.max_connections, wire.detach),
            (64, 8, true)
        );
        assert_eq!(wire.sddl, Some("D:P(A;;GA;;;SY)"));
    }
}
