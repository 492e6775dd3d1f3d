//! Target `cmsg`: the iterator over the `WSACMSGHDR` control objects a provider returns with a
//! datagram (`wsk::cmsg::ControlMessages`), and `ControlBuffer`, which writes them.
//!
//! Input: the control buffer as `WskReceiveFrom` fills it. Properties: every object lies
//! inside the input, starts 8-aligned after the previous one and is at least a header long;
//! the iteration ends; `packet_info` reads exactly the `PKTINFO` objects; the objects written
//! again by `ControlBuffer` (while they fit) read back equal.

use std::net::IpAddr;

use wsk::cmsg::{space, ControlBuffer, ControlMessage, ControlMessages, PacketInfo, MAX_CONTROL};

use crate::Seed;

/// Bytes of a `WSACMSGHDR` on x64.
const HEADER: usize = 16;

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let range = data.as_ptr_range();
    let messages: Vec<ControlMessage<'_>> = ControlMessages::new(data).into_iter().collect();
    assert!(
        messages.len() <= data.len() / HEADER,
        "each object takes a header at least"
    );
    let mut expected_at = 0usize;
    for message in &messages {
        let start = message.data.as_ptr();
        assert!(range.start <= start && start.wrapping_add(message.data.len()) <= range.end);
        // The data follows its header, which starts where the previous object ended (aligned).
        let at = start as usize - range.start as usize - HEADER;
        assert_eq!(at, expected_at, "objects follow each other, 8-aligned");
        expected_at = at + space(message.data.len());
        if let Some(info) = message.packet_info() {
            check_packet_info(message, info);
        }
    }
    assert_eq!(
        ControlMessages::new(data).packet_info(),
        messages.iter().find_map(ControlMessage::packet_info)
    );
    // Written again while they fit, the objects read back equal.
    let mut buffer = ControlBuffer::new();
    let mut written = Vec::new();
    for message in &messages {
        if !buffer.push(message.level, message.kind, message.data) {
            assert!(buffer.as_bytes().len() + space(message.data.len()) > MAX_CONTROL);
            break;
        }
        written.push(*message);
    }
    let again: Vec<_> = ControlMessages::new(buffer.as_bytes())
        .into_iter()
        .collect();
    assert_eq!(again, written);
}

fn check_packet_info(message: &ControlMessage<'_>, info: PacketInfo) {
    let (address, index) = match info.addr {
        IpAddr::V4(a) => (a.octets().to_vec(), 4),
        IpAddr::V6(a) => (a.octets().to_vec(), 16),
    };
    assert_eq!(&message.data[..index], &address[..]);
    assert_eq!(
        message.data[index..index + 4],
        info.interface.to_ne_bytes(),
        "the interface follows the address"
    );
    let mut buffer = ControlBuffer::new();
    assert!(buffer.push_packet_info(info));
    assert_eq!(
        ControlMessages::new(buffer.as_bytes()).packet_info(),
        Some(info)
    );
}

/// Objects as a provider writes them (`ControlBuffer`), then malformed lengths.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    let v4 = PacketInfo {
        addr: IpAddr::V4([192, 0, 2, 1].into()),
        interface: 3,
    };
    let v6 = PacketInfo {
        addr: IpAddr::V6("2001:db8::1".parse().expect("address")),
        interface: 7,
    };
    let mut both = ControlBuffer::new();
    assert!(
        both.push(1, 99, b"other first") && both.push_packet_info(v4) && both.push_packet_info(v6)
    );
    let mut one = ControlBuffer::new();
    assert!(one.push_packet_info(v6));
    let mut full = ControlBuffer::new();
    while full.push(0, 0, &[]) {}
    let header = |len: u64| {
        let mut bytes = len.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        bytes
    };
    vec![
        Seed::new("other_v4_v6", both.as_bytes()),
        Seed::new("pktinfo_v6", one.as_bytes()),
        Seed::new("full_of_empty_objects", full.as_bytes()),
        Seed::new("length_too_short", header(8)),
        Seed::new("length_past_end", header(64)),
        Seed::new("length_huge", header(u64::MAX)),
        Seed::new("empty", Vec::new()),
    ]
}
