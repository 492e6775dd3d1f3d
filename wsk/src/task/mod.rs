//! Completion-driven tasks: a socket served without a thread, one request at a time, by a
//! handler that says what to do next. One per category, one pattern: [`ListenTask`] runs a
//! [`ListenHandler`], [`ConnectionTask`] a [`ConnectionHandler`], [`DatagramTask`] a
//! [`DatagramHandler`]; each starts with `start(socket, ..., handler)` (IRQL <=
//! DISPATCH_LEVEL), shows its handler with `handler()` and ends with `stop()`. Handlers run
//! at IRQL <= DISPATCH_LEVEL (their `finished` at PASSIVE_LEVEL) and must not block.
//!
//! The rest of this module is the crate-private trampoline the tasks share. A task has one request in flight at a time on one reused IRP. Its state is explicit:
//! `IDLE` -> `ISSUING` (inside the provider call) -> `PENDING` (provider owns the IRP) or
//! `DONE_INLINE` (completed during the call). A completion during the call is handled by the
//! issuing loop after the call returns, never by recursion, so a provider that completes
//! synchronously (Wine often does) cannot grow the stack; after [`INLINE_RUN`] such requests
//! in a row the loop goes on on a worker thread, so it cannot hold its thread either.

/// The methods every task handle has besides `start`: `handler()`, and `stop()` (documented
/// with `$stop`: what closing the socket does to the task's requests).
macro_rules! handle_methods {
    ($task:ident<$handler:ident>, $stop:literal) => {
        impl<H: $handler> $task<H> {
            /// The handler. IRQL: any.
            #[must_use]
            pub fn handler(&self) -> &H {
                &self.0.handler
            }

            #[doc = $stop]
            pub fn stop(&self) {
                crate::task::close(&self.0, None);
            }
        }
    };
}

mod connection;
mod datagram;
mod listen;

pub use connection::{ConnectionHandler, ConnectionStep, ConnectionTask};
pub use datagram::{DatagramHandler, DatagramStep, DatagramTask};
pub use listen::{ListenHandler, ListenTask};

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use wsk_bindings as sys;

use crate::irp::Irp;
use crate::socket::RawSocket;
use crate::{Error, NtStatus, PoolArc, Result, SpinLock, WskClient};

pub(crate) const IDLE: u8 = 0;
const ISSUING: u8 = 1;
const PENDING: u8 = 2;
const DONE_INLINE: u8 = 3;

/// What every task has: its socket and closing state, its one IRP and the IRP's state.
pub(crate) struct TaskCore {
    socket: SpinLock<Option<RawSocket>>,
    closing: AtomicBool,
    error: SpinLock<Option<Error>>,
    client: WskClient,
    irp: Irp,
    state: AtomicU8,
}

impl TaskCore {
    /// The core of a task about to run on `raw`, with its IRP. Without memory for the IRP
    /// the socket is closed on a worker thread. From here, dropping the core (a later
    /// allocation failed) closes the socket the same way. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn try_new(raw: RawSocket, client: WskClient) -> Result<Self> {
        let irp = match Irp::try_new() {
            Ok(irp) => irp,
            Err(e) => {
                crate::socket::close_later(raw, client);
                return Err(e);
            }
        };
        Ok(Self {
            socket: SpinLock::new(Some(raw)),
            closing: AtomicBool::new(false),
            error: SpinLock::new(None),
            client,
            irp,
            state: AtomicU8::new(IDLE),
        })
    }

    /// Takes the socket out and closes it on a worker thread, for a task that is being
    /// dropped without having been closed (it never started).
    fn abandon_socket(&mut self) {
        if let Some(raw) = self.socket.get_mut().take() {
            crate::socket::close_later(raw, self.client.clone());
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Runs `f` on the open socket under the lock (closing takes the socket out under the
    /// same lock, so it stays open during `f`); `None` once closing began.
    pub(crate) fn with_open<R>(&self, f: impl FnOnce(&RawSocket) -> Option<R>) -> Option<R> {
        if self.is_closing() {
            return None;
        }
        let guard = self.socket.lock();
        guard.as_ref().and_then(f)
    }

    pub(crate) fn client(&self) -> &WskClient {
        &self.client
    }
}

impl Drop for TaskCore {
    fn drop(&mut self) {
        // Normally `finish` took the socket out and closed it; a task whose allocation failed
        // (or that never issued anything) still holds it.
        self.abandon_socket();
    }
}

/// Starts closing a task: once, on a worker thread (closing from a completion routine can
/// deadlock a provider that waits for its own callbacks, as Wine's does). IRQL <= DISPATCH_LEVEL.
pub(crate) fn close<T: Task>(this: &PoolArc<T>, error: Option<Error>) {
    let socket = this.core();
    if let Some(e) = error {
        let mut slot = socket.error.lock();
        if slot.is_none() {
            *slot = Some(e);
        }
    }
    if socket.closing.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Err(task) = socket.client.defer(this.clone(), finish::<T>) {
        // No memory for a work item: close here rather than leak the socket.
        finish(task);
    }
}

/// Closes the socket and reports the end. PASSIVE_LEVEL (work item).
#[allow(clippy::needless_pass_by_value)] // the signature of a deferred routine: it owns the reference
fn finish<T: Task>(this: PoolArc<T>) {
    let socket = this.core().socket.lock().take();
    if let Some(mut socket) = socket {
        let _ = socket.close();
    }
    let error = *this.core().error.lock();
    this.finished(error);
}

/// Handles a failed request: a cancellation caused by closing is no error. Always stops.
pub(crate) fn failed<T: Task>(this: &PoolArc<T>, status: NtStatus) -> bool {
    let cancelled = status == NtStatus::CANCELLED && this.core().is_closing();
    close(
        this,
        if cancelled {
            None
        } else {
            Some(Error::new(status))
        },
    );
    false
}

/// A completion-driven task.
pub(crate) trait Task: Send + Sync + Sized + 'static {
    fn core(&self) -> &TaskCore;
    /// The task ended and its socket is closed. PASSIVE_LEVEL.
    fn finished(&self, error: Option<Error>);
    /// Calls the provider with `irp` for the next request, or returns `None` when the task
    /// is closing (nothing issued). Runs at IRQL <= DISPATCH_LEVEL.
    fn issue(&self, irp: *mut sys::IRP) -> Option<i32>;
    /// Handles a finished request; returns whether to issue another. IRQL <= DISPATCH_LEVEL.
    fn completed(this: &PoolArc<Self>, status: NtStatus, information: usize) -> bool;
}

/// Requests a task runs in a row on one thread, completed during the provider's call, before
/// it hands the rest to a system worker thread ([`WskClient::defer`]). A peer that keeps up
/// (a fast reader of a sender, a full queue for a receiver) lets every request complete during
/// the call; without a bound the thread that started the task, or that completed its last
/// pending request (a dispatch routine, a DPC), would run the task for as long as the peer
/// keeps up. Handlers therefore run on a worker thread too, after this many in a row.
pub const INLINE_RUN: u32 = 64;

/// Issues requests until one is left pending, the task stops, or [`INLINE_RUN`] requests
/// in a row completed here (the rest then runs on a worker thread). IRQL <= DISPATCH_LEVEL.
pub(crate) fn drive<T: Task>(this: &PoolArc<T>) {
    let mut in_a_row = 0u32;
    loop {
        let context = PoolArc::into_raw(this.clone());
        this.core().state.store(ISSUING, Ordering::Release);
        // SAFETY: the state was IDLE (one request at a time), and `context` holds a
        // reference that keeps the task alive until the completion routine or this loop
        // takes it back.
        unsafe { this.core().irp.prepare(completion::<T>, context.cast()) };
        let returned = this.issue(this.core().irp.as_ptr());
        let pending = this
            .core()
            .state
            .compare_exchange(ISSUING, PENDING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        let (status, info) = if pending {
            match returned {
                // The provider owns the IRP; the completion routine continues.
                Some(status) if status == NtStatus::PENDING.0 || NtStatus(status).is_success() => {
                    return
                }
                // Refused without completing the IRP (it is still ours), or not issued.
                Some(status) => (NtStatus(status), 0),
                None => {
                    // SAFETY: nothing was issued, so no completion will take the reference.
                    drop(unsafe { PoolArc::<T>::from_raw(context) });
                    this.core().state.store(IDLE, Ordering::Release);
                    return;
                }
            }
        } else {
            // Completed during the call: the routine left the reference to us.
            this.core().irp.result()
        };
        // SAFETY: either no completion will run, or it ran and left the reference to us.
        drop(unsafe { PoolArc::<T>::from_raw(context) });
        this.core().state.store(IDLE, Ordering::Release);
        if !T::completed(this, status, info) {
            return;
        }
        in_a_row = in_a_row.saturating_add(1);
        if in_a_row >= INLINE_RUN {
            match this.core().client.defer(this.clone(), resume::<T>) {
                Ok(()) => return,
                // No work item to be had: go on here rather than stall the task.
                Err(_) => in_a_row = 0,
            }
        }
    }
}

/// Goes on with a task's run on a worker thread (see [`INLINE_RUN`]). PASSIVE_LEVEL.
#[allow(clippy::needless_pass_by_value)] // the signature of a deferred routine: it owns the reference
fn resume<T: Task>(this: PoolArc<T>) {
    drive(&this);
}

/// IRP completion routine of tasks. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn completion<T: Task>(
    _: *mut sys::DEVICE_OBJECT,
    _: *mut sys::IRP,
    context: *mut c_void,
) -> i32 {
    let context = context.cast_const().cast::<()>();
    // SAFETY: `context` is a raw reference from `drive`, still held (not yet taken back).
    let task = unsafe { PoolArc::<T>::clone_raw(context) };
    if task
        .core()
        .state
        .compare_exchange(ISSUING, DONE_INLINE, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        return NtStatus::MORE_PROCESSING_REQUIRED.0;
    }
    // SAFETY: the request was pending, so this routine owns the raw reference.
    drop(unsafe { PoolArc::<T>::from_raw(context) });
    task.core().state.store(IDLE, Ordering::Release);
    let (status, info) = task.core().irp.result();
    if T::completed(&task, status, info) {
        drive(&task);
    }
    NtStatus::MORE_PROCESSING_REQUIRED.0
}
