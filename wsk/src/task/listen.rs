//! Completion-driven accepting: a [`ListenTask`] keeps one `WskAccept` pending on a
//! [`ListenSocket`] and hands each connection to a [`ListenHandler`], no thread. The handler
//! gets an [`AcceptedConnection`] (no blocking calls): it starts a
//! [`crate::task::ConnectionTask`] on it, keeps it, or closes it.
//!
//! ```
//! # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
//! # let _kernel = fake::Kernel::start();
//! # let timeout = core::time::Duration::from_secs(5);
//! # // SAFETY: the fake kernel's device object lives for the whole process.
//! # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
//! use core::net::SocketAddr;
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use wsk::task::{ListenHandler, ListenTask};
//! use wsk::{AcceptedConnection, ConnectionSocket, Error, ListenSocket};
//!
//! /// Counts connections and closes them. Runs at IRQL <= DISPATCH_LEVEL: nothing blocks.
//! struct CountAndClose(AtomicUsize);
//!
//! impl ListenHandler for CountAndClose {
//!     fn accepted(&self, connection: AcceptedConnection, _: Option<SocketAddr>) -> bool {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         connection.close_later();
//!         true // keep accepting
//!     }
//!     fn finished(&self, _: Option<Error>) {}
//! }
//!
//! let mut listener = ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
//! let server = listener.local_addr()?;
//! let task = ListenTask::start(listener, CountAndClose(AtomicUsize::new(0)))?;
//! let mut peer = ConnectionSocket::connect(&client, server, None, timeout)?;
//! assert_eq!(peer.receive(&mut [0u8; 1], timeout)?, 0); // the handler closed it
//! assert_eq!(task.handler().0.load(Ordering::Relaxed), 1);
//! task.stop();
//! # drop((task, peer));
//! # assert!(client.shutdown(timeout));
//! # Ok::<(), wsk::Error>(())
//! ```

use core::cell::UnsafeCell;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use wsk_bindings as sys;

use crate::task::{self, Task, TaskCore};
use crate::{AcceptedConnection, Error, ListenSocket, NtStatus, PoolArc, Result, SockAddr};

/// Accept failures in a row after which a task gives up, even when each concerned only one
/// connection (a provider error that repeats).
const MAX_FAILURES_IN_A_ROW: u32 = 64;

/// Whether an accept that failed with `status` concerned only the connection being accepted
/// (its peer reset or aborted it before the accept completed; Winsock's `accept` documents
/// `WSAECONNRESET` for this), so the listener goes on accepting.
const fn concerns_one_connection(status: NtStatus) -> bool {
    matches!(
        status,
        NtStatus::CONNECTION_RESET
            | NtStatus::CONNECTION_ABORTED
            | NtStatus::CONNECTION_DISCONNECTED
    )
}

/// Receives accepted connections. Called at IRQL <= DISPATCH_LEVEL (except `finished`); must not block.
pub trait ListenHandler: Send + Sync + 'static {
    /// A connection from `remote` was accepted. Return false to stop accepting.
    fn accepted(&self, connection: AcceptedConnection, remote: Option<SocketAddr>) -> bool;
    /// An accept failed for one connection only (its peer reset it before the accept
    /// completed): the task goes on accepting, unless [`MAX_FAILURES_IN_A_ROW`] (64) such
    /// failures came in a row; then it stops and `finished` gets the error. Default: ignored.
    fn accept_failed(&self, error: Error) {
        let _ = error;
    }
    /// The listen socket is closed; `error` is the failure that stopped accepting, if any.
    /// Runs once, at PASSIVE_LEVEL.
    fn finished(&self, error: Option<Error>);
}

struct AcceptInner<H> {
    core: TaskCore,
    /// Accept failures in a row that concerned one connection each.
    failures: AtomicU32,
    /// Written by the provider during a request, read by the driving thread after it.
    remote: UnsafeCell<SockAddr>,
    local: UnsafeCell<SockAddr>,
    handler: H,
}

// SAFETY: the address buffers are used by one request at a time (task protocol).
unsafe impl<H: ListenHandler> Sync for AcceptInner<H> {}
// SAFETY: as above.
unsafe impl<H: ListenHandler> Send for AcceptInner<H> {}

/// A listener that accepts asynchronously.
pub struct ListenTask<H: ListenHandler>(PoolArc<AcceptInner<H>>);

handle_methods!(
    ListenTask<ListenHandler>,
    "Closes the listen socket; a pending accept completes as cancelled and \
     [`ListenHandler::finished`] follows. IRQL <= DISPATCH_LEVEL."
);

impl<H: ListenHandler> ListenTask<H> {
    /// Starts accepting on `listener`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES`; the listener is closed in that case.
    pub fn start(listener: ListenSocket, handler: H) -> Result<Self> {
        let (raw, client) = listener.into_parts();
        let core = TaskCore::try_new(raw, client)?;
        let inner = PoolArc::try_new(AcceptInner {
            core,
            failures: AtomicU32::new(0),
            remote: UnsafeCell::new(SockAddr::empty()),
            local: UnsafeCell::new(SockAddr::empty()),
            handler,
        })?;
        task::drive(&inner);
        Ok(Self(inner))
    }
}

impl<H: ListenHandler> Task for AcceptInner<H> {
    fn core(&self) -> &TaskCore {
        &self.core
    }

    fn finished(&self, error: Option<Error>) {
        self.handler.finished(error);
    }

    fn issue(&self, irp: *mut sys::IRP) -> Option<i32> {
        // SAFETY: the address buffers belong to the task and are used by this request only.
        let local = unsafe { &mut *self.local.get() }.as_mut_ptr();
        // SAFETY: as above.
        let remote = unsafe { &mut *self.remote.get() }.as_mut_ptr();
        self.core.with_open(|socket| {
            // SAFETY: the socket is an open listen socket.
            let accept_fn =
                unsafe { socket.dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }.WskAccept?;
            // SAFETY: the socket is open; the address buffers live as long as the task.
            Some(unsafe {
                accept_fn(
                    socket.as_ptr(),
                    0,
                    ptr::null_mut(),
                    ptr::null(),
                    local,
                    remote,
                    irp,
                )
            })
        })
    }

    fn completed(this: &PoolArc<Self>, status: NtStatus, information: usize) -> bool {
        if !status.is_success() {
            let failures = this.failures.fetch_add(1, Ordering::Relaxed);
            if concerns_one_connection(status)
                && failures < MAX_FAILURES_IN_A_ROW
                && !this.core.is_closing()
            {
                this.handler.accept_failed(Error::new(status));
                return true;
            }
            return task::failed(this, status);
        }
        this.failures.store(0, Ordering::Relaxed);
        let Some(accepted) = NonNull::new(information as *mut sys::WSK_SOCKET) else {
            return task::failed(this, NtStatus::UNSUCCESSFUL);
        };
        // SAFETY: the request finished; the provider wrote the remote address.
        let remote = unsafe { (*this.remote.get()).to_socket_addr() };
        let connection = AcceptedConnection::new(accepted, this.core.client().clone());
        if this.core.is_closing() {
            connection.close_later();
            return false;
        }
        if !this.handler.accepted(connection, remote) {
            task::close(this, None);
            return false;
        }
        true
    }
}
