//! `wskctl resolve`: name resolution in the kernel (WskGetAddressInfo).

use clap::Args;
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{RESOLVE_NAME_LEN, RESOLVE_SERVICE_LEN};

use super::{timeout_arg, Streams};
use crate::output::{self, Format};

/// Text of `min..=max` bytes without NUL (RESOLVE's name and service).
fn bounded_text(text: &str, min: usize, max: usize) -> Result<String, String> {
    if text.len() < min || text.len() > max || text.contains('\0') {
        return Err(format!("{min} to {max} bytes without NUL"));
    }
    Ok(text.to_owned())
}

/// Arguments of `wskctl resolve`.
#[derive(Debug, Args)]
pub(crate) struct ResolveArgs {
    /// The host name or address literal (1 to 255 bytes).
    #[arg(value_name = "NAME", value_parser = |text: &str| bounded_text(text, 1, RESOLVE_NAME_LEN - 1))]
    pub(crate) name: String,
    /// A service: a port number or a name such as http, up to 31 bytes (the addresses
    /// carry its port).
    #[arg(long, value_name = "S", default_value = "", value_parser = |text: &str| bounded_text(text, 0, RESOLVE_SERVICE_LEN - 1))]
    pub(crate) service: String,
    /// Timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

/// `wskctl resolve`: one address per line, or the JSON object.
pub(crate) fn run(
    device: &Device,
    args: &ResolveArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let addresses = device.resolve(&args.name, &args.service, timeout_arg(args.timeout_ms))?;
    streams.reply(format, &output::Resolved::new(&args.name, &addresses))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn resolve_and_stats() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "resolve localhost");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "127.0.0.1:0\n[::1]:0\n")
        );
        let out = wskctl(&driver, "--json resolve localhost --service 80");
        assert_eq!(
            out.stdout,
            "{\"name\":\"localhost\",\"addresses\":[\"127.0.0.1:80\",\"[::1]:80\"]}\n"
        );
        let out = wskctl(&driver, "resolve no.such.host");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: resolve no.such.host: STATUS_NOT_FOUND"),
            "{}",
            out.stderr
        );
        let long = "a".repeat(256);
        let out = wskctl(&driver, &format!("resolve {long}"));
        assert_eq!(
            out.code, 2,
            "a name of 256 bytes is a usage error: {}",
            out.stderr
        );

        wskctl(
            &driver,
            "tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5",
        );
        let stats: serde_json::Value =
            serde_json::from_str(&wskctl(&driver, "--json stats").stdout).unwrap();
        assert_eq!(stats["endpoints_open"], 0);
        assert_eq!(stats["endpoints_peak"], 1);
        assert_eq!(stats["endpoints_opened"], 1);
        assert_eq!(
            (&stats["bytes_sent"], &stats["bytes_received"]),
            (&5.into(), &5.into())
        );
        // Failures of endpoint operations count; the unknown name failed no endpoint.
        assert_eq!(stats["errors"], 0);
        let text = wskctl(&driver, "stats").stdout;
        assert!(text.contains("bytes sent          5\n"), "{text}");
        // Nine STATS counters, the five limits the driver applied (its defaults here), then
        // the six HELD counters (process-wide here: other tests run beside this one, so only
        // their presence is checked).
        assert!(text.lines().count() == 20, "{text}");
        assert!(text.contains("max endpoints       4096\n"), "{text}");
        assert!(text.contains("quota locked bytes  16777216\n"), "{text}");
        assert_eq!(
            stats["limits"]["max_connections_per_listener"], 16_384,
            "{stats}"
        );
        assert!(stats["held"]["pool_bytes"].is_u64(), "{stats}");
        assert!(stats["held"]["sockets"].is_u64(), "{stats}");
    }
}
