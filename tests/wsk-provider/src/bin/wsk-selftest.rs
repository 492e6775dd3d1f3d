//! Exercises the provider end to end inside Wine, without the driver: a Windows program that
//! links the provider (as a Rust library) and Wine's ntoskrnl.exe, builds real IRPs and MDLs
//! with `IoAllocateIrp` / `IoAllocateMdl`, calls the WSK dispatch tables like a kernel client
//! does and checks each completion against peers made with std's sockets (127.0.0.1 / ::1).
//!
//! Run: `wine wsk-selftest.exe` in a prefix that has the bcryptprimitives shim
//! (`cargo xtask up` installs it). Prints one line per check; exits 1 if any failed.

#[cfg(not(windows))]
fn main() {
    eprintln!("wsk-selftest runs under Wine (x86_64-pc-windows-gnu) only");
}

#[cfg(windows)]
fn main() {
    std::process::exit(selftest::run());
}

#[cfg(windows)]
#[allow(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_panics_doc,
    clippy::cast_possible_truncation,
    clippy::similar_names,
    clippy::many_single_char_names,
    clippy::uninlined_format_args,
    clippy::ptr_cast_constness,
    clippy::too_many_lines
)]
mod selftest {
    // A test program: unsafe FFI calls follow the WSK contract inline; panics are test failures.
    use std::ffi::c_void;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::ptr::null_mut;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use wsk_bindings::{self as sys, irp as fields, NtStatus};

    static FAILED: AtomicUsize = AtomicUsize::new(0);

    fn check(what: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            println!("ok   {what}");
        } else {
            FAILED.fetch_add(1, Ordering::SeqCst);
            println!("FAIL {what}: {detail}");
        }
    }

    #[derive(Default)]
    struct Done {
        flag: Mutex<bool>,
        cv: Condvar,
        /// `Irp->PendingReturned` as the completion routine saw it.
        pending_returned: Mutex<Option<bool>>,
    }

    unsafe extern "C" fn on_complete(
        _d: *mut sys::DEVICE_OBJECT,
        irp: *mut sys::IRP,
        ctx: *mut c_void,
    ) -> i32 {
        let done = unsafe { &*ctx.cast::<Done>() };
        *done.pending_returned.lock().unwrap() = Some(unsafe { fields::pending_returned(irp) });
        *done.flag.lock().unwrap() = true;
        done.cv.notify_all();
        NtStatus::MORE_PROCESSING_REQUIRED.0
    }

    /// Requests whose return value and `PendingReturned` were compared by [`Req::run`], and
    /// the first that disagreed (the WDM pending protocol: STATUS_PENDING returned if and only
    /// if the IRP was marked pending).
    static PENDING_COMPARED: AtomicUsize = AtomicUsize::new(0);
    static PENDING_MISMATCH: Mutex<Option<String>> = Mutex::new(None);

    /// One IRP with a completion routine, reusable.
    struct Req {
        irp: *mut sys::IRP,
        done: Arc<Done>,
    }

    impl Req {
        fn new() -> Self {
            let irp = unsafe { sys::IoAllocateIrp(1, 0) };
            assert!(!irp.is_null());
            Self {
                irp,
                done: Arc::new(Done::default()),
            }
        }
        /// Prepares the IRP and returns it for a call.
        fn arm(&self) -> *mut sys::IRP {
            unsafe { sys::IoReuseIrp(self.irp, NtStatus::UNSUCCESSFUL.0) };
            *self.done.flag.lock().unwrap() = false;
            unsafe {
                fields::set_completion_routine(
                    self.irp,
                    on_complete,
                    Arc::as_ptr(&self.done).cast_mut().cast(),
                );
            };
            self.irp
        }
        /// Waits for completion; returns (status, information) or None on timeout.
        fn wait(&self, timeout: Duration) -> Option<(NtStatus, usize)> {
            let g = self.done.flag.lock().unwrap();
            let (g, _) = self
                .done
                .cv
                .wait_timeout_while(g, timeout, |f| !*f)
                .unwrap();
            if !*g {
                return None;
            }
            Some(unsafe {
                (
                    NtStatus(fields::status(self.irp)),
                    fields::information(self.irp),
                )
            })
        }
        fn completed(&self) -> bool {
            *self.done.flag.lock().unwrap()
        }
        /// Arms, calls, waits; compares the returned value with `PendingReturned`.
        fn run(&self, f: impl FnOnce(*mut sys::IRP) -> i32) -> (NtStatus, NtStatus, usize) {
            *self.done.pending_returned.lock().unwrap() = None;
            let returned = NtStatus(f(self.arm()));
            let (status, info) = self
                .wait(Duration::from_secs(10))
                .unwrap_or((NtStatus::TIMEOUT, 0));
            self.compare_pending(returned, status);
            (returned, status, info)
        }
        /// Records whether the completion routine's `PendingReturned` agreed with `returned`.
        fn compare_pending(&self, returned: NtStatus, status: NtStatus) {
            let Some(pending_returned) = *self.done.pending_returned.lock().unwrap() else {
                return;
            };
            PENDING_COMPARED.fetch_add(1, Ordering::SeqCst);
            if pending_returned != (returned == NtStatus::PENDING) {
                PENDING_MISMATCH.lock().unwrap().get_or_insert_with(|| {
                    format!(
                        "returned {returned:?}, completed {status:?}, PendingReturned {pending_returned}"
                    )
                });
            }
        }
    }

    /// The `IPPROTO_TCP` options Wine's Winsock refuses, answered by the provider: Windows'
    /// defaults, round trips (each target first differs from the value read), validation, and
    /// keep-alive tuning reaching the Linux socket (its keep-alive timer in /proc/net/tcp*).
    fn tcp_options(a: *mut sys::WSK_SOCKET, v: &str, me: SocketAddr, peer: SocketAddr) {
        let defaults = [
            (sys::TCP_KEEPCNT, 10),
            (sys::TCP_KEEPIDLE, 7200),
            (sys::TCP_KEEPINTVL, 1),
            (sys::TCP_MAXRT, u32::MAX),
            (sys::TCP_TIMESTAMPS, 0),
            (sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR, 0),
        ];
        let got: Vec<_> = defaults
            .iter()
            .map(|(n, _)| get_u32(a, sys::IPPROTO_TCP, *n))
            .collect();
        check(
            &format!("tcp{v}: IPPROTO_TCP options Wine refuses read Windows' defaults (KEEPCNT 10, KEEPIDLE 7200, KEEPINTVL 1, ...)"),
            defaults.iter().zip(&got).all(|((_, d), g)| *g == Some(*d)),
            format!("{got:?}"),
        );
        let mut bad = Vec::new();
        for (name, target) in [
            (sys::TCP_KEEPCNT, 5),
            (sys::TCP_KEEPIDLE, 7),
            (sys::TCP_KEEPINTVL, 3),
            (sys::TCP_MAXRT, 30),
            (sys::TCP_TIMESTAMPS, 1),
            (sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR, 1),
        ] {
            let before = get_u32(a, sys::IPPROTO_TCP, name);
            let st = set_u32(a, sys::IPPROTO_TCP, name, target);
            let after = get_u32(a, sys::IPPROTO_TCP, name);
            if before == Some(target) || !st.is_success() || after != Some(target) {
                bad.push(format!("{name}: {before:?} -> {st:?} -> {after:?}"));
            }
        }
        check(
            &format!("tcp{v}: TCP_KEEPCNT/KEEPIDLE/KEEPINTVL/MAXRT/TIMESTAMPS/FAIL_CONNECT_ON_ICMP_ERROR round trip"),
            bad.is_empty(),
            bad.join("; "),
        );
        let st = set_u32(a, sys::IPPROTO_TCP, sys::TCP_KEEPCNT, 256);
        let after = get_u32(a, sys::IPPROTO_TCP, sys::TCP_KEEPCNT);
        let st2 = set_u32(a, sys::IPPROTO_TCP, sys::TCP_KEEPIDLE, u32::MAX);
        check(
            &format!("tcp{v}: TCP_KEEPCNT 256 and TCP_KEEPIDLE 0xFFFFFFFF -> INVALID_PARAMETER, value kept"),
            st == NtStatus::INVALID_PARAMETER && after == Some(5) && st2 == NtStatus::INVALID_PARAMETER,
            format!("{st:?} {after:?} {st2:?}"),
        );
        // SO_KEEPALIVE is on (set above): KEEPIDLE 7 s went to Linux through SIO_KEEPALIVE_VALS.
        let timer = keepalive_timer(me, peer);
        check(
            &format!("tcp{v}: TCP_KEEPIDLE 7 reaches the Linux socket (keep-alive timer <= 7 s)"),
            timer.is_some_and(|t| t <= Duration::from_secs(7)),
            format!("{timer:?}"),
        );
    }

    /// The keep-alive timer of the connection `local` -> `remote` as /proc/net/tcp(6) shows
    /// it (timer 2, remaining time in USER_HZ = 100 ticks per second).
    fn keepalive_timer(local: SocketAddr, remote: SocketAddr) -> Option<Duration> {
        let file = if local.is_ipv4() {
            r"Z:\proc\net\tcp"
        } else {
            r"Z:\proc\net\tcp6"
        };
        let text = std::fs::read_to_string(file).ok()?;
        let port = |field: &str| {
            field
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        text.lines().skip(1).find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || port(f[1]) != Some(local.port()) || port(f[2]) != Some(remote.port())
            {
                return None;
            }
            let (kind, when) = f[5].split_once(':')?;
            let ticks = u64::from_str_radix(when, 16).ok()?;
            (kind == "02").then(|| Duration::from_millis(ticks * 10))
        })
    }

    /// A buffer described by a chain of MDLs (one per piece).
    struct Chain {
        bufs: Vec<Vec<u8>>,
        mdls: Vec<*mut sys::MDL>,
    }

    impl Chain {
        fn new(sizes: &[usize]) -> Self {
            let mut bufs: Vec<Vec<u8>> = sizes.iter().map(|n| vec![0u8; *n]).collect();
            let mdls: Vec<*mut sys::MDL> = bufs
                .iter_mut()
                .map(|b| unsafe {
                    sys::IoAllocateMdl(b.as_mut_ptr().cast(), b.len() as u32, 0, 0, null_mut())
                })
                .collect();
            for w in mdls.windows(2) {
                unsafe { (*w[0]).Next = w[1] };
            }
            for m in &mdls {
                unsafe { sys::MmBuildMdlForNonPagedPool(*m) };
            }
            Self { bufs, mdls }
        }
        fn wsk_buf(&self, offset: u32, length: usize) -> sys::WSK_BUF {
            sys::WSK_BUF {
                Mdl: self.mdls[0],
                Offset: offset,
                Length: length as u64,
            }
        }
        fn bytes(&self) -> Vec<u8> {
            self.bufs.concat()
        }
        fn fill(&mut self, data: &[u8]) {
            let mut i = 0;
            for b in &mut self.bufs {
                for x in b.iter_mut() {
                    *x = data.get(i).copied().unwrap_or(0);
                    i += 1;
                }
            }
        }
    }

    impl Drop for Chain {
        fn drop(&mut self) {
            for m in &self.mdls {
                unsafe { sys::IoFreeMdl(*m) };
            }
        }
    }

    fn sockaddr(a: SocketAddr) -> [u8; 28] {
        wskrs_provider_model::sockaddr::to_bytes(a).0
    }

    fn parse(a: &[u8; 28]) -> Option<SocketAddr> {
        wskrs_provider_model::sockaddr::from_bytes(a)
    }

    struct Wsk {
        registration: Box<sys::WSK_REGISTRATION>,
        npi: sys::WSK_PROVIDER_NPI,
        _client_npi: Box<sys::WSK_CLIENT_NPI>,
    }

    static CLIENT_DISPATCH: sys::WSK_CLIENT_DISPATCH = sys::WSK_CLIENT_DISPATCH {
        Version: wsk_bindings::make_wsk_version(1, 0),
        Reserved: 0,
        WskClientEvent: None,
    };

    impl Wsk {
        /// A new registration (the provider reads its fault-injection switches here) with the
        /// provider NPI captured.
        fn register() -> Self {
            let mut client_npi = Box::new(sys::WSK_CLIENT_NPI {
                ClientContext: null_mut(),
                Dispatch: &raw const CLIENT_DISPATCH,
            });
            let mut registration = Box::new(sys::WSK_REGISTRATION::default());
            let st = NtStatus(unsafe {
                netio::WskRegister(&raw mut *client_npi, &raw mut *registration)
            });
            assert!(st.is_success(), "WskRegister: {st:?}");
            let mut npi = sys::WSK_PROVIDER_NPI {
                Client: null_mut(),
                Dispatch: std::ptr::null(),
            };
            let st = NtStatus(unsafe {
                netio::WskCaptureProviderNPI(
                    &raw mut *registration,
                    sys::WSK_INFINITE_WAIT,
                    &raw mut npi,
                )
            });
            assert!(st.is_success(), "WskCaptureProviderNPI: {st:?}");
            Self {
                registration,
                npi,
                _client_npi: client_npi,
            }
        }
        /// Releases the NPI and deregisters.
        fn deregister(self) {
            unsafe { netio::WskReleaseProviderNPI(&raw const *self.registration as *mut _) };
            let mut reg = self.registration;
            unsafe { netio::WskDeregister(&raw mut *reg) };
        }
        fn dispatch(&self) -> &sys::WSK_PROVIDER_DISPATCH {
            unsafe { &*self.npi.Dispatch }
        }
        fn socket(
            &self,
            family: u16,
            ty: u16,
            proto: u32,
            flags: u32,
        ) -> (NtStatus, *mut sys::WSK_SOCKET) {
            let r = Req::new();
            let (_, st, info) = r.run(|irp| unsafe {
                (self.dispatch().WskSocket.unwrap())(
                    self.npi.Client,
                    family,
                    ty,
                    proto,
                    flags,
                    null_mut(),
                    std::ptr::null(),
                    null_mut(),
                    null_mut(),
                    null_mut(),
                    irp,
                )
            });
            (st, info as *mut sys::WSK_SOCKET)
        }
    }

    fn conn(s: *mut sys::WSK_SOCKET) -> &'static sys::WSK_PROVIDER_CONNECTION_DISPATCH {
        unsafe {
            &*(*s)
                .Dispatch
                .cast::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>()
        }
    }
    fn listen(s: *mut sys::WSK_SOCKET) -> &'static sys::WSK_PROVIDER_LISTEN_DISPATCH {
        unsafe { &*(*s).Dispatch.cast::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }
    }
    fn dgram(s: *mut sys::WSK_SOCKET) -> &'static sys::WSK_PROVIDER_DATAGRAM_DISPATCH {
        unsafe { &*(*s).Dispatch.cast::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() }
    }
    fn basic(s: *mut sys::WSK_SOCKET) -> &'static sys::WSK_PROVIDER_BASIC_DISPATCH {
        unsafe { &*(*s).Dispatch.cast::<sys::WSK_PROVIDER_BASIC_DISPATCH>() }
    }

    fn bind(s: *mut sys::WSK_SOCKET, a: SocketAddr, f: sys::PFN_WSK_BIND) -> NtStatus {
        let mut addr = sockaddr(a);
        Req::new()
            .run(|irp| unsafe { (f.unwrap())(s, addr.as_mut_ptr().cast(), 0, irp) })
            .1
    }

    fn local_address(
        s: *mut sys::WSK_SOCKET,
        f: sys::PFN_WSK_GET_LOCAL_ADDRESS,
    ) -> Option<SocketAddr> {
        let mut out = [0u8; 28];
        let (_, st, _) =
            Req::new().run(|irp| unsafe { (f.unwrap())(s, out.as_mut_ptr().cast(), irp) });
        if st.is_success() {
            parse(&out)
        } else {
            None
        }
    }

    fn close(s: *mut sys::WSK_SOCKET) -> (NtStatus, NtStatus) {
        let r = Req::new().run(|irp| unsafe { (basic(s).WskCloseSocket.unwrap())(s, irp) });
        (r.0, r.1)
    }

    fn set_u32(s: *mut sys::WSK_SOCKET, level: u32, name: u32, value: u32) -> NtStatus {
        let mut v = value;
        let r = Req::new().run(|irp| unsafe {
            (basic(s).WskControlSocket.unwrap())(
                s,
                sys::WskSetOption,
                name,
                level,
                4,
                (&raw mut v).cast(),
                0,
                null_mut(),
                null_mut(),
                irp,
            )
        });
        r.1
    }

    fn get_u32(s: *mut sys::WSK_SOCKET, level: u32, name: u32) -> Option<u32> {
        let mut v = 0u32;
        let mut returned: u64 = 0;
        let st = unsafe {
            (basic(s).WskControlSocket.unwrap())(
                s,
                sys::WskGetOption,
                name,
                level,
                0,
                null_mut(),
                4,
                (&raw mut v).cast(),
                &raw mut returned,
                null_mut(),
            )
        };
        if !NtStatus(st).is_success() || returned != 4 {
            println!(
                "     get {level:#x}/{name:#x}: {:?}, {returned} byte(s)",
                NtStatus(st)
            );
        }
        (NtStatus(st).is_success() && returned == 4).then_some(v)
    }

    pub(crate) fn run() -> i32 {
        let mut client_npi = Box::new(sys::WSK_CLIENT_NPI {
            ClientContext: null_mut(),
            Dispatch: &raw const CLIENT_DISPATCH,
        });
        let mut registration = Box::new(sys::WSK_REGISTRATION::default());
        let st =
            NtStatus(unsafe { netio::WskRegister(&raw mut *client_npi, &raw mut *registration) });
        check("WskRegister", st.is_success(), format!("{st:?}"));
        let mut npi = sys::WSK_PROVIDER_NPI {
            Client: null_mut(),
            Dispatch: std::ptr::null(),
        };
        let st = NtStatus(unsafe {
            netio::WskCaptureProviderNPI(
                &raw mut *registration,
                sys::WSK_INFINITE_WAIT,
                &raw mut npi,
            )
        });
        check(
            "WskCaptureProviderNPI",
            st.is_success() && !npi.Client.is_null(),
            format!("{st:?}"),
        );
        let mut ch = sys::WSK_PROVIDER_CHARACTERISTICS::default();
        let st = NtStatus(unsafe {
            netio::WskQueryProviderCharacteristics(&raw mut *registration, &raw mut ch)
        });
        check(
            "WskQueryProviderCharacteristics 1.0",
            st.is_success() && ch.HighestVersion == 0x100 && ch.LowestVersion == 0x100,
            format!("{ch:?}"),
        );
        let wsk = Wsk {
            registration,
            npi,
            _client_npi: client_npi,
        };
        check(
            "provider version 1.0",
            wsk.dispatch().Version == 0x100,
            wsk.dispatch().Version,
        );

        datagram(
            &wsk,
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        );
        datagram(&wsk, "[::1]:0".parse().unwrap(), "[::1]:0".parse().unwrap());
        stream_accept(&wsk, "127.0.0.1:0".parse().unwrap());
        stream_accept(&wsk, "[::1]:0".parse().unwrap());
        stream_connect(&wsk, "[::1]:0".parse().unwrap());
        socket_connect(&wsk);
        connect_ex(&wsk);
        control_info(&wsk);
        security(&wsk);
        names(&wsk);
        ioctls(&wsk);
        stream_sockets(&wsk);
        events::connection(&wsk);
        events::abortive(&wsk);
        events::disable_while_running(&wsk);
        events::accept(&wsk);
        events::datagram(&wsk);

        unsafe { netio::WskReleaseProviderNPI(&raw const *wsk.registration as *mut _) };
        let mut reg = wsk.registration;
        unsafe { netio::WskDeregister(&raw mut *reg) };
        events::static_callbacks();
        faults::fault();
        faults::delay_all();
        faults::delay_nth();
        faults::drop_nth();
        with_switch("WSKRS_PROVIDER_DROP", "1", events::dropped);
        check(
            "verifier: no report while WSKRS_PROVIDER_VERIFY is off (every check above)",
            netio::verifier_reports() == 0,
            netio::verifier_reports(),
        );
        with_switch("WSKRS_PROVIDER_VERIFY", "1", events::verifier);
        let compared = PENDING_COMPARED.load(Ordering::SeqCst);
        let mismatch = PENDING_MISMATCH.lock().unwrap().take();
        check(
            &format!(
                "pending protocol: PendingReturned TRUE exactly when STATUS_PENDING was returned ({compared} requests)"
            ),
            compared > 50 && mismatch.is_none(),
            mismatch.unwrap_or_else(|| format!("only {compared} requests compared")),
        );
        let failed = FAILED.load(Ordering::SeqCst);
        println!("wsk-selftest: {} failure(s)", failed);
        i32::from(failed != 0)
    }

    /// Runs `f` with a client registered while the environment variable `var` is `value`: the
    /// provider reads its fault-injection switches at `WskRegister` (this program links it, so
    /// it sees this process's environment). The switches are process-wide: the variable is
    /// unset again and a throwaway registration puts the provider back to no faults.
    fn with_switch(var: &str, value: &str, f: impl FnOnce(&Wsk)) {
        std::env::set_var(var, value);
        let wsk = Wsk::register();
        std::env::remove_var(var);
        f(&wsk);
        wsk.deregister();
        Wsk::register().deregister();
    }

    fn family(a: SocketAddr) -> u16 {
        if a.is_ipv4() {
            2
        } else {
            23
        }
    }

    fn datagram(wsk: &Wsk, local: SocketAddr, peer_bind: SocketAddr) {
        let v = if local.is_ipv4() { "v4" } else { "v6" };
        let (st, s) = wsk.socket(family(local), 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        check(
            &format!("udp{v}: WskSocket datagram"),
            st.is_success(),
            format!("{st:?}"),
        );
        let d = dgram(s);
        // Receive before bind: Windows-like state error.
        let chain = Chain::new(&[8]);
        let mut wb = chain.wsk_buf(0, 8);
        let r = Req::new();
        let mut from = [0u8; 28];
        let (ret, st, _) = r.run(|irp| unsafe {
            (d.WskReceiveFrom.unwrap())(
                s,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                null_mut(),
                null_mut(),
                null_mut(),
                irp,
            )
        });
        check(
            &format!("udp{v}: WskReceiveFrom before bind -> INVALID_DEVICE_STATE"),
            ret == st && st == NtStatus::INVALID_DEVICE_STATE,
            format!("{ret:?}/{st:?}"),
        );
        let st = bind(s, local, d.WskBind);
        check(
            &format!("udp{v}: WskBind"),
            st.is_success(),
            format!("{st:?}"),
        );
        let me = local_address(s, d.WskGetLocalAddress);
        check(
            &format!("udp{v}: WskGetLocalAddress"),
            me.is_some_and(|a| a.port() != 0 && a.ip() == local.ip()),
            format!("{me:?}"),
        );
        let Some(me) = me else { return };
        let peer = UdpSocket::bind(peer_bind).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Receive pending first, then the peer sends (3-piece chain, offset 2 in the first MDL).
        let mut chain = Chain::new(&[4, 3, 10]);
        let mut wb = chain.wsk_buf(2, 12);
        let mut from = [0u8; 28];
        let mut ctl_len = 77u32;
        let mut ctl_flags = 77u32;
        let r = Req::new();
        let ret = NtStatus(unsafe {
            (d.WskReceiveFrom.unwrap())(
                s,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                &raw mut ctl_len,
                null_mut(),
                &raw mut ctl_flags,
                r.arm(),
            )
        });
        check(
            &format!("udp{v}: WskReceiveFrom pending"),
            ret == NtStatus::PENDING && !r.completed(),
            format!("{ret:?}"),
        );
        peer.send_to(b"datagram-12!", me).unwrap();
        let res = r.wait(Duration::from_secs(5));
        let got = chain.bytes();
        check(
            &format!("udp{v}: WskReceiveFrom data across MDL chain"),
            res == Some((NtStatus::SUCCESS, 12)) && &got[2..14] == b"datagram-12!",
            format!("{res:?} {got:?}"),
        );
        let src = parse(&from);
        check(
            &format!(
                "udp{v}: remote address ({} bytes) and empty control info",
                if local.is_ipv4() { 16 } else { 28 }
            ),
            src == Some(peer.local_addr().unwrap()) && ctl_len == 0 && ctl_flags == 0,
            format!("{src:?} ctl {ctl_len} {ctl_flags}"),
        );
        // Send back with WskSendTo.
        chain.fill(b"reply-datagram--");
        let mut wb = chain.wsk_buf(1, 10);
        let mut to = sockaddr(peer.local_addr().unwrap());
        let (_, st, info) = Req::new().run(|irp| unsafe {
            (d.WskSendTo.unwrap())(
                s,
                &raw mut wb,
                0,
                to.as_mut_ptr().cast(),
                0,
                null_mut(),
                irp,
            )
        });
        let mut buf = [0u8; 64];
        let got = peer.recv_from(&mut buf);
        check(
            &format!("udp{v}: WskSendTo"),
            st.is_success()
                && info == 10
                && got
                    .as_ref()
                    .is_ok_and(|(n, a)| &buf[..*n] == b"eply-datag" && *a == me),
            format!("{st:?} {info} {got:?}"),
        );
        truncated_datagrams(d, s, &peer, me, v);
        // Cancel a pending receive with IoCancelIrp.
        let mut wb = chain.wsk_buf(0, 12);
        let r = Req::new();
        let ret = NtStatus(unsafe {
            (d.WskReceiveFrom.unwrap())(
                s,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                null_mut(),
                null_mut(),
                null_mut(),
                r.arm(),
            )
        });
        let cancelled = unsafe { sys::IoCancelIrp(r.irp) };
        let res = r.wait(Duration::from_secs(5));
        check(
            &format!("udp{v}: IoCancelIrp on pending WskReceiveFrom -> CANCELLED"),
            ret == NtStatus::PENDING && cancelled != 0 && res == Some((NtStatus::CANCELLED, 0)),
            format!("{ret:?} {cancelled} {res:?}"),
        );
        // Close with a receive pending: the receive completes CANCELLED before the close.
        let mut wb = chain.wsk_buf(0, 12);
        let r = Req::new();
        let _ = unsafe {
            (d.WskReceiveFrom.unwrap())(
                s,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                null_mut(),
                null_mut(),
                null_mut(),
                r.arm(),
            )
        };
        let (ret, st) = close(s);
        check(
            &format!("udp{v}: WskCloseSocket cancels the pending receive first"),
            st.is_success()
                && r.completed()
                && r.wait(Duration::ZERO) == Some((NtStatus::CANCELLED, 0)),
            format!("{ret:?} {st:?} {:?}", r.wait(Duration::ZERO)),
        );
    }

    /// Datagrams longer than the receive buffer, already queued when `WskReceiveFrom` starts
    /// (so Winsock's `WSARecvFrom` fails at once with `WSAEMSGSIZE`, and Wine still queues a
    /// completion packet for that warning) and arriving while it is pending: each completes
    /// once with `STATUS_BUFFER_OVERFLOW`, the buffer's worth of data as Information, the
    /// sender and `MSG_TRUNC`. Many rounds: a packet taken for a request already finished
    /// frees its memory a second time (fuzz finding 1).
    fn truncated_datagrams(
        d: &sys::WSK_PROVIDER_DATAGRAM_DISPATCH,
        s: *mut sys::WSK_SOCKET,
        peer: &UdpSocket,
        me: SocketAddr,
        v: &str,
    ) {
        const MSG_TRUNC: u32 = 0x0100;
        const ROUNDS: usize = 200;
        let datagram: Vec<u8> = (0..100u8).collect();
        let mut bad = Vec::new();
        for round in 0..ROUNDS {
            let queued = round % 2 == 0;
            if queued {
                peer.send_to(&datagram, me).unwrap();
                // A datagram to a local socket is queued before send_to returns; give Wine's
                // server a moment all the same.
                std::thread::sleep(Duration::from_millis(2));
            }
            let chain = Chain::new(&[8]);
            let mut wb = chain.wsk_buf(0, 8);
            let mut from = [0u8; 28];
            let mut ctl_len = 0u32;
            let mut ctl_flags = 77u32;
            let r = Req::new();
            let _ = unsafe {
                (d.WskReceiveFrom.unwrap())(
                    s,
                    &raw mut wb,
                    0,
                    from.as_mut_ptr().cast(),
                    &raw mut ctl_len,
                    null_mut(),
                    &raw mut ctl_flags,
                    r.arm(),
                )
            };
            if !queued {
                peer.send_to(&datagram, me).unwrap();
            }
            let res = r.wait(Duration::from_secs(5));
            let ok = res == Some((NtStatus::BUFFER_OVERFLOW, 8))
                && chain.bytes() == datagram[..8]
                && parse(&from) == Some(peer.local_addr().unwrap())
                && ctl_flags == MSG_TRUNC;
            if !ok && bad.len() < 3 {
                bad.push(format!(
                    "round {round} ({}): {res:?}, data {:?}, from {:?}, flags {ctl_flags:#x}",
                    if queued { "queued" } else { "pending" },
                    chain.bytes(),
                    parse(&from)
                ));
            }
            // Let a stray completion packet for this request arrive while its memory is
            // still the provider's to free twice.
            std::thread::sleep(Duration::from_millis(1));
        }
        check(
            &format!(
                "udp{v}: {ROUNDS} datagrams longer than the buffer (queued / while pending): \
                 BUFFER_OVERFLOW once each, with the data that fit, the sender, MSG_TRUNC"
            ),
            bad.is_empty(),
            bad.join("; "),
        );
    }

    /// `WskControlSocket(WskIoctl, ...)`: returns (value returned, IRP status or that value
    /// without an IRP, bytes: IRP Information or `OutputSizeReturned`).
    fn ioctl(
        s: *mut sys::WSK_SOCKET,
        code: u32,
        input: Option<&mut [u8]>,
        output: Option<&mut [u8]>,
        with_irp: bool,
    ) -> (NtStatus, NtStatus, usize) {
        let (ip, il) = input.map_or((null_mut(), 0), |b| (b.as_mut_ptr().cast(), b.len()));
        let (op, ol) = output.map_or((null_mut(), 0), |b| (b.as_mut_ptr().cast(), b.len()));
        let f = basic(s).WskControlSocket.unwrap();
        if with_irp {
            Req::new().run(|irp| unsafe {
                f(
                    s,
                    sys::WskIoctl,
                    code,
                    0,
                    il as u64,
                    ip,
                    ol as u64,
                    op,
                    null_mut(),
                    irp,
                )
            })
        } else {
            let mut returned: u64 = 0;
            let st = NtStatus(unsafe {
                f(
                    s,
                    sys::WskIoctl,
                    code,
                    0,
                    il as u64,
                    ip,
                    ol as u64,
                    op,
                    &raw mut returned,
                    null_mut(),
                )
            });
            (st, st, returned as usize)
        }
    }

    /// `WskSendTo` of `data` to `to` (None: a NULL remote address).
    fn send_to(s: *mut sys::WSK_SOCKET, data: &[u8], to: Option<SocketAddr>) -> (NtStatus, usize) {
        let mut chain = Chain::new(&[data.len()]);
        chain.fill(data);
        let mut wb = chain.wsk_buf(0, data.len());
        let mut addr = to.map(sockaddr);
        let p: *mut sys::SOCKADDR = addr.as_mut().map_or(null_mut(), |a| a.as_mut_ptr().cast());
        let (_, st, info) = Req::new().run(|irp| unsafe {
            (dgram(s).WskSendTo.unwrap())(s, &raw mut wb, 0, p, 0, null_mut(), irp)
        });
        (st, info)
    }

    /// WskIoctl: the SIO_WSK_* codes on the categories their pages name, their IRP rules,
    /// and FIONREAD / SIO_KEEPALIVE_VALS passed through to Winsock.
    fn ioctls(wsk: &Wsk) {
        check(
            "ioctl: SIO_WSK_* codes from _WSAIOR/_WSAIOW(IOC_WSK, n)",
            sys::SIO_WSK_SET_REMOTE_ADDRESS == 0x8F00_0001
                && sys::SIO_WSK_QUERY_IDEAL_SEND_BACKLOG == 0x4F00_0003
                && sys::SIO_WSK_QUERY_RECEIVE_BACKLOG == 0x4F00_0004
                && sys::SIO_WSK_QUERY_INSPECT_ID == 0x4F00_0005
                && sys::SIO_WSK_SET_SENDTO_ADDRESS == 0x8F00_0006,
            format!("{:#x}", sys::SIO_WSK_QUERY_RECEIVE_BACKLOG),
        );
        // A connection with 5 bytes queued.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (st, s) = wsk.socket(2, 1, 6, sys::WSK_FLAG_CONNECTION_SOCKET);
        let c = conn(s);
        let st2 = bind(s, "127.0.0.1:0".parse().unwrap(), c.WskBind);
        let mut backlog = [0u8; 8];
        let (ret, _, _) = ioctl(
            s,
            sys::SIO_WSK_QUERY_RECEIVE_BACKLOG,
            None,
            Some(&mut backlog),
            true,
        );
        check(
            "ioctl: SIO_WSK_QUERY_RECEIVE_BACKLOG before connect -> INVALID_DEVICE_STATE",
            st.is_success() && st2.is_success() && ret == NtStatus::INVALID_DEVICE_STATE,
            format!("{st:?} {st2:?} {ret:?}"),
        );
        let mut to = sockaddr(listener.local_addr().unwrap());
        let (_, cst, _) = Req::new()
            .run(|irp| unsafe { (c.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"12345").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (ret, st, info) = ioctl(
            s,
            sys::SIO_WSK_QUERY_RECEIVE_BACKLOG,
            None,
            Some(&mut backlog),
            true,
        );
        check(
            "ioctl: SIO_WSK_QUERY_RECEIVE_BACKLOG with data queued -> 5 (SIZE_T, IRP)",
            cst.is_success() && st.is_success() && info == 8 && u64::from_le_bytes(backlog) == 5,
            format!(
                "{cst:?} {ret:?} {st:?} {info} {}",
                u64::from_le_bytes(backlog)
            ),
        );
        let (ret, _, _) = ioctl(
            s,
            sys::SIO_WSK_QUERY_RECEIVE_BACKLOG,
            None,
            Some(&mut backlog),
            false,
        );
        check(
            "ioctl: SIO_WSK_QUERY_RECEIVE_BACKLOG without IRP -> INVALID_PARAMETER",
            ret == NtStatus::INVALID_PARAMETER,
            format!("{ret:?}"),
        );
        let mut ideal = [0u8; 8];
        let (_, st, info) = ioctl(
            s,
            sys::SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
            None,
            Some(&mut ideal),
            true,
        );
        check(
            "ioctl: SIO_WSK_QUERY_IDEAL_SEND_BACKLOG -> a size",
            st.is_success() && info == 8 && u64::from_le_bytes(ideal) > 0,
            format!("{st:?} {info} {}", u64::from_le_bytes(ideal)),
        );
        let mut n = [0u8; 4];
        #[allow(clippy::cast_sign_loss)]
        let fionread = windows_sys::Win32::Networking::WinSock::FIONREAD as u32;
        let (_, st, info) = ioctl(s, fionread, None, Some(&mut n), false);
        check(
            "ioctl: FIONREAD passed through -> 5",
            st.is_success() && info == 4 && u32::from_le_bytes(n) == 5,
            format!("{st:?} {info} {}", u32::from_le_bytes(n)),
        );
        // struct tcp_keepalive { onoff, keepalivetime, keepaliveinterval } (mstcpip.h).
        let mut ka = [0u8; 12];
        ka[..4].copy_from_slice(&1u32.to_le_bytes());
        ka[4..8].copy_from_slice(&10_000u32.to_le_bytes());
        ka[8..].copy_from_slice(&1_000u32.to_le_bytes());
        let (_, st, _) = ioctl(
            s,
            windows_sys::Win32::Networking::WinSock::SIO_KEEPALIVE_VALS,
            Some(&mut ka),
            None,
            true,
        );
        let keepalive = get_u32(s, sys::SOL_SOCKET, sys::SO_KEEPALIVE);
        check(
            "ioctl: SIO_KEEPALIVE_VALS passed through (SO_KEEPALIVE on)",
            st.is_success() && keepalive == Some(1),
            format!("{st:?} {keepalive:?}"),
        );
        let mut id = [0u8; 16];
        let (_, st, _) = ioctl(s, sys::SIO_WSK_QUERY_INSPECT_ID, None, Some(&mut id), true);
        check(
            "ioctl: SIO_WSK_QUERY_INSPECT_ID -> NOT_SUPPORTED",
            st == NtStatus::NOT_SUPPORTED,
            format!("{st:?}"),
        );
        let chain = Chain::new(&[8]);
        let mut wb = chain.wsk_buf(0, 8);
        let (_, rst, got) =
            Req::new().run(|irp| unsafe { (c.WskReceive.unwrap())(s, &raw mut wb, 0, irp) });
        let (_, st, _) = ioctl(
            s,
            sys::SIO_WSK_QUERY_RECEIVE_BACKLOG,
            None,
            Some(&mut backlog),
            true,
        );
        check(
            "ioctl: SIO_WSK_QUERY_RECEIVE_BACKLOG after the receive -> 0",
            rst.is_success() && got == 5 && st.is_success() && u64::from_le_bytes(backlog) == 0,
            format!("{rst:?} {got} {st:?} {}", u64::from_le_bytes(backlog)),
        );
        close(s);

        // Datagram sockets: fixed destinations.
        let (_, d) = wsk.socket(2, 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut addr = sockaddr(peer.local_addr().unwrap());
        let (ret, _, _) = ioctl(
            d,
            sys::SIO_WSK_SET_SENDTO_ADDRESS,
            Some(&mut addr[..16]),
            None,
            true,
        );
        check(
            "ioctl: SIO_WSK_SET_SENDTO_ADDRESS before bind -> INVALID_DEVICE_STATE",
            ret == NtStatus::INVALID_DEVICE_STATE,
            format!("{ret:?}"),
        );
        let st = bind(d, "127.0.0.1:0".parse().unwrap(), dgram(d).WskBind);
        let me = local_address(d, dgram(d).WskGetLocalAddress);
        let (ret, _, _) = ioctl(
            d,
            sys::SIO_WSK_SET_SENDTO_ADDRESS,
            Some(&mut addr[..16]),
            None,
            false,
        );
        check(
            "ioctl: SIO_WSK_SET_SENDTO_ADDRESS without IRP -> INVALID_PARAMETER",
            st.is_success() && ret == NtStatus::INVALID_PARAMETER,
            format!("{st:?} {ret:?}"),
        );
        let (_, st, _) = ioctl(
            d,
            sys::SIO_WSK_SET_SENDTO_ADDRESS,
            Some(&mut addr[..16]),
            None,
            true,
        );
        let (sst, sent) = send_to(d, b"fixed-sendto", None);
        let mut buf = [0u8; 64];
        let got = peer.recv_from(&mut buf);
        check(
            "ioctl: SIO_WSK_SET_SENDTO_ADDRESS, then WskSendTo(NULL) reaches it",
            st.is_success()
                && sst.is_success()
                && sent == 12
                && got
                    .as_ref()
                    .is_ok_and(|(n, a)| &buf[..*n] == b"fixed-sendto" && Some(*a) == me),
            format!("{st:?} {sst:?} {sent} {got:?}"),
        );
        let (sst, _) = send_to(d, b"override", Some(other.local_addr().unwrap()));
        other
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let got = other.recv_from(&mut buf);
        check(
            "ioctl: WskSendTo with an address overrides the fixed one",
            sst.is_success() && got.as_ref().is_ok_and(|(n, _)| &buf[..*n] == b"override"),
            format!("{sst:?} {got:?}"),
        );
        let (_, st, _) = ioctl(d, sys::SIO_WSK_SET_SENDTO_ADDRESS, None, None, true);
        let (sst, _) = send_to(d, b"nowhere", None);
        check(
            "ioctl: SIO_WSK_SET_SENDTO_ADDRESS cleared -> WskSendTo(NULL) INVALID_PARAMETER",
            st.is_success() && sst == NtStatus::INVALID_PARAMETER,
            format!("{st:?} {sst:?}"),
        );
        // SIO_WSK_SET_REMOTE_ADDRESS: sends go there, and only its datagrams are received.
        let (_, st, _) = ioctl(
            d,
            sys::SIO_WSK_SET_REMOTE_ADDRESS,
            Some(&mut addr[..16]),
            None,
            true,
        );
        let (sst, _) = send_to(d, b"fixed-remote", None);
        let got = peer.recv_from(&mut buf);
        check(
            "ioctl: SIO_WSK_SET_REMOTE_ADDRESS, then WskSendTo(NULL) reaches it",
            st.is_success()
                && sst.is_success()
                && got
                    .as_ref()
                    .is_ok_and(|(n, _)| &buf[..*n] == b"fixed-remote"),
            format!("{st:?} {sst:?} {got:?}"),
        );
        if let Some(me) = me {
            other.send_to(b"from-other", me).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            peer.send_to(b"from-peer", me).unwrap();
        }
        let chain = Chain::new(&[32]);
        let mut wb = chain.wsk_buf(0, 32);
        let mut from = [0u8; 28];
        let (_, rst, n) = Req::new().run(|irp| unsafe {
            (dgram(d).WskReceiveFrom.unwrap())(
                d,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                null_mut(),
                null_mut(),
                null_mut(),
                irp,
            )
        });
        check(
            "ioctl: SIO_WSK_SET_REMOTE_ADDRESS filters received datagrams",
            rst.is_success()
                && chain.bytes().get(..n) == Some(b"from-peer".as_slice())
                && parse(&from) == Some(peer.local_addr().unwrap()),
            format!(
                "{rst:?} {:?}",
                String::from_utf8_lossy(&chain.bytes()[..n.min(32)])
            ),
        );
        let mut b8 = [0u8; 8];
        let (_, st, _) = ioctl(
            d,
            sys::SIO_WSK_QUERY_RECEIVE_BACKLOG,
            None,
            Some(&mut b8),
            true,
        );
        check(
            "ioctl: SIO_WSK_QUERY_RECEIVE_BACKLOG on a datagram socket -> INVALID_DEVICE_REQUEST",
            st == NtStatus::INVALID_DEVICE_REQUEST,
            format!("{st:?}"),
        );
        close(d);
    }

    fn stream(s: *mut sys::WSK_SOCKET) -> &'static sys::WSK_PROVIDER_STREAM_DISPATCH {
        unsafe { &*(*s).Dispatch.cast::<sys::WSK_PROVIDER_STREAM_DISPATCH>() }
    }

    /// WSK_FLAG_STREAM_SOCKET: bind, then WskListen (a listening socket) or WskConnect (a
    /// connection), through WSK_PROVIDER_STREAM_DISPATCH.
    fn stream_sockets(wsk: &Wsk) {
        let (st, l) = wsk.socket(2, 1, 6, sys::WSK_FLAG_STREAM_SOCKET);
        check(
            "stream: WskSocket(WSK_FLAG_STREAM_SOCKET)",
            st.is_success() && !l.is_null(),
            format!("{st:?}"),
        );
        if l.is_null() {
            return;
        }
        let sd = stream(l);
        let (ret, st, _) = Req::new().run(|irp| unsafe { (sd.WskListen.unwrap())(l, irp) });
        check(
            "stream: WskListen before WskBind -> INVALID_DEVICE_STATE",
            ret == st && st == NtStatus::INVALID_DEVICE_STATE,
            format!("{ret:?} {st:?}"),
        );
        let st = bind(l, "127.0.0.1:0".parse().unwrap(), sd.WskBind);
        let me = local_address(l, sd.WskGetLocalAddress);
        let (_, lst, _) = Req::new().run(|irp| unsafe { (sd.WskListen.unwrap())(l, irp) });
        check(
            "stream: WskBind + WskListen",
            st.is_success() && lst.is_success() && me.is_some_and(|a| a.port() != 0),
            format!("{st:?} {lst:?} {me:?}"),
        );
        let Some(me) = me else { return };
        let (_, again, _) = Req::new().run(|irp| unsafe { (sd.WskListen.unwrap())(l, irp) });
        check(
            "stream: a second WskListen -> INVALID_DEVICE_STATE",
            again == NtStatus::INVALID_DEVICE_STATE,
            format!("{again:?}"),
        );
        let (mut la, mut ra) = ([0u8; 28], [0u8; 28]);
        let r = Req::new();
        let ret = NtStatus(unsafe {
            (sd.WskAccept.unwrap())(
                l,
                0,
                null_mut(),
                std::ptr::null(),
                la.as_mut_ptr().cast(),
                ra.as_mut_ptr().cast(),
                r.arm(),
            )
        });
        let mut peer = TcpStream::connect(me).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let res = r.wait(Duration::from_secs(5));
        check(
            "stream: WskAccept on the listening stream socket",
            ret == NtStatus::PENDING
                && res.is_some_and(|(s, i)| s.is_success() && i != 0)
                && parse(&ra) == Some(peer.local_addr().unwrap()),
            format!("{ret:?} {res:?} {:?}", parse(&ra)),
        );
        if let Some((_, h)) = res {
            let a = h as *mut sys::WSK_SOCKET;
            let mut chain = Chain::new(&[6]);
            chain.fill(b"stream");
            let mut wb = chain.wsk_buf(0, 6);
            let (_, st, _) =
                Req::new().run(|irp| unsafe { (conn(a).WskSend.unwrap())(a, &raw mut wb, 0, irp) });
            let mut got = [0u8; 6];
            let read = peer.read_exact(&mut got);
            check(
                "stream: the accepted socket is a connection socket (WskSend)",
                st.is_success() && read.is_ok() && &got == b"stream",
                format!("{st:?} {read:?}"),
            );
            close(a);
        }
        let mut to = sockaddr(me);
        let (ret, st, _) = Req::new()
            .run(|irp| unsafe { (sd.WskConnect.unwrap())(l, to.as_mut_ptr().cast(), 0, irp) });
        check(
            "stream: WskConnect on a listening stream socket is refused",
            ret == st && !st.is_success(),
            format!("{ret:?} {st:?}"),
        );
        close(l);

        // bind + connect + echo.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut c, _) = server.accept().unwrap();
            let mut buf = [0u8; 64];
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let (_, s) = wsk.socket(2, 1, 6, sys::WSK_FLAG_STREAM_SOCKET);
        let sd = stream(s);
        let st = bind(s, "127.0.0.1:0".parse().unwrap(), sd.WskBind);
        let mut to = sockaddr(target);
        let (_, cst, _) = Req::new()
            .run(|irp| unsafe { (sd.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
        check(
            "stream: WskBind + WskConnect",
            st.is_success() && cst.is_success(),
            format!("{st:?} {cst:?}"),
        );
        let (_, lst, _) = Req::new().run(|irp| unsafe { (sd.WskListen.unwrap())(s, irp) });
        check(
            "stream: WskListen after WskConnect -> INVALID_DEVICE_STATE",
            lst == NtStatus::INVALID_DEVICE_STATE,
            format!("{lst:?}"),
        );
        let mut chain = Chain::new(&[11]);
        chain.fill(b"echo-stream");
        let mut wb = chain.wsk_buf(0, 11);
        let (_, sst, _) =
            Req::new().run(|irp| unsafe { (sd.WskSend.unwrap())(s, &raw mut wb, 0, irp) });
        let back = Chain::new(&[11]);
        let mut wb = back.wsk_buf(0, 11);
        let (_, rst, n) = Req::new().run(|irp| unsafe {
            (sd.WskReceive.unwrap())(s, &raw mut wb, sys::WSK_FLAG_WAITALL, irp)
        });
        let mut remote = [0u8; 28];
        let (_, ast, _) = Req::new().run(|irp| unsafe {
            (sd.WskGetRemoteAddress.unwrap())(s, remote.as_mut_ptr().cast(), irp)
        });
        check(
            "stream: WskSend + WskReceive echo, WskGetRemoteAddress",
            sst.is_success()
                && rst.is_success()
                && n == 11
                && back.bytes() == b"echo-stream"
                && ast.is_success()
                && parse(&remote) == Some(target),
            format!("{sst:?} {rst:?} {n} {ast:?}"),
        );
        let (_, dst, _) =
            Req::new().run(|irp| unsafe { (sd.WskDisconnect.unwrap())(s, null_mut(), 0, irp) });
        let eof = Chain::new(&[4]);
        let mut wb = eof.wsk_buf(0, 4);
        let (_, est, en) =
            Req::new().run(|irp| unsafe { (sd.WskReceive.unwrap())(s, &raw mut wb, 0, irp) });
        check(
            "stream: WskDisconnect, then end of stream",
            dst.is_success() && est.is_success() && en == 0,
            format!("{dst:?} {est:?} {en}"),
        );
        close(s);
        let _ = echo.join();
    }

    fn stream_accept(wsk: &Wsk, local: SocketAddr) {
        let v = if local.is_ipv4() { "v4" } else { "v6" };
        let (st, l) = wsk.socket(family(local), 1, 6, sys::WSK_FLAG_LISTEN_SOCKET);
        check(
            &format!("tcp{v}: WskSocket listen"),
            st.is_success(),
            format!("{st:?}"),
        );
        let ld = listen(l);
        let st = bind(l, local, ld.WskBind);
        check(
            &format!("tcp{v}: WskBind listen socket (listens)"),
            st.is_success(),
            format!("{st:?}"),
        );
        let me = local_address(l, ld.WskGetLocalAddress).unwrap_or(local);
        check(
            &format!("tcp{v}: WskGetLocalAddress on listen socket"),
            me.port() != 0,
            me,
        );
        // An emulated TCP option set on the listening socket is inherited by accepted ones.
        let fast_open = (
            get_u32(l, sys::IPPROTO_TCP, sys::TCP_FASTOPEN),
            set_u32(l, sys::IPPROTO_TCP, sys::TCP_FASTOPEN, 1),
        );
        let (mut la, mut ra) = ([0u8; 28], [0u8; 28]);
        let r = Req::new();
        let ret = NtStatus(unsafe {
            (ld.WskAccept.unwrap())(
                l,
                0,
                null_mut(),
                std::ptr::null(),
                la.as_mut_ptr().cast(),
                ra.as_mut_ptr().cast(),
                r.arm(),
            )
        });
        let mut peer = TcpStream::connect(me).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let res = r.wait(Duration::from_secs(5));
        check(
            &format!("tcp{v}: WskAccept"),
            ret == NtStatus::PENDING && res.is_some_and(|(s, i)| s.is_success() && i != 0),
            format!("{ret:?} {res:?}"),
        );
        let Some((_, handle)) = res else { return };
        let a = handle as *mut sys::WSK_SOCKET;
        check(
            &format!("tcp{v}: accept local/remote addresses"),
            parse(&la) == Some(me) && parse(&ra) == Some(peer.local_addr().unwrap()),
            format!("{:?} {:?}", parse(&la), parse(&ra)),
        );
        let c = conn(a);
        let mut out = [0u8; 28];
        let (_, st, _) = Req::new().run(|irp| unsafe {
            (c.WskGetRemoteAddress.unwrap())(a, out.as_mut_ptr().cast(), irp)
        });
        check(
            &format!("tcp{v}: WskGetRemoteAddress"),
            st.is_success() && parse(&out) == Some(peer.local_addr().unwrap()),
            format!("{st:?}"),
        );
        let l2 = local_address(a, c.WskGetLocalAddress);
        check(
            &format!("tcp{v}: WskGetLocalAddress on accepted"),
            l2 == Some(me),
            format!("{l2:?}"),
        );
        // Options.
        let mut ok = true;
        for (level, name, val) in [
            (sys::SOL_SOCKET, sys::SO_KEEPALIVE, 1),
            (sys::IPPROTO_TCP, sys::TCP_NODELAY, 1),
            (sys::SOL_SOCKET, sys::SO_RCVBUF, 32768),
        ] {
            let before = get_u32(a, level, name);
            let st = set_u32(a, level, name, val);
            let after = get_u32(a, level, name);
            if !st.is_success() || after != Some(val) {
                ok = false;
                println!("     option {level:#x}/{name:#x}: {before:?} -> set {st:?} -> {after:?}");
            }
        }
        check(
            &format!("tcp{v}: WskControlSocket set/get SO_KEEPALIVE, TCP_NODELAY, SO_RCVBUF"),
            ok,
            "see above",
        );
        let inherited = get_u32(a, sys::IPPROTO_TCP, sys::TCP_FASTOPEN);
        check(
            &format!("tcp{v}: TCP_FASTOPEN set on the listening socket (0 before) is inherited by the accepted one"),
            fast_open == (Some(0), NtStatus::SUCCESS) && inherited == Some(1),
            format!("{fast_open:?} {inherited:?}"),
        );
        tcp_options(a, v, me, peer.local_addr().unwrap());
        // Send across a chain with an offset.
        let mut chain = Chain::new(&[5, 1, 7]);
        chain.fill(b"XXhello, world");
        let mut wb = chain.wsk_buf(2, 11);
        let (_, st, info) =
            Req::new().run(|irp| unsafe { (c.WskSend.unwrap())(a, &raw mut wb, 0, irp) });
        let mut got = [0u8; 11];
        let read = peer.read_exact(&mut got);
        check(
            &format!("tcp{v}: WskSend MDL chain with offset"),
            st.is_success() && info == 11 && read.is_ok() && &got == b"hello, worl",
            format!("{st:?} {info} {got:?}"),
        );
        // Receive into a chain.
        let r = Req::new();
        let chain2 = Chain::new(&[3, 3, 3]);
        let mut wb = chain2.wsk_buf(1, 8);
        let ret = NtStatus(unsafe {
            (c.WskReceive.unwrap())(a, &raw mut wb, sys::WSK_FLAG_WAITALL, r.arm())
        });
        peer.write_all(b"abcdefgh").unwrap();
        let res = r.wait(Duration::from_secs(5));
        check(
            &format!("tcp{v}: WskReceive (WAITALL) into MDL chain"),
            ret == NtStatus::PENDING
                && res == Some((NtStatus::SUCCESS, 8))
                && &chain2.bytes()[1..] == b"abcdefgh",
            format!("{res:?} {:?}", chain2.bytes()),
        );
        // IoCancelIrp on a pending receive.
        let mut wb = chain2.wsk_buf(0, 9);
        let r = Req::new();
        let _ = unsafe { (c.WskReceive.unwrap())(a, &raw mut wb, 0, r.arm()) };
        std::thread::sleep(Duration::from_millis(50));
        let cancelled = unsafe { sys::IoCancelIrp(r.irp) };
        let res = r.wait(Duration::from_secs(5));
        check(
            &format!("tcp{v}: IoCancelIrp on pending WskReceive"),
            cancelled != 0 && res == Some((NtStatus::CANCELLED, 0)),
            format!("{res:?}"),
        );
        // Graceful disconnect with final data: peer gets data then EOF.
        chain.fill(b"bye!");
        let mut wb = chain.wsk_buf(0, 4);
        let (_, st, _) =
            Req::new().run(|irp| unsafe { (c.WskDisconnect.unwrap())(a, &raw mut wb, 0, irp) });
        let mut rest = Vec::new();
        let read = peer.read_to_end(&mut rest);
        check(
            &format!("tcp{v}: WskDisconnect graceful with data -> data then FIN"),
            st.is_success() && read.is_ok() && rest == b"bye!",
            format!("{st:?} {read:?} {rest:?}"),
        );
        // The peer closes; a receive completes with 0 bytes.
        drop(peer);
        let mut wb = chain2.wsk_buf(0, 9);
        let (_, st, info) =
            Req::new().run(|irp| unsafe { (c.WskReceive.unwrap())(a, &raw mut wb, 0, irp) });
        check(
            &format!("tcp{v}: WskReceive after peer close -> success, 0 bytes"),
            st.is_success() && info == 0,
            format!("{st:?} {info}"),
        );
        let (_, st) = close(a);
        check(
            &format!("tcp{v}: WskCloseSocket accepted"),
            st.is_success(),
            format!("{st:?}"),
        );
        // Close the listener with an accept pending.
        let r = Req::new();
        let _ = unsafe {
            (ld.WskAccept.unwrap())(
                l,
                0,
                null_mut(),
                std::ptr::null(),
                null_mut(),
                null_mut(),
                r.arm(),
            )
        };
        let (ret, st) = close(l);
        let res = r.wait(Duration::ZERO);
        check(
            &format!("tcp{v}: WskCloseSocket listener: pending accept CANCELLED first"),
            ret == NtStatus::PENDING && st.is_success() && res == Some((NtStatus::CANCELLED, 0)),
            format!("{ret:?} {st:?} {res:?}"),
        );
    }

    fn stream_connect(wsk: &Wsk, local: SocketAddr) {
        let v = if local.is_ipv4() { "v4" } else { "v6" };
        let server = TcpListener::bind(SocketAddr::new(local.ip(), 0)).unwrap();
        let target = server.local_addr().unwrap();
        let (st, s) = wsk.socket(family(local), 1, 6, sys::WSK_FLAG_CONNECTION_SOCKET);
        check(
            &format!("tcp{v}: WskSocket connection"),
            st.is_success(),
            format!("{st:?}"),
        );
        let c = conn(s);
        let mut to = sockaddr(target);
        let (ret, st, _) = Req::new()
            .run(|irp| unsafe { (c.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
        check(
            &format!("tcp{v}: WskConnect unbound -> INVALID_DEVICE_STATE (returned and completed)"),
            ret == NtStatus::INVALID_DEVICE_STATE && st == ret,
            format!("{ret:?} {st:?}"),
        );
        let st = bind(s, local, c.WskBind);
        check(
            &format!("tcp{v}: WskBind connection socket"),
            st.is_success(),
            format!("{st:?}"),
        );
        let (ret, st, _) = Req::new()
            .run(|irp| unsafe { (c.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
        check(
            &format!("tcp{v}: WskConnect"),
            ret == NtStatus::PENDING && st.is_success(),
            format!("{ret:?} {st:?}"),
        );
        let (mut peer, from) = server.accept().unwrap();
        let mut out = [0u8; 28];
        let (_, st, _) = Req::new().run(|irp| unsafe {
            (c.WskGetRemoteAddress.unwrap())(s, out.as_mut_ptr().cast(), irp)
        });
        check(
            &format!("tcp{v}: WskGetRemoteAddress (full SOCKADDR_IN6)"),
            st.is_success() && parse(&out) == Some(target),
            format!("{st:?} {:?}", parse(&out)),
        );
        let me = local_address(s, c.WskGetLocalAddress);
        check(
            &format!("tcp{v}: WskGetLocalAddress == peer's view"),
            me == Some(from),
            format!("{me:?} {from:?}"),
        );
        let v6only = get_u32(s, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY);
        check(
            &format!("tcp{v}: get IPV6_V6ONLY (ULONG)"),
            !local.is_ipv6() || v6only.is_some(),
            format!("{v6only:?}"),
        );
        // Abortive disconnect: the peer sees a reset. The peer is a Winsock socket in Wine,
        // whose recv reports a reset that wineserver noticed first as end of stream (see the
        // README), so the reset shows on the peer's next send: it fails at once, where after a
        // FIN alone the first send would still be accepted.
        let (_, st, _) = Req::new().run(|irp| unsafe {
            (c.WskDisconnect.unwrap())(s, null_mut(), sys::WSK_FLAG_ABORTIVE, irp)
        });
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4];
        let read = peer.read(&mut b);
        let write = peer.write(b"y");
        let is_reset = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            )
        };
        let reset = read.as_ref().is_err_and(is_reset)
            || (read.as_ref().is_ok_and(|n| *n == 0) && write.as_ref().is_err_and(is_reset));
        check(
            &format!("tcp{v}: WskDisconnect abortive -> the peer's connection is reset (RST)"),
            st.is_success() && reset,
            format!("{st:?} read {read:?} write {write:?}"),
        );
        let (_, st) = close(s);
        check(
            &format!("tcp{v}: WskCloseSocket after abort"),
            st.is_success(),
            format!("{st:?}"),
        );
    }

    /// `WskConnectEx`: the data of a 2-MDL chain (from an offset) goes out with the connection;
    /// flags other than 0 are refused.
    fn connect_ex(wsk: &Wsk) {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut to = sockaddr(server.local_addr().unwrap());
        let (st, s) = wsk.socket(
            family(server.local_addr().unwrap()),
            1,
            6,
            sys::WSK_FLAG_CONNECTION_SOCKET,
        );
        check(
            "connect-ex: WskSocket connection",
            st.is_success(),
            format!("{st:?}"),
        );
        let c = conn(s);
        let st = bind(s, "127.0.0.1:0".parse().unwrap(), c.WskBind);
        check("connect-ex: WskBind", st.is_success(), format!("{st:?}"));
        let mut chain = Chain::new(&[6, 20]);
        chain.fill(b"xxhello with the connect!");
        let mut wb = chain.wsk_buf(2, 23);
        let (ret, st, _) = Req::new().run(|irp| unsafe {
            (c.WskConnectEx.unwrap())(s, to.as_mut_ptr().cast(), &raw mut wb, 1, irp)
        });
        check(
            "connect-ex: flags != 0 -> INVALID_PARAMETER (returned and completed)",
            ret == NtStatus::INVALID_PARAMETER && st == ret,
            format!("{ret:?} {st:?}"),
        );
        let (ret, st, info) = Req::new().run(|irp| unsafe {
            (c.WskConnectEx.unwrap())(s, to.as_mut_ptr().cast(), &raw mut wb, 0, irp)
        });
        check(
            "connect-ex: WskConnectEx with a 2-MDL chain, Information = bytes sent",
            ret == NtStatus::PENDING && st.is_success() && info == 23,
            format!("{ret:?} {st:?} {info}"),
        );
        let (mut peer, _) = server.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = [0u8; 23];
        let read = peer.read_exact(&mut got);
        check(
            "connect-ex: the peer reads the data sent with the connection",
            read.is_ok() && &got == b"hello with the connect!",
            format!("{read:?} {:?}", String::from_utf8_lossy(&got)),
        );
        let (_, st) = close(s);
        check(
            "connect-ex: WskCloseSocket",
            st.is_success(),
            format!("{st:?}"),
        );
    }

    /// Control information: `IP_PKTINFO` set, `WskReceiveFrom` with a control buffer returns an
    /// `IN_PKTINFO` object (destination 127.0.0.1); `WskSendTo` with an `IN_PKTINFO` source
    /// reaches the peer.
    fn control_info(wsk: &Wsk) {
        let (st, s) = wsk.socket(sys::AF_INET_FAMILY, 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        check(
            "control: WskSocket datagram",
            st.is_success(),
            format!("{st:?}"),
        );
        let d = dgram(s);
        let st = bind(s, "127.0.0.1:0".parse().unwrap(), d.WskBind);
        check("control: WskBind", st.is_success(), format!("{st:?}"));
        let st = set_u32(s, sys::IPPROTO_IP, sys::IP_PKTINFO, 1);
        check(
            "control: set IP_PKTINFO",
            st.is_success(),
            format!("{st:?}"),
        );
        let Some(me) = local_address(s, d.WskGetLocalAddress) else {
            return;
        };
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let chain = Chain::new(&[32]);
        let mut wb = chain.wsk_buf(0, 32);
        let mut from = [0u8; 28];
        // 8-aligned, as WSACMSGHDR needs.
        let mut control = [0u64; 16];
        let mut ctl_len = 128u32;
        let mut ctl_flags = 77u32;
        let r = Req::new();
        let ret = NtStatus(unsafe {
            (d.WskReceiveFrom.unwrap())(
                s,
                &raw mut wb,
                0,
                from.as_mut_ptr().cast(),
                &raw mut ctl_len,
                control.as_mut_ptr().cast(),
                &raw mut ctl_flags,
                r.arm(),
            )
        });
        peer.send_to(b"with pktinfo", me).unwrap();
        let done = r.wait(Duration::from_secs(5));
        let bytes: Vec<u8> = control.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let (cmsg_len, level, kind) = (
            u64::from_ne_bytes(bytes[0..8].try_into().unwrap()),
            i32::from_ne_bytes(bytes[8..12].try_into().unwrap()),
            i32::from_ne_bytes(bytes[12..16].try_into().unwrap()),
        );
        let dst = &bytes[16..20];
        check(
            "control: WskReceiveFrom returns IN_PKTINFO (to 127.0.0.1), ControlLength and flags set",
            ret == NtStatus::PENDING
                && done.is_some_and(|(st, n)| st.is_success() && n == 12)
                && ctl_len >= 24
                && cmsg_len == 24
                && (level, kind) == (0, 19)
                && dst == [127, 0, 0, 1]
                && ctl_flags == 0,
            format!("{ret:?} {done:?} len {ctl_len} cmsg {cmsg_len} {level}/{kind} {dst:?} flags {ctl_flags}"),
        );
        // Send with IN_PKTINFO naming the source.
        let mut out = [0u64; 3];
        let mut header = Vec::new();
        header.extend_from_slice(&24u64.to_ne_bytes());
        header.extend_from_slice(&0i32.to_ne_bytes());
        header.extend_from_slice(&19i32.to_ne_bytes());
        header.extend_from_slice(&[127, 0, 0, 1]);
        header.extend_from_slice(&0u32.to_ne_bytes());
        for (w, b) in out.iter_mut().zip(header.chunks(8)) {
            *w = u64::from_ne_bytes(b.try_into().unwrap());
        }
        let mut chain = Chain::new(&[5]);
        chain.fill(b"reply");
        let mut wb = chain.wsk_buf(0, 5);
        let mut to = sockaddr(peer.local_addr().unwrap());
        let (ret, st, info) = Req::new().run(|irp| unsafe {
            (d.WskSendTo.unwrap())(
                s,
                &raw mut wb,
                0,
                to.as_mut_ptr().cast(),
                24,
                out.as_mut_ptr().cast(),
                irp,
            )
        });
        let mut got = [0u8; 16];
        let recv = peer.recv_from(&mut got);
        check(
            "control: WskSendTo with IN_PKTINFO reaches the peer from the socket's address",
            ret == NtStatus::PENDING
                && st.is_success()
                && info == 5
                && recv
                    .as_ref()
                    .is_ok_and(|(n, a)| &got[..*n] == b"reply" && *a == me),
            format!("{ret:?} {st:?} {info} {recv:?}"),
        );
        let (_, st) = close(s);
        check(
            "control: WskCloseSocket",
            st.is_success(),
            format!("{st:?}"),
        );
    }

    fn socket_connect(wsk: &Wsk) {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut local = sockaddr("127.0.0.1:0".parse().unwrap());
        let mut remote = sockaddr(server.local_addr().unwrap());
        let (ret, st, info) = Req::new().run(|irp| unsafe {
            (wsk.dispatch().WskSocketConnect.unwrap())(
                wsk.npi.Client,
                1,
                6,
                local.as_mut_ptr().cast(),
                remote.as_mut_ptr().cast(),
                0,
                null_mut(),
                std::ptr::null(),
                null_mut(),
                null_mut(),
                null_mut(),
                irp,
            )
        });
        check(
            "tcp: WskSocketConnect",
            ret == NtStatus::PENDING && st.is_success() && info != 0,
            format!("{ret:?} {st:?}"),
        );
        if info != 0 {
            let s = info as *mut sys::WSK_SOCKET;
            let (mut peer, _) = server.accept().unwrap();
            let mut chain = Chain::new(&[2]);
            chain.fill(b"ok");
            let mut wb = chain.wsk_buf(0, 2);
            let (_, st, _) =
                Req::new().run(|irp| unsafe { (conn(s).WskSend.unwrap())(s, &raw mut wb, 0, irp) });
            let mut b = [0u8; 2];
            let read = peer.read_exact(&mut b);
            check(
                "tcp: send on a WskSocketConnect socket",
                st.is_success() && read.is_ok() && &b == b"ok",
                format!("{st:?}"),
            );
            close(s);
        }
        // Refused: the IRP fails with CONNECTION_REFUSED and no socket is returned.
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut remote = sockaddr(refused);
        let (_, st, info) = Req::new().run(|irp| unsafe {
            (wsk.dispatch().WskSocketConnect.unwrap())(
                wsk.npi.Client,
                1,
                6,
                local.as_mut_ptr().cast(),
                remote.as_mut_ptr().cast(),
                0,
                null_mut(),
                std::ptr::null(),
                null_mut(),
                null_mut(),
                null_mut(),
                irp,
            )
        });
        check(
            "tcp: WskSocketConnect refused",
            st == NtStatus::CONNECTION_REFUSED && info == 0,
            format!("{st:?} {info}"),
        );
    }

    fn security(wsk: &Wsk) {
        use windows_sys::Win32::Security::{InitializeSecurityDescriptor, SECURITY_DESCRIPTOR};
        let mut sd: SECURITY_DESCRIPTOR = unsafe { std::mem::zeroed() };
        unsafe { InitializeSecurityDescriptor((&raw mut sd).cast(), 1) };
        let mut input: *mut c_void = (&raw mut sd).cast();
        let mut cached: *mut c_void = null_mut();
        let cc = wsk.dispatch().WskControlClient.unwrap();
        let st = NtStatus(unsafe {
            cc(
                wsk.npi.Client,
                sys::WSK_CACHE_SD,
                8,
                (&raw mut input).cast(),
                8,
                (&raw mut cached).cast(),
                null_mut(),
                null_mut(),
            )
        });
        check(
            "WskControlClient WSK_CACHE_SD",
            st.is_success() && !cached.is_null() && cached != input,
            format!("{st:?}"),
        );
        let (_, s) = wsk.socket(2, 1, 6, sys::WSK_FLAG_LISTEN_SOCKET);
        let ctl = basic(s).WskControlSocket.unwrap();
        let mut value = cached;
        let (_, st, _) = Req::new().run(|irp| unsafe {
            ctl(
                s,
                sys::WskSetOption,
                sys::SO_WSK_SECURITY,
                sys::SOL_SOCKET,
                8,
                (&raw mut value).cast(),
                0,
                null_mut(),
                null_mut(),
                irp,
            )
        });
        check(
            "WskControlSocket set SO_WSK_SECURITY",
            st.is_success(),
            format!("{st:?}"),
        );
        let mut got: *mut c_void = null_mut();
        let (_, st, info) = Req::new().run(|irp| unsafe {
            ctl(
                s,
                sys::WskGetOption,
                sys::SO_WSK_SECURITY,
                sys::SOL_SOCKET,
                0,
                null_mut(),
                8,
                (&raw mut got).cast(),
                null_mut(),
                irp,
            )
        });
        check(
            "WskControlSocket get SO_WSK_SECURITY returns the cached copy",
            st.is_success() && info == 8 && got == cached,
            format!("{st:?} {got:?} {cached:?}"),
        );
        let mut ok = true;
        for p in [got, cached] {
            let mut p = p;
            let st = NtStatus(unsafe {
                cc(
                    wsk.npi.Client,
                    sys::WSK_RELEASE_SD,
                    8,
                    (&raw mut p).cast(),
                    0,
                    null_mut(),
                    null_mut(),
                    null_mut(),
                )
            });
            ok &= st.is_success();
        }
        close(s);
        let mut p = cached;
        let st = NtStatus(unsafe {
            cc(
                wsk.npi.Client,
                sys::WSK_RELEASE_SD,
                8,
                (&raw mut p).cast(),
                0,
                null_mut(),
                null_mut(),
                null_mut(),
            )
        });
        check(
            "WSK_RELEASE_SD x2, then the copy is gone",
            ok && st == NtStatus::INVALID_PARAMETER,
            format!("{st:?}"),
        );
        // Reuse options on a fresh socket.
        let (_, s) = wsk.socket(2, 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        let st1 = set_u32(s, sys::SOL_SOCKET, sys::SO_REUSEADDR, 1);
        let v1 = get_u32(s, sys::SOL_SOCKET, sys::SO_REUSEADDR);
        let (_, s2) = wsk.socket(2, 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        let st2 = set_u32(s2, sys::SOL_SOCKET, sys::SO_EXCLUSIVEADDRUSE, 1);
        let v2 = get_u32(s2, sys::SOL_SOCKET, sys::SO_EXCLUSIVEADDRUSE);
        check(
            "SO_REUSEADDR / SO_EXCLUSIVEADDRUSE set+get",
            st1.is_success() && v1 == Some(1) && st2.is_success() && v2 == Some(1),
            format!("{st1:?} {v1:?} {st2:?} {v2:?}"),
        );
        close(s);
        close(s2);
        let (_, s6) = wsk.socket(23, 2, 17, sys::WSK_FLAG_DATAGRAM_SOCKET);
        let before = get_u32(s6, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY);
        let want = u32::from(before != Some(1));
        let st = set_u32(s6, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY, want);
        let after = get_u32(s6, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY);
        check(
            "IPV6_V6ONLY round trip (initial value differs)",
            st.is_success() && before.is_some() && after == Some(want),
            format!("{before:?} -> {st:?} -> {after:?}"),
        );
        close(s6);
    }

    fn names(wsk: &Wsk) {
        let node: Vec<u16> = "127.0.0.1".encode_utf16().collect();
        let serv: Vec<u16> = "8080".encode_utf16().collect();
        let mut node_s = sys::UNICODE_STRING {
            Length: (node.len() * 2) as u16,
            MaximumLength: (node.len() * 2) as u16,
            Buffer: node.as_ptr().cast_mut(),
        };
        let mut serv_s = sys::UNICODE_STRING {
            Length: (serv.len() * 2) as u16,
            MaximumLength: (serv.len() * 2) as u16,
            Buffer: serv.as_ptr().cast_mut(),
        };
        let mut result: *mut sys::ADDRINFOEXW = null_mut();
        let (ret, st, _) = Req::new().run(|irp| unsafe {
            (wsk.dispatch().WskGetAddressInfo.unwrap())(
                wsk.npi.Client,
                &raw mut node_s,
                &raw mut serv_s,
                0,
                null_mut(),
                null_mut(),
                &raw mut result,
                null_mut(),
                null_mut(),
                irp,
            )
        });
        let first = if result.is_null() {
            None
        } else {
            let ai =
                unsafe { &*result.cast::<windows_sys::Win32::Networking::WinSock::ADDRINFOEXW>() };
            let mut a = [0u8; 28];
            unsafe {
                std::ptr::copy_nonoverlapping(
                    ai.ai_addr.cast::<u8>(),
                    a.as_mut_ptr(),
                    ai.ai_addrlen.min(28),
                );
            };
            parse(&a)
        };
        check(
            "WskGetAddressInfo 127.0.0.1:8080 (counted strings)",
            ret == NtStatus::PENDING
                && st.is_success()
                && first == Some("127.0.0.1:8080".parse().unwrap()),
            format!("{ret:?} {st:?} {first:?}"),
        );
        unsafe { (wsk.dispatch().WskFreeAddressInfo.unwrap())(wsk.npi.Client, result) };
        let mut addr = sockaddr("127.0.0.1:80".parse().unwrap());
        let mut host = [0u16; 64];
        let mut service = [0u16; 16];
        let mut host_s = sys::UNICODE_STRING {
            Length: 0,
            MaximumLength: 128,
            Buffer: host.as_mut_ptr(),
        };
        let mut service_s = sys::UNICODE_STRING {
            Length: 0,
            MaximumLength: 32,
            Buffer: service.as_mut_ptr(),
        };
        // NI_NUMERICHOST | NI_NUMERICSERV
        let (_, st, _) = Req::new().run(|irp| unsafe {
            (wsk.dispatch().WskGetNameInfo.unwrap())(
                wsk.npi.Client,
                addr.as_mut_ptr().cast(),
                16,
                &raw mut host_s,
                &raw mut service_s,
                0x2 | 0x8,
                null_mut(),
                null_mut(),
                irp,
            )
        });
        let h = String::from_utf16_lossy(&host[..usize::from(host_s.Length) / 2]);
        let sv = String::from_utf16_lossy(&service[..usize::from(service_s.Length) / 2]);
        check(
            "WskGetNameInfo numeric",
            st.is_success() && h == "127.0.0.1" && sv == "80",
            format!("{st:?} {h:?} {sv:?}"),
        );
    }

    /// Event callbacks: a recording client (context + dispatch tables) and one check per rule.
    mod events {
        use std::collections::VecDeque;
        use std::ffi::c_void;
        use std::io::{Read, Write};
        use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
        use std::ptr::null_mut;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Condvar, Mutex};
        use std::time::{Duration, Instant};

        use wsk_bindings::{self as sys, NtStatus};

        use super::{
            bind, check, close, conn, dgram, listen, parse, sockaddr, Chain, Req, Wsk,
            CLIENT_DISPATCH,
        };

        /// `STATUS_EVENT_PENDING`.
        const EVENT_PENDING: NtStatus = NtStatus::from_u32(0x4000_0013);
        /// `STATUS_REQUEST_NOT_ACCEPTED`.
        const REQUEST_NOT_ACCEPTED: NtStatus = NtStatus::from_u32(0xC000_00D0);

        /// What a callback saw.
        #[derive(Debug, Clone, PartialEq)]
        enum Seen {
            Receive(Vec<u8>),
            ReceiveNull,
            Disconnect(u32),
            Backlog(usize),
            Accept(Option<SocketAddr>, Option<SocketAddr>, bool),
            ReceiveFrom(Vec<u8>, Option<SocketAddr>),
        }

        /// How the next receive(-from) callback answers.
        #[derive(Debug, Clone, Copy)]
        enum Answer {
            Consume,
            NotAccepted,
            Retain,
            Partial(usize),
            /// Sleep this long inside the callback, then consume.
            Slow(u64),
        }

        /// The socket context every callback gets: records what it sees.
        struct Recorder {
            seen: Mutex<Vec<Seen>>,
            cv: Condvar,
            answers: Mutex<VecDeque<Answer>>,
            retained: Mutex<Vec<usize>>,
            in_callback: AtomicBool,
            /// Set once the socket's close completed: any callback after it is a failure.
            closed: AtomicBool,
            late: AtomicBool,
            /// For accept events: the context/dispatch handed out and whether to accept.
            accept_child: Mutex<Option<(*mut c_void, bool)>>,
        }

        // SAFETY-free test code: the raw child context is only passed back to the provider.
        unsafe impl Send for Recorder {}
        unsafe impl Sync for Recorder {}

        impl Recorder {
            fn new() -> Box<Self> {
                Box::new(Self {
                    seen: Mutex::new(Vec::new()),
                    cv: Condvar::new(),
                    answers: Mutex::new(VecDeque::new()),
                    retained: Mutex::new(Vec::new()),
                    in_callback: AtomicBool::new(false),
                    closed: AtomicBool::new(false),
                    late: AtomicBool::new(false),
                    accept_child: Mutex::new(None),
                })
            }
            fn ctx(&self) -> *mut c_void {
                std::ptr::from_ref::<Self>(self).cast_mut().cast()
            }
            fn push(&self, s: Seen) {
                if self.closed.load(Ordering::SeqCst) {
                    self.late.store(true, Ordering::SeqCst);
                }
                self.seen.lock().unwrap().push(s);
                self.cv.notify_all();
            }
            fn answer(&self) -> Answer {
                self.answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Answer::Consume)
            }
            /// Waits until `pred` holds for what was seen.
            fn wait(&self, pred: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
                let g = self.seen.lock().unwrap();
                let (g, _) = self
                    .cv
                    .wait_timeout_while(g, Duration::from_secs(5), |v| !pred(v))
                    .unwrap();
                g.clone()
            }
            fn take(&self) -> Vec<Seen> {
                std::mem::take(&mut *self.seen.lock().unwrap())
            }
        }

        fn recorder<'a>(ctx: *mut c_void) -> &'a Recorder {
            unsafe { &*ctx.cast::<Recorder>() }
        }

        /// The bytes of a data indication chain (through the MDLs' system addresses).
        fn chain_bytes(mut ind: *const sys::WSK_DATA_INDICATION) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(i) = unsafe { ind.as_ref() } {
                out.extend(buf_bytes(&i.Buffer));
                ind = i.Next;
            }
            out
        }

        fn buf_bytes(b: &sys::WSK_BUF) -> Vec<u8> {
            let mdl = unsafe { &*b.Mdl };
            let base = mdl.MappedSystemVa.cast::<u8>();
            unsafe { std::slice::from_raw_parts(base.add(b.Offset as usize), b.Length as usize) }
                .to_vec()
        }

        unsafe extern "C" fn on_receive(
            ctx: *mut c_void,
            _flags: u32,
            ind: *mut sys::WSK_DATA_INDICATION,
            bytes: u64,
            accepted: *mut u64,
        ) -> i32 {
            let r = recorder(ctx);
            if ind.is_null() {
                r.push(Seen::ReceiveNull);
                return NtStatus::SUCCESS.0;
            }
            let data = chain_bytes(ind);
            assert_eq!(data.len() as u64, bytes);
            let answer = r.answer();
            if let Answer::Slow(ms) = answer {
                r.in_callback.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(ms));
                r.in_callback.store(false, Ordering::SeqCst);
            }
            // Record last: the test reads `retained` once it sees the event.
            let status = match answer {
                Answer::Consume | Answer::Slow(_) => NtStatus::SUCCESS.0,
                Answer::NotAccepted => NtStatus::DATA_NOT_ACCEPTED.0,
                Answer::Retain => {
                    r.retained.lock().unwrap().push(ind as usize);
                    NtStatus::PENDING.0
                }
                Answer::Partial(n) => {
                    unsafe { *accepted = n as u64 };
                    NtStatus::SUCCESS.0
                }
            };
            r.push(Seen::Receive(data));
            status
        }

        unsafe extern "C" fn on_disconnect(ctx: *mut c_void, flags: u32) -> i32 {
            recorder(ctx).push(Seen::Disconnect(flags));
            NtStatus::SUCCESS.0
        }

        unsafe extern "C" fn on_backlog(ctx: *mut c_void, ideal: u64) -> i32 {
            recorder(ctx).push(Seen::Backlog(ideal as usize));
            NtStatus::SUCCESS.0
        }

        static CONN_EVENTS: sys::WSK_CLIENT_CONNECTION_DISPATCH =
            sys::WSK_CLIENT_CONNECTION_DISPATCH {
                WskReceiveEvent: Some(on_receive),
                WskDisconnectEvent: Some(on_disconnect),
                WskSendBacklogEvent: Some(on_backlog),
            };

        unsafe extern "C" fn on_accept(
            ctx: *mut c_void,
            _flags: u32,
            local: *mut sys::SOCKADDR,
            remote: *mut sys::SOCKADDR,
            socket: *mut sys::WSK_SOCKET,
            child_ctx: *mut c_void,
            child_dispatch: *mut *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
        ) -> i32 {
            let r = recorder(ctx);
            let read = |p: *mut sys::SOCKADDR| {
                let mut a = [0u8; 28];
                if !p.is_null() {
                    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), a.as_mut_ptr(), 28) };
                }
                parse(&a)
            };
            let (l, rm) = (read(local), read(remote));
            r.push(Seen::Accept(l, rm, !socket.is_null()));
            let Some((child, accept)) = *r.accept_child.lock().unwrap() else {
                return REQUEST_NOT_ACCEPTED.0;
            };
            if !accept || socket.is_null() {
                return REQUEST_NOT_ACCEPTED.0;
            }
            unsafe {
                *child_ctx.cast::<*mut c_void>() = child;
                *child_dispatch = &raw const CONN_EVENTS;
            }
            ACCEPTED.lock().unwrap().push(socket as usize);
            NtStatus::SUCCESS.0
        }

        /// Sockets accepted through `on_accept` (closed by the test).
        static ACCEPTED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

        static LISTEN_EVENTS: sys::WSK_CLIENT_LISTEN_DISPATCH = sys::WSK_CLIENT_LISTEN_DISPATCH {
            WskAcceptEvent: Some(on_accept),
            WskInspectEvent: None,
            WskAbortEvent: None,
        };

        unsafe extern "C" fn on_receive_from(
            ctx: *mut c_void,
            _flags: u32,
            ind: *mut sys::WSK_DATAGRAM_INDICATION,
        ) -> i32 {
            let r = recorder(ctx);
            let Some(i) = (unsafe { ind.as_ref() }) else {
                return NtStatus::SUCCESS.0;
            };
            let mut a = [0u8; 28];
            let len = if unsafe { *i.RemoteAddress.cast::<u16>() } == 23 {
                28
            } else {
                16
            };
            unsafe {
                std::ptr::copy_nonoverlapping(i.RemoteAddress.cast::<u8>(), a.as_mut_ptr(), len);
            };
            let status = match r.answer() {
                Answer::NotAccepted => NtStatus::DATA_NOT_ACCEPTED.0,
                Answer::Retain => {
                    r.retained.lock().unwrap().push(ind as usize);
                    NtStatus::PENDING.0
                }
                _ => NtStatus::SUCCESS.0,
            };
            r.push(Seen::ReceiveFrom(buf_bytes(&i.Buffer), parse(&a)));
            status
        }

        static DATAGRAM_EVENTS: sys::WSK_CLIENT_DATAGRAM_DISPATCH =
            sys::WSK_CLIENT_DATAGRAM_DISPATCH {
                WskReceiveFromEvent: Some(on_receive_from),
            };

        /// `WskSocket` with a context and a client dispatch.
        fn socket_with(
            wsk: &Wsk,
            family: u16,
            ty: u16,
            proto: u32,
            flags: u32,
            ctx: *mut c_void,
            dispatch: *const c_void,
        ) -> *mut sys::WSK_SOCKET {
            let (_, st, info) = Req::new().run(|irp| unsafe {
                (wsk.dispatch().WskSocket.unwrap())(
                    wsk.npi.Client,
                    family,
                    ty,
                    proto,
                    flags,
                    ctx,
                    dispatch,
                    null_mut(),
                    null_mut(),
                    null_mut(),
                    irp,
                )
            });
            assert!(st.is_success(), "WskSocket: {st:?}");
            info as *mut sys::WSK_SOCKET
        }

        /// `SO_WSK_EVENT_CALLBACK` with `mask`; with `irp`, returns (returned, completion).
        fn event_control_irp(s: *mut sys::WSK_SOCKET, mask: u32, irp: *mut sys::IRP) -> i32 {
            let mut control = sys::WSK_EVENT_CALLBACK_CONTROL {
                NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
                EventMask: mask,
            };
            unsafe {
                (super::basic(s).WskControlSocket.unwrap())(
                    s,
                    sys::WskSetOption,
                    sys::SO_WSK_EVENT_CALLBACK,
                    sys::SOL_SOCKET,
                    size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64,
                    (&raw mut control).cast(),
                    0,
                    null_mut(),
                    null_mut(),
                    irp,
                )
            }
        }

        fn event_control(s: *mut sys::WSK_SOCKET, mask: u32, irp: Option<&Req>) -> NtStatus {
            let mut control = sys::WSK_EVENT_CALLBACK_CONTROL {
                NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
                EventMask: mask,
            };
            NtStatus(unsafe {
                (super::basic(s).WskControlSocket.unwrap())(
                    s,
                    sys::WskSetOption,
                    sys::SO_WSK_EVENT_CALLBACK,
                    sys::SOL_SOCKET,
                    size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64,
                    (&raw mut control).cast(),
                    0,
                    null_mut(),
                    null_mut(),
                    irp.map_or(null_mut(), Req::arm),
                )
            })
        }

        /// A connected WSK connection socket (context `rec`) and its peer.
        fn connected_pair(wsk: &Wsk, rec: &Recorder) -> (*mut sys::WSK_SOCKET, TcpStream) {
            let server = TcpListener::bind("127.0.0.1:0").unwrap();
            let s = socket_with(
                wsk,
                2,
                1,
                6,
                sys::WSK_FLAG_CONNECTION_SOCKET,
                rec.ctx(),
                (&raw const CONN_EVENTS).cast(),
            );
            let c = conn(s);
            assert!(bind(s, "127.0.0.1:0".parse().unwrap(), c.WskBind).is_success());
            let mut to = sockaddr(server.local_addr().unwrap());
            let (_, st, _) = Req::new()
                .run(|irp| unsafe { (c.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
            assert!(st.is_success(), "WskConnect: {st:?}");
            let (peer, _) = server.accept().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            (s, peer)
        }

        /// `WskReceive` of up to `n` bytes (flags 0): (status, bytes).
        fn receive(s: *mut sys::WSK_SOCKET, n: usize) -> (NtStatus, Vec<u8>) {
            let chain = Chain::new(&[n.max(1)]);
            let mut wb = chain.wsk_buf(0, n);
            let (_, st, info) = Req::new()
                .run(|irp| unsafe { (conn(s).WskReceive.unwrap())(s, &raw mut wb, 0, irp) });
            (st, chain.bytes()[..info.min(n)].to_vec())
        }

        fn receives(seen: &[Seen]) -> Vec<Vec<u8>> {
            seen.iter()
                .filter_map(|e| match e {
                    Seen::Receive(d) => Some(d.clone()),
                    _ => None,
                })
                .collect()
        }

        /// Connection socket: enable rules, receive answers, WskRelease, disable, disconnect,
        /// no callback after close. Follows the call sequence of the wsk crate's
        /// `EventConnection` (WskSocket with context and dispatch, bind, connect, then
        /// SO_WSK_EVENT_CALLBACK without IRP for receive | disconnect | send backlog).
        pub(super) fn connection(wsk: &Wsk) {
            let rec = Recorder::new();
            // Before connect: the documentation requires a connected socket.
            let early = socket_with(
                wsk,
                2,
                1,
                6,
                sys::WSK_FLAG_CONNECTION_SOCKET,
                rec.ctx(),
                (&raw const CONN_EVENTS).cast(),
            );
            let st = event_control(early, sys::WSK_EVENT_RECEIVE, None);
            check(
                "events: enable on an unconnected socket -> INVALID_DEVICE_STATE",
                st == NtStatus::INVALID_DEVICE_STATE,
                format!("{st:?}"),
            );
            close(early);

            let (s, mut peer) = connected_pair(wsk, &rec);
            let r = Req::new();
            let (st, done, _) = r.run(|irp| event_control_irp(s, sys::WSK_EVENT_RECEIVE, irp));
            check(
                "events: enable with an IRP -> SUCCESS returned, IRP completed inline with SUCCESS",
                st == NtStatus::SUCCESS && done == NtStatus::SUCCESS,
                format!("{st:?} {done:?}"),
            );
            let (st, done, _) = r.run(|irp| {
                event_control_irp(s, sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISABLE, irp)
            });
            check(
                "events: disable (idle) with an IRP -> SUCCESS, IRP completed",
                st == NtStatus::SUCCESS && done == NtStatus::SUCCESS,
                format!("{st:?} {done:?}"),
            );
            let st = event_control(s, sys::WSK_EVENT_ACCEPT, None);
            check(
                "events: WSK_EVENT_ACCEPT on a connection socket -> INVALID_PARAMETER",
                st == NtStatus::INVALID_PARAMETER,
                format!("{st:?}"),
            );
            let st = event_control(
                s,
                sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT | sys::WSK_EVENT_SEND_BACKLOG,
                None,
            );
            check(
                "events: enable receive | disconnect | send backlog (no IRP)",
                st.is_success(),
                format!("{st:?}"),
            );
            let seen = rec.wait(|v| v.iter().any(|e| matches!(e, Seen::Backlog(_))));
            check(
                "events: WskSendBacklogEvent with the ideal backlog",
                seen.iter().any(|e| matches!(e, Seen::Backlog(n) if *n > 0)),
                format!("{seen:?}"),
            );
            rec.take();

            // Consumed.
            peer.write_all(b"hello").unwrap();
            let seen = rec.wait(|v| receives(v).concat().len() >= 5);
            check(
                "events: WskReceiveEvent indicates the data (MDL chain) -> SUCCESS",
                receives(&seen).concat() == b"hello",
                format!("{seen:?}"),
            );
            rec.take();

            // Not accepted: the data stays for WskReceive; events resume after it.
            rec.answers.lock().unwrap().push_back(Answer::NotAccepted);
            peer.write_all(b"keep").unwrap();
            let seen = rec.wait(|v| !receives(v).is_empty());
            std::thread::sleep(Duration::from_millis(200));
            peer.write_all(b"+more").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let quiet = rec.take();
            let (st, got) = receive(s, 64);
            check(
                "events: STATUS_DATA_NOT_ACCEPTED keeps the data for WskReceive; no indication until then",
                receives(&seen).concat() == b"keep"
                    && quiet.len() == 1
                    && st.is_success()
                    && got == b"keep+more",
                format!("{seen:?} {quiet:?} {st:?} {:?}", String::from_utf8_lossy(&got)),
            );
            peer.write_all(b"after").unwrap();
            let seen = rec.wait(|v| !receives(v).is_empty());
            check(
                "events: indications resume after WskReceive",
                receives(&seen).concat() == b"after",
                format!("{seen:?}"),
            );
            rec.take();

            // Partial accept: the rest stays for WskReceive.
            rec.answers.lock().unwrap().push_back(Answer::Partial(3));
            peer.write_all(b"partial!").unwrap();
            let seen = rec.wait(|v| !receives(v).is_empty());
            let (st, got) = receive(s, 64);
            check(
                "events: *BytesAccepted = 3 of 8 -> the other 5 bytes go to WskReceive",
                receives(&seen).concat() == b"partial!" && st.is_success() && got == b"tial!",
                format!("{seen:?} {st:?} {got:?}"),
            );
            rec.take();

            // A zero-length WskReceive resumes the event without taking data.
            rec.answers.lock().unwrap().push_back(Answer::NotAccepted);
            peer.write_all(b"zero").unwrap();
            rec.wait(|v| !receives(v).is_empty());
            rec.take();
            let (st, got) = receive(s, 0);
            let seen = rec.wait(|v| !receives(v).is_empty());
            check(
                "events: zero-length WskReceive completes at once and resumes the event",
                st.is_success() && got.is_empty() && receives(&seen).concat() == b"zero",
                format!("{st:?} {seen:?}"),
            );
            rec.take();

            // Retained: WskRelease gives the chain back (once).
            rec.answers.lock().unwrap().push_back(Answer::Retain);
            peer.write_all(b"retained").unwrap();
            let seen = rec.wait(|v| !receives(v).is_empty());
            let ind = rec.retained.lock().unwrap().pop();
            let release = |p: usize| {
                NtStatus(unsafe {
                    (conn(s).WskRelease.unwrap())(s, p as *mut sys::WSK_DATA_INDICATION)
                })
            };
            let first = ind.map(release);
            let second = ind.map(release);
            check(
                "events: STATUS_PENDING retains the chain; WskRelease -> SUCCESS, again -> INVALID_PARAMETER",
                receives(&seen).concat() == b"retained"
                    && first == Some(NtStatus::SUCCESS)
                    && second == Some(NtStatus::INVALID_PARAMETER),
                format!("{seen:?} {first:?} {second:?}"),
            );
            rec.take();

            // Disabling: one event at a time.
            let st = event_control(
                s,
                sys::WSK_EVENT_DISABLE | sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT,
                None,
            );
            check(
                "events: disabling two events at once -> INVALID_PARAMETER",
                st == NtStatus::INVALID_PARAMETER,
                format!("{st:?}"),
            );
            let r = Req::new();
            let st = event_control(s, sys::WSK_EVENT_DISABLE | sys::WSK_EVENT_RECEIVE, Some(&r));
            let done = r.wait(Duration::from_secs(1));
            check(
                "events: disable receive (with IRP, idle) -> SUCCESS",
                st.is_success() && done.is_some_and(|(c, _)| c.is_success()),
                format!("{st:?} {done:?}"),
            );
            peer.write_all(b"plain").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let quiet = rec.take();
            let (st, got) = receive(s, 64);
            check(
                "events: after disabling, data goes to WskReceive only",
                quiet.is_empty() && st.is_success() && got == b"plain",
                format!("{quiet:?} {st:?} {got:?}"),
            );

            // The peer's FIN: WskDisconnectEvent without WSK_FLAG_ABORTIVE.
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            let seen = rec.wait(|v| v.iter().any(|e| matches!(e, Seen::Disconnect(_))));
            check(
                "events: graceful disconnect by the peer -> WskDisconnectEvent(0)",
                seen.contains(&Seen::Disconnect(0)),
                format!("{seen:?}"),
            );
            let (st, got) = receive(s, 16);
            check(
                "events: WskReceive after the peer's FIN -> 0 bytes",
                st.is_success() && got.is_empty(),
                format!("{st:?} {got:?}"),
            );
            let (_, st) = close(s);
            rec.closed.store(true, Ordering::SeqCst);
            drop(peer);
            std::thread::sleep(Duration::from_millis(300));
            check(
                "events: WskCloseSocket completes; no callback after it",
                st.is_success() && !rec.late.load(Ordering::SeqCst),
                format!("{st:?}"),
            );
        }

        /// A reset from the peer: WskDisconnectEvent with WSK_FLAG_ABORTIVE. Wine cannot send
        /// an RST with SO_LINGER(1, 0) (see the README), but Linux resets a connection closed
        /// with unread data in its receive queue.
        pub(super) fn abortive(wsk: &Wsk) {
            let rec = Recorder::new();
            let (s, peer) = connected_pair(wsk, &rec);
            let st = event_control(s, sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT, None);
            let chain = Chain::new(&[4]);
            let mut wb = chain.wsk_buf(0, 4);
            let (_, sent, _) =
                Req::new().run(|irp| unsafe { (conn(s).WskSend.unwrap())(s, &raw mut wb, 0, irp) });
            std::thread::sleep(Duration::from_millis(200));
            drop(peer);
            let seen = rec.wait(|v| v.iter().any(|e| matches!(e, Seen::Disconnect(_))));
            check(
                "events: peer reset -> WskDisconnectEvent(WSK_FLAG_ABORTIVE)",
                st.is_success()
                    && sent.is_success()
                    && seen.contains(&Seen::Disconnect(sys::WSK_FLAG_ABORTIVE)),
                format!("{st:?} {sent:?} {seen:?}"),
            );
            close(s);
        }

        /// Disabling an event whose callback is running: STATUS_PENDING with an IRP (completed
        /// once the callback returned), STATUS_EVENT_PENDING without.
        pub(super) fn disable_while_running(wsk: &Wsk) {
            let rec = Recorder::new();
            let (s, mut peer) = connected_pair(wsk, &rec);
            event_control(s, sys::WSK_EVENT_RECEIVE, None);
            rec.answers.lock().unwrap().push_back(Answer::Slow(600));
            peer.write_all(b"slow").unwrap();
            let start = Instant::now();
            while !rec.in_callback.load(Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let r = Req::new();
            let st = event_control(s, sys::WSK_EVENT_DISABLE | sys::WSK_EVENT_RECEIVE, Some(&r));
            let early = r.completed();
            let done = r.wait(Duration::from_secs(5));
            let callback_done = !rec.in_callback.load(Ordering::SeqCst);
            check(
                "events: disable (IRP) while the callback runs -> PENDING, completed after it returned",
                st == NtStatus::PENDING && !early && done.is_some_and(|(c, _)| c.is_success()) && callback_done,
                format!("{st:?} early {early} {done:?}"),
            );
            event_control(s, sys::WSK_EVENT_RECEIVE, None);
            rec.answers.lock().unwrap().push_back(Answer::Slow(400));
            peer.write_all(b"slow2").unwrap();
            let start = Instant::now();
            while !rec.in_callback.load(Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let st = event_control(s, sys::WSK_EVENT_DISABLE | sys::WSK_EVENT_RECEIVE, None);
            check(
                "events: disable (no IRP) while the callback runs -> STATUS_EVENT_PENDING",
                st == EVENT_PENDING,
                format!("{st:?}"),
            );
            std::thread::sleep(Duration::from_millis(500));
            close(s);
        }

        /// Listening socket: WskAcceptEvent (accept with context + dispatch, inherited receive
        /// event on the accepted socket; reject -> the provider closes the connection).
        pub(super) fn accept(wsk: &Wsk) {
            let rec = Recorder::new();
            let child = Recorder::new();
            let l = socket_with(
                wsk,
                2,
                1,
                6,
                sys::WSK_FLAG_LISTEN_SOCKET,
                rec.ctx(),
                (&raw const LISTEN_EVENTS).cast(),
            );
            let st = event_control(l, sys::WSK_EVENT_ACCEPT, None);
            check(
                "events: WSK_EVENT_ACCEPT before bind -> INVALID_DEVICE_STATE",
                st == NtStatus::INVALID_DEVICE_STATE,
                format!("{st:?}"),
            );
            let ld = listen(l);
            assert!(bind(l, "127.0.0.1:0".parse().unwrap(), ld.WskBind).is_success());
            let me = super::local_address(l, ld.WskGetLocalAddress).unwrap();
            let st = event_control(l, sys::WSK_EVENT_ACCEPT | sys::WSK_EVENT_RECEIVE, None);
            check(
                "events: enable accept | receive (inherited) on a bound listening socket",
                st.is_success(),
                format!("{st:?}"),
            );
            *rec.accept_child.lock().unwrap() = Some((child.ctx(), true));
            let mut peer = TcpStream::connect(me).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let seen = rec.wait(|v| !v.is_empty());
            check(
                "events: WskAcceptEvent with the socket and both addresses",
                seen.first()
                    == Some(&Seen::Accept(
                        Some(me),
                        Some(peer.local_addr().unwrap()),
                        true,
                    )),
                format!("{seen:?}"),
            );
            peer.write_all(b"inherited").unwrap();
            let got = child.wait(|v| receives(v).concat().len() >= 9);
            check(
                "events: accepted socket gets WskReceiveEvent (inherited) with the context the callback returned",
                receives(&got).concat() == b"inherited",
                format!("{got:?}"),
            );
            rec.take();
            *rec.accept_child.lock().unwrap() = Some((child.ctx(), false));
            let mut rejected = TcpStream::connect(me).unwrap();
            rejected
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let seen = rec.wait(|v| !v.is_empty());
            let mut b = [0u8; 4];
            let read = rejected.read(&mut b);
            check(
                "events: STATUS_REQUEST_NOT_ACCEPTED -> the provider closes the connection",
                matches!(seen.first(), Some(Seen::Accept(_, _, true)))
                    && matches!(read, Ok(0) | Err(_)),
                format!("{seen:?} {read:?}"),
            );
            let accepted = std::mem::take(&mut *ACCEPTED.lock().unwrap());
            for a in accepted {
                close(a as *mut sys::WSK_SOCKET);
            }
            child.closed.store(true, Ordering::SeqCst);
            let (_, st) = close(l);
            rec.closed.store(true, Ordering::SeqCst);
            let late = TcpStream::connect_timeout(&me, Duration::from_secs(1));
            std::thread::sleep(Duration::from_millis(200));
            check(
                "events: listening socket closed; no accept callback after it",
                st.is_success() && late.is_err() && !rec.late.load(Ordering::SeqCst),
                format!("{st:?} {late:?}"),
            );
        }

        /// Datagram socket: WskReceiveFromEvent (consume, retain + WskRelease, refuse -> the
        /// event stops and WskReceiveFrom gets the datagram).
        pub(super) fn datagram(wsk: &Wsk) {
            let rec = Recorder::new();
            let s = socket_with(
                wsk,
                2,
                2,
                17,
                sys::WSK_FLAG_DATAGRAM_SOCKET,
                rec.ctx(),
                (&raw const DATAGRAM_EVENTS).cast(),
            );
            let d = dgram(s);
            let st = event_control(s, sys::WSK_EVENT_RECEIVE_FROM, None);
            check(
                "events: WSK_EVENT_RECEIVE_FROM before bind -> INVALID_DEVICE_STATE",
                st == NtStatus::INVALID_DEVICE_STATE,
                format!("{st:?}"),
            );
            assert!(bind(s, "127.0.0.1:0".parse().unwrap(), d.WskBind).is_success());
            let me = super::local_address(s, d.WskGetLocalAddress).unwrap();
            let st = event_control(s, sys::WSK_EVENT_RECEIVE_FROM, None);
            check(
                "events: enable receive-from on a bound datagram socket",
                st.is_success(),
                format!("{st:?}"),
            );
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            let from = peer.local_addr().unwrap();
            peer.send_to(b"dgram-1", me).unwrap();
            let seen = rec.wait(|v| !v.is_empty());
            check(
                "events: WskReceiveFromEvent with the datagram and its source",
                seen.first() == Some(&Seen::ReceiveFrom(b"dgram-1".to_vec(), Some(from))),
                format!("{seen:?}"),
            );
            rec.take();
            rec.answers.lock().unwrap().push_back(Answer::Retain);
            peer.send_to(b"dgram-2", me).unwrap();
            rec.wait(|v| !v.is_empty());
            let ind = rec.retained.lock().unwrap().pop();
            let st = ind.map(|p| {
                NtStatus(unsafe {
                    (d.WskRelease.unwrap())(s, p as *mut sys::WSK_DATAGRAM_INDICATION)
                })
            });
            check(
                "events: retained datagram indication released with WskRelease",
                st == Some(NtStatus::SUCCESS),
                format!("{st:?}"),
            );
            rec.take();
            rec.answers.lock().unwrap().push_back(Answer::NotAccepted);
            peer.send_to(b"refused", me).unwrap();
            rec.wait(|v| !v.is_empty());
            std::thread::sleep(Duration::from_millis(100));
            peer.send_to(b"later", me).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let seen = rec.take();
            let chain = Chain::new(&[32]);
            let mut wb = chain.wsk_buf(0, 32);
            let mut src = [0u8; 28];
            let (_, st, n) = Req::new().run(|irp| unsafe {
                (d.WskReceiveFrom.unwrap())(
                    s,
                    &raw mut wb,
                    0,
                    src.as_mut_ptr().cast(),
                    null_mut(),
                    null_mut(),
                    null_mut(),
                    irp,
                )
            });
            let got = chain.bytes()[..n].to_vec();
            check(
                "events: STATUS_DATA_NOT_ACCEPTED disables the event; WskReceiveFrom gets the refused datagram",
                seen.len() == 1 && st.is_success() && got == b"refused" && parse(&src) == Some(from),
                format!("{seen:?} {st:?} {:?}", String::from_utf8_lossy(&got)),
            );
            let st = event_control(s, sys::WSK_EVENT_RECEIVE_FROM, None);
            let seen = rec.wait(|v| !v.is_empty());
            check(
                "events: re-enabled receive-from indicates the datagram that waited",
                st.is_success()
                    && seen.first() == Some(&Seen::ReceiveFrom(b"later".to_vec(), Some(from))),
                format!("{st:?} {seen:?}"),
            );
            let (_, st) = close(s);
            rec.closed.store(true, Ordering::SeqCst);
            peer.send_to(b"too late", me).ok();
            std::thread::sleep(Duration::from_millis(200));
            check(
                "events: datagram socket closed; no callback after it",
                st.is_success() && !rec.late.load(Ordering::SeqCst),
                format!("{st:?}"),
            );
        }

        /// WSK_SET_STATIC_EVENT_CALLBACKS on a fresh registration.
        pub(super) fn static_callbacks() {
            let mut client_npi = Box::new(sys::WSK_CLIENT_NPI {
                ClientContext: null_mut(),
                Dispatch: &raw const CLIENT_DISPATCH,
            });
            let mut registration = Box::new(sys::WSK_REGISTRATION::default());
            let st = NtStatus(unsafe {
                netio::WskRegister(&raw mut *client_npi, &raw mut *registration)
            });
            let mut npi = sys::WSK_PROVIDER_NPI {
                Client: null_mut(),
                Dispatch: std::ptr::null(),
            };
            unsafe {
                netio::WskCaptureProviderNPI(
                    &raw mut *registration,
                    sys::WSK_INFINITE_WAIT,
                    &raw mut npi,
                )
            };
            assert!(st.is_success());
            let wsk = Wsk {
                registration,
                npi,
                _client_npi: client_npi,
            };
            let control = |mask: u32, irp: Option<&Req>| {
                let mut c = sys::WSK_EVENT_CALLBACK_CONTROL {
                    NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
                    EventMask: mask,
                };
                NtStatus(unsafe {
                    (wsk.dispatch().WskControlClient.unwrap())(
                        wsk.npi.Client,
                        sys::WSK_SET_STATIC_EVENT_CALLBACKS,
                        size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64,
                        (&raw mut c).cast(),
                        0,
                        null_mut(),
                        null_mut(),
                        irp.map_or(null_mut(), Req::arm),
                    )
                })
            };
            let r = Req::new();
            let st = control(sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT, Some(&r));
            check(
                "events: WSK_SET_STATIC_EVENT_CALLBACKS with an IRP -> INVALID_PARAMETER",
                st == NtStatus::INVALID_PARAMETER,
                format!("{st:?}"),
            );
            let st = control(sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT, None);
            check(
                "events: WSK_SET_STATIC_EVENT_CALLBACKS receive | disconnect",
                st.is_success(),
                format!("{st:?}"),
            );
            let rec = Recorder::new();
            let (s, mut peer) = connected_pair(&wsk, &rec);
            peer.write_all(b"static").unwrap();
            let seen = rec.wait(|v| !receives(v).is_empty());
            check(
                "events: static receive event on a new socket without SO_WSK_EVENT_CALLBACK",
                receives(&seen).concat() == b"static",
                format!("{seen:?}"),
            );
            let st = event_control(s, sys::WSK_EVENT_DISABLE | sys::WSK_EVENT_RECEIVE, None);
            check(
                "events: a static event cannot be disabled -> INVALID_DEVICE_STATE",
                st == NtStatus::INVALID_DEVICE_STATE,
                format!("{st:?}"),
            );
            let st = control(sys::WSK_EVENT_SEND_BACKLOG, None);
            check(
                "events: WSK_SET_STATIC_EVENT_CALLBACKS after a socket exists -> INVALID_DEVICE_STATE",
                st == NtStatus::INVALID_DEVICE_STATE,
                format!("{st:?}"),
            );
            close(s);
            rec.closed.store(true, Ordering::SeqCst);
            drop(peer);
            unsafe { netio::WskReleaseProviderNPI(&raw const *wsk.registration as *mut _) };
            let mut reg = wsk.registration;
            unsafe { netio::WskDeregister(&raw mut *reg) };
        }

        /// `WSKRS_PROVIDER_DROP=1` with a receive-event client: the first received data is
        /// indicated, then the reset is reported as `WskDisconnectEvent(WSK_FLAG_ABORTIVE)`;
        /// later requests fail with `STATUS_CONNECTION_ABORTED`.
        /// `WSKRS_PROVIDER_VERIFY=1`: an IRP reused while its receive is in flight, an IRP
        /// without a stack location for the provider and a `WskRelease` of a chain the client
        /// does not hold are each refused with INVALID_PARAMETER and reported once; the
        /// receive in flight is untouched and completes with the peer's data.
        pub(super) fn verifier(wsk: &Wsk) {
            let before = netio::verifier_reports();
            let rec = Recorder::new();
            let (s, mut peer) = connected_pair(wsk, &rec);
            let chain = Chain::new(&[4]);
            let r = Req::new();
            let mut wb = chain.wsk_buf(0, 4);
            let first =
                NtStatus(unsafe { (conn(s).WskReceive.unwrap())(s, &raw mut wb, 0, r.arm()) });
            // The same IRP again, not re-armed (re-arming would itself corrupt the request).
            let again =
                NtStatus(unsafe { (conn(s).WskReceive.unwrap())(s, &raw mut wb, 0, r.irp) });
            let reused = netio::verifier_reports() - before;
            peer.write_all(b"data").unwrap();
            let done = r.wait(Duration::from_secs(10));
            check(
                "verifier: IRP reused while in flight -> INVALID_PARAMETER, reported; the first receive completes",
                first == NtStatus::PENDING
                    && again == NtStatus::INVALID_PARAMETER
                    && reused == 1
                    && done == Some((NtStatus::SUCCESS, 4))
                    && chain.bytes() == b"data",
                format!("{first:?} {again:?} reports {reused} {done:?}"),
            );
            let bare = unsafe { sys::IoAllocateIrp(0, 0) };
            let mut wb = chain.wsk_buf(0, 4);
            let st = NtStatus(unsafe { (conn(s).WskReceive.unwrap())(s, &raw mut wb, 0, bare) });
            unsafe { sys::IoFreeIrp(bare) };
            let located = netio::verifier_reports() - before;
            check(
                "verifier: IRP without a stack location for the provider -> INVALID_PARAMETER, reported",
                st == NtStatus::INVALID_PARAMETER && located == 2,
                format!("{st:?} reports {located}"),
            );
            let mut bogus = sys::WSK_DATA_INDICATION::default();
            let st = NtStatus(unsafe { (conn(s).WskRelease.unwrap())(s, &raw mut bogus) });
            let released = netio::verifier_reports() - before;
            check(
                "verifier: WskRelease of a chain the client does not hold -> INVALID_PARAMETER, reported",
                st == NtStatus::INVALID_PARAMETER && released == 3,
                format!("{st:?} reports {released}"),
            );
            let (_, st) = close(s);
            rec.closed.store(true, Ordering::SeqCst);
            check(
                "verifier: correct use after the mistakes (close) reports nothing more",
                st.is_success() && netio::verifier_reports() - before == 3,
                format!("{st:?}"),
            );
            // A call while WskCloseSocket waits for a receive callback that is still running.
            let slow = Recorder::new();
            slow.answers.lock().unwrap().push_back(Answer::Slow(800));
            let (s, mut peer) = connected_pair(wsk, &slow);
            let enabled = event_control(s, sys::WSK_EVENT_RECEIVE, None);
            peer.write_all(b"x").unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !slow.in_callback.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let c = Req::new();
            let closing =
                NtStatus(unsafe { (super::basic(s).WskCloseSocket.unwrap())(s, c.arm()) });
            let mut out = [0u8; 28];
            let (_, late, _) = Req::new().run(|irp| unsafe {
                (conn(s).WskGetLocalAddress.unwrap())(s, out.as_mut_ptr().cast(), irp)
            });
            let after_close = netio::verifier_reports() - before;
            let closed = c.wait(Duration::from_secs(10));
            slow.closed.store(true, Ordering::SeqCst);
            check(
                "verifier: a call after WskCloseSocket began (callback still running) is reported",
                enabled.is_success()
                    && closing == NtStatus::PENDING
                    && !late.is_success()
                    && after_close == 4
                    && closed.is_some_and(|(st, _)| st.is_success()),
                format!("{enabled:?} {closing:?} {late:?} reports {after_close} {closed:?}"),
            );
        }

        pub(super) fn dropped(wsk: &Wsk) {
            let rec = Recorder::new();
            let (s, mut peer) = connected_pair(wsk, &rec);
            let st = event_control(s, sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT, None);
            peer.write_all(b"data").unwrap();
            let seen = rec.wait(|v| v.iter().any(|e| matches!(e, Seen::Disconnect(_))));
            check(
                "drop (events): first data indicated, then WskDisconnectEvent(WSK_FLAG_ABORTIVE)",
                st.is_success()
                    && seen
                        == [
                            Seen::Receive(b"data".to_vec()),
                            Seen::Disconnect(sys::WSK_FLAG_ABORTIVE),
                        ],
                format!("{st:?} {seen:?}"),
            );
            let chain = Chain::new(&[4]);
            let mut wb = chain.wsk_buf(0, 4);
            let (_, sent, _) =
                Req::new().run(|irp| unsafe { (conn(s).WskSend.unwrap())(s, &raw mut wb, 0, irp) });
            let (received, _) = receive(s, 4);
            check(
                "drop (events): later WskSend / WskReceive -> STATUS_CONNECTION_ABORTED",
                sent == CONNECTION_ABORTED && received == CONNECTION_ABORTED,
                format!("{sent:?} {received:?}"),
            );
            let (_, st) = close(s);
            rec.closed.store(true, Ordering::SeqCst);
            check(
                "drop (events): WskCloseSocket after the reset",
                st.is_success(),
                format!("{st:?}"),
            );
        }

        /// `STATUS_CONNECTION_ABORTED`.
        const CONNECTION_ABORTED: NtStatus = NtStatus::from_u32(0xC000_0241);
    }

    /// The fault-injection switches (`WSKRS_PROVIDER_FAULT`, `_DELAY`, `_DROP`), each on a
    /// registration of its own made while the variable is set (see `with_switch`).
    mod faults {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::ptr::null_mut;
        use std::time::{Duration, Instant};

        use wsk_bindings::{self as sys, NtStatus};

        use super::{bind, check, close, conn, listen, sockaddr, with_switch, Chain, Req, Wsk};

        /// `STATUS_CONNECTION_RESET`.
        const CONNECTION_RESET: NtStatus = NtStatus::from_u32(0xC000_020D);
        /// `STATUS_CONNECTION_ABORTED`.
        const CONNECTION_ABORTED: NtStatus = NtStatus::from_u32(0xC000_0241);
        /// `STATUS_CONNECTION_REFUSED`, the status injected by the fault check.
        const CONNECTION_REFUSED: NtStatus = NtStatus::from_u32(0xC000_0236);

        const MS: fn(u64) -> Duration = Duration::from_millis;

        /// A WSK connection socket (WskSocket, WskBind, WskConnect) connected to a std peer;
        /// also how long the WskConnect took.
        fn connect(wsk: &Wsk) -> (*mut sys::WSK_SOCKET, TcpStream, Duration) {
            let server = TcpListener::bind("127.0.0.1:0").unwrap();
            let (st, s) = wsk.socket(2, 1, 6, sys::WSK_FLAG_CONNECTION_SOCKET);
            assert!(st.is_success(), "WskSocket: {st:?}");
            let c = conn(s);
            assert!(bind(s, "127.0.0.1:0".parse().unwrap(), c.WskBind).is_success());
            let mut to = sockaddr(server.local_addr().unwrap());
            let start = Instant::now();
            let (_, st, _) = Req::new()
                .run(|irp| unsafe { (c.WskConnect.unwrap())(s, to.as_mut_ptr().cast(), 0, irp) });
            let took = start.elapsed();
            assert!(st.is_success(), "WskConnect: {st:?}");
            let (peer, _) = server.accept().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            (s, peer, took)
        }

        /// Starts a WskSend of `chain` on `s` with `r`; returns what the call returned.
        fn start_send(s: *mut sys::WSK_SOCKET, chain: &Chain, len: usize, r: &Req) -> NtStatus {
            let mut wb = chain.wsk_buf(0, len);
            NtStatus(unsafe { (conn(s).WskSend.unwrap())(s, &raw mut wb, 0, r.arm()) })
        }

        /// Starts a WskReceive into `chain` on `s` with `r`.
        fn start_receive(s: *mut sys::WSK_SOCKET, chain: &Chain, len: usize, r: &Req) -> NtStatus {
            let mut wb = chain.wsk_buf(0, len);
            NtStatus(unsafe { (conn(s).WskReceive.unwrap())(s, &raw mut wb, 0, r.arm()) })
        }

        fn send(s: *mut sys::WSK_SOCKET, data: &[u8]) -> (NtStatus, usize) {
            let mut chain = Chain::new(&[data.len()]);
            chain.fill(data);
            let r = Req::new();
            start_send(s, &chain, data.len(), &r);
            r.wait(Duration::from_secs(10))
                .unwrap_or((NtStatus::TIMEOUT, 0))
        }

        fn receive(s: *mut sys::WSK_SOCKET, n: usize) -> (NtStatus, Vec<u8>) {
            let chain = Chain::new(&[n]);
            let r = Req::new();
            start_receive(s, &chain, n, &r);
            let (st, info) = r
                .wait(Duration::from_secs(10))
                .unwrap_or((NtStatus::TIMEOUT, 0));
            (st, chain.bytes()[..info.min(n)].to_vec())
        }

        /// Whether the peer sees a reset: its read fails with one, or (a Winsock peer in Wine
        /// may read a reset as end of stream, see the README) reads EOF and its next write
        /// fails with one.
        fn peer_reset(peer: &mut TcpStream) -> (bool, String) {
            let mut b = [0u8; 16];
            let read = peer.read(&mut b);
            let write = peer.write(b"y");
            let is_reset = |e: &std::io::Error| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                )
            };
            let reset = read.as_ref().is_err_and(is_reset)
                || (read.as_ref().is_ok_and(|n| *n == 0) && write.as_ref().is_err_and(is_reset));
            (reset, format!("read {read:?} write {write:?}"))
        }

        /// `WSKRS_PROVIDER_FAULT=2:0xC0000236`: operation 1 (WskSocket) succeeds, operation 2
        /// (WskBind) fails with the chosen status.
        pub(super) fn fault() {
            with_switch("WSKRS_PROVIDER_FAULT", "2:0xC0000236", |wsk| {
                let (st, l) = wsk.socket(2, 1, 6, sys::WSK_FLAG_LISTEN_SOCKET);
                let bound = if st.is_success() {
                    bind(l, "127.0.0.1:0".parse().unwrap(), listen(l).WskBind)
                } else {
                    st
                };
                check(
                    "fault: WSKRS_PROVIDER_FAULT=2:0xC0000236 -> WskSocket ok, WskBind fails with it",
                    st.is_success() && bound == CONNECTION_REFUSED,
                    format!("{st:?} {bound:?}"),
                );
                if st.is_success() {
                    close(l);
                }
            });
        }

        /// `WSKRS_PROVIDER_DELAY=300`: every request's completion is held back 300 ms, without
        /// holding up anything else (8 sends at once, more than the provider's 4 worker
        /// threads, all complete after one delay, not after two).
        pub(super) fn delay_all() {
            with_switch("WSKRS_PROVIDER_DELAY", "300", |wsk| {
                let (s, mut peer, took) = connect(wsk);
                check(
                    "delay: WSKRS_PROVIDER_DELAY=300 -> WskConnect completes after >= 300 ms",
                    took >= MS(290) && took < MS(2000),
                    format!("{took:?}"),
                );
                let chains: Vec<Chain> = (0..8u8)
                    .map(|i| {
                        let mut c = Chain::new(&[1]);
                        c.fill(&[b'a' + i]);
                        c
                    })
                    .collect();
                let reqs: Vec<Req> = (0..8).map(|_| Req::new()).collect();
                let start = Instant::now();
                let returned: Vec<NtStatus> = chains
                    .iter()
                    .zip(&reqs)
                    .map(|(c, r)| start_send(s, c, 1, r))
                    .collect();
                let mut got = [0u8; 8];
                let read = peer.read_exact(&mut got);
                let on_wire = start.elapsed();
                let none_yet = reqs.iter().all(|r| !r.completed());
                let results: Vec<_> = reqs.iter().map(|r| r.wait(MS(5000))).collect();
                let total = start.elapsed();
                check(
                    "delay: 8 sends at once: data sent at once, completions held back, all done \
                     in one delay (>= 300, < 600 ms)",
                    returned.iter().all(|r| *r == NtStatus::PENDING)
                        && read.is_ok()
                        && &got == b"abcdefgh"
                        && none_yet
                        && results.iter().all(|r| *r == Some((NtStatus::SUCCESS, 1)))
                        && total >= MS(290)
                        && total < MS(600),
                    format!("on the wire {on_wire:?}, none completed then {none_yet}, all {total:?}: {results:?}"),
                );
                peer.write_all(b"xyz").unwrap();
                let start = Instant::now();
                let (st, data) = receive(s, 3);
                let took = start.elapsed();
                check(
                    "delay: WskReceive of data already there completes after >= 300 ms",
                    st.is_success() && data == b"xyz" && took >= MS(290) && took < MS(2000),
                    format!("{st:?} {data:?} {took:?}"),
                );
                close(s);
            });
        }

        /// `WSKRS_PROVIDER_DELAY=3000:2:every`: requests 2, 4, ... are held back 3 s; cancelling
        /// or closing completes such a request at once with STATUS_CANCELLED.
        pub(super) fn delay_nth() {
            with_switch("WSKRS_PROVIDER_DELAY", "3000:2:every", |wsk| {
                let (s, mut peer, took) = connect(wsk);
                check(
                    "delay: WSKRS_PROVIDER_DELAY=3000:2:every -> request 1 (WskConnect) not delayed",
                    took < MS(1000),
                    format!("{took:?}"),
                );
                // Request 2: delayed; IoCancelIrp completes it at once.
                let mut chain = Chain::new(&[2]);
                chain.fill(b"c2");
                let r = Req::new();
                start_send(s, &chain, 2, &r);
                let mut got = [0u8; 2];
                let read = peer.read_exact(&mut got);
                std::thread::sleep(MS(100));
                let held = !r.completed();
                let start = Instant::now();
                let cancelled = unsafe { sys::IoCancelIrp(r.irp) };
                let res = r.wait(MS(5000));
                let took = start.elapsed();
                check(
                    "delay: IoCancelIrp on a delayed WskSend (sent, held back) -> STATUS_CANCELLED at once",
                    read.is_ok()
                        && &got == b"c2"
                        && held
                        && cancelled != 0
                        && res == Some((NtStatus::CANCELLED, 0))
                        && took < MS(500),
                    format!("held {held} {res:?} after {took:?}"),
                );
                // Request 3: not delayed.
                let start = Instant::now();
                let (st, n) = send(s, b"c3");
                let took = start.elapsed();
                check(
                    "delay: request 3 (WskSend) not delayed",
                    st.is_success() && n == 2 && took < MS(1000),
                    format!("{st:?} {n} {took:?}"),
                );
                // Request 4: a receive whose data is there; held back; close completes it.
                peer.write_all(b"c4").unwrap();
                let chain = Chain::new(&[2]);
                let r = Req::new();
                start_receive(s, &chain, 2, &r);
                std::thread::sleep(MS(200));
                let held = !r.completed();
                let start = Instant::now();
                let (_, closed) = close(s);
                let took = start.elapsed();
                let res = r.wait(Duration::ZERO);
                check(
                    "delay: WskCloseSocket with a delayed WskReceive -> it completes CANCELLED, close at once",
                    held && closed.is_success() && res == Some((NtStatus::CANCELLED, 0)) && took < MS(500),
                    format!("held {held} close {closed:?} {res:?} after {took:?}"),
                );
            });
        }

        /// `WSKRS_PROVIDER_DROP=1`: the first connection (accepted) is reset after its first
        /// send: pending requests fail with STATUS_CONNECTION_RESET, later ones with
        /// STATUS_CONNECTION_ABORTED, the peer sees a reset; the second is left alone.
        pub(super) fn drop_nth() {
            with_switch("WSKRS_PROVIDER_DROP", "1", |wsk| {
                let (st, l) = wsk.socket(2, 1, 6, sys::WSK_FLAG_LISTEN_SOCKET);
                assert!(st.is_success());
                let ld = listen(l);
                assert!(bind(l, "127.0.0.1:0".parse().unwrap(), ld.WskBind).is_success());
                let me = super::local_address(l, ld.WskGetLocalAddress).unwrap();
                let r = Req::new();
                unsafe {
                    (ld.WskAccept.unwrap())(
                        l,
                        0,
                        null_mut(),
                        std::ptr::null(),
                        null_mut(),
                        null_mut(),
                        r.arm(),
                    )
                };
                let mut peer = TcpStream::connect(me).unwrap();
                peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let (st, handle) = r.wait(MS(5000)).unwrap_or((NtStatus::TIMEOUT, 0));
                assert!(st.is_success(), "WskAccept: {st:?}");
                let a = handle as *mut sys::WSK_SOCKET;
                // A receive pending when the connection is dropped.
                let pending = Chain::new(&[8]);
                let rr = Req::new();
                start_receive(a, &pending, 8, &rr);
                std::thread::sleep(MS(50));
                let (sent, n) = send(a, b"ping");
                check(
                    "drop: WSKRS_PROVIDER_DROP=1 -> the first send on accepted connection 1 completes",
                    sent.is_success() && n == 4,
                    format!("{sent:?} {n}"),
                );
                let res = rr.wait(MS(5000));
                check(
                    "drop: the receive pending at the reset -> STATUS_CONNECTION_RESET",
                    res == Some((CONNECTION_RESET, 0)),
                    format!("{res:?}"),
                );
                let mut got = [0u8; 4];
                let read = peer.read_exact(&mut got);
                let (reset, detail) = peer_reset(&mut peer);
                check(
                    "drop: the peer gets the data, then a reset (RST)",
                    read.is_ok() && &got == b"ping" && reset,
                    format!("{read:?} {got:?} {detail}"),
                );
                let (sent, _) = send(a, b"late");
                let (received, _) = receive(a, 4);
                check(
                    "drop: later WskSend / WskReceive -> STATUS_CONNECTION_ABORTED",
                    sent == CONNECTION_ABORTED && received == CONNECTION_ABORTED,
                    format!("{sent:?} {received:?}"),
                );
                let (_, st) = close(a);
                check(
                    "drop: WskCloseSocket after the reset",
                    st.is_success(),
                    format!("{st:?}"),
                );
                close(l);
                // Connection 2 (connected) is not chosen.
                let (s, mut peer, _) = connect(wsk);
                let (sent, n) = send(s, b"two");
                let mut got = [0u8; 3];
                let read = peer.read_exact(&mut got);
                peer.write_all(b"back").unwrap();
                let (received, data) = receive(s, 4);
                check(
                    "drop: connection 2 is left alone (send and receive work)",
                    sent.is_success()
                        && n == 3
                        && read.is_ok()
                        && received.is_success()
                        && data == b"back",
                    format!("{sent:?} {n} {read:?} {received:?} {data:?}"),
                );
                close(s);
            });
        }
    }
}
