//! A data buffer locked behind an MDL, as the I/O manager prepares the output buffer of a
//! direct-I/O (`METHOD_IN_DIRECT` / `METHOD_OUT_DIRECT`) request, and the pended IRP such a
//! request becomes: for tests that play a driver shell's role (the driver core's tests and
//! the client's host driver both hand the core a [`PendedIrp`]).

use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use wsk_bindings::{self as sys, NtStatus};

use crate::{lock, ntoskrnl};

/// Heap bytes and the MDL that describes them.
///
/// # Invariants
/// `bytes` points to `len` bytes from a boxed slice that this value owns; `mdl` is a live MDL
/// over exactly those bytes, freed before them in `Drop`.
pub struct LockedBuffer {
    bytes: NonNull<u8>,
    len: usize,
    mdl: NonNull<sys::MDL>,
}

// SAFETY: plain heap memory and an MDL over it; whoever uses the MDL (one request at a time)
// synchronizes with the owner through the request's completion.
unsafe impl Send for LockedBuffer {}
// SAFETY: as above; `&self` methods only read.
unsafe impl Sync for LockedBuffer {}

impl LockedBuffer {
    /// A locked copy of `data` (which must not be empty: an MDL describes at least a byte).
    #[must_use]
    pub fn new(data: &[u8]) -> Self {
        assert!(!data.is_empty(), "an MDL describes at least one byte");
        let len = data.len();
        let boxed: Box<[u8]> = data.into();
        let bytes = NonNull::from(Box::leak(boxed)).cast::<u8>();
        let length = u32::try_from(len).expect("an MDL describes at most 4 GiB");
        // SAFETY: `bytes` points to `len` bytes that live until Drop frees the MDL first.
        let mdl = unsafe {
            ntoskrnl::IoAllocateMdl(bytes.as_ptr().cast(), length, 0, 0, std::ptr::null_mut())
        };
        let mdl = NonNull::new(mdl).expect("IoAllocateMdl");
        // SAFETY: the MDL was just allocated over our memory.
        unsafe { ntoskrnl::MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
        // INVARIANT: the MDL describes the `len` bytes this value now owns.
        Self { bytes, len, mdl }
    }

    /// The MDL over the bytes (valid while `self` lives).
    #[must_use]
    pub fn mdl(&self) -> NonNull<sys::MDL> {
        self.mdl
    }

    /// The bytes now (read once no request writes them any more).
    #[must_use]
    pub fn contents(&self) -> Vec<u8> {
        // SAFETY: `bytes` points to `len` live bytes (invariant).
        unsafe { std::slice::from_raw_parts(self.bytes.as_ptr(), self.len) }.to_vec()
    }
}

impl Drop for LockedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` and freed once, here; no request uses it any more (the
        // owner drops the buffer after the request completed).
        unsafe { ntoskrnl::IoFreeMdl(self.mdl.as_ptr()) };
        let slice = std::ptr::slice_from_raw_parts_mut(self.bytes.as_ptr(), self.len);
        // SAFETY: from `Box::leak` in `new`, freed once.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// What the two sides of a pended IRP share.
#[derive(Default)]
struct IrpState {
    progress: Mutex<Progress>,
    done: Condvar,
}

#[derive(Default)]
struct Progress {
    /// `Irp->Cancel`: the requester cancelled it.
    cancelled: bool,
    /// The words the driver armed the cancel routine with (in `DriverContext`, as a shell
    /// keeps them), until completion.
    cancel_words: Option<Vec<u64>>,
    /// (status, information) once completed.
    completion: Option<(NtStatus, usize)>,
}

/// A pended direct-I/O IRP, the driver's side: its data in a [`LockedBuffer`], its cancel
/// routine's words, its completion (once). The requester holds the [`IrpWaiter`].
pub struct PendedIrp {
    state: Arc<IrpState>,
    buffer: Option<Arc<LockedBuffer>>,
}

/// Implements the driver core's `PendingRequest` for `$request`, a newtype over [`PendedIrp`]
/// (`struct $request(PendedIrp)`): the adapter every host shell of the core needs. It expands
/// in the caller's crate, which depends on `wsk` and `wskrs-driver` (this crate depends on
/// neither).
#[macro_export]
macro_rules! pending_request_over_pended_irp {
    ($request:ident) => {
        impl ::wskrs_driver::PendingRequest for $request {
            fn data(&self) -> Option<::wsk::io::MdlBuffer> {
                // SAFETY: the locked buffer lives (the IRP's waiter holds it) at least until
                // the requester has read the completion, after `complete`.
                unsafe { ::wsk::io::MdlBuffer::from_raw(self.0.mdl()?) }.ok()
            }

            fn arm_cancel(&mut self, ticket: ::wskrs_driver::Ticket) -> bool {
                self.0.arm_cancel(&ticket.to_words())
            }

            fn complete(self, status: ::wsk::NtStatus, information: usize) {
                self.0.complete(status, information);
            }
        }
    };
}

/// The requester's side of a [`PendedIrp`]: waits for the completion, cancels, reads the data.
#[derive(Clone)]
pub struct IrpWaiter {
    state: Arc<IrpState>,
    buffer: Option<Arc<LockedBuffer>>,
}

/// A request pended with `data` (none when empty) locked in an MDL: the IRP for the driver and
/// the requester's waiter.
#[must_use]
pub fn pend(data: &[u8]) -> (PendedIrp, IrpWaiter) {
    let state = Arc::new(IrpState::default());
    let buffer = (!data.is_empty()).then(|| Arc::new(LockedBuffer::new(data)));
    let waiter = IrpWaiter {
        state: Arc::clone(&state),
        buffer: buffer.clone(),
    };
    (PendedIrp { state, buffer }, waiter)
}

impl PendedIrp {
    /// `Irp->MdlAddress`: the data's MDL, if the request has data (valid until the requester
    /// has read the completion).
    #[must_use]
    pub fn mdl(&self) -> Option<NonNull<sys::MDL>> {
        self.buffer.as_ref().map(|b| b.mdl())
    }

    /// Sets the cancel routine with `words` in `DriverContext`; false if the IRP was cancelled
    /// before (no routine will run).
    pub fn arm_cancel(&mut self, words: &[u64]) -> bool {
        let mut progress = lock(&self.state.progress);
        if progress.cancelled {
            return false;
        }
        progress.cancel_words = Some(words.to_vec());
        true
    }

    /// `IoCompleteRequest`: once (a second completion fails the test).
    pub fn complete(self, status: NtStatus, information: usize) {
        let mut progress = lock(&self.state.progress);
        assert!(progress.completion.is_none(), "a request is completed once");
        progress.cancel_words = None;
        progress.completion = Some((status, information));
        self.state.done.notify_all();
    }
}

impl IrpWaiter {
    /// `IoCancelIrp`: marks the IRP cancelled; returns the words its cancel routine reads, if
    /// one is armed (the caller passes them on as the routine would).
    #[must_use]
    pub fn cancel(&self) -> Option<Vec<u64>> {
        let mut progress = lock(&self.state.progress);
        progress.cancelled = true;
        progress.cancel_words.clone()
    }

    /// The words the cancel routine is armed with, while it is.
    #[must_use]
    pub fn cancel_words(&self) -> Option<Vec<u64>> {
        lock(&self.state.progress).cancel_words.clone()
    }

    /// The completion, if it came.
    #[must_use]
    pub fn completion(&self) -> Option<(NtStatus, usize)> {
        lock(&self.state.progress).completion
    }

    /// Waits (real time, at most `limit`) for the completion.
    #[must_use]
    pub fn wait_for(&self, limit: Duration) -> Option<(NtStatus, usize)> {
        let progress = lock(&self.state.progress);
        let (progress, _) = self
            .state
            .done
            .wait_timeout_while(progress, limit, |p| p.completion.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        progress.completion
    }

    /// The data buffer's bytes now (empty without data).
    #[must_use]
    pub fn contents(&self) -> Vec<u8> {
        self.buffer
            .as_ref()
            .map(|b| b.contents())
            .unwrap_or_default()
    }

    /// Whether `other` waits for the same IRP.
    #[must_use]
    pub fn is_for_same_irp(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}
