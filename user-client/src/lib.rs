//! User-mode client for the wsk-rs driver: typed calls over the IOCTL protocol, kernel
//! sockets shaped like `std::net`'s, and the service control manager.
//!
//! - [`Device`]: open `\\.\WskRs` and call [`Device::info`], [`Device::tcp_connect`],
//!   [`Device::tcp_listen`], [`Device::send`], [`Device::recv`], [`Device::udp_bind`],
//!   [`Device::send_to`], [`Device::recv_from`], [`Device::disconnect`], [`Device::serve`],
//!   the socket options
//!   ([`Device::socket_option`], [`Device::set_keepalive`], ...), [`Device::security`],
//!   [`Device::resolve`], [`Device::stats`], [`Device::list`]. Failures carry the driver's
//!   true NTSTATUS (the client calls `NtDeviceIoControlFile` with an `OVERLAPPED`, which
//!   `DeviceIoControl` would turn into a Win32 error). Sends and receives use direct I/O: the
//!   driver reads and writes the caller's buffers in place, and a receive waits pended in
//!   the driver. The calls take typed options ([`TcpConnectOptions`], [`TcpListenOptions`],
//!   [`UdpBindOptions`], [`Lifetime`], [`DisconnectMode`]) and `Option<Duration>` timeouts
//!   (`None`: the driver's default). A device and the sockets below are `Send + Sync`.
//! - [`Canceller`]: cancels a device's outstanding requests from another thread (`wskctl`
//!   does on Ctrl-C); a cancelled request is [`ClientError::Cancelled`].
//! - [`KernelTcpStream`], [`KernelTcpListener`], [`KernelUdpSocket`]: kernel sockets shaped
//!   like `std::net`'s (`Read`/`Write`, timeouts, `shutdown`; errors are `io::Error`s whose
//!   kind follows the NTSTATUS and whose inner error is a [`ClientError`]);
//!   [`KernelTcpStream::serve`] hands a connection to an in-kernel service
//!   ([`ServedTcpConnection`]).
//! - [`ServiceManager`]: install, start, stop, uninstall and query the driver's service.
//! - [`ctrl_c`]: a console Ctrl-C cancels the watched device's outstanding request.
//!
//! The `wskctl` command line is its own crate on top of this one.
//!
//! Windows API calls live in one private module (`sys`); elsewhere they fail with
//! `Unsupported`, so everything else builds and is tested on any host.
//!
//! # Examples
//!
//! ```no_run
//! use wskrs_client::{Device, TcpConnectOptions};
//!
//! let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
//! let remote = "127.0.0.1:9000".parse().unwrap();
//! let endpoint = device.tcp_connect(remote, &TcpConnectOptions::default())?;
//! device.send_all(endpoint.id, b"hello", None)?;
//! let reply = device.recv(endpoint.id, 5, None)?;
//! println!("{} bytes back", reply.data.len());
//! # Ok::<(), wskrs_client::ClientError>(())
//! ```
#![deny(unsafe_code)]

mod cancel;
/// The README's snippet, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub mod ctrl_c;
mod device;
mod error;
mod net;
mod options;
mod service;
// Used by the Windows build's `sys`; tested on every host.
#[cfg(any(windows, test))]
mod spares;
#[cfg_attr(not(windows), path = "sys_unsupported.rs")]
mod sys;

/// The real driver core on the fake kernel behind a [`Transport`], for this crate's tests:
/// the source of the test-support crate `wskrs-host-driver` (tests/host-driver), which
/// `wskctl`'s tests depend on. Its dependencies are this crate's dev-dependencies only.
#[cfg(test)]
#[path = "../../tests/host-driver/src/lib.rs"]
pub mod host_driver;
/// The name `host_driver`'s source uses for this crate (it is the crate `wskrs-host-driver`
/// too, which depends on this one).
#[cfg(test)]
extern crate self as wskrs_client;

pub use cancel::{CancelIo, Canceller};
pub use device::{
    write_data, Datagram, Device, IoctlCompletion, ListedEndpoint, RawReply, ReceivedData,
    Transport, SEND_CHUNK, SEND_PIPELINE_DEPTH,
};
pub use error::{ClientError, EXIT_CANCELLED};
pub use net::{KernelTcpListener, KernelTcpStream, KernelUdpSocket, ServedTcpConnection};
pub use options::{DisconnectMode, Lifetime, TcpConnectOptions, TcpListenOptions, UdpBindOptions};
pub use service::{
    InstallOutcome, ServiceManager, ServiceState, StartOutcome, StopOutcome, UninstallOutcome,
};
pub use sys::os_version;
pub use wskrs_ntstatus::{NtStatus, WinsockError};

#[cfg(test)]
mod tests {
    use super::{
        Canceller, Device, KernelTcpListener, KernelTcpStream, KernelUdpSocket,
        ServedTcpConnection, ServiceManager,
    };

    /// Compiles only for types that may move to, and be shared with, another thread.
    const fn send_and_sync<T: Send + Sync>() {}

    /// The handle and the sockets are `Send + Sync` like `std::net`'s and `File`: one can be
    /// opened on one thread and used (or cancelled) on another. A type that stops being so
    /// fails to compile here.
    #[test]
    fn the_std_shaped_types_are_send_and_sync() {
        const {
            send_and_sync::<Device>();
            send_and_sync::<KernelTcpStream>();
            send_and_sync::<KernelTcpListener>();
            send_and_sync::<KernelUdpSocket>();
            send_and_sync::<ServedTcpConnection>();
            send_and_sync::<Canceller>();
            send_and_sync::<ServiceManager>();
        }
    }

    /// A stream opened on one thread is read and written on another.
    #[test]
    fn a_stream_moves_to_another_thread() {
        use std::io::{Read, Write};
        let driver = crate::host_driver::HostDriver::default();
        let device = Device::from_transport(Box::new(driver.handle()));
        let echo = (std::net::Ipv4Addr::LOCALHOST, crate::host_driver::ECHO_PORT).into();
        let mut stream = KernelTcpStream::connect_on(device, echo, None).unwrap();
        let echoed = std::thread::spawn(move || {
            stream.write_all(b"moved").unwrap();
            let mut reply = [0; 5];
            stream.read_exact(&mut reply).unwrap();
            reply
        })
        .join()
        .unwrap();
        assert_eq!(&echoed, b"moved");
        assert!(
            driver.endpoint_ids().is_empty(),
            "dropped on the other thread"
        );
    }
}
