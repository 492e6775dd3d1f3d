//! [`ConnectionEventSocket`]: a TCP connection whose received data, disconnects and send-backlog
//! changes arrive as [`ConnectionEvents`] callbacks.

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use wsk_bindings as sys;

use super::retained::{hand_over, wait_released, RetainedData, RetainedList};
use super::{Indication, Verdict};
use crate::socket::{self, BindOptions, Callbacks, Category};
use crate::{ConnectionSocket, Error, NtStatus, PoolArc, Result, SockAddr, WskClient};

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
    events: PoolArc<E>,
    socket: core::sync::atomic::AtomicPtr<sys::WSK_SOCKET>,
    outstanding: PoolArc<AtomicUsize>,
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
        unsafe { PoolArc::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
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
        unsafe { PoolArc::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
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
        unsafe { PoolArc::<ConnectionContext<E>>::borrow_raw(context.cast_const().cast()) };
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
pub struct ConnectionEventSocket<E: ConnectionEvents> {
    socket: Option<ConnectionSocket>,
    events: PoolArc<E>,
    context: *const (),
}

// SAFETY: the raw context is a reference counted like `events`, which is Send + Sync.
unsafe impl<E: ConnectionEvents> Send for ConnectionEventSocket<E> {}
// SAFETY: as above.
unsafe impl<E: ConnectionEvents> Sync for ConnectionEventSocket<E> {}

impl<E: ConnectionEvents> ConnectionEventSocket<E> {
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
        let events = PoolArc::try_new(events)?;
        let outstanding = PoolArc::try_new(AtomicUsize::new(0))?;
        let context = PoolArc::try_new(ConnectionContext {
            events: events.clone(),
            socket: core::sync::atomic::AtomicPtr::new(ptr::null_mut()),
            outstanding,
        })?;
        let context = PoolArc::into_raw(context);
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
                drop(unsafe { PoolArc::<ConnectionContext<E>>::from_raw(context) });
                return Err(e);
            }
        };
        // SAFETY: the raw reference is live until `Drop` takes it back.
        let shared = unsafe { PoolArc::<ConnectionContext<E>>::borrow_raw(context) };
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

    /// The events object. IRQL: any.
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

impl<E: ConnectionEvents> Drop for ConnectionEventSocket<E> {
    fn drop(&mut self) {
        // SAFETY: the raw reference is live until taken back below.
        let context = unsafe { PoolArc::<ConnectionContext<E>>::borrow_raw(self.context) };
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
        drop(unsafe { PoolArc::<ConnectionContext<E>>::from_raw(self.context) });
    }
}
