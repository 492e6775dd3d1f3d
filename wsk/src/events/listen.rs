//! [`ListenEventSocket`]: a TCP listen socket whose incoming connections arrive as a
//! [`ListenEvents`] callback.

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicUsize;
use core::time::Duration;

use wsk_bindings as sys;

use super::{socket_addr_at, EventKind, EventSocket};
use crate::socket::{self, BindOptions, Category};
use crate::{AcceptedConnection, NtStatus, PoolArc, Result, WskClient};

/// What a listen socket's owner wants to hear about. Runs at IRQL <= DISPATCH_LEVEL and must
/// not block.
pub trait ListenEvents: Send + Sync + 'static {
    /// A connection from `remote` arrived. `Ok(())` accepts it: `connection` is then the
    /// driver's to keep, serve or close (see [`AcceptedConnection`]: it has no blocking calls;
    /// dropping it closes it on a worker thread).
    ///
    /// # Errors
    /// Return `Err(connection)` to reject the connection: the callback answers
    /// `STATUS_REQUEST_NOT_ACCEPTED` and the WSK subsystem closes the socket (the handle given
    /// back is forgotten, never closed by `wsk`).
    ///
    /// The accepted socket gets no connection event callbacks: the accept callback sets its
    /// `AcceptSocketContext` and `AcceptSocketDispatch` out-parameters to NULL. Receive with
    /// a [`crate::task::ConnectionTask`], or at PASSIVE_LEVEL with
    /// [`crate::ConnectionSocket::receive`] after [`AcceptedConnection::into_socket`].
    fn accepted(
        &self,
        connection: AcceptedConnection,
        remote: Option<SocketAddr>,
    ) -> core::result::Result<(), AcceptedConnection>;
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
    let context = unsafe { PoolArc::<ListenContext<L>>::borrow_raw(context.cast_const().cast()) };
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
    // SAFETY: the provider's remote address is a SOCKADDR of the socket's family, valid
    // during the callback.
    let remote = NonNull::new(remote).and_then(|p| unsafe { socket_addr_at(p) });
    let connection = AcceptedConnection::new(socket, context.client.clone());
    match context.events.accepted(connection, remote) {
        Ok(()) => NtStatus::SUCCESS.0,
        Err(rejected) => {
            // The WSK subsystem closes a rejected socket; closing it here too would be a
            // double close.
            rejected.forget();
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
pub struct ListenEventSocket<L: ListenEvents>(EventSocket<ListenKind<L>>);

impl<L: ListenEvents> ListenEventSocket<L> {
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

/// [`EventKind`] of [`ListenEventSocket`].
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
