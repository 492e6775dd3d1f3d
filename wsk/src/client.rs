//! The WSK client registration ([`WskClient`]) and deferred work at PASSIVE_LEVEL.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicU8;
use core::time::Duration;

use wsk_bindings::{self as sys, make_wsk_version};

use crate::error::nt_result;
use crate::{Error, PoolArc, PoolBox, Result};

/// The client dispatch we register: WSK 1.0, no client-level event callback.
static CLIENT_DISPATCH: sys::WSK_CLIENT_DISPATCH = sys::WSK_CLIENT_DISPATCH {
    Version: make_wsk_version(1, 0),
    Reserved: 0,
    WskClientEvent: None,
};

/// Registration progress, so that drop undoes exactly what was done.
const NOT_REGISTERED: u8 = 0;
const REGISTERED: u8 = 1;
const CAPTURED: u8 = 2;

struct ClientInner {
    /// Written by WSK; at a stable address (pool) from `WskRegister` to `WskDeregister`.
    registration: UnsafeCell<sys::WSK_REGISTRATION>,
    client_npi: sys::WSK_CLIENT_NPI,
    /// Written by `WskCaptureProviderNPI`, read-only afterwards.
    provider: UnsafeCell<sys::WSK_PROVIDER_NPI>,
    progress: AtomicU8,
    device: NonNull<sys::DEVICE_OBJECT>,
}

// SAFETY: the registration and NPI are used from any thread as WSK allows; the device
// object outlives the client (contract of `WskClient::register`).
unsafe impl Send for ClientInner {}
// SAFETY: as above; `provider` is written once before the client is shared.
unsafe impl Sync for ClientInner {}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let progress = *self.progress.get_mut();
        if progress == CAPTURED {
            // SAFETY: the NPI was captured, and every socket (each holding a reference to
            // this client) is closed, since this is the last reference.
            unsafe { sys::WskReleaseProviderNPI(self.registration.get()) };
        }
        if progress >= REGISTERED {
            // SAFETY: registered in `register`; deregistered once, here.
            unsafe { sys::WskDeregister(self.registration.get()) };
        }
    }
}

/// The WSK NPI versions a WSK subsystem supports, as `MAKE_WSK_VERSION(major, minor)` values
/// (major in the high byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderCharacteristics {
    /// The lowest version.
    pub lowest: u16,
    /// The highest version.
    pub highest: u16,
}

/// A registered WSK client with its captured provider NPI.
///
/// Cloning shares the registration; every socket holds a clone, so the registration is
/// released (`WskReleaseProviderNPI`, `WskDeregister`) only after the last socket is closed.
#[derive(Clone)]
pub struct WskClient(PoolArc<ClientInner>);

impl WskClient {
    /// Registers with WSK and captures the provider NPI, waiting at most `capture_wait` for
    /// the provider to attach (`WskRegister` + `WskCaptureProviderNPI`).
    ///
    /// IRQL: PASSIVE_LEVEL. See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nf-wsk-wskregister>.
    ///
    /// # Errors
    /// The status of `WskRegister` or `WskCaptureProviderNPI` (`STATUS_NOINTERFACE` when the
    /// provider did not attach in time), or `STATUS_INSUFFICIENT_RESOURCES`.
    ///
    /// # Safety
    /// `device` is this driver's device object and outlives the client and all its sockets
    /// (deferred work items are queued on it). Keep the client until unload in a `static`
    /// [`crate::driver::ClientSlot`] and shut it down there.
    pub unsafe fn register(
        device: impl crate::driver::DeviceObjectPtr,
        capture_wait: Duration,
    ) -> Result<Self> {
        let device = device.into_device_object();
        let mut inner = PoolArc::try_new(ClientInner {
            registration: UnsafeCell::new(sys::WSK_REGISTRATION::default()),
            client_npi: sys::WSK_CLIENT_NPI {
                ClientContext: ptr::null_mut(),
                Dispatch: &raw const CLIENT_DISPATCH,
            },
            provider: UnsafeCell::new(sys::WSK_PROVIDER_NPI {
                Client: ptr::null_mut(),
                Dispatch: ptr::null(),
            }),
            progress: AtomicU8::new(NOT_REGISTERED),
            device,
        })?;
        let this = PoolArc::get_mut(&mut inner).ok_or(Error::NO_MEMORY)?;
        // SAFETY: both structures live in pool at a stable address until WskDeregister (in drop).
        nt_result(unsafe { sys::WskRegister(&raw mut this.client_npi, this.registration.get()) })?;
        *this.progress.get_mut() = REGISTERED;
        let wait_ms = u32::try_from(capture_wait.as_millis()).unwrap_or(sys::WSK_INFINITE_WAIT - 1);
        // SAFETY: registered above; `provider` is valid for writes.
        nt_result(unsafe {
            sys::WskCaptureProviderNPI(this.registration.get(), wait_ms, this.provider.get())
        })?;
        *this.progress.get_mut() = CAPTURED;
        Ok(Self(inner))
    }

    /// The range of WSK NPI versions the WSK subsystem supports
    /// (`WskQueryProviderCharacteristics`), each `MAKE_WSK_VERSION(major, minor)`.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// Wine 8.0's built-in netio.sys exports this function as a stub that aborts the calling
    /// process: do not call it there.
    ///
    /// # Errors
    /// The provider's status.
    pub fn provider_characteristics(&self) -> Result<ProviderCharacteristics> {
        let mut characteristics = sys::WSK_PROVIDER_CHARACTERISTICS::default();
        // SAFETY: the registration is live (the NPI is captured while this handle exists) and
        // `characteristics` is writable for the call.
        nt_result(unsafe {
            sys::WskQueryProviderCharacteristics(
                self.0.registration.get(),
                &raw mut characteristics,
            )
        })?;
        Ok(ProviderCharacteristics {
            lowest: characteristics.LowestVersion,
            highest: characteristics.HighestVersion,
        })
    }

    /// The provider's dispatch version (`MAKE_WSK_VERSION(major, minor)`). IRQL: any.
    #[must_use]
    pub fn provider_version(&self) -> u16 {
        self.provider().1.Version
    }

    pub(crate) fn provider(&self) -> (*mut sys::WSK_CLIENT, &sys::WSK_PROVIDER_DISPATCH) {
        // SAFETY: written once by WskCaptureProviderNPI before this handle existed.
        let npi = unsafe { &*self.0.provider.get() };
        // SAFETY: the provider dispatch table stays valid while the NPI is captured, which
        // lasts as long as any handle.
        (npi.Client, unsafe { &*npi.Dispatch })
    }

    /// Unload's end of the registration: waits until no socket and no job queued by
    /// [`WskClient::defer`] holds this client (each holds a handle) and no request abandoned
    /// to the provider is still uncompleted, then
    /// releases this handle, which releases the NPI and deregisters if it was the last.
    ///
    /// The wait has no end, as WSK's own has none: `WskDeregister` "blocks until all
    /// captured instances of the provider NPI are released, all in-progress calls to WSK
    /// functions have returned, and all sockets are closed", and a driver whose unload
    /// returned earlier would leave the provider calling completion routines in an unloaded
    /// image. Closing sockets cancels their requests, so the wait ends as soon as the
    /// provider completes them. After `patience`, and every `patience` again, it logs what it
    /// still waits for. Returns true if it was done within `patience`.
    /// IRQL: PASSIVE_LEVEL.
    #[must_use]
    pub fn shutdown(self, patience: Duration) -> bool {
        let step = Duration::from_millis(10);
        let mut waited = Duration::ZERO;
        let mut report_at = patience;
        loop {
            let sockets = PoolArc::count(&self.0).saturating_sub(1);
            let abandoned = crate::irp::abandoned_requests();
            if sockets == 0 && abandoned == 0 {
                // The worker that dropped the last deferred job's handle may still be on its
                // way out of this image's work item routine: one more step for it. (On
                // Windows the work item's reference on the device object keeps the image;
                // Wine's unload does not wait for it.)
                crate::sleep(step);
                break;
            }
            if waited >= report_at {
                crate::warn!(
                    "wsk: unload waits for {} socket(s) or deferred job(s) and {} request(s) the provider holds ({} ms)",
                    sockets,
                    abandoned,
                    waited.as_millis()
                );
                report_at = report_at.saturating_add(patience.max(step));
            }
            crate::sleep(step);
            waited = waited.saturating_add(step);
        }
        drop(self);
        waited <= patience
    }

    /// Runs `routine(item)` at PASSIVE_LEVEL on a system worker thread (`IoQueueWorkItem`),
    /// for work a completion or DPC must not do itself (closing a socket waits).
    /// IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// Gives `item` back when no work item or memory could be had.
    pub fn defer<T: Send + 'static>(&self, item: T, routine: fn(T)) -> core::result::Result<(), T> {
        // SAFETY: the device object outlives the client (contract of `register`).
        let work_item = unsafe { sys::IoAllocateWorkItem(self.0.device.as_ptr()) };
        let Some(work_item) = NonNull::new(work_item) else {
            return Err(item);
        };
        crate::held::work_item(true);
        let job = match PoolBox::try_new_or_return(Deferred {
            work_item,
            item,
            routine,
            client: self.clone(),
        }) {
            Ok(job) => job,
            Err(job) => {
                // SAFETY: allocated above and never queued.
                unsafe { sys::IoFreeWorkItem(work_item.as_ptr()) };
                crate::held::work_item(false);
                return Err(job.item);
            }
        };
        let context = job.into_raw().cast::<c_void>();
        // SAFETY: `work_item` is ours; `context` is the pool job that `run_deferred::<T>` takes back.
        unsafe {
            sys::IoQueueWorkItem(
                work_item.as_ptr(),
                Some(run_deferred::<T>),
                sys::DelayedWorkQueue,
                context,
            );
        }
        Ok(())
    }
}

struct Deferred<T> {
    work_item: NonNull<sys::_IO_WORKITEM>,
    item: T,
    routine: fn(T),
    /// Keeps [`WskClient::shutdown`] (and so the unload) waiting until the job has run.
    client: WskClient,
}

/// Work item routine: PASSIVE_LEVEL on a system worker thread.
unsafe extern "C" fn run_deferred<T>(_: *mut sys::DEVICE_OBJECT, context: *mut c_void) {
    // SAFETY: `context` is the job queued by `defer::<T>`, taken back once here.
    let job = unsafe { PoolBox::from_raw(context.cast::<Deferred<T>>()) };
    let Deferred {
        work_item,
        item,
        routine,
        client,
    } = PoolBox::into_inner(job);
    routine(item);
    // SAFETY: the work item has run; it is freed once, here.
    unsafe { sys::IoFreeWorkItem(work_item.as_ptr()) };
    crate::held::work_item(false);
    // Last: from here unload may go on.
    drop(client);
}
