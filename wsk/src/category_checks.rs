//! Compile-time proof that socket categories lack what they do not support: each
//! `compile_fail` example is pinned to E0599 (no such method or associated function) and has a
//! compiling twin that differs only in the socket type, so it cannot fail for another reason.
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
