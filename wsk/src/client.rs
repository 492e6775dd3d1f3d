//! The WSK client registration ([`WskClient`]) and deferred work at PASSIVE_LEVEL.

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings::{self as sys, make_wsk_version};

use crate::error::nt_result;
use crate::{PoolBox, Result, Shared};

/// The client dispatch we register: WSK 1.0, no client-level event callback.
static CLIENT_DISPATCH: sys::WSK_CLIENT_DISPATCH =
    sys::WSK_CLIENT_DISPATCH { Version: make_wsk_version(1, 0), Reserved: 0, WskClientEvent: None };

struct ClientInner {
    registration: sys::WSK_REGISTRATION,
    client_npi: sys::WSK_CLIENT_NPI,
    provider: sys::WSK_PROVIDER_NPI,
    device: NonNull<sys::DEVICE_OBJECT>,
}

// SAFETY: the registration and NPI are used from any thread as WSK allows; the device
// object outlives the client (contract of `WskClient::register`).
unsafe impl Send for ClientInner {}
// SAFETY: as above; after registration the fields are only read.
unsafe impl Sync for ClientInner {}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // SAFETY: the NPI was captured in `register` and every socket (each holding a
        // reference to this client) is closed, since this is the last reference.
        unsafe { sys::WskReleaseProviderNPI(&mut self.registration) };
        // SAFETY: registered in `register`; deregistered once, here.
        unsafe { sys::WskDeregister(&mut self.registration) };
    }
}

/// A registered WSK client with its captured provider NPI.
///
/// Cloning shares the registration; every socket holds a clone, so the registration is
/// released (`WskReleaseProviderNPI`, `WskDeregister`) only after the last socket is closed.
#[derive(Clone)]
pub struct WskClient(Shared<ClientInner>);

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
    /// (deferred work items are queued on it).
    pub unsafe fn register(device: NonNull<c_void>, capture_wait: Duration) -> Result<Self> {
        let inner = Shared::try_new(ClientInner {
            registration: sys::WSK_REGISTRATION::default(),
            client_npi: sys::WSK_CLIENT_NPI { ClientContext: ptr::null_mut(), Dispatch: &CLIENT_DISPATCH },
            provider: sys::WSK_PROVIDER_NPI { Client: ptr::null_mut(), Dispatch: ptr::null() },
            device: device.cast(),
        })?;
        let p = Shared::into_raw(inner).cast::<ClientInner>().cast_mut();
        // SAFETY: `p` is the live, pool-allocated inner (stable address, as WSK requires for
        // the registration and client NPI until deregistration).
        let status = unsafe { sys::WskRegister(&mut (*p).client_npi, &mut (*p).registration) };
        if let Err(e) = nt_result(status) {
            // SAFETY: `p` came from into_raw above. Not registered: free without deregistering.
            let inner = unsafe { Shared::<ClientInner>::from_raw(p.cast()) };
            core::mem::forget(inner); // leaks one small allocation rather than deregistering unregistered state
            return Err(e);
        }
        let wait_ms = u32::try_from(capture_wait.as_millis()).unwrap_or(u32::MAX - 1);
        // SAFETY: registered above; `provider` is valid for writes.
        let status = unsafe { sys::WskCaptureProviderNPI(&mut (*p).registration, wait_ms, &mut (*p).provider) };
        if let Err(e) = nt_result(status) {
            // SAFETY: registered above and not captured: deregister only, then leak the inner
            // (its Drop would release an NPI that was never captured).
            unsafe { sys::WskDeregister(&mut (*p).registration) };
            return Err(e);
        }
        // SAFETY: `p` came from into_raw above.
        Ok(Self(unsafe { Shared::from_raw(p.cast()) }))
    }

    /// The provider's dispatch version (`MAKE_WSK_VERSION(major, minor)`). IRQL: any.
    #[must_use]
    pub fn provider_version(&self) -> u16 {
        // SAFETY: the provider dispatch table stays valid while the NPI is captured.
        unsafe { (*self.0.provider.Dispatch).Version }
    }

    pub(crate) fn provider(&self) -> (*mut sys::WSK_CLIENT, &sys::WSK_PROVIDER_DISPATCH) {
        // SAFETY: as in `provider_version`.
        (self.0.provider.Client, unsafe { &*self.0.provider.Dispatch })
    }

    /// Waits up to `timeout` for every socket of this client to close, then releases this
    /// handle (which deregisters if it was the last). True if the registration was released.
    /// IRQL: PASSIVE_LEVEL.
    #[must_use]
    pub fn shutdown(self, timeout: Duration) -> bool {
        let step = Duration::from_millis(10);
        let mut waited = Duration::ZERO;
        while Shared::count(&self.0) > 1 && waited < timeout {
            crate::sleep(step);
            waited = waited.saturating_add(step);
        }
        let released = Shared::count(&self.0) == 1;
        drop(self);
        released
    }

    /// Runs `routine(item)` at PASSIVE_LEVEL on a system worker thread (`IoQueueWorkItem`).
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn defer<T: Send + 'static>(&self, item: T, routine: fn(T)) -> core::result::Result<(), T> {
        // SAFETY: the device object outlives the client (contract of `register`).
        let work_item = unsafe { sys::IoAllocateWorkItem(self.0.device.as_ptr()) };
        let Some(work_item) = NonNull::new(work_item) else { return Err(item) };
        let job = match PoolBox::try_new_or_return(Deferred { work_item, item, routine }) {
            Ok(job) => job,
            Err(job) => {
                // SAFETY: allocated above and never queued.
                unsafe { sys::IoFreeWorkItem(work_item.as_ptr()) };
                return Err(job.item);
            }
        };
        let context = job.into_raw().cast::<c_void>();
        // SAFETY: `work_item` is ours; `context` is the pool job that `run_deferred::<T>` takes back.
        unsafe { sys::IoQueueWorkItem(work_item.as_ptr(), Some(run_deferred::<T>), sys::DelayedWorkQueue, context) };
        Ok(())
    }
}

struct Deferred<T> {
    work_item: NonNull<sys::_IO_WORKITEM>,
    item: T,
    routine: fn(T),
}

/// Work item routine: PASSIVE_LEVEL on a system worker thread.
unsafe extern "C" fn run_deferred<T>(_: *mut sys::DEVICE_OBJECT, context: *mut c_void) {
    // SAFETY: `context` is the job queued by `defer::<T>`, taken back once here.
    let job = unsafe { PoolBox::from_raw(context.cast::<Deferred<T>>()) };
    let Deferred { work_item, item, routine } = PoolBox::into_inner(job);
    routine(item);
    // SAFETY: the work item has run; it is freed once, here.
    unsafe { sys::IoFreeWorkItem(work_item.as_ptr()) };
}
