//! The table the RUN IOCTL returns: fixed records written straight into the output buffer.

use core::fmt::{self, Write};

use wsk::NtStatus;
use wskrs_conformance_abi::{
    Outcome, Record, DETAIL_LEN, HEADER_LEN, MAX_RECORDS, NAME_LEN, RECORD_LEN,
};

/// A record's detail text, truncated at [`DETAIL_LEN`] bytes (NUL-padded).
pub(crate) struct Detail {
    buf: [u8; DETAIL_LEN],
    len: usize,
}

impl Detail {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; DETAIL_LEN],
            len: 0,
        }
    }
}

impl Write for Detail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            let Some(slot) = self.buf.get_mut(self.len) else {
                break;
            };
            *slot = if b.is_ascii() { b } else { b'?' };
            self.len = self.len.saturating_add(1);
        }
        Ok(())
    }
}

/// Formats a detail: `detail!("x {}", y)`.
macro_rules! detail {
    ($($arg:tt)*) => {{
        let mut d = $crate::report::Detail::new();
        let _ = core::fmt::Write::write_fmt(&mut d, format_args!($($arg)*));
        d
    }};
}
pub(crate) use detail;

/// A status as its short name (`CONNECTION_REFUSED`) or hex.
#[derive(Clone, Copy)]
pub(crate) struct St(pub(crate) NtStatus);

impl fmt::Display for St {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.name() {
            Some(name) => f.write_str(name.strip_prefix("STATUS_").unwrap_or(name)),
            None => write!(f, "0x{:08X}", self.0.as_u32()),
        }
    }
}

/// The records written so far into the reply buffer (after the header).
pub(crate) struct Report<'a> {
    out: &'a mut [u8],
    count: usize,
}

impl<'a> Report<'a> {
    /// A report over the whole output buffer (header included).
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        Self { out, count: 0 }
    }

    /// Appends one record (dropped silently past [`MAX_RECORDS`]).
    pub(crate) fn push(&mut self, name: &str, outcome: Outcome, status: NtStatus, detail: &Detail) {
        if self.count >= MAX_RECORDS {
            return;
        }
        let mut record = Record {
            name: [0; NAME_LEN],
            result: outcome as u32,
            status: status.as_u32(),
            detail: detail.buf,
        };
        for (dst, src) in record
            .name
            .iter_mut()
            .zip(name.bytes().take(NAME_LEN.saturating_sub(1)))
        {
            *dst = src;
        }
        let at = self
            .count
            .saturating_mul(RECORD_LEN)
            .saturating_add(HEADER_LEN);
        if let Some(dst) = self.out.get_mut(at..at.saturating_add(RECORD_LEN)) {
            dst.copy_from_slice(&record.encode());
            self.count = self.count.saturating_add(1);
        }
    }

    /// Number of records written.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Bytes used (header and records).
    pub(crate) fn len(&self) -> usize {
        self.count
            .saturating_mul(RECORD_LEN)
            .saturating_add(HEADER_LEN)
    }

    /// The buffer, for the header.
    pub(crate) fn buffer(&mut self) -> &mut [u8] {
        self.out
    }
}
