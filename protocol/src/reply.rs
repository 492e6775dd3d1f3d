//! Driver side: writing replies into the output buffer.
//!
//! Every writer fills the [`Header`](crate::Header) (version and size) and returns the
//! bytes written, the value for `IoStatus.Information`. SEND, `SEND_TO`, RECV and TRANSACT
//! have no reply message: their `Information` is the byte count.

use core::fmt;
use core::net::SocketAddr;
use zerocopy::{Immutable, IntoBytes};

use crate::text::{write_padded, FieldWriter};
use crate::wire::{
    header, CloseReply, DeletePeerTargetNameReply, DisconnectReply, EndpointInfo, EndpointReply,
    HeldReply, InfoReply, ListReply, PeerTargetNameReply, QuerySecurityReply, RecvFromReply,
    ResolveReply, SecurityReply, ServeReply, SocketOptionReply, StatsReply, WireAddr, WireSize,
};
use crate::{EndpointId, Held, IoctlCode, ProtocolError, Stats, ABI_VERSION};

/// The smallest output buffer the driver accepts for `code`: the fixed reply's size, and
/// for the direct codes the smallest data buffer (1 byte; `RECV_FROM`: its 48-byte reply
/// and 1 byte). A direct request's buffer must moreover be exactly
/// [`crate::direct_output_len`]. `None` for an unknown code.
#[must_use]
pub const fn min_output_len(code: u32) -> Option<usize> {
    match IoctlCode(code) {
        IoctlCode::INFO => Some(InfoReply::LEN),
        IoctlCode::TCP_CONNECT | IoctlCode::TCP_LISTEN | IoctlCode::UDP_BIND => {
            Some(EndpointReply::LEN)
        }
        IoctlCode::SEND | IoctlCode::SEND_TO | IoctlCode::RECV | IoctlCode::TRANSACT => Some(1),
        IoctlCode::CLOSE => Some(CloseReply::LEN),
        IoctlCode::LIST => Some(ListReply::LEN),
        IoctlCode::RECV_FROM => Some(RecvFromReply::LEN + 1),
        IoctlCode::DISCONNECT => Some(DisconnectReply::LEN),
        IoctlCode::ACCEPT => Some(EndpointReply::LEN),
        IoctlCode::SERVE => Some(ServeReply::LEN),
        IoctlCode::SOCKET_OPTION => Some(SocketOptionReply::LEN),
        IoctlCode::SECURITY | IoctlCode::DEVICE_SECURITY => Some(SecurityReply::LEN),
        IoctlCode::RESOLVE => Some(ResolveReply::LEN),
        IoctlCode::STATS => Some(StatsReply::LEN),
        IoctlCode::HELD => Some(HeldReply::LEN),
        IoctlCode::SET_PEER_TARGET_NAME => Some(PeerTargetNameReply::LEN),
        IoctlCode::DELETE_PEER_TARGET_NAME => Some(DeletePeerTargetNameReply::LEN),
        IoctlCode::QUERY_SECURITY => Some(QuerySecurityReply::LEN),
        _ => None,
    }
}

fn write_fixed<T: IntoBytes + Immutable + WireSize>(
    out: &mut [u8],
    reply: &T,
) -> Result<usize, ProtocolError> {
    reply
        .write_to_prefix(out)
        .map_err(|_| ProtocolError::BufferTooSmall)?;
    Ok(T::LEN)
}

/// Writes an INFO reply for driver version `driver` (major, minor, patch).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 24 bytes.
pub fn write_info(
    out: &mut [u8],
    driver: (u16, u16, u16),
    wsk_version: u16,
    endpoint_count: u32,
) -> Result<usize, ProtocolError> {
    let (driver_major, driver_minor, driver_patch) = driver;
    write_fixed(
        out,
        &InfoReply {
            header: header(InfoReply::LEN_U32),
            driver_major,
            driver_minor,
            driver_patch,
            wsk_version,
            abi_version: ABI_VERSION,
            endpoint_count,
        },
    )
}

/// Writes the reply to `TCP_CONNECT` / `TCP_LISTEN` / `UDP_BIND`; `kind` is a `KIND_*` value.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 80 bytes.
pub fn write_endpoint(
    out: &mut [u8],
    id: EndpointId,
    kind: u32,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &EndpointReply {
            header: header(EndpointReply::LEN_U32),
            id: id.0,
            kind,
            reserved: 0,
            local: WireAddr::from_option(local),
            remote: WireAddr::from_option(remote),
        },
    )
}

/// Writes a CLOSE reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 8 bytes.
pub fn write_close(out: &mut [u8]) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &CloseReply {
            header: header(CloseReply::LEN_U32),
        },
    )
}

/// Writes a `SET_PEER_TARGET_NAME` reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 8 bytes.
pub fn write_peer_target_name(out: &mut [u8]) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &PeerTargetNameReply {
            header: header(PeerTargetNameReply::LEN_U32),
        },
    )
}

/// Writes a `DELETE_PEER_TARGET_NAME` reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 8 bytes.
pub fn write_delete_peer_target_name(out: &mut [u8]) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &DeletePeerTargetNameReply {
            header: header(DeletePeerTargetNameReply::LEN_U32),
        },
    )
}

/// Writes a `QUERY_SECURITY` reply: the `SECURE_PROTOCOL_*` value and the `SECURE_INFO_*`
/// bits the provider reported (no token handles: see `docs/protocol.md`).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 16 bytes.
pub fn write_query_security(
    out: &mut [u8],
    protocol: u32,
    flags: u32,
) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &QuerySecurityReply {
            header: header(QuerySecurityReply::LEN_U32),
            protocol,
            flags,
        },
    )
}

/// The part of a `RECV_FROM` output buffer after the 48-byte [`RecvFromReply`]: receive the
/// datagram into it (at most the request's `max_length` bytes; a longer datagram is
/// truncated), then call [`write_recv_from_header`].
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 48 bytes.
pub fn recv_from_data_area(out: &mut [u8]) -> Result<&mut [u8], ProtocolError> {
    out.get_mut(RecvFromReply::LEN..)
        .ok_or(ProtocolError::BufferTooSmall)
}

/// Writes the 48-byte `RECV_FROM` reply (`header.size` = 48 + `length`) into the first 48
/// bytes of `out`, for a `length`-byte datagram received from `from` (`None` if the
/// provider did not say) into the bytes after them ([`recv_from_data_area`]). Returns 48 +
/// `length`, the request's `IoStatus.Information`.
///
/// `out` may be the whole output buffer or only its first 48 bytes (a mapping of the
/// header alone): the data area is not touched or checked here.
///
/// Runs at any IRQL (it only writes `out`).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 48 bytes or 48 + `length`
/// overflows.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{parse_recv_from_reply, recv_from_data_area, write_recv_from_header};
///
/// let mut out = [0u8; 48 + 16];
/// recv_from_data_area(&mut out)?[..4].copy_from_slice(b"ping");
/// let from = "127.0.0.1:9000".parse().unwrap();
/// let information = write_recv_from_header(&mut out, 4, Some(from))?;
/// assert_eq!(information, 52);
/// let reply = parse_recv_from_reply(&out[..information])?;
/// assert_eq!((reply.data, reply.remote), (&b"ping"[..], Some(from)));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
pub fn write_recv_from_header(
    out: &mut [u8],
    length: u32,
    from: Option<SocketAddr>,
) -> Result<usize, ProtocolError> {
    let total = length
        .checked_add(RecvFromReply::LEN_U32)
        .ok_or(ProtocolError::BufferTooSmall)?;
    let information = usize::try_from(total).map_err(|_| ProtocolError::BufferTooSmall)?;
    write_fixed(
        out,
        &RecvFromReply {
            header: header(total),
            length,
            reserved: 0,
            remote: WireAddr::from_option(from),
            reserved2: 0,
        },
    )?;
    Ok(information)
}

/// Writes a DISCONNECT reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 8 bytes.
pub fn write_disconnect(out: &mut [u8]) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &DisconnectReply {
            header: header(DisconnectReply::LEN_U32),
        },
    )
}

/// Writes a SERVE reply.
///
/// # Errors
/// [`ProtocolError::BufferTooSmall`] when `out` is shorter than the reply.
pub fn write_serve(out: &mut [u8]) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &ServeReply {
            header: header(ServeReply::LEN_U32),
        },
    )
}

/// Writes a `SOCKET_OPTION` reply: the option's value (after a set, the value read back).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 16 bytes.
pub fn write_socket_option(out: &mut [u8], value: u32) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &SocketOptionReply {
            header: header(SocketOptionReply::LEN_U32),
            value,
            reserved: 0,
        },
    )
}

/// Writes a SECURITY reply carrying `sddl` (empty: the endpoint has no descriptor).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 272 bytes or `sddl` is longer
/// than the reply's 256-byte field; [`ProtocolError::InvalidParameter`] if `sddl` contains a
/// NUL.
pub fn write_security(out: &mut [u8], sddl: &str) -> Result<usize, ProtocolError> {
    if out.len() < SecurityReply::LEN || sddl.len() > crate::SDDL_LEN {
        return Err(ProtocolError::BufferTooSmall);
    }
    let mut reply = SecurityReply::default();
    write_padded(&mut reply.sddl, sddl)?;
    finish_security(out, reply, sddl.len())
}

/// Writes a SECURITY reply, formatting `sddl` straight into the reply's field (no buffer or
/// allocation needed, e.g. for a descriptor's SDDL `Display`).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 272 bytes, the text is longer
/// than 256 bytes, or it contains a NUL (or its `Display` fails).
pub fn write_security_fmt(out: &mut [u8], sddl: impl fmt::Display) -> Result<usize, ProtocolError> {
    if out.len() < SecurityReply::LEN {
        return Err(ProtocolError::BufferTooSmall);
    }
    let mut reply = SecurityReply::default();
    let mut writer = FieldWriter::new(&mut reply.sddl);
    fmt::write(&mut writer, format_args!("{sddl}")).map_err(|_| ProtocolError::BufferTooSmall)?;
    let length = writer.len();
    finish_security(out, reply, length)
}

fn finish_security(
    out: &mut [u8],
    mut reply: SecurityReply,
    length: usize,
) -> Result<usize, ProtocolError> {
    reply.header = header(SecurityReply::LEN_U32);
    reply.length = u32::try_from(length).map_err(|_| ProtocolError::BufferTooSmall)?;
    write_fixed(out, &reply)
}

/// Writes a STATS reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 96 bytes.
pub fn write_stats(out: &mut [u8], stats: &Stats) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &StatsReply {
            header: header(StatsReply::LEN_U32),
            stats: *stats,
        },
    )
}

/// Writes a HELD reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 56 bytes.
pub fn write_held(out: &mut [u8], held: &Held) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &HeldReply {
            header: header(HeldReply::LEN_U32),
            held: *held,
        },
    )
}

/// The shared part of [`ListWriter`] and [`ResolveWriter`]: a 16-byte `{ header, count,
/// total }` reply followed by as many fixed-size entries as fit.
#[derive(Debug)]
struct EntryWriter<'a> {
    out: &'a mut [u8],
    /// Bytes used so far, header included; always <= `out.len()` and fits in a `u32`.
    used: u32,
    count: u32,
    total: u32,
}

/// Both counted replies have a 16-byte head.
const COUNTED_HEAD: u32 = 16;
const _: () = assert!(ListReply::LEN_U32 == COUNTED_HEAD && ResolveReply::LEN_U32 == COUNTED_HEAD);

impl<'a> EntryWriter<'a> {
    fn new(out: &'a mut [u8]) -> Result<Self, ProtocolError> {
        if out.len() < ListReply::LEN {
            return Err(ProtocolError::BufferTooSmall);
        }
        Ok(Self {
            out,
            used: COUNTED_HEAD,
            count: 0,
            total: 0,
        })
    }

    fn push(&mut self, entry: &[u8]) -> bool {
        self.total = self.total.saturating_add(1);
        let Ok(entry_len) = u32::try_from(entry.len()) else {
            return false;
        };
        let Some(end) = self.used.checked_add(entry_len) else {
            return false;
        };
        let (Ok(start_index), Ok(end_index)) = (usize::try_from(self.used), usize::try_from(end))
        else {
            return false;
        };
        let Some(slot) = self.out.get_mut(start_index..end_index) else {
            return false;
        };
        slot.copy_from_slice(entry);
        // INVARIANT: the slot existed, so `end` <= out.len(), and it did not overflow a u32.
        self.used = end;
        self.count = self.count.saturating_add(1);
        true
    }

    /// Writes the head built by `head` from (size, count, total); returns the bytes written.
    fn finish<H: IntoBytes + Immutable>(self, head: impl FnOnce(u32, u32, u32) -> H) -> usize {
        let reply = head(self.used, self.count, self.total);
        // `new` checked that the head fits, so this cannot fail.
        let _ = reply.write_to_prefix(self.out);
        usize::try_from(self.used).unwrap_or(ListReply::LEN)
    }
}

/// Writes a LIST reply: as many [`EndpointInfo`] entries as fit, and the count of all.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{parse_list_reply, EndpointInfo, ListWriter, KIND_TCP_LISTENER, STATE_LISTENING};
///
/// let mut out = [0u8; 16 + 152]; // room for one entry
/// let mut writer = ListWriter::new(&mut out)?;
/// let entry = EndpointInfo { id: 1, kind: KIND_TCP_LISTENER, state: STATE_LISTENING, ..Default::default() };
/// assert!(writer.push(&entry));
/// assert!(!writer.push(&EndpointInfo { id: 2, ..entry })); // full, still counted
/// let written = writer.finish();
/// let list = parse_list_reply(&out[..written])?;
/// assert_eq!((list.count(), list.total()), (1, 2));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct ListWriter<'a>(EntryWriter<'a>);

impl<'a> ListWriter<'a> {
    /// Starts a LIST reply in `out`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BufferTooSmall`] if `out` is shorter than the 16-byte [`ListReply`].
    pub fn new(out: &'a mut [u8]) -> Result<Self, ProtocolError> {
        EntryWriter::new(out).map(Self)
    }

    /// Adds `entry` if it fits; returns false when the buffer is full. Either way the
    /// endpoint is counted in `total`.
    pub fn push(&mut self, entry: &EndpointInfo) -> bool {
        self.0.push(entry.as_bytes())
    }

    /// Writes the [`ListReply`] header and returns the bytes written.
    #[must_use]
    pub fn finish(self) -> usize {
        self.0.finish(|size, count, total| ListReply {
            header: header(size),
            count,
            total,
        })
    }
}

/// Writes a RESOLVE reply: as many addresses as fit, and the count of all.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use wskrs_protocol::{parse_resolve_reply, ResolveWriter};
///
/// let mut out = [0u8; 16 + 28]; // room for one address
/// let mut writer = ResolveWriter::new(&mut out)?;
/// let first: SocketAddr = "127.0.0.1:80".parse().unwrap();
/// assert!(writer.push(first));
/// assert!(!writer.push("[::1]:80".parse().unwrap())); // full, still counted
/// let written = writer.finish();
/// let addresses = parse_resolve_reply(&out[..written])?;
/// assert_eq!((addresses.count(), addresses.total()), (1, 2));
/// assert_eq!(addresses.iter().collect::<Vec<_>>(), [first]);
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct ResolveWriter<'a>(EntryWriter<'a>);

impl<'a> ResolveWriter<'a> {
    /// Starts a RESOLVE reply in `out`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BufferTooSmall`] if `out` is shorter than the 16-byte
    /// [`ResolveReply`].
    pub fn new(out: &'a mut [u8]) -> Result<Self, ProtocolError> {
        EntryWriter::new(out).map(Self)
    }

    /// Adds `address` if it fits; returns false when the buffer is full. Either way the
    /// address is counted in `total`.
    pub fn push(&mut self, address: SocketAddr) -> bool {
        self.0.push(WireAddr::from(address).as_bytes())
    }

    /// Writes the [`ResolveReply`] header and returns the bytes written.
    #[must_use]
    pub fn finish(self) -> usize {
        self.0.finish(|size, count, total| ResolveReply {
            header: header(size),
            count,
            total,
        })
    }
}
