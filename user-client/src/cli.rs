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

use clap::{Args, Parser, Subcommand, ValueEnum};
use wskrs_protocol::{EndpointId, Service, MAX_TRANSFER, SERVICE_NAME, USER_DEVICE_PATH};

use crate::device::write_data;
use crate::output;
use crate::{
    ClientError, Device, InstallOutcome, ServiceManager, StartOutcome, StopOutcome,
    UninstallOutcome,
};

/// The driver file `wskctl driver install` registers by default.
pub const DEFAULT_DRIVER_PATH: &str = r"C:\windows\system32\drivers\wskrs.sys";
/// How long `wskctl driver stop` waits for the driver to unload.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// `wskctl recv` without `--max` or `--exact` asks for at most this many bytes.
pub const DEFAULT_RECV_MAX: u32 = 65_536;

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the driver or Windows refused (the message names the NTSTATUS, its meaning,
     the nearest Winsock error and a hint)
  2  usage error
  3  the device could not be opened (is the driver loaded? try `wskctl driver start`)

Examples:
  wskctl driver install --path C:\\windows\\system32\\drivers\\wskrs.sys
  wskctl driver start
  wskctl info
  wskctl tcp listen 127.0.0.1:9100 --service echo --detach
  wskctl tcp connect 127.0.0.1:9100 --send-text hello --recv-exact 5
  wskctl list --json";

/// Drive the wsk-rs kernel driver: install and load it, open in-kernel TCP endpoints,
/// send and receive through them.
#[derive(Debug, Parser)]
#[command(name = "wskctl", bin_name = "wskctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The device to open.
    #[arg(long, global = true, value_name = "PATH", default_value = USER_DEVICE_PATH)]
    pub device: String,
    /// Print machine-readable JSON (info, list, tcp, send, recv, close, raw, driver status).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `wskctl` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, start, stop, uninstall or query the driver's service.
    #[command(subcommand)]
    Driver(DriverCommand),
    /// Show the driver's version, protocol, WSK provider version and endpoint count.
    #[command(
        after_help = "Example:\n  wskctl info\n  wsk-rs driver 0.1.0, protocol 1, WSK provider 1.0, 0 endpoints"
    )]
    Info,
    /// Open TCP endpoints in the kernel.
    #[command(subcommand)]
    Tcp(TcpCommand),
    /// Send bytes on a connection; prints `sent N bytes`.
    #[command(
        after_help = "Examples:\n  wskctl send 3 --text hello\n  wskctl send 3 --file payload.bin --timeout-ms 30000"
    )]
    Send(SendArgs),
    /// Receive bytes from a connection, to stdout (raw) or a file; the summary goes to stderr.
    #[command(
        after_help = "Examples:\n  wskctl recv 3 --exact 5\n  wskctl recv 3 --max 4096 --to-file out.bin"
    )]
    Recv(RecvArgs),
    /// Close an endpoint.
    #[command(after_help = "Example:\n  wskctl close 3")]
    Close {
        /// The endpoint id (from `tcp connect`, `tcp listen` or `list`).
        #[arg(value_parser = parse_endpoint_id)]
        id: EndpointId,
    },
    /// List the endpoints: ID KIND STATE SERVICE LOCAL REMOTE SENT RECEIVED SERVED ACTIVE FLAGS.
    #[command(after_help = "Examples:\n  wskctl list\n  wskctl list --json")]
    List,
    /// Developer tool: send raw bytes with any IOCTL code and print the status and output.
    ///
    /// Exits 0 when the driver answered with a success status, 1 otherwise.
    #[command(
        after_help = "Examples:\n  wskctl raw --code 0x80572000 --input-hex 0100000008000000 --output-len 24\n  wskctl raw --code 0x80572000 --input-hex 02000000\n  (prints `status STATUS_... (0x...)` then `output <hex>`)"
    )]
    Raw(RawArgs),
}

/// `wskctl driver ...`.
#[derive(Debug, Subcommand)]
pub enum DriverCommand {
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
pub enum TcpCommand {
    /// Connect to a TCP server from the kernel; optionally send, then receive, then exit.
    ///
    /// Without --detach the connection closes when wskctl exits.
    #[command(
        after_help = "Examples:\n  wskctl tcp connect 127.0.0.1:9000\n  wskctl tcp connect 127.0.0.1:9000 --send-text hello --recv-exact 5\n  wskctl tcp connect [::1]:9000 --local [::1]:50000 --detach --timeout-ms 2000"
    )]
    Connect(ConnectArgs),
    /// Listen for TCP connections in the kernel and serve each with an in-kernel service.
    ///
    /// Without --detach wskctl keeps the listener until Ctrl-C or until its standard input
    /// reaches end of file, then closes it.
    #[command(
        after_help = "Examples:\n  wskctl tcp listen 127.0.0.1:9100 --service echo\n  wskctl tcp listen 0.0.0.0:9100 --service echo --backlog 64 --detach"
    )]
    Listen(ListenArgs),
}

/// Arguments of `wskctl tcp connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server, e.g. `127.0.0.1:9000` or `[::1]:9000`.
    #[arg(value_name = "ADDR:PORT")]
    pub remote: SocketAddr,
    /// The local address to bind (default: any address, any port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub local: Option<SocketAddr>,
    /// Connect timeout in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub timeout_ms: u32,
    /// Keep the connection open after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub detach: bool,
    /// After connecting, send this text.
    #[arg(long, value_name = "T", conflicts_with = "send_file")]
    pub send_text: Option<String>,
    /// After connecting, send this file's contents.
    #[arg(long, value_name = "F")]
    pub send_file: Option<PathBuf>,
    /// Then receive exactly N bytes (to stdout, or to --recv-to-file).
    #[arg(long, value_name = "N")]
    pub recv_exact: Option<u64>,
    /// Write the bytes received by --recv-exact to this file.
    #[arg(long, value_name = "F", requires = "recv_exact")]
    pub recv_to_file: Option<PathBuf>,
}

/// The services `tcp listen` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServiceArg {
    /// Echo back everything received.
    Echo,
    /// Accept connections and serve nothing.
    None,
}

impl From<ServiceArg> for Service {
    fn from(service: ServiceArg) -> Self {
        match service {
            ServiceArg::Echo => Self::Echo,
            ServiceArg::None => Self::None,
        }
    }
}

/// Arguments of `wskctl tcp listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// The address to listen on, e.g. 127.0.0.1:9100.
    #[arg(value_name = "ADDR:PORT")]
    pub local: SocketAddr,
    /// The service run on each accepted connection.
    #[arg(long, value_enum)]
    pub service: ServiceArg,
    /// The listen backlog (0: the driver's choice).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub backlog: u32,
    /// Keep the listener after wskctl exits (close it with `wskctl close`).
    #[arg(long)]
    pub detach: bool,
}

/// Arguments of `wskctl send`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("payload").required(true))]
pub struct SendArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub id: EndpointId,
    /// Send this text.
    #[arg(long, value_name = "T", group = "payload")]
    pub text: Option<String>,
    /// Send this file (in 4 MiB requests when larger).
    #[arg(long, value_name = "F", group = "payload")]
    pub file: Option<PathBuf>,
    /// Timeout per request in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub timeout_ms: u32,
}

/// Arguments of `wskctl recv`.
#[derive(Debug, Args)]
pub struct RecvArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub id: EndpointId,
    /// Receive once, at most N bytes (default 65536; at most 4194304).
    #[arg(long, value_name = "N", conflicts_with = "exact", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TRANSFER)))]
    pub max: Option<u32>,
    /// Receive until exactly N bytes arrived (error if the peer closes first).
    #[arg(long, value_name = "N")]
    pub exact: Option<u64>,
    /// Write the data to this file instead of stdout.
    #[arg(long, value_name = "F")]
    pub to_file: Option<PathBuf>,
    /// Timeout per request in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub timeout_ms: u32,
}

/// Arguments of `wskctl raw`.
#[derive(Debug, Args)]
pub struct RawArgs {
    /// The IOCTL code, decimal or 0x-prefixed hex.
    #[arg(long, value_name = "CODE", value_parser = parse_code)]
    pub code: u32,
    /// The input bytes as hex (spaces allowed), sent as is.
    #[arg(long, value_name = "HEX", value_parser = parse_hex, default_value = "")]
    pub input_hex: HexBytes,
    /// The output buffer size in bytes.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_TRANSFER) + 16))]
    pub output_len: u32,
}

/// Bytes given as hex on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

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

/// The standard streams a command reads and writes.
pub struct Streams<'a> {
    /// Results.
    pub stdout: &'a mut dyn Write,
    /// Errors and receive summaries.
    pub stderr: &'a mut dyn Write,
    /// Read by `tcp listen` (end of file closes the listener).
    pub stdin: &'a mut dyn Read,
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
pub type OpenDevice<'a> = &'a dyn Fn(&str) -> Result<Device, ClientError>;

/// The whole `wskctl` program: parses `args` (the first is the program name), runs the
/// command and returns the exit status, writing errors as `error: ...` to `streams.stderr`.
pub fn main_with<I, T>(args: I, open: OpenDevice<'_>, streams: &mut Streams<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            let stream = if error.use_stderr() {
                &mut *streams.stderr
            } else {
                &mut *streams.stdout
            };
            let _ = stream.write_all(text.as_bytes());
            return u8::try_from(error.exit_code()).unwrap_or(2);
        }
    };
    match run(&cli, open, streams) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(streams.stderr, "error: {error}");
            error.exit_code()
        }
    }
}

/// Runs a parsed command; returns the exit status for outcomes that are not errors
/// (`raw` with a failure status returns 1).
///
/// # Errors
///
/// Whatever the command's calls fail with; [`ClientError::exit_code`] gives the status.
pub fn run(cli: &Cli, open: OpenDevice<'_>, streams: &mut Streams<'_>) -> Result<u8, ClientError> {
    let json = cli.json;
    match &cli.command {
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
            run_connect(&open(&cli.device)?, args, json, streams)
        }
        Command::Tcp(TcpCommand::Listen(args)) => {
            run_listen(&open(&cli.device)?, args, json, streams)
        }
        Command::Send(args) => {
            let device = open(&cli.device)?;
            let sent = send_payload(
                &device,
                args.id,
                args.text.as_deref(),
                args.file.as_deref(),
                args.timeout_ms,
            )?;
            streams.line(&if json {
                output::sent_json(args.id.0, sent)
            } else {
                output::sent_text(sent)
            })?;
            Ok(0)
        }
        Command::Recv(args) => run_recv(&open(&cli.device)?, args, json, streams),
        Command::Close { id } => {
            open(&cli.device)?.close(*id)?;
            streams.line(&if json {
                output::closed_json(id.0)
            } else {
                output::closed_text(id.0)
            })?;
            Ok(0)
        }
        Command::List => {
            let entries = open(&cli.device)?.list()?;
            if json {
                streams.line(&output::list_json(&entries))?;
            } else {
                let table = output::list_table(&entries);
                streams.line(table.trim_end())?;
            }
            Ok(0)
        }
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

fn send_payload(
    device: &Device,
    id: EndpointId,
    text: Option<&str>,
    file: Option<&Path>,
    timeout_ms: u32,
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
    device.send_reader(id, &mut reader, &what, timeout_ms)
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
) -> Result<u8, ClientError> {
    let endpoint = device.tcp_connect(args.remote, args.local, args.detach, args.timeout_ms)?;
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
        )?;
        streams.line(&if json {
            output::sent_json(id.0, sent)
        } else {
            output::sent_text(sent)
        })?;
    }
    if let Some(count) = args.recv_exact {
        let received = match &args.recv_to_file {
            Some(path) => device.recv_exact(id, count, args.timeout_ms, &mut create_file(path)?)?,
            None => receive_to_stdout(device, id, count, args.timeout_ms, streams)?,
        };
        streams.note(&if json {
            output::received_json(id.0, received, false)
        } else {
            output::received_text(received, false)
        })?;
    }
    Ok(0)
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
) -> Result<u8, ClientError> {
    let service = Service::from(args.service);
    let endpoint = device.tcp_listen(args.local, service, args.backlog, args.detach)?;
    streams.line(&if json {
        output::endpoint_json(&endpoint, Some(service), args.detach)
    } else {
        output::listening_text(&endpoint, args.local, service)
    })?;
    if args.detach {
        return Ok(0);
    }
    // Serve until stdin ends; Ctrl-C ends the process, and closing its handle closes the
    // listener in the driver.
    io::copy(&mut *streams.stdin, &mut io::sink())
        .map_err(|source| ClientError::io("reading stdin", source))?;
    device.close(endpoint.id)?;
    streams.line(&if json {
        output::closed_json(endpoint.id.0)
    } else {
        output::closed_text(endpoint.id.0)
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
            Some(path) => device.recv_exact(id, count, args.timeout_ms, &mut create_file(path)?)?,
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
    use crate::fake::{FakeDriver, CLOSED_PEER_PORT, REFUSING_PORT};
    use crate::{ClientError, Device};
    use clap::CommandFactory;
    use std::io;
    use wskrs_protocol::{IoctlCode, MAX_TRANSFER};

    struct Outcome {
        code: u8,
        stdout: String,
        stderr: String,
    }

    fn wskctl_with_stdin(fake: &FakeDriver, args: &str, stdin: &[u8]) -> Outcome {
        let (mut stdout, mut stderr, mut input) = (Vec::new(), Vec::new(), stdin);
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(fake.clone())))
        };
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut input,
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
                "wsk-rs driver 0.1.0, protocol 1, WSK provider 1.0, 0 endpoints\n"
            )
        );
        let out = wskctl(&fake, "info --json");
        assert_eq!(out.stdout, "{\"driver_version\":\"0.1.0\",\"protocol\":1,\"wsk_version\":\"1.0\",\"endpoints\":0}\n");
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
                "detached"
            ]
        );
        let out = wskctl(&fake, "list --json");
        let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(parsed[0]["id"], 1);
        assert_eq!(parsed[0]["service"], "echo");
        assert_eq!(parsed[0]["flags"][0], "detached");
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
    fn raw_reports_status_and_exit_code() {
        let fake = FakeDriver::default();
        let out = wskctl(
            &fake,
            "raw --code 0x80572000 --input-hex 0100000008000000 --output-len 24",
        );
        assert_eq!(out.code, 0);
        assert_eq!(out.stdout, "status STATUS_SUCCESS (0x00000000)\noutput 010000001800000000000100000000010100000000000000\n");
        let out = wskctl(&fake, "raw --code 0x80572000 --input-hex 02000000");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (
                1,
                "status STATUS_INFO_LENGTH_MISMATCH (0xC0000004)\noutput\n"
            )
        );
        let out = wskctl(&fake, "raw --code 2153193472 --input-hex 0200000008000000");
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
            "raw --code 0x80572000 --input-hex 0100000008000000 --output-len 8",
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
