//! Completion-driven UDP: a [`DatagramHandler`] decides what to do with each datagram
//! received or sent, and a [`DatagramTask`] runs it with one IRP and one buffer, no thread.

use core::cell::UnsafeCell;
use core::net::SocketAddr;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use wsk_bindings as sys;

use crate::task::{self, Task, TaskCore};
use crate::{DatagramSocket, Error, NtStatus, PoolArc, PoolBuffer, Result, SockAddr};

/// Receive failures in a row after which a task gives up (a provider error that repeats).
const MAX_FAILURES_IN_A_ROW: u32 = 64;

/// What a datagram handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramStep {
    /// Receive the next datagram into the whole buffer.
    Receive,
    /// Send the first `n` bytes of the buffer to this address.
    SendTo(usize, SocketAddr),
    /// Close the socket.
    Close,
}

/// The behaviour of a UDP socket. Called at IRQL <= DISPATCH_LEVEL except
/// [`DatagramHandler::finished`]; none of these may block.
pub trait DatagramHandler: Send + Sync + 'static {
    /// A datagram of `len` bytes from `from` is at the start of `buffer`.
    fn received(&self, buffer: &mut [u8], len: usize, from: Option<SocketAddr>) -> DatagramStep;
    /// A `SendTo` step finished.
    fn sent(&self, buffer: &mut [u8], len: usize) -> DatagramStep;
    /// A receive failed (not because the socket is closing); the task receives again
    /// unless this says otherwise or failures keep repeating.
    fn receive_failed(&self, error: Error) -> DatagramStep {
        let _ = error;
        DatagramStep::Receive
    }
    /// The socket is closed; `error` is the failure that ended the handler, if any.
    /// Runs once, at PASSIVE_LEVEL.
    fn finished(&self, error: Option<Error>);
}

struct DatagramInner<H> {
    core: TaskCore,
    failures: AtomicU32,
    /// The step in flight and the buffer and address it uses: accessed only by the thread
    /// driving the task (one request at a time, ordered through `state`).
    current: UnsafeCell<DatagramStep>,
    buffer: UnsafeCell<PoolBuffer>,
    address: UnsafeCell<SockAddr>,
    handler: H,
}

// SAFETY: the cells are accessed only by the single thread driving the task at any moment.
unsafe impl<H: DatagramHandler> Sync for DatagramInner<H> {}
// SAFETY: as above.
unsafe impl<H: DatagramHandler> Send for DatagramInner<H> {}

/// A UDP socket run by a [`DatagramHandler`].
pub struct DatagramTask<H: DatagramHandler>(PoolArc<DatagramInner<H>>);

handle_methods!(
    DatagramTask<DatagramHandler>,
    "Closes the socket; a pending receive completes as cancelled and \
     [`DatagramHandler::finished`] follows. IRQL <= DISPATCH_LEVEL."
);

impl<H: DatagramHandler> DatagramTask<H> {
    /// Starts receiving on `socket` with a buffer of `buffer_len` bytes (a datagram longer
    /// than the buffer is truncated). IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub fn start(socket: DatagramSocket, buffer_len: usize, handler: H) -> Result<Self> {
        let (raw, client) = socket.into_parts();
        let core = TaskCore::try_new(raw, client)?;
        let buffer = PoolBuffer::try_new(buffer_len)?;
        let inner = PoolArc::try_new(DatagramInner {
            core,
            failures: AtomicU32::new(0),
            current: UnsafeCell::new(DatagramStep::Receive),
            buffer: UnsafeCell::new(buffer),
            address: UnsafeCell::new(SockAddr::empty()),
            handler,
        })?;
        task::drive(&inner);
        Ok(Self(inner))
    }
}

impl<H: DatagramHandler> DatagramInner<H> {
    /// Records `step` as the next request; false if the task stops instead.
    fn advance(this: &PoolArc<Self>, step: DatagramStep) -> bool {
        // SAFETY: the driving thread has exclusive use of the buffer between requests.
        let buffer_len = unsafe { (*this.buffer.get()).len() };
        match step {
            DatagramStep::Close => {
                task::close(this, None);
                return false;
            }
            DatagramStep::SendTo(n, _) if n > buffer_len => {
                task::close(this, Some(Error::new(NtStatus::INVALID_PARAMETER)));
                return false;
            }
            DatagramStep::SendTo(_, to) => {
                // SAFETY: as above: the address belongs to the driving thread between requests.
                unsafe { *this.address.get() = SockAddr::from(to) };
            }
            DatagramStep::Receive => {
                // SAFETY: as above.
                unsafe { *this.address.get() = SockAddr::empty() };
            }
        }
        // SAFETY: as above.
        unsafe { *this.current.get() = step };
        true
    }
}

impl<H: DatagramHandler> Task for DatagramInner<H> {
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
        // SAFETY: as above, for the address.
        let address = unsafe { &mut *self.address.get() }.as_mut_ptr();
        let len = match step {
            DatagramStep::Receive => buffer.len(),
            DatagramStep::SendTo(n, _) => n,
            DatagramStep::Close => return None,
        };
        let mut wsk_buf = buffer.wsk_buf(0, len)?;
        self.core.with_open(|socket| {
            // SAFETY: the socket is an open datagram socket.
            let dispatch = unsafe { socket.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() };
            if step == DatagramStep::Receive {
                let f = dispatch.WskReceiveFrom?;
                // SAFETY: the socket is open; buffer and address live as long as the task;
                // no control information is requested.
                Some(unsafe {
                    f(
                        socket.as_ptr(),
                        &raw mut wsk_buf,
                        0,
                        address,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        ptr::null_mut(),
                        irp,
                    )
                })
            } else {
                let f = dispatch.WskSendTo?;
                // SAFETY: as above.
                Some(unsafe {
                    f(
                        socket.as_ptr(),
                        &raw mut wsk_buf,
                        0,
                        address,
                        0,
                        ptr::null_mut(),
                        irp,
                    )
                })
            }
        })
    }

    fn completed(this: &PoolArc<Self>, status: NtStatus, information: usize) -> bool {
        // SAFETY: the request finished, so this thread now drives the task.
        let step = unsafe { *this.current.get() };
        if !status.is_success() {
            let receiving = step == DatagramStep::Receive && !this.core.is_closing();
            let failures = this.failures.fetch_add(1, Ordering::Relaxed);
            if !receiving || failures >= MAX_FAILURES_IN_A_ROW {
                return task::failed(this, status);
            }
            let next = this.handler.receive_failed(Error::new(status));
            return Self::advance(this, next);
        }
        this.failures.store(0, Ordering::Relaxed);
        // SAFETY: as above: exclusive use of the buffer and address between requests.
        let buffer = unsafe { (*this.buffer.get()).as_mut_slice() };
        let next = match step {
            DatagramStep::Receive => {
                // SAFETY: as above; the provider wrote the sender's address.
                let from = unsafe { (*this.address.get()).to_socket_addr() };
                this.handler
                    .received(buffer, information.min(buffer.len()), from)
            }
            DatagramStep::SendTo(len, _) => this.handler.sent(buffer, len),
            DatagramStep::Close => DatagramStep::Close,
        };
        Self::advance(this, next)
    }
}
