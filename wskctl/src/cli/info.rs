//! `wskctl info` and `wskctl stats`: the driver's version and its driver-wide counters.

use wskrs_client::{ClientError, Device};

use super::Streams;
use crate::output::{self, Format};

/// `wskctl info`.
pub(crate) fn run_info(
    device: &Device,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let info = device.info()?;
    streams.reply(format, &output::Info::from(&info))?;
    Ok(0)
}

/// `wskctl stats`.
pub(crate) fn run_stats(
    device: &Device,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let stats = device.stats()?;
    // A driver without HELD (older) still reports its STATS.
    let held = device.held().ok();
    streams.reply(
        format,
        &output::DriverStats::from(&stats).with_held(held.as_ref()),
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn info_text_and_json() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "info");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                0,
                "wsk-rs driver 0.1.0, protocol 7, WSK provider 1.0, 0 endpoints\n"
            )
        );
        let out = wskctl(&driver, "info --json");
        assert_eq!(out.stdout, "{\"driver_version\":\"0.1.0\",\"protocol\":7,\"wsk_version\":\"1.0\",\"endpoints\":0}\n");
        let out = wskctl(&driver, "--json info");
        assert_eq!(out.code, 0);
        assert!(out.stdout.starts_with('{'));
    }
}
