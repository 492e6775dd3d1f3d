//! The fuzzing run: workers, what they do to requests in flight, how a completion is
//! judged, the failure log and the summary; and the cleanup of detached endpoints.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wskrs_protocol::{self as protocol, EndpointId, IoctlCode, NtStatus, USER_DEVICE_PATH};

use crate::gen::{self, Planned, Rng, Targets};
use crate::win::{Counters, Handle, Request};

pub(crate) mod kill;

/// Requests one worker keeps in flight at most.
const IN_FLIGHT: usize = 6;
/// Handles one worker keeps open at most.
const HANDLES: usize = 3;
/// A pending request older than this is cancelled.
const CANCEL_AFTER: Duration = Duration::from_secs(2);
/// A cancelled request (or one whose handle closed) must complete within this.
const COMPLETE_AFTER_CANCEL: Duration = Duration::from_secs(30);

/// How long a request's event may be set with its status block unwritten before the
/// completion counts as lost by Wine (the block is written before the event is set).
const LOST_GRACE: Duration = Duration::from_secs(1);
/// Operations kept for the failure log.
const LOG: usize = 80;
/// Endpoint ids a worker remembers.
const KNOWN: usize = 32;
/// A worker that makes no progress this long is stuck in the device (the driver host hangs
/// or crashed): the watchdog ends the run with its log.
const STUCK: Duration = Duration::from_secs(60);

pub(crate) struct Options {
    pub(crate) seed: u64,
    pub(crate) requests: u64,
    pub(crate) seconds: u64,
    pub(crate) threads: usize,
    pub(crate) targets: Targets,
    /// Code names not to send (their requests are planned, then dropped).
    pub(crate) skip: Vec<String>,
    /// Percent of requests issued from threads that exit at once (`None`: the default).
    pub(crate) thread_exits: Option<usize>,
    /// Worker processes to keep running beside the threads, each killed at a seeded random
    /// moment with requests in flight and replaced (`kill`); 0: none.
    pub(crate) processes: usize,
    /// The arguments a worker process gets after `victim SEED NAME` (targets and knobs).
    pub(crate) worker_args: Vec<String>,
    /// In a worker process: the parent's counter mapping to publish what is in flight into.
    pub(crate) publish: Option<String>,
}

/// Slots of a worker process's [`Counters`]: requests issued, pended, ready (1 once its
/// workers run), the held RECVs pending ([`hold_recvs`]), then each worker thread's requests
/// in flight.
const SLOT_REQUESTS: usize = 0;
const SLOT_PENDED: usize = 1;
const SLOT_READY: usize = 2;
const SLOT_HELD: usize = 3;
const SLOT_IN_FLIGHT: usize = 4;
/// A worker process holds 1 to this many RECVs pended on connections to the echo peer (which
/// sends nothing unprompted), so that it dies with data requests in the driver.
const HELD_RECVS: usize = 8;
/// Their timeout: longer than a worker process lives before its kill.
const HELD_RECV_TIMEOUT_MS: u32 = 100_000;

/// What one worker counted.
#[derive(Default)]
struct Tally {
    requests: u64,
    pended: u64,
    cancelled: u64,
    closes_mid_request: u64,
    thread_exits: u64,
    /// Requests from exiting threads whose completion Wine lost ([`Request::abandon_lost`]).
    lost_by_wine: u64,
    succeeded: u64,
    statuses: BTreeMap<u32, u64>,
}

impl Tally {
    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.pended += other.pended;
        self.cancelled += other.cancelled;
        self.closes_mid_request += other.closes_mid_request;
        self.thread_exits += other.thread_exits;
        self.lost_by_wine += other.lost_by_wine;
        self.succeeded += other.succeeded;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }
}

/// What all workers share: the request budget, the deadline, the stop flag, and for the
/// watchdog each worker's last operations and when it last made progress.
struct Shared {
    issued: AtomicU64,
    budget: u64,
    deadline: Option<Instant>,
    stop: AtomicBool,
    started: Instant,
    /// Per worker: milliseconds since `started` at its last step.
    progress: Vec<AtomicU64>,
    /// Per worker: its last operations.
    logs: Vec<Mutex<VecDeque<String>>>,
    /// In a worker process: where the parent reads what is in flight.
    published: Option<Counters>,
}

impl Shared {
    fn publish(&self, slot: usize, value: u64, add: bool) {
        if let Some(slot) = self.published.as_ref().and_then(|c| c.slot(slot)) {
            if add {
                slot.fetch_add(value, Ordering::Relaxed);
            } else {
                slot.store(value, Ordering::Relaxed);
            }
        }
    }
}

impl Shared {
    fn more(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && self.deadline.is_none_or(|d| Instant::now() < d)
            && (self.budget == 0 || self.issued.load(Ordering::Relaxed) < self.budget)
    }
}

/// One request in flight and the handle slot it went to.
struct InFlight {
    number: u64,
    handle: usize,
    /// How it was issued (its log line), and whether its handle was closed since.
    issued_as: String,
    handle_closed: bool,
    /// Issued from a thread that exited at once.
    from_exiting_thread: bool,
    request: Box<Request>,
}

struct Worker {
    index: usize,
    rng: Rng,
    targets: Targets,
    handles: Vec<Option<Handle>>,
    in_flight: Vec<InFlight>,
    known: VecDeque<u64>,
    shared: Arc<Shared>,
    tally: Tally,
    seed: u64,
    knobs: Knobs,
}

/// Narrowing a run down to find what breaks (environment variables, for debugging):
/// `WSKRS_FUZZ_THREAD_EXITS` (percent of requests issued from exiting threads, default 5),
/// `WSKRS_FUZZ_CODES` (comma-separated code names to send; default all); and the codes the
/// run was told not to send ([`Options::skip`]).
#[derive(Clone)]
struct Knobs {
    thread_exits: usize,
    codes: Option<Vec<String>>,
    skip: Vec<String>,
}

impl Knobs {
    fn new(skip: &[String], thread_exits: Option<usize>) -> Self {
        let thread_exits = std::env::var("WSKRS_FUZZ_THREAD_EXITS")
            .ok()
            .and_then(|v| v.parse().ok())
            .or(thread_exits)
            .unwrap_or(5);
        let codes = std::env::var("WSKRS_FUZZ_CODES")
            .ok()
            .map(|v| v.split(',').map(str::to_owned).collect());
        Self {
            thread_exits,
            codes,
            skip: skip.to_vec(),
        }
    }

    fn allows(&self, code: u32) -> bool {
        let name = code_name(code);
        !self.skip.contains(&name)
            && self
                .codes
                .as_ref()
                .is_none_or(|codes| codes.contains(&name))
    }
}

/// Prints the seed, the reason and worker `index`'s last operations, and ends the process
/// (requests still pending are not freed: the process exits).
fn fail(shared: &Shared, seed: u64, index: usize, reason: &str) -> ! {
    let mut text = format!(
        "wskrs-fuzz: FAIL (seed {seed}, worker {index}): {reason}\nlast operations of worker {index}:\n"
    );
    if let Some(log) = shared.logs.get(index) {
        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
        for line in log.iter() {
            let _ = writeln!(text, "  {line}");
        }
    }
    // The others' last steps: what broke may have been another worker's request.
    for (other, log) in shared.logs.iter().enumerate().filter(|(i, _)| *i != index) {
        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(text, "last operations of worker {other}:");
        for line in log.iter().skip(log.len().saturating_sub(LOG / 4)) {
            let _ = writeln!(text, "  {line}");
        }
    }
    eprint!("{text}");
    println!("{{\"event\":\"failed\",\"seed\":{seed},\"worker\":{index},\"reason\":{reason:?}}}");
    std::process::exit(1)
}

/// Ends the run when a worker made no progress for [`STUCK`].
fn watchdog(shared: &Shared, seed: u64) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        for (index, progress) in shared.progress.iter().enumerate() {
            let last = progress.load(Ordering::Relaxed);
            if last == u64::MAX {
                continue; // finished
            }
            let idle = Duration::from_millis(now.saturating_sub(last));
            if idle > STUCK {
                let reason = format!(
                    "worker {index} made no progress for {} s: a call into the device never \
                     returned (the driver host hangs or crashed: see Wine's log)",
                    idle.as_secs()
                );
                fail(shared, seed, index, &reason);
            }
        }
    }
}

fn code_name(code: u32) -> String {
    IoctlCode(code)
        .name()
        .map_or_else(|| format!("{code:#010x}"), str::to_owned)
}

pub(crate) fn status_name(status: u32) -> String {
    NtStatus::from_u32(status)
        .name()
        .map_or_else(|| format!("{status:#010x}"), str::to_owned)
}

impl Worker {
    fn note(&mut self, line: String) {
        if let Some(log) = self.shared.logs.get(self.index) {
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() == LOG {
                log.pop_front();
            }
            log.push_back(line);
        }
    }

    /// Marks progress for the watchdog.
    fn step(&self) {
        if let Some(progress) = self.shared.progress.get(self.index) {
            let now = u64::try_from(self.shared.started.elapsed().as_millis()).unwrap_or(0);
            progress.store(now, Ordering::Relaxed);
        }
    }

    fn fail(&self, reason: &str) -> ! {
        fail(&self.shared, self.seed, self.index, reason)
    }

    fn open_handle(&mut self) {
        // Opening waits for the driver (IRP_MJ_CREATE): a worker the watchdog finds stuck
        // here names it as its last operation.
        self.note("opening a handle".to_owned());
        match Handle::open(USER_DEVICE_PATH) {
            Ok(handle) => {
                let free = self.handles.iter().position(Option::is_none);
                let index = free.unwrap_or(self.handles.len());
                if let Some(slot) = self.handles.get_mut(index) {
                    *slot = Some(handle);
                } else {
                    self.handles.push(Some(handle));
                }
                self.note(format!("open handle h{index}"));
            }
            Err(err) => self.fail(&format!("cannot open {USER_DEVICE_PATH}: {err}")),
        }
    }

    fn open_handles(&self) -> Vec<usize> {
        (0..self.handles.len())
            .filter(|&i| self.handles.get(i).is_some_and(Option::is_some))
            .collect()
    }

    /// Issues the next planned request on a random open handle, sometimes from a thread
    /// that exits as soon as the request is on its way.
    fn issue(&mut self, number: u64) {
        let open = self.open_handles();
        if open.is_empty() {
            self.open_handle();
            return;
        }
        let Some(&slot) = self.rng.pick(&open) else {
            return;
        };
        let known: Vec<u64> = self.known.iter().copied().collect();
        let planned = gen::plan(&mut self.rng, &self.targets, &known);
        if !self.knobs.allows(planned.code) {
            return;
        }
        let from_thread = self.rng.chance(self.knobs.thread_exits);
        let fill = u8::try_from(number & 0xFF).unwrap_or(0);
        let Some(mut request) = Request::new(planned, fill) else {
            self.fail("CreateEventW failed");
        };
        let p = &request.planned;
        let line = format!(
            "#{number} h{slot}{} {} {} in={} out={}",
            if from_thread { " (thread exits)" } else { "" },
            code_name(p.code),
            p.how,
            p.input.len(),
            p.output_len
        );
        // Noted before the call: under Wine, DeviceIoControl returns only once the driver's
        // dispatch routine has (the IRP's first status), so a stuck dispatch is this line.
        self.note(line.clone());
        let Some(Some(handle)) = self.handles.get(slot) else {
            return;
        };
        if from_thread {
            // The thread issues and exits; the request's memory comes back here.
            let target = handle.target();
            let issued = std::thread::spawn(move || {
                request.issue(target);
                request
            })
            .join();
            match issued {
                Ok(r) => request = r,
                Err(_) => self.fail("the issuing thread panicked"),
            }
            self.tally.thread_exits += 1;
        } else {
            request.issue(handle.target());
        }
        self.tally.requests += 1;
        // The budget counts requests sent (workers may overshoot it by one each).
        self.shared.issued.fetch_add(1, Ordering::Relaxed);
        self.shared.publish(SLOT_REQUESTS, 1, true);
        if request.result.is_none() {
            self.tally.pended += 1;
            self.shared.publish(SLOT_PENDED, 1, true);
        }
        self.in_flight.push(InFlight {
            number,
            handle: slot,
            issued_as: line,
            handle_closed: false,
            from_exiting_thread: from_thread,
            request,
        });
    }

    /// Judges the requests that completed, cancels old ones, fails on a hang.
    fn reap(&mut self) {
        let mut index = 0;
        while index < self.in_flight.len() {
            let Some(flight) = self.in_flight.get_mut(index) else {
                break;
            };
            if flight.request.poll() {
                let flight = self.in_flight.swap_remove(index);
                self.judge(&flight);
                continue;
            }
            if flight
                .request
                .signalled_unwritten
                .is_some_and(|at| at.elapsed() > LOST_GRACE)
            {
                if !flight.from_exiting_thread {
                    let what = format!(
                        "request #{}: its event is set but its status block was never written; \
                         it was: {}",
                        flight.number, flight.issued_as
                    );
                    self.fail(&what);
                }
                // Wine lost the completion with the exited thread's APC (Request::abandon_lost).
                let mut flight = self.in_flight.swap_remove(index);
                flight.request.abandon_lost();
                self.tally.lost_by_wine += 1;
                self.note(format!(
                    "#{}: completed by Wine without its status block (issuing thread gone)",
                    flight.number
                ));
                continue;
            }
            let age = flight.request.issued.elapsed();
            match flight.request.cancelled {
                None if age > CANCEL_AFTER => {
                    flight.request.cancel();
                    let number = flight.number;
                    self.tally.cancelled += 1;
                    self.note(format!("cancel #{number} (pending {} ms)", age.as_millis()));
                }
                Some(at) if at.elapsed() > COMPLETE_AFTER_CANCEL => {
                    let what = format!(
                        "request #{} ({}) did not complete within {}s of its cancellation{} \
                         (its event not set); it was: {} (input {:02x?})",
                        flight.number,
                        code_name(flight.request.planned.code),
                        COMPLETE_AFTER_CANCEL.as_secs(),
                        if flight.handle_closed {
                            " (by closing its handle)"
                        } else {
                            ""
                        },
                        flight.issued_as,
                        flight.request.planned.input
                    );
                    self.fail(&what);
                }
                _ => {}
            }
            index += 1;
        }
    }

    /// Checks a completed request against the protocol; remembers ids of new endpoints.
    fn judge(&mut self, flight: &InFlight) {
        let request = &flight.request;
        let Some((status, information)) = request.result else {
            return;
        };
        let code = request.planned.code;
        *self.tally.statuses.entry(status).or_default() += 1;
        let line = format!(
            "#{} -> {} info={information}",
            flight.number,
            status_name(status)
        );
        self.note(line);
        let success = status < 0x8000_0000;
        if !success {
            return;
        }
        self.tally.succeeded += 1;
        let output = request.output();
        let Some(reply) = output.get(..information) else {
            self.fail(&format!(
                "#{}: information {information} exceeds the output buffer ({})",
                flight.number,
                output.len()
            ));
        };
        if let Err(why) = check_reply(code, &request.planned, reply) {
            self.fail(&format!("#{} {}: {why}", flight.number, code_name(code)));
        }
        if matches!(
            IoctlCode(code),
            IoctlCode::TCP_CONNECT
                | IoctlCode::TCP_LISTEN
                | IoctlCode::UDP_BIND
                | IoctlCode::ACCEPT
        ) {
            if let Ok(opened) = protocol::parse_endpoint_reply(reply) {
                if self.known.len() == KNOWN {
                    self.known.pop_front();
                }
                self.known.push_back(opened.id.0);
            }
        }
    }

    /// Closes a random handle, whatever is pending on it.
    fn close_handle(&mut self) {
        let open = self.open_handles();
        let Some(&slot) = self.rng.pick(&open) else {
            return;
        };
        let pending = self.in_flight.iter().filter(|f| f.handle == slot).count();
        if let Some(handle) = self.handles.get_mut(slot).and_then(Option::take) {
            handle.close();
        }
        if pending > 0 {
            self.tally.closes_mid_request += 1;
        }
        for flight in self.in_flight.iter_mut().filter(|f| f.handle == slot) {
            // Closing the handle must end them: from now on they are judged as cancelled.
            flight.handle_closed = true;
            if flight.request.cancelled.is_none() {
                flight.request.cancelled = Some(Instant::now());
            }
        }
        self.note(format!("close handle h{slot} ({pending} pending)"));
    }

    /// Tells a parent that may kill this process how many requests are in flight here.
    fn publish_in_flight(&self) {
        let count = u64::try_from(self.in_flight.len()).unwrap_or(u64::MAX);
        self.shared
            .publish(SLOT_IN_FLIGHT + self.index, count, false);
    }

    fn cancel_one(&mut self) {
        let count = self.in_flight.len();
        let pick = self.rng.below(count);
        if let Some(flight) = self.in_flight.get_mut(pick) {
            if flight.request.cancelled.is_none() && !flight.request.poll() {
                flight.request.cancel();
                let number = flight.number;
                self.tally.cancelled += 1;
                self.note(format!("cancel #{number}"));
            }
        }
    }

    fn run(&mut self) {
        let shared = Arc::clone(&self.shared);
        self.step();
        self.open_handle();
        let mut number = 0u64;
        while shared.more() {
            self.step();
            match self.rng.below(100) {
                0..=79 => {
                    number += 1;
                    let base = u64::try_from(self.index).unwrap_or(0) << 48;
                    self.issue(base | number);
                }
                80..=89 => self.cancel_one(),
                90..=92 => self.close_handle(),
                93..=96 if self.open_handles().len() < HANDLES => self.open_handle(),
                _ => {}
            }
            self.reap();
            while self.in_flight.len() >= IN_FLIGHT {
                self.publish_in_flight();
                std::thread::sleep(Duration::from_millis(1));
                self.reap();
            }
            self.publish_in_flight();
        }
        self.step();
        // The end: cancel what is pending, close every handle, wait for every completion.
        for flight in &mut self.in_flight {
            flight.request.cancel();
        }
        for slot in self.open_handles() {
            if let Some(handle) = self.handles.get_mut(slot).and_then(Option::take) {
                handle.close();
            }
        }
        for flight in &mut self.in_flight {
            if flight.request.cancelled.is_none() {
                flight.request.cancelled = Some(Instant::now());
            }
        }
        while !self.in_flight.is_empty() {
            self.reap();
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(progress) = self.shared.progress.get(self.index) {
            progress.store(u64::MAX, Ordering::Relaxed);
        }
    }
}

/// A success reply must be what the protocol says for its code.
fn check_reply(code: u32, planned: &Planned, reply: &[u8]) -> Result<(), String> {
    let fmt = |e: protocol::ProtocolError| format!("success reply does not parse: {e:?}");
    match IoctlCode(code) {
        IoctlCode::INFO => protocol::parse_info_reply(reply).map(drop).map_err(fmt),
        IoctlCode::TCP_CONNECT
        | IoctlCode::TCP_LISTEN
        | IoctlCode::UDP_BIND
        | IoctlCode::ACCEPT => protocol::parse_endpoint_reply(reply).map(drop).map_err(fmt),
        IoctlCode::CLOSE => protocol::parse_close_reply(reply).map_err(fmt),
        IoctlCode::LIST => protocol::parse_list_reply(reply).map(drop).map_err(fmt),
        IoctlCode::DISCONNECT => protocol::parse_disconnect_reply(reply).map_err(fmt),
        IoctlCode::SOCKET_OPTION => protocol::parse_socket_option_reply(reply)
            .map(drop)
            .map_err(fmt),
        IoctlCode::SECURITY | IoctlCode::DEVICE_SECURITY => {
            protocol::parse_security_reply(reply).map(drop).map_err(fmt)
        }
        IoctlCode::RESOLVE => protocol::parse_resolve_reply(reply).map(drop).map_err(fmt),
        IoctlCode::STATS => protocol::parse_stats_reply(reply).map(drop).map_err(fmt),
        IoctlCode::HELD => protocol::parse_held_reply(reply).map(drop).map_err(fmt),
        IoctlCode::SERVE => protocol::parse_serve_reply(reply).map_err(fmt),
        IoctlCode::SET_PEER_TARGET_NAME => {
            protocol::parse_peer_target_name_reply(reply).map_err(fmt)
        }
        IoctlCode::DELETE_PEER_TARGET_NAME => {
            protocol::parse_delete_peer_target_name_reply(reply).map_err(fmt)
        }
        IoctlCode::QUERY_SECURITY => protocol::parse_query_security_reply(reply)
            .map(drop)
            .map_err(fmt),
        IoctlCode::RECV_FROM => protocol::parse_recv_from_reply(reply)
            .map(drop)
            .map_err(fmt),
        IoctlCode::SEND | IoctlCode::SEND_TO => {
            if reply.len() == planned.output_len {
                Ok(())
            } else {
                Err(format!(
                    "sent {} of {} bytes with success",
                    reply.len(),
                    planned.output_len
                ))
            }
        }
        IoctlCode::RECV => Ok(()),
        // The reply of a TRANSACT that succeeded: at most the `max_reply` it asked for.
        IoctlCode::TRANSACT => match protocol::parse_request(code, &planned.input) {
            Ok(protocol::Request::Transact(t)) if reply.len() <= t.max_reply as usize => Ok(()),
            Ok(protocol::Request::Transact(t)) => Err(format!(
                "a reply of {} bytes for max_reply {}",
                reply.len(),
                t.max_reply
            )),
            _ => Err("an invalid TRANSACT succeeded".into()),
        },
        _ => Err("an unknown code succeeded".into()),
    }
}

/// The run: workers until the budget or the deadline, then the summary line.
pub(crate) fn run(options: &Options) -> Result<String, String> {
    let threads = options.threads.max(1);
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        budget: options.requests,
        deadline: (options.seconds > 0)
            .then(|| Instant::now() + Duration::from_secs(options.seconds)),
        stop: AtomicBool::new(false),
        started: Instant::now(),
        progress: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        logs: (0..threads).map(|_| Mutex::new(VecDeque::new())).collect(),
        published: match &options.publish {
            Some(name) => {
                Some(Counters::open(name).map_err(|e| format!("counter mapping `{name}`: {e}"))?)
            }
            None => None,
        },
    });
    {
        let shared = Arc::clone(&shared);
        let seed = options.seed;
        std::thread::spawn(move || watchdog(&shared, seed));
    }
    if options.publish.is_none() {
        eprintln!(
            "wskrs-fuzz: seed {}, {} worker(s), {} request(s), {} s, {} worker process(es) \
             killed and replaced",
            options.seed, options.threads, options.requests, options.seconds, options.processes
        );
    }
    let started = Instant::now();
    let knobs = Knobs::new(&options.skip, options.thread_exits);
    let workers: Vec<_> = (0..threads)
        .map(|index| {
            let mut worker = Worker {
                index,
                rng: Rng::new(options.seed.wrapping_add(u64::try_from(index).unwrap_or(0))),
                targets: options.targets.clone(),
                handles: Vec::new(),
                in_flight: Vec::new(),
                known: VecDeque::new(),
                shared: Arc::clone(&shared),
                tally: Tally::default(),
                seed: options.seed,
                knobs: knobs.clone(),
            };
            std::thread::spawn(move || {
                worker.run();
                worker.tally
            })
        })
        .collect();
    // A worker process holds RECVs pended on a handle of its own until it is killed.
    let held = match options.publish {
        Some(_) => Some(hold_recvs(options, &shared)?),
        None => None,
    };
    shared.publish(SLOT_READY, 1, false);
    let killer = (options.processes > 0).then(|| {
        let shared = Arc::clone(&shared);
        let (seed, processes, args) =
            (options.seed, options.processes, options.worker_args.clone());
        std::thread::spawn(move || kill::killer(&shared, seed, processes, &args))
    });
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.join().map_err(|_| "a worker panicked".to_owned())?;
        total.merge(&tally);
    }
    // The killer ends its last worker process once the threads are done.
    shared.stop.store(true, Ordering::Relaxed);
    // A worker process that outlived its kill: its held RECVs end with their handle.
    if let Some((handle, requests)) = held {
        handle.close();
        drop(requests);
    }
    let kills = match killer {
        Some(killer) => killer
            .join()
            .map_err(|_| "the killer panicked".to_owned())??,
        None => kill::Kills::default(),
    };
    Ok(summary(
        options,
        &total,
        &kills,
        started.elapsed().as_secs_f64(),
    ))
}

/// The run's JSON summary line.
fn summary(options: &Options, total: &Tally, kills: &kill::Kills, seconds: f64) -> String {
    #[allow(clippy::cast_precision_loss)] // a rate
    let per_second = total.requests as f64 / seconds.max(1e-9);
    let statuses: Vec<String> = total
        .statuses
        .iter()
        .map(|(status, n)| format!("\"{}\":{n}", status_name(*status)))
        .collect();
    format!(
        "{{\"event\":\"done\",\"seed\":{},\"threads\":{},\"requests\":{},\"seconds\":{seconds:.1},\
         \"per_second\":{per_second:.0},\"pended\":{},\"succeeded\":{},\"cancelled\":{},\
         \"handle_closes_mid_request\":{},\"thread_exits\":{},\"lost_by_wine\":{},\
         {}\"statuses\":{{{}}}}}",
        options.seed,
        options.threads,
        total.requests,
        total.pended,
        total.succeeded,
        total.cancelled,
        total.closes_mid_request,
        total.thread_exits,
        total.lost_by_wine,
        kills.json_fields(),
        statuses.join(",")
    )
}

/// Requests boxed so that their blocks stay put while the driver may write them.
#[allow(clippy::vec_box)]
type Held = Vec<Box<Request>>;

/// In a worker process: 1 to [`HELD_RECVS`] (seeded) connections to the echo peer on a
/// handle of their own, each with a RECV pended for [`HELD_RECV_TIMEOUT_MS`]; published in
/// [`SLOT_HELD`].
fn hold_recvs(options: &Options, shared: &Shared) -> Result<(Handle, Held), String> {
    const HOLD_SEED: u64 = 0x686f_6c64;
    let echo = *options
        .targets
        .tcp
        .first()
        .ok_or("no TCP peer to hold RECVs on")?;
    let count = 1 + Rng::new(options.seed ^ HOLD_SEED).below(HELD_RECVS);
    let handle = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
    let wait = |request: &mut Box<Request>| -> Result<(u32, Vec<u8>), String> {
        let started = Instant::now();
        while !request.poll() {
            if started.elapsed() > COMPLETE_AFTER_CANCEL {
                return Err("a held connection's TCP_CONNECT did not complete".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let (status, information) = request.result.unwrap_or((u32::MAX, 0));
        Ok((
            status,
            request
                .output()
                .get(..information)
                .unwrap_or_default()
                .to_vec(),
        ))
    };
    let mut held = Vec::new();
    for _ in 0..count {
        let mut connect = Request::new(
            Planned {
                code: IoctlCode::TCP_CONNECT.0,
                input: protocol::encode_tcp_connect(echo, None, false, 10_000).to_vec(),
                output_len: 80,
                how: "hold".into(),
            },
            0,
        )
        .ok_or("CreateEventW failed")?;
        connect.issue(handle.target());
        let (status, reply) = wait(&mut connect)?;
        if status != 0 {
            return Err(format!(
                "held connection: TCP_CONNECT {}",
                status_name(status)
            ));
        }
        let id = protocol::parse_endpoint_reply(&reply)
            .map_err(|e| format!("held connection: {e:?}"))?
            .id;
        let mut recv = Request::new(
            Planned {
                code: IoctlCode::RECV.0,
                input: protocol::encode_recv(id, HELD_RECV_TIMEOUT_MS, 64).to_vec(),
                output_len: 64,
                how: "hold".into(),
            },
            0,
        )
        .ok_or("CreateEventW failed")?;
        recv.issue(handle.target());
        if let Some((status, _)) = recv.result {
            return Err(format!("a held RECV did not pend: {}", status_name(status)));
        }
        held.push(recv);
        shared.publish(SLOT_HELD, 1, true);
    }
    Ok((handle, held))
}

/// Closes every endpoint LIST shows (those a mutation detached outlive their handles).
pub(crate) fn cleanup() -> Result<String, String> {
    let handle = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
    let call = |planned: Planned| -> Result<(u32, Vec<u8>), String> {
        let mut request = Request::new(planned, 0).ok_or("CreateEventW failed")?;
        request.issue(handle.target());
        let started = Instant::now();
        while !request.poll() {
            if started.elapsed() > COMPLETE_AFTER_CANCEL {
                return Err("a cleanup request did not complete".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let (status, information) = request.result.unwrap_or((u32::MAX, 0));
        let reply = request
            .output()
            .get(..information)
            .unwrap_or_default()
            .to_vec();
        Ok((status, reply))
    };
    let (status, reply) = call(Planned {
        code: IoctlCode::LIST.0,
        input: protocol::encode_list().to_vec(),
        output_len: protocol::list_output_len(4096),
        how: "cleanup".into(),
    })?;
    if status != 0 {
        return Err(format!("LIST failed: {}", status_name(status)));
    }
    let ids: Vec<EndpointId> = protocol::parse_list_reply(&reply)
        .map_err(|e| format!("LIST reply: {e:?}"))?
        .iter()
        .map(|endpoint| endpoint.id)
        .collect();
    let mut closed = 0;
    for id in &ids {
        let (status, _) = call(Planned {
            code: IoctlCode::CLOSE.0,
            input: protocol::encode_close(*id).to_vec(),
            output_len: 8,
            how: "cleanup".into(),
        })?;
        if status == 0 {
            closed += 1;
        }
    }
    Ok(format!(
        "{{\"event\":\"cleanup\",\"listed\":{},\"closed\":{closed}}}",
        ids.len()
    ))
}
