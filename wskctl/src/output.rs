//! What `wskctl` prints: the text and JSON forms of each result, and hex helpers.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{DriverInfo, EndpointStatus, OpenedEndpoint, Service, Stats};

use wskrs_client::{Datagram, ListedEndpoint, RawReply};

/// `0.1.0` from (0, 1, 0).
#[must_use]
pub(crate) fn version_text((major, minor, patch): (u16, u16, u16)) -> String {
    format!("{major}.{minor}.{patch}")
}

/// `1.0` from the WSK version `0x0100`, or `None` if unknown (0).
#[must_use]
pub(crate) fn wsk_version_text(info: &DriverInfo) -> Option<String> {
    info.wsk_version_parts()
        .map(|(major, minor)| format!("{major}.{minor}"))
}

/// `wsk-rs driver 0.1.0, protocol 3, WSK provider 1.0, 0 endpoints`.
#[must_use]
pub(crate) fn info_text(info: &DriverInfo) -> String {
    let wsk = wsk_version_text(info).unwrap_or_else(|| "unknown".to_owned());
    let plural = if info.endpoint_count == 1 { "" } else { "s" };
    format!(
        "wsk-rs driver {}, protocol {}, WSK provider {wsk}, {} endpoint{plural}",
        version_text(info.driver_version),
        info.abi_version,
        info.endpoint_count
    )
}

#[derive(Serialize)]
struct InfoJson {
    driver_version: String,
    protocol: u32,
    wsk_version: Option<String>,
    endpoints: u32,
}

/// `{"driver_version":"0.1.0","protocol":2,"wsk_version":"1.0","endpoints":0}`.
#[must_use]
pub(crate) fn info_json(info: &DriverInfo) -> String {
    to_json(&InfoJson {
        driver_version: version_text(info.driver_version),
        protocol: info.abi_version,
        wsk_version: wsk_version_text(info),
        endpoints: info.endpoint_count,
    })
}

fn address_or(address: Option<SocketAddr>, missing: &str) -> String {
    address.map_or_else(|| missing.to_owned(), |address| address.to_string())
}

/// `endpoint 3 connected 127.0.0.1:50000 -> 127.0.0.1:9000` (`?` for an unknown address).
#[must_use]
pub(crate) fn connected_text(endpoint: &OpenedEndpoint) -> String {
    format!(
        "endpoint {} connected {} -> {}",
        endpoint.id,
        address_or(endpoint.local, "?"),
        address_or(endpoint.remote, "?")
    )
}

/// `endpoint 5 accepted 127.0.0.1:9100 <- 127.0.0.1:50000 (listener 4)`: the new
/// connection's local and remote addresses (`?` for an unknown one).
#[must_use]
pub(crate) fn accepted_text(endpoint: &OpenedEndpoint, listener: u64) -> String {
    format!(
        "endpoint {} accepted {} <- {} (listener {listener})",
        endpoint.id,
        address_or(endpoint.local, "?"),
        address_or(endpoint.remote, "?")
    )
}

/// `endpoint 4 listening on 127.0.0.1:9100 (service echo)`; `requested` stands in for an
/// unknown local address.
#[must_use]
pub(crate) fn listening_text(
    endpoint: &OpenedEndpoint,
    requested: SocketAddr,
    service: Service,
) -> String {
    format!(
        "endpoint {} listening on {} (service {service})",
        endpoint.id,
        endpoint.local.unwrap_or(requested)
    )
}

#[derive(Serialize)]
struct EndpointJson<'a> {
    id: u64,
    kind: &'a str,
    local: Option<String>,
    remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    /// The listener an accepted connection came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    listener: Option<u64>,
    detached: bool,
}

/// The JSON object for a new endpoint: `{"id":3,"kind":"tcp","local":...,"remote":...,"detached":false}`
/// (listeners add `"service"`).
#[must_use]
pub(crate) fn endpoint_json(
    endpoint: &OpenedEndpoint,
    service: Option<Service>,
    detached: bool,
) -> String {
    to_json(&EndpointJson {
        id: endpoint.id.0,
        kind: endpoint.kind.name(),
        local: endpoint.local.map(|address| address.to_string()),
        remote: endpoint.remote.map(|address| address.to_string()),
        service: service.map(Service::name),
        listener: None,
        detached,
    })
}

/// The JSON object for an accepted connection: [`endpoint_json`]'s fields and the
/// `"listener"` it came from.
#[must_use]
pub(crate) fn accepted_json(endpoint: &OpenedEndpoint, listener: u64, detached: bool) -> String {
    to_json(&EndpointJson {
        id: endpoint.id.0,
        kind: endpoint.kind.name(),
        local: endpoint.local.map(|address| address.to_string()),
        remote: endpoint.remote.map(|address| address.to_string()),
        service: None,
        listener: Some(listener),
        detached,
    })
}

/// `sent N bytes`.
#[must_use]
pub(crate) fn sent_text(sent: u64) -> String {
    format!("sent {sent} {}", bytes_word(sent))
}

/// `{"id":3,"sent":N}`.
#[must_use]
pub(crate) fn sent_json(id: u64, sent: u64) -> String {
    #[derive(Serialize)]
    struct SentJson {
        id: u64,
        sent: u64,
    }
    to_json(&SentJson { id, sent })
}

/// `received N bytes`, or `peer closed` for an end of stream with no data.
#[must_use]
pub(crate) fn received_text(received: u64, eof: bool) -> String {
    if received == 0 && eof {
        "peer closed".to_owned()
    } else {
        format!("received {received} {}", bytes_word(received))
    }
}

/// `{"id":3,"received":N,"eof":false}`.
#[must_use]
pub(crate) fn received_json(id: u64, received: u64, eof: bool) -> String {
    #[derive(Serialize)]
    struct ReceivedJson {
        id: u64,
        received: u64,
        eof: bool,
    }
    to_json(&ReceivedJson { id, received, eof })
}

fn bytes_word(count: u64) -> &'static str {
    if count == 1 {
        "byte"
    } else {
        "bytes"
    }
}

/// `closed endpoint 3`.
#[must_use]
pub(crate) fn closed_text(id: u64) -> String {
    format!("closed endpoint {id}")
}

/// `{"id":3,"closed":true}`.
#[must_use]
pub(crate) fn closed_json(id: u64) -> String {
    #[derive(Serialize)]
    struct ClosedJson {
        id: u64,
        closed: bool,
    }
    to_json(&ClosedJson { id, closed: true })
}

fn flag_names(entry: &EndpointStatus) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if entry.detached {
        flags.push("detached");
    }
    if entry.owned_by_caller {
        flags.push("owned");
    }
    flags
}

/// The columns of `wskctl list`: ABI v1's, then the activity counters of v2 (how long the
/// endpoint has been open, send/receive operations, failed operations, the last failure).
pub(crate) const LIST_COLUMNS: [&str; 15] = [
    "ID", "KIND", "STATE", "SERVICE", "LOCAL", "REMOTE", "SENT", "RECEIVED", "SERVED", "ACTIVE",
    "FLAGS", "OPEN", "OPS", "ERRORS", "LAST",
];

/// A duration in milliseconds for the OPEN column: `350ms`, `12.5s`, `3m07s`, `2h05m`.
#[must_use]
pub(crate) fn age_text(ms: u64) -> String {
    let seconds = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if seconds < 60 {
        format!("{seconds}.{}s", (ms % 1000) / 100)
    } else if seconds < 3600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60)
    }
}

/// A status by name (`STATUS_CONNECTION_RESET`), or in hex when it has none.
fn status_name(status: NtStatus) -> String {
    status
        .name()
        .map_or_else(|| format!("0x{:08X}", status.as_u32()), ToOwned::to_owned)
}

/// The `wskctl list` table: a header row and one row per endpoint, columns aligned.
#[must_use]
pub(crate) fn list_table(entries: &[ListedEndpoint]) -> String {
    let mut rows: Vec<Vec<String>> =
        vec![LIST_COLUMNS.iter().map(|&title| title.to_owned()).collect()];
    for ListedEndpoint {
        status: entry,
        activity,
    } in entries
    {
        let flags = flag_names(entry);
        rows.push(vec![
            entry.id.to_string(),
            entry.kind.name().to_owned(),
            entry.state.name().to_owned(),
            entry.service.name().to_owned(),
            address_or(entry.local, "-"),
            address_or(entry.remote, "-"),
            entry.bytes_sent.to_string(),
            entry.bytes_received.to_string(),
            entry.connections_served.to_string(),
            entry.connections_active.to_string(),
            if flags.is_empty() {
                "-".to_owned()
            } else {
                flags.join(",")
            },
            age_text(activity.opened_ms),
            format!("{}/{}", activity.send_ops, activity.recv_ops),
            activity.errors.to_string(),
            activity
                .last_status
                .map_or_else(|| "-".to_owned(), status_name),
        ]);
    }
    let mut widths = [0usize; LIST_COLUMNS.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        table.push_str(line.trim_end());
        table.push('\n');
    }
    table
}

#[derive(Serialize)]
struct ListEntryJson<'a> {
    id: u64,
    kind: &'a str,
    state: &'a str,
    service: &'a str,
    local: Option<String>,
    remote: Option<String>,
    sent: u64,
    received: u64,
    served: u64,
    active: u32,
    flags: Vec<&'a str>,
    opened_ms: u64,
    send_ops: u64,
    recv_ops: u64,
    errors: u64,
    last_status: Option<String>,
}

/// The `wskctl list --json` array: one object per endpoint with the table's v1 columns as
/// lowercase fields (`flags` is an array of names), then `opened_ms`, `send_ops`,
/// `recv_ops`, `errors` and `last_status` (the status name, null if nothing failed).
#[must_use]
pub(crate) fn list_json(entries: &[ListedEndpoint]) -> String {
    let rows: Vec<ListEntryJson<'_>> = entries
        .iter()
        .map(
            |ListedEndpoint {
                 status: entry,
                 activity,
             }| ListEntryJson {
                id: entry.id.0,
                kind: entry.kind.name(),
                state: entry.state.name(),
                service: entry.service.name(),
                local: entry.local.map(|address| address.to_string()),
                remote: entry.remote.map(|address| address.to_string()),
                sent: entry.bytes_sent,
                received: entry.bytes_received,
                served: entry.connections_served,
                active: entry.connections_active,
                flags: flag_names(entry),
                opened_ms: activity.opened_ms,
                send_ops: activity.send_ops,
                recv_ops: activity.recv_ops,
                errors: activity.errors,
                last_status: activity.last_status.map(status_name),
            },
        )
        .collect();
    to_json(&rows)
}

/// `endpoint 5 bound to 127.0.0.1:9200 (service echo)`; `requested` stands in for an
/// unknown local address.
#[must_use]
pub(crate) fn bound_text(
    endpoint: &OpenedEndpoint,
    requested: SocketAddr,
    service: Service,
) -> String {
    format!(
        "endpoint {} bound to {} (service {service})",
        endpoint.id,
        endpoint.local.unwrap_or(requested)
    )
}

/// `sent N bytes to ADDR`.
#[must_use]
pub(crate) fn sent_to_text(sent: u64, remote: SocketAddr) -> String {
    format!("sent {sent} {} to {remote}", bytes_word(sent))
}

/// `{"id":5,"sent":N,"to":"ADDR"}`.
#[must_use]
pub(crate) fn sent_to_json(id: u64, sent: u64, remote: SocketAddr) -> String {
    #[derive(Serialize)]
    struct SentToJson {
        id: u64,
        sent: u64,
        to: String,
    }
    to_json(&SentToJson {
        id,
        sent,
        to: remote.to_string(),
    })
}

/// `received N bytes from ADDR` (`from ?` when the sender is unknown).
#[must_use]
pub(crate) fn received_from_text(datagram: &Datagram) -> String {
    let count = datagram.data.len() as u64;
    format!(
        "received {count} {} from {}",
        bytes_word(count),
        address_or(datagram.from, "?")
    )
}

/// `{"id":5,"received":N,"from":"ADDR"}` (`from` null when unknown).
#[must_use]
pub(crate) fn received_from_json(id: u64, datagram: &Datagram) -> String {
    #[derive(Serialize)]
    struct ReceivedFromJson {
        id: u64,
        received: usize,
        from: Option<String>,
    }
    to_json(&ReceivedFromJson {
        id,
        received: datagram.data.len(),
        from: datagram.from.map(|address| address.to_string()),
    })
}

fn disconnect_kind(abortive: bool) -> &'static str {
    if abortive {
        "abortive"
    } else {
        "graceful"
    }
}

/// `disconnected endpoint 3 (graceful)` / `(abortive)`.
#[must_use]
pub(crate) fn disconnected_text(id: u64, abortive: bool) -> String {
    format!("disconnected endpoint {id} ({})", disconnect_kind(abortive))
}

/// `{"id":3,"disconnected":"graceful"}`.
#[must_use]
pub(crate) fn disconnected_json(id: u64, abortive: bool) -> String {
    #[derive(Serialize)]
    struct DisconnectedJson {
        id: u64,
        disconnected: &'static str,
    }
    to_json(&DisconnectedJson {
        id,
        disconnected: disconnect_kind(abortive),
    })
}

/// `endpoint 3 handed to the echo service`.
#[must_use]
pub(crate) fn served_text(id: u64, service: Service) -> String {
    format!("endpoint {id} handed to the {service} service")
}

/// `{"id":3,"service":"echo"}`.
#[must_use]
pub(crate) fn served_json(id: u64, service: Service) -> String {
    #[derive(Serialize)]
    struct ServedJson {
        id: u64,
        service: &'static str,
    }
    to_json(&ServedJson {
        id,
        service: service.name(),
    })
}

/// `keepalive = 1` (the value as the driver returned it).
#[must_use]
pub(crate) fn option_text(name: &str, value: u32) -> String {
    format!("{name} = {value}")
}

/// `{"id":3,"option":"keepalive","value":1}`.
#[must_use]
pub(crate) fn option_json(id: u64, name: &str, value: u32) -> String {
    #[derive(Serialize)]
    struct OptionJson<'a> {
        id: u64,
        option: &'a str,
        value: u32,
    }
    to_json(&OptionJson {
        id,
        option: name,
        value,
    })
}

/// `{"id":4,"sddl":"D:P(A;;GA;;;SY)"}` (`sddl` null when the endpoint has no descriptor).
#[must_use]
pub(crate) fn security_json(id: u64, sddl: Option<&str>) -> String {
    #[derive(Serialize)]
    struct SecurityJson<'a> {
        id: u64,
        sddl: Option<&'a str>,
    }
    to_json(&SecurityJson { id, sddl })
}

/// `{"name":"localhost","addresses":["127.0.0.1:0","[::1]:0"]}`.
#[must_use]
pub(crate) fn resolved_json(name: &str, addresses: &[SocketAddr]) -> String {
    #[derive(Serialize)]
    struct ResolvedJson<'a> {
        name: &'a str,
        addresses: Vec<String>,
    }
    to_json(&ResolvedJson {
        name,
        addresses: addresses.iter().map(ToString::to_string).collect(),
    })
}

/// The `wskctl stats` lines: `name value`, one counter per line, aligned.
#[must_use]
pub(crate) fn stats_text(stats: &Stats) -> String {
    let rows = [
        ("endpoints open", stats.endpoints_open.to_string()),
        ("endpoints peak", stats.endpoints_peak.to_string()),
        ("endpoints opened", stats.endpoints_opened.to_string()),
        ("bytes sent", stats.bytes_sent.to_string()),
        ("bytes received", stats.bytes_received.to_string()),
        ("connections served", stats.connections_served.to_string()),
        ("errors", stats.errors.to_string()),
        ("uptime", age_text(stats.uptime_ms)),
    ];
    let mut text = String::new();
    for (name, value) in rows {
        let _ = writeln!(text, "{name:<20}{value}");
    }
    text.trim_end().to_owned()
}

/// `{"endpoints_open":0,...,"uptime_ms":N}`: every STATS counter under its field name.
#[must_use]
pub(crate) fn stats_json(stats: &Stats) -> String {
    #[derive(Serialize)]
    struct StatsJson {
        endpoints_open: u32,
        endpoints_peak: u32,
        endpoints_opened: u64,
        bytes_sent: u64,
        bytes_received: u64,
        connections_served: u64,
        errors: u64,
        uptime_ms: u64,
    }
    to_json(&StatsJson {
        endpoints_open: stats.endpoints_open,
        endpoints_peak: stats.endpoints_peak,
        endpoints_opened: stats.endpoints_opened,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        connections_served: stats.connections_served,
        errors: stats.errors,
        uptime_ms: stats.uptime_ms,
    })
}

/// `status STATUS_NAME (0x...)` and `output <hex>` lines (no trailing newline).
#[must_use]
pub(crate) fn raw_text(reply: &RawReply) -> String {
    let hex = hex_encode(&reply.output);
    let separator = if hex.is_empty() { "" } else { " " };
    format!("status {:?}\noutput{separator}{hex}", reply.status)
}

/// `{"status":"STATUS_NAME","code":"0x...","output":"<hex>"}` (`status` is null when unknown).
#[must_use]
pub(crate) fn raw_json(reply: &RawReply) -> String {
    #[derive(Serialize)]
    struct RawJson {
        status: Option<&'static str>,
        code: String,
        output: String,
    }
    to_json(&RawJson {
        status: reply.status.name(),
        code: format!("0x{:08X}", reply.status.as_u32()),
        output: hex_encode(&reply.output),
    })
}

/// Lowercase hex, no separators.
#[must_use]
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Bytes from hex digits; whitespace is ignored.
///
/// # Errors
///
/// A message naming the problem: a non-hex character or an odd number of digits.
pub(crate) fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            c.to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .ok_or_else(|| format!("'{c}' is not a hex digit"))
        })
        .collect::<Result<_, _>>()?;
    if digits.len() % 2 != 0 {
        return Err(format!(
            "{} hex digits: need an even number (two per byte)",
            digits.len()
        ));
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| pair.iter().fold(0u8, |acc, &d| (acc << 4) | d))
        .collect())
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing these plain structs cannot fail; an empty object would hide a bug, so
    // the error text is returned instead.
    serde_json::to_string(value).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};
    use wskrs_ntstatus::NtStatus;
    use wskrs_protocol::{EndpointActivity, EndpointId, EndpointKind, EndpointState};

    fn info(wsk_version: u16, endpoint_count: u32) -> DriverInfo {
        DriverInfo {
            driver_version: (0, 1, 0),
            wsk_version,
            abi_version: 2,
            endpoint_count,
        }
    }

    #[test]
    fn info_forms() {
        assert_eq!(
            info_text(&info(0x0100, 0)),
            "wsk-rs driver 0.1.0, protocol 2, WSK provider 1.0, 0 endpoints"
        );
        assert_eq!(
            info_text(&info(0, 1)),
            "wsk-rs driver 0.1.0, protocol 2, WSK provider unknown, 1 endpoint"
        );
        assert_eq!(
            info_json(&info(0x0100, 0)),
            r#"{"driver_version":"0.1.0","protocol":2,"wsk_version":"1.0","endpoints":0}"#
        );
        assert_eq!(
            info_json(&info(0, 2)),
            r#"{"driver_version":"0.1.0","protocol":2,"wsk_version":null,"endpoints":2}"#
        );
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    #[test]
    fn endpoint_forms() {
        let connection = OpenedEndpoint {
            id: EndpointId(3),
            kind: EndpointKind::TcpConnection,
            local: Some(addr(50000)),
            remote: Some(addr(9000)),
        };
        assert_eq!(
            connected_text(&connection),
            "endpoint 3 connected 127.0.0.1:50000 -> 127.0.0.1:9000"
        );
        assert_eq!(
            endpoint_json(&connection, None, false),
            r#"{"id":3,"kind":"tcp","local":"127.0.0.1:50000","remote":"127.0.0.1:9000","detached":false}"#
        );
        let unknown_local = OpenedEndpoint {
            local: None,
            ..connection
        };
        assert_eq!(
            connected_text(&unknown_local),
            "endpoint 3 connected ? -> 127.0.0.1:9000"
        );
        let listener = OpenedEndpoint {
            id: EndpointId(4),
            kind: EndpointKind::TcpListener,
            local: Some(addr(9100)),
            remote: None,
        };
        assert_eq!(
            listening_text(&listener, addr(1), Service::Echo),
            "endpoint 4 listening on 127.0.0.1:9100 (service echo)"
        );
        assert_eq!(
            listening_text(
                &OpenedEndpoint {
                    local: None,
                    ..listener
                },
                addr(9100),
                Service::Echo
            ),
            "endpoint 4 listening on 127.0.0.1:9100 (service echo)"
        );
        assert_eq!(
            endpoint_json(&listener, Some(Service::Echo), true),
            r#"{"id":4,"kind":"tcp-listener","local":"127.0.0.1:9100","remote":null,"service":"echo","detached":true}"#
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(sent_text(5), "sent 5 bytes");
        assert_eq!(sent_text(1), "sent 1 byte");
        assert_eq!(received_text(0, true), "peer closed");
        assert_eq!(received_text(0, false), "received 0 bytes");
        assert_eq!(received_text(7, true), "received 7 bytes");
        assert_eq!(closed_text(3), "closed endpoint 3");
        assert_eq!(sent_json(3, 5), r#"{"id":3,"sent":5}"#);
        assert_eq!(
            received_json(3, 5, false),
            r#"{"id":3,"received":5,"eof":false}"#
        );
        assert_eq!(closed_json(3), r#"{"id":3,"closed":true}"#);
    }

    fn entry(id: u64, detached: bool) -> ListedEndpoint {
        let status = EndpointStatus {
            id: EndpointId(id),
            kind: EndpointKind::TcpListener,
            state: EndpointState::Listening,
            service: Service::Echo,
            detached,
            owned_by_caller: false,
            local: Some(addr(9100)),
            remote: None,
            bytes_sent: 10,
            bytes_received: 12,
            connections_served: 2,
            connections_active: 1,
        };
        let activity = EndpointActivity {
            opened_ms: 61_500,
            send_ops: 3,
            recv_ops: 4,
            errors: u64::from(!detached),
            last_status: (!detached).then_some(NtStatus::CONNECTION_RESET),
        };
        ListedEndpoint { status, activity }
    }

    #[test]
    fn list_forms() {
        let table = list_table(&[entry(4, true), entry(12, false)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            LIST_COLUMNS.to_vec()
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "4",
                "tcp-listener",
                "listening",
                "echo",
                "127.0.0.1:9100",
                "-",
                "10",
                "12",
                "2",
                "1",
                "detached",
                "1m01s",
                "3/4",
                "0",
                "-"
            ]
        );
        assert!(lines[2].ends_with("STATUS_CONNECTION_RESET"));
        // Columns line up: KIND starts at the same offset in every row.
        let kind_at: Vec<usize> = lines
            .iter()
            .map(|line| {
                line.find(|c: char| c.is_ascii_alphabetic() && c != 'I' && c != 'D')
                    .unwrap_or(0)
            })
            .collect();
        assert!(kind_at.windows(2).all(|pair| pair[0] == pair[1]), "{table}");
        assert_eq!(list_table(&[]).lines().count(), 1);
        assert_eq!(
            list_json(&[entry(4, true)]),
            r#"[{"id":4,"kind":"tcp-listener","state":"listening","service":"echo","local":"127.0.0.1:9100","remote":null,"sent":10,"received":12,"served":2,"active":1,"flags":["detached"],"opened_ms":61500,"send_ops":3,"recv_ops":4,"errors":0,"last_status":null}]"#
        );
        assert_eq!(list_json(&[]), "[]");
        assert!(list_json(&[entry(5, false)])
            .contains(r#""errors":1,"last_status":"STATUS_CONNECTION_RESET""#));
    }

    #[test]
    fn ages() {
        assert_eq!(age_text(0), "0ms");
        assert_eq!(age_text(999), "999ms");
        assert_eq!(age_text(1000), "1.0s");
        assert_eq!(age_text(12_345), "12.3s");
        assert_eq!(age_text(59_999), "59.9s");
        assert_eq!(age_text(60_000), "1m00s");
        assert_eq!(age_text(3_599_999), "59m59s");
        assert_eq!(age_text(3_600_000), "1h00m");
        assert_eq!(age_text(90_061_000), "25h01m");
    }

    #[test]
    fn v2_forms() {
        let datagram = Datagram {
            data: b"ping".to_vec(),
            from: Some(addr(7)),
        };
        assert_eq!(
            received_from_text(&datagram),
            "received 4 bytes from 127.0.0.1:7"
        );
        assert_eq!(
            received_from_json(
                5,
                &Datagram {
                    from: None,
                    ..datagram
                }
            ),
            r#"{"id":5,"received":4,"from":null}"#
        );
        assert_eq!(sent_to_text(1, addr(7)), "sent 1 byte to 127.0.0.1:7");
        assert_eq!(
            sent_to_json(5, 4, addr(7)),
            r#"{"id":5,"sent":4,"to":"127.0.0.1:7"}"#
        );
        assert_eq!(
            disconnected_text(3, true),
            "disconnected endpoint 3 (abortive)"
        );
        assert_eq!(option_text("rcvbuf", 8192), "rcvbuf = 8192");
        assert_eq!(
            resolved_json("x", &[addr(80)]),
            r#"{"name":"x","addresses":["127.0.0.1:80"]}"#
        );
        let stats = Stats {
            endpoints_open: 1,
            endpoints_peak: 2,
            endpoints_opened: 3,
            bytes_sent: 4,
            bytes_received: 5,
            connections_served: 6,
            errors: 7,
            uptime_ms: 8000,
        };
        assert_eq!(
            stats_json(&stats),
            r#"{"endpoints_open":1,"endpoints_peak":2,"endpoints_opened":3,"bytes_sent":4,"bytes_received":5,"connections_served":6,"errors":7,"uptime_ms":8000}"#
        );
        assert!(stats_text(&stats).ends_with("uptime              8.0s"));
        assert_eq!(status_name(NtStatus::from_u32(0xC0DE_0001)), "0xC0DE0001");
    }

    #[test]
    fn raw_forms() {
        let reply = RawReply {
            status: NtStatus::INVALID_DEVICE_REQUEST,
            output: vec![],
        };
        assert_eq!(
            raw_text(&reply),
            "status STATUS_INVALID_DEVICE_REQUEST (0xC0000010)\noutput"
        );
        let reply = RawReply {
            status: NtStatus::SUCCESS,
            output: vec![1, 0, 0xAB],
        };
        assert_eq!(
            raw_text(&reply),
            "status STATUS_SUCCESS (0x00000000)\noutput 0100ab"
        );
        assert_eq!(
            raw_json(&reply),
            r#"{"status":"STATUS_SUCCESS","code":"0x00000000","output":"0100ab"}"#
        );
        let unknown = RawReply {
            status: NtStatus::from_u32(0xC0DE_0001),
            output: vec![],
        };
        assert_eq!(raw_text(&unknown), "status NTSTATUS 0xC0DE0001\noutput");
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_decode("01 00 0a FF"), Ok(vec![1, 0, 10, 255]));
        assert_eq!(hex_decode(""), Ok(vec![]));
        assert_eq!(hex_encode(&[0, 0x7f, 0xff]), "007fff");
        assert!(hex_decode("abc").unwrap_err().contains("even"));
        assert!(hex_decode("0g").unwrap_err().contains("'g'"));
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&all)), Ok(all));
    }
}
