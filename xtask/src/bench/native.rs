//! The Linux side of the bench: echo and discard servers (the native anchor) and the clients
//! that drive every server — the driver's in-kernel services, the Winsock servers under Wine
//! and the native ones — the same way, so rows differ only in the server.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

/// How long one client operation may block before the measurement is abandoned.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// What a native server does with what it reads.
#[derive(Clone, Copy)]
pub(super) enum Service {
    /// Sends it back.
    Echo,
    /// Drops it; closes at the client's end of stream.
    Discard,
    /// Reads an 8-byte little-endian count, drops that many bytes, answers one byte; again
    /// until the end of stream. For clients that cannot end their stream (a `KernelTcpStream`
    /// over Wine's netio has no `WskDisconnect`).
    CountedSink,
}

/// Starts a native server on 127.0.0.1 (an OS-chosen port), a thread per connection, for the
/// rest of the process; returns its address.
pub(super) fn serve(service: Service) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a native server")?;
    let address = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve_one(stream, service));
        }
    });
    Ok(address)
}

fn serve_one(mut stream: TcpStream, service: Service) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    if let Service::CountedSink = service {
        while counted_sink_once(&mut stream).is_ok() {}
        return;
    }
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let (Service::Echo, Some(data)) = (service, buffer.get(..n)) {
                    if stream.write_all(data).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// One counted transfer: the count, the bytes, the answer.
fn counted_sink_once(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut count = [0u8; 8];
    stream.read_exact(&mut count)?;
    let mut left = u64::from_le_bytes(count);
    let mut buffer = vec![0u8; 256 << 10];
    while left > 0 {
        let want = usize::try_from(left).map_or(buffer.len(), |l| l.min(buffer.len()));
        let n = stream.read(buffer.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        left = left.saturating_sub(n as u64);
    }
    stream.write_all(b"k")
}

fn connect(to: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&to, IO_TIMEOUT)
        .with_context(|| format!("connecting to {to}"))?;
    // The measuring side never waits for Nagle: any wait seen is the server's.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// One connection to an echo server, timing round trips of one size.
struct EchoClient {
    to: SocketAddr,
    stream: TcpStream,
    message: Vec<u8>,
    back: Vec<u8>,
}

impl EchoClient {
    fn connect(to: SocketAddr, size: usize) -> Result<Self> {
        Ok(Self {
            to,
            stream: connect(to)?,
            message: (0..size)
                .map(|i| u8::try_from(i % 251).unwrap_or(0))
                .collect(),
            back: vec![0u8; size],
        })
    }

    /// `count` round trips: the median, in µs.
    fn median_of(&mut self, count: usize) -> Result<f64> {
        let mut micros = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            self.stream.write_all(&self.message)?;
            self.stream
                .read_exact(&mut self.back)
                .with_context(|| format!("reading the echo from {}", self.to))?;
            micros.push(started.elapsed().as_secs_f64() * 1e6);
            ensure!(
                self.back == self.message,
                "the echo from {} differs from what was sent",
                self.to
            );
        }
        Ok(super::median(&mut micros))
    }
}

/// `count` round trips of `size` bytes through the echo server at `to`: the median, in µs.
pub(super) fn round_trips(to: SocketAddr, size: usize, count: usize) -> Result<f64> {
    EchoClient::connect(to, size)?.median_of(count)
}

/// Round trips of `size` bytes through two echo servers in turn, `batch` at a time, `pairs`
/// times (the order swapped every pair): for each pair, `a`'s median over `b`'s. Load that
/// comes and goes falls on both servers of a pair alike, so the ratios stay tight where
/// medians taken minutes apart do not.
pub(super) fn paired_round_trips(
    (a, b): (SocketAddr, SocketAddr),
    size: usize,
    batch: usize,
    pairs: usize,
) -> Result<Vec<f64>> {
    let (mut a, mut b) = (EchoClient::connect(a, size)?, EchoClient::connect(b, size)?);
    // Warm both paths up before anything is kept.
    a.median_of(batch)?;
    b.median_of(batch)?;
    let mut ratios = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (of_a, of_b) = if pair % 2 == 0 {
            let first = a.median_of(batch)?;
            (first, b.median_of(batch)?)
        } else {
            let first = b.median_of(batch)?;
            (a.median_of(batch)?, first)
        };
        if of_b > 0.0 {
            ratios.push(of_a / of_b);
        }
    }
    Ok(ratios)
}

/// How a bulk transfer tells the server it is complete.
#[derive(Clone, Copy)]
pub(super) enum BulkEnd {
    /// The end of stream; the discard server then closes.
    EndOfStream,
    /// An 8-byte count first; the counted sink answers one byte.
    Counted,
}

/// `total` bytes in writes of `write` bytes to `to`, timed until the server has it all:
/// seconds.
pub(super) fn send(to: SocketAddr, total: u64, write: usize, end: BulkEnd) -> Result<f64> {
    let mut stream = connect(to)?;
    let chunk = vec![0x5Au8; write];
    let started = Instant::now();
    if let BulkEnd::Counted = end {
        stream.write_all(&total.to_le_bytes())?;
    }
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left).map_or(write, |l| l.min(write));
        stream
            .write_all(chunk.get(..n).unwrap_or(&chunk))
            .with_context(|| format!("sending to {to}"))?;
        left = left.saturating_sub(n as u64);
    }
    match end {
        BulkEnd::EndOfStream => {
            stream.shutdown(Shutdown::Write)?;
            let mut rest = [0u8; 64];
            while stream
                .read(&mut rest)
                .with_context(|| format!("waiting for {to} to close"))?
                > 0
            {}
        }
        BulkEnd::Counted => {
            let mut answer = [0u8; 1];
            stream
                .read_exact(&mut answer)
                .with_context(|| format!("waiting for {to} to count it all"))?;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// `count` times: connect to the echo server at `to`, one byte there and back, close. Per
/// second.
pub(super) fn connect_echo_close(to: SocketAddr, count: usize) -> Result<f64> {
    let started = Instant::now();
    for _ in 0..count {
        let mut stream = connect(to)?;
        stream.write_all(b"x")?;
        let mut back = [0u8; 1];
        stream
            .read_exact(&mut back)
            .with_context(|| format!("reading the echoed byte from {to}"))?;
        drop(stream);
    }
    Ok(super::count_f64(count as u64) / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_round_trips_give_one_ratio_per_pair_near_one_for_equal_servers() {
        let a = serve(Service::Echo).unwrap();
        let b = serve(Service::Echo).unwrap();
        let ratios = paired_round_trips((a, b), 64, 20, 30).unwrap();
        assert_eq!(ratios.len(), 30);
        assert!(
            ratios.iter().all(|r| r.is_finite() && *r > 0.0),
            "{ratios:?}"
        );
        let mut sorted = ratios.clone();
        let median = crate::bench::median(&mut sorted);
        // Two copies of the same server: neither is twice as fast as the other.
        assert!((0.5..2.0).contains(&median), "median {median}");
    }

    #[test]
    fn a_server_that_does_not_echo_what_was_sent_fails_the_pair() {
        // A server that answers with zeros instead of the message.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let liar = listener.local_addr().unwrap();
        thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 64];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&[0u8; 64]).is_err() {
                        break;
                    }
                }
            }
        });
        let honest = serve(Service::Echo).unwrap();
        let err = paired_round_trips((honest, liar), 64, 5, 2).unwrap_err();
        assert!(format!("{err:#}").contains("differs"), "{err:#}");
    }
}
