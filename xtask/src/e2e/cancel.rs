//! Cancelling a request the driver holds pending: Ctrl-C on a receive in `wskctl shell` and
//! on a single `wskctl recv`, both answered promptly.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use super::helpers::{close, connected_sink};
use super::terminal::{connected_id, count, listed, shell_line, tmux_wskctl, Tmux};
use super::Ctx;
use crate::peers;
use crate::provider::Provider;
use crate::util::{fmt_duration, say};

/// How long a receive waits in the cancellation cases: far longer than the checks allow.
const LONG_RECV_MS: u64 = 30_000;

/// A cancelled request must be reported within this long of the Ctrl-C (Wine's netio
/// ignores cancellation; the driver closes the socket after a 1 s grace).
const CANCEL_PROMPTLY: Duration = Duration::from_secs(5);

/// A receive waits pended in the driver and is cancellable. In `wskctl shell` (in
/// tmux) a `recv` with a 30 s timeout on a connection whose peer sends nothing gets Ctrl-C
/// after 0.5 s: the shell must print the cancellation within 5 s and keep its session
/// (`list` works, the connection is still listed). With the wsk-rs provider the connection
/// must still work (an echo round trip on the same id); Wine's netio ignores cancellation,
/// so the driver closes the socket and the endpoint may be `broken` (reported, not failed).
pub(super) fn cancelled_receive_returns_promptly(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, port) = peers::echo_server(cx.layout, "echo-server-cancel")?;
    let tmux = Tmux::new("wskrs-e2e-cancel");
    tmux_wskctl(cx, &tmux, "shell --no-history")?;
    tmux.wait("prompt", Duration::from_secs(30), |s| s.contains("wskctl>"))?;
    let screen = shell_line(
        &tmux,
        &format!("tcp connect 127.0.0.1:{port}"),
        "`endpoint N connected`",
        |s| s.contains(&format!("-> 127.0.0.1:{port}")),
    )?;
    let id = connected_id(&screen)?;
    server.wait_event("accept", Duration::from_secs(5))?;

    tmux.keys(&["-l", &format!("recv {id} --timeout-ms {LONG_RECV_MS}")])?;
    tmux.keys(&["Enter"])?;
    std::thread::sleep(Duration::from_millis(500));
    let pressed = Instant::now();
    tmux.keys(&["C-c"])?;
    let cancelled = format!("cancelled: recv on endpoint {id}: the request was cancelled");
    // The whole line, status included: under load the screen can be read mid-line.
    let screen = tmux.wait("the cancellation", CANCEL_PROMPTLY, |s| {
        s.contains(&cancelled)
            && (s.contains("STATUS_CANCELLED") || s.contains("STATUS_IO_TIMEOUT"))
    })?;
    let took = pressed.elapsed();
    ensure!(
        screen.contains("STATUS_CANCELLED") && !screen.contains("STATUS_IO_TIMEOUT"),
        "the receive did not end as cancelled:\n{screen}"
    );
    say(&format!(
        "     recv cancelled {} after Ctrl-C (timeout was {} s)",
        fmt_duration(took),
        LONG_RECV_MS / 1000
    ));

    // The session goes on: `list` still shows the connection.
    let row = format!("127.0.0.1:{port}");
    let screen = shell_line(&tmux, "list", "the list", |s| listed(s, 1))?;
    let listed = screen
        .lines()
        .skip_while(|line| !line.contains("ID  KIND"))
        .find(|line| line.contains(&row))
        .with_context(|| format!("connection {id} is gone from the list:\n{screen}"))?
        .to_owned();
    match cx.provider {
        Provider::Wskrs => {
            ensure!(
                listed.contains("connected"),
                "after the cancel, connection {id} is not `connected`: {listed}"
            );
            shell_line(
                &tmux,
                &format!("send {id} --text ping"),
                "`sent 4 bytes`",
                |s| s.contains("sent 4 bytes"),
            )?;
            let screen = shell_line(
                &tmux,
                &format!("recv {id} --exact 4"),
                "the echo after the cancel",
                |s| s.contains("received 4 bytes") || count(s, "error:") > 0,
            )?;
            ensure!(
                screen.contains("received 4 bytes"),
                "connection {id} does not work after the cancel:\n{screen}"
            );
        }
        Provider::Wine => say(&format!(
            "     Wine's netio ignores cancellation: the driver closed the socket; LIST says: {}",
            listed.trim()
        )),
    }
    shell_line(&tmux, "exit", "the shell's exit", |s| {
        s.contains("wskctl exited")
    })
    .and_then(|screen| {
        ensure!(
            screen.contains("wskctl exited 0"),
            "the shell did not exit 0:\n{screen}"
        );
        Ok(())
    })?;
    Ok(())
}

/// Gives the single wskctl command running in `tmux` (`what`) time to start and send its
/// requests (Wine starts a program in well under 3 s here), checks it still waits, presses
/// Ctrl-C and waits up to [`CANCEL_PROMPTLY`] for it to exit; returns the screen and the time
/// from the key to the exit.
pub(super) fn ctrl_c_while_waiting(tmux: &Tmux, what: &str) -> Result<(String, Duration)> {
    std::thread::sleep(Duration::from_secs(3));
    let before = tmux.screen()?;
    ensure!(
        !before.contains("wskctl exited"),
        "`{what}` ended before Ctrl-C:\n{before}"
    );
    let pressed = Instant::now();
    tmux.keys(&["C-c"])?;
    let screen = tmux.wait("wskctl's exit", CANCEL_PROMPTLY, |s| {
        s.contains("wskctl exited")
    })?;
    Ok((screen, pressed.elapsed()))
}

/// A single `wskctl recv` (a 30 s timeout, a detached connection whose peer sends nothing)
/// gets Ctrl-C once its request is outstanding: it prints `cancelled: ...` and exits 130
/// within 5 s.
pub(super) fn ctrl_c_cancels_a_single_command(cx: &Ctx<'_>) -> Result<()> {
    // The sink stays up until the case ends: its connection is the one receiving.
    let (_sink, id) = connected_sink(cx, "sink-server-ctrl-c", &[])?;
    let tmux = Tmux::new("wskrs-e2e-ctrl-c");
    tmux_wskctl(cx, &tmux, &format!("recv {id} --timeout-ms {LONG_RECV_MS}"))?;
    // The RECV is outstanding in the driver once the process has started (LIST counts it
    // only once done).
    let (screen, took) = ctrl_c_while_waiting(&tmux, &format!("wskctl recv {id}"))?;
    ensure!(
        screen.contains(&format!(
            "cancelled: recv on endpoint {id}: the request was cancelled"
        )) && screen.contains("wskctl exited 130"),
        "expected `cancelled: recv on endpoint {id}: ...` and exit 130 {} after Ctrl-C:\n{screen}",
        fmt_duration(took)
    );
    close(cx.wine, id)
}
