//! UDP sockets in the kernel: `wskctl udp bind`, `sendto` and `recvfrom`.

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use wskrs_client::{write_data, ClientError, Device, Lifetime, UdpBindOptions};
use wskrs_protocol::{EndpointId, UdpService, MAX_DATAGRAM};

use super::endpoints::keep_open;
use super::options::BindArgs;
use super::secure::SecureArgs;
use super::security::parse_sddl;
use super::{create_file, parse_endpoint_id, timeout_arg, Session, Streams};
use crate::output::{self, Format};

/// `wskctl udp ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UdpCommand {
    /// Open a UDP socket in the kernel: user-driven (`sendto`, `recvfrom`) or running the
    /// echo service.
    ///
    /// Without --detach wskctl keeps the socket until Ctrl-C or until its standard input
    /// reaches end of file, then closes it.
    #[command(
        after_help = "Examples:\n  wskctl udp bind 127.0.0.1:9200 --service echo --detach\n  wskctl udp bind 127.0.0.1:0 --detach\n  wskctl udp bind [::]:9201 --dual-stack --reuse-addr --detach"
    )]
    Bind(UdpBindArgs),
}

/// The services `udp bind` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum UdpServiceArg {
    /// Send every datagram back to its sender.
    Echo,
    /// Nothing by itself: drive the socket with `sendto` and `recvfrom`.
    None,
}

impl From<UdpServiceArg> for UdpService {
    fn from(service: UdpServiceArg) -> Self {
        match service {
            UdpServiceArg::Echo => Self::Echo,
            UdpServiceArg::None => Self::None,
        }
    }
}

/// Arguments of `wskctl udp bind`.
#[derive(Debug, Args)]
pub(crate) struct UdpBindArgs {
    /// The address to bind, e.g. 127.0.0.1:9200 (port 0: the stack chooses).
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) local: SocketAddr,
    /// What the socket does with its datagrams.
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) service: UdpServiceArg,
    /// Keep the socket after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub(crate) detach: bool,
    /// The socket's security descriptor, in SDDL (e.g. "D:P(A;;GA;;;SY)"): whom it lets bind
    /// beside it where the sharing table checks (none: nobody).
    #[arg(long, value_name = "S", value_parser = parse_sddl)]
    pub(crate) sddl: Option<String>,
    /// Options applied before binding.
    #[command(flatten)]
    pub(crate) bind: BindArgs,
    /// Secure socket settings applied before binding.
    #[command(flatten)]
    pub(crate) secure: SecureArgs,
}

/// Arguments of `wskctl sendto`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("payload").required(true))]
pub(crate) struct SendToArgs {
    /// The UDP endpoint's id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The destination, e.g. 127.0.0.1:9000 or [::1]:9000.
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) remote: SocketAddr,
    /// Send this text as the datagram.
    #[arg(long, value_name = "T", group = "payload")]
    pub(crate) text: Option<String>,
    /// Send this file as one datagram (at most 65507 bytes).
    #[arg(long, value_name = "F", group = "payload")]
    pub(crate) file: Option<PathBuf>,
    /// Timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

/// Arguments of `wskctl recvfrom`.
#[derive(Debug, Args)]
pub(crate) struct RecvFromArgs {
    /// The UDP endpoint's id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The most bytes to return (a longer datagram is truncated; at most 65507).
    #[arg(long, value_name = "N", default_value_t = MAX_DATAGRAM, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DATAGRAM)))]
    pub(crate) max: u32,
    /// Timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
    /// Write the datagram to this file instead of stdout.
    #[arg(long, value_name = "F")]
    pub(crate) to_file: Option<PathBuf>,
}

fn run_udp_bind(
    device: &Device,
    args: &UdpBindArgs,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let service = UdpService::from(args.service);
    let options = UdpBindOptions {
        lifetime: Lifetime::detached_if(args.detach),
        bind: args.bind.into(),
        sddl: args.sddl.as_deref(),
        security: args.secure.settings(),
    };
    let endpoint = device.udp_bind(args.local, service, &options)?;
    streams.reply(
        format,
        &output::Opened::bound(&endpoint, args.local, service.into(), args.detach),
    )?;
    keep_open(device, endpoint.id, args.detach, format, streams, session)
}

/// The datagram `sendto` sends: the text, or the whole file if it fits in one datagram.
fn datagram_payload(args: &SendToArgs) -> Result<Vec<u8>, ClientError> {
    if let Some(text) = &args.text {
        return Ok(text.as_bytes().to_vec());
    }
    let Some(path) = &args.file else {
        return Ok(Vec::new());
    };
    let what = path.display().to_string();
    let file =
        File::open(path).map_err(|source| ClientError::io(format!("opening {what}"), source))?;
    // Read one byte more than fits, to tell a full datagram from a file that is too long.
    let mut data = Vec::new();
    file.take(u64::from(MAX_DATAGRAM) + 1)
        .read_to_end(&mut data)
        .map_err(|source| ClientError::io(format!("reading {what}"), source))?;
    if data.len() > MAX_DATAGRAM as usize {
        return Err(ClientError::io(
            format!("{what} is longer than one datagram ({MAX_DATAGRAM} bytes at most)"),
            io::ErrorKind::InvalidInput.into(),
        ));
    }
    Ok(data)
}

/// The datagram `sendto` sends: 1 to `MAX_DATAGRAM` bytes.
fn nonempty_datagram(args: &SendToArgs) -> Result<Vec<u8>, ClientError> {
    let data = datagram_payload(args)?;
    if data.is_empty() {
        return Err(ClientError::io(
            "sendto: an empty datagram",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "zero-length datagrams cannot be sent (ABI v3); give --text or a non-empty --file",
            ),
        ));
    }
    Ok(data)
}

pub(crate) fn run_recv_from(
    device: &Device,
    args: &RecvFromArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let datagram = device.recv_from(args.id, args.max, timeout_arg(args.timeout_ms))?;
    match &args.to_file {
        Some(path) => {
            let mut file = create_file(path)?;
            write_data(&mut file, &datagram.data)
                .map_err(|source| ClientError::io(format!("writing {}", path.display()), source))?;
        }
        None => {
            write_data(&mut *streams.stdout, &datagram.data)
                .and_then(|()| streams.stdout.flush())
                .map_err(|source| ClientError::io("writing to stdout", source))?;
        }
    }
    streams.summary(format, &output::ReceivedFrom::new(args.id.0, &datagram))?;
    Ok(0)
}

/// `wskctl udp ...`.
pub(crate) fn run(
    device: &Device,
    command: &UdpCommand,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    match command {
        UdpCommand::Bind(args) => run_udp_bind(device, args, format, streams, session),
    }
}

/// `wskctl sendto`.
pub(crate) fn run_send_to(
    device: &Device,
    args: &SendToArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let data = nonempty_datagram(args)?;
    let sent = device.send_to(args.id, args.remote, &data, timeout_arg(args.timeout_ms))?;
    streams.reply(
        format,
        &output::SentTo::new(args.id.0, sent.into(), args.remote),
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;
    use wskrs_protocol::MAX_DATAGRAM;

    #[test]
    fn an_empty_datagram_is_refused_before_the_driver() {
        let driver = HostDriver::default();
        wskctl(&driver, "udp bind 127.0.0.1:9400 --detach");
        let empty = std::env::temp_dir().join(format!("wskctl-empty-{}.bin", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let before = driver.requests().len();
        let out = wskctl(
            &driver,
            &format!("sendto 1 127.0.0.1:9000 --file {}", empty.display()),
        );
        let _ = std::fs::remove_file(&empty);
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .contains("zero-length datagrams cannot be sent (ABI v3)"),
            "{}",
            out.stderr
        );
        assert_eq!(driver.requests().len(), before);
    }
    #[test]
    fn udp_bind_sendto_recvfrom() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "udp bind 127.0.0.1:9200 --service echo --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 bound to 127.0.0.1:9200 (service echo)\n"
        );
        let out = wskctl(&driver, "--json udp bind 127.0.0.1:9202 --detach");
        assert_eq!(
            out.stdout,
            "{\"id\":2,\"kind\":\"udp\",\"local\":\"127.0.0.1:9202\",\"remote\":null,\"service\":\"none\",\"detached\":true}\n"
        );
        let out = wskctl(&driver, "sendto 2 127.0.0.1:9200 --text ping");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "sent 4 bytes to 127.0.0.1:9200\n")
        );
        let out = wskctl(&driver, "recvfrom 2");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("ping", "received 4 bytes from 127.0.0.1:9200\n")
        );
        // A datagram longer than --max is truncated.
        driver.peer_sends_to(2, "[::1]:7".parse().unwrap(), b"abcdef");
        let out = wskctl(&driver, "--json recvfrom 2 --max 3");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("abc", "{\"id\":2,\"received\":3,\"from\":\"[::1]:7\"}\n")
        );
        let out = wskctl(&driver, "recvfrom 2 --timeout-ms 5");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_IO_TIMEOUT"), "{}", out.stderr);
        let list: serde_json::Value =
            serde_json::from_str(&wskctl(&driver, "--json list").stdout).unwrap();
        assert_eq!(list[0]["kind"], "udp");
        assert_eq!(list[0]["state"], "bound");
        assert_eq!(
            (&list[0]["sent"], &list[0]["received"]),
            (&4.into(), &4.into())
        );
        assert_eq!(
            (
                &list[1]["send_ops"],
                &list[1]["recv_ops"],
                &list[1]["errors"]
            ),
            (&1.into(), &3.into(), &1.into())
        );
        assert_eq!(list[1]["last_status"], "STATUS_IO_TIMEOUT");
    }

    #[test]
    fn udp_misuse_is_refused() {
        let driver = HostDriver::default();
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&driver, "sendto 1 127.0.0.1:9000 --text x");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.starts_with(
                "error: sendto on endpoint 1 to 127.0.0.1:9000: STATUS_INVALID_DEVICE_STATE"
            ),
            "{}",
            out.stderr
        );
        wskctl(&driver, "udp bind 127.0.0.1:0 --detach");
        let out = wskctl(&driver, "send 2 --text x");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        let dir = std::env::temp_dir().join(format!("wskctl-dgram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.bin");
        std::fs::write(&file, vec![1u8; MAX_DATAGRAM as usize + 1]).unwrap();
        let before = driver.requests().len();
        let out = wskctl(
            &driver,
            &format!("sendto 2 127.0.0.1:9 --file {}", file.display()),
        );
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("longer than one datagram"),
            "{}",
            out.stderr
        );
        assert_eq!(
            driver.requests().len(),
            before,
            "nothing reached the driver"
        );
        std::fs::write(&file, vec![1u8; MAX_DATAGRAM as usize]).unwrap();
        let out = wskctl(
            &driver,
            &format!("sendto 2 127.0.0.1:9 --file {}", file.display()),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.stdout, "sent 65507 bytes to 127.0.0.1:9\n");
    }
}
