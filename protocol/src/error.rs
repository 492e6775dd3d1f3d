//! Validation errors and their documented NTSTATUS values.

use core::fmt;
use wskrs_ntstatus::NtStatus;

/// Why a message was rejected. The driver completes the request with [`ProtocolError::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// The IOCTL code is not in the table (`STATUS_INVALID_DEVICE_REQUEST`).
    UnknownCode,
    /// The buffer is shorter than its fixed struct, `header.size` differs from the buffer
    /// length, a fixed-size message has trailing bytes, or a variable part (SEND and
    /// `SEND_TO` data, RECV data, LIST entries, RESOLVE addresses) has the wrong length
    /// (`STATUS_INFO_LENGTH_MISMATCH`).
    LengthMismatch,
    /// `header.abi_version` is not [`crate::ABI_VERSION`] (`STATUS_REVISION_MISMATCH`).
    VersionMismatch,
    /// The output buffer cannot hold the fixed reply (`STATUS_BUFFER_TOO_SMALL`).
    BufferTooSmall,
    /// An address has an unknown family, a malformed IPv4 form, or a required address or
    /// port is missing (connect and `SEND_TO` remote, listen local; `UDP_BIND` local may have
    /// port 0) (`STATUS_INVALID_ADDRESS_COMPONENT`).
    BadAddress,
    /// Unknown flag bits or a forbidden flag combination, unknown service, option or enum
    /// value, nonzero reserved field, endpoint id 0, a length above [`crate::MAX_TRANSFER`]
    /// ([`crate::MAX_DATAGRAM`] for datagrams), `max_connections` above
    /// [`crate::MAX_CONNECTIONS`], an option value the option cannot take, or a malformed text
    /// field (`STATUS_INVALID_PARAMETER`).
    InvalidParameter,
}

impl ProtocolError {
    /// The NTSTATUS the driver completes a rejected request with.
    #[must_use]
    pub const fn status(self) -> NtStatus {
        match self {
            Self::UnknownCode => NtStatus::INVALID_DEVICE_REQUEST,
            Self::LengthMismatch => NtStatus::INFO_LENGTH_MISMATCH,
            Self::VersionMismatch => NtStatus::REVISION_MISMATCH,
            Self::BufferTooSmall => NtStatus::BUFFER_TOO_SMALL,
            Self::BadAddress => NtStatus::INVALID_ADDRESS_COMPONENT,
            Self::InvalidParameter => NtStatus::INVALID_PARAMETER,
        }
    }

    /// What was wrong, as a short phrase.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::UnknownCode => "the IOCTL code is not part of the wsk-rs protocol",
            Self::LengthMismatch => "the message length does not match its header or its layout",
            Self::VersionMismatch => "the message was built for another protocol version",
            Self::BufferTooSmall => "the output buffer is too small for the reply",
            Self::BadAddress => "an address is malformed or a required address or port is missing",
            Self::InvalidParameter => {
                "a flag, service, option, reserved field, endpoint id, length or text is not valid"
            }
        }
    }

    /// The error a driver status stands for, if it is one of the validation statuses.
    #[must_use]
    pub const fn from_status(status: NtStatus) -> Option<Self> {
        match status {
            NtStatus::INVALID_DEVICE_REQUEST => Some(Self::UnknownCode),
            NtStatus::INFO_LENGTH_MISMATCH => Some(Self::LengthMismatch),
            NtStatus::REVISION_MISMATCH => Some(Self::VersionMismatch),
            NtStatus::BUFFER_TOO_SMALL => Some(Self::BufferTooSmall),
            NtStatus::INVALID_ADDRESS_COMPONENT => Some(Self::BadAddress),
            NtStatus::INVALID_PARAMETER => Some(Self::InvalidParameter),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.description(), self.status())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::ProtocolError;
    use std::string::ToString;

    const ALL: [ProtocolError; 6] = [
        ProtocolError::UnknownCode,
        ProtocolError::LengthMismatch,
        ProtocolError::VersionMismatch,
        ProtocolError::BufferTooSmall,
        ProtocolError::BadAddress,
        ProtocolError::InvalidParameter,
    ];

    #[test]
    fn documented_statuses() {
        let expected = [
            0xC000_0010,
            0xC000_0004,
            0xC000_0059,
            0xC000_0023,
            0xC000_0207,
            0xC000_000D,
        ];
        for (error, value) in ALL.iter().zip(expected) {
            assert_eq!(error.status().as_u32(), value, "{error:?}");
            assert_eq!(ProtocolError::from_status(error.status()), Some(*error));
        }
        assert_eq!(
            ProtocolError::from_status(wskrs_ntstatus::NtStatus::NOT_FOUND),
            None
        );
    }

    #[test]
    fn display_names_the_status() {
        let text = ProtocolError::VersionMismatch.to_string();
        assert!(
            text.contains("STATUS_REVISION_MISMATCH (0xC0000059)"),
            "{text}"
        );
    }
}
