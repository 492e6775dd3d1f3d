//! The little ABI between the WSK provider conformance driver (`wskrs-conformance.sys`) and
//! its Linux-side reader (`cargo xtask conformance`).
//!
//! One IOCTL, [`IOCTL_RUN`] (METHOD_BUFFERED): the input is a [`RunRequest`] (the Linux
//! peers' addresses), the output a [`ReplyHeader`] followed by `count` fixed-size
//! [`Record`]s, one per check. Everything is little-endian and encoded field by field, so
//! both sides agree without `unsafe` or layout assumptions.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

/// NT device name of the conformance driver.
pub const DEVICE_NAME: &str = r"\Device\WskRsConformance";
/// DOS link of the device.
pub const DOS_DEVICE_NAME: &str = r"\DosDevices\WskRsConformance";
/// Path user mode opens.
pub const USER_DEVICE_PATH: &str = r"\\.\WskRsConformance";
/// Service name the harness installs the driver under.
pub const SERVICE_NAME: &str = "WskRsConformance";
/// Device type (a value in the 0x8000-0xFFFF range reserved for vendors), distinct from
/// wskrs.sys's 0x8057.
pub const DEVICE_TYPE: u32 = 0x8058;

/// `CTL_CODE(DEVICE_TYPE, function, METHOD_BUFFERED, FILE_ANY_ACCESS)`.
#[must_use]
pub const fn ctl_code(function: u32) -> u32 {
    (DEVICE_TYPE << 16) | (function << 2)
}

/// Runs every check and returns the table.
pub const IOCTL_RUN: u32 = ctl_code(0x900);

/// `"WKCF"` in the first four bytes of requests and replies.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WKCF");
/// Version of this ABI (2: the request names the client helper; 96 records).
pub const VERSION: u32 = 3;

/// `AF_INET` as carried in [`PeerAddr::family`].
pub const FAMILY_V4: u16 = 2;
/// `AF_INET6` as carried in [`PeerAddr::family`].
pub const FAMILY_V6: u16 = 23;

/// Bytes of a [`Record::name`].
pub const NAME_LEN: usize = 48;
/// Bytes of a [`Record::detail`].
pub const DETAIL_LEN: usize = 64;
/// Encoded size of a [`Record`].
pub const RECORD_LEN: usize = NAME_LEN + 4 + 4 + DETAIL_LEN;
/// Encoded size of a [`ReplyHeader`].
pub const HEADER_LEN: usize = 24;
/// Most records a reply carries.
pub const MAX_RECORDS: usize = 96;
/// Output buffer size that always fits the reply.
pub const REPLY_LEN: usize = HEADER_LEN + MAX_RECORDS * RECORD_LEN;
/// Encoded size of a [`PeerAddr`].
pub const PEER_LEN: usize = 20;
/// Encoded size of a [`RunRequest`].
pub const REQUEST_LEN: usize = 8 + 3 * 2 * PEER_LEN + 2 * SPARE_PORTS * 2 + PEER_LEN + 4;
/// Spare ports per family in a request (free ports the driver may bind).
pub const SPARE_PORTS: usize = 4;

/// Outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Outcome {
    /// The provider behaved as WSK documents.
    Pass = 1,
    /// The provider did something else (wrong status, wrong data, ignored cancel, hang).
    Fail = 2,
    /// The provider does not implement what the check needs (it said so, e.g.
    /// `STATUS_NOT_IMPLEMENTED`, or a dispatch entry is NULL), or a prerequisite failed.
    Unsupported = 3,
}

impl Outcome {
    /// The outcome for its wire value.
    #[must_use]
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Pass),
            2 => Some(Self::Fail),
            3 => Some(Self::Unsupported),
            _ => None,
        }
    }

    /// `PASS`, `FAIL` or `UNSUPPORTED`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unsupported => "UNSUPPORTED",
        }
    }
}

/// A Linux peer: family, port (host order) and address bytes (IPv4 in the first four).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerAddr {
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u16,
    /// Port, host order.
    pub port: u16,
    /// Address bytes, network order; IPv4 uses the first four.
    pub addr: [u8; 16],
}

impl PeerAddr {
    /// `127.0.0.1:port`.
    #[must_use]
    pub const fn v4_loopback(port: u16) -> Self {
        let mut addr = [0; 16];
        addr[0] = 127;
        addr[3] = 1;
        Self {
            family: FAMILY_V4,
            port,
            addr,
        }
    }

    /// `[::1]:port`.
    #[must_use]
    pub const fn v6_loopback(port: u16) -> Self {
        let mut addr = [0; 16];
        addr[15] = 1;
        Self {
            family: FAMILY_V6,
            port,
            addr,
        }
    }

    /// The IPv4 octets (the first four address bytes).
    #[must_use]
    pub fn v4_octets(&self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.addr;
        [a, b, c, d]
    }

    fn encode(&self, out: &mut Writer<'_>) {
        out.u16(self.family);
        out.u16(self.port);
        out.bytes(&self.addr);
    }

    fn decode(input: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            family: input.u16()?,
            port: input.u16()?,
            addr: input.array()?,
        })
    }
}

/// Input of [`IOCTL_RUN`]: where the Linux peers listen. Index 0 is IPv4, index 1 IPv6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// TCP echo servers.
    pub tcp_echo: [PeerAddr; 2],
    /// UDP echo servers.
    pub udp_echo: [PeerAddr; 2],
    /// A port nothing listens on (connections are refused).
    pub closed: [PeerAddr; 2],
    /// Ports that were free on 127.0.0.1 (index 0) and ::1 (index 1) just before the run,
    /// for the driver's own listeners and explicitly bound clients.
    pub spare_ports: [[u16; SPARE_PORTS]; 2],
    /// The client helper (TCP, 127.0.0.1): a Linux program that, on a command line from the
    /// driver, connects to or sends a datagram to one of the driver's own sockets and reports
    /// what came back (see `peers/conformance_peers.py`).
    pub helper: PeerAddr,
    /// The provider implements `WskQueryProviderCharacteristics` (Wine 8.0's netio.sys exports
    /// it as a stub that aborts the caller, so the check is skipped there).
    pub query_characteristics: bool,
}

impl RunRequest {
    /// The request's bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut buf = [0u8; REQUEST_LEN];
        let mut w = Writer {
            buf: &mut buf,
            at: 0,
        };
        w.u32(MAGIC);
        w.u32(VERSION);
        for peer in self
            .tcp_echo
            .iter()
            .chain(&self.udp_echo)
            .chain(&self.closed)
        {
            peer.encode(&mut w);
        }
        for port in self.spare_ports.iter().flatten() {
            w.u16(*port);
        }
        self.helper.encode(&mut w);
        w.u32(u32::from(self.query_characteristics));
        buf
    }

    /// Parses a request; `None` unless it is exactly [`REQUEST_LEN`] bytes with the right
    /// magic and version.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != REQUEST_LEN {
            return None;
        }
        let mut r = Reader { buf: bytes, at: 0 };
        if r.u32()? != MAGIC || r.u32()? != VERSION {
            return None;
        }
        let tcp_echo = [PeerAddr::decode(&mut r)?, PeerAddr::decode(&mut r)?];
        let udp_echo = [PeerAddr::decode(&mut r)?, PeerAddr::decode(&mut r)?];
        let closed = [PeerAddr::decode(&mut r)?, PeerAddr::decode(&mut r)?];
        let mut spare_ports = [[0u16; SPARE_PORTS]; 2];
        for port in spare_ports.iter_mut().flatten() {
            *port = r.u16()?;
        }
        let helper = PeerAddr::decode(&mut r)?;
        let query_characteristics = match r.u32()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(Self {
            tcp_echo,
            udp_echo,
            closed,
            spare_ports,
            helper,
            query_characteristics,
        })
    }
}

/// First bytes of the output of [`IOCTL_RUN`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyHeader {
    /// Number of records that follow.
    pub count: u32,
    /// The provider's dispatch version (`MAKE_WSK_VERSION`), 0 if none was captured.
    pub provider_version: u32,
    /// Requests abandoned to the provider (never completed): their memory is leaked.
    pub leaked: u32,
}

impl ReplyHeader {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`; false if too short.
    pub fn encode_into(&self, out: &mut [u8]) -> bool {
        let Some(buf) = out.get_mut(..HEADER_LEN) else {
            return false;
        };
        let mut w = Writer { buf, at: 0 };
        w.u32(MAGIC);
        w.u32(VERSION);
        w.u32(self.count);
        w.u32(u32::try_from(RECORD_LEN).unwrap_or(0));
        w.u32(self.provider_version);
        w.u32(self.leaked);
        true
    }

    /// Parses the header at the start of `bytes`.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader {
            buf: bytes.get(..HEADER_LEN)?,
            at: 0,
        };
        if r.u32()? != MAGIC || r.u32()? != VERSION {
            return None;
        }
        let count = r.u32()?;
        if usize::try_from(r.u32()?).ok()? != RECORD_LEN {
            return None;
        }
        Some(Self {
            count,
            provider_version: r.u32()?,
            leaked: r.u32()?,
        })
    }
}

/// One check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The check's name, NUL-padded ASCII.
    pub name: [u8; NAME_LEN],
    /// An [`Outcome`] value.
    pub result: u32,
    /// The NTSTATUS the provider reported for the decisive request.
    pub status: u32,
    /// What was observed, NUL-padded ASCII.
    pub detail: [u8; DETAIL_LEN],
}

impl Record {
    /// The record's bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut buf = [0u8; RECORD_LEN];
        let mut w = Writer {
            buf: &mut buf,
            at: 0,
        };
        w.bytes(&self.name);
        w.u32(self.result);
        w.u32(self.status);
        w.bytes(&self.detail);
        buf
    }

    /// Parses one record from the start of `bytes`.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader {
            buf: bytes.get(..RECORD_LEN)?,
            at: 0,
        };
        Some(Self {
            name: r.array()?,
            result: r.u32()?,
            status: r.u32()?,
            detail: r.array()?,
        })
    }

    /// The name up to its first NUL (lossy: non-ASCII bytes are replaced by `?`).
    pub fn name_str(&self) -> impl Iterator<Item = char> + '_ {
        text(&self.name)
    }

    /// The detail up to its first NUL.
    pub fn detail_str(&self) -> impl Iterator<Item = char> + '_ {
        text(&self.detail)
    }

    /// The outcome, if the value is known.
    #[must_use]
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::from_u32(self.result)
    }
}

fn text(bytes: &[u8]) -> impl Iterator<Item = char> + '_ {
    bytes.iter().take_while(|b| **b != 0).map(|b| {
        if b.is_ascii_graphic() || *b == b' ' {
            char::from(*b)
        } else {
            '?'
        }
    })
}

/// Sequential little-endian writer over a buffer sized by the caller (writes past the end are
/// dropped, which the fixed sizes above rule out).
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.at.checked_add(N)?;
        let bytes = <[u8; N]>::try_from(self.buf.get(self.at..end)?).ok()?;
        self.at = end;
        Some(bytes)
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn code_is_buffered_any_access() {
        assert_eq!(IOCTL_RUN, 0x8058_2400);
        assert_eq!(IOCTL_RUN & 3, 0);
    }

    #[test]
    fn request_round_trips_and_rejects_bad_input() {
        let req = RunRequest {
            tcp_echo: [PeerAddr::v4_loopback(1000), PeerAddr::v6_loopback(1001)],
            udp_echo: [PeerAddr::v4_loopback(2000), PeerAddr::v6_loopback(2001)],
            closed: [PeerAddr::v4_loopback(3000), PeerAddr::v6_loopback(3001)],
            spare_ports: [[1, 2, 3, 4], [5, 6, 7, 8]],
            helper: PeerAddr::v4_loopback(4000),
            query_characteristics: true,
        };
        let bytes = req.encode();
        assert_eq!(bytes.len(), REQUEST_LEN);
        assert_eq!(REQUEST_LEN, 168);
        assert_eq!(REPLY_LEN, 11_544);
        assert_eq!(RunRequest::decode(&bytes), Some(req));
        assert_eq!(RunRequest::decode(&bytes[..REQUEST_LEN - 1]), None);
        let mut bad = bytes;
        bad[4] = 9;
        assert_eq!(RunRequest::decode(&bad), None);
        let mut flag = bytes;
        flag[REQUEST_LEN - 4] = 2;
        assert_eq!(RunRequest::decode(&flag), None, "the flag is 0 or 1");
        assert_eq!(req.tcp_echo[0].v4_octets(), [127, 0, 0, 1]);
    }

    #[test]
    fn header_and_records_round_trip() {
        let mut out = [0u8; HEADER_LEN + RECORD_LEN];
        let header = ReplyHeader {
            count: 1,
            provider_version: 0x100,
            leaked: 2,
        };
        assert!(header.encode_into(&mut out));
        assert_eq!(ReplyHeader::decode(&out), Some(header));
        let mut name = [0u8; NAME_LEN];
        name[..4].copy_from_slice(b"test");
        let mut detail = [0u8; DETAIL_LEN];
        detail[..3].copy_from_slice(b"ok\x01");
        let rec = Record {
            name,
            result: Outcome::Pass as u32,
            status: 0xC000_0120,
            detail,
        };
        let bytes = rec.encode();
        assert_eq!(Record::decode(&bytes), Some(rec));
        assert_eq!(rec.name_str().collect::<std::string::String>(), "test");
        assert_eq!(rec.detail_str().collect::<std::string::String>(), "ok?");
        assert_eq!(rec.outcome(), Some(Outcome::Pass));
        assert!(!header.encode_into(&mut [0u8; 4]));
    }
}
