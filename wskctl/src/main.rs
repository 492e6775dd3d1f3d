//! `wskctl`: the command line for the wsk-rs driver. See `wskctl --help`.
#![deny(unsafe_code)]

mod cli;
mod output;
mod progress;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use cli::{main_with, Streams, Terminal};
use wskrs_client::Device;

fn main() -> ExitCode {
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    let mut stdin = io::stdin().lock();
    let mut streams = Streams {
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdin: &mut stdin,
        terminal: Terminal {
            stdin: io::stdin().is_terminal(),
            stderr: io::stderr().is_terminal(),
        },
    };
    ExitCode::from(main_with(
        std::env::args_os(),
        &|path| Device::open(path),
        &mut streams,
    ))
}
