//! Driver side: writing replies into the output buffer.
//!
//! Every writer fills the [`Header`](crate::Header) (version and size) and returns the
//! bytes written, the value for `IoStatus.Information`.

use core::net::SocketAddr;
use zerocopy::{Immutable, IntoBytes};

use crate::wire::{
    header, CloseReply, EndpointInfo, EndpointReply, InfoReply, ListReply, RecvReply, SendReply,
    WireAddr, WireSize,
};
use crate::{EndpointId, IoctlCode, ProtocolError, ABI_VERSION, RECV_EOF};

/// The size of the fixed reply for `code`: the smallest output buffer the driver accepts.
/// `None` for an unknown code.
#[must_use]
pub const fn min_output_len(code: u32) -> Option<usize> {
    match IoctlCode(code) {
        IoctlCode::INFO => Some(InfoReply::LEN),
        IoctlCode::TCP_CONNECT | IoctlCode::TCP_LISTEN => Some(EndpointReply::LEN),
        IoctlCode::SEND => Some(SendReply::LEN),
        IoctlCode::RECV => Some(RecvReply::LEN),
        IoctlCode::CLOSE => Some(CloseReply::LEN),
        IoctlCode::LIST => Some(ListReply::LEN),
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

/// Writes the reply to `TCP_CONNECT` / `TCP_LISTEN`; `kind` is a `KIND_*` value.
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

/// Writes a SEND reply.
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 16 bytes.
pub fn write_send(out: &mut [u8], sent: u32) -> Result<usize, ProtocolError> {
    write_fixed(
        out,
        &SendReply {
            header: header(SendReply::LEN_U32),
            sent,
            reserved: 0,
        },
    )
}

/// The part of a RECV output buffer after the 16-byte [`RecvReply`]: receive into it
/// (at most the request's `max_length` bytes), then call [`write_recv`].
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 16 bytes.
pub fn recv_data_area(out: &mut [u8]) -> Result<&mut [u8], ProtocolError> {
    out.get_mut(RecvReply::LEN..)
        .ok_or(ProtocolError::BufferTooSmall)
}

/// Writes the RECV reply header for `length` bytes already placed in [`recv_data_area`].
/// `eof` sets [`RECV_EOF`] (the peer closed its side; `length` is then normally 0).
///
/// # Errors
///
/// [`ProtocolError::BufferTooSmall`] if `out` cannot hold 16 + `length` bytes.
pub fn write_recv(out: &mut [u8], length: u32, eof: bool) -> Result<usize, ProtocolError> {
    let total = length
        .checked_add(RecvReply::LEN_U32)
        .ok_or(ProtocolError::BufferTooSmall)?;
    let total_len = usize::try_from(total).map_err(|_| ProtocolError::BufferTooSmall)?;
    if out.len() < total_len {
        return Err(ProtocolError::BufferTooSmall);
    }
    let flags = if eof { RECV_EOF } else { 0 };
    write_fixed(
        out,
        &RecvReply {
            header: header(total),
            length,
            flags,
        },
    )?;
    Ok(total_len)
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

/// Writes a LIST reply: as many [`EndpointInfo`] entries as fit, and the count of all.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{parse_list_reply, EndpointInfo, ListWriter, KIND_TCP_LISTENER, STATE_LISTENING};
///
/// let mut out = [0u8; 16 + 112]; // room for one entry
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
pub struct ListWriter<'a> {
    out: &'a mut [u8],
    /// Bytes used so far, header included; always <= `out.len()` and fits in a `u32`.
    used: u32,
    count: u32,
    total: u32,
}

impl<'a> ListWriter<'a> {
    /// Starts a LIST reply in `out`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BufferTooSmall`] if `out` is shorter than the 16-byte [`ListReply`].
    pub fn new(out: &'a mut [u8]) -> Result<Self, ProtocolError> {
        if out.len() < ListReply::LEN {
            return Err(ProtocolError::BufferTooSmall);
        }
        Ok(Self {
            out,
            used: ListReply::LEN_U32,
            count: 0,
            total: 0,
        })
    }

    /// Adds `entry` if it fits; returns false when the buffer is full. Either way the
    /// endpoint is counted in `total`.
    pub fn push(&mut self, entry: &EndpointInfo) -> bool {
        self.total = self.total.saturating_add(1);
        let Some(end) = self.used.checked_add(EndpointInfo::LEN_U32) else {
            return false;
        };
        let (Ok(start_index), Ok(end_index)) = (usize::try_from(self.used), usize::try_from(end))
        else {
            return false;
        };
        let Some(slot) = self.out.get_mut(start_index..end_index) else {
            return false;
        };
        slot.copy_from_slice(entry.as_bytes());
        // INVARIANT: the slot existed, so `end` <= out.len(), and it did not overflow a u32.
        self.used = end;
        self.count = self.count.saturating_add(1);
        true
    }

    /// Writes the [`ListReply`] header and returns the bytes written.
    #[must_use]
    pub fn finish(self) -> usize {
        let reply = ListReply {
            header: header(self.used),
            count: self.count,
            total: self.total,
        };
        // `new` checked that the header fits, so this cannot fail.
        let _ = reply.write_to_prefix(self.out);
        usize::try_from(self.used).unwrap_or(ListReply::LEN)
    }
}
