//! Cached security descriptors as both providers keep them (`WSK_CACHE_SD`, `WSK_RELEASE_SD`,
//! `SO_WSK_SECURITY`, `WskSocket`'s descriptor), and the client control codes
//! (`WskControlClient`) that manage them.
//!
//! A cached copy is a self-relative copy made by the provider, reference counted in an
//! [`SdCache`]: caching creates it with one reference, applying it to a socket adds one,
//! reading `SO_WSK_SECURITY` hands out one more (the client releases it with
//! `WSK_RELEASE_SD`), closing the socket drops the socket's. The pointer the client sees is
//! the copy's address. How the copy is made is the provider's: the Wine provider asks Windows'
//! security API (absolute or self-relative input), the host fake copies a self-relative
//! descriptor by its layout ([`self_relative_len`]).
//!
//! Statuses: a NULL or short pointer buffer, a descriptor that is not valid, or a pointer
//! that is not a live cached copy: `STATUS_INVALID_PARAMETER`; `SO_WSK_SECURITY` without an
//! IRP: [`crate::options::SECURITY_WITHOUT_IRP`]; set after bind:
//! `STATUS_INVALID_DEVICE_STATE` ([`SET_AFTER_BIND`]); a read into fewer bytes than a pointer:
//! [`crate::options::SHORT_OUTPUT`]; a client control code neither provider implements:
//! `STATUS_NOT_SUPPORTED`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, PoisonError};

use wsk_bindings::{self as sys, NtStatus};

use crate::dispatch::ControlClient;
use crate::options::{SECURITY_WITHOUT_IRP, SHORT_OUTPUT};

/// The status of `SO_WSK_SECURITY` set on a socket already bound (the SO_WSK_SECURITY page:
/// "before the socket is bound").
pub const SET_AFTER_BIND: NtStatus = NtStatus::INVALID_DEVICE_STATE;

/// Size of the `PSECURITY_DESCRIPTOR` variables the control requests exchange.
const POINTER: usize = size_of::<*mut c_void>();

/// Address of a cached copy -> (the copy, 8-aligned; its reference count).
type Copies = HashMap<usize, (Box<[u64]>, usize)>;

/// A provider's live cached copies.
#[derive(Debug)]
pub struct SdCache {
    copies: Mutex<Option<Copies>>,
}

impl SdCache {
    /// An empty cache (for a `static`).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            copies: Mutex::new(None),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Copies) -> R) -> R {
        let mut guard = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.get_or_insert_with(HashMap::new))
    }

    /// Keeps `copy` (a self-relative descriptor the provider made, 8-aligned) as a new cached
    /// copy with one reference, which the result holds.
    pub fn insert(&'static self, copy: Box<[u64]>) -> CachedSd {
        let key = copy.as_ptr() as usize;
        self.with(|c| c.insert(key, (copy, 1)));
        // INVARIANT: `key` was just inserted with this one reference.
        CachedSd { cache: self, key }
    }

    /// A new reference to the cached copy the client passes back (`SO_WSK_SECURITY`,
    /// `WskSocket`'s descriptor); `None` if `sd` is not a live copy of this cache.
    #[must_use]
    pub fn find(&'static self, sd: *const c_void) -> Option<CachedSd> {
        let key = sd as usize;
        self.with(|c| {
            let entry = c.get_mut(&key)?;
            entry.1 += 1;
            // INVARIANT: the count now includes this reference.
            Some(CachedSd { cache: self, key })
        })
    }

    /// `WSK_RELEASE_SD` of a pointer the client holds.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` if it is not a live cached copy of this cache.
    pub fn release_client(&self, sd: *const c_void) -> Result<(), NtStatus> {
        if self.release_key(sd as usize) {
            Ok(())
        } else {
            Err(NtStatus::INVALID_PARAMETER)
        }
    }

    /// Live cached copies (for leak checks).
    #[must_use]
    pub fn live(&self) -> usize {
        self.with(|c| c.len())
    }

    /// Forgets every copy (a test double's reset between tests; pointers clients still hold
    /// become unknown).
    pub fn clear(&self) {
        self.with(HashMap::clear);
    }

    fn release_key(&self, key: usize) -> bool {
        self.with(|c| match c.get_mut(&key) {
            Some(entry) if entry.1 > 1 => {
                entry.1 -= 1;
                true
            }
            Some(_) => {
                c.remove(&key);
                true
            }
            None => false,
        })
    }
}

impl Default for SdCache {
    fn default() -> Self {
        Self::new()
    }
}

/// One reference to a cached security descriptor; dropping it releases the reference.
///
/// # Invariants
/// `key` is a key of `cache` whose count includes this reference.
#[derive(Debug)]
pub struct CachedSd {
    cache: &'static SdCache,
    key: usize,
}

impl CachedSd {
    /// Another reference to the same copy.
    #[must_use]
    pub fn add_ref(&self) -> Self {
        self.cache.with(|c| {
            if let Some(entry) = c.get_mut(&self.key) {
                entry.1 += 1;
            }
        });
        // INVARIANT: the count now includes the new reference.
        Self {
            cache: self.cache,
            key: self.key,
        }
    }

    /// The address the client sees.
    #[must_use]
    pub fn as_ptr(&self) -> *mut c_void {
        self.key as *mut c_void
    }

    /// Gives the client this reference (it releases it with `WSK_RELEASE_SD`).
    #[must_use]
    pub fn into_client(self) -> *mut c_void {
        let p = self.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for CachedSd {
    fn drop(&mut self) {
        self.cache.release_key(self.key);
    }
}

/// Reads the `PSECURITY_DESCRIPTOR` a WSK buffer holds; `None` for NULL or fewer bytes than a
/// pointer.
///
/// # Safety
/// `p` is null or readable for `size` bytes.
#[must_use]
pub unsafe fn read_sd_pointer(p: *const c_void, size: usize) -> Option<*mut c_void> {
    if p.is_null() || size < POINTER {
        return None;
    }
    // SAFETY: caller's contract; at least a pointer's worth of bytes.
    Some(unsafe { p.cast::<*mut c_void>().read_unaligned() })
}

/// The length of the self-relative security descriptor at `sd`: its 20-byte header, then the
/// owner and group SIDs and the SACL and DACL at the offsets it gives, each inside the
/// descriptor. `None` if `sd` is NULL, not revision 1, not self-relative
/// (`SE_SELF_RELATIVE`), or a part's size is not a valid SID or ACL size.
///
/// # Safety
/// `sd` is null or points to a readable self-relative descriptor (its header and the parts it
/// names).
#[must_use]
pub unsafe fn self_relative_len(sd: *const c_void) -> Option<usize> {
    const HEADER: usize = 20;
    if sd.is_null() {
        return None;
    }
    let base = sd.cast::<u8>();
    let mut header = [0u8; HEADER];
    // SAFETY: the header is readable (caller's contract).
    unsafe { std::ptr::copy_nonoverlapping(base, header.as_mut_ptr(), HEADER) };
    let [revision, _, control_low, control_high, ..] = header;
    let control = u16::from_le_bytes([control_low, control_high]);
    if revision != 1 || control & sys::SE_SELF_RELATIVE == 0 {
        return None;
    }
    let offset = |at: usize| -> usize {
        let bytes = header.get(at..at + 4).and_then(|b| b.try_into().ok());
        bytes.map_or(0, |b: [u8; 4]| u32::from_le_bytes(b) as usize)
    };
    let mut len = HEADER;
    // Owner and group: SIDs (8 bytes + 4 per sub-authority; the count is byte 1).
    for at in [4, 8] {
        let start = offset(at);
        if start == 0 {
            continue;
        }
        let mut sid = [0u8; 2];
        // SAFETY: the SID the header names is readable (caller's contract).
        unsafe { std::ptr::copy_nonoverlapping(base.wrapping_add(start), sid.as_mut_ptr(), 2) };
        let [sid_revision, count] = sid;
        if sid_revision != 1 || count > 15 {
            return None;
        }
        len = len.max(start + 8 + 4 * usize::from(count));
    }
    // SACL and DACL: ACLs whose size is the u16 at byte 2.
    for (at, flag) in [(12, sys::SE_SACL_PRESENT), (16, sys::SE_DACL_PRESENT)] {
        let start = offset(at);
        if start == 0 || control & flag == 0 {
            continue;
        }
        let mut size = [0u8; 2];
        let acl_size = base.wrapping_add(start + 2);
        // SAFETY: the ACL the header names is readable (caller's contract).
        unsafe { std::ptr::copy_nonoverlapping(acl_size, size.as_mut_ptr(), 2) };
        let size = usize::from(u16::from_le_bytes(size));
        if size < 8 {
            return None;
        }
        len = len.max(start + size);
    }
    Some(len)
}

/// A copy of the self-relative descriptor at `sd` by its layout ([`self_relative_len`]), for a
/// provider without an operating system's security API (the host fake), to cache.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` if `sd` is not a self-relative descriptor.
///
/// # Safety
/// As [`self_relative_len`].
pub unsafe fn copy_self_relative(sd: *mut c_void) -> Result<Box<[u64]>, NtStatus> {
    // SAFETY: caller's contract.
    let len = unsafe { self_relative_len(sd) }.ok_or(NtStatus::INVALID_PARAMETER)?;
    let mut copy = vec![0u64; len.div_ceil(8)].into_boxed_slice();
    // SAFETY: `len` bytes are readable (caller's contract) and `copy` has room for them.
    unsafe { std::ptr::copy_nonoverlapping(sd.cast::<u8>(), copy.as_mut_ptr().cast::<u8>(), len) };
    Ok(copy)
}

/// What a `WskControlClient` code asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientControl {
    /// `WSK_CACHE_SD`.
    CacheSd,
    /// `WSK_RELEASE_SD`.
    ReleaseSd,
    /// `WSK_SET_STATIC_EVENT_CALLBACKS`.
    SetStaticEventCallbacks,
    /// Transport lists, TDI mappings, ...: not provided (`STATUS_NOT_SUPPORTED`).
    Unsupported,
}

impl ClientControl {
    /// The request `code` names.
    #[must_use]
    pub fn of(code: u32) -> Self {
        match code {
            sys::WSK_CACHE_SD => Self::CacheSd,
            sys::WSK_RELEASE_SD => Self::ReleaseSd,
            sys::WSK_SET_STATIC_EVENT_CALLBACKS => Self::SetStaticEventCallbacks,
            _ => Self::Unsupported,
        }
    }
}

/// `WSK_CACHE_SD`: reads the client's descriptor pointer, has `copy` make the provider's
/// self-relative copy of it, caches it in `cache` and writes the copy's address to the output.
/// Returns the status and the bytes written.
///
/// # Safety
/// `call`'s input and output buffers are valid for their sizes (the WSK contract).
pub unsafe fn cache_sd(
    call: &ControlClient,
    cache: &'static SdCache,
    copy: impl FnOnce(*mut c_void) -> Result<Box<[u64]>, NtStatus>,
) -> (NtStatus, usize) {
    // SAFETY: the input buffer is readable for its size (caller's contract).
    let Some(sd) = (unsafe { read_sd_pointer(call.input, call.input_len()) }) else {
        return (NtStatus::INVALID_PARAMETER, 0);
    };
    if call.output.is_null() || call.output_len() < POINTER {
        return (NtStatus::INVALID_PARAMETER, 0);
    }
    match copy(sd) {
        Ok(bytes) => {
            let cached = cache.insert(bytes).into_client();
            // SAFETY: room for a pointer (checked above; caller's contract).
            unsafe { call.output.cast::<*mut c_void>().write_unaligned(cached) };
            (NtStatus::SUCCESS, POINTER)
        }
        Err(status) => (status, 0),
    }
}

/// `WSK_RELEASE_SD`: releases the client's reference to a cached copy. Returns the status.
///
/// # Safety
/// `call`'s input buffer is valid for its size (the WSK contract).
pub unsafe fn release_sd(call: &ControlClient, cache: &SdCache) -> NtStatus {
    // SAFETY: the input buffer is readable for its size (caller's contract).
    match unsafe { read_sd_pointer(call.input, call.input_len()) } {
        Some(sd) => cache.release_client(sd).err().unwrap_or(NtStatus::SUCCESS),
        None => NtStatus::INVALID_PARAMETER,
    }
}

/// `SO_WSK_SECURITY` set: the cached copy the input names, with a reference for the socket.
///
/// # Errors
/// The module's statuses (no IRP, no pointer, not a live cached copy).
///
/// # Safety
/// `input` is null or readable for `input_size` bytes.
pub unsafe fn option_to_set(
    cache: &'static SdCache,
    input: *const c_void,
    input_size: usize,
    has_irp: bool,
) -> Result<CachedSd, NtStatus> {
    if !has_irp {
        return Err(SECURITY_WITHOUT_IRP);
    }
    // SAFETY: caller's contract.
    let sd = unsafe { read_sd_pointer(input, input_size) }.ok_or(NtStatus::INVALID_PARAMETER)?;
    cache.find(sd).ok_or(NtStatus::INVALID_PARAMETER)
}

/// `SO_WSK_SECURITY` get: writes a reference to `current` for the client (NULL for none: the
/// socket uses the default descriptor). Returns the status and the bytes written.
///
/// # Safety
/// `output` is null or writable for `output_size` bytes.
pub unsafe fn write_option(
    current: Option<CachedSd>,
    output: *mut c_void,
    output_size: usize,
    has_irp: bool,
) -> (NtStatus, usize) {
    if !has_irp {
        return (SECURITY_WITHOUT_IRP, 0);
    }
    if output.is_null() || output_size < POINTER {
        return (SHORT_OUTPUT, 0);
    }
    let sd = current.map_or(std::ptr::null_mut(), CachedSd::into_client);
    // SAFETY: room for a pointer (checked above; caller's contract).
    unsafe { output.cast::<*mut c_void>().write_unaligned(sd) };
    (NtStatus::SUCCESS, POINTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-relative descriptor: owner S-1-5-18 at 20, an empty DACL at 32; 40 bytes.
    fn descriptor() -> Box<[u64]> {
        let mut bytes = [0u8; 40];
        bytes[0] = 1;
        let control = sys::SE_SELF_RELATIVE | sys::SE_DACL_PRESENT;
        bytes[2..4].copy_from_slice(&control.to_le_bytes());
        bytes[4..8].copy_from_slice(&20u32.to_le_bytes());
        bytes[16..20].copy_from_slice(&32u32.to_le_bytes());
        bytes[20..32].copy_from_slice(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        bytes[32..40].copy_from_slice(&[2, 0, 8, 0, 0, 0, 0, 0]);
        let mut words = vec![0u64; 5].into_boxed_slice();
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_ne_bytes(chunk.try_into().unwrap());
        }
        words
    }

    fn client_call(code: u32, input: &mut *mut c_void, output: &mut *mut c_void) -> ControlClient {
        ControlClient {
            client: std::ptr::null_mut(),
            code,
            input_size: POINTER as sys::SIZE_T,
            input: std::ptr::from_mut(input).cast(),
            output_size: POINTER as sys::SIZE_T,
            output: std::ptr::from_mut(output).cast(),
            returned: std::ptr::null_mut(),
            irp: std::ptr::null_mut(),
        }
    }

    #[test]
    fn the_layout_gives_the_length_and_refuses_what_is_not_self_relative() {
        let sd = descriptor();
        // SAFETY: a readable self-relative descriptor.
        assert_eq!(unsafe { self_relative_len(sd.as_ptr().cast()) }, Some(40));
        let mut absolute = sd.clone();
        absolute[0] &= !(u64::from(sys::SE_SELF_RELATIVE) << 16);
        // SAFETY: readable (the header is all that is read).
        assert_eq!(unsafe { self_relative_len(absolute.as_ptr().cast()) }, None);
        // SAFETY: null is allowed.
        assert_eq!(unsafe { self_relative_len(std::ptr::null()) }, None);
        // SAFETY: as above.
        let copy = unsafe { copy_self_relative(sd.as_ptr().cast_mut().cast()) };
        assert_eq!(copy.as_deref(), Ok(&sd[..]));
        // SAFETY: as above.
        let refused = unsafe { copy_self_relative(absolute.as_ptr().cast_mut().cast()) };
        assert_eq!(refused, Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn copies_are_counted_from_cache_to_the_last_release() {
        static CACHE: SdCache = SdCache::new();
        let cached = CACHE.insert(descriptor());
        let client = cached.as_ptr();
        let socket = CACHE.find(client).expect("a live copy");
        let read_back = socket.add_ref().into_client();
        assert_eq!(read_back, client);
        drop(cached);
        drop(socket);
        assert_eq!(
            CACHE.live(),
            1,
            "the client still holds the read-back reference"
        );
        assert_eq!(CACHE.release_client(read_back), Ok(()));
        assert_eq!(CACHE.live(), 0);
        assert_eq!(
            CACHE.release_client(read_back),
            Err(NtStatus::INVALID_PARAMETER),
            "a second release"
        );
        assert!(CACHE.find(client).is_none());
    }

    #[test]
    fn client_controls_cache_and_release_with_their_statuses() {
        static CACHE: SdCache = SdCache::new();
        let original = descriptor();
        let mut input: *mut c_void = original.as_ptr().cast_mut().cast();
        let mut output: *mut c_void = std::ptr::null_mut();
        let call = client_call(sys::WSK_CACHE_SD, &mut input, &mut output);
        assert_eq!(ClientControl::of(call.code), ClientControl::CacheSd);
        // SAFETY: the buffers are the locals above.
        let done = unsafe { cache_sd(&call, &CACHE, |_| Ok(descriptor())) };
        assert_eq!(done, (NtStatus::SUCCESS, POINTER));
        assert!(!output.is_null());
        assert_ne!(output, input, "a copy, not the client's descriptor");
        // SAFETY: as above.
        let refused = unsafe { cache_sd(&call, &CACHE, |_| Err(NtStatus::INVALID_PARAMETER)) };
        assert_eq!(refused, (NtStatus::INVALID_PARAMETER, 0));
        let mut copy = output;
        let mut none: *mut c_void = std::ptr::null_mut();
        let release = client_call(sys::WSK_RELEASE_SD, &mut copy, &mut none);
        // SAFETY: as above.
        assert_eq!(unsafe { release_sd(&release, &CACHE) }, NtStatus::SUCCESS);
        // SAFETY: as above.
        let again = unsafe { release_sd(&release, &CACHE) };
        assert_eq!(again, NtStatus::INVALID_PARAMETER, "a second release");
        assert_eq!(CACHE.live(), 0);
        assert_eq!(ClientControl::of(0x7777), ClientControl::Unsupported);
    }

    #[test]
    fn the_socket_option_needs_an_irp_a_live_copy_and_room_for_a_pointer() {
        static CACHE: SdCache = SdCache::new();
        let cached = CACHE.insert(descriptor());
        let pointer = cached.as_ptr();
        let input = std::ptr::from_ref(&pointer).cast::<c_void>();
        // SAFETY: `input` is a readable pointer variable.
        let refused = unsafe { option_to_set(&CACHE, input, POINTER, false) };
        assert_eq!(refused.err(), Some(SECURITY_WITHOUT_IRP));
        // SAFETY: as above.
        let set = unsafe { option_to_set(&CACHE, input, POINTER, true) }.expect("a live copy");
        let mut out: *mut c_void = std::ptr::null_mut();
        let output = std::ptr::from_mut(&mut out).cast::<c_void>();
        // SAFETY: `output` is a writable pointer variable.
        let short = unsafe { write_option(Some(set.add_ref()), output, POINTER - 1, true) };
        assert_eq!(short, (SHORT_OUTPUT, 0));
        // SAFETY: as above.
        let read = unsafe { write_option(Some(set.add_ref()), output, POINTER, true) };
        assert_eq!((read, out), ((NtStatus::SUCCESS, POINTER), pointer));
        // SAFETY: as above.
        let default = unsafe { write_option(None, output, POINTER, true) };
        assert_eq!(
            (default, out.is_null()),
            ((NtStatus::SUCCESS, POINTER), true)
        );
        assert_eq!(
            CACHE.release_client(pointer),
            Ok(()),
            "the read's reference"
        );
        drop((set, cached));
        assert_eq!(CACHE.live(), 0);
        let stale = std::ptr::from_ref(&pointer).cast::<c_void>();
        // SAFETY: as above.
        let gone = unsafe { option_to_set(&CACHE, stale, POINTER, true) };
        assert_eq!(gone.err(), Some(NtStatus::INVALID_PARAMETER));
    }
}
