//! Security descriptors: `wskctl security` (an endpoint's descriptor, or the device's DACL,
//! as SDDL) and the `--sddl` argument of `tcp listen` and `udp bind`.

use clap::Args;
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{EndpointId, SDDL_LEN};

use super::{parse_endpoint_id, Streams};
use crate::output::{self, Format};

/// An SDDL string for a socket's security descriptor (at most 256 bytes).
pub(crate) fn parse_sddl(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > SDDL_LEN || text.contains('\0') {
        return Err(format!(
            "an SDDL descriptor is 1 to {SDDL_LEN} bytes without NUL, e.g. \"D:P(A;;GA;;;SY)\""
        ));
    }
    Ok(text.to_owned())
}

/// Whose descriptor `wskctl security` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecurityTarget {
    /// An endpoint's (`SO_WSK_SECURITY`).
    Endpoint(EndpointId),
    /// The control device's DACL, as the kernel holds it.
    Device,
}

fn parse_target(text: &str) -> Result<SecurityTarget, String> {
    if text == "device" {
        return Ok(SecurityTarget::Device);
    }
    parse_endpoint_id(text)
        .map(SecurityTarget::Endpoint)
        .map_err(|e| format!("{e}, or 'device'"))
}

/// Arguments of `wskctl security`.
#[derive(Debug, Args)]
pub(crate) struct SecurityArgs {
    /// The endpoint id, or `device` for the DACL of the driver's device object (read back by
    /// the driver from the kernel: who may open \\.\WskRs).
    #[arg(value_name = "ID|device", value_parser = parse_target)]
    pub(crate) target: SecurityTarget,
}

/// `wskctl security`: the SDDL, or a note on stderr when the endpoint has no descriptor.
pub(crate) fn run(
    device: &Device,
    args: &SecurityArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    match args.target {
        SecurityTarget::Endpoint(id) => {
            let sddl = device.security(id)?;
            streams.reply(format, &output::Security::new(id.0, sddl))?;
        }
        SecurityTarget::Device => {
            let sddl = device.device_security()?;
            streams.reply(format, &output::DeviceSecurity::new(sddl))?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn security_device_prints_the_device_dacl() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "security device");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "D:P(A;;GA;;;SY)(A;;GA;;;BA)\n")
        );
        let out = wskctl(&driver, "--json security device");
        assert_eq!(
            out.stdout,
            "{\"device\":\"\\\\Device\\\\WskRs\",\"sddl\":\"D:P(A;;GA;;;SY)(A;;GA;;;BA)\",\"admin_only\":true}\n"
        );
        let out = wskctl(&driver, "security devices");
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains("or 'device'"), "{}", out.stderr);
    }

    #[test]
    fn security_prints_the_sddl() {
        let driver = HostDriver::default();
        let out = wskctl(
            &driver,
            "tcp listen 127.0.0.1:9100 --service echo --sddl D:P(A;;GA;;;SY) --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = wskctl(&driver, "security 1");
        assert_eq!((out.code, out.stdout.as_str()), (0, "D:P(A;;GA;;;SY)\n"));
        let out = wskctl(&driver, "--json security 1");
        assert_eq!(out.stdout, "{\"id\":1,\"sddl\":\"D:P(A;;GA;;;SY)\"}\n");
        wskctl(
            &driver,
            "udp bind 127.0.0.1:0 --sddl D:(A;;GA;;;WD) --detach",
        );
        assert_eq!(wskctl(&driver, "security 2").stdout, "D:(A;;GA;;;WD)\n");
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&driver, "security 3");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", "endpoint 3 has no security descriptor\n")
        );
        assert_eq!(
            wskctl(&driver, "--json security 3").stdout,
            "{\"id\":3,\"sddl\":null}\n"
        );
        let out = wskctl(
            &driver,
            "tcp listen 127.0.0.1:9101 --service echo --sddl nonsense",
        );
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_INVALID_PARAMETER"),
            "{}",
            out.stderr
        );
        let long = format!("--sddl D:{}", "A".repeat(300));
        let out = wskctl(
            &driver,
            &format!("tcp listen 127.0.0.1:9101 --service echo {long}"),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
    }
}
