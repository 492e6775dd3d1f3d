//! The client's error type: every failure as one sentence a user can act on.

use std::fmt;
use std::io;

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{EndpointId, ProtocolError};

/// Win32 error numbers the client gives advice for (values from `winerror.h`).
pub(crate) mod win32 {
    /// `ERROR_FILE_NOT_FOUND`.
    pub(crate) const FILE_NOT_FOUND: i32 = 2;
    /// `ERROR_PATH_NOT_FOUND`.
    pub(crate) const PATH_NOT_FOUND: i32 = 3;
    /// `ERROR_ACCESS_DENIED`.
    pub(crate) const ACCESS_DENIED: i32 = 5;
    /// `ERROR_SERVICE_ALREADY_RUNNING`.
    pub(crate) const SERVICE_ALREADY_RUNNING: i32 = 1056;
    /// `ERROR_SERVICE_DISABLED`.
    pub(crate) const SERVICE_DISABLED: i32 = 1058;
    /// `ERROR_SERVICE_DOES_NOT_EXIST`.
    pub(crate) const SERVICE_DOES_NOT_EXIST: i32 = 1060;
    /// `ERROR_SERVICE_NOT_ACTIVE`.
    pub(crate) const SERVICE_NOT_ACTIVE: i32 = 1062;
    /// `ERROR_SERVICE_MARKED_FOR_DELETE`.
    pub(crate) const SERVICE_MARKED_FOR_DELETE: i32 = 1072;
    /// `ERROR_SERVICE_EXISTS`.
    pub(crate) const SERVICE_EXISTS: i32 = 1073;
}

/// The `wskctl` exit code of a command whose request was cancelled (Ctrl-C): 128 + SIGINT,
/// as shells report a command ended by Ctrl-C.
pub const EXIT_CANCELLED: u8 = 130;

/// Why a client operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The device could not be opened (usually: the driver is not loaded).
    Open {
        /// The path given to `CreateFileW`.
        path: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The driver (or the I/O manager) completed a request with a failure status.
    Driver {
        /// What was being done, e.g. `"tcp connect to 127.0.0.1:9000"`.
        op: String,
        /// The completion status.
        status: NtStatus,
    },
    /// The request was cancelled (`STATUS_CANCELLED`): by a [`Canceller`](crate::Canceller)
    /// (Ctrl-C in `wskctl`), or because its handle closed or its thread ended.
    Cancelled {
        /// What was being done, e.g. `"recv on endpoint 1"`.
        op: String,
        /// The request was not sent: its device had been interrupted
        /// ([`Canceller::interrupt`](crate::Canceller::interrupt)). Such an error is not
        /// [`io::ErrorKind::Interrupted`], so `read_exact` and `write_all` stop on it
        /// rather than retry.
        refused: bool,
    },
    /// The driver's reply did not follow the protocol (a driver/client version skew or a bug).
    Protocol {
        /// What was being done.
        op: String,
        /// What was wrong with the reply.
        error: ProtocolError,
    },
    /// A request could not be encoded from the arguments given (a text or payload too long,
    /// a NUL in a text field); nothing was sent.
    Request {
        /// What was being done.
        op: String,
        /// What was wrong with the arguments.
        error: ProtocolError,
    },
    /// The peer closed the connection before the expected bytes arrived.
    UnexpectedEof {
        /// The connection.
        id: EndpointId,
        /// Bytes that were expected.
        expected: u64,
        /// Bytes that arrived before the end of stream.
        received: u64,
    },
    /// A service control manager call failed.
    Service {
        /// What was being done, e.g. `"start"`.
        op: &'static str,
        /// The service name.
        name: String,
        /// The Win32 error.
        source: io::Error,
    },
    /// Reading or writing a local file or stream failed.
    Io {
        /// What was being read or written.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl ClientError {
    /// The `wskctl` exit code for this error: 3 when the device could not be opened,
    /// [`EXIT_CANCELLED`] (130) when the request was cancelled (Ctrl-C), else 1.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Open { .. } => 3,
            Self::Cancelled { .. } => EXIT_CANCELLED,
            _ => 1,
        }
    }

    /// The NTSTATUS of a [`ClientError::Driver`] error (`STATUS_CANCELLED` for
    /// [`ClientError::Cancelled`]).
    #[must_use]
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            Self::Driver { status, .. } => Some(*status),
            Self::Cancelled { .. } => Some(NtStatus::CANCELLED),
            _ => None,
        }
    }

    /// Whether the request was cancelled ([`ClientError::Cancelled`]).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    /// The [`io::ErrorKind`] that fits this error, from the driver's NTSTATUS (as Windows'
    /// Winsock maps it) or the underlying I/O error: e.g. `STATUS_CONNECTION_REFUSED` is
    /// [`io::ErrorKind::ConnectionRefused`], `STATUS_IO_TIMEOUT`
    /// [`io::ErrorKind::TimedOut`], `STATUS_ADDRESS_ALREADY_EXISTS`
    /// [`io::ErrorKind::AddrInUse`].
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Driver { status, .. } => kind_of_status(*status),
            // As std names an interrupted call (`read_exact` and `write_all` retry it); a
            // request refused after `Canceller::interrupt` is not, so those loops stop.
            Self::Cancelled { refused: false, .. } => io::ErrorKind::Interrupted,
            Self::Cancelled { refused: true, .. } => io::ErrorKind::Other,
            Self::Open { source, .. } | Self::Service { source, .. } | Self::Io { source, .. } => {
                source.kind()
            }
            Self::Protocol { .. } => io::ErrorKind::InvalidData,
            Self::Request { .. } => io::ErrorKind::InvalidInput,
            Self::UnexpectedEof { .. } => io::ErrorKind::UnexpectedEof,
        }
    }

    /// The client error inside an [`io::Error`] made from one (as the `Kernel*` sockets
    /// return), to get its NTSTATUS back.
    #[must_use]
    pub fn of_io(error: &io::Error) -> Option<&Self> {
        error.get_ref()?.downcast_ref::<Self>()
    }

    /// The error for a request that completed with the failure `status`.
    pub fn driver(op: impl Into<String>, status: NtStatus) -> Self {
        if status == NtStatus::CANCELLED {
            return Self::Cancelled {
                op: op.into(),
                refused: false,
            };
        }
        Self::Driver {
            op: op.into(),
            status,
        }
    }

    /// A failed local I/O operation (`context` says which: "opening FILE", ...).
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The [`io::ErrorKind`] of a failure status.
fn kind_of_status(status: NtStatus) -> io::ErrorKind {
    use io::ErrorKind as Kind;
    match status {
        NtStatus::CONNECTION_REFUSED => Kind::ConnectionRefused,
        NtStatus::IO_TIMEOUT | NtStatus::TIMEOUT => Kind::TimedOut,
        NtStatus::CONNECTION_RESET => Kind::ConnectionReset,
        NtStatus::CONNECTION_ABORTED | NtStatus::CONNECTION_DISCONNECTED => Kind::ConnectionAborted,
        NtStatus::CONNECTION_INVALID => Kind::NotConnected,
        NtStatus::PIPE_DISCONNECTED | NtStatus::GRACEFUL_DISCONNECT => Kind::BrokenPipe,
        NtStatus::ADDRESS_ALREADY_EXISTS | NtStatus::ADDRESS_ALREADY_ASSOCIATED => Kind::AddrInUse,
        NtStatus::INVALID_ADDRESS => Kind::AddrNotAvailable,
        NtStatus::INVALID_PARAMETER | NtStatus::INVALID_ADDRESS_COMPONENT => Kind::InvalidInput,
        NtStatus::NOT_FOUND | NtStatus::OBJECT_NAME_NOT_FOUND => Kind::NotFound,
        NtStatus::ACCESS_DENIED => Kind::PermissionDenied,
        NtStatus::INSUFFICIENT_RESOURCES | NtStatus::NO_MEMORY => Kind::OutOfMemory,
        NtStatus::NOT_IMPLEMENTED | NtStatus::NOT_SUPPORTED => Kind::Unsupported,
        // STATUS_CANCELLED is `ClientError::Cancelled` (Interrupted), never a Driver error.
        _ => Kind::Other,
    }
}

impl From<ClientError> for io::Error {
    /// An [`io::Error`] of [`ClientError::kind`] that carries the client error (its message,
    /// and [`ClientError::of_io`] gives it back).
    fn from(error: ClientError) -> Self {
        Self::new(error.kind(), error)
    }
}

/// Advice for an error from opening the device.
fn open_advice(source: &io::Error) -> &'static str {
    match source.raw_os_error() {
        Some(win32::FILE_NOT_FOUND | win32::PATH_NOT_FOUND) => {
            "the wsk-rs driver is not loaded: start it with `wskctl driver start` \
             (install it first with `wskctl driver install` if needed)"
        }
        Some(win32::ACCESS_DENIED) => "access was denied: run wskctl as Administrator",
        _ if source.kind() == io::ErrorKind::Unsupported => {
            "wskctl reaches the driver only on Windows (or under Wine)"
        }
        _ => "check that the wsk-rs driver is loaded with `wskctl driver status`",
    }
}

/// Advice for a service control manager error.
fn service_advice(source: &io::Error) -> Option<&'static str> {
    match source.raw_os_error()? {
        win32::ACCESS_DENIED => Some("run wskctl as Administrator"),
        win32::SERVICE_DOES_NOT_EXIST => Some("install it first with `wskctl driver install`"),
        win32::FILE_NOT_FOUND | win32::PATH_NOT_FOUND => {
            Some("the driver file was not found: reinstall with the right `--path`")
        }
        win32::SERVICE_MARKED_FOR_DELETE => {
            Some("the service is being deleted: stop it and wait, then retry")
        }
        win32::SERVICE_DISABLED => Some("the service is disabled: reinstall it"),
        _ => None,
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open { path, source } => {
                write!(f, "cannot open {path}: {source}; {}", open_advice(source))
            }
            Self::Driver { op, status } => {
                write!(f, "{op}: {status}")?;
                if let Some(winsock) = status.winsock_error() {
                    write!(f, " [{}]", winsock.name)?;
                }
                if let Some(hint) = status.hint() {
                    write!(f, " Hint: {hint}")?;
                }
                Ok(())
            }
            Self::Cancelled { op, refused } => write!(
                f,
                "{op}: the request was cancelled ({}{})",
                NtStatus::CANCELLED.name().unwrap_or("STATUS_CANCELLED"),
                if *refused { "; not sent" } else { "" }
            ),
            Self::Protocol { op, error } => write!(
                f,
                "{op}: the driver's reply is malformed ({}); are wskctl and the driver from the same release?",
                error.description()
            ),
            Self::Request { op, error } => write!(
                f,
                "{op}: not sent: {} (see the limits in `wskctl help`)",
                error.description()
            ),
            Self::UnexpectedEof { id, expected, received } => write!(
                f,
                "recv on endpoint {id}: the peer closed the connection after {received} of {expected} bytes"
            ),
            Self::Service { op, name, source } => {
                write!(f, "{op} service {name}: {source}")?;
                if let Some(advice) = service_advice(source) {
                    write!(f, "; {advice}")?;
                }
                Ok(())
            }
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Open { source, .. } | Self::Service { source, .. } | Self::Io { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{win32, ClientError};
    use std::io;
    use wskrs_ntstatus::NtStatus;
    use wskrs_protocol::{EndpointId, ProtocolError};

    #[test]
    fn driver_error_names_status_meaning_winsock_and_hint() {
        let error = ClientError::Driver {
            op: "tcp connect to 127.0.0.1:9000".into(),
            status: NtStatus::CONNECTION_REFUSED,
        };
        assert_eq!(
            error.to_string(),
            "tcp connect to 127.0.0.1:9000: STATUS_CONNECTION_REFUSED (0xC0000236): \
             The remote system refused the connection. [WSAECONNREFUSED] \
             Hint: Check that a server listens on that address and port."
        );
        assert_eq!(error.exit_code(), 1);
        assert_eq!(error.status(), Some(NtStatus::CONNECTION_REFUSED));
    }

    #[test]
    fn driver_error_with_unknown_status() {
        let error = ClientError::Driver {
            op: "info".into(),
            status: NtStatus::from_u32(0xE000_0001),
        };
        assert_eq!(error.to_string(), "info: NTSTATUS 0xE0000001");
    }

    #[test]
    fn open_errors_exit_3_and_suggest_starting_the_driver() {
        let error = ClientError::Open {
            path: r"\\.\WskRs".into(),
            source: io::Error::from_raw_os_error(win32::FILE_NOT_FOUND),
        };
        assert_eq!(error.exit_code(), 3);
        let text = error.to_string();
        assert!(text.starts_with(r"cannot open \\.\WskRs: "), "{text}");
        assert!(
            text.contains("not loaded") && text.contains("wskctl driver start"),
            "{text}"
        );
        let denied = ClientError::Open {
            path: "x".into(),
            source: io::Error::from_raw_os_error(win32::ACCESS_DENIED),
        };
        assert!(denied.to_string().contains("Administrator"));
    }

    #[test]
    fn cancelled_requests() {
        let cancelled = ClientError::Cancelled {
            op: "recv on endpoint 2".into(),
            refused: false,
        };
        assert_eq!(
            cancelled.to_string(),
            "recv on endpoint 2: the request was cancelled (STATUS_CANCELLED)"
        );
        assert_eq!(cancelled.kind(), io::ErrorKind::Interrupted);
        assert_eq!(cancelled.status(), Some(NtStatus::CANCELLED));
        assert_eq!(cancelled.exit_code(), 130);
        assert!(cancelled.is_cancelled());
        let refused = ClientError::Cancelled {
            op: "send on endpoint 2".into(),
            refused: true,
        };
        assert!(
            refused
                .to_string()
                .ends_with("(STATUS_CANCELLED; not sent)"),
            "{refused}"
        );
        assert_eq!(
            refused.kind(),
            io::ErrorKind::Other,
            "read_exact must not retry it"
        );
        // STATUS_CANCELLED from the driver always becomes the Cancelled variant.
        let from_driver = ClientError::driver("recv on endpoint 2", NtStatus::CANCELLED);
        assert!(from_driver.is_cancelled());
        assert!(!ClientError::driver("x", NtStatus::IO_TIMEOUT).is_cancelled());
    }

    #[test]
    fn other_errors() {
        let eof = ClientError::UnexpectedEof {
            id: EndpointId(3),
            expected: 5,
            received: 2,
        };
        assert_eq!(
            eof.to_string(),
            "recv on endpoint 3: the peer closed the connection after 2 of 5 bytes"
        );
        let protocol = ClientError::Protocol {
            op: "list".into(),
            error: ProtocolError::LengthMismatch,
        };
        assert!(protocol
            .to_string()
            .starts_with("list: the driver's reply is malformed"));
        let request = ClientError::Request {
            op: "resolve x".into(),
            error: ProtocolError::InvalidParameter,
        };
        assert!(
            request.to_string().starts_with("resolve x: not sent: "),
            "{request}"
        );
        assert_eq!(request.exit_code(), 1);
        let service = ClientError::Service {
            op: "start",
            name: "WskRs".into(),
            source: io::Error::from_raw_os_error(win32::SERVICE_DOES_NOT_EXIST),
        };
        assert!(
            service.to_string().contains("wskctl driver install"),
            "{service}"
        );
        assert_eq!(service.exit_code(), 1);
    }
}
