//! `WSK_BUF` (an MDL chain, an offset into the first MDL and a total length) as the `WSABUF`
//! array Winsock's scatter/gather calls take, kept in the request ([`Bufs`]).

use windows_sys::Win32::Networking::WinSock::WSABUF;

use crate::inline::InlineList;
use wsk_bindings::{self as sys, NtStatus};

/// The system address of the memory an MDL describes (`MmGetSystemAddressForMdlSafe`).
///
/// Inside Wine every MDL describes memory of the one driver-host process, so the mapped
/// address (when the MDL says it has one) and `StartVa + ByteOffset` are the same memory.
fn system_address(mdl: &sys::MDL) -> *mut u8 {
    // The MdlFlags bits are small positive constants that fit in the i16 field.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let mapped = (sys::MDL_MAPPED_TO_SYSTEM_VA | sys::MDL_SOURCE_IS_NONPAGED_POOL) as i16;
    if mdl.MdlFlags & mapped != 0 && !mdl.MappedSystemVa.is_null() {
        mdl.MappedSystemVa.cast()
    } else {
        mdl.StartVa
            .cast::<u8>()
            .wrapping_add(mdl.ByteOffset as usize)
    }
}

/// Builds the `WSABUF`s for `buf`: from `Offset` in the first MDL, following `Mdl->Next`, for
/// `Length` bytes in total.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` when the chain holds fewer than `Offset + Length` bytes, or a
/// length is missing its MDL (Windows does not check this; it bugchecks instead).
///
/// # Safety
/// `buf` is null or points to a `WSK_BUF` whose MDLs are live for as long as the returned
/// buffers are used.
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) unsafe fn wsabufs(buf: *const sys::WSK_BUF) -> Result<Bufs, NtStatus> {
    let mut out = Bufs::default();
    if buf.is_null() {
        return Ok(out);
    }
    // SAFETY: the caller guarantees `buf` is readable.
    let buf = unsafe { &*buf };
    // SIZE_T is 64-bit in the x64 ABI, like usize here.
    #[allow(clippy::cast_possible_truncation)]
    let mut left = buf.Length as usize;
    let mut skip = buf.Offset as usize;
    let mut mdl = buf.Mdl;
    while left > 0 {
        if mdl.is_null() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        // SAFETY: a non-null MDL in the chain is live (caller's contract).
        let m = unsafe { &*mdl };
        let count = m.ByteCount as usize;
        if skip < count {
            let take = (count - skip).min(left);
            out.push(WSABUF {
                // WSABUF lengths are u32; one MDL describes at most u32::MAX bytes.
                len: u32::try_from(take).map_err(|_| NtStatus::INVALID_PARAMETER)?,
                buf: system_address(m).wrapping_add(skip),
            });
            left -= take;
            skip = 0;
        } else {
            skip -= count;
        }
        mdl = m.Next;
    }
    Ok(out)
}

/// Total bytes of a buffer list.
pub(crate) fn total(bufs: &[WSABUF]) -> usize {
    bufs.iter().map(|b| b.len as usize).sum()
}

/// How many `WSABUF`s a request keeps inline: a `WSK_BUF` of one or two MDLs (the usual case)
/// costs the request no allocation.
const INLINE: usize = 2;

/// A request's `WSABUF`s: up to [`INLINE`] in place, more on the heap. Dereferences to the
/// slice Winsock takes.
pub(crate) type Bufs = InlineList<WSABUF, INLINE>;

impl Default for Bufs {
    fn default() -> Self {
        InlineList::new(WSABUF {
            len: 0,
            buf: std::ptr::null_mut(),
        })
    }
}

impl Bufs {
    /// One buffer.
    pub(crate) fn one(buf: WSABUF) -> Self {
        let mut bufs = Bufs::default();
        bufs.push(buf);
        bufs
    }
}
