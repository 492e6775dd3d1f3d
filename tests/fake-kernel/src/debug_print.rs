//! `DbgPrintEx`, faked on the host: every message is kept, with its component and level, so
//! tests can assert what a driver logged ([`messages`]).
//!
//! Only the form `wsk`'s logging macros use is understood: `DbgPrintEx(id, level, "%s",
//! text)`. A C-variadic definition is not stable Rust; on x86-64 the fourth argument of a
//! variadic call is passed where this fixed signature reads it (the fourth integer register).

use std::ffi::{c_char, CStr};
use std::sync::Mutex;

use crate::{lock, violation};

/// One `DbgPrintEx` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `ComponentId`.
    pub component: u32,
    /// `Level`.
    pub level: u32,
    /// The printed text (the `%s` argument).
    pub text: String,
}

static MESSAGES: Mutex<Vec<Message>> = Mutex::new(Vec::new());

/// Every message printed so far in this process (tests run in parallel: look for your own).
#[must_use]
pub fn messages() -> Vec<Message> {
    lock(&MESSAGES).clone()
}

/// `DbgPrintEx(component, level, "%s", text)`.
///
/// # Safety
/// `format` is the NUL-terminated string `%s` and `text` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn DbgPrintEx(
    component: u32,
    level: u32,
    format: *const c_char,
    text: *const c_char,
) -> u32 {
    // SAFETY: the caller passes NUL-terminated strings (this fn's contract).
    let format = unsafe { CStr::from_ptr(format) };
    if format.to_bytes() != b"%s" || text.is_null() {
        violation(format!(
            "DbgPrintEx with format {format:?}: only \"%s\" is faked"
        ));
        return 0;
    }
    // SAFETY: as above.
    let text = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    lock(&MESSAGES).push(Message {
        component,
        level,
        text,
    });
    0
}
