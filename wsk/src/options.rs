//! Socket options (`WskControlSocket`) as getter / `set_` pairs named after the C option and
//! grouped by level: [`SocketOptions`] for every socket type, [`TcpOptions`] for TCP
//! connections, plus a raw escape hatch and `WskIoctl`.
//!
//! Options that only act before bind (`SO_REUSEADDR`, `SO_EXCLUSIVEADDRUSE`, `IPV6_V6ONLY`,
//! `SO_WSK_SECURITY`) are set through [`crate::BindOptions`]; here they can be read back.
//!
//! Every method runs at PASSIVE_LEVEL and waits at most five seconds.

use core::time::Duration;

use wsk_bindings as sys;

use crate::security::CachedSecurityDescriptor;
use crate::socket::{self, Control, SocketCore};
use crate::{Error, NtStatus, Result};

/// How long one option request may take.
pub(crate) const OPTION_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) mod sealed {
    /// Access to a socket's core; not implementable outside this crate.
    pub trait Core {
        /// The socket's provider socket, blocking slot and client.
        fn core(&mut self) -> &mut crate::socket::SocketCore;
    }
}

fn bool_value(bytes: &[u8], len: usize) -> bool {
    bytes.iter().take(len).any(|b| *b != 0)
}

fn u32_value(bytes: [u8; 4], len: usize) -> Result<u32> {
    if len != 4 {
        return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
    }
    Ok(u32::from_ne_bytes(bytes))
}

/// An option read into four bytes, with the length the provider wrote.
fn option_word(core: &mut SocketCore, level: u32, name: u32) -> Result<([u8; 4], usize)> {
    let mut value = [0u8; 4];
    let n = socket::get_option(
        &core.raw,
        &mut core.blocking,
        level,
        name,
        &mut value,
        OPTION_TIMEOUT,
    )?;
    Ok((value, n))
}

fn option_u32(core: &mut SocketCore, level: u32, name: u32) -> Result<u32> {
    let (value, n) = option_word(core, level, name)?;
    u32_value(value, n)
}

fn option_bool(core: &mut SocketCore, level: u32, name: u32) -> Result<bool> {
    let (value, n) = option_word(core, level, name)?;
    Ok(bool_value(&value, n))
}

fn set_u32(core: &mut SocketCore, level: u32, name: u32, value: u32) -> Result<()> {
    socket::set_option(
        &core.raw,
        &mut core.blocking,
        level,
        name,
        &value.to_ne_bytes(),
        OPTION_TIMEOUT,
    )
}

/// A boolean option, set as the `u32` 0 or 1 the provider takes.
pub(crate) fn set_bool(core: &mut SocketCore, level: u32, name: u32, on: bool) -> Result<()> {
    set_u32(core, level, name, u32::from(on))
}

/// Options every socket type has. The errors are the provider's status
/// (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio, which lacks `WskControlSocket`).
pub trait SocketOptions: sealed::Core {
    /// Sets an option (`WskSetOption`) from its raw bytes (at most 256).
    ///
    /// # Errors
    /// The provider's status.
    fn set_option_raw(&mut self, level: u32, name: u32, value: &[u8]) -> Result<()> {
        let core = self.core();
        socket::set_option(
            &core.raw,
            &mut core.blocking,
            level,
            name,
            value,
            OPTION_TIMEOUT,
        )
    }

    /// Reads an option (`WskGetOption`) into `value` (at most 256 bytes); returns the bytes
    /// written.
    ///
    /// # Errors
    /// The provider's status.
    fn option_raw(&mut self, level: u32, name: u32, value: &mut [u8]) -> Result<usize> {
        let core = self.core();
        socket::get_option(
            &core.raw,
            &mut core.blocking,
            level,
            name,
            value,
            OPTION_TIMEOUT,
        )
    }

    /// A socket I/O control operation (`WskIoctl`); returns the output bytes.
    ///
    /// # Errors
    /// The provider's status.
    fn ioctl_raw(&mut self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let core = self.core();
        socket::control(
            &core.raw,
            &mut core.blocking,
            Control::ioctl(code),
            input,
            output,
            OPTION_TIMEOUT,
        )
    }

    /// `SO_KEEPALIVE` (`SOL_SOCKET`): send keep-alive probes.
    ///
    /// # Errors
    /// The provider's status.
    fn set_keepalive(&mut self, on: bool) -> Result<()> {
        set_bool(self.core(), sys::SOL_SOCKET, sys::SO_KEEPALIVE, on)
    }

    /// Whether `SO_KEEPALIVE` is set.
    ///
    /// # Errors
    /// The provider's status.
    fn keepalive(&mut self) -> Result<bool> {
        option_bool(self.core(), sys::SOL_SOCKET, sys::SO_KEEPALIVE)
    }

    /// `SO_RCVBUF` (`SOL_SOCKET`): the receive buffer size in bytes.
    ///
    /// # Errors
    /// The provider's status.
    fn set_receive_buffer_size(&mut self, bytes: u32) -> Result<()> {
        set_u32(self.core(), sys::SOL_SOCKET, sys::SO_RCVBUF, bytes)
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    /// The provider's status.
    fn receive_buffer_size(&mut self) -> Result<u32> {
        option_u32(self.core(), sys::SOL_SOCKET, sys::SO_RCVBUF)
    }

    /// `SO_SNDBUF` (`SOL_SOCKET`): the send buffer size in bytes.
    ///
    /// # Errors
    /// The provider's status.
    fn set_send_buffer_size(&mut self, bytes: u32) -> Result<()> {
        set_u32(self.core(), sys::SOL_SOCKET, sys::SO_SNDBUF, bytes)
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    /// The provider's status.
    fn send_buffer_size(&mut self) -> Result<u32> {
        option_u32(self.core(), sys::SOL_SOCKET, sys::SO_SNDBUF)
    }

    /// Whether `SO_REUSEADDR` was set (see [`crate::BindOptions`]).
    ///
    /// # Errors
    /// The provider's status.
    fn reuse_address(&mut self) -> Result<bool> {
        option_bool(self.core(), sys::SOL_SOCKET, sys::SO_REUSEADDR)
    }

    /// Whether `SO_EXCLUSIVEADDRUSE` was set (see [`crate::BindOptions`]).
    ///
    /// # Errors
    /// The provider's status.
    fn exclusive_address(&mut self) -> Result<bool> {
        option_bool(self.core(), sys::SOL_SOCKET, sys::SO_EXCLUSIVEADDRUSE)
    }

    /// `IPV6_V6ONLY` (`IPPROTO_IPV6`) of an IPv6 socket (see [`crate::BindOptions`]).
    ///
    /// # Errors
    /// The provider's status.
    fn ipv6_only(&mut self) -> Result<bool> {
        option_bool(self.core(), sys::IPPROTO_IPV6, sys::IPV6_V6ONLY)
    }

    /// `SO_WSK_SECURITY`: a cached copy of the socket's security descriptor, released on drop.
    ///
    /// # Errors
    /// The provider's status.
    fn security(&mut self) -> Result<CachedSecurityDescriptor> {
        let core = self.core();
        crate::security::socket_security(
            &core.client,
            &core.raw,
            &mut core.blocking,
            OPTION_TIMEOUT,
        )
    }
}

/// Options of TCP connections (`IPPROTO_TCP` level).
pub trait TcpOptions: SocketOptions {
    /// `TCP_NODELAY`: send small segments at once (no Nagle).
    ///
    /// # Errors
    /// The provider's status.
    fn set_nodelay(&mut self, on: bool) -> Result<()> {
        set_bool(self.core(), sys::IPPROTO_TCP, sys::TCP_NODELAY, on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    /// The provider's status.
    fn nodelay(&mut self) -> Result<bool> {
        option_bool(self.core(), sys::IPPROTO_TCP, sys::TCP_NODELAY)
    }
}

macro_rules! impl_core {
    ($($socket:ty),*) => {$(
        impl sealed::Core for $socket {
            fn core(&mut self) -> &mut SocketCore {
                &mut self.core
            }
        }
        impl SocketOptions for $socket {}
    )*};
}

impl_core!(
    crate::ListenSocket,
    crate::ConnectionSocket,
    crate::DatagramSocket,
    crate::BasicSocket,
    crate::StreamSocket,
    crate::StreamListenSocket,
    crate::StreamConnectionSocket
);
/// On a listening socket the options are for the connections it accepts: Winsock documents
/// that an accepted socket has the listening socket's properties, and the wsk-rs provider
/// follows it (Windows' `WskAccept` documentation does not say).
impl TcpOptions for crate::ListenSocket {}
impl TcpOptions for crate::ConnectionSocket {}
impl TcpOptions for crate::StreamConnectionSocket {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_option_values() {
        assert!(bool_value(&[1, 0, 0, 0], 4));
        assert!(!bool_value(&[0, 0, 0, 0], 4));
        assert!(bool_value(&[1], 1));
        assert!(!bool_value(&[0, 1], 1));
        assert_eq!(u32_value(8192u32.to_ne_bytes(), 4), Ok(8192));
        assert!(u32_value([0; 4], 2).is_err());
    }
}
