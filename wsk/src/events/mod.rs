//! Event callbacks: the provider calls the driver when something happens instead of the
//! driver keeping a request pending.
//!
//! - [`ConnectionEventSocket`] + [`ConnectionEvents`]: data arrived (`WskReceiveEvent`), the peer
//!   disconnected, the ideal send backlog changed.
//! - [`ListenEventSocket`] + [`ListenEvents`]: a connection arrived on a listen socket
//!   (`WskAcceptEvent`); the callback takes the [`crate::AcceptedConnection`] or rejects it.
//! - [`DatagramEventSocket`] + [`DatagramEvents`]: datagrams arrived (`WskReceiveFromEvent`).
//!
//! Callbacks run at IRQL <= DISPATCH_LEVEL and must not block. Data handed to a receive
//! callback is valid only during the call: copy what you keep and answer
//! [`Verdict::Consumed`] (the provider drops it) or [`Verdict::NotAccepted`] (it stays
//! queued for the next receive request), or answer [`Verdict::Retain`] (`STATUS_PENDING`) to
//! keep the provider's buffers: the callback's `retained` method then gets a [`RetainedData`]
//! that owns them until it is dropped, which calls `WskRelease` (allowed at IRQL <=
//! DISPATCH_LEVEL). `WskCloseSocket` does not release retained buffers, so an event socket
//! waits for its `RetainedData` handles before it closes.
//!
//! Lifetime: each event socket's callback context is freed only after the socket's close
//! completed; if the close does not complete, the context is leaked rather than freed under
//! a callback.
//!
//! ```
//! # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
//! # let _kernel = fake::Kernel::start();
//! # let timeout = core::time::Duration::from_secs(5);
//! # // SAFETY: the fake kernel's device object lives for the whole process.
//! # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
//! use core::net::SocketAddr;
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use wsk::events::{DatagramEventSocket, DatagramEvents, Indication, Verdict};
//! use wsk::{BindOptions, DatagramSocket};
//!
//! /// Counts the bytes that arrive. Runs at IRQL <= DISPATCH_LEVEL: nothing here blocks.
//! #[derive(Default)]
//! struct Count(AtomicUsize);
//!
//! impl DatagramEvents for Count {
//!     fn received(&self, datagram: &Indication<'_>, _from: Option<SocketAddr>) -> Verdict {
//!         self.0.fetch_add(datagram.len(), Ordering::Relaxed);
//!         Verdict::Consumed
//!     }
//! }
//!
//! let any = "127.0.0.1:0".parse().unwrap();
//! let mut receiver =
//!     DatagramEventSocket::bind(&client, any, BindOptions::default(), Count::default(), timeout)?;
//! let to = receiver.socket().expect("bound").local_addr()?;
//! let mut sender = DatagramSocket::bind(&client, any, timeout)?;
//! sender.send_to(b"hello", to, timeout)?;
//! # for _ in 0..500 {
//! #     if receiver.events().0.load(Ordering::Relaxed) == 5 { break; }
//! #     std::thread::sleep(std::time::Duration::from_millis(10));
//! # }
//! assert_eq!(receiver.events().0.load(Ordering::Relaxed), 5);
//! # drop((receiver, sender));
//! # assert!(client.shutdown(timeout));
//! # Ok::<(), wsk::Error>(())
//! ```

mod connection;
mod datagram;
mod listen;
mod retained;

pub use connection::{ConnectionEventSocket, ConnectionEvents};
pub use datagram::{DatagramEventSocket, DatagramEvents};
pub use listen::{ListenEventSocket, ListenEvents};
pub use retained::RetainedData;

use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicUsize;
use core::time::Duration;

use wsk_bindings as sys;

use crate::socket::{self, BindOptions, Callbacks, Category};
use crate::{Error, NtStatus, PoolArc, Result, SockAddr, WskClient};
use retained::wait_released;

/// What a receive callback did with the indicated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// All the data was used (`STATUS_SUCCESS`).
    Consumed,
    /// None of it was used; it stays queued (`STATUS_DATA_NOT_ACCEPTED`).
    NotAccepted,
    /// All of it is accepted and kept past the callback (`STATUS_PENDING`): the callback's
    /// `retained` method receives a [`RetainedData`] that owns the indication list until it
    /// is dropped (`WskRelease`). The whole indication counts as accepted.
    Retain,
}

/// The data of one receive indication: a chain of buffers.
pub struct Indication<'a> {
    first: Option<&'a sys::WSK_DATA_INDICATION>,
    /// One buffer instead of a chain (a datagram).
    single: Option<&'a sys::WSK_BUF>,
    bytes: usize,
}

impl<'a> Indication<'a> {
    /// Total bytes indicated.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether nothing was indicated.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The data as byte slices, in order. A buffer whose pages cannot be mapped ends the
    /// iteration early (the sum of the slices is then less than [`Indication::len`]).
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut next = self.first;
        let mut single = self.single;
        core::iter::from_fn(move || {
            if let Some(buf) = single.take() {
                return wsk_buf_slice(buf);
            }
            let indication = next?;
            // SAFETY: `Next` links the provider's chain, valid during the callback.
            next = unsafe { indication.Next.as_ref() };
            wsk_buf_slice(&indication.Buffer)
        })
    }
}

/// The bytes a `WSK_BUF` describes, mapped to system addresses.
fn wsk_buf_slice<'a>(buf: &sys::WSK_BUF) -> Option<&'a [u8]> {
    let mut remaining = usize::try_from(buf.Length).ok()?;
    let mut offset = usize::try_from(buf.Offset).ok()?;
    let mdl = NonNull::new(buf.Mdl)?;
    // SAFETY: the MDL belongs to the indication, valid during the callback.
    let mdl = unsafe { mdl.as_ref() };
    let count = usize::try_from(mdl.ByteCount).ok()?;
    if offset >= count && remaining > 0 {
        return None;
    }
    remaining = remaining.min(count.saturating_sub(offset));
    let base = mapped_address(mdl)?;
    offset = offset.min(count);
    // SAFETY: `base` maps the MDL's `ByteCount` bytes; `offset + remaining <= ByteCount`.
    Some(unsafe {
        core::slice::from_raw_parts(base.as_ptr().cast_const().wrapping_add(offset), remaining)
    })
}

/// The address at `p`, copied out of the provider's memory.
///
/// # Safety
/// `p` points to a SOCKADDR of the socket's family (at most a SOCKADDR_IN6, the size of
/// [`SockAddr`]) that stays valid during the call.
unsafe fn socket_addr_at(p: NonNull<sys::SOCKADDR>) -> Option<SocketAddr> {
    let mut storage = SockAddr::empty();
    // SAFETY: at most `family_size` (<= size of `SockAddr`) bytes of the caller's SOCKADDR
    // are read; the storage is ours.
    unsafe {
        ptr::copy_nonoverlapping(
            p.as_ptr().cast::<u8>(),
            ptr::from_mut(&mut storage).cast::<u8>(),
            family_size(p),
        );
    }
    storage.to_socket_addr()
}

/// Bytes of the SOCKADDR at `p` by its family (0 for other families).
fn family_size(p: NonNull<sys::SOCKADDR>) -> usize {
    // SAFETY: every SOCKADDR starts with its 16-bit family.
    let family = unsafe { p.as_ptr().cast::<u16>().read_unaligned() };
    match family {
        sys::AF_INET_FAMILY => core::mem::size_of::<sys::SOCKADDR_IN>(),
        sys::AF_INET6_FAMILY => core::mem::size_of::<sys::SOCKADDR_IN6>(),
        _ => 0,
    }
}

/// `MmGetSystemAddressForMdlSafe`: the MDL's system address, mapping it if needed.
pub(crate) fn mapped_address(mdl: &sys::MDL) -> Option<NonNull<u8>> {
    // The flags are a C short; reinterpret the bits.
    #[allow(clippy::cast_sign_loss)]
    let flags = u32::from(mdl.MdlFlags as u16);
    if flags & (sys::MDL_MAPPED_TO_SYSTEM_VA | sys::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        return NonNull::new(mdl.MappedSystemVa.cast());
    }
    let priority = sys::NormalPagePriority | sys::MdlMappingNoExecute;
    // SAFETY: the MDL describes locked pages of the indication; mapping them read-only for
    // the callback's duration is what the WDK's MmGetSystemAddressForMdlSafe does.
    let va = unsafe {
        sys::MmMapLockedPagesSpecifyCache(
            ptr::from_ref(mdl).cast_mut(),
            sys::KERNEL_MODE,
            sys::MmCached,
            ptr::null_mut(),
            0,
            priority,
        )
    };
    NonNull::new(va.cast())
}

/// What differs between the bound event sockets ([`ListenEventSocket`], [`DatagramEventSocket`]).
trait EventKind {
    /// The socket type the owner sees.
    type Socket;
    /// What the callbacks receive as their context.
    type Context: Send + Sync;
    const CATEGORY: Category;
    /// The one event enabled after bind (and disabled by `disable`).
    const EVENT: u32;
    /// The client dispatch table (a `'static` table for the context type).
    fn dispatch() -> *const c_void;
    fn wrap(core: socket::SocketCore, local: SocketAddr) -> Self::Socket;
    fn core(socket: &mut Self::Socket) -> &mut socket::SocketCore;
    fn close(socket: Self::Socket) -> Result<()>;
    /// Tells the context its socket (for `WskRelease` of retained lists).
    fn attach(context: &Self::Context, socket: *mut sys::WSK_SOCKET);
    /// The count of retained lists the close must wait for, if the category retains.
    fn retained(context: &Self::Context) -> Option<&AtomicUsize>;
}

/// A socket created with client callbacks and bound, with the callbacks' context.
///
/// # Invariants
/// `context` is a raw reference to a `K::Context` that the socket's callbacks use; it is taken
/// back only after the socket's close completed (no callback runs after that), which happens
/// only after every retained list was released.
struct EventSocket<K: EventKind> {
    socket: Option<K::Socket>,
    context: *const (),
    _kind: core::marker::PhantomData<K>,
}

// SAFETY: the raw context is a counted reference to Send + Sync data; the socket types are
// Send + Sync.
unsafe impl<K: EventKind> Send for EventSocket<K> {}
// SAFETY: as above.
unsafe impl<K: EventKind> Sync for EventSocket<K> {}

impl<K: EventKind> EventSocket<K> {
    /// Creates the socket with `context` and `K`'s dispatch, binds it to `local` and enables
    /// `K::EVENT`. IRQL: PASSIVE_LEVEL.
    fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        context: K::Context,
        timeout: Duration,
    ) -> Result<Self> {
        let context = PoolArc::into_raw(PoolArc::try_new(context)?);
        let callbacks = Callbacks {
            context: context.cast_mut().cast(),
            dispatch: K::dispatch(),
        };
        let family = SockAddr::socket_family(&local);
        let created = socket::create_with(client, family, K::CATEGORY, options, callbacks, timeout);
        let (raw, blocking) = match created {
            Ok(parts) => parts,
            Err(e) => {
                // SAFETY: no socket exists, so no callback can use the context.
                drop(unsafe { PoolArc::<K::Context>::from_raw(context) });
                return Err(e);
            }
        };
        // SAFETY: the raw reference is live until `Drop` takes it back.
        K::attach(
            unsafe { PoolArc::<K::Context>::borrow_raw(context) },
            raw.as_ptr(),
        );
        // SAFETY: `raw` was just created with `K::CATEGORY`.
        let bind_fn = unsafe { K::CATEGORY.bind_fn(&raw) };
        // From here on, dropping `this` closes the socket before freeing the context.
        let mut this = Self {
            socket: Some(K::wrap(
                socket::SocketCore {
                    raw,
                    blocking,
                    client: client.clone(),
                },
                local,
            )),
            context,
            _kind: core::marker::PhantomData,
        };
        let core = this.core()?;
        socket::bind(&core.raw, &mut core.blocking, bind_fn, local, timeout)?;
        socket::event_callbacks(&this.core()?.raw, K::EVENT)?;
        Ok(this)
    }

    fn core(&mut self) -> Result<&mut socket::SocketCore> {
        self.socket
            .as_mut()
            .map(K::core)
            .ok_or(Error::new(NtStatus::INVALID_HANDLE))
    }

    fn context(&self) -> &K::Context {
        // SAFETY: the raw reference is live until `Drop` takes it back.
        unsafe { PoolArc::<K::Context>::borrow_raw(self.context) }
    }

    /// `WSK_EVENT_DISABLE | K::EVENT`. IRQL: PASSIVE_LEVEL.
    fn disable(&mut self) -> Result<()> {
        socket::event_callbacks(&self.core()?.raw, sys::WSK_EVENT_DISABLE | K::EVENT)
    }
}

impl<K: EventKind> Drop for EventSocket<K> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            // WskCloseSocket does not release retained lists: wait for their handles first.
            if K::retained(self.context()).is_some_and(|n| !wait_released(n)) {
                core::mem::forget(socket);
                return;
            }
            if K::close(socket).is_err() {
                // The close did not complete: callbacks may still come; keep the context.
                return;
            }
        }
        // SAFETY: the socket is closed (or never existed), so nothing uses the context.
        drop(unsafe { PoolArc::<K::Context>::from_raw(self.context) });
    }
}
