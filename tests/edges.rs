//! Extreme durations and clocks: nothing overflows or panics.

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, State};

fn trip(cb: &CircuitBreaker) {
    cb.try_acquire().unwrap().failure();
}

#[test]
fn a_maximal_timeout_keeps_the_breaker_open_without_overflow() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "edge-max-timeout",
        Config::default()
            .max_failures(1)
            .timeout(Duration::MAX)
            .clock(clock.clone()),
    )
    .unwrap();
    clock.advance(Duration::from_secs(3600));
    trip(&cb);
    clock.advance(Duration::from_secs(86_400 * 365));
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert!(stats.time_until_half_open.is_some());
}

#[test]
fn backoff_with_a_maximal_cap_saturates_instead_of_panicking() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "edge-max-backoff",
        Config::default()
            .max_failures(1)
            .timeout(Duration::from_secs(1))
            .backoff_multiplier(1e300)
            .backoff_max(Duration::MAX)
            .clock(clock.clone()),
    )
    .unwrap();
    trip(&cb);
    clock.advance(Duration::from_secs(1));
    trip(&cb); // the probe fails: open for 1e300 s, capped at Duration::MAX
    assert_eq!(cb.stats().open_duration, Duration::MAX);
    // An open period of Duration::MAX outlasts any clock: still open.
    clock.advance(Duration::MAX);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_clock_at_its_limit_still_reports_consistent_stats() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(
        "edge-clock-limit",
        Config::default()
            .max_failures(1)
            .interval(Duration::MAX)
            .time_window(Duration::MAX)
            .failure_rate(0.5)
            .clock(clock.clone()),
    )
    .unwrap();
    clock.advance(Duration::MAX);
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.stats().period.successes, 1);
    trip(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_clock_set_backwards_does_not_panic() {
    let clock = ManualClock::new();
    clock.set(Duration::from_secs(1000));
    let cb = CircuitBreaker::new(
        "edge-backwards",
        Config::default()
            .max_failures(1)
            .slow_call_duration(Duration::from_secs(1))
            .clock(clock.clone()),
    )
    .unwrap();
    let permit = cb.try_acquire().unwrap();
    clock.set(Duration::ZERO);
    permit.failure();
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.stats().time_in_state, Duration::ZERO);
}
