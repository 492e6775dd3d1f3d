//! `Irp->CancelRoutine` as both providers touch it: an atomic pointer, swapped the way
//! `IoSetCancelRoutine` does (an interlocked exchange that returns the previous routine); and
//! the request a cancel routine stops, kept in the IRP itself ([`arm`], [`disarm`]).
//!
//! A provider that holds an IRP owns its `Tail.Overlay.DriverContext`, as any driver an IRP
//! was passed down to does: the request behind the IRP lives there while the IRP is
//! cancellable, so making a request cancellable takes no lock and no allocation (a table of
//! IRPs took a global lock and a hash insert and remove on every request).

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use wsk_bindings as sys;

/// A cancel routine (`DRIVER_CANCEL`).
type CancelRoutine = unsafe extern "C" fn(*mut sys::DEVICE_OBJECT, *mut sys::IRP);

/// `Irp->CancelRoutine` as an atomic pointer.
///
/// # Safety
/// `irp` is live for `'a`, and everyone accesses its `CancelRoutine` atomically (as
/// `IoSetCancelRoutine` and `IoCancelIrp` do).
#[must_use]
pub unsafe fn cancel_routine_slot<'a>(irp: *mut sys::IRP) -> &'a AtomicPtr<c_void> {
    // SAFETY: the IRP is live (caller's contract); only the field's address is taken.
    let field = unsafe { ptr::addr_of_mut!((*irp).CancelRoutine) };
    // SAFETY: CancelRoutine is a pointer-sized, pointer-aligned field of a live IRP that
    // everyone accesses atomically (caller's contract).
    unsafe { AtomicPtr::from_ptr(field.cast::<*mut c_void>()) }
}

/// `IoSetCancelRoutine`: sets `routine` (or none) and returns the previous one.
///
/// # Safety
/// As [`cancel_routine_slot`]; only cancel routines (or NULL) are ever stored in the field.
pub unsafe fn exchange_cancel_routine(
    irp: *mut sys::IRP,
    routine: sys::PDRIVER_CANCEL,
) -> sys::PDRIVER_CANCEL {
    let new = routine.map_or(ptr::null_mut(), |f| f as *mut c_void);
    // SAFETY: caller's contract.
    let old = unsafe { cancel_routine_slot(irp) }.swap(new, Ordering::AcqRel);
    if old.is_null() {
        return None;
    }
    // SAFETY: only cancel routines (or NULL) are ever stored in this field (caller's
    // contract), and `old` is not NULL.
    Some(unsafe { std::mem::transmute::<*mut c_void, CancelRoutine>(old) })
}

/// Something a cancel routine can stop: the request behind one IRP.
pub trait Cancel: Send + Sync {
    /// Asks the request to finish early (it then completes its IRP with `STATUS_CANCELLED`).
    /// Called without any lock held.
    fn cancel(&self);
}

/// Gives back one reference to a request of type `T` (from `Arc::into_raw`), cancelling it
/// first when `cancel` is true.
type Release = unsafe fn(*const c_void, bool);

/// [`Release`] for requests of type `T`.
///
/// # Safety
/// `request` came from `Arc::<T>::into_raw` and its reference is given back here, once.
unsafe fn release<T: Cancel>(request: *const c_void, cancel: bool) {
    // SAFETY: caller's contract.
    let request = unsafe { Arc::from_raw(request.cast::<T>()) };
    if cancel {
        request.cancel();
    }
}

/// Adds one reference to a request of type `T` (the claim of a borrowed request).
type Claim = unsafe fn(*const c_void);

/// [`Claim`] for requests of type `T`.
///
/// # Safety
/// `request` is the address of a live `Arc<T>`'s value.
unsafe fn claim<T>(request: *const c_void) {
    // SAFETY: caller's contract: the count is at least 1.
    unsafe { Arc::increment_strong_count(request.cast::<T>()) };
}

/// The `DriverContext` words [`arm`] and [`arm_borrowed`] use: the request, its type's
/// [`Release`], and for a borrowed request its type's [`Claim`] (null: the IRP holds a
/// reference of its own).
const REQUEST: usize = 0;
const RELEASE: usize = 1;
const CLAIM: usize = 2;

/// The IRP's `DriverContext` words.
///
/// # Safety
/// `irp` is live and held by the caller for `'a` (its `DriverContext` is the caller's), and
/// nothing else accesses the words meanwhile.
unsafe fn driver_context<'a>(irp: *mut sys::IRP) -> &'a mut [*mut c_void; 4] {
    // SAFETY: caller's contract: the IRP is live.
    let words = unsafe { sys::irp::driver_context(irp) };
    // SAFETY: caller's contract: the words are the caller's alone for 'a.
    unsafe { &mut *words }
}

/// Keeps one reference to `request` in the IRP's `DriverContext` for its cancel routine (or
/// whoever clears the routine first) to take back with [`disarm`]. Call before the cancel
/// routine is set: setting it (an interlocked exchange) publishes the words to the thread
/// that runs the routine.
///
/// # Safety
/// `irp` is live and held by the caller (its `DriverContext` is the caller's), and nothing is
/// armed in it: an earlier request's reference would be lost.
pub unsafe fn arm<T: Cancel + 'static>(irp: *mut sys::IRP, request: Arc<T>) {
    // SAFETY: caller's contract.
    let words = unsafe { driver_context(irp) };
    words[REQUEST] = Arc::into_raw(request).cast_mut().cast();
    words[RELEASE] = release::<T> as Release as *mut c_void;
    words[CLAIM] = ptr::null_mut();
}

/// Like [`arm`], without a reference: the IRP keeps only the request's address, which costs
/// no reference count on the path where the request is never cancelled. [`disarm`] adds the
/// reference it hands out; [`forget`] does nothing.
///
/// # Safety
/// As [`arm`]; and `request` stays alive until its routine is taken back: its owner lets go
/// of it only after taking the routine out of the IRP itself (and calling [`forget`]) or,
/// when `IoCancelIrp` took it, after acquiring the cancel spin lock the cancel routine holds
/// while it calls [`disarm`].
pub unsafe fn arm_borrowed<T: Cancel + 'static>(irp: *mut sys::IRP, request: &Arc<T>) {
    // SAFETY: caller's contract.
    let words = unsafe { driver_context(irp) };
    words[REQUEST] = Arc::as_ptr(request).cast_mut().cast();
    words[RELEASE] = release::<T> as Release as *mut c_void;
    words[CLAIM] = claim::<T> as Claim as *mut c_void;
}

/// Clears what [`arm`] or [`arm_borrowed`] kept in the IRP without using it: lets go of the
/// IRP's own reference, if it has one. For the provider when it took the routine back itself.
///
/// # Safety
/// As [`disarm`].
pub unsafe fn forget(irp: *mut sys::IRP) {
    // SAFETY: caller's contract.
    let words = unsafe { driver_context(irp) };
    let borrowed = !std::mem::replace(&mut words[CLAIM], ptr::null_mut()).is_null();
    if borrowed {
        words[REQUEST] = ptr::null_mut();
        words[RELEASE] = ptr::null_mut();
    } else {
        // SAFETY: caller's contract; the words are the ones `arm` wrote, or clear.
        drop(unsafe { disarm(irp) });
    }
}

/// Takes back the request [`arm`] or [`arm_borrowed`] kept in the IRP, once, with a reference
/// of its own: `None` when none is armed (or it was taken already). Whoever took the cancel
/// routine out of the IRP (`IoCancelIrp`, or the provider clearing it) is the one to call
/// this (or [`forget`]).
///
/// # Safety
/// `irp` is live and held by the caller, and its `DriverContext` words are either clear or
/// the ones [`arm`] or [`arm_borrowed`] wrote; for a borrowed request, the caller is the cancel
/// routine and holds the cancel spin lock (the request is alive: see [`arm_borrowed`]).
#[must_use]
pub unsafe fn disarm(irp: *mut sys::IRP) -> Option<ArmedRequest> {
    // SAFETY: caller's contract.
    let words = unsafe { driver_context(irp) };
    let request = std::mem::replace(&mut words[REQUEST], ptr::null_mut());
    let release = std::mem::replace(&mut words[RELEASE], ptr::null_mut());
    let claim = std::mem::replace(&mut words[CLAIM], ptr::null_mut());
    if request.is_null() || release.is_null() {
        return None;
    }
    if !claim.is_null() {
        // SAFETY: only `arm_borrowed` writes a non-null CLAIM, and it stores a `Claim`.
        let claim = unsafe { std::mem::transmute::<*mut c_void, Claim>(claim) };
        // SAFETY: a borrowed request is alive while its routine is being taken back (caller's
        // contract); the reference added is the one the ArmedRequest gives back.
        unsafe { claim(request) };
    }
    // SAFETY: only `arm` and `arm_borrowed` write these words, and they store a `Release` in
    // RELEASE.
    let release = unsafe { std::mem::transmute::<*mut c_void, Release>(release) };
    Some(ArmedRequest { request, release })
}

/// One reference to a request taken back from an IRP: [`ArmedRequest::cancel`] cancels it;
/// dropping it just lets go.
///
/// # Invariants
/// `request` holds one reference that `release` gives back; it is given back exactly once.
pub struct ArmedRequest {
    request: *const c_void,
    release: Release,
}

// SAFETY: the reference is to a `Cancel` request, which is Send + Sync.
unsafe impl Send for ArmedRequest {}

impl ArmedRequest {
    /// Cancels the request, then lets go of it.
    pub fn cancel(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the reference is given back once (type invariant; `Drop` will not run).
        unsafe { (this.release)(this.request, true) };
    }
}

impl Drop for ArmedRequest {
    fn drop(&mut self) {
        // SAFETY: the reference is given back once (type invariant).
        unsafe { (self.release)(self.request, false) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Request(AtomicUsize);

    impl Cancel for Request {
        fn cancel(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// An IRP with nothing armed (boxed, so that its address stays put) and a request no one
    /// has cancelled.
    fn irp_and_request() -> (Box<sys::IRP>, Arc<Request>) {
        // SAFETY: an all-zero IRP is plain data with nothing armed.
        let irp = Box::new(unsafe { std::mem::zeroed::<sys::IRP>() });
        (irp, Arc::new(Request(AtomicUsize::new(0))))
    }

    #[test]
    fn an_armed_request_is_taken_back_once_and_cancelled_through_the_irp() {
        let (mut irp, request) = irp_and_request();
        let irp: *mut sys::IRP = &raw mut *irp;
        // SAFETY: the IRP is live for the test and nothing is armed in it.
        unsafe { arm(irp, Arc::clone(&request)) };
        assert_eq!(
            Arc::strong_count(&request),
            2,
            "the IRP holds one reference"
        );
        // SAFETY: as above; the words are the ones `arm` wrote.
        let armed = unsafe { disarm(irp) }.expect("armed");
        // SAFETY: as above; the words are clear now.
        assert!(unsafe { disarm(irp) }.is_none(), "taken back only once");
        armed.cancel();
        assert_eq!(request.0.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&request), 1, "cancelling let go of it");
    }

    #[test]
    fn a_request_taken_back_without_cancel_is_only_released() {
        let (mut irp, request) = irp_and_request();
        let irp: *mut sys::IRP = &raw mut *irp;
        // SAFETY: the IRP is live for the test and nothing is armed in it.
        unsafe { arm(irp, Arc::clone(&request)) };
        // SAFETY: as above.
        drop(unsafe { disarm(irp) });
        assert_eq!(request.0.load(Ordering::SeqCst), 0, "not cancelled");
        assert_eq!(Arc::strong_count(&request), 1);
    }

    #[test]
    fn a_borrowed_request_costs_no_reference_until_the_cancel_routine_claims_it() {
        let (mut irp, request) = irp_and_request();
        let irp: *mut sys::IRP = &raw mut *irp;
        // SAFETY: the IRP is live for the test, nothing is armed in it, and `request` outlives
        // every use below.
        unsafe { arm_borrowed(irp, &request) };
        assert_eq!(Arc::strong_count(&request), 1, "the IRP holds no reference");
        // SAFETY: as above (the test plays the cancel routine).
        let armed = unsafe { disarm(irp) }.expect("armed");
        assert_eq!(Arc::strong_count(&request), 2, "claimed for the cancel");
        armed.cancel();
        assert_eq!(request.0.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&request), 1);
        // SAFETY: as above.
        unsafe { arm_borrowed(irp, &request) };
        // SAFETY: as above (the provider took the routine back itself).
        unsafe { forget(irp) };
        assert_eq!(
            Arc::strong_count(&request),
            1,
            "forgetting a borrowed request is free"
        );
        // SAFETY: as above; the words are clear.
        assert!(unsafe { disarm(irp) }.is_none());
    }

    #[test]
    fn forgetting_an_owned_request_lets_go_of_the_irps_reference() {
        let (mut irp, request) = irp_and_request();
        let irp: *mut sys::IRP = &raw mut *irp;
        // SAFETY: the IRP is live for the test and nothing is armed in it.
        unsafe { arm(irp, Arc::clone(&request)) };
        // SAFETY: as above.
        unsafe { forget(irp) };
        assert_eq!(Arc::strong_count(&request), 1);
        assert_eq!(request.0.load(Ordering::SeqCst), 0, "not cancelled");
    }

    #[test]
    fn an_irp_with_nothing_armed_gives_nothing_back() {
        let (mut irp, _) = irp_and_request();
        // SAFETY: the IRP is live for the test; its words are clear.
        assert!(unsafe { disarm(&raw mut *irp) }.is_none());
    }

    unsafe extern "C" fn first(_: *mut sys::DEVICE_OBJECT, _: *mut sys::IRP) {}

    #[test]
    fn the_exchange_returns_the_previous_routine() {
        // SAFETY: an all-zero IRP is plain data with no cancel routine.
        let mut irp: sys::IRP = unsafe { std::mem::zeroed() };
        let irp = ptr::addr_of_mut!(irp);
        // SAFETY: `irp` is live for the test and only touched through these functions.
        unsafe {
            assert!(exchange_cancel_routine(irp, Some(first)).is_none());
        }
        // SAFETY: as above.
        let previous = unsafe { exchange_cancel_routine(irp, None) };
        let routine: CancelRoutine = first;
        assert_eq!(
            previous.map(|f| f as *const () as usize),
            Some(routine as *const () as usize)
        );
        // SAFETY: as above.
        assert!(unsafe { cancel_routine_slot(irp) }
            .load(Ordering::Acquire)
            .is_null());
    }
}
