//! The requests of one endpoint direction that wait behind the one the provider has: a
//! fixed-size first-in-first-out queue, so a client can pipeline data requests and they
//! start (and complete) in the order issued.
//!
//! The queue owns each waiting request (the shell's IRP) until it is started, cancelled,
//! timed out, or failed with its endpoint; whoever takes one out completes it.

use core::net::SocketAddr;

use wsk::{NtStatus, PoolBox};

use crate::direct::{Pended, PendingRequest, Stage};

/// Most requests one direction of an endpoint holds: one at the provider and
/// `QUEUE_DEPTH - 1` waiting. A request past it fails with `STATUS_DEVICE_BUSY`.
pub const QUEUE_DEPTH: usize = 8;

/// Waiting requests per direction.
pub(crate) const WAITING: usize = QUEUE_DEPTH - 1;

/// A validated data request that waits for its turn.
pub(crate) struct Queued<R: PendingRequest> {
    pub(crate) pended: Pended,
    pub(crate) request: R,
    /// Bytes to send or room to receive into.
    pub(crate) length: usize,
    /// SEND_TO: where to.
    pub(crate) remote: Option<SocketAddr>,
    /// RECV_FROM: the reply header goes in front of the data.
    pub(crate) with_header: bool,
    /// Which part of a TRANSACT it is, if it is one.
    pub(crate) stage: Stage,
}

/// The waiting requests of one direction, oldest first (no gaps: entries `0..len` are
/// `Some`). Each waiting request lives in nonpaged pool, so an idle endpoint holds only
/// `WAITING` empty pointers per direction.
pub(crate) struct Queue<R: PendingRequest> {
    entries: [Option<PoolBox<Queued<R>>>; WAITING],
}

impl<R: PendingRequest> Queue<R> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: [const { None }; WAITING],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.iter().all(Option::is_none)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.iter().all(Option::is_some)
    }

    /// Appends `queued`; gives it back with the reason if the queue is full
    /// (`STATUS_DEVICE_BUSY`) or the pool is exhausted (`STATUS_INSUFFICIENT_RESOURCES`).
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn push(&mut self, queued: Queued<R>) -> Result<(), (Queued<R>, NtStatus)> {
        let Some(place) = self.entries.iter_mut().find(|e| e.is_none()) else {
            return Err((queued, NtStatus::DEVICE_BUSY));
        };
        let boxed = PoolBox::try_new_or_return(queued)
            .map_err(|queued| (queued, NtStatus::INSUFFICIENT_RESOURCES))?;
        *place = Some(boxed);
        Ok(())
    }

    /// Takes the oldest request out.
    pub(crate) fn pop_front(&mut self) -> Option<Queued<R>> {
        self.remove_at(0)
    }

    /// Takes out the oldest request that `pick` selects.
    pub(crate) fn take_where(&mut self, pick: impl Fn(&Pended) -> bool) -> Option<Queued<R>> {
        let index = self
            .entries
            .iter()
            .position(|e| e.as_ref().is_some_and(|q| pick(&q.pended)))?;
        self.remove_at(index)
    }

    /// Waiting requests, and how many of them are TRANSACTs.
    pub(crate) fn counts(&self) -> (usize, usize) {
        self.iter().fold((0, 0), |(all, transacts), q| {
            (
                all.saturating_add(1),
                transacts.saturating_add(usize::from(q.stage.is_transact())),
            )
        })
    }

    /// The waiting requests, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued<R>> {
        self.entries.iter().flatten().map(|boxed| &**boxed)
    }

    /// Removes entry `index` and closes the gap, keeping the order.
    fn remove_at(&mut self, index: usize) -> Option<Queued<R>> {
        let tail = self.entries.get_mut(index..)?;
        let taken = tail.first_mut().and_then(Option::take)?;
        // The emptied entry moves to the end; the later ones move up one.
        tail.rotate_left(1);
        Some(PoolBox::into_inner(taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::Sequence;
    // The pool the queue allocates from.
    use crate::Caller;
    use wsk::io::MdlBuffer;
    use wskrs_fake_kernel as _;

    struct Fake(u64);

    impl PendingRequest for Fake {
        fn data(&self) -> Option<MdlBuffer> {
            None
        }
        fn arm_cancel(&mut self, _: crate::Ticket) -> bool {
            true
        }
        fn complete(self, _: NtStatus, _: usize) {}
    }

    fn queued(n: u64) -> Queued<Fake> {
        Queued {
            pended: Pended {
                sequence: Sequence(n),
                caller: Caller(1),
                deadline: 0,
                locked: 0,
            },
            request: Fake(n),
            length: 1,
            remote: None,
            with_header: false,
            stage: Stage::Single,
        }
    }

    /// The requests' numbers, oldest first, 0 past the last.
    fn order(queue: &Queue<Fake>) -> [u64; WAITING] {
        let mut out = [0; WAITING];
        for (place, q) in out.iter_mut().zip(queue.iter()) {
            *place = q.request.0;
        }
        out
    }

    #[test]
    fn requests_leave_in_the_order_they_came_and_a_full_queue_refuses() {
        let mut queue = Queue::new();
        assert!(queue.is_empty());
        for n in 1..=WAITING as u64 {
            assert!(queue.push(queued(n)).is_ok());
        }
        assert!(queue.is_full());
        assert!(queue.push(queued(99)).is_err(), "full");
        assert_eq!(queue.pop_front().map(|q| q.request.0), Some(1));
        assert!(queue.push(queued(100)).is_ok(), "room again");
        let mut expected = [100; WAITING];
        for (place, n) in expected.iter_mut().zip(2..=WAITING as u64) {
            *place = n;
        }
        assert_eq!(order(&queue), expected);
    }

    #[test]
    fn taking_one_from_the_middle_keeps_the_others_in_order() {
        let mut queue = Queue::new();
        for n in 1..=4 {
            assert!(queue.push(queued(n)).is_ok());
        }
        let taken = queue.take_where(|p| p.sequence == Sequence(2));
        assert_eq!(taken.map(|q| q.request.0), Some(2));
        assert!(queue.take_where(|p| p.sequence == Sequence(2)).is_none());
        assert!(queue.push(queued(5)).is_ok());
        assert_eq!(order(&queue)[..5], [1, 3, 4, 5, 0]);
        while queue.pop_front().is_some() {}
        assert!(queue.is_empty());
    }
}
