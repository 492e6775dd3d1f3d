//! The largest single heap allocation since a mark: the process's global allocator (the
//! system allocator, counted), so a target can bound what an input makes the code allocate.
//! A hostile reply that makes the client allocate gigabytes is a denial of service even when
//! the allocation happens to succeed (zeroed pages are only reserved).
#![allow(unsafe_code)] // a global allocator is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, remembering the largest size asked for since [`reset_largest`].
struct Counted;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static GLOBAL: Counted = Counted;

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counting only reads the layout.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `alloc` are `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller's guarantees hold.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts a new measurement.
pub(crate) fn reset_largest() {
    LARGEST.store(0, Ordering::Relaxed);
}

/// The largest allocation (bytes) asked for since [`reset_largest`], by any thread.
pub(crate) fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}
