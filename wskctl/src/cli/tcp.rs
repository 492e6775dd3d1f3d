//! TCP connections and listeners in the kernel: `wskctl tcp connect`, `tcp listen`,
//! `tcp accept`, and `wskctl disconnect` (shut a connection down).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use wskrs_client::{
    ClientError, Device, DisconnectMode, Lifetime, TcpConnectOptions, TcpListenOptions,
};
use wskrs_protocol::{EndpointId, Service, MAX_CONNECTIONS};

use super::endpoints::{hand_to_service, keep_open, ServeServiceArg};
use super::options::BindArgs;
use super::secure::{parse_peer_target_name, SecureArgs};
use super::security::parse_sddl;
use super::transfer::{receive_to_file, receive_to_stdout, send_payload};
use super::{parse_endpoint_id, timeout_arg, Session, Streams};
use crate::output::{self, Format};
use crate::progress;

/// `wskctl tcp ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TcpCommand {
    /// Connect to a TCP server from the kernel; optionally send, then receive, then hand the
    /// connection to an in-kernel service (--serve), then exit.
    ///
    /// Without --detach the connection closes when wskctl exits.
    #[command(
        after_help = "Examples:\n  wskctl tcp connect 127.0.0.1:9000\n  wskctl tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5\n  wskctl tcp connect 127.0.0.1:9000 --send-text ready --serve echo --detach\n  wskctl tcp connect [::1]:9000 --local [::1]:50000 --detach --timeout-ms 2000"
    )]
    Connect(ConnectArgs),
    /// Listen for TCP connections in the kernel and serve each with an in-kernel service,
    /// or (--service none) keep them waiting for `wskctl tcp accept`.
    ///
    /// Without --detach wskctl keeps the listener until Ctrl-C or until its standard input
    /// reaches end of file, then closes it.
    #[command(
        after_help = "Examples:\n  wskctl tcp listen 127.0.0.1:9100 --service echo\n  wskctl tcp listen 127.0.0.1:9103 --service none --max-connections 8 --detach\n  wskctl tcp listen 0.0.0.0:9100 --service echo --backlog 64 --detach\n  wskctl tcp listen [::]:9101 --service discard --dual-stack --max-connections 16 --detach\n  wskctl tcp listen 127.0.0.1:9102 --service source --sddl \"D:P(A;;GA;;;SY)\" --detach"
    )]
    Listen(ListenArgs),
    /// Take the next connection waiting on a listener opened with --service none; prints
    /// the new connection endpoint, to drive with `send`, `recv` and `close`.
    ///
    /// Waits up to --timeout-ms for a connection (then STATUS_IO_TIMEOUT); Ctrl-C cancels
    /// the wait (prints `cancelled: ...`, exit 130). Without --detach the connection closes
    /// when wskctl exits (in `wskctl shell`: when the shell ends).
    #[command(
        after_help = "Examples:\n  wskctl tcp listen 127.0.0.1:9103 --service none --detach\n  endpoint 4 listening on 127.0.0.1:9103 (service none)\n  wskctl tcp accept 4 --timeout-ms 30000 --detach\n  endpoint 5 accepted 127.0.0.1:9103 <- 127.0.0.1:50312 (listener 4)\n  wskctl recv 5"
    )]
    Accept(AcceptArgs),
}

/// Arguments of `wskctl tcp accept`.
#[derive(Debug, Args)]
pub(crate) struct AcceptArgs {
    /// The listener's endpoint id (a `tcp listen --service none` listener).
    #[arg(value_name = "LISTENER", value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// How long to wait for a connection, in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
    /// Keep the connection open after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub(crate) detach: bool,
}

/// Arguments of `wskctl tcp connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server, e.g. `127.0.0.1:9000` or `[::1]:9000`.
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) remote: SocketAddr,
    /// The local address to bind (default: any address, any port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) local: Option<SocketAddr>,
    /// Connect timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
    /// Keep the connection open after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub(crate) detach: bool,
    /// After connecting, send this text.
    #[arg(long, value_name = "T", conflicts_with = "send_file")]
    pub(crate) send_text: Option<String>,
    /// After connecting, send this file's contents.
    #[arg(long, value_name = "F")]
    pub(crate) send_file: Option<PathBuf>,
    /// Then receive exactly N bytes (to stdout, or to --recv-to-file).
    #[arg(long, value_name = "N")]
    pub(crate) recv_exact: Option<u64>,
    /// Write the bytes received by --recv-exact to this file.
    #[arg(long, value_name = "F", requires = "recv_exact")]
    pub(crate) recv_to_file: Option<PathBuf>,
    /// Last, hand the connection to this in-kernel service (as `wskctl serve`). Without
    /// --detach wskctl then keeps it until Ctrl-C or the end of its standard input (in
    /// `wskctl shell`: until the shell ends), then closes it.
    #[arg(long, value_name = "SERVICE", value_enum)]
    pub(crate) serve: Option<ServeServiceArg>,
    /// Options applied before binding.
    #[command(flatten)]
    pub(crate) bind: BindArgs,
    /// Secure socket settings applied before binding.
    #[command(flatten)]
    pub(crate) secure: SecureArgs,
    /// With --secure: the server's target name for the security protocol
    /// (SIO_SET_PEER_TARGET_NAME, before connect), 1 to 127 bytes, e.g. host/server.example.
    #[arg(long, value_name = "NAME", requires = "secure", value_parser = parse_peer_target_name)]
    pub(crate) peer_target_name: Option<String>,
}

/// The services `tcp listen` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ServiceArg {
    /// Echo back everything received.
    Echo,
    /// Read and drop everything, counting the bytes (LIST's RECEIVED).
    Discard,
    /// Send the byte pattern i % 251 as fast as the client reads, until it closes.
    Source,
    /// Keep accepted connections waiting for `wskctl tcp accept` (at most --max-connections,
    /// up to 64; more are closed on arrival).
    None,
}

impl From<ServiceArg> for Service {
    fn from(service: ServiceArg) -> Self {
        match service {
            ServiceArg::Echo => Self::Echo,
            ServiceArg::Discard => Self::Discard,
            ServiceArg::Source => Self::Source,
            ServiceArg::None => Self::None,
        }
    }
}

/// Arguments of `wskctl tcp listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The address to listen on, e.g. 127.0.0.1:9100.
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) local: SocketAddr,
    /// The service run on each accepted connection.
    #[arg(long, value_enum)]
    pub(crate) service: ServiceArg,
    /// The listen backlog (0: the driver's choice).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) backlog: u32,
    /// Keep the listener after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub(crate) detach: bool,
    /// Connections served at once (0: the driver's default, 256; at most the driver's
    /// MaxConnectionsPerListener, 16,384 unless configured: `wskctl stats` shows it).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CONNECTIONS)))]
    pub(crate) max_connections: u32,
    /// The listening socket's security descriptor, in SDDL (e.g. "D:P(A;;GA;;;SY)"): whom
    /// it lets bind beside it where the sharing table checks (none: nobody).
    #[arg(long, value_name = "S", value_parser = parse_sddl)]
    pub(crate) sddl: Option<String>,
    /// Options applied before binding.
    #[command(flatten)]
    pub(crate) bind: BindArgs,
    /// Secure socket settings applied before binding.
    #[command(flatten)]
    pub(crate) secure: SecureArgs,
}

/// Arguments of `wskctl disconnect`.
#[derive(Debug, Args)]
pub(crate) struct DisconnectArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// Reset the connection instead of shutting down the send direction.
    #[arg(long)]
    pub(crate) abortive: bool,
    /// Timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

fn run_connect(
    device: &Device,
    args: &ConnectArgs,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let timeout = timeout_arg(args.timeout_ms);
    let options = TcpConnectOptions {
        local: args.local,
        lifetime: Lifetime::detached_if(args.detach),
        timeout,
        bind: args.bind.into(),
        security: args.secure.settings(),
        peer_target_name: args.peer_target_name.as_deref(),
    };
    let endpoint = device.tcp_connect(args.remote, &options)?;
    let id = endpoint.id;
    streams.reply(format, &output::Opened::connected(&endpoint, args.detach))?;
    if args.send_text.is_some() || args.send_file.is_some() {
        let sent = send_payload(
            device,
            id,
            args.send_text.as_deref(),
            args.send_file.as_deref(),
            timeout,
            progress::wanted(streams.terminal.stderr, format),
        )?;
        streams.reply(format, &output::Sent::new(id.0, sent))?;
    }
    if let Some(count) = args.recv_exact {
        let received = match &args.recv_to_file {
            Some(path) => receive_to_file(
                device,
                id,
                count,
                timeout,
                path,
                progress::wanted(streams.terminal.stderr, format),
            )?,
            None => receive_to_stdout(device, id, count, timeout, streams)?,
        };
        streams.summary(format, &output::Received::new(id.0, received, false))?;
    }
    if let Some(service) = args.serve {
        hand_to_service(device, id, service, format, streams)?;
        return keep_open(device, id, args.detach, format, streams, session);
    }
    Ok(0)
}

fn run_listen(
    device: &Device,
    args: &ListenArgs,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let service = Service::from(args.service);
    let options = TcpListenOptions {
        backlog: (args.backlog != 0).then_some(args.backlog),
        max_connections: (args.max_connections != 0).then_some(args.max_connections),
        lifetime: Lifetime::detached_if(args.detach),
        bind: args.bind.into(),
        sddl: args.sddl.as_deref(),
        security: args.secure.settings(),
    };
    let endpoint = device.tcp_listen(args.local, service, &options)?;
    streams.reply(
        format,
        &output::Opened::listening(&endpoint, args.local, service, args.detach),
    )?;
    keep_open(device, endpoint.id, args.detach, format, streams, session)
}

/// `wskctl tcp ...`.
pub(crate) fn run(
    device: &Device,
    command: &TcpCommand,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    match command {
        TcpCommand::Connect(args) => run_connect(device, args, format, streams, session),
        TcpCommand::Listen(args) => run_listen(device, args, format, streams, session),
        TcpCommand::Accept(args) => {
            let lifetime = Lifetime::detached_if(args.detach);
            let endpoint = device.accept(args.id, lifetime, timeout_arg(args.timeout_ms))?;
            streams.reply(
                format,
                &output::Opened::accepted(&endpoint, args.id.0, args.detach),
            )?;
            Ok(0)
        }
    }
}

/// `wskctl disconnect`.
pub(crate) fn run_disconnect(
    device: &Device,
    args: &DisconnectArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let mode = if args.abortive {
        DisconnectMode::Abortive
    } else {
        DisconnectMode::Graceful
    };
    device.disconnect(args.id, mode, timeout_arg(args.timeout_ms))?;
    streams.reply(format, &output::Disconnected::new(args.id.0, args.abortive))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::{wskctl, wskctl_with_stdin};
    use wskrs_host_driver::{HostDriver, REFUSING_PORT};
    use wskrs_protocol::IoctlCode;

    #[test]
    fn connect_send_and_receive_in_one_invocation() {
        let driver = HostDriver::default();
        let out = wskctl(
            &driver,
            "tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 1 connected 127.0.0.1:50001 -> 127.0.0.1:9000\nsent 5 bytes\nhello"
        );
        assert_eq!(out.stderr, "received 5 bytes\n");
    }

    #[test]
    fn connect_json_lines() {
        let driver = HostDriver::default();
        let out = wskctl(
            &driver,
            "--json tcp connect 127.0.0.1:9000 --local 127.0.0.1:40000 --detach --send-text hi",
        );
        assert_eq!(
            out.stdout,
            "{\"id\":1,\"kind\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.1:9000\",\"detached\":true}\n{\"id\":1,\"sent\":2}\n"
        );
    }

    #[test]
    fn refused_connect_prints_status_winsock_and_hint() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, &format!("tcp connect 127.0.0.1:{REFUSING_PORT}"));
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "error: tcp connect to 127.0.0.1:1: STATUS_CONNECTION_REFUSED (0xC0000236): The remote system refused the connection. [WSAECONNREFUSED] Hint: Check that a server listens on that address and port.\n"
        );
    }
    #[test]
    fn listen_without_detach_closes_at_stdin_eof() {
        let driver = HostDriver::default();
        let out = wskctl_with_stdin(
            &driver,
            "tcp listen 127.0.0.1:9100 --service echo",
            b"anything\n",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9100 (service echo)\nclosed endpoint 1\n"
        );
        assert!(driver.endpoint_ids().is_empty());
    }
    #[test]
    fn accept_takes_queued_connections_from_a_listener_without_a_service() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "tcp listen 127.0.0.1:9103 --service none --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9103 (service none)\n"
        );
        assert_eq!(
            driver.client_session(1, b"hello\n", 0, true),
            Some(Vec::new())
        );
        let out = wskctl(&driver, "tcp accept 1 --detach");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 2 accepted 127.0.0.1:9103 <- 127.0.0.1:50001 (listener 1)\n"
        );
        let out = wskctl(&driver, "recv 2");
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(wskctl(&driver, "send 2 --text back").code, 0);
        driver.client_session(1, b"x", 0, true).unwrap();
        let out = wskctl(&driver, "--json tcp accept 1");
        assert_eq!(
            out.stdout,
            "{\"id\":3,\"kind\":\"tcp\",\"local\":\"127.0.0.1:9103\",\"remote\":\"127.0.0.1:50002\",\"listener\":1,\"detached\":false}\n"
        );
        assert_eq!(
            driver.endpoint_ids(),
            [1, 2],
            "without --detach the connection closed with wskctl"
        );
        let out = wskctl(&driver, "tcp accept 1 --timeout-ms 5");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: accept on listener 1: STATUS_IO_TIMEOUT (0xC00000B5)"),
            "{}",
            out.stderr
        );
        let out = wskctl(&driver, "tcp accept 2");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        let out = wskctl(&driver, "tcp accept 0");
        assert_eq!(out.code, 2, "{}", out.stderr);
    }

    #[test]
    fn ctrl_c_cancels_a_waiting_accept() {
        let driver = HostDriver::default();
        wskctl(&driver, "tcp listen 127.0.0.1:9103 --service none --detach");
        driver.while_waiting(|| {
            assert!(
                wskrs_client::ctrl_c::on_ctrl_c(),
                "handled: the ACCEPT is outstanding"
            );
        });
        let out = wskctl(&driver, "tcp accept 1 --timeout-ms 30000");
        assert_eq!(out.code, 130);
        assert_eq!(
            out.stderr,
            "cancelled: accept on listener 1: the request was cancelled (STATUS_CANCELLED)\n"
        );
        assert_eq!(driver.endpoint_ids(), [1], "the listener stays");
    }
    #[test]
    fn listen_services_and_bind_options_reach_the_driver() {
        let driver = HostDriver::default();
        let out = wskctl(
            &driver,
            "tcp listen [::1]:9300 --service discard --v6only --reuse-addr --max-connections 2 --detach",
        );
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "endpoint 1 listening on [::1]:9300 (service discard)\n"),
            "{}",
            out.stderr
        );
        // The driver keeps socket options for connections and UDP sockets.
        let out = wskctl(&driver, "opt 1 v6only");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        // Discard counts what clients send and answers nothing.
        assert_eq!(driver.client_session(1, &[9; 1000], 10, true), Some(vec![]));
        assert_eq!(driver.client_session(1, &[9; 24], 10, true), Some(vec![]));
        // The third client finds the listener at --max-connections.
        assert_eq!(driver.client_session(1, b"x", 1, false), None);
        let list: serde_json::Value =
            serde_json::from_str(&wskctl(&driver, "--json list").stdout).unwrap();
        assert_eq!(
            (&list[0]["received"], &list[0]["served"], &list[0]["active"]),
            (&1024.into(), &2.into(), &2.into())
        );
        // A second listener on the same address.
        let out = wskctl(&driver, "tcp listen [::1]:9300 --service echo --detach");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_ADDRESS_ALREADY_EXISTS"),
            "{}",
            out.stderr
        );
        let out = wskctl(
            &driver,
            "tcp listen [::1]:9301 --service source --dual-stack --reuse-addr --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        // The refused listen used no id.
        assert_eq!(
            out.stdout,
            "endpoint 2 listening on [::1]:9301 (service source)\n"
        );
        let pattern = driver.client_session(2, b"", 600, false).unwrap();
        assert!(pattern
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 251));
        assert_eq!(pattern.len(), 600);
    }
    #[test]
    fn tcp_connect_serve_keeps_the_connection_until_stdin_ends_unless_detached() {
        let driver = HostDriver::default();
        let out = wskctl_with_stdin(
            &driver,
            "tcp connect 127.0.0.1:9000 --send-text hello --serve echo",
            b"",
        );
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                0,
                "endpoint 1 connected 127.0.0.1:50001 -> 127.0.0.1:9000\nsent 5 bytes\nendpoint 1 handed to the echo service\nclosed endpoint 1\n"
            ),
            "{}",
            out.stderr
        );
        assert!(driver.endpoint_ids().is_empty());
        assert_eq!(
            driver
                .requests()
                .iter()
                .filter(|&&code| code == IoctlCode::SERVE.0)
                .count(),
            1
        );
        let out = wskctl(
            &driver,
            "--json tcp connect 127.0.0.1:9000 --serve discard --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.ends_with("{\"id\":2,\"service\":\"discard\"}\n"),
            "{}",
            out.stdout
        );
        assert_eq!(driver.endpoint_ids(), [2], "detached: it stays served");
        let out = wskctl(&driver, "tcp connect 127.0.0.1:9000 --serve none");
        assert_eq!(out.code, 2, "{}", out.stderr);
    }
    #[test]
    fn graceful_and_abortive_disconnect() {
        let driver = HostDriver::default();
        wskctl(
            &driver,
            "tcp connect 127.0.0.1:9000 --detach --send-text abc",
        );
        let out = wskctl(&driver, "disconnect 1");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "disconnected endpoint 1 (graceful)\n")
        );
        // Receiving still works: the echo, then the peer's end of stream.
        assert_eq!(wskctl(&driver, "recv 1 --exact 3").stdout, "abc");
        assert_eq!(wskctl(&driver, "recv 1").stderr, "peer closed\n");
        let out = wskctl(&driver, "list");
        let row: Vec<&str> = out
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(row[2], "disconnected");
        assert_eq!(row[12..], ["1/2", "0", "-"]);

        wskctl(
            &driver,
            "tcp connect 127.0.0.1:9000 --detach --send-text abc",
        );
        let out = wskctl(&driver, "--json disconnect 2 --abortive");
        assert_eq!(out.stdout, "{\"id\":2,\"disconnected\":\"abortive\"}\n");
        // The connection is gone: a second DISCONNECT fails.
        let out = wskctl(&driver, "disconnect 2");
        assert!(
            out.stderr.contains("STATUS_INVALID_CONNECTION"),
            "{}",
            out.stderr
        );
        assert_eq!(wskctl(&driver, "close 2").stdout, "closed endpoint 2\n");
        wskctl(&driver, "tcp listen 127.0.0.1:9100 --service echo --detach");
        let out = wskctl(&driver, "disconnect 3");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
    }
}
