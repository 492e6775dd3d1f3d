//! `wskrs-bench ring event|yield COUNT`: what a request ring in memory shared between two
//! processes costs under Wine, beside the IOCTL floor (issue 11: "if shared memory between
//! the client and the driver can work under Wine, measure it").
//!
//! Under Wine the driver is a process of its own (`winedevice.exe`), so a ring between the
//! client and the driver is a named section mapped by two Wine processes. This measures that
//! mechanism between this process and a child of its own (`ring-peer`), which answers each
//! 64-byte request with the same bytes, as an echo through a ring would:
//! - `event`: each side rings the other's auto-reset event (`SetEvent`, then
//!   `WaitForSingleObject`): the doorbell a ring needs when the other side sleeps.
//! - `yield`: each side polls the other's sequence number in the shared page, yielding the
//!   CPU between looks (`SwitchToThread`): no doorbell, and no wineserver call at all.
//!
//! The driver does not have a ring (it would map the section into its own process, which
//! under Wine is a user process); this is the floor such a ring would have here.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, FILE_MAP_ALL_ACCESS,
    MEMORY_MAPPED_VIEW_ADDRESS, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenEventW, SetEvent, SwitchToThread, WaitForSingleObject, EVENT_ALL_ACCESS,
};

/// Bytes of each request and reply.
const MESSAGE: usize = 64;
/// How long either side waits for the other before giving up.
const PATIENCE: Duration = Duration::from_secs(30);

/// The shared page: the requests and replies (one of each in flight) and their sequence
/// numbers. `repr(C)` so both processes agree; atomics because both write it.
#[repr(C)]
struct Shared {
    /// The peer has mapped the page and opened the events.
    ready: AtomicU32,
    /// The last request written (1, 2, ...), 0 none.
    request_seq: AtomicU64,
    /// The last request answered.
    reply_seq: AtomicU64,
    request: [AtomicU64; MESSAGE / 8],
    reply: [AtomicU64; MESSAGE / 8],
}

/// How the two sides tell each other that a message is there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Doorbell {
    Event,
    Yield,
}

impl Doorbell {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "event" => Ok(Self::Event),
            "yield" => Ok(Self::Yield),
            other => Err(format!("`{other}`: use event or yield")),
        }
    }
}

/// A handle closed when dropped.
struct Owned(HANDLE);

impl Owned {
    fn new(handle: HANDLE, what: &str) -> Result<Self, String> {
        if handle.is_null() || handle == INVALID_HANDLE_VALUE {
            Err(format!("{what}: {}", std::io::Error::last_os_error()))
        } else {
            Ok(Self(handle))
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by `Owned::new`'s caller and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// The shared page mapped into this process, unmapped when dropped.
///
/// # Invariants
/// `view` is a read-write view of at least `size_of::<Shared>()` bytes of `_section`,
/// page-aligned, mapped until drop.
struct View {
    view: MEMORY_MAPPED_VIEW_ADDRESS,
    _section: Owned,
}

impl View {
    fn map(section: Owned) -> Result<Self, String> {
        // SAFETY: `section` is a valid file-mapping handle opened for all access.
        let view =
            unsafe { MapViewOfFile(section.0, FILE_MAP_ALL_ACCESS, 0, 0, size_of::<Shared>()) };
        if view.Value.is_null() {
            return Err(format!(
                "MapViewOfFile: {}",
                std::io::Error::last_os_error()
            ));
        }
        // INVARIANT: mapped above, read-write, page-aligned, the section's size or more.
        Ok(Self {
            view,
            _section: section,
        })
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the view is mapped, aligned and large enough (type invariant); `Shared` is
        // atomics only, valid for any bytes (a new section is zeroed), and every access from
        // either process goes through them.
        unsafe { &*self.view.Value.cast::<Shared>() }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: mapped in `View::map`, unmapped once, here; no reference from `shared`
        // outlives `self`.
        unsafe { UnmapViewOfFile(self.view) };
    }
}

/// NUL-terminated UTF-16 for the object names.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// The names of one ring's section and events.
fn names(base: &str) -> [Vec<u16>; 3] {
    [
        wide(&format!("Local\\{base}-page")),
        wide(&format!("Local\\{base}-request")),
        wide(&format!("Local\\{base}-reply")),
    ]
}

/// Waits for `event` at most [`PATIENCE`].
fn wait(event: &Owned, what: &str) -> Result<(), String> {
    let millis = u32::try_from(PATIENCE.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: `event` is a valid event handle.
    let result = unsafe { WaitForSingleObject(event.0, millis) };
    if result == WAIT_OBJECT_0 {
        Ok(())
    } else {
        Err(format!(
            "{what}: no signal within {PATIENCE:?} ({result:#x})"
        ))
    }
}

fn signal(event: &Owned, what: &str) -> Result<(), String> {
    // SAFETY: `event` is a valid event handle.
    if unsafe { SetEvent(event.0) } == 0 {
        Err(format!(
            "SetEvent({what}): {}",
            std::io::Error::last_os_error()
        ))
    } else {
        Ok(())
    }
}

/// Polls until `value` reaches `target`, yielding between looks, at most [`PATIENCE`].
fn poll(value: &AtomicU64, target: u64, what: &str) -> Result<(), String> {
    let started = Instant::now();
    while value.load(Ordering::Acquire) != target {
        if started.elapsed() > PATIENCE {
            return Err(format!("{what}: not seen within {PATIENCE:?}"));
        }
        // SAFETY: no preconditions.
        unsafe { SwitchToThread() };
    }
    Ok(())
}

fn create_event(name: &[u16]) -> Result<Owned, String> {
    // SAFETY: default security, auto-reset, not signalled; `name` is NUL-terminated.
    Owned::new(
        unsafe { CreateEventW(std::ptr::null(), 0, 0, name.as_ptr()) },
        "CreateEventW",
    )
}

fn open_event(name: &[u16]) -> Result<Owned, String> {
    // SAFETY: `name` is NUL-terminated.
    Owned::new(
        unsafe { OpenEventW(EVENT_ALL_ACCESS, 0, name.as_ptr()) },
        "OpenEventW",
    )
}

/// `ring MODE COUNT`: starts the peer, measures COUNT round trips, prints the median.
pub(crate) fn measure(mode: &str, count: usize) -> Result<String, String> {
    let doorbell = Doorbell::parse(mode)?;
    let base = format!("wskrs-bench-ring-{}", std::process::id());
    let [page, request_name, reply_name] = names(&base);
    let size = u32::try_from(size_of::<Shared>()).map_err(|_| "page size".to_owned())?;
    // SAFETY: a page-file-backed section of `size` bytes; `page` is NUL-terminated.
    let section = Owned::new(
        unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE,
                0,
                size,
                page.as_ptr(),
            )
        },
        "CreateFileMappingW",
    )?;
    let view = View::map(section)?;
    let request_event = create_event(&request_name)?;
    let reply_event = create_event(&reply_name)?;
    let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    let mut peer = std::process::Command::new(exe)
        .args(["ring-peer", mode, &base, &count.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the ring's peer: {e}"))?;
    let shared = view.shared();
    let started = Instant::now();
    while shared.ready.load(Ordering::Acquire) == 0 {
        if started.elapsed() > PATIENCE || matches!(peer.try_wait(), Ok(Some(_))) {
            let _ = peer.kill();
            return Err("the ring's peer did not start".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut micros = Vec::with_capacity(count);
    let mut outcome = Ok(());
    for seq in 1..=u64::try_from(count).unwrap_or(u64::MAX) {
        let started = Instant::now();
        for (i, word) in shared.request.iter().enumerate() {
            word.store(
                seq.wrapping_mul(31)
                    .wrapping_add(u64::try_from(i).unwrap_or(0)),
                Ordering::Relaxed,
            );
        }
        shared.request_seq.store(seq, Ordering::Release);
        let answered = match doorbell {
            Doorbell::Event => {
                signal(&request_event, "request").and_then(|()| wait(&reply_event, "reply"))
            }
            Doorbell::Yield => poll(&shared.reply_seq, seq, "reply"),
        };
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        if let Err(e) = answered {
            outcome = Err(e);
            break;
        }
        let echoed = shared
            .reply
            .iter()
            .zip(&shared.request)
            .all(|(a, b)| a.load(Ordering::Relaxed) == b.load(Ordering::Relaxed));
        if shared.reply_seq.load(Ordering::Acquire) != seq || !echoed {
            outcome = Err(format!("reply {seq} is not the request's echo"));
            break;
        }
    }
    if outcome.is_err() {
        let _ = peer.kill();
    }
    let status = peer
        .wait()
        .map_err(|e| format!("waiting for the peer: {e}"))?;
    outcome?;
    if !status.success() {
        return Err(format!("the ring's peer failed: {status}"));
    }
    Ok(format!(
        "{{\"event\":\"ring\",\"doorbell\":\"{mode}\",\"bytes\":{MESSAGE},\"count\":{count},\"median_us\":{:.2}}}",
        crate::median(&mut micros)
    ))
}

/// `ring-peer MODE NAME COUNT`: the other side, answering COUNT requests.
pub(crate) fn answer(mode: &str, base: &str, count: usize) -> Result<String, String> {
    let doorbell = Doorbell::parse(mode)?;
    let [page, request_name, reply_name] = names(base);
    // SAFETY: `page` is NUL-terminated.
    let section = Owned::new(
        unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, page.as_ptr()) },
        "OpenFileMappingW",
    )?;
    let view = View::map(section)?;
    let request_event = open_event(&request_name)?;
    let reply_event = open_event(&reply_name)?;
    let shared = view.shared();
    shared.ready.store(1, Ordering::Release);
    for seq in 1..=u64::try_from(count).unwrap_or(u64::MAX) {
        match doorbell {
            Doorbell::Event => wait(&request_event, "request")?,
            Doorbell::Yield => poll(&shared.request_seq, seq, "request")?,
        }
        for (to, from) in shared.reply.iter().zip(&shared.request) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        shared.reply_seq.store(seq, Ordering::Release);
        if doorbell == Doorbell::Event {
            signal(&reply_event, "reply")?;
        }
    }
    Ok(format!("{{\"event\":\"ring-peer\",\"answered\":{count}}}"))
}
