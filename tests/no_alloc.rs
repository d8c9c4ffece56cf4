//! No steady-state call path allocates: a counting global allocator, per
//! thread so that the test harness's parallel tests do not disturb each
//! other, counts the allocations of each path after one warm-up call.
//!
//! With the `metrics` feature too (`cargo test --features metrics --test
//! no_alloc`): a breaker registers its series once, when it is built, and
//! the exporter reads its counts on a thread of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breakerbox::{circuit_breaker, CircuitBreaker, Config, Error, Outcome, Rejected, State};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged; the counting
// touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `path` once to warm it up, then counts the allocations of 100 more
/// runs on this thread.
fn allocations(mut path: impl FnMut()) -> u64 {
    path();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        path();
    }
    ALLOCATIONS.with(Cell::get) - before
}

fn assert_no_alloc(what: &str, path: impl FnMut()) {
    let n = allocations(path);
    assert_eq!(n, 0, "{what}: {n} allocations in 100 steady-state calls");
}

/// Polls a future that never waits to completion, with a no-op waker: no
/// runtime, so that nothing but the breaker is counted.
fn run_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited"),
    }
}

fn breaker(config: Config) -> CircuitBreaker {
    CircuitBreaker::new("no-alloc", config).unwrap()
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| {
        black_box(Box::new(black_box(1u64)));
    });
    assert_eq!(n, 100);
}

#[test]
fn closed_successful_call() {
    let cb = breaker(Config::default());
    assert_no_alloc("closed success via call", || {
        black_box(cb.call(|| Ok::<u64, u64>(black_box(1)))).unwrap();
    });
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn closed_failing_call_below_the_threshold() {
    let cb = breaker(Config::default().max_failures(1_000));
    assert_no_alloc("closed failing call below the threshold", || {
        let result = black_box(cb.call(|| Err::<u64, u64>(black_box(1))));
        assert!(matches!(result, Err(Error::Inner(1))));
    });
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn open_rejection() {
    let cb = breaker(Config::default().max_failures(1));
    let _ = cb.call(|| Err::<u64, u64>(1));
    assert_eq!(cb.state(), State::Open);
    // The rejection carries the breaker's name: a short name copied in,
    // a long one shared (its count bumped); neither allocates.
    assert_no_alloc("open rejection via call", || {
        let result = black_box(cb.call(|| Ok::<u64, u64>(black_box(1))));
        assert!(matches!(result, Err(Error::Rejected(_))));
    });
    assert_no_alloc("open rejection via try_acquire", || {
        let rejected: Rejected = black_box(cb.try_acquire()).unwrap_err();
        black_box(rejected.breaker());
    });
}

#[test]
fn open_rejection_with_a_long_name() {
    let name = "a-breaker-name-too-long-to-be-copied-into-the-name".to_owned();
    let cb = CircuitBreaker::new(name.as_str(), Config::default().max_failures(1)).unwrap();
    let _ = cb.call(|| Err::<u64, u64>(1));
    assert_no_alloc("open rejection, long name", || {
        let rejected: Rejected = black_box(cb.try_acquire()).unwrap_err();
        black_box(rejected.breaker());
    });
}

#[test]
fn permit_api() {
    let cb = breaker(Config::default().max_failures(1_000));
    assert_no_alloc("permit success", || cb.try_acquire().unwrap().success());
    assert_no_alloc("permit failure", || cb.try_acquire().unwrap().failure());
    assert_no_alloc("permit ignore", || cb.try_acquire().unwrap().ignore());
    assert_no_alloc("permit record", || {
        cb.try_acquire().unwrap().record(Outcome::Success)
    });
    assert_no_alloc("permit dropped unused", || drop(cb.try_acquire().unwrap()));
    assert_eq!(cb.state(), State::Closed);
}

#[derive(Debug)]
enum AttrError {
    Failed,
    Rejected,
}

impl From<Rejected> for AttrError {
    fn from(_: Rejected) -> Self {
        AttrError::Rejected
    }
}

#[circuit_breaker(name = "no-alloc-sync", max_failures = 1000)]
fn annotated(fail: bool) -> Result<u64, AttrError> {
    if black_box(fail) {
        Err(AttrError::Failed)
    } else {
        Ok(1)
    }
}

#[circuit_breaker(name = "no-alloc-async", max_failures = 1000)]
async fn annotated_async(fail: bool) -> Result<u64, AttrError> {
    if black_box(fail) {
        Err(AttrError::Failed)
    } else {
        Ok(1)
    }
}

#[circuit_breaker(name = "no-alloc-open", max_failures = 1)]
fn annotated_open(fail: bool) -> Result<u64, AttrError> {
    if black_box(fail) {
        Err(AttrError::Failed)
    } else {
        Ok(1)
    }
}

#[test]
fn annotated_function_after_its_first_call() {
    // The first call registers the breaker (that allocates); `allocations`
    // warms each path up before counting.
    assert_no_alloc("annotated sync fn, success", || {
        assert!(matches!(annotated(false), Ok(1)));
    });
    assert_no_alloc("annotated sync fn, failure", || {
        assert!(matches!(annotated(true), Err(AttrError::Failed)));
    });
    assert_no_alloc("annotated async fn, success", || {
        assert!(matches!(run_ready(annotated_async(false)), Ok(1)));
    });
    assert_no_alloc("annotated async fn, failure", || {
        assert!(matches!(
            run_ready(annotated_async(true)),
            Err(AttrError::Failed)
        ));
    });
    let _ = annotated_open(true);
    assert_no_alloc("annotated sync fn, open rejection", || {
        assert!(matches!(annotated_open(false), Err(AttrError::Rejected)));
    });
}

#[test]
fn call_async_polled_by_hand() {
    let cb = breaker(Config::default().max_failures(1_000));
    assert_no_alloc("call_async, success", || {
        let result = run_ready(cb.call_async(|| async { Ok::<u64, u64>(black_box(1)) }));
        assert!(result.is_ok());
    });
    assert_no_alloc("call_async, failure", || {
        let result = run_ready(cb.call_async(|| async { Err::<u64, u64>(black_box(1)) }));
        assert!(matches!(result, Err(Error::Inner(1))));
    });
}

#[test]
fn call_async_on_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cb = breaker(Config::default());
    // One `block_on` for all the calls: the runtime's own bookkeeping is
    // outside the counted calls' steady state.
    rt.block_on(async {
        let path = async || {
            black_box(
                cb.call_async(|| async { Ok::<u64, u64>(black_box(1)) })
                    .await,
            )
            .unwrap();
        };
        path().await;
        let before = ALLOCATIONS.with(Cell::get);
        for _ in 0..100 {
            path().await;
        }
        let n = ALLOCATIONS.with(Cell::get) - before;
        assert_eq!(
            n, 0,
            "call_async on a current-thread runtime: {n} allocations"
        );
    });
}

/// One call in four fails: the breaker records both kinds and stays closed.
fn mixed_calls(cb: &CircuitBreaker) -> impl FnMut() + '_ {
    let mut i = 0u64;
    move || {
        i += 1;
        let _ = black_box(cb.call(|| if i.is_multiple_of(4) { Err(i) } else { Ok(i) }));
    }
}

#[test]
fn count_window_policy() {
    let cb = breaker(Config::default().failure_rate(0.5).count_window(100));
    // Past the window's size, so that slots are overwritten too.
    for _ in 0..200 {
        mixed_calls(&cb)();
    }
    assert_no_alloc("count window", mixed_calls(&cb));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn time_window_policy() {
    let cb = breaker(
        Config::default()
            .failure_rate(0.5)
            .time_window(Duration::from_secs(60)),
    );
    assert_no_alloc("time window", mixed_calls(&cb));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn time_window_rolling_over_buckets() {
    let clock = breakerbox::ManualClock::new();
    let cb = CircuitBreaker::new(
        "no-alloc-rolling",
        Config::default()
            .failure_rate(0.5)
            .time_window(Duration::from_secs(10))
            .clock(clock.clone()),
    )
    .unwrap();
    let mut calls = mixed_calls(&cb);
    assert_no_alloc("time window, buckets expiring", || {
        clock.advance(Duration::from_millis(700));
        calls();
    });
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn slow_call_policy() {
    let cb = breaker(
        Config::default()
            .slow_call_duration(Duration::from_secs(1))
            .slow_call_rate(0.5),
    );
    assert_no_alloc("slow calls", mixed_calls(&cb));
    assert_eq!(cb.state(), State::Closed);
}
