//! The end-to-end case that runs `wskctl selftest` (the self-test a Windows VM user runs)
//! under Wine, with whichever shell and provider the run loaded: its peers live inside
//! wskctl, so the case needs none of its own. It checks the JSON report, not the driver.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::{abi, Ctx, Need};
use crate::choice::Choice;
use crate::provider::Provider;
use crate::util::{json_str, json_u64, parse_json_output, say};
use crate::wine::WSKCTL_TIMEOUT;

/// The whole self-test takes a few seconds under Wine; this is its deadline.
const SELFTEST_TIMEOUT: Duration = Duration::from_secs(180);

/// The WSK call (or IRP routine) that names each capability Wine's netio.sys lacks: a skip
/// under Wine must name one of these.
fn call_of(need: Need) -> &'static str {
    match need {
        Need::Datagram => "WskSendTo",
        Need::SocketOptions | Need::AddressSharing | Need::SecureSockets => "WskControlSocket",
        Need::Disconnect => "WskDisconnect",
        Need::HeldClose | Need::ConcurrentCloses => "WskCloseSocket",
        // No WSK call: a switch of the project's provider (never a selftest scenario's need).
        Need::FaultInjection => "WSKRS_PROVIDER_FAULT",
        Need::HeldResolve => "WSKRS_PROVIDER_HOLD_RESOLVE",
        Need::Security => "WSK_CACHE_SD",
        Need::Ipv6 => "WskBind",
        Need::Cancel => "IoCancelIrp",
    }
}

/// `wskctl --json selftest`: exit 0, every scenario of `--list` ran, none failed; with the
/// wsk-rs provider every one passed; with Wine's netio.sys each skip names the WSK call it
/// lacks and carries the driver's status. The driver's endpoint count is unchanged, and the
/// text table says the same as the JSON.
pub(super) fn selftest(cx: &Ctx<'_>) -> Result<()> {
    let info = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    let endpoints_before = json_u64(&info, "endpoints")?;
    let listed = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "selftest", "--list"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    let names: Vec<&str> = listed
        .as_array()
        .context("`selftest --list` is not an array")?
        .iter()
        .map(|entry| json_str(entry, "name"))
        .collect::<Result<_>>()?;
    ensure!(names.len() >= 20, "only {} scenarios listed", names.len());

    let out = cx.wine.wskctl(&["--json", "selftest"], SELFTEST_TIMEOUT)?;
    let report = parse_json_output(&out.stdout)
        .with_context(|| format!("exit {:?}, stderr: {}", out.code(), out.stderr))?;
    let scenarios = report["scenarios"]
        .as_array()
        .context("no `scenarios` array in the report")?;
    let ran: Vec<&str> = scenarios
        .iter()
        .map(|scenario| json_str(scenario, "name"))
        .collect::<Result<_>>()?;
    ensure!(ran == names, "the report has {ran:?}, --list has {names:?}");

    let with = |outcome: &str| -> Vec<&Value> {
        scenarios
            .iter()
            .filter(|scenario| scenario["outcome"] == outcome)
            .collect()
    };
    let (passed, failed, skipped) = (with("pass"), with("fail"), with("skip"));
    ensure!(
        passed.len() + failed.len() + skipped.len() == scenarios.len(),
        "outcomes other than pass, fail and skip: {report}"
    );
    let reasons = |list: &[&Value]| -> String {
        list.iter()
            .map(|scenario| format!("{}: {}", scenario["name"], scenario["reason"]))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    ensure!(
        failed.is_empty(),
        "{} scenarios failed: {}",
        failed.len(),
        reasons(&failed)
    );
    ensure!(
        out.code() == Some(0),
        "wskctl selftest exited {:?} with no failure in its report",
        out.code()
    );
    for (key, count) in [
        ("passed", passed.len()),
        ("failed", 0),
        ("skipped", skipped.len()),
    ] {
        ensure!(
            json_u64(&report, key)? == count as u64,
            "the report's `{key}` is {}, its scenarios say {count}",
            report[key]
        );
    }
    ensure!(
        json_u64(&report, "protocol")? == u64::from(abi::ABI_VERSION)
            && json_str(&report, "driver_version")? == "0.1.0",
        "versions in the report: {report}"
    );
    json_str(&report, "wsk_version").context("the WSK provider's version")?;
    let os = json_str(&report, "os")?;
    ensure!(
        os.contains("(Wine "),
        "the OS string `{os}` does not say Wine"
    );

    check_provider_rules(cx.provider, &passed, &skipped, scenarios.len())?;

    let info = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    let endpoints_after = json_u64(&info, "endpoints")?;
    ensure!(
        endpoints_after == endpoints_before,
        "the driver had {endpoints_before} endpoints before the self-test, {endpoints_after} after"
    );

    check_table(cx)?;
    say(&format!(
        "     selftest [{}]: {} passed, {} skipped of {} scenarios in {} ms",
        cx.provider.name(),
        passed.len(),
        skipped.len(),
        scenarios.len(),
        report["duration_ms"]
    ));
    Ok(())
}

/// With the wsk-rs provider every scenario passes; with Wine's netio.sys something is
/// skipped, and each skip names a WSK call Wine lacks and carries the driver's status.
fn check_provider_rules(
    provider: Provider,
    passed: &[&Value],
    skipped: &[&Value],
    total: usize,
) -> Result<()> {
    let reasons = |list: &[&Value]| -> String {
        list.iter()
            .map(|scenario| format!("{}: {}", scenario["name"], scenario["reason"]))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    match provider {
        Provider::Wskrs => ensure!(
            skipped.is_empty() && passed.len() == total,
            "with the wsk-rs provider every scenario must pass; skipped: {}",
            reasons(skipped)
        ),
        Provider::Wine => {
            ensure!(
                !skipped.is_empty(),
                "Wine's netio.sys lacks datagram sockets, yet nothing was skipped"
            );
            for scenario in skipped {
                let needs = json_str(scenario, "needs")?;
                ensure!(
                    Need::ALL.iter().any(|&need| needs.contains(call_of(need))),
                    "{}: the skip names no WSK call Wine lacks: {needs}",
                    scenario["name"]
                );
                let status = json_str(scenario, "status")?;
                let reason = json_str(scenario, "reason")?;
                ensure!(
                    status.starts_with("STATUS_") && reason.contains(status),
                    "{}: the skip's reason does not carry the driver's status {status}: {reason}",
                    scenario["name"]
                );
            }
        }
    }
    Ok(())
}

/// The text table of two scenarios: a row each and the summary line.
fn check_table(cx: &Ctx<'_>) -> Result<()> {
    let table = cx
        .wine
        .wskctl_ok(
            &["selftest", "--only", "info_and_stats", "malformed_requests"],
            WSKCTL_TIMEOUT,
        )?
        .stdout;
    ensure!(
        table.contains("\ninfo_and_stats ")
            && table.contains("\nmalformed_requests ")
            && table.contains("2 scenarios: 2 passed, 0 failed, 0 skipped"),
        "the text table:\n{table}"
    );
    Ok(())
}
