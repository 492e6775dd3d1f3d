//! [`DatagramEventSocket`]: a UDP socket whose datagrams arrive as [`DatagramEvents`] callbacks.

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use wsk_bindings as sys;

use super::retained::{hand_over, remote_of, RetainedData, RetainedList};
use super::{EventKind, EventSocket, Indication, Verdict};
use crate::socket::{self, BindOptions, Category};
use crate::{NtStatus, PoolArc, Result, WskClient};

/// What a datagram socket's owner wants to hear about. Every method runs at IRQL <=
/// DISPATCH_LEVEL and must not block.
pub trait DatagramEvents: Send + Sync + 'static {
    /// One datagram arrived from `from`. Its bytes are valid only during the call unless the
    /// verdict is [`Verdict::Retain`].
    ///
    /// WSK answers for a whole chain of datagrams at once: all [`Verdict::Consumed`] gives
    /// `STATUS_SUCCESS`; any [`Verdict::Retain`] retains the whole chain (handed to
    /// [`DatagramEvents::retained`] after the last datagram, `STATUS_PENDING`);
    /// [`Verdict::NotAccepted`] on the first datagram answers `STATUS_DATA_NOT_ACCEPTED` for
    /// the chain and skips the rest; on a later datagram it skips the rest, which are lost
    /// unless another datagram of the chain was retained.
    fn received(&self, datagram: &Indication<'_>, from: Option<SocketAddr>) -> Verdict;
    /// The chain a [`Verdict::Retain`] kept. Dropping `data` releases it (`WskRelease`);
    /// dropping it before this method returns simply counts the chain consumed.
    fn retained(&self, data: RetainedData) {
        drop(data);
    }
    /// The socket stopped working (`DataIndication` NULL); close it.
    fn failed(&self) {}
}

/// The context a datagram socket's callbacks receive.
struct DatagramContext<D> {
    events: D,
    socket: core::sync::atomic::AtomicPtr<sys::WSK_SOCKET>,
    outstanding: PoolArc<AtomicUsize>,
}

/// Receive-from callback. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn receive_from_event<D: DatagramEvents>(
    context: *mut c_void,
    _flags: u32,
    indication: *mut sys::WSK_DATAGRAM_INDICATION,
) -> i32 {
    // SAFETY: `context` is the raw reference the socket holds until its close completed.
    let context = unsafe { PoolArc::<DatagramContext<D>>::borrow_raw(context.cast_const().cast()) };
    let Some(head) = NonNull::new(indication) else {
        context.events.failed();
        return NtStatus::SUCCESS.0;
    };
    let mut retain = false;
    let mut total = 0usize;
    // SAFETY: the chain is valid during the callback.
    let mut next = Some(unsafe { head.as_ref() });
    let mut first = true;
    while let Some(datagram) = next {
        // SAFETY: as above.
        next = unsafe { datagram.Next.as_ref() };
        let bytes = usize::try_from(datagram.Buffer.Length).unwrap_or(usize::MAX);
        total = total.saturating_add(bytes);
        let data = Indication {
            first: None,
            single: Some(&datagram.Buffer),
            bytes,
        };
        match context.events.received(&data, remote_of(datagram)) {
            Verdict::Consumed => {}
            Verdict::Retain => retain = true,
            Verdict::NotAccepted if first && !retain => return NtStatus::DATA_NOT_ACCEPTED.0,
            Verdict::NotAccepted => break,
        }
        first = false;
    }
    if !retain {
        return NtStatus::SUCCESS.0;
    }
    let socket = context.socket.load(Ordering::Acquire);
    match RetainedData::new(
        socket,
        RetainedList::Datagram(head),
        total,
        &context.outstanding,
    ) {
        Some(handle) => hand_over(handle, |h| context.events.retained(h)),
        // No socket yet or no memory for the handle: leave the chain with the provider.
        None => NtStatus::SUCCESS.0,
    }
}

/// A UDP socket whose incoming datagrams are delivered by [`DatagramEvents`] callbacks
/// (`WskReceiveFromEvent`).
///
/// Dropping it (PASSIVE_LEVEL) waits up to 5 s for its [`RetainedData`] handles, then closes
/// the socket and frees the callback context; if either does not happen, the socket or the
/// context is leaked rather than freed under the provider.
pub struct DatagramEventSocket<D: DatagramEvents>(EventSocket<DatagramKind<D>>);

impl<D: DatagramEvents> DatagramEventSocket<D> {
    /// Creates a UDP socket with a `WSK_CLIENT_DATAGRAM_DISPATCH`, binds it to `local` and
    /// enables `WSK_EVENT_RECEIVE_FROM`. IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_receive_from_event>.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio),
    /// `WskBind` or enabling the event; `STATUS_INSUFFICIENT_RESOURCES` without pool memory.
    pub fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        events: D,
        timeout: Duration,
    ) -> Result<Self> {
        let outstanding = PoolArc::try_new(AtomicUsize::new(0))?;
        let context = DatagramContext {
            events,
            socket: core::sync::atomic::AtomicPtr::new(ptr::null_mut()),
            outstanding,
        };
        EventSocket::bind(client, local, options, context, timeout).map(Self)
    }

    /// The events object. IRQL: any.
    #[must_use]
    pub fn events(&self) -> &D {
        &self.0.context().events
    }

    /// The socket, for sends and addresses (receives are the events' business). IRQL: any
    /// (the socket's own methods document theirs).
    pub fn socket(&mut self) -> Option<&mut crate::DatagramSocket> {
        self.0.socket.as_mut()
    }

    /// Stops the receive-from callbacks (`WSK_EVENT_DISABLE`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (e.g. `STATUS_EVENT_PENDING` while the callback runs).
    pub fn disable(&mut self) -> Result<()> {
        self.0.disable()
    }
}

/// The client datagram dispatch table for `D`.
struct DatagramDispatch<D>(core::marker::PhantomData<D>);

impl<D: DatagramEvents> DatagramDispatch<D> {
    const TABLE: sys::WSK_CLIENT_DATAGRAM_DISPATCH = sys::WSK_CLIENT_DATAGRAM_DISPATCH {
        WskReceiveFromEvent: Some(receive_from_event::<D>),
    };
}

/// [`EventKind`] of [`DatagramEventSocket`].
struct DatagramKind<D>(core::marker::PhantomData<D>);

impl<D: DatagramEvents> EventKind for DatagramKind<D> {
    type Socket = crate::DatagramSocket;
    type Context = DatagramContext<D>;
    const CATEGORY: Category = Category::Datagram;
    const EVENT: u32 = sys::WSK_EVENT_RECEIVE_FROM;

    fn dispatch() -> *const c_void {
        // A promoted constant: the table lives for 'static, as the provider requires.
        let table: &'static sys::WSK_CLIENT_DATAGRAM_DISPATCH = &DatagramDispatch::<D>::TABLE;
        ptr::from_ref(table).cast()
    }

    fn wrap(core: socket::SocketCore, _local: SocketAddr) -> Self::Socket {
        crate::DatagramSocket { core }
    }

    fn core(socket: &mut Self::Socket) -> &mut socket::SocketCore {
        &mut socket.core
    }

    fn close(socket: Self::Socket) -> Result<()> {
        socket.close()
    }

    fn attach(context: &Self::Context, socket: *mut sys::WSK_SOCKET) {
        context.socket.store(socket, Ordering::Release);
    }

    fn retained(context: &Self::Context) -> Option<&AtomicUsize> {
        Some(&context.outstanding)
    }
}
