//! `wskrs-bench call COUNT`: the time of one request to Wine's server, `ResetEvent` on an
//! event of this process (Wine 8's ntdll sends every event operation to its server).
//!
//! Beside the IOCTL floor it prices what a reply with output costs on top of a refused IOCTL:
//! the client fetches the output in a request of its own (`get_async_result`, seen in a
//! `WINEDEBUG=+server` trace of `ioctl info` against `ioctl floor`).

use std::time::Instant;

use windows_sys::Win32::Foundation::CloseHandle;
use windows_sys::Win32::System::Threading::{CreateEventW, ResetEvent};

/// `call COUNT`: COUNT `ResetEvent`s, each timed; prints the median.
pub(crate) fn measure(count: usize) -> Result<String, String> {
    // SAFETY: default security, manual reset, not signalled, no name.
    let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if event.is_null() {
        return Err(format!("CreateEventW: {}", std::io::Error::last_os_error()));
    }
    let mut micros = Vec::with_capacity(count);
    let mut failed = None;
    for _ in 0..count {
        let started = Instant::now();
        // SAFETY: `event` is the open event created above.
        if unsafe { ResetEvent(event) } == 0 {
            failed = Some(std::io::Error::last_os_error());
            break;
        }
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    // SAFETY: `event` is open and closed once, here.
    unsafe { CloseHandle(event) };
    if let Some(error) = failed {
        return Err(format!("ResetEvent: {error}"));
    }
    Ok(format!(
        "{{\"event\":\"call\",\"count\":{count},\"median_us\":{:.2}}}",
        crate::median(&mut micros)
    ))
}
