//! Ctrl-C in a console program such as `wskctl`: while a request is outstanding it cancels that request instead of
//! ending the process.
//!
//! The console calls its control handlers on a thread of their own (measured under Wine
//! 8.0 in tmux too: SIGINT on the terminal becomes `CTRL_C_EVENT`). The handler interrupts
//! the device the running command uses ([`watch`]): its outstanding request completes with
//! `STATUS_CANCELLED` and the command's later requests fail at once, so the command ends
//! with [`ClientError::Cancelled`](crate::ClientError::Cancelled). A single command then
//! exits with [`EXIT_CANCELLED`](crate::EXIT_CANCELLED); `wskctl shell` prints it and
//! returns to its prompt. With nothing outstanding, a single command ends as Ctrl-C always
//! ends a console program (e.g. `tcp listen` serving until stdin ends), while the shell
//! never ends on Ctrl-C.

use std::thread;
use std::time::Duration;

pub use crate::sys::CtrlCHandler;
use crate::Canceller;

/// A request issued just as Ctrl-C arrived (after the interrupt check, before the cancel)
/// is cancelled by a second pass this much later.
const SECOND_PASS: Duration = Duration::from_millis(100);

/// The device of the running command and whether `wskctl shell` runs, for the handler
/// thread: process-wide.
#[cfg(not(any(test, feature = "per-thread-ctrl-c")))]
mod slot {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, PoisonError};

    use crate::Canceller;

    static WATCHED: Mutex<Option<Canceller>> = Mutex::new(None);
    static IN_SHELL: AtomicBool = AtomicBool::new(false);

    pub(super) fn set_watched(canceller: Option<Canceller>) {
        *WATCHED.lock().unwrap_or_else(PoisonError::into_inner) = canceller;
    }

    pub(super) fn watched() -> Option<Canceller> {
        WATCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_in_shell(in_shell: bool) {
        IN_SHELL.store(in_shell, Ordering::SeqCst);
    }

    pub(super) fn in_shell() -> bool {
        IN_SHELL.load(Ordering::SeqCst)
    }
}

/// In tests (and with the `per-thread-ctrl-c` feature, for `wskctl`'s tests), per thread:
/// tests run in parallel, and a test's in-process driver runs its "wait" hook (where the test
/// plays the console's Ctrl-C) on the test's own thread.
#[cfg(any(test, feature = "per-thread-ctrl-c"))]
mod slot {
    use std::cell::{Cell, RefCell};

    use crate::Canceller;

    thread_local! {
        static WATCHED: RefCell<Option<Canceller>> = const { RefCell::new(None) };
        static IN_SHELL: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn set_watched(canceller: Option<Canceller>) {
        WATCHED.with(|watched| *watched.borrow_mut() = canceller);
    }

    pub(super) fn watched() -> Option<Canceller> {
        WATCHED.with(|watched| watched.borrow().clone())
    }

    pub(super) fn set_in_shell(in_shell: bool) {
        IN_SHELL.with(|cell| cell.set(in_shell));
    }

    pub(super) fn in_shell() -> bool {
        IN_SHELL.with(Cell::get)
    }
}

/// Ctrl-C now cancels the requests of the device `canceller` belongs to.
pub fn watch(canceller: Canceller) {
    slot::set_watched(Some(canceller));
}

/// Ctrl-C cancels nothing any more (the shell's command ended).
pub fn unwatch() {
    slot::set_watched(None);
}

/// While it lives the process is `wskctl shell`, which Ctrl-C never ends.
pub struct ShellMode(());

impl ShellMode {
    /// Marks the process as `wskctl shell` until the guard is dropped.
    #[must_use]
    pub fn enter() -> Self {
        slot::set_in_shell(true);
        Self(())
    }
}

impl Drop for ShellMode {
    fn drop(&mut self) {
        slot::set_in_shell(false);
    }
}

/// What Ctrl-C (or Ctrl-Break) does; returns whether it was handled (`false` lets the
/// process end). Runs on the console's handler thread.
#[must_use]
pub fn on_ctrl_c() -> bool {
    let in_shell = slot::in_shell();
    let Some(canceller) = slot::watched() else {
        return in_shell;
    };
    let outstanding = canceller.interrupt();
    if !outstanding && !in_shell {
        return false;
    }
    thread::sleep(SECOND_PASS);
    canceller.cancel();
    true
}

#[cfg(test)]
mod tests {
    use super::{on_ctrl_c, unwatch, watch, ShellMode};
    use crate::host_driver::HostDriver;
    use crate::Device;

    #[test]
    fn interrupts_the_watched_device_and_keeps_the_shell() {
        let driver = HostDriver::default();
        let device = Device::from_transport(Box::new(driver.handle()));
        unwatch();
        assert!(!on_ctrl_c(), "a single command with no device ends");
        watch(device.canceller());
        assert!(!on_ctrl_c(), "nothing outstanding: the process ends");
        {
            let _shell = ShellMode::enter();
            unwatch();
            assert!(on_ctrl_c(), "the shell survives at its prompt");
            watch(device.canceller());
            assert!(on_ctrl_c(), "and during a command");
        }
        let error = device.info().unwrap_err();
        assert!(error.is_cancelled(), "{error}");
        unwatch();
    }
}
