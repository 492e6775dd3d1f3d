//! Data on a connection: `wskctl send`, `recv` (by endpoint id, through the device's
//! SEND and RECV) and `stream-send` (a file through the library's `KernelTcpStream`).

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use wskrs_client::{write_data, ClientError, Device};
use wskrs_protocol::{EndpointId, MAX_TRANSACT, MAX_TRANSFER};

use super::{create_file, parse_endpoint_id, timeout_arg, Streams};
use crate::output::{self, Format};
use crate::progress::{self, Counting, Progress};

/// `wskctl recv` without `--max` or `--exact` asks for at most this many bytes.
pub(crate) const DEFAULT_RECV_MAX: u32 = 65_536;

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
    /// Send this file (read 4 MiB at a time, sent in pipelined 128 KiB requests).
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

/// Arguments of `wskctl transact`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("request").required(true))]
pub(crate) struct TransactArgs {
    /// The connection's endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// Send this text as the request.
    #[arg(long, value_name = "T", group = "request")]
    pub(crate) text: Option<String>,
    /// Send this file as the request (at most 65536 bytes).
    #[arg(long, value_name = "F", group = "request")]
    pub(crate) file: Option<PathBuf>,
    /// Return at most N reply bytes (default and most 65536).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TRANSACT)))]
    pub(crate) max: Option<u32>,
    /// Write the reply to this file instead of stdout.
    #[arg(long, value_name = "F")]
    pub(crate) to_file: Option<PathBuf>,
    /// Timeout of the whole exchange in milliseconds (0: the driver's default, 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) timeout_ms: u32,
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
pub(crate) fn run_stream_send(
    device: Device,
    args: &StreamSendArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    use sha2::Digest as _;
    let what = args.file.display().to_string();
    let mut file = File::open(&args.file)
        .map_err(|source| ClientError::io(format!("opening {what}"), source))?;
    let total = file.metadata().map_or(0, |metadata| metadata.len());
    let timeout = timeout_arg(args.timeout_ms);
    let started = std::time::Instant::now();
    let mut stream = wskrs_client::KernelTcpStream::connect_on(device, args.remote, timeout)
        .map_err(|error| from_io(error, "connect"))?;
    stream
        .set_write_timeout(timeout)
        .map_err(|error| from_io(error, "setting the write timeout"))?;
    let id = stream.id();
    let progress = Progress::new(
        progress::wanted(streams.terminal.stderr, format),
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
    streams.reply(
        format,
        &output::StreamSent::new(id.0, args.remote, sent, sha256, seconds),
    )?;
    Ok(0)
}

/// Sends the text, or the file (with a progress bar when `show_progress`).
pub(crate) fn send_payload(
    device: &Device,
    id: EndpointId,
    text: Option<&str>,
    file: Option<&Path>,
    timeout: Option<Duration>,
    show_progress: bool,
) -> Result<u64, ClientError> {
    if let Some(text) = text {
        return device.send_all(id, text.as_bytes(), timeout);
    }
    let Some(path) = file else {
        return Ok(0);
    };
    let what = path.display().to_string();
    let mut reader =
        File::open(path).map_err(|source| ClientError::io(format!("opening {what}"), source))?;
    let total = reader.metadata().map_or(0, |metadata| metadata.len());
    let progress = Progress::new(show_progress, total, &format!("send {what}"));
    send_with_progress(device, id, &mut reader, &what, timeout, &progress)
}

fn send_with_progress(
    device: &Device,
    id: EndpointId,
    reader: &mut dyn Read,
    what: &str,
    timeout: Option<Duration>,
    progress: &Progress,
) -> Result<u64, ClientError> {
    device.send_reader_reporting(id, reader, what, timeout, &mut |sent| progress.add(sent))
}

/// Receives exactly `count` bytes into the file at `path` (with a progress bar when
/// `show_progress`).
pub(crate) fn receive_to_file(
    device: &Device,
    id: EndpointId,
    count: u64,
    timeout: Option<Duration>,
    path: &Path,
    show_progress: bool,
) -> Result<u64, ClientError> {
    let mut file = create_file(path)?;
    let progress = Progress::new(show_progress, count, &format!("recv {}", path.display()));
    let mut sink = Counting {
        inner: &mut file,
        progress: &progress,
    };
    device.recv_exact(id, count, timeout, &mut sink)
}

pub(crate) fn receive_to_stdout(
    device: &Device,
    id: EndpointId,
    count: u64,
    timeout: Option<Duration>,
    streams: &mut Streams<'_>,
) -> Result<u64, ClientError> {
    let received = device.recv_exact(id, count, timeout, &mut *streams.stdout)?;
    streams
        .stdout
        .flush()
        .map_err(|source| ClientError::io("writing to stdout", source))?;
    Ok(received)
}

pub(crate) fn run_recv(
    device: &Device,
    args: &RecvArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let id = args.id;
    let (received, eof) = if let Some(count) = args.exact {
        let received = match &args.to_file {
            Some(path) => receive_to_file(
                device,
                id,
                count,
                timeout_arg(args.timeout_ms),
                path,
                progress::wanted(streams.terminal.stderr, format),
            )?,
            None => receive_to_stdout(device, id, count, timeout_arg(args.timeout_ms), streams)?,
        };
        (received, false)
    } else {
        let chunk = device.recv(
            id,
            args.max.unwrap_or(DEFAULT_RECV_MAX),
            timeout_arg(args.timeout_ms),
        )?;
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
    streams.summary(format, &output::Received::new(id.0, received, eof))?;
    Ok(0)
}

/// `wskctl transact`.
pub(crate) fn run_transact(
    device: &Device,
    args: &TransactArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let request = match (&args.text, &args.file) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|source| ClientError::io(format!("reading {}", path.display()), source))?,
        (None, None) => Vec::new(),
    };
    let mut reply = vec![0u8; args.max.unwrap_or(MAX_TRANSACT) as usize];
    let received = device.transact(args.id, &request, &mut reply, timeout_arg(args.timeout_ms))?;
    let data = reply.get(..received).unwrap_or_default();
    match &args.to_file {
        Some(path) => {
            let mut file = create_file(path)?;
            write_data(&mut file, data)
                .map_err(|source| ClientError::io(format!("writing {}", path.display()), source))?;
        }
        None => {
            write_data(&mut *streams.stdout, data)
                .and_then(|()| streams.stdout.flush())
                .map_err(|source| ClientError::io("writing to stdout", source))?;
        }
    }
    let summary = output::Transacted::new(args.id.0, request.len() as u64, received as u64);
    streams.summary(format, &summary)?;
    Ok(0)
}

/// `wskctl send`.
pub(crate) fn run_send(
    device: &Device,
    args: &SendArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let sent = send_payload(
        device,
        args.id,
        args.text.as_deref(),
        args.file.as_deref(),
        timeout_arg(args.timeout_ms),
        progress::wanted(streams.terminal.stderr, format),
    )?;
    streams.reply(format, &output::Sent::new(args.id.0, sent))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_client::Device;
    use wskrs_host_driver::{HostDriver, REFUSING_PORT};
    use wskrs_protocol::{IoctlCode, MAX_TRANSFER};

    #[test]
    fn send_recv_close_by_id() {
        let driver = HostDriver::default();
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&driver, "send 1 --text abc");
        assert_eq!(out.stdout, "sent 3 bytes\n");
        let out = wskctl(&driver, "recv 1 --max 2");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("ab", "received 2 bytes\n")
        );
        let out = wskctl(&driver, "--json recv 1");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("c", "{\"id\":1,\"received\":1,\"eof\":false}\n")
        );
        let out = wskctl(&driver, "close 1");
        assert_eq!(out.stdout, "closed endpoint 1\n");
        let out = wskctl(&driver, "close 1");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .starts_with("error: close endpoint 1: STATUS_NOT_FOUND (0xC0000225)"),
            "{}",
            out.stderr
        );
    }
    #[test]
    fn transact_sends_and_prints_the_reply_in_text_and_json() {
        let driver = HostDriver::default();
        // The host driver's port 9000 echoes.
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        let out = wskctl(&driver, "transact 1 --text ping");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "ping", "sent 4 bytes, received 4 bytes\n")
        );
        let out = wskctl(&driver, "--json transact 1 --text hello --max 2");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("he", "{\"id\":1,\"sent\":5,\"received\":2,\"eof\":false}\n")
        );
        // The rest of the echo is still in the stream.
        let out = wskctl(&driver, "recv 1 --exact 3");
        assert_eq!(out.stdout, "llo");
        // Refused before sending: an empty request, a reply room of 0.
        let empty = std::env::temp_dir().join(format!("wskctl-empty-{}", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let out = wskctl(&driver, &format!("transact 1 --file {}", empty.display()));
        std::fs::remove_file(&empty).unwrap();
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("not sent"), "{}", out.stderr);
        let out = wskctl(&driver, "transact 1 --text x --max 0");
        assert_eq!(out.code, 2, "{}", out.stderr);
        let out = wskctl(&driver, "transact 7 --text x");
        assert!(out.stderr.contains("STATUS_NOT_FOUND"), "{}", out.stderr);
    }

    #[test]
    fn ctrl_c_cancels_the_outstanding_request_and_exits_130() {
        let driver = HostDriver::default();
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        // The console's Ctrl-C handler, played while the RECV waits in the driver.
        let pressed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&pressed);
        driver.while_waiting(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert!(
                wskrs_client::ctrl_c::on_ctrl_c(),
                "handled: a request is outstanding"
            );
        });
        let out = wskctl(&driver, "recv 1 --timeout-ms 30000");
        assert_eq!(pressed.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(out.code, 130);
        assert_eq!(
            out.stderr,
            "cancelled: recv on endpoint 1: the request was cancelled (STATUS_CANCELLED)\n"
        );
        // `--exact` stops too (its later RECVs are refused at once).
        let out = wskctl(&driver, "recv 1 --exact 10");
        assert_eq!(
            (out.code, pressed.load(std::sync::atomic::Ordering::SeqCst)),
            (130, 2)
        );
        // The endpoint is intact: send and receive work.
        driver.while_waiting(|| {});
        assert_eq!(wskctl(&driver, "send 1 --text ok").code, 0);
        let out = wskctl(&driver, "recv 1 --exact 2");
        assert_eq!((out.code, out.stdout.as_str()), (0, "ok"));
    }
    #[test]
    fn recv_exact_to_file_and_eof_handling() {
        let driver = HostDriver::default();
        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        driver.peer_sends(1, b"0123456789");
        let dir = std::env::temp_dir().join(format!("wskctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("recv.bin");
        let out = wskctl(
            &driver,
            &format!("recv 1 --exact 10 --to-file {}", file.display()),
        );
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", "received 10 bytes\n")
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"0123456789");
        std::fs::remove_dir_all(&dir).unwrap();

        wskctl(&driver, "tcp connect 127.0.0.1:9001 --detach");
        driver.peer_sends(2, b"abc");
        driver.peer_closes(2);
        let out = wskctl(&driver, "recv 2 --exact 5");
        assert_eq!(out.code, 1);
        assert_eq!(out.stdout, "abc");
        assert_eq!(
            out.stderr,
            "error: recv on endpoint 2: the peer closed the connection after 3 of 5 bytes\n"
        );
        let out = wskctl(&driver, "recv 2");
        assert_eq!((out.code, out.stderr.as_str()), (0, "peer closed\n"));
    }

    #[test]
    fn send_file_in_pipelined_chunks() {
        let driver = HostDriver::default();
        // A peer that reads everything (an echo peer would fill the connection both ways).
        wskctl(&driver, "tcp connect 127.0.0.1:9001 --detach");
        let dir = std::env::temp_dir().join(format!("wskctl-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.bin");
        std::fs::write(&file, vec![7u8; MAX_TRANSFER as usize * 2 + 3]).unwrap();
        let out = wskctl(&driver, &format!("send 1 --file {}", file.display()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.stdout, format!("sent {} bytes\n", MAX_TRANSFER * 2 + 3));
        let sends = driver
            .requests()
            .iter()
            .filter(|&&code| code == IoctlCode::SEND.0)
            .count();
        // Read 4 MiB at a time; each read sent as pipelined SENDs of SEND_CHUNK bytes.
        assert_eq!(
            sends,
            2 * (MAX_TRANSFER as usize).div_ceil(wskrs_client::SEND_CHUNK) + 1
        );
    }

    #[test]
    fn progress_counts_the_bytes_sent_and_received() {
        let driver = HostDriver::default();
        let device = Device::from_transport(Box::new(driver.handle()));
        // A peer that reads everything, then sends it back when told.
        let id = device
            .tcp_connect(
                "127.0.0.1:9001".parse().unwrap(),
                &wskrs_client::TcpConnectOptions::default(),
            )
            .unwrap()
            .id;
        let data = vec![5u8; MAX_TRANSFER as usize + 10];
        let len = data.len() as u64;
        let progress = crate::progress::Progress::hidden(len);
        let sent =
            super::send_with_progress(&device, id, &mut data.as_slice(), "data", None, &progress)
                .unwrap();
        assert_eq!((sent, progress.position()), (len, len));
        driver.peer_sends(id.0, &data);
        let dir = std::env::temp_dir().join(format!("wskctl-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("back.bin");
        let received = super::receive_to_file(&device, id, len, None, &file, false).unwrap();
        let back = std::fs::read(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(received, len);
        assert!(back == data);
    }

    #[test]
    fn stream_send_copies_a_file_through_a_kernel_stream() {
        use sha2::Digest as _;
        let driver = HostDriver::default();
        let dir = std::env::temp_dir().join(format!("wskctl-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("payload.bin");
        let data: Vec<u8> = (0..MAX_TRANSFER as usize * 2 + 77)
            .map(|i| u8::try_from(i % 241).unwrap())
            .collect();
        std::fs::write(&file, &data).unwrap();
        let expected = crate::output::hex_encode(&sha2::Sha256::digest(&data));
        let out = wskctl(
            &driver,
            &format!(
                "--json stream-send 127.0.0.1:9001 --file {}",
                file.display()
            ),
        );
        let codes = driver.requests();
        let refused = wskctl(
            &driver,
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
        // Three writes of at most 4 MiB (the BufWriter's capacity), each cut into pipelined
        // SENDs of SEND_CHUNK bytes, then the CLOSE.
        let sends = codes
            .iter()
            .filter(|&&code| code == IoctlCode::SEND.0)
            .count();
        assert_eq!(
            sends,
            2 * (MAX_TRANSFER as usize).div_ceil(wskrs_client::SEND_CHUNK) + 1
        );
        assert_eq!(codes.last(), Some(&IoctlCode::CLOSE.0));
        assert!(driver.endpoint_ids().is_empty());
        assert_eq!(refused.code, 1);
        assert!(
            refused
                .stderr
                .starts_with("error: tcp connect to 127.0.0.1:1: STATUS_CONNECTION_REFUSED"),
            "{}",
            refused.stderr
        );
    }
}
