//! Event callbacks on connection sockets: the provider calls a [`ConnectionEvents`] when
//! data arrives, when the peer disconnects and when the ideal send backlog changes, instead
//! of the driver keeping a receive pending.
//!
//! Callbacks run at IRQL <= DISPATCH_LEVEL and must not block. Data handed to
//! [`ConnectionEvents::received`] is valid only during the call: copy what you keep, and
//! answer [`Verdict::Consumed`] (the provider drops it) or [`Verdict::NotAccepted`] (it stays
//! queued for the next `receive`).

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings as sys;

use crate::socket::{self, BindOptions, Callbacks, Category};
use crate::{ConnectionSocket, Error, NtStatus, Result, Shared, SockAddr, WskClient};

/// What a receive callback did with the indicated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// All the data was used (`STATUS_SUCCESS`).
    Consumed,
    /// None of it was used; it stays queued (`STATUS_DATA_NOT_ACCEPTED`).
    NotAccepted,
}

/// The data of one receive indication: a chain of buffers.
pub struct Indication<'a> {
    first: Option<&'a sys::WSK_DATA_INDICATION>,
    bytes: usize,
}

impl<'a> Indication<'a> {
    /// Total bytes indicated.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether nothing was indicated.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The data as byte slices, in order. A buffer whose pages cannot be mapped ends the
    /// iteration early (the sum of the slices is then less than [`Indication::len`]).
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut next = self.first;
        core::iter::from_fn(move || {
            let indication = next?;
            // SAFETY: `Next` links the provider's chain, valid during the callback.
            next = unsafe { indication.Next.as_ref() };
            wsk_buf_slice(&indication.Buffer)
        })
    }
}

/// The bytes a `WSK_BUF` describes, mapped to system addresses.
fn wsk_buf_slice<'a>(buf: &sys::WSK_BUF) -> Option<&'a [u8]> {
    let mut remaining = usize::try_from(buf.Length).ok()?;
    let mut offset = usize::try_from(buf.Offset).ok()?;
    let mdl = NonNull::new(buf.Mdl)?;
    // SAFETY: the MDL belongs to the indication, valid during the callback.
    let mdl = unsafe { mdl.as_ref() };
    let count = usize::try_from(mdl.ByteCount).ok()?;
    if offset >= count && remaining > 0 {
        return None;
    }
    remaining = remaining.min(count.saturating_sub(offset));
    let base = mapped_address(mdl)?;
    offset = offset.min(count);
    // SAFETY: `base` maps the MDL's `ByteCount` bytes; `offset + remaining <= ByteCount`.
    Some(unsafe { core::slice::from_raw_parts(base.as_ptr().cast_const().wrapping_add(offset), remaining) })
}

/// `MmGetSystemAddressForMdlSafe`: the MDL's system address, mapping it if needed.
fn mapped_address(mdl: &sys::MDL) -> Option<NonNull<u8>> {
    // The flags are a C short; reinterpret the bits.
    #[allow(clippy::cast_sign_loss)]
    let flags = u32::from(mdl.MdlFlags as u16);
    if flags & (sys::MDL_MAPPED_TO_SYSTEM_VA | sys::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        return NonNull::new(mdl.MappedSystemVa.cast());
    }
    let priority = sys::NormalPagePriority | sys::MdlMappingNoExecute;
    // SAFETY: the MDL describes locked pages of the indication; mapping them read-only for
    // the callback's duration is what the WDK's MmGetSystemAddressForMdlSafe does.
    let va = unsafe {
        sys::MmMapLockedPagesSpecifyCache(ptr::from_ref(mdl).cast_mut(), sys::KERNEL_MODE, sys::MmCached, ptr::null_mut(), 0, priority)
    };
    NonNull::new(va.cast())
}

/// What a connection's owner wants to hear about. Every method runs at IRQL <=
/// DISPATCH_LEVEL and must not block.
pub trait ConnectionEvents: Send + Sync + 'static {
    /// Data arrived.
    fn received(&self, data: &Indication<'_>) -> Verdict;
    /// The peer disconnected (`abortive`: it reset the connection), or the socket stopped
    /// working. No more data will be indicated.
    fn disconnected(&self, abortive: bool);
    /// The ideal send backlog changed.
    fn send_backlog(&self, ideal_bytes: usize) {
        let _ = ideal_bytes;
    }
}

/// Receive callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn receive_event<E: ConnectionEvents>(
    context: *mut c_void,
    _flags: u32,
    indication: *mut sys::WSK_DATA_INDICATION,
    bytes: u64,
    _accepted: *mut u64,
) -> i32 {
    // SAFETY: `context` is the raw reference the socket holds until its close completed.
    let events = unsafe { Shared::<E>::borrow_raw(context.cast_const().cast()) };
    // SAFETY: the chain is valid during the callback.
    let Some(first) = (unsafe { indication.as_ref() }) else {
        // No data: the socket is no longer functional.
        events.disconnected(true);
        return NtStatus::SUCCESS.0;
    };
    let data = Indication { first: Some(first), bytes: usize::try_from(bytes).unwrap_or(usize::MAX) };
    match events.received(&data) {
        Verdict::Consumed => NtStatus::SUCCESS.0,
        Verdict::NotAccepted => NtStatus::DATA_NOT_ACCEPTED.0,
    }
}

/// Disconnect callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn disconnect_event<E: ConnectionEvents>(context: *mut c_void, flags: u32) -> i32 {
    // SAFETY: as in `receive_event`.
    let events = unsafe { Shared::<E>::borrow_raw(context.cast_const().cast()) };
    events.disconnected(flags & sys::WSK_FLAG_ABORTIVE != 0);
    NtStatus::SUCCESS.0
}

/// Send-backlog callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn send_backlog_event<E: ConnectionEvents>(context: *mut c_void, ideal: u64) -> i32 {
    // SAFETY: as in `receive_event`.
    let events = unsafe { Shared::<E>::borrow_raw(context.cast_const().cast()) };
    events.send_backlog(usize::try_from(ideal).unwrap_or(usize::MAX));
    NtStatus::SUCCESS.0
}

/// The client dispatch table for `E` (one static per event type).
struct Dispatch<E>(core::marker::PhantomData<E>);

impl<E: ConnectionEvents> Dispatch<E> {
    const TABLE: sys::WSK_CLIENT_CONNECTION_DISPATCH = sys::WSK_CLIENT_CONNECTION_DISPATCH {
        WskReceiveEvent: Some(receive_event::<E>),
        WskDisconnectEvent: Some(disconnect_event::<E>),
        WskSendBacklogEvent: Some(send_backlog_event::<E>),
    };
}

/// A TCP connection whose incoming data is delivered by event callbacks.
///
/// # Invariants
/// `context` is a raw reference to `events` that the socket's callbacks use; it is taken back
/// only after the socket's close completed (no callback runs after that).
pub struct EventConnection<E: ConnectionEvents> {
    socket: Option<ConnectionSocket>,
    events: Shared<E>,
    context: *const (),
}

// SAFETY: the raw context is a reference counted like `events`, which is Send + Sync.
unsafe impl<E: ConnectionEvents> Send for EventConnection<E> {}
// SAFETY: as above.
unsafe impl<E: ConnectionEvents> Sync for EventConnection<E> {}

impl<E: ConnectionEvents> EventConnection<E> {
    /// Connects to `remote` like [`ConnectionSocket::connect_with`], then enables the receive,
    /// disconnect and send-backlog events. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// As [`ConnectionSocket::connect_with`]; the status of enabling the events
    /// (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn connect(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        options: BindOptions<'_>,
        events: E,
        timeout: Duration,
    ) -> Result<Self> {
        let events = Shared::try_new(events)?;
        let context = Shared::into_raw(events.clone());
        // A promoted constant: the table lives for 'static, as the provider requires.
        let dispatch: &'static sys::WSK_CLIENT_CONNECTION_DISPATCH = &Dispatch::<E>::TABLE;
        let callbacks = Callbacks { context: context.cast_mut().cast(), dispatch: ptr::from_ref(dispatch).cast() };
        let family = SockAddr::socket_family(&remote);
        let created = socket::create_with(client, family, Category::Connection, options, callbacks, timeout);
        let (raw, blocking) = match created {
            Ok(parts) => parts,
            Err(e) => {
                // SAFETY: no socket exists, so no callback can use the context.
                drop(unsafe { Shared::<E>::from_raw(context) });
                return Err(e);
            }
        };
        let this = Self {
            socket: Some(ConnectionSocket::connect_created(raw, blocking, client, remote, local, timeout)?),
            events,
            context,
        };
        let mask = sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT | sys::WSK_EVENT_SEND_BACKLOG;
        socket::event_callbacks(this.socket_raw()?, mask)?;
        Ok(this)
    }

    fn socket_raw(&self) -> Result<&socket::RawSocket> {
        self.socket.as_ref().map(ConnectionSocket::raw).ok_or(Error::new(NtStatus::INVALID_HANDLE))
    }

    /// The events object.
    #[must_use]
    pub fn events(&self) -> &E {
        &self.events
    }

    /// The socket, for sends, options and addresses (receives are the events' business).
    pub fn socket(&mut self) -> Option<&mut ConnectionSocket> {
        self.socket.as_mut()
    }

    /// Stops the callbacks (`WSK_EVENT_DISABLE`), one event at a time as WSK requires.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The first failing status (e.g. `STATUS_EVENT_PENDING` while that callback runs); the
    /// events before it are disabled.
    pub fn disable(&mut self) -> Result<()> {
        for event in [sys::WSK_EVENT_RECEIVE, sys::WSK_EVENT_DISCONNECT, sys::WSK_EVENT_SEND_BACKLOG] {
            socket::event_callbacks(self.socket_raw()?, sys::WSK_EVENT_DISABLE | event)?;
        }
        Ok(())
    }
}

impl<E: ConnectionEvents> Drop for EventConnection<E> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            // Closing waits for the close to complete: after it, no callback runs.
            let still_open = socket.close().is_err();
            if still_open {
                // The close did not complete: callbacks may still come; keep the context.
                return;
            }
        }
        // SAFETY: the socket is closed (or never existed), so nothing uses the context.
        drop(unsafe { Shared::<E>::from_raw(self.context) });
    }
}
