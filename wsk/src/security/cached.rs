//! Security descriptors cached by WSK ([`CachedSecurityDescriptor`]) and `SO_WSK_SECURITY`.
//!
//! - `WSK_CACHE_SD` (<https://learn.microsoft.com/windows-hardware/drivers/network/wsk-cache-sd>):
//!   `WskControlClient` with `InputBuffer` pointing to a `PSECURITY_DESCRIPTOR` variable that
//!   holds the descriptor to cache, `OutputBuffer` pointing to a `PSECURITY_DESCRIPTOR`
//!   variable that receives the cached copy (both `sizeof(PSECURITY_DESCRIPTOR)`),
//!   `OutputSizeReturned` and `Irp` NULL: the call is synchronous.
//! - `WSK_RELEASE_SD` (<https://learn.microsoft.com/windows-hardware/drivers/network/wsk-release-sd>):
//!   `InputBuffer` points to a variable holding the cached copy; no output; `Irp` NULL. It
//!   releases copies from `WSK_CACHE_SD` and from `SO_WSK_SECURITY` reads.
//! - `SO_WSK_SECURITY` (<https://learn.microsoft.com/windows-hardware/drivers/network/so-wsk-security>):
//!   `WskControlSocket(WskSetOption, SOL_SOCKET)` with `InputBuffer` pointing to a variable
//!   holding a cached copy, before the socket is bound, with an IRP; the copy must not be
//!   released before the IRP completes. `WskGetOption` with an IRP returns a cached copy the
//!   caller releases. Listen, datagram and connection sockets only.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use wsk_bindings as sys;

use super::SecurityDescriptor;
use crate::error::nt_result;
use crate::irp::Blocking;
use crate::socket::{present, RawSocket};
use crate::{Error, NtStatus, Result, WskClient};

/// Size of the `PSECURITY_DESCRIPTOR` variables the control requests exchange.
const SD_POINTER: usize = size_of::<sys::PSECURITY_DESCRIPTOR>();
const _: () = assert!(SD_POINTER == size_of::<usize>());

/// A security descriptor cached by WSK (`WSK_CACHE_SD`), released (`WSK_RELEASE_SD`) on drop.
///
/// Pass it to socket creation (`WskSocket`'s `SecurityDescriptor`) or apply it with
/// `SO_WSK_SECURITY` before bind; a socket's descriptor controls which callers may share its
/// local address (without one, WSK uses a default that allows no sharing).
///
/// Create and drop it at PASSIVE_LEVEL. Both calls are synchronous (`WskControlClient`
/// without an IRP), so neither waits.
///
/// # Examples
/// ```
/// # use wskrs_fake_kernel as fake; // on the host, a fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let device = fake::device(); // in a driver: its DEVICE_OBJECT
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the device object outlives the client and its sockets.
/// # let client = unsafe { wsk::WskClient::register(device, timeout) }?;
/// use wsk::security::CachedSecurityDescriptor;
/// let sd = CachedSecurityDescriptor::from_sddl(&client, "D:P(A;;GA;;;SY)(A;;GA;;;BA)")?;
/// // ... pass `sd` to socket creation; dropping it releases the cached copy.
/// # assert_eq!(fake::provider::cached_security_descriptors(), 1);
/// drop(sd);
/// # assert_eq!(fake::provider::cached_security_descriptors(), 0);
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
///
/// # Invariants
/// `sd` is a cached copy obtained from the provider of `client`, released at most once (in
/// drop, unless `pinned`). Holding `client` keeps the provider NPI captured until then.
pub struct CachedSecurityDescriptor {
    client: WskClient,
    sd: NonNull<c_void>,
    /// Set when a request that uses the copy may still be pending at the provider (its
    /// blocking call was abandoned): the copy is then never released (a bounded leak rather
    /// than a use after release).
    pinned: AtomicBool,
}

// SAFETY: a cached descriptor is a provider object usable from any thread; releasing it
// needs only the client, which is Send.
unsafe impl Send for CachedSecurityDescriptor {}
// SAFETY: shared access only reads the pointer or sets the atomic flag.
unsafe impl Sync for CachedSecurityDescriptor {}

/// `WskControlClient` on `client` with no IRP.
///
/// # Safety
/// `input` / `output` point to `input_len` / `output_len` bytes valid for the duration of
/// the call, as `code` requires.
unsafe fn control_client(
    client: &WskClient,
    code: u32,
    input: *mut c_void,
    input_len: usize,
    output: *mut c_void,
    output_len: usize,
) -> Result<()> {
    let (npi_client, dispatch) = client.provider();
    let Some(control) = dispatch.WskControlClient else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    // SAFETY: the NPI is captured while `client` lives; the buffers are valid (caller's
    // contract); with a NULL IRP the call completes before it returns.
    nt_result(unsafe {
        control(
            npi_client,
            code,
            input_len as u64,
            input,
            output_len as u64,
            output,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })
}

impl CachedSecurityDescriptor {
    /// Has WSK cache `sd` (`WskControlClient`, `WSK_CACHE_SD`); the bytes may be freed as
    /// soon as this returns. IRQL: PASSIVE_LEVEL.
    ///
    /// `sd` must be 4-aligned in memory ([`super::SecurityDescriptorBuf`] is).
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a misaligned descriptor; the provider's status
    /// (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio, which lacks `WskControlClient`).
    pub fn new(client: &WskClient, sd: SecurityDescriptor<'_>) -> Result<Self> {
        let bytes = sd.as_bytes();
        if bytes.as_ptr().align_offset(4) != 0 {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        let mut input: *mut c_void = bytes.as_ptr().cast_mut().cast();
        let mut output: *mut c_void = ptr::null_mut();
        // SAFETY: `input` holds a pointer to a validated self-relative descriptor, which the
        // provider only reads; `output` receives the cached copy; both live across the call.
        unsafe {
            control_client(
                client,
                sys::WSK_CACHE_SD,
                (&raw mut input).cast(),
                SD_POINTER,
                (&raw mut output).cast(),
                SD_POINTER,
            )?;
        }
        let sd = NonNull::new(output).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
        // INVARIANT: a cached copy from this client's provider, not yet released.
        Ok(Self {
            client: client.clone(),
            sd,
            pinned: AtomicBool::new(false),
        })
    }

    /// Parses `sddl` (see [`super::parse_sddl`]) into a 512-byte stack buffer and caches the
    /// result. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for SDDL [`super::parse_sddl`] rejects (call it first to
    /// learn the position and reason) or that needs more than 512 bytes; otherwise as
    /// [`Self::new`].
    pub fn from_sddl(client: &WskClient, sddl: &str) -> Result<Self> {
        let mut buf = super::SecurityDescriptorBuf::<512>::new();
        let sd = buf
            .from_sddl(sddl)
            .map_err(|_| Error::new(NtStatus::INVALID_PARAMETER))?;
        Self::new(client, sd)
    }

    /// The cached descriptor's bytes, validated (the cache holds self-relative descriptors).
    /// Its length comes from the header's offsets and the parts' own sizes. IRQL: any.
    ///
    /// # Errors
    /// `STATUS_INVALID_SECURITY_DESCR`-like failures are reported as
    /// `STATUS_INVALID_PARAMETER` when the bytes are not a valid self-relative descriptor.
    pub fn descriptor(&self) -> Result<SecurityDescriptor<'_>> {
        let invalid = Error::new(NtStatus::INVALID_PARAMETER);
        let base = self.sd.as_ptr().cast::<u8>().cast_const();
        // SAFETY: the cached copy is a self-relative descriptor, which starts with a
        // SECURITY_DESCRIPTOR_RELATIVE header, readable while `self` lives.
        let header = unsafe { core::slice::from_raw_parts(base, super::HEADER_LEN) };
        let offset = |at: usize| -> usize {
            let word = header
                .get(at..at.saturating_add(4))
                .and_then(|b| <[u8; 4]>::try_from(b).ok());
            word.map_or(0, |w| usize::try_from(u32::from_le_bytes(w)).unwrap_or(0))
        };
        let read = |at: usize, len: usize| -> Option<&[u8]> {
            // SAFETY: offsets inside a valid self-relative descriptor point at its parts,
            // which are readable; only the parts' fixed headers are read here.
            (at != 0).then(|| unsafe { core::slice::from_raw_parts(base.wrapping_add(at), len) })
        };
        let mut end = super::HEADER_LEN;
        for at in [offset(4), offset(8)] {
            // A SID: 8 bytes of header, then 4 bytes per sub-authority (count at byte 1).
            if let Some(sid) = read(at, 8) {
                let count = usize::from(*sid.get(1).ok_or(invalid)?);
                end = end.max(at.saturating_add(8).saturating_add(count.saturating_mul(4)));
            }
        }
        for at in [offset(12), offset(16)] {
            // An ACL: AclSize (u16) at byte 2 of its 8-byte header.
            if let Some(acl) = read(at, 8) {
                let size = acl
                    .get(2..4)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map_or(0, u16::from_le_bytes);
                end = end.max(at.saturating_add(usize::from(size)));
            }
        }
        if end > 0x1_0000 {
            return Err(invalid);
        }
        // SAFETY: `end` bytes are the extent of the descriptor computed from its own header.
        let bytes = unsafe { core::slice::from_raw_parts(base, end) };
        SecurityDescriptor::from_bytes(bytes).map_err(|_| invalid)
    }

    /// The cached descriptor, for `WskSocket` / `WskSocketConnect` (`SecurityDescriptor`).
    /// It stays valid while `self` lives. IRQL: any.
    #[must_use]
    pub fn as_ptr(&self) -> *mut sys::SECURITY_DESCRIPTOR {
        self.sd.as_ptr().cast()
    }

    /// Never release the copy: call when a request that was given [`Self::as_ptr`] timed out
    /// and may still be pending at the provider. IRQL: any.
    pub(crate) fn pin(&self) {
        self.pinned.store(true, Ordering::Release);
    }
}

impl Drop for CachedSecurityDescriptor {
    /// `WSK_RELEASE_SD`, synchronous (no IRP, no wait). IRQL: PASSIVE_LEVEL.
    fn drop(&mut self) {
        if *self.pinned.get_mut() {
            return;
        }
        let mut input: *mut c_void = self.sd.as_ptr();
        // SAFETY: `input` holds the cached copy (type invariant), released once, here; it
        // lives across the call.
        let _ = unsafe {
            control_client(
                &self.client,
                sys::WSK_RELEASE_SD,
                (&raw mut input).cast(),
                SD_POINTER,
                ptr::null_mut(),
                0,
            )
        };
    }
}

impl core::fmt::Debug for CachedSecurityDescriptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("CachedSecurityDescriptor")
            .field(&self.sd)
            .finish()
    }
}

/// Applies `sd` to a socket that is not bound yet (`SO_WSK_SECURITY`, `WskSetOption`),
/// waiting at most `timeout`. IRQL: PASSIVE_LEVEL.
///
/// The pointer variable the provider reads lives in the request's pool memory; `sd` outlives
/// the request, and if the request is abandoned after a timeout, `sd` is pinned (never
/// released) because the provider may still use it.
///
/// # Errors
/// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio), or
/// `STATUS_IO_TIMEOUT`.
// Called by socket creation and the socket types (wired in `socket/mod.rs`).
pub(crate) fn apply_security(
    raw: &RawSocket,
    blocking: &mut Blocking,
    sd: &CachedSecurityDescriptor,
    timeout: Duration,
) -> Result<()> {
    let value = (sd.sd.as_ptr() as usize).to_ne_bytes();
    let result = crate::socket::set_option(
        raw,
        blocking,
        sys::SOL_SOCKET,
        sys::SO_WSK_SECURITY,
        &value,
        timeout,
    );
    if result == Err(Error::TIMEOUT) {
        sd.pin();
    }
    result
}

/// Reads a socket's descriptor (`SO_WSK_SECURITY`, `WskGetOption`): a cached copy, released
/// when the returned value drops. `client` is the socket's client. IRQL: PASSIVE_LEVEL.
///
/// # Errors
/// The provider's status, `STATUS_IO_TIMEOUT`, or `STATUS_UNSUCCESSFUL` when the provider
/// returned no descriptor.
// Called by the socket types' `security()` getters (wired in `socket/mod.rs` / `options.rs`).
pub(crate) fn socket_security(
    client: &WskClient,
    raw: &RawSocket,
    blocking: &mut Blocking,
    timeout: Duration,
) -> Result<CachedSecurityDescriptor> {
    let control_fn = present(raw.basic_dispatch()?.WskControlSocket)?;
    let socket = raw.as_ptr();
    // The output variable is the first SD_POINTER bytes of the request's pool buffer, zeroed
    // first: the pointer is read whatever size the provider reports.
    let (_, memory) = blocking
        .request(timeout)
        .buffer(SD_POINTER)
        .fill(|m| {
            if let Some(out) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..SD_POINTER))
            {
                out.fill(0);
            }
        })
        .start(|irp, m| {
            let Some(out) = m.buffer.as_mut().filter(|b| b.len() >= SD_POINTER) else {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            };
            let out = out.as_mut_slice().as_mut_ptr().cast::<c_void>();
            // SAFETY: the socket is open; the output variable lies in the request's pool
            // buffer, alive until the request completes (or forever, if abandoned).
            unsafe {
                control_fn(
                    socket,
                    sys::WskGetOption,
                    sys::SO_WSK_SECURITY,
                    sys::SOL_SOCKET,
                    0,
                    ptr::null_mut(),
                    SD_POINTER as u64,
                    out,
                    ptr::null_mut(),
                    irp,
                )
            }
        })?;
    let mut value = [0u8; SD_POINTER];
    if let Some(src) = memory
        .buffer
        .as_ref()
        .and_then(|b| b.as_slice().get(..SD_POINTER))
    {
        value.copy_from_slice(src);
    }
    let sd = NonNull::new(usize::from_ne_bytes(value) as *mut c_void)
        .ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
    // INVARIANT: SO_WSK_SECURITY returned a cached copy that the caller must release.
    Ok(CachedSecurityDescriptor {
        client: client.clone(),
        sd,
        pinned: AtomicBool::new(false),
    })
}
