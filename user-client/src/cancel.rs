//! Cancelling a device's outstanding requests from another thread (a Ctrl-C handler, a
//! watchdog): [`Canceller`].

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// What a transport cancels: every outstanding request of its handle
/// (`CancelIoEx(handle, NULL)` for the device).
pub trait CancelIo: Send + Sync {
    /// Cancels every outstanding request of the handle; a handle with none is not an error.
    ///
    /// # Errors
    ///
    /// The cancel call failed for another reason (e.g. the handle is invalid).
    fn cancel_io(&self) -> io::Result<()>;
}

/// The per-device state a [`Canceller`] shares with its device: how many requests are
/// outstanding, and whether the device was interrupted.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    outstanding: AtomicUsize,
    interrupted: AtomicBool,
}

impl Gate {
    /// Whether [`Canceller::interrupt`] was called (and not cleared).
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Counts a request as outstanding until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> Outstanding {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        Outstanding(Arc::clone(self))
    }
}

/// One outstanding request of a [`Gate`]; uncounted on drop.
pub(crate) struct Outstanding(Arc<Gate>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Cancels the outstanding requests of a device from any thread; cheap to clone.
///
/// Get one from [`Device::canceller`](crate::Device::canceller),
/// [`KernelTcpStream::canceller`](crate::KernelTcpStream::canceller) or
/// [`KernelUdpSocket::canceller`](crate::KernelUdpSocket::canceller). A cancelled request
/// fails with `STATUS_CANCELLED` ([`ClientError::Cancelled`](crate::ClientError::Cancelled),
/// [`io::ErrorKind::Interrupted`]). The canceller does not keep the device open: once the
/// device is dropped, cancelling does nothing.
///
/// `std::io::Read::read_exact` and `Write::write_all` retry `Interrupted` errors, so to stop
/// such a loop use [`Canceller::interrupt`]: the requests that follow fail at once with a
/// `Cancelled` error that is not `Interrupted`.
///
/// # Examples
///
/// ```no_run
/// use std::io::Read;
/// use std::time::Duration;
/// use wskrs_client::KernelTcpStream;
///
/// let mut stream = KernelTcpStream::connect("127.0.0.1:9000")?;
/// let canceller = stream.canceller();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_secs(1));
///     canceller.cancel();
/// });
/// let mut buffer = [0; 100];
/// let error = stream.read(&mut buffer).unwrap_err(); // the peer sent nothing in 1 s
/// assert_eq!(error.kind(), std::io::ErrorKind::Interrupted);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Canceller {
    target: Option<Weak<dyn CancelIo>>,
    gate: Arc<Gate>,
}

impl std::fmt::Debug for Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canceller")
            .field("outstanding", &self.outstanding())
            .field("interrupted", &self.gate.is_interrupted())
            .finish_non_exhaustive()
    }
}

impl Canceller {
    pub(crate) fn new(target: Option<Weak<dyn CancelIo>>, gate: Arc<Gate>) -> Self {
        Self { target, gate }
    }

    /// Requests of the device outstanding right now.
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.gate.outstanding.load(Ordering::SeqCst)
    }

    /// Cancels every outstanding request of the device's handle (`CancelIoEx(handle,
    /// NULL)`); returns whether one of this device's requests was outstanding. Requests
    /// issued later run normally.
    #[allow(
        clippy::must_use_candidate,
        reason = "the result is for those who want it"
    )]
    pub fn cancel(&self) -> bool {
        let outstanding = self.outstanding() > 0;
        if let Some(target) = self.target.as_ref().and_then(Weak::upgrade) {
            // Nothing useful to do about a failure here: the request then ends by itself
            // (its timeout), which the caller sees.
            let _ = target.cancel_io();
        }
        outstanding
    }

    /// Like [`Canceller::cancel`], and every request the device issues afterwards fails at
    /// once with `STATUS_CANCELLED` until [`Canceller::clear_interrupt`]: a loop of requests
    /// (a long send, `read_exact`) stops even when the cancel lands between two of them.
    #[allow(
        clippy::must_use_candidate,
        reason = "the result is for those who want it"
    )]
    pub fn interrupt(&self) -> bool {
        self.gate.interrupted.store(true, Ordering::SeqCst);
        self.cancel()
    }

    /// Lets the device issue requests again after [`Canceller::interrupt`].
    pub fn clear_interrupt(&self) {
        self.gate.interrupted.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::{CancelIo, Canceller, Gate};
    use std::io;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Weak};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl CancelIo for Counting {
        fn cancel_io(&self) -> io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn cancels_through_the_target_while_it_lives_and_counts_outstanding_requests() {
        assert_send_sync_clone::<Canceller>();
        let target = Arc::new(Counting::default());
        let weak: Weak<dyn CancelIo> = Arc::downgrade(&target) as Weak<dyn CancelIo>;
        let gate = Arc::new(Gate::default());
        let canceller = Canceller::new(Some(weak), Arc::clone(&gate));
        assert!(!canceller.cancel(), "nothing outstanding");
        assert_eq!(target.0.load(Ordering::SeqCst), 1);
        let request = gate.enter();
        assert_eq!(canceller.outstanding(), 1);
        assert!(canceller.clone().cancel());
        drop(request);
        assert_eq!(canceller.outstanding(), 0);

        assert!(!gate.is_interrupted());
        assert!(!canceller.interrupt());
        assert!(gate.is_interrupted());
        canceller.clear_interrupt();
        assert!(!gate.is_interrupted());

        assert_eq!(target.0.load(Ordering::SeqCst), 3);
        drop(target);
        assert!(!canceller.cancel(), "the target is gone: nothing to cancel");
    }
}
