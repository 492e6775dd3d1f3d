//! Event callbacks: the provider calls the driver when something happens instead of the
//! driver keeping a request pending.
//!
//! - [`EventConnection`] + [`ConnectionEvents`]: data arrived (`WskReceiveEvent`), the peer
//!   disconnected, the ideal send backlog changed.
//! - [`EventListener`] + [`ListenEvents`]: a connection arrived on a listen socket
//!   (`WskAcceptEvent`); the callback takes the [`ConnectionSocket`] or rejects it.
//! - [`EventDatagram`] + [`DatagramEvents`]: datagrams arrived (`WskReceiveFromEvent`).
//!
//! Callbacks run at IRQL <= DISPATCH_LEVEL and must not block. Data handed to a receive
//! callback is valid only during the call: copy what you keep and answer
//! [`Verdict::Consumed`] (the provider drops it) or [`Verdict::NotAccepted`] (it stays
//! queued for the next receive request), or answer [`Verdict::Retain`] (`STATUS_PENDING`) to
//! keep the provider's buffers: the callback's `retained` method then gets a [`RetainedData`]
//! that owns them until it is dropped, which calls `WskRelease` (allowed at IRQL <=
//! DISPATCH_LEVEL). `WskCloseSocket` does not release retained buffers, so an event socket
//! waits for its `RetainedData` handles before it closes.
//!
//! Lifetime: each event socket's callback context is freed only after the socket's close
//! completed; if the close does not complete, the context is leaked rather than freed under
//! a callback.

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
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
    /// All of it is accepted and kept past the callback (`STATUS_PENDING`): the callback's
    /// `retained` method receives a [`RetainedData`] that owns the indication list until it
    /// is dropped (`WskRelease`). The whole indication counts as accepted.
    Retain,
}

/// The data of one receive indication: a chain of buffers.
pub struct Indication<'a> {
    first: Option<&'a sys::WSK_DATA_INDICATION>,
    /// One buffer instead of a chain (a datagram).
    single: Option<&'a sys::WSK_BUF>,
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
        let mut single = self.single;
        core::iter::from_fn(move || {
            if let Some(buf) = single.take() {
                return wsk_buf_slice(buf);
            }
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
    Some(unsafe {
        core::slice::from_raw_parts(base.as_ptr().cast_const().wrapping_add(offset), remaining)
    })
}

/// `MmGetSystemAddressForMdlSafe`: the MDL's system address, mapping it if needed.
pub(crate) fn mapped_address(mdl: &sys::MDL) -> Option<NonNull<u8>> {
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
        sys::MmMapLockedPagesSpecifyCache(
            ptr::from_ref(mdl).cast_mut(),
            sys::KERNEL_MODE,
            sys::MmCached,
            ptr::null_mut(),
            0,
            priority,
        )
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
    /// The data a [`Verdict::Retain`] kept. Dropping `data` releases it (`WskRelease`);
    /// dropping it before this method returns simply counts the data consumed.
    fn retained(&self, data: RetainedData) {
        drop(data);
    }
}

/// The context a connection socket's callbacks receive.
struct ConnectionContext<E> {
    events: Shared<E>,
    socket: core::sync::atomic::AtomicPtr<sys::WSK_SOCKET>,
    outstanding: Shared<AtomicUsize>,
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
    let context =
        unsafe { Shared::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
    let events = &*context.events;
    let Some(head) = NonNull::new(indication) else {
        // No data: the socket is no longer functional.
        events.disconnected(true);
        return NtStatus::SUCCESS.0;
    };
    // SAFETY: the chain is valid during the callback.
    let first = unsafe { head.as_ref() };
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    let data = Indication {
        first: Some(first),
        single: None,
        bytes,
    };
    match events.received(&data) {
        Verdict::Consumed => NtStatus::SUCCESS.0,
        Verdict::NotAccepted => NtStatus::DATA_NOT_ACCEPTED.0,
        Verdict::Retain => {
            // STATUS_PENDING accepts everything indicated; `BytesAccepted` is only set for a
            // partial STATUS_SUCCESS, so it stays untouched.
            let socket = context.socket.load(Ordering::Acquire);
            match RetainedData::new(
                socket,
                RetainedList::Data(head),
                bytes,
                &context.outstanding,
            ) {
                Some(handle) => hand_over(handle, |h| events.retained(h)),
                // No memory for the handle: leave the data queued rather than lose it.
                None => NtStatus::DATA_NOT_ACCEPTED.0,
            }
        }
    }
}

/// Disconnect callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn disconnect_event<E: ConnectionEvents>(
    context: *mut c_void,
    flags: u32,
) -> i32 {
    // SAFETY: as in `receive_event`.
    let context =
        unsafe { Shared::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
    context
        .events
        .disconnected(flags & sys::WSK_FLAG_ABORTIVE != 0);
    NtStatus::SUCCESS.0
}

/// Send-backlog callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn send_backlog_event<E: ConnectionEvents>(
    context: *mut c_void,
    ideal: u64,
) -> i32 {
    // SAFETY: as in `receive_event`.
    let context =
        unsafe { Shared::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
    context
        .events
        .send_backlog(usize::try_from(ideal).unwrap_or(usize::MAX));
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
/// `context` is a raw reference to the context (holding `events`) that the socket's callbacks
/// use; it is taken back only after the socket's close completed (no callback runs after
/// that), which happens only after every retained list was released.
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
        let outstanding = Shared::try_new(AtomicUsize::new(0))?;
        let context = Shared::try_new(ConnectionContext {
            events: events.clone(),
            socket: core::sync::atomic::AtomicPtr::new(ptr::null_mut()),
            outstanding,
        })?;
        let context = Shared::into_raw(context);
        // A promoted constant: the table lives for 'static, as the provider requires.
        let dispatch: &'static sys::WSK_CLIENT_CONNECTION_DISPATCH = &Dispatch::<E>::TABLE;
        let callbacks = Callbacks {
            context: context.cast_mut().cast(),
            dispatch: ptr::from_ref(dispatch).cast(),
        };
        let family = SockAddr::socket_family(&remote);
        let created = socket::create_with(
            client,
            family,
            Category::Connection,
            options,
            callbacks,
            timeout,
        );
        let (raw, blocking) = match created {
            Ok(parts) => parts,
            Err(e) => {
                // SAFETY: no socket exists, so no callback can use the context.
                drop(unsafe { Shared::<ConnectionContext<E>>::from_raw(context) });
                return Err(e);
            }
        };
        // SAFETY: the raw reference is live until `Drop` takes it back.
        let shared = unsafe { Shared::<ConnectionContext<E>>::borrow_raw(context) };
        shared.socket.store(raw.as_ptr(), Ordering::Release);
        let this = Self {
            socket: Some(ConnectionSocket::connect_created(
                raw, blocking, client, remote, local, timeout,
            )?),
            events,
            context,
        };
        let mask = sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT | sys::WSK_EVENT_SEND_BACKLOG;
        socket::event_callbacks(this.socket_raw()?, mask)?;
        Ok(this)
    }

    fn socket_raw(&self) -> Result<&socket::RawSocket> {
        self.socket
            .as_ref()
            .map(ConnectionSocket::raw)
            .ok_or(Error::new(NtStatus::INVALID_HANDLE))
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
        for event in [
            sys::WSK_EVENT_RECEIVE,
            sys::WSK_EVENT_DISCONNECT,
            sys::WSK_EVENT_SEND_BACKLOG,
        ] {
            socket::event_callbacks(self.socket_raw()?, sys::WSK_EVENT_DISABLE | event)?;
        }
        Ok(())
    }
}

impl<E: ConnectionEvents> Drop for EventConnection<E> {
    fn drop(&mut self) {
        // SAFETY: the raw reference is live until taken back below.
        let context = unsafe { Shared::<ConnectionContext<E>>::borrow_raw(self.context) };
        if let Some(socket) = self.socket.take() {
            // WskCloseSocket does not release retained lists: wait for their handles first.
            if !wait_released(&context.outstanding) {
                core::mem::forget(socket);
                return;
            }
            // Closing waits for the close to complete: after it, no callback runs.
            let still_open = socket.close().is_err();
            if still_open {
                // The close did not complete: callbacks may still come; keep the context.
                return;
            }
        }
        // SAFETY: the socket is closed (or never existed), so nothing uses the context.
        drop(unsafe { Shared::<ConnectionContext<E>>::from_raw(self.context) });
    }
}

// ------------------------------------------------------------------------------------------
// Retained indications

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
enum RetainedList {
    /// `WSK_DATA_INDICATION` list of a connection socket.
    Data(NonNull<sys::WSK_DATA_INDICATION>),
    /// `WSK_DATAGRAM_INDICATION` list of a datagram socket.
    Datagram(NonNull<sys::WSK_DATAGRAM_INDICATION>),
}

/// The state one [`RetainedData`] shares with the callback that made it.
struct RetainState {
    state: core::sync::atomic::AtomicU8,
    /// The socket's count of retained lists (its owner closes the socket only at zero).
    outstanding: Shared<AtomicUsize>,
}

/// An indication list kept past its callback (the callback returned `STATUS_PENDING`).
/// Dropping it gives the list back with `WskRelease` (IRQL <= DISPATCH_LEVEL).
///
/// WSK does not release retained lists when the socket closes, so the socket's owner
/// ([`EventConnection`], [`EventDatagram`]) waits for every `RetainedData` of its socket to
/// be dropped before it closes the socket, and leaves the socket open if that does not happen
/// within its close timeout. Drop these handles promptly, in particular when the provider
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
    state: Shared<RetainState>,
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
    fn new(
        socket: *mut sys::WSK_SOCKET,
        list: RetainedList,
        bytes: usize,
        outstanding: &Shared<AtomicUsize>,
    ) -> Option<Self> {
        let socket = NonNull::new(socket)?;
        let state = Shared::try_new(RetainState {
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
fn hand_over(handle: RetainedData, keep: impl FnOnce(RetainedData)) -> i32 {
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
fn remote_of(indication: &sys::WSK_DATAGRAM_INDICATION) -> Option<SocketAddr> {
    let p = NonNull::new(indication.RemoteAddress)?;
    let mut storage = SockAddr::empty();
    // SAFETY: `RemoteAddress` points to a SOCKADDR of the socket's family (at most a
    // SOCKADDR_IN6, the size of `SockAddr`), valid while the indication is.
    unsafe {
        ptr::copy_nonoverlapping(
            p.as_ptr().cast::<u8>(),
            ptr::from_mut(&mut storage).cast::<u8>(),
            family_size(p),
        );
    }
    storage.to_socket_addr()
}

/// Bytes of the SOCKADDR at `p` by its family (0 for other families).
fn family_size(p: NonNull<sys::SOCKADDR>) -> usize {
    // SAFETY: every SOCKADDR starts with its 16-bit family.
    let family = unsafe { p.as_ptr().cast::<u16>().read_unaligned() };
    match family {
        sys::AF_INET_FAMILY => core::mem::size_of::<sys::SOCKADDR_IN>(),
        sys::AF_INET6_FAMILY => core::mem::size_of::<sys::SOCKADDR_IN6>(),
        _ => 0,
    }
}

/// Waits (PASSIVE_LEVEL, bounded by [`RETAIN_WAIT`]) until no list of a socket is retained.
///
/// The bound counts sleeps rather than reading the interrupt time: Wine's
/// `KeQueryInterruptTime` returns milliseconds where Windows returns 100-ns units, which
/// made a deadline on [`crate::uptime`] 10,000 times too long there (docs/design.md).
fn wait_released(outstanding: &AtomicUsize) -> bool {
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

// ------------------------------------------------------------------------------------------
// Datagram sockets

/// What a datagram socket's owner wants to hear about. Every method runs at IRQL <=
/// DISPATCH_LEVEL and must not block.
pub trait DatagramEvents: Send + Sync + 'static {
    /// One datagram arrived from `from`. Its bytes are valid only during the call unless the
    /// verdict is [`Verdict::Retain`].
    ///
    /// WSK answers for a whole chain of datagrams at once: all [`Verdict::Consumed`] gives
    /// `STATUS_SUCCESS`; any [`Verdict::Retain`] retains the whole chain (handed to
    /// [`DatagramEvents::retained`] after the last datagram, `STATUS_PENDING`);
    /// [`Verdict::NotAccepted`] on the first datagram answers `STATUS_DATA_NOT_ACCEPTED` for
    /// the chain and skips the rest; on a later datagram it skips the rest, which are lost
    /// unless another datagram of the chain was retained.
    fn received(&self, datagram: &Indication<'_>, from: Option<SocketAddr>) -> Verdict;
    /// The chain a [`Verdict::Retain`] kept. Dropping `data` releases it (`WskRelease`);
    /// dropping it before this method returns simply counts the chain consumed.
    fn retained(&self, data: RetainedData) {
        drop(data);
    }
    /// The socket stopped working (`DataIndication` NULL); close it.
    fn failed(&self) {}
}

/// The context a datagram socket's callbacks receive.
struct DatagramContext<D> {
    events: D,
    socket: core::sync::atomic::AtomicPtr<sys::WSK_SOCKET>,
    outstanding: Shared<AtomicUsize>,
}

/// Receive-from callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn receive_from_event<D: DatagramEvents>(
    context: *mut c_void,
    _flags: u32,
    indication: *mut sys::WSK_DATAGRAM_INDICATION,
) -> i32 {
    // SAFETY: `context` is the raw reference the socket holds until its close completed.
    let context = unsafe { Shared::<DatagramContext<D>>::borrow_raw(context.cast_const().cast()) };
    let Some(head) = NonNull::new(indication) else {
        context.events.failed();
        return NtStatus::SUCCESS.0;
    };
    let mut retain = false;
    let mut total = 0usize;
    // SAFETY: the chain is valid during the callback.
    let mut next = Some(unsafe { head.as_ref() });
    let mut first = true;
    while let Some(datagram) = next {
        // SAFETY: as above.
        next = unsafe { datagram.Next.as_ref() };
        let bytes = usize::try_from(datagram.Buffer.Length).unwrap_or(usize::MAX);
        total = total.saturating_add(bytes);
        let data = Indication {
            first: None,
            single: Some(&datagram.Buffer),
            bytes,
        };
        match context.events.received(&data, remote_of(datagram)) {
            Verdict::Consumed => {}
            Verdict::Retain => retain = true,
            Verdict::NotAccepted if first && !retain => return NtStatus::DATA_NOT_ACCEPTED.0,
            Verdict::NotAccepted => break,
        }
        first = false;
    }
    if !retain {
        return NtStatus::SUCCESS.0;
    }
    let socket = context.socket.load(Ordering::Acquire);
    match RetainedData::new(
        socket,
        RetainedList::Datagram(head),
        total,
        &context.outstanding,
    ) {
        Some(handle) => hand_over(handle, |h| context.events.retained(h)),
        // No socket yet or no memory for the handle: leave the chain with the provider.
        None => NtStatus::SUCCESS.0,
    }
}

/// A UDP socket whose incoming datagrams are delivered by [`DatagramEvents`] callbacks
/// (`WskReceiveFromEvent`).
///
/// Dropping it (PASSIVE_LEVEL) waits up to 5 s for its [`RetainedData`] handles, then closes
/// the socket and frees the callback context; if either does not happen, the socket or the
/// context is leaked rather than freed under the provider.
pub struct EventDatagram<D: DatagramEvents>(EventSocket<DatagramKind<D>>);

impl<D: DatagramEvents> EventDatagram<D> {
    /// Creates a UDP socket with a `WSK_CLIENT_DATAGRAM_DISPATCH`, binds it to `local` and
    /// enables `WSK_EVENT_RECEIVE_FROM`. IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_receive_from_event>.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio),
    /// `WskBind` or enabling the event; `STATUS_INSUFFICIENT_RESOURCES` without pool memory.
    pub fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        events: D,
        timeout: Duration,
    ) -> Result<Self> {
        let outstanding = Shared::try_new(AtomicUsize::new(0))?;
        let context = DatagramContext {
            events,
            socket: core::sync::atomic::AtomicPtr::new(ptr::null_mut()),
            outstanding,
        };
        EventSocket::bind(client, local, options, context, timeout).map(Self)
    }

    /// The events object. IRQL: any.
    #[must_use]
    pub fn events(&self) -> &D {
        &self.0.context().events
    }

    /// The socket, for sends and addresses (receives are the events' business). IRQL: any
    /// (the socket's own methods document theirs).
    pub fn socket(&mut self) -> Option<&mut crate::DatagramSocket> {
        self.0.socket.as_mut()
    }

    /// Stops the receive-from callbacks (`WSK_EVENT_DISABLE`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (e.g. `STATUS_EVENT_PENDING` while the callback runs).
    pub fn disable(&mut self) -> Result<()> {
        self.0.disable()
    }
}

/// The client datagram dispatch table for `D`.
struct DatagramDispatch<D>(core::marker::PhantomData<D>);

impl<D: DatagramEvents> DatagramDispatch<D> {
    const TABLE: sys::WSK_CLIENT_DATAGRAM_DISPATCH = sys::WSK_CLIENT_DATAGRAM_DISPATCH {
        WskReceiveFromEvent: Some(receive_from_event::<D>),
    };
}

// ------------------------------------------------------------------------------------------
// Listen sockets

/// What a listen socket's owner wants to hear about. Runs at IRQL <= DISPATCH_LEVEL and must
/// not block.
pub trait ListenEvents: Send + Sync + 'static {
    /// A connection from `remote` arrived. `Ok(())` accepts it: `connection` is then the
    /// driver's to keep and close (dropping it closes it with a blocking wait, which needs
    /// PASSIVE_LEVEL; at raised IRQL use [`ConnectionSocket::close_later`]).
    ///
    /// # Errors
    /// Return `Err(connection)` to reject the connection: the callback answers
    /// `STATUS_REQUEST_NOT_ACCEPTED` and the WSK subsystem closes the socket (the handle given
    /// back is forgotten, never closed by `wsk`).
    ///
    /// The accepted socket gets no connection event callbacks: the accept callback sets its
    /// `AcceptSocketContext` and `AcceptSocketDispatch` out-parameters to NULL. Receive with
    /// [`ConnectionSocket::receive`] or the completion-driven [`crate::stream`] API.
    fn accepted(
        &self,
        connection: ConnectionSocket,
        remote: Option<SocketAddr>,
    ) -> core::result::Result<(), ConnectionSocket>;
}

/// The context a listen socket's callback receives.
struct ListenContext<L> {
    events: L,
    client: WskClient,
}

/// Accept callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn accept_event<L: ListenEvents>(
    context: *mut c_void,
    _flags: u32,
    _local: *mut sys::SOCKADDR,
    remote: *mut sys::SOCKADDR,
    accept_socket: *mut sys::WSK_SOCKET,
    accept_context: *mut *mut c_void,
    accept_dispatch: *mut *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
) -> i32 {
    // SAFETY: `context` is the raw reference the socket holds until its close completed.
    let context = unsafe { Shared::<ListenContext<L>>::borrow_raw(context.cast_const().cast()) };
    // No connection callbacks on the accepted socket: NULL context and dispatch, as the
    // WskAcceptEvent page requires when the application does not want them.
    if !accept_context.is_null() {
        // SAFETY: the provider passes storage for the accepted socket's context.
        unsafe { accept_context.write(ptr::null_mut()) };
    }
    if !accept_dispatch.is_null() {
        // SAFETY: the provider passes storage for the accepted socket's dispatch pointer.
        unsafe { accept_dispatch.write(ptr::null()) };
    }
    let Some(socket) = NonNull::new(accept_socket) else {
        // NULL AcceptSocket: the listening socket stopped working.
        return NtStatus::SUCCESS.0;
    };
    let remote = NonNull::new(remote).and_then(|p| {
        let mut storage = SockAddr::empty();
        // SAFETY: the provider's remote address is a SOCKADDR of the socket's family, valid
        // during the callback; at most `family_size` (<= size of `SockAddr`) bytes are read.
        unsafe {
            ptr::copy_nonoverlapping(
                p.as_ptr().cast::<u8>(),
                ptr::from_mut(&mut storage).cast::<u8>(),
                family_size(p),
            );
        }
        storage.to_socket_addr()
    });
    let connection =
        ConnectionSocket::from_raw(socket::RawSocket::accepted(socket), context.client.clone());
    match context.events.accepted(connection, remote) {
        Ok(()) => NtStatus::SUCCESS.0,
        Err(rejected) => {
            // The WSK subsystem closes a rejected socket; closing it here too would be a
            // double close.
            // The raw socket has no Drop: splitting the handle forgets it without closing.
            let (_raw, _client) = rejected.into_parts();
            sys::STATUS_REQUEST_NOT_ACCEPTED
        }
    }
}

/// The client listen dispatch table for `L` (accept event only).
struct ListenDispatch<L>(core::marker::PhantomData<L>);

impl<L: ListenEvents> ListenDispatch<L> {
    const TABLE: sys::WSK_CLIENT_LISTEN_DISPATCH_WDK = sys::WSK_CLIENT_LISTEN_DISPATCH_WDK {
        WskAcceptEvent: Some(accept_event::<L>),
        WskInspectEvent: ptr::null(),
        WskAbortEvent: ptr::null(),
    };
}

/// A TCP listen socket whose incoming connections are delivered by a [`ListenEvents`]
/// callback (`WskAcceptEvent`) instead of `WskAccept` requests.
///
/// Dropping it (PASSIVE_LEVEL) closes the listen socket, then frees the callback context
/// (leaked if the close does not complete). Accepted connections are independent of it.
pub struct EventListener<L: ListenEvents>(EventSocket<ListenKind<L>>);

impl<L: ListenEvents> EventListener<L> {
    /// Creates a listen socket with a `WSK_CLIENT_LISTEN_DISPATCH`, binds it to `local`
    /// (which starts listening) and enables `WSK_EVENT_ACCEPT`. IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_accept_event>.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio),
    /// `WskBind` or enabling the event; `STATUS_INSUFFICIENT_RESOURCES` without pool memory.
    pub fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        events: L,
        timeout: Duration,
    ) -> Result<Self> {
        EventSocket::bind(
            client,
            local,
            options,
            ListenContext {
                events,
                client: client.clone(),
            },
            timeout,
        )
        .map(Self)
    }

    /// The events object. IRQL: any.
    #[must_use]
    pub fn events(&self) -> &L {
        &self.0.context().events
    }

    /// The listen socket, for its address. IRQL: any (the socket's own methods document
    /// theirs).
    pub fn socket(&mut self) -> Option<&mut crate::ListenSocket> {
        self.0.socket.as_mut()
    }

    /// Stops the accept callbacks (`WSK_EVENT_DISABLE`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (e.g. `STATUS_EVENT_PENDING` while the callback runs).
    pub fn disable(&mut self) -> Result<()> {
        self.0.disable()
    }
}

// ------------------------------------------------------------------------------------------
// What event listen and datagram sockets share

/// What differs between the bound event sockets ([`EventListener`], [`EventDatagram`]).
trait EventKind {
    /// The socket type the owner sees.
    type Socket;
    /// What the callbacks receive as their context.
    type Context: Send + Sync;
    const CATEGORY: Category;
    /// The one event enabled after bind (and disabled by `disable`).
    const EVENT: u32;
    /// The client dispatch table (a `'static` table for the context type).
    fn dispatch() -> *const c_void;
    /// The provider's bind function of the category.
    fn bind_fn(raw: &socket::RawSocket) -> sys::PFN_WSK_BIND;
    fn wrap(core: socket::SocketCore, local: SocketAddr) -> Self::Socket;
    fn core(socket: &mut Self::Socket) -> &mut socket::SocketCore;
    fn close(socket: Self::Socket) -> Result<()>;
    /// Tells the context its socket (for `WskRelease` of retained lists).
    fn attach(context: &Self::Context, socket: *mut sys::WSK_SOCKET);
    /// The count of retained lists the close must wait for, if the category retains.
    fn retained(context: &Self::Context) -> Option<&AtomicUsize>;
}

/// A socket created with client callbacks and bound, with the callbacks' context.
///
/// # Invariants
/// `context` is a raw reference to a `K::Context` that the socket's callbacks use; it is taken
/// back only after the socket's close completed (no callback runs after that), which happens
/// only after every retained list was released.
struct EventSocket<K: EventKind> {
    socket: Option<K::Socket>,
    context: *const (),
    _kind: core::marker::PhantomData<K>,
}

// SAFETY: the raw context is a counted reference to Send + Sync data; the socket types are
// Send + Sync.
unsafe impl<K: EventKind> Send for EventSocket<K> {}
// SAFETY: as above.
unsafe impl<K: EventKind> Sync for EventSocket<K> {}

impl<K: EventKind> EventSocket<K> {
    /// Creates the socket with `context` and `K`'s dispatch, binds it to `local` and enables
    /// `K::EVENT`. IRQL: PASSIVE_LEVEL.
    fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        context: K::Context,
        timeout: Duration,
    ) -> Result<Self> {
        let context = Shared::into_raw(Shared::try_new(context)?);
        let callbacks = Callbacks {
            context: context.cast_mut().cast(),
            dispatch: K::dispatch(),
        };
        let family = SockAddr::socket_family(&local);
        let created = socket::create_with(client, family, K::CATEGORY, options, callbacks, timeout);
        let (raw, blocking) = match created {
            Ok(parts) => parts,
            Err(e) => {
                // SAFETY: no socket exists, so no callback can use the context.
                drop(unsafe { Shared::<K::Context>::from_raw(context) });
                return Err(e);
            }
        };
        // SAFETY: the raw reference is live until `Drop` takes it back.
        K::attach(
            unsafe { Shared::<K::Context>::borrow_raw(context) },
            raw.as_ptr(),
        );
        let bind_fn = K::bind_fn(&raw);
        // From here on, dropping `this` closes the socket before freeing the context.
        let mut this = Self {
            socket: Some(K::wrap(
                socket::SocketCore {
                    raw,
                    blocking,
                    client: client.clone(),
                },
                local,
            )),
            context,
            _kind: core::marker::PhantomData,
        };
        let core = this.core()?;
        socket::bind(&core.raw, &mut core.blocking, bind_fn, local, timeout)?;
        socket::event_callbacks(&this.core()?.raw, K::EVENT)?;
        Ok(this)
    }

    fn core(&mut self) -> Result<&mut socket::SocketCore> {
        self.socket
            .as_mut()
            .map(K::core)
            .ok_or(Error::new(NtStatus::INVALID_HANDLE))
    }

    fn context(&self) -> &K::Context {
        // SAFETY: the raw reference is live until `Drop` takes it back.
        unsafe { Shared::<K::Context>::borrow_raw(self.context) }
    }

    /// `WSK_EVENT_DISABLE | K::EVENT`. IRQL: PASSIVE_LEVEL.
    fn disable(&mut self) -> Result<()> {
        socket::event_callbacks(&self.core()?.raw, sys::WSK_EVENT_DISABLE | K::EVENT)
    }
}

impl<K: EventKind> Drop for EventSocket<K> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            // WskCloseSocket does not release retained lists: wait for their handles first.
            if K::retained(self.context()).is_some_and(|n| !wait_released(n)) {
                core::mem::forget(socket);
                return;
            }
            if K::close(socket).is_err() {
                // The close did not complete: callbacks may still come; keep the context.
                return;
            }
        }
        // SAFETY: the socket is closed (or never existed), so nothing uses the context.
        drop(unsafe { Shared::<K::Context>::from_raw(self.context) });
    }
}

/// [`EventKind`] of [`EventListener`].
struct ListenKind<L>(core::marker::PhantomData<L>);

impl<L: ListenEvents> EventKind for ListenKind<L> {
    type Socket = crate::ListenSocket;
    type Context = ListenContext<L>;
    const CATEGORY: Category = Category::Listen;
    const EVENT: u32 = sys::WSK_EVENT_ACCEPT;

    fn dispatch() -> *const c_void {
        // A promoted constant: the table lives for 'static, as the provider requires.
        let table: &'static sys::WSK_CLIENT_LISTEN_DISPATCH_WDK = &ListenDispatch::<L>::TABLE;
        ptr::from_ref(table).cast()
    }

    fn bind_fn(raw: &socket::RawSocket) -> sys::PFN_WSK_BIND {
        // SAFETY: `raw` was created as a listen socket (`CATEGORY`).
        unsafe { raw.dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }.WskBind
    }

    fn wrap(core: socket::SocketCore, local: SocketAddr) -> Self::Socket {
        crate::ListenSocket { core, local }
    }

    fn core(socket: &mut Self::Socket) -> &mut socket::SocketCore {
        &mut socket.core
    }

    fn close(socket: Self::Socket) -> Result<()> {
        socket.close()
    }

    fn attach(_context: &Self::Context, _socket: *mut sys::WSK_SOCKET) {}

    fn retained(_context: &Self::Context) -> Option<&AtomicUsize> {
        None
    }
}

/// [`EventKind`] of [`EventDatagram`].
struct DatagramKind<D>(core::marker::PhantomData<D>);

impl<D: DatagramEvents> EventKind for DatagramKind<D> {
    type Socket = crate::DatagramSocket;
    type Context = DatagramContext<D>;
    const CATEGORY: Category = Category::Datagram;
    const EVENT: u32 = sys::WSK_EVENT_RECEIVE_FROM;

    fn dispatch() -> *const c_void {
        // A promoted constant: the table lives for 'static, as the provider requires.
        let table: &'static sys::WSK_CLIENT_DATAGRAM_DISPATCH = &DatagramDispatch::<D>::TABLE;
        ptr::from_ref(table).cast()
    }

    fn bind_fn(raw: &socket::RawSocket) -> sys::PFN_WSK_BIND {
        // SAFETY: `raw` was created as a datagram socket (`CATEGORY`).
        unsafe { raw.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() }.WskBind
    }

    fn wrap(core: socket::SocketCore, _local: SocketAddr) -> Self::Socket {
        crate::DatagramSocket { core }
    }

    fn core(socket: &mut Self::Socket) -> &mut socket::SocketCore {
        &mut socket.core
    }

    fn close(socket: Self::Socket) -> Result<()> {
        socket.close()
    }

    fn attach(context: &Self::Context, socket: *mut sys::WSK_SOCKET) {
        context.socket.store(socket, Ordering::Release);
    }

    fn retained(context: &Self::Context) -> Option<&AtomicUsize> {
        Some(&context.outstanding)
    }
}
