//! `wskrs-fuzz.exe`: the Windows side of `cargo xtask fuzz`, run under Wine against the
//! loaded driver.
//!
//! ```text
//! wskrs-fuzz run SEED REQUESTS SECONDS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=CODE,...] [thread-exits=PERCENT] [processes=N]
//!     THREADS workers, each with its own handles, send random and mutated-valid requests of
//!     every code (`gen`) until REQUESTS were sent or SECONDS passed (0: no limit), keeping
//!     several in flight, cancelling some (CancelIoEx), closing handles under pending ones
//!     and issuing some from threads that exit at once. Peers and ports are comma-separated
//!     lists (`127.0.0.1:7000,...`, `7100,...`); `skip=` names codes not to send,
//!     `thread-exits=` the percentage of requests issued from exiting threads (default 5);
//!     `processes=N` keeps N worker processes (`victim`) running beside the threads, each
//!     killed (TerminateProcess) at a seeded random moment with requests in flight and
//!     replaced (`run::kill`). Prints one JSON summary line; on a failure
//!     (a request that does not complete after its cancellation, a success reply that does
//!     not parse, a success for an unknown code, the device gone) it prints the seed, the
//!     failing worker's last operations and exits with 1.
//! wskrs-fuzz victim SEED COUNTERS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=..] [thread-exits=..]
//!     a worker process of `run processes=N`: the same workers, publishing what they have in
//!     flight in the parent's named mapping COUNTERS, until killed (or after 120 s).
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
//! wskrs-fuzz scale pend close|unload RECV_IDS SINK SENDS [WSKCTL SERVICE]
//!     one handle pends a RECV on each endpoint of RECV_IDS (`FIRST+COUNT`, or
//!     `new:COUNT@ADDR` for new connections) and a 4 MiB SEND on each of SENDS new
//!     connections to SINK (a peer that does not read), then closes the handle or runs
//!     `WSKCTL driver stop --name SERVICE` under them; every request must complete within
//!     30 s; prints a JSON line (`scale::pend`).
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
            run_options(seed, threads, [tcp, udp, listen], rest, None).and_then(|mut o| {
                o.requests = number(requests)?;
                o.seconds = number(seconds)?;
                run::run(&o)
            })
        }
        ["victim", seed, counters, threads, tcp, udp, listen, rest @ ..] => {
            run_options(seed, threads, [tcp, udp, listen], rest, Some(counters)).and_then(
                |mut o| {
                    o.seconds = run::kill::PROCESS_LIFETIME_S;
                    run::run(&o)
                },
            )
        }
        ["cleanup"] => run::cleanup(),
        ["scale", "connect", count, remote] => scale::connect(
            number(count)?,
            remote
                .parse()
                .map_err(|_| format!("`{remote}` is not an address"))?,
        ),
        ["scale", "pend", mode, recv_ids, sink, sends, rest @ ..] => scale::pend(
            mode,
            recv_ids,
            sink.parse()
                .map_err(|_| format!("`{sink}` is not an address"))?,
            number(sends)?,
            rest,
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
            "usage: run SEED REQUESTS SECONDS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=CODE,...] [thread-exits=PERCENT] [processes=N] | victim SEED COUNTERS THREADS TCP_PEERS UDP_PEERS LISTEN_PORTS [skip=..] [thread-exits=..] | cleanup | scale close|detach HANDLES PER_HANDLE FIRST_PORT | scale connect COUNT ADDR | scale pend close|unload RECV_IDS SINK SENDS [WSKCTL SERVICE] | scale handles MAX FIRST_PORT (got {words:?})"
        )),
    }
}

#[cfg(not(windows))]
fn dispatch(_: &[&str]) -> Result<String, String> {
    // The generator (`gen`) is host code with host tests; the I/O needs Windows (or Wine).
    let _ = gen::Rng::new(0);
    Err("runs on Windows (or under Wine): build for x86_64-pc-windows-gnu".into())
}

/// The options `run` and `victim` share: targets, `skip=`, `thread-exits=`, `processes=`
/// (`run` only), and for a worker process its parent's counter mapping.
#[cfg(windows)]
fn run_options(
    seed: &str,
    threads: &str,
    [tcp, udp, listen]: [&str; 3],
    rest: &[&str],
    publish: Option<&str>,
) -> Result<run::Options, String> {
    let (mut skip, mut thread_exits, mut processes) = (Vec::new(), None, 0);
    // A worker process gets the same targets and knobs.
    let mut worker_args: Vec<String> = [tcp, udp, listen].map(str::to_owned).to_vec();
    for arg in rest {
        if let Some(codes) = arg.strip_prefix("skip=") {
            skip = list(codes)?;
        } else if let Some(percent) = arg.strip_prefix("thread-exits=") {
            thread_exits = Some(number(percent)?);
        } else if let Some(count) = arg.strip_prefix("processes=") {
            if publish.is_some() {
                return Err("a worker process starts no processes".into());
            }
            processes = number(count)?;
            continue;
        } else {
            return Err(format!("unexpected argument `{arg}`"));
        }
        worker_args.push((*arg).to_owned());
    }
    Ok(run::Options {
        seed: number(seed)?,
        requests: 0,
        seconds: 0,
        threads: number(threads)?,
        targets: gen::Targets {
            tcp: list(tcp)?,
            udp: list(udp)?,
            listen: list(listen)?,
        },
        skip,
        thread_exits,
        processes,
        worker_args,
        publish: publish.map(str::to_owned),
    })
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
