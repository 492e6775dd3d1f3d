//! Whole-buffer receives on connected sockets: [`ConnectedSocket::receive_exact`].

use core::time::Duration;

use crate::category::Connected;
use crate::{ConnectedSocket, Error, NtStatus, Result};

impl<C: Connected> ConnectedSocket<C> {
    /// Receives exactly `out.len()` bytes, calling [`ConnectedSocket::receive`] until `out` is
    /// full, all within `timeout` (one deadline for the whole buffer, not per call).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// A timeout costs up to one second more under a provider that ignores cancellation
    /// (Wine's netio.sys): the request is cancelled, and closed with its socket after that
    /// grace period ([`Error::socket_closed`]).
    ///
    /// ```
    /// # use wskrs_fake_kernel as fake;
    /// # let _kernel = fake::Kernel::start();
    /// # let timeout = core::time::Duration::from_secs(5);
    /// # // SAFETY: the fake kernel's device object lives for the whole process.
    /// # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
    /// # let mut listener = wsk::ListenSocket::bind(&client, "127.0.0.1:0".parse()?, timeout)?;
    /// # let server = listener.local_addr()?;
    /// let mut connection = wsk::ConnectionSocket::connect(&client, server, None, timeout)?;
    /// # let (mut peer, _) = listener.accept(timeout)?;
    /// # peer.send_all(b"he", timeout)?;
    /// # peer.send_all(b"llo", timeout)?;
    /// let mut greeting = [0u8; 5];
    /// connection.receive_exact(&mut greeting, timeout)?;
    /// assert_eq!(&greeting, b"hello");
    /// # drop((connection, peer, listener));
    /// # assert!(client.shutdown(timeout));
    /// # Ok::<(), wsk::Error>(())
    /// ```
    ///
    /// # Errors
    /// `STATUS_GRACEFUL_DISCONNECT` if the peer closed its side before `out` was full;
    /// `STATUS_IO_TIMEOUT` if the deadline passed; or the status of the failing receive. What
    /// `out` holds after an error is unspecified (some bytes may have arrived).
    #[doc(alias = "recv_exact")]
    #[doc(alias = "read_exact")]
    pub fn receive_exact(&mut self, out: &mut [u8], timeout: Duration) -> Result<()> {
        let deadline = crate::uptime().saturating_add(timeout);
        let mut rest = out;
        while !rest.is_empty() {
            let left = deadline.saturating_sub(crate::uptime());
            if left.is_zero() {
                return Err(Error::TIMEOUT);
            }
            let n = self.receive(rest, left)?;
            if n == 0 {
                return Err(Error::new(NtStatus::GRACEFUL_DISCONNECT));
            }
            rest = rest.get_mut(n..).unwrap_or_default();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use wskrs_fake_kernel as fake;

    use crate::{ConnectionSocket, Error, ListenSocket, NtStatus, WskClient};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn pair(client: &WskClient) -> (ConnectionSocket, ConnectionSocket, ListenSocket) {
        let any = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut listener =
            ListenSocket::bind(client, any, TIMEOUT).unwrap_or_else(|e| panic!("bind: {e}"));
        let server = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let connection = ConnectionSocket::connect(client, server, None, TIMEOUT)
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let (peer, _) = listener
            .accept(TIMEOUT)
            .unwrap_or_else(|e| panic!("accept: {e}"));
        (connection, peer, listener)
    }

    #[test]
    fn fills_the_buffer_from_several_sends() {
        let kernel = fake::Kernel::start();
        // SAFETY: the fake device lives for the whole process.
        let client = unsafe { WskClient::register(fake::device(), TIMEOUT) }
            .unwrap_or_else(|e| panic!("register: {e}"));
        let (mut connection, mut peer, listener) = pair(&client);
        for part in [&b"ab"[..], b"c", b"defg"] {
            peer.send_all(part, TIMEOUT)
                .unwrap_or_else(|e| panic!("send: {e}"));
        }
        let mut got = [0u8; 7];
        assert_eq!(connection.receive_exact(&mut got, TIMEOUT), Ok(()));
        assert_eq!(&got, b"abcdefg");
        drop((connection, peer, listener));
        assert!(client.shutdown(TIMEOUT));
        kernel.assert_clean();
    }

    #[test]
    fn a_peer_that_closes_early_is_a_graceful_disconnect() {
        let kernel = fake::Kernel::start();
        // SAFETY: the fake device lives for the whole process.
        let client = unsafe { WskClient::register(fake::device(), TIMEOUT) }
            .unwrap_or_else(|e| panic!("register: {e}"));
        let (mut connection, mut peer, listener) = pair(&client);
        peer.send_all(b"abc", TIMEOUT)
            .unwrap_or_else(|e| panic!("send: {e}"));
        drop(peer);
        let mut got = [0u8; 8];
        assert_eq!(
            connection.receive_exact(&mut got, TIMEOUT),
            Err(Error::new(NtStatus::GRACEFUL_DISCONNECT))
        );
        drop((connection, listener));
        assert!(client.shutdown(TIMEOUT));
        kernel.assert_clean();
    }

    #[test]
    fn an_empty_buffer_needs_no_receive() {
        let kernel = fake::Kernel::start();
        // SAFETY: the fake device lives for the whole process.
        let client = unsafe { WskClient::register(fake::device(), TIMEOUT) }
            .unwrap_or_else(|e| panic!("register: {e}"));
        let (mut connection, peer, listener) = pair(&client);
        assert_eq!(connection.receive_exact(&mut [], Duration::ZERO), Ok(()));
        drop((connection, peer, listener));
        assert!(client.shutdown(TIMEOUT));
        kernel.assert_clean();
    }
}
