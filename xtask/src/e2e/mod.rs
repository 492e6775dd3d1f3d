//! The end-to-end suite: the real driver under Wine, real IRPs through wskctl, real Linux
//! peers on 127.0.0.1 and ::1. Every case asserts; each prints `PASS name (time)` or
//! `FAIL name: reason`, or `SKIP name: needs the wsk-rs provider (Wine's netio lacks X)` when
//! it needs a WSK call the run's provider does not implement. Skips are never counted as
//! passes: a line before the last lists them, and the suite ends with
//! `e2e: N passed, N failed`.
//!
//! This module owns the runner (one Wine session per shell and provider), the case table and
//! what a case needs of the provider ([`Need`]). The cases live in files named for the
//! feature they cover: `driver` (load, INFO, malformed requests, unload), `endpoints`,
//! `tcp`, `udp`, `services`, `options`, `security`, `secure` (the secure socket
//! extensions), `resolve`, `stats`, `cancel`,
//! `terminal` (`wskctl shell` in tmux), `selftest`, `scale` (teardown of hundreds of
//! sockets and pended requests), `faults` (the fault matrix) and `netns` (packet loss and cut
//! links in a network namespace of the suite's own); `abi` spells out the documented IOCTL
//! ABI and `helpers` holds what several of them use. After each case that passed, `held`
//! checks that what the driver's WSK library holds is back to its baseline (a leak fails it).

mod abi;
mod cancel;
mod driver;
mod endpoints;
mod faults;
pub(crate) mod held;
mod helpers;
pub(crate) mod host;
mod isolation;
pub(crate) mod netns;
mod options;
mod pipeline;
mod resolve;
mod scale;
mod secure;
mod security;
mod selftest;
mod services;
mod sharing;
mod stats;
mod tcp;
mod terminal;
mod udp;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::artifacts::Built;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::provider::{self, Provider};
use crate::shell::{self, Shell};
use crate::util::{fmt_duration, say};
use crate::wine::{Session, Wine};

/// What a case gets: where things are, the Wine session, and which provider and shell the
/// run loaded.
struct Ctx<'a> {
    layout: &'a Layout,
    wine: &'a Wine,
    /// The WSK provider of the run (what a case may expect after a cancelled request).
    provider: Provider,
    /// The driver shell of the run.
    shell: Shell,
}

/// A WSK capability a case needs beyond what Wine 8.0's built-in netio.sys implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Datagram sockets (`WskSendTo`, `WskReceiveFrom`).
    Datagram,
    /// `WskControlSocket` option gets and sets.
    SocketOptions,
    /// `WskDisconnect`.
    Disconnect,
    /// A provider that can be told to hold `WskCloseSocket` (`WSKRS_PROVIDER_HOLD_CLOSE`).
    HeldClose,
    /// A provider that can be told to hold `WskGetAddressInfo` (`WSKRS_PROVIDER_HOLD_RESOLVE`).
    HeldResolve,
    /// A provider that can be told, per driver load, to fail, delay or reset chosen
    /// operations (`WSKRS_PROVIDER_FAULT`, `_FAULT_OP`, `_DELAY`, `_DROP`).
    FaultInjection,
    /// The WSK table of address sharing: `SO_REUSEADDR` / `SO_EXCLUSIVEADDRUSE` /
    /// `SO_WSK_SECURITY` set through `WskControlSocket`, UDP sockets, and a `WskBind` that
    /// decides by the table.
    AddressSharing,
    /// `SO_WSK_SECURITY` and `WSK_CACHE_SD` (`WskControlSocket`, `WskControlClient`).
    Security,
    /// Winsock's secure socket extensions (`SIO_SET_SECURITY`, `SIO_SET_PEER_TARGET_NAME`,
    /// `SIO_DELETE_PEER_TARGET_NAME`, `SIO_QUERY_SECURITY`), sent through `WskControlSocket`.
    SecureSockets,
    /// Cancelling a pending request (`IoCancelIrp`): Wine's netio sets no cancel routines, so
    /// the driver can only end the request by closing the connection.
    Cancel,
    /// IPv6 sockets: Wine 8.0's `WskBind` passes `sizeof(SOCKADDR)` (16 bytes) as the address
    /// length, so binding an IPv6 address fails (`WSAEFAULT`, reported as STATUS_NO_MEMORY).
    Ipv6,
    /// Closing many sockets at once, some with requests pending (`WskCloseSocket` from a
    /// handle's cleanup): Wine 8.0's netio.sys completes a pending request in its close and
    /// again in its own completion callback, which it does not wait for, and faults in
    /// `dispatch_pending_io` through the NULL IRP (docs/reliability.md, finding 2).
    ConcurrentCloses,
}

impl Need {
    /// Every capability, in the order the SKIP lines name them.
    const ALL: [Self; 12] = [
        Self::HeldClose,
        Self::HeldResolve,
        Self::FaultInjection,
        Self::Datagram,
        Self::SocketOptions,
        Self::Disconnect,
        Self::AddressSharing,
        Self::Security,
        Self::SecureSockets,
        Self::Ipv6,
        Self::Cancel,
        Self::ConcurrentCloses,
    ];

    /// What Wine's netio.sys lacks, for the SKIP line.
    const fn lacking(self) -> &'static str {
        match self {
            Self::Datagram => "datagram sockets: WskSendTo/WskReceiveFrom",
            Self::SocketOptions => "WskControlSocket",
            Self::Disconnect => "WskDisconnect",
            Self::HeldClose => "a switch to hold WskCloseSocket (WSKRS_PROVIDER_HOLD_CLOSE)",
            Self::HeldResolve => {
                "a switch to hold WskGetAddressInfo (WSKRS_PROVIDER_HOLD_RESOLVE)"
            }
            Self::FaultInjection => {
                "switches that fail, delay or reset chosen operations (WSKRS_PROVIDER_FAULT, \
                 _FAULT_OP, _DELAY, _DROP)"
            }
            Self::AddressSharing => {
                "the sharing table: WskControlSocket (SO_REUSEADDR, SO_EXCLUSIVEADDRUSE, \
                 SO_WSK_SECURITY) and datagram sockets; its WskBind follows Wine's Winsock \
                 rules (TCP only, exact addresses, no descriptors)"
            }
            Self::Security => "SO_WSK_SECURITY and WSK_CACHE_SD",
            Self::SecureSockets => "the secure socket IOCTLs: WskControlSocket (SIO_SET_SECURITY, SIO_QUERY_SECURITY, ...)",
            Self::Ipv6 => "IPv6 binds: WskBind passes a 16-byte address length",
            Self::Cancel => "cancellation of pending requests (IoCancelIrp)",
            Self::ConcurrentCloses => {
                "a WskCloseSocket that survives many closes at once with requests pending: \
                 its close races its own completion callback and faults (docs/reliability.md, \
                 finding 2)"
            }
        }
    }
}

type Case = fn(&Ctx<'_>) -> Result<()>;

/// A case, and the WSK capabilities it needs beyond Wine's built-in netio.sys.
struct CaseDef {
    name: &'static str,
    run: Case,
    needs: &'static [Need],
}

const fn case(name: &'static str, run: Case, needs: &'static [Need]) -> CaseDef {
    CaseDef { name, run, needs }
}

/// The cases in order. `driver_loads` always runs first (it loads the driver the others use),
/// `unload_with_open_endpoints`, `unload_with_hundreds_of_sockets` and
/// `unload_waits_for_held_requests` reload it,
/// `clean_teardown` always runs last.
const CASES: &[CaseDef] = &[
    case("connect_out_echo_1mib", tcp::connect_out_echo_1mib, &[]),
    case("listener_50_clients", services::listener_50_clients, &[]),
    case("malformed_requests", driver::malformed_requests, &[]),
    case(
        "handle_close_closes_endpoints",
        endpoints::handle_close_closes_endpoints,
        &[],
    ),
    case("discard_counts_bytes", services::discard_counts_bytes, &[]),
    case(
        "source_sends_the_pattern",
        services::source_sends_the_pattern,
        &[],
    ),
    case("echo_200_concurrent", services::echo_200_concurrent, &[]),
    // Under both providers: the service turns Nagle off where WskControlSocket exists, and
    // its 64 KiB buffers keep a message from waiting for a delayed ACK where it does not
    // (Wine's netio).
    case(
        "echo_round_trips_without_stall",
        services::echo_round_trips_without_stall,
        &[],
    ),
    case(
        "ipv6_echo_listener",
        services::ipv6_echo_listener,
        &[Need::Ipv6],
    ),
    case("resolve_localhost", resolve::resolve_localhost, &[]),
    case(
        "a_held_resolve_holds_only_its_caller",
        resolve::a_held_resolve_holds_only_its_caller,
        &[Need::HeldResolve],
    ),
    case("stats_reflect_traffic", stats::stats_reflect_traffic, &[]),
    case(
        "udp_echo_1000_datagrams",
        udp::udp_echo_1000_datagrams,
        &[Need::Datagram],
    ),
    case(
        "udp_sendto_recvfrom",
        udp::udp_sendto_recvfrom,
        &[Need::Datagram, Need::Ipv6],
    ),
    case(
        "udp_recvfrom_truncates_a_longer_datagram",
        udp::udp_recvfrom_truncates_a_longer_datagram,
        &[Need::Datagram],
    ),
    case(
        "options_round_trip",
        options::options_round_trip,
        &[Need::SocketOptions, Need::Ipv6],
    ),
    case(
        "graceful_disconnect",
        tcp::graceful_disconnect,
        &[Need::Disconnect],
    ),
    case(
        "abortive_disconnect",
        tcp::abortive_disconnect,
        &[Need::Disconnect],
    ),
    case(
        "security_round_trip",
        security::security_round_trip,
        &[Need::Security],
    ),
    case(
        "secure_connection_settings",
        secure::secure_connection_settings,
        &[Need::SecureSockets],
    ),
    case(
        "secure_udp_peer_names",
        secure::secure_udp_peer_names,
        &[Need::SecureSockets, Need::Datagram],
    ),
    case(
        "accept_service_hands_connections_to_user",
        services::accept_service_hands_connections_to_user,
        &[],
    ),
    case(
        "dual_stack_listener_accepts_ipv4_and_ipv6",
        services::dual_stack_listener_accepts_ipv4_and_ipv6,
        &[Need::Ipv6],
    ),
    case("stream_send_100mib", tcp::stream_send_100mib, &[]),
    case("shell_in_a_terminal", terminal::shell_in_a_terminal, &[]),
    case("recv_timeout_status", tcp::recv_timeout_status, &[]),
    case(
        "direct_output_length_checked",
        driver::direct_output_length_checked,
        &[],
    ),
    case(
        "cancelled_receive_returns_promptly",
        cancel::cancelled_receive_returns_promptly,
        &[],
    ),
    case(
        "ctrl_c_cancels_a_single_command",
        cancel::ctrl_c_cancels_a_single_command,
        &[],
    ),
    case(
        "slow_reader_back_pressure",
        tcp::slow_reader_back_pressure,
        &[Need::Cancel],
    ),
    case(
        "pipelined_sends_arrive_in_order",
        pipeline::pipelined_sends_arrive_in_order,
        &[],
    ),
    case(
        "ctrl_c_cancels_queued_sends",
        pipeline::ctrl_c_cancels_queued_sends,
        &[],
    ),
    // WskSend then WskReceive: both providers have them.
    case(
        "transact_request_response",
        pipeline::transact_request_response,
        &[],
    ),
    case(
        "serve_hands_an_outbound_connection_to_echo",
        services::serve_hands_an_outbound_connection_to_echo,
        &[],
    ),
    case(
        "serving_a_source_into_a_fast_reader_holds_no_caller",
        services::serving_a_source_into_a_fast_reader_holds_no_caller,
        &[],
    ),
    case(
        "bind_sharing_table",
        sharing::bind_sharing_table,
        &[Need::AddressSharing],
    ),
    case(
        "listener_refuses_per_descriptor",
        sharing::listener_refuses_per_descriptor,
        &[Need::AddressSharing],
    ),
    case("device_access_bits", isolation::device_access_bits, &[]),
    case(
        "device_dacl_read_back",
        isolation::device_dacl_read_back,
        &[],
    ),
    // Both end with a handle's cleanup closing its endpoints at once (an echo listener with
    // its accept pending; 64 connections); Wine's netio crashed the driver host right after
    // each (finding 2).
    case(
        "isolation_between_processes",
        isolation::isolation_between_processes,
        &[Need::ConcurrentCloses],
    ),
    case(
        "endpoint_quota_per_handle",
        isolation::endpoint_quota_per_handle,
        &[Need::ConcurrentCloses],
    ),
    case(
        "handles_are_identified",
        isolation::handles_are_identified,
        &[],
    ),
    case("selftest", selftest::selftest, &[]),
    // Reloads the driver once per cell (the provider reads its switches at WskRegister).
    case(
        "fault_matrix",
        faults::fault_matrix,
        &[
            Need::FaultInjection,
            Need::Datagram,
            Need::Disconnect,
            Need::SocketOptions,
        ],
    ),
    // A Wine session of its own inside a network namespace: packet loss and cut links by
    // nftables (netns.rs).
    case(
        "network_namespace_faults",
        netns::network_namespace_faults,
        &[],
    ),
    case(
        "unload_with_open_endpoints",
        driver::unload_with_open_endpoints,
        &[Need::ConcurrentCloses],
    ),
    case(
        "close_handles_with_hundreds_pended",
        scale::close_handles_with_hundreds_pended,
        &[Need::ConcurrentCloses],
    ),
    case(
        "unload_with_hundreds_of_sockets",
        scale::unload_with_hundreds_of_sockets,
        &[Need::ConcurrentCloses],
    ),
    case(
        "unload_waits_for_held_requests",
        driver::unload_waits_for_held_requests,
        &[Need::HeldClose],
    ),
    case(
        "limits_from_parameters_hold_thousands",
        scale::limits_from_parameters_hold_thousands,
        &[Need::ConcurrentCloses],
    ),
];

/// Names accepted on the command line (`cargo xtask e2e NAME...`).
pub(crate) fn case_names() -> Vec<&'static str> {
    let mut names = vec!["driver_loads"];
    names.extend(CASES.iter().map(|c| c.name));
    names.push("clean_teardown");
    names
}

/// What `provider` lacks of `needs`: empty when the case can run.
fn lacking(provider: Provider, needs: &[Need]) -> Vec<&'static str> {
    match provider {
        // Wine 8.0's netio.sys: IPv4 TCP connect/listen/accept/send/receive and name
        // resolution; WskDisconnect, WskControlSocket, WskControlClient and datagram sockets
        // are stubs, and WskBind truncates IPv6 addresses.
        Provider::Wine => needs.iter().map(|need| need.lacking()).collect(),
        // tests/wsk-provider implements every call the cases need.
        Provider::Wskrs => Vec::new(),
    }
}

#[derive(Default)]
struct Tally {
    passed: u32,
    failed: u32,
    skipped: Vec<&'static str>,
    /// Cases this run's shell cannot pass (shell::only_one_shell_passes), with the reason.
    shell_skipped: Vec<(&'static str, &'static str)>,
}

impl Tally {
    fn skip_for_shell(&mut self, name: &'static str, shell: Shell, reason: &'static str) {
        self.shell_skipped.push((name, reason));
        say(&format!(
            "SKIP {name}: not with the {} shell ({reason})",
            shell.name()
        ));
    }

    fn skip(&mut self, name: &'static str, lacks: &[&str]) {
        self.skipped.push(name);
        say(&format!(
            "SKIP {name}: needs the wsk-rs provider (Wine's netio lacks {})",
            lacks.join(", ")
        ));
    }

    fn record(&mut self, name: &str, started: Instant, result: Result<()>) -> bool {
        match result {
            Ok(()) => {
                self.passed += 1;
                say(&format!(
                    "PASS {name} ({})",
                    fmt_duration(started.elapsed())
                ));
                true
            }
            Err(err) => {
                self.failed += 1;
                let reason = format!("{err:#}").replace('\n', " | ");
                say(&format!("FAIL {name}: {reason}"));
                false
            }
        }
    }
}

/// Fails on a name in `only` that is not a case.
fn check_names(only: &[String]) -> Result<()> {
    let known = case_names();
    if let Some(bad) = only.iter().find(|n| !known.contains(&n.as_str())) {
        bail!("unknown e2e case `{bad}`; cases: {}", known.join(", "));
    }
    Ok(())
}

/// Runs the suite once per shell in `shells` and provider in `providers` (each in its own
/// Wine session), printing each case's line, then a summary per shell × provider when there
/// is more than one run, the skipped cases, and last `e2e: N passed, N failed` over all runs.
pub(crate) fn run(
    layout: &Layout,
    built: &Built,
    only: &[String],
    shells: &[Shell],
    providers: &[Provider],
) -> Result<ExitCode> {
    check_names(only)?;
    let mut runs = Vec::new();
    for &shell in shells {
        for &provider in providers {
            if shells.len() * providers.len() > 1 {
                say(&format!(
                    "== e2e with the {} shell ({}) and WSK provider `{}` ({})",
                    shell.name(),
                    shell.describe(),
                    provider.name(),
                    provider.describe()
                ));
            }
            shell.select();
            provider.select();
            runs.push((
                shell,
                provider,
                run_once(layout, built, only, shell, provider),
            ));
        }
    }
    if runs.len() > 1 {
        for (shell, provider, tally) in &runs {
            say(&format!(
                "e2e [{}, {}]: {} passed, {} failed, {} skipped",
                shell.name(),
                provider.name(),
                tally.passed,
                tally.failed,
                tally.skipped.len() + tally.shell_skipped.len()
            ));
        }
    }
    for (shell, provider, tally) in &runs {
        if !tally.skipped.is_empty() {
            say(&format!(
                "e2e: skipped with [{}, {}] (need the wsk-rs provider), not counted: {}",
                shell.name(),
                provider.name(),
                tally.skipped.join(", ")
            ));
        }
        for (name, reason) in &tally.shell_skipped {
            say(&format!(
                "e2e: skipped with [{}, {}] (only the other shell can pass it), not counted: {name}: {reason}",
                shell.name(),
                provider.name()
            ));
        }
    }
    Shell::forget_selection();
    let passed: u32 = runs.iter().map(|(_, _, t)| t.passed).sum();
    let failed: u32 = runs.iter().map(|(_, _, t)| t.failed).sum();
    // Always the last line of the suite's output.
    say(&format!("e2e: {passed} passed, {failed} failed"));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The suite (or the cases in `only`) once with the wsk-rs provider and its verifier on
/// (`WSKRS_PROVIDER_VERIFY=1`, set in the services' environment): passes when every case
/// passes, the provider said the verifier was on, and it reported no client mistake (its
/// report lines are printed).
pub(crate) fn run_with_verifier(
    layout: &Layout,
    built: &Built,
    only: &[String],
    shell: Shell,
) -> Result<ExitCode> {
    check_names(only)?;
    say("== e2e with WSK provider `wskrs` and its verifier on (WSKRS_PROVIDER_VERIFY=1)");
    Provider::Wskrs.select();
    provider::set_verify(true);
    shell.select();
    let tally = run_once(layout, built, only, shell, Provider::Wskrs);
    if let Err(err) = provider::clear_verify(layout) {
        say(&format!(
            "e2e: could not take WSKRS_PROVIDER_VERIFY out of the prefix again: {err:#}"
        ));
    }
    // What the provider's verifier wrote (it starts empty: the session removed it).
    let log = std::fs::read_to_string(provider::verifier_log(layout)).unwrap_or_default();
    let on = log.contains(provider::VERIFIER_ON);
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(provider::VERIFIER_REPORT))
        .collect();
    for line in reports.iter().take(20) {
        say(&format!("  {line}"));
    }
    say(&format!(
        "e2e [{}, wskrs+verify]: {} passed, {} failed, {} skipped; verifier {}; {} report(s)",
        shell.name(),
        tally.passed,
        tally.failed,
        tally.skipped.len(),
        if on {
            "on"
        } else {
            "NOT on (WSKRS_PROVIDER_VERIFY did not reach the driver host)"
        },
        reports.len()
    ));
    Ok(if tally.failed == 0 && on && reports.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One run of the suite in a fresh Wine session with `provider`.
fn run_once(
    layout: &Layout,
    built: &Built,
    only: &[String],
    shell: Shell,
    provider: Provider,
) -> Tally {
    let selected = |name: &str| only.is_empty() || only.iter().any(|n| n == name);
    let mut tally = Tally::default();
    let suite_started = Instant::now();

    let started = Instant::now();
    match Session::start(layout, built) {
        Err(err) => {
            tally.record("wine_session", started, Err(err));
        }
        Ok(session) => {
            if let Some(took) = session.prefix_created {
                say(&format!(
                    "e2e: created the Wine prefix in {}",
                    fmt_duration(took)
                ));
            }
            let cx = Ctx {
                layout,
                wine: &session.wine,
                provider,
                shell,
            };
            if shell == Shell::Kmdf {
                // The runtime's own checks (real IRPs, no shell), before the driver loads.
                let started = Instant::now();
                tally.record(
                    "kmdf_runtime_selftest",
                    started,
                    shell::selftest(&session.wine, layout),
                );
            }
            let started = Instant::now();
            let mut watch = host::HostWatch::new(&layout.wine_log());
            tally.record("driver_loads", started, driver::driver_loads(&cx));
            let mut baseline = held::Baseline::read(cx.wine);
            // The case after which the driver host died: the later ones are not run.
            let mut host_died_after: Option<&'static str> = None;
            let mut previous = "driver_loads";
            for case in CASES.iter().filter(|c| selected(c.name)) {
                let lacks = lacking(provider, case.needs);
                if let Some(reason) = shell::only_one_shell_passes(shell, case.name) {
                    tally.skip_for_shell(case.name, shell, reason);
                } else if !lacks.is_empty() {
                    tally.skip(case.name, &lacks);
                } else if let Some(crashed) = host_died_after {
                    tally.record(
                        case.name,
                        Instant::now(),
                        Err(anyhow::anyhow!(
                            "not run: the driver host crashed after `{crashed}`"
                        )),
                    );
                } else {
                    let started = Instant::now();
                    let mut result = (case.run)(&cx).and_then(|()| match &mut baseline {
                        Ok(baseline) => baseline.after_case(cx.wine, case.name),
                        Err(err) => bail!("no HELD baseline after the driver loaded: {err:#}"),
                    });
                    // A crash fails the case whatever it asserted, even when it shows only
                    // after the case's own checks (a provider callback after a close).
                    let crash = watch.crash_lines();
                    if !crash.is_empty() {
                        let failure = host::crash_failure(&crash, previous);
                        result = Err(match result {
                            Ok(()) => anyhow::anyhow!(failure),
                            Err(err) => err.context(failure),
                        });
                        if !host::device_opens(cx.wine) {
                            host_died_after = Some(case.name);
                        }
                    }
                    if result.is_err() {
                        // A failed case may leave anything open: compare the next with now.
                        baseline = held::Baseline::read(cx.wine);
                    }
                    tally.record(case.name, started, result);
                    previous = case.name;
                }
            }
            let started = Instant::now();
            let teardown = driver::clean_teardown(&cx)
                .and_then(|()| shell::check_after_unload(shell, layout))
                .and(session.finish())
                .and_then(|()| {
                    let crash = watch.crash_lines();
                    if crash.is_empty() {
                        Ok(())
                    } else {
                        bail!(host::crash_failure(&crash, previous))
                    }
                });
            tally.record("clean_teardown", started, teardown);
        }
    }

    say(&format!(
        "(suite with the {} shell and provider `{}` took {}; Wine's output: {})",
        shell.name(),
        provider.name(),
        fmt_duration(suite_started.elapsed()),
        layout.wine_log().display()
    ));
    tally
}

#[cfg(test)]
mod case_tests {
    use super::{case_names, lacking, Need, CASES};
    use crate::provider::Provider;

    #[test]
    fn names_are_unique() {
        let mut names = case_names();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn wine_skips_exactly_the_cases_with_needs() {
        let skipped: Vec<&str> = CASES
            .iter()
            .filter(|c| !lacking(Provider::Wine, c.needs).is_empty())
            .map(|c| c.name)
            .collect();
        assert_eq!(
            skipped,
            [
                "ipv6_echo_listener",
                "a_held_resolve_holds_only_its_caller",
                "udp_echo_1000_datagrams",
                "udp_sendto_recvfrom",
                "udp_recvfrom_truncates_a_longer_datagram",
                "options_round_trip",
                "graceful_disconnect",
                "abortive_disconnect",
                "security_round_trip",
                "secure_connection_settings",
                "secure_udp_peer_names",
                "dual_stack_listener_accepts_ipv4_and_ipv6",
                "slow_reader_back_pressure",
                "bind_sharing_table",
                "listener_refuses_per_descriptor",
                "isolation_between_processes",
                "endpoint_quota_per_handle",
                "fault_matrix",
                "unload_with_open_endpoints",
                "close_handles_with_hundreds_pended",
                "unload_with_hundreds_of_sockets",
                "unload_waits_for_held_requests",
                "limits_from_parameters_hold_thousands"
            ]
        );
        assert!(CASES
            .iter()
            .all(|c| lacking(Provider::Wskrs, c.needs).is_empty()));
        assert_eq!(
            lacking(Provider::Wine, &[Need::Disconnect]),
            ["WskDisconnect"]
        );
    }
}
