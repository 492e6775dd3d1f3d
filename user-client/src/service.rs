//! Installing, starting, stopping and removing the driver through the service control manager.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use wskrs_protocol::DriverParameter;

use crate::error::{win32, ClientError};
use crate::sys;

/// What a service handle will be used for; decides the access rights `sys::open_service`
/// asks for.
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    Query,
    Start,
    Stop,
    Delete,
}

/// What [`ServiceManager::install`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The service was created.
    Installed,
    /// A service of that name already existed (left unchanged).
    AlreadyInstalled,
}

/// What [`ServiceManager::start`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// The driver was loaded.
    Started,
    /// It was already running.
    AlreadyRunning,
}

/// What [`ServiceManager::stop`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// The driver was unloaded.
    Stopped,
    /// It was not running.
    AlreadyStopped,
}

/// What [`ServiceManager::uninstall`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UninstallOutcome {
    /// The service was deleted.
    Uninstalled,
    /// The service is still running; it is removed when it stops.
    MarkedForDeletion,
    /// There was no such service.
    NotInstalled,
}

/// A service's state, from `QueryServiceStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// No service of that name exists.
    NotInstalled,
    /// `SERVICE_STOPPED`.
    Stopped,
    /// `SERVICE_START_PENDING`.
    StartPending,
    /// `SERVICE_STOP_PENDING`.
    StopPending,
    /// `SERVICE_RUNNING`.
    Running,
    /// `SERVICE_CONTINUE_PENDING`.
    ContinuePending,
    /// `SERVICE_PAUSE_PENDING`.
    PausePending,
    /// `SERVICE_PAUSED`.
    Paused,
    /// A state value this client does not know.
    Other(u32),
}

impl ServiceState {
    /// The state for a `dwCurrentState` value.
    #[must_use]
    pub fn from_current_state(value: u32) -> Self {
        match value {
            1 => Self::Stopped,
            2 => Self::StartPending,
            3 => Self::StopPending,
            4 => Self::Running,
            5 => Self::ContinuePending,
            6 => Self::PausePending,
            7 => Self::Paused,
            other => Self::Other(other),
        }
    }

    /// The lowercase name printed by `wskctl driver status`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::NotInstalled => "not installed",
            Self::Stopped => "stopped",
            Self::StartPending => "start pending",
            Self::StopPending => "stop pending",
            Self::Running => "running",
            Self::ContinuePending => "continue pending",
            Self::PausePending => "pause pending",
            Self::Paused => "paused",
            Self::Other(_) => "unknown",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(value) => write!(f, "unknown ({value})"),
            known => f.write_str(known.name()),
        }
    }
}

/// How often `stop` polls the service state while it waits.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The local service control manager, for the driver's kernel-driver service.
///
/// Each call opens the manager with only the rights it needs, so `status` works without
/// administrator rights.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceManager {
    _private: (),
}

fn is_win32(error: &io::Error, code: i32) -> bool {
    error.raw_os_error() == Some(code)
}

impl ServiceManager {
    /// The local machine's service control manager.
    #[must_use]
    pub fn local() -> Self {
        Self { _private: () }
    }

    fn error<'a>(op: &'static str, name: &'a str) -> impl FnOnce(io::Error) -> ClientError + 'a {
        move |source| ClientError::Service {
            op,
            name: name.to_owned(),
            source,
        }
    }

    /// Creates `name` as a demand-start kernel driver service for the file at `path`
    /// (`CreateServiceW` with `SERVICE_KERNEL_DRIVER`, `SERVICE_DEMAND_START`,
    /// `SERVICE_ERROR_NORMAL`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`] with the Win32 error (e.g. access denied).
    pub fn install(&self, name: &str, path: &str) -> Result<InstallOutcome, ClientError> {
        let manager = sys::open_manager(true).map_err(Self::error("install", name))?;
        match sys::create_kernel_service(&manager, name, path) {
            Ok(_service) => Ok(InstallOutcome::Installed),
            Err(error) if is_win32(&error, win32::SERVICE_EXISTS) => {
                Ok(InstallOutcome::AlreadyInstalled)
            }
            Err(error) => Err(Self::error("install", name)(error)),
        }
    }

    /// Loads the driver (`StartServiceW`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`]: not installed, driver file missing, `DriverEntry` failed, ...
    pub fn start(&self, name: &str) -> Result<StartOutcome, ClientError> {
        let manager = sys::open_manager(false).map_err(Self::error("start", name))?;
        let service = sys::open_service(&manager, name, Purpose::Start)
            .map_err(Self::error("start", name))?;
        match sys::start_service(&service) {
            Ok(()) => Ok(StartOutcome::Started),
            Err(error) if is_win32(&error, win32::SERVICE_ALREADY_RUNNING) => {
                Ok(StartOutcome::AlreadyRunning)
            }
            Err(error) => Err(Self::error("start", name)(error)),
        }
    }

    /// Unloads the driver (`ControlService(SERVICE_CONTROL_STOP)`) and waits up to `timeout`
    /// for it to reach `SERVICE_STOPPED`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`]: not installed, access denied, or still not stopped after
    /// `timeout` (`TimedOut`).
    pub fn stop(&self, name: &str, timeout: Duration) -> Result<StopOutcome, ClientError> {
        let manager = sys::open_manager(false).map_err(Self::error("stop", name))?;
        let service =
            sys::open_service(&manager, name, Purpose::Stop).map_err(Self::error("stop", name))?;
        match sys::stop_service(&service) {
            Ok(()) => {}
            Err(error) if is_win32(&error, win32::SERVICE_NOT_ACTIVE) => {
                return Ok(StopOutcome::AlreadyStopped)
            }
            Err(error) => return Err(Self::error("stop", name)(error)),
        }
        let deadline = Instant::now() + timeout;
        loop {
            let state = sys::query_state(&service).map_err(Self::error("stop", name))?;
            if ServiceState::from_current_state(state) == ServiceState::Stopped {
                return Ok(StopOutcome::Stopped);
            }
            if Instant::now() >= deadline {
                let source = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "still {} after {} s",
                        ServiceState::from_current_state(state),
                        timeout.as_secs()
                    ),
                );
                return Err(Self::error("stop", name)(source));
            }
            std::thread::sleep(STOP_POLL);
        }
    }

    /// Deletes the service (`DeleteService`); a running driver is removed when it stops.
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`] with the Win32 error (e.g. access denied).
    pub fn uninstall(&self, name: &str) -> Result<UninstallOutcome, ClientError> {
        let manager = sys::open_manager(false).map_err(Self::error("uninstall", name))?;
        let service = match sys::open_service(&manager, name, Purpose::Delete) {
            Ok(service) => service,
            Err(error) if is_win32(&error, win32::SERVICE_DOES_NOT_EXIST) => {
                return Ok(UninstallOutcome::NotInstalled)
            }
            Err(error) => return Err(Self::error("uninstall", name)(error)),
        };
        let running = sys::query_state(&service)
            .is_ok_and(|state| ServiceState::from_current_state(state) != ServiceState::Stopped);
        match sys::delete_service(&service) {
            Ok(()) if running => Ok(UninstallOutcome::MarkedForDeletion),
            Ok(()) => Ok(UninstallOutcome::Uninstalled),
            Err(error) if is_win32(&error, win32::SERVICE_MARKED_FOR_DELETE) => {
                Ok(UninstallOutcome::MarkedForDeletion)
            }
            Err(error) => Err(Self::error("uninstall", name)(error)),
        }
    }

    /// The service's state (`QueryServiceStatus`), or [`ServiceState::NotInstalled`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`] with the Win32 error.
    pub fn status(&self, name: &str) -> Result<ServiceState, ClientError> {
        let manager = sys::open_manager(false).map_err(Self::error("query", name))?;
        let service = match sys::open_service(&manager, name, Purpose::Query) {
            Ok(service) => service,
            Err(error) if is_win32(&error, win32::SERVICE_DOES_NOT_EXIST) => {
                return Ok(ServiceState::NotInstalled)
            }
            Err(error) => return Err(Self::error("query", name)(error)),
        };
        let state = sys::query_state(&service).map_err(Self::error("query", name))?;
        Ok(ServiceState::from_current_state(state))
    }

    /// The value of the driver parameter `parameter` in service `name`'s registry key
    /// (`...\Services\<name>\Parameters`), `None` when it is not set (the driver then uses
    /// the parameter's default).
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`] with the Win32 error (e.g. access denied).
    pub fn parameter(
        &self,
        name: &str,
        parameter: &DriverParameter,
    ) -> Result<Option<u32>, ClientError> {
        sys::read_parameter(name, parameter.name).map_err(Self::error("read parameters of", name))
    }

    /// Sets (`Some`) or removes (`None`, back to the default) a driver parameter of service
    /// `name`. The driver reads its parameters when it loads: the change takes effect at the
    /// next start.
    ///
    /// The driver clamps a value outside the parameter's range
    /// ([`DriverParameter::applied`]).
    ///
    /// # Errors
    ///
    /// [`ClientError::Service`] with the Win32 error (e.g. access denied).
    pub fn set_parameter(
        &self,
        name: &str,
        parameter: &DriverParameter,
        value: Option<u32>,
    ) -> Result<(), ClientError> {
        sys::write_parameter(name, parameter.name, value)
            .map_err(Self::error("write parameters of", name))
    }
}

#[cfg(test)]
mod tests {
    use super::ServiceState;

    #[test]
    fn states_from_scm_values() {
        assert_eq!(ServiceState::from_current_state(1), ServiceState::Stopped);
        assert_eq!(ServiceState::from_current_state(4), ServiceState::Running);
        assert_eq!(ServiceState::from_current_state(7), ServiceState::Paused);
        assert_eq!(ServiceState::from_current_state(9), ServiceState::Other(9));
        assert_eq!(ServiceState::Running.to_string(), "running");
        assert_eq!(ServiceState::NotInstalled.to_string(), "not installed");
        assert_eq!(ServiceState::Other(9).to_string(), "unknown (9)");
    }

    #[cfg(not(windows))]
    #[test]
    fn off_windows_every_call_reports_unsupported() {
        let error = super::ServiceManager::local().status("WskRs").unwrap_err();
        assert!(
            error.to_string().starts_with("query service WskRs: "),
            "{error}"
        );
    }
}
