//! `wskrs-fuzz.exe`: the Windows side of `cargo xtask fuzz`, run under Wine against the
//! loaded driver.
//!
//! ```text
//! wskrs-fuzz run SEED REQUESTS SECONDS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=CODE,...] [thread-exits=PERCENT]
//!     THREADS workers, each with its own handles, send random and mutated-valid requests of
//!     every code (`gen`) until REQUESTS were sent or SECONDS passed (0: no limit), keeping
//!     several in flight, cancelling some (CancelIoEx), closing handles under pending ones
//!     and issuing some from threads that exit at once. Peers and ports are comma-separated
//!     lists (`127.0.0.1:7000,...`, `7100,...`); `skip=` names codes not to send,
//!     `thread-exits=` the percentage of requests issued from exiting threads (default 5). Prints one JSON summary line; on a failure
//!     (a request that does not complete after its cancellation, a success reply that does
//!     not parse, a success for an unknown code, the device gone) it prints the seed, the
//!     failing worker's last operations and exits with 1.
//! wskrs-fuzz cleanup
//!     closes every endpoint LIST shows (detached ones a mutation created); prints a JSON line.
//! wskrs-fuzz scale close|detach HANDLES PER_HANDLE FIRST_PORT
//!     teardown at scale (`scale`): HANDLES handles with PER_HANDLE listeners each (free
//!     ports from FIRST_PORT up), closed
//!     with an ACCEPT pending on every listener (`close`), or detached and left for an unload
//!     (`detach`); prints a JSON line.
//! wskrs-fuzz scale connect COUNT ADDR
//!     COUNT detached TCP connections to ADDR on one handle, left open for the caller;
//!     prints a JSON line.
//! wskrs-fuzz scale handles MAX FIRST_PORT
//!     a detached listener on a first handle, then handles (all kept open) until the driver
//!     refuses one or MAX are open; the last and the second try to CLOSE the listener;
//!     prints a JSON line (`scale::handles`).
//! ```
//!
//! Worker `i` draws from `Rng::new(SEED + i)`: the choices are the seed's, while the order
//! in which the driver completes requests (and so which ids are known) is the run's own.

// On other hosts only the tests use the generator.
#[cfg_attr(not(windows), allow(dead_code))]
mod gen;
#[cfg(windows)]
mod run;
#[cfg(windows)]
mod scale;
#[cfg(windows)]
mod win;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match dispatch(&words) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("wskrs-fuzz: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(windows)]
fn dispatch(words: &[&str]) -> Result<String, String> {
    match words {
        ["run", seed, requests, seconds, threads, tcp, udp, listen, rest @ ..] => {
            let (mut skip, mut thread_exits) = (Vec::new(), None);
            for arg in rest {
                if let Some(codes) = arg.strip_prefix("skip=") {
                    skip = list(codes)?;
                } else if let Some(percent) = arg.strip_prefix("thread-exits=") {
                    thread_exits = Some(number(percent)?);
                } else {
                    return Err(format!("unexpected argument `{arg}`"));
                }
            }
            let targets = gen::Targets {
                tcp: list(tcp)?,
                udp: list(udp)?,
                listen: list(listen)?,
            };
            run::run(&run::Options {
                seed: number(seed)?,
                requests: number(requests)?,
                seconds: number(seconds)?,
                threads: number(threads)?,
                targets,
                skip,
                thread_exits,
            })
        }
        ["cleanup"] => run::cleanup(),
        ["scale", "connect", count, remote] => scale::connect(
            number(count)?,
            remote
                .parse()
                .map_err(|_| format!("`{remote}` is not an address"))?,
        ),
        ["scale", "handles", max, first_port] => {
            scale::handles(number(max)?, number(first_port)?)
        }
        ["scale", mode, handles, per_handle, first_port] => scale::scale(
            mode,
            number(handles)?,
            number(per_handle)?,
            number(first_port)?,
        ),
        _ => Err(format!(
            "usage: run SEED REQUESTS SECONDS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=CODE,...] [thread-exits=PERCENT] | cleanup | scale close|detach HANDLES PER_HANDLE FIRST_PORT | scale connect COUNT ADDR | scale handles MAX FIRST_PORT (got {words:?})"
        )),
    }
}

#[cfg(not(windows))]
fn dispatch(_: &[&str]) -> Result<String, String> {
    // The generator (`gen`) is host code with host tests; the I/O needs Windows (or Wine).
    let _ = gen::Rng::new(0);
    Err("runs on Windows (or under Wine): build for x86_64-pc-windows-gnu".into())
}

#[cfg(windows)]
fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

#[cfg(windows)]
fn list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>, String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("`{s}` in `{text}` does not parse"))
        })
        .collect()
}
