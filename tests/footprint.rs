//! The memory a breaker takes: its own size and its heap together, with a
//! count-based policy. The heap is what building it leaves allocated,
//! measured by a counting global allocator.
//!
//! The performance issue set 256 bytes as the target; the breaker takes
//! about 1.3 KB (BENCHMARKS.md says where it goes: the whole `Config`, the
//! period and lifetime counts, per-core counter stripes on cache lines of
//! their own, the window of 100 calls). This test holds that figure so that
//! it cannot grow unnoticed; lower `BUDGET_WITHOUT_STRIPES` whenever the
//! footprint shrinks.
//!
//! Without the `metrics` feature: with it, a breaker also keeps its series'
//! handles and the exporter's way to its counts (the stripes shared in an
//! `Arc`), about 450 bytes more of heap with the facade's no-op recorder
//! (`cargo test --features metrics --test footprint -- --nocapture` fails
//! and prints the figures).
#![cfg(not(feature = "metrics"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;

use breakerbox::{CircuitBreaker, Config};

/// The budget, in bytes, for a breaker with a count-based policy, less its
/// counter stripes (one per core, 128 bytes each, added in the test) and
/// its window's ring ([`RING_BYTES_PER_CALL`] for each call it holds).
const BUDGET_WITHOUT_STRIPES: usize = 924;

/// A count window keeps the number of each failed or slow call among its
/// last N, room for N of them: 4 bytes for each call of its size.
const RING_BYTES_PER_CALL: usize = 4;

struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed, on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    let _ = LIVE.try_with(|n| n.set(n.get() + bytes));
}

// SAFETY: every call is forwarded to `System` unchanged; the counting
// touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What building `make`'s value leaves on the heap (requested sizes, not
/// the allocator's rounding), with the value itself.
fn heap_of<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    let value = make();
    let after = LIVE.with(Cell::get);
    (value, usize::try_from(after - before).unwrap_or(0))
}

#[test]
fn a_count_based_breaker_stays_within_its_footprint_budget() {
    let size = size_of::<CircuitBreaker>();
    let stripes = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16)
        .next_power_of_two();
    let budget = BUDGET_WITHOUT_STRIPES + 128 * stripes + RING_BYTES_PER_CALL * 100;
    // The configuration is built inside the measurement: the breaker keeps
    // it (its clock is an `Arc`); the name "db" is a `&'static str`.
    let (cb, heap) = heap_of(|| {
        CircuitBreaker::new("db", Config::default().failure_rate(0.5).count_window(100)).unwrap()
    });
    // The heap stays put while the breaker is used.
    for i in 0..1_000u64 {
        let _ = cb.call(|| if i.is_multiple_of(4) { Err(i) } else { Ok(i) });
    }
    println!(
        "CircuitBreaker with a count window of 100: size_of = {size} bytes, heap = {heap} bytes, \
         total = {} bytes (budget {budget})",
        size + heap
    );
    assert!(
        size + heap <= budget,
        "a count-based breaker takes {} bytes ({size} inline + {heap} on the heap), over the {budget}-byte budget",
        size + heap
    );
}

#[test]
fn the_counter_measures_the_heap() {
    let (boxed, heap) = heap_of(|| Box::new([0u8; 100]));
    assert_eq!(heap, 100);
    drop(boxed);
}

/// Issue 15's target is 256 bytes for an uncontended breaker with the
/// consecutive policy; this measures where it stands and what it is made
/// of (`cargo test --test footprint -- --nocapture`), and holds the figure
/// so that it cannot grow unnoticed.
#[test]
fn a_consecutive_breaker_stays_within_its_measured_footprint() {
    let size = size_of::<CircuitBreaker>();
    let stripes = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16)
        .next_power_of_two();
    let (cb, heap) = heap_of(|| CircuitBreaker::new("db", Config::default()).unwrap());
    for i in 0..1_000u64 {
        let _ = cb.call(|| if i.is_multiple_of(4) { Err(i) } else { Ok(i) });
    }
    println!(
        "CircuitBreaker, consecutive policy: size_of = {size} bytes (Config alone: {} bytes), \
         heap = {heap} bytes ({stripes} stripes of 128 bytes), total = {} bytes",
        size_of::<Config>(),
        size + heap
    );
    assert!(size + heap <= 896 + 128 * stripes + 16);
}
