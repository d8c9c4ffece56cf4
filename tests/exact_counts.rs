//! A period's counts are exact at every transition, whichever entry point
//! makes a time-driven transition: a call's finish, a probe the store
//! refuses, or the clock read of `stats()`.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, ManualClock, Outcome, ProbeLease, ProbeSlot, SharedState, State,
    StateStore,
};

const SEC: Duration = Duration::from_secs(1);

fn breaker(config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::new("exact", config.clock(clock.clone())).unwrap();
    (cb, clock)
}

#[test]
fn a_call_that_finishes_after_an_interval_clearing_is_not_counted_in_the_new_period() {
    let (cb, clock) = breaker(
        Config::default()
            .interval(10 * SEC)
            .trip_when(|c| c.failures >= 3),
    );
    let permit = cb.try_acquire().unwrap();
    clock.advance(10 * SEC);
    // Its own finish is the first locked operation after the clearing.
    permit.failure();
    let counts = cb.stats().period;
    assert_eq!(counts.failures, 0, "{counts:?}");
    assert_eq!(counts.calls, 0, "{counts:?}");
}

#[test]
fn a_success_after_a_call_that_finished_across_an_interval_clearing_does_not_trip() {
    let (cb, clock) = breaker(
        Config::default()
            .interval(10 * SEC)
            .trip_when(|c| c.failures >= 3),
    );
    let permit = cb.try_acquire().unwrap();
    clock.advance(10 * SEC);
    permit.failure();
    cb.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.stats().period.failures, 0);
}

#[test]
fn a_call_that_finishes_as_the_open_period_ends_is_not_counted_in_the_half_open_period() {
    let (cb, clock) = breaker(Config::default().max_failures(1).timeout(SEC));
    let late = cb.try_acquire().unwrap();
    cb.call(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(cb.state(), State::Open);
    clock.advance(SEC);
    // The late call's finish is what ends the open period.
    late.success();
    let counts = cb.stats().period;
    assert_eq!(cb.stats().state, State::HalfOpen);
    assert_eq!(counts.successes, 0, "{counts:?}");
    assert_eq!(counts.consecutive_successes, 0, "{counts:?}");
}

#[test]
fn a_probe_that_finishes_after_half_open_max_wait_is_not_counted_in_the_next_open_period() {
    let (cb, clock) = breaker(
        Config::default()
            .max_failures(1)
            .timeout(SEC)
            .half_open_max_wait(5 * SEC),
    );
    cb.call(|| Err::<(), _>(())).unwrap_err();
    clock.advance(SEC);
    let probe = cb.try_acquire().unwrap();
    assert!(probe.is_probe());
    clock.advance(5 * SEC);
    probe.failure();
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.period.failures, 0, "{:?}", stats.period);
}

#[test]
fn the_period_that_ended_counts_the_call_that_ended_it_exactly_once() {
    let ended = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&ended);
    let (cb, clock) = breaker(
        Config::default()
            .interval(10 * SEC)
            .max_failures(2)
            .on_state_change(move |change| sink.lock().unwrap().push(change.period)),
    );
    cb.call(|| Ok::<_, ()>(())).unwrap();
    clock.advance(10 * SEC);
    cb.call(|| Err::<(), _>(())).unwrap_err();
    cb.call(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(cb.state(), State::Open);
    let ended = ended.lock().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].calls, 2);
    assert_eq!(ended[0].failures, 2);
    assert_eq!(ended[0].successes, 0);
}

/// A shared store that, like `RedisStore` when the fleet is not
/// half-open, applies the fleet's open state and refuses the probe.
struct RefusingStore;

struct RefusingMember {
    breaker: Weak<CircuitBreaker>,
}

impl StateStore for RefusingStore {
    fn join(&self, breaker: &Arc<CircuitBreaker>) -> Arc<dyn SharedState> {
        Arc::new(RefusingMember {
            breaker: Arc::downgrade(breaker),
        })
    }
}

impl SharedState for RefusingMember {
    fn acquire_probe(&self) -> ProbeSlot {
        if let Some(breaker) = self.breaker.upgrade() {
            breaker.apply_shared(State::Open, Duration::from_secs(30));
        }
        ProbeSlot::Refused
    }

    fn probe_ended(&self, _lease: ProbeLease, _outcome: Option<Outcome>) {}

    fn transitioned(&self, _from: State, _to: State, _open_for: Duration) {}
}

#[test]
fn a_probe_the_store_refuses_after_applying_the_fleets_state_leaves_the_new_period_empty() {
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::new(
            "refused-probe",
            Config::default()
                .max_failures(1)
                .timeout(SEC)
                .clock(clock.clone()),
        )
        .unwrap(),
    );
    assert!(cb.join_store(&RefusingStore));
    cb.call(|| Err::<(), _>(())).unwrap_err();
    clock.advance(SEC);
    assert!(cb.try_acquire().is_err(), "the fleet refused the probe");
    let stats = cb.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.period.calls, 1, "{:?}", stats.period);
    assert_eq!(stats.period.rejected, 1, "{:?}", stats.period);
    assert_eq!(
        stats.totals.calls - stats.totals.rejected,
        1,
        "{:?}",
        stats.totals
    );
}
