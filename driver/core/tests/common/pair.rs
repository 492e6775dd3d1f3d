//! A connection of the driver's with the test's own end of it, and what the data-request
//! tests (queue, transact) ask of it.

use std::time::Duration;

use wskrs_protocol::EndpointId;

use super::{addr, connect, Pended, ALICE};

/// A connection of the driver's (`id`) and the test's own end of it.
pub(crate) struct Pair {
    pub(crate) id: EndpointId,
    pub(crate) far: wsk::ConnectionSocket,
    listener: wsk::ListenSocket,
    peer: wsk::WskClient,
}

impl Pair {
    pub(crate) fn new(d: &'static super::Driver, port: u16) -> Self {
        let peer = super::register(Duration::from_secs(5)).unwrap();
        let local = addr(&format!("127.0.0.1:{port}"));
        let mut listener = wsk::ListenSocket::bind(&peer, local, Duration::from_secs(5)).unwrap();
        let c = connect(d, ALICE, local, false).unwrap();
        let (far, _) = listener.accept(Duration::from_secs(5)).unwrap();
        Self {
            id: c.id,
            far,
            listener,
            peer,
        }
    }

    pub(crate) fn finish(self) {
        drop((self.far, self.listener));
        assert!(self.peer.shutdown(Duration::from_secs(5)));
    }
}

/// Asserts that `pended` has not completed (it waits in the driver).
pub(crate) fn assert_waits(pended: &Pended, what: &str) {
    assert!(
        pended.wait_for(Duration::from_millis(50)).is_none(),
        "{what} still waits"
    );
}

/// Receives with the test's end until `n` bytes arrived.
pub(crate) fn far_receive(far: &mut wsk::ConnectionSocket, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let k = far
            .receive(&mut got[filled..], Duration::from_secs(5))
            .unwrap();
        assert!(k > 0, "end of stream after {filled} bytes");
        filled += k;
    }
    got
}
