//! A few spare objects kept for reuse, so that a hot path does not create and destroy one
//! per call (the per-request event: under Wine each `CreateEventW` and `CloseHandle` is a
//! call to Wine's server, two of them on every IOCTL).

/// Up to `cap` spare `T`s, the last one given back handed out first.
pub(crate) struct Spares<T> {
    kept: Vec<T>,
    cap: usize,
}

impl<T> Spares<T> {
    /// An empty pool that keeps at most `cap` spares.
    pub(crate) const fn new(cap: usize) -> Self {
        Self {
            kept: Vec::new(),
            cap,
        }
    }

    /// A spare, or a new one from `make`.
    ///
    /// # Errors
    ///
    /// `make`'s error when no spare is left.
    pub(crate) fn take<E>(&mut self, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        match self.kept.pop() {
            Some(spare) => Ok(spare),
            None => make(),
        }
    }

    /// Keeps `item` for the next [`Spares::take`], or drops it when the pool is full.
    pub(crate) fn give_back(&mut self, item: T) {
        if self.kept.len() < self.cap {
            self.kept.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Spares;

    #[test]
    fn a_given_back_item_is_reused_before_a_new_one_is_made() {
        let mut spares = Spares::new(2);
        let count = std::cell::Cell::new(0u32);
        let make = || -> Result<u32, ()> {
            count.set(count.get() + 1);
            Ok(count.get())
        };
        let first = spares.take(make).unwrap();
        spares.give_back(first);
        assert_eq!(spares.take(make), Ok(first));
        assert_eq!(count.get(), 1, "the spare was reused, nothing new made");
        assert_eq!(spares.take(make), Ok(2));
    }

    #[test]
    fn the_pool_keeps_at_most_its_cap_and_passes_make_errors_on() {
        let mut spares = Spares::new(1);
        spares.give_back(1u8);
        spares.give_back(2u8);
        assert_eq!(spares.take(|| Err("none")), Ok(1));
        assert_eq!(
            spares.take(|| Err("none")),
            Err("none"),
            "the second was dropped"
        );
    }
}
