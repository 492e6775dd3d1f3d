//! The ntoskrnl exports `wsk` imports, faked on the host.
//!
//! Every function has the signature `wsk-bindings` declares (`extern "system"`, which is
//! `extern "C"` on x86-64 Linux). Misuse the fake can detect is recorded with
//! [`crate::violation`] instead of corrupting memory where possible.
//!
//! # Safety
//! Each function has the contract of the DDI it imitates (see the Microsoft documentation
//! page of that name); callers are `wsk` and the fake provider.

// Field paths through bindgen's nested unions count as several unsafe operations; each such
// block is one logical access to one field of a live IRP, under one SAFETY argument.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::alloc::{self, Layout};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wsk_bindings::{self as sys, NtStatus};

use crate::state::{self, DISPATCH_LEVEL};
use crate::{lock, violation};

/// Pool (and IRP) alignment on x64.
const POOL_ALIGNMENT: usize = 16;
/// Freed blocks kept poisoned (not returned to the allocator) so that a use after free reads
/// garbage at a fresh address instead of someone else's live object.
const QUARANTINE_BLOCKS: usize = 4096;
/// Byte written over freed memory.
const POISON: u8 = 0xDD;
/// Byte written over fresh pool memory (pool is not zeroed).
const FRESH: u8 = 0xCB;

/// Blocks freed but not yet returned to the allocator.
static QUARANTINE: Mutex<VecDeque<(usize, Layout)>> = Mutex::new(VecDeque::new());

/// Poisons `p` and keeps it in quarantine; returns the oldest quarantined block to the allocator.
///
/// # Safety
/// `p` came from `alloc::alloc*` with `layout` and is not used by the fake afterwards.
unsafe fn retire(p: *mut u8, layout: Layout) {
    // SAFETY: the block has `layout.size()` bytes (caller's contract).
    unsafe { ptr::write_bytes(p, POISON, layout.size()) };
    let oldest = {
        let mut q = lock(&QUARANTINE);
        q.push_back((p as usize, layout));
        if q.len() > QUARANTINE_BLOCKS {
            q.pop_front()
        } else {
            None
        }
    };
    if let Some((old, layout)) = oldest {
        // SAFETY: the block was allocated with `layout` and retired once.
        unsafe { alloc::dealloc(old as *mut u8, layout) };
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size.max(1), POOL_ALIGNMENT)
        .unwrap_or_else(|e| panic!("fake pool: bad size {size}: {e}"))
}

// ------------------------------------------------------------------------------------------
// Pool

struct Block {
    size: usize,
    tag: u32,
}

#[derive(Default)]
struct Pool {
    live: HashMap<usize, Block>,
    allocations: u64,
    frees: u64,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    f(lock(&POOL).get_or_insert_with(Pool::default))
}

/// Pool allocations still to succeed before the injected failures (u64::MAX: none planned).
static SUCCEED_BEFORE_FAILING: AtomicU64 = AtomicU64::new(u64::MAX);
/// Injected failures left.
static FAILURES_LEFT: AtomicU64 = AtomicU64::new(0);

/// Fault injection: after `succeed` more pool allocations succeed, the next `fail` ones
/// return NULL (pool exhausted).
pub fn fail_pool_allocations(succeed: u64, fail: u64) {
    FAILURES_LEFT.store(fail, Ordering::SeqCst);
    SUCCEED_BEFORE_FAILING.store(succeed, Ordering::SeqCst);
}

/// Whether this allocation is one the test asked to fail.
fn injected_failure() -> bool {
    let before = SUCCEED_BEFORE_FAILING.load(Ordering::SeqCst);
    if before == u64::MAX {
        return false;
    }
    if before > 0 {
        SUCCEED_BEFORE_FAILING.store(before - 1, Ordering::SeqCst);
        return false;
    }
    let left = FAILURES_LEFT.load(Ordering::SeqCst);
    if left == 0 {
        SUCCEED_BEFORE_FAILING.store(u64::MAX, Ordering::SeqCst);
        return false;
    }
    FAILURES_LEFT.store(left - 1, Ordering::SeqCst);
    true
}

pub(crate) fn pool_counts() -> (u64, u64, usize) {
    with_pool(|p| (p.allocations, p.frees, p.live.len()))
}

/// `ExAllocatePoolWithTag`: 16-byte aligned, filled with a non-zero pattern, counted.
///
/// # Safety
/// None beyond the DDI's (any pool type is accepted).
#[no_mangle]
pub unsafe extern "C" fn ExAllocatePoolWithTag(
    _pool_type: sys::POOL_TYPE,
    size: sys::SIZE_T,
    tag: u32,
) -> *mut c_void {
    let Ok(size) = usize::try_from(size) else {
        return ptr::null_mut();
    };
    if injected_failure() {
        return ptr::null_mut();
    }
    let layout = layout(size);
    // SAFETY: the layout has a nonzero size.
    let p = unsafe { alloc::alloc(layout) };
    if p.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: fresh block of `layout.size()` bytes.
    unsafe { ptr::write_bytes(p, FRESH, layout.size()) };
    with_pool(|pool| {
        pool.allocations += 1;
        pool.live.insert(p as usize, Block { size, tag });
    });
    p.cast()
}

/// `ExFreePoolWithTag`: checks the pointer and tag, poisons, quarantines.
///
/// # Safety
/// `p` came from [`ExAllocatePoolWithTag`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ExFreePoolWithTag(p: *mut c_void, tag: u32) {
    let block = with_pool(|pool| {
        let block = pool.live.remove(&(p as usize));
        if block.is_some() {
            pool.frees += 1;
        }
        block
    });
    let Some(block) = block else {
        violation(format!(
            "ExFreePoolWithTag({p:p}): not a live pool block (double free?)"
        ));
        return;
    };
    if block.tag != tag {
        violation(format!(
            "ExFreePoolWithTag({p:p}): tag {tag:#x}, allocated with {:#x}",
            block.tag
        ));
    }
    forget_events(p as usize, block.size);
    crate::timer::forget_in(p as usize, block.size);
    // SAFETY: a live block allocated with this layout, now removed from the live set.
    unsafe { retire(p.cast(), layout(block.size)) };
}

// ------------------------------------------------------------------------------------------
// Events

struct Event {
    synchronization: bool,
    signaled: Mutex<bool>,
    changed: Condvar,
}

/// Events by the address of their KEVENT.
static EVENTS: Mutex<BTreeMap<usize, Arc<Event>>> = Mutex::new(BTreeMap::new());

fn event(p: *mut c_void, what: &str) -> Option<Arc<Event>> {
    let found = lock(&EVENTS).get(&(p as usize)).cloned();
    if found.is_none() {
        violation(format!(
            "{what}({p:p}): not an initialized event (freed, or never KeInitializeEvent'ed)"
        ));
    }
    found
}

/// Forgets the events inside a freed block: a later use of them is a violation.
fn forget_events(start: usize, len: usize) {
    let mut events = lock(&EVENTS);
    let inside: Vec<usize> = events
        .range(start..start + len.max(1))
        .map(|(k, _)| *k)
        .collect();
    for k in inside {
        events.remove(&k);
    }
}

/// `KeInitializeEvent`.
///
/// # Safety
/// `event` points to a KEVENT at its final address.
#[no_mangle]
pub unsafe extern "C" fn KeInitializeEvent(
    event: sys::PRKEVENT,
    kind: sys::EVENT_TYPE,
    signaled: sys::BOOLEAN,
) {
    let e = Event {
        synchronization: kind == sys::SynchronizationEvent,
        signaled: Mutex::new(signaled != 0),
        changed: Condvar::new(),
    };
    lock(&EVENTS).insert(event as usize, Arc::new(e));
}

/// `KeSetEvent`: returns the previous state.
///
/// # Safety
/// `event` was initialized with [`KeInitializeEvent`].
#[no_mangle]
pub unsafe extern "C" fn KeSetEvent(
    event: sys::PRKEVENT,
    _increment: sys::KPRIORITY,
    _wait: sys::BOOLEAN,
) -> sys::LONG {
    let Some(e) = self::event(event.cast(), "KeSetEvent") else {
        return 0;
    };
    let previous = std::mem::replace(&mut *lock(&e.signaled), true);
    e.changed.notify_all();
    sys::LONG::from(previous)
}

/// `KeClearEvent`.
///
/// # Safety
/// `event` was initialized with [`KeInitializeEvent`].
#[no_mangle]
pub unsafe extern "C" fn KeClearEvent(event: sys::PRKEVENT) {
    if let Some(e) = self::event(event.cast(), "KeClearEvent") {
        *lock(&e.signaled) = false;
    }
}

/// A wait's timeout: `None` waits forever; relative times only (negative 100-ns units).
///
/// # Safety
/// `timeout` is null or points to a LARGE_INTEGER.
unsafe fn timeout_of(timeout: *const sys::LARGE_INTEGER, what: &str) -> Option<Duration> {
    if timeout.is_null() {
        return None;
    }
    // SAFETY: non-null and valid (caller's contract); QuadPart overlays the whole union.
    let t = unsafe { (*timeout).QuadPart };
    if t > 0 {
        violation(format!(
            "{what}: absolute timeout {t} (the fake supports relative ones)"
        ));
    }
    let ticks = t.unsigned_abs();
    Some(crate::real(Duration::from_nanos(ticks.saturating_mul(100))))
}

const STATUS_TIMEOUT: i32 = NtStatus::TIMEOUT.0;

/// `KeWaitForSingleObject` on an event: `STATUS_SUCCESS` or `STATUS_TIMEOUT`.
///
/// # Safety
/// `object` is an initialized event; `timeout` is null or valid.
#[no_mangle]
pub unsafe extern "C" fn KeWaitForSingleObject(
    object: *mut c_void,
    _reason: sys::KWAIT_REASON,
    _mode: sys::KPROCESSOR_MODE,
    _alertable: sys::BOOLEAN,
    timeout: *mut sys::LARGE_INTEGER,
) -> i32 {
    // SAFETY: caller's contract.
    let limit = unsafe { timeout_of(timeout, "KeWaitForSingleObject") };
    if limit != Some(Duration::ZERO) {
        state::check_may_block("KeWaitForSingleObject");
    }
    let Some(e) = event(object, "KeWaitForSingleObject") else {
        return STATUS_TIMEOUT;
    };
    let deadline = limit.map(|d| Instant::now() + d);
    let mut signaled = lock(&e.signaled);
    loop {
        if *signaled {
            if e.synchronization {
                *signaled = false;
            }
            return NtStatus::SUCCESS.0;
        }
        match deadline {
            None => {
                signaled = e
                    .changed
                    .wait(signaled)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return STATUS_TIMEOUT;
                }
                let (guard, _) = e
                    .changed
                    .wait_timeout(signaled, deadline - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                signaled = guard;
            }
        }
    }
}

/// `KeDelayExecutionThread`: sleeps for a relative interval (virtual time).
///
/// # Safety
/// `interval` is null or valid.
#[no_mangle]
pub unsafe extern "C" fn KeDelayExecutionThread(
    _mode: sys::KPROCESSOR_MODE,
    _alertable: sys::BOOLEAN,
    interval: *mut sys::LARGE_INTEGER,
) -> i32 {
    state::check_may_block("KeDelayExecutionThread");
    // SAFETY: caller's contract.
    match unsafe { timeout_of(interval, "KeDelayExecutionThread") } {
        Some(d) => std::thread::sleep(d),
        None => violation("KeDelayExecutionThread without an interval"),
    }
    NtStatus::SUCCESS.0
}

/// `RtlGetVersion`: Windows 10, build 19045 (a version whose WSK has `WskConnectEx`).
///
/// # Safety
/// `info` points to a writable `RTL_OSVERSIONINFOW`.
#[no_mangle]
pub unsafe extern "C" fn RtlGetVersion(info: *mut sys::RTL_OSVERSIONINFOW) -> i32 {
    // SAFETY: caller's contract.
    let info = unsafe { &mut *info };
    info.dwMajorVersion = 10;
    info.dwMinorVersion = 0;
    info.dwBuildNumber = 19045;
    info.dwPlatformId = 2;
    NtStatus::SUCCESS.0
}

/// `KeQueryInterruptTime`: virtual 100-ns units since the fake started (or milliseconds,
/// like Wine's, after [`crate::set_interrupt_time_in_ms`]).
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn KeQueryInterruptTime() -> u64 {
    crate::interrupt_time()
}

// ------------------------------------------------------------------------------------------
// Spin locks

/// Spins until `lock` (a KSPIN_LOCK) holds this thread's token.
fn acquire(lock: &AtomicU64, what: &str) {
    let me = state::thread_token();
    if lock.load(Ordering::Relaxed) == me {
        violation(format!(
            "{what}: this thread already holds the lock (deadlock on a real kernel)"
        ));
        panic!("fake-kernel: recursive spin lock acquisition");
    }
    while lock
        .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn release(lock: &AtomicU64, what: &str) {
    let me = state::thread_token();
    if lock.swap(0, Ordering::Release) != me {
        violation(format!(
            "{what}: released by a thread that does not hold it"
        ));
    }
}

/// `KeAcquireSpinLockRaiseToDpc`: raises to DISPATCH_LEVEL and spins.
///
/// # Safety
/// `spin_lock` points to a KSPIN_LOCK (8-byte aligned) that lives until released.
#[no_mangle]
pub unsafe extern "C" fn KeAcquireSpinLockRaiseToDpc(
    spin_lock: *mut sys::KSPIN_LOCK,
) -> sys::KIRQL {
    // SAFETY: a KSPIN_LOCK is a pointer-sized, pointer-aligned integer, used atomically only.
    let atomic = unsafe { AtomicU64::from_ptr(spin_lock) };
    let old = state::raise_irql(DISPATCH_LEVEL);
    acquire(atomic, "KeAcquireSpinLockRaiseToDpc");
    old
}

/// `KeReleaseSpinLock`: releases and restores the IRQL.
///
/// # Safety
/// The calling thread holds `spin_lock`, acquired at `old_irql`.
#[no_mangle]
pub unsafe extern "C" fn KeReleaseSpinLock(spin_lock: *mut sys::KSPIN_LOCK, old_irql: sys::KIRQL) {
    // SAFETY: as in KeAcquireSpinLockRaiseToDpc.
    let atomic = unsafe { AtomicU64::from_ptr(spin_lock) };
    release(atomic, "KeReleaseSpinLock");
    state::set_irql(old_irql);
}

static CANCEL_LOCK: AtomicU64 = AtomicU64::new(0);

/// `IoAcquireCancelSpinLock`.
///
/// # Safety
/// `irql` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn IoAcquireCancelSpinLock(irql: *mut sys::KIRQL) {
    let old = state::raise_irql(DISPATCH_LEVEL);
    acquire(&CANCEL_LOCK, "IoAcquireCancelSpinLock");
    // SAFETY: caller's contract.
    unsafe { irql.write(old) };
}

/// `IoReleaseCancelSpinLock`.
///
/// # Safety
/// The calling thread holds the cancel spin lock, acquired at `irql`.
#[no_mangle]
pub unsafe extern "C" fn IoReleaseCancelSpinLock(irql: sys::KIRQL) {
    release(&CANCEL_LOCK, "IoReleaseCancelSpinLock");
    state::set_irql(irql);
}

// ------------------------------------------------------------------------------------------
// IRPs

const IRP_SIZE: usize = size_of::<sys::IRP>();
const LOCATION_SIZE: usize = size_of::<sys::IO_STACK_LOCATION>();
/// `IO_TYPE_IRP`.
const IO_TYPE_IRP: i16 = 6;

/// Live IRPs and their stack sizes.
static IRPS: Mutex<Option<HashMap<usize, i8>>> = Mutex::new(None);

fn with_irps<R>(f: impl FnOnce(&mut HashMap<usize, i8>) -> R) -> R {
    f(lock(&IRPS).get_or_insert_with(HashMap::new))
}

pub(crate) fn irps_live() -> usize {
    with_irps(|m| m.len())
}

fn irp_layout(stack: i8) -> Layout {
    let locations = usize::try_from(stack).unwrap_or(0);
    layout(IRP_SIZE + locations * LOCATION_SIZE)
}

/// `IoInitializeIrp`: zeroes the packet; the current location is one past the stack's end.
///
/// # Safety
/// `irp` points to an IRP allocation with `stack` locations.
unsafe fn initialize_irp(irp: *mut sys::IRP, stack: i8) {
    let layout = irp_layout(stack);
    // SAFETY: the allocation has `layout.size()` bytes.
    unsafe { ptr::write_bytes(irp.cast::<u8>(), 0, layout.size()) };
    #[allow(clippy::cast_ptr_alignment)] // IRP_SIZE (208) keeps the 16-byte alignment
    // SAFETY: the stack array follows the IRP inside the same allocation.
    let locations = unsafe { irp.cast::<u8>().add(IRP_SIZE) }.cast::<sys::IO_STACK_LOCATION>();
    let past_end = locations.wrapping_add(usize::try_from(stack).unwrap_or(0));
    // SAFETY: the IRP is live and zeroed; these are plain field writes.
    unsafe {
        let r = &mut *irp;
        r.Type = IO_TYPE_IRP;
        r.Size = u16::try_from(layout.size()).unwrap_or(u16::MAX);
        r.StackCount = stack;
        r.CurrentLocation = stack + 1;
        r.Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation = past_end;
    }
}

fn is_live_irp(irp: *mut sys::IRP, what: &str) -> Option<i8> {
    let stack = with_irps(|m| m.get(&(irp as usize)).copied());
    if stack.is_none() {
        violation(format!("{what}({irp:p}): not a live IRP"));
    }
    stack
}

/// `IoAllocateIrp`: a zeroed IRP with `stack_size` locations, counted.
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn IoAllocateIrp(
    stack_size: sys::CCHAR,
    _charge_quota: sys::BOOLEAN,
) -> *mut sys::IRP {
    if stack_size < 1 {
        violation(format!("IoAllocateIrp({stack_size})"));
        return ptr::null_mut();
    }
    #[allow(clippy::cast_ptr_alignment)] // the layout is 16-byte aligned
    // SAFETY: nonzero size.
    let irp = unsafe { alloc::alloc(irp_layout(stack_size)) }.cast::<sys::IRP>();
    if irp.is_null() {
        return irp;
    }
    // SAFETY: a fresh allocation for `stack_size` locations.
    unsafe { initialize_irp(irp, stack_size) };
    with_irps(|m| m.insert(irp as usize, stack_size));
    irp
}

/// `IoFreeIrp`: the IRP must not be pending with the provider.
///
/// # Safety
/// `irp` came from [`IoAllocateIrp`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn IoFreeIrp(irp: *mut sys::IRP) {
    if crate::provider::holds(irp) {
        violation(format!(
            "IoFreeIrp({irp:p}): the provider still owns it (request pending)"
        ));
        return;
    }
    let Some(stack) = with_irps(|m| m.remove(&(irp as usize))) else {
        violation(format!("IoFreeIrp({irp:p}): not a live IRP (double free?)"));
        return;
    };
    // SAFETY: allocated with this layout and removed from the live set.
    unsafe { retire(irp.cast(), irp_layout(stack)) };
}

/// `IoReuseIrp`: reinitializes the IRP and sets `IoStatus.Status`.
///
/// # Safety
/// `irp` is a live IRP from [`IoAllocateIrp`] with no request pending.
#[no_mangle]
pub unsafe extern "C" fn IoReuseIrp(irp: *mut sys::IRP, status: sys::NTSTATUS) {
    let Some(stack) = is_live_irp(irp, "IoReuseIrp") else {
        return;
    };
    if crate::provider::holds(irp) {
        violation(format!(
            "IoReuseIrp({irp:p}): a request is still pending on it"
        ));
        return;
    }
    // SAFETY: live IRP (checked).
    let flags = unsafe { (*irp).AllocationFlags };
    // SAFETY: live IRP with `stack` locations.
    unsafe { initialize_irp(irp, stack) };
    // SAFETY: live IRP; plain field writes.
    unsafe {
        (*irp).AllocationFlags = flags;
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
    }
}

static CANCEL_CALLS: AtomicU64 = AtomicU64::new(0);
static CANCEL_ROUTINES_CALLED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn cancel_counts() -> (u64, u64) {
    (
        CANCEL_CALLS.load(Ordering::Relaxed),
        CANCEL_ROUTINES_CALLED.load(Ordering::Relaxed),
    )
}

pub(crate) use wskrs_provider_model::irp::{
    cancel_routine_slot, exchange_cancel_routine as set_cancel_routine,
};

/// `IoCancelIrp`: sets `Cancel`, takes the cancel routine and calls it with the cancel spin
/// lock held (the routine releases it). TRUE if a routine was called.
///
/// # Safety
/// `irp` is a live IRP.
#[no_mangle]
pub unsafe extern "C" fn IoCancelIrp(irp: *mut sys::IRP) -> sys::BOOLEAN {
    CANCEL_CALLS.fetch_add(1, Ordering::Relaxed);
    if is_live_irp(irp, "IoCancelIrp").is_none() {
        return 0;
    }
    let mut irql: sys::KIRQL = 0;
    // SAFETY: plain acquisition.
    unsafe { IoAcquireCancelSpinLock(&raw mut irql) };
    // SAFETY: live IRP; plain field write under the cancel lock.
    unsafe { (*irp).Cancel = 1 };
    // SAFETY: live IRP.
    let routine = unsafe { set_cancel_routine(irp, None) };
    let Some(routine) = routine else {
        // SAFETY: acquired above.
        unsafe { IoReleaseCancelSpinLock(irql) };
        return 0;
    };
    // SAFETY: live IRP; the routine reads CancelIrql.
    unsafe { (*irp).CancelIrql = irql };
    CANCEL_ROUTINES_CALLED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the routine was set on this IRP by its current owner; it releases the lock.
    unsafe { routine(ptr::null_mut(), irp) };
    1
}

/// Moves `irp` `step` stack locations: -1 is one down, toward the next-lower driver (what
/// `IoCallDriver` does), 1 one back up (what `IofCompleteRequest` does on the way back).
///
/// # Safety
/// `irp` is live and the location it moves to exists.
pub(crate) unsafe fn move_location(irp: *mut sys::IRP, step: i8) {
    // SAFETY: the caller's contract; plain field writes.
    unsafe {
        let r = &mut *irp;
        r.CurrentLocation += step;
        let slot = &mut r
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation;
        *slot = slot.wrapping_offset(isize::from(step));
    }
}

/// `IofCompleteRequest`: walks the stack up from the current location, calling each
/// location's completion routine per its `Control` flags (after moving the current location
/// up, as the I/O manager does), at DISPATCH_LEVEL; stops at
/// `STATUS_MORE_PROCESSING_REQUIRED`. Running past the top is a violation for the
/// driver-allocated IRPs `wsk` uses (the I/O manager would treat them as thread IRPs).
///
/// # Safety
/// `irp` is live and owned by the caller, whose stack location is the current one.
#[no_mangle]
pub unsafe extern "C" fn IofCompleteRequest(irp: *mut sys::IRP, _priority_boost: sys::CCHAR) {
    if is_live_irp(irp, "IofCompleteRequest").is_none() {
        return;
    }
    crate::provider::release_hold(irp);
    // SAFETY: live IRP (checked).
    if !unsafe { cancel_routine_slot(irp) }
        .load(Ordering::Acquire)
        .is_null()
    {
        violation(format!(
            "IofCompleteRequest({irp:p}) with a cancel routine set"
        ));
    }
    // SAFETY: live IRP.
    let status = unsafe { (*irp).IoStatus.__bindgen_anon_1.Status };
    // SAFETY: live IRP.
    let (count, current) = unsafe { ((*irp).StackCount, (*irp).CurrentLocation) };
    if current > count {
        violation(format!(
            "IofCompleteRequest({irp:p}): no stack location (current {current} of {count})"
        ));
        return;
    }
    loop {
        // SAFETY: live IRP.
        let (count, current) = unsafe { ((*irp).StackCount, (*irp).CurrentLocation) };
        if current > count {
            break;
        }
        // SAFETY: live IRP; a location inside its stack (current <= count).
        let location = unsafe { &mut *sys::irp::current_stack_location(irp) };
        let (routine, control, context) = (
            location.CompletionRoutine,
            u32::from(location.Control),
            location.Context,
        );
        // As Windows' and Wine's: the location's SL_PENDING_RETURNED (set by IoMarkIrpPending
        // in the driver that owned it) becomes Irp->PendingReturned for the routine above.
        location.Control = 0;
        // SAFETY: live IRP; plain field write by the completing thread.
        unsafe { (*irp).PendingReturned = u8::from(control & sys::SL_PENDING_RETURNED != 0) };
        // SAFETY: live IRP.
        let cancelled = unsafe { (*irp).Cancel } != 0;
        let call = routine.is_some()
            && ((control & sys::SL_INVOKE_ON_SUCCESS != 0 && NtStatus(status).is_success())
                || (control & sys::SL_INVOKE_ON_ERROR != 0 && !NtStatus(status).is_success())
                || (control & sys::SL_INVOKE_ON_CANCEL != 0 && cancelled));
        // SAFETY: live IRP; moving up one location, as IofCompleteRequest does.
        unsafe { move_location(irp, 1) };
        let Some(routine) = routine.filter(|_| call) else {
            continue;
        };
        let old_irql = state::raise_irql(DISPATCH_LEVEL);
        crate::note_completion_depth(state::enter_completion());
        // SAFETY: the routine and context were set by the IRP's owner on this location.
        let result = unsafe { routine(ptr::null_mut(), irp, context) };
        state::leave_completion();
        state::set_irql(old_irql);
        if result == NtStatus::MORE_PROCESSING_REQUIRED.0 {
            return;
        }
    }
    violation(format!(
        "IofCompleteRequest({irp:p}): completion ran past the top location; a driver-allocated IRP's \
         routine must return STATUS_MORE_PROCESSING_REQUIRED"
    ));
}

// ------------------------------------------------------------------------------------------
// MDLs

static MDLS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn with_mdls<R>(f: impl FnOnce(&mut HashSet<usize>) -> R) -> R {
    f(lock(&MDLS).get_or_insert_with(HashSet::new))
}

pub(crate) fn mdls_live() -> usize {
    with_mdls(|m| m.len())
}

const PAGE_MASK: usize = 0xFFF;

/// `IoAllocateMdl` for a buffer (no IRP association).
///
/// # Safety
/// `va` points to `length` bytes that outlive the MDL.
#[no_mangle]
pub unsafe extern "C" fn IoAllocateMdl(
    va: *mut c_void,
    length: u32,
    _secondary: sys::BOOLEAN,
    _charge_quota: sys::BOOLEAN,
    irp: *mut sys::IRP,
) -> *mut sys::MDL {
    if !irp.is_null() {
        violation("IoAllocateMdl with an IRP: not supported by the fake");
    }
    let address = va as usize;
    let mdl = Box::new(sys::MDL {
        Next: ptr::null_mut(),
        Size: i16::try_from(size_of::<sys::MDL>()).unwrap_or(i16::MAX),
        MdlFlags: 0,
        Process: ptr::null_mut(),
        MappedSystemVa: ptr::null_mut(),
        StartVa: (address & !PAGE_MASK) as *mut c_void,
        ByteCount: length,
        ByteOffset: u32::try_from(address & PAGE_MASK).unwrap_or(0),
    });
    let mdl = Box::into_raw(mdl);
    with_mdls(|m| m.insert(mdl as usize));
    mdl
}

/// `MmBuildMdlForNonPagedPool`: maps the MDL at its own address.
///
/// # Safety
/// `mdl` came from [`IoAllocateMdl`] over nonpaged memory.
#[no_mangle]
pub unsafe extern "C" fn MmBuildMdlForNonPagedPool(mdl: *mut sys::MDL) {
    if !is_live_mdl(mdl) {
        violation(format!(
            "MmBuildMdlForNonPagedPool({mdl:p}): not a live MDL"
        ));
        return;
    }
    // SAFETY: a live MDL of ours.
    let m = unsafe { &mut *mdl };
    m.MappedSystemVa = (m.StartVa as usize + m.ByteOffset as usize) as *mut c_void;
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // flag 4 fits a CSHORT
    let flag = sys::MDL_SOURCE_IS_NONPAGED_POOL as i16;
    m.MdlFlags |= flag;
}

/// `MmMapLockedPagesSpecifyCache`: the fake's memory is always mapped, so the MDL's own
/// address (for an MDL over nonpaged pool, its `MappedSystemVa`).
///
/// # Safety
/// `mdl` is a live MDL describing mapped memory.
#[no_mangle]
pub unsafe extern "C" fn MmMapLockedPagesSpecifyCache(
    mdl: sys::PMDLX,
    _mode: sys::KPROCESSOR_MODE,
    _cache: sys::MEMORY_CACHING_TYPE,
    _requested: *mut c_void,
    _bug_check: u32,
    _priority: sys::MM_PAGE_PRIORITY,
) -> *mut c_void {
    // SAFETY: caller's contract.
    let m = unsafe { &*mdl };
    if m.MappedSystemVa.is_null() {
        (m.StartVa as usize + m.ByteOffset as usize) as *mut c_void
    } else {
        m.MappedSystemVa
    }
}

/// `IoFreeMdl`.
///
/// # Safety
/// `mdl` came from [`IoAllocateMdl`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn IoFreeMdl(mdl: *mut sys::MDL) {
    if !with_mdls(|m| m.remove(&(mdl as usize))) {
        violation(format!("IoFreeMdl({mdl:p}): not a live MDL (double free?)"));
        return;
    }
    // SAFETY: allocated by Box in IoAllocateMdl and removed from the live set once.
    drop(unsafe { Box::from_raw(mdl) });
}

pub(crate) fn is_live_mdl(mdl: *mut sys::MDL) -> bool {
    with_mdls(|m| m.contains(&(mdl as usize)))
}

// ------------------------------------------------------------------------------------------
// Work items

struct WorkItem {
    device: usize,
    queued: AtomicBool,
}

static WORK_ITEMS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static IDLE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

fn with_work_items<R>(f: impl FnOnce(&mut HashSet<usize>) -> R) -> R {
    f(lock(&WORK_ITEMS).get_or_insert_with(HashSet::new))
}

pub(crate) fn work_item_counts() -> (usize, usize) {
    (
        with_work_items(|s| s.len()),
        RUNNING.load(Ordering::Acquire),
    )
}

pub(crate) fn wait_work_items_idle(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut guard = lock(&IDLE.0);
    while RUNNING.load(Ordering::Acquire) != 0 {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        guard = IDLE
            .1
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
    true
}

/// `IoAllocateWorkItem`.
///
/// # Safety
/// `device` is a device object that outlives the work item.
#[no_mangle]
pub unsafe extern "C" fn IoAllocateWorkItem(device: sys::PDEVICE_OBJECT) -> sys::PIO_WORKITEM {
    let item = Box::into_raw(Box::new(WorkItem {
        device: device as usize,
        queued: AtomicBool::new(false),
    }));
    with_work_items(|s| s.insert(item as usize));
    item.cast()
}

/// `IoQueueWorkItem`: runs `routine(device, context)` on a new thread at PASSIVE_LEVEL.
///
/// # Safety
/// `item` came from [`IoAllocateWorkItem`]; `routine` may run with `context` on any thread.
#[no_mangle]
pub unsafe extern "C" fn IoQueueWorkItem(
    item: sys::PIO_WORKITEM,
    routine: sys::PIO_WORKITEM_ROUTINE,
    _queue: sys::WORK_QUEUE_TYPE,
    context: *mut c_void,
) {
    if !with_work_items(|s| s.contains(&(item as usize))) {
        violation(format!("IoQueueWorkItem({item:p}): not a live work item"));
        return;
    }
    // SAFETY: a live work item of ours (checked).
    let w = unsafe { &*item.cast::<WorkItem>() };
    if w.queued.swap(true, Ordering::AcqRel) {
        violation(format!("IoQueueWorkItem({item:p}): already queued"));
        return;
    }
    let Some(routine) = routine else {
        violation("IoQueueWorkItem without a routine");
        return;
    };
    let (device, context) = (w.device, context as usize);
    RUNNING.fetch_add(1, Ordering::AcqRel);
    let spawned = std::thread::Builder::new()
        .name("fake-work-item".into())
        .spawn(move || {
            state::mark_work_item_thread();
            // SAFETY: the routine and context were queued together by the caller.
            unsafe { routine(device as *mut sys::DEVICE_OBJECT, context as *mut c_void) };
            if state::current_irql() != state::PASSIVE_LEVEL {
                violation(
                    "work item routine returned above PASSIVE_LEVEL (a spin lock still held?)",
                );
            }
            let _guard = lock(&IDLE.0);
            RUNNING.fetch_sub(1, Ordering::AcqRel);
            IDLE.1.notify_all();
        });
    if let Err(e) = spawned {
        panic!("fake-kernel: cannot spawn a work item thread: {e}");
    }
}

/// `IoFreeWorkItem` (allowed from the work item's own routine).
///
/// # Safety
/// `item` came from [`IoAllocateWorkItem`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn IoFreeWorkItem(item: sys::PIO_WORKITEM) {
    if !with_work_items(|s| s.remove(&(item as usize))) {
        violation(format!(
            "IoFreeWorkItem({item:p}): not a live work item (double free?)"
        ));
        return;
    }
    // SAFETY: allocated by Box in IoAllocateWorkItem, removed from the live set once.
    drop(unsafe { Box::from_raw(item.cast::<WorkItem>()) });
}

/// `KeBugCheckEx`: the fake panics with the code (the process aborts: this is an FFI boundary).
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn KeBugCheckEx(
    code: u32,
    p1: sys::ULONG_PTR,
    p2: sys::ULONG_PTR,
    p3: sys::ULONG_PTR,
    p4: sys::ULONG_PTR,
) -> ! {
    panic!("KeBugCheckEx({code:#x}, {p1:#x}, {p2:#x}, {p3:#x}, {p4:#x})");
}
