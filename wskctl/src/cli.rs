//! The `wskctl` command line: argument definitions and what each command does.
//!
//! [`main_with`] is the whole program with its environment passed in (arguments, how to
//! open the device, the three standard streams), so tests run it against a fake driver.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use wskrs_protocol::{
    BindFlags, EndpointId, ListenOptions, OptionId, Service, UdpService, MAX_CONNECTIONS,
    MAX_DATAGRAM, MAX_OPTION_VALUE, MAX_TRANSFER, RESOLVE_NAME_LEN, RESOLVE_SERVICE_LEN, SDDL_LEN,
    SERVICE_NAME, USER_DEVICE_PATH,
};

use crate::output;
use crate::progress::{self, Counting, Progress};
use wskrs_client::write_data;
use wskrs_client::{
    ClientError, Device, InstallOutcome, ServiceManager, StartOutcome, StopOutcome, UdpOptions,
    UninstallOutcome,
};

/// The driver file `wskctl driver install` registers by default.
pub(crate) const DEFAULT_DRIVER_PATH: &str = r"C:\windows\system32\drivers\wskrs.sys";
/// How long `wskctl driver stop` waits for the driver to unload.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// `wskctl recv` without `--max` or `--exact` asks for at most this many bytes.
pub(crate) const DEFAULT_RECV_MAX: u32 = 65_536;

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the driver or Windows refused (the message names the NTSTATUS, its meaning,
     the nearest Winsock error and a hint)
  2  usage error
  3  the device could not be opened (is the driver loaded? try `wskctl driver start`)
  130  cancelled: Ctrl-C while the driver was working on a request (a `recv` waiting for
     data, a `send` waiting for a slow reader, a `tcp accept` waiting for a connection)
     cancels it and prints `cancelled: ...`

Examples:
  wskctl driver install --path C:\\windows\\system32\\drivers\\wskrs.sys
  wskctl driver start
  wskctl info
  wskctl tcp listen 127.0.0.1:9100 --service echo --detach
  wskctl tcp connect 127.0.0.1:9100 --send-text hello --recv-exact 5
  wskctl serve 3 --service echo
  wskctl udp bind 127.0.0.1:9200 --service echo --detach
  wskctl opt 3 nodelay on
  wskctl resolve localhost
  wskctl list --json
  wskctl shell
  wskctl selftest";

/// Drive the wsk-rs kernel driver: install and load it, open in-kernel TCP and UDP
/// endpoints, send and receive through them, set their options, resolve names.
#[derive(Debug, Parser)]
#[command(name = "wskctl", bin_name = "wskctl", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The device to open.
    #[arg(long, global = true, value_name = "PATH", default_value = USER_DEVICE_PATH)]
    pub(crate) device: String,
    /// Print machine-readable JSON (every command that prints a result: info, list, stats,
    /// tcp, udp, send, recv, serve, sendto, recvfrom, disconnect, opt, security, resolve,
    /// close, raw, driver status, selftest).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The `wskctl` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Install, start, stop, uninstall or query the driver's service.
    #[command(subcommand)]
    Driver(DriverCommand),
    /// Show the driver's version, protocol, WSK provider version and endpoint count.
    #[command(
        after_help = "Example:\n  wskctl info\n  wsk-rs driver 0.1.0, protocol 3, WSK provider 1.0, 0 endpoints"
    )]
    Info,
    /// Open TCP endpoints in the kernel.
    #[command(subcommand)]
    Tcp(TcpCommand),
    /// Open UDP endpoints in the kernel.
    #[command(subcommand)]
    Udp(UdpCommand),
    /// Send bytes on a connection; prints `sent N bytes`.
    ///
    /// Each SEND (at most 4 MiB) completes once the transport took all its bytes, so a slow
    /// reader makes it wait (up to --timeout-ms); Ctrl-C cancels it (exit 130).
    #[command(
        after_help = "Examples:\n  wskctl send 3 --text hello\n  wskctl send 3 --file payload.bin --timeout-ms 30000"
    )]
    Send(SendArgs),
    /// Receive bytes from a connection, to stdout (raw) or a file; the summary goes to stderr.
    ///
    /// A receive waits in the driver until data arrives, up to --timeout-ms (then
    /// STATUS_IO_TIMEOUT); Ctrl-C cancels it (prints `cancelled: ...`, exit 130).
    #[command(
        after_help = "Examples:\n  wskctl recv 3 --exact 5\n  wskctl recv 3 --max 4096 --to-file out.bin"
    )]
    Recv(RecvArgs),
    /// Hand a connection to an in-kernel service (echo, discard or source); prints
    /// `endpoint N handed to the S service`.
    ///
    /// The driver moves the connection's data from then on: the endpoint keeps its id,
    /// `list` shows the service and its bytes, and `send`/`recv` on it fail with
    /// STATUS_INVALID_DEVICE_STATE. Refused while a send or receive is outstanding on it
    /// (STATUS_DEVICE_BUSY) and for anything but a connection driven by wskctl (a listener, a
    /// UDP socket, a connection already served: STATUS_INVALID_DEVICE_STATE). `close` ends
    /// the service's connection; so does the end of the handle that opened it, unless it was
    /// opened with --detach (or in the same `wskctl shell`, which keeps it until it exits).
    #[command(
        after_help = "Examples:\n  wskctl tcp connect 127.0.0.1:9000 --detach\n  endpoint 3 connected 127.0.0.1:50000 -> 127.0.0.1:9000\n  wskctl serve 3 --service echo\n  endpoint 3 handed to the echo service\n  wskctl list\n  wskctl close 3"
    )]
    Serve(ServeArgs),
    /// The commands new in ABI v2 (flattened: they are top-level subcommands).
    #[command(flatten)]
    V2(V2Command),
    /// Close an endpoint.
    #[command(after_help = "Example:\n  wskctl close 3")]
    Close {
        /// The endpoint id (from `tcp connect`, `tcp listen` or `list`).
        #[arg(value_parser = parse_endpoint_id)]
        id: EndpointId,
    },
    /// List the endpoints with their counters.
    ///
    /// Columns: ID KIND STATE SERVICE LOCAL REMOTE SENT RECEIVED SERVED ACTIVE FLAGS, then
    /// OPEN (time open), OPS (send/receive operations completed), ERRORS (failed operations)
    /// and LAST (the last failure's status). --json gives the same fields, with opened_ms,
    /// send_ops, recv_ops, errors and last_status.
    #[command(after_help = "Examples:\n  wskctl list\n  wskctl list --json")]
    List,
    /// Developer tool: send raw bytes with any IOCTL code and print the status and output.
    ///
    /// Exits 0 when the driver answered with a success status, 1 otherwise.
    #[command(
        after_help = "Examples:\n  wskctl raw --code 0x80572000 --input-hex 0300000008000000 --output-len 24\n  wskctl raw --code 0x80572000 --input-hex 02000000\n  (prints `status STATUS_... (0x...)` then `output <hex>`)"
    )]
    Raw(RawArgs),
    /// An interactive session on one device handle: type wskctl commands without `wskctl`.
    ///
    /// Endpoints live as long as the session: a connection or listener opened without
    /// --detach stays open between lines and closes when the shell exits (`tcp listen` and
    /// `udp bind` return at once instead of waiting for end of input). Lines are split like a
    /// POSIX shell's (quote Windows paths in single quotes: 'C:\dir\file'); `help` lists
    /// the commands, `exit` (or Ctrl-D) leaves. On a terminal, lines can be edited and
    /// history (Up/Down, Ctrl-R) is kept in --history.
    #[command(
        after_help = "Examples:\n  wskctl shell\n  wskctl shell --history C:\\users\\me\\wskctl-history.txt\n  wskctl shell --no-history\n\nA session:\n  wskctl> tcp connect 127.0.0.1:9000\n  endpoint 1 connected 127.0.0.1:50000 -> 127.0.0.1:9000\n  wskctl> send 1 --text 'hello world'\n  sent 11 bytes\n  wskctl> recv 1 --exact 11\n  hello world\n  received 11 bytes\n  wskctl> exit"
    )]
    Shell(ShellArgs),
    /// Run the end-to-end self-test against the installed driver: each scenario's peers live
    /// in this process (user-mode Winsock), so no other machine is needed.
    ///
    /// Prints the wskctl, driver, protocol and WSK provider versions and the OS, then one row
    /// per scenario: PASS, FAIL with the reason (the NTSTATUS name and meaning when the
    /// driver refused), or SKIP when the WSK provider lacks what the scenario needs (decided
    /// by the status the driver returned, e.g. STATUS_NOT_IMPLEMENTED; a skip is never a
    /// pass). Every step waits at most --timeout-ms; every endpoint a scenario opens is
    /// closed, and the last scenario checks the driver's endpoint count is back where it was.
    /// --json gives one object to attach to a bug report: wskctl_version, os,
    /// driver_version, protocol, wsk_version, timeout_ms, passed, failed, skipped,
    /// duration_ms and scenarios (name, outcome pass/fail/skip, reason, status, needs,
    /// duration_ms). Exit status 1 when a scenario failed. Ctrl-C stops it (its handles
    /// close, and with them its endpoints). It opens handles of its own, so it is not
    /// available in `wskctl shell`.
    #[command(after_help = SELFTEST_HELP)]
    Selftest(SelftestArgs),
    /// Connect with the library's KernelTcpStream and copy a file into the connection
    /// (std::io::copy through a 4 MiB BufWriter), then close it; prints the bytes, the time,
    /// the rate and the SHA-256 of what was sent.
    #[command(
        after_help = "Examples:\n  wskctl stream-send 127.0.0.1:9000 --file payload.bin\n  wskctl --json stream-send [::1]:9000 --file payload.bin --timeout-ms 30000"
    )]
    StreamSend(StreamSendArgs),
}

const SELFTEST_HELP: &str = "\
Examples:
  wskctl selftest
  wskctl --json selftest
  wskctl selftest --list
  wskctl selftest --only tcp_connect_echo_1mib recv_cancel --timeout-ms 10000

For a bug report, save the JSON report to a file (in cmd or PowerShell:
`wskctl --json selftest > selftest.json`) and attach it.

Exit status: 0 every scenario passed or was skipped; 1 a scenario failed; 3 the device
could not be opened (is the driver loaded? `wskctl driver status`).";

/// Arguments of `wskctl selftest`.
#[derive(Debug, Args)]
pub(crate) struct SelftestArgs {
    /// Run only these scenarios (names from --list), in the usual order.
    #[arg(long, value_name = "NAME", num_args = 1.., value_parser = parse_scenario)]
    pub(crate) only: Vec<String>,
    /// List the scenarios and what each checks, without running them.
    #[arg(long, conflicts_with = "only")]
    pub(crate) list: bool,
    /// How long one step may wait (a request to the driver, a peer's read), in
    /// milliseconds.
    #[arg(long, value_name = "N", default_value_t = crate::selftest::DEFAULT_TIMEOUT_MS, value_parser = clap::value_parser!(u32).range(500..=600_000))]
    pub(crate) timeout_ms: u32,
}

fn parse_scenario(text: &str) -> Result<String, String> {
    match crate::selftest::find(text) {
        Some(scenario) => Ok(scenario.name.to_owned()),
        None => Err(format!(
            "no scenario '{text}'; `wskctl selftest --list` lists them"
        )),
    }
}

/// Arguments of `wskctl stream-send`.
#[derive(Debug, Args)]
pub(crate) struct StreamSendArgs {
    /// The server, e.g. `127.0.0.1:9000`.
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) remote: SocketAddr,
    /// The file to send.
    #[arg(long, value_name = "F")]
    pub(crate) file: PathBuf,
    /// Connect timeout and the timeout of each SEND, in milliseconds (0: the driver's
    /// default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

/// Arguments of `wskctl shell`.
#[derive(Debug, Args)]
pub(crate) struct ShellArgs {
    /// Keep the line history in this file (default: .wskctl_history in the user's profile
    /// directory).
    #[arg(long, value_name = "F", conflicts_with = "no_history")]
    pub(crate) history: Option<PathBuf>,
    /// Keep no history file.
    #[arg(long)]
    pub(crate) no_history: bool,
}

/// The subcommands new in ABI v2 that act on endpoints or the driver as a whole.
#[derive(Debug, Subcommand)]
pub(crate) enum V2Command {
    /// Send one datagram from a UDP endpoint; prints `sent N bytes to ADDR`.
    ///
    /// The datagram has 1 to 65507 bytes: ABI v3 cannot send empty datagrams.
    #[command(
        after_help = "Examples:\n  wskctl sendto 5 127.0.0.1:9000 --text ping\n  wskctl sendto 5 [::1]:9000 --file datagram.bin"
    )]
    Sendto(SendToArgs),
    /// Receive one datagram on a UDP endpoint, to stdout (raw) or a file.
    ///
    /// The summary `received N bytes from ADDR` goes to stderr. The receive waits in the
    /// driver up to --timeout-ms; Ctrl-C cancels it (exit 130).
    #[command(
        after_help = "Examples:\n  wskctl recvfrom 5\n  wskctl recvfrom 5 --max 1500 --timeout-ms 2000 --to-file datagram.bin"
    )]
    Recvfrom(RecvFromArgs),
    /// Shut a connection down, gracefully or abortively (reset).
    ///
    /// Graceful shuts down the send direction: the peer sees end of stream and receiving
    /// still works. Abortive resets the connection. Either way the endpoint stays listed (state
    /// disconnected) until `wskctl close`.
    #[command(after_help = "Examples:\n  wskctl disconnect 3\n  wskctl disconnect 3 --abortive")]
    Disconnect(DisconnectArgs),
    /// Get a socket option of an endpoint, or set it when a value is given (the value read
    /// back is printed).
    ///
    /// keepalive, nodelay (on/off) and rcvbuf, sndbuf (bytes) can be set; reuseaddr,
    /// exclusiveaddruse and v6only are fixed when the socket is bound (use --reuse-addr,
    /// --exclusive-addr, --v6only or --dual-stack there) and can only be read.
    #[command(
        after_help = "Examples:\n  wskctl opt 3 nodelay\n  wskctl opt 3 nodelay on\n  wskctl opt 3 rcvbuf 262144\n  wskctl --json opt 4 v6only"
    )]
    Opt(OptArgs),
    /// Print an endpoint's security descriptor (SO_WSK_SECURITY) as SDDL.
    #[command(
        after_help = "Example:\n  wskctl tcp listen 127.0.0.1:9100 --service echo --sddl \"D:P(A;;GA;;;SY)\" --detach\n  wskctl security 4\n  D:P(A;;GA;;;SY)"
    )]
    Security {
        /// The endpoint id.
        #[arg(value_parser = parse_endpoint_id)]
        id: EndpointId,
    },
    /// Resolve a host name in the kernel (WskGetAddressInfo); prints one address per line.
    #[command(
        after_help = "Examples:\n  wskctl resolve localhost\n  wskctl resolve localhost --service 80\n  wskctl --json resolve ::1"
    )]
    Resolve(ResolveArgs),
    /// Show the driver-wide counters: endpoints, bytes, connections served, errors, uptime.
    #[command(after_help = "Examples:\n  wskctl stats\n  wskctl stats --json")]
    Stats,
}

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
    /// Unload the driver, waiting up to 10 s for it to stop (not running: exit 0).
    #[command(after_help = "Example:\n  wskctl driver stop")]
    Stop {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
    /// Delete the driver's service (not installed: exit 0).
    #[command(after_help = "Example:\n  wskctl driver uninstall")]
    Uninstall {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
    /// Show whether the driver's service is installed and running.
    #[command(after_help = "Example:\n  wskctl driver status\n  service WskRs: running")]
    Status {
        /// The service name.
        #[arg(long, default_value = SERVICE_NAME)]
        name: String,
    },
}

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

/// Arguments of `wskctl serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The connection's endpoint id (from `tcp connect`, `tcp accept` or `list`).
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The service that takes the connection over.
    #[arg(long, value_enum)]
    pub(crate) service: ServeServiceArg,
}

/// The services a connection can be handed to (`serve`, `tcp connect --serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ServeServiceArg {
    /// Echo back everything the peer sends.
    Echo,
    /// Read and drop everything, counting the bytes (LIST's RECEIVED).
    Discard,
    /// Send the byte pattern i % 251 as fast as the peer reads, until it closes.
    Source,
}

impl From<ServeServiceArg> for Service {
    fn from(service: ServeServiceArg) -> Self {
        match service {
            ServeServiceArg::Echo => Self::Echo,
            ServeServiceArg::Discard => Self::Discard,
            ServeServiceArg::Source => Self::Source,
        }
    }
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

/// Options applied to a socket before it is bound (`tcp connect`, `tcp listen`, `udp bind`).
#[derive(Debug, Args, Clone, Copy, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "four command-line switches, two pairs that clap keeps exclusive"
)]
pub(crate) struct BindArgs {
    /// Set SO_REUSEADDR before binding.
    #[arg(long, conflicts_with = "exclusive_addr")]
    pub(crate) reuse_addr: bool,
    /// Set SO_EXCLUSIVEADDRUSE before binding.
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
    fn check(self, address: SocketAddr) -> Result<(), String> {
        if address.is_ipv4() && (self.v6only || self.dual_stack) {
            return Err(format!(
                "--v6only and --dual-stack apply to IPv6 sockets only; {address} is IPv4"
            ));
        }
        Ok(())
    }
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

/// Text of `min..=max` bytes without NUL (RESOLVE's name and service).
fn bounded_text(text: &str, min: usize, max: usize) -> Result<String, String> {
    if text.len() < min || text.len() > max || text.contains('\0') {
        return Err(format!("{min} to {max} bytes without NUL"));
    }
    Ok(text.to_owned())
}

/// An SDDL string for a socket's security descriptor (at most 256 bytes).
fn parse_sddl(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > SDDL_LEN || text.contains('\0') {
        return Err(format!(
            "an SDDL descriptor is 1 to {SDDL_LEN} bytes without NUL, e.g. \"D:P(A;;GA;;;SY)\""
        ));
    }
    Ok(text.to_owned())
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
    /// Connections served at once (0: the driver's default, 256; at most 256).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CONNECTIONS)))]
    pub(crate) max_connections: u32,
    /// The listening socket's security descriptor, in SDDL (e.g. "D:P(A;;GA;;;SY)").
    #[arg(long, value_name = "S", value_parser = parse_sddl)]
    pub(crate) sddl: Option<String>,
    /// Options applied before binding.
    #[command(flatten)]
    pub(crate) bind: BindArgs,
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
    /// The socket's security descriptor, in SDDL (e.g. "D:P(A;;GA;;;SY)").
    #[arg(long, value_name = "S", value_parser = parse_sddl)]
    pub(crate) sddl: Option<String>,
    /// Options applied before binding.
    #[command(flatten)]
    pub(crate) bind: BindArgs,
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

/// Arguments of `wskctl send`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("payload").required(true))]
pub(crate) struct SendArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// Send this text.
    #[arg(long, value_name = "T", group = "payload")]
    pub(crate) text: Option<String>,
    /// Send this file (in 4 MiB requests when larger).
    #[arg(long, value_name = "F", group = "payload")]
    pub(crate) file: Option<PathBuf>,
    /// Timeout per request in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

/// Arguments of `wskctl recv`.
#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// Receive once, at most N bytes (default 65536; at most 4194304).
    #[arg(long, value_name = "N", conflicts_with = "exact", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TRANSFER)))]
    pub(crate) max: Option<u32>,
    /// Receive until exactly N bytes arrived (error if the peer closes first).
    #[arg(long, value_name = "N")]
    pub(crate) exact: Option<u64>,
    /// Write the data to this file instead of stdout.
    #[arg(long, value_name = "F")]
    pub(crate) to_file: Option<PathBuf>,
    /// Timeout per request in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
}

/// Arguments of `wskctl raw`.
#[derive(Debug, Args)]
pub(crate) struct RawArgs {
    /// The IOCTL code, decimal or 0x-prefixed hex.
    #[arg(long, value_name = "CODE", value_parser = parse_code)]
    pub(crate) code: u32,
    /// The input bytes as hex (spaces allowed), sent as is.
    #[arg(long, value_name = "HEX", value_parser = parse_hex, default_value = "")]
    pub(crate) input_hex: HexBytes,
    /// The output buffer size in bytes.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_TRANSFER) + 16))]
    pub(crate) output_len: u32,
}

/// Bytes given as hex on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HexBytes(pub Vec<u8>);

fn parse_endpoint_id(text: &str) -> Result<EndpointId, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an endpoint id (a decimal number from 1)"))
}

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

/// Which standard streams are terminals (`std::io::IsTerminal`); all `false` in tests and
/// pipelines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Terminal {
    /// Standard input is a terminal: `wskctl shell` edits lines and keeps history.
    pub(crate) stdin: bool,
    /// Standard error is a terminal: long transfers draw a progress bar there.
    pub(crate) stderr: bool,
}

/// The standard streams a command reads and writes.
pub(crate) struct Streams<'a> {
    /// Results.
    pub(crate) stdout: &'a mut dyn Write,
    /// Errors and receive summaries.
    pub(crate) stderr: &'a mut dyn Write,
    /// Read by `tcp listen` (end of file closes the listener) and `wskctl shell`.
    pub(crate) stdin: &'a mut dyn Read,
    /// Which of the process's streams are terminals.
    pub(crate) terminal: Terminal,
}

impl Streams<'_> {
    fn line(&mut self, text: &str) -> Result<(), ClientError> {
        writeln!(self.stdout, "{text}")
            .and_then(|()| self.stdout.flush())
            .map_err(|source| ClientError::io("writing to stdout", source))
    }

    fn note(&mut self, text: &str) -> Result<(), ClientError> {
        writeln!(self.stderr, "{text}")
            .and_then(|()| self.stderr.flush())
            .map_err(|source| ClientError::io("writing to stderr", source))
    }
}

/// Opens the device named by `--device`.
pub(crate) type OpenDevice<'a> = &'a dyn Fn(&str) -> Result<Device, ClientError>;

/// The whole `wskctl` program: parses `args` (the first is the program name), runs the
/// command and returns the exit status, writing errors as `error: ...` to `streams.stderr`.
pub(crate) fn main_with<I, T>(args: I, open: OpenDevice<'_>, streams: &mut Streams<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(error) => return report_usage(&error, streams),
    };
    // Ctrl-C cancels the request the command waits for (see `ctrl_c`). Without a console
    // handler Ctrl-C keeps its default (ending the process), so a failure is not fatal.
    let _ctrl_c = wskrs_client::ctrl_c::CtrlCHandler::install();
    match run(&cli, open, streams) {
        Ok(code) => code,
        Err(error) => {
            report_error(&error, streams.stderr);
            error.exit_code()
        }
    }
}

/// Prints a command's error: `cancelled: ...` for a cancelled request (Ctrl-C), else
/// `error: ...`.
pub(crate) fn report_error(error: &ClientError, stderr: &mut dyn Write) {
    let label = if error.is_cancelled() {
        "cancelled"
    } else {
        "error"
    };
    let _ = writeln!(stderr, "{label}: {error}");
    let _ = stderr.flush();
}

/// Parses a command line (the first item is the program name) with the checks clap cannot
/// express.
pub(crate) fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args).and_then(|cli| check(&cli).map(|()| cli))
}

/// Prints a usage error (or the help or version clap answered with); returns its exit status.
pub(crate) fn report_usage(error: &clap::Error, streams: &mut Streams<'_>) -> u8 {
    let text = error.render().to_string();
    let stream = if error.use_stderr() {
        &mut *streams.stderr
    } else {
        &mut *streams.stdout
    };
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
    u8::try_from(error.exit_code()).unwrap_or(2)
}

/// The checks clap's attributes cannot express (they depend on two arguments), as usage
/// errors: IPv6 bind options on an IPv4 address, a value `opt` cannot set.
fn check(cli: &Cli) -> Result<(), clap::Error> {
    let problem = match &cli.command {
        Command::Tcp(TcpCommand::Connect(args)) => args.bind.check(args.remote).err(),
        Command::Tcp(TcpCommand::Listen(args)) => args.bind.check(args.local).err(),
        Command::Udp(UdpCommand::Bind(args)) => args.bind.check(args.local).err(),
        Command::V2(V2Command::Opt(args)) => args
            .value
            .as_deref()
            .and_then(|value| args.name.parse_value(value).err()),
        _ => None,
    };
    match problem {
        Some(message) => Err(Cli::command().error(ErrorKind::ArgumentConflict, message)),
        None => Ok(()),
    }
}

/// Runs a parsed command; returns the exit status for outcomes that are not errors
/// (`raw` with a failure status returns 1).
///
/// # Errors
///
/// Whatever the command's calls fail with; [`ClientError::exit_code`] gives the status.
pub(crate) fn run(
    cli: &Cli,
    open: OpenDevice<'_>,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    run_in(cli, open, streams, Session::OneShot)
}

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Session {
    /// One command per process: a listener without --detach is served until stdin ends.
    OneShot,
    /// A line of `wskctl shell`: endpoints live until the shell exits, nothing waits on stdin.
    Shell,
}

/// [`run`] in a [`Session`].
pub(crate) fn run_in(
    cli: &Cli,
    open: OpenDevice<'_>,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let json = cli.json;
    // Ctrl-C cancels the requests of the device the command opens.
    let watched = |path: &str| -> Result<Device, ClientError> {
        let device = open(path)?;
        wskrs_client::ctrl_c::watch(device.canceller());
        Ok(device)
    };
    let open: OpenDevice<'_> = match &cli.command {
        // The shell watches the device of each of its lines. The self-test opens many
        // handles and cancels requests itself: Ctrl-C ends it as it ends any console program
        // (no device is watched), and the handles' closing closes its endpoints.
        Command::Shell(_) | Command::Selftest(_) => open,
        _ => &watched,
    };
    match &cli.command {
        Command::Shell(args) => match session {
            Session::OneShot => crate::shell::run_shell(cli, args, open, streams),
            Session::Shell => Err(ClientError::io(
                "shell",
                io::Error::new(io::ErrorKind::InvalidInput, "already in a wskctl shell"),
            )),
        },
        Command::Driver(command) => run_driver(command, json, streams),
        Command::Info => {
            let info = open(&cli.device)?.info()?;
            streams.line(&if json {
                output::info_json(&info)
            } else {
                output::info_text(&info)
            })?;
            Ok(0)
        }
        Command::Tcp(TcpCommand::Connect(args)) => {
            run_connect(&open(&cli.device)?, args, json, streams, session)
        }
        Command::Tcp(TcpCommand::Listen(args)) => {
            run_listen(&open(&cli.device)?, args, json, streams, session)
        }
        Command::Tcp(TcpCommand::Accept(args)) => {
            let endpoint = open(&cli.device)?.accept(args.id, args.timeout_ms, args.detach)?;
            streams.line(&if json {
                output::accepted_json(&endpoint, args.id.0, args.detach)
            } else {
                output::accepted_text(&endpoint, args.id.0)
            })?;
            Ok(0)
        }
        Command::Udp(UdpCommand::Bind(args)) => {
            run_udp_bind(&open(&cli.device)?, args, json, streams, session)
        }
        Command::V2(command) => run_v2(&open(&cli.device)?, command, json, streams),
        Command::Send(args) => {
            let device = open(&cli.device)?;
            let sent = send_payload(
                &device,
                args.id,
                args.text.as_deref(),
                args.file.as_deref(),
                args.timeout_ms,
                progress::wanted(streams.terminal.stderr, json),
            )?;
            streams.line(&if json {
                output::sent_json(args.id.0, sent)
            } else {
                output::sent_text(sent)
            })?;
            Ok(0)
        }
        Command::Recv(args) => run_recv(&open(&cli.device)?, args, json, streams),
        Command::Serve(args) => {
            hand_to_service(&open(&cli.device)?, args.id, args.service, json, streams)?;
            Ok(0)
        }
        Command::Close { id } => {
            open(&cli.device)?.close(*id)?;
            streams.line(&if json {
                output::closed_json(id.0)
            } else {
                output::closed_text(id.0)
            })?;
            Ok(0)
        }
        Command::List => run_list(&open(&cli.device)?, json, streams),
        Command::StreamSend(args) => run_stream_send(open(&cli.device)?, args, json, streams),
        // A shell's lines share one handle; the self-test needs handles of its own (it
        // checks that closing one closes its endpoints).
        Command::Selftest(_) if session == Session::Shell => Err(ClientError::io(
            "selftest",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "run `wskctl selftest` as a command of its own, not in `wskctl shell`",
            ),
        )),
        Command::Selftest(args) => run_selftest(&cli.device, open, args, json, streams),
        Command::Raw(args) => {
            let reply =
                open(&cli.device)?.raw(args.code, &args.input_hex.0, args.output_len as usize);
            streams.line(&if json {
                output::raw_json(&reply)
            } else {
                output::raw_text(&reply)
            })?;
            Ok(u8::from(!reply.status.is_success()))
        }
    }
}

/// The commands new in ABI v2 that act on one open device (`udp bind`, which may keep
/// serving, is with `tcp listen`).
fn run_v2(
    device: &Device,
    command: &V2Command,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    match command {
        V2Command::Sendto(args) => {
            let data = nonempty_datagram(args)?;
            let sent = device.send_to(args.id, args.remote, &data, args.timeout_ms)?;
            streams.line(&if json {
                output::sent_to_json(args.id.0, sent.into(), args.remote)
            } else {
                output::sent_to_text(sent.into(), args.remote)
            })?;
            Ok(0)
        }
        V2Command::Recvfrom(args) => run_recv_from(device, args, json, streams),
        V2Command::Disconnect(args) => {
            device.disconnect(args.id, args.abortive, args.timeout_ms)?;
            streams.line(&if json {
                output::disconnected_json(args.id.0, args.abortive)
            } else {
                output::disconnected_text(args.id.0, args.abortive)
            })?;
            Ok(0)
        }
        V2Command::Opt(args) => {
            let option = args.name.option();
            let value = match &args.value {
                // `check` already refused values that do not parse.
                Some(text) => {
                    let value = args.name.parse_value(text).map_err(|message| {
                        ClientError::io(message, io::ErrorKind::InvalidInput.into())
                    })?;
                    device.set_socket_option(args.id, option, value)?
                }
                None => device.socket_option(args.id, option)?,
            };
            streams.line(&if json {
                output::option_json(args.id.0, args.name.name(), value)
            } else {
                output::option_text(args.name.name(), value)
            })?;
            Ok(0)
        }
        V2Command::Security { id } => {
            let sddl = device.security(*id)?;
            if json {
                streams.line(&output::security_json(id.0, sddl.as_deref()))?;
            } else if let Some(sddl) = sddl {
                streams.line(&sddl)?;
            } else {
                streams.note(&format!("endpoint {id} has no security descriptor"))?;
            }
            Ok(0)
        }
        V2Command::Resolve(args) => {
            let addresses = device.resolve(&args.name, &args.service, args.timeout_ms)?;
            if json {
                streams.line(&output::resolved_json(&args.name, &addresses))?;
            } else {
                for address in &addresses {
                    streams.line(&address.to_string())?;
                }
            }
            Ok(0)
        }
        V2Command::Stats => {
            let stats = device.stats()?;
            streams.line(&if json {
                output::stats_json(&stats)
            } else {
                output::stats_text(&stats)
            })?;
            Ok(0)
        }
    }
}

fn run_driver(
    command: &DriverCommand,
    json: bool,
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
        DriverCommand::Stop { name } => match manager.stop(name, STOP_TIMEOUT)? {
            StopOutcome::Stopped => format!("stopped service {name}"),
            StopOutcome::AlreadyStopped => format!("service {name} is not running"),
        },
        DriverCommand::Uninstall { name } => {
            match manager.uninstall(name)? {
                UninstallOutcome::Uninstalled => format!("uninstalled service {name}"),
                UninstallOutcome::MarkedForDeletion => {
                    format!("service {name} is marked for deletion; it is removed when the driver stops")
                }
                UninstallOutcome::NotInstalled => format!("service {name} is not installed"),
            }
        }
        DriverCommand::Status { name } => {
            let state = manager.status(name)?;
            if json {
                serde_json::json!({ "name": name, "state": state.name() }).to_string()
            } else {
                format!("service {name}: {state}")
            }
        }
    };
    streams.line(&message)?;
    Ok(0)
}

/// A reader that hashes what it reads (SHA-256) and counts it on a progress bar.
struct Hashing<'a> {
    inner: &'a mut dyn Read,
    hasher: sha2::Sha256,
    progress: &'a Progress,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        let read = self.inner.read(buffer)?;
        self.hasher.update(buffer.get(..read).unwrap_or_default());
        self.progress.add(read as u64);
        Ok(read)
    }
}

/// The client error inside an `io::Error` from the `Kernel*` sockets, or the error as an
/// I/O failure of `context`.
fn from_io(error: io::Error, context: &str) -> ClientError {
    if ClientError::of_io(&error).is_some() {
        if let Some(Ok(inner)) = error
            .into_inner()
            .map(<dyn std::error::Error + Send + Sync>::downcast::<ClientError>)
        {
            return *inner;
        }
        return ClientError::io(context, io::ErrorKind::Other.into());
    }
    ClientError::io(context, error)
}

/// `wskctl stream-send`: the file through a [`KernelTcpStream`](wskrs_client::KernelTcpStream).
fn run_stream_send(
    device: Device,
    args: &StreamSendArgs,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    use sha2::Digest as _;
    let what = args.file.display().to_string();
    let mut file = File::open(&args.file)
        .map_err(|source| ClientError::io(format!("opening {what}"), source))?;
    let total = file.metadata().map_or(0, |metadata| metadata.len());
    let timeout = (args.timeout_ms != 0).then(|| Duration::from_millis(args.timeout_ms.into()));
    let started = std::time::Instant::now();
    let mut stream = wskrs_client::KernelTcpStream::connect_on(device, args.remote, timeout)
        .map_err(|error| from_io(error, "connect"))?;
    stream
        .set_write_timeout(timeout)
        .map_err(|error| from_io(error, "setting the write timeout"))?;
    let id = stream.id();
    let progress = Progress::new(
        progress::wanted(streams.terminal.stderr, json),
        total,
        &format!("send {what}"),
    );
    let mut reader = Hashing {
        inner: &mut file,
        hasher: sha2::Sha256::new(),
        progress: &progress,
    };
    let mut writer = io::BufWriter::with_capacity(MAX_TRANSFER as usize, stream);
    let sent = io::copy(&mut reader, &mut writer)
        .map_err(|error| from_io(error, &format!("copying {what} to endpoint {id}")))?;
    let stream = writer
        .into_inner()
        .map_err(|error| from_io(error.into_error(), &format!("sending to endpoint {id}")))?;
    // Closing the endpoint ends the connection gracefully: the peer reads end of stream.
    drop(stream);
    let sha256 = output::hex_encode(&reader.hasher.finalize());
    drop(progress);
    let seconds = started.elapsed().as_secs_f64();
    streams.line(&if json {
        serde_json::json!({
            "id": id.0,
            "remote": args.remote.to_string(),
            "sent": sent,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "sha256": sha256,
        })
        .to_string()
    } else {
        #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
        let rate = sent as f64 / seconds.max(1e-9) / f64::from(1u32 << 20);
        format!(
            "sent {sent} bytes to {} in {seconds:.3} s ({rate:.1} MiB/s), sha256 {sha256}",
            args.remote
        )
    })?;
    Ok(0)
}

/// `wskctl list`: the table, or the JSON array.
fn run_list(device: &Device, json: bool, streams: &mut Streams<'_>) -> Result<u8, ClientError> {
    let entries = device.list()?;
    if json {
        streams.line(&output::list_json(&entries))?;
    } else {
        let table = output::list_table(&entries);
        streams.line(table.trim_end())?;
    }
    Ok(0)
}

/// `wskctl selftest`: the scenarios, then the report (text table or JSON).
fn run_selftest(
    path: &str,
    open: OpenDevice<'_>,
    args: &SelftestArgs,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    if args.list {
        streams.line(&if json {
            crate::selftest::list_json()
        } else {
            crate::selftest::list_text()
        })?;
        return Ok(0);
    }
    let device = open(path)?;
    let report = crate::selftest::run(
        &device,
        &|| open(path),
        &args.only,
        args.timeout_ms,
        wskrs_client::os_version(),
    )?;
    streams.line(&if json {
        crate::selftest::json(&report)
    } else {
        crate::selftest::text(&report)
    })?;
    Ok(report.exit_code())
}

/// Sends the text, or the file (with a progress bar when `show_progress`).
fn send_payload(
    device: &Device,
    id: EndpointId,
    text: Option<&str>,
    file: Option<&Path>,
    timeout_ms: u32,
    show_progress: bool,
) -> Result<u64, ClientError> {
    if let Some(text) = text {
        return device.send_all(id, text.as_bytes(), timeout_ms);
    }
    let Some(path) = file else {
        return Ok(0);
    };
    let what = path.display().to_string();
    let mut reader =
        File::open(path).map_err(|source| ClientError::io(format!("opening {what}"), source))?;
    let total = reader.metadata().map_or(0, |metadata| metadata.len());
    let progress = Progress::new(show_progress, total, &format!("send {what}"));
    send_with_progress(device, id, &mut reader, &what, timeout_ms, &progress)
}

fn send_with_progress(
    device: &Device,
    id: EndpointId,
    reader: &mut dyn Read,
    what: &str,
    timeout_ms: u32,
    progress: &Progress,
) -> Result<u64, ClientError> {
    device.send_reader_reporting(id, reader, what, timeout_ms, &mut |sent| progress.add(sent))
}

/// Receives exactly `count` bytes into the file at `path` (with a progress bar when
/// `show_progress`).
fn receive_to_file(
    device: &Device,
    id: EndpointId,
    count: u64,
    timeout_ms: u32,
    path: &Path,
    show_progress: bool,
) -> Result<u64, ClientError> {
    let mut file = create_file(path)?;
    let progress = Progress::new(show_progress, count, &format!("recv {}", path.display()));
    let mut sink = Counting {
        inner: &mut file,
        progress: &progress,
    };
    device.recv_exact(id, count, timeout_ms, &mut sink)
}

/// The file at `path`, created or truncated.
fn create_file(path: &Path) -> Result<File, ClientError> {
    File::create(path)
        .map_err(|source| ClientError::io(format!("creating {}", path.display()), source))
}

fn run_connect(
    device: &Device,
    args: &ConnectArgs,
    json: bool,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let endpoint = device.tcp_connect_with(
        args.remote,
        args.local,
        args.detach,
        args.timeout_ms,
        args.bind.into(),
    )?;
    let id = endpoint.id;
    streams.line(&if json {
        output::endpoint_json(&endpoint, None, args.detach)
    } else {
        output::connected_text(&endpoint)
    })?;
    if args.send_text.is_some() || args.send_file.is_some() {
        let sent = send_payload(
            device,
            id,
            args.send_text.as_deref(),
            args.send_file.as_deref(),
            args.timeout_ms,
            progress::wanted(streams.terminal.stderr, json),
        )?;
        streams.line(&if json {
            output::sent_json(id.0, sent)
        } else {
            output::sent_text(sent)
        })?;
    }
    if let Some(count) = args.recv_exact {
        let received = match &args.recv_to_file {
            Some(path) => receive_to_file(
                device,
                id,
                count,
                args.timeout_ms,
                path,
                progress::wanted(streams.terminal.stderr, json),
            )?,
            None => receive_to_stdout(device, id, count, args.timeout_ms, streams)?,
        };
        streams.note(&if json {
            output::received_json(id.0, received, false)
        } else {
            output::received_text(received, false)
        })?;
    }
    if let Some(service) = args.serve {
        hand_to_service(device, id, service, json, streams)?;
        return serve(device, id, args.detach, json, streams, session);
    }
    Ok(0)
}

/// SERVE, then the line saying so (`serve`, `tcp connect --serve`).
fn hand_to_service(
    device: &Device,
    id: EndpointId,
    service: ServeServiceArg,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<(), ClientError> {
    let service = Service::from(service);
    device.serve(id, service)?;
    streams.line(&if json {
        output::served_json(id.0, service)
    } else {
        output::served_text(id.0, service)
    })
}

fn receive_to_stdout(
    device: &Device,
    id: EndpointId,
    count: u64,
    timeout_ms: u32,
    streams: &mut Streams<'_>,
) -> Result<u64, ClientError> {
    let received = device.recv_exact(id, count, timeout_ms, &mut *streams.stdout)?;
    streams
        .stdout
        .flush()
        .map_err(|source| ClientError::io("writing to stdout", source))?;
    Ok(received)
}

fn run_listen(
    device: &Device,
    args: &ListenArgs,
    json: bool,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let service = Service::from(args.service);
    let options = ListenOptions {
        backlog: args.backlog,
        detach: args.detach,
        max_connections: args.max_connections,
        bind: args.bind.into(),
        sddl: args.sddl.as_deref(),
    };
    let endpoint = device.tcp_listen_with(args.local, service, &options)?;
    streams.line(&if json {
        output::endpoint_json(&endpoint, Some(service), args.detach)
    } else {
        output::listening_text(&endpoint, args.local, service)
    })?;
    serve(device, endpoint.id, args.detach, json, streams, session)
}

fn run_udp_bind(
    device: &Device,
    args: &UdpBindArgs,
    json: bool,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    let service = UdpService::from(args.service);
    let options = UdpOptions {
        detach: args.detach,
        bind: args.bind.into(),
        sddl: args.sddl.as_deref(),
    };
    let endpoint = device.udp_bind(args.local, service, &options)?;
    streams.line(&if json {
        output::endpoint_json(&endpoint, Some(service.into()), args.detach)
    } else {
        output::bound_text(&endpoint, args.local, service.into())
    })?;
    serve(device, endpoint.id, args.detach, json, streams, session)
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

fn run_recv_from(
    device: &Device,
    args: &RecvFromArgs,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let datagram = device.recv_from(args.id, args.max, args.timeout_ms)?;
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
    streams.note(&if json {
        output::received_from_json(args.id.0, &datagram)
    } else {
        output::received_from_text(&datagram)
    })?;
    Ok(0)
}

/// What follows opening a listener or UDP socket: nothing when detached; in a shell, a
/// note that it lives as long as the shell; otherwise serving until stdin ends.
fn serve(
    device: &Device,
    id: EndpointId,
    detach: bool,
    json: bool,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    match session {
        _ if detach => Ok(0),
        Session::Shell => {
            if !json {
                streams.note(&format!(
                    "endpoint {id} stays open until `close {id}` or the end of the shell"
                ))?;
            }
            Ok(0)
        }
        Session::OneShot => serve_until_stdin_ends(device, id, json, streams),
    }
}

/// Keeps endpoint `id` (and the handle that owns it) until stdin ends, then closes it.
fn serve_until_stdin_ends(
    device: &Device,
    id: EndpointId,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    // Serve until stdin ends; Ctrl-C ends the process, and closing its handle closes the
    // endpoint in the driver.
    io::copy(&mut *streams.stdin, &mut io::sink())
        .map_err(|source| ClientError::io("reading stdin", source))?;
    device.close(id)?;
    streams.line(&if json {
        output::closed_json(id.0)
    } else {
        output::closed_text(id.0)
    })?;
    Ok(0)
}

fn run_recv(
    device: &Device,
    args: &RecvArgs,
    json: bool,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let id = args.id;
    let (received, eof) = if let Some(count) = args.exact {
        let received = match &args.to_file {
            Some(path) => receive_to_file(
                device,
                id,
                count,
                args.timeout_ms,
                path,
                progress::wanted(streams.terminal.stderr, json),
            )?,
            None => receive_to_stdout(device, id, count, args.timeout_ms, streams)?,
        };
        (received, false)
    } else {
        let chunk = device.recv(id, args.max.unwrap_or(DEFAULT_RECV_MAX), args.timeout_ms)?;
        match &args.to_file {
            Some(path) => {
                let mut file = create_file(path)?;
                write_data(&mut file, &chunk.data).map_err(|source| {
                    ClientError::io(format!("writing {}", path.display()), source)
                })?;
            }
            None => {
                write_data(&mut *streams.stdout, &chunk.data)
                    .and_then(|()| streams.stdout.flush())
                    .map_err(|source| ClientError::io("writing to stdout", source))?;
            }
        }
        (chunk.data.len() as u64, chunk.eof)
    };
    streams.note(&if json {
        output::received_json(id.0, received, eof)
    } else {
        output::received_text(received, eof)
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::{main_with, Cli, Streams};
    use clap::{CommandFactory, Parser};
    use std::io;
    use wskrs_client::fake::{FakeDriver, CLOSED_PEER_PORT, REFUSING_PORT};
    use wskrs_client::{ClientError, Device};
    use wskrs_protocol::{IoctlCode, MAX_DATAGRAM, MAX_TRANSFER};

    struct Outcome {
        code: u8,
        stdout: String,
        stderr: String,
    }

    fn wskctl_with_stdin(fake: &FakeDriver, args: &str, stdin: &[u8]) -> Outcome {
        let (mut stdout, mut stderr, mut input) = (Vec::new(), Vec::new(), stdin);
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(fake.handle())))
        };
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut input,
            terminal: super::Terminal::default(),
        };
        let command_line = std::iter::once("wskctl").chain(args.split_whitespace());
        let code = main_with(command_line, &open, &mut streams);
        Outcome {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    fn wskctl(fake: &FakeDriver, args: &str) -> Outcome {
        wskctl_with_stdin(fake, args, b"")
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_help_with_an_example() {
        fn check(command: &clap::Command, path: &str) {
            let path = format!("{path} {}", command.get_name());
            if command.get_name() != "help" {
                assert!(command.get_about().is_some(), "{path} has no help text");
                let after = command
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(
                    after.contains("Example") && after.contains("wskctl "),
                    "{path} has no example"
                );
            }
            for sub in command.get_subcommands() {
                check(sub, &path);
            }
        }
        for sub in Cli::command().get_subcommands() {
            // Groups (driver, tcp) need no example of their own; their leaves have them.
            if sub.has_subcommands() {
                for leaf in sub.get_subcommands() {
                    check(leaf, sub.get_name());
                }
            } else {
                check(sub, "wskctl");
            }
        }
    }

    #[test]
    fn info_text_and_json() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "info");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                0,
                "wsk-rs driver 0.1.0, protocol 3, WSK provider 1.0, 0 endpoints\n"
            )
        );
        let out = wskctl(&fake, "info --json");
        assert_eq!(out.stdout, "{\"driver_version\":\"0.1.0\",\"protocol\":3,\"wsk_version\":\"1.0\",\"endpoints\":0}\n");
        let out = wskctl(&fake, "--json info");
        assert_eq!(out.code, 0);
        assert!(out.stdout.starts_with('{'));
    }

    #[test]
    fn open_failure_exits_3_with_advice() {
        let (mut stdout, mut stderr, mut stdin) = (Vec::new(), Vec::new(), io::empty());
        let open = |path: &str| -> Result<Device, ClientError> {
            Err(ClientError::Open {
                path: path.to_owned(),
                source: io::Error::from_raw_os_error(2),
            })
        };
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut stdin,
            terminal: super::Terminal::default(),
        };
        let code = main_with(["wskctl", "info"], &open, &mut streams);
        let stderr = String::from_utf8_lossy(&stderr);
        assert_eq!(code, 3);
        assert!(
            stderr.starts_with(r"error: cannot open \\.\WskRs: "),
            "{stderr}"
        );
        assert!(stderr.contains("wskctl driver start"), "{stderr}");
    }

    #[test]
    fn connect_send_and_receive_in_one_invocation() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 1 connected 127.0.0.1:50000 -> 127.0.0.1:9000\nsent 5 bytes\nhello"
        );
        assert_eq!(out.stderr, "received 5 bytes\n");
    }

    #[test]
    fn connect_json_lines() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "--json tcp connect 127.0.0.1:9000 --local 127.0.0.1:40000 --detach --send-text hi",
        );
        assert_eq!(
            out.stdout,
            "{\"id\":1,\"kind\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.1:9000\",\"detached\":true}\n{\"id\":1,\"sent\":2}\n"
        );
    }

    #[test]
    fn refused_connect_prints_status_winsock_and_hint() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, &format!("tcp connect 127.0.0.1:{REFUSING_PORT}"));
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "error: tcp connect to 127.0.0.1:1: STATUS_CONNECTION_REFUSED (0xC0000236): The remote system refused the connection. [WSAECONNREFUSED] Hint: Check that a server listens on that address and port.\n"
        );
    }

    #[test]
    fn listen_detached_and_list() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "tcp listen 127.0.0.1:9100 --service echo --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9100 (service echo)\n"
        );
        let out = wskctl(&fake, "list");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID  KIND"), "{}", lines[0]);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "1",
                "tcp-listener",
                "listening",
                "echo",
                "127.0.0.1:9100",
                "-",
                "0",
                "0",
                "0",
                "0",
                "detached",
                // Opened one request (10 ms of the fake clock) before the LIST.
                "10ms",
                "0/0",
                "0",
                "-"
            ]
        );
        let out = wskctl(&fake, "list --json");
        let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(parsed[0]["id"], 1);
        assert_eq!(parsed[0]["service"], "echo");
        assert_eq!(parsed[0]["flags"][0], "detached");
        assert_eq!(parsed[0]["opened_ms"], 20);
        assert_eq!(parsed[0]["errors"], 0);
        assert_eq!(parsed[0]["last_status"], serde_json::Value::Null);
    }

    #[test]
    fn listen_without_detach_closes_at_stdin_eof() {
        let fake = FakeDriver::default();
        let out = wskctl_with_stdin(
            &fake,
            "tcp listen 127.0.0.1:9100 --service echo",
            b"anything\n",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9100 (service echo)\nclosed endpoint 1\n"
        );
        assert!(fake.endpoint_ids().is_empty());
    }

    #[test]
    fn send_recv_close_by_id() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&fake, "send 1 --text abc");
        assert_eq!(out.stdout, "sent 3 bytes\n");
        let out = wskctl(&fake, "recv 1 --max 2");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("ab", "received 2 bytes\n")
        );
        let out = wskctl(&fake, "--json recv 1");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("c", "{\"id\":1,\"received\":1,\"eof\":false}\n")
        );
        let out = wskctl(&fake, "close 1");
        assert_eq!(out.stdout, "closed endpoint 1\n");
        let out = wskctl(&fake, "close 1");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: close endpoint 1: STATUS_NOT_FOUND (0xC0000225)"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn accept_takes_queued_connections_from_a_listener_without_a_service() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "tcp listen 127.0.0.1:9103 --service none --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9103 (service none)\n"
        );
        assert_eq!(
            fake.client_session(1, b"hello\n", 0, true),
            Some(Vec::new())
        );
        let out = wskctl(&fake, "tcp accept 1 --detach");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 2 accepted 127.0.0.1:9103 <- 127.0.0.1:40000 (listener 1)\n"
        );
        let out = wskctl(&fake, "recv 2");
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(wskctl(&fake, "send 2 --text back").code, 0);
        fake.client_session(1, b"x", 0, true).unwrap();
        let out = wskctl(&fake, "--json tcp accept 1");
        assert_eq!(
            out.stdout,
            "{\"id\":3,\"kind\":\"tcp\",\"local\":\"127.0.0.1:9103\",\"remote\":\"127.0.0.1:40001\",\"listener\":1,\"detached\":false}\n"
        );
        assert_eq!(
            fake.endpoint_ids(),
            [1, 2],
            "without --detach the connection closed with wskctl"
        );
        let out = wskctl(&fake, "tcp accept 1 --timeout-ms 5");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: accept on listener 1: STATUS_IO_TIMEOUT (0xC00000B5)"),
            "{}",
            out.stderr
        );
        let out = wskctl(&fake, "tcp accept 2");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        let out = wskctl(&fake, "tcp accept 0");
        assert_eq!(out.code, 2, "{}", out.stderr);
    }

    #[test]
    fn ctrl_c_cancels_a_waiting_accept() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp listen 127.0.0.1:9103 --service none --detach");
        fake.while_waiting(|| {
            assert!(
                wskrs_client::ctrl_c::on_ctrl_c(),
                "handled: the ACCEPT is outstanding"
            );
        });
        let out = wskctl(&fake, "tcp accept 1 --timeout-ms 30000");
        assert_eq!(out.code, 130);
        assert_eq!(
            out.stderr,
            "cancelled: accept on listener 1: the request was cancelled (STATUS_CANCELLED)\n"
        );
        assert_eq!(fake.endpoint_ids(), [1], "the listener stays");
    }

    #[test]
    fn ctrl_c_cancels_the_outstanding_request_and_exits_130() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        // The console's Ctrl-C handler, played while the RECV waits in the driver.
        let pressed = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = std::rc::Rc::clone(&pressed);
        fake.while_waiting(move || {
            counter.set(counter.get() + 1);
            assert!(
                wskrs_client::ctrl_c::on_ctrl_c(),
                "handled: a request is outstanding"
            );
        });
        let out = wskctl(&fake, "recv 1 --timeout-ms 30000");
        assert_eq!(pressed.get(), 1);
        assert_eq!(out.code, 130);
        assert_eq!(
            out.stderr,
            "cancelled: recv on endpoint 1: the request was cancelled (STATUS_CANCELLED)\n"
        );
        // `--exact` stops too (its later RECVs are refused at once).
        let out = wskctl(&fake, "recv 1 --exact 10");
        assert_eq!((out.code, pressed.get()), (130, 2));
        // The endpoint is intact: send and receive work.
        fake.while_waiting(|| {});
        assert_eq!(wskctl(&fake, "send 1 --text ok").code, 0);
        let out = wskctl(&fake, "recv 1 --exact 2");
        assert_eq!((out.code, out.stdout.as_str()), (0, "ok"));
    }

    #[test]
    fn an_empty_datagram_is_refused_before_the_driver() {
        let fake = FakeDriver::default();
        wskctl(&fake, "udp bind 127.0.0.1:9400 --detach");
        let empty = std::env::temp_dir().join(format!("wskctl-empty-{}.bin", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let before = fake.requests().len();
        let out = wskctl(
            &fake,
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
        assert_eq!(fake.requests().len(), before);
    }

    #[test]
    fn recv_exact_to_file_and_eof_handling() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        fake.peer_sends(1, b"0123456789");
        let dir = std::env::temp_dir().join(format!("wskctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("recv.bin");
        let out = wskctl(
            &fake,
            &format!("recv 1 --exact 10 --to-file {}", file.display()),
        );
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", "received 10 bytes\n")
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"0123456789");
        std::fs::remove_dir_all(&dir).unwrap();

        wskctl(
            &fake,
            &format!("tcp connect 127.0.0.1:{CLOSED_PEER_PORT} --detach"),
        );
        let out = wskctl(&fake, "recv 2");
        assert_eq!((out.code, out.stderr.as_str()), (0, "peer closed\n"));
        fake.peer_sends(2, b"abc");
        let out = wskctl(&fake, "recv 2 --exact 5");
        assert_eq!(out.code, 1);
        assert_eq!(out.stdout, "abc");
        assert_eq!(
            out.stderr,
            "error: recv on endpoint 2: the peer closed the connection after 3 of 5 bytes\n"
        );
    }

    #[test]
    fn send_file_in_max_transfer_chunks() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        let dir = std::env::temp_dir().join(format!("wskctl-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.bin");
        std::fs::write(&file, vec![7u8; MAX_TRANSFER as usize * 2 + 3]).unwrap();
        let out = wskctl(&fake, &format!("send 1 --file {}", file.display()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.stdout, format!("sent {} bytes\n", MAX_TRANSFER * 2 + 3));
        let sends = fake
            .requests()
            .iter()
            .filter(|&&code| code == IoctlCode::SEND.0)
            .count();
        assert_eq!(sends, 3);
    }

    #[test]
    fn progress_counts_the_bytes_sent_and_received() {
        let fake = FakeDriver::default();
        let device = Device::from_transport(Box::new(fake.handle()));
        let id = device
            .tcp_connect("127.0.0.1:9000".parse().unwrap(), None, false, 0)
            .unwrap()
            .id;
        let data = vec![5u8; MAX_TRANSFER as usize + 10];
        let len = data.len() as u64;
        let progress = crate::progress::Progress::hidden(len);
        let sent =
            super::send_with_progress(&device, id, &mut data.as_slice(), "data", 0, &progress)
                .unwrap();
        assert_eq!((sent, progress.position()), (len, len));
        let dir = std::env::temp_dir().join(format!("wskctl-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("back.bin");
        let received = super::receive_to_file(&device, id, len, 0, &file, false).unwrap();
        let back = std::fs::read(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(received, len);
        assert!(back == data);
    }

    #[test]
    fn stream_send_copies_a_file_through_a_kernel_stream() {
        use sha2::Digest as _;
        let fake = FakeDriver::default();
        let dir = std::env::temp_dir().join(format!("wskctl-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("payload.bin");
        let data: Vec<u8> = (0..MAX_TRANSFER as usize * 2 + 77)
            .map(|i| u8::try_from(i % 241).unwrap())
            .collect();
        std::fs::write(&file, &data).unwrap();
        let expected = crate::output::hex_encode(&sha2::Sha256::digest(&data));
        let out = wskctl(
            &fake,
            &format!(
                "--json stream-send 127.0.0.1:9000 --file {}",
                file.display()
            ),
        );
        let codes = fake.requests();
        let refused = wskctl(
            &fake,
            &format!(
                "stream-send 127.0.0.1:{REFUSING_PORT} --file {}",
                file.display()
            ),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.code, 0, "{}", out.stderr);
        let reply: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(reply["sent"], data.len());
        assert_eq!(reply["sha256"], expected.as_str());
        // Three SENDs of at most 4 MiB (the BufWriter's capacity), then the CLOSE.
        let sends = codes
            .iter()
            .filter(|&&code| code == IoctlCode::SEND.0)
            .count();
        assert_eq!(sends, 3);
        assert_eq!(codes.last(), Some(&IoctlCode::CLOSE.0));
        assert!(fake.endpoint_ids().is_empty());
        assert_eq!(refused.code, 1);
        assert!(
            refused
                .stderr
                .starts_with("error: tcp connect to 127.0.0.1:1: STATUS_CONNECTION_REFUSED"),
            "{}",
            refused.stderr
        );
    }

    #[test]
    fn raw_reports_status_and_exit_code() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "raw --code 0x80572000 --input-hex 0300000008000000 --output-len 24",
        );
        assert_eq!(out.code, 0);
        assert_eq!(out.stdout, "status STATUS_SUCCESS (0x00000000)\noutput 030000001800000000000100000000010300000000000000\n");
        let out = wskctl(&fake, "raw --code 0x80572000 --input-hex 03000000");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                1,
                "status STATUS_INFO_LENGTH_MISMATCH (0xC0000004)\noutput\n"
            )
        );
        // A v1 client's INFO: the version is checked before anything else.
        let out = wskctl(&fake, "raw --code 2153193472 --input-hex 0100000008000000");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (1, "status STATUS_REVISION_MISMATCH (0xC0000059)\noutput\n")
        );
        let out = wskctl(&fake, "raw --code 0x1234");
        assert_eq!(
            out.stdout,
            "status STATUS_INVALID_DEVICE_REQUEST (0xC0000010)\noutput\n"
        );
        let out = wskctl(
            &fake,
            "raw --code 0x80572000 --input-hex 0300000008000000 --output-len 8",
        );
        assert_eq!(
            out.stdout,
            "status STATUS_BUFFER_TOO_SMALL (0xC0000023)\noutput\n"
        );
    }

    #[test]
    fn usage_errors_exit_2() {
        let fake = FakeDriver::default();
        for args in [
            "",
            "bogus",
            "send 1",
            "send 1 --text a --file b",
            "send 0 --text a",
            "recv x",
            "recv 1 --max 0",
            "recv 1 --max 1 --exact 2",
            "tcp connect nothost",
            "tcp listen 127.0.0.1:1",
            "tcp listen 127.0.0.1:1 --service chargen",
            "tcp connect 127.0.0.1:9000 --recv-to-file x",
            "raw --code 0xZZ",
            "raw --code 1 --input-hex 123",
            "tcp listen 127.0.0.1:1 --service echo --max-connections 257",
            "tcp listen 127.0.0.1:1 --service echo --reuse-addr --exclusive-addr",
            "tcp listen 127.0.0.1:1 --service echo --v6only",
            "tcp connect 127.0.0.1:9000 --dual-stack",
            "udp bind 127.0.0.1:1 --service discard",
            "udp bind [::1]:1 --v6only --dual-stack",
            "udp bind",
            "sendto 1 127.0.0.1:9",
            "sendto 1 --text a",
            "recvfrom 1 --max 65508",
            "recvfrom 1 --max 0",
            "disconnect 0",
            "opt 1 reuseaddr on",
            "opt 1 v6only 0",
            "opt 1 nodelay maybe",
            "opt 1 rcvbuf -1",
            "opt 1 rcvbuf 2147483648",
            "opt 1 linger",
            "security",
            "resolve",
            "stats extra",
        ] {
            let out = wskctl(&fake, args);
            assert_eq!(
                out.code, 2,
                "`wskctl {args}` gave {} / {}",
                out.stdout, out.stderr
            );
            assert!(out.stderr.contains("error"), "{args}: {}", out.stderr);
        }
        assert!(
            fake.requests().is_empty(),
            "usage errors must not reach the driver"
        );
    }

    #[test]
    fn help_goes_to_stdout_and_exits_0() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "--help");
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Usage: wskctl"));
        assert!(out.stdout.contains("Exit status:"));
        let out = wskctl(&fake, "tcp connect --help");
        assert!(out.stdout.contains("--recv-exact"));
        assert!(out.stdout.contains("Examples:"));
    }

    /// Splits a command line from a help example: words, and "double-quoted" words.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut any = false;
        for c in line.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    any = true;
                }
                c if c.is_whitespace() && !quoted => {
                    if any {
                        words.push(std::mem::take(&mut word));
                        any = false;
                    }
                }
                c => {
                    word.push(c);
                    any = true;
                }
            }
        }
        if any {
            words.push(word);
        }
        words
    }

    #[test]
    fn every_example_in_the_help_parses() {
        fn examples(command: &clap::Command, found: &mut Vec<String>) {
            for text in [command.get_after_help(), command.get_after_long_help()]
                .into_iter()
                .flatten()
            {
                for line in text.to_string().lines() {
                    if let Some(rest) = line.trim().strip_prefix("wskctl ") {
                        found.push(rest.to_owned());
                    }
                }
            }
            for sub in command.get_subcommands() {
                examples(sub, found);
            }
        }
        let mut found = Vec::new();
        examples(&Cli::command(), &mut found);
        assert!(found.len() > 30, "only {} examples found", found.len());
        for example in &found {
            let words = std::iter::once("wskctl".to_owned()).chain(shell_words(example));
            let parsed = Cli::try_parse_from(words).and_then(|cli| super::check(&cli));
            assert!(
                parsed.is_ok(),
                "help example `wskctl {example}`: {parsed:?}"
            );
        }
    }

    #[test]
    fn listen_services_and_bind_options_reach_the_driver() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "tcp listen [::1]:9300 --service discard --v6only --reuse-addr --max-connections 2 --detach",
        );
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "endpoint 1 listening on [::1]:9300 (service discard)\n"),
            "{}",
            out.stderr
        );
        assert_eq!(wskctl(&fake, "opt 1 v6only").stdout, "v6only = 1\n");
        assert_eq!(wskctl(&fake, "opt 1 reuseaddr").stdout, "reuseaddr = 1\n");
        assert_eq!(
            wskctl(&fake, "opt 1 exclusiveaddruse").stdout,
            "exclusiveaddruse = 0\n"
        );
        // Discard counts what clients send and answers nothing.
        assert_eq!(fake.client_session(1, &[9; 1000], 10, true), Some(vec![]));
        assert_eq!(fake.client_session(1, &[9; 24], 10, true), Some(vec![]));
        // The third client finds the listener at --max-connections.
        assert_eq!(fake.client_session(1, b"x", 1, false), None);
        let list: serde_json::Value =
            serde_json::from_str(&wskctl(&fake, "--json list").stdout).unwrap();
        assert_eq!(
            (&list[0]["received"], &list[0]["served"], &list[0]["active"]),
            (&1024.into(), &2.into(), &2.into())
        );
        // A second listener on the same address needs SO_REUSEADDR on both.
        let out = wskctl(&fake, "tcp listen [::1]:9300 --service echo --detach");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_ADDRESS_ALREADY_EXISTS"),
            "{}",
            out.stderr
        );
        let out = wskctl(
            &fake,
            "tcp listen [::1]:9300 --service source --dual-stack --reuse-addr --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        // The refused listen used no id.
        assert_eq!(wskctl(&fake, "opt 2 v6only").stdout, "v6only = 0\n");
        let pattern = fake.client_session(2, b"", 600, false).unwrap();
        assert!(pattern
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 251));
        assert_eq!(pattern.len(), 600);
    }

    #[test]
    fn udp_bind_sendto_recvfrom() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "udp bind 127.0.0.1:9200 --service echo --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 bound to 127.0.0.1:9200 (service echo)\n"
        );
        let out = wskctl(&fake, "--json udp bind 127.0.0.1:0 --detach");
        assert_eq!(
            out.stdout,
            "{\"id\":2,\"kind\":\"udp\",\"local\":\"127.0.0.1:0\",\"remote\":null,\"service\":\"none\",\"detached\":true}\n"
        );
        let out = wskctl(&fake, "sendto 2 127.0.0.1:9200 --text ping");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "sent 4 bytes to 127.0.0.1:9200\n")
        );
        let out = wskctl(&fake, "recvfrom 2");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("ping", "received 4 bytes from 127.0.0.1:9200\n")
        );
        // A datagram longer than --max is truncated.
        fake.peer_sends_to(2, "[::1]:7".parse().unwrap(), b"abcdef");
        let out = wskctl(&fake, "--json recvfrom 2 --max 3");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("abc", "{\"id\":2,\"received\":3,\"from\":\"[::1]:7\"}\n")
        );
        let out = wskctl(&fake, "recvfrom 2 --timeout-ms 5");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_IO_TIMEOUT"), "{}", out.stderr);
        let list: serde_json::Value =
            serde_json::from_str(&wskctl(&fake, "--json list").stdout).unwrap();
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
            (&1.into(), &2.into(), &1.into())
        );
        assert_eq!(list[1]["last_status"], "STATUS_IO_TIMEOUT");
    }

    #[test]
    fn udp_misuse_is_refused() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&fake, "sendto 1 127.0.0.1:9000 --text x");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.starts_with(
                "error: sendto on endpoint 1 to 127.0.0.1:9000: STATUS_INVALID_DEVICE_STATE"
            ),
            "{}",
            out.stderr
        );
        wskctl(&fake, "udp bind 127.0.0.1:0 --detach");
        let out = wskctl(&fake, "send 2 --text x");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        let dir = std::env::temp_dir().join(format!("wskctl-dgram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.bin");
        std::fs::write(&file, vec![1u8; MAX_DATAGRAM as usize + 1]).unwrap();
        let before = fake.requests().len();
        let out = wskctl(
            &fake,
            &format!("sendto 2 127.0.0.1:9 --file {}", file.display()),
        );
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("longer than one datagram"),
            "{}",
            out.stderr
        );
        assert_eq!(fake.requests().len(), before, "nothing reached the driver");
        std::fs::write(&file, vec![1u8; MAX_DATAGRAM as usize]).unwrap();
        let out = wskctl(
            &fake,
            &format!("sendto 2 127.0.0.1:9 --file {}", file.display()),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.stdout, "sent 65507 bytes to 127.0.0.1:9\n");
    }

    #[test]
    fn serve_hands_a_connection_to_a_service_and_refuses_what_the_driver_refuses() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach --send-text abc");
        let out = wskctl(&fake, "serve 1 --service echo");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "endpoint 1 handed to the echo service\n", "")
        );
        // The echo service sent back what the peer had echoed, then what it sends next.
        fake.peer_sends(1, b"more");
        assert_eq!(fake.peer_received(1), b"abcmore");
        let out = wskctl(&fake, "--json list");
        assert!(
            out.stdout
                .contains("\"id\":1,\"kind\":\"tcp\",\"state\":\"connected\",\"service\":\"echo\""),
            "{}",
            out.stdout
        );
        // 3 bytes sent by the user, 7 by the service; 7 received by the service.
        assert!(
            out.stdout
                .contains("\"sent\":10,\"received\":7,\"served\":1,\"active\":1"),
            "{}",
            out.stdout
        );
        for refused in [
            "send 1 --text x",
            "recv 1",
            "disconnect 1",
            "opt 1 nodelay",
            "serve 1 --service discard",
        ] {
            let out = wskctl(&fake, refused);
            assert_eq!(out.code, 1, "{refused}: {}", out.stderr);
            assert!(
                out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
                "{refused}: {}",
                out.stderr
            );
        }
        wskctl(&fake, "tcp listen 127.0.0.1:9100 --service echo --detach");
        wskctl(&fake, "udp bind 127.0.0.1:9200 --detach");
        for other in ["serve 2 --service echo", "serve 3 --service echo"] {
            let out = wskctl(&fake, other);
            assert_eq!(out.code, 1, "{other}: {}", out.stderr);
            assert!(
                out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
                "{other}: {}",
                out.stderr
            );
        }
        let out = wskctl(&fake, "serve 9 --service echo");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_NOT_FOUND"), "{}", out.stderr);
        // `none` is not a service to hand a connection to: a usage error, nothing sent.
        let before = fake.requests().len();
        let out = wskctl(&fake, "serve 1 --service none");
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(fake.requests().len(), before);

        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        fake.fail_next(IoctlCode::SERVE, wskrs_ntstatus::NtStatus::DEVICE_BUSY);
        let out = wskctl(&fake, "serve 4 --service source");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_DEVICE_BUSY"), "{}", out.stderr);
        let out = wskctl(&fake, "--json serve 4 --service source");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "{\"id\":4,\"service\":\"source\"}\n")
        );
        assert_eq!(wskctl(&fake, "close 1").code, 0);
        assert_eq!(fake.endpoint_ids(), [2, 3, 4]);
    }

    #[test]
    fn tcp_connect_serve_keeps_the_connection_until_stdin_ends_unless_detached() {
        let fake = FakeDriver::default();
        let out = wskctl_with_stdin(
            &fake,
            "tcp connect 127.0.0.1:9000 --send-text hello --serve echo",
            b"",
        );
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                0,
                "endpoint 1 connected 127.0.0.1:50000 -> 127.0.0.1:9000\nsent 5 bytes\nendpoint 1 handed to the echo service\nclosed endpoint 1\n"
            ),
            "{}",
            out.stderr
        );
        assert!(fake.endpoint_ids().is_empty());
        assert_eq!(
            fake.requests()
                .iter()
                .filter(|&&code| code == IoctlCode::SERVE.0)
                .count(),
            1
        );
        let out = wskctl(
            &fake,
            "--json tcp connect 127.0.0.1:9000 --serve discard --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.ends_with("{\"id\":2,\"service\":\"discard\"}\n"),
            "{}",
            out.stdout
        );
        assert_eq!(fake.endpoint_ids(), [2], "detached: it stays served");
        let out = wskctl(&fake, "tcp connect 127.0.0.1:9000 --serve none");
        assert_eq!(out.code, 2, "{}", out.stderr);
    }

    #[test]
    fn graceful_and_abortive_disconnect() {
        let fake = FakeDriver::default();
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach --send-text abc");
        let out = wskctl(&fake, "disconnect 1");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "disconnected endpoint 1 (graceful)\n")
        );
        // Receiving still works: the echo, then the peer's end of stream.
        assert_eq!(wskctl(&fake, "recv 1 --exact 3").stdout, "abc");
        assert_eq!(wskctl(&fake, "recv 1").stderr, "peer closed\n");
        let out = wskctl(&fake, "send 1 --text more");
        assert!(
            out.stderr.contains("STATUS_PIPE_DISCONNECTED"),
            "{}",
            out.stderr
        );
        let out = wskctl(&fake, "list");
        let row: Vec<&str> = out
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(row[2], "disconnected");
        assert_eq!(row[12..], ["1/2", "1", "STATUS_PIPE_DISCONNECTED"]);

        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach --send-text abc");
        let out = wskctl(&fake, "--json disconnect 2 --abortive");
        assert_eq!(out.stdout, "{\"id\":2,\"disconnected\":\"abortive\"}\n");
        let out = wskctl(&fake, "recv 2");
        assert!(
            out.stderr.contains("STATUS_CONNECTION_ABORTED"),
            "{}",
            out.stderr
        );
        let out = wskctl(&fake, "disconnect 2");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        assert_eq!(wskctl(&fake, "close 2").stdout, "closed endpoint 2\n");
        wskctl(&fake, "tcp listen 127.0.0.1:9100 --service echo --detach");
        let out = wskctl(&fake, "disconnect 3");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn options_round_trip() {
        let fake = FakeDriver::default();
        for (remote, connection) in [("127.0.0.1:9000", 1), ("[::1]:9000", 2)] {
            wskctl(&fake, &format!("tcp connect {remote} --detach"));
            // As socket2's tests: the initial value differs from the one set.
            for (name, set, expected_before, expected_after) in [
                ("keepalive", "on", "0", "1"),
                ("nodelay", "true", "0", "1"),
                ("rcvbuf", "262144", "65536", "262144"),
                ("sndbuf", "4096", "65536", "4096"),
            ] {
                let before = wskctl(&fake, &format!("opt {connection} {name}"));
                assert_eq!(before.stdout, format!("{name} = {expected_before}\n"));
                let after = wskctl(&fake, &format!("opt {connection} {name} {set}"));
                assert_eq!(after.stdout, format!("{name} = {expected_after}\n"));
                let again = wskctl(&fake, &format!("--json opt {connection} {name}"));
                assert_eq!(
                    again.stdout,
                    format!(
                        "{{\"id\":{connection},\"option\":\"{name}\",\"value\":{expected_after}}}\n"
                    )
                );
            }
        }
        // IPV6_V6ONLY exists on the IPv6 connection only.
        assert_eq!(wskctl(&fake, "opt 2 v6only").stdout, "v6only = 1\n");
        let out = wskctl(&fake, "opt 1 v6only");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: get ipv6-v6only of endpoint 1: STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
        wskctl(&fake, "udp bind 127.0.0.1:0 --detach");
        let out = wskctl(&fake, "opt 3 nodelay off");
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn security_prints_the_sddl() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "tcp listen 127.0.0.1:9100 --service echo --sddl D:P(A;;GA;;;SY) --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = wskctl(&fake, "security 1");
        assert_eq!((out.code, out.stdout.as_str()), (0, "D:P(A;;GA;;;SY)\n"));
        let out = wskctl(&fake, "--json security 1");
        assert_eq!(out.stdout, "{\"id\":1,\"sddl\":\"D:P(A;;GA;;;SY)\"}\n");
        wskctl(&fake, "udp bind 127.0.0.1:0 --sddl D:(A;;GA;;;WD) --detach");
        assert_eq!(wskctl(&fake, "security 2").stdout, "D:(A;;GA;;;WD)\n");
        wskctl(&fake, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&fake, "security 3");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", "endpoint 3 has no security descriptor\n")
        );
        assert_eq!(
            wskctl(&fake, "--json security 3").stdout,
            "{\"id\":3,\"sddl\":null}\n"
        );
        let out = wskctl(
            &fake,
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
            &fake,
            &format!("tcp listen 127.0.0.1:9101 --service echo {long}"),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
    }

    #[test]
    fn resolve_and_stats() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "resolve localhost");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "127.0.0.1:0\n[::1]:0\n")
        );
        let out = wskctl(&fake, "--json resolve localhost --service http");
        assert_eq!(
            out.stdout,
            "{\"name\":\"localhost\",\"addresses\":[\"127.0.0.1:80\",\"[::1]:80\"]}\n"
        );
        let out = wskctl(&fake, "resolve no.such.host");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: resolve no.such.host: STATUS_NOT_FOUND"),
            "{}",
            out.stderr
        );
        let long = "a".repeat(256);
        let out = wskctl(&fake, &format!("resolve {long}"));
        assert_eq!(
            out.code, 2,
            "a name of 256 bytes is a usage error: {}",
            out.stderr
        );

        wskctl(
            &fake,
            "tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5",
        );
        let stats: serde_json::Value =
            serde_json::from_str(&wskctl(&fake, "--json stats").stdout).unwrap();
        assert_eq!(stats["endpoints_open"], 0);
        assert_eq!(stats["endpoints_peak"], 1);
        assert_eq!(stats["endpoints_opened"], 1);
        assert_eq!(
            (&stats["bytes_sent"], &stats["bytes_received"]),
            (&5.into(), &5.into())
        );
        assert_eq!(stats["errors"], 1, "the unknown name");
        let text = wskctl(&fake, "stats").stdout;
        assert!(text.contains("bytes sent          5\n"), "{text}");
        assert!(text.lines().count() == 8, "{text}");
    }

    #[cfg(not(windows))]
    #[test]
    fn driver_commands_off_windows_fail_with_a_sentence() {
        let fake = FakeDriver::default();
        let out = wskctl(&fake, "driver status");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.starts_with("error: query service WskRs: "),
            "{}",
            out.stderr
        );
    }
}
