//! Security descriptors: what a listener or a UDP socket is created with, `wskctl security`
//! reads back.

use anyhow::{ensure, Result};

use super::helpers::{at, close, json_ok, listen, LOOPBACK4};
use super::Ctx;
use crate::util::{free_port, json_str, json_u64};
use crate::wine::WSKCTL_TIMEOUT;

/// The descriptor of the security round trip: SYSTEM has all access, nobody else any.
const SDDL: &str = "D:P(A;;GA;;;SY)";

/// `tcp listen --sddl` then `security` prints the same SDDL.
pub(super) fn security_round_trip(cx: &Ctx<'_>) -> Result<()> {
    let port = free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "echo", &["--sddl", SDDL])?;
    let out = cx
        .wine
        .wskctl_ok(&["security", &id.to_string()], WSKCTL_TIMEOUT)?;
    ensure!(
        out.stdout.trim() == SDDL,
        "`wskctl security {id}` printed {:?}, expected {SDDL}",
        out.stdout.trim()
    );
    let reply = json_ok(cx.wine, &["security", &id.to_string()])?;
    ensure!(
        json_str(&reply, "sddl")? == SDDL,
        "`wskctl --json security {id}` gave {reply}"
    );
    close(cx.wine, id)?;
    // A UDP socket gets its descriptor through WskSocket's SecurityDescriptor parameter
    // (the listener above through SO_WSK_SECURITY): read back the same way.
    let udp_port = free_port()?;
    let udp = json_ok(
        cx.wine,
        &[
            "udp",
            "bind",
            &at(LOOPBACK4, udp_port),
            "--sddl",
            SDDL,
            "--detach",
        ],
    )?;
    let udp_id = json_u64(&udp, "id")?;
    let reply = json_ok(cx.wine, &["security", &udp_id.to_string()])?;
    ensure!(
        json_str(&reply, "sddl")? == SDDL,
        "UDP socket {udp_id} created with {SDDL}: `wskctl --json security` gave {reply}"
    );
    close(cx.wine, udp_id)
}
