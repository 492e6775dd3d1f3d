//! What `wskctl` prints: each command's result is one value (a [`Reply`]) that renders as
//! text or, with `--json`, as its JSON; [`Format`] is the one place that chooses. Also the
//! hex helpers and the text of versions and ages that the self-test report shares.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    DriverInfo, DriverParameter, EndpointStatus, Held, OpenedEndpoint, Service, Stats,
};

use wskrs_client::{Datagram, ListedEndpoint, RawReply, ServiceState};

/// A command's result: its JSON is the `Serialize` form, its text [`Reply::text`].
pub(crate) trait Reply: Serialize {
    /// The text form, without a trailing newline (empty: nothing is printed).
    fn text(&self) -> String;

    /// Whether the text form is a remark for standard error rather than a result (the
    /// JSON form always is the result).
    fn text_is_remark(&self) -> bool {
        false
    }
}

/// How results are printed: text, or JSON with `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// One JSON value per result (`--json`).
    Json,
}

impl Format {
    /// [`Format::Json`] when `--json` was given.
    #[must_use]
    pub(crate) const fn from_json_flag(json: bool) -> Self {
        if json {
            Self::Json
        } else {
            Self::Text
        }
    }

    /// `reply` in this format.
    #[must_use]
    pub(crate) fn render(self, reply: &impl Reply) -> String {
        match self {
            Self::Text => reply.text(),
            Self::Json => to_json(reply),
        }
    }

    /// Whether `reply` in this format is a remark (see [`Reply::text_is_remark`]).
    #[must_use]
    pub(crate) fn is_remark(self, reply: &impl Reply) -> bool {
        self == Self::Text && reply.text_is_remark()
    }
}

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

fn address_or(address: Option<&str>, missing: &str) -> String {
    address.unwrap_or(missing).to_owned()
}

fn address_string(address: Option<SocketAddr>) -> Option<String> {
    address.map(|address| address.to_string())
}

fn bytes_word(count: u64) -> &'static str {
    if count == 1 {
        "byte"
    } else {
        "bytes"
    }
}

/// `wskctl info`: `wsk-rs driver 0.1.0, protocol 7, WSK provider 1.0, 0 endpoints`;
/// `{"driver_version":"0.1.0","protocol":4,"wsk_version":"1.0","endpoints":0}`.
#[derive(Debug, Serialize)]
pub(crate) struct Info {
    driver_version: String,
    protocol: u32,
    wsk_version: Option<String>,
    endpoints: u32,
}

impl From<&DriverInfo> for Info {
    fn from(info: &DriverInfo) -> Self {
        Self {
            driver_version: version_text(info.driver_version),
            protocol: info.abi_version,
            wsk_version: wsk_version_text(info),
            endpoints: info.endpoint_count,
        }
    }
}

impl Reply for Info {
    fn text(&self) -> String {
        let plural = if self.endpoints == 1 { "" } else { "s" };
        format!(
            "wsk-rs driver {}, protocol {}, WSK provider {}, {} endpoint{plural}",
            self.driver_version,
            self.protocol,
            self.wsk_version.as_deref().unwrap_or("unknown"),
            self.endpoints
        )
    }
}

/// How a new endpoint came to be, for its text form.
#[derive(Debug)]
enum Opening {
    /// `tcp connect`.
    Connected,
    /// `tcp accept` (the listener is in the JSON).
    Accepted,
    /// `tcp listen`, with the address shown.
    Listening(SocketAddr),
    /// `udp bind`, with the address shown.
    Bound(SocketAddr),
}

/// A new endpoint. Text: `endpoint 3 connected 127.0.0.1:50000 -> 127.0.0.1:9000`,
/// `endpoint 5 accepted 127.0.0.1:9100 <- 127.0.0.1:50000 (listener 4)`, `endpoint 4
/// listening on 127.0.0.1:9100 (service echo)`, `endpoint 5 bound to 127.0.0.1:9200
/// (service echo)` (`?` for an unknown address). JSON:
/// `{"id":3,"kind":"tcp","local":...,"remote":...,"detached":false}`, with `"service"` for
/// listeners and UDP sockets, `"listener"` for accepted connections.
#[derive(Debug, Serialize)]
pub(crate) struct Opened {
    id: u64,
    kind: &'static str,
    local: Option<String>,
    remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'static str>,
    /// The listener an accepted connection came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    listener: Option<u64>,
    detached: bool,
    #[serde(skip)]
    opening: Opening,
}

impl Opened {
    fn new(endpoint: &OpenedEndpoint, detached: bool, opening: Opening) -> Self {
        Self {
            id: endpoint.id.0,
            kind: endpoint.kind.name(),
            local: address_string(endpoint.local),
            remote: address_string(endpoint.remote),
            service: None,
            listener: None,
            detached,
            opening,
        }
    }

    /// A connection made by `tcp connect`.
    #[must_use]
    pub(crate) fn connected(endpoint: &OpenedEndpoint, detached: bool) -> Self {
        Self::new(endpoint, detached, Opening::Connected)
    }

    /// A connection taken from `listener` by `tcp accept`.
    #[must_use]
    pub(crate) fn accepted(endpoint: &OpenedEndpoint, listener: u64, detached: bool) -> Self {
        Self {
            listener: Some(listener),
            ..Self::new(endpoint, detached, Opening::Accepted)
        }
    }

    /// A listener running `service`; `requested` stands in for an unknown local address.
    #[must_use]
    pub(crate) fn listening(
        endpoint: &OpenedEndpoint,
        requested: SocketAddr,
        service: Service,
        detached: bool,
    ) -> Self {
        let shown = endpoint.local.unwrap_or(requested);
        Self {
            service: Some(service.name()),
            ..Self::new(endpoint, detached, Opening::Listening(shown))
        }
    }

    /// A UDP socket running `service`; `requested` stands in for an unknown local address.
    #[must_use]
    pub(crate) fn bound(
        endpoint: &OpenedEndpoint,
        requested: SocketAddr,
        service: Service,
        detached: bool,
    ) -> Self {
        let shown = endpoint.local.unwrap_or(requested);
        Self {
            service: Some(service.name()),
            ..Self::new(endpoint, detached, Opening::Bound(shown))
        }
    }
}

impl Reply for Opened {
    fn text(&self) -> String {
        let (id, local, remote) = (
            self.id,
            address_or(self.local.as_deref(), "?"),
            address_or(self.remote.as_deref(), "?"),
        );
        let service = self.service.unwrap_or("none");
        match (&self.opening, self.listener) {
            (Opening::Connected, _) => format!("endpoint {id} connected {local} -> {remote}"),
            (Opening::Accepted, listener) => format!(
                "endpoint {id} accepted {local} <- {remote} (listener {})",
                listener.unwrap_or_default()
            ),
            (Opening::Listening(shown), _) => {
                format!("endpoint {id} listening on {shown} (service {service})")
            }
            (Opening::Bound(shown), _) => {
                format!("endpoint {id} bound to {shown} (service {service})")
            }
        }
    }
}

/// `sent N bytes`; `{"id":3,"sent":N}`.
#[derive(Debug, Serialize)]
pub(crate) struct Sent {
    id: u64,
    sent: u64,
}

impl Sent {
    /// `sent` bytes went out on endpoint `id`.
    #[must_use]
    pub(crate) const fn new(id: u64, sent: u64) -> Self {
        Self { id, sent }
    }
}

impl Reply for Sent {
    fn text(&self) -> String {
        format!("sent {} {}", self.sent, bytes_word(self.sent))
    }
}

/// `received N bytes`, or `peer closed` for an end of stream with no data;
/// `{"id":3,"received":N,"eof":false}`.
#[derive(Debug, Serialize)]
pub(crate) struct Received {
    id: u64,
    #[serde(rename = "received")]
    bytes: u64,
    eof: bool,
}

impl Received {
    /// `bytes` arrived on endpoint `id`; `eof`: the peer closed.
    #[must_use]
    pub(crate) const fn new(id: u64, bytes: u64, eof: bool) -> Self {
        Self { id, bytes, eof }
    }
}

impl Reply for Received {
    fn text(&self) -> String {
        if self.bytes == 0 && self.eof {
            "peer closed".to_owned()
        } else {
            format!("received {} {}", self.bytes, bytes_word(self.bytes))
        }
    }
}

/// `sent N bytes, received M bytes` (`..., peer closed` for an end of stream);
/// `{"id":3,"sent":N,"received":M,"eof":false}`.
#[derive(Debug, Serialize)]
pub(crate) struct Transacted {
    id: u64,
    sent: u64,
    received: u64,
    eof: bool,
}

impl Transacted {
    /// A TRANSACT on endpoint `id` sent `sent` bytes and got a reply of `received` (0: the
    /// peer closed).
    #[must_use]
    pub(crate) const fn new(id: u64, sent: u64, received: u64) -> Self {
        Self {
            id,
            sent,
            received,
            eof: received == 0,
        }
    }
}

impl Reply for Transacted {
    fn text(&self) -> String {
        let sent = format!("sent {} {}", self.sent, bytes_word(self.sent));
        if self.eof {
            format!("{sent}, peer closed")
        } else {
            format!(
                "{sent}, received {} {}",
                self.received,
                bytes_word(self.received)
            )
        }
    }
}

/// `closed endpoint 3`; `{"id":3,"closed":true}`.
#[derive(Debug, Serialize)]
pub(crate) struct Closed {
    id: u64,
    closed: bool,
}

impl Closed {
    /// Endpoint `id` was closed.
    #[must_use]
    pub(crate) const fn new(id: u64) -> Self {
        Self { id, closed: true }
    }
}

impl Reply for Closed {
    fn text(&self) -> String {
        format!("closed endpoint {}", self.id)
    }
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

/// The columns of `wskctl list`: identity, state and byte counters, then the activity
/// counters (how long the endpoint has been open, send/receive operations, failed
/// operations, the last failure).
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
pub(crate) fn status_name(status: NtStatus) -> String {
    status
        .name()
        .map_or_else(|| format!("0x{:08X}", status.as_u32()), ToOwned::to_owned)
}

/// One row of `wskctl list`.
#[derive(Debug, Serialize)]
struct ListRow {
    id: u64,
    kind: &'static str,
    state: &'static str,
    service: &'static str,
    local: Option<String>,
    remote: Option<String>,
    sent: u64,
    received: u64,
    served: u64,
    active: u32,
    flags: Vec<&'static str>,
    opened_ms: u64,
    send_ops: u64,
    recv_ops: u64,
    errors: u64,
    last_status: Option<String>,
}

impl ListRow {
    fn cells(&self) -> [String; LIST_COLUMNS.len()] {
        [
            self.id.to_string(),
            self.kind.to_owned(),
            self.state.to_owned(),
            self.service.to_owned(),
            address_or(self.local.as_deref(), "-"),
            address_or(self.remote.as_deref(), "-"),
            self.sent.to_string(),
            self.received.to_string(),
            self.served.to_string(),
            self.active.to_string(),
            if self.flags.is_empty() {
                "-".to_owned()
            } else {
                self.flags.join(",")
            },
            age_text(self.opened_ms),
            format!("{}/{}", self.send_ops, self.recv_ops),
            self.errors.to_string(),
            address_or(self.last_status.as_deref(), "-"),
        ]
    }
}

/// `wskctl list`: a table with a header row and one row per endpoint, columns aligned;
/// the JSON array has one object per endpoint with the columns as lowercase fields
/// (`flags` an array of names, `opened_ms`, `send_ops`, `recv_ops`, `errors`, and
/// `last_status`: the status name, null if nothing failed).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct EndpointList(Vec<ListRow>);

impl From<&[ListedEndpoint]> for EndpointList {
    fn from(entries: &[ListedEndpoint]) -> Self {
        Self(
            entries
                .iter()
                .map(
                    |ListedEndpoint {
                         status: entry,
                         activity,
                     }| ListRow {
                        id: entry.id.0,
                        kind: entry.kind.name(),
                        state: entry.state.name(),
                        service: entry.service.name(),
                        local: address_string(entry.local),
                        remote: address_string(entry.remote),
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
                .collect(),
        )
    }
}

impl Reply for EndpointList {
    fn text(&self) -> String {
        let rows: Vec<[String; LIST_COLUMNS.len()]> =
            std::iter::once(LIST_COLUMNS.map(ToOwned::to_owned))
                .chain(self.0.iter().map(ListRow::cells))
                .collect();
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
        table.trim_end().to_owned()
    }
}

/// `sent N bytes to ADDR`; `{"id":5,"sent":N,"to":"ADDR"}`.
#[derive(Debug, Serialize)]
pub(crate) struct SentTo {
    id: u64,
    sent: u64,
    to: String,
}

impl SentTo {
    /// A datagram of `sent` bytes went from endpoint `id` to `remote`.
    #[must_use]
    pub(crate) fn new(id: u64, sent: u64, remote: SocketAddr) -> Self {
        Self {
            id,
            sent,
            to: remote.to_string(),
        }
    }
}

impl Reply for SentTo {
    fn text(&self) -> String {
        format!(
            "sent {} {} to {}",
            self.sent,
            bytes_word(self.sent),
            self.to
        )
    }
}

/// `received N bytes from ADDR` (`from ?` when the sender is unknown);
/// `{"id":5,"received":N,"from":"ADDR"}` (`from` null when unknown).
#[derive(Debug, Serialize)]
pub(crate) struct ReceivedFrom {
    id: u64,
    received: u64,
    from: Option<String>,
}

impl ReceivedFrom {
    /// `datagram` arrived on endpoint `id`.
    #[must_use]
    pub(crate) fn new(id: u64, datagram: &Datagram) -> Self {
        Self {
            id,
            received: datagram.data.len() as u64,
            from: address_string(datagram.from),
        }
    }
}

impl Reply for ReceivedFrom {
    fn text(&self) -> String {
        format!(
            "received {} {} from {}",
            self.received,
            bytes_word(self.received),
            address_or(self.from.as_deref(), "?")
        )
    }
}

/// `disconnected endpoint 3 (graceful)` / `(abortive)`; `{"id":3,"disconnected":"graceful"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Disconnected {
    id: u64,
    disconnected: &'static str,
}

impl Disconnected {
    /// Endpoint `id` was shut down, reset when `abortive`.
    #[must_use]
    pub(crate) const fn new(id: u64, abortive: bool) -> Self {
        Self {
            id,
            disconnected: if abortive { "abortive" } else { "graceful" },
        }
    }
}

impl Reply for Disconnected {
    fn text(&self) -> String {
        format!("disconnected endpoint {} ({})", self.id, self.disconnected)
    }
}

/// `endpoint 3 handed to the echo service`; `{"id":3,"service":"echo"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Served {
    id: u64,
    service: &'static str,
}

impl Served {
    /// Endpoint `id` was handed to `service`.
    #[must_use]
    pub(crate) const fn new(id: u64, service: Service) -> Self {
        Self {
            id,
            service: service.name(),
        }
    }
}

impl Reply for Served {
    fn text(&self) -> String {
        format!(
            "endpoint {} handed to the {} service",
            self.id, self.service
        )
    }
}

/// `keepalive = 1` (the value as the driver returned it);
/// `{"id":3,"option":"keepalive","value":1}`.
#[derive(Debug, Serialize)]
pub(crate) struct OptionValue {
    id: u64,
    option: &'static str,
    value: u32,
}

impl OptionValue {
    /// Option `option` of endpoint `id` is `value`.
    #[must_use]
    pub(crate) const fn new(id: u64, option: &'static str, value: u32) -> Self {
        Self { id, option, value }
    }
}

impl Reply for OptionValue {
    fn text(&self) -> String {
        format!("{} = {}", self.option, self.value)
    }
}

/// The SDDL of an endpoint's security descriptor, or the remark `endpoint 4 has no
/// security descriptor`; `{"id":4,"sddl":"D:P(A;;GA;;;SY)"}` (`sddl` null when none).
#[derive(Debug, Serialize)]
pub(crate) struct Security {
    id: u64,
    sddl: Option<String>,
}

impl Security {
    /// Endpoint `id` has the descriptor `sddl`, if any.
    #[must_use]
    pub(crate) const fn new(id: u64, sddl: Option<String>) -> Self {
        Self { id, sddl }
    }
}

impl Reply for Security {
    fn text(&self) -> String {
        match &self.sddl {
            Some(sddl) => sddl.clone(),
            None => format!("endpoint {} has no security descriptor", self.id),
        }
    }

    fn text_is_remark(&self) -> bool {
        self.sddl.is_none()
    }
}

/// `wskctl security device`: the device's DACL as the kernel holds it, and whether it is the
/// documented one (`D:P(A;;GA;;;SY)(A;;GA;;;BA)`, or the same with generic rights mapped).
#[derive(Debug, Serialize)]
pub(crate) struct DeviceSecurity {
    device: &'static str,
    sddl: String,
    admin_only: bool,
}

impl DeviceSecurity {
    /// The device's DACL read back as `sddl`.
    #[must_use]
    pub(crate) fn new(sddl: String) -> Self {
        Self {
            device: wskrs_protocol::DEVICE_NAME,
            admin_only: wskrs_protocol::is_device_sddl(&sddl),
            sddl,
        }
    }
}

impl Reply for DeviceSecurity {
    fn text(&self) -> String {
        self.sddl.clone()
    }
}

/// `wskctl secure query`: `endpoint 3: protocol ipsec, not secured, not encrypted`;
/// `{"id":3,"peer":null,"protocol":"ipsec","protocol_value":1,"flags":0,"secured":false,
/// "encrypted":false}` (`protocol` null for a value this wskctl does not know).
#[derive(Debug, Serialize)]
pub(crate) struct SecurityQueried {
    id: u64,
    peer: Option<String>,
    protocol: Option<&'static str>,
    protocol_value: u32,
    flags: u32,
    secured: bool,
    encrypted: bool,
}

impl SecurityQueried {
    /// What `QUERY_SECURITY` reported for endpoint `id` (and `peer`).
    #[must_use]
    pub(crate) fn new(
        id: u64,
        peer: Option<SocketAddr>,
        query: &wskrs_protocol::SecurityQuery,
    ) -> Self {
        Self {
            id,
            peer: peer.map(|p| p.to_string()),
            protocol: query
                .protocol
                .ok()
                .map(wskrs_protocol::SecureProtocol::name),
            protocol_value: query
                .protocol
                .map_or_else(|raw| raw, wskrs_protocol::SecureProtocol::as_u32),
            flags: query.flags,
            secured: query.is_secured(),
            encrypted: query.is_encrypted(),
        }
    }
}

impl Reply for SecurityQueried {
    fn text(&self) -> String {
        let peer = self
            .peer
            .as_ref()
            .map_or_else(String::new, |p| format!(" with {p}"));
        let protocol = self
            .protocol
            .map_or_else(|| format!("{}", self.protocol_value), str::to_owned);
        let not = |set: bool| if set { "" } else { "not " };
        format!(
            "endpoint {}{peer}: protocol {protocol}, {}secured, {}encrypted",
            self.id,
            not(self.secured),
            not(self.encrypted)
        )
    }
}

/// `wskctl secure set-peer-name` / `delete-peer-name`: `endpoint 5: peer ADDR named NAME` /
/// `endpoint 5: peer ADDR has no name now`; `{"id":5,"peer":"ADDR","name":"NAME"}` (`name`
/// null after a delete).
#[derive(Debug, Serialize)]
pub(crate) struct PeerTargetName {
    id: u64,
    peer: String,
    name: Option<String>,
}

impl PeerTargetName {
    /// `peer` of endpoint `id` is named `name`.
    #[must_use]
    pub(crate) fn set(id: u64, peer: SocketAddr, name: &str) -> Self {
        Self {
            id,
            peer: peer.to_string(),
            name: Some(name.to_owned()),
        }
    }

    /// `peer` of endpoint `id` has no name any more.
    #[must_use]
    pub(crate) fn deleted(id: u64, peer: SocketAddr) -> Self {
        Self {
            id,
            peer: peer.to_string(),
            name: None,
        }
    }
}

impl Reply for PeerTargetName {
    fn text(&self) -> String {
        match &self.name {
            Some(name) => format!("endpoint {}: peer {} named {name}", self.id, self.peer),
            None => format!("endpoint {}: peer {} has no name now", self.id, self.peer),
        }
    }
}

/// One address per line; `{"name":"localhost","addresses":["127.0.0.1:0","[::1]:0"]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Resolved {
    name: String,
    addresses: Vec<String>,
}

impl Resolved {
    /// `name` resolved to `addresses`.
    #[must_use]
    pub(crate) fn new(name: &str, addresses: &[SocketAddr]) -> Self {
        Self {
            name: name.to_owned(),
            addresses: addresses.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Reply for Resolved {
    fn text(&self) -> String {
        self.addresses.join("\n")
    }
}

/// `wskctl stats`: `name value`, one counter per line, aligned;
/// `{"endpoints_open":0,...,"uptime_ms":N,"connections_refused":N,"limits":{...},"held":{...}}`:
/// every STATS counter under its field name, the driver's limits, then what the WSK library
/// holds (HELD; `null` from a driver without it).
#[derive(Debug, Serialize)]
pub(crate) struct DriverStats {
    endpoints_open: u32,
    endpoints_peak: u32,
    endpoints_opened: u64,
    bytes_sent: u64,
    bytes_received: u64,
    connections_served: u64,
    errors: u64,
    uptime_ms: u64,
    connections_refused: u64,
    limits: DriverLimits,
    held: Option<DriverHeld>,
}

/// The driver's limits inside [`DriverStats`] (its registry parameters as it applied them).
#[derive(Debug, Serialize)]
pub(crate) struct DriverLimits {
    max_endpoints: u32,
    max_connections_per_listener: u32,
    quota_endpoints: u32,
    quota_pended: u32,
    quota_locked_bytes: u64,
}

/// The HELD counters inside [`DriverStats`].
#[derive(Debug, Serialize)]
pub(crate) struct DriverHeld {
    pool_allocations: u64,
    pool_bytes: u64,
    irps: u64,
    mdls: u64,
    sockets: u64,
    work_items: u64,
}

impl DriverStats {
    /// Adds what the WSK library holds.
    pub(crate) fn with_held(mut self, held: Option<&Held>) -> Self {
        self.held = held.map(|h| DriverHeld {
            pool_allocations: h.pool_allocations,
            pool_bytes: h.pool_bytes,
            irps: h.irps,
            mdls: h.mdls,
            sockets: h.sockets,
            work_items: h.work_items,
        });
        self
    }
}

impl From<&Stats> for DriverStats {
    fn from(stats: &Stats) -> Self {
        Self {
            endpoints_open: stats.endpoints_open,
            endpoints_peak: stats.endpoints_peak,
            endpoints_opened: stats.endpoints_opened,
            bytes_sent: stats.bytes_sent,
            bytes_received: stats.bytes_received,
            connections_served: stats.connections_served,
            errors: stats.errors,
            uptime_ms: stats.uptime_ms,
            connections_refused: stats.connections_refused,
            limits: DriverLimits {
                max_endpoints: stats.max_endpoints,
                max_connections_per_listener: stats.max_connections_per_listener,
                quota_endpoints: stats.quota_endpoints,
                quota_pended: stats.quota_pended,
                quota_locked_bytes: stats.quota_locked_bytes,
            },
            held: None,
        }
    }
}

impl Reply for DriverStats {
    fn text(&self) -> String {
        let mut rows = vec![
            ("endpoints open", self.endpoints_open.to_string()),
            ("endpoints peak", self.endpoints_peak.to_string()),
            ("endpoints opened", self.endpoints_opened.to_string()),
            ("bytes sent", self.bytes_sent.to_string()),
            ("bytes received", self.bytes_received.to_string()),
            ("connections served", self.connections_served.to_string()),
            ("errors", self.errors.to_string()),
            ("connections refused", self.connections_refused.to_string()),
            ("uptime", age_text(self.uptime_ms)),
            ("max endpoints", self.limits.max_endpoints.to_string()),
            (
                "max conns/listener",
                self.limits.max_connections_per_listener.to_string(),
            ),
            ("quota endpoints", self.limits.quota_endpoints.to_string()),
            ("quota pended", self.limits.quota_pended.to_string()),
            (
                "quota locked bytes",
                self.limits.quota_locked_bytes.to_string(),
            ),
        ];
        if let Some(held) = &self.held {
            rows.extend([
                ("pool allocations", held.pool_allocations.to_string()),
                ("pool bytes", held.pool_bytes.to_string()),
                ("IRPs", held.irps.to_string()),
                ("MDLs", held.mdls.to_string()),
                ("provider sockets", held.sockets.to_string()),
                ("work items", held.work_items.to_string()),
            ]);
        }
        let mut text = String::new();
        for (name, value) in rows {
            let _ = writeln!(text, "{name:<20}{value}");
        }
        text.trim_end().to_owned()
    }
}

/// `wskctl raw`: `status STATUS_NAME (0x...)` and `output <hex>` lines;
/// `{"status":"STATUS_NAME","code":"0x...","output":"<hex>"}` (`status` null when unknown).
#[derive(Debug, Serialize)]
pub(crate) struct RawResult {
    status: Option<&'static str>,
    code: String,
    output: String,
    /// The status as `NtStatus`'s `Debug` prints it (name and code, or the code alone).
    #[serde(skip)]
    status_text: String,
}

impl From<&RawReply> for RawResult {
    fn from(reply: &RawReply) -> Self {
        Self {
            status: reply.status.name(),
            code: format!("0x{:08X}", reply.status.as_u32()),
            output: hex_encode(&reply.output),
            status_text: format!("{:?}", reply.status),
        }
    }
}

impl Reply for RawResult {
    fn text(&self) -> String {
        let separator = if self.output.is_empty() { "" } else { " " };
        format!(
            "status {}\noutput{separator}{}",
            self.status_text, self.output
        )
    }
}

/// `wskctl driver status`: `service WskRs: running`; `{"name":"WskRs","state":"running"}`.
#[derive(Debug, Serialize)]
pub(crate) struct ServiceStatus {
    name: String,
    state: &'static str,
    /// The state as text (an unknown state with its value).
    #[serde(skip)]
    state_text: String,
}

impl ServiceStatus {
    /// Service `name` is in `state`.
    #[must_use]
    pub(crate) fn new(name: &str, state: ServiceState) -> Self {
        Self {
            name: name.to_owned(),
            state: state.name(),
            state_text: state.to_string(),
        }
    }
}

impl Reply for ServiceStatus {
    fn text(&self) -> String {
        format!("service {}: {}", self.name, self.state_text)
    }
}

/// `wskctl driver parameters`: one line per parameter (name, value set or `-`, value the
/// driver applies at its next load, range, meaning);
/// `{"service":"WskRs","parameters":[{"name":"MaxEndpoints","set":null,"applied":4096,"default":4096,"min":16,"max":65536},...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct DriverParameters {
    service: String,
    parameters: Vec<ParameterValue>,
}

/// One parameter inside [`DriverParameters`].
#[derive(Debug, Serialize)]
pub(crate) struct ParameterValue {
    name: &'static str,
    set: Option<u32>,
    applied: u32,
    default: u32,
    min: u32,
    max: u32,
    #[serde(skip)]
    meaning: &'static str,
}

impl DriverParameters {
    /// Service `service`'s parameters: each with the value set in the registry, if any.
    pub(crate) fn new(
        service: &str,
        values: impl IntoIterator<Item = (&'static DriverParameter, Option<u32>)>,
    ) -> Self {
        Self {
            service: service.to_owned(),
            parameters: values
                .into_iter()
                .map(|(p, set)| ParameterValue {
                    name: p.name,
                    set,
                    applied: p.applied(set),
                    default: p.default,
                    min: p.min,
                    max: p.max,
                    meaning: p.meaning,
                })
                .collect(),
        }
    }
}

impl Reply for DriverParameters {
    fn text(&self) -> String {
        let mut text = format!(
            "service {} (read when the driver loads):\n{:<27}{:>10}{:>10}  {:<15}meaning\n",
            self.service, "parameter", "set", "applied", "range"
        );
        for p in &self.parameters {
            let set = p.set.map_or_else(|| "-".to_owned(), |v| v.to_string());
            let range = format!("{}..{}", p.min, p.max);
            let _ = writeln!(
                text,
                "{:<27}{set:>10}{:>10}  {range:<15}{}",
                p.name, p.applied, p.meaning
            );
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// `wskctl stream-send`: `sent N bytes to ADDR in S s (R MiB/s), sha256 H`;
/// `{"id":3,"remote":"ADDR","seconds":S,"sent":N,"sha256":"H"}` (seconds rounded to ms).
#[derive(Debug, Serialize)]
pub(crate) struct StreamSent {
    id: u64,
    remote: String,
    seconds: f64,
    sent: u64,
    sha256: String,
    /// The time taken, unrounded, for the text's rate.
    #[serde(skip)]
    elapsed: f64,
}

impl StreamSent {
    /// `sent` bytes with digest `sha256` went to `remote` through endpoint `id` in `elapsed`
    /// seconds.
    #[must_use]
    pub(crate) fn new(
        id: u64,
        remote: SocketAddr,
        sent: u64,
        sha256: String,
        elapsed: f64,
    ) -> Self {
        Self {
            id,
            remote: remote.to_string(),
            seconds: (elapsed * 1000.0).round() / 1000.0,
            sent,
            sha256,
            elapsed,
        }
    }
}

impl Reply for StreamSent {
    fn text(&self) -> String {
        #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
        let rate = self.sent as f64 / self.elapsed.max(1e-9) / f64::from(1u32 << 20);
        format!(
            "sent {} bytes to {} in {:.3} s ({rate:.1} MiB/s), sha256 {}",
            self.sent, self.remote, self.elapsed, self.sha256
        )
    }
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

/// `value` as one line of JSON.
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
            Info::from(&info(0x0100, 0)).text(),
            "wsk-rs driver 0.1.0, protocol 2, WSK provider 1.0, 0 endpoints"
        );
        assert_eq!(
            Info::from(&info(0, 1)).text(),
            "wsk-rs driver 0.1.0, protocol 2, WSK provider unknown, 1 endpoint"
        );
        assert_eq!(
            to_json(&Info::from(&info(0x0100, 0))),
            r#"{"driver_version":"0.1.0","protocol":2,"wsk_version":"1.0","endpoints":0}"#
        );
        assert_eq!(
            to_json(&Info::from(&info(0, 2))),
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
            Opened::connected(&connection, false).text(),
            "endpoint 3 connected 127.0.0.1:50000 -> 127.0.0.1:9000"
        );
        assert_eq!(
            to_json(&Opened::connected(&connection, false)),
            r#"{"id":3,"kind":"tcp","local":"127.0.0.1:50000","remote":"127.0.0.1:9000","detached":false}"#
        );
        let unknown_local = OpenedEndpoint {
            local: None,
            ..connection
        };
        assert_eq!(
            Opened::connected(&unknown_local, false).text(),
            "endpoint 3 connected ? -> 127.0.0.1:9000"
        );
        let listener = OpenedEndpoint {
            id: EndpointId(4),
            kind: EndpointKind::TcpListener,
            local: Some(addr(9100)),
            remote: None,
        };
        assert_eq!(
            Opened::listening(&listener, addr(1), Service::Echo, true).text(),
            "endpoint 4 listening on 127.0.0.1:9100 (service echo)"
        );
        assert_eq!(
            Opened::listening(
                &OpenedEndpoint {
                    local: None,
                    ..listener
                },
                addr(9100),
                Service::Echo,
                true
            )
            .text(),
            "endpoint 4 listening on 127.0.0.1:9100 (service echo)"
        );
        assert_eq!(
            to_json(&Opened::listening(&listener, addr(1), Service::Echo, true)),
            r#"{"id":4,"kind":"tcp-listener","local":"127.0.0.1:9100","remote":null,"service":"echo","detached":true}"#
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(Sent::new(3, 5).text(), "sent 5 bytes");
        assert_eq!(Sent::new(3, 1).text(), "sent 1 byte");
        assert_eq!(Received::new(3, 0, true).text(), "peer closed");
        assert_eq!(Received::new(3, 0, false).text(), "received 0 bytes");
        assert_eq!(Received::new(3, 7, true).text(), "received 7 bytes");
        assert_eq!(Closed::new(3).text(), "closed endpoint 3");
        assert_eq!(to_json(&Sent::new(3, 5)), r#"{"id":3,"sent":5}"#);
        assert_eq!(
            to_json(&Received::new(3, 5, false)),
            r#"{"id":3,"received":5,"eof":false}"#
        );
        assert_eq!(to_json(&Closed::new(3)), r#"{"id":3,"closed":true}"#);
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
        let table = EndpointList::from(&[entry(4, true), entry(12, false)][..]).text();
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
        assert_eq!(EndpointList::from(&[][..]).text().lines().count(), 1);
        assert_eq!(
            to_json(&EndpointList::from(&[entry(4, true)][..])),
            r#"[{"id":4,"kind":"tcp-listener","state":"listening","service":"echo","local":"127.0.0.1:9100","remote":null,"sent":10,"received":12,"served":2,"active":1,"flags":["detached"],"opened_ms":61500,"send_ops":3,"recv_ops":4,"errors":0,"last_status":null}]"#
        );
        assert_eq!(to_json(&EndpointList::from(&[][..])), "[]");
        assert!(to_json(&EndpointList::from(&[entry(5, false)][..]))
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
    fn datagram_option_resolve_and_stats_forms() {
        let datagram = Datagram {
            data: b"ping".to_vec(),
            from: Some(addr(7)),
        };
        assert_eq!(
            ReceivedFrom::new(5, &datagram).text(),
            "received 4 bytes from 127.0.0.1:7"
        );
        assert_eq!(
            to_json(&ReceivedFrom::new(
                5,
                &Datagram {
                    from: None,
                    ..datagram
                }
            )),
            r#"{"id":5,"received":4,"from":null}"#
        );
        assert_eq!(
            SentTo::new(5, 1, addr(7)).text(),
            "sent 1 byte to 127.0.0.1:7"
        );
        assert_eq!(
            to_json(&SentTo::new(5, 4, addr(7))),
            r#"{"id":5,"sent":4,"to":"127.0.0.1:7"}"#
        );
        assert_eq!(
            Disconnected::new(3, true).text(),
            "disconnected endpoint 3 (abortive)"
        );
        assert_eq!(OptionValue::new(3, "rcvbuf", 8192).text(), "rcvbuf = 8192");
        assert_eq!(
            to_json(&Resolved::new("x", &[addr(80)])),
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
            connections_refused: 2,
            max_endpoints: 4096,
            max_connections_per_listener: 16384,
            quota_endpoints: 64,
            quota_pended: 32,
            quota_locked_bytes: 16 << 20,
        };
        assert_eq!(
            to_json(&DriverStats::from(&stats)),
            r#"{"endpoints_open":1,"endpoints_peak":2,"endpoints_opened":3,"bytes_sent":4,"bytes_received":5,"connections_served":6,"errors":7,"uptime_ms":8000,"connections_refused":2,"limits":{"max_endpoints":4096,"max_connections_per_listener":16384,"quota_endpoints":64,"quota_pended":32,"quota_locked_bytes":16777216},"held":null}"#
        );
        assert!(DriverStats::from(&stats)
            .text()
            .contains("max conns/listener  16384\n"));
        let parameters = DriverParameters::new(
            "WskRs",
            wskrs_protocol::DRIVER_PARAMETERS
                .iter()
                .map(|p| (p, (p.name == "MaxEndpoints").then_some(8)))
                .collect::<Vec<_>>(),
        );
        let json = to_json(&parameters);
        assert!(
            json.starts_with(
                r#"{"service":"WskRs","parameters":[{"name":"MaxEndpoints","set":8,"applied":16,"default":4096,"min":16,"max":65536},"#
            ),
            "{json}"
        );
        let text = parameters.text();
        assert!(
            text.contains("\nMaxEndpoints                        8        16  16..65536      endpoints open at once"),
            "{text}"
        );
        assert!(text.contains("\nEndpointsPerHandle                  -        64  1..65536"));
        let held = Held {
            pool_allocations: 9,
            pool_bytes: 1024,
            irps: 2,
            mdls: 1,
            sockets: 3,
            work_items: 0,
        };
        let with_held = DriverStats::from(&stats).with_held(Some(&held));
        assert!(to_json(&with_held).ends_with(
            r#""quota_locked_bytes":16777216},"held":{"pool_allocations":9,"pool_bytes":1024,"irps":2,"mdls":1,"sockets":3,"work_items":0}}"#
        ));
        let text = with_held.text();
        assert!(text.contains("\npool bytes          1024\n"), "{text}");
        assert!(text.ends_with("work items          0"), "{text}");
        let text = DriverStats::from(&stats).text();
        assert!(text.contains("\nuptime              8.0s\n"), "{text}");
        assert!(text.ends_with("quota locked bytes  16777216"), "{text}");
        assert_eq!(status_name(NtStatus::from_u32(0xC0DE_0001)), "0xC0DE0001");
    }

    #[test]
    fn raw_forms() {
        let reply = RawReply {
            status: NtStatus::INVALID_DEVICE_REQUEST,
            output: vec![],
        };
        assert_eq!(
            RawResult::from(&reply).text(),
            "status STATUS_INVALID_DEVICE_REQUEST (0xC0000010)\noutput"
        );
        let reply = RawReply {
            status: NtStatus::SUCCESS,
            output: vec![1, 0, 0xAB],
        };
        assert_eq!(
            RawResult::from(&reply).text(),
            "status STATUS_SUCCESS (0x00000000)\noutput 0100ab"
        );
        assert_eq!(
            to_json(&RawResult::from(&reply)),
            r#"{"status":"STATUS_SUCCESS","code":"0x00000000","output":"0100ab"}"#
        );
        let unknown = RawReply {
            status: NtStatus::from_u32(0xC0DE_0001),
            output: vec![],
        };
        assert_eq!(
            RawResult::from(&unknown).text(),
            "status NTSTATUS 0xC0DE0001\noutput"
        );
    }

    #[test]
    fn one_value_renders_both_forms_and_remarks_only_as_text() {
        let reply = Sent::new(3, 5);
        assert_eq!(Format::Text.render(&reply), "sent 5 bytes");
        assert_eq!(Format::Json.render(&reply), r#"{"id":3,"sent":5}"#);
        assert_eq!(Format::from_json_flag(true), Format::Json);
        assert_eq!(Format::from_json_flag(false), Format::Text);
        let none = Security::new(4, None);
        assert_eq!(none.text(), "endpoint 4 has no security descriptor");
        assert!(Format::Text.is_remark(&none));
        assert!(!Format::Json.is_remark(&none));
        assert_eq!(Format::Json.render(&none), r#"{"id":4,"sddl":null}"#);
        let some = Security::new(4, Some("D:P(A;;GA;;;SY)".to_owned()));
        assert!(!Format::Text.is_remark(&some));
        assert_eq!(Format::Text.render(&some), "D:P(A;;GA;;;SY)");
    }

    #[test]
    fn accepted_bound_served_and_service_forms() {
        let connection = OpenedEndpoint {
            id: EndpointId(5),
            kind: EndpointKind::TcpConnection,
            local: Some(addr(9100)),
            remote: Some(addr(50000)),
        };
        let accepted = Opened::accepted(&connection, 4, false);
        assert_eq!(
            accepted.text(),
            "endpoint 5 accepted 127.0.0.1:9100 <- 127.0.0.1:50000 (listener 4)"
        );
        assert_eq!(
            to_json(&accepted),
            r#"{"id":5,"kind":"tcp","local":"127.0.0.1:9100","remote":"127.0.0.1:50000","listener":4,"detached":false}"#
        );
        let socket = OpenedEndpoint {
            id: EndpointId(6),
            kind: EndpointKind::Udp,
            local: None,
            remote: None,
        };
        assert_eq!(
            Opened::bound(&socket, addr(9200), Service::Echo, true).text(),
            "endpoint 6 bound to 127.0.0.1:9200 (service echo)"
        );
        assert_eq!(
            Served::new(3, Service::Echo).text(),
            "endpoint 3 handed to the echo service"
        );
        assert_eq!(
            to_json(&Served::new(3, Service::Echo)),
            r#"{"id":3,"service":"echo"}"#
        );
        let status = ServiceStatus::new("WskRs", ServiceState::Running);
        assert_eq!(status.text(), "service WskRs: running");
        assert_eq!(to_json(&status), r#"{"name":"WskRs","state":"running"}"#);
        let sent = StreamSent::new(3, addr(9000), 1 << 20, "ab".to_owned(), 0.5004);
        assert_eq!(
            sent.text(),
            "sent 1048576 bytes to 127.0.0.1:9000 in 0.500 s (2.0 MiB/s), sha256 ab"
        );
        assert_eq!(
            to_json(&sent),
            r#"{"id":3,"remote":"127.0.0.1:9000","seconds":0.5,"sent":1048576,"sha256":"ab"}"#
        );
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
