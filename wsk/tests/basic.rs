//! `BasicSocket` against the fake provider: created with `WSK_FLAG_BASIC_SOCKET` and no
//! client dispatch (the fake records a violation otherwise), options through
//! `WskControlSocket`, and a close that leaves nothing behind.

mod common;

use common::{register, QUICK};
use fake::provider::{self, Op};
use wsk::{BasicSocket, SocketOptions, Transport};
use wskrs_fake_kernel as fake;

#[test]
fn a_basic_socket_sets_and_reads_options_then_closes() {
    let kernel = fake::Kernel::start();
    let client = register();
    for (transport, ipv6) in [(Transport::Udp, false), (Transport::Tcp, true)] {
        let mut socket = BasicSocket::new(&client, transport, ipv6, QUICK).unwrap();
        assert!(socket.is_open());
        socket.set_receive_buffer_size(48 * 1024).unwrap();
        assert!(socket.receive_buffer_size().unwrap() >= 48 * 1024);
        socket.set_keepalive(true).unwrap();
        assert!(socket.keepalive().unwrap());
        let closes = provider::calls(Op::Close);
        socket.close().unwrap();
        assert_eq!(provider::calls(Op::Close), closes + 1);
    }
    // Dropping one closes it too.
    drop(BasicSocket::new(&client, Transport::Udp, false, QUICK).unwrap());
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
