//! Jitter on the open period: breakers that trip together do not all
//! probe in the same instant. Deterministic under a `ManualClock`.

use std::collections::BTreeSet;
use std::time::Duration;

use breakerbox::{circuit_breaker, registry, CircuitBreaker, Config, ManualClock, State};

const SEC: Duration = Duration::from_secs(1);

fn breaker(name: &str, config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new(name, config.clock(clock.clone())).unwrap();
    (cb, clock)
}

fn trip(cb: &CircuitBreaker) {
    while cb.state() == State::Closed {
        let _ = cb.call(|| Err::<(), _>(()));
    }
}

/// The open periods of `trips` trips, each ended by a reset.
fn open_periods(cb: &CircuitBreaker, trips: usize) -> Vec<Duration> {
    (0..trips)
        .map(|_| {
            trip(cb);
            let period = cb.stats().open_duration;
            cb.reset();
            period
        })
        .collect()
}

#[test]
fn without_jitter_every_open_period_is_the_timeout() {
    let (cb, _clock) = breaker("jitter-none", Config::default().max_failures(1));
    assert_eq!(cb.config().settings().jitter, 0.0, "off by default");
    for period in open_periods(&cb, 20) {
        assert_eq!(period, 60 * SEC);
    }
}

#[test]
fn jitter_spreads_open_periods_within_its_fraction_of_the_timeout() {
    let (cb, _clock) = breaker(
        "jitter-spread",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .jitter(0.2),
    );
    let periods = open_periods(&cb, 50);
    for period in &periods {
        assert!(
            (8 * SEC..12 * SEC).contains(period),
            "{period:?} is not within 10s ± 20%"
        );
    }
    let distinct: BTreeSet<_> = periods.iter().collect();
    assert!(distinct.len() > 40, "{distinct:?}");
    let (low, high) = periods.iter().fold((0, 0), |(low, high), p| {
        (
            low + usize::from(*p < 10 * SEC),
            high + usize::from(*p > 10 * SEC),
        )
    });
    assert!(
        low > 10 && high > 10,
        "{low} below, {high} above the timeout"
    );
}

#[test]
fn breakers_that_trip_together_turn_half_open_at_different_times() {
    let clock = ManualClock::new();
    let config = || {
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .jitter(0.1)
            .clock(clock.clone())
    };
    let breakers: Vec<CircuitBreaker> = (0..10)
        .map(|i| CircuitBreaker::new(format!("jitter-fleet-{i}"), config()).unwrap())
        .collect();
    for cb in &breakers {
        trip(cb);
    }
    let left: BTreeSet<Duration> = breakers
        .iter()
        .map(|cb| cb.stats().time_until_half_open.unwrap())
        .collect();
    assert_eq!(left.len(), breakers.len(), "{left:?}");
}

#[test]
fn a_breaker_turns_half_open_exactly_when_its_jittered_period_ends() {
    let (cb, clock) = breaker(
        "jitter-exact",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .jitter(0.5),
    );
    trip(&cb);
    let stats = cb.stats();
    assert_eq!(stats.time_until_half_open, Some(stats.open_duration));
    clock.advance(stats.open_duration - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Open);
    let retry_after = cb.try_acquire().unwrap_err().retry_after();
    assert_eq!(retry_after, Some(Duration::from_nanos(1)));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn the_same_name_on_a_manual_clock_draws_the_same_periods() {
    let config = || Config::default().max_failures(1).jitter(0.3);
    let (a, _) = breaker("jitter-same", config());
    let (b, _) = breaker("jitter-same", config());
    assert_eq!(open_periods(&a, 10), open_periods(&b, 10));
}

#[test]
fn jitter_spreads_the_backed_off_period() {
    let (cb, clock) = breaker(
        "jitter-backoff",
        Config::default()
            .max_failures(1)
            .timeout(10 * SEC)
            .backoff_multiplier(2.0)
            .backoff_max(1000 * SEC)
            .jitter(0.1),
    );
    trip(&cb);
    let mut nominal = 10 * SEC;
    for _ in 0..5 {
        let period = cb.stats().open_duration;
        assert!(
            nominal.mul_f64(0.9) <= period && period < nominal.mul_f64(1.1),
            "{period:?} is not within {nominal:?} ± 10%"
        );
        clock.advance(period);
        let _ = cb.call(|| Err::<(), _>(())); // the probe fails
        assert_eq!(cb.state(), State::Open);
        nominal *= 2;
    }
}

#[test]
fn jitter_must_be_a_fraction_below_one() {
    for bad in [1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
        let error = CircuitBreaker::new("jitter-bad", Config::default().jitter(bad)).unwrap_err();
        assert_eq!(error.field(), "jitter");
        assert_eq!(error.value(), format!("{bad:?}"));
        assert!(error.reason().contains("10%"), "{error}");
    }
    assert!(Config::default().jitter(0.0).validate().is_ok());
    assert!(Config::default().jitter(0.99).validate().is_ok());
}

#[test]
fn jitter_is_a_key_of_the_file_the_environment_and_serde() {
    let mut partial = breakerbox::PartialConfig::new();
    partial.set("jitter", "0.25").unwrap();
    assert_eq!(partial.apply(Config::default()).settings().jitter, 0.25);
    let error = partial.set("jitter", "2").map(|_| partial.validate());
    assert_eq!(error.unwrap().unwrap_err().field(), "jitter");
}

#[circuit_breaker(
    name = "jitter-attribute",
    max_failures = 1,
    timeout = "10s",
    jitter = 0.2
)]
fn jittered() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("down"))
}

#[test]
fn the_attribute_takes_a_jitter() {
    let _ = jittered();
    let cb = registry().get("jitter-attribute").unwrap();
    assert_eq!(cb.config().settings().jitter, 0.2);
    let period = cb.stats().open_duration;
    assert!((8 * SEC..12 * SEC).contains(&period), "{period:?}");
}

#[test]
fn jitter_never_makes_an_open_period_zero() {
    let (cb, clock) = breaker(
        "jitter-tiny-timeout",
        Config::default()
            .max_failures(1)
            .timeout(Duration::from_nanos(1))
            .jitter(0.99),
    );
    for _ in 0..64 {
        trip(&cb);
        let period = cb.stats().open_duration;
        assert!(
            !period.is_zero(),
            "a validated timeout of 1ns jittered to {period:?}"
        );
        cb.reset();
        clock.advance(Duration::from_nanos(1));
    }
}
