//! Completion-driven connections: a [`ConnectionHandler`] decides what to do with each received or
//! sent buffer, and a [`ConnectionTask`] runs it with one IRP and one buffer, no thread.
//!
//! ```
//! # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
//! # let _kernel = fake::Kernel::start();
//! # let timeout = core::time::Duration::from_secs(5);
//! # // SAFETY: the fake kernel's device object lives for the whole process.
//! # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
//! use wsk::task::{ConnectionHandler, ConnectionStep, ConnectionTask};
//! use wsk::{ConnectionSocket, Error, ListenSocket};
//!
//! /// Sends every byte back. Runs at IRQL <= DISPATCH_LEVEL: nothing here blocks.
//! struct Echo;
//!
//! impl ConnectionHandler for Echo {
//!     fn received(&self, _: &mut [u8], len: usize) -> ConnectionStep {
//!         if len == 0 { ConnectionStep::Close } else { ConnectionStep::Send(len) }
//!     }
//!     fn sent(&self, _: &mut [u8], _: usize) -> ConnectionStep {
//!         ConnectionStep::Receive
//!     }
//!     fn finished(&self, _: Option<Error>) {}
//! }
//!
//! let mut listener = ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
//! let mut peer = ConnectionSocket::connect(&client, listener.local_addr()?, None, timeout)?;
//! let (served, _) = listener.accept(timeout)?;
//! let task = ConnectionTask::start(served, 16 * 1024, Echo)?;
//! peer.send_all(b"echo", timeout)?;
//! let (mut back, mut got) = ([0u8; 4], 0);
//! while got < back.len() {
//!     got += peer.receive(&mut back[got..], timeout)?;
//! }
//! assert_eq!(&back, b"echo");
//! task.stop();
//! # drop((task, peer, listener));
//! # assert!(client.shutdown(timeout));
//! # Ok::<(), wsk::Error>(())
//! ```

use core::cell::UnsafeCell;

use wsk_bindings as sys;

use crate::task::{self, Task, TaskCore};
use crate::{ConnectionSocket, Error, NtStatus, PoolArc, PoolBuffer, Result};

/// What a handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStep {
    /// Receive into the whole buffer.
    Receive,
    /// Send the first `n` bytes of the buffer (all of them, across partial sends).
    Send(usize),
    /// Close the connection.
    Close,
}

/// The behaviour of a connection. Called at IRQL <= DISPATCH_LEVEL except
/// [`ConnectionHandler::finished`]; none of these may block.
pub trait ConnectionHandler: Send + Sync + 'static {
    /// The first step; `buffer` may be filled for an initial send. Default: receive.
    fn start(&self, buffer: &mut [u8]) -> ConnectionStep {
        let _ = buffer;
        ConnectionStep::Receive
    }
    /// `len` bytes arrived at the start of `buffer`; `len == 0` means the peer closed its side.
    fn received(&self, buffer: &mut [u8], len: usize) -> ConnectionStep;
    /// A `Send(len)` step finished; the buffer may be refilled.
    fn sent(&self, buffer: &mut [u8], len: usize) -> ConnectionStep;
    /// The socket is closed; `error` is the failure that ended the handler, if any.
    /// Runs once, at PASSIVE_LEVEL.
    fn finished(&self, error: Option<Error>);
}

struct ConnectionInner<H> {
    core: TaskCore,
    /// The step in flight; written only by the thread that issues, read by the one that
    /// completes (ordered through `state`).
    current: UnsafeCell<ConnectionStep>,
    /// Accessed only by whoever drives the task (one request in flight at a time).
    buffer: UnsafeCell<PoolBuffer>,
    handler: H,
}

// SAFETY: `current` and `buffer` are accessed only by the single thread driving the task at
// any moment (the task protocol in `task/mod.rs`), everything else is synchronized.
unsafe impl<H: ConnectionHandler> Sync for ConnectionInner<H> {}
// SAFETY: as above.
unsafe impl<H: ConnectionHandler> Send for ConnectionInner<H> {}

/// A connection run by a [`ConnectionHandler`]. Dropping the handle does not stop it; [`ConnectionTask::stop`] does.
pub struct ConnectionTask<H: ConnectionHandler>(PoolArc<ConnectionInner<H>>);

handle_methods!(
    ConnectionTask<ConnectionHandler>,
    "Closes the connection; pending requests complete as cancelled and \
     [`ConnectionHandler::finished`] follows. IRQL <= DISPATCH_LEVEL."
);

impl<H: ConnectionHandler> Clone for ConnectionTask<H> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<H: ConnectionHandler> ConnectionTask<H> {
    /// Starts running `handler` on `socket` (a [`ConnectionSocket`], or the
    /// [`crate::AcceptedConnection`] a listen handler got) with a buffer of `buffer_len` bytes.
    /// IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES`; the socket is closed in that case.
    pub fn start(
        socket: impl Into<ConnectionSocket>,
        buffer_len: usize,
        handler: H,
    ) -> Result<Self> {
        let (raw, client) = socket.into().into_parts();
        let core = TaskCore::try_new(raw, client)?;
        let buffer = PoolBuffer::try_new(buffer_len)?;
        let inner = PoolArc::try_new(ConnectionInner {
            core,
            current: UnsafeCell::new(ConnectionStep::Receive),
            buffer: UnsafeCell::new(buffer),
            handler,
        })?;
        // SAFETY: nothing else drives the task yet.
        let first = inner
            .handler
            .start(unsafe { (*inner.buffer.get()).as_mut_slice() });
        let task = Self(inner);
        if task.advance(first) {
            task::drive(&task.0);
        }
        Ok(task)
    }

    /// Records `step` as the next request; false if the task stops instead.
    fn advance(&self, step: ConnectionStep) -> bool {
        advance(&self.0, step)
    }
}

fn advance<H: ConnectionHandler>(
    inner: &PoolArc<ConnectionInner<H>>,
    step: ConnectionStep,
) -> bool {
    let fits = match step {
        ConnectionStep::Send(n) => n > 0 && n <= buffer_len(inner),
        ConnectionStep::Receive => true,
        ConnectionStep::Close => false,
    };
    if !fits {
        let error = if step == ConnectionStep::Close {
            None
        } else {
            Some(Error::new(NtStatus::INVALID_PARAMETER))
        };
        task::close(inner, error);
        return false;
    }
    // SAFETY: only the driving thread writes `current`, before issuing.
    unsafe { *inner.current.get() = step };
    true
}

fn buffer_len<H: ConnectionHandler>(inner: &ConnectionInner<H>) -> usize {
    // SAFETY: the length never changes; reading it races with nothing.
    unsafe { (*inner.buffer.get()).len() }
}

impl<H: ConnectionHandler> Task for ConnectionInner<H> {
    fn core(&self) -> &TaskCore {
        &self.core
    }

    fn finished(&self, error: Option<Error>) {
        self.handler.finished(error);
    }

    fn issue(&self, irp: *mut sys::IRP) -> Option<i32> {
        // SAFETY: written by this (driving) thread in `advance`.
        let step = unsafe { *self.current.get() };
        // SAFETY: the driving thread has exclusive use of the buffer while no request is pending.
        let buffer = unsafe { &*self.buffer.get() };
        let len = match step {
            ConnectionStep::Receive => buffer.len(),
            ConnectionStep::Send(n) => n,
            ConnectionStep::Close => return None,
        };
        let mut wsk_buf = buffer.wsk_buf(0, len)?;
        self.core.with_open(|socket| {
            // SAFETY: the socket is an open connection socket.
            let dispatch = unsafe { socket.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
            let f = if step == ConnectionStep::Receive {
                dispatch.WskReceive
            } else {
                dispatch.WskSend
            }?;
            // SAFETY: the socket is open; `wsk_buf` describes our buffer, which lives as long
            // as the task; WSK copies the WSK_BUF itself before returning.
            Some(unsafe { f(socket.as_ptr(), &raw mut wsk_buf, 0, irp) })
        })
    }

    fn completed(this: &PoolArc<Self>, status: NtStatus, information: usize) -> bool {
        if !status.is_success() {
            return task::failed(this, status);
        }
        // SAFETY: the request finished, so this thread now drives the task.
        let step = unsafe { *this.current.get() };
        // SAFETY: as above: exclusive use of the buffer between requests.
        let buffer = unsafe { (*this.buffer.get()).as_mut_slice() };
        let next = match step {
            ConnectionStep::Receive => this.handler.received(buffer, information.min(buffer.len())),
            ConnectionStep::Send(len) if information < len => {
                // Partial send: move the rest to the front and send it.
                buffer.copy_within(information..len, 0);
                ConnectionStep::Send(len.saturating_sub(information))
            }
            ConnectionStep::Send(len) => this.handler.sent(buffer, len),
            ConnectionStep::Close => ConnectionStep::Close,
        };
        advance(this, next)
    }
}
