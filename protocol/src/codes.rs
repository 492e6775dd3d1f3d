//! IOCTL codes.

use core::fmt;

/// The device type of the wsk-rs device (vendor range, >= 0x8000).
pub const DEVICE_TYPE: u32 = 0x8057;
/// `METHOD_BUFFERED` (0): the I/O manager copies both buffers (every code but the four data
/// codes). Values: `winioctl.h` / `devioctl.h`, "Defining I/O Control Codes" and "Buffer
/// Descriptions for I/O Control Codes" (learn.microsoft.com/windows-hardware/drivers/kernel).
pub const METHOD_BUFFERED: u32 = 0;
/// `METHOD_IN_DIRECT` (1): the input buffer is copied; the output buffer is locked and handed
/// to the driver as an MDL it reads from (SEND, `SEND_TO`: the data to send).
pub const METHOD_IN_DIRECT: u32 = 1;
/// `METHOD_OUT_DIRECT` (2): the input buffer is copied; the output buffer is locked and
/// handed to the driver as an MDL it writes to (RECV, `RECV_FROM`: the data received;
/// TRANSACT reads the bytes to send from it first).
pub const METHOD_OUT_DIRECT: u32 = 2;
/// `FILE_ANY_ACCESS`: any open handle may send the code (no wsk-rs code uses it since ABI 4).
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_DATA` (`FILE_READ_ACCESS`) access bit: the I/O manager refuses the code with
/// `STATUS_ACCESS_DENIED` on a handle opened without read access. The query codes need it.
pub const FILE_READ_DATA: u32 = 1;
/// `FILE_WRITE_DATA` (`FILE_WRITE_ACCESS`) access bit: with [`FILE_READ_DATA`], what every
/// code that changes state needs.
pub const FILE_WRITE_DATA: u32 = 2;

/// The Windows `CTL_CODE` macro: `(device_type << 16) | (access << 14) | (function << 2) | method`.
///
/// Bits that do not fit their field are shifted out, as in C.
#[must_use]
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    device_type.wrapping_shl(16) | access.wrapping_shl(14) | function.wrapping_shl(2) | method
}

/// An IOCTL code of the wsk-rs device.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoctlCode(pub u32);

/// What the query codes need (ABI 4).
const READ: u32 = FILE_READ_DATA;
/// What every code that changes state needs.
const READ_WRITE: u32 = FILE_READ_DATA | FILE_WRITE_DATA;

/// Declares the wsk-rs IOCTL codes, each once: its constant (function, transfer method and
/// required access; the device type is [`DEVICE_TYPE`]), its place in [`IoctlCode::ALL`]
/// (the table's order, by function) and its name.
macro_rules! ioctl_codes {
    ($($(#[$doc:meta])* $name:ident = $function:literal, $method:ident, $access:expr;)*) => {
        impl IoctlCode {
            $(
                $(#[$doc])*
                pub const $name: Self = Self(ctl_code(DEVICE_TYPE, $function, $method, $access));
            )*

            /// Every code of the ABI, in function order (0x800 upwards).
            pub const ALL: [Self; [$(stringify!($name)),*].len()] = [$(Self::$name),*];

            /// The code's name (`"TCP_CONNECT"`), or `None` if it is not a wsk-rs code.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

ioctl_codes! {
    /// Driver and ABI versions and the endpoint count (`InfoRequest` -> `InfoReply`).
    INFO = 0x800, METHOD_BUFFERED, READ;
    /// Open a TCP connection (`TcpConnectRequest` -> `EndpointReply`).
    TCP_CONNECT = 0x801, METHOD_BUFFERED, READ_WRITE;
    /// Open a TCP listener running an in-kernel service (`TcpListenRequest` -> `EndpointReply`).
    TCP_LISTEN = 0x802, METHOD_BUFFERED, READ_WRITE;
    /// Send bytes on a connection (`SendRequest`; the data is the output buffer, by direct
    /// I/O).
    SEND = 0x803, METHOD_IN_DIRECT, READ_WRITE;
    /// Receive bytes from a connection (`RecvRequest`; the data lands in the output buffer,
    /// by direct I/O).
    RECV = 0x804, METHOD_OUT_DIRECT, READ_WRITE;
    /// Close an endpoint (`CloseRequest` -> `CloseReply`).
    CLOSE = 0x805, METHOD_BUFFERED, READ_WRITE;
    /// List the endpoints visible to the caller (`ListRequest` -> `ListReply` + entries).
    LIST = 0x806, METHOD_BUFFERED, READ;
    /// Open a UDP socket, user-driven or running an in-kernel service
    /// (`UdpBindRequest` -> `EndpointReply`).
    UDP_BIND = 0x807, METHOD_BUFFERED, READ_WRITE;
    /// Send one datagram (`SendToRequest`; the datagram is the output buffer, by direct I/O).
    SEND_TO = 0x808, METHOD_IN_DIRECT, READ_WRITE;
    /// Receive one datagram (`RecvFromRequest`; the output buffer, by direct I/O, receives a
    /// `RecvFromReply` and the datagram after it).
    RECV_FROM = 0x809, METHOD_OUT_DIRECT, READ_WRITE;
    /// Shut down a connection, gracefully or abortively (`DisconnectRequest` ->
    /// `DisconnectReply`).
    DISCONNECT = 0x80A, METHOD_BUFFERED, READ_WRITE;
    /// Get or set a socket option (`SocketOptionRequest` -> `SocketOptionReply`).
    SOCKET_OPTION = 0x80B, METHOD_BUFFERED, READ_WRITE;
    /// An endpoint's security descriptor as SDDL (`SecurityRequest` -> `SecurityReply`).
    SECURITY = 0x80C, METHOD_BUFFERED, READ;
    /// Resolve a name to addresses (`ResolveRequest`; the output buffer, by direct I/O,
    /// receives a `ResolveReply` and the addresses). Pends while the name resolves.
    RESOLVE = 0x80D, METHOD_OUT_DIRECT, READ;
    /// Driver-wide counters (`StatsRequest` -> `StatsReply`).
    STATS = 0x80E, METHOD_BUFFERED, READ;
    /// Take a connection queued on an accept-mode listener (`AcceptRequest`; the output
    /// buffer, by direct I/O, receives the new connection's `EndpointReply`). Pends until a
    /// connection arrives.
    ACCEPT = 0x80F, METHOD_OUT_DIRECT, READ_WRITE;
    /// Hand a connection to an in-kernel service (`ServeRequest` -> `ServeReply`): from then
    /// on the service drives it and the user's data requests on it are refused.
    SERVE = 0x810, METHOD_BUFFERED, READ_WRITE;
    /// What the driver's WSK library holds now: pool, IRPs, MDLs, sockets, work items
    /// (`HeldRequest` -> `HeldReply`), for leak checks.
    HELD = 0x811, METHOD_BUFFERED, READ;
    /// Name a UDP endpoint's peer for the security protocol (`SIO_SET_PEER_TARGET_NAME`;
    /// `PeerTargetNameRequest` -> `PeerTargetNameReply`).
    SET_PEER_TARGET_NAME = 0x812, METHOD_BUFFERED, READ_WRITE;
    /// Forget a UDP endpoint's peer target name (`SIO_DELETE_PEER_TARGET_NAME`;
    /// `DeletePeerTargetNameRequest` -> `DeletePeerTargetNameReply`).
    DELETE_PEER_TARGET_NAME = 0x813, METHOD_BUFFERED, READ_WRITE;
    /// The security of a connection, or of a UDP endpoint's traffic with a peer
    /// (`SIO_QUERY_SECURITY`; `QuerySecurityRequest` -> `QuerySecurityReply`), never the
    /// peer's token handles.
    QUERY_SECURITY = 0x814, METHOD_BUFFERED, READ;
    /// Send a request and receive its reply in one IOCTL (`TransactRequest`; the output
    /// buffer, by direct I/O, holds the bytes to send and then receives the reply).
    TRANSACT = 0x815, METHOD_OUT_DIRECT, READ_WRITE;
    /// The control device's DACL as the object manager holds it, read back by the driver
    /// (`DeviceSecurityRequest` -> `SecurityReply`).
    DEVICE_SECURITY = 0x816, METHOD_BUFFERED, READ;
}

impl IoctlCode {
    /// INFO as clients of ABI versions 1 to 3 send it (`FILE_ANY_ACCESS`): not a code of this
    /// ABI, but answered with `STATUS_REVISION_MISMATCH` so that such a client reports the
    /// version mismatch rather than an unknown code.
    pub const INFO_BEFORE_ABI_4: Self = Self(ctl_code(
        DEVICE_TYPE,
        0x800,
        METHOD_BUFFERED,
        FILE_ANY_ACCESS,
    ));

    /// The device type field (bits 31..16).
    #[must_use]
    pub const fn device_type(self) -> u32 {
        self.0 >> 16
    }

    /// The function field (bits 13..2).
    #[must_use]
    pub const fn function(self) -> u32 {
        (self.0 >> 2) & 0xFFF
    }

    /// The required-access field (bits 15..14).
    #[must_use]
    pub const fn access(self) -> u32 {
        (self.0 >> 14) & 0x3
    }

    /// The transfer-method field (bits 1..0).
    #[must_use]
    pub const fn method(self) -> u32 {
        self.0 & 0x3
    }

    /// Whether the code uses direct I/O ([`METHOD_IN_DIRECT`] or [`METHOD_OUT_DIRECT`]): its
    /// output buffer is the data, locked and described by an MDL, and the request may pend.
    #[must_use]
    pub const fn is_direct(self) -> bool {
        matches!(self.method(), METHOD_IN_DIRECT | METHOD_OUT_DIRECT)
    }
}

impl fmt::Debug for IoctlCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "IOCTL_WSKRS_{name} (0x{:08X})", self.0),
            None => write!(f, "IOCTL 0x{:08X}", self.0),
        }
    }
}

impl fmt::Display for IoctlCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{ctl_code, IoctlCode};
    use std::format;

    #[test]
    fn codes_match_ctl_code_by_hand() {
        assert_eq!(IoctlCode::INFO.0, 0x8057_6000);
        assert_eq!(IoctlCode::TCP_CONNECT.0, 0x8057_E004);
        assert_eq!(IoctlCode::TCP_LISTEN.0, 0x8057_E008);
        // The data codes carry their method: 1 (in direct) or 2 (out direct).
        assert_eq!(IoctlCode::SEND.0, 0x8057_E00D);
        assert_eq!(IoctlCode::RECV.0, 0x8057_E012);
        assert_eq!(IoctlCode::CLOSE.0, 0x8057_E014);
        assert_eq!(IoctlCode::LIST.0, 0x8057_6018);
        assert_eq!(IoctlCode::UDP_BIND.0, 0x8057_E01C);
        assert_eq!(IoctlCode::SEND_TO.0, 0x8057_E021);
        assert_eq!(IoctlCode::RECV_FROM.0, 0x8057_E026);
        assert_eq!(IoctlCode::DISCONNECT.0, 0x8057_E028);
        // CTL_CODE(0x8057, 0x80F, METHOD_OUT_DIRECT, FILE_READ_DATA | FILE_WRITE_DATA)
        assert_eq!(IoctlCode::ACCEPT.0, 0x8057_E03E);
        // CTL_CODE(0x8057, 0x810, METHOD_BUFFERED, FILE_READ_DATA | FILE_WRITE_DATA)
        assert_eq!(IoctlCode::SERVE.0, 0x8057_E040);
        assert_eq!(IoctlCode::SOCKET_OPTION.0, 0x8057_E02C);
        // CTL_CODE(0x8057, 0x80C, METHOD_BUFFERED, FILE_READ_DATA): the query codes (ABI 4).
        assert_eq!(IoctlCode::SECURITY.0, 0x8057_6030);
        // CTL_CODE(0x8057, 0x80D, METHOD_OUT_DIRECT, FILE_READ_DATA): direct since ABI 7.
        assert_eq!(IoctlCode::RESOLVE.0, 0x8057_6036);
        assert_eq!(IoctlCode::STATS.0, 0x8057_6038);
        // CTL_CODE(0x8057, 0x811, METHOD_BUFFERED, FILE_READ_DATA)
        assert_eq!(IoctlCode::HELD.0, 0x8057_6044);
        // CTL_CODE(0x8057, 0x812 / 0x813, METHOD_BUFFERED, FILE_READ_DATA | FILE_WRITE_DATA)
        assert_eq!(IoctlCode::SET_PEER_TARGET_NAME.0, 0x8057_E048);
        assert_eq!(IoctlCode::DELETE_PEER_TARGET_NAME.0, 0x8057_E04C);
        // CTL_CODE(0x8057, 0x814, METHOD_BUFFERED, FILE_READ_DATA)
        assert_eq!(IoctlCode::QUERY_SECURITY.0, 0x8057_6050);
        // CTL_CODE(0x8057, 0x815, METHOD_OUT_DIRECT, FILE_READ_DATA | FILE_WRITE_DATA)
        assert_eq!(IoctlCode::TRANSACT.0, 0x8057_E056);
        // CTL_CODE(0x8057, 0x816, METHOD_BUFFERED, FILE_READ_DATA)
        assert_eq!(IoctlCode::DEVICE_SECURITY.0, 0x8057_6058);
        // Well-known Windows codes: IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(7, 0, 0, 0);
        // IOCTL_SCSI_PASS_THROUGH_DIRECT = CTL_CODE(4, 0x405, METHOD_BUFFERED, 3) = 0x4D014
        // and FSCTL_READ_FROM_PLEX = CTL_CODE(9, 71, METHOD_OUT_DIRECT, FILE_READ_DATA)
        // = 0x9411E (winioctl.h).
        assert_eq!(ctl_code(4, 0x405, 0, 3), 0x0004_D014);
        assert_eq!(ctl_code(9, 71, 2, 1), 0x0009_411E);
        assert_eq!(ctl_code(7, 0, 0, 0), 0x0007_0000);
        // FSCTL_GET_REPARSE_POINT = CTL_CODE(9, 42, METHOD_BUFFERED, FILE_ANY_ACCESS).
        assert_eq!(ctl_code(9, 42, 0, 0), 0x0009_00A8);
    }

    #[test]
    fn fields_decode() {
        for (index, code) in IoctlCode::ALL.iter().enumerate() {
            assert_eq!(code.device_type(), 0x8057);
            let expected_method = match *code {
                IoctlCode::SEND | IoctlCode::SEND_TO => 1,
                IoctlCode::RECV
                | IoctlCode::RECV_FROM
                | IoctlCode::RESOLVE
                | IoctlCode::ACCEPT
                | IoctlCode::TRANSACT => 2,
                _ => 0,
            };
            assert_eq!(code.method(), expected_method, "{code:?}");
            assert_eq!(code.is_direct(), expected_method != 0, "{code:?}");
            assert_eq!(
                code.function(),
                0x800 + u32::try_from(index).unwrap_or(u32::MAX)
            );
            let read_only = [
                IoctlCode::INFO,
                IoctlCode::LIST,
                IoctlCode::SECURITY,
                IoctlCode::RESOLVE,
                IoctlCode::STATS,
                IoctlCode::HELD,
                IoctlCode::QUERY_SECURITY,
                IoctlCode::DEVICE_SECURITY,
            ];
            // No code is FILE_ANY_ACCESS: queries need read access, the rest read and write.
            let expected_access = if read_only.contains(code) { 1 } else { 3 };
            assert_eq!(code.access(), expected_access, "{code:?}");
            assert!(code.name().is_some());
        }
        let mut names: std::vec::Vec<_> = IoctlCode::ALL.iter().map(|code| code.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), IoctlCode::ALL.len(), "names are distinct");
    }

    #[test]
    fn names_and_formatting() {
        assert_eq!(IoctlCode::RECV.name(), Some("RECV"));
        assert_eq!(IoctlCode(0x1234).name(), None);
        assert_eq!(
            format!("{:?}", IoctlCode::INFO),
            "IOCTL_WSKRS_INFO (0x80576000)"
        );
        assert_eq!(format!("{}", IoctlCode(0x1234)), "IOCTL 0x00001234");
    }
}
