//! `wskrs-bench.exe`: the Windows side of `cargo xtask bench`, run under Wine.
//!
//! Each measurement runs once per invocation and prints one JSON line; the xtask repeats
//! invocations, pins every process to one CPU and computes medians and ratios. The same
//! measurement runs through the driver (`kernel`: `wskrs-client`, i.e. IOCTLs to the in-kernel
//! endpoint) and through user-mode Winsock (`winsock`: `std::net`, which is Winsock on
//! Windows), so the two differ only in the path under test.
//!
//! ```text
//! wskrs-bench serve echo|discard PORT        Winsock server on 127.0.0.1:PORT until stdin closes
//! wskrs-bench rtt kernel|transact|winsock ADDR SIZE COUNT [CROWD SINK]
//!                                           COUNT round trips of SIZE bytes to an echo server
//!                                           (transact: KernelTcpStream::transact, one IOCTL
//!                                           per round trip instead of a SEND and a RECV);
//!                                           with CROWD, that many idle connections to SINK
//!                                           are open in the driver meanwhile (other handles')
//! wskrs-bench send kernel|winsock ADDR TOTAL WRITE
//!                                           to a counting sink: TOTAL as 8 bytes (LE), TOTAL
//!                                           bytes in writes of WRITE bytes, then its answer
//! wskrs-bench ioctl info|floor|send-floor COUNT
//!                                           COUNT INFO requests, COUNT requests with a code the
//!                                           driver refuses at once (the IOCTL path's floor), or
//!                                           COUNT SENDs of 128 KiB to an endpoint that does not
//!                                           exist (the data's floor: Wine carries the bytes to
//!                                           the driver, which refuses the SEND at once)
//! wskrs-bench ring event|yield COUNT        COUNT 64-byte round trips through memory shared
//!                                           with a child process (`ring`: what a request ring
//!                                           between client and driver would cost under Wine)
//! wskrs-bench call COUNT                    COUNT requests to Wine's server (`ResetEvent`): what
//!                                           a reply with output adds to a refused IOCTL
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wskrs_client::{Device, KernelTcpStream};

mod call;
mod ring;

/// An IOCTL code of the driver's device type and access that names no request: the driver
/// refuses it before doing anything (`STATUS_INVALID_DEVICE_REQUEST`).
const UNKNOWN_IOCTL: u32 = 0x8057_EFFC;
/// An endpoint id the driver never hands out in a bench run (ids count up from 1).
const NO_ENDPOINT: wskrs_protocol::EndpointId = wskrs_protocol::EndpointId(u64::MAX >> 1);
/// Bytes of each `send-floor` SEND: the size the library cuts large writes into.
const SEND_FLOOR_BYTES: usize = 128 << 10;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&words) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("wskrs-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(words: &[&str]) -> Result<String, String> {
    match words {
        ["serve", kind, port] => serve(kind, number(port)?),
        ["rtt", via, addr, size, count] => {
            round_trips(via, address(addr)?, number(size)?, number(count)?)
        }
        ["rtt", via, addr, size, count, crowd, sink] => {
            let _crowd = open_crowd(number(crowd)?, address(sink)?)?;
            round_trips(via, address(addr)?, number(size)?, number(count)?)
        }
        ["send", via, addr, total, write] => {
            send(via, address(addr)?, number(total)?, number(write)?)
        }
        ["ioctl", what, count] => ioctls(what, number(count)?),
        ["ring", mode, count] => ring::measure(mode, number(count)?),
        ["ring-peer", mode, name, count] => ring::answer(mode, name, number(count)?),
        ["call", count] => call::measure(number(count)?),
        _ => Err(format!(
            "usage: serve echo|discard PORT | rtt kernel|transact|winsock ADDR SIZE COUNT | \
             send kernel|winsock ADDR TOTAL WRITE | ioctl info|floor|send-floor COUNT | \
             ring event|yield COUNT | call COUNT (got {words:?}; rtt takes CROWD SINK after COUNT)"
        )),
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address like 127.0.0.1:9000"))
}

/// A connected stream through the path under test.
enum Stream {
    Kernel(KernelTcpStream),
    Winsock(TcpStream),
}

impl Stream {
    fn connect(via: &str, to: SocketAddr) -> Result<Self, String> {
        match via {
            "kernel" | "transact" => KernelTcpStream::connect(to)
                .map(Self::Kernel)
                .map_err(|e| format!("KernelTcpStream::connect({to}): {e}")),
            "winsock" => {
                let stream =
                    TcpStream::connect(to).map_err(|e| format!("TcpStream::connect({to}): {e}"))?;
                // Like the Linux clients: no Nagle wait on the measuring side.
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("TCP_NODELAY: {e}"))?;
                Ok(Self::Winsock(stream))
            }
            other => Err(format!("`{other}`: use kernel, transact or winsock")),
        }
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Self::Kernel(s) => s,
            Self::Winsock(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn round_trips(via: &str, to: SocketAddr, size: usize, count: usize) -> Result<String, String> {
    let mut stream = Stream::connect(via, to)?;
    let message: Vec<u8> = (0..size)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let mut back = vec![0u8; size];
    let mut micros = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let mut got = 0;
        if let (Stream::Kernel(kernel), "transact") = (&mut stream, via) {
            got = kernel
                .transact(&message, &mut back)
                .map_err(|e| format!("transact: {e}"))?;
            if got == 0 {
                return Err("the echo server closed".into());
            }
        } else {
            stream
                .io()
                .write_all(&message)
                .map_err(|e| format!("write: {e}"))?;
        }
        // The rest of an echo that came back in parts.
        stream
            .io()
            .read_exact(&mut back[got..])
            .map_err(|e| format!("read: {e}"))?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        if back != message {
            return Err("the echo differs from what was sent".into());
        }
    }
    Ok(format!(
        "{{\"event\":\"rtt\",\"via\":\"{via}\",\"bytes\":{size},\"count\":{count},\"median_us\":{:.2}}}",
        median(&mut micros)
    ))
}

/// Idle connections per crowd handle: below the driver's default quota of 64 per handle.
const CROWD_PER_HANDLE: usize = 60;

/// `count` idle TCP connections to `sink`, on handles of their own; they close with the
/// handles. (Connections, not listeners: Wine 8's netio.sys crashes the driver host when
/// many listeners with an accept pending close at once, a race in its `wsk_close_socket`.)
fn open_crowd(count: usize, sink: SocketAddr) -> Result<Vec<Device>, String> {
    let mut handles = Vec::new();
    let mut left = count;
    while left > 0 {
        let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)
            .map_err(|e| format!("opening the driver for the crowd: {e}"))?;
        for _ in 0..left.min(CROWD_PER_HANDLE) {
            device
                .tcp_connect(sink, &wskrs_client::TcpConnectOptions::default())
                .map_err(|e| format!("crowd connection {}: {e}", count - left + 1))?;
            left -= 1;
        }
        handles.push(device);
    }
    Ok(handles)
}

fn send(via: &str, to: SocketAddr, total: u64, write: usize) -> Result<String, String> {
    let mut stream = Stream::connect(via, to)?;
    let chunk = vec![0x5Au8; write];
    let started = Instant::now();
    // The count first: the sink answers once it has it all (no end of stream needed, which a
    // KernelTcpStream over Wine's netio cannot send: no WskDisconnect).
    stream
        .io()
        .write_all(&total.to_le_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left).map_or(write, |l| l.min(write));
        stream
            .io()
            .write_all(&chunk[..n])
            .map_err(|e| format!("write: {e}"))?;
        left -= n as u64;
    }
    let mut answer = [0u8; 1];
    stream
        .io()
        .read_exact(&mut answer)
        .map_err(|e| format!("waiting for the sink's answer: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"event\":\"send\",\"via\":\"{via}\",\"bytes\":{total},\"write\":{write},\"seconds\":{seconds:.6}}}"
    ))
}

fn ioctls(what: &str, count: usize) -> Result<String, String> {
    let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)
        .map_err(|e| format!("opening the driver: {e}"))?;
    let data = vec![0x5Au8; SEND_FLOOR_BYTES];
    let mut micros = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        match what {
            "info" => {
                device.info().map_err(|e| format!("INFO: {e}"))?;
            }
            "floor" => {
                let _ = device.raw(UNKNOWN_IOCTL, &[], 0);
            }
            "send-floor" => match device.send(NO_ENDPOINT, &data, None) {
                Err(e) if e.status() == Some(wskrs_protocol::NtStatus::NOT_FOUND) => {}
                other => return Err(format!("a SEND to no endpoint gave {other:?}")),
            },
            other => return Err(format!("`{other}`: use info, floor or send-floor")),
        }
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(format!(
        "{{\"event\":\"ioctl\",\"what\":\"{what}\",\"count\":{count},\"median_us\":{:.2}}}",
        median(&mut micros)
    ))
}

/// A Winsock echo or discard server, a thread per connection, until stdin closes.
fn serve(kind: &str, port: u16) -> Result<String, String> {
    let echo = match kind {
        "echo" => true,
        "discard" => false,
        other => return Err(format!("`{other}`: use echo or discard")),
    };
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_one(stream, echo));
        }
    });
    println!("{{\"event\":\"listening\",\"port\":{port}}}");
    let _ = io::stdout().flush();
    // The harness closes stdin to stop the server.
    let _ = io::copy(&mut io::stdin(), &mut io::sink());
    Ok("{\"event\":\"stopped\"}".into())
}

fn serve_one(mut stream: TcpStream, echo: bool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if echo && stream.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
}

pub(crate) fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}
