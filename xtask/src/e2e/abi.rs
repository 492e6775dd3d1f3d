//! The IOCTL ABI as documented (docs/protocol.md, ABI version 7), spelled out independently of
//! the `wskrs-protocol` crate on purpose: the suite checks the driver against the document.

pub(super) const DEVICE_TYPE: u32 = 0x8057;
pub(super) const ABI_VERSION: u32 = 7;
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
/// `SET_PEER_TARGET_NAME` (read + write).
pub(super) const SET_PEER_TARGET_NAME: u32 = ctl_code(0x812, FILE_READ_WRITE);
/// `FLAG_SECURE`: apply the request's secure socket settings before bind.
pub(super) const FLAG_SECURE: u32 = 32;
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

/// 127.0.0.1 as `WireAddr.addr`.
const LOOPBACK4: [u8; 16] = [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// `TcpConnectRequest { header, remote, local, flags, timeout_ms, security: { protocol,
/// settings }, peer_target_name: [u8; 128] }` (208 bytes) without security.
pub(super) fn tcp_connect(remote_family: u16, port: u16) -> Vec<u8> {
    tcp_connect_secure(remote_family, port, None, b"")
}

/// A `TcpConnectRequest` to 127.0.0.1:`port`: with `security` (protocol, settings) the
/// request has `FLAG_SECURE` and `name` as its peer target name (NUL-padded, truncated to
/// the field).
pub(super) fn tcp_connect_secure(
    remote_family: u16,
    port: u16,
    security: Option<(u32, u32)>,
    name: &[u8],
) -> Vec<u8> {
    let mut v = header(ABI_VERSION, 208);
    v.extend(wire_addr(remote_family, port, LOOPBACK4));
    v.extend(wire_addr(0, 0, [0; 16]));
    let (flags, (protocol, settings)) = security.map_or((0, (0, 0)), |s| (FLAG_SECURE, s));
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&protocol.to_le_bytes());
    v.extend_from_slice(&settings.to_le_bytes());
    v.extend(padded(name, 128));
    v
}

/// `name` in a NUL-padded field of `len` bytes (cut to `len`).
fn padded(name: &[u8], len: usize) -> Vec<u8> {
    let mut field = vec![0u8; len];
    let n = name.len().min(len);
    field[..n].copy_from_slice(&name[..n]);
    field
}

/// `PeerTargetNameRequest { header, id, peer, protocol, name: [u8; 128] }` (176 bytes) for
/// 127.0.0.1:`port`.
pub(super) fn set_peer_target_name(id: u64, port: u16, protocol: u32, name: &[u8]) -> Vec<u8> {
    let mut v = header(ABI_VERSION, 176);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend(wire_addr(2, port, LOOPBACK4));
    v.extend_from_slice(&protocol.to_le_bytes());
    v.extend(padded(name, 128));
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
        assert_eq!(SET_PEER_TARGET_NAME, 0x8057_E048);
    }

    #[test]
    fn requests_have_their_documented_sizes() {
        assert_eq!(tcp_connect(2, 80).len(), 208);
        assert_eq!(
            tcp_connect_secure(2, 80, Some((1, 2)), &[b'n'; 200]).len(),
            208
        );
        assert_eq!(set_peer_target_name(1, 9, 0, b"x").len(), 176);
        assert_eq!(recv(1, 0, 1).len(), 24);
        assert_eq!(&hex(&header(6, 8)), "0600000008000000");
    }
}
