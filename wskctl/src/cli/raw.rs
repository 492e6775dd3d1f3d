//! `wskctl raw`: a developer's tool that sends raw bytes with any IOCTL code.

use clap::Args;
use wskrs_client::{ClientError, Device};
use wskrs_protocol::MAX_TRANSFER;

use super::Streams;
use crate::output::{self, Format};

/// Arguments of `wskctl raw`.
#[derive(Debug, Args)]
pub(crate) struct RawArgs {
    /// The IOCTL code, decimal or 0x-prefixed hex.
    #[arg(long, value_name = "CODE", value_parser = parse_code)]
    pub(crate) code: u32,
    /// The input bytes as hex (spaces allowed), sent as is.
    #[arg(long, value_name = "HEX", value_parser = parse_hex, default_value = "")]
    pub(crate) input_hex: HexBytes,
    /// Open the device for reading only (GENERIC_READ): codes that need write access are
    /// refused with STATUS_ACCESS_DENIED by the I/O manager, before the driver sees them.
    #[arg(long)]
    pub(crate) read_only: bool,
    /// The output buffer size in bytes.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_TRANSFER) + 16))]
    pub(crate) output_len: u32,
}

/// Bytes given as hex on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HexBytes(pub Vec<u8>);

fn parse_code(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("'{text}' is not a 32-bit code (decimal, or hex with 0x)"))
}

fn parse_hex(text: &str) -> Result<HexBytes, String> {
    output::hex_decode(text).map(HexBytes)
}

/// `wskctl raw`: exit status 0 when the driver answered with a success status, 1 otherwise.
pub(crate) fn run(
    device: &Device,
    args: &RawArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let reply = device.raw(args.code, &args.input_hex.0, args.output_len as usize);
    streams.reply(format, &output::RawResult::from(&reply))?;
    Ok(u8::from(!reply.status.is_success()))
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn raw_reports_status_and_exit_code() {
        let driver = HostDriver::default();
        let out = wskctl(
            &driver,
            "raw --code 0x80576000 --input-hex 0700000008000000 --output-len 24",
        );
        assert_eq!(out.code, 0);
        assert_eq!(out.stdout, "status STATUS_SUCCESS (0x00000000)\noutput 070000001800000000000100000000010700000000000000\n");
        let out = wskctl(&driver, "raw --code 0x80576000 --input-hex 04000000");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                1,
                "status STATUS_INFO_LENGTH_MISMATCH (0xC0000004)\noutput\n"
            )
        );
        // A v1 client's INFO (its code without the read-access bits of ABI 4): the version
        // mismatch, not an unknown code.
        let out = wskctl(
            &driver,
            "raw --code 2153193472 --input-hex 0100000008000000",
        );
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (1, "status STATUS_REVISION_MISMATCH (0xC0000059)\noutput\n")
        );
        let out = wskctl(&driver, "raw --code 0x1234");
        assert_eq!(
            out.stdout,
            "status STATUS_INVALID_DEVICE_REQUEST (0xC0000010)\noutput\n"
        );
        let out = wskctl(
            &driver,
            "raw --code 0x80576000 --input-hex 0700000008000000 --output-len 8",
        );
        assert_eq!(
            out.stdout,
            "status STATUS_BUFFER_TOO_SMALL (0xC0000023)\noutput\n"
        );
    }
}
