//! [`BufferChain`]: an owned chain of nonpaged pool buffers whose MDLs are linked
//! (`Mdl->Next`), sent or received in one WSK request.
//!
//! A `WSK_BUF` names the first MDL of a chain, an offset into it and a length that may run
//! through the following MDLs
//! (<https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_buf>). Windows
//! does not check that the chain holds that many bytes (it bugchecks when it does not), so
//! [`BufferChain`] only ever builds a `WSK_BUF` for a range inside it: the offset names the
//! buffer it falls in (the `WSK_BUF` starts at that buffer's MDL) and the length never
//! exceeds the bytes from there to the end of the chain.

use core::ptr;

use wsk_bindings as sys;

use crate::{Error, NtStatus, PoolBox, PoolBuffer, Result};

struct Link {
    buffer: PoolBuffer,
    next: Option<PoolBox<Link>>,
}

/// An owned chain of nonpaged buffers with linked MDLs. Dropping it frees them (IRQL <=
/// DISPATCH_LEVEL); no request may use it then, which the socket methods that take it ensure.
///
/// ```
/// # use wskrs_fake_kernel as fake; // on the host, a fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let device = fake::device(); // in a driver: its DEVICE_OBJECT
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the device object outlives the client and its sockets.
/// # let client = unsafe { wsk::WskClient::register(device, timeout) }?;
/// # let mut listener = wsk::ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
/// # let mut connection = wsk::ConnectionSocket::connect(&client, listener.local_addr()?, None, timeout)?;
/// # let (mut peer, _) = listener.accept(timeout)?;
/// use wsk::BufferChain;
/// let mut chain = BufferChain::try_new(&[16, 4096, 100])?;
/// chain.copy_from(b"header, then the body in the next buffers");
/// let len = chain.len();
/// let sent = connection.send_chain(&mut chain, 0, len, timeout)?;
/// assert_eq!(sent, len);
/// # let mut echo = [0u8; 4212];
/// # let mut got = 0;
/// # while got < len { got += peer.receive(&mut echo[got..], timeout)?; }
/// # peer.send_all(&echo[..len], timeout)?;
/// let received = connection.receive_chain(&mut chain, timeout)?;
/// assert!(received > 0 && received <= len);
/// # drop((connection, peer, listener));
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
///
/// # Invariants
/// The links' MDLs are linked in order (`Next` of each is the next link's MDL, the last one's
/// is NULL); `len` is the sum of the buffers' lengths; there are at most
/// [`BufferChain::MAX_LINKS`] links.
#[derive(Default)]
pub struct BufferChain {
    head: Option<PoolBox<Link>>,
    len: usize,
    links: usize,
}

impl BufferChain {
    /// Most buffers in one chain (bounds the walk of every operation).
    pub const MAX_LINKS: usize = 64;

    /// An empty chain (no buffer). IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            head: None,
            len: 0,
            links: 0,
        }
    }

    /// A chain of zeroed buffers of `sizes` bytes each (each at least 1), in order.
    /// IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for no sizes or more than [`BufferChain::MAX_LINKS`];
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool memory (nothing is kept then).
    pub fn try_new(sizes: &[usize]) -> Result<Self> {
        if sizes.is_empty() || sizes.len() > Self::MAX_LINKS {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        // Built back to front, so that each new link's MDL points at the chain so far.
        let mut chain = Self::new();
        for &size in sizes.iter().rev() {
            let buffer = PoolBuffer::try_new(size)?;
            let next_mdl = chain
                .head
                .as_ref()
                .map_or(ptr::null_mut(), |l| l.buffer.mdl_ptr());
            // SAFETY: the MDL belongs to `buffer`, which no request uses yet.
            unsafe { (*buffer.mdl_ptr()).Next = next_mdl };
            let added = buffer.len();
            let link = PoolBox::try_new(Link {
                buffer,
                next: chain.head.take(),
            })?;
            // INVARIANT: the new link's MDL points at the old head's; lengths add up.
            chain.head = Some(link);
            chain.len = chain.len.saturating_add(added);
            chain.links = chain.links.saturating_add(1);
        }
        Ok(chain)
    }

    /// Total bytes of all buffers. IRQL: any.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chain has no buffer. IRQL: any.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buffers. IRQL: any.
    #[must_use]
    pub fn links(&self) -> usize {
        self.links
    }

    fn iter(&self) -> impl Iterator<Item = &Link> + '_ {
        let mut next = self.head.as_deref();
        core::iter::from_fn(move || {
            let link = next?;
            next = link.next.as_deref();
            Some(link)
        })
    }

    /// The buffers' bytes, in order. IRQL: any.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|l| l.buffer.as_slice())
    }

    /// Copies `data` into the chain from its start, across buffers; returns the bytes copied
    /// (at most [`BufferChain::len`]). IRQL: any.
    pub fn copy_from(&mut self, data: &[u8]) -> usize {
        let mut copied = 0;
        let mut next = self.head.as_deref_mut();
        while let Some(link) = next {
            let rest = data.get(copied..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let dst = link.buffer.as_mut_slice();
            let n = dst.len().min(rest.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), rest.get(..n)) {
                d.copy_from_slice(s);
            }
            copied = copied.saturating_add(n);
            next = link.next.as_deref_mut();
        }
        copied
    }

    /// Copies the chain's first bytes into `out`; returns the bytes copied. IRQL: any.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut copied = 0;
        for chunk in self.chunks() {
            let Some(rest) = out.get_mut(copied..) else {
                break;
            };
            let n = rest.len().min(chunk.len());
            if let (Some(d), Some(s)) = (rest.get_mut(..n), chunk.get(..n)) {
                d.copy_from_slice(s);
            }
            copied = copied.saturating_add(n);
        }
        copied
    }

    /// Where `offset..offset + len` lies: the index of the buffer `offset` falls in and the
    /// offset inside it; `None` if the range is not inside the chain (or `len` is 0).
    /// IRQL: any.
    #[must_use]
    pub fn locate(&self, offset: usize, len: usize) -> Option<(usize, usize)> {
        let end = offset.checked_add(len)?;
        if len == 0 || end > self.len {
            return None;
        }
        let mut start = 0usize;
        for (index, link) in self.iter().enumerate() {
            let size = link.buffer.len();
            if offset < start.saturating_add(size) {
                return Some((index, offset.saturating_sub(start)));
            }
            start = start.saturating_add(size);
        }
        None
    }

    /// A `WSK_BUF` over `offset..offset + len` of the chain, or `None` if that range is not
    /// inside it: it never describes more bytes than the MDLs from its first one on hold.
    pub(crate) fn wsk_buf(&self, offset: usize, len: usize) -> Option<sys::WSK_BUF> {
        let (index, inner) = self.locate(offset, len)?;
        let link = self.iter().nth(index)?;
        Some(sys::WSK_BUF {
            Mdl: link.buffer.mdl_ptr(),
            Offset: u32::try_from(inner).ok()?,
            Length: len as u64,
        })
    }
}

impl Drop for BufferChain {
    fn drop(&mut self) {
        // Iteratively: a recursive drop of a long chain would grow the kernel stack.
        let mut next = self.head.take();
        while let Some(mut link) = next {
            next = link.next.take();
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use wskrs_fake_kernel as fake;

    #[test]
    fn a_wsk_buf_never_describes_more_than_the_chain() {
        let kernel = fake::Kernel::start();
        {
            let chain = BufferChain::try_new(&[10, 20, 5]).unwrap();
            assert_eq!((chain.len(), chain.links()), (35, 3));
            // Each buffer's MDL links to the next one; the last ends the chain.
            let mdls: std::vec::Vec<*mut sys::MDL> =
                chain.iter().map(|l| l.buffer.mdl_ptr()).collect();
            // SAFETY: live MDLs of the chain, read only.
            let next = |m: *mut sys::MDL| unsafe { (*m).Next };
            assert_eq!(next(mdls[0]), mdls[1]);
            assert_eq!(next(mdls[1]), mdls[2]);
            assert!(next(mdls[2]).is_null());
            let whole = chain.wsk_buf(0, 35).unwrap();
            assert_eq!((whole.Mdl, whole.Offset, whole.Length), (mdls[0], 0, 35));
            // An offset in the second buffer starts the WSK_BUF there.
            let tail = chain.wsk_buf(12, 23).unwrap();
            assert_eq!((tail.Mdl, tail.Offset, tail.Length), (mdls[1], 2, 23));
            let last = chain.wsk_buf(30, 5).unwrap();
            assert_eq!((last.Mdl, last.Offset), (mdls[2], 0));
            // Past the end, overflowing, or empty: no WSK_BUF.
            assert!(chain.wsk_buf(0, 36).is_none());
            assert!(chain.wsk_buf(30, 6).is_none());
            assert!(chain.wsk_buf(35, 1).is_none());
            assert!(chain.wsk_buf(usize::MAX, 2).is_none());
            assert!(chain.wsk_buf(3, 0).is_none());
        }
        kernel.assert_clean();
    }

    #[test]
    fn copies_across_buffers_and_rejects_bad_shapes() {
        let kernel = fake::Kernel::start();
        {
            let mut chain = BufferChain::try_new(&[3, 4, 5]).unwrap();
            assert_eq!(chain.copy_from(b"abcdefghijklmnop"), 12);
            let chunks: std::vec::Vec<&[u8]> = chain.chunks().collect();
            assert_eq!(chunks, [&b"abc"[..], b"defg", b"hijkl"]);
            let mut out = [0u8; 8];
            assert_eq!(chain.copy_to(&mut out), 8);
            assert_eq!(&out, b"abcdefgh");
            assert!(BufferChain::try_new(&[]).is_err());
            assert!(BufferChain::try_new(&[1; BufferChain::MAX_LINKS + 1]).is_err());
            let empty = BufferChain::new();
            assert!(empty.is_empty() && empty.wsk_buf(0, 1).is_none());
            // A long chain drops without recursion.
            drop(BufferChain::try_new(&[1; BufferChain::MAX_LINKS]).unwrap());
        }
        kernel.assert_clean();
    }
}
