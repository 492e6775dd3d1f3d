//! `wskctl selftest`: the end-to-end scenarios that need no other machine, for a Windows
//! test VM with the driver installed.
//!
//! The kernel side of each scenario goes through the library's types ([`Device`],
//! [`KernelTcpStream`], [`KernelTcpListener`], [`KernelUdpSocket`]) on the calling thread;
//! its peers live in this process, on other threads, over user-mode Winsock (`std::net`):
//! an echo server, a sink, clients of an in-kernel listener, a UDP peer. Every wait is
//! bounded by the run's timeout, and every endpoint a scenario opens is closed before the
//! next one starts (the last scenario checks that the driver's endpoint count is back where
//! it was).
//!
//! Each scenario ends [`Outcome::Passed`], [`Outcome::Failed`] or [`Outcome::Skipped`]. A
//! skip is decided by what the driver returned, never by the provider's name: a step that
//! needs a WSK capability (datagram sockets, `WskControlSocket`, `WskDisconnect`, security
//! descriptors, IPv6, cancellation) is marked with what it needs, and when that step fails
//! with a status saying the WSK provider does not implement it
//! ([`provider_lacks`]), or the driver reports the symptom of a provider that ignored a
//! cancel (the connection `broken`), the scenario is skipped with that status as the reason.
//! Any other failure, of that step or another, is a failure.

use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    ctl_code, encode_info, encode_tcp_connect, source_byte, DriverInfo, EndpointId, EndpointState,
    IoctlCode, Service, UdpService, ABI_VERSION, DEVICE_TYPE, METHOD_BUFFERED,
};

use wskrs_client::{
    ClientError, Device, KernelTcpListener, KernelTcpStream, KernelUdpSocket, TcpConnectOptions,
    TcpListenOptions, UdpBindOptions,
};

use super::{OpenDevice, Streams};
use crate::output::{Format, Reply};
use clap::Args;

pub(crate) const SELFTEST_HELP: &str = "\
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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = clap::value_parser!(u32).range(500..=600_000))]
    pub(crate) timeout_ms: u32,
}

fn parse_scenario(text: &str) -> Result<String, String> {
    match find(text) {
        Some(scenario) => Ok(scenario.name.to_owned()),
        None => Err(format!(
            "no scenario '{text}'; `wskctl selftest --list` lists them"
        )),
    }
}

/// `wskctl selftest`: the scenarios, then the report (text table or JSON).
pub(crate) fn run_selftest(
    path: &str,
    open: OpenDevice<'_>,
    args: &SelftestArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    if args.list {
        streams.reply(format, &ScenarioList)?;
        return Ok(0);
    }
    let device = open(path)?;
    let report = run(
        &device,
        &|| open(path),
        &args.only,
        args.timeout_ms,
        wskrs_client::os_version(),
    )?;
    streams.reply(format, &report)?;
    Ok(report.exit_code())
}

/// The default of `--timeout-ms`: how long one step may wait.
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 5_000;

/// What the WSK capabilities are called in skip reasons (the WSK calls behind them).
pub(crate) mod needs {
    /// Datagram sockets.
    pub(crate) const DATAGRAM: &str =
        "datagram sockets (WskSocket with WSK_FLAG_DATAGRAM_SOCKET, WskSendTo, WskReceiveFrom)";
    /// Socket options.
    pub(crate) const OPTIONS: &str = "socket options (WskControlSocket)";
    /// DISCONNECT.
    pub(crate) const DISCONNECT: &str = "WskDisconnect";
    /// Security descriptors.
    pub(crate) const SECURITY: &str =
        "security descriptors (WskControlClient WSK_CACHE_SD, WskControlSocket SO_WSK_SECURITY)";
    /// IPv6 sockets.
    pub(crate) const IPV6: &str = "IPv6 sockets (WskSocket and WskBind with AF_INET6)";
    /// Cancelling a pending request.
    pub(crate) const CANCEL: &str = "cancelling a pending WskReceive (IoCancelIrp)";
    /// IPv6 in this machine's user-mode Winsock (for the in-process peer).
    pub(crate) const IPV6_LOOPBACK: &str = "an IPv6 loopback (::1) for the in-process peer";
}

/// Whether `status` says the WSK provider does not implement the call that returned it:
/// `STATUS_NOT_IMPLEMENTED` or `STATUS_NOT_SUPPORTED` (what WSK stubs and providers without a
/// feature answer, passed on unchanged by the driver).
#[must_use]
pub(crate) fn provider_lacks(status: NtStatus) -> bool {
    status == NtStatus::NOT_IMPLEMENTED || status == NtStatus::NOT_SUPPORTED
}

/// Why a scenario did not pass.
#[derive(Debug)]
pub(crate) struct Problem {
    message: String,
    status: Option<NtStatus>,
    /// What the failing step needed of the WSK provider, if it was marked.
    needs: Option<&'static str>,
    /// The driver reported the symptom of a provider that lacks `needs` (not a status).
    observed_gap: bool,
}

impl Problem {
    /// A check that failed.
    #[must_use]
    pub(crate) fn check(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: None,
            needs: None,
            observed_gap: false,
        }
    }

    /// What was seen shows that the provider (or the machine) lacks `needs`.
    #[must_use]
    pub(crate) fn lacks(
        needs: &'static str,
        message: impl Into<String>,
        status: Option<NtStatus>,
    ) -> Self {
        Self {
            message: message.into(),
            status,
            needs: Some(needs),
            observed_gap: true,
        }
    }

    /// The step that failed needed `needs` of the WSK provider.
    #[must_use]
    pub(crate) fn needing(mut self, needs: &'static str) -> Self {
        self.needs = Some(needs);
        self
    }

    /// Puts what was being done in front of the message.
    #[must_use]
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The NTSTATUS the driver returned, if the problem is one.
    #[must_use]
    pub(crate) fn status(&self) -> Option<NtStatus> {
        self.status
    }
}

impl From<ClientError> for Problem {
    fn from(error: ClientError) -> Self {
        Self {
            message: error.to_string(),
            status: error.status(),
            needs: None,
            observed_gap: false,
        }
    }
}

impl From<io::Error> for Problem {
    fn from(error: io::Error) -> Self {
        match ClientError::of_io(&error) {
            Some(client) => Self {
                message: client.to_string(),
                status: client.status(),
                needs: None,
                observed_gap: false,
            },
            None => Self::check(error.to_string()),
        }
    }
}

/// A scenario's result so far.
type Step<T = ()> = Result<T, Problem>;

/// Marks a step that needs `what` of the WSK provider.
fn needs<T, E: Into<Problem>>(what: &'static str, result: Result<T, E>) -> Step<T> {
    result.map_err(|error| error.into().needing(what))
}

/// Fails with `message` unless `condition`.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Step {
    if condition {
        Ok(())
    } else {
        Err(Problem::check(message()))
    }
}

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything it checked held.
    Passed,
    /// Something it checked did not hold, or a request failed.
    Failed {
        /// What went wrong (with the NTSTATUS name and meaning when the driver refused).
        reason: String,
        /// The driver's status, if a request failed.
        status: Option<NtStatus>,
    },
    /// The WSK provider (or the machine) cannot do what the scenario needs.
    Skipped {
        /// What it needs and what the driver answered.
        reason: String,
        /// The WSK capability it needs.
        needs: &'static str,
        /// The driver's status that showed it.
        status: Option<NtStatus>,
    },
}

impl Outcome {
    /// The outcome of a scenario that returned `result`: a failure of a step marked with
    /// what it needs is a skip when its status says the provider lacks that
    /// ([`provider_lacks`]) or when the driver showed the symptom ([`Problem::lacks`]);
    /// everything else that is not `Ok` is a failure.
    #[must_use]
    pub(crate) fn of(result: Step) -> Self {
        let problem = match result {
            Ok(()) => return Self::Passed,
            Err(problem) => problem,
        };
        match problem.needs {
            Some(needs) if problem.observed_gap || problem.status.is_some_and(provider_lacks) => {
                Self::Skipped {
                    reason: format!("needs {needs}: {}", problem.message),
                    needs,
                    status: problem.status,
                }
            }
            _ => Self::Failed {
                reason: problem.message,
                status: problem.status,
            },
        }
    }

    /// `pass`, `fail` or `skip`.
    #[must_use]
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Self::Passed => "pass",
            Self::Failed { .. } => "fail",
            Self::Skipped { .. } => "skip",
        }
    }

    /// The reason of a failure or skip.
    #[must_use]
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            Self::Passed => None,
            Self::Failed { reason, .. } | Self::Skipped { reason, .. } => Some(reason),
        }
    }

    /// The status of a failure or skip, if it came from the driver.
    #[must_use]
    pub(crate) fn status(&self) -> Option<NtStatus> {
        match self {
            Self::Passed => None,
            Self::Failed { status, .. } | Self::Skipped { status, .. } => *status,
        }
    }

    /// The capability a skipped scenario needs.
    #[must_use]
    pub(crate) fn needs(&self) -> Option<&'static str> {
        match self {
            Self::Skipped { needs, .. } => Some(needs),
            _ => None,
        }
    }
}

/// One scenario's line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScenarioReport {
    /// The scenario's name.
    pub(crate) name: &'static str,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// How long it took.
    pub(crate) duration: Duration,
}

/// What `wskctl selftest` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// The driver's INFO at the start.
    pub(crate) info: DriverInfo,
    /// The operating system, e.g. `Windows 10.0.22631`, if known.
    pub(crate) os: Option<String>,
    /// The `--timeout-ms` of the run.
    pub(crate) timeout_ms: u32,
    /// The scenarios run, in order.
    pub(crate) scenarios: Vec<ScenarioReport>,
    /// How long the whole run took.
    pub(crate) duration: Duration,
}

impl Report {
    /// (passed, failed, skipped).
    #[must_use]
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let count = |word: &str| {
            self.scenarios
                .iter()
                .filter(|scenario| scenario.outcome.word() == word)
                .count()
        };
        (count("pass"), count("fail"), count("skip"))
    }

    /// The exit status: 1 when a scenario failed, else 0.
    #[must_use]
    pub(crate) fn exit_code(&self) -> u8 {
        u8::from(self.counts().1 > 0)
    }
}

/// What a scenario can use.
struct Ctx<'a> {
    /// Opens another handle to the device (a scenario's endpoints belong to it).
    open: &'a dyn Fn() -> Result<Device, ClientError>,
    /// The self-test's own handle (INFO, STATS, LIST, RESOLVE, raw requests).
    device: &'a Device,
    /// How long one step may wait.
    timeout: Duration,
    /// The driver's endpoint count before the first scenario.
    baseline: u32,
}

impl Ctx<'_> {
    fn open(&self) -> Step<Device> {
        (self.open)().map_err(|error| Problem::from(error).context("opening another handle"))
    }

    /// A connection of this handle that connects within the step timeout.
    fn connect_options(&self) -> TcpConnectOptions<'static> {
        TcpConnectOptions {
            timeout: Some(self.timeout),
            ..TcpConnectOptions::default()
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }
}

type Run = fn(&Ctx<'_>) -> Step;

/// A scenario: its name (for `--only`), one line about it (for `--list`), and its steps.
pub(crate) struct Scenario {
    /// The name `--only` takes.
    pub(crate) name: &'static str,
    /// What it checks, in one line.
    pub(crate) about: &'static str,
    run: Run,
}

const fn scenario(name: &'static str, about: &'static str, run: Run) -> Scenario {
    Scenario { name, about, run }
}

/// Every scenario, in the order they run.
pub(crate) const SCENARIOS: &[Scenario] = &[
    scenario(
        "info_and_stats",
        "INFO speaks this protocol; STATS agrees with it and its uptime does not go back",
        info_and_stats,
    ),
    scenario(
        "tcp_connect_echo_1mib",
        "a kernel connection to an in-process echo server on 127.0.0.1 round-trips 1 MiB (SHA-256)",
        |cx| connect_echo(cx, LOCALHOST4, 1 << 20),
    ),
    scenario(
        "tcp_listener_echo_clients",
        "an in-kernel echo listener on 127.0.0.1 serves 8 concurrent in-process clients, 64 KiB each",
        |cx| listener_echo(cx, LOCALHOST4),
    ),
    scenario(
        "tcp_listener_discard",
        "an in-kernel discard listener counts the 1 MiB + 12345 bytes a client sends",
        listener_discard,
    ),
    scenario(
        "tcp_listener_source",
        "an in-kernel source listener sends the pattern i % 251 (256 KiB read)",
        listener_source,
    ),
    scenario(
        "tcp_accept",
        "a --service none listener queues a client for ACCEPT; data both ways; a second ACCEPT times out",
        tcp_accept,
    ),
    scenario(
        "tcp_serve_echo",
        "a kernel connection handed to the echo service (SERVE) echoes 256 KiB; SEND on it is refused",
        tcp_serve_echo,
    ),
    scenario(
        "udp_echo_service",
        "an in-kernel UDP echo socket on 127.0.0.1 returns 50 datagrams of 1..1400 bytes",
        |cx| udp_echo_service(cx, LOCALHOST4),
    ),
    scenario(
        "udp_sendto_recvfrom",
        "a kernel UDP socket sends to an in-process peer and receives its answer and address",
        |cx| udp_sendto_recvfrom(cx, LOCALHOST4),
    ),
    scenario(
        "tcp_connect_echo_ipv6",
        "a kernel connection to an in-process echo server on [::1] round-trips 256 KiB",
        |cx| connect_echo(cx, LOCALHOST6, 256 << 10),
    ),
    scenario(
        "tcp_listener_echo_ipv6",
        "an in-kernel echo listener on [::1] serves 8 concurrent in-process clients",
        |cx| listener_echo(cx, LOCALHOST6),
    ),
    scenario(
        "udp_sendto_recvfrom_ipv6",
        "sendto / recvfrom between a kernel UDP socket and an in-process peer on [::1]",
        |cx| udp_sendto_recvfrom(cx, LOCALHOST6),
    ),
    scenario(
        "socket_options",
        "keepalive, nodelay, rcvbuf of a connection: read, set to another value, read back",
        |cx| socket_options(cx, LOCALHOST4),
    ),
    scenario(
        "socket_options_ipv6",
        "the same option round trip on a connection over [::1]",
        |cx| socket_options(cx, LOCALHOST6),
    ),
    scenario(
        "device_dacl",
        "the driver reads its device object's DACL back from the kernel: SYSTEM and Administrators only",
        device_dacl,
    ),
    scenario(
        "security_descriptor",
        "a listener created with SDDL D:P(A;;GA;;;SY) reads the same SDDL back",
        security_descriptor,
    ),
    scenario(
        "graceful_disconnect",
        "after DISCONNECT the peer reads the last data then end of stream, and its answer still arrives",
        graceful_disconnect,
    ),
    scenario(
        "abortive_disconnect",
        "after an abortive DISCONNECT the peer sees a reset, not an end of stream",
        abortive_disconnect,
    ),
    scenario(
        "recv_timeout",
        "a receive from a silent peer with a 500 ms timeout fails with STATUS_IO_TIMEOUT in time",
        recv_timeout,
    ),
    scenario(
        "recv_cancel",
        "a waiting receive cancelled with CancelIoEx ends STATUS_CANCELLED; the connection still echoes",
        recv_cancel,
    ),
    scenario(
        "resolve_localhost",
        "RESOLVE of localhost gives loopback addresses only",
        resolve_localhost,
    ),
    scenario(
        "malformed_requests",
        "malformed requests get their documented statuses; the driver still answers INFO",
        malformed_requests,
    ),
    scenario(
        "handle_close_closes_endpoints",
        "closing a handle closes its connection (the peer sees end of stream) and its listener",
        handle_close_closes_endpoints,
    ),
    scenario(
        "endpoints_back_to_start",
        "the driver's endpoint count (INFO and LIST) is back to what it was before the self-test",
        endpoints_back_to_start,
    ),
];

/// The scenario called `name`.
#[must_use]
pub(crate) fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|scenario| scenario.name == name)
}

/// Runs the scenarios named in `only` (all when empty) against the driver behind `device`,
/// opening more handles with `open`; returns the report.
///
/// # Errors
///
/// INFO's error: without it there is nothing to test against.
pub(crate) fn run(
    device: &Device,
    open: &dyn Fn() -> Result<Device, ClientError>,
    only: &[String],
    timeout_ms: u32,
    os: Option<String>,
) -> Result<Report, ClientError> {
    let started = Instant::now();
    let info = device.info()?;
    let cx = Ctx {
        open,
        device,
        timeout: Duration::from_millis(u64::from(timeout_ms.max(1))),
        baseline: info.endpoint_count,
    };
    let scenarios = SCENARIOS
        .iter()
        .filter(|scenario| only.is_empty() || only.iter().any(|name| name == scenario.name))
        .map(|scenario| {
            let started = Instant::now();
            let outcome = Outcome::of((scenario.run)(&cx));
            ScenarioReport {
                name: scenario.name,
                outcome,
                duration: started.elapsed(),
            }
        })
        .collect();
    Ok(Report {
        info,
        os,
        timeout_ms,
        scenarios,
        duration: started.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------
// In-process peers (user-mode Winsock through std::net, each on its own thread).

const LOCALHOST4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOCALHOST6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Bytes per write-then-read-back step of the echo exchanges (keeps both directions moving
/// whatever the socket buffers).
const CHUNK: usize = 64 << 10;

/// A peer thread's result, waited for with a deadline.
struct Peer<T> {
    what: &'static str,
    done: mpsc::Receiver<Result<T, String>>,
    thread: thread::JoinHandle<()>,
}

impl<T: Send + 'static> Peer<T> {
    fn spawn(
        what: &'static str,
        body: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Self {
        let (sender, done) = mpsc::channel();
        let thread = thread::spawn(move || {
            let _ = sender.send(body());
        });
        Self { what, done, thread }
    }

    /// The peer's result, waiting up to `timeout` (its own sockets time out within that).
    fn join(self, timeout: Duration) -> Step<T> {
        let result = self.done.recv_timeout(timeout);
        match result {
            Ok(Ok(value)) => {
                let _ = self.thread.join();
                Ok(value)
            }
            Ok(Err(message)) => Err(Problem::check(format!("{}: {message}", self.what))),
            // The thread ends when its socket times out; it is not waited for.
            Err(_) => Err(Problem::check(format!(
                "{}: no result within {} ms",
                self.what,
                timeout.as_millis()
            ))),
        }
    }
}

/// The problem of an in-process peer that cannot `act` (listen, bind UDP) on `ip`: on IPv6
/// this machine lacks an IPv6 loopback (a skip), on IPv4 it is a failure.
fn peer_cannot(act: &str, ip: IpAddr, error: &io::Error) -> Problem {
    if ip.is_ipv6() {
        Problem::lacks(
            needs::IPV6_LOOPBACK,
            format!("the in-process peer cannot {act} on [::1]: {error}"),
            None,
        )
    } else {
        Problem::check(format!("the in-process peer cannot {act} on {ip}: {error}"))
    }
}

/// A std listener on `ip`, port chosen by the stack; a skip when `ip` cannot be bound here
/// (no IPv6 loopback).
fn std_listener(ip: IpAddr) -> Step<TcpListener> {
    TcpListener::bind(SocketAddr::new(ip, 0)).map_err(|error| peer_cannot("listen", ip, &error))
}

/// Accepts one connection on `listener` before `deadline`, with read and write timeouts set.
fn accept_before(
    listener: &TcpListener,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, String> {
    listener
        .set_nonblocking(true)
        .map_err(|error| format!("set_nonblocking: {error}"))?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_read_timeout(Some(timeout)))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .map_err(|error| format!("setting up the accepted socket: {error}"))?;
                return Ok(stream);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("no connection from the driver arrived in time".to_owned());
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(format!("accept: {error}")),
        }
    }
}

/// A std client of `address` with read and write timeouts.
fn std_connect(address: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("connecting to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|error| format!("setting timeouts: {error}"))?;
    Ok(stream)
}

/// Reads until end of stream; returns the bytes.
fn read_to_eof(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    stream.read_to_end(&mut data).map_err(|error| {
        format!(
            "reading until end of stream (after {} bytes): {error}",
            data.len()
        )
    })?;
    Ok(data)
}

/// An echo server on `ip` for one connection: echoes until end of stream, then returns the
/// byte count and the SHA-256 of what it echoed.
fn echo_server(ip: IpAddr, timeout: Duration) -> Step<(SocketAddr, Peer<(u64, String)>)> {
    let listener = std_listener(ip)?;
    let address = local_address(&listener)?;
    let peer = Peer::spawn("in-process echo server", move || {
        let mut stream = accept_before(&listener, Instant::now() + timeout, timeout)?;
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buffer = vec![0; CHUNK];
        loop {
            let read = stream
                .read(&mut buffer)
                .map_err(|error| format!("read after {total} bytes: {error}"))?;
            let Some(chunk) = buffer.get(..read).filter(|chunk| !chunk.is_empty()) else {
                return Ok((total, hex(&hasher.finalize())));
            };
            stream
                .write_all(chunk)
                .map_err(|error| format!("echo after {total} bytes: {error}"))?;
            hasher.update(chunk);
            total += read as u64;
        }
    });
    Ok((address, peer))
}

/// A server on `ip` for one connection that runs `body` on it.
fn server<T: Send + 'static>(
    ip: IpAddr,
    timeout: Duration,
    what: &'static str,
    body: impl FnOnce(TcpStream) -> Result<T, String> + Send + 'static,
) -> Step<(SocketAddr, Peer<T>)> {
    let listener = std_listener(ip)?;
    let address = local_address(&listener)?;
    let peer = Peer::spawn(what, move || {
        body(accept_before(&listener, Instant::now() + timeout, timeout)?)
    });
    Ok((address, peer))
}

fn local_address(listener: &TcpListener) -> Step<SocketAddr> {
    listener
        .local_addr()
        .map_err(|error| Problem::check(format!("local_addr of the in-process listener: {error}")))
}

/// A port on `ip` that was free a moment ago (the driver's listeners need a port: 0 is
/// refused).
fn free_tcp_port(ip: IpAddr) -> Step<u16> {
    Ok(local_address(&std_listener(ip)?)?.port())
}

fn free_udp_port(ip: IpAddr) -> Step<u16> {
    let socket = std_udp(ip)?;
    socket
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| Problem::check(format!("local_addr of a UDP socket: {error}")))
}

/// A std UDP socket on `ip`, port chosen by the stack; a skip when `ip` cannot be bound
/// here (no IPv6 loopback).
fn std_udp(ip: IpAddr) -> Step<UdpSocket> {
    UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|error| peer_cannot("bind UDP", ip, &error))
}

/// `len` bytes of a pseudo-random sequence (xorshift) from `seed`: data that compression or
/// a stuck buffer cannot fake.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A heap copy of bytes the driver is to send. SEND passes the caller's buffer to the driver
/// by direct I/O; under Wine 8.0 a buffer in a read-only section (a byte-string literal)
/// was seen to fail with STATUS_INVALID_USER_BUFFER (0xC00000E8), a heap buffer not.
fn heap(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

fn hex(bytes: &[u8]) -> String {
    crate::output::hex_encode(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// For an IPv6 scenario (`ip` is IPv6), checks first that the WSK provider can open an
/// IPv6 socket at all: a kernel listener on `[::1]` (socket, bind, listen; no peer
/// involved). If that fails while the same listener on 127.0.0.1 opens, the failure is the
/// provider's IPv6 and the scenario is skipped with the status the driver returned;
/// otherwise (it opens, or IPv4 fails too) the scenario goes on and any failure counts.
fn check_ipv6(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    if ip.is_ipv4() {
        return Ok(());
    }
    // The machine's user-mode Winsock must have ::1, or nothing here can be tested.
    drop(std_listener(ip)?);
    let Err(problem) = open_listener(cx, ip) else {
        return Ok(());
    };
    match open_listener(cx, LOCALHOST4) {
        Ok(()) => Err(Problem::lacks(
            needs::IPV6,
            format!(
                "{} (the same listener on 127.0.0.1 opens, so the failure is IPv6's)",
                problem.message
            ),
            problem.status,
        )),
        Err(_) => Err(problem),
    }
}

/// Opens and closes a kernel echo listener on `ip`.
fn open_listener(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    service_listener(cx, ip, Service::Echo).map(drop)
}

/// A kernel connection to `remote` on a new handle, with the step timeout for reads and
/// writes.
fn kernel_connect(cx: &Ctx<'_>, remote: SocketAddr) -> Step<KernelTcpStream> {
    let mut stream = KernelTcpStream::connect_on(cx.open()?, remote, Some(cx.timeout))?;
    stream.set_read_timeout(Some(cx.timeout))?;
    stream.set_write_timeout(Some(cx.timeout))?;
    Ok(stream)
}

/// [`kernel_listener`] with the driver's defaults.
fn service_listener(cx: &Ctx<'_>, ip: IpAddr, service: Service) -> Step<KernelTcpListener> {
    kernel_listener(cx, ip, service, &TcpListenOptions::default())
}

/// A kernel listener on `ip` with `service` on a new handle (a free port, tried up to three
/// times if another program takes it meanwhile).
fn kernel_listener(
    cx: &Ctx<'_>,
    ip: IpAddr,
    service: Service,
    options: &TcpListenOptions<'_>,
) -> Step<KernelTcpListener> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let local = SocketAddr::new(ip, free_tcp_port(ip)?);
        match KernelTcpListener::bind_on(cx.open()?, local, service, options) {
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && attempt < 3 => {}
            other => return other.map_err(Problem::from),
        }
    }
}

/// Polls `probe` until it returns `Some` or the step timeout passes; `None` then.
fn poll<T>(cx: &Ctx<'_>, mut probe: impl FnMut() -> Step<Option<T>>) -> Step<Option<T>> {
    let deadline = cx.deadline();
    loop {
        if let Some(value) = probe()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios.

fn info_and_stats(cx: &Ctx<'_>) -> Step {
    let info = cx.device.info()?;
    ensure(info.abi_version == ABI_VERSION, || {
        format!(
            "INFO says protocol {}, this wskctl speaks {ABI_VERSION}",
            info.abi_version
        )
    })?;
    let stats = cx.device.stats()?;
    ensure(stats.endpoints_open == info.endpoint_count, || {
        format!(
            "STATS says {} endpoints open, INFO {}",
            stats.endpoints_open, info.endpoint_count
        )
    })?;
    ensure(
        stats.endpoints_peak >= stats.endpoints_open
            && stats.endpoints_opened >= u64::from(stats.endpoints_open),
        || {
            format!(
                "STATS counters disagree: {} open, peak {}, {} opened since load",
                stats.endpoints_open, stats.endpoints_peak, stats.endpoints_opened
            )
        },
    )?;
    let later = cx.device.stats()?;
    ensure(later.uptime_ms >= stats.uptime_ms, || {
        format!(
            "uptime went back from {} ms to {} ms",
            stats.uptime_ms, later.uptime_ms
        )
    })
}

fn connect_echo(cx: &Ctx<'_>, ip: IpAddr, total: usize) -> Step {
    check_ipv6(cx, ip)?;
    let (address, peer) = echo_server(ip, cx.timeout)?;
    let mut stream = kernel_connect(cx, address)?;
    ensure(stream.peer_addr().ok() == Some(address), || {
        format!(
            "the connection's peer is {:?}, expected {address}",
            stream.peer_addr().ok()
        )
    })?;
    let data = pattern(total, 0x5e1f_7e57);
    let mut back = vec![0u8; total];
    for (chunk, into) in data.chunks(CHUNK).zip(back.chunks_mut(CHUNK)) {
        stream.write_all(chunk)?;
        stream.read_exact(into)?;
    }
    ensure(back == data, || {
        format!(
            "the echo differs: sent SHA-256 {}, received {}",
            sha256(&data),
            sha256(&back)
        )
    })?;
    drop(stream);
    let (echoed, echoed_sha) = peer.join(cx.timeout)?;
    ensure(
        echoed == total as u64 && echoed_sha == sha256(&data),
        || {
            format!(
                "the echo server echoed {echoed} bytes (SHA-256 {echoed_sha}), expected {total}"
            )
        },
    )
}

fn listener_echo(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    const CLIENTS: usize = 8;
    const EACH: usize = 64 << 10;
    check_ipv6(cx, ip)?;
    let listener = service_listener(cx, ip, Service::Echo)?;
    let address = listener.local_addr()?;
    let timeout = cx.timeout;
    let clients: Vec<Peer<()>> = (0..CLIENTS)
        .map(|index| {
            Peer::spawn("in-process client", move || {
                let data = pattern(EACH, 1000 + index as u64);
                let mut stream = std_connect(address, timeout)?;
                let mut back = vec![0u8; EACH];
                for (chunk, into) in data.chunks(16 << 10).zip(back.chunks_mut(16 << 10)) {
                    stream
                        .write_all(chunk)
                        .and_then(|()| stream.read_exact(into))
                        .map_err(|error| format!("client {index}: {error}"))?;
                }
                if back == data {
                    Ok(())
                } else {
                    Err(format!("client {index}: the echo differs"))
                }
            })
        })
        .collect();
    for client in clients {
        client.join(cx.timeout)?;
    }
    let served = poll(cx, || {
        let status = listener.status()?.status;
        Ok((status.connections_served >= CLIENTS as u64).then_some(status))
    })?;
    ensure(served.is_some(), || {
        format!("the listener's LIST entry does not count {CLIENTS} connections served")
    })
}

fn listener_discard(cx: &Ctx<'_>) -> Step {
    const TOTAL: usize = (1 << 20) + 12_345;
    let listener = service_listener(cx, LOCALHOST4, Service::Discard)?;
    let address = listener.local_addr()?;
    let timeout = cx.timeout;
    let client = Peer::spawn("in-process client", move || {
        let mut stream = std_connect(address, timeout)?;
        stream
            .write_all(&pattern(TOTAL, 7))
            .and_then(|()| stream.shutdown(Shutdown::Write))
            .map_err(|error| format!("sending: {error}"))?;
        // The service sends nothing: the next read is the end of stream (or the close).
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        if rest.is_empty() {
            Ok(())
        } else {
            Err(format!("the discard service sent {} bytes", rest.len()))
        }
    });
    client.join(cx.timeout)?;
    let mut last = None;
    let counted = poll(cx, || {
        let status = listener.status()?.status;
        last = Some((status.bytes_received, status.bytes_sent));
        Ok((status.bytes_received == TOTAL as u64).then_some(status))
    })?;
    match counted {
        Some(status) => ensure(status.bytes_sent == 0, || {
            format!("the discard listener sent {} bytes", status.bytes_sent)
        }),
        None => Err(Problem::check(format!(
            "the listener counted {last:?} (received, sent) bytes, expected {TOTAL} received"
        ))),
    }
}

fn listener_source(cx: &Ctx<'_>) -> Step {
    const TOTAL: usize = 256 << 10;
    let listener = service_listener(cx, LOCALHOST4, Service::Source)?;
    let address = listener.local_addr()?;
    let timeout = cx.timeout;
    let client = Peer::spawn("in-process client", move || {
        let mut stream = std_connect(address, timeout)?;
        let mut data = vec![0u8; TOTAL];
        stream
            .read_exact(&mut data)
            .map_err(|error| format!("reading {TOTAL} bytes: {error}"))?;
        match (0u64..)
            .zip(&data)
            .find(|&(index, &byte)| byte != source_byte(index))
        {
            Some((index, byte)) => Err(format!(
                "byte {index} is {byte}, the pattern says {}",
                source_byte(index)
            )),
            None => Ok(()),
        }
    });
    client.join(cx.timeout)
}

fn tcp_accept(cx: &Ctx<'_>) -> Step {
    const HELLO: &[u8] = b"hello from the self-test\n";
    const ANSWER: &[u8] = b"hello back\n";
    let options = TcpListenOptions {
        max_connections: Some(4),
        ..TcpListenOptions::default()
    };
    let listener = kernel_listener(cx, LOCALHOST4, Service::None, &options)?;
    let address = listener.local_addr()?;
    let timeout = cx.timeout;
    let client = Peer::spawn("in-process client", move || {
        let mut stream = std_connect(address, timeout)?;
        let local = stream.local_addr().map_err(|error| error.to_string())?;
        stream
            .write_all(HELLO)
            .map_err(|error| format!("sending: {error}"))?;
        let mut answer = vec![0u8; ANSWER.len()];
        stream
            .read_exact(&mut answer)
            .map_err(|error| format!("reading the answer: {error}"))?;
        if answer != ANSWER {
            return Err(format!(
                "the answer is {:?}",
                String::from_utf8_lossy(&answer)
            ));
        }
        let rest = read_to_eof(&mut stream)?;
        if rest.is_empty() {
            Ok(local)
        } else {
            Err(format!(
                "{} unexpected bytes before the end of stream",
                rest.len()
            ))
        }
    });
    let (mut stream, peer) = listener.accept_timeout(cx.timeout)?;
    let mut hello = vec![0u8; HELLO.len()];
    stream.read_exact(&mut hello)?;
    ensure(hello == HELLO, || {
        format!(
            "the accepted connection read {:?}",
            String::from_utf8_lossy(&hello)
        )
    })?;
    stream.write_all(&heap(ANSWER))?;
    drop(stream);
    let client_address = client.join(cx.timeout)?;
    ensure(peer == client_address, || {
        format!("ACCEPT names the peer {peer}, the client is {client_address}")
    })?;
    let started = Instant::now();
    let wait = Duration::from_millis(300);
    match listener.accept_timeout(wait) {
        Ok((_, peer)) => Err(Problem::check(format!(
            "a second ACCEPT with nobody connecting returned a connection from {peer}"
        ))),
        Err(error) => {
            let problem = Problem::from(error);
            ensure(problem.status() == Some(NtStatus::IO_TIMEOUT), || {
                format!("a second ACCEPT should time out: {}", problem.message)
            })?;
            let took = started.elapsed();
            ensure(
                took >= wait.saturating_sub(Duration::from_millis(50)),
                || format!("the 300 ms ACCEPT timed out after {} ms", took.as_millis()),
            )
        }
    }
}

fn tcp_serve_echo(cx: &Ctx<'_>) -> Step {
    const TOTAL: usize = (256 << 10) + 77;
    let (address, peer) = server(LOCALHOST4, cx.timeout, "in-process server", |mut stream| {
        let data = pattern(TOTAL, 42);
        let mut back = vec![0u8; TOTAL];
        for (chunk, into) in data.chunks(16 << 10).zip(back.chunks_mut(16 << 10)) {
            stream
                .write_all(chunk)
                .and_then(|()| stream.read_exact(into))
                .map_err(|error| format!("exchanging with the echo service: {error}"))?;
        }
        if back != data {
            return Err("the echo service's bytes differ".to_owned());
        }
        // Closing the endpoint ends the connection in order.
        let rest = read_to_eof(&mut stream)?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected bytes after the echo", rest.len()))
        }
    })?;
    let device = cx.open()?;
    let endpoint = device.tcp_connect(address, &cx.connect_options())?;
    device.serve(endpoint.id, Service::Echo)?;
    match device.send(endpoint.id, &heap(b"x"), Some(cx.timeout)) {
        Err(error) if error.status() == Some(NtStatus::INVALID_DEVICE_STATE) => {}
        Err(error) => {
            return Err(Problem::from(error).context("SEND on a served connection"));
        }
        Ok(_) => return Err(Problem::check("SEND on a served connection was accepted")),
    }
    // Wait until the service has echoed everything (the peer reads it all), then look.
    let expected = TOTAL as u64;
    let mut last = None;
    let counted = poll(cx, || {
        let entry = device
            .list()?
            .into_iter()
            .find(|entry| entry.status.id == endpoint.id)
            .map(|entry| entry.status);
        last = entry;
        Ok(entry
            .filter(|status| status.bytes_sent >= expected && status.bytes_received >= expected))
    })?;
    let status = counted.ok_or_else(|| {
        Problem::check(format!(
            "LIST does not show {expected} bytes each way: {last:?}"
        ))
    })?;
    ensure(status.service == Service::Echo, || {
        format!("LIST shows service {}, expected echo", status.service)
    })?;
    device.close(endpoint.id)?;
    peer.join(cx.timeout)
}

fn udp_echo_service(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    check_ipv6(cx, ip)?;
    let local = SocketAddr::new(ip, free_udp_port(ip)?);
    let peer = std_udp(ip)?;
    peer.set_read_timeout(Some(cx.timeout))
        .map_err(|error| Problem::check(error.to_string()))?;
    let device = cx.open()?;
    let endpoint = needs(
        needs::DATAGRAM,
        device.udp_bind(local, UdpService::Echo, &UdpBindOptions::default()),
    )?;
    let mut total = 0u64;
    for index in 0u16..50 {
        let len = 1 + usize::from(index) * 97 % 1400;
        let mut datagram = pattern(len, u64::from(index) + 77);
        if let Some(first) = datagram.first_mut() {
            *first = u8::try_from(index).unwrap_or(0);
        }
        peer.send_to(&datagram, local)
            .map_err(|error| Problem::check(format!("sending datagram {index}: {error}")))?;
        let mut buffer = [0u8; 1500];
        let (got, from) = peer.recv_from(&mut buffer).map_err(|error| {
            Problem::check(format!(
                "datagram {index} ({len} bytes) did not come back: {error}"
            ))
        })?;
        ensure(buffer.get(..got) == Some(datagram.as_slice()), || {
            format!("datagram {index} came back as {got} different bytes")
        })?;
        ensure(from.port() == local.port(), || {
            format!("datagram {index} came back from {from}, not {local}")
        })?;
        total += len as u64;
    }
    let status = poll(cx, || {
        let entry = device
            .list()?
            .into_iter()
            .find(|entry| entry.status.id == endpoint.id)
            .map(|entry| entry.status);
        Ok(entry.filter(|status| status.bytes_received == total))
    })?;
    ensure(status.is_some(), || {
        format!("LIST does not count the {total} bytes echoed")
    })?;
    device.close(endpoint.id)?;
    Ok(())
}

fn udp_sendto_recvfrom(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    const PING: &[u8] = b"ping from the kernel";
    check_ipv6(cx, ip)?;
    let peer_socket = std_udp(ip)?;
    let peer_address = peer_socket
        .local_addr()
        .map_err(|error| Problem::check(error.to_string()))?;
    let timeout = cx.timeout;
    let peer = Peer::spawn("in-process UDP peer", move || {
        peer_socket
            .set_read_timeout(Some(timeout))
            .map_err(|error| error.to_string())?;
        let mut buffer = [0u8; 1500];
        let (len, from) = peer_socket
            .recv_from(&mut buffer)
            .map_err(|error| format!("no datagram from the kernel: {error}"))?;
        let mut answer = b"re:".to_vec();
        answer.extend_from_slice(buffer.get(..len).unwrap_or_default());
        peer_socket
            .send_to(&answer, from)
            .map_err(|error| format!("answering {from}: {error}"))?;
        Ok(from)
    });
    let what = needs::DATAGRAM;
    let mut socket = needs(
        what,
        KernelUdpSocket::bind_on(cx.open()?, SocketAddr::new(ip, 0)),
    )?;
    socket.set_read_timeout(Some(cx.timeout))?;
    needs(what, socket.send_to(&heap(PING), peer_address))?;
    let mut buffer = [0u8; 1500];
    let (len, from) = needs(what, socket.recv_from(&mut buffer))?;
    let sender = peer.join(cx.timeout)?;
    let mut expected = b"re:".to_vec();
    expected.extend_from_slice(PING);
    ensure(buffer.get(..len) == Some(expected.as_slice()), || {
        format!(
            "received {:?}, expected {:?}",
            String::from_utf8_lossy(buffer.get(..len).unwrap_or_default()),
            String::from_utf8_lossy(&expected)
        )
    })?;
    ensure(from == peer_address, || {
        format!("RECV_FROM names the sender {from}, the peer is {peer_address}")
    })?;
    ensure(sender.ip() == ip, || {
        format!("the peer saw the datagram come from {sender}")
    })
}

fn socket_options(cx: &Ctx<'_>, ip: IpAddr) -> Step {
    check_ipv6(cx, ip)?;
    let (address, peer) = echo_server(ip, cx.timeout)?;
    let stream = kernel_connect(cx, address)?;
    let (device, id) = (stream.device(), stream.id());
    let what = needs::OPTIONS;
    // Booleans: flip each.
    for (name, get, set) in [
        (
            "keepalive",
            Device::keepalive as fn(&Device, EndpointId) -> Result<bool, ClientError>,
            Device::set_keepalive as fn(&Device, EndpointId, bool) -> Result<bool, ClientError>,
        ),
        ("nodelay", Device::nodelay, Device::set_nodelay),
    ] {
        let before = needs(what, get(device, id))?;
        let after = needs(what, set(device, id, !before))?;
        let again = needs(what, get(device, id))?;
        ensure(after != before && again != before, || {
            format!(
                "{name}: was {before}, set {}, read back {after} then {again}",
                !before
            )
        })?;
    }
    let before = needs(what, device.recv_buffer_size(id))?;
    let target = if before == 262_144 { 131_072 } else { 262_144 };
    let after = needs(what, device.set_recv_buffer_size(id, target))?;
    let again = needs(what, device.recv_buffer_size(id))?;
    ensure(after == target && again == target, || {
        format!("rcvbuf: was {before}, set {target}, read back {after} then {again}")
    })?;
    drop(stream);
    peer.join(cx.timeout).map(|_| ())
}

fn device_dacl(cx: &Ctx<'_>) -> Step {
    let read = cx.device.device_security()?;
    ensure(wskrs_protocol::is_device_sddl(&read), || {
        format!(
            "the device's DACL reads back as {read}, not {} (or its mapped form {})",
            wskrs_protocol::DEVICE_SDDL,
            wskrs_protocol::DEVICE_SDDL_MAPPED
        )
    })
}

fn security_descriptor(cx: &Ctx<'_>) -> Step {
    const SDDL: &str = "D:P(A;;GA;;;SY)";
    let device = cx.open()?;
    let local = SocketAddr::new(LOCALHOST4, free_tcp_port(LOCALHOST4)?);
    let options = TcpListenOptions {
        sddl: Some(SDDL),
        ..TcpListenOptions::default()
    };
    let endpoint = needs(
        needs::SECURITY,
        device.tcp_listen(local, Service::Echo, &options),
    )?;
    let read = needs(needs::SECURITY, device.security(endpoint.id))?;
    ensure(read.as_deref() == Some(SDDL), || {
        format!("SECURITY reads back {read:?}, the listener was created with {SDDL}")
    })?;
    device.close(endpoint.id)?;
    Ok(())
}

fn graceful_disconnect(cx: &Ctx<'_>) -> Step {
    const LAST: &[u8] = b"last words";
    const AFTER: &[u8] = b"after-eof";
    let (address, peer) = server(LOCALHOST4, cx.timeout, "in-process server", |mut stream| {
        let got = read_to_eof(&mut stream)?;
        stream
            .write_all(AFTER)
            .and_then(|()| stream.shutdown(Shutdown::Write))
            .map_err(|error| format!("answering after the end of stream: {error}"))?;
        Ok(got)
    })?;
    let mut stream = kernel_connect(cx, address)?;
    stream.write_all(&heap(LAST))?;
    needs(needs::DISCONNECT, stream.shutdown(Shutdown::Write))?;
    let mut after = vec![0u8; AFTER.len()];
    stream.read_exact(&mut after)?;
    ensure(after == AFTER, || {
        format!(
            "after DISCONNECT received {:?}",
            String::from_utf8_lossy(&after)
        )
    })?;
    let mut rest = [0u8; 16];
    let end = stream.read(&mut rest)?;
    ensure(end == 0, || {
        format!("{end} bytes where the end of stream was expected")
    })?;
    let got = peer.join(cx.timeout)?;
    ensure(got == LAST, || {
        format!(
            "the peer read {:?} before the end of stream",
            String::from_utf8_lossy(&got)
        )
    })?;
    let state = stream.status()?.status.state;
    ensure(state == EndpointState::Disconnected, || {
        format!("LIST says {}, expected disconnected", state.name())
    })
}

fn abortive_disconnect(cx: &Ctx<'_>) -> Step {
    // The reset comes once the server has the connection and its first bytes (a connection
    // reset while still in the accept queue is another test).
    let (ready, got_ready) = mpsc::channel();
    let (address, peer) = server(
        LOCALHOST4,
        cx.timeout,
        "in-process server",
        move |mut stream| {
            let mut first = [0u8; 4];
            stream
                .read_exact(&mut first)
                .map_err(|error| format!("reading the first bytes: {error}"))?;
            let _ = ready.send(());
            let mut rest = Vec::new();
            match stream.read_to_end(&mut rest) {
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    Ok(())
                }
                Err(error) => Err(format!("expected a reset, got: {error}")),
                // Wine 8.0's wineserver may read the reset (SO_ERROR) before our receive does,
                // which then sees an end of stream. A write tells the two apart: after a reset
                // the socket is closed both ways and the write fails at once; after an
                // orderly end the connection is still open for sending and it succeeds.
                Ok(_) => match stream.write(b"?") {
                    Err(_) => Ok(()),
                    Ok(_) => Err("the peer saw an orderly end of stream, not a reset".to_owned()),
                },
            }
        },
    )?;
    let mut stream = kernel_connect(cx, address)?;
    stream.write_all(&heap(b"ping"))?;
    if got_ready.recv_timeout(cx.timeout).is_err() {
        // The server failed or never got the bytes: its result says why.
        return peer.join(cx.timeout);
    }
    needs(needs::DISCONNECT, stream.shutdown(Shutdown::Both))?;
    peer.join(cx.timeout)
}

/// Checks that a receive failed with `status`; `received` says what is wrong when it
/// returned data instead.
fn failed_with(
    result: io::Result<usize>,
    status: NtStatus,
    received: impl FnOnce(usize) -> String,
) -> Step {
    match result {
        Ok(count) => Err(Problem::check(received(count))),
        Err(error) => {
            let problem = Problem::from(error);
            ensure(problem.status() == Some(status), || {
                let name = status.name().unwrap_or("the status");
                format!("expected {name}: {}", problem.message)
            })
        }
    }
}

fn recv_timeout(cx: &Ctx<'_>) -> Step {
    let (address, peer) = server(LOCALHOST4, cx.timeout, "in-process sink", |mut stream| {
        read_to_eof(&mut stream).map(|_| ())
    })?;
    let mut stream = kernel_connect(cx, address)?;
    let wait = Duration::from_millis(500);
    stream.set_read_timeout(Some(wait))?;
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let result = stream.read(&mut buffer);
    let took = started.elapsed();
    failed_with(result, NtStatus::IO_TIMEOUT, |count| {
        format!("the receive returned {count} bytes from a silent peer")
    })?;
    ensure(
        took >= wait.saturating_sub(Duration::from_millis(50)) && took <= wait + cx.timeout,
        || format!("the 500 ms receive timed out after {} ms", took.as_millis()),
    )?;
    drop(stream);
    peer.join(cx.timeout)
}

fn recv_cancel(cx: &Ctx<'_>) -> Step {
    let (address, peer) = echo_server(LOCALHOST4, cx.timeout)?;
    let mut stream = kernel_connect(cx, address)?;
    let canceller = stream.canceller();
    let timeout = cx.timeout;
    // Cancels once the receive is outstanding (plus a moment, so it waits in the driver).
    let cancelling = Peer::spawn("the cancelling thread", move || {
        let deadline = Instant::now() + timeout;
        while canceller.outstanding() == 0 {
            if Instant::now() >= deadline {
                return Err("the receive never became outstanding".to_owned());
            }
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(200));
        Ok(canceller.cancel())
    });
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let result = stream.read(&mut buffer);
    let took = started.elapsed();
    let was_outstanding = cancelling.join(cx.timeout)?;
    ensure(was_outstanding, || {
        "nothing was outstanding when the cancel came".to_owned()
    })?;
    failed_with(result, NtStatus::CANCELLED, |count| {
        format!("the cancelled receive returned {count} bytes")
    })?;
    ensure(took < cx.timeout, || {
        format!("the cancel took {} ms to end the receive", took.as_millis())
    })?;
    // The connection still works.
    let still = stream.write_all(&heap(b"ping")).and_then(|()| {
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).map(|()| echo)
    });
    match still {
        Ok(echo) => ensure(&echo == b"ping", || {
            format!(
                "after the cancel the echo is {:?}",
                String::from_utf8_lossy(&echo)
            )
        })?,
        Err(error) => {
            let problem = Problem::from(error);
            let status = stream.status().map(|entry| entry.status.state);
            if let Ok(EndpointState::Broken) = status {
                return Err(Problem::lacks(
                    needs::CANCEL,
                    format!(
                        "the receive ended STATUS_CANCELLED after {} ms, but the driver had to \
                         close the socket to end it (LIST: broken), so the connection is gone: {}",
                        took.as_millis(),
                        problem.message
                    ),
                    problem.status(),
                ));
            }
            return Err(problem.context("using the connection after the cancel"));
        }
    }
    drop(stream);
    peer.join(cx.timeout).map(|_| ())
}

fn resolve_localhost(cx: &Ctx<'_>) -> Step {
    let addresses = cx.device.resolve("localhost", "", Some(cx.timeout))?;
    ensure(!addresses.is_empty(), || {
        "localhost resolved to nothing".to_owned()
    })?;
    ensure(
        addresses.iter().all(|address| address.ip().is_loopback()),
        || format!("localhost resolved to non-loopback addresses: {addresses:?}"),
    )?;
    ensure(
        addresses
            .iter()
            .any(|address| address.ip() == LOCALHOST4 || address.ip() == LOCALHOST6),
        || format!("localhost resolved to neither 127.0.0.1 nor ::1: {addresses:?}"),
    )
}

fn malformed_requests(cx: &Ctx<'_>) -> Step {
    let before = cx.device.info()?.endpoint_count;
    let info = encode_info();
    let mut future = info;
    if let Some(version) = future.get_mut(..4) {
        version.copy_from_slice(&(ABI_VERSION + 1).to_le_bytes());
    }
    let mut bad_family = encode_tcp_connect(SocketAddr::new(LOCALHOST4, 9), None, false, 0);
    // The remote WireAddr starts at 8; its family is its first two bytes.
    if let Some(family) = bad_family.get_mut(8..10) {
        family.copy_from_slice(&99u16.to_le_bytes());
    }
    let unknown = ctl_code(DEVICE_TYPE, 0x8FF, METHOD_BUFFERED, 3);
    let cases: [(&str, u32, &[u8], usize, NtStatus); 5] = [
        (
            "INFO of 4 bytes",
            IoctlCode::INFO.0,
            info.get(..4).unwrap_or_default(),
            24,
            NtStatus::INFO_LENGTH_MISMATCH,
        ),
        (
            "INFO of the next ABI version",
            IoctlCode::INFO.0,
            &future,
            24,
            NtStatus::REVISION_MISMATCH,
        ),
        (
            "INFO with an 8-byte output buffer",
            IoctlCode::INFO.0,
            &info,
            8,
            NtStatus::BUFFER_TOO_SMALL,
        ),
        (
            "TCP_CONNECT to address family 99",
            IoctlCode::TCP_CONNECT.0,
            &bad_family,
            80,
            NtStatus::INVALID_ADDRESS_COMPONENT,
        ),
        (
            "an IOCTL code the protocol does not define",
            unknown,
            &info,
            24,
            NtStatus::INVALID_DEVICE_REQUEST,
        ),
    ];
    for (what, code, input, out_len, expected) in cases {
        let reply = cx.device.raw(code, input, out_len);
        ensure(reply.status == expected, || {
            format!(
                "{what}: the driver answered {}, expected {expected}",
                reply.status
            )
        })?;
    }
    match cx.device.close(EndpointId(u64::from(u32::MAX) << 8)) {
        Err(error) if error.status() == Some(NtStatus::NOT_FOUND) => {}
        Err(error) => return Err(Problem::from(error).context("CLOSE of an unknown id")),
        Ok(()) => return Err(Problem::check("CLOSE of an unknown id succeeded")),
    }
    let after = cx.device.info()?.endpoint_count;
    ensure(after == before, || {
        format!("the endpoint count went from {before} to {after}")
    })
}

fn handle_close_closes_endpoints(cx: &Ctx<'_>) -> Step {
    let (address, peer) = server(LOCALHOST4, cx.timeout, "in-process server", |mut stream| {
        read_to_eof(&mut stream).map(|_| ())
    })?;
    let other = cx.open()?;
    let connection = other.tcp_connect(address, &cx.connect_options())?;
    let port = free_tcp_port(LOCALHOST4)?;
    let listen_at = SocketAddr::new(LOCALHOST4, port);
    let listener = other.tcp_listen(listen_at, Service::Echo, &TcpListenOptions::default())?;
    // Closing the handle (no CLOSE requests) must close both.
    drop(other);
    peer.join(cx.timeout)
        .map_err(|problem| problem.context("the connection's peer after the handle closed"))?;
    let left = poll(cx, || {
        let ids: Vec<EndpointId> = cx
            .device
            .list()?
            .iter()
            .map(|entry| entry.status.id)
            .collect();
        Ok((!ids.contains(&connection.id) && !ids.contains(&listener.id)).then_some(()))
    })?;
    ensure(left.is_some(), || {
        format!(
            "endpoints {} and {} are still listed after their handle closed",
            connection.id, listener.id
        )
    })?;
    // An endpoint leaves the table before its socket is closed, and the close completes
    // asynchronously (pending accepts are cancelled first): the port stops accepting soon
    // after, not at once.
    let refused = poll(cx, || {
        Ok(TcpStream::connect_timeout(&listen_at, cx.timeout)
            .is_err()
            .then_some(()))
    })?;
    ensure(refused.is_some(), || {
        format!("{listen_at} still accepts connections after its listener's handle closed")
    })
}

fn endpoints_back_to_start(cx: &Ctx<'_>) -> Step {
    let mut last = (0, 0);
    let back = poll(cx, || {
        let count = cx.device.info()?.endpoint_count;
        let listed = cx.device.list()?.len();
        last = (count, listed);
        Ok((count == cx.baseline && listed <= cx.baseline as usize).then_some(()))
    })?;
    ensure(back.is_some(), || {
        format!(
            "INFO counts {} endpoints and LIST shows {}; before the self-test there were {}",
            last.0, last.1, cx.baseline
        )
    })
}

// ---------------------------------------------------------------------------------------
// What `wskctl selftest` prints.

/// A duration for the TIME column: `850ms`, `12.3s`.
fn time_text(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    }
}

impl Reply for Report {
    /// The versions, one row per scenario (SCENARIO RESULT TIME REASON, columns aligned),
    /// then the counts.
    fn text(&self) -> String {
        report_text(self)
    }
}

impl Serialize for Report {
    /// One JSON object (see `wskctl selftest --help`).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        report_json(self).serialize(serializer)
    }
}

fn report_text(report: &Report) -> String {
    use std::fmt::Write as _;
    let info = &report.info;
    let wsk = crate::output::wsk_version_text(info).unwrap_or_else(|| "unknown".to_owned());
    let mut out = format!(
        "wsk-rs self-test: wskctl {}, driver {}, protocol {}, WSK provider {wsk}\nOS: {}\n\n",
        env!("CARGO_PKG_VERSION"),
        crate::output::version_text(info.driver_version),
        info.abi_version,
        report.os.as_deref().unwrap_or("unknown"),
    );
    let width = report
        .scenarios
        .iter()
        .map(|scenario| scenario.name.len())
        .chain(std::iter::once("SCENARIO".len()))
        .max()
        .unwrap_or(8);
    let _ = writeln!(out, "{:<width$}  RESULT  TIME    REASON", "SCENARIO");
    for scenario in &report.scenarios {
        let row = format!(
            "{:<width$}  {:<6}  {:<6}  {}",
            scenario.name,
            scenario.outcome.word().to_uppercase(),
            time_text(scenario.duration),
            scenario.outcome.reason().unwrap_or("")
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    let (passed, failed, skipped) = report.counts();
    let _ = write!(
        out,
        "\n{} scenarios: {passed} passed, {failed} failed, {skipped} skipped ({})",
        report.scenarios.len(),
        time_text(report.duration)
    );
    if skipped > 0 {
        out.push_str("\nskipped scenarios need what the WSK provider lacks; they are not passes");
    }
    out
}

#[derive(Serialize)]
struct ScenarioJson<'a> {
    name: &'a str,
    outcome: &'a str,
    reason: Option<&'a str>,
    status: Option<String>,
    needs: Option<&'a str>,
    duration_ms: u64,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    wskctl_version: &'a str,
    os: Option<&'a str>,
    driver_version: String,
    protocol: u32,
    wsk_version: Option<String>,
    timeout_ms: u32,
    passed: usize,
    failed: usize,
    skipped: usize,
    duration_ms: u64,
    scenarios: Vec<ScenarioJson<'a>>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn report_json(report: &Report) -> ReportJson<'_> {
    let (passed, failed, skipped) = report.counts();
    ReportJson {
        wskctl_version: env!("CARGO_PKG_VERSION"),
        os: report.os.as_deref(),
        driver_version: crate::output::version_text(report.info.driver_version),
        protocol: report.info.abi_version,
        wsk_version: crate::output::wsk_version_text(&report.info),
        timeout_ms: report.timeout_ms,
        passed,
        failed,
        skipped,
        duration_ms: millis(report.duration),
        scenarios: report
            .scenarios
            .iter()
            .map(|scenario| ScenarioJson {
                name: scenario.name,
                outcome: scenario.outcome.word(),
                reason: scenario.outcome.reason(),
                status: scenario.outcome.status().map(|status| {
                    status
                        .name()
                        .map_or_else(|| format!("0x{:08X}", status.as_u32()), ToOwned::to_owned)
                }),
                needs: scenario.outcome.needs(),
                duration_ms: millis(scenario.duration),
            })
            .collect(),
    }
}

/// `wskctl selftest --list`: one line per scenario, name then what it checks; in JSON
/// `[{"name":...,"about":...}, ...]`.
#[derive(Debug)]
pub(crate) struct ScenarioList;

impl Reply for ScenarioList {
    fn text(&self) -> String {
        let width = SCENARIOS.iter().map(|s| s.name.len()).max().unwrap_or(0);
        SCENARIOS
            .iter()
            .map(|scenario| format!("{:<width$}  {}", scenario.name, scenario.about))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Serialize for ScenarioList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry {
            name: &'static str,
            about: &'static str,
        }
        serializer.collect_seq(SCENARIOS.iter().map(|scenario| Entry {
            name: scenario.name,
            about: scenario.about,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Streams, Terminal};
    use wskrs_host_driver::HostDriver;

    fn driver_error(status: NtStatus) -> Problem {
        Problem::from(ClientError::driver("udp bind on 127.0.0.1:0", status))
    }

    #[test]
    fn a_marked_step_the_provider_lacks_is_a_skip_with_its_status() {
        for status in [NtStatus::NOT_IMPLEMENTED, NtStatus::NOT_SUPPORTED] {
            let outcome = Outcome::of(Err(driver_error(status).needing(needs::DATAGRAM)));
            let Outcome::Skipped {
                reason,
                needs: needed,
                status: seen,
            } = &outcome
            else {
                panic!("{status:?}: {outcome:?}");
            };
            assert_eq!((*needed, *seen), (needs::DATAGRAM, Some(status)));
            assert!(reason.starts_with("needs datagram sockets"), "{reason}");
            assert!(reason.contains(status.name().unwrap()), "{reason}");
            assert!(reason.contains("WskSendTo"), "{reason}");
        }
    }

    #[test]
    fn other_failures_are_failures_even_of_marked_steps() {
        // Another status of a marked step: the provider has the call and it failed.
        let outcome = Outcome::of(Err(
            driver_error(NtStatus::ACCESS_DENIED).needing(needs::DATAGRAM)
        ));
        assert_eq!(outcome.word(), "fail");
        assert_eq!(outcome.status(), Some(NtStatus::ACCESS_DENIED));
        assert!(outcome.reason().unwrap().contains("STATUS_ACCESS_DENIED"));
        assert_eq!(outcome.needs(), None);
        // NOT_IMPLEMENTED from a step that needs nothing beyond the basics is a failure.
        let outcome = Outcome::of(Err(driver_error(NtStatus::NOT_IMPLEMENTED)));
        assert_eq!(outcome.word(), "fail");
        // A check that did not hold.
        let outcome = Outcome::of(Err(Problem::check("the echo differs")));
        assert_eq!(
            outcome,
            Outcome::Failed {
                reason: "the echo differs".to_owned(),
                status: None
            }
        );
        assert_eq!(Outcome::of(Ok(())), Outcome::Passed);
    }

    #[test]
    fn an_observed_gap_is_a_skip_whatever_the_status() {
        let outcome = Outcome::of(Err(Problem::lacks(
            needs::CANCEL,
            "LIST: broken",
            Some(NtStatus::FILE_FORCED_CLOSED),
        )));
        assert_eq!(outcome.word(), "skip");
        assert_eq!(outcome.needs(), Some(needs::CANCEL));
        assert_eq!(outcome.status(), Some(NtStatus::FILE_FORCED_CLOSED));
        assert_eq!(
            outcome.reason(),
            Some("needs cancelling a pending WskReceive (IoCancelIrp): LIST: broken")
        );
    }

    #[test]
    fn problems_from_io_errors_keep_the_driver_status() {
        let error = io::Error::from(ClientError::driver(
            "recv on endpoint 3",
            NtStatus::IO_TIMEOUT,
        ));
        let problem = Problem::from(error).context("reading");
        assert_eq!(problem.status(), Some(NtStatus::IO_TIMEOUT));
        assert!(problem
            .message
            .starts_with("reading: recv on endpoint 3: STATUS_IO_TIMEOUT"));
        let plain = Problem::from(io::Error::other("boom"));
        assert_eq!((plain.status(), plain.message.as_str()), (None, "boom"));
    }

    fn sample_report() -> Report {
        Report {
            info: DriverInfo {
                driver_version: (0, 1, 0),
                wsk_version: 0x0100,
                abi_version: 3,
                endpoint_count: 0,
            },
            os: Some("Windows 10.0.22631".to_owned()),
            timeout_ms: 5000,
            scenarios: vec![
                ScenarioReport {
                    name: "info_and_stats",
                    outcome: Outcome::Passed,
                    duration: Duration::from_millis(3),
                },
                ScenarioReport {
                    name: "udp_echo_service",
                    outcome: Outcome::of(Err(
                        driver_error(NtStatus::NOT_IMPLEMENTED).needing(needs::DATAGRAM)
                    )),
                    duration: Duration::from_millis(1),
                },
                ScenarioReport {
                    name: "recv_timeout",
                    outcome: Outcome::of(Err(Problem::check("took 9 s"))),
                    duration: Duration::from_millis(1534),
                },
            ],
            duration: Duration::from_millis(1600),
        }
    }

    #[test]
    fn the_table_has_the_versions_a_row_per_scenario_and_the_counts() {
        let text = sample_report().text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "wsk-rs self-test: wskctl {}, driver 0.1.0, protocol 3, WSK provider 1.0",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(lines[1], "OS: Windows 10.0.22631");
        assert_eq!(lines[3], "SCENARIO          RESULT  TIME    REASON");
        assert_eq!(lines[4], "info_and_stats    PASS    3ms");
        assert!(lines[5].starts_with("udp_echo_service  SKIP    1ms     needs datagram sockets"));
        assert!(lines[5].contains("udp bind on 127.0.0.1:0: STATUS_NOT_IMPLEMENTED (0xC0000002)"));
        assert_eq!(lines[6], "recv_timeout      FAIL    1.5s    took 9 s");
        assert_eq!(
            lines[8],
            "3 scenarios: 1 passed, 1 failed, 1 skipped (1.6s)"
        );
        assert_eq!(
            lines[9],
            "skipped scenarios need what the WSK provider lacks; they are not passes"
        );
        assert_eq!(lines.len(), 10);
    }

    #[test]
    fn the_json_report_has_versions_os_and_each_outcome() {
        let report = sample_report();
        let value: serde_json::Value =
            serde_json::from_str(&crate::output::to_json(&report)).unwrap();
        assert_eq!(value["wskctl_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(value["os"], "Windows 10.0.22631");
        assert_eq!(value["driver_version"], "0.1.0");
        assert_eq!(value["protocol"], 3);
        assert_eq!(value["wsk_version"], "1.0");
        assert_eq!(value["timeout_ms"], 5000);
        assert_eq!(
            (
                value["passed"].as_u64(),
                value["failed"].as_u64(),
                value["skipped"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(value["duration_ms"], 1600);
        let scenarios = value["scenarios"].as_array().unwrap();
        assert_eq!(scenarios.len(), 3);
        assert_eq!(scenarios[0]["outcome"], "pass");
        assert!(scenarios[0]["reason"].is_null() && scenarios[0]["status"].is_null());
        assert_eq!(scenarios[1]["outcome"], "skip");
        assert_eq!(scenarios[1]["status"], "STATUS_NOT_IMPLEMENTED");
        assert_eq!(scenarios[1]["needs"], needs::DATAGRAM);
        assert_eq!(scenarios[2]["name"], "recv_timeout");
        assert_eq!(scenarios[2]["outcome"], "fail");
        assert_eq!(scenarios[2]["reason"], "took 9 s");
        assert!(scenarios[2]["needs"].is_null());
        assert_eq!(scenarios[2]["duration_ms"], 1534);
        assert_eq!(report.exit_code(), 1);
        let mut passing = report;
        passing.scenarios.remove(2);
        assert_eq!(passing.exit_code(), 0, "a skip alone does not fail the run");
    }

    #[test]
    fn scenario_names_are_unique_and_found() {
        for (index, scenario) in SCENARIOS.iter().enumerate() {
            assert!(SCENARIOS[index + 1..]
                .iter()
                .all(|other| other.name != scenario.name));
            assert_eq!(find(scenario.name).map(|s| s.name), Some(scenario.name));
        }
        assert!(find("nope").is_none());
        assert_eq!(SCENARIOS.last().unwrap().name, "endpoints_back_to_start");
    }

    use crate::cli::testing::{wskctl, Outcome as Run};

    fn outcomes(run: &Run) -> Vec<(String, String, Option<String>)> {
        let value: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("{error}: {} {}", run.stdout, run.stderr));
        value["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["outcome"].as_str().unwrap().to_owned(),
                    s["reason"].as_str().map(ToOwned::to_owned),
                )
            })
            .collect()
    }

    #[test]
    fn scenarios_without_a_network_pass_against_the_fake_driver() {
        let driver = HostDriver::default();
        let run = wskctl(
            &driver,
            "--json selftest --only info_and_stats resolve_localhost malformed_requests endpoints_back_to_start",
        );
        let seen = outcomes(&run);
        assert_eq!(
            seen.iter()
                .map(|(name, outcome, _)| (name.as_str(), outcome.as_str()))
                .collect::<Vec<_>>(),
            [
                ("info_and_stats", "pass"),
                ("resolve_localhost", "pass"),
                ("malformed_requests", "pass"),
                ("endpoints_back_to_start", "pass"),
            ],
            "{seen:?}"
        );
        assert_eq!(run.code, 0);
        assert!(driver.endpoint_ids().is_empty());
    }

    #[test]
    fn a_provider_without_datagram_sockets_skips_and_a_refusal_fails() {
        let driver = HostDriver::default();
        driver.fail_next(IoctlCode::UDP_BIND, NtStatus::NOT_IMPLEMENTED);
        let run = wskctl(
            &driver,
            "--json selftest --only udp_sendto_recvfrom --timeout-ms 500",
        );
        let seen = outcomes(&run);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, "skip", "{seen:?}");
        let reason = seen[0].2.as_deref().unwrap();
        assert!(
            reason.contains("WskSendTo") && reason.contains("STATUS_NOT_IMPLEMENTED"),
            "{reason}"
        );
        assert_eq!(run.code, 0, "a skip is not a failure");

        driver.fail_next(IoctlCode::UDP_BIND, NtStatus::ACCESS_DENIED);
        let run = wskctl(
            &driver,
            "--json selftest --only udp_sendto_recvfrom --timeout-ms 500",
        );
        let seen = outcomes(&run);
        assert_eq!(seen[0].1, "fail", "{seen:?}");
        assert!(seen[0]
            .2
            .as_deref()
            .unwrap()
            .contains("STATUS_ACCESS_DENIED"));
        assert_eq!(run.code, 1);
    }

    #[test]
    fn an_ipv6_listener_failing_where_ipv4_opens_is_a_skip() {
        let driver = HostDriver::default();
        driver.fail_next(IoctlCode::TCP_LISTEN, NtStatus::NO_MEMORY);
        let run = wskctl(
            &driver,
            "--json selftest --only tcp_listener_echo_ipv6 --timeout-ms 500",
        );
        let seen = outcomes(&run);
        assert_eq!(seen[0].1, "skip", "{seen:?}");
        let reason = seen[0].2.as_deref().unwrap();
        assert!(
            reason.starts_with("needs IPv6 sockets (WskSocket and WskBind with AF_INET6)")
                && reason.contains("STATUS_NO_MEMORY")
                && reason.contains("the same listener on 127.0.0.1 opens"),
            "{reason}"
        );
        assert!(
            driver.endpoint_ids().is_empty(),
            "the IPv4 control listener was closed"
        );
    }

    #[test]
    fn the_shell_refuses_the_self_test() {
        let driver = HostDriver::default();
        let cli = crate::cli::parse(["wskctl", "selftest"]).unwrap();
        let open = |_: &str| -> Result<Device, ClientError> {
            Ok(Device::from_transport(Box::new(driver.handle())))
        };
        let (mut stdout, mut stderr, mut stdin) = (Vec::new(), Vec::new(), &b""[..]);
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut stdin,
            terminal: Terminal::default(),
        };
        let error =
            crate::cli::run_in(&cli, &open, &mut streams, crate::cli::Session::Shell).unwrap_err();
        assert!(
            error.to_string().contains("not in `wskctl shell`"),
            "{error}"
        );
        assert!(driver.requests().is_empty());
    }

    #[test]
    fn the_text_table_and_the_list() {
        let driver = HostDriver::default();
        let run = wskctl(&driver, "selftest --only info_and_stats");
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains("\ninfo_and_stats  PASS"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("WSK provider 1.0\nOS: unknown\n"),
            "{}",
            run.stdout
        );
        let last = run.stdout.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("1 scenarios: 1 passed, 0 failed, 0 skipped ("),
            "{last}"
        );

        // One driver at a time: the fake kernel is process-wide.
        drop(driver);
        let driver = HostDriver::default();
        let run = wskctl(&driver, "selftest --list");
        assert_eq!(run.code, 0);
        assert_eq!(run.stdout.lines().count(), SCENARIOS.len());
        assert!(run.stdout.starts_with("info_and_stats "));
        let run = wskctl(&driver, "--json selftest --list");
        let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(value.as_array().unwrap().len(), SCENARIOS.len());
        assert!(driver.requests().is_empty(), "--list sends nothing");

        let run = wskctl(&driver, "selftest --only no_such_scenario");
        assert_eq!(run.code, 2);
        assert!(
            run.stderr.contains("no scenario 'no_such_scenario'"),
            "{}",
            run.stderr
        );
    }
}
