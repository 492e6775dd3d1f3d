//! Datagram control information (ancillary data): the `WSACMSGHDR` objects `WskReceiveFrom`
//! returns and `WskSendTo` takes, read through a bounds-checked iterator and written by
//! [`ControlBuffer`].
//!
//! Layout (ws2def.h, x64): each object is a 16-byte header `{ SIZE_T cmsg_len; INT
//! cmsg_level; INT cmsg_type; }` followed by its data at offset 16 (`WSA_CMSGDATA_ALIGN`);
//! `cmsg_len` counts header and data; the next header starts at `cmsg_len` rounded up to 8
//! (`WSA_CMSGHDR_ALIGN`). The iterator never reads outside the bytes it was given: an object
//! whose length is too small or runs past the end stops it.
//!
//! The objects a driver usually wants are [`PacketInfo`]: `IP_PKTINFO` / `IPV6_PKTINFO`
//! (the destination address and interface of a received datagram; the source address to
//! send from), enabled on a socket with [`crate::DatagramSocket::set_packet_info`].
//!
//! Everything here is plain byte handling: usable at any IRQL.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wsk_bindings as sys;

/// Size of `WSACMSGHDR` on x64, where an object's data starts (`WSA_CMSGDATA_ALIGN(16)`).
const HEADER: usize = 16;
const _: () =
    assert!(HEADER == core::mem::size_of::<sys::WSACMSGHDR>() && HEADER % sys::CMSGDATA_ALIGN == 0);

/// `IPPROTO_IP`, `IPPROTO_IPV6` and `IP_PKTINFO` (= `IPV6_PKTINFO`) as `cmsg_level` /
/// `cmsg_type` values (small constants: the casts are exact).
#[allow(clippy::cast_possible_wrap)]
const LEVEL_IP: i32 = sys::IPPROTO_IP as i32;
#[allow(clippy::cast_possible_wrap)]
const LEVEL_IPV6: i32 = sys::IPPROTO_IPV6 as i32;
#[allow(clippy::cast_possible_wrap)]
const PKTINFO: i32 = sys::IP_PKTINFO as i32;
const _: () = assert!(sys::IP_PKTINFO == sys::IPV6_PKTINFO);

/// Largest control buffer the blocking calls pass (enough for several `PKTINFO` objects).
pub const MAX_CONTROL: usize = 256;

/// Rounds `len` up to the header alignment (`WSA_CMSGHDR_ALIGN`); `None` on overflow.
fn align_header(len: usize) -> Option<usize> {
    let mask = sys::CMSGHDR_ALIGN.checked_sub(1)?;
    Some(len.checked_add(mask)? & !mask)
}

/// `WSA_CMSG_SPACE(len)`: bytes one object with `len` data bytes takes, padding included.
/// IRQL: any.
#[must_use]
pub const fn space(len: usize) -> usize {
    let mask = sys::CMSGHDR_ALIGN.saturating_sub(1);
    HEADER.saturating_add(len).saturating_add(mask) & !mask
}

/// One control object: its level (e.g. `IPPROTO_IP`), type (e.g. `IP_PKTINFO`) and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlMessage<'a> {
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// The bytes after the header, `cmsg_len - 16` of them.
    pub data: &'a [u8],
}

impl ControlMessage<'_> {
    /// The object as packet information, if it is `IP_PKTINFO` (level `IPPROTO_IP`, 8 bytes)
    /// or `IPV6_PKTINFO` (level `IPPROTO_IPV6`, 20 bytes). IRQL: any.
    #[must_use]
    pub fn packet_info(&self) -> Option<PacketInfo> {
        let (level, kind) = (
            u32::try_from(self.level).ok()?,
            u32::try_from(self.kind).ok()?,
        );
        match (level, kind) {
            (sys::IPPROTO_IP, sys::IP_PKTINFO) => {
                let addr: [u8; 4] = self.data.get(..4)?.try_into().ok()?;
                let index: [u8; 4] = self.data.get(4..8)?.try_into().ok()?;
                Some(PacketInfo {
                    addr: IpAddr::V4(Ipv4Addr::from(addr)),
                    interface: u32::from_ne_bytes(index),
                })
            }
            (sys::IPPROTO_IPV6, sys::IPV6_PKTINFO) => {
                let addr: [u8; 16] = self.data.get(..16)?.try_into().ok()?;
                let index: [u8; 4] = self.data.get(16..20)?.try_into().ok()?;
                Some(PacketInfo {
                    addr: IpAddr::V6(Ipv6Addr::from(addr)),
                    interface: u32::from_ne_bytes(index),
                })
            }
            _ => None,
        }
    }
}

/// The control objects in a buffer `WskReceiveFrom` filled (only the bytes it reported).
#[derive(Clone, Copy, Debug)]
pub struct ControlMessages<'a> {
    rest: &'a [u8],
}

impl<'a> ControlMessages<'a> {
    /// The objects in `bytes` (which should start 8-byte aligned, as WSK writes them; the
    /// iterator reads unaligned either way). IRQL: any.
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The first `PKTINFO` object, if any. IRQL: any.
    #[must_use]
    pub fn packet_info(self) -> Option<PacketInfo> {
        self.into_iter().find_map(|m| m.packet_info())
    }
}

impl<'a> IntoIterator for ControlMessages<'a> {
    type Item = ControlMessage<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        Iter { rest: self.rest }
    }
}

/// Iterator over [`ControlMessages`]; stops at the end or at the first malformed object.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = ControlMessage<'a>;

    fn next(&mut self) -> Option<ControlMessage<'a>> {
        let header = self.rest.get(..HEADER)?;
        let len = usize::try_from(u64::from_ne_bytes(header.get(..8)?.try_into().ok()?)).ok()?;
        let level = i32::from_ne_bytes(header.get(8..12)?.try_into().ok()?);
        let kind = i32::from_ne_bytes(header.get(12..16)?.try_into().ok()?);
        let Some(data) = self.rest.get(HEADER..len) else {
            // Shorter than a header, or past the end: malformed, stop for good.
            self.rest = &[];
            return None;
        };
        // The next object starts at the aligned length, or there is none.
        self.rest = align_header(len)
            .and_then(|next| self.rest.get(next..))
            .unwrap_or(&[]);
        Some(ControlMessage { level, kind, data })
    }
}

/// `IP_PKTINFO` / `IPV6_PKTINFO`: on receive, the datagram's destination address and the
/// interface it arrived on; on send, the source address (and interface, 0 for any) to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// Destination (received) or source (sent) address.
    pub addr: IpAddr,
    /// Interface index (0: any, on send).
    pub interface: u32,
}

/// Control objects built for `WskSendTo`, in an 8-aligned fixed buffer.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct ControlBuffer {
    bytes: [u8; MAX_CONTROL],
    len: usize,
}

impl Default for ControlBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlBuffer {
    /// No objects. IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bytes: [0; MAX_CONTROL],
            len: 0,
        }
    }

    /// Appends one object; `false` (and nothing written) if it does not fit. IRQL: any.
    pub fn push(&mut self, level: i32, kind: i32, data: &[u8]) -> bool {
        let Some(total) = HEADER.checked_add(data.len()) else {
            return false;
        };
        let Some(end) = self.len.checked_add(space(data.len())) else {
            return false;
        };
        let Some(object) = self.bytes.get_mut(self.len..end) else {
            return false;
        };
        object.fill(0);
        let fields = [
            (0..8, &(total as u64).to_ne_bytes()[..]),
            (8..12, &level.to_ne_bytes()[..]),
            (12..16, &kind.to_ne_bytes()[..]),
        ];
        for (range, value) in fields {
            let Some(dst) = object.get_mut(range) else {
                return false;
            };
            dst.copy_from_slice(value);
        }
        let Some(dst) = object.get_mut(HEADER..total) else {
            return false;
        };
        dst.copy_from_slice(data);
        self.len = end;
        true
    }

    /// Appends `IP_PKTINFO` or `IPV6_PKTINFO` (by the address family); `false` if full.
    /// IRQL: any.
    pub fn push_packet_info(&mut self, info: PacketInfo) -> bool {
        let index = info.interface.to_ne_bytes();
        match info.addr {
            IpAddr::V4(a) => {
                let [a0, a1, a2, a3] = a.octets();
                let [i0, i1, i2, i3] = index;
                let data = [a0, a1, a2, a3, i0, i1, i2, i3];
                self.push(LEVEL_IP, PKTINFO, &data)
            }
            IpAddr::V6(a) => {
                let mut data = [0u8; 20];
                for (dst, src) in data.iter_mut().zip(a.octets().into_iter().chain(index)) {
                    *dst = src;
                }
                self.push(LEVEL_IPV6, PKTINFO, &data)
            }
        }
    }

    /// The encoded objects. IRQL: any.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn round_trips_packet_info_v4_and_v6() {
        let mut buf = ControlBuffer::new();
        let v4 = PacketInfo {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            interface: 1,
        };
        let v6 = PacketInfo {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            interface: 7,
        };
        assert!(buf.push_packet_info(v4));
        assert!(buf.push_packet_info(v6));
        // 16 + 8 = 24 (aligned), then 16 + 20 = 36 -> 40.
        assert_eq!(buf.as_bytes().len(), 24 + 40);
        assert_eq!(
            u64::from_ne_bytes(buf.as_bytes()[24..32].try_into().unwrap()),
            36,
            "cmsg_len excludes the padding"
        );
        let all: std::vec::Vec<_> = ControlMessages::new(buf.as_bytes()).into_iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].level, all[0].kind, all[0].data.len()), (0, 19, 8));
        assert_eq!((all[1].level, all[1].kind, all[1].data.len()), (41, 19, 20));
        assert_eq!(all[0].packet_info(), Some(v4));
        assert_eq!(all[1].packet_info(), Some(v6));
        assert_eq!(ControlMessages::new(buf.as_bytes()).packet_info(), Some(v4));
    }

    #[test]
    fn malformed_objects_stop_the_iterator_without_reading_past_the_end() {
        let mut buf = ControlBuffer::new();
        assert!(buf.push(1, 2, b"abc"));
        let good = buf.as_bytes().to_vec();
        // Truncated: the object's length runs past the bytes given.
        assert_eq!(
            ControlMessages::new(&good[..good.len() - 6])
                .into_iter()
                .count(),
            0
        );
        // A length smaller than a header.
        let mut short = good.clone();
        short[..8].copy_from_slice(&8u64.to_ne_bytes());
        assert_eq!(ControlMessages::new(&short).into_iter().count(), 0);
        // A huge length.
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(ControlMessages::new(&huge).into_iter().count(), 0);
        // Fewer bytes than a header: nothing.
        assert_eq!(ControlMessages::new(&good[..15]).into_iter().count(), 0);
        assert_eq!(ControlMessages::new(&[]).into_iter().count(), 0);
        // The last object may end without padding.
        let exact = &good[..HEADER + 3];
        let one: std::vec::Vec<_> = ControlMessages::new(exact).into_iter().collect();
        assert_eq!(
            one,
            [ControlMessage {
                level: 1,
                kind: 2,
                data: b"abc"
            }]
        );
        // A wrong-size PKTINFO is not packet information.
        let mut odd = ControlBuffer::new();
        assert!(odd.push(0, 19, &[127, 0, 0]));
        assert_eq!(ControlMessages::new(odd.as_bytes()).packet_info(), None);
    }

    #[test]
    fn a_full_buffer_refuses_objects() {
        let mut buf = ControlBuffer::new();
        let mut n = 0;
        while buf.push(0, 0, &[0; 24]) {
            n += 1;
        }
        assert_eq!(n, MAX_CONTROL / space(24));
        assert_eq!(buf.as_bytes().len(), n * space(24));
        assert!(!buf.push(0, 0, &[0; MAX_CONTROL]));
    }
}
