//! Name resolution of the fake provider (`WskGetAddressInfo` / `WskFreeAddressInfo`):
//! `localhost` (127.0.0.1, then ::1), IPv4 and IPv6 address literals, and numeric services
//! (no service: port 0). Any other name is `STATUS_NOT_FOUND`, a service that is not a
//! port number `STATUS_INVALID_PARAMETER`. The lists are heap memory counted as live until
//! freed; freeing one the provider never returned, or twice, is a violation.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model as model;

use crate::{lock, violation};

/// The heads of the lists handed out and not freed.
static LIVE: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// One entry of a list: the `ADDRINFOEXW` and the socket address it points to.
#[repr(C)]
struct Entry {
    info: sys::ADDRINFOEXW,
    address: sys::SOCKADDR_IN6,
}

/// The addresses `name` with `service` resolves to.
///
/// # Errors
/// `STATUS_NOT_FOUND` for a name other than `localhost` or an address literal;
/// `STATUS_INVALID_PARAMETER` for a service that is not a port number.
pub(crate) fn resolve(name: &str, service: Option<&str>) -> Result<Vec<SocketAddr>, NtStatus> {
    let port = match service {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u16>()
            .map_err(|_| NtStatus::INVALID_PARAMETER)?,
    };
    let ips: Vec<IpAddr> = if name.eq_ignore_ascii_case("localhost") {
        vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
    } else {
        vec![name.parse().map_err(|_| NtStatus::NOT_FOUND)?]
    };
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// A list of `addresses` as `WskGetAddressInfo` returns it (null for none).
pub(crate) fn build_list(addresses: &[SocketAddr]) -> *mut sys::ADDRINFOEXW {
    let mut head: *mut sys::ADDRINFOEXW = std::ptr::null_mut();
    for &address in addresses.iter().rev() {
        // SAFETY: `ADDRINFOEXW` and `SOCKADDR_IN6` are plain C data (integers, raw
        // pointers, unions of integers): all zeroes is a valid value.
        let mut entry: Box<Entry> = Box::new(unsafe { std::mem::zeroed() });
        let address_ptr = (&raw mut entry.address).cast::<sys::SOCKADDR>();
        // SAFETY: `address_ptr` points to a SOCKADDR_IN6, room for either family.
        let len = unsafe { model::sockaddr::write(address_ptr, address) };
        let family = if address.is_ipv4() {
            sys::AF_INET
        } else {
            sys::AF_INET6
        };
        entry.info.ai_family = i32::try_from(family).unwrap_or_default();
        entry.info.ai_addrlen = sys::SIZE_T::try_from(len).unwrap_or_default();
        entry.info.ai_next = head;
        let raw = Box::into_raw(entry);
        // SAFETY: `raw` is the live box just leaked; its address field does not move.
        unsafe { (*raw).info.ai_addr = (&raw mut (*raw).address).cast() };
        head = raw.cast();
    }
    if !head.is_null() {
        lock(&LIVE)
            .get_or_insert_with(HashSet::new)
            .insert(head as usize);
    }
    head
}

/// `WskFreeAddressInfo`: frees a list [`build_list`] returned.
///
/// # Safety
/// `head` is null or a list this provider returned (anything else is recorded as a
/// violation before it is touched).
pub(crate) unsafe fn free_list(head: *mut sys::ADDRINFOEXW) {
    let known = lock(&LIVE)
        .as_mut()
        .is_some_and(|live| live.remove(&(head as usize)));
    if !known {
        violation("WskFreeAddressInfo of a list this provider never returned (or freed twice)");
        return;
    }
    let mut next = head.cast::<Entry>();
    while !next.is_null() {
        // SAFETY: every entry of a known list is a leaked `Box<Entry>`, freed once here.
        let entry = unsafe { Box::from_raw(next) };
        next = entry.info.ai_next.cast();
    }
}

/// Lists handed out and not freed yet.
pub(crate) fn live_lists() -> usize {
    lock(&LIVE).as_ref().map_or(0, HashSet::len)
}

#[cfg(test)]
mod tests {
    use super::{build_list, free_list, live_lists, resolve};
    use std::net::SocketAddr;
    use wsk_bindings::NtStatus;
    use wskrs_provider_model as model;

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|text| text.parse().unwrap()).collect()
    }

    #[test]
    fn localhost_literals_and_numeric_services_resolve_and_nothing_else() {
        assert_eq!(
            resolve("localhost", None),
            Ok(addresses(&["127.0.0.1:0", "[::1]:0"]))
        );
        assert_eq!(
            resolve("LocalHost", Some("80")),
            Ok(addresses(&["127.0.0.1:80", "[::1]:80"]))
        );
        assert_eq!(
            resolve("192.0.2.7", Some("9000")),
            Ok(addresses(&["192.0.2.7:9000"]))
        );
        assert_eq!(
            resolve("fe80::1", Some("")),
            Ok(addresses(&["[fe80::1]:0"]))
        );
        assert_eq!(resolve("no.such.host", None), Err(NtStatus::NOT_FOUND));
        assert_eq!(resolve("", None), Err(NtStatus::NOT_FOUND));
        assert_eq!(
            resolve("localhost", Some("http")),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            resolve("localhost", Some("65536")),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn a_list_holds_the_addresses_in_order_until_freed() {
        let before = live_lists();
        let wanted = addresses(&["127.0.0.1:80", "[::1]:80"]);
        let head = build_list(&wanted);
        assert_eq!(live_lists(), before + 1);
        let mut seen = Vec::new();
        let mut next = head.cast_const();
        // SAFETY: `head` is a list just built; its entries live until `free_list`.
        while let Some(entry) = unsafe { next.as_ref() } {
            // SAFETY: `ai_addr` points to the entry's own socket address.
            seen.push(unsafe { model::sockaddr::read(entry.ai_addr) }.unwrap());
            next = entry.ai_next;
        }
        assert_eq!(seen, wanted);
        // SAFETY: a list this provider returned, freed once.
        unsafe { free_list(head) };
        assert_eq!(live_lists(), before);
        assert!(build_list(&[]).is_null(), "no addresses: no list");
    }
}
