//! Sharing of local transport addresses between this provider's sockets, as Windows documents
//! it: one process-wide registry of the addresses bound decides every bind of every category
//! (`WskBind`, the bind inside `WskSocketConnect`) before Winsock sees it, by the WSK table
//! (`wskrs_provider_model::sharing`), and forgets a socket's address when its Winsock socket
//! closes.
//!
//! - A socket's sharing mode is the client's `SO_REUSEADDR` / `SO_EXCLUSIVEADDRUSE`, kept by
//!   the socket (`wskrs_provider_model::sharing::SharingOptions`) and never passed to Winsock
//!   as such.
//! - A `CHECK` cell is an access check of the second socket's security context (the token of
//!   its owning process: `WskSocket`'s `OwningProcess`, or the provider's own process when
//!   NULL, as the documentation says) against the first socket's descriptor (`SO_WSK_SECURITY`
//!   or the one `WskSocket` got). The right asked for is [`SHARE_ACCESS`]; a socket without a
//!   descriptor has the default one, which allows no sharing.
//! - Linux's rules still apply beneath: a bind the table allows (to a nonzero port) is made
//!   with Winsock's `SO_REUSEADDR` set, which Wine passes to Linux for UDP (so Linux lets the
//!   sockets share) and only records for TCP (its TCP sockets have Linux's `SO_REUSEADDR`
//!   always, and its own Winsock-style check then never refuses). Two TCP listeners on
//!   overlapping addresses still need Linux's `SO_REUSEPORT`, which Winsock cannot set:
//!   Linux refuses the second `listen` (`STATUS_ADDRESS_ALREADY_ASSOCIATED`).

use std::ffi::c_void;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex, PoisonError};

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Security::{
    AccessCheck, CreateWellKnownSid, DuplicateToken, GetSecurityDescriptorDacl,
    GetSecurityDescriptorGroup, GetSecurityDescriptorOwner, InitializeSecurityDescriptor,
    MapGenericMask, SecurityImpersonation, SetSecurityDescriptorDacl, SetSecurityDescriptorGroup,
    SetSecurityDescriptorOwner, WinLocalSystemSid, ACL, GENERIC_MAPPING, PRIVILEGE_SET,
    SECURITY_DESCRIPTOR, TOKEN_DUPLICATE, TOKEN_QUERY,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE,
};
use windows_sys::Win32::System::SystemServices::SECURITY_DESCRIPTOR_REVISION;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentProcessId, OpenProcess, OpenProcessToken,
    PROCESS_QUERY_LIMITED_INFORMATION,
};
use wsk_bindings::NtStatus;
use wskrs_provider_model::sharing::{Bound, BoundAddresses, Outcome};

use crate::addr::Addr;
use crate::security::CachedSd;
use crate::socket::Socket;

/// The access a `CHECK` asks of the first socket's descriptor: `GENERIC_ALL` through the file
/// generic mapping (an AFD socket is a file object on Windows), i.e. `FILE_ALL_ACCESS`.
/// Microsoft's pages do not name the right (see the README's *Sharing local addresses*); a
/// descriptor that grants the second socket's user all access lets it share, anything less
/// refuses.
const SHARE_ACCESS: u32 = windows_sys::Win32::Foundation::GENERIC_ALL;

/// The bound addresses and each holder's descriptor (for the `CHECK` of later binds).
#[derive(Default)]
struct Registry {
    bound: BoundAddresses,
    descriptors: Vec<(usize, Option<CachedSd>)>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn key(socket: &Socket) -> usize {
    std::ptr::from_ref(socket) as usize
}

/// Binds `socket` (its Winsock socket `s`) to `addr` if the table allows it: refuses with the
/// documented status (`STATUS_ADDRESS_ALREADY_EXISTS`, `STATUS_ACCESS_DENIED`), or runs
/// `bind` (Winsock's bind, and listen for listen sockets) and records the address bound. The
/// registry stays locked across `bind`, so two binds cannot both pass the check.
pub(crate) fn bind(
    socket: &Socket,
    s: ws::SOCKET,
    addr: &Addr,
    bind: impl FnOnce() -> NtStatus,
) -> NtStatus {
    let Some(address) = addr.socket_addr() else {
        return bind();
    };
    let (mode, owner) = socket.sharing();
    let candidate = Bound {
        socket: key(socket),
        protocol: socket.protocol_number(),
        address,
        v6_only: address.is_ipv6() && v6_only(s),
        sharing: mode.sharing(),
    };
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    let Registry { bound, descriptors } = &mut *registry;
    let decided = bound.check(&candidate, |holder| {
        let sd = descriptors
            .iter()
            .find(|(k, _)| *k == holder)
            .and_then(|(_, sd)| sd.as_ref());
        let granted = sd.is_some_and(|sd| grants(sd, owner));
        crate::trace::trace_line!(
            "bind {address}: CHECK against socket {holder:#x} (descriptor: {}) -> {}",
            if sd.is_some() { "set" } else { "default" },
            if granted { "granted" } else { "denied" }
        );
        granted
    });
    if let Err(refusal) = decided {
        crate::trace::trace_line!(
            "bind {address} ({:?}): {} (held by socket {:#x})",
            candidate.sharing,
            refusal.outcome.name(),
            refusal.holder
        );
        return match refusal.outcome {
            Outcome::Denied | Outcome::Check => NtStatus::ACCESS_DENIED,
            Outcome::InUse | Outcome::Success => NtStatus::ADDRESS_ALREADY_EXISTS,
        };
    }
    if address.port() != 0 {
        let on: u32 = 1;
        // SAFETY: `s` is an open socket; the value is a readable 4-byte int.
        let r = unsafe {
            ws::setsockopt(
                s,
                ws::SOL_SOCKET,
                ws::SO_REUSEADDR,
                (&raw const on).cast(),
                4,
            )
        };
        if r != 0 {
            crate::trace::trace_line!("bind {address}: SO_REUSEADDR -> {r}");
        }
    }
    let mut status = bind();
    if status == NtStatus::ACCESS_DENIED && address.port() != 0 {
        // The table allowed the bind: this is Linux refusing it (Wine reports `EADDRINUSE`
        // as `WSAEACCES` on a socket with `SO_REUSEADDR`), e.g. a TCP listener in the way.
        status = NtStatus::ADDRESS_ALREADY_ASSOCIATED;
    }
    if status.is_success() {
        let address = local_address(s).unwrap_or(address);
        bound.record(Bound {
            address,
            ..candidate
        });
        descriptors.retain(|(k, _)| *k != key(socket));
        descriptors.push((key(socket), socket.security()));
    }
    status
}

/// Forgets `socket`'s address (its Winsock socket is closing).
pub(crate) fn forget(socket: &Socket) {
    let released = {
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.bound.forget(key(socket));
        let at = registry
            .descriptors
            .iter()
            .position(|(k, _)| *k == key(socket));
        at.map(|i| registry.descriptors.swap_remove(i))
    };
    // The descriptor reference is released outside the registry's lock.
    drop(released);
}

/// The address Winsock bound (with the port it chose for port 0).
fn local_address(s: ws::SOCKET) -> Option<SocketAddr> {
    let mut a = Addr::empty();
    let name = a.as_mut_ptr();
    // SAFETY: `a` has room for any address; `len` is its size.
    if unsafe { ws::getsockname(s, name, &raw mut a.len) } != 0 {
        return None;
    }
    a.socket_addr()
}

/// `IPV6_V6ONLY` of an IPv6 socket (Windows' default, true, if it cannot be read).
fn v6_only(s: ws::SOCKET) -> bool {
    let mut value: u32 = 1;
    let mut len: i32 = 4;
    // SAFETY: `s` is an open socket; `value` has `len` writable bytes.
    let r = unsafe {
        ws::getsockopt(
            s,
            ws::IPPROTO_IPV6,
            ws::IPV6_V6ONLY,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    // Winsock may write one byte for a boolean.
    r != 0 || value & 0xff != 0
}

/// Whether `sd` grants [`SHARE_ACCESS`] to the user of process `owner` (the provider's own
/// process for `None`).
fn grants(sd: &CachedSd, owner: Option<u32>) -> bool {
    let Some(token) = Token::of(owner) else {
        return false;
    };
    let mapping = GENERIC_MAPPING {
        GenericRead: FILE_GENERIC_READ,
        GenericWrite: FILE_GENERIC_WRITE,
        GenericExecute: FILE_GENERIC_EXECUTE,
        GenericAll: FILE_ALL_ACCESS,
    };
    let Some(sd) = Checkable::of(sd) else {
        return false;
    };
    let mut desired = SHARE_ACCESS;
    // SAFETY: both are valid locals.
    unsafe { MapGenericMask(&raw mut desired, &raw const mapping) };
    // SAFETY: PRIVILEGE_SET is plain data; all-zero is valid.
    let mut privileges = unsafe { std::mem::zeroed::<PRIVILEGE_SET>() };
    let mut privileges_len = u32::try_from(size_of::<PRIVILEGE_SET>()).unwrap_or(0);
    let (mut granted, mut status) = (0u32, 0i32);
    // SAFETY: `sd` is a live cached self-relative descriptor; `token.0` an impersonation
    // token with TOKEN_QUERY; every out-pointer is a valid local.
    let ok = unsafe {
        AccessCheck(
            sd.as_ptr(),
            token.0,
            desired,
            &raw const mapping,
            &raw mut privileges,
            &raw mut privileges_len,
            &raw mut granted,
            &raw mut status,
        )
    };
    if ok == 0 {
        // SAFETY: no preconditions.
        let error = unsafe { GetLastError() };
        crate::trace::trace_line!("AccessCheck failed: error {error}");
    }
    ok != 0 && status != 0
}

/// A descriptor `AccessCheck` accepts: the cached one's DACL with an owner and a group (an
/// SDDL such as `D:(A;;GA;;;WD)` has neither, and `AccessCheck` refuses a descriptor without
/// them, `ERROR_INVALID_SECURITY_DESCR`). A missing owner or group becomes `LocalSystem`,
/// which grants the second socket's user nothing implicitly.
struct Checkable<'a> {
    absolute: SECURITY_DESCRIPTOR,
    /// `LocalSystem`'s SID, pointed to by `absolute` where the cached copy has none.
    system: Box<[u64; 2]>,
    /// The cached copy whose DACL (and owner and group, if any) `absolute` points into.
    _cached: &'a CachedSd,
}

impl<'a> Checkable<'a> {
    fn of(cached: &'a CachedSd) -> Option<Box<Self>> {
        let sd: *mut c_void = cached.as_ptr();
        let mut this = Box::new(Self {
            // SAFETY: SECURITY_DESCRIPTOR is plain data; all-zero is valid before initialising.
            absolute: unsafe { std::mem::zeroed() },
            system: Box::new([0u64; 2]),
            _cached: cached,
        });
        let system = this.system.as_mut_ptr().cast::<c_void>();
        let mut size = 16u32;
        // SAFETY: `system` has 16 writable bytes, enough for a one-sub-authority SID.
        if unsafe {
            CreateWellKnownSid(
                WinLocalSystemSid,
                std::ptr::null_mut(),
                system,
                &raw mut size,
            )
        } == 0
        {
            return None;
        }
        let absolute: *mut c_void = (&raw mut this.absolute).cast();
        // SAFETY: `absolute` is writable and boxed (it does not move while used).
        if unsafe { InitializeSecurityDescriptor(absolute, SECURITY_DESCRIPTOR_REVISION) } == 0 {
            return None;
        }
        let (mut present, mut defaulted) = (0i32, 0i32);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        // SAFETY: `sd` is a live valid descriptor; the out-pointers are valid locals.
        if unsafe {
            GetSecurityDescriptorDacl(sd, &raw mut present, &raw mut dacl, &raw mut defaulted)
        } == 0
        {
            return None;
        }
        let (mut owner, mut group) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: as above.
        unsafe { GetSecurityDescriptorOwner(sd, &raw mut owner, &raw mut defaulted) };
        // SAFETY: as above.
        unsafe { GetSecurityDescriptorGroup(sd, &raw mut group, &raw mut defaulted) };
        let owner = if owner.is_null() { system } else { owner };
        let group = if group.is_null() { system } else { group };
        // SAFETY: `absolute` is initialised; the DACL lives in the cached copy `this` borrows.
        let dacl_set = unsafe { SetSecurityDescriptorDacl(absolute, present, dacl, 0) } != 0;
        // SAFETY: as above; the owner SID is in the cached copy or in `this.system`.
        let owner_set = unsafe { SetSecurityDescriptorOwner(absolute, owner, 0) } != 0;
        // SAFETY: as above, for the group SID.
        let group_set = unsafe { SetSecurityDescriptorGroup(absolute, group, 0) } != 0;
        (dacl_set && owner_set && group_set).then_some(this)
    }

    fn as_ptr(&self) -> *mut c_void {
        std::ptr::from_ref(&self.absolute).cast_mut().cast()
    }
}

/// An impersonation token of a process's primary token (closed on drop).
struct Token(HANDLE);

impl Token {
    /// The token of process `pid`, or of this process.
    fn of(pid: Option<u32>) -> Option<Self> {
        // SAFETY: no preconditions.
        let own = unsafe { GetCurrentProcessId() };
        let process = match pid {
            Some(pid) if pid != own => {
                // SAFETY: plain call; the handle is closed below.
                let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
                if h.is_null() {
                    return None;
                }
                Handle(h)
            }
            // SAFETY: no preconditions (a pseudo-handle; closing it does nothing).
            _ => Handle(unsafe { GetCurrentProcess() }),
        };
        let mut primary = std::ptr::null_mut();
        // SAFETY: a process handle with query access; `primary` a valid local.
        if unsafe { OpenProcessToken(process.0, TOKEN_DUPLICATE | TOKEN_QUERY, &raw mut primary) }
            == 0
        {
            return None;
        }
        let primary = Handle(primary);
        let mut impersonation = std::ptr::null_mut();
        // SAFETY: a token opened with TOKEN_DUPLICATE; `impersonation` a valid local.
        if unsafe { DuplicateToken(primary.0, SecurityImpersonation, &raw mut impersonation) } == 0
        {
            return None;
        }
        Some(Self(impersonation))
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // SAFETY: ours, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// A kernel32 handle closed on drop (a pseudo-handle's close does nothing).
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: ours (or the current-process pseudo-handle), closed once.
        unsafe { CloseHandle(self.0) };
    }
}
