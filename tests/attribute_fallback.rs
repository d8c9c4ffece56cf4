//! `#[circuit_breaker]`'s `fallback`, `classify` and `call_timeout` keys.
//!
//! Tests share the global registry and run in parallel, so each uses a
//! breaker name of its own. Time is driven by a `ManualClock` registered
//! for the breaker before its first call, never by sleeping.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use breakerbox::{circuit_breaker, registry, Outcome, State};
use support::registered::{state_of, trips_after_one_failure};

#[derive(Debug, PartialEq)]
enum AppError {
    Down,
    NotFound,
    Rejected,
    TimedOut,
}

impl From<breakerbox::Rejected> for AppError {
    fn from(_: breakerbox::Rejected) -> Self {
        AppError::Rejected
    }
}

impl From<breakerbox::TimedOut> for AppError {
    fn from(_: breakerbox::TimedOut) -> Self {
        AppError::TimedOut
    }
}

static CACHED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "fallback-only-on-rejection", fallback = cached_price)]
fn price(item: u32, fail: bool) -> Result<u32, AppError> {
    if fail {
        return Err(AppError::Down);
    }
    Ok(item * 100)
}

fn cached_price(item: u32, _fail: bool) -> Result<u32, AppError> {
    CACHED_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(item)
}

#[test]
fn fallback_runs_only_when_the_call_is_rejected() {
    let clock = trips_after_one_failure("fallback-only-on-rejection");

    // The body's own error is returned as is, not replaced by the fallback.
    assert_eq!(price(3, true), Err(AppError::Down));
    assert_eq!(CACHED_CALLS.load(Ordering::SeqCst), 0);
    assert_eq!(state_of("fallback-only-on-rejection"), Some(State::Open));

    // Open: the body does not run; the fallback answers with the arguments.
    assert_eq!(price(3, true), Ok(3));
    assert_eq!(CACHED_CALLS.load(Ordering::SeqCst), 1);

    // After the open period a probe runs the body again, and closes it.
    clock.advance(Duration::from_secs(10));
    assert_eq!(price(3, false), Ok(300));
    assert_eq!(CACHED_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(state_of("fallback-only-on-rejection"), Some(State::Closed));
}

#[circuit_breaker(name = "fallback-sync", fallback = default_greeting)]
fn greeting(name: String) -> Result<String, AppError> {
    let _ = name;
    Err(AppError::Down)
}

fn default_greeting(name: String) -> Result<String, AppError> {
    Ok(format!("hello, {name} (cached)"))
}

#[test]
fn sync_fallback_receives_the_arguments() {
    trips_after_one_failure("fallback-sync");
    assert_eq!(greeting("ann".into()), Err(AppError::Down));
    assert_eq!(greeting("bob".into()).as_deref(), Ok("hello, bob (cached)"));
}

#[circuit_breaker(name = "fallback-async-sync", fallback = stale_quote)]
async fn quote(symbol: &'static str) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    let _ = symbol;
    Err(AppError::Down)
}

fn stale_quote(symbol: &'static str) -> Result<u32, AppError> {
    Ok(symbol.len() as u32)
}

#[tokio::test]
async fn async_fn_takes_a_sync_fallback() {
    trips_after_one_failure("fallback-async-sync");
    assert_eq!(quote("ACME").await, Err(AppError::Down));
    assert_eq!(quote("ACME").await, Ok(4));
}

#[circuit_breaker(name = "fallback-async-async", fallback = replica_lookup)]
async fn lookup(id: u64) -> Result<u64, AppError> {
    tokio::task::yield_now().await;
    let _ = id;
    Err(AppError::Down)
}

async fn replica_lookup(id: u64) -> Result<u64, AppError> {
    tokio::task::yield_now().await;
    Ok(id + 1000)
}

#[tokio::test]
async fn async_fn_takes_an_async_fallback() {
    trips_after_one_failure("fallback-async-async");
    assert_eq!(lookup(1).await, Err(AppError::Down));
    assert_eq!(lookup(1).await, Ok(1001));
}

struct Client {
    cache: Vec<u32>,
}

impl Client {
    #[circuit_breaker(name = "fallback-method", fallback = Self::cached)]
    fn fetch(&self, index: usize) -> Result<u32, AppError> {
        let _ = index;
        Err(AppError::Down)
    }

    fn cached(&self, index: usize) -> Result<u32, AppError> {
        self.cache.get(index).copied().ok_or(AppError::NotFound)
    }

    #[circuit_breaker(name = "fallback-async-method", fallback = Self::cached_async)]
    async fn fetch_async(&mut self, index: usize) -> Result<u32, AppError> {
        let _ = index;
        Err(AppError::Down)
    }

    async fn cached_async(&mut self, index: usize) -> Result<u32, AppError> {
        self.cache[index] += 1;
        Ok(self.cache[index])
    }
}

#[test]
fn method_fallback_receives_the_receiver_first() {
    trips_after_one_failure("fallback-method");
    let client = Client {
        cache: vec![10, 20],
    };
    assert_eq!(client.fetch(1), Err(AppError::Down));
    assert_eq!(client.fetch(1), Ok(20));
}

#[tokio::test]
async fn async_method_fallback_receives_the_receiver_first() {
    trips_after_one_failure("fallback-async-method");
    let mut client = Client {
        cache: vec![10, 20],
    };
    assert_eq!(client.fetch_async(0).await, Err(AppError::Down));
    assert_eq!(client.fetch_async(0).await, Ok(11));
    assert_eq!(client.cache, [11, 20]);
}

#[circuit_breaker(name = "fallback-patterns", fallback = sum_fallback)]
fn sum((a, b): (u32, u32), _: &str, mut extra: u32) -> Result<u32, AppError> {
    extra += 1;
    let _ = (a, b, extra);
    Err(AppError::Down)
}

fn sum_fallback(pair: (u32, u32), label: &str, extra: u32) -> Result<u32, AppError> {
    Ok(pair.0 + pair.1 + label.len() as u32 + extra)
}

#[test]
fn pattern_arguments_reach_the_fallback_whole() {
    trips_after_one_failure("fallback-patterns");
    assert_eq!(sum((1, 2), "abc", 4), Err(AppError::Down));
    assert_eq!(sum((1, 2), "abc", 4), Ok(10));
}

/// Only an outage counts against the dependency; a missing row does not.
fn is_outage(error: &AppError) -> bool {
    *error == AppError::Down
}

#[circuit_breaker(name = "classify-bool", max_failures = 2, classify = is_outage)]
fn find(found: bool, outage: bool) -> Result<u32, AppError> {
    match (found, outage) {
        (_, true) => Err(AppError::Down),
        (false, false) => Err(AppError::NotFound),
        (true, false) => Ok(1),
    }
}

#[test]
fn bool_classifier_ignores_errors_it_answers_false_for() {
    for _ in 0..5 {
        assert_eq!(find(false, false), Err(AppError::NotFound));
    }
    assert_eq!(state_of("classify-bool"), Some(State::Closed));

    assert_eq!(find(true, true), Err(AppError::Down));
    assert_eq!(find(true, true), Err(AppError::Down));
    assert_eq!(state_of("classify-bool"), Some(State::Open));
}

fn outcome_of(error: &AppError) -> Outcome {
    match error {
        AppError::NotFound => Outcome::Ignored,
        AppError::Down => Outcome::Failure,
        // Answering `Success` for an error is allowed: the call counts as a
        // success, as for a cache miss that is expected.
        AppError::Rejected | AppError::TimedOut => Outcome::Success,
    }
}

#[circuit_breaker(name = "classify-outcome", max_failures = 1, classify = outcome_of)]
async fn find_async(error: AppError) -> Result<(), AppError> {
    Err(error)
}

#[tokio::test]
async fn outcome_classifier_decides_how_each_error_counts() {
    assert_eq!(
        find_async(AppError::NotFound).await,
        Err(AppError::NotFound)
    );
    assert_eq!(
        find_async(AppError::TimedOut).await,
        Err(AppError::TimedOut)
    );
    assert_eq!(state_of("classify-outcome"), Some(State::Closed));
    let totals = registry()
        .get("classify-outcome")
        .map(|cb| cb.stats().totals);
    assert_eq!(
        totals.map(|t| (t.ignored, t.successes, t.failures)),
        Some((1, 1, 0))
    );

    assert_eq!(find_async(AppError::Down).await, Err(AppError::Down));
    assert_eq!(state_of("classify-outcome"), Some(State::Open));
}

#[circuit_breaker(name = "call-timeout", max_failures = 1, call_timeout = "1s")]
async fn slow_call(work: Duration) -> Result<&'static str, AppError> {
    tokio::time::sleep(work).await;
    Ok("done")
}

#[tokio::test(start_paused = true)]
async fn call_timeout_cancels_a_slow_call_and_counts_a_failure() {
    assert_eq!(slow_call(Duration::from_millis(999)).await, Ok("done"));
    assert_eq!(state_of("call-timeout"), Some(State::Closed));

    assert_eq!(
        slow_call(Duration::from_secs(5)).await,
        Err(AppError::TimedOut)
    );
    let totals = registry().get("call-timeout").map(|cb| cb.stats().totals);
    assert_eq!(totals.map(|t| (t.successes, t.timeouts)), Some((1, 1)));
    assert_eq!(state_of("call-timeout"), Some(State::Open));
}
