//! The `wskctl` command line: the clap definition of every command ([`Cli`], [`Command`]),
//! the dispatch from a parsed command to its family's module, and the streams and exit
//! statuses every command shares.
//!
//! One module per command family holds its arguments, what it does and its tests:
//! [`driver`] (the driver's service), [`info`] (`info`, `stats`), [`endpoints`] (`list`,
//! `serve`, `close`), [`tcp`] (`tcp connect|listen|accept`, `disconnect`), [`udp`] (`udp
//! bind`, `sendto`, `recvfrom`), [`transfer`] (`send`, `recv`, `stream-send`), [`options`]
//! (`opt` and the options applied before binding), [`security`], [`secure`] (the secure
//! socket extensions), [`resolve`], [`raw`],
//! [`shell`] and [`selftest`].
//!
//! [`main_with`] is the whole program with its environment passed in (arguments, how to
//! open the device, the three standard streams), so tests run it against the real driver
//! core on the fake kernel (`testing`).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{EndpointId, USER_DEVICE_PATH};

use crate::output::{Format, Reply};

pub(crate) mod driver;
pub(crate) mod endpoints;
pub(crate) mod info;
pub(crate) mod options;
pub(crate) mod raw;
pub(crate) mod resolve;
pub(crate) mod secure;
pub(crate) mod security;
pub(crate) mod selftest;
pub(crate) mod shell;
pub(crate) mod tcp;
pub(crate) mod transfer;
pub(crate) mod udp;

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
    /// tcp, udp, send, recv, serve, sendto, recvfrom, disconnect, opt, security, secure, resolve,
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
    Driver(driver::DriverCommand),
    /// Show the driver's version, protocol, WSK provider version and endpoint count.
    #[command(
        after_help = "Example:\n  wskctl info\n  wsk-rs driver 0.1.0, protocol 7, WSK provider 1.0, 0 endpoints"
    )]
    Info,
    /// Open TCP endpoints in the kernel.
    #[command(subcommand)]
    Tcp(tcp::TcpCommand),
    /// Open UDP endpoints in the kernel.
    #[command(subcommand)]
    Udp(udp::UdpCommand),
    /// Send bytes on a connection; prints `sent N bytes`.
    ///
    /// Data is sent in SENDs of up to 128 KiB, four outstanding at once (pipelined: the
    /// driver queues them and completes them in order). Each completes once the transport
    /// took all its bytes, so a slow reader makes it wait (up to --timeout-ms); Ctrl-C
    /// cancels the one in flight and the ones queued behind it (exit 130).
    #[command(
        after_help = "Examples:\n  wskctl send 3 --text hello\n  wskctl send 3 --file payload.bin --timeout-ms 30000"
    )]
    Send(transfer::SendArgs),
    /// Receive bytes from a connection, to stdout (raw) or a file; the summary goes to stderr.
    ///
    /// A receive waits in the driver until data arrives, up to --timeout-ms (then
    /// STATUS_IO_TIMEOUT); Ctrl-C cancels it (prints `cancelled: ...`, exit 130).
    #[command(
        after_help = "Examples:\n  wskctl recv 3 --exact 5\n  wskctl recv 3 --max 4096 --to-file out.bin"
    )]
    Recv(transfer::RecvArgs),
    /// Send a request and receive its reply in one IOCTL (TRANSACT): the reply to stdout
    /// (raw), `sent N bytes, received M bytes` to stderr.
    ///
    /// Half the trips to the driver of `send` then `recv`, for request/response protocols.
    /// The reply is what the peer sends first (as `recv` returns it), at most --max bytes;
    /// request and reply are 1 to 65536 bytes. Refused with STATUS_DEVICE_BUSY while a
    /// `recv` is outstanding on the connection. --timeout-ms covers the send and the reply;
    /// Ctrl-C cancels it (exit 130).
    #[command(
        after_help = "Examples:\n  wskctl transact 3 --text ping --max 4096\n  wskctl --json transact 3 --file request.bin --to-file reply.bin"
    )]
    Transact(transfer::TransactArgs),
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
    Serve(endpoints::ServeArgs),
    /// Send one datagram from a UDP endpoint; prints `sent N bytes to ADDR`.
    ///
    /// The datagram has 1 to 65507 bytes: ABI v3 cannot send empty datagrams.
    #[command(
        after_help = "Examples:\n  wskctl sendto 5 127.0.0.1:9000 --text ping\n  wskctl sendto 5 [::1]:9000 --file datagram.bin"
    )]
    Sendto(udp::SendToArgs),
    /// Receive one datagram on a UDP endpoint, to stdout (raw) or a file.
    ///
    /// The summary `received N bytes from ADDR` goes to stderr. The receive waits in the
    /// driver up to --timeout-ms; Ctrl-C cancels it (exit 130).
    #[command(
        after_help = "Examples:\n  wskctl recvfrom 5\n  wskctl recvfrom 5 --max 1500 --timeout-ms 2000 --to-file datagram.bin"
    )]
    Recvfrom(udp::RecvFromArgs),
    /// Shut a connection down, gracefully or abortively (reset).
    ///
    /// Graceful shuts down the send direction: the peer sees end of stream and receiving
    /// still works. Abortive resets the connection. Either way the endpoint stays listed (state
    /// disconnected) until `wskctl close`.
    #[command(after_help = "Examples:\n  wskctl disconnect 3\n  wskctl disconnect 3 --abortive")]
    Disconnect(tcp::DisconnectArgs),
    /// Get a socket option of an endpoint, or set it when a value is given (the value read
    /// back is printed).
    ///
    /// keepalive, nodelay (on/off) and rcvbuf, sndbuf (bytes) can be set; reuseaddr,
    /// exclusiveaddruse and v6only are fixed when the socket is bound (use --reuse-addr,
    /// --exclusive-addr, --v6only or --dual-stack there) and can only be read.
    #[command(
        after_help = "Examples:\n  wskctl opt 3 nodelay\n  wskctl opt 3 nodelay on\n  wskctl opt 3 rcvbuf 262144\n  wskctl --json opt 4 v6only"
    )]
    Opt(options::OptArgs),
    /// Print an endpoint's security descriptor (SO_WSK_SECURITY) as SDDL, or with `device`
    /// the DACL of the driver's device object as the kernel holds it.
    #[command(
        after_help = "Examples:\n  wskctl tcp listen 127.0.0.1:9100 --service echo --sddl \"D:P(A;;GA;;;SY)\" --detach\n  wskctl security 4\n  D:P(A;;GA;;;SY)\n  wskctl security device\n  D:P(A;;GA;;;SY)(A;;GA;;;BA)\n\nThe device's DACL is SYSTEM and Administrators only. Windows' object manager may store it\nwith generic rights mapped (FA for GA); Wine keeps them as given."
    )]
    Security(security::SecurityArgs),
    /// Winsock's secure socket extensions on endpoints: query a connection's security, name
    /// or forget a UDP endpoint's peer (the settings themselves are given when an endpoint
    /// is opened: `--secure` on `tcp connect`, `tcp listen` and `udp bind`).
    #[command(subcommand)]
    Secure(secure::SecureCommand),
    /// Resolve a host name in the kernel (WskGetAddressInfo); prints one address per line.
    #[command(
        after_help = "Examples:\n  wskctl resolve localhost\n  wskctl resolve localhost --service 80\n  wskctl --json resolve ::1"
    )]
    Resolve(resolve::ResolveArgs),
    /// Show the driver-wide counters: endpoints, bytes, connections served, errors, uptime.
    #[command(after_help = "Examples:\n  wskctl stats\n  wskctl stats --json")]
    Stats,
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
        after_help = "Examples:\n  wskctl raw --code 0x80576000 --input-hex 0700000008000000 --output-len 24\n  wskctl raw --code 0x80576000 --input-hex 02000000\n  (prints `status STATUS_... (0x...)` then `output <hex>`)"
    )]
    Raw(raw::RawArgs),
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
    Shell(shell::ShellArgs),
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
    #[command(after_help = selftest::SELFTEST_HELP)]
    Selftest(selftest::SelftestArgs),
    /// Connect with the library's KernelTcpStream and copy a file into the connection
    /// (std::io::copy through a 4 MiB BufWriter; each 4 MiB write goes as pipelined 128 KiB
    /// SENDs, four outstanding), then close it; prints the bytes, the time, the rate and the
    /// SHA-256 of what was sent.
    #[command(
        after_help = "Examples:\n  wskctl stream-send 127.0.0.1:9000 --file payload.bin\n  wskctl --json stream-send [::1]:9000 --file payload.bin --timeout-ms 30000"
    )]
    StreamSend(transfer::StreamSendArgs),
}

/// The timeout a `--timeout-ms N` argument asks for: 0 is the driver's default (`None`).
pub(crate) fn timeout_arg(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(u64::from(ms)))
}

pub(crate) fn parse_endpoint_id(text: &str) -> Result<EndpointId, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an endpoint id (a decimal number from 1)"))
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
    /// Writes `text` and a newline to stdout, flushed.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), ClientError> {
        writeln!(self.stdout, "{text}")
            .and_then(|()| self.stdout.flush())
            .map_err(|source| ClientError::io("writing to stdout", source))
    }

    /// Writes `text` and a newline to stderr, flushed.
    pub(crate) fn note(&mut self, text: &str) -> Result<(), ClientError> {
        writeln!(self.stderr, "{text}")
            .and_then(|()| self.stderr.flush())
            .map_err(|source| ClientError::io("writing to stderr", source))
    }

    /// Prints a command's result in `format` on stdout (a text remark on stderr); an empty
    /// text prints nothing.
    pub(crate) fn reply(&mut self, format: Format, reply: &impl Reply) -> Result<(), ClientError> {
        let text = format.render(reply);
        if text.is_empty() {
            Ok(())
        } else if format.is_remark(reply) {
            self.note(&text)
        } else {
            self.line(&text)
        }
    }

    /// Prints a summary in `format` on stderr: what `recv` and `recvfrom` print beside the
    /// data they write to stdout.
    pub(crate) fn summary(
        &mut self,
        format: Format,
        reply: &impl Reply,
    ) -> Result<(), ClientError> {
        self.note(&format.render(reply))
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
            report_error(&error, streams);
            error.exit_code()
        }
    }
}

/// Prints a command's error: `cancelled: ...` for a cancelled request (Ctrl-C), else
/// `error: ...`, on stderr, or on stdout when stderr cannot be written: a failing exit
/// status never comes without its sentence while either stream works.
pub(crate) fn report_error(error: &ClientError, streams: &mut Streams<'_>) {
    let label = if error.is_cancelled() {
        "cancelled"
    } else {
        "error"
    };
    let line = format!("{label}: {error}");
    let written = writeln!(streams.stderr, "{line}").and_then(|()| streams.stderr.flush());
    if let Err(failure) = written {
        let _ = writeln!(
            streams.stdout,
            "{line} (stderr could not be written: {failure})"
        )
        .and_then(|()| streams.stdout.flush());
    }
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
        Command::Tcp(tcp::TcpCommand::Connect(args)) => args.bind.check(args.remote).err(),
        Command::Tcp(tcp::TcpCommand::Listen(args)) => args.bind.check(args.local).err(),
        Command::Udp(udp::UdpCommand::Bind(args)) => args.bind.check(args.local).err(),
        Command::Opt(args) => args
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
    let format = Format::from_json_flag(cli.json);
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
            Session::OneShot => shell::run_shell(cli, args, open, streams),
            Session::Shell => Err(ClientError::io(
                "shell",
                io::Error::new(io::ErrorKind::InvalidInput, "already in a wskctl shell"),
            )),
        },
        // A shell's lines share one handle; the self-test needs handles of its own (it
        // checks that closing one closes its endpoints).
        Command::Selftest(_) if session == Session::Shell => Err(ClientError::io(
            "selftest",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "run `wskctl selftest` as a command of its own, not in `wskctl shell`",
            ),
        )),
        Command::Selftest(args) => selftest::run_selftest(&cli.device, open, args, format, streams),
        Command::Driver(command) => driver::run(command, format, streams),
        Command::Info => info::run_info(&open(&cli.device)?, format, streams),
        Command::Stats => info::run_stats(&open(&cli.device)?, format, streams),
        Command::Tcp(command) => tcp::run(&open(&cli.device)?, command, format, streams, session),
        Command::Disconnect(args) => {
            tcp::run_disconnect(&open(&cli.device)?, args, format, streams)
        }
        Command::Udp(command) => udp::run(&open(&cli.device)?, command, format, streams, session),
        Command::Sendto(args) => udp::run_send_to(&open(&cli.device)?, args, format, streams),
        Command::Recvfrom(args) => udp::run_recv_from(&open(&cli.device)?, args, format, streams),
        Command::Send(args) => transfer::run_send(&open(&cli.device)?, args, format, streams),
        Command::Recv(args) => transfer::run_recv(&open(&cli.device)?, args, format, streams),
        Command::Transact(args) => {
            transfer::run_transact(&open(&cli.device)?, args, format, streams)
        }
        Command::StreamSend(args) => {
            transfer::run_stream_send(open(&cli.device)?, args, format, streams)
        }
        Command::Serve(args) => endpoints::run_serve(&open(&cli.device)?, args, format, streams),
        Command::Close { id } => endpoints::run_close(&open(&cli.device)?, *id, format, streams),
        Command::List => endpoints::run_list(&open(&cli.device)?, format, streams),
        Command::Opt(args) => options::run(&open(&cli.device)?, args, format, streams),
        Command::Security(args) => security::run(&open(&cli.device)?, args, format, streams),
        Command::Secure(command) => secure::run(&open(&cli.device)?, command, format, streams),
        Command::Resolve(args) => resolve::run(&open(&cli.device)?, args, format, streams),
        Command::Raw(args) if args.read_only => {
            raw::run(&Device::open_read_only(&cli.device)?, args, format, streams)
        }
        Command::Raw(args) => raw::run(&open(&cli.device)?, args, format, streams),
    }
}

/// The file at `path`, created or truncated.
pub(crate) fn create_file(path: &Path) -> Result<File, ClientError> {
    File::create(path)
        .map_err(|source| ClientError::io(format!("creating {}", path.display()), source))
}

/// Runs `wskctl` against the real driver core on the fake kernel
/// ([`wskrs_host_driver`]), for the tests of every command family.
#[cfg(test)]
pub(crate) mod testing {
    use super::{main_with, Streams, Terminal};
    use wskrs_client::{ClientError, Device};
    use wskrs_host_driver::HostDriver;

    /// What one run printed and returned.
    pub(crate) struct Outcome {
        pub(crate) code: u8,
        pub(crate) stdout: String,
        pub(crate) stderr: String,
    }

    /// `wskctl ARGS` (split on whitespace) with `stdin` as its standard input.
    pub(crate) fn wskctl_with_stdin(driver: &HostDriver, args: &str, stdin: &[u8]) -> Outcome {
        let (mut stdout, mut stderr, mut input) = (Vec::new(), Vec::new(), stdin);
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(driver.handle())))
        };
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut input,
            terminal: Terminal::default(),
        };
        let command_line = std::iter::once("wskctl").chain(args.split_whitespace());
        let code = main_with(command_line, &open, &mut streams);
        Outcome {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// `wskctl ARGS` with an empty standard input.
    pub(crate) fn wskctl(driver: &HostDriver, args: &str) -> Outcome {
        wskctl_with_stdin(driver, args, b"")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::wskctl;
    use super::{main_with, Cli, Streams};
    use clap::{CommandFactory, Parser};
    use std::io;
    use wskrs_client::{ClientError, Device};
    use wskrs_host_driver::HostDriver;

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
    /// A stream that refuses every write (a closed or broken standard stream).
    struct Broken;

    impl io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn a_failure_is_never_silent_when_stderr_is_broken() {
        let driver = HostDriver::default();
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(driver.handle())))
        };
        let (mut stdout, mut stdin) = (Vec::new(), io::empty());
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut Broken,
            stdin: &mut stdin,
            terminal: super::Terminal::default(),
        };
        let code = main_with(["wskctl", "close", "2308"], &open, &mut streams);
        let stdout = String::from_utf8_lossy(&stdout);
        assert_eq!(code, 1);
        assert!(
            stdout.starts_with("error: close endpoint 2308: STATUS_NOT_FOUND")
                && stdout.contains("stderr could not be written"),
            "{stdout}"
        );
    }

    #[test]
    fn a_reply_lost_on_stdout_is_reported_on_stderr() {
        let driver = HostDriver::default();
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(driver.handle())))
        };
        let (mut stderr, mut stdin) = (Vec::new(), io::empty());
        let mut streams = Streams {
            stdout: &mut Broken,
            stderr: &mut stderr,
            stdin: &mut stdin,
            terminal: super::Terminal::default(),
        };
        let code = main_with(["wskctl", "info"], &open, &mut streams);
        let stderr = String::from_utf8_lossy(&stderr);
        assert_eq!(code, 1);
        assert!(stderr.starts_with("error: writing to stdout: "), "{stderr}");
    }

    #[test]
    fn usage_errors_exit_2() {
        let driver = HostDriver::default();
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
            "tcp listen 127.0.0.1:1 --service echo --max-connections 1048577",
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
            let out = wskctl(&driver, args);
            assert_eq!(
                out.code, 2,
                "`wskctl {args}` gave {} / {}",
                out.stdout, out.stderr
            );
            assert!(out.stderr.contains("error"), "{args}: {}", out.stderr);
        }
        assert!(
            driver.requests().is_empty(),
            "usage errors must not reach the driver"
        );
    }

    #[test]
    fn help_goes_to_stdout_and_exits_0() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "--help");
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Usage: wskctl"));
        assert!(out.stdout.contains("Exit status:"));
        let out = wskctl(&driver, "tcp connect --help");
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
}
