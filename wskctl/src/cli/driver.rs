//! `wskctl driver ...`: install, start, stop, uninstall and query the driver's service
//! through the service control manager.

use std::time::Duration;

use clap::Subcommand;
use wskrs_client::{
    ClientError, InstallOutcome, ServiceManager, StartOutcome, StopOutcome, UninstallOutcome,
};
use wskrs_protocol::{driver_parameter, DriverParameter, DRIVER_PARAMETERS, SERVICE_NAME};

use super::Streams;
use crate::output::{self, Format};

/// The driver file `wskctl driver install` registers by default.
pub(crate) const DEFAULT_DRIVER_PATH: &str = r"C:\windows\system32\drivers\wskrs.sys";
/// How long `wskctl driver stop` waits for the driver to unload, in seconds, by default.
pub(crate) const STOP_TIMEOUT_SECS: u64 = 10;

/// `wskctl driver ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DriverCommand {
    /// Register the driver as a demand-start kernel driver service (already installed: exit 0).
    #[command(
        after_help = "Example:\n  wskctl driver install --path C:\\windows\\system32\\drivers\\wskrs.sys"
    )]
    Install {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
        /// The driver file.
        #[arg(long, default_value = DEFAULT_DRIVER_PATH)]
        path: String,
    },
    /// Load the driver (already running: exit 0).
    #[command(after_help = "Example:\n  wskctl driver start")]
    Start {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
    /// Unload the driver, waiting up to --timeout seconds for it to stop (not running: exit
    /// 0). Unload waits for every socket to close and every request the WSK provider holds to
    /// complete, however long that takes (the provider must not call an unloaded driver).
    #[command(after_help = "Example:\n  wskctl driver stop\n  wskctl driver stop --timeout 60")]
    Stop {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
        /// Seconds to wait for the driver to stop.
        #[arg(long, value_name = "SECONDS", default_value_t = STOP_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// Delete the driver's service (not installed: exit 0).
    #[command(after_help = "Example:\n  wskctl driver uninstall")]
    Uninstall {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
    /// Show or change the driver's parameters (its limits), read from the registry when the
    /// driver loads: a change takes effect at the next `wskctl driver start`. Without
    /// options, lists every parameter with the value set, the value the driver applies and
    /// the range; `wskctl stats` shows what the running driver applied.
    #[command(
        after_help = "Examples:\n  wskctl driver parameters\n  wskctl driver parameters --set MaxEndpoints=8192 --set EndpointsPerHandle=2048\n  wskctl driver parameters --unset MaxEndpoints"
    )]
    Parameters {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
        /// Set a parameter (NAME=VALUE; repeatable). Names: MaxEndpoints,
        /// MaxConnectionsPerListener, EndpointsPerHandle, PendedRequestsPerHandle,
        /// LockedBytesPerHandle.
        #[arg(long, value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(&'static DriverParameter, u32)>,
        /// Remove a parameter, so the driver uses its default (repeatable).
        #[arg(long, value_name = "NAME", value_parser = parse_parameter_name)]
        unset: Vec<&'static DriverParameter>,
    },
    /// Show whether the driver's service is installed and running.
    #[command(after_help = "Example:\n  wskctl driver status\n  service WskRs: running")]
    Status {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
}

pub(crate) fn run(
    command: &DriverCommand,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let manager = ServiceManager::local();
    let message = match command {
        DriverCommand::Install { name, path } => match manager.install(name, path)? {
            InstallOutcome::Installed => format!("installed service {name} ({path})"),
            InstallOutcome::AlreadyInstalled => format!("service {name} is already installed"),
        },
        DriverCommand::Start { name } => match manager.start(name)? {
            StartOutcome::Started => format!("started service {name}"),
            StartOutcome::AlreadyRunning => format!("service {name} is already running"),
        },
        DriverCommand::Stop { name, timeout } => {
            match manager.stop(name, Duration::from_secs(*timeout))? {
                StopOutcome::Stopped => format!("stopped service {name}"),
                StopOutcome::AlreadyStopped => format!("service {name} is not running"),
            }
        }
        DriverCommand::Uninstall { name } => {
            match manager.uninstall(name)? {
                UninstallOutcome::Uninstalled => format!("uninstalled service {name}"),
                UninstallOutcome::MarkedForDeletion => {
                    format!("service {name} is marked for deletion; it is removed when the driver stops")
                }
                UninstallOutcome::NotInstalled => format!("service {name} is not installed"),
            }
        }
        DriverCommand::Parameters { name, set, unset } => {
            for (parameter, value) in set {
                manager.set_parameter(name, parameter, Some(*value))?;
            }
            for parameter in unset {
                manager.set_parameter(name, parameter, None)?;
            }
            let values = DRIVER_PARAMETERS
                .iter()
                .map(|p| manager.parameter(name, p).map(|v| (p, v)))
                .collect::<Result<Vec<_>, _>>()?;
            return streams
                .reply(format, &output::DriverParameters::new(name, values))
                .map(|()| 0);
        }
        DriverCommand::Status { name } => {
            let state = manager.status(name)?;
            return streams
                .reply(format, &output::ServiceStatus::new(name, state))
                .map(|()| 0);
        }
    };
    streams.line(&message)?;
    Ok(0)
}

/// A parameter by its name (any case), or a sentence naming the known ones.
fn parse_parameter_name(text: &str) -> Result<&'static DriverParameter, String> {
    driver_parameter(text).ok_or_else(|| {
        let names: Vec<&str> = DRIVER_PARAMETERS.iter().map(|p| p.name).collect();
        format!(
            "unknown parameter `{text}`; the driver reads {}",
            names.join(", ")
        )
    })
}

/// `NAME=VALUE` with VALUE inside the parameter's range.
fn parse_setting(text: &str) -> Result<(&'static DriverParameter, u32), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected NAME=VALUE"))?;
    let parameter = parse_parameter_name(name.trim())?;
    let value: u32 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: {value} is not a whole number"))?;
    if !(parameter.min..=parameter.max).contains(&value) {
        return Err(format!(
            "{} must be between {} and {} (got {value})",
            parameter.name, parameter.min, parameter.max
        ));
    }
    Ok((parameter, value))
}

/// Off Windows there is no service manager: every command fails with a sentence.
#[cfg(all(test, not(windows)))]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn driver_commands_off_windows_fail_with_a_sentence() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "driver status");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.starts_with("error: query service WskRs: "),
            "{}",
            out.stderr
        );
        let out = wskctl(&driver, "driver parameters");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: read parameters of service WskRs: "),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn parameter_settings_are_checked_before_anything_is_written() {
        use super::{parse_parameter_name, parse_setting};
        let (p, v) = parse_setting("maxendpoints=8192").unwrap();
        assert_eq!((p.name, v), ("MaxEndpoints", 8192));
        assert_eq!(
            parse_setting("MaxEndpoints=8").unwrap_err(),
            "MaxEndpoints must be between 16 and 65536 (got 8)"
        );
        assert!(parse_setting("MaxEndpoints")
            .unwrap_err()
            .contains("NAME=VALUE"));
        assert!(parse_setting("MaxEndpoints=x")
            .unwrap_err()
            .contains("not a whole number"));
        let unknown = parse_parameter_name("Speed").unwrap_err();
        assert!(unknown.starts_with("unknown parameter `Speed`; the driver reads MaxEndpoints, "));
    }
}
