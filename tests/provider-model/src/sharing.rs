//! Sharing of local transport addresses: which second bind succeeds when another socket holds
//! the address, as the WSK documentation's table gives it ("Sharing Transport Addresses",
//! learn.microsoft.com/windows-hardware/drivers/network/sharing-transport-addresses).
//!
//! Each socket binds with one of three sharing modes ([`Sharing`]: neither option,
//! `SO_REUSEADDR` or `SO_EXCLUSIVEADDRUSE`) to a wildcard or a specific address ([`Scope`]).
//! The table gives the second bind's [`Outcome`] for each pair; [`Outcome::Check`] means the
//! second socket's security context is checked against the first socket's security
//! descriptor (`SO_WSK_SECURITY`; a socket without one has a default descriptor that allows
//! no sharing). Two different specific addresses never share, so the second bind succeeds.
//!
//! [`BoundAddresses`] keeps what a provider has bound and answers [`BoundAddresses::bind`] by
//! the table, before the transport beneath sees the bind.

use std::net::{IpAddr, SocketAddr};

use wsk_bindings::{self as sys, NtStatus};

/// How a socket lets others share its local address (set before bind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Neither option (the default).
    Default,
    /// `SO_REUSEADDR`.
    ReuseAddress,
    /// `SO_EXCLUSIVEADDRUSE`.
    ExclusiveAddressUse,
}

/// A socket's `SO_REUSEADDR` and `SO_EXCLUSIVEADDRUSE` as its client set them (neither by
/// default); [`SharingOptions::sharing`] is the mode its bind is decided with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharingOptions {
    reuse: bool,
    exclusive: bool,
}

impl SharingOptions {
    /// Whether `(level, code)` is `SOL_SOCKET` `SO_REUSEADDR` or `SO_EXCLUSIVEADDRUSE`.
    #[must_use]
    pub const fn is_sharing_option(level: u32, code: u32) -> bool {
        level == sys::SOL_SOCKET && (code == sys::SO_REUSEADDR || code == sys::SO_EXCLUSIVEADDRUSE)
    }

    /// Sets `SO_REUSEADDR` (or else `SO_EXCLUSIVEADDRUSE`) to `on`.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` (Winsock's `WSAEINVAL`) when turning one on while the other
    /// is on.
    pub fn set(&mut self, code: u32, on: bool) -> Result<(), NtStatus> {
        let (this, other) = if code == sys::SO_REUSEADDR {
            (&mut self.reuse, self.exclusive)
        } else {
            (&mut self.exclusive, self.reuse)
        };
        if on && other {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        *this = on;
        Ok(())
    }

    /// The value of `SO_REUSEADDR` (or else `SO_EXCLUSIVEADDRUSE`).
    #[must_use]
    pub const fn get(self, code: u32) -> bool {
        if code == sys::SO_REUSEADDR {
            self.reuse
        } else {
            self.exclusive
        }
    }

    /// The mode the table decides binds with.
    #[must_use]
    pub const fn sharing(self) -> Sharing {
        match (self.reuse, self.exclusive) {
            (true, _) => Sharing::ReuseAddress,
            (false, true) => Sharing::ExclusiveAddressUse,
            (false, false) => Sharing::Default,
        }
    }
}

/// Whether a bind names the wildcard address (`0.0.0.0`, `::`) or a specific one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `0.0.0.0` or `::`.
    Wildcard,
    /// Any other address.
    Specific,
}

impl Scope {
    /// The scope of a bind to `ip`.
    #[must_use]
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_unspecified() {
            Self::Wildcard
        } else {
            Self::Specific
        }
    }
}

/// The result of a second bind, with the status WSK gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `STATUS_SUCCESS`.
    Success,
    /// `STATUS_ADDRESS_ALREADY_EXISTS`.
    InUse,
    /// `STATUS_ACCESS_DENIED`.
    Denied,
    /// An access check of the second socket against the first one's security descriptor:
    /// `STATUS_SUCCESS` if granted, `STATUS_ACCESS_DENIED` if not.
    Check,
}

impl Outcome {
    /// The name the documentation's table uses.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::InUse => "INUSE",
            Self::Denied => "DENIED",
            Self::Check => "CHECK",
        }
    }
}

/// The documentation's table, row by row: the second bind's mode and scope, then one cell per
/// first bind (default wildcard, default specific, `SO_REUSEADDR` wildcard and specific,
/// `SO_EXCLUSIVEADDRUSE` wildcard and specific).
const TABLE: [[Outcome; 6]; 6] = {
    use Outcome::{Check as C, Denied as D, InUse as I, Success as S};
    [
        [I, S, I, S, I, S], // default, wildcard
        [C, I, C, D, D, I], // default, specific
        [D, S, S, S, D, S], // SO_REUSEADDR, wildcard
        [C, D, S, S, D, D], // SO_REUSEADDR, specific
        [I, I, I, I, I, I], // SO_EXCLUSIVEADDRUSE, wildcard
        [C, I, C, I, D, I], // SO_EXCLUSIVEADDRUSE, specific
    ]
};

const fn index(sharing: Sharing, scope: Scope) -> usize {
    let mode = match sharing {
        Sharing::Default => 0,
        Sharing::ReuseAddress => 2,
        Sharing::ExclusiveAddressUse => 4,
    };
    match scope {
        Scope::Wildcard => mode,
        Scope::Specific => mode + 1,
    }
}

/// The outcome of binding a socket with `second` to an address a socket with `first` holds
/// (the same port and protocol; overlapping addresses: see [`overlaps`]).
#[must_use]
pub fn second_bind(first: (Sharing, Scope), second: (Sharing, Scope)) -> Outcome {
    let row = TABLE.get(index(second.0, second.1));
    row.and_then(|r| r.get(index(first.0, first.1)))
        .copied()
        .unwrap_or(Outcome::InUse)
}

/// Whether two binds of the same port and protocol meet: a wildcard meets every address of
/// its family (and an IPv6 wildcard that is not IPv6-only meets IPv4 too); two specific
/// addresses meet only when equal.
#[must_use]
pub fn overlaps(a: &Bound, b: &Bound) -> bool {
    if a.address.port() != b.address.port() {
        return false;
    }
    let (ai, bi) = (a.address.ip(), b.address.ip());
    let same_family = ai.is_ipv4() == bi.is_ipv4();
    let reaches = |wild: &Bound, other: IpAddr| {
        wild.address.ip().is_unspecified()
            && (wild.address.ip().is_ipv4() == other.is_ipv4()
                || (wild.address.is_ipv6() && !wild.v6_only && other.is_ipv4()))
    };
    (same_family && ai == bi) || reaches(a, bi) || reaches(b, ai)
}

/// One bound socket as the table sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The provider's key for the socket.
    pub socket: usize,
    /// TCP or UDP (addresses are shared per protocol).
    pub protocol: i32,
    /// The address it is bound to (with the port the transport chose for port 0).
    pub address: SocketAddr,
    /// `IPV6_V6ONLY` (an IPv6 wildcard without it also holds the IPv4 wildcard).
    pub v6_only: bool,
    /// Its sharing mode.
    pub sharing: Sharing,
}

/// Why a bind was refused, with the first socket that refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// [`Outcome::InUse`] or [`Outcome::Denied`] (a failed [`Outcome::Check`] is `Denied`).
    pub outcome: Outcome,
    /// The socket holding the address.
    pub holder: usize,
}

/// The addresses a provider has bound.
#[derive(Default, Debug)]
pub struct BoundAddresses {
    bound: Vec<Bound>,
}

impl BoundAddresses {
    /// Decides `candidate`'s bind against every socket it overlaps: the first refusal, in
    /// bind order, or `Ok`. `grants(holder)` is the access check of [`Outcome::Check`]: whether
    /// the holder's security descriptor lets the candidate's owner share. A port-0 bind never
    /// meets anything (the transport picks a free port). On `Ok` the candidate is not yet
    /// recorded: call [`BoundAddresses::record`] with the address the transport bound.
    ///
    /// # Errors
    /// The [`Refusal`]: which outcome, and which socket holds the address.
    pub fn check(
        &self,
        candidate: &Bound,
        mut grants: impl FnMut(usize) -> bool,
    ) -> Result<(), Refusal> {
        if candidate.address.port() == 0 {
            return Ok(());
        }
        let candidate_scope = Scope::of(candidate.address.ip());
        for held in self
            .bound
            .iter()
            .filter(|held| held.protocol == candidate.protocol && overlaps(held, candidate))
        {
            let outcome = second_bind(
                (held.sharing, Scope::of(held.address.ip())),
                (candidate.sharing, candidate_scope),
            );
            let refused = match outcome {
                Outcome::Success => None,
                Outcome::Check if grants(held.socket) => None,
                Outcome::Check | Outcome::Denied => Some(Outcome::Denied),
                Outcome::InUse => Some(Outcome::InUse),
            };
            if let Some(outcome) = refused {
                return Err(Refusal {
                    outcome,
                    holder: held.socket,
                });
            }
        }
        Ok(())
    }

    /// Records a socket the transport bound.
    pub fn record(&mut self, bound: Bound) {
        self.forget(bound.socket);
        self.bound.push(bound);
    }

    /// Forgets a closed socket's address.
    pub fn forget(&mut self, socket: usize) {
        self.bound.retain(|b| b.socket != socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [(Sharing, &str); 3] = [
        (Sharing::Default, "default"),
        (Sharing::ReuseAddress, "SO_REUSEADDR"),
        (Sharing::ExclusiveAddressUse, "SO_EXCLUSIVEADDRUSE"),
    ];
    const SCOPES: [(Scope, &str); 2] =
        [(Scope::Wildcard, "wildcard"), (Scope::Specific, "specific")];

    #[test]
    fn the_table_as_documented() {
        // Row by row as learn.microsoft.com prints it (second bind down, first bind across).
        let documented = [
            "INUSE SUCCESS INUSE SUCCESS INUSE SUCCESS",
            "CHECK INUSE CHECK DENIED DENIED INUSE",
            "DENIED SUCCESS SUCCESS SUCCESS DENIED SUCCESS",
            "CHECK DENIED SUCCESS SUCCESS DENIED DENIED",
            "INUSE INUSE INUSE INUSE INUSE INUSE",
            "CHECK INUSE CHECK INUSE DENIED INUSE",
        ];
        let mut rows = Vec::new();
        for (second, second_name) in MODES {
            for (second_scope, scope_name) in SCOPES {
                let cells: Vec<&str> = MODES
                    .iter()
                    .flat_map(|(first, _)| {
                        SCOPES.iter().map(move |(scope, _)| {
                            second_bind((*first, *scope), (second, second_scope)).name()
                        })
                    })
                    .collect();
                println!("{second_name:>20} {scope_name:>8}: {}", cells.join(" "));
                rows.push(cells.join(" "));
            }
        }
        assert_eq!(rows, documented);
    }

    fn bound(socket: usize, address: &str, sharing: Sharing) -> Bound {
        Bound {
            socket,
            protocol: 6,
            address: address.parse().unwrap(),
            v6_only: false,
            sharing,
        }
    }

    #[test]
    fn overlapping_addresses() {
        let any4 = bound(1, "0.0.0.0:80", Sharing::Default);
        let lo4 = bound(2, "127.0.0.1:80", Sharing::Default);
        let other4 = bound(3, "127.0.0.2:80", Sharing::Default);
        let any6 = bound(4, "[::]:80", Sharing::Default);
        let lo6 = bound(5, "[::1]:80", Sharing::Default);
        assert!(overlaps(&any4, &lo4) && overlaps(&lo4, &any4));
        assert!(
            !overlaps(&lo4, &other4),
            "two specific addresses never share"
        );
        assert!(
            overlaps(&any6, &lo4),
            "a dual-stack wildcard holds IPv4 too"
        );
        assert!(!overlaps(
            &Bound {
                v6_only: true,
                ..any6.clone()
            },
            &lo4
        ));
        assert!(overlaps(&any6, &lo6) && !overlaps(&lo6, &lo4));
        assert!(!overlaps(&lo4, &bound(6, "127.0.0.1:81", Sharing::Default)));
    }

    #[test]
    fn bound_addresses_apply_the_table_and_the_check() {
        let mut table = BoundAddresses::default();
        table.record(bound(1, "0.0.0.0:80", Sharing::Default));
        // A specific bind under a default wildcard is a CHECK: the descriptor decides.
        let second = bound(2, "127.0.0.1:80", Sharing::Default);
        assert_eq!(table.check(&second, |_| true), Ok(()));
        assert_eq!(
            table.check(&second, |holder| holder != 1),
            Err(Refusal {
                outcome: Outcome::Denied,
                holder: 1
            })
        );
        // Another wildcard is in use; UDP is another table; port 0 never meets.
        let wildcard = bound(3, "0.0.0.0:80", Sharing::Default);
        assert_eq!(
            table.check(&wildcard, |_| true),
            Err(Refusal {
                outcome: Outcome::InUse,
                holder: 1
            })
        );
        assert_eq!(
            table.check(
                &Bound {
                    protocol: 17,
                    ..wildcard.clone()
                },
                |_| false
            ),
            Ok(())
        );
        assert_eq!(
            table.check(&bound(4, "0.0.0.0:0", Sharing::Default), |_| false),
            Ok(())
        );
        // Closed, it no longer holds the address.
        table.forget(1);
        assert_eq!(table.check(&wildcard, |_| false), Ok(()));
    }

    #[test]
    fn sharing_options_exclude_each_other() {
        let mut o = SharingOptions::default();
        assert_eq!(o.sharing(), Sharing::Default);
        assert!(SharingOptions::is_sharing_option(
            sys::SOL_SOCKET,
            sys::SO_EXCLUSIVEADDRUSE
        ));
        assert!(!SharingOptions::is_sharing_option(
            sys::SOL_SOCKET,
            sys::SO_KEEPALIVE
        ));
        o.set(sys::SO_REUSEADDR, true).unwrap();
        assert_eq!(
            o.set(sys::SO_EXCLUSIVEADDRUSE, true),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(o.sharing(), Sharing::ReuseAddress);
        o.set(sys::SO_REUSEADDR, false).unwrap();
        o.set(sys::SO_EXCLUSIVEADDRUSE, true).unwrap();
        assert!(o.get(sys::SO_EXCLUSIVEADDRUSE) && !o.get(sys::SO_REUSEADDR));
        assert_eq!(o.sharing(), Sharing::ExclusiveAddressUse);
    }
}
