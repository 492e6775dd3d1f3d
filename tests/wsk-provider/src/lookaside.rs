//! The provider's allocator: the process heap behind a small lookaside cache per size class,
//! as a Windows driver keeps lookaside lists for the blocks it allocates per request.
//!
//! Every request allocates its op (a few hundred bytes) when it starts and frees it when it
//! completes. Under Wine each of those is a `RtlAllocateHeap` / `RtlFreeHeap` under the heap's
//! critical section, a measurable share of a 64 B echo round trip. Here a freed small block
//! goes to a slot of its size class instead, and the next allocation of that class takes it
//! back with one atomic swap: no lock, no heap call.
//!
//! Each class has [`SLOTS`] slots, each holding at most one block; a block is given to a slot
//! with a compare-exchange from empty and taken with a swap to empty, so no block is ever
//! handed out twice (there is no list to corrupt, hence no ABA problem). When every slot of its
//! class is full a freed block goes back to the heap, so the cache holds at most
//! `SLOTS × (64 + 128 + 256 + 512 + 1024)` bytes (about 31 KiB).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The size classes (bytes): a block of a class is allocated with the class's full size, so
/// any request of that class fits in any of its blocks.
const CLASS_SIZES: [usize; 5] = [64, 128, 256, 512, 1024];
/// Cached blocks per class.
const SLOTS: usize = 16;
/// The alignment of every cached block (the heap's own; larger alignments are not cached).
const ALIGN: usize = 16;

/// One size class's cached blocks.
struct Class {
    slots: [AtomicPtr<u8>; SLOTS],
}

impl Class {
    const fn new() -> Self {
        Class {
            slots: [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS],
        }
    }

    /// A cached block, if any (taken for good: the swap leaves its slot empty).
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    fn take(&self) -> Option<*mut u8> {
        self.slots.iter().find_map(|slot| {
            if slot.load(Ordering::Relaxed).is_null() {
                return None;
            }
            let block = slot.swap(ptr::null_mut(), Ordering::Acquire);
            (!block.is_null()).then_some(block)
        })
    }

    /// Caches `block`; false when every slot is full.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    fn give(&self, block: *mut u8) -> bool {
        self.slots.iter().any(|slot| {
            slot.load(Ordering::Relaxed).is_null()
                && slot
                    .compare_exchange(ptr::null_mut(), block, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
        })
    }
}

/// The smallest class a block of `layout` fits in, with that class's layout; `None` for
/// blocks too large or too strictly aligned to cache.
fn class_of(layout: Layout) -> Option<(usize, Layout)> {
    if layout.align() > ALIGN {
        return None;
    }
    let index = CLASS_SIZES.iter().position(|&size| layout.size() <= size)?;
    let size = *CLASS_SIZES.get(index)?;
    Some((index, Layout::from_size_align(size, ALIGN).ok()?))
}

/// `inner` behind a lookaside cache of small blocks.
///
/// # Invariants
/// Every cached block was allocated from `inner` with its class's layout, and is owned by no
/// one else.
pub(crate) struct Lookaside<A> {
    inner: A,
    classes: [Class; CLASS_SIZES.len()],
}

impl<A> Lookaside<A> {
    /// An empty cache in front of `inner`.
    pub(crate) const fn new(inner: A) -> Self {
        Lookaside {
            inner,
            classes: [const { Class::new() }; CLASS_SIZES.len()],
        }
    }
}

// SAFETY: blocks come from `inner` (a GlobalAlloc) with at least the requested size and
// alignment: a cached block has its class's size (at least the request's) and alignment
// ALIGN (at least the request's); a block is handed out to one owner at a time (type
// invariant); each block goes back to `inner` with the layout it was allocated with.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Lookaside<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((index, class_layout)) = class_of(layout) else {
            // SAFETY: the caller's layout, passed through.
            return unsafe { self.inner.alloc(layout) };
        };
        if let Some(block) = self.classes.get(index).and_then(Class::take) {
            return block;
        }
        // SAFETY: a class layout has a non-zero size.
        unsafe { self.inner.alloc(class_layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some((index, class_layout)) = class_of(layout) else {
            // SAFETY: allocated by `inner` with this layout (not a class block).
            unsafe { self.inner.dealloc(block, layout) };
            return;
        };
        if self
            .classes
            .get(index)
            .is_some_and(|class| class.give(block))
        {
            return;
        }
        // SAFETY: a class block, allocated by `inner` with its class layout.
        unsafe { self.inner.dealloc(block, class_layout) };
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: neither block is a class block: the caller's request, passed through.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            // The class block has room for the new size already.
            (Some((old, _)), Some((new, _))) if old == new => block,
            _ => {
                // SAFETY: the new layout is valid and non-zero (GlobalAlloc's contract).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks hold at least the smaller size; they are distinct.
                    unsafe {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    }
                    // SAFETY: the caller's block, with its layout.
                    unsafe { self.dealloc(block, layout) };
                }
                moved
            }
        }
    }
}

// Each test's unsafe block is one scenario over blocks the test allocated, under one SAFETY
// argument.
#[cfg(test)]
#[allow(clippy::multiple_unsafe_ops_per_block)]
mod tests {
    use super::*;
    use std::alloc::System;
    use std::sync::atomic::AtomicUsize;

    /// The system allocator, counting what reaches it.
    struct Counting {
        allocs: AtomicUsize,
        frees: AtomicUsize,
    }

    // SAFETY: passes everything through to System.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.allocs.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the caller's layout.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            self.frees.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the caller's block and layout.
            unsafe { System.dealloc(block, layout) }
        }
    }

    fn cache() -> Lookaside<Counting> {
        Lookaside::new(Counting {
            allocs: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
        })
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).expect("layout")
    }

    #[test]
    fn a_freed_small_block_is_handed_out_again_without_the_heap() {
        let cache = cache();
        // SAFETY: valid layouts; every block is freed with the layout it was allocated with.
        unsafe {
            let first = cache.alloc(layout(400));
            first.write_bytes(0xAB, 400);
            cache.dealloc(first, layout(400));
            // Another size of the same class (257..=512) gets the same block back.
            let second = cache.alloc(layout(300));
            assert_eq!(second, first);
            assert_eq!(cache.inner.allocs.load(Ordering::SeqCst), 1);
            assert_eq!(cache.inner.frees.load(Ordering::SeqCst), 0);
            cache.dealloc(second, layout(300));
        }
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_blocks_per_class() {
        let cache = cache();
        let blocks: Vec<*mut u8> = (0..SLOTS + 3)
            // SAFETY: a valid layout.
            .map(|_| unsafe { cache.alloc(layout(64)) })
            .collect();
        for &block in &blocks {
            // SAFETY: allocated above with this layout.
            unsafe { cache.dealloc(block, layout(64)) };
        }
        assert_eq!(
            cache.inner.frees.load(Ordering::SeqCst),
            3,
            "the blocks past the slots go back to the heap"
        );
        let again: Vec<*mut u8> = (0..SLOTS)
            // SAFETY: a valid layout.
            .map(|_| unsafe { cache.alloc(layout(10)) })
            .collect();
        assert_eq!(cache.inner.allocs.load(Ordering::SeqCst), SLOTS + 3);
        let mut distinct = again.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), SLOTS, "no block is handed out twice");
        for block in again {
            // SAFETY: allocated above with a layout of the same class.
            unsafe { cache.dealloc(block, layout(10)) };
        }
    }

    #[test]
    fn large_and_strictly_aligned_blocks_pass_straight_through() {
        let cache = cache();
        let big = layout(4096);
        let aligned = Layout::from_size_align(64, 64).expect("layout");
        for l in [big, aligned] {
            // SAFETY: valid layouts, freed with the same layout.
            unsafe {
                let block = cache.alloc(l);
                assert_eq!(block as usize % l.align(), 0);
                cache.dealloc(block, l);
            }
        }
        assert_eq!(cache.inner.frees.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_in_place_within_one() {
        let cache = cache();
        // SAFETY: valid layouts; each block is used within its size and freed with the
        // layout of its last (re)allocation.
        unsafe {
            let block = cache.alloc(layout(100));
            for i in 0..100u8 {
                block.add(usize::from(i)).write(i);
            }
            let same = cache.realloc(block, layout(100), 120);
            assert_eq!(same, block, "100 and 120 bytes are one class");
            let grown = cache.realloc(same, layout(120), 5000);
            assert_ne!(grown, same);
            for i in 0..100u8 {
                assert_eq!(grown.add(usize::from(i)).read(), i);
            }
            let shrunk = cache.realloc(grown, layout(5000), 50);
            for i in 0..50u8 {
                assert_eq!(shrunk.add(usize::from(i)).read(), i);
            }
            cache.dealloc(shrunk, layout(50));
        }
    }
}
