//! [`RetainedData`]: indication lists kept past their callback, given back with `WskRelease`,
//! and the wait an event socket's close makes for them.

use core::net::SocketAddr;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use wsk_bindings as sys;

use super::{socket_addr_at, wsk_buf_slice};
use crate::{NtStatus, PoolArc, Result};

/// Per retained-handle state: whether the handle is still inside the callback that made it.
const IN_CALLBACK: u8 = 0;
/// The callback returned `STATUS_PENDING`; the handle owns the indication list.
const HELD: u8 = 1;
/// The handle was dropped before its callback returned: the callback reports the data
/// consumed and nothing is released.
const DROPPED_EARLY: u8 = 2;
/// The list went back to the provider ([`RetainedData::release`]).
const RELEASED: u8 = 3;

/// Which `WskRelease` a retained list goes back through.
#[derive(Clone, Copy)]
pub(super) enum RetainedList {
    /// `WSK_DATA_INDICATION` list of a connection socket.
    Data(NonNull<sys::WSK_DATA_INDICATION>),
    /// `WSK_DATAGRAM_INDICATION` list of a datagram socket.
    Datagram(NonNull<sys::WSK_DATAGRAM_INDICATION>),
}

/// The state one [`RetainedData`] shares with the callback that made it.
struct RetainState {
    state: core::sync::atomic::AtomicU8,
    /// The socket's count of retained lists (its owner closes the socket only at zero).
    outstanding: PoolArc<AtomicUsize>,
}

/// An indication list kept past its callback (the callback returned `STATUS_PENDING`).
/// Dropping it gives the list back with `WskRelease` (IRQL <= DISPATCH_LEVEL).
///
/// WSK does not release retained lists when the socket closes, so the socket's owner
/// ([`super::ConnectionEventSocket`], [`super::DatagramEventSocket`]) waits for every
/// `RetainedData` of its socket to be dropped before it closes the socket, and leaves the
/// socket open if that does not happen within its close timeout. Drop these handles promptly, in particular when the provider
/// sets `WSK_FLAG_RELEASE_ASAP`.
///
/// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_release_data_indication_list>
/// and <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_release_datagram_indication_list>.
///
/// # Invariants
/// `list` was indicated on `socket` and not released; `socket` stays open while the handle
/// lives (its owner waits for `outstanding` to reach zero before closing).
pub struct RetainedData {
    socket: NonNull<sys::WSK_SOCKET>,
    list: RetainedList,
    bytes: usize,
    state: PoolArc<RetainState>,
}

// SAFETY: the list is provider memory owned by this handle until released; WskRelease may be
// called from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for RetainedData {}
// SAFETY: shared access only reads the list.
unsafe impl Sync for RetainedData {}

impl RetainedData {
    /// Total bytes retained (connection lists: as indicated; datagram lists: the sum of the
    /// datagrams' buffer lengths). IRQL: any.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether no bytes were retained. IRQL: any.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The retained data as byte slices, in order (for datagram lists: one slice per
    /// datagram). A buffer whose pages cannot be mapped ends the iteration early.
    /// IRQL <= DISPATCH_LEVEL (mapping an unmapped MDL).
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.datagrams().map(|(data, _)| data)
    }

    /// The retained datagrams with their senders (connection lists: each buffer, sender
    /// `None`). IRQL <= DISPATCH_LEVEL.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], Option<SocketAddr>)> + '_ {
        let mut data = match self.list {
            // SAFETY: the list is retained (type invariant), so it stays valid until released.
            RetainedList::Data(p) => Some(unsafe { p.as_ref() }),
            RetainedList::Datagram(_) => None,
        };
        let mut datagram = match self.list {
            RetainedList::Data(_) => None,
            // SAFETY: as above.
            RetainedList::Datagram(p) => Some(unsafe { p.as_ref() }),
        };
        core::iter::from_fn(move || {
            if let Some(indication) = data {
                // SAFETY: `Next` links the retained chain.
                data = unsafe { indication.Next.as_ref() };
                return wsk_buf_slice(&indication.Buffer).map(|s| (s, None));
            }
            let indication = datagram?;
            // SAFETY: as above.
            datagram = unsafe { indication.Next.as_ref() };
            wsk_buf_slice(&indication.Buffer).map(|s| (s, remote_of(indication)))
        })
    }

    /// Makes the handle for a list a callback is about to retain.
    pub(super) fn new(
        socket: *mut sys::WSK_SOCKET,
        list: RetainedList,
        bytes: usize,
        outstanding: &PoolArc<AtomicUsize>,
    ) -> Option<Self> {
        let socket = NonNull::new(socket)?;
        let state = PoolArc::try_new(RetainState {
            state: core::sync::atomic::AtomicU8::new(IN_CALLBACK),
            outstanding: outstanding.clone(),
        })
        .ok()?;
        outstanding.fetch_add(1, Ordering::AcqRel);
        Some(Self {
            socket,
            list,
            bytes,
            state,
        })
    }
}

/// Hands `handle` to `keep` inside a receive callback and returns the callback's status:
/// `STATUS_PENDING` if the handle still owns the list, `STATUS_SUCCESS` if `keep` dropped it.
pub(super) fn hand_over(handle: RetainedData, keep: impl FnOnce(RetainedData)) -> i32 {
    let state = handle.state.clone();
    keep(handle);
    if state
        .state
        .compare_exchange(IN_CALLBACK, HELD, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        NtStatus::PENDING.0
    } else {
        state.outstanding.fetch_sub(1, Ordering::AcqRel);
        NtStatus::SUCCESS.0
    }
}

impl RetainedData {
    /// Gives the list back now (`WskRelease`) and returns the provider's status; dropping the
    /// handle does the same and ignores the status. Inside the callback that made the handle
    /// nothing is released (the callback reports the data consumed) and this returns `Ok`.
    /// IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// The status of `WskRelease` (`STATUS_INVALID_PARAMETER` for a list the provider does not
    /// know), or `STATUS_NOT_IMPLEMENTED` when the provider has no `WskRelease`.
    pub fn release(mut self) -> Result<()> {
        // Drop then sees RELEASED (or DROPPED_EARLY) and does nothing more.
        self.give_back()
    }

    /// `WskRelease` of the list unless the handle is still inside its callback; at most once.
    fn give_back(&mut self) -> Result<()> {
        let state = &self.state.state;
        if state
            .compare_exchange(
                IN_CALLBACK,
                DROPPED_EARLY,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            // Still inside the callback: it reports the data consumed; nothing to release.
            return Ok(());
        }
        if state
            .compare_exchange(HELD, RELEASED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(());
        }
        let socket = self.socket.as_ptr();
        let status = match self.list {
            RetainedList::Data(list) => {
                // SAFETY: the socket is an open connection socket (type invariant).
                let dispatch = unsafe { (*socket).Dispatch };
                // SAFETY: the socket's category names its provider dispatch table, valid while
                // the socket is open.
                let dispatch =
                    unsafe { &*dispatch.cast::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
                match dispatch.WskRelease {
                    // SAFETY: the list was retained from this socket and is released once, here.
                    Some(release) => unsafe { release(socket, list.as_ptr()) },
                    None => NtStatus::NOT_IMPLEMENTED.0,
                }
            }
            RetainedList::Datagram(list) => {
                // SAFETY: the socket is an open datagram socket (type invariant).
                let dispatch = unsafe { (*socket).Dispatch };
                // SAFETY: the socket's category names its provider dispatch table, valid while
                // the socket is open.
                let dispatch = unsafe { &*dispatch.cast::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() };
                match dispatch.WskRelease {
                    // SAFETY: as above.
                    Some(release) => unsafe { release(socket, list.as_ptr()) },
                    None => NtStatus::NOT_IMPLEMENTED.0,
                }
            }
        };
        self.state.outstanding.fetch_sub(1, Ordering::AcqRel);
        crate::nt_result(status)
    }
}

impl Drop for RetainedData {
    fn drop(&mut self) {
        let _ = self.give_back();
    }
}

/// The sender of one datagram indication.
pub(super) fn remote_of(indication: &sys::WSK_DATAGRAM_INDICATION) -> Option<SocketAddr> {
    let p = NonNull::new(indication.RemoteAddress)?;
    // SAFETY: `RemoteAddress` points to a SOCKADDR of the socket's family, valid while the
    // indication is.
    unsafe { socket_addr_at(p) }
}

/// Waits (PASSIVE_LEVEL, bounded by [`RETAIN_WAIT`]) until no list of a socket is retained.
///
/// The bound counts sleeps rather than reading the interrupt time: Wine's
/// `KeQueryInterruptTime` returns milliseconds where Windows returns 100-ns units, which
/// made a deadline on [`crate::uptime`] 10,000 times too long there (docs/design.md).
pub(super) fn wait_released(outstanding: &AtomicUsize) -> bool {
    const STEP: Duration = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    while outstanding.load(Ordering::Acquire) != 0 {
        if waited >= RETAIN_WAIT {
            return false;
        }
        crate::sleep(STEP);
        waited = waited.saturating_add(STEP);
    }
    true
}

/// How long closing an event socket waits for its retained lists to be released.
const RETAIN_WAIT: Duration = Duration::from_secs(5);
