//! The driver host's health between cases: a crash of `winedevice.exe` (the process that
//! hosts the driver and the WSK provider) fails the case after which it shows, with Wine's
//! crash lines, and the cases after it are not run on a dead host but reported as failed.
//!
//! Wine writes a crash of the driver host (`wine: Unhandled page fault ...`, the heap's
//! `err:heap` reports) to the session's log (`target/wine/logs/wine.log`), which every
//! process of the prefix shares. This module owns the log offset read so far and the
//! patterns that mean the host died.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::wine::{Wine, WSKCTL_TIMEOUT};

/// Lines of Wine's log that mean a process of the prefix crashed or corrupted its heap.
const CRASH_MARKERS: &[&str] = &["wine: Unhandled", "err:heap"];

/// Most crash lines quoted in a failure.
const QUOTED: usize = 12;

/// Reads Wine's log from where the last check stopped.
pub(crate) struct HostWatch {
    log: PathBuf,
    offset: u64,
}

impl HostWatch {
    /// Watches `log` from its current end.
    pub(crate) fn new(log: &Path) -> Self {
        let offset = std::fs::metadata(log).map_or(0, |m| m.len());
        Self {
            log: log.to_path_buf(),
            offset,
        }
    }

    /// The crash lines Wine wrote since the last call (empty when none), and the log read up
    /// to its end.
    pub(crate) fn crash_lines(&mut self) -> Vec<String> {
        let text = self.read_new();
        crash_lines_in(&text)
    }

    fn read_new(&mut self) -> String {
        let Ok(mut file) = File::open(&self.log) else {
            return String::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Truncated by a new session: read it all.
            self.offset = 0;
        }
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return String::new();
        }
        self.offset = self.offset.saturating_add(bytes.len() as u64);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The lines of `text` that report a crash, at most [`QUOTED`], with the backtrace lines
/// winedbg may print after an `Unhandled` line.
fn crash_lines_in(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| CRASH_MARKERS.iter().any(|m| l.contains(m)))
        .take(QUOTED)
        .map(|l| l.trim_end().to_owned())
        .collect()
}

/// The failure of the case in or after which Wine reported a crash; `previous` is the case
/// before it (whose end the log was last read at).
pub(crate) fn crash_failure(lines: &[String], previous: &str) -> String {
    format!(
        "a process of the prefix crashed during this case (or right after `{previous}`, \
         whose end the log was read at); Wine's log says: {}",
        lines.join(" | ")
    )
}

/// Whether the device still opens and answers INFO: the driver host is alive.
pub(crate) fn device_opens(wine: &Wine) -> bool {
    wine.wskctl(&["info"], WSKCTL_TIMEOUT)
        .is_ok_and(|out| out.success())
}

#[cfg(test)]
mod tests {
    use super::{crash_lines_in, HostWatch};
    use std::io::Write;

    #[test]
    fn finds_the_page_fault_and_heap_lines_only() {
        let log = "0128:fixme:netio:wsk_control_socket stub\n\
                   wine: Unhandled page fault on write access to 0000000000000038 at address 00000001D826436E (thread 0140), starting debugger...\n\
                   == wskctl info\n\
                   0130:err:heap:RtlFreeHeap invalid ptr\n";
        let lines = crash_lines_in(log);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("write access to 0000000000000038"));
        assert!(lines[1].contains("err:heap"));
        assert!(crash_lines_in("0128:fixme:netio:x stub\n== wskctl stats\n").is_empty());
    }

    #[test]
    fn reads_only_what_was_written_since_the_last_check() {
        let path = std::env::temp_dir().join(format!("xtask-host-watch-{}", std::process::id()));
        std::fs::write(&path, "wine: Unhandled page fault before the watch\n").unwrap();
        let mut watch = HostWatch::new(&path);
        assert!(
            watch.crash_lines().is_empty(),
            "an old crash is not this case's"
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(file, "wine: Unhandled page fault now").unwrap();
        assert_eq!(watch.crash_lines(), ["wine: Unhandled page fault now"]);
        assert!(watch.crash_lines().is_empty(), "reported once");
        // A new session truncates the log: read from its start.
        std::fs::write(&path, "err:heap:x\n").unwrap();
        assert_eq!(watch.crash_lines(), ["err:heap:x"]);
        let _ = std::fs::remove_file(&path);
    }
}
