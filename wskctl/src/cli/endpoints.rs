//! The commands on any endpoint by id: `list` (the table of endpoints and their
//! counters), `serve` (hand a connection to an in-kernel service) and `close`; and what
//! follows opening an endpoint that serves by itself (a listener, a UDP socket, a served
//! connection): keeping it open until standard input ends, unless detached.

use std::io;

use clap::{Args, ValueEnum};
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{EndpointId, Service};

use super::{parse_endpoint_id, Session, Streams};
use crate::output::{self, Format};

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

/// `wskctl list`: the table, or the JSON array.
pub(crate) fn run_list(
    device: &Device,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let entries = device.list()?;
    streams.reply(format, &output::EndpointList::from(entries.as_slice()))?;
    Ok(0)
}

/// SERVE, then the line saying so (`serve`, `tcp connect --serve`).
pub(crate) fn hand_to_service(
    device: &Device,
    id: EndpointId,
    service: ServeServiceArg,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<(), ClientError> {
    let service = Service::from(service);
    device.serve(id, service)?;
    streams.reply(format, &output::Served::new(id.0, service))
}

/// What follows opening a listener, a UDP socket or a served connection: nothing when
/// detached; in a shell, a note that it lives as long as the shell; otherwise keeping it
/// open until stdin ends.
pub(crate) fn keep_open(
    device: &Device,
    id: EndpointId,
    detach: bool,
    format: Format,
    streams: &mut Streams<'_>,
    session: Session,
) -> Result<u8, ClientError> {
    match session {
        _ if detach => Ok(0),
        Session::Shell => {
            if format == Format::Text {
                streams.note(&format!(
                    "endpoint {id} stays open until `close {id}` or the end of the shell"
                ))?;
            }
            Ok(0)
        }
        Session::OneShot => serve_until_stdin_ends(device, id, format, streams),
    }
}

/// Keeps endpoint `id` (and the handle that owns it) until stdin ends, then closes it.
fn serve_until_stdin_ends(
    device: &Device,
    id: EndpointId,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    // Serve until stdin ends; Ctrl-C ends the process, and closing its handle closes the
    // endpoint in the driver.
    io::copy(&mut *streams.stdin, &mut io::sink())
        .map_err(|source| ClientError::io("reading stdin", source))?;
    device.close(id)?;
    streams.reply(format, &output::Closed::new(id.0))?;
    Ok(0)
}

/// `wskctl serve`.
pub(crate) fn run_serve(
    device: &Device,
    args: &ServeArgs,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    hand_to_service(device, args.id, args.service, format, streams)?;
    Ok(0)
}

/// `wskctl close`.
pub(crate) fn run_close(
    device: &Device,
    id: EndpointId,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    device.close(id)?;
    streams.reply(format, &output::Closed::new(id.0))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;
    use wskrs_protocol::IoctlCode;

    #[test]
    fn listen_detached_and_list() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "tcp listen 127.0.0.1:9100 --service echo --detach");
        assert_eq!(
            out.stdout,
            "endpoint 1 listening on 127.0.0.1:9100 (service echo)\n"
        );
        let out = wskctl(&driver, "list");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID  KIND"), "{}", lines[0]);
        let mut fields = lines[1].split_whitespace().collect::<Vec<_>>();
        // Its age: milliseconds of real time since it opened.
        let age = fields.remove(11);
        assert!(
            age.strip_suffix("ms")
                .is_some_and(|ms| ms.parse::<u64>().is_ok()),
            "{age}"
        );
        assert_eq!(
            fields,
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
                "0/0",
                "0",
                "-"
            ]
        );
        let out = wskctl(&driver, "list --json");
        let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(parsed[0]["id"], 1);
        assert_eq!(parsed[0]["service"], "echo");
        assert_eq!(parsed[0]["flags"][0], "detached");
        assert!(parsed[0]["opened_ms"]
            .as_u64()
            .is_some_and(|ms| ms < 60_000));
        assert_eq!(parsed[0]["errors"], 0);
        assert_eq!(parsed[0]["last_status"], serde_json::Value::Null);
    }
    #[test]
    fn serve_hands_a_connection_to_a_service_and_refuses_what_the_driver_refuses() {
        let driver = HostDriver::default();
        wskctl(
            &driver,
            "tcp connect 127.0.0.1:9001 --detach --send-text abc",
        );
        let out = wskctl(&driver, "serve 1 --service echo");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "endpoint 1 handed to the echo service\n", "")
        );
        // The peer got what the user sent, then what the echo service sent back.
        driver.peer_sends(1, b"more");
        assert_eq!(driver.peer_received(1, 7), b"abcmore");
        let out = wskctl(&driver, "--json list");
        assert!(
            out.stdout
                .contains("\"id\":1,\"kind\":\"tcp\",\"state\":\"connected\",\"service\":\"echo\""),
            "{}",
            out.stdout
        );
        // 3 bytes sent by the user, 4 by the service; 4 received by the service.
        assert!(
            out.stdout
                .contains("\"sent\":7,\"received\":4,\"served\":1,\"active\":1"),
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
            let out = wskctl(&driver, refused);
            assert_eq!(out.code, 1, "{refused}: {}", out.stderr);
            assert!(
                out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
                "{refused}: {}",
                out.stderr
            );
        }
        wskctl(&driver, "tcp listen 127.0.0.1:9100 --service echo --detach");
        wskctl(&driver, "udp bind 127.0.0.1:9200 --detach");
        for other in ["serve 2 --service echo", "serve 3 --service echo"] {
            let out = wskctl(&driver, other);
            assert_eq!(out.code, 1, "{other}: {}", out.stderr);
            assert!(
                out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
                "{other}: {}",
                out.stderr
            );
        }
        let out = wskctl(&driver, "serve 9 --service echo");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_NOT_FOUND"), "{}", out.stderr);
        // `none` is not a service to hand a connection to: a usage error, nothing sent.
        let before = driver.requests().len();
        let out = wskctl(&driver, "serve 1 --service none");
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(driver.requests().len(), before);

        wskctl(&driver, "tcp connect 127.0.0.1:9000 --detach");
        driver.fail_next(IoctlCode::SERVE, wskrs_ntstatus::NtStatus::DEVICE_BUSY);
        let out = wskctl(&driver, "serve 4 --service source");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_DEVICE_BUSY"), "{}", out.stderr);
        let out = wskctl(&driver, "--json serve 4 --service source");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "{\"id\":4,\"service\":\"source\"}\n")
        );
        assert_eq!(wskctl(&driver, "close 1").code, 0);
        assert_eq!(driver.endpoint_ids(), [2, 3, 4]);
    }
}
