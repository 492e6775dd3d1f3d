//! Progress bars for long transfers (`send --file`, `recv --to-file`, `tcp connect
//! --send-file` / `--recv-to-file`), drawn on standard error with `indicatif` only when it is
//! a terminal and the output is not JSON: never in pipelines, tests or CI logs.

use std::io::{self, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Format;

/// How a bar looks: what, bar, bytes done of the total, rate, time left.
const TEMPLATE: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}";

/// A transfer's progress bar, or nothing; cleared when dropped (the summary line follows).
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `total` bytes labelled `what` when `show`, else nothing.
    pub(crate) fn new(show: bool, total: u64, what: &str) -> Self {
        let bar = show.then(|| {
            Self::styled(
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                what,
            )
        });
        Self { bar }
    }

    fn styled(bar: ProgressBar, what: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(TEMPLATE).map_or_else(
            |_| ProgressStyle::default_bar(),
            |style| style.progress_chars("=> "),
        );
        bar.with_style(style).with_message(what.to_owned())
    }

    /// A bar that counts but never draws (tests).
    #[cfg(test)]
    pub(crate) fn hidden(total: u64) -> Self {
        Self {
            bar: Some(ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::hidden(),
            )),
        }
    }

    /// Adds `bytes` done.
    pub(crate) fn add(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// The bytes counted so far (0 without a bar).
    #[cfg(test)]
    pub(crate) fn position(&self) -> u64 {
        self.bar.as_ref().map_or(0, ProgressBar::position)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether a bar is drawn: standard error is a terminal and the output is not JSON.
pub(crate) fn wanted(stderr_is_terminal: bool, format: Format) -> bool {
    stderr_is_terminal && format == Format::Text
}

/// A writer that counts what it writes on a [`Progress`].
pub(crate) struct Counting<'a> {
    pub(crate) inner: &'a mut dyn Write,
    pub(crate) progress: &'a Progress,
}

impl Write for Counting<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.progress.add(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::{wanted, Counting, Format, Progress};
    use std::io::Write;

    #[test]
    fn drawn_only_on_a_terminal_without_json() {
        assert!(wanted(true, Format::Text));
        assert!(!wanted(true, Format::Json));
        assert!(!wanted(false, Format::Text));
        assert!(Progress::new(false, 10, "x").bar.is_none());
    }

    #[test]
    fn counting_writer_counts_what_it_wrote() {
        let progress = Progress::hidden(10);
        let mut sink = Vec::new();
        let mut counting = Counting {
            inner: &mut sink,
            progress: &progress,
        };
        counting.write_all(b"0123").unwrap();
        counting.write_all(b"456").unwrap();
        assert_eq!(progress.position(), 7);
        assert_eq!(sink, b"0123456");
    }
}
