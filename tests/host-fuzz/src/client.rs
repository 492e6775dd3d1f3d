//! Target `client`: the client library (`wskrs_client::Device`) talking to a hostile driver.
//!
//! Input: which call to make, then a script the fake driver answers from: for each IOCTL a
//! status, an `IoStatus.Information` (possibly larger than the output buffer, as a broken
//! driver could report) and the bytes it writes. Properties: no panic; what a call returns
//! stays within what was asked for (bytes received, addresses, list entries); the largest
//! allocation an answer makes the client do stays under [`ALLOCATION_LIMIT`]; every error
//! formats (the client's NTSTATUS tables run on the driver's status).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use wskrs_client::{
    ClientError, Device, DisconnectMode, IoctlCompletion, Lifetime, TcpConnectOptions,
    TcpListenOptions, Transport, UdpBindOptions,
};
use wskrs_protocol::{
    EndpointId, NtStatus, OptionId, SecureProtocol, Service, UdpService, MAX_DATAGRAM,
};

use crate::allocations;
use crate::{Input, Seed};

/// The most one call may allocate at once: a RECV of [`wskrs_protocol::MAX_TRANSFER`] bytes
/// and its request, with room to spare. A driver's answer must not make it allocate more.
pub const ALLOCATION_LIMIT: usize = 16 << 20;

/// The calls, by selector (the first byte modulo their count).
const CALLS: [&str; 24] = [
    "info",
    "tcp_connect",
    "tcp_listen",
    "accept",
    "udp_bind",
    "send_to",
    "recv_from",
    "disconnect",
    "serve",
    "socket_option",
    "set_socket_option",
    "security",
    "resolve",
    "stats",
    "held",
    "send",
    "recv",
    "recv_exact",
    "close",
    "list",
    "set_peer_target_name",
    "delete_peer_target_name",
    "query_security",
    "raw",
];

/// Statuses a driver answers with, by the script's status byte (past them: a raw status).
const STATUSES: [u32; 8] = [
    0x0000_0000, // STATUS_SUCCESS
    0x0000_0000,
    0x0000_0000,
    0x8000_0005, // STATUS_BUFFER_OVERFLOW (a warning: data and an error)
    0xC000_0120, // STATUS_CANCELLED
    0xC000_00B5, // STATUS_IO_TIMEOUT
    0xC000_0225, // STATUS_NOT_FOUND
    0x0000_0103, // STATUS_PENDING (never a final status: a broken driver)
];

/// The hostile driver: answers every IOCTL from the script.
struct Hostile {
    script: Mutex<(Vec<u8>, usize)>,
}

impl Hostile {
    /// Takes `len` bytes of the script (zeros past its end).
    fn take(&self, len: usize) -> Vec<u8> {
        let mut script = self
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (bytes, at) = &mut *script;
        let mut taken = bytes.get(*at..).unwrap_or_default().to_vec();
        taken.truncate(len);
        *at += taken.len();
        taken.resize(len, 0);
        taken
    }

    /// Status and information of the next answer, for an output buffer of `room` bytes.
    fn completion(&self, room: usize) -> IoctlCompletion {
        let head = self.take(2);
        let status = match STATUSES.get(usize::from(head[0])) {
            Some(status) => *status,
            None if head[0] < 128 => 0,
            None => u32::from_le_bytes(self.take(4).try_into().expect("4 bytes")),
        };
        let information = match head[1] % 4 {
            // The whole buffer (what a correct reply of fixed size reports).
            0 => room,
            1 => u32::from_le_bytes(self.take(4).try_into().expect("4 bytes")) as usize,
            2 => usize::from(u16::from_le_bytes(
                self.take(2).try_into().expect("2 bytes"),
            ))
            .min(room),
            _ => 0,
        };
        IoctlCompletion {
            status: NtStatus::from_u32(status),
            information,
        }
    }
}

impl Transport for Hostile {
    fn ioctl(&self, _code: u32, _input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        let completion = self.completion(output.len());
        let written = completion.information.min(output.len());
        output[..written].copy_from_slice(&self.take(written));
        completion
    }

    fn ioctl_in_direct(&self, _code: u32, _input: &[u8], data: &[u8]) -> IoctlCompletion {
        self.completion(data.len())
    }
}

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let call = CALLS[usize::from(input.u8()) % CALLS.len()];
    let id = EndpointId(u64::from(input.u32()) | 1);
    let size = input.u16();
    let script = input.rest().to_vec();
    let device = Device::from_transport(Box::new(Hostile {
        script: Mutex::new((script, 0)),
    }));
    allocations::reset_largest();
    let outcome = run(&device, call, id, size);
    let largest = allocations::largest();
    assert!(
        largest <= ALLOCATION_LIMIT,
        "`{call}` allocated {largest} bytes at once for a driver's answer"
    );
    if let Err(error) = outcome {
        // The error formats whatever the status (names, meanings, hints).
        assert!(!error.to_string().is_empty());
    }
}

/// Makes `call`; checks what it returned against what was asked.
fn run(device: &Device, call: &str, id: EndpointId, size: u16) -> Result<(), ClientError> {
    let v4: SocketAddr = "127.0.0.1:9000".parse().expect("address");
    let v6: SocketAddr = "[::1]:9000".parse().expect("address");
    let timeout = Some(Duration::from_millis(u64::from(size)));
    match call {
        "info" => {
            let _ = device.info()?;
        }
        "tcp_connect" => {
            let _ = device.tcp_connect(v4, &TcpConnectOptions::default())?;
        }
        "tcp_listen" => {
            let options = TcpListenOptions {
                sddl: Some("D:P(A;;GA;;;SY)"),
                ..TcpListenOptions::default()
            };
            let _ = device.tcp_listen(v6, Service::Echo, &options)?;
        }
        "accept" => {
            let _ = device.accept(id, Lifetime::Detached, timeout)?;
        }
        "udp_bind" => {
            let _ = device.udp_bind(v4, UdpService::Echo, &UdpBindOptions::default())?;
        }
        "send_to" => {
            let _ = device.send_to(id, v6, &[7; 3], timeout)?;
        }
        "recv_from" => {
            let max = u32::from(size).clamp(1, MAX_DATAGRAM);
            let datagram = device.recv_from(id, max, timeout)?;
            assert!(
                datagram.data.len() <= max as usize,
                "a datagram within the maximum"
            );
        }
        "disconnect" => device.disconnect(id, DisconnectMode::Abortive, timeout)?,
        "serve" => device.serve(id, Service::Discard)?,
        "socket_option" => {
            let _ = device.socket_option(id, OptionId::RcvBuf)?;
        }
        "set_socket_option" => {
            let _ = device.set_nodelay(id, true)?;
        }
        "security" => {
            if let Some(sddl) = device.security(id)? {
                assert!(sddl.len() <= wskrs_protocol::SDDL_LEN);
            }
        }
        "resolve" => {
            let addresses = device.resolve("localhost", "http", timeout)?;
            // At most what the last reply's buffer held.
            assert!(
                addresses.len() <= (1 << 16),
                "{} addresses",
                addresses.len()
            );
        }
        "stats" => {
            let _ = device.stats()?;
        }
        "held" => {
            let _ = device.held()?;
        }
        "send" => {
            let data = vec![1u8; usize::from(size).max(1)];
            let sent = device.send(id, &data, timeout)?;
            assert_eq!(sent as usize, data.len(), "a send is all or an error");
        }
        "recv" => {
            let max = u32::from(size).max(1);
            let received = device.recv(id, max, timeout)?;
            assert!(received.data.len() <= max as usize);
            assert_eq!(received.eof, received.data.is_empty());
        }
        "recv_exact" => {
            let mut sink = Vec::new();
            let count = u64::from(size % 512);
            let received = device.recv_exact(id, count, timeout, &mut sink)?;
            assert_eq!((received, sink.len() as u64), (count, count));
        }
        "close" => device.close(id)?,
        "set_peer_target_name" => {
            device.set_peer_target_name(id, v4, SecureProtocol::Ipsec, "host/peer")?;
        }
        "delete_peer_target_name" => device.delete_peer_target_name(id, v6)?,
        "query_security" => {
            // Whatever the driver says, the reply carries no token handle to close.
            let _ = device.query_security(id, (size % 2 == 0).then_some(v4))?;
        }
        "list" => {
            let endpoints = device.list()?;
            assert!(
                endpoints.len() <= (1 << 16),
                "{} endpoints",
                endpoints.len()
            );
        }
        _ => {
            let reply = device.raw(u32::from(size), &[0; 8], usize::from(size));
            assert!(reply.output.len() <= usize::from(size));
        }
    }
    Ok(())
}

/// A seed: the call, an id and size, and the script of answers.
fn seed(name: &str, call: &str, size: u16, answers: &[Vec<u8>]) -> Seed {
    let selector = CALLS.iter().position(|c| *c == call).expect("a call name");
    let mut bytes = vec![u8::try_from(selector).expect("a small selector")];
    bytes.extend_from_slice(&5u32.to_le_bytes());
    bytes.extend_from_slice(&size.to_le_bytes());
    for answer in answers {
        bytes.extend_from_slice(answer);
    }
    Seed::new(name, bytes)
}

/// A successful answer of `reply` (information = its length, then its bytes).
fn success(reply: &[u8]) -> Vec<u8> {
    let mut answer = vec![0, 1];
    answer.extend_from_slice(
        &u32::try_from(reply.len())
            .expect("a short reply")
            .to_le_bytes(),
    );
    answer.extend_from_slice(reply);
    answer
}

/// Each call answered with the reply the driver writes for it, then failures and lies.
#[must_use]
#[allow(clippy::too_many_lines)] // one list
pub fn seeds() -> Vec<Seed> {
    let replies = crate::reply::written_replies();
    let reply = |name: &str| {
        replies
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, bytes)| bytes.clone())
            .expect("a written reply")
    };
    let mut seeds = vec![
        seed("info", "info", 0, &[success(&reply("info"))]),
        seed(
            "tcp_connect",
            "tcp_connect",
            0,
            &[success(&reply("endpoint_v4_v6"))],
        ),
        seed(
            "tcp_listen",
            "tcp_listen",
            0,
            &[success(&reply("endpoint_v4_v6"))],
        ),
        seed("accept", "accept", 10, &[success(&reply("endpoint_v4_v6"))]),
        seed(
            "udp_bind",
            "udp_bind",
            0,
            &[success(&reply("endpoint_udp"))],
        ),
        seed("send_to", "send_to", 0, &[vec![0, 1, 3, 0, 0, 0]]),
        seed(
            "recv_from",
            "recv_from",
            1500,
            &[success(&reply("recv_from_v6"))],
        ),
        seed(
            "disconnect",
            "disconnect",
            0,
            &[success(&reply("disconnect"))],
        ),
        seed("serve", "serve", 0, &[success(&reply("serve"))]),
        seed(
            "socket_option",
            "socket_option",
            0,
            &[success(&reply("socket_option"))],
        ),
        seed(
            "set_socket_option",
            "set_socket_option",
            0,
            &[success(&reply("socket_option"))],
        ),
        seed("security", "security", 0, &[success(&reply("security"))]),
        seed(
            "resolve_truncated",
            "resolve",
            0,
            &[
                success(&reply("resolve_two_of_three")),
                success(&reply("resolve_two_of_three")),
            ],
        ),
        seed("stats", "stats", 0, &[success(&reply("stats"))]),
        seed("held", "held", 0, &[success(&reply("held"))]),
        seed(
            "set_peer_target_name",
            "set_peer_target_name",
            0,
            &[success(&reply("peer_target_name"))],
        ),
        seed(
            "delete_peer_target_name",
            "delete_peer_target_name",
            0,
            &[success(&reply("delete_peer_target_name"))],
        ),
        seed(
            "query_security",
            "query_security",
            0,
            &[success(&reply("query_security"))],
        ),
        seed("send", "send", 100, &[vec![0, 1, 100, 0, 0, 0]]),
        seed(
            "recv",
            "recv",
            100,
            &[vec![0, 2, 5, 0, b'h', b'e', b'l', b'l', b'o']],
        ),
        seed(
            "recv_exact",
            "recv_exact",
            4,
            &[vec![0, 2, 2, 0, 1, 2], vec![0, 2, 2, 0, 3, 4]],
        ),
        seed("close", "close", 0, &[success(&reply("close"))]),
        seed(
            "list_truncated",
            "list",
            0,
            &[
                success(&reply("list_two_of_three")),
                success(&reply("list_two_of_three")),
            ],
        ),
        seed(
            "raw",
            "raw",
            64,
            &[vec![0, 2, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]],
        ),
    ];
    // A driver that reports more bytes than the buffer holds, and one that fails.
    seeds.push(seed(
        "recv_information_too_large",
        "recv",
        10,
        &[vec![0, 1, 0xFF, 0xFF, 0xFF, 0xFF]],
    ));
    seeds.push(seed("info_pending", "info", 0, &[vec![7, 3]]));
    seeds.push(seed("list_not_found", "list", 0, &[vec![6, 3]]));
    seeds
}
