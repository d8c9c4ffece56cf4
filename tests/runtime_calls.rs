//! Making calls: `call`, `call_with`, the permit API, panics, the bulkhead,
//! rejections and the stats they leave behind.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, Error, ManualClock, Outcome, RejectReason, Rejected, State,
};

const SEC: Duration = Duration::from_secs(1);

fn breaker(name: &str, config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(name, config.clock(clock.clone())).unwrap();
    (cb, clock)
}

fn trip(cb: &CircuitBreaker) {
    while cb.state() == State::Closed {
        let _ = cb.call(|| Err::<(), _>("down"));
    }
    assert_eq!(cb.state(), State::Open);
}

// ----- names ------------------------------------------------------------------

/// A name borrowed for a moment (a function's `&str` parameter, a slice of
/// request data) is copied: no `'static` and no `.to_owned()` needed.
#[test]
fn a_breaker_takes_a_borrowed_name_of_any_length() {
    fn named(name: &str) -> CircuitBreaker {
        CircuitBreaker::new(name, Config::default()).unwrap()
    }
    let short = String::from("users-db");
    let long = "a-breaker-name-longer-than-any-inline-buffer/".repeat(3);
    assert_eq!(named(short.as_str()).name(), "users-db");
    assert_eq!(named(long.as_str()).name(), long);
    let cb = named(short.as_str());
    cb.force_open();
    assert_eq!(cb.try_acquire().unwrap_err().breaker(), "users-db");
}

// ----- call and call_with -------------------------------------------------------

#[test]
fn call_returns_ok_and_records_a_success() {
    let (cb, _clock) = breaker("calls", Config::default());
    assert_eq!(cb.call(|| Ok::<_, ()>(42)), Ok(42));
    let stats = cb.stats();
    assert_eq!(stats.period.calls, 1);
    assert_eq!(stats.period.successes, 1);
    assert_eq!(stats.totals.successes, 1);
    assert_eq!(stats.totals.failures, 0);
}

#[test]
fn call_returns_err_as_inner_and_records_a_failure() {
    let (cb, _clock) = breaker("calls", Config::default());
    let result = cb.call(|| Err::<(), _>("refused"));
    assert_eq!(result, Err(Error::Inner("refused")));
    assert_eq!(result.unwrap_err().into_inner(), Some("refused"));
    let stats = cb.stats();
    assert_eq!(stats.period.failures, 1);
    assert_eq!(stats.period.consecutive_failures, 1);
    assert_eq!(stats.totals.failures, 1);
}

#[test]
fn a_rejected_call_is_error_rejected() {
    let (cb, _clock) = breaker("calls", Config::default());
    cb.force_open();
    let result = cb.call(|| Ok::<_, ()>(()));
    assert!(result.as_ref().unwrap_err().is_rejected());
    assert_eq!(result.unwrap_err().into_inner(), None);
}

#[test]
fn call_with_ignored_error_counts_neither_success_nor_failure() {
    let (cb, _clock) = breaker("calls", Config::default().max_failures(1));
    let result = cb.call_with(|_: &u16| Outcome::Ignored, || Err::<(), u16>(404));
    assert_eq!(result, Err(Error::Inner(404)));
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.period.ignored, 1);
    assert_eq!(stats.period.failures, 0);
    assert_eq!(stats.period.successes, 0);
    assert_eq!(stats.totals.ignored, 1);
}

#[test]
fn call_with_can_classify_an_error_as_a_success() {
    let (cb, _clock) = breaker("calls", Config::default().max_failures(1));
    let result = cb.call_with(|_: &u16| Outcome::Success, || Err::<(), u16>(304));
    assert_eq!(
        result,
        Err(Error::Inner(304)),
        "the caller still sees the error"
    );
    let stats = cb.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.period.successes, 1);
    assert_eq!(stats.totals.successes, 1);
}

#[test]
fn call_with_failure_classification_trips() {
    let classify = |e: &u16| Outcome::from(*e >= 500);
    let (cb, _clock) = breaker("calls", Config::default().max_failures(1));
    let _ = cb.call_with(classify, || Err::<(), u16>(404));
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call_with(classify, || Err::<(), u16>(503));
    assert_eq!(cb.state(), State::Open);
}

/// The attribute's `classify` shape: `true` is a failure, `false` ignored.
#[test]
fn call_with_takes_a_classifier_that_answers_whether_an_error_is_a_failure() {
    let (cb, _clock) = breaker("calls", Config::default().max_failures(1));
    let is_outage = |e: &u16| *e >= 500;
    let _ = cb.call_with(is_outage, || Err::<(), u16>(404));
    assert_eq!(cb.stats().totals.ignored, 1);
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call_with(is_outage, || Err::<(), u16>(503));
    assert_eq!(cb.state(), State::Open);
}

/// A named function works as well as a closure.
#[test]
fn call_with_takes_a_classifier_function() {
    fn is_outage(e: &u16) -> bool {
        *e >= 500
    }
    let (cb, _clock) = breaker("calls", Config::default());
    let _ = cb.call_with(is_outage, || Err::<(), u16>(404));
    assert_eq!(cb.stats().totals.ignored, 1);
}

#[test]
fn call_with_does_not_classify_a_success() {
    let (cb, _clock) = breaker("calls", Config::default());
    let result = cb.call_with(
        |_: &()| -> Outcome { panic!("classified an Ok") },
        || Ok::<_, ()>(1),
    );
    assert_eq!(result, Ok(1));
}

#[test]
fn outcome_from_bool_maps_true_to_failure_and_false_to_ignored() {
    assert_eq!(Outcome::from(true), Outcome::Failure);
    assert_eq!(Outcome::from(false), Outcome::Ignored);
}

// ----- panics -------------------------------------------------------------------

#[test]
fn a_panic_in_call_propagates_is_recorded_as_a_failure_and_releases_the_permit() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("boom") });
    }));
    let payload = caught.expect_err("the panic did not propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    let stats = cb.stats();
    assert_eq!(stats.period.failures, 1);
    assert_eq!(stats.totals.failures, 1);
    assert_eq!(stats.in_flight, 0);
    assert!(
        cb.try_acquire().is_ok(),
        "the bulkhead place was not released"
    );
}

#[test]
fn a_permit_dropped_during_a_panic_counts_as_a_failure() {
    let (cb, _clock) = breaker("calls", Config::default().max_failures(1));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _permit = cb.try_acquire().unwrap();
        panic!("boom");
    }));
    assert!(caught.is_err());
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.totals.failures, 1);
    assert_eq!(stats.totals.cancelled, 0);
}

// ----- the permit API -----------------------------------------------------------

#[test]
fn permit_success_records_a_success() {
    let (cb, _clock) = breaker("calls", Config::default());
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.stats().period.successes, 1);
}

#[test]
fn permit_failure_records_a_failure() {
    let (cb, _clock) = breaker("calls", Config::default());
    cb.try_acquire().unwrap().failure();
    assert_eq!(cb.stats().period.failures, 1);
}

#[test]
fn permit_ignore_records_an_ignored_call() {
    let (cb, _clock) = breaker("calls", Config::default());
    cb.try_acquire().unwrap().ignore();
    let stats = cb.stats();
    assert_eq!(stats.period.ignored, 1);
    assert_eq!(stats.totals.ignored, 1);
}

#[test]
fn permit_record_records_the_given_outcome() {
    let (cb, _clock) = breaker("calls", Config::default());
    cb.try_acquire().unwrap().record(Outcome::Success);
    cb.try_acquire().unwrap().record(Outcome::Failure);
    cb.try_acquire().unwrap().record(Outcome::Ignored);
    let totals = cb.stats().totals;
    assert_eq!(
        (totals.successes, totals.failures, totals.ignored),
        (1, 1, 1)
    );
}

#[test]
fn a_permit_dropped_unused_records_nothing_and_is_released() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(1));
    let permit = cb.try_acquire().unwrap();
    assert!(!permit.is_probe());
    assert_eq!(permit.breaker().name(), "calls");
    drop(permit);
    let stats = cb.stats();
    assert_eq!(
        stats.period.successes + stats.period.failures + stats.period.ignored,
        0
    );
    assert_eq!(stats.totals.cancelled, 1);
    assert_eq!(stats.in_flight, 0);
    assert!(
        cb.try_acquire().is_ok(),
        "the dropped permit still holds its place"
    );
}

#[test]
fn running_calls_counts_held_permits() {
    let (cb, _clock) = breaker("calls", Config::default());
    let first = cb.try_acquire().unwrap();
    let second = cb.try_acquire().unwrap();
    assert_eq!(cb.stats().in_flight, 2);
    first.success();
    assert_eq!(cb.stats().in_flight, 1);
    drop(second);
    assert_eq!(cb.stats().in_flight, 0);
}

// ----- the bulkhead ---------------------------------------------------------------

#[test]
fn bulkhead_rejects_too_many_concurrent_calls() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(2));
    let first = cb.try_acquire().unwrap();
    let second = cb.try_acquire().unwrap();
    let mut ran = false;
    let result = cb.call(|| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert!(!ran);
    match result {
        Err(Error::Rejected(r)) => assert_eq!(r.reason(), RejectReason::TooManyCalls),
        other => panic!("expected a bulkhead rejection, got {other:?}"),
    }
    assert_eq!(cb.stats().period.rejected, 1);
    drop((first, second));
}

#[test]
fn bulkhead_frees_a_place_when_a_call_completes() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(1));
    let first = cb.try_acquire().unwrap();
    assert!(cb.try_acquire().is_err());
    first.success();
    assert!(cb.try_acquire().is_ok());
}

#[test]
fn bulkhead_checks_the_state_first_when_forced_open() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(1));
    let running = cb.try_acquire().unwrap();
    cb.force_open();
    assert_eq!(
        cb.try_acquire().unwrap_err().reason(),
        RejectReason::ForcedOpen
    );
    drop(running);
}

#[test]
fn bulkhead_checks_the_state_first_when_open() {
    // Two hung probes fill the bulkhead, then re-open the breaker.
    let config = Config::default()
        .max_failures(1)
        .max_concurrent_calls(2)
        .half_open_max_calls(2)
        .half_open_max_wait(10 * SEC);
    let (cb, clock) = breaker("calls", config);
    trip(&cb);
    clock.advance(60 * SEC);
    let hung = (cb.try_acquire().unwrap(), cb.try_acquire().unwrap());
    clock.advance(10 * SEC);
    let stats = cb.stats();
    assert_eq!((stats.state, stats.in_flight), (State::Open, 2));
    let rejected = cb.try_acquire().unwrap_err();
    assert!(
        matches!(rejected.reason(), RejectReason::Open { .. }),
        "{rejected}"
    );
    drop(hung);
}

#[test]
fn bulkhead_does_not_apply_while_disabled() {
    let (cb, _clock) = breaker("calls", Config::default().max_concurrent_calls(1));
    cb.disable();
    let first = cb.try_acquire().unwrap();
    let second = cb
        .try_acquire()
        .expect("a disabled breaker admits every call");
    drop((first, second));
}

// ----- Rejected -----------------------------------------------------------------

#[test]
fn rejected_by_an_open_breaker_says_when_to_retry() {
    let (cb, clock) = breaker(
        "payments",
        Config::default().max_failures(1).timeout(60 * SEC),
    );
    trip(&cb);
    clock.advance(48 * SEC);
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(rejected.breaker(), "payments");
    assert_eq!(
        rejected.reason(),
        RejectReason::Open {
            retry_after: 12 * SEC
        }
    );
    assert_eq!(rejected.retry_after(), Some(12 * SEC));
    assert_eq!(
        rejected.to_string(),
        "circuit breaker `payments` rejected the call: open, retry in 12s"
    );
}

#[test]
fn rejected_forced_open_display() {
    let (cb, _clock) = breaker("payments", Config::default());
    cb.force_open();
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), None);
    assert_eq!(
        rejected.to_string(),
        "circuit breaker `payments` rejected the call: forced open"
    );
}

#[test]
fn rejected_half_open_full_display() {
    let (cb, clock) = breaker("payments", Config::default().max_failures(1));
    trip(&cb);
    clock.advance(60 * SEC);
    let probe = cb.try_acquire().unwrap();
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::HalfOpenFull);
    assert_eq!(rejected.retry_after(), None);
    assert_eq!(
        rejected.to_string(),
        "circuit breaker `payments` rejected the call: half-open and all probe slots are taken"
    );
    drop(probe);
}

#[test]
fn rejected_too_many_calls_display() {
    let (cb, _clock) = breaker("payments", Config::default().max_concurrent_calls(1));
    let running = cb.try_acquire().unwrap();
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), None);
    assert_eq!(
        rejected.to_string(),
        "circuit breaker `payments` rejected the call: too many concurrent calls"
    );
    drop(running);
}

#[test]
fn error_rejected_displays_the_rejection() {
    let (cb, _clock) = breaker("payments", Config::default());
    cb.force_open();
    let error = cb.call(|| Ok::<_, io::Error>(())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "circuit breaker `payments` rejected the call: forced open"
    );
}

#[test]
fn io_error_from_rejected_keeps_the_rejection() {
    let (cb, _clock) = breaker("payments", Config::default());
    cb.force_open();
    let rejected = cb.try_acquire().unwrap_err();
    let error = io::Error::from(rejected.clone());
    assert_eq!(error.to_string(), rejected.to_string());
    let inner = error.get_ref().and_then(|e| e.downcast_ref::<Rejected>());
    assert_eq!(inner, Some(&rejected));
}

#[test]
fn rejected_converts_with_question_mark_into_io_error() {
    fn guarded(cb: &CircuitBreaker) -> io::Result<()> {
        let permit = cb.try_acquire()?;
        permit.success();
        Ok(())
    }
    let (cb, _clock) = breaker("payments", Config::default());
    cb.force_open();
    assert!(guarded(&cb).is_err());
}

// ----- stats --------------------------------------------------------------------

#[test]
fn stats_failure_rate_is_over_the_period_without_a_window() {
    let (cb, _clock) = breaker("stats", Config::default());
    assert_eq!(cb.stats().failure_rate, 0.0, "no calls, no failures");
    let _ = cb.call(|| Err::<(), _>(()));
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call_with(|_| Outcome::Ignored, || Err::<(), _>(()));
    assert!((cb.stats().failure_rate - 0.25).abs() < 1e-9);
}

#[test]
fn stats_time_until_half_open_is_some_only_while_open() {
    let (cb, clock) = breaker("stats", Config::default().max_failures(1).timeout(30 * SEC));
    assert_eq!(cb.stats().time_until_half_open, None);
    trip(&cb);
    clock.advance(10 * SEC);
    assert_eq!(cb.stats().time_until_half_open, Some(20 * SEC));
    clock.advance(20 * SEC);
    let stats = cb.stats();
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.time_until_half_open, None);
    cb.force_open();
    assert_eq!(cb.stats().time_until_half_open, None);
}

#[test]
fn stats_open_count_counts_every_opening() {
    let (cb, clock) = breaker("stats", Config::default().max_failures(1));
    assert_eq!(cb.stats().open_count, 0);
    trip(&cb);
    clock.advance(60 * SEC);
    cb.try_acquire().unwrap().failure();
    cb.reset();
    trip(&cb);
    assert_eq!(cb.stats().open_count, 3);
}

#[test]
fn stats_time_in_state_restarts_at_each_state_change() {
    let (cb, clock) = breaker("stats", Config::default().max_failures(1));
    clock.advance(7 * SEC);
    assert_eq!(cb.stats().time_in_state, 7 * SEC);
    trip(&cb);
    clock.advance(3 * SEC);
    assert_eq!(cb.stats().time_in_state, 3 * SEC);
}

#[test]
fn stats_names_the_breaker_and_its_state() {
    let (cb, _clock) = breaker("stats", Config::default());
    let stats = cb.stats();
    assert_eq!(stats.name, "stats");
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.open_duration, 60 * SEC);
}

#[test]
fn totals_count_cancelled_and_stale_calls() {
    let (cb, _clock) = breaker("stats", Config::default().max_failures(1));
    drop(cb.try_acquire().unwrap());
    let stale = cb.try_acquire().unwrap();
    let dropped_stale = cb.try_acquire().unwrap();
    trip(&cb);
    stale.success();
    drop(dropped_stale);
    let totals = cb.stats().totals;
    assert_eq!(totals.cancelled, 2);
    assert_eq!(totals.stale, 1, "a cancelled call reports no stale result");
    assert_eq!(totals.successes, 1);
    assert_eq!(totals.calls, 4);
}

#[test]
fn every_admitted_call_ends_in_exactly_one_total() {
    let (cb, _clock) = breaker("stats", Config::default().max_failures(100));
    for i in 0..40 {
        let permit = cb.try_acquire().unwrap();
        match i % 4 {
            0 => permit.success(),
            1 => permit.failure(),
            2 => permit.ignore(),
            _ => drop(permit),
        }
    }
    let totals = cb.stats().totals;
    assert_eq!(totals.calls, 40);
    assert_eq!(
        (
            totals.successes,
            totals.failures,
            totals.ignored,
            totals.cancelled
        ),
        (10, 10, 10, 10)
    );
}

// ----- how a rejection prints ---------------------------------------------------

#[test]
fn an_open_rejection_debug_prints_the_reason_and_the_retry_delay_as_a_duration() {
    let (cb, clock) = breaker(
        "debug-open",
        Config::default().max_failures(1).timeout(60 * SEC),
    );
    trip(&cb);
    clock.advance(Duration::from_nanos(4_431_568_512));
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(
        format!("{rejected:?}"),
        r#"Rejected { breaker: "debug-open", reason: Open { retry_after: 55.569s } }"#
    );
}

#[test]
fn an_error_enum_holding_a_rejection_debug_prints_no_internals() {
    #[derive(Debug)]
    #[allow(dead_code)]
    enum DbError {
        Breaker(Rejected),
    }
    let (cb, _clock) = breaker("debug-forced", Config::default());
    cb.force_open();
    let error = DbError::Breaker(cb.try_acquire().unwrap_err());
    assert_eq!(
        format!("{error:?}"),
        r#"Breaker(Rejected { breaker: "debug-forced", reason: ForcedOpen })"#
    );
}

#[test]
fn a_rejection_with_less_than_a_millisecond_left_says_retry_in_one_millisecond() {
    let (cb, clock) = breaker(
        "display-rounding",
        Config::default().max_failures(1).timeout(SEC),
    );
    trip(&cb);
    clock.advance(SEC - Duration::from_micros(400));
    let rejected = cb.try_acquire().unwrap_err();
    assert!(
        rejected.to_string().ends_with("open, retry in 1ms"),
        "{rejected}"
    );
}
