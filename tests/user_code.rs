//! User code the breaker runs while it decides (a `trip_when` predicate,
//! a custom `Clock`) cannot corrupt it or abort the process, and a probe
//! that never reports cannot keep a breaker half-open for ever.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, State};

mod support;

use support::faulty_clock::FaultyClock;

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_panicking_trip_predicate_does_not_trip_and_the_call_returns() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "predicate-panics",
        Config::default()
            .without_max_failures()
            .trip_when(|_| panic!("bug in the predicate"))
            .clock(clock),
    )
    .unwrap();
    let result = panic::catch_unwind(AssertUnwindSafe(|| cb.call(|| Err::<(), _>("down"))));
    assert!(result.is_ok(), "the predicate's panic reached the caller");
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().period.failures, 1);
}

#[test]
fn a_panicking_trip_predicate_during_an_unwinding_panic_does_not_abort() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "predicate-panics-while-unwinding",
        Config::default()
            .without_max_failures()
            .trip_when(|_| panic!("bug in the predicate"))
            .clock(clock),
    )
    .unwrap();
    // The permit is dropped while the protected code's panic unwinds: it
    // records a failure, which runs the predicate. A second panic there
    // would abort the test process.
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _permit = cb.try_acquire().unwrap();
        panic!("the protected call panicked");
    }));
    assert!(result.is_err());
    assert_eq!(cb.stats().period.failures, 1);
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_panicking_clock_is_read_as_not_having_advanced() {
    let clock = FaultyClock::new(ManualClock::new());
    let cb = CircuitBreaker::new(
        "clock-panics",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(cb.state(), State::Open);
    clock.set_broken(true);
    clock.inner.advance(2 * SEC);
    let state = panic::catch_unwind(AssertUnwindSafe(|| cb.state()));
    assert_eq!(
        state.ok(),
        Some(State::Open),
        "no time passed as far as it knows"
    );
    clock.set_broken(false);
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn a_forgotten_probe_permit_does_not_keep_the_breaker_half_open() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "forgotten-probe",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.advance(SEC);
    let probe = cb.try_acquire().unwrap();
    assert!(probe.is_probe());
    std::mem::forget(probe);
    assert!(cb.try_acquire().is_err(), "the probe slot is taken");
    // No `half_open_max_wait` was set: the default frees the silent
    // probe's slot, and the breaker stays half-open.
    clock.advance(breakerbox::DEFAULT_HALF_OPEN_MAX_WAIT);
    let probe = cb.try_acquire().expect("a new probe is admitted");
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_probe_set_to_wait_too_long_re_opens_the_breaker() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "hung-probe",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .half_open_max_wait(5 * SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.advance(SEC);
    let probe = cb.try_acquire().unwrap();
    clock.advance(5 * SEC);
    assert_eq!(cb.state(), State::Open, "an explicit wait re-opens");
    drop(probe);
}

#[test]
fn a_slow_probe_whose_slot_the_default_wait_freed_still_closes_the_breaker() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "slow-probe",
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .clock(clock.clone()),
    )
    .unwrap();
    cb.call(|| Err::<(), _>("down")).unwrap_err();
    clock.advance(SEC);
    let slow = cb.try_acquire().unwrap();
    clock.advance(breakerbox::DEFAULT_HALF_OPEN_MAX_WAIT + 30 * SEC);
    assert_eq!(cb.state(), State::HalfOpen);
    // Its slot was freed: another probe runs meanwhile.
    let other = cb.try_acquire().expect("the freed slot admits a probe");
    slow.success();
    assert_eq!(cb.state(), State::Closed, "the slow probe's success counts");
    // The other probe's ending is stale and gives back no slot twice.
    other.success();
    assert_eq!(cb.stats().in_flight, 0);
}

#[test]
fn the_default_half_open_max_wait_is_at_least_the_call_timeout() {
    let config = Config::default().call_timeout(5 * 60 * SEC);
    assert_eq!(config.effective_half_open_max_wait(), 5 * 60 * SEC);
    assert_eq!(
        Config::default().effective_half_open_max_wait(),
        breakerbox::DEFAULT_HALF_OPEN_MAX_WAIT
    );
    assert_eq!(
        Config::default()
            .half_open_max_wait(SEC)
            .effective_half_open_max_wait(),
        SEC
    );
}
