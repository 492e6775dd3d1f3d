//! `BufferChain` sends and receives against the fake provider, which follows `Mdl->Next`
//! and records a violation for a `WSK_BUF` longer than its chain: the bytes cross the links in
//! order, a range outside the chain never reaches the provider, and the chain comes back to
//! the caller after success, after a failure and after a synchronous failure, and stays with
//! the request only when it is abandoned. Datagram control information through a provider
//! that has none: the data arrives, no control objects, and oversize control is refused.

// Test data are byte patterns that wrap on purpose.
#![allow(clippy::cast_possible_truncation)]

mod common;

use std::time::Duration;

use common::{pair, register, QUICK};
use fake::provider::{self, Behavior, Config, Op};
use wsk::{BufferChain, Error, NtStatus};
use wskrs_fake_kernel as fake;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 13) as u8).collect()
}

#[test]
fn a_chain_is_sent_from_an_offset_and_received_across_its_links() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, mut far) = pair(&client);
    let data = pattern(7 + 300 + 13);
    let mut out = BufferChain::try_new(&[7, 300, 13]).unwrap();
    assert_eq!(out.copy_from(&data), data.len());
    // From offset 9: the WSK_BUF starts in the second buffer and runs into the third.
    let sent = near.send_chain(&mut out, 9, 311, QUICK).unwrap();
    assert_eq!(sent, 311);
    assert_eq!(out.len(), 320, "the chain came back");
    let mut back = BufferChain::try_new(&[5, 6, 1000]).unwrap();
    let n = far.receive_chain(&mut back, QUICK).unwrap();
    assert_eq!(n, 311);
    let mut got = vec![0u8; n];
    assert_eq!(back.copy_to(&mut got), n);
    assert_eq!(got, data[9..]);
    let pieces: Vec<usize> = back.chunks().map(<[u8]>::len).collect();
    assert_eq!(pieces, [5, 6, 1000]);
    assert_eq!(
        provider::calls(Op::Send),
        1,
        "one WskSend for the whole range"
    );
    drop((near, far, out, back));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn a_range_outside_the_chain_never_reaches_the_provider() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, far) = pair(&client);
    let mut chain = BufferChain::try_new(&[4, 4]).unwrap();
    let sends = provider::calls(Op::Send);
    for (offset, len) in [(0, 9), (8, 1), (1, 8), (usize::MAX, 2), (0, 0)] {
        assert_eq!(
            near.send_chain(&mut chain, offset, len, QUICK),
            Err(Error::new(NtStatus::INVALID_BUFFER_SIZE)),
            "{offset}+{len}"
        );
    }
    assert_eq!(
        near.receive_chain(&mut BufferChain::new(), QUICK),
        Err(Error::new(NtStatus::INVALID_BUFFER_SIZE))
    );
    assert_eq!(provider::calls(Op::Send), sends);
    assert_eq!(chain.len(), 8, "the chain is untouched");
    drop((near, far, chain));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn the_chain_comes_back_after_failures() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, far) = pair(&client);
    let mut chain = BufferChain::try_new(&[10, 10]).unwrap();
    // Completed with an error, and refused without completion (Wine's stubs).
    provider::script(
        Op::Send,
        [
            Behavior::Fail(NtStatus::CONNECTION_RESET),
            Behavior::FailSync(NtStatus::NOT_IMPLEMENTED),
        ],
    );
    assert_eq!(
        near.send_chain(&mut chain, 0, 20, QUICK),
        Err(Error::new(NtStatus::CONNECTION_RESET))
    );
    assert_eq!((chain.len(), chain.links()), (20, 2));
    assert_eq!(
        near.send_chain(&mut chain, 0, 20, QUICK),
        Err(Error::new(NtStatus::NOT_IMPLEMENTED))
    );
    assert_eq!((chain.len(), chain.links()), (20, 2));
    drop((near, far, chain));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn an_abandoned_request_keeps_the_chain_until_it_completes() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINE);
    fake::set_time_scale(20);
    let client = register();
    let (near, mut far) = pair(&client);
    provider::script(
        Op::Receive,
        [Behavior::Hang {
            cancel: false,
            close: false,
        }],
    );
    let mut chain = BufferChain::try_new(&[8, 8]).unwrap();
    assert_eq!(
        far.receive_chain(&mut chain, Duration::from_millis(100)),
        Err(Error::TIMEOUT)
    );
    assert!(
        chain.is_empty(),
        "the chain stayed with the abandoned request"
    );
    drop((near, far));
    let unload = std::thread::spawn(move || client.shutdown(QUICK));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !unload.is_finished(),
        "unload waits while the provider holds the request"
    );
    let held = fake::counts();
    assert!(
        held.pool_live > kernel.baseline().pool_live,
        "its buffers are alive"
    );
    assert!(fake::violations().is_empty(), "{:?}", fake::violations());
    // The provider completes it at last: the completion routine frees the request and the
    // chain with it; then unload deregisters.
    assert_eq!(provider::release_stuck(NtStatus::CANCELLED), 1);
    let _ = unload.join().unwrap();
    kernel.assert_clean();
}

#[test]
fn datagram_control_info_is_empty_from_a_provider_without_it_and_the_data_arrives() {
    use wsk::cmsg::{ControlBuffer, ControlMessages, PacketInfo, MAX_CONTROL};
    use wsk::DatagramSocket;
    let kernel = fake::Kernel::start();
    let client = register();
    let mut rx = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
    let to = rx.local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
    let mut control = ControlBuffer::new();
    assert!(control.push_packet_info(PacketInfo {
        addr: to.ip(),
        interface: 0
    }));
    assert_eq!(
        tx.send_to_with_control(b"with control", to, control.as_bytes(), QUICK),
        Ok(12)
    );
    let (mut data, mut info) = ([0u8; 32], [0xAAu8; MAX_CONTROL]);
    let got = rx
        .receive_from_with_control(&mut data, &mut info, QUICK)
        .unwrap();
    assert_eq!(
        (&data[..got.len], got.from),
        (&b"with control"[..], Some(tx.local_addr().unwrap()))
    );
    assert_eq!(
        (got.control_len, got.flags),
        (0, 0),
        "the fake returns no control information"
    );
    assert_eq!(
        ControlMessages::new(&info[..got.control_len])
            .into_iter()
            .count(),
        0
    );
    // Too much control information is refused before any request.
    let sends = provider::calls(Op::SendTo);
    assert_eq!(
        tx.send_to_with_control(b"x", to, &[0; MAX_CONTROL + 1], QUICK),
        Err(Error::new(NtStatus::INVALID_BUFFER_SIZE))
    );
    assert_eq!(provider::calls(Op::SendTo), sends);
    drop((rx, tx));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn connect_with_data_on_a_provider_without_wsk_connect_ex_is_not_implemented_and_closes() {
    use wsk::ConnectionSocket;
    let kernel = fake::Kernel::start();
    let client = register();
    let (listener, addr) = common::listener(&client);
    let closes = provider::calls(Op::Close);
    // The fake's connection dispatch has no WskConnectEx (NULL).
    assert_eq!(
        ConnectionSocket::connect_with_data(&client, addr, None, b"hello", QUICK).err(),
        Some(Error::new(NtStatus::NOT_IMPLEMENTED))
    );
    assert_eq!(
        provider::calls(Op::Close),
        closes + 1,
        "the socket it created is closed"
    );
    assert_eq!(
        ConnectionSocket::connect_with_data(&client, addr, None, &vec![0; 65_536], QUICK).err(),
        Some(Error::new(NtStatus::INVALID_BUFFER_SIZE)),
        "over 65,535 bytes: refused before any socket"
    );
    assert_eq!(provider::calls(Op::Close), closes + 1);
    drop(listener);
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
