//! Socket addresses passed by clients: how many bytes one holds, copied in and out by family.
//!
//! WSK passes bare `SOCKADDR *` without a length; the family decides it (Wine's own netio.sys
//! copies `sizeof(SOCKADDR)` = 16 bytes whatever the family, which truncates IPv6 addresses).

use std::mem::size_of;

use windows_sys::Win32::Networking::WinSock::SOCKADDR_STORAGE;
use wsk_bindings as sys;
pub(crate) use wskrs_provider_model::sockaddr::len_of_family;

/// An address copied out of (or into) client memory.
#[derive(Clone, Copy)]
pub(crate) struct Addr {
    pub(crate) storage: SOCKADDR_STORAGE,
    /// Bytes of `storage` in use (16 for IPv4, 28 for IPv6).
    pub(crate) len: i32,
}

impl Addr {
    /// An all-zero address with room for any family.
    pub(crate) fn empty() -> Self {
        // SAFETY: SOCKADDR_STORAGE is plain data; all-zero is valid.
        let storage = unsafe { std::mem::zeroed::<SOCKADDR_STORAGE>() };
        // The storage size (128) fits in i32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let len = size_of::<SOCKADDR_STORAGE>() as i32;
        Self { storage, len }
    }

    /// Copies the client's address: the family first, then as many bytes as it needs.
    ///
    /// # Safety
    /// `p` is null or points to a readable socket address of its family's size.
    pub(crate) unsafe fn read(p: *const sys::SOCKADDR) -> Option<Self> {
        if p.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees at least the family is readable.
        let family = unsafe { p.cast::<u16>().read_unaligned() };
        let len = len_of_family(family)?;
        let mut a = Self::empty();
        // SAFETY: the caller guarantees `len` readable bytes for this family; `storage` is
        // 128 bytes, more than any `len`.
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut a.storage).cast::<u8>(), len);
        };
        a.len = i32::try_from(len).ok()?;
        Some(a)
    }

    /// The address as std's type (`None` for a family other than IPv4 and IPv6).
    pub(crate) fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        let len = usize::try_from(self.len).ok()?;
        // SAFETY: `storage` is plain data of 128 bytes; `len` is at most that (clamped).
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&raw const self.storage).cast::<u8>(),
                len.min(size_of::<SOCKADDR_STORAGE>()),
            )
        };
        wskrs_provider_model::sockaddr::from_bytes(bytes)
    }

    /// The family stored in the address.
    pub(crate) fn family(&self) -> u16 {
        self.storage.ss_family
    }

    /// Pointer for Winsock calls.
    pub(crate) fn as_ptr(&self) -> *const windows_sys::Win32::Networking::WinSock::SOCKADDR {
        (&raw const self.storage).cast()
    }

    /// Mutable pointer for Winsock calls that fill the address.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut windows_sys::Win32::Networking::WinSock::SOCKADDR {
        (&raw mut self.storage).cast()
    }

    /// Copies the address to client memory: the full size of its family (16 or 28 bytes).
    /// Does nothing when `p` is null or the family is unknown.
    ///
    /// # Safety
    /// `p` is null or points to writable memory large enough for this address's family
    /// (the WSK contract: a `SOCKADDR_IN6` for IPv6 sockets).
    pub(crate) unsafe fn write(&self, p: *mut sys::SOCKADDR) {
        if p.is_null() {
            return;
        }
        let Some(len) = len_of_family(self.family()) else {
            return;
        };
        // SAFETY: the caller guarantees room for `len` bytes; `storage` holds at least `len`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&raw const self.storage).cast::<u8>(),
                p.cast::<u8>(),
                len,
            );
        };
    }
}
