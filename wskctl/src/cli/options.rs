//! Socket options: `wskctl opt` (get or set one option of an endpoint) and the options
//! applied before a socket is bound (`--reuse-addr`, `--exclusive-addr`, `--v6only`,
//! `--dual-stack` of `tcp connect`, `tcp listen` and `udp bind`).

use std::io;
use std::net::SocketAddr;

use clap::{Args, ValueEnum};
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{BindFlags, EndpointId, OptionId, MAX_OPTION_VALUE};

use super::{parse_endpoint_id, Streams};
use crate::output::{self, Format};

/// Options applied to a socket before it is bound (`tcp connect`, `tcp listen`, `udp bind`).
#[derive(Debug, Args, Clone, Copy, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "four command-line switches, two pairs that clap keeps exclusive"
)]
pub(crate) struct BindArgs {
    /// Set SO_REUSEADDR before binding: share the address with sockets that allow it (the
    /// WSK sharing table decides each bind beside another).
    #[arg(long, conflicts_with = "exclusive_addr")]
    pub(crate) reuse_addr: bool,
    /// Set SO_EXCLUSIVEADDRUSE before binding: no other socket may bind an overlapping
    /// address.
    #[arg(long)]
    pub(crate) exclusive_addr: bool,
    /// IPv6 sockets: set IPV6_V6ONLY (IPv6 traffic only).
    #[arg(long, conflicts_with = "dual_stack")]
    pub v6only: bool,
    /// IPv6 sockets: clear IPV6_V6ONLY, so a wildcard socket also serves IPv4.
    #[arg(long)]
    pub(crate) dual_stack: bool,
}

impl From<BindArgs> for BindFlags {
    fn from(args: BindArgs) -> Self {
        Self {
            reuse: args.reuse_addr,
            exclusive: args.exclusive_addr,
            v6only: if args.v6only {
                Some(true)
            } else if args.dual_stack {
                Some(false)
            } else {
                None
            },
        }
    }
}

impl BindArgs {
    /// The usage error for IPv6 options on an IPv4 address, if any.
    pub(crate) fn check(self, address: SocketAddr) -> Result<(), String> {
        if address.is_ipv4() && (self.v6only || self.dual_stack) {
            return Err(format!(
                "--v6only and --dual-stack apply to IPv6 sockets only; {address} is IPv4"
            ));
        }
        Ok(())
    }
}

/// The socket options `wskctl opt` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OptName {
    /// SO_KEEPALIVE (on/off).
    Keepalive,
    /// TCP_NODELAY (on/off).
    Nodelay,
    /// SO_RCVBUF (bytes).
    Rcvbuf,
    /// SO_SNDBUF (bytes).
    Sndbuf,
    /// SO_REUSEADDR (read only: set with --reuse-addr when binding).
    Reuseaddr,
    /// SO_EXCLUSIVEADDRUSE (read only: set with --exclusive-addr when binding).
    Exclusiveaddruse,
    /// IPV6_V6ONLY (read only: set with --v6only or --dual-stack when binding).
    V6only,
}

impl OptName {
    /// The protocol's option.
    #[must_use]
    pub(crate) const fn option(self) -> OptionId {
        match self {
            Self::Keepalive => OptionId::Keepalive,
            Self::Nodelay => OptionId::NoDelay,
            Self::Rcvbuf => OptionId::RcvBuf,
            Self::Sndbuf => OptionId::SndBuf,
            Self::Reuseaddr => OptionId::ReuseAddr,
            Self::Exclusiveaddruse => OptionId::ExclusiveAddrUse,
            Self::V6only => OptionId::Ipv6V6Only,
        }
    }

    /// The name on the command line.
    #[must_use]
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Keepalive => "keepalive",
            Self::Nodelay => "nodelay",
            Self::Rcvbuf => "rcvbuf",
            Self::Sndbuf => "sndbuf",
            Self::Reuseaddr => "reuseaddr",
            Self::Exclusiveaddruse => "exclusiveaddruse",
            Self::V6only => "v6only",
        }
    }

    /// The wire value of `text` for this option.
    ///
    /// # Errors
    ///
    /// A sentence for a get-only option or a value the option cannot take.
    pub(crate) fn parse_value(self, text: &str) -> Result<u32, String> {
        let option = self.option();
        if !option.is_settable() {
            let flag = match self {
                Self::Reuseaddr => "--reuse-addr",
                Self::Exclusiveaddruse => "--exclusive-addr",
                _ => "--v6only or --dual-stack",
            };
            return Err(format!(
                "{} is fixed when the socket is bound ({flag}); it can only be read",
                self.name()
            ));
        }
        if option.is_bool() {
            return match text {
                "on" | "true" | "1" => Ok(1),
                "off" | "false" | "0" => Ok(0),
                _ => Err(format!(
                    "'{text}' is not a value for {}: use on or off",
                    self.name()
                )),
            };
        }
        text.parse::<u32>()
            .ok()
            .filter(|&value| option.accepts(value))
            .ok_or_else(|| {
                format!(
                    "'{text}' is not a size for {}: a number of bytes up to {MAX_OPTION_VALUE}",
                    self.name()
                )
            })
    }
}

/// Arguments of `wskctl opt`.
#[derive(Debug, Args)]
pub(crate) struct OptArgs {
    /// The endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The option.
    #[arg(value_enum)]
    pub(crate) name: OptName,
    /// Set the option to this value (on/off for keepalive and nodelay, bytes for rcvbuf
    /// and sndbuf); without it the option is read.
    pub(crate) value: Option<String>,
}

/// `wskctl opt`: sets the option when a value is given, then prints the value read back.
pub(crate) fn run(
    device: &Device,
    args: &OptArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let option = args.name.option();
    let value = match &args.value {
        // `check` already refused values that do not parse.
        Some(text) => {
            let value = args
                .name
                .parse_value(text)
                .map_err(|message| ClientError::io(message, io::ErrorKind::InvalidInput.into()))?;
            device.set_socket_option(args.id, option, value)?
        }
        None => device.socket_option(args.id, option)?,
    };
    streams.reply(
        format,
        &output::OptionValue::new(args.id.0, args.name.name(), value),
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn options_round_trip() {
        let driver = HostDriver::default();
        for (remote, connection) in [("127.0.0.1:9000", 1), ("[::1]:9000", 2)] {
            wskctl(&driver, &format!("tcp connect {remote} --detach"));
            // As socket2's tests: the initial value differs from the one set.
            for (name, set, expected_before, expected_after) in [
                ("keepalive", "on", "0", "1"),
                ("nodelay", "true", "0", "1"),
                ("rcvbuf", "262144", "8192", "262144"),
                ("sndbuf", "4096", "8192", "4096"),
            ] {
                let before = wskctl(&driver, &format!("opt {connection} {name}"));
                assert_eq!(before.stdout, format!("{name} = {expected_before}\n"));
                let after = wskctl(&driver, &format!("opt {connection} {name} {set}"));
                assert_eq!(after.stdout, format!("{name} = {expected_after}\n"));
                let again = wskctl(&driver, &format!("--json opt {connection} {name}"));
                assert_eq!(
                    again.stdout,
                    format!(
                        "{{\"id\":{connection},\"option\":\"{name}\",\"value\":{expected_after}}}\n"
                    )
                );
            }
        }
        // IPV6_V6ONLY of the IPv6 connection: Windows' default (on), as the provider answers.
        assert_eq!(wskctl(&driver, "opt 2 v6only").stdout, "v6only = 1\n");
        wskctl(&driver, "udp bind 127.0.0.1:0 --detach");
        let out = wskctl(&driver, "opt 3 nodelay off");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: set nodelay of endpoint 3 to 0: STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
    }
}
