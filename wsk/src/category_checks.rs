//! Compile-time proof of what the types promise: a socket category lacks the operations it
//! does not support, a handler at DISPATCH_LEVEL gets no blocking calls, tasks end with
//! `stop`, pool plumbing stays private. Each `compile_fail` example is pinned to its error
//! (E0599: no such method or associated function; E0624: private) and has a compiling twin
//! that differs only in what the check is about, so it cannot fail for another reason.
//! Collected by `cargo test --doc` only.

/// A [`ListenSocket`](crate::ListenSocket) has no `send`:
/// ```compile_fail,E0599
/// fn send_on(socket: &mut wsk::ListenSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
/// A [`ConnectionSocket`](crate::ConnectionSocket) has:
/// ```
/// fn send_on(socket: &mut wsk::ConnectionSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
pub struct ListenSocketHasNoSend;

/// A [`BasicSocket`](crate::BasicSocket) has no `send`:
/// ```compile_fail,E0599
/// fn send_on(socket: &mut wsk::BasicSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
/// A [`ConnectionSocket`](crate::ConnectionSocket) has:
/// ```
/// fn send_on(socket: &mut wsk::ConnectionSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
pub struct BasicSocketHasNoSend;

/// A [`BasicSocket`](crate::BasicSocket) has no `bind`:
/// ```compile_fail,E0599
/// let _ = wsk::BasicSocket::bind;
/// ```
/// A [`DatagramSocket`](crate::DatagramSocket) has:
/// ```
/// let _ = wsk::DatagramSocket::bind;
/// ```
pub struct BasicSocketHasNoBind;

/// A [`DatagramSocket`](crate::DatagramSocket) has no `accept`:
/// ```compile_fail,E0599
/// fn accept_on(socket: &mut wsk::DatagramSocket) {
///     let _ = socket.accept(core::time::Duration::ZERO);
/// }
/// ```
/// A [`ListenSocket`](crate::ListenSocket) has:
/// ```
/// fn accept_on(socket: &mut wsk::ListenSocket) {
///     let _ = socket.accept(core::time::Duration::ZERO);
/// }
/// ```
pub struct DatagramSocketHasNoAccept;

/// A [`StreamSocket`](crate::StreamSocket) cannot `send` before `connect`:
/// ```compile_fail,E0599
/// fn send_on(socket: &mut wsk::StreamSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
/// The [`StreamConnectionSocket`](crate::StreamConnectionSocket) `connect` returns can:
/// ```
/// fn send_on(socket: &mut wsk::StreamConnectionSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
pub struct StreamSocketSendsOnlyAfterConnect;

/// A [`StreamListenSocket`](crate::StreamListenSocket) has no `send`:
/// ```compile_fail,E0599
/// fn send_on(socket: &mut wsk::StreamListenSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
/// A [`StreamConnectionSocket`](crate::StreamConnectionSocket) has:
/// ```
/// fn send_on(socket: &mut wsk::StreamConnectionSocket) {
///     let _ = socket.send(b"x", core::time::Duration::ZERO);
/// }
/// ```
pub struct StreamListenSocketHasNoSend;

/// Buffer chains are the connection category's: a
/// [`StreamConnectionSocket`](crate::StreamConnectionSocket) has no `receive_chain`:
/// ```compile_fail,E0599
/// fn receive_on(socket: &mut wsk::StreamConnectionSocket, chain: &mut wsk::BufferChain) {
///     let _ = socket.receive_chain(chain, core::time::Duration::ZERO);
/// }
/// ```
/// A [`ConnectionSocket`](crate::ConnectionSocket) has:
/// ```
/// fn receive_on(socket: &mut wsk::ConnectionSocket, chain: &mut wsk::BufferChain) {
///     let _ = socket.receive_chain(chain, core::time::Duration::ZERO);
/// }
/// ```
pub struct StreamConnectionSocketHasNoChains;

/// A listen handler runs at IRQL <= DISPATCH_LEVEL, where blocking is not allowed: the
/// [`AcceptedConnection`](crate::AcceptedConnection) it receives has no blocking calls:
/// ```compile_fail,E0599
/// # use core::net::SocketAddr;
/// struct Handler;
/// impl wsk::task::ListenHandler for Handler {
///     fn accepted(&self, connection: wsk::AcceptedConnection, _: Option<SocketAddr>) -> bool {
///         let _ = connection.send(b"x", core::time::Duration::ZERO);
///         true
///     }
///     fn finished(&self, _: Option<wsk::Error>) {}
/// }
/// ```
/// Only the explicit step to the blocking socket (for PASSIVE_LEVEL code) has them:
/// ```
/// # use core::net::SocketAddr;
/// struct Handler;
/// impl wsk::task::ListenHandler for Handler {
///     fn accepted(&self, connection: wsk::AcceptedConnection, _: Option<SocketAddr>) -> bool {
///         let _ = connection.into_socket().send(b"x", core::time::Duration::ZERO);
///         true
///     }
///     fn finished(&self, _: Option<wsk::Error>) {}
/// }
/// ```
pub struct AcceptedConnectionHasNoBlockingCalls;

/// The same holds for accept callbacks ([`ListenEvents`](crate::events::ListenEvents)):
/// ```compile_fail,E0599
/// # use core::net::SocketAddr;
/// # use wsk::AcceptedConnection;
/// struct Events;
/// impl wsk::events::ListenEvents for Events {
///     fn accepted(&self, c: AcceptedConnection, _: Option<SocketAddr>) -> Result<(), AcceptedConnection> {
///         let _ = c.receive(&mut [0; 4], core::time::Duration::ZERO);
///         Ok(())
///     }
/// }
/// ```
/// ```
/// # use core::net::SocketAddr;
/// # use wsk::AcceptedConnection;
/// struct Events;
/// impl wsk::events::ListenEvents for Events {
///     fn accepted(&self, c: AcceptedConnection, _: Option<SocketAddr>) -> Result<(), AcceptedConnection> {
///         let _ = c.into_socket().receive(&mut [0; 4], core::time::Duration::ZERO);
///         Ok(())
///     }
/// }
/// ```
pub struct AcceptEventsGetNoBlockingCalls;

/// Tasks end with `stop`; a [`ConnectionTask`](crate::task::ConnectionTask) has no `abort`:
/// ```compile_fail,E0599
/// fn end<H: wsk::task::ConnectionHandler>(task: &wsk::task::ConnectionTask<H>) {
///     task.abort();
/// }
/// ```
/// ```
/// fn end<H: wsk::task::ConnectionHandler>(task: &wsk::task::ConnectionTask<H>) {
///     task.stop();
/// }
/// ```
pub struct TasksStopWithStop;

/// The raw-reference plumbing of [`PoolArc`](crate::PoolArc) is crate-private:
/// ```compile_fail,E0624
/// let _ = wsk::PoolArc::<u32>::into_raw;
/// ```
/// Its safe API is public:
/// ```
/// let _ = wsk::PoolArc::<u32>::count;
/// ```
pub struct PoolArcRawReferencesArePrivate;
