//! Winsock's secure socket extensions on WSK sockets: security settings (`SIO_SET_SECURITY`),
//! peer target names (`SIO_SET_PEER_TARGET_NAME`, `SIO_DELETE_PEER_TARGET_NAME`) and the
//! security of a connection (`SIO_QUERY_SECURITY`), sent through `WskControlSocket`
//! (`WskIoctl`), which passes them to the transport as the WSK IOCTL list allows ("the
//! underlying network protocol might support additional socket I/O control operations").
//!
//! When each applies (the `WSASetSocketSecurity` family's pages):
//! - settings: before bind and connect, once per socket — [`crate::BindOptions::socket_security`];
//! - a connection's peer target name: before connect —
//!   [`crate::BindOptions::peer_target_name`]; a datagram socket's: before the first send to
//!   that peer — [`crate::DatagramSocket::set_peer_target_name`], removed with
//!   [`crate::DatagramSocket::delete_peer_target_name`];
//! - the query: after connect or accept ([`crate::ConnectedSocket::query_security`]), or
//!   after traffic with a datagram peer ([`crate::DatagramSocket::query_security`]).
//!
//! Peer tokens: the query never asks for the peer's application and machine token handles
//! (`PeerTokenAccessMask` 0). A handle the transport opened would land in the handle table of
//! whatever process the calling thread runs in, and only that process context could close it;
//! a library that cannot know the caller's context does not create one. `SocketOptions::ioctl_raw`
//! remains for a driver that controls its context.
//!
//! `PeerTargetNameStringLen`: its page says bytes; Microsoft's own sample ("Using Secure
//! Socket Extensions") passes UTF-16 units with `SOCKET_SECURITY_PROTOCOL_IPSEC`, and
//! NtApiDotNet, written against Windows' behaviour, passes bytes only for IPSEC2. This module
//! writes units for `Default`/`Ipsec` and bytes for `Ipsec2`, and the project's providers read
//! it the same way (`wskrs_provider_model::secure`).
//!
//! Every call here runs at PASSIVE_LEVEL.

use core::net::SocketAddr;

use wsk_bindings as sys;

use crate::category::Connected;
use crate::options::OPTION_TIMEOUT;
use crate::socket::{self, Control, SocketCore, MAX_CONTROL};
use crate::{ConnectedSocket, Error, NtStatus, Result, SockAddr};

/// A `SOCKET_SECURITY_PROTOCOL` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// `SOCKET_SECURITY_PROTOCOL_DEFAULT`: whatever the administrator configured (IPsec today).
    #[default]
    Default,
    /// `SOCKET_SECURITY_PROTOCOL_IPSEC`.
    Ipsec,
    /// `SOCKET_SECURITY_PROTOCOL_IPSEC2` (Windows 7 and later).
    Ipsec2,
}

impl SecurityProtocol {
    /// The `SOCKET_SECURITY_PROTOCOL` value.
    #[must_use]
    pub const fn raw(self) -> u32 {
        match self {
            Self::Default => sys::SOCKET_SECURITY_PROTOCOL_DEFAULT,
            Self::Ipsec => sys::SOCKET_SECURITY_PROTOCOL_IPSEC,
            Self::Ipsec2 => sys::SOCKET_SECURITY_PROTOCOL_IPSEC2,
        }
    }
}

/// IPsec-specific settings (`SOCKET_SECURITY_SETTINGS_IPSEC`); the protocol must then be
/// [`SecurityProtocol::Ipsec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct IpsecSettings<'a> {
    /// `SOCKET_SETTINGS_IPSEC_*` flags.
    pub ipsec_flags: u32,
    /// WFP key of a custom AuthIP main-mode provider context (all zero: none).
    pub main_mode_policy: [u8; 16],
    /// WFP key of a custom AuthIP quick-mode provider context (all zero: none).
    pub quick_mode_policy: [u8; 16],
    /// User name (UTF-16, e.g. from [`crate::utf16!`]).
    pub user_name: &'a [u16],
    /// Domain name.
    pub domain_name: &'a [u16],
    /// Password.
    pub password: &'a [u16],
}

/// What `SIO_SET_SECURITY` applies: `SOCKET_SECURITY_SETTINGS`, or the IPsec form.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecuritySettings<'a> {
    /// The protocol; [`SecurityProtocol::Default`] is what the pages recommend.
    pub protocol: SecurityProtocol,
    /// `SOCKET_SETTINGS_GUARANTEE_ENCRYPTION`: no packet leaves unencrypted.
    pub guarantee_encryption: bool,
    /// `SOCKET_SETTINGS_ALLOW_INSECURE`: clear text when security cannot be negotiated.
    pub allow_insecure: bool,
    /// The IPsec-specific part, if any.
    pub ipsec: Option<IpsecSettings<'a>>,
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<()> {
    let end = at.checked_add(bytes.len());
    let dst = end
        .and_then(|end| out.get_mut(at..end))
        .ok_or(Error::new(NtStatus::INVALID_BUFFER_SIZE))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

fn put_units(out: &mut [u8], mut at: usize, units: &[u16]) -> Result<usize> {
    for unit in units {
        put(out, at, &unit.to_ne_bytes())?;
        at = at.saturating_add(2);
    }
    Ok(at)
}

fn byte_len(units: &[u16]) -> Result<u32> {
    units
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Error::new(NtStatus::INVALID_BUFFER_SIZE))
}

impl SecuritySettings<'_> {
    /// The `SOCKET_SETTINGS_*` flags.
    #[must_use]
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.guarantee_encryption {
            flags |= sys::SOCKET_SETTINGS_GUARANTEE_ENCRYPTION;
        }
        if self.allow_insecure {
            flags |= sys::SOCKET_SETTINGS_ALLOW_INSECURE;
        }
        flags
    }

    /// Writes the structure into `out`; returns its length. IRQL: any.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for IPsec settings with another protocol;
    /// `STATUS_INVALID_BUFFER_SIZE` when the strings do not fit `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        out.fill(0);
        put(out, 0, &self.protocol.raw().to_ne_bytes())?;
        put(out, 4, &self.flags().to_ne_bytes())?;
        let Some(ipsec) = &self.ipsec else {
            return Ok(size_of::<sys::SOCKET_SECURITY_SETTINGS>());
        };
        if self.protocol != SecurityProtocol::Ipsec {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        put(out, 8, &ipsec.ipsec_flags.to_ne_bytes())?;
        put(out, 12, &ipsec.main_mode_policy)?;
        put(out, 28, &ipsec.quick_mode_policy)?;
        let strings = [ipsec.user_name, ipsec.domain_name, ipsec.password];
        for (at, s) in [72, 76, 80].into_iter().zip(strings) {
            put(out, at, &byte_len(s)?.to_ne_bytes())?;
        }
        let mut end = sys::SOCKET_SECURITY_SETTINGS_IPSEC_STRINGS;
        for s in strings {
            end = put_units(out, end, s)?;
        }
        Ok(end)
    }
}

/// A peer target name (`SOCKET_PEER_TARGET_NAME`): the service principal name the security
/// protocol authenticates the peer as.
#[derive(Clone, Copy, Debug)]
pub struct PeerTargetName<'a> {
    /// The protocol the name is for.
    pub protocol: SecurityProtocol,
    /// The peer: required on datagram sockets, ignored on connection-oriented ones.
    pub peer: Option<SocketAddr>,
    /// The name, UTF-16 (e.g. `wsk::utf16!("host/server.example")`), at most
    /// [`PeerTargetName::MAX_UNITS`] units.
    pub name: &'a [u16],
}

impl PeerTargetName<'_> {
    /// The longest name one request carries (the request's buffer, less the structure).
    pub const MAX_UNITS: usize = (MAX_CONTROL - sys::SOCKET_PEER_TARGET_NAME_STRINGS) / 2;

    /// Writes the structure into `out`; returns its length. IRQL: any.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an empty name; `STATUS_INVALID_BUFFER_SIZE` for one
    /// longer than `out` holds.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        if self.name.is_empty() {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        out.fill(0);
        put(out, 0, &self.protocol.raw().to_ne_bytes())?;
        if let Some(peer) = self.peer {
            put(out, 8, SockAddr::from(peer).as_bytes())?;
        }
        let len = if self.protocol == SecurityProtocol::Ipsec2 {
            byte_len(self.name)?
        } else {
            u32::try_from(self.name.len()).map_err(|_| Error::new(NtStatus::INVALID_BUFFER_SIZE))?
        };
        put(out, 136, &len.to_ne_bytes())?;
        put_units(out, sys::SOCKET_PEER_TARGET_NAME_STRINGS, self.name)
    }
}

/// `SOCKET_SECURITY_QUERY_TEMPLATE` for `peer` (none on a connected TCP socket), asking for
/// no token handle (see the module documentation).
pub(crate) fn query_template(peer: Option<SocketAddr>) -> [u8; 144] {
    let mut out = [0u8; size_of::<sys::SOCKET_SECURITY_QUERY_TEMPLATE>()];
    if let (Some(peer), Some(dst)) = (peer, out.get_mut(8..136)) {
        let addr = SockAddr::from(peer);
        let bytes = addr.as_bytes();
        if let Some(dst) = dst.get_mut(..bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    out
}

/// What `SIO_QUERY_SECURITY` reported (`SOCKET_SECURITY_QUERY_INFO`, without token handles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecurityInfo {
    /// The `SOCKET_SECURITY_PROTOCOL` that secures the traffic.
    pub protocol: u32,
    /// `SOCKET_INFO_CONNECTION_*` flags.
    pub flags: u32,
}

impl SecurityInfo {
    /// The bytes the provider wrote. IRQL: any.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let word = |at: usize| {
            bytes
                .get(at..at.saturating_add(4))
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
        };
        match (word(0), word(4)) {
            (Some(protocol), Some(flags)) if bytes.len() >= 24 => Ok(Self { protocol, flags }),
            _ => Err(Error::new(NtStatus::INVALID_BUFFER_SIZE)),
        }
    }

    /// `SOCKET_INFO_CONNECTION_SECURED`: the traffic is authenticated.
    #[must_use]
    pub fn is_secured(&self) -> bool {
        self.flags & sys::SOCKET_INFO_CONNECTION_SECURED != 0
    }

    /// `SOCKET_INFO_CONNECTION_ENCRYPTED`: the traffic is encrypted.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        self.flags & sys::SOCKET_INFO_CONNECTION_ENCRYPTED != 0
    }
}

/// `SIO_QUERY_SECURITY` on `core` with `template` (empty: none).
fn query(core: &mut SocketCore, template: &[u8]) -> Result<SecurityInfo> {
    let mut info = [0u8; size_of::<sys::SOCKET_SECURITY_QUERY_INFO>()];
    let request = Control::ioctl(sys::SIO_QUERY_SECURITY);
    let n = socket::control(
        &core.raw,
        &mut core.blocking,
        request,
        template,
        &mut info,
        OPTION_TIMEOUT,
    )?;
    SecurityInfo::decode(info.get(..n).unwrap_or_default())
}

impl<C: Connected> ConnectedSocket<C> {
    /// The security of this connection (`SIO_QUERY_SECURITY` without a template), after
    /// connect or accept; never the peer's token handles (module documentation).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` where it has no `WskControlSocket`).
    pub fn query_security(&mut self) -> Result<SecurityInfo> {
        query(&mut self.core, &[])
    }
}

impl crate::DatagramSocket {
    /// Names `target.peer` for the security protocol (`SIO_SET_PEER_TARGET_NAME`), before the
    /// first datagram to it. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` without a peer or with an empty name,
    /// `STATUS_INVALID_BUFFER_SIZE` for a name over [`PeerTargetName::MAX_UNITS`], or the
    /// provider's status.
    pub fn set_peer_target_name(&mut self, target: &PeerTargetName<'_>) -> Result<()> {
        if target.peer.is_none() {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        let mut buffer = [0u8; MAX_CONTROL];
        let len = target.encode(&mut buffer)?;
        let request = Control::ioctl(sys::SIO_SET_PEER_TARGET_NAME);
        let input = buffer.get(..len).unwrap_or_default();
        let core = &mut self.core;
        socket::control(
            &core.raw,
            &mut core.blocking,
            request,
            input,
            &mut [],
            OPTION_TIMEOUT,
        )
        .map(|_| ())
    }

    /// Forgets the peer target name of `peer` (`SIO_DELETE_PEER_TARGET_NAME`).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_FOUND` from the project's providers for a peer
    /// without a name).
    pub fn delete_peer_target_name(&mut self, peer: SocketAddr) -> Result<()> {
        let addr = SockAddr::from(peer);
        let request = Control::ioctl(sys::SIO_DELETE_PEER_TARGET_NAME);
        let core = &mut self.core;
        socket::control(
            &core.raw,
            &mut core.blocking,
            request,
            addr.as_bytes(),
            &mut [],
            OPTION_TIMEOUT,
        )
        .map(|_| ())
    }

    /// The security of the traffic with `peer` (`SIO_QUERY_SECURITY`), after a datagram was
    /// sent to or received from it. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status.
    pub fn query_security(&mut self, peer: SocketAddr) -> Result<SecurityInfo> {
        query(&mut self.core, &query_template(Some(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_encode_as_mstcpip_lays_them_out() {
        let mut out = [0xAAu8; MAX_CONTROL];
        let plain = SecuritySettings {
            allow_insecure: true,
            ..SecuritySettings::default()
        };
        assert_eq!(plain.encode(&mut out), Ok(8));
        assert_eq!(out[..8], [0, 0, 0, 0, 2, 0, 0, 0]);
        let user = [u16::from(b'u'); 2];
        let ipsec = SecuritySettings {
            protocol: SecurityProtocol::Ipsec,
            ipsec: Some(IpsecSettings {
                ipsec_flags: 1,
                user_name: &user,
                password: &[7],
                ..IpsecSettings::default()
            }),
            ..plain
        };
        assert_eq!(ipsec.encode(&mut out), Ok(84 + 6));
        assert_eq!(out[72..84], [4, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(out[84..90], [b'u', 0, b'u', 0, 7, 0]);
        let wrong = SecuritySettings {
            protocol: SecurityProtocol::Default,
            ..ipsec
        };
        assert_eq!(
            wrong.encode(&mut out).map_err(Error::status),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn peer_target_names_count_units_except_for_ipsec2() {
        let mut out = [0u8; MAX_CONTROL];
        let name = [u16::from(b'h'); 3];
        let mut target = PeerTargetName {
            protocol: SecurityProtocol::Ipsec,
            peer: Some(
                "127.0.0.1:80"
                    .parse()
                    .unwrap_or(SocketAddr::from(([0; 4], 0))),
            ),
            name: &name,
        };
        assert_eq!(target.encode(&mut out), Ok(146));
        assert_eq!(out[136..140], [3, 0, 0, 0]);
        assert_eq!(out[8..10], 2u16.to_ne_bytes(), "AF_INET in PeerAddress");
        target.protocol = SecurityProtocol::Ipsec2;
        assert_eq!(target.encode(&mut out), Ok(146));
        assert_eq!(out[136..140], [6, 0, 0, 0]);
        let long = [0u16; PeerTargetName::MAX_UNITS + 1];
        target.name = &long;
        assert_eq!(
            target.encode(&mut out).map_err(Error::status),
            Err(NtStatus::INVALID_BUFFER_SIZE)
        );
        target.name = &[];
        assert_eq!(
            target.encode(&mut out).map_err(Error::status),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }
}
