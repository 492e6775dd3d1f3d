//! `wsk::Held` counts what the crate holds: its deltas equal the fake kernel's own counts of
//! live pool blocks, IRPs, MDLs, work items and provider sockets, while sockets are open and
//! after everything closed (back to the baseline).

mod common;

use std::time::Duration;

use common::{pair, register, QUICK};
use wsk::{Held, PoolBuffer, WskClient};
use wskrs_fake_kernel as fake;

/// The fake kernel's counts as a `Held` (bytes are not counted by the fake: 0).
fn fake_held() -> Held {
    let c = fake::counts();
    Held {
        pool_allocations: c.pool_live as u64,
        pool_bytes: 0,
        irps: c.irps_live as u64,
        mdls: c.mdls_live as u64,
        sockets: c.sockets_open as u64,
        work_items: c.work_items_live as u64,
    }
}

/// `now - base` of every counter but the bytes.
fn delta(now: Held, base: Held) -> [i128; 5] {
    let d = |a: u64, b: u64| i128::from(a) - i128::from(b);
    [
        d(now.pool_allocations, base.pool_allocations),
        d(now.irps, base.irps),
        d(now.mdls, base.mdls),
        d(now.sockets, base.sockets),
        d(now.work_items, base.work_items),
    ]
}

#[test]
fn held_follows_the_kernel_and_returns_to_baseline() {
    let kernel = fake::Kernel::start();
    let (base, fake_base) = (Held::now(), fake_held());

    let client = register();
    let (mut near, far) = pair(&client);
    let buffer = PoolBuffer::try_new(1000).expect("buffer");
    near.send_all(b"counted", QUICK).expect("send");

    let in_use = Held::now();
    assert_eq!(delta(in_use, base), delta(fake_held(), fake_base));
    // The listener was closed by `pair`; the two connection sockets are open.
    assert_eq!(in_use.sockets - base.sockets, 2, "{in_use:?}");
    assert!(in_use.mdls > base.mdls, "{in_use:?}");
    assert!(in_use.pool_bytes >= base.pool_bytes + 1000, "{in_use:?}");

    drop((near, far, buffer));
    assert!(client.shutdown(QUICK));
    let _ = kernel.settle(Duration::from_secs(10));
    kernel.assert_clean();
    assert_eq!(Held::now(), base, "everything given back");
}

#[test]
fn deferred_work_gives_its_work_item_back() {
    let kernel = fake::Kernel::start();
    let base = Held::now();
    let client: WskClient = register();
    let (near, far) = pair(&client);
    // A deferred job holds one work item until it ran.
    client
        .defer(near, drop)
        .unwrap_or_else(|_| panic!("no work item"));
    drop(far);
    assert!(client.shutdown(QUICK));
    let _ = kernel.settle(Duration::from_secs(10));
    kernel.assert_clean();
    assert_eq!(Held::now(), base);
}
