//! Socket options (`WskControlSocket` with `WskSetOption` / `WskGetOption`) as the providers
//! model them: one catalogue of the options the project uses, by level and code, with the
//! value's kind, its default, the sockets it applies to, and the status each kind of bad
//! request gets.
//!
//! Statuses, as the Wine provider reports Winsock's errors (`wsk-provider/src/status.rs`) and
//! answers the options it keeps itself:
//! - an option the catalogue does not know, or one for another kind of socket (a TCP option
//!   on a UDP socket): `STATUS_INVALID_PARAMETER` ([`UNKNOWN_OPTION`]; Winsock's
//!   `WSAENOPROTOOPT`);
//! - a set whose input is shorter than the value (or NULL): `STATUS_INVALID_PARAMETER`
//!   ([`SHORT_INPUT`]); a value out of range: `STATUS_INVALID_PARAMETER`;
//! - a get whose output is shorter than the value: `STATUS_BUFFER_TOO_SMALL`
//!   ([`SHORT_OUTPUT`]);
//! - `SO_WSK_SECURITY` without an IRP: `STATUS_INVALID_PARAMETER` (the SO_WSK_SECURITY page
//!   requires one).
//!
//! `SO_WSK_EVENT_CALLBACK` is not an option value: each provider handles it before the
//! catalogue.

use std::collections::HashMap;

use wsk_bindings::{self as sys, NtStatus};

/// The status for an option the provider does not know, or one for another kind of socket.
pub const UNKNOWN_OPTION: NtStatus = NtStatus::INVALID_PARAMETER;
/// The status for a set whose input is NULL or shorter than the option's value.
pub const SHORT_INPUT: NtStatus = NtStatus::INVALID_PARAMETER;
/// The status for a get whose output is NULL or shorter than the option's value.
pub const SHORT_OUTPUT: NtStatus = NtStatus::BUFFER_TOO_SMALL;
/// The status for `SO_WSK_SECURITY` without an IRP.
pub const SECURITY_WITHOUT_IRP: NtStatus = NtStatus::INVALID_PARAMETER;

/// How an option's value travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A ULONG set to 0 or not; read back as a ULONG 0 or 1 (Winsock returns one byte for
    /// these, WSK clients read a ULONG).
    Boolean,
    /// A ULONG.
    Ulong,
    /// A pointer (`SO_WSK_SECURITY`: a cached security descriptor, NULL for none).
    Pointer,
}

impl Value {
    /// The value's size in bytes.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::Boolean | Self::Ulong => size_of::<u32>(),
            Self::Pointer => size_of::<*const u8>(),
        }
    }
}

/// An option's value before any set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// Documented by Windows.
    Fixed(u32),
    /// "Transport-specific" (the SO_RCVBUF / SO_SNDBUF pages): the provider's transport says.
    Transport,
}

/// The sockets an option applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Every socket.
    Any,
    /// TCP sockets (listening and connection-oriented).
    Tcp,
    /// Datagram sockets.
    Datagram,
}

/// The kind of socket an option request is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A listening or connection-oriented (TCP) socket.
    Tcp,
    /// A datagram (UDP) socket.
    Datagram,
    /// A basic socket (no transport semantics of its own).
    Basic,
}

impl Applies {
    /// Whether an option with this applicability exists on `kind`.
    #[must_use]
    pub fn to(self, kind: SocketKind) -> bool {
        match self {
            Self::Any => true,
            Self::Tcp => kind == SocketKind::Tcp,
            Self::Datagram => kind == SocketKind::Datagram,
        }
    }
}

/// One option of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// `SOL_SOCKET`, `IPPROTO_TCP`, `IPPROTO_IP` or `IPPROTO_IPV6`.
    pub level: u32,
    /// The option's code at that level.
    pub code: u32,
    /// How its value travels.
    pub value: Value,
    /// Its value before any set.
    pub default: Default,
    /// The sockets it exists on.
    pub applies: Applies,
}

const fn spec(level: u32, code: u32, value: Value, default: Default, applies: Applies) -> Spec {
    Spec {
        level,
        code,
        value,
        default,
        applies,
    }
}

/// The options the project's clients use, with Windows' defaults ("SOL_SOCKET socket options",
/// "IPPROTO_TCP socket options", "IPPROTO_IPV6 socket options" and the WSK option pages; the
/// TCP ones Wine refuses are [`TcpOptions`]'s).
pub const CATALOGUE: &[Spec] = &[
    spec(
        sys::SOL_SOCKET,
        sys::SO_KEEPALIVE,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Any,
    ),
    spec(
        sys::SOL_SOCKET,
        sys::SO_RCVBUF,
        Value::Ulong,
        Default::Transport,
        Applies::Any,
    ),
    spec(
        sys::SOL_SOCKET,
        sys::SO_SNDBUF,
        Value::Ulong,
        Default::Transport,
        Applies::Any,
    ),
    spec(
        sys::SOL_SOCKET,
        sys::SO_REUSEADDR,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Any,
    ),
    spec(
        sys::SOL_SOCKET,
        sys::SO_EXCLUSIVEADDRUSE,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Any,
    ),
    spec(
        sys::SOL_SOCKET,
        sys::SO_WSK_SECURITY,
        Value::Pointer,
        Default::Fixed(0),
        Applies::Any,
    ),
    spec(
        sys::IPPROTO_TCP,
        sys::TCP_NODELAY,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Tcp,
    ),
    // "IPPROTO_IPV6 socket options": IPV6_V6ONLY "is set to TRUE by default" on Windows.
    spec(
        sys::IPPROTO_IPV6,
        sys::IPV6_V6ONLY,
        Value::Boolean,
        Default::Fixed(1),
        Applies::Any,
    ),
    spec(
        sys::IPPROTO_IP,
        sys::IP_PKTINFO,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Datagram,
    ),
    spec(
        sys::IPPROTO_IPV6,
        sys::IPV6_PKTINFO,
        Value::Boolean,
        Default::Fixed(0),
        Applies::Datagram,
    ),
];

/// The catalogue's entry for `(level, code)`, or [`TcpOptions`]' for an emulated one.
#[must_use]
pub fn find(level: u32, code: u32) -> Option<Spec> {
    CATALOGUE
        .iter()
        .copied()
        .find(|s| s.level == level && s.code == code)
        .or_else(|| {
            let default = TcpOptions::default().get(code)?;
            emulated(level, code).then_some(spec(
                level,
                code,
                Value::Ulong,
                Default::Fixed(default),
                Applies::Tcp,
            ))
        })
}

/// Whether `(level, code)` is a boolean option (read back as a ULONG 0 or 1).
#[must_use]
pub fn is_boolean(level: u32, code: u32) -> bool {
    find(level, code).is_some_and(|s| s.value == Value::Boolean)
}

/// The Winsock `int` for an option code (`SO_EXCLUSIVEADDRUSE` is `~SO_REUSEADDR`, a negative
/// int).
#[must_use]
pub fn winsock_name(code: u32) -> i32 {
    i32::from_ne_bytes(code.to_ne_bytes())
}

/// Whether `(level, code)` is an `IPPROTO_TCP` option Windows supports and Wine 8.0's
/// Winsock refuses with `WSAENOPROTOOPT` (measured: every `IPPROTO_TCP` option but
/// `TCP_NODELAY`): the providers answer it themselves through [`TcpOptions`].
#[must_use]
pub fn emulated(level: u32, code: u32) -> bool {
    level == sys::IPPROTO_TCP
        && matches!(
            code,
            sys::TCP_KEEPCNT
                | sys::TCP_KEEPIDLE
                | sys::TCP_KEEPINTVL
                | sys::TCP_MAXRT
                | sys::TCP_TIMESTAMPS
                | sys::TCP_FASTOPEN
                | sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR
        )
}

/// The [`emulated`] options of one TCP socket (seconds, counts, booleans as 0/1), as Windows
/// documents them ("IPPROTO_TCP socket options", "SIO_KEEPALIVE_VALS"): the value is
/// validated, stored and read back; Windows' defaults before a set.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions {
    keep_cnt: u32,
    keep_idle: u32,
    keep_intvl: u32,
    max_rt: u32,
    timestamps: u32,
    fast_open: u32,
    fail_connect_on_icmp_error: u32,
    /// The client set `TCP_KEEPIDLE` or `TCP_KEEPINTVL` (the Wine provider then applies them
    /// through `SIO_KEEPALIVE_VALS`).
    keepalive_tuned: bool,
}

/// `TCP_MAXRT` before a set: Windows does not document it; the providers report
/// `0xFFFFFFFF` ("no connection timeout") rather than invent a number of seconds.
const MAX_RT_UNSET: u32 = u32::MAX;

impl std::default::Default for TcpOptions {
    /// Windows' defaults: "the default keep-alive timeout is 2 hours", "the default keep-alive
    /// interval is 1 second", "on Windows Vista and later, the number of keep-alive probes
    /// (data retransmissions) is set to 10" (SIO_KEEPALIVE_VALS); time stamps off by default
    /// ("Timestamps" global setting, default off); Fast Open and fail-on-ICMP off.
    fn default() -> Self {
        Self {
            keep_cnt: 10,
            keep_idle: 2 * 60 * 60,
            keep_intvl: 1,
            max_rt: MAX_RT_UNSET,
            timestamps: 0,
            fast_open: 0,
            fail_connect_on_icmp_error: 0,
            keepalive_tuned: false,
        }
    }
}

/// Keep-alive time and interval in milliseconds, for `SIO_KEEPALIVE_VALS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe.
    pub time_ms: u32,
    /// Time between probes.
    pub interval_ms: u32,
}

impl TcpOptions {
    /// Sets `code` (one of [`emulated`]'s) to `value`, with Windows' validation.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER`: `TCP_KEEPCNT` above 255 ("it is illegal to set TCP_KEEPCNT
    /// to a value greater than 255"); a keep-alive time or interval whose milliseconds do not
    /// fit the ULONG of `SIO_KEEPALIVE_VALS` (the providers' limit); an unknown code.
    pub fn set(&mut self, code: u32, value: u32) -> Result<(), NtStatus> {
        let as_ms = |seconds: u32| seconds.checked_mul(1000).ok_or(NtStatus::INVALID_PARAMETER);
        match code {
            sys::TCP_KEEPCNT if value > 255 => return Err(NtStatus::INVALID_PARAMETER),
            sys::TCP_KEEPCNT => self.keep_cnt = value,
            sys::TCP_KEEPIDLE => {
                as_ms(value)?;
                self.keep_idle = value;
                self.keepalive_tuned = true;
            }
            sys::TCP_KEEPINTVL => {
                as_ms(value)?;
                self.keep_intvl = value;
                self.keepalive_tuned = true;
            }
            sys::TCP_MAXRT => self.max_rt = value,
            sys::TCP_TIMESTAMPS => self.timestamps = u32::from(value != 0),
            sys::TCP_FASTOPEN => self.fast_open = u32::from(value != 0),
            sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR => {
                self.fail_connect_on_icmp_error = u32::from(value != 0);
            }
            _ => return Err(NtStatus::INVALID_PARAMETER),
        }
        Ok(())
    }

    /// The value of `code` (one of [`emulated`]'s).
    #[must_use]
    pub fn get(&self, code: u32) -> Option<u32> {
        Some(match code {
            sys::TCP_KEEPCNT => self.keep_cnt,
            sys::TCP_KEEPIDLE => self.keep_idle,
            sys::TCP_KEEPINTVL => self.keep_intvl,
            sys::TCP_MAXRT => self.max_rt,
            sys::TCP_TIMESTAMPS => self.timestamps,
            sys::TCP_FASTOPEN => self.fast_open,
            sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR => self.fail_connect_on_icmp_error,
            _ => return None,
        })
    }

    /// The keep-alive time and interval to apply through `SIO_KEEPALIVE_VALS`, if the client
    /// tuned them.
    #[must_use]
    pub fn keepalive(&self) -> Option<KeepAlive> {
        if !self.keepalive_tuned {
            return None;
        }
        Some(KeepAlive {
            time_ms: self.keep_idle.saturating_mul(1000),
            interval_ms: self.keep_intvl.saturating_mul(1000),
        })
    }
}

/// The option values of one socket, for a provider with no transport beneath it (the host
/// fake): every option of the catalogue with its default until set, the [`emulated`] TCP
/// options through [`TcpOptions`], and the catalogue's statuses for bad requests.
///
/// A provider that caches descriptors answers `SO_WSK_SECURITY` through [`crate::security`]
/// before the store; to the store alone it reads as NULL (no descriptor) and setting it is
/// refused with `STATUS_INVALID_PARAMETER`, as for a descriptor the provider did not cache.
#[derive(Clone, Debug)]
pub struct OptionStore {
    kind: SocketKind,
    /// The transport's value for [`Default::Transport`] options.
    transport_default: u32,
    values: HashMap<(u32, u32), u32>,
    tcp: TcpOptions,
}

impl OptionStore {
    /// The options of a new socket of `kind`, with `transport_default` for the options whose
    /// default is the transport's.
    #[must_use]
    pub fn new(kind: SocketKind, transport_default: u32) -> Self {
        Self {
            kind,
            transport_default,
            values: HashMap::new(),
            tcp: TcpOptions::default(),
        }
    }

    fn spec(&self, level: u32, code: u32) -> Result<Spec, NtStatus> {
        find(level, code)
            .filter(|s| s.applies.to(self.kind))
            .ok_or(UNKNOWN_OPTION)
    }

    /// `WskSetOption` of `(level, code)` from `input` (NULL: `None`).
    ///
    /// # Errors
    /// The module's statuses: unknown option, short input, value out of range,
    /// `SO_WSK_SECURITY`.
    pub fn set(&mut self, level: u32, code: u32, input: Option<&[u8]>) -> Result<(), NtStatus> {
        let spec = self.spec(level, code)?;
        if spec.value == Value::Pointer {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let bytes = input
            .and_then(|i| i.get(..size_of::<u32>()))
            .ok_or(SHORT_INPUT)?;
        let mut value = [0u8; 4];
        value.copy_from_slice(bytes);
        let value = u32::from_ne_bytes(value);
        if emulated(level, code) {
            return self.tcp.set(code, value);
        }
        let stored = match spec.value {
            Value::Boolean => u32::from(value != 0),
            Value::Ulong | Value::Pointer => value,
        };
        self.values.insert((level, code), stored);
        Ok(())
    }

    /// `WskGetOption` of `(level, code)` into an output of `room` bytes: the value's bytes.
    ///
    /// # Errors
    /// The module's statuses: unknown option, short output.
    pub fn get(&self, level: u32, code: u32, room: usize) -> Result<Vec<u8>, NtStatus> {
        let spec = self.spec(level, code)?;
        if room < spec.value.size() {
            return Err(SHORT_OUTPUT);
        }
        if spec.value == Value::Pointer {
            return Ok(0usize.to_ne_bytes().to_vec());
        }
        let value = if emulated(level, code) {
            self.tcp.get(code).ok_or(UNKNOWN_OPTION)?
        } else {
            self.values
                .get(&(level, code))
                .copied()
                .unwrap_or(match spec.default {
                    Default::Fixed(v) => v,
                    Default::Transport => self.transport_default,
                })
        };
        Ok(value.to_ne_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulong(bytes: &[u8]) -> u32 {
        u32::from_ne_bytes(bytes.try_into().unwrap())
    }

    #[test]
    fn every_catalogued_option_reads_its_default_then_what_was_set() {
        for kind in [SocketKind::Tcp, SocketKind::Datagram] {
            let mut store = OptionStore::new(kind, 8192);
            for s in CATALOGUE.iter().filter(|s| s.applies.to(kind)) {
                if s.value == Value::Pointer {
                    continue;
                }
                let initial = ulong(&store.get(s.level, s.code, 4).unwrap());
                let expected = match s.default {
                    Default::Fixed(v) => v,
                    Default::Transport => 8192,
                };
                assert_eq!(initial, expected, "{s:?}");
                let value = if s.value == Value::Boolean { 7 } else { 65_536 };
                store
                    .set(s.level, s.code, Some(&u32::to_ne_bytes(value)))
                    .unwrap();
                let read = ulong(&store.get(s.level, s.code, 4).unwrap());
                let expected = if s.value == Value::Boolean { 1 } else { value };
                assert_eq!(read, expected, "{s:?}");
            }
        }
    }

    #[test]
    fn options_of_another_socket_kind_and_unknown_options_are_refused() {
        let mut udp = OptionStore::new(SocketKind::Datagram, 8192);
        let one = 1u32.to_ne_bytes();
        assert_eq!(
            udp.get(sys::IPPROTO_TCP, sys::TCP_NODELAY, 4),
            Err(UNKNOWN_OPTION)
        );
        assert_eq!(
            udp.set(sys::IPPROTO_TCP, sys::TCP_KEEPCNT, Some(&one)),
            Err(UNKNOWN_OPTION)
        );
        let tcp = OptionStore::new(SocketKind::Tcp, 8192);
        assert_eq!(
            tcp.get(sys::IPPROTO_IP, sys::IP_PKTINFO, 4),
            Err(UNKNOWN_OPTION)
        );
        assert_eq!(tcp.get(sys::SOL_SOCKET, 0x7777, 4), Err(UNKNOWN_OPTION));
        assert_eq!(tcp.get(0x1234, sys::SO_KEEPALIVE, 4), Err(UNKNOWN_OPTION));
    }

    #[test]
    fn short_buffers_and_bad_values_get_their_statuses() {
        let mut tcp = OptionStore::new(SocketKind::Tcp, 8192);
        assert_eq!(
            tcp.set(sys::SOL_SOCKET, sys::SO_RCVBUF, Some(&[1, 0])),
            Err(SHORT_INPUT)
        );
        assert_eq!(
            tcp.set(sys::SOL_SOCKET, sys::SO_RCVBUF, None),
            Err(SHORT_INPUT)
        );
        assert_eq!(
            tcp.get(sys::SOL_SOCKET, sys::SO_RCVBUF, 3),
            Err(SHORT_OUTPUT)
        );
        assert_eq!(
            tcp.set(
                sys::IPPROTO_TCP,
                sys::TCP_KEEPCNT,
                Some(&256u32.to_ne_bytes())
            ),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            ulong(&tcp.get(sys::IPPROTO_TCP, sys::TCP_KEEPCNT, 4).unwrap()),
            10,
            "unchanged by the refused set"
        );
    }

    #[test]
    fn emulated_tcp_options_have_windows_defaults_and_tune_keepalive() {
        let mut tcp = OptionStore::new(SocketKind::Tcp, 8192);
        let get = |store: &OptionStore, code| ulong(&store.get(sys::IPPROTO_TCP, code, 4).unwrap());
        assert_eq!(get(&tcp, sys::TCP_KEEPIDLE), 7200);
        assert_eq!(get(&tcp, sys::TCP_KEEPINTVL), 1);
        assert_eq!(get(&tcp, sys::TCP_MAXRT), u32::MAX);
        assert_eq!(tcp.tcp.keepalive(), None);
        tcp.set(
            sys::IPPROTO_TCP,
            sys::TCP_KEEPIDLE,
            Some(&30u32.to_ne_bytes()),
        )
        .unwrap();
        assert_eq!(get(&tcp, sys::TCP_KEEPIDLE), 30);
        assert_eq!(
            tcp.tcp.keepalive(),
            Some(KeepAlive {
                time_ms: 30_000,
                interval_ms: 1000
            })
        );
        assert!(is_boolean(sys::IPPROTO_TCP, sys::TCP_NODELAY));
        assert!(!is_boolean(sys::IPPROTO_TCP, sys::TCP_KEEPIDLE));
    }

    #[test]
    fn the_security_descriptor_reads_as_null_and_cannot_be_set_without_a_cache() {
        let mut store = OptionStore::new(SocketKind::Tcp, 8192);
        assert_eq!(
            store.get(sys::SOL_SOCKET, sys::SO_WSK_SECURITY, 8),
            Ok(vec![0; 8])
        );
        assert_eq!(
            store.get(sys::SOL_SOCKET, sys::SO_WSK_SECURITY, 4),
            Err(SHORT_OUTPUT)
        );
        assert_eq!(
            store.set(sys::SOL_SOCKET, sys::SO_WSK_SECURITY, Some(&[0; 8])),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn winsock_names_keep_the_bits() {
        assert_eq!(winsock_name(sys::SO_EXCLUSIVEADDRUSE), !4);
        assert_eq!(winsock_name(sys::SO_RCVBUF), 0x1002);
    }
}
