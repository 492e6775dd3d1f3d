//! `wskctl shell`: wskctl commands typed one per line on one device handle, so endpoints
//! opened without `--detach` live until the shell exits.
//!
//! Each line is split with POSIX shell rules (`shell-words`) and parsed by the same [`Cli`]
//! as the command line; `help`, `exit` and `quit` are the shell's own. On a terminal the
//! lines come from a line editor (`rustyline`: editing, Up/Down and Ctrl-R history, kept in
//! a file); otherwise they are read plainly from standard input (scripts, tests).

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use clap::Args;
use std::sync::Arc;

use clap::CommandFactory;
use rustyline::error::ReadlineError;

use crate::cli::{self, Cli, OpenDevice, Session, Streams, Terminal};
use wskrs_protocol::USER_DEVICE_PATH;

use wskrs_client::{ClientError, Device};

/// Arguments of `wskctl shell`.
#[derive(Debug, Args)]
pub(crate) struct ShellArgs {
    /// Keep the line history in this file (default: .wskctl_history in the user's profile
    /// directory).
    #[arg(long, value_name = "F", conflicts_with = "no_history")]
    pub(crate) history: Option<PathBuf>,
    /// Keep no history file.
    #[arg(long)]
    pub(crate) no_history: bool,
}

/// The prompt.
pub(crate) const PROMPT: &str = "wskctl> ";

/// The history file's name in the user's profile directory.
const HISTORY_FILE: &str = ".wskctl_history";

/// Lines kept in the history.
const HISTORY_LINES: usize = 1000;

const INTRO: &str = "\
Type wskctl commands without `wskctl`, e.g. `tcp connect 127.0.0.1:9000`, `send 1 --text hi`.
Endpoints opened here without --detach stay open until `close ID` or the end of the shell.
Shell commands: help (this text and the command list), help COMMAND, exit, quit (or Ctrl-D;
Ctrl-C does not end the shell).
Quote words with spaces or backslashes: send 1 --text 'hello world', --file 'C:\\dir\\f.bin'.";

/// Where the shell's lines come from.
trait LineSource {
    /// The next line, without its line ending; `None` at the end of input.
    ///
    /// # Errors
    ///
    /// Reading failed.
    fn next_line(&mut self, prompt: &str) -> io::Result<Option<String>>;
}

/// Lines read plainly from a stream, without a prompt (input that is not a terminal).
struct Plain<'a> {
    reader: BufReader<&'a mut dyn Read>,
}

impl LineSource for Plain<'_> {
    fn next_line(&mut self, _prompt: &str) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(Some(line))
    }
}

/// Lines from the terminal through a line editor, with history saved to a file.
struct Editor {
    editor: rustyline::DefaultEditor,
    history: Option<PathBuf>,
}

impl Editor {
    fn new(history: Option<PathBuf>) -> io::Result<Self> {
        let config = rustyline::Config::builder()
            .max_history_size(HISTORY_LINES)
            .map_err(io::Error::other)?
            .auto_add_history(false)
            .build();
        let mut editor = rustyline::DefaultEditor::with_config(config).map_err(io::Error::other)?;
        if let Some(path) = history.as_deref().filter(|path| path.exists()) {
            // A history that cannot be read is not worth failing the shell for.
            let _ = editor.load_history(path);
        }
        Ok(Self { editor, history })
    }
}

impl LineSource for Editor {
    fn next_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                    if let Some(path) = &self.history {
                        // Saved after every line, so a killed shell keeps its history.
                        let _ = self.editor.save_history(path);
                    }
                }
                Ok(Some(line))
            }
            // Ctrl-C abandons the line, as in a shell.
            Err(ReadlineError::Interrupted) => Ok(Some(String::new())),
            Err(ReadlineError::Eof) => Ok(None),
            Err(ReadlineError::Io(error)) => Err(error),
            Err(error) => Err(io::Error::other(error)),
        }
    }
}

/// The default history file: `.wskctl_history` in `%USERPROFILE%` (or `$HOME`).
fn default_history() -> Option<PathBuf> {
    std::env::var_os("USERPROFILE")
        .or_else(|| std::env::var_os("HOME"))
        .map(|home| PathBuf::from(home).join(HISTORY_FILE))
}

/// A writer that remembers whether what it wrote last ended a line, so the prompt can start
/// on a new one after raw received data.
struct LineTracker<'a> {
    inner: &'a mut dyn Write,
    at_line_start: &'a Cell<bool>,
}

impl Write for LineTracker<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        if let Some(&last) = data.get(..written).and_then(<[u8]>::last) {
            self.at_line_start.set(last == b'\n');
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Standard error of an interactive shell: on a terminal it shares the screen with stdout,
/// so a note (`received N bytes`) after raw data without a line ending starts a new line.
struct BreakBefore<'a> {
    inner: &'a mut dyn Write,
    stdout_at_line_start: &'a Cell<bool>,
    enabled: bool,
}

impl Write for BreakBefore<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.enabled && !data.is_empty() && !self.stdout_at_line_start.get() {
            self.inner.write_all(b"\n")?;
            self.stdout_at_line_start.set(true);
        }
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// Nothing (blank, or a `#` comment).
    Empty,
    /// Leave the shell.
    Exit,
    /// `help` alone.
    Help,
    /// A wskctl command line, split into words.
    Command(Vec<String>),
}

/// Splits a line into words with POSIX shell rules.
fn classify(line: &str) -> Result<Line, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Empty);
    }
    let words = shell_words::split(trimmed).map_err(|_| {
        "a quote is not closed (quote with '...' or \"...\", escape with \\)".to_owned()
    })?;
    Ok(match words.as_slice() {
        [] => Line::Empty,
        [word] if word == "exit" || word == "quit" => Line::Exit,
        [word] if word == "help" || word == "?" => Line::Help,
        _ => Line::Command(words),
    })
}

/// The line editor on a terminal (with the history file unless --no-history), else plain
/// lines from `stdin`.
fn line_source<'a>(
    args: &ShellArgs,
    terminal: Terminal,
    stdin: &'a mut dyn Read,
) -> Result<Box<dyn LineSource + 'a>, ClientError> {
    if !terminal.stdin {
        return Ok(Box::new(Plain {
            reader: BufReader::new(stdin),
        }));
    }
    let history = if args.no_history {
        None
    } else {
        args.history.clone().or_else(default_history)
    };
    let editor = Editor::new(history)
        .map_err(|source| ClientError::io("starting the line editor", source))?;
    Ok(Box::new(editor))
}

/// Runs `wskctl shell`: reads lines until `exit` or the end of input, running each on one
/// device handle (opened at the first command that needs it, with `--device`). Returns 0.
///
/// # Errors
///
/// Reading a line or writing to stdout fails.
pub(crate) fn run_shell(
    cli: &Cli,
    args: &ShellArgs,
    open: OpenDevice<'_>,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    let terminal = streams.terminal;
    let Streams {
        stdout,
        stderr,
        stdin,
        ..
    } = streams;
    let mut source = line_source(args, terminal, &mut **stdin)?;
    // A terminal's Ctrl-C must not end the process and with it every endpoint of the
    // session: during a command it cancels the command's request (`ctrl_c`), at the prompt
    // it abandons the line (a key for the line editor in a Windows console; under Wine on a
    // Unix terminal the handler swallows it).
    let _shell_mode = terminal.stdin.then(wskrs_client::ctrl_c::ShellMode::enter);
    let at_line_start = Cell::new(true);
    let mut stdout = LineTracker {
        inner: &mut **stdout,
        at_line_start: &at_line_start,
    };
    let mut stderr = BreakBefore {
        inner: &mut **stderr,
        stdout_at_line_start: &at_line_start,
        enabled: terminal.stdin,
    };

    let shared: RefCell<Option<Arc<Device>>> = RefCell::new(None);
    let open_shared = |path: &str| -> Result<Device, ClientError> {
        // A line without --device names the default: that means the shell's device.
        if path != cli.device && path != USER_DEVICE_PATH {
            return Err(ClientError::io(
                format!("--device {path}"),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "this shell uses {}; start another shell for another device",
                        cli.device
                    ),
                ),
            ));
        }
        let mut slot = shared.borrow_mut();
        let device = match slot.as_ref() {
            Some(device) => Arc::clone(device),
            None => Arc::clone(slot.insert(Arc::new(open(&cli.device)?))),
        };
        Ok(Device::from_transport(Box::new(device)))
    };

    if terminal.stdin {
        let _ = writeln!(
            stderr,
            "wskctl shell on {}; `help` lists the commands, `exit` leaves.",
            cli.device
        );
    }
    loop {
        if !at_line_start.get() {
            writeln!(stdout).map_err(|source| ClientError::io("writing to stdout", source))?;
        }
        let _ = stdout.flush();
        let Some(line) = source
            .next_line(PROMPT)
            .map_err(|source| ClientError::io("reading a command", source))?
        else {
            break;
        };
        match classify(&line) {
            Ok(Line::Empty) => {}
            Ok(Line::Exit) => break,
            Ok(Line::Help) => {
                let help = Cli::command()
                    .override_usage("COMMAND [OPTIONS]")
                    .render_help()
                    .to_string();
                writeln!(stdout, "{INTRO}\n\n{help}")
                    .map_err(|source| ClientError::io("writing to stdout", source))?;
            }
            Ok(Line::Command(words)) => {
                let mut empty = io::empty();
                let mut line_streams = Streams {
                    stdout: &mut stdout,
                    stderr: &mut stderr,
                    stdin: &mut empty,
                    terminal: Terminal {
                        stdin: false,
                        ..terminal
                    },
                };
                run_line(&words, &open_shared, &mut line_streams);
            }
            Err(message) => {
                let _ = writeln!(stderr, "error: {message}");
            }
        }
    }
    let _ = stdout.flush();
    Ok(0)
}

/// Parses and runs one command line of the shell; errors are printed, not returned.
fn run_line(words: &[String], open: OpenDevice<'_>, streams: &mut Streams<'_>) {
    let args = std::iter::once("wskctl").chain(words.iter().map(String::as_str));
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(error) => {
            cli::report_usage(&error, streams);
            return;
        }
    };
    let result = cli::run_in(&cli, open, streams, Session::Shell);
    // Ctrl-C at the prompt must not touch the device the command used.
    wskrs_client::ctrl_c::unwatch();
    if let Err(error) = result {
        cli::report_error(&error, streams);
    }
}

#[cfg(test)]
mod tests {
    use super::{classify, Line};
    use crate::cli::testing::{wskctl_with_stdin, Outcome};
    use crate::cli::{main_with, Streams, Terminal};
    use wskrs_client::{ClientError, Device};
    use wskrs_host_driver::HostDriver;

    /// `wskctl ARGS` reading the shell's `lines` from standard input.
    fn shell(driver: &HostDriver, args: &str, lines: &str) -> Outcome {
        wskctl_with_stdin(driver, args, lines.as_bytes())
    }

    #[test]
    fn endpoints_live_between_lines_and_close_with_the_shell() {
        let driver = HostDriver::default();
        let lines = "\
tcp connect 127.0.0.1:9000
send 1 --text 'hello world'
recv 1 --exact 11
tcp listen 127.0.0.1:9100 --service echo
list
exit
";
        let out = shell(&driver, "shell", lines);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let stdout: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            stdout[..4],
            [
                "endpoint 1 connected 127.0.0.1:50001 -> 127.0.0.1:9000",
                "sent 11 bytes",
                // The raw data, then a line break before the next output.
                "hello world",
                "endpoint 2 listening on 127.0.0.1:9100 (service echo)",
            ]
        );
        // Both endpoints are listed, owned by the shell's one handle.
        let rows: Vec<&str> = stdout[5..]
            .iter()
            .map(|row| row.split_whitespace().nth(10).unwrap())
            .collect();
        assert_eq!(rows, ["owned", "owned"], "{}", out.stdout);
        assert_eq!(
            out.stderr,
            "received 11 bytes\nendpoint 2 stays open until `close 2` or the end of the shell\n"
        );
        assert!(
            driver.endpoint_ids().is_empty(),
            "the shell's handle closed them"
        );
    }

    #[test]
    fn errors_do_not_end_the_shell() {
        let driver = HostDriver::default();
        let lines = "\
# a comment, then a blank line

bogus
send 1 --text 'unclosed
recv 9
shell
tcp connect 127.0.0.1:9000 --detach
--json send 1 --text hi
";
        // No `exit`: the end of input ends the shell.
        let out = shell(&driver, "shell", lines);
        assert_eq!(out.code, 0);
        assert_eq!(
            out.stdout,
            "endpoint 1 connected 127.0.0.1:50001 -> 127.0.0.1:9000\n{\"id\":1,\"sent\":2}\n"
        );
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 4, "{}", out.stderr);
        assert!(
            errors[0].contains("unrecognized subcommand 'bogus'"),
            "{}",
            errors[0]
        );
        assert!(errors[1].contains("quote is not closed"), "{}", errors[1]);
        assert!(errors[2].contains("STATUS_NOT_FOUND"), "{}", errors[2]);
        assert!(
            errors[3].contains("already in a wskctl shell"),
            "{}",
            errors[3]
        );
        assert_eq!(
            driver.endpoint_ids(),
            [1],
            "the detached connection outlives the shell"
        );
    }

    #[test]
    fn ctrl_c_cancels_a_command_and_the_session_goes_on() {
        let driver = HostDriver::default();
        let pressed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let first = std::sync::Arc::clone(&pressed);
        // Ctrl-C while the first receive waits; later waits time out normally.
        driver.while_waiting(move || {
            if !first.swap(true, std::sync::atomic::Ordering::SeqCst) {
                assert!(wskrs_client::ctrl_c::on_ctrl_c());
            }
        });
        let lines = "\
tcp connect 127.0.0.1:9000
recv 1 --timeout-ms 30000
send 1 --text again
recv 1 --exact 5
list
";
        let out = shell(&driver, "shell", lines);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(pressed.load(std::sync::atomic::Ordering::SeqCst));
        assert!(
            out.stderr.contains(
                "cancelled: recv on endpoint 1: the request was cancelled (STATUS_CANCELLED)\n"
            ),
            "{}",
            out.stderr
        );
        assert!(out.stdout.contains("sent 5 bytes"), "{}", out.stdout);
        assert!(out.stdout.contains("again"), "{}", out.stdout);
        assert!(
            out.stdout.contains("connected"),
            "the list shows the endpoint: {}",
            out.stdout
        );
        assert_eq!(
            driver.endpoint_ids(),
            Vec::<u64>::new(),
            "closed with the shell"
        );
    }

    #[test]
    fn accept_in_the_shell_and_ctrl_c_cancels_its_wait() {
        let driver = HostDriver::default();
        let listen = shell(
            &driver,
            "tcp listen 127.0.0.1:9103 --service none --detach",
            "",
        );
        assert_eq!(listen.code, 0, "{}", listen.stderr);
        driver.client_session(1, b"hello", 0, true).unwrap();
        let pressed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let first = std::sync::Arc::clone(&pressed);
        driver.while_waiting(move || {
            if !first.swap(true, std::sync::atomic::Ordering::SeqCst) {
                assert!(wskrs_client::ctrl_c::on_ctrl_c());
            }
        });
        let lines = "\
tcp accept 1
recv 2 --exact 5
tcp accept 1 --timeout-ms 30000
send 2 --text again
recv 2 --exact 5
";
        let out = shell(&driver, "shell", lines);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(pressed.load(std::sync::atomic::Ordering::SeqCst));
        assert!(
            out.stdout.starts_with(
                "endpoint 2 accepted 127.0.0.1:9103 <- 127.0.0.1:50001 (listener 1)\nhello"
            ),
            "{}",
            out.stdout
        );
        assert!(
            out.stderr.contains(
                "cancelled: accept on listener 1: the request was cancelled (STATUS_CANCELLED)\n"
            ),
            "{}",
            out.stderr
        );
        assert!(
            out.stdout.contains("sent 5 bytes\nagain"),
            "the connection works after the cancelled accept: {}",
            out.stdout
        );
        assert_eq!(
            driver.endpoint_ids(),
            [1],
            "the accepted connection closed with the shell, the detached listener stays"
        );
    }

    #[test]
    fn serve_in_the_shell_keeps_the_served_connection_until_the_shell_ends() {
        let driver = HostDriver::default();
        let lines = "\
tcp connect 127.0.0.1:9000
serve 1 --service echo
send 1 --text nope
tcp connect 127.0.0.1:9001 --send-text hi --serve discard
list
";
        let out = shell(&driver, "shell", lines);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let stdout: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            stdout[..5],
            [
                "endpoint 1 connected 127.0.0.1:50001 -> 127.0.0.1:9000",
                "endpoint 1 handed to the echo service",
                "endpoint 2 connected 127.0.0.1:50002 -> 127.0.0.1:9001",
                "sent 2 bytes",
                "endpoint 2 handed to the discard service",
            ],
            "{}",
            out.stdout
        );
        // ID KIND STATE SERVICE ...: both connections list their service.
        let services: Vec<&str> = stdout[6..]
            .iter()
            .map(|row| row.split_whitespace().nth(3).unwrap())
            .collect();
        assert_eq!(services, ["echo", "discard"], "{}", out.stdout);
        assert!(
            out.stderr.contains("STATUS_INVALID_DEVICE_STATE"),
            "send on a served connection: {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("endpoint 2 stays open until `close 2` or the end of the shell"),
            "{}",
            out.stderr
        );
        assert!(driver.endpoint_ids().is_empty(), "closed with the shell");
    }

    #[test]
    fn help_and_command_help() {
        let driver = HostDriver::default();
        let out = shell(&driver, "shell", "help\ntcp connect --help\nquit\ninfo\n");
        assert!(
            out.stdout.starts_with("Type wskctl commands"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Usage: COMMAND [OPTIONS]"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("  shell "), "{}", out.stdout);
        assert!(out.stdout.contains("--recv-exact"), "{}", out.stdout);
        assert!(
            !out.stdout.contains("wsk-rs driver"),
            "nothing runs after quit"
        );
        assert!(driver.requests().is_empty());
    }

    #[test]
    fn one_handle_for_the_whole_shell_and_only_its_device() {
        let driver = HostDriver::default();
        let opened = std::cell::Cell::new(0);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut input = "info\nlist\n--device other info\ninfo\n".as_bytes();
        let open = |path: &str| -> Result<Device, ClientError> {
            assert_eq!(path, r"\\.\Mine");
            opened.set(opened.get() + 1);
            Ok(Device::from_transport(Box::new(driver.handle())))
        };
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut input,
            terminal: Terminal::default(),
        };
        let args = ["wskctl", "--device", r"\\.\Mine", "shell"];
        assert_eq!(main_with(args, &open, &mut streams), 0);
        assert_eq!(opened.get(), 1);
        let stderr = String::from_utf8(stderr).unwrap();
        assert!(stderr.contains(r"this shell uses \\.\Mine"), "{stderr}");
        assert_eq!(String::from_utf8(stdout).unwrap().lines().count(), 3);
    }

    #[test]
    fn an_interactive_note_after_raw_data_starts_a_new_line() {
        use super::{BreakBefore, LineTracker};
        use std::cell::Cell;
        use std::io::Write;
        for (enabled, expected) in [
            (true, "\nreceived 2 bytes\n"),
            (false, "received 2 bytes\n"),
        ] {
            let at_line_start = Cell::new(true);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut stdout = LineTracker {
                inner: &mut out,
                at_line_start: &at_line_start,
            };
            let mut stderr = BreakBefore {
                inner: &mut err,
                stdout_at_line_start: &at_line_start,
                enabled,
            };
            stdout.write_all(b"hi").unwrap();
            stderr.write_all(b"received 2 bytes\n").unwrap();
            assert_eq!(String::from_utf8(err).unwrap(), expected);
        }
    }

    #[test]
    fn lines_split_like_a_posix_shell() {
        assert_eq!(classify("  "), Ok(Line::Empty));
        assert_eq!(classify("# note"), Ok(Line::Empty));
        assert_eq!(classify(" exit "), Ok(Line::Exit));
        assert_eq!(classify("help"), Ok(Line::Help));
        assert_eq!(
            classify(r#"send 1 --text "a b" --file 'C:\x\y'"#),
            Ok(Line::Command(
                ["send", "1", "--text", "a b", "--file", r"C:\x\y"]
                    .map(String::from)
                    .to_vec()
            ))
        );
        assert!(classify("send 1 --text \"x").is_err());
    }
}
