//! The requests the fuzzer sends: a seeded generator ([`Rng`]), valid requests of every code
//! built with the protocol's own encoders ([`valid`]), and mutations of them ([`plan`]).
//! Pure code: no I/O, so its tests run on any host.

use std::net::SocketAddr;

use wskrs_protocol::{
    self as protocol, BindFlags, EndpointId, IoctlCode, OptionId, Service, UdpService,
};

/// SplitMix64: small, fast and good enough to pick requests; the same seed gives the same
/// sequence on every host.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        u32::try_from(self.next_u64() >> 32).unwrap_or(0)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        if n64 == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    /// True `percent` times in a hundred.
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (`None` when empty).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Where valid requests point: the Linux peers and the ports the fuzzer may listen on.
#[derive(Clone, Debug)]
pub(crate) struct Targets {
    /// TCP peers (echo, sink, a closed port).
    pub(crate) tcp: Vec<SocketAddr>,
    /// UDP peers.
    pub(crate) udp: Vec<SocketAddr>,
    /// Local ports the fuzzer listens on (Linux clients connect to them).
    pub(crate) listen: Vec<u16>,
}

/// What one request will be: its code, input, output buffer length and how it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) code: u32,
    pub(crate) input: Vec<u8>,
    pub(crate) output_len: usize,
    /// "valid" or the mutations applied, for the failure log.
    pub(crate) how: String,
}

/// Timeouts of valid requests: short, so that the driver, not the fuzzer, ends most waits.
fn timeout_ms(rng: &mut Rng) -> u32 {
    [1, 10, 50, 200, 1000]
        .get(rng.below(5))
        .copied()
        .unwrap_or(100)
}

fn id(rng: &mut Rng, known: &[u64]) -> EndpointId {
    let raw = match rng.below(10) {
        // Never 0 here (a mutation makes that): any other, mostly unknown, id.
        0 | 1 => rng.next_u64().max(1),
        2 => known.last().map_or(1, |k| k.wrapping_add(1)),
        // A nearby id: often another handle's endpoint (must be refused).
        3 => rng.pick(known).map_or(2, |k| (k ^ 1).max(1)),
        _ => rng.pick(known).copied().unwrap_or(1),
    };
    EndpointId(raw)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn data_len(rng: &mut Rng) -> u32 {
    match rng.below(10) {
        0 => 1,
        1..=6 => 1 + u32::try_from(rng.below(2048)).unwrap_or(0),
        7 | 8 => 1 + u32::try_from(rng.below(64 << 10)).unwrap_or(0),
        _ => 1 + u32::try_from(rng.below(1 << 20)).unwrap_or(0),
    }
}

#[allow(clippy::too_many_lines)] // one arm per code of the ABI
/// A valid request of `code` (one of [`IoctlCode::ALL`]) aimed at `targets` and `known`
/// endpoint ids, with the output buffer length the protocol asks for.
pub(crate) fn valid(rng: &mut Rng, code: IoctlCode, targets: &Targets, known: &[u64]) -> Planned {
    let tcp = rng.pick(&targets.tcp).copied().unwrap_or(loopback(9));
    let udp = rng.pick(&targets.udp).copied().unwrap_or(loopback(9));
    let listen = loopback(rng.pick(&targets.listen).copied().unwrap_or(1));
    let service = *rng
        .pick(&[
            Service::None,
            Service::Echo,
            Service::Discard,
            Service::Source,
        ])
        .unwrap_or(&Service::Echo);
    let (input, output_len): (Vec<u8>, usize) = match code {
        IoctlCode::INFO => (protocol::encode_info().to_vec(), 24),
        IoctlCode::TCP_CONNECT => (
            protocol::encode_tcp_connect(tcp, None, false, 1 + timeout_ms(rng)).to_vec(),
            80,
        ),
        IoctlCode::TCP_LISTEN => (
            protocol::encode_tcp_listen(listen, service, 0, false).to_vec(),
            80,
        ),
        IoctlCode::SEND => {
            let len = data_len(rng);
            let input = protocol::encode_send(id(rng, known), timeout_ms(rng), len).to_vec();
            (input, usize::try_from(len).unwrap_or(1))
        }
        IoctlCode::RECV => {
            let len = data_len(rng);
            let input = protocol::encode_recv(id(rng, known), timeout_ms(rng), len).to_vec();
            (input, usize::try_from(len).unwrap_or(1))
        }
        IoctlCode::CLOSE => (protocol::encode_close(id(rng, known)).to_vec(), 8),
        IoctlCode::LIST => (
            protocol::encode_list().to_vec(),
            protocol::list_output_len(rng.below(40)),
        ),
        IoctlCode::UDP_BIND => {
            let service = if rng.chance(50) {
                UdpService::Echo
            } else {
                UdpService::None
            };
            let input =
                protocol::encode_udp_bind(listen, service, false, BindFlags::default(), None)
                    .map(|r| r.to_vec())
                    .unwrap_or_default();
            (input, 80)
        }
        IoctlCode::SEND_TO => {
            let len = 1 + u32::try_from(rng.below(1500)).unwrap_or(0);
            let input =
                protocol::encode_send_to(id(rng, known), timeout_ms(rng), udp, len).to_vec();
            (input, usize::try_from(len).unwrap_or(1))
        }
        IoctlCode::RECV_FROM => {
            let len = 1 + u32::try_from(rng.below(2000)).unwrap_or(0);
            let input = protocol::encode_recv_from(id(rng, known), timeout_ms(rng), len).to_vec();
            (input, protocol::recv_from_output_len(len))
        }
        IoctlCode::DISCONNECT => (
            protocol::encode_disconnect(id(rng, known), timeout_ms(rng), rng.chance(50)).to_vec(),
            8,
        ),
        IoctlCode::SOCKET_OPTION => {
            let option = *rng.pick(&OptionId::ALL).unwrap_or(&OptionId::NoDelay);
            let value = if option.is_bool() {
                rng.next_u32() & 1
            } else {
                rng.next_u32() % 70_000
            };
            let set = (option.is_settable() && rng.chance(50)).then_some(value);
            (
                protocol::encode_socket_option(id(rng, known), option, set).to_vec(),
                16,
            )
        }
        IoctlCode::SECURITY => (protocol::encode_security(id(rng, known)).to_vec(), 272),
        IoctlCode::RESOLVE => {
            let name = *rng
                .pick(&[
                    "localhost",
                    "127.0.0.1",
                    "::1",
                    // Fails in the resolver itself: a name it would send to a DNS server
                    // makes the run depend on that server (a lost query stalls Wine's
                    // only dispatch thread 5 s and more: docs/reliability.md, finding 7).
                    "no-such..host",
                    "0.0.0.0",
                ])
                .unwrap_or(&"localhost");
            let service = *rng.pick(&["", "80", "http", "65535"]).unwrap_or(&"");
            let input = protocol::encode_resolve(name, service, timeout_ms(rng))
                .map(|r| r.to_vec())
                .unwrap_or_default();
            (input, protocol::resolve_output_len(rng.below(8)))
        }
        IoctlCode::STATS => (
            protocol::encode_stats().to_vec(),
            size_of::<protocol::wire::StatsReply>(),
        ),
        IoctlCode::HELD => (protocol::encode_held().to_vec(), 56),
        IoctlCode::DEVICE_SECURITY => (protocol::encode_device_security().to_vec(), 272),
        IoctlCode::ACCEPT => (
            protocol::encode_accept(id(rng, known), timeout_ms(rng), false).to_vec(),
            80,
        ),
        IoctlCode::SERVE => {
            let service = if service == Service::None {
                Service::Echo
            } else {
                service
            };
            (protocol::encode_serve(id(rng, known), service).to_vec(), 8)
        }
        IoctlCode::SET_PEER_TARGET_NAME => {
            let input = protocol::encode_set_peer_target_name(
                id(rng, known),
                udp,
                protocol::SecureProtocol::Default,
                "host/fuzz",
            )
            .map(|r| r.to_vec())
            .unwrap_or_default();
            (input, 8)
        }
        IoctlCode::DELETE_PEER_TARGET_NAME => (
            protocol::encode_delete_peer_target_name(id(rng, known), udp).to_vec(),
            8,
        ),
        IoctlCode::QUERY_SECURITY => {
            let peer = rng.chance(50).then_some(udp);
            (
                protocol::encode_query_security(id(rng, known), peer).to_vec(),
                16,
            )
        }
        IoctlCode::TRANSACT => {
            let length = 1 + u32::try_from(rng.below(4096)).unwrap_or(0);
            let max_reply = 1 + u32::try_from(rng.below(4096)).unwrap_or(0);
            let input =
                protocol::encode_transact(id(rng, known), timeout_ms(rng), length, max_reply)
                    .to_vec();
            (input, protocol::transact_output_len(length, max_reply))
        }
        // Not a code of the ABI: the header alone.
        _ => (protocol::encode_info().to_vec(), 64),
    };
    Planned {
        code: code.0,
        input,
        output_len,
        how: "valid".into(),
    }
}

/// The next request: a valid one of a random code, often mutated (bytes, lengths, code).
pub(crate) fn plan(rng: &mut Rng, targets: &Targets, known: &[u64]) -> Planned {
    let code = *rng.pick(&IoctlCode::ALL).unwrap_or(&IoctlCode::INFO);
    let mut planned = valid(rng, code, targets, known);
    if rng.chance(45) {
        let mutations = 1 + rng.below(3);
        let mut how = Vec::new();
        for _ in 0..mutations {
            how.push(mutate(rng, &mut planned));
        }
        planned.how = how.join("+");
    }
    planned.output_len = planned.output_len.min(MAX_OUTPUT);
    planned
}

/// One mutation of `planned`; returns its name.
fn mutate(rng: &mut Rng, planned: &mut Planned) -> String {
    let input = &mut planned.input;
    match rng.below(9) {
        0 | 1 => {
            // A byte after the header: fields, flags, addresses, text.
            let span = input.len().saturating_sub(8);
            let at = 8 + rng.below(span.max(1));
            if let Some(byte) = input.get_mut(at) {
                *byte = u8::try_from(rng.next_u32() & 0xFF).unwrap_or(0);
            }
            format!("byte[{at}]")
        }
        2 => {
            let at = rng.below(input.len().max(1));
            let value = *rng.pick(&[0u8, 1, 0x7F, 0x80, 0xFF]).unwrap_or(&0);
            if let Some(byte) = input.get_mut(at) {
                *byte = value;
            }
            format!("byte[{at}]={value}")
        }
        3 => {
            let len = rng.below(input.len().saturating_add(64));
            input.resize(len, 0);
            format!("input_len={len}")
        }
        4 => {
            planned.output_len = match rng.below(4) {
                0 => 0,
                1 => planned.output_len.saturating_sub(1),
                2 => planned.output_len.saturating_add(1),
                _ => rng.below(1 << 16),
            };
            format!("output_len={}", planned.output_len)
        }
        5 => {
            // Another code of the ABI with this input.
            let code = rng.pick(&IoctlCode::ALL).map_or(0, |c| c.0);
            planned.code = code;
            format!("code={code:#x}")
        }
        6 => {
            // Same device type, any function, method and access.
            let code = (protocol::DEVICE_TYPE << 16) | (rng.next_u32() & 0xFFFF);
            planned.code = code;
            format!("code={code:#x}")
        }
        7 => {
            // The header's version or size.
            let at = rng.below(8);
            if let Some(byte) = input.get_mut(at) {
                *byte = byte.wrapping_add(1 + u8::try_from(rng.below(3)).unwrap_or(0));
            }
            format!("header[{at}]")
        }
        _ => {
            // An id or length field (bytes 8..24) set to an edge value.
            let at = 8 + 4 * rng.below(4);
            let value = *rng
                .pick(&[0u32, 1, u32::MAX, 0x8000_0000, 4 << 20, (4 << 20) + 1])
                .unwrap_or(&0);
            if let Some(field) = input.get_mut(at..at + 4) {
                field.copy_from_slice(&value.to_le_bytes());
            }
            format!("u32[{at}]={value:#x}")
        }
    }
}

/// The largest output buffer the fuzzer allocates (a valid SEND or RECV's is at most 1 MiB).
pub(crate) const MAX_OUTPUT: usize = (1 << 20) + 64;

#[cfg(test)]
mod tests {
    use super::{plan, valid, Rng, Targets};
    use wskrs_protocol::{direct_output_len, min_output_len, parse_request, IoctlCode};

    fn targets() -> Targets {
        Targets {
            tcp: vec!["127.0.0.1:7000".parse().unwrap()],
            udp: vec!["127.0.0.1:7001".parse().unwrap()],
            listen: vec![7002, 7003],
        }
    }

    #[test]
    fn the_same_seed_plans_the_same_requests() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let known = [3, 4, 9];
        let first: Vec<_> = (0..500).map(|_| plan(&mut a, &targets(), &known)).collect();
        let again: Vec<_> = (0..500).map(|_| plan(&mut b, &targets(), &known)).collect();
        let other: Vec<_> = (0..500).map(|_| plan(&mut c, &targets(), &known)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn valid_requests_parse_with_their_output_length() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            for code in IoctlCode::ALL {
                let planned = valid(&mut rng, code, &targets(), &[5]);
                let request = parse_request(planned.code, &planned.input)
                    .unwrap_or_else(|e| panic!("{code:?}: {e:?} {planned:?}"));
                match direct_output_len(&request) {
                    Some(len) => assert_eq!(len, planned.output_len, "{code:?}"),
                    None => assert!(
                        planned.output_len >= min_output_len(code.0).unwrap(),
                        "{code:?}"
                    ),
                }
                assert!(planned.output_len <= super::MAX_OUTPUT);
            }
        }
    }

    #[test]
    fn plans_cover_every_code_and_mutate_some() {
        let mut rng = Rng::new(2);
        let plans: Vec<_> = (0..5000)
            .map(|_| plan(&mut rng, &targets(), &[1]))
            .collect();
        for code in IoctlCode::ALL {
            assert!(plans.iter().any(|p| p.code == code.0 && p.how == "valid"));
        }
        let mutated = plans.iter().filter(|p| p.how != "valid").count();
        assert!((1500..3000).contains(&mutated), "{mutated}");
        assert!(plans.iter().any(|p| IoctlCode(p.code).name().is_none()));
        assert!(plans.iter().all(|p| p.output_len <= super::MAX_OUTPUT));
    }
}
