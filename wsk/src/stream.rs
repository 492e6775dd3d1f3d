//! Completion-driven connections: a [`Session`] decides what to do with each received or
//! sent buffer, and a [`StreamTask`] runs it with one IRP and one buffer, no thread.
//!
//! ```no_run
//! use wsk::stream::{Session, Step, StreamTask};
//! use wsk::{ConnectionSocket, Error};
//!
//! /// Sends every byte back.
//! struct Echo;
//!
//! impl Session for Echo {
//!     fn received(&self, _: &mut [u8], len: usize) -> Step {
//!         if len == 0 { Step::Close } else { Step::Send(len) }
//!     }
//!     fn sent(&self, _: &mut [u8], _: usize) -> Step {
//!         Step::Receive
//!     }
//!     fn finished(&self, _: Option<Error>) {}
//! }
//!
//! /// IRQL <= DISPATCH_LEVEL: nothing here blocks.
//! fn serve(connection: ConnectionSocket) -> wsk::Result<StreamTask<Echo>> {
//!     StreamTask::start(connection, 16 * 1024, Echo)
//! }
//! ```

use core::cell::UnsafeCell;

use wsk_bindings as sys;

use crate::irp::Irp;
use crate::task::{self, Task, TaskCore};
use crate::{ConnectionSocket, Error, NtStatus, PoolBuffer, Result, Shared};

/// What a session wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Receive into the whole buffer.
    Receive,
    /// Send the first `n` bytes of the buffer (all of them, across partial sends).
    Send(usize),
    /// Close the connection.
    Close,
}

/// The behaviour of a connection. Called at IRQL <= DISPATCH_LEVEL except
/// [`Session::finished`]; none of these may block.
pub trait Session: Send + Sync + 'static {
    /// The first step; `buffer` may be filled for an initial send. Default: receive.
    fn start(&self, buffer: &mut [u8]) -> Step {
        let _ = buffer;
        Step::Receive
    }
    /// `len` bytes arrived at the start of `buffer`; `len == 0` means the peer closed its side.
    fn received(&self, buffer: &mut [u8], len: usize) -> Step;
    /// A `Send(len)` step finished; the buffer may be refilled.
    fn sent(&self, buffer: &mut [u8], len: usize) -> Step;
    /// The socket is closed; `error` is the failure that ended the session, if any.
    /// Runs once, at PASSIVE_LEVEL.
    fn finished(&self, error: Option<Error>);
}

struct StreamInner<S> {
    core: TaskCore,
    /// The step in flight; written only by the thread that issues, read by the one that
    /// completes (ordered through `state`).
    current: UnsafeCell<Step>,
    /// Accessed only by whoever drives the task (one request in flight at a time).
    buffer: UnsafeCell<PoolBuffer>,
    session: S,
}

// SAFETY: `current` and `buffer` are accessed only by the single thread driving the task at
// any moment (the task protocol in `task.rs`), everything else is synchronized.
unsafe impl<S: Session> Sync for StreamInner<S> {}
// SAFETY: as above.
unsafe impl<S: Session> Send for StreamInner<S> {}

/// A connection run by a [`Session`]. Dropping the handle does not stop it; [`StreamTask::stop`] does.
pub struct StreamTask<S: Session>(Shared<StreamInner<S>>);

impl<S: Session> Clone for StreamTask<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: Session> StreamTask<S> {
    /// Starts running `session` on `socket` with a buffer of `buffer_len` bytes.
    /// IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES`; the socket is closed in that case.
    pub fn start(socket: ConnectionSocket, buffer_len: usize, session: S) -> Result<Self> {
        let (raw, client) = socket.into_parts();
        let parts = Irp::try_new().and_then(|irp| Ok((irp, PoolBuffer::try_new(buffer_len)?)));
        let (irp, buffer) = match parts {
            Ok(parts) => parts,
            Err(e) => {
                crate::socket::close_later(raw, client);
                return Err(e);
            }
        };
        // From here a failure drops the TaskCore, which closes the socket on a worker thread.
        let inner = Shared::try_new(StreamInner {
            core: TaskCore::new(raw, client, irp),
            current: UnsafeCell::new(Step::Receive),
            buffer: UnsafeCell::new(buffer),
            session,
        })?;
        // SAFETY: nothing else drives the task yet.
        let first = inner
            .session
            .start(unsafe { (*inner.buffer.get()).as_mut_slice() });
        let task = Self(inner);
        if task.advance(first) {
            task::drive(&task.0);
        }
        Ok(task)
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> &S {
        &self.0.session
    }

    /// Closes the connection; pending requests complete as cancelled and
    /// [`Session::finished`] follows. IRQL <= DISPATCH_LEVEL.
    pub fn stop(&self) {
        task::close(&self.0, None);
    }

    /// Records `step` as the next request; false if the task stops instead.
    fn advance(&self, step: Step) -> bool {
        advance(&self.0, step)
    }
}

fn advance<S: Session>(inner: &Shared<StreamInner<S>>, step: Step) -> bool {
    let fits = match step {
        Step::Send(n) => n > 0 && n <= buffer_len(inner),
        Step::Receive => true,
        Step::Close => false,
    };
    if !fits {
        let error = if step == Step::Close {
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

fn buffer_len<S: Session>(inner: &StreamInner<S>) -> usize {
    // SAFETY: the length never changes; reading it races with nothing.
    unsafe { (*inner.buffer.get()).len() }
}

impl<S: Session> Task for StreamInner<S> {
    fn core(&self) -> &TaskCore {
        &self.core
    }

    fn finished(&self, error: Option<Error>) {
        self.session.finished(error);
    }

    fn issue(&self, irp: *mut sys::IRP) -> Option<i32> {
        // SAFETY: written by this (driving) thread in `advance`.
        let step = unsafe { *self.current.get() };
        // SAFETY: the driving thread has exclusive use of the buffer while no request is pending.
        let buffer = unsafe { &*self.buffer.get() };
        let len = match step {
            Step::Receive => buffer.len(),
            Step::Send(n) => n,
            Step::Close => return None,
        };
        let mut wsk_buf = buffer.wsk_buf(0, len)?;
        self.core.with_open(|socket| {
            // SAFETY: the socket is an open connection socket.
            let dispatch = unsafe { socket.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
            let f = if step == Step::Receive {
                dispatch.WskReceive
            } else {
                dispatch.WskSend
            }?;
            // SAFETY: the socket is open; `wsk_buf` describes our buffer, which lives as long
            // as the task; WSK copies the WSK_BUF itself before returning.
            Some(unsafe { f(socket.as_ptr(), &raw mut wsk_buf, 0, irp) })
        })
    }

    fn completed(this: &Shared<Self>, status: NtStatus, information: usize) -> bool {
        if !status.is_success() {
            return task::failed(this, status);
        }
        // SAFETY: the request finished, so this thread now drives the task.
        let step = unsafe { *this.current.get() };
        // SAFETY: as above: exclusive use of the buffer between requests.
        let buffer = unsafe { (*this.buffer.get()).as_mut_slice() };
        let next = match step {
            Step::Receive => this.session.received(buffer, information.min(buffer.len())),
            Step::Send(len) if information < len => {
                // Partial send: move the rest to the front and send it.
                buffer.copy_within(information..len, 0);
                Step::Send(len.saturating_sub(information))
            }
            Step::Send(len) => this.session.sent(buffer, len),
            Step::Close => Step::Close,
        };
        advance(this, next)
    }
}
