//! [`BasicSocket`]: a basic socket (`WSK_FLAG_BASIC_SOCKET`), for socket options and I/O
//! controls only.
//!
//! A basic socket's provider dispatch is `WSK_PROVIDER_BASIC_DISPATCH`, which holds only
//! `WskControlSocket` and `WskCloseSocket`
//! (<https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_provider_basic_dispatch>):
//! it cannot be bound, connected or used for data, so [`BasicSocket`] has no such methods.
//! It is what a driver uses to query or set transport-wide state through `WskIoctl` or
//! socket options without opening a data socket.

use core::time::Duration;

use crate::socket::{self, BindOptions, Category, SocketCore};
use crate::{Result, WskClient};

/// The transport a [`BasicSocket`] is created for (`WskSocket`'s type and protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `SOCK_STREAM`, `IPPROTO_TCP`.
    Tcp,
    /// `SOCK_DGRAM`, `IPPROTO_UDP`.
    Udp,
}

/// A basic socket: options ([`crate::SocketOptions`], including `set_option_raw`,
/// `option_raw` and `ioctl_raw`) and close. Dropping it closes it (PASSIVE_LEVEL).
///
/// ```
/// # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the fake kernel's device object lives for the whole process.
/// # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
/// use wsk::{BasicSocket, SocketOptions, Transport};
///
/// let mut socket = BasicSocket::new(&client, Transport::Udp, false, timeout)?;
/// socket.set_receive_buffer_size(64 * 1024)?;
/// assert!(socket.receive_buffer_size()? >= 64 * 1024);
/// // I/O controls the same way: socket.ioctl_raw(wsk_bindings::FIONREAD, &[], &mut out)
/// socket.close()?;
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
pub struct BasicSocket {
    pub(crate) core: SocketCore,
}

impl BasicSocket {
    /// Creates a basic socket (`WskSocket` with `WSK_FLAG_BASIC_SOCKET`) of `transport` over
    /// IPv4, or IPv6 when `ipv6`. IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_socket>.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` or `STATUS_NOT_SUPPORTED` from a
    /// provider without basic sockets).
    pub fn new(
        client: &WskClient,
        transport: Transport,
        ipv6: bool,
        timeout: Duration,
    ) -> Result<Self> {
        let family = if ipv6 {
            wsk_bindings::AF_INET6_FAMILY
        } else {
            wsk_bindings::AF_INET_FAMILY
        };
        let category = Category::Basic {
            datagram: transport == Transport::Udp,
        };
        let (raw, blocking) =
            socket::create(client, family, category, BindOptions::default(), timeout)?;
        Ok(Self {
            core: SocketCore {
                raw,
                blocking,
                client: client.clone(),
            },
        })
    }

    /// Whether the socket is still open. IRQL: any.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.core.raw.is_open()
    }

    /// Closes the socket (`WskCloseSocket`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}
