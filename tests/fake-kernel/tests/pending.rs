//! The pending protocol as the fake kernel and provider model it, per provider flavour
//! (`Config::WINDOWS`, `Config::WINE`, `Config::WSKRS`): `IofCompleteRequest` turns the
//! provider's `SL_PENDING_RETURNED` into `Irp->PendingReturned`, and a client whose completion
//! routine wakes its waiter only when `PendingReturned` is TRUE (waiting only when the call
//! returned `STATUS_PENDING`) wakes under Windows' and the wsk-rs provider's behaviour and
//! would hang under Wine's netio, which returns `STATUS_PENDING` without marking the IRP.
//! The wsk crate's own suites (io, blocking, resolve, tasks) run under all three flavours.

#![allow(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fake::provider::{self, Behavior, Config, Op};
use wsk_bindings::{self as sys, NtStatus};
use wskrs_fake_kernel as fake;

#[derive(Default)]
struct Seen {
    calls: AtomicU32,
    pending_returned: AtomicBool,
}

unsafe extern "C" fn routine(
    _: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
    context: *mut c_void,
) -> i32 {
    let seen = unsafe { &*context.cast::<Seen>() };
    seen.pending_returned
        .store(unsafe { sys::irp::pending_returned(irp) }, Ordering::SeqCst);
    seen.calls.fetch_add(1, Ordering::SeqCst);
    NtStatus::MORE_PROCESSING_REQUIRED.0
}

static CLIENT_DISPATCH: sys::WSK_CLIENT_DISPATCH = sys::WSK_CLIENT_DISPATCH {
    Version: sys::make_wsk_version(1, 0),
    Reserved: 0,
    WskClientEvent: None,
};

/// What one `WskSocket` did: (returned, PendingReturned, the socket).
fn socket(npi: &sys::WSK_PROVIDER_NPI) -> (NtStatus, bool, *mut sys::WSK_SOCKET) {
    let irp = unsafe { sys::IoAllocateIrp(1, 0) };
    assert!(!irp.is_null());
    let seen = Seen::default();
    unsafe { sys::irp::set_completion_routine(irp, routine, (&raw const seen).cast_mut().cast()) };
    let dispatch = unsafe { &*npi.Dispatch };
    let returned = NtStatus(unsafe {
        (dispatch.WskSocket.unwrap())(
            npi.Client,
            sys::AF_INET_FAMILY,
            sys::SOCK_STREAM_TYPE,
            sys::IPPROTO_TCP,
            sys::WSK_FLAG_LISTEN_SOCKET,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            irp,
        )
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.calls.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        1,
        "the IRP completed once"
    );
    let socket = unsafe { sys::irp::information(irp) } as *mut sys::WSK_SOCKET;
    unsafe { sys::IoFreeIrp(irp) };
    (
        returned,
        seen.pending_returned.load(Ordering::SeqCst),
        socket,
    )
}

fn close(socket: *mut sys::WSK_SOCKET) {
    let irp = unsafe { sys::IoAllocateIrp(1, 0) };
    let seen = Seen::default();
    unsafe { sys::irp::set_completion_routine(irp, routine, (&raw const seen).cast_mut().cast()) };
    let basic = unsafe {
        &*(*socket)
            .Dispatch
            .cast::<sys::WSK_PROVIDER_BASIC_DISPATCH>()
    };
    let _ = unsafe { (basic.WskCloseSocket.unwrap())(socket, irp) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.calls.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    unsafe { sys::IoFreeIrp(irp) };
}

/// A waiter that waits only when the call returned STATUS_PENDING, and is woken only when the
/// completion routine sees PendingReturned TRUE.
fn waiter_wakes(returned: NtStatus, pending_returned: bool) -> bool {
    returned != NtStatus::PENDING || pending_returned
}

#[test]
fn pending_returned_follows_each_flavour() {
    for (config, inline, later) in [
        // (flavour, (returned, PendingReturned) inline, the same when completed later)
        (
            Config::WINDOWS,
            (NtStatus::SUCCESS, false),
            (NtStatus::PENDING, true),
        ),
        (
            Config::WSKRS,
            (NtStatus::PENDING, true),
            (NtStatus::PENDING, true),
        ),
        (
            Config::WINE,
            (NtStatus::PENDING, false),
            (NtStatus::PENDING, false),
        ),
    ] {
        let kernel = fake::Kernel::start();
        provider::configure(config);
        let mut client_npi = sys::WSK_CLIENT_NPI {
            ClientContext: null_mut(),
            Dispatch: &raw const CLIENT_DISPATCH,
        };
        let mut registration = sys::WSK_REGISTRATION::default();
        assert!(
            NtStatus(unsafe { sys::WskRegister(&raw mut client_npi, &raw mut registration) })
                .is_success()
        );
        let mut npi = sys::WSK_PROVIDER_NPI {
            Client: null_mut(),
            Dispatch: std::ptr::null(),
        };
        let st = unsafe {
            sys::WskCaptureProviderNPI(&raw mut registration, sys::WSK_INFINITE_WAIT, &raw mut npi)
        };
        assert!(NtStatus(st).is_success());

        let (returned, marked, s) = socket(&npi);
        assert_eq!((returned, marked), inline, "{config:?}: inline completion");
        close(s);
        provider::script(Op::Socket, [Behavior::Later(Duration::from_millis(20))]);
        let (returned, marked, s) = socket(&npi);
        assert_eq!(
            (returned, marked),
            later,
            "{config:?}: completion after the call returned"
        );
        close(s);

        let wakes = waiter_wakes(inline.0, inline.1) && waiter_wakes(later.0, later.1);
        assert_eq!(
            wakes,
            config != Config::WINE,
            "{config:?}: a PendingReturned-only waiter"
        );

        unsafe { sys::WskReleaseProviderNPI(&raw mut registration) };
        unsafe { sys::WskDeregister(&raw mut registration) };
        kernel.assert_clean();
    }
}
