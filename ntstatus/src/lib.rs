//! NTSTATUS values for wsk-rs: the single definition of every status the project names.
//!
//! [`NtStatus`] is a transparent newtype over the 32-bit NTSTATUS. Each known value is an
//! associated constant named without the `STATUS_` prefix ([`NtStatus::NOT_FOUND`]), and
//! carries its symbolic name, a one-sentence meaning, the Winsock error that Windows'
//! Winsock reports for it (where it has one) and, for the statuses users meet in practice, a
//! hint on what to do.
//!
//! The crate is `no_std`, has no `unsafe` and never panics, so the driver can use it too.
//!
//! # Examples
//!
//! ```
//! use wskrs_ntstatus::NtStatus;
//!
//! let status = NtStatus::from_u32(0xC000_0236);
//! assert_eq!(status, NtStatus::CONNECTION_REFUSED);
//! assert!(status.is_error());
//! assert_eq!(status.name(), Some("STATUS_CONNECTION_REFUSED"));
//! assert_eq!(status.winsock_error().map(|e| e.code), Some(10061));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use core::fmt;

/// A Windows NTSTATUS value.
///
/// Bits 31..30 are the severity (0 success, 1 informational, 2 warning, 3 error); a value is
/// a success (`NT_SUCCESS`) when it is non-negative as an `i32`.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub i32);

/// A Winsock error code with its symbolic name, e.g. `10061` / `"WSAECONNREFUSED"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WinsockError {
    /// The numeric code `WSAGetLastError` returns.
    pub code: i32,
    /// The symbolic name from `winerror.h` / `winsock2.h`.
    pub name: &'static str,
}

impl fmt::Display for WinsockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.code)
    }
}

macro_rules! winsock_errors {
    ($($name:ident = $code:literal, $meaning:literal;)*) => {
        impl WinsockError {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), "): ", $meaning)]
                pub const $name: WinsockError = WinsockError { code: $code, name: stringify!($name) };
            )*
        }

        #[cfg(test)]
        const ALL_WINSOCK_ERRORS: &[WinsockError] = &[$(WinsockError::$name,)*];
    };
}

winsock_errors! {
    WSA_OPERATION_ABORTED = 995, "the overlapped operation was aborted.";
    WSA_IO_PENDING = 997, "the overlapped operation will complete later.";
    WSAEINTR = 10004, "a blocking call was interrupted.";
    WSAEACCES = 10013, "access to the socket was denied.";
    WSAEFAULT = 10014, "a pointer or buffer argument was invalid or too small.";
    WSAEINVAL = 10022, "an invalid argument was supplied.";
    WSAEWOULDBLOCK = 10035, "the operation would block.";
    WSAENOTSOCK = 10038, "the handle is not a socket.";
    WSAEMSGSIZE = 10040, "the message was too long for the buffer.";
    WSAEOPNOTSUPP = 10045, "the operation is not supported.";
    WSAEADDRINUSE = 10048, "the address is already in use.";
    WSAEADDRNOTAVAIL = 10049, "the address is not valid in its context.";
    WSAENETDOWN = 10050, "the network subsystem is down.";
    WSAENETUNREACH = 10051, "the network is unreachable.";
    WSAECONNABORTED = 10053, "the connection was aborted locally.";
    WSAECONNRESET = 10054, "the connection was reset by the peer.";
    WSAENOBUFS = 10055, "no buffer space is available.";
    WSAEISCONN = 10056, "the socket is already connected.";
    WSAENOTCONN = 10057, "the socket is not connected.";
    WSAESHUTDOWN = 10058, "the socket has been shut down.";
    WSAETIMEDOUT = 10060, "the operation timed out.";
    WSAECONNREFUSED = 10061, "the peer refused the connection.";
    WSAEHOSTDOWN = 10064, "the host is down.";
    WSAEHOSTUNREACH = 10065, "the host is unreachable.";
    WSAEDISCON = 10101, "the peer is shutting the connection down gracefully.";
}

/// What the crate knows about one status.
struct KnownStatus {
    status: NtStatus,
    name: &'static str,
    description: &'static str,
    winsock: Option<WinsockError>,
    hint: Option<&'static str>,
}

// One line per status defines its constant and its table entry, so the two cannot drift.
// Winsock equivalents follow the table Windows' Winsock applies to AFD completions (as
// reproduced by Wine's ws2_32 `NtStatusToWSAError`); `None` where that table has no entry
// of its own (it would report the catch-all WSAEINVAL, which tells the user nothing).
macro_rules! statuses {
    ($($name:ident = $value:literal, $description:literal, $winsock:expr, $hint:expr;)*) => {
        impl NtStatus {
            $(
                #[doc = concat!("`STATUS_", stringify!($name), "` (", stringify!($value), "): ", $description)]
                pub const $name: NtStatus = NtStatus::from_u32($value);
            )*
        }

        const KNOWN_STATUSES: &[KnownStatus] = &[$(
            KnownStatus {
                status: NtStatus::$name,
                name: concat!("STATUS_", stringify!($name)),
                description: $description,
                winsock: $winsock,
                hint: $hint,
            },
        )*];
    };
}

const NO_HINT: Option<&str> = None;
const NO_WSA: Option<WinsockError> = None;

statuses! {
    SUCCESS = 0x0000_0000, "The operation completed successfully.", NO_WSA, NO_HINT;
    TIMEOUT = 0x0000_0102, "The wait timed out before the object was signalled.", NO_WSA,
        Some("Retry, or allow a longer timeout.");
    PENDING = 0x0000_0103, "The operation has started and will complete later.",
        Some(WinsockError::WSA_IO_PENDING), NO_HINT;
    BUFFER_OVERFLOW = 0x8000_0005, "The data did not fit in the buffer; only part of it was returned.",
        Some(WinsockError::WSAEMSGSIZE), Some("Retry with a larger output buffer.");
    DEVICE_BUSY = 0x8000_0011, "The device is busy.", NO_WSA,
        Some("Wait for the pending operations to finish and retry.");
    UNSUCCESSFUL = 0xC000_0001, "The operation failed.", NO_WSA, NO_HINT;
    NOT_IMPLEMENTED = 0xC000_0002, "The requested operation is not implemented.",
        Some(WinsockError::WSAEOPNOTSUPP),
        Some("The WSK provider lacks this call; under Wine use the project's own provider.");
    INFO_LENGTH_MISMATCH = 0xC000_0004, "The buffer length does not match the size the request requires.",
        NO_WSA, Some("The request was malformed: make sure the client and driver come from the same release.");
    ACCESS_VIOLATION = 0xC000_0005, "An invalid memory address was accessed.",
        Some(WinsockError::WSAEFAULT), NO_HINT;
    INVALID_HANDLE = 0xC000_0008, "The handle is not valid.", Some(WinsockError::WSAENOTSOCK), NO_HINT;
    INVALID_PARAMETER = 0xC000_000D, "A parameter of the request is not valid.",
        Some(WinsockError::WSAEINVAL), Some("Check the arguments (flags, ids, lengths and service names).");
    NO_SUCH_DEVICE = 0xC000_000E, "The device does not exist.", Some(WinsockError::WSAENETDOWN),
        Some("Load the driver with `wskctl driver start`.");
    INVALID_DEVICE_REQUEST = 0xC000_0010, "The device does not support this request.", NO_WSA,
        Some("The IOCTL code is unknown to this driver: check the code or update the driver.");
    MORE_PROCESSING_REQUIRED = 0xC000_0016, "The request needs more processing before it completes.", NO_WSA, NO_HINT;
    NO_MEMORY = 0xC000_0017, "Not enough memory was available to complete the operation.",
        Some(WinsockError::WSAENOBUFS), Some("Free memory or close unused endpoints and retry.");
    ACCESS_DENIED = 0xC000_0022, "Access was denied.", Some(WinsockError::WSAEACCES),
        Some("Run as Administrator, or check the device and socket security descriptors.");
    BUFFER_TOO_SMALL = 0xC000_0023, "The buffer is too small for the result.", Some(WinsockError::WSAEFAULT),
        Some("Retry with a larger output buffer.");
    OBJECT_TYPE_MISMATCH = 0xC000_0024, "The object is not of the type the operation requires.",
        Some(WinsockError::WSAENOTSOCK), NO_HINT;
    OBJECT_NAME_NOT_FOUND = 0xC000_0034, "The named object was not found.", Some(WinsockError::WSAENETDOWN),
        Some("Check the name; for the device, load the driver with `wskctl driver start`.");
    OBJECT_NAME_COLLISION = 0xC000_0035, "An object with that name already exists.", NO_WSA,
        Some("Another instance of the driver (or another driver) already created the device; stop it first.");
    SHARING_VIOLATION = 0xC000_0043, "The object is already in use in a way that prevents sharing.",
        Some(WinsockError::WSAEADDRINUSE), NO_HINT;
    QUOTA_EXCEEDED = 0xC000_0044, "The handle's quota (endpoints, pending requests or locked bytes) is used up.",
        Some(WinsockError::WSAENOBUFS),
        Some("Close endpoints or wait for pending requests to complete; each handle has its own quota.");
    DELETE_PENDING = 0xC000_0056, "The object is being deleted.", NO_WSA,
        Some("Wait for the driver to stop completely, then retry.");
    REVISION_MISMATCH = 0xC000_0059, "The request's version does not match the version the driver speaks.",
        NO_WSA, Some("Use a wskctl and a driver built from the same release.");
    INVALID_SECURITY_DESCR = 0xC000_0079, "The security descriptor is not valid.", NO_WSA, NO_HINT;
    INSUFFICIENT_RESOURCES = 0xC000_009A, "System resources were insufficient to complete the operation.",
        Some(WinsockError::WSAENOBUFS), Some("Close unused endpoints and retry.");
    DEVICE_NOT_READY = 0xC000_00A3, "The device is not ready.", Some(WinsockError::WSAEWOULDBLOCK),
        Some("Retry in a moment.");
    PIPE_DISCONNECTED = 0xC000_00B0, "The other end of the channel has been closed.",
        Some(WinsockError::WSAESHUTDOWN), NO_HINT;
    IO_TIMEOUT = 0xC000_00B5, "The I/O operation did not complete before its timeout.",
        Some(WinsockError::WSAETIMEDOUT), Some("Check that the peer is reachable and responding, or raise --timeout-ms.");
    // What every WSK socket function returns for a socket that "is no longer functional"
    // (the WSK reference pages, e.g. WskBind's): only WskCloseSocket is useful then.
    FILE_FORCED_CLOSED = 0xC000_00B6, "The socket is no longer functional: close it.", NO_WSA,
        Some("Close the endpoint and open a new one.");
    NOT_SUPPORTED = 0xC000_00BB, "The request is not supported.", Some(WinsockError::WSAEOPNOTSUPP), NO_HINT;
    REMOTE_NOT_LISTENING = 0xC000_00BC, "The remote computer is not listening.",
        Some(WinsockError::WSAECONNREFUSED), Some("Check that a server listens on that address and port.");
    NETWORK_BUSY = 0xC000_00BF, "The network is busy.", Some(WinsockError::WSAENETDOWN), Some("Retry later.");
    CANT_WAIT = 0xC000_00D8, "The operation could not complete without waiting.", NO_WSA, NO_HINT;
    INTERNAL_ERROR = 0xC000_00E5, "An internal error occurred.", NO_WSA,
        Some("This is a bug: report it with the driver's debug output.");
    INVALID_USER_BUFFER = 0xC000_00E8, "The buffer given with the request could not be used for it.",
        Some(WinsockError::WSAEFAULT),
        Some("Under Wine 8.0, data sent from read-only memory (a string literal) is refused: send from a writable buffer.");
    TOO_MANY_OPENED_FILES = 0xC000_011F, "Too many files or handles are open.", NO_WSA,
        Some("Close unused handles and retry.");
    CANCELLED = 0xC000_0120, "The operation was cancelled.", Some(WinsockError::WSA_OPERATION_ABORTED), NO_HINT;
    LOCAL_DISCONNECT = 0xC000_013B, "The connection was disconnected locally.",
        Some(WinsockError::WSAECONNABORTED), NO_HINT;
    REMOTE_DISCONNECT = 0xC000_013C, "The connection was disconnected by the remote side.",
        Some(WinsockError::WSAECONNRESET), NO_HINT;
    INVALID_CONNECTION = 0xC000_0140, "The operation needs a connection and there is none.",
        Some(WinsockError::WSAENOTCONN), NO_HINT;
    INVALID_ADDRESS = 0xC000_0141, "The address is not valid.", Some(WinsockError::WSAEADDRNOTAVAIL),
        Some("Use an address of this machine (or 0.0.0.0) for local addresses.");
    INVALID_DEVICE_STATE = 0xC000_0184, "The object is not in a state that allows this operation.", NO_WSA,
        Some("The endpoint does not support this operation (for example, sending on a listener).");
    ADDRESS_ALREADY_EXISTS = 0xC000_020A, "The address is already in use.", Some(WinsockError::WSAEADDRINUSE),
        Some("Pick another port, or close the endpoint that holds this one.");
    CONNECTION_DISCONNECTED = 0xC000_020C, "The connection was disconnected.",
        Some(WinsockError::WSAECONNRESET), NO_HINT;
    CONNECTION_RESET = 0xC000_020D, "The connection was reset by the peer.", Some(WinsockError::WSAECONNRESET),
        Some("The peer closed the connection abruptly: open a new one.");
    INVALID_BUFFER_SIZE = 0xC000_0206, "The buffer size is not valid for this operation.",
        Some(WinsockError::WSAEMSGSIZE), NO_HINT;
    INVALID_ADDRESS_COMPONENT = 0xC000_0207, "A component of the address is not valid.",
        Some(WinsockError::WSAEADDRNOTAVAIL), Some("Give an IPv4 or IPv6 address with a non-zero port.");
    TOO_MANY_ADDRESSES = 0xC000_0209, "Too many addresses are in use.", Some(WinsockError::WSAENOBUFS), NO_HINT;
    NOT_FOUND = 0xC000_0225, "The object was not found.", NO_WSA,
        Some("The endpoint id is unknown or was closed: run `wskctl list` to see the open endpoints.");
    CONNECTION_REFUSED = 0xC000_0236, "The remote system refused the connection.",
        Some(WinsockError::WSAECONNREFUSED), Some("Check that a server listens on that address and port.");
    DATA_NOT_ACCEPTED = 0xC000_021B, "The receiver did not accept the indicated data; it stays queued.", None, NO_HINT;
    GRACEFUL_DISCONNECT = 0xC000_0237, "The connection was closed gracefully.", Some(WinsockError::WSAEDISCON), NO_HINT;
    ADDRESS_ALREADY_ASSOCIATED = 0xC000_0238, "The endpoint already has an address.",
        Some(WinsockError::WSAEINVAL), NO_HINT;
    CONNECTION_INVALID = 0xC000_023A, "An operation was attempted on a connection that does not exist.",
        NO_WSA, NO_HINT;
    CONNECTION_ACTIVE = 0xC000_023B, "The endpoint is already connected.", Some(WinsockError::WSAEISCONN), NO_HINT;
    NETWORK_UNREACHABLE = 0xC000_023C, "The network cannot be reached.", Some(WinsockError::WSAENETUNREACH),
        Some("Check the routing and the network configuration.");
    HOST_UNREACHABLE = 0xC000_023D, "The host cannot be reached.", Some(WinsockError::WSAEHOSTUNREACH),
        Some("Check the address and that the host is up.");
    PROTOCOL_UNREACHABLE = 0xC000_023E, "The protocol is not available on the remote system.",
        Some(WinsockError::WSAENETUNREACH), NO_HINT;
    PORT_UNREACHABLE = 0xC000_023F, "No service is operating at the destination port.",
        Some(WinsockError::WSAECONNRESET), Some("Check that a server listens on that port.");
    REQUEST_ABORTED = 0xC000_0240, "The request was aborted.", Some(WinsockError::WSAEINTR), NO_HINT;
    CONNECTION_ABORTED = 0xC000_0241, "The connection was aborted by the local system.",
        Some(WinsockError::WSAECONNABORTED), NO_HINT;
    HOST_DOWN = 0xC000_0350, "The host is down.", Some(WinsockError::WSAEHOSTDOWN),
        Some("Check that the host is up.");
}

impl NtStatus {
    /// The status whose 32-bit pattern is `value` (as written in headers, e.g. `0xC0000225`).
    #[must_use]
    pub const fn from_u32(value: u32) -> Self {
        Self(i32::from_ne_bytes(value.to_ne_bytes()))
    }

    /// The 32-bit pattern of this status, as written in headers.
    #[must_use]
    pub const fn as_u32(self) -> u32 {
        u32::from_ne_bytes(self.0.to_ne_bytes())
    }

    /// The severity field (bits 31..30): 0 success, 1 informational, 2 warning, 3 error.
    #[must_use]
    pub const fn severity(self) -> u8 {
        // The shifted value is at most 3, so it fits.
        #[allow(clippy::cast_possible_truncation)]
        let severity = (self.as_u32() >> 30) as u8;
        severity
    }

    /// `NT_SUCCESS`: true for success and informational values (non-negative as `i32`).
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    /// True for informational values (severity 1), such as [`NtStatus::PENDING`]'s siblings.
    #[must_use]
    pub const fn is_information(self) -> bool {
        self.severity() == 1
    }

    /// True for warnings (severity 2), such as [`NtStatus::BUFFER_OVERFLOW`].
    #[must_use]
    pub const fn is_warning(self) -> bool {
        self.severity() == 2
    }

    /// True for errors (severity 3), such as [`NtStatus::NOT_FOUND`].
    #[must_use]
    pub const fn is_error(self) -> bool {
        self.severity() == 3
    }

    fn known(self) -> Option<&'static KnownStatus> {
        KNOWN_STATUSES.iter().find(|known| known.status == self)
    }

    /// The symbolic name, e.g. `"STATUS_NOT_FOUND"`, or `None` for a value this crate does
    /// not know.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        self.known().map(|known| known.name)
    }

    /// What the status means, as one plain sentence, or `None` for an unknown value.
    #[must_use]
    pub fn description(self) -> Option<&'static str> {
        self.known().map(|known| known.description)
    }

    /// The Winsock error Windows' Winsock reports for this status, if it has a specific one.
    #[must_use]
    pub fn winsock_error(self) -> Option<WinsockError> {
        self.known().and_then(|known| known.winsock)
    }

    /// What a user can do about this status, for the statuses users commonly meet.
    #[must_use]
    pub fn hint(self) -> Option<&'static str> {
        self.known().and_then(|known| known.hint)
    }

    /// Every status this crate knows, in the order of its table.
    pub fn known_statuses() -> impl Iterator<Item = NtStatus> {
        KNOWN_STATUSES.iter().map(|known| known.status)
    }
}

impl From<i32> for NtStatus {
    fn from(value: i32) -> Self {
        Self(value)
    }
}

impl From<NtStatus> for i32 {
    fn from(status: NtStatus) -> Self {
        status.0
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.as_u32()),
            None => write!(f, "NTSTATUS 0x{:08X}", self.as_u32()),
        }
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known() {
            Some(known) => write!(
                f,
                "{} (0x{:08X}): {}",
                known.name,
                self.as_u32(),
                known.description
            ),
            None => write!(f, "NTSTATUS 0x{:08X}", self.as_u32()),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::{NtStatus, WinsockError, ALL_WINSOCK_ERRORS, KNOWN_STATUSES};
    use std::collections::{HashMap, HashSet};
    use std::format;
    use std::string::String;

    const WINE_INCLUDE: &str = "/usr/include/wine/wine/windows";

    /// `#define NAME ((TYPE) 0x...)` or `#define NAME (BASE+N)` lines of a Wine header.
    fn header_defines(file: &str) -> Option<HashMap<String, String>> {
        let text = std::fs::read_to_string(format!("{WINE_INCLUDE}/{file}")).ok()?;
        let mut defines = HashMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            let (Some(name), rest) = (words.next(), words.collect::<std::vec::Vec<_>>().join(" "))
            else {
                continue;
            };
            defines.insert(String::from(name), rest);
        }
        Some(defines)
    }

    fn parse_hex(text: &str) -> Option<u32> {
        let start = text.find("0x")?;
        let digits: String = text[start + 2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        u32::from_str_radix(&digits, 16).ok()
    }

    #[test]
    fn every_constant_matches_wine_ntstatus_h() {
        // `cargo xtask setup` (run by `cargo xtask test`) installs libwine-dev.
        let defines = header_defines("ntstatus.h").unwrap_or_else(|| {
            panic!("{WINE_INCLUDE}/ntstatus.h is missing: run `cargo xtask setup` (libwine-dev)")
        });
        for known in KNOWN_STATUSES {
            let text = defines
                .get(known.name)
                .unwrap_or_else(|| panic!("{} is not in ntstatus.h", known.name));
            assert_eq!(
                parse_hex(text),
                Some(known.status.as_u32()),
                "{}",
                known.name
            );
        }
    }

    fn winsock_value(defines: &HashMap<String, String>, name: &str) -> Option<i32> {
        let text = defines.get(name)?.trim_matches(|c| c == '(' || c == ')');
        if let Some(offset) = text.strip_prefix("WSABASEERR+") {
            return offset.parse::<i32>().ok().map(|n| 10000 + n);
        }
        if text.starts_with("ERROR_") {
            return winsock_value(defines, text);
        }
        text.parse().ok()
    }

    #[test]
    fn every_winsock_code_matches_wine_headers() {
        let (Some(mut defines), Some(winsock2)) =
            (header_defines("winerror.h"), header_defines("winsock2.h"))
        else {
            panic!(
                "Wine's winerror.h / winsock2.h are missing: run `cargo xtask setup` (libwine-dev)"
            );
        };
        defines.extend(winsock2);
        for error in ALL_WINSOCK_ERRORS {
            assert_eq!(
                winsock_value(&defines, error.name),
                Some(error.code),
                "{}",
                error.name
            );
        }
    }

    #[test]
    fn values_and_names_are_unique() {
        let values: HashSet<u32> = KNOWN_STATUSES.iter().map(|k| k.status.as_u32()).collect();
        let names: HashSet<&str> = KNOWN_STATUSES.iter().map(|k| k.name).collect();
        assert_eq!(values.len(), KNOWN_STATUSES.len());
        assert_eq!(names.len(), KNOWN_STATUSES.len());
    }

    #[test]
    fn descriptions_are_single_sentences_and_hints_are_sentences() {
        for known in KNOWN_STATUSES {
            let d = known.description;
            assert!(
                d.ends_with('.') && d.matches(". ").count() == 0,
                "{}: {d}",
                known.name
            );
            assert!(
                d.starts_with(|c: char| c.is_ascii_uppercase()),
                "{}: {d}",
                known.name
            );
            if let Some(hint) = known.hint {
                assert!(hint.ends_with('.'), "{}: {hint}", known.name);
            }
        }
    }

    #[test]
    fn u32_round_trip_and_sign() {
        let s = NtStatus::from_u32(0xC000_0225);
        assert_eq!(s, NtStatus::NOT_FOUND);
        assert_eq!(s.as_u32(), 0xC000_0225);
        assert!(s.0 < 0);
        assert_eq!(i32::from(s), s.0);
        assert_eq!(NtStatus::from(s.0), s);
        assert_eq!(NtStatus::from_u32(u32::MAX).as_u32(), u32::MAX);
    }

    #[test]
    fn severity_classes() {
        assert!(NtStatus::SUCCESS.is_success());
        assert!(!NtStatus::SUCCESS.is_error());
        assert!(NtStatus::PENDING.is_success());
        assert!(NtStatus::TIMEOUT.is_success());
        assert!(!NtStatus::PENDING.is_warning());
        assert!(NtStatus::BUFFER_OVERFLOW.is_warning());
        assert!(!NtStatus::BUFFER_OVERFLOW.is_success());
        assert!(!NtStatus::BUFFER_OVERFLOW.is_error());
        assert!(NtStatus::DEVICE_BUSY.is_warning());
        assert!(NtStatus::NOT_FOUND.is_error());
        assert!(!NtStatus::NOT_FOUND.is_success());
        assert!(NtStatus::from_u32(0x4000_0000).is_information());
        assert!(NtStatus::from_u32(0x4000_0000).is_success());
        assert_eq!(NtStatus::CONNECTION_REFUSED.severity(), 3);
    }

    #[test]
    fn names_descriptions_hints() {
        assert_eq!(NtStatus::NOT_FOUND.name(), Some("STATUS_NOT_FOUND"));
        assert_eq!(NtStatus::SUCCESS.name(), Some("STATUS_SUCCESS"));
        assert!(NtStatus::IO_TIMEOUT
            .description()
            .is_some_and(|d| d.contains("timeout")));
        assert!(NtStatus::CONNECTION_REFUSED.hint().is_some());
        let unknown = NtStatus::from_u32(0xC0FF_EE00);
        assert_eq!(unknown.name(), None);
        assert_eq!(unknown.description(), None);
        assert_eq!(unknown.hint(), None);
        assert_eq!(unknown.winsock_error(), None);
    }

    #[test]
    fn winsock_mapping_follows_windows() {
        let cases = [
            (NtStatus::CONNECTION_REFUSED, 10061, "WSAECONNREFUSED"),
            (NtStatus::CONNECTION_RESET, 10054, "WSAECONNRESET"),
            (NtStatus::CONNECTION_ABORTED, 10053, "WSAECONNABORTED"),
            (NtStatus::IO_TIMEOUT, 10060, "WSAETIMEDOUT"),
            (NtStatus::HOST_UNREACHABLE, 10065, "WSAEHOSTUNREACH"),
            (NtStatus::NETWORK_UNREACHABLE, 10051, "WSAENETUNREACH"),
            (NtStatus::ADDRESS_ALREADY_EXISTS, 10048, "WSAEADDRINUSE"),
            (
                NtStatus::INVALID_ADDRESS_COMPONENT,
                10049,
                "WSAEADDRNOTAVAIL",
            ),
            (NtStatus::INSUFFICIENT_RESOURCES, 10055, "WSAENOBUFS"),
            (NtStatus::GRACEFUL_DISCONNECT, 10101, "WSAEDISCON"),
            (NtStatus::CANCELLED, 995, "WSA_OPERATION_ABORTED"),
            (NtStatus::REQUEST_ABORTED, 10004, "WSAEINTR"),
            (NtStatus::PORT_UNREACHABLE, 10054, "WSAECONNRESET"),
        ];
        for (status, code, name) in cases {
            assert_eq!(
                status.winsock_error(),
                Some(WinsockError { code, name }),
                "{status:?}"
            );
        }
        assert_eq!(NtStatus::NOT_FOUND.winsock_error(), None);
        assert_eq!(NtStatus::SUCCESS.winsock_error(), None);
    }

    #[test]
    fn debug_and_display_formats() {
        assert_eq!(
            format!("{:?}", NtStatus::NOT_FOUND),
            "STATUS_NOT_FOUND (0xC0000225)"
        );
        assert_eq!(
            format!("{}", NtStatus::NOT_FOUND),
            format!(
                "STATUS_NOT_FOUND (0xC0000225): {}",
                NtStatus::NOT_FOUND.description().unwrap_or_default()
            )
        );
        assert_eq!(
            format!("{:?}", NtStatus::from_u32(0xC0FF_EE00)),
            "NTSTATUS 0xC0FFEE00"
        );
        assert_eq!(
            format!("{}", NtStatus::from_u32(0x1)),
            "NTSTATUS 0x00000001"
        );
        assert_eq!(
            format!("{}", WinsockError::WSAECONNREFUSED),
            "WSAECONNREFUSED (10061)"
        );
    }

    #[test]
    fn known_statuses_lists_every_constant() {
        let all: HashSet<NtStatus> = NtStatus::known_statuses().collect();
        assert!(all.contains(&NtStatus::HOST_DOWN));
        assert!(all.contains(&NtStatus::SUCCESS));
        assert_eq!(all.len(), KNOWN_STATUSES.len());
    }
}
