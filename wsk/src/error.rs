//! The one error type of `wsk`: a failing NTSTATUS with its name.

use core::fmt;
use wskrs_ntstatus::NtStatus;

/// A WSK or kernel call failed with this status.
///
/// Display shows the status name and meaning (`STATUS_CONNECTION_REFUSED (0xC0000236): ...`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error(NtStatus);

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Wraps a status. A success status becomes `STATUS_UNSUCCESSFUL`, so an `Error` always fails.
    #[must_use]
    pub const fn new(status: NtStatus) -> Self {
        if status.is_success() {
            Self(NtStatus::UNSUCCESSFUL)
        } else {
            Self(status)
        }
    }

    /// The status this error carries.
    #[must_use]
    pub const fn status(self) -> NtStatus {
        self.0
    }

    /// Memory could not be allocated.
    pub const NO_MEMORY: Self = Self(NtStatus::INSUFFICIENT_RESOURCES);
    /// A timeout expired.
    pub const TIMEOUT: Self = Self(NtStatus::IO_TIMEOUT);
    /// The socket was closed while the operation was pending.
    pub const CANCELLED: Self = Self(NtStatus::CANCELLED);
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
        Err(Error(status))
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
        fmt::Display::fmt(&self.0, f)
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
}
