//! Socket options (`WskControlSocket`), as getter / `set_` pairs on every socket type,
//! grouped by level and named after the C option, plus a raw escape hatch.
//!
//! Options that only act before bind (`SO_REUSEADDR`, `SO_EXCLUSIVEADDRUSE`, `IPV6_V6ONLY`)
//! are set through [`crate::BindOptions`]; here they can be read back.

use core::time::Duration;

/// How long one option request may take.
pub(crate) const OPTION_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn bool_value(bytes: &[u8], len: usize) -> bool {
    bytes.iter().take(len).any(|b| *b != 0)
}

pub(crate) fn u32_value(bytes: [u8; 4], len: usize) -> crate::Result<u32> {
    if len != 4 {
        return Err(crate::Error::new(crate::NtStatus::INVALID_BUFFER_SIZE));
    }
    Ok(u32::from_ne_bytes(bytes))
}

/// Adds the option methods to a socket type with `raw: RawSocket` and `blocking: Blocking` fields.
macro_rules! socket_options {
    ($socket:ty) => {
        impl $socket {
            /// Sets an option (`WskControlSocket`, `WskSetOption`) from its raw bytes.
            /// IRQL: PASSIVE_LEVEL.
            ///
            /// # Errors
            /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
            pub fn set_option_raw(&mut self, level: u32, name: u32, value: &[u8]) -> $crate::Result<()> {
                $crate::socket::set_option(&self.raw, &mut self.blocking, level, name, value, $crate::options::OPTION_TIMEOUT)
            }

            /// Reads an option (`WskGetOption`) into `value`; returns the bytes written.
            /// IRQL: PASSIVE_LEVEL.
            ///
            /// # Errors
            /// The provider's status.
            pub fn option_raw(&mut self, level: u32, name: u32, value: &mut [u8]) -> $crate::Result<usize> {
                $crate::socket::get_option(&self.raw, &mut self.blocking, level, name, value, $crate::options::OPTION_TIMEOUT)
            }

            /// Performs a socket I/O control operation (`WskIoctl`); returns the output bytes.
            /// IRQL: PASSIVE_LEVEL.
            ///
            /// # Errors
            /// The provider's status.
            pub fn ioctl_raw(&mut self, code: u32, input: &[u8], output: &mut [u8]) -> $crate::Result<usize> {
                let what = $crate::socket::Control { request: wsk_bindings::WskIoctl, code, level: 0 };
                $crate::socket::control(&self.raw, &mut self.blocking, what, input, output, $crate::options::OPTION_TIMEOUT)
            }

            fn option_u32(&mut self, level: u32, name: u32) -> $crate::Result<u32> {
                let mut value = [0u8; 4];
                let n = self.option_raw(level, name, &mut value)?;
                $crate::options::u32_value(value, n)
            }

            fn option_bool(&mut self, level: u32, name: u32) -> $crate::Result<bool> {
                let mut value = [0u8; 4];
                let n = self.option_raw(level, name, &mut value)?;
                Ok($crate::options::bool_value(&value, n))
            }

            /// `SO_KEEPALIVE` (`SOL_SOCKET`): send keep-alive probes.
            ///
            /// # Errors
            /// The provider's status.
            pub fn set_keepalive(&mut self, on: bool) -> $crate::Result<()> {
                self.set_option_raw(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_KEEPALIVE, &u32::from(on).to_ne_bytes())
            }

            /// Whether `SO_KEEPALIVE` is set.
            ///
            /// # Errors
            /// The provider's status.
            pub fn keepalive(&mut self) -> $crate::Result<bool> {
                self.option_bool(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_KEEPALIVE)
            }

            /// `SO_RCVBUF` (`SOL_SOCKET`): the receive buffer size in bytes.
            ///
            /// # Errors
            /// The provider's status.
            pub fn set_recv_buffer_size(&mut self, bytes: u32) -> $crate::Result<()> {
                self.set_option_raw(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_RCVBUF, &bytes.to_ne_bytes())
            }

            /// `SO_RCVBUF`.
            ///
            /// # Errors
            /// The provider's status.
            pub fn recv_buffer_size(&mut self) -> $crate::Result<u32> {
                self.option_u32(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_RCVBUF)
            }

            /// `SO_SNDBUF` (`SOL_SOCKET`): the send buffer size in bytes.
            ///
            /// # Errors
            /// The provider's status.
            pub fn set_send_buffer_size(&mut self, bytes: u32) -> $crate::Result<()> {
                self.set_option_raw(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_SNDBUF, &bytes.to_ne_bytes())
            }

            /// `SO_SNDBUF`.
            ///
            /// # Errors
            /// The provider's status.
            pub fn send_buffer_size(&mut self) -> $crate::Result<u32> {
                self.option_u32(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_SNDBUF)
            }

            /// `SO_WSK_SECURITY`: a cached copy of the socket's security descriptor, released
            /// on drop. IRQL: PASSIVE_LEVEL.
            ///
            /// # Errors
            /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
            pub fn security(&mut self) -> $crate::Result<$crate::security::CachedSecurityDescriptor> {
                $crate::security::socket_security(&self.client, &self.raw, &mut self.blocking, $crate::options::OPTION_TIMEOUT)
            }

            /// Whether `SO_REUSEADDR` was set (see [`crate::BindOptions`]).
            ///
            /// # Errors
            /// The provider's status.
            pub fn reuse_address(&mut self) -> $crate::Result<bool> {
                self.option_bool(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_REUSEADDR)
            }

            /// Whether `SO_EXCLUSIVEADDRUSE` was set (see [`crate::BindOptions`]).
            ///
            /// # Errors
            /// The provider's status.
            pub fn exclusive_address(&mut self) -> $crate::Result<bool> {
                self.option_bool(wsk_bindings::SOL_SOCKET, wsk_bindings::SO_EXCLUSIVEADDRUSE)
            }

            /// `IPV6_V6ONLY` (`IPPROTO_IPV6`) of an IPv6 socket (see [`crate::BindOptions`]).
            ///
            /// # Errors
            /// The provider's status.
            pub fn ipv6_only(&mut self) -> $crate::Result<bool> {
                self.option_bool(wsk_bindings::IPPROTO_IPV6, wsk_bindings::IPV6_V6ONLY)
            }
        }
    };
}

/// Adds the TCP-level option methods.
macro_rules! tcp_options {
    ($socket:ty) => {
        impl $socket {
            /// `TCP_NODELAY` (`IPPROTO_TCP`): send small segments at once (no Nagle).
            ///
            /// # Errors
            /// The provider's status.
            pub fn set_nodelay(&mut self, on: bool) -> $crate::Result<()> {
                self.set_option_raw(wsk_bindings::IPPROTO_TCP, wsk_bindings::TCP_NODELAY, &u32::from(on).to_ne_bytes())
            }

            /// Whether `TCP_NODELAY` is set.
            ///
            /// # Errors
            /// The provider's status.
            pub fn nodelay(&mut self) -> $crate::Result<bool> {
                self.option_bool(wsk_bindings::IPPROTO_TCP, wsk_bindings::TCP_NODELAY)
            }
        }
    };
}

pub(crate) use {socket_options, tcp_options};

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
