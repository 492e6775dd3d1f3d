//! The IOCTL ABI as documented (docs/protocol.md, ABI version 5), spelled out independently of
//! the `wskrs-protocol` crate on purpose: the suite checks the driver against the document.

pub(super) const DEVICE_TYPE: u32 = 0x8057;
pub(super) const ABI_VERSION: u32 = 5;
pub(super) const FILE_ANY_ACCESS: u32 = 0;
pub(super) const FILE_READ_ACCESS: u32 = 1;
pub(super) const FILE_READ_WRITE: u32 = 3;
pub(super) const METHOD_OUT_DIRECT: u32 = 2;

pub(super) const fn ctl_code(function: u32, access: u32) -> u32 {
    (DEVICE_TYPE << 16) | (access << 14) | (function << 2)
}

/// INFO needs read access (ABI 4); clients of ABI 1-3 sent it with `FILE_ANY_ACCESS`.
pub(super) const INFO: u32 = ctl_code(0x800, FILE_READ_ACCESS);
pub(super) const INFO_BEFORE_ABI_4: u32 = ctl_code(0x800, FILE_ANY_ACCESS);
pub(super) const TCP_CONNECT: u32 = ctl_code(0x801, FILE_READ_WRITE);
/// RECV is `METHOD_OUT_DIRECT`: the output buffer is the data.
pub(super) const RECV: u32 = ctl_code(0x804, FILE_READ_WRITE) | METHOD_OUT_DIRECT;
/// A function number the ABI does not define.
pub(super) const UNKNOWN: u32 = ctl_code(0x8FF, FILE_READ_WRITE);

/// `Header { abi_version, size }`.
pub(super) fn header(abi_version: u32, size: u32) -> Vec<u8> {
    let mut v = abi_version.to_le_bytes().to_vec();
    v.extend_from_slice(&size.to_le_bytes());
    v
}

/// `WireAddr { family: u16, port: u16, flowinfo: u32, scope_id: u32, addr: [u8; 16] }`.
pub(super) fn wire_addr(family: u16, port: u16, addr: [u8; 16]) -> Vec<u8> {
    let mut v = family.to_le_bytes().to_vec();
    v.extend_from_slice(&port.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&addr);
    v
}

/// `TcpConnectRequest { header, remote, local, flags, timeout_ms }` (72 bytes).
pub(super) fn tcp_connect(remote_family: u16, port: u16) -> Vec<u8> {
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    let mut v = header(ABI_VERSION, 72);
    v.extend(wire_addr(remote_family, port, addr));
    v.extend(wire_addr(0, 0, [0; 16]));
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

/// `RecvRequest { header, id, timeout_ms, max_length }` (24 bytes).
pub(super) fn recv(id: u64, timeout_ms: u32, max_length: u32) -> Vec<u8> {
    let mut v = header(ABI_VERSION, 24);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&timeout_ms.to_le_bytes());
    v.extend_from_slice(&max_length.to_le_bytes());
    v
}

/// Lowercase hex of `bytes` (what `wskctl raw` takes and the peers print for binary data).
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_ctl_code() {
        assert_eq!(INFO, 0x8057_6000);
        assert_eq!(INFO_BEFORE_ABI_4, 0x8057_2000);
        assert_eq!(TCP_CONNECT, 0x8057_E004);
        assert_eq!(RECV, 0x8057_E012);
    }

    #[test]
    fn requests_have_their_documented_sizes() {
        assert_eq!(tcp_connect(2, 80).len(), 72);
        assert_eq!(recv(1, 0, 1).len(), 24);
        assert_eq!(&hex(&header(4, 8)), "0400000008000000");
    }
}
