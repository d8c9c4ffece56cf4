//! User code that panics around the breaker: a fallback, a classifier. The
//! panic reaches the caller, and the breaker is left consistent: no permit
//! held, the call counted once, the next call decided normally.
//!
//! Each test uses a breaker name of its own in the global registry, with a
//! `ManualClock` registered before the first call.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use breakerbox::{circuit_breaker, registry, CircuitBreaker, Config, ManualClock, Outcome, State};

#[derive(Debug, PartialEq)]
enum AppError {
    Down,
    Rejected,
}

impl From<breakerbox::Rejected> for AppError {
    fn from(_: breakerbox::Rejected) -> Self {
        AppError::Rejected
    }
}

/// Registers `name` to open after one failure for 10 s, on a manual clock,
/// with a bulkhead of one call so that a leaked permit shows at once.
fn register(name: &str) -> ManualClock {
    let clock = ManualClock::new();
    let config = Config::default()
        .max_failures(1)
        .timeout(Duration::from_secs(10))
        .max_concurrent_calls(1)
        .clock(clock.clone());
    if let Err(e) = registry().configure(name, config) {
        panic!("configuring `{name}`: {e}");
    }
    clock
}

fn breaker_of(name: &str) -> std::sync::Arc<CircuitBreaker> {
    registry()
        .get(name)
        .unwrap_or_else(|| panic!("`{name}` was never created"))
}

fn panic_message<T>(result: std::thread::Result<T>) -> String {
    match result {
        Ok(_) => panic!("the panic did not reach the caller"),
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default(),
    }
}

fn panicking_fallback(_fail: bool) -> Result<u32, AppError> {
    panic!("fallback panicked")
}

#[circuit_breaker(name = "faults-fallback", fallback = panicking_fallback)]
fn lookup(fail: bool) -> Result<u32, AppError> {
    if fail {
        Err(AppError::Down)
    } else {
        Ok(7)
    }
}

#[test]
fn a_panicking_fallback_leaves_the_breaker_consistent() {
    let clock = register("faults-fallback");
    assert_eq!(lookup(true), Err(AppError::Down));
    let cb = breaker_of("faults-fallback");
    assert_eq!(cb.state(), State::Open);

    let message = panic_message(panic::catch_unwind(|| lookup(false)));
    assert_eq!(message, "fallback panicked");

    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.totals.rejected, 1);
    assert_eq!(stats.totals.calls, 2, "one admitted, one rejected");

    // The next probe is admitted and closes the breaker as usual.
    clock.advance(Duration::from_secs(10));
    assert_eq!(lookup(false), Ok(7));
    assert_eq!(cb.state(), State::Closed);
}

fn panicking_classifier(_: &AppError) -> Outcome {
    panic!("classifier panicked")
}

#[circuit_breaker(name = "faults-classify", classify = panicking_classifier)]
fn fetch(fail: bool) -> Result<u32, AppError> {
    if fail {
        Err(AppError::Down)
    } else {
        Ok(1)
    }
}

#[test]
fn a_panicking_classifier_records_a_failure_and_releases_the_permit() {
    let _clock = register("faults-classify");
    let message = panic_message(panic::catch_unwind(|| fetch(true)));
    assert_eq!(message, "classifier panicked");

    let cb = breaker_of("faults-classify");
    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0, "the permit was released");
    assert_eq!(stats.totals.calls, 1);
    assert_eq!(stats.totals.failures, 1, "the call counted once, as failed");
    assert_eq!(stats.totals.cancelled, 0);
    assert_eq!(
        stats.state,
        State::Open,
        "the failure tripped max_failures = 1"
    );
}

#[test]
fn a_panicking_classifier_in_call_with_is_counted_once() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "faults-call-with",
        Config::default()
            .max_failures(5)
            .max_concurrent_calls(1)
            .clock(clock),
    )
    .unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        cb.call_with(
            |_: &AppError| -> Outcome { panic!("classifier panicked") },
            || Err::<(), _>(AppError::Down),
        )
    }));
    assert_eq!(panic_message(caught), "classifier panicked");

    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.totals.failures, 1);
    assert_eq!(stats.period.consecutive_failures, 1);
    assert!(
        cb.call(|| Ok::<_, AppError>(())).is_ok(),
        "the next call is admitted"
    );
}

fn panicking_async_fallback(_fail: bool) -> Result<u32, AppError> {
    panic!("async fallback panicked")
}

#[circuit_breaker(name = "faults-async-fallback", fallback = panicking_async_fallback)]
async fn lookup_async(fail: bool) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    if fail {
        Err(AppError::Down)
    } else {
        Ok(9)
    }
}

#[tokio::test]
async fn a_panicking_fallback_of_an_async_function_leaves_the_breaker_consistent() {
    let clock = register("faults-async-fallback");
    assert_eq!(lookup_async(true).await, Err(AppError::Down));

    let joined = tokio::spawn(lookup_async(false)).await;
    let panicked = joined.expect_err("the fallback's panic did not reach the caller");
    assert!(panicked.is_panic());

    let cb = breaker_of("faults-async-fallback");
    let stats = cb.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.totals.rejected, 1);

    clock.advance(Duration::from_secs(10));
    assert_eq!(lookup_async(false).await, Ok(9));
    assert_eq!(cb.state(), State::Closed);
}
