//! The one error type of `wsk`: a failing NTSTATUS with its name.

use core::fmt;
use wskrs_ntstatus::NtStatus;

/// A WSK or kernel call failed with this status.
///
/// Display shows the status name and meaning (`STATUS_CONNECTION_REFUSED (0xC0000236): ...`),
/// and says when the failed call had to close its socket ([`Error::socket_closed`]).
/// Equality and hashing compare the status only.
#[derive(Clone, Copy)]
pub struct Error(NtStatus, SocketState);

/// What a failed call left of its socket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SocketState {
    /// As it was (or the call has no socket).
    Unchanged,
    /// Closed by the call: the provider did not end a timed-out request when it was cancelled.
    Closed,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Error {}

impl core::hash::Hash for Error {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Wraps a status. A success status becomes `STATUS_UNSUCCESSFUL`, so an `Error` always fails.
    #[must_use]
    pub const fn new(status: NtStatus) -> Self {
        if status.is_success() {
            Self(NtStatus::UNSUCCESSFUL, SocketState::Unchanged)
        } else {
            Self(status, SocketState::Unchanged)
        }
    }

    /// True if the failed call closed its socket: a blocking call whose timeout expired under
    /// a provider that ignores cancellation (Wine's netio.sys) closes the socket to end the
    /// request, one second (the grace period) after the timeout. Every later call on that
    /// socket fails; open a new one.
    #[must_use]
    pub const fn socket_closed(self) -> bool {
        matches!(self.1, SocketState::Closed)
    }

    /// The status this error carries.
    #[must_use]
    pub const fn status(self) -> NtStatus {
        self.0
    }

    /// Memory could not be allocated.
    pub const NO_MEMORY: Self = Self(NtStatus::INSUFFICIENT_RESOURCES, SocketState::Unchanged);
    /// A timeout expired; the request was cancelled and the socket is still usable.
    pub const TIMEOUT: Self = Self(NtStatus::IO_TIMEOUT, SocketState::Unchanged);
    /// A timeout expired and the provider ignored the cancellation: the socket was closed to
    /// end the request and is unusable now ([`Error::socket_closed`]). Equal to
    /// [`Error::TIMEOUT`] (same status).
    pub const TIMEOUT_SOCKET_CLOSED: Self = Self(NtStatus::IO_TIMEOUT, SocketState::Closed);
    /// The socket was closed while the operation was pending.
    pub const CANCELLED: Self = Self(NtStatus::CANCELLED, SocketState::Unchanged);
}

/// `Ok(())` for a success status, the error otherwise.
///
/// # Errors
/// Returns the status as an [`Error`] when it is not a success (severity warning or error).
pub fn nt_result(status: i32) -> Result<()> {
    let status = NtStatus(status);
    if status.is_success() {
        Ok(())
    } else {
        Err(Error(status, SocketState::Unchanged))
    }
}

/// An address string that does not parse (`"…".parse::<SocketAddr>()?` in a function
/// returning [`Result`]) is `STATUS_INVALID_PARAMETER`.
impl From<core::net::AddrParseError> for Error {
    fn from(_: core::net::AddrParseError) -> Self {
        Self(NtStatus::INVALID_PARAMETER, SocketState::Unchanged)
    }
}

impl From<Error> for NtStatus {
    fn from(e: Error) -> Self {
        e.0
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)?;
        if self.socket_closed() {
            f.write_str(
                " (the provider ignored the cancellation: the socket was closed to end the \
                 request and is unusable now)",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_never_an_error() {
        assert_eq!(
            Error::new(NtStatus::SUCCESS).status(),
            NtStatus::UNSUCCESSFUL
        );
        assert!(nt_result(0).is_ok());
        assert!(nt_result(0x103).is_ok());
        assert_eq!(
            nt_result(NtStatus::CONNECTION_REFUSED.0),
            Err(Error::new(NtStatus::CONNECTION_REFUSED))
        );
    }

    #[test]
    fn an_address_that_does_not_parse_is_an_invalid_parameter() {
        fn parse(s: &str) -> Result<core::net::SocketAddr> {
            Ok(s.parse()?)
        }
        assert_eq!(parse("127.0.0.1:9000").map(|a| a.port()), Ok(9000));
        assert_eq!(
            parse("127.0.0.1").map_err(Error::status),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn a_closed_socket_is_said_in_the_message() {
        extern crate std;
        use std::string::ToString;
        assert!(Error::TIMEOUT_SOCKET_CLOSED.socket_closed());
        assert!(!Error::TIMEOUT.socket_closed());
        assert_eq!(Error::TIMEOUT, Error::TIMEOUT_SOCKET_CLOSED);
        let message = Error::TIMEOUT_SOCKET_CLOSED.to_string();
        assert!(message.contains("STATUS_IO_TIMEOUT"), "{message}");
        assert!(message.contains("unusable"), "{message}");
        assert!(!Error::TIMEOUT.to_string().contains("unusable"));
    }
}
