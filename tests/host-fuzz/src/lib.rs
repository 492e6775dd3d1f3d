//! Host fuzzing of every parser the driver or the client runs on untrusted bytes.
//!
//! This crate owns the fuzz targets, their seed corpora and the properties each asserts;
//! `cargo xtask fuzz-host` builds one libFuzzer binary per target (`fuzz_targets/`) with
//! rustc's SanitizerCoverage flags on stable Rust and runs them (`docs/reliability.md`, "Host
//! fuzzing"). The crate's own tests replay the committed corpus (`corpus/<target>/`) and a
//! deterministic set of mutations of it through the same checks, on any toolchain.
//!
//! Each target is a module with `check(data)`, which panics when a property fails (libFuzzer
//! records the input as a crash), and `seeds()`, the valid encodings and edge cases its
//! corpus starts from:
//!
//! | target | parser | properties |
//! | --- | --- | --- |
//! | [`request`] | `wskrs_protocol::parse_request`, every code | canonical re-encoding parses back equal, same length; text and direct lengths in bounds |
//! | [`reply`] | the client's `parse_*_reply` | re-encoded by the driver's writers, it parses back equal |
//! | [`client`] | `wskrs_client::Device` over a hostile driver | no panic, lengths within the buffers, no allocation past [`client::ALLOCATION_LIMIT`] |
//! | [`driver`] | the driver core on the fake kernel, request sequences | every request answered with a status; failures return no bytes; replies parse; nothing outlives its handle |
//! | [`sddl`] | `wsk::security::parse_sddl` | what parses formats back to SDDL that parses to the same bytes |
//! | [`sid`] | `Sid::decode`, `Sid::from_str`, `SecurityDescriptor::from_bytes` | binary and text round trips; a validated descriptor formats to SDDL that rebuilds it |
//! | [`cmsg`] | `wsk::cmsg` (`WSACMSGHDR` iterator) | every object inside the input and aligned; re-written by `ControlBuffer`, it reads back equal |
//! | [`address`] | `WireAddr::to_socket_addr`, `wsk::SockAddr` | wire and `SOCKADDR` round trips |

#![deny(unsafe_code)]
// Test infrastructure: a panic is how a target reports a failed property (libFuzzer saves the
// input), and the seeds are built from constants.
#![allow(clippy::missing_panics_doc)]

pub mod address;
mod allocations;
pub mod client;
pub mod cmsg;
pub mod driver;
pub mod mutate;
pub mod reply;
pub mod request;
pub mod sddl;
pub mod sid;

/// One input of a seed corpus: a file name (`corpus/<target>/<name>`) and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The file name: what the input is, in a few words.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

impl Seed {
    /// A seed named `name`.
    #[must_use]
    pub fn new(name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.to_owned(),
            bytes: bytes.into(),
        }
    }
}

/// A fuzz target: its name (the binary's and the corpus folder's), its check and its seeds.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The libFuzzer binary and the folder of its corpus.
    pub name: &'static str,
    /// Runs one input; panics when a property fails.
    pub check: fn(&[u8]),
    /// The valid encodings and edge cases the committed corpus holds.
    pub seeds: fn() -> Vec<Seed>,
}

/// Every target, in the order `cargo xtask fuzz-host` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "request",
        check: request::check,
        seeds: request::seeds,
    },
    Target {
        name: "reply",
        check: reply::check,
        seeds: reply::seeds,
    },
    Target {
        name: "client",
        check: client::check,
        seeds: client::seeds,
    },
    Target {
        name: "driver",
        check: driver::check,
        seeds: driver::seeds,
    },
    Target {
        name: "sddl",
        check: sddl::check,
        seeds: sddl::seeds,
    },
    Target {
        name: "sid",
        check: sid::check,
        seeds: sid::seeds,
    },
    Target {
        name: "cmsg",
        check: cmsg::check,
        seeds: cmsg::seeds,
    },
    Target {
        name: "address",
        check: address::check,
        seeds: address::seeds,
    },
];

/// A cursor over a fuzz input: each `take` consumes bytes from the front; past the end it
/// yields zeros (so every input decodes to some plan).
#[derive(Clone, Debug)]
pub(crate) struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let (first, rest) = self.rest.split_first().unwrap_or((&0, &[]));
        self.rest = rest;
        *first
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `len` bytes (fewer at the end of the input).
    pub(crate) fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }
}
