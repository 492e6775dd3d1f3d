//! Who owns an endpoint: the handle that opened it. An endpoint not detached ends with its
//! owner's handle (detached ones and driver unload: `driver`).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use super::Ctx;
use crate::peers;
use crate::scenarios::{find_endpoint, list, wait_closed};
use crate::util::{json_u64, parse_json_output, wine_path};
use crate::wine::WSKCTL_TIMEOUT;

/// Closing the client handle closes its endpoints: a non-detached connection ends when
/// wskctl exits.
pub(super) fn handle_close_closes_endpoints(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, port) = peers::echo_server(cx.layout, "echo-server-handle-close")?;
    let remote = format!("127.0.0.1:{port}");
    let echoed = cx.layout.scratch.join("handle-close-echo.bin");
    // Send, read the echo back (so no unread data turns the close into a reset), exit.
    let out = cx.wine.wskctl_ok(
        &[
            "--json",
            "tcp",
            "connect",
            &remote,
            "--send-text",
            "hello",
            "--recv-exact",
            "5",
            "--recv-to-file",
            &wine_path(&echoed)?,
        ],
        WSKCTL_TIMEOUT,
    )?;
    let exited = Instant::now();
    let back = std::fs::read(&echoed).context("reading what wskctl received")?;
    ensure!(
        back == b"hello",
        "wskctl received {back:?}, expected the echo of \"hello\""
    );
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?;
    server.wait_event("accept", Duration::from_secs(5))?;
    let how = wait_closed(&mut server, Duration::from_secs(5))
        .context("the server did not see the connection end within 5 s of wskctl's exit")?;
    let after = exited.elapsed();
    let closed = server.wait_event("closed", Duration::from_secs(5))?;
    let received = json_u64(&closed, "received")?;
    ensure!(
        received == 5,
        "server received {received} bytes before the close, expected 5 (\"hello\")"
    );
    ensure!(
        how == "eof",
        "connection ended by {how} {} ms after wskctl exited, expected an orderly EOF",
        after.as_millis()
    );
    ensure!(
        find_endpoint(&list(cx.wine)?, id).is_none(),
        "endpoint {id} is still listed after its owner exited"
    );
    Ok(())
}
