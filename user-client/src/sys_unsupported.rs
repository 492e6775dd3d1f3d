//! Stand-ins for the Windows calls on other hosts: every call fails with `Unsupported`, so
//! the library and `wskctl` build and their portable parts run their tests anywhere.

use std::io;

use wskrs_ntstatus::NtStatus;

use crate::device::{IoctlCompletion, Transport};
use crate::service::Purpose;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the wsk-rs device and services exist only on Windows",
    )
}

/// Off Windows there is no console control handler to install: nothing to do.
pub struct CtrlCHandler(());

impl CtrlCHandler {
    /// Does nothing off Windows.
    ///
    /// # Errors
    ///
    /// None off Windows (the Windows version can fail).
    #[allow(clippy::unnecessary_wraps, reason = "the Windows version can fail")]
    pub fn install() -> io::Result<Self> {
        Ok(Self(()))
    }
}

/// Off Windows the self-test's OS line says `unknown`.
#[must_use]
pub fn os_version() -> Option<String> {
    None
}

/// Never constructed off Windows.
pub(crate) struct DeviceHandle(());

impl DeviceHandle {
    pub(crate) fn open(_path: &str) -> io::Result<Self> {
        Err(unsupported())
    }

    pub(crate) fn open_read_only(_path: &str) -> io::Result<Self> {
        Err(unsupported())
    }
}

impl Transport for DeviceHandle {
    fn ioctl(&self, _code: u32, _input: &[u8], _output: &mut [u8]) -> IoctlCompletion {
        IoctlCompletion {
            status: NtStatus::NOT_SUPPORTED,
            information: 0,
        }
    }

    fn ioctl_in_direct(&self, _code: u32, _input: &[u8], _data: &[u8]) -> IoctlCompletion {
        IoctlCompletion {
            status: NtStatus::NOT_SUPPORTED,
            information: 0,
        }
    }
}

/// Never constructed off Windows.
pub(crate) struct ScHandle(());

pub(crate) fn open_manager(_create: bool) -> io::Result<ScHandle> {
    Err(unsupported())
}

pub(crate) fn create_kernel_service(
    _manager: &ScHandle,
    _name: &str,
    _path: &str,
) -> io::Result<ScHandle> {
    Err(unsupported())
}

pub(crate) fn open_service(
    _manager: &ScHandle,
    _name: &str,
    _purpose: Purpose,
) -> io::Result<ScHandle> {
    Err(unsupported())
}

pub(crate) fn start_service(_service: &ScHandle) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn stop_service(_service: &ScHandle) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn query_state(_service: &ScHandle) -> io::Result<u32> {
    Err(unsupported())
}

pub(crate) fn delete_service(_service: &ScHandle) -> io::Result<()> {
    Err(unsupported())
}

/// Off Windows there is no registry.
pub(crate) fn read_parameter(_service: &str, _name: &str) -> io::Result<Option<u32>> {
    Err(unsupported())
}

/// Off Windows there is no registry.
pub(crate) fn write_parameter(_service: &str, _name: &str, _value: Option<u32>) -> io::Result<()> {
    Err(unsupported())
}
