//! The in-kernel TCP echo service: an [`Acceptor`] that runs an [`EchoSession`] on every
//! accepted connection, completion-driven (no thread per connection).

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use wsk::accept::{AcceptHandler, Acceptor};
use wsk::stream::{Session, Step, StreamTask};
use wsk::{ConnectionSocket, Error, ListenSocket, NtStatus, Shared, SpinLock};

/// Most connections one listener serves at once; more are closed on arrival.
pub(crate) const MAX_SESSIONS: usize = 256;

/// Buffer per connection: one receive is echoed before the next is issued.
const SESSION_BUFFER: usize = 16 * 1024;

/// Counters shown by LIST.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServiceStats {
    pub(crate) served: u64,
    pub(crate) active: u32,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
}

enum Slot {
    Free,
    /// Taken by an accept that is starting its session.
    Starting,
    /// The session finished before `Starting` became `Running`.
    FinishedEarly,
    Running(StreamTask<EchoSession>),
}

struct ServiceState {
    sessions: SpinLock<[Slot; MAX_SESSIONS]>,
    stopping: AtomicBool,
    served: AtomicU64,
    active: AtomicU32,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

/// A running echo listener.
pub(crate) struct EchoListener {
    acceptor: Acceptor<EchoAcceptor>,
}

impl EchoListener {
    /// Starts accepting on `listener`. IRQL: PASSIVE_LEVEL.
    pub(crate) fn start(listener: ListenSocket) -> Result<Self, NtStatus> {
        let state = Shared::try_new(ServiceState {
            sessions: SpinLock::new([const { Slot::Free }; MAX_SESSIONS]),
            stopping: AtomicBool::new(false),
            served: AtomicU64::new(0),
            active: AtomicU32::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        })?;
        let acceptor = Acceptor::start(listener, EchoAcceptor { state })?;
        Ok(Self { acceptor })
    }

    /// Stops accepting and closes every connection (asynchronously).
    pub(crate) fn stop(&self) {
        let state = &self.acceptor.handler().state;
        self.acceptor.stop();
        let sessions = state.sessions.lock();
        state.stopping.store(true, Ordering::Release);
        for slot in sessions.iter() {
            if let Slot::Running(task) = slot {
                task.abort();
            }
        }
    }

    pub(crate) fn stats(&self) -> ServiceStats {
        let s = &self.acceptor.handler().state;
        ServiceStats {
            served: s.served.load(Ordering::Relaxed),
            active: s.active.load(Ordering::Relaxed),
            bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
            bytes_received: s.bytes_received.load(Ordering::Relaxed),
        }
    }
}

struct EchoAcceptor {
    state: Shared<ServiceState>,
}

impl AcceptHandler for EchoAcceptor {
    fn accepted(&self, connection: ConnectionSocket, _remote: Option<SocketAddr>) -> bool {
        let reserved = {
            let mut sessions = self.state.sessions.lock();
            let free = sessions.iter().position(|s| matches!(s, Slot::Free));
            if let Some(slot) = free.and_then(|i| sessions.get_mut(i)) {
                *slot = Slot::Starting;
            }
            free
        };
        let Some(index) = reserved else {
            // Full: refuse this connection, keep listening.
            connection.close_later();
            return true;
        };
        self.state.served.fetch_add(1, Ordering::Relaxed);
        self.state.active.fetch_add(1, Ordering::Relaxed);
        let session = EchoSession { state: self.state.clone(), index };
        if let Ok(task) = StreamTask::start(connection, SESSION_BUFFER, session) {
            let mut sessions = self.state.sessions.lock();
            let stopping = self.state.stopping.load(Ordering::Acquire);
            if let Some(slot) = sessions.get_mut(index) {
                *slot = if let Slot::FinishedEarly = slot { Slot::Free } else {
                    if stopping {
                        task.abort();
                    }
                    Slot::Running(task)
                };
            }
        } else {
            self.state.active.fetch_sub(1, Ordering::Relaxed);
            if let Some(slot) = self.state.sessions.lock().get_mut(index) {
                *slot = Slot::Free;
            }
        }
        true
    }

    fn finished(&self, _error: Option<Error>) {}
}

/// Echoes every byte back on one connection.
struct EchoSession {
    state: Shared<ServiceState>,
    index: usize,
}

impl Session for EchoSession {
    fn received(&self, _buffer: &mut [u8], len: usize) -> Step {
        if len == 0 {
            return Step::Close;
        }
        self.state.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
        Step::Send(len)
    }

    fn sent(&self, _buffer: &mut [u8], len: usize) -> Step {
        self.state.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
        Step::Receive
    }

    fn finished(&self, _error: Option<Error>) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
        // The slot's task handle is released outside the lock.
        let released = {
            let mut sessions = self.state.sessions.lock();
            sessions.get_mut(self.index).map(|slot| match slot {
                Slot::Starting => core::mem::replace(slot, Slot::FinishedEarly),
                _ => core::mem::replace(slot, Slot::Free),
            })
        };
        drop(released);
    }
}
