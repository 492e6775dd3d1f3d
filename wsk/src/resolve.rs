//! Name resolution: `WskGetAddressInfo` as an owning list ([`AddressInfo`]) freed with
//! `WskFreeAddressInfo`, and the reverse, [`name_of`] over `WskGetNameInfo`.

use core::mem::{align_of, size_of};
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicBool;
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// Longest host name accepted (DNS names are at most 253 characters).
pub const MAX_NAME: usize = 255;
/// Longest service name or port number accepted.
pub const MAX_SERVICE: usize = 31;

/// The names and the result pointer of one `WskGetAddressInfo` request, laid out in the
/// request's pool buffer so that a provider that completes late never writes freed memory.
#[repr(C)]
struct Names {
    node: sys::UNICODE_STRING,
    service: sys::UNICODE_STRING,
    result: *mut sys::ADDRINFOEXW,
    // NUL-terminated as well as counted: Wine's provider passes `Buffer` on as a C string.
    node_buf: [u16; MAX_NAME + 1],
    service_buf: [u16; MAX_SERVICE + 1],
}

/// Pool buffers are 16-byte aligned, which is enough for `Names`.
const _: () = assert!(align_of::<Names>() <= 16);

/// UTF-16 of `text` into `out`, NUL-terminated; the code units written (without the NUL).
fn utf16_into(text: &str, out: &mut [u16]) -> Option<usize> {
    let mut n = 0usize;
    for unit in text.encode_utf16() {
        if unit == 0 {
            return None;
        }
        *out.get_mut(n)? = unit;
        n = n.checked_add(1)?;
    }
    *out.get_mut(n)? = 0;
    Some(n)
}

fn counted(buffer: &mut [u16], units: usize) -> Option<sys::UNICODE_STRING> {
    let bytes = u16::try_from(units.checked_mul(2)?).ok()?;
    let max = u16::try_from(buffer.len().checked_mul(2)?).ok()?;
    Some(sys::UNICODE_STRING {
        Length: bytes,
        MaximumLength: max,
        Buffer: buffer.as_mut_ptr(),
    })
}

/// The addresses a name resolved to. Frees the provider's list on drop.
///
/// # Invariants
/// `head` is a list returned by `WskGetAddressInfo` of `client`'s provider, not yet freed.
pub struct AddressInfo {
    client: WskClient,
    head: NonNull<sys::ADDRINFOEXW>,
}

// SAFETY: the list is immutable provider memory, freed once by the owner.
unsafe impl Send for AddressInfo {}
// SAFETY: shared access only reads.
unsafe impl Sync for AddressInfo {}

impl AddressInfo {
    /// Resolves `name` (and `service`: a port number or service name) with
    /// `WskGetAddressInfo`, all namespaces, no hints. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a name longer than [`MAX_NAME`] (service: [`MAX_SERVICE`])
    /// or containing NUL; `STATUS_NOT_FOUND` when nothing resolved; `STATUS_IO_TIMEOUT`; or
    /// the provider's status.
    pub fn resolve(
        client: &WskClient,
        name: &str,
        service: Option<&str>,
        timeout: Duration,
    ) -> Result<Self> {
        Self::lookup(client, name, service, timeout, None)
    }

    /// [`AddressInfo::resolve`] that also ends once `cancel` is set (looked at every 50 ms),
    /// with `STATUS_CANCELLED`: the request is cancelled (`IoCancelIrp`), and abandoned to
    /// the provider after a 1 s grace if the provider does not complete it (Wine's netio
    /// cannot cancel a resolution). For a resolution run on a worker thread for a request
    /// that its own caller can cancel. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// As [`AddressInfo::resolve`], and `STATUS_CANCELLED`.
    pub fn resolve_cancellable(
        client: &WskClient,
        name: &str,
        service: Option<&str>,
        timeout: Duration,
        cancel: &AtomicBool,
    ) -> Result<Self> {
        Self::lookup(client, name, service, timeout, Some(cancel))
    }

    fn lookup(
        client: &WskClient,
        name: &str,
        service: Option<&str>,
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<Self> {
        let invalid = Error::new(NtStatus::INVALID_PARAMETER);
        let (npi_client, dispatch) = client.provider();
        let Some(get_fn) = dispatch.WskGetAddressInfo else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let prepared = core::cell::Cell::new(false);
        let mut blocking = Blocking::new();
        let mut request = blocking.request(timeout);
        if let Some(cancel) = cancel {
            request = request.cancelled_by(cancel);
        }
        let (_, memory) = request
            .buffer(size_of::<Names>())
            .fill(|m| {
                let Some(names) = m
                    .buffer
                    .as_ref()
                    .and_then(crate::PoolBuffer::typed_ptr::<Names>)
                else {
                    return;
                };
                // SAFETY: `typed_ptr` checked size and alignment; the buffer is zeroed or holds
                // a previous `Names`, and every bit pattern is valid for `Names` (integers and
                // raw pointers); nothing else uses the buffer between requests.
                let names = unsafe { &mut *names };
                let (Some(node_len), Some(service_len)) = (
                    utf16_into(name, &mut names.node_buf),
                    utf16_into(service.unwrap_or(""), &mut names.service_buf),
                ) else {
                    return;
                };
                let (Some(node), Some(svc)) = (
                    counted(&mut names.node_buf, node_len),
                    counted(&mut names.service_buf, service_len),
                ) else {
                    return;
                };
                names.node = node;
                names.service = svc;
                names.result = ptr::null_mut();
                prepared.set(true);
            })
            .start(|irp, m| {
                if !prepared.get() {
                    return NtStatus::INVALID_PARAMETER.0;
                }
                let Some(names) = m
                    .buffer
                    .as_ref()
                    .and_then(crate::PoolBuffer::typed_ptr::<Names>)
                else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: `fill` initialized the `Names` in the request's pool buffer above.
                let names = unsafe { &mut *names };
                let service_name = if service.is_some() {
                    &raw mut names.service
                } else {
                    ptr::null_mut()
                };
                // SAFETY: every pointer points into the request's pool buffer, which lives until
                // the request completes (or forever, if abandoned).
                unsafe {
                    get_fn(
                        npi_client,
                        &raw mut names.node,
                        service_name,
                        0,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        &raw mut names.result,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        irp,
                    )
                }
            })?;
        if !prepared.get() {
            return Err(invalid);
        }
        let names = memory
            .buffer
            .as_ref()
            .and_then(crate::PoolBuffer::typed_ptr::<Names>);
        // SAFETY: the request completed successfully, so the provider wrote `result`.
        let result = names.map(|n| unsafe { (*n).result }).and_then(NonNull::new);
        let head = result.ok_or(Error::new(NtStatus::NOT_FOUND))?;
        // INVARIANT: a list the provider just returned.
        Ok(Self {
            client: client.clone(),
            head,
        })
    }

    /// The socket addresses in the list, in the provider's order (entries of other families
    /// are skipped).
    pub fn iter(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let mut next = self.head.as_ptr().cast_const();
        core::iter::from_fn(move || loop {
            // SAFETY: `next` is an entry of the provider's list (type invariant), or null at its end.
            let entry = unsafe { next.as_ref() }?;
            next = entry.ai_next;
            if let Some(addr) = entry_address(entry) {
                return Some(addr);
            }
        })
    }
}

fn entry_address(entry: &sys::ADDRINFOEXW) -> Option<SocketAddr> {
    let len = usize::try_from(entry.ai_addrlen)
        .ok()?
        .min(size_of::<SockAddr>());
    let src = NonNull::new(entry.ai_addr)?;
    let mut storage = SockAddr::empty();
    // SAFETY: `ai_addr` points to `ai_addrlen` readable bytes (the provider's list); at most
    // size_of::<SockAddr>() are copied into our storage.
    unsafe {
        ptr::copy_nonoverlapping(
            src.as_ptr().cast::<u8>(),
            ptr::from_mut(&mut storage).cast::<u8>(),
            len,
        );
    }
    storage.to_socket_addr()
}

impl Drop for AddressInfo {
    fn drop(&mut self) {
        let (npi_client, dispatch) = self.client.provider();
        if let Some(free_fn) = dispatch.WskFreeAddressInfo {
            // SAFETY: the list came from this provider and is freed once, here.
            unsafe { free_fn(npi_client, self.head.as_ptr()) };
        }
    }
}

/// Host name capacity of [`HostName`] in UTF-8 bytes: [`MAX_NAME`] UTF-16 units, each at
/// most 3 UTF-8 bytes.
pub const HOST_NAME_CAPACITY: usize = 3 * MAX_NAME;
/// Service name capacity of [`ServiceName`] in UTF-8 bytes.
pub const SERVICE_NAME_CAPACITY: usize = 3 * MAX_SERVICE;

/// A name of at most `CAP` UTF-8 bytes, stored inline (no allocation), as [`name_of`]
/// returns it.
///
/// # Invariants
/// `buf[..len]` is valid UTF-8 and `len <= CAP`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedName<const CAP: usize> {
    buf: [u8; CAP],
    len: usize,
}

/// A host (node) name from [`name_of`].
pub type HostName = FixedName<HOST_NAME_CAPACITY>;
/// A service name (or port number) from [`name_of`].
pub type ServiceName = FixedName<SERVICE_NAME_CAPACITY>;

impl<const CAP: usize> FixedName<CAP> {
    /// The empty name. IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        // INVARIANT: the empty string is UTF-8.
        Self {
            buf: [0; CAP],
            len: 0,
        }
    }

    /// The name from UTF-16 code units (unpaired surrogates become U+FFFD); `None` if the
    /// UTF-8 form does not fit in `CAP` bytes. IRQL: any.
    #[must_use]
    pub fn from_utf16(units: &[u16]) -> Option<Self> {
        let mut this = Self::new();
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            let end = this.len.checked_add(c.len_utf8())?;
            let dst = this.buf.get_mut(this.len..end)?;
            c.encode_utf8(dst);
            // INVARIANT: a whole character was appended, within CAP.
            this.len = end;
        }
        Some(this)
    }

    /// The name as text. IRQL: any.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // By the invariant the bytes are UTF-8 and in range; the fallback is never taken.
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl<const CAP: usize> Default for FixedName<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> core::ops::Deref for FixedName<CAP> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const CAP: usize> core::fmt::Debug for FixedName<CAP> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const CAP: usize> core::fmt::Display for FixedName<CAP> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The address and output strings of one `WskGetNameInfo` request, in the request's pool
/// buffer so that a provider that completes late never writes freed memory.
#[repr(C)]
struct NameRequest {
    addr: SockAddr,
    node: sys::UNICODE_STRING,
    service: sys::UNICODE_STRING,
    // Zeroed before each request, so the text is NUL-terminated whatever the provider writes
    // short of the last unit (Wine's provider treats `Buffer` as a C string).
    node_buf: [u16; MAX_NAME + 1],
    service_buf: [u16; MAX_SERVICE + 1],
}

const _: () = assert!(align_of::<NameRequest>() <= 16);

/// The text of a provider-filled UNICODE_STRING: `Length` bytes, cut at a NUL, within `buf`.
fn filled<'a>(s: &sys::UNICODE_STRING, buf: &'a [u16]) -> &'a [u16] {
    let units = usize::from(s.Length / 2).min(buf.len());
    let text = buf.get(..units).unwrap_or(&[]);
    let end = text.iter().position(|&u| u == 0).unwrap_or(text.len());
    text.get(..end).unwrap_or(&[])
}

/// The host and service names of `addr` (reverse lookup) with `WskGetNameInfo`, no flags:
/// the host as a fully qualified domain name, the service by name where the port has one.
/// IRQL: PASSIVE_LEVEL.
///
/// The provider writes into fixed buffers of [`MAX_NAME`] (host) and [`MAX_SERVICE`]
/// (service) UTF-16 units plus the terminating NUL, held in the request's pool memory.
///
/// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_get_name_info>.
///
/// # Errors
/// `STATUS_NOT_IMPLEMENTED` when the provider lacks `WskGetNameInfo`; `STATUS_IO_TIMEOUT`
/// after `timeout`; the provider's status (e.g. `STATUS_BUFFER_TOO_SMALL` for a name longer
/// than the buffers, or a lookup failure); `STATUS_INSUFFICIENT_RESOURCES` without pool
/// memory.
pub fn name_of(
    client: &WskClient,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(HostName, ServiceName)> {
    let (npi_client, dispatch) = client.provider();
    let Some(get_fn) = dispatch.WskGetNameInfo else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let addr_len = match addr {
        SocketAddr::V4(_) => size_of::<sys::SOCKADDR_IN>(),
        SocketAddr::V6(_) => size_of::<sys::SOCKADDR_IN6>(),
    };
    let addr_len = u32::try_from(addr_len).map_err(|_| Error::new(NtStatus::INVALID_PARAMETER))?;
    let mut blocking = Blocking::new();
    let (_, memory) = blocking
        .request(timeout)
        .buffer(size_of::<NameRequest>())
        .start(|irp, m| {
            let Some(request) = m
                .buffer
                .as_ref()
                .and_then(crate::PoolBuffer::typed_ptr::<NameRequest>)
            else {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            };
            // SAFETY: `typed_ptr` checked size and alignment; every bit pattern is valid for
            // `NameRequest` (integers, raw pointers, a union of integer structs); nothing else
            // uses the buffer while no request is pending.
            let request = unsafe { &mut *request };
            request.addr = SockAddr::from(addr);
            request.node_buf = [0; MAX_NAME + 1];
            request.service_buf = [0; MAX_SERVICE + 1];
            let (Some(node), Some(service)) = (
                counted(&mut request.node_buf, 0),
                counted(&mut request.service_buf, 0),
            ) else {
                return NtStatus::INVALID_PARAMETER.0;
            };
            request.node = node;
            request.service = service;
            // SAFETY: every pointer points into the request's pool buffer, which lives until
            // the request completes (or forever, if abandoned); the address is `addr_len` bytes.
            unsafe {
                get_fn(
                    npi_client,
                    request.addr.as_mut_ptr(),
                    addr_len,
                    &raw mut request.node,
                    &raw mut request.service,
                    0,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    irp,
                )
            }
        })?;
    let request = memory
        .buffer
        .as_ref()
        .and_then(crate::PoolBuffer::typed_ptr::<NameRequest>);
    let request = request.ok_or(Error::new(NtStatus::INSUFFICIENT_RESOURCES))?;
    // SAFETY: the request completed successfully; the provider is done with the buffer, which
    // holds the `NameRequest` written above.
    let request = unsafe { &*request };
    let too_long = Error::new(NtStatus::BUFFER_OVERFLOW);
    let host = HostName::from_utf16(filled(&request.node, &request.node_buf)).ok_or(too_long)?;
    let service =
        ServiceName::from_utf16(filled(&request.service, &request.service_buf)).ok_or(too_long)?;
    Ok((host, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_nul_terminated_and_counted() {
        let mut buf = [0xFFFFu16; 8];
        assert_eq!(utf16_into("host", &mut buf), Some(4));
        assert_eq!(&buf[..5], &[104, 111, 115, 116, 0]);
        let s = counted(&mut buf, 4).unwrap();
        assert_eq!((s.Length, s.MaximumLength), (8, 16));
    }

    #[test]
    fn fixed_names_convert_and_refuse_overflow() {
        let mut units = [0u16; 5];
        for (dst, unit) in units.iter_mut().zip("héllo".encode_utf16()) {
            *dst = unit;
        }
        let name = FixedName::<8>::from_utf16(&units).unwrap();
        assert_eq!(name.as_str(), "héllo");
        assert_eq!(FixedName::<5>::from_utf16(&units), None);
        assert_eq!(
            FixedName::<4>::from_utf16(&[0xD800]).unwrap().as_str(),
            "\u{FFFD}"
        );
    }

    #[test]
    fn filled_text_stops_at_length_and_nul() {
        let mut buf = [104u16, 105, 0, 120, 0];
        let s = counted(&mut buf, 4).unwrap();
        assert_eq!(filled(&s, &buf), &[104, 105]);
        let s = counted(&mut buf, 1).unwrap();
        assert_eq!(filled(&s, &buf), &[104]);
    }

    #[test]
    fn rejects_names_that_do_not_fit_or_contain_nul() {
        let mut buf = [0u16; 4];
        assert_eq!(utf16_into("four", &mut buf), None);
        assert_eq!(utf16_into("abc", &mut buf), Some(3));
        assert_eq!(utf16_into("a\0b", &mut buf), None);
    }
}
