//! Helpers shared by the driver core's fake-kernel tests: a driver per test, requests encoded
//! by the protocol crate, sent through `Driver::device_control` as the shell would send them,
//! and replies parsed back by the protocol crate.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub(crate) mod pair;

use std::net::SocketAddr;
use std::time::Duration;

use wsk::{NtStatus, WskClient};
use wskrs_driver::{Caller, Quotas, Ticket};
use wskrs_fake_kernel as fake;
use wskrs_fake_kernel::locked::{pend, IrpWaiter, PendedIrp};
use wskrs_protocol::{self as protocol, EndpointId, IoctlCode, OpenedEndpoint};

/// Sizes `driver`'s endpoint table to `endpoints` slots that one handle may fill alone.
pub(crate) fn table_of(driver: &'static Driver, endpoints: usize) {
    driver
        .set_limits(wskrs_driver::Limits {
            endpoints,
            quotas: Quotas {
                endpoints: usize::MAX,
                ..Quotas::DEFAULT
            },
            ..wskrs_driver::Limits::DEFAULT
        })
        .expect("limits for an empty table");
}

/// Timeout for requests that complete at once (milliseconds, as on the wire).
pub(crate) const QUICK_MS: u32 = 5_000;

/// The caller of most tests (a file object address, as the shell passes it).
pub(crate) const ALICE: Caller = Caller(0x1000);
/// A second handle.
pub(crate) const BOB: Caller = Caller(0x2000);

/// The shell's `RegisterWsk`: registers with the fake NETIO.
pub(crate) fn register(capture_wait: Duration) -> wsk::Result<WskClient> {
    // SAFETY: the fake device object lives for the whole process.
    unsafe { WskClient::register(fake::device(), capture_wait) }
}

/// The driver as the tests instantiate it.
pub(crate) type Driver = wskrs_driver::Driver<TestRequest>;

/// A pended direct-I/O request as the shell hands it over: the fake kernel's IRP.
pub(crate) struct TestRequest(PendedIrp);

fake::pending_request_over_pended_irp!(TestRequest);

/// A data request handed to the driver, until it completes.
pub(crate) struct Pended(IrpWaiter);

impl Pended {
    /// Waits (real time, at most `limit`) for the completion: (status, information, data buffer).
    pub(crate) fn wait_for(&self, limit: Duration) -> Option<(NtStatus, usize, Vec<u8>)> {
        let (status, information) = self.0.wait_for(limit)?;
        Some((status, information, self.0.contents()))
    }

    /// The completion if the request is complete already (no wait).
    pub(crate) fn completed(&self) -> Option<(NtStatus, usize)> {
        self.0.completion()
    }

    /// Waits for the completion (ten seconds at most, else the test fails); the data buffer
    /// is released (its MDL freed) afterwards.
    pub(crate) fn wait(self) -> (NtStatus, usize, Vec<u8>) {
        self.wait_for(Duration::from_secs(10))
            .expect("the request completed")
    }

    /// The ticket the driver gave the request when it pended it, read back from its words
    /// as a shell's cancel routine does.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        let words = self
            .0
            .cancel_words()?
            .try_into()
            .expect("the ticket's words");
        Some(Ticket::from_words(words).expect("the stored words decode"))
    }
}

/// Hands a direct-I/O request to the driver as the shell does: `input` in the system buffer,
/// `data` in locked pages (the DeviceIoControl output buffer).
pub(crate) fn direct(
    driver: &'static Driver,
    caller: Caller,
    code: IoctlCode,
    input: &[u8],
    data: &[u8],
) -> Pended {
    let (irp, waiter) = pend(data);
    driver.direct(caller, code.0, input, data.len(), TestRequest(irp));
    Pended(waiter)
}

/// Like [`direct`], waiting for the result: Ok((information, data)) or the failure status.
pub(crate) fn direct_call(
    driver: &'static Driver,
    caller: Caller,
    code: IoctlCode,
    input: &[u8],
    data: &[u8],
) -> Result<(usize, Vec<u8>), NtStatus> {
    let (status, information, data) = direct(driver, caller, code, input, data).wait();
    if status == NtStatus::SUCCESS {
        Ok((information, data))
    } else {
        assert_eq!(information, 0, "a failed request returns no bytes");
        Err(status)
    }
}

/// One test's fake kernel and a freshly loaded driver.
pub(crate) struct Setup {
    /// The driver under test (leaked: completions and its timer need it `'static`).
    pub(crate) driver: &'static Driver,
    /// The fake kernel, reset for this test; dropped last.
    pub(crate) kernel: fake::Kernel,
    finished: bool,
}

impl Drop for Setup {
    /// A test that failed still unloads its (leaked) driver, so the next test starts clean.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.driver.shutdown();
        }
    }
}

impl Setup {
    /// Resets the fake kernel and loads a driver.
    pub(crate) fn start() -> Self {
        Self::with_quotas(Quotas::DEFAULT)
    }

    /// Like [`Setup::start`], with the given per-handle quotas.
    pub(crate) fn with_quotas(quotas: Quotas) -> Self {
        let kernel = fake::Kernel::start();
        let driver: &'static Driver = Box::leak(Box::new(Driver::with_quotas(register, quotas)));
        driver.loaded().expect("driver loaded");
        Self {
            driver,
            kernel,
            finished: false,
        }
    }

    /// Unloads the driver (it must close everything and deregister) and asserts that the fake
    /// kernel is clean.
    pub(crate) fn finish(mut self) {
        self.finished = true;
        assert!(self.driver.shutdown(), "shutdown closed everything in time");
        assert_eq!(
            fake::netio::registrations(),
            0,
            "the WSK registration was released"
        );
        self.kernel.assert_clean();
    }
}

/// Sends one IOCTL as the shell does (one buffer of max(input, output) bytes, the request at
/// its start) and returns the status and the reply bytes.
pub(crate) fn ioctl(
    driver: &'static Driver,
    caller: Caller,
    code: IoctlCode,
    input: &[u8],
    output_len: usize,
) -> (NtStatus, Vec<u8>) {
    let mut buffer = vec![0u8; input.len().max(output_len)];
    buffer[..input.len()].copy_from_slice(input);
    let completion = driver.device_control(caller, code.0, &mut buffer, input.len(), output_len);
    if completion.status.is_error() || completion.status.is_warning() {
        assert_eq!(
            completion.information, 0,
            "a failed request returns no bytes"
        );
    }
    assert!(
        completion.information <= output_len,
        "the reply fits the output buffer"
    );
    buffer.truncate(completion.information);
    (completion.status, buffer)
}

/// Like [`ioctl`], but a failure is the error and success the reply bytes.
pub(crate) fn call(
    driver: &'static Driver,
    caller: Caller,
    code: IoctlCode,
    input: &[u8],
    output_len: usize,
) -> Result<Vec<u8>, NtStatus> {
    let (status, reply) = ioctl(driver, caller, code, input, output_len);
    if status == NtStatus::SUCCESS {
        Ok(reply)
    } else {
        Err(status)
    }
}

pub(crate) fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

pub(crate) fn info(driver: &'static Driver, caller: Caller) -> protocol::DriverInfo {
    let reply = call(
        driver,
        caller,
        IoctlCode::INFO,
        &protocol::encode_info(),
        64,
    )
    .expect("INFO");
    protocol::parse_info_reply(&reply).expect("INFO reply")
}

fn endpoint(reply: Result<Vec<u8>, NtStatus>) -> Result<OpenedEndpoint, NtStatus> {
    reply.map(|r| protocol::parse_endpoint_reply(&r).expect("endpoint reply"))
}

pub(crate) fn connect(
    driver: &'static Driver,
    caller: Caller,
    remote: SocketAddr,
    detach: bool,
) -> Result<OpenedEndpoint, NtStatus> {
    let request = protocol::encode_tcp_connect(remote, None, detach, QUICK_MS);
    endpoint(call(driver, caller, IoctlCode::TCP_CONNECT, &request, 128))
}

pub(crate) fn listen(
    driver: &'static Driver,
    caller: Caller,
    local: SocketAddr,
    service: protocol::Service,
    detach: bool,
) -> Result<OpenedEndpoint, NtStatus> {
    let request = protocol::encode_tcp_listen(local, service, 0, detach);
    endpoint(call(driver, caller, IoctlCode::TCP_LISTEN, &request, 128))
}

pub(crate) fn udp_bind(
    driver: &'static Driver,
    caller: Caller,
    local: SocketAddr,
    service: protocol::UdpService,
    detach: bool,
) -> Result<OpenedEndpoint, NtStatus> {
    let request =
        protocol::encode_udp_bind(local, service, detach, protocol::BindFlags::default(), None)
            .expect("encode");
    endpoint(call(driver, caller, IoctlCode::UDP_BIND, &request, 128))
}

pub(crate) fn send(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    data: &[u8],
) -> Result<u32, NtStatus> {
    let request = protocol::encode_send(id, QUICK_MS, u32::try_from(data.len()).expect("len"));
    direct_call(driver, caller, IoctlCode::SEND, &request, data)
        .map(|(n, _)| u32::try_from(n).expect("n"))
}

/// RECV with room for `room` data bytes; returns (data, eof).
pub(crate) fn recv_with(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    room: usize,
    timeout_ms: u32,
) -> Result<(Vec<u8>, bool), NtStatus> {
    let request = protocol::encode_recv(id, timeout_ms, u32::try_from(room).expect("room"));
    let (n, data) = direct_call(driver, caller, IoctlCode::RECV, &request, &vec![0u8; room])?;
    Ok((data[..n].to_vec(), n == 0))
}

pub(crate) fn recv(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    room: usize,
) -> Result<(Vec<u8>, bool), NtStatus> {
    recv_with(driver, caller, id, room, QUICK_MS)
}

/// Receives until `n` bytes arrived.
pub(crate) fn recv_exact(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    n: usize,
) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let (data, eof) = recv(driver, caller, id, n - got.len()).expect("RECV");
        assert!(!eof, "unexpected end of stream after {} bytes", got.len());
        got.extend_from_slice(&data);
    }
    got
}

pub(crate) fn close(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
) -> Result<(), NtStatus> {
    call(
        driver,
        caller,
        IoctlCode::CLOSE,
        &protocol::encode_close(id),
        64,
    )
    .map(|r| protocol::parse_close_reply(&r).expect("CLOSE reply"))
}

pub(crate) fn disconnect(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    abortive: bool,
) -> Result<(), NtStatus> {
    call(
        driver,
        caller,
        IoctlCode::DISCONNECT,
        &protocol::encode_disconnect(id, QUICK_MS, abortive),
        64,
    )
    .map(|r| protocol::parse_disconnect_reply(&r).expect("DISCONNECT reply"))
}

pub(crate) fn option(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    option: protocol::OptionId,
    set: Option<u32>,
) -> Result<u32, NtStatus> {
    call(
        driver,
        caller,
        IoctlCode::SOCKET_OPTION,
        &protocol::encode_socket_option(id, option, set),
        64,
    )
    .map(|r| protocol::parse_socket_option_reply(&r).expect("SOCKET_OPTION reply"))
}

pub(crate) fn send_to(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    remote: SocketAddr,
    data: &[u8],
) -> Result<u32, NtStatus> {
    let request = protocol::encode_send_to(
        id,
        QUICK_MS,
        remote,
        u32::try_from(data.len()).expect("len"),
    );
    direct_call(driver, caller, IoctlCode::SEND_TO, &request, data)
        .map(|(n, _)| u32::try_from(n).expect("n"))
}

pub(crate) fn recv_from(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
    room: usize,
) -> Result<(Vec<u8>, Option<SocketAddr>), NtStatus> {
    let max = u32::try_from(room).expect("room");
    let request = protocol::encode_recv_from(id, QUICK_MS, max);
    let (n, reply) = direct_call(
        driver,
        caller,
        IoctlCode::RECV_FROM,
        &request,
        &vec![0u8; protocol::recv_from_output_len(max)],
    )?;
    let r = protocol::parse_recv_from_reply(&reply[..n]).expect("RECV_FROM reply");
    Ok((r.data.to_vec(), r.remote))
}

/// A LIST with room for `room` entries; returns (count, total, entries with activity).
pub(crate) fn list_with(
    driver: &'static Driver,
    caller: Caller,
    room: usize,
) -> (
    u32,
    u32,
    Vec<(protocol::EndpointStatus, protocol::EndpointActivity)>,
) {
    let reply = call(
        driver,
        caller,
        IoctlCode::LIST,
        &protocol::encode_list(),
        protocol::list_output_len(room),
    )
    .expect("LIST");
    let list = protocol::parse_list_reply(&reply).expect("LIST reply");
    (
        list.count(),
        list.total(),
        list.iter_with_activity().collect(),
    )
}

/// Every endpoint visible to `caller`.
pub(crate) fn list(driver: &'static Driver, caller: Caller) -> Vec<protocol::EndpointStatus> {
    let (count, total, entries) = list_with(driver, caller, 300);
    assert_eq!(count, total, "room for every entry");
    entries.into_iter().map(|(s, _)| s).collect()
}

/// The LIST entry of `id` as `caller` sees it.
pub(crate) fn entry(
    driver: &'static Driver,
    caller: Caller,
    id: EndpointId,
) -> Option<(protocol::EndpointStatus, protocol::EndpointActivity)> {
    list_with(driver, caller, 300)
        .2
        .into_iter()
        .find(|(s, _)| s.id == id)
}

pub(crate) fn stats(driver: &'static Driver) -> protocol::Stats {
    let reply = call(
        driver,
        ALICE,
        IoctlCode::STATS,
        &protocol::encode_stats(),
        128,
    )
    .expect("STATS");
    protocol::parse_stats_reply(&reply).expect("STATS reply")
}

/// Polls (real time, at most five seconds) until `f` is true.
pub(crate) fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
