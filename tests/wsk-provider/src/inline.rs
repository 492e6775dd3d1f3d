//! A short list kept in place, spilling to the heap only past its inline room: the buffer
//! list of a request, which has one or two entries almost always, without an allocation per
//! request.

/// Up to `N` items of `T` in place, more on the heap. Dereferences to a slice.
pub(crate) enum InlineList<T: Copy, const N: usize> {
    /// `len` items at the start of the array (the rest are filler).
    Inline([T; N], usize),
    /// More than `N` items.
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> InlineList<T, N> {
    /// An empty list; `filler` fills the unused inline slots.
    pub(crate) fn new(filler: T) -> Self {
        InlineList::Inline([filler; N], 0)
    }

    /// Appends an item (moving the list to the heap once the inline room is used up).
    pub(crate) fn push(&mut self, item: T) {
        match self {
            InlineList::Inline(slots, len) => {
                if let Some(slot) = slots.get_mut(*len) {
                    *slot = item;
                    *len += 1;
                } else {
                    let mut heap = Vec::with_capacity(N.saturating_mul(2).max(1));
                    heap.extend_from_slice(slots);
                    heap.push(item);
                    *self = InlineList::Heap(heap);
                }
            }
            InlineList::Heap(heap) => heap.push(item),
        }
    }
}

impl<T: Copy, const N: usize> std::ops::Deref for InlineList<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            InlineList::Inline(slots, len) => slots.get(..*len).unwrap_or_default(),
            InlineList::Heap(heap) => heap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_order_in_place_and_past_the_inline_room() {
        let mut list = InlineList::<u32, 2>::new(0);
        assert!(list.is_empty());
        for n in 1..=5 {
            list.push(n * 10);
            let expected: Vec<u32> = (1..=n).map(|k| k * 10).collect();
            assert_eq!(&*list, expected.as_slice());
            assert_eq!(
                matches!(list, InlineList::Heap(_)),
                n > 2,
                "in place up to two items, on the heap past them"
            );
        }
    }

    #[test]
    fn filler_is_never_seen() {
        let mut list = InlineList::<u32, 3>::new(99);
        list.push(1);
        assert_eq!(&*list, &[1]);
    }
}
