//! Model-based property test: random operation sequences run against the
//! real breaker and against a small reference model written from the
//! semantics guide (breakerbox::guide::semantics); every admission decision, every `state()` and every
//! `stats()` (state, counts, running calls, open remainder) must agree.
//!
//! Observations are operations of their own, drawn at random like the
//! others, rather than a `stats()` after every step: the breaker makes its
//! time-driven transitions (the end of an open period, an `interval`
//! clearing, `half_open_max_wait`) lazily, at the first locked operation
//! after the deadline, and each entry point (an admission, a finish, a
//! dropped permit, `state()`, `stats()`) must be able to be that one.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, Permit, RejectReason, State};
use proptest::prelude::*;

/// One time unit of the model: the clock advances in whole milliseconds.
const MS: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Acquire,
    Success(usize),
    Failure(usize),
    Ignore(usize),
    DropUnused(usize),
    Advance(u64),
    Reset,
    ForceOpen,
    Disable,
    State,
    Stats,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Acquire => write!(f, "acquire"),
            Op::Success(i) => write!(f, "success(permit #{i})"),
            Op::Failure(i) => write!(f, "failure(permit #{i})"),
            Op::Ignore(i) => write!(f, "ignore(permit #{i})"),
            Op::DropUnused(i) => write!(f, "drop(permit #{i})"),
            Op::Advance(ms) => write!(f, "advance({ms}ms)"),
            Op::Reset => write!(f, "reset"),
            Op::ForceOpen => write!(f, "force_open"),
            Op::Disable => write!(f, "disable"),
            Op::State => write!(f, "state()"),
            Op::Stats => write!(f, "stats()"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Window {
    None,
    Count(u32),
    Time { span_ms: u64, buckets: u32 },
}

#[derive(Clone, Debug)]
struct Spec {
    max_failures: Option<u32>,
    timeout_ms: u64,
    half_open_max_calls: u32,
    success_threshold: u32,
    max_concurrent_calls: Option<u32>,
    interval_ms: Option<u64>,
    window: Window,
    failure_rate: Option<f64>,
    minimum_calls: u32,
    slow_ms: Option<u64>,
    slow_rate: Option<f64>,
    backoff: Option<(f64, u64)>,
    half_open_max_wait_ms: Option<u64>,
    /// A `trip_when` predicate: the period's failures reach this many.
    trip_failures: Option<u64>,
}

impl Spec {
    fn config(&self, clock: &ManualClock) -> Config {
        let ms = Duration::from_millis;
        let mut c = Config::default()
            .timeout(ms(self.timeout_ms))
            .half_open_max_calls(self.half_open_max_calls)
            .success_threshold(self.success_threshold)
            .minimum_calls(self.minimum_calls)
            .clock(clock.clone());
        c = match self.max_failures {
            Some(n) => c.max_failures(n),
            None => c.without_max_failures(),
        };
        if let Some(n) = self.max_concurrent_calls {
            c = c.max_concurrent_calls(n);
        }
        if let Some(i) = self.interval_ms {
            c = c.interval(ms(i));
        }
        match self.window {
            Window::None => {}
            Window::Count(n) => c = c.count_window(n),
            Window::Time { span_ms, buckets } => {
                c = c.time_window(ms(span_ms)).time_window_buckets(buckets)
            }
        }
        if let Some(r) = self.failure_rate {
            c = c.failure_rate(r);
        }
        if let Some(s) = self.slow_ms {
            c = c.slow_call_duration(ms(s));
        }
        if let Some(r) = self.slow_rate {
            c = c.slow_call_rate(r);
        }
        if let Some((m, cap)) = self.backoff {
            c = c.backoff_multiplier(m).backoff_max(ms(cap));
        }
        if let Some(w) = self.half_open_max_wait_ms {
            c = c.half_open_max_wait(ms(w));
        }
        if let Some(n) = self.trip_failures {
            c = c.trip_when(move |counts| counts.failures >= n);
        }
        c
    }

    /// The wait the breaker applies: the default when none is set.
    fn half_open_max_wait_ms(&self) -> u64 {
        self.half_open_max_wait_ms.unwrap_or_else(|| {
            u64::try_from(breakerbox::DEFAULT_HALF_OPEN_MAX_WAIT.as_millis()).unwrap()
        })
    }

    fn window(&self) -> Window {
        match self.window {
            Window::None if self.failure_rate.is_some() || self.slow_rate.is_some() => {
                Window::Count(100)
            }
            w => w,
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let window = prop_oneof![
        Just(Window::None),
        (1u32..6).prop_map(Window::Count),
        (1u64..6, 1u32..4).prop_map(|(unit, buckets)| Window::Time {
            span_ms: unit * u64::from(buckets) * 10,
            buckets
        }),
    ];
    let rate = prop_oneof![Just(1.0), Just(0.5), Just(0.25)];
    (
        (
            proptest::option::weighted(0.8, 1u32..5),
            1u64..40,
            1u32..4,
            1u32..5,
            proptest::option::weighted(0.3, 1u32..4),
            proptest::option::weighted(0.2, 5u64..60),
        ),
        (
            window,
            proptest::option::weighted(0.5, rate.clone()),
            1u32..6,
            proptest::option::weighted(0.4, 1u64..20),
            proptest::option::weighted(0.5, rate),
            proptest::option::weighted(
                0.3,
                (prop_oneof![Just(1.0), Just(2.0), Just(3.0)], 1u64..4),
            ),
            proptest::option::weighted(0.3, 1u64..50),
        ),
        proptest::option::weighted(0.2, 1u64..6),
    )
        .prop_map(
            |(
                (mf, timeout, homc, st, mcc, interval),
                (window, fr, minc, slow, sr, backoff, wait),
                trip_failures,
            )| Spec {
                max_failures: mf,
                timeout_ms: timeout,
                half_open_max_calls: homc,
                success_threshold: st,
                max_concurrent_calls: mcc,
                interval_ms: interval,
                window,
                failure_rate: fr,
                minimum_calls: minc,
                slow_ms: slow,
                slow_rate: if slow.is_some() { sr } else { None },
                backoff: backoff.map(|(m, k)| (m, timeout * k * 2)),
                half_open_max_wait_ms: wait,
                trip_failures,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        4 => (0usize..8).prop_map(Op::Success),
        4 => (0usize..8).prop_map(Op::Failure),
        1 => (0usize..8).prop_map(Op::Ignore),
        1 => (0usize..8).prop_map(Op::DropUnused),
        4 => (0u64..30).prop_map(Op::Advance),
        // Past the default half-open wait, now and then.
        1 => Just(Op::Advance(60_000)),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::State),
        2 => Just(Op::Stats),
    ]
}

/// A permit as the model sees it.
#[derive(Clone, Copy, Debug)]
struct Held {
    generation: u64,
    /// A probe's epoch: its slot is given back only in the same epoch.
    epoch: u64,
    started: u64,
    probe: bool,
}

#[derive(Clone, Copy, PartialEq, Debug, Default)]
struct Counts {
    calls: u64,
    successes: u64,
    failures: u64,
    cancelled: u64,
    consecutive_successes: u64,
    consecutive_failures: u64,
    rejected: u64,
    ignored: u64,
    slow: u64,
}

/// The reference model: the semantics guide (breakerbox::guide::semantics), written plainly.
struct Model {
    spec: Spec,
    now: u64,
    state: State,
    generation: u64,
    counts: Counts,
    /// (time, failed, slow) of the calls recorded in the current window.
    window: VecDeque<(u64, bool, bool)>,
    state_since: u64,
    open_until: u64,
    open_ms: f64,
    clear_at: Option<u64>,
    running: u64,
    probes: u32,
    epoch: u64,
    probe_progress: u64,
    held: Vec<Held>,
}

#[derive(Debug, PartialEq)]
enum Admission {
    Admitted { probe: bool },
    Rejected(&'static str),
}

impl Model {
    fn new(spec: Spec) -> Self {
        Model {
            open_ms: spec.timeout_ms as f64,
            clear_at: spec.interval_ms,
            spec,
            now: 0,
            state: State::Closed,
            generation: 0,
            counts: Counts::default(),
            window: VecDeque::new(),
            state_since: 0,
            open_until: 0,
            running: 0,
            probes: 0,
            epoch: 0,
            probe_progress: 0,
            held: Vec::new(),
        }
    }

    fn new_period(&mut self) {
        self.generation += 1;
        self.counts = Counts::default();
        self.window.clear();
        self.probe_progress = self.now;
        self.clear_at = match (self.state, self.spec.interval_ms) {
            (State::Closed, Some(i)) => Some(self.now + i),
            _ => None,
        };
    }

    fn enter(&mut self, to: State) {
        let from = self.state;
        self.state = to;
        self.state_since = self.now;
        self.new_period();
        match to {
            State::Open => {
                self.open_ms = match (from, self.spec.backoff) {
                    (State::HalfOpen, Some((m, cap))) => (self.open_ms * m).min(cap as f64),
                    _ => self.spec.timeout_ms as f64,
                };
                self.open_until = self.now + self.open_ms.round() as u64;
            }
            State::Closed => self.open_ms = self.spec.timeout_ms as f64,
            _ => {}
        }
    }

    fn advance_time(&mut self) {
        match self.state {
            State::Open if self.now >= self.open_until => self.enter(State::HalfOpen),
            State::HalfOpen => {
                let w = self.spec.half_open_max_wait_ms();
                if self.probes > 0 && self.now - self.probe_progress >= w {
                    if self.spec.half_open_max_wait_ms.is_some() {
                        self.enter(State::Open);
                    } else {
                        // The default frees the slots, and stays half-open.
                        self.probe_progress = self.now;
                    }
                    self.abandon();
                }
            }
            State::Closed => {
                if let Some(at) = self.clear_at {
                    if self.now >= at {
                        self.new_period();
                    }
                }
            }
            _ => {}
        }
    }

    fn acquire(&mut self) -> Admission {
        self.advance_time();
        let probe = match self.state {
            State::Open => return self.reject("open"),
            State::ForcedOpen => return self.reject("forced open"),
            State::HalfOpen if self.probes >= self.spec.half_open_max_calls => {
                return self.reject("half-open full")
            }
            State::HalfOpen => true,
            _ => false,
        };
        if let Some(limit) = self.spec.max_concurrent_calls {
            if self.state != State::Disabled && self.running >= u64::from(limit) {
                return self.reject("too many calls");
            }
        }
        if probe {
            if self.probes == 0 {
                self.probe_progress = self.now;
            }
            self.probes += 1;
        }
        self.running += 1;
        self.counts.calls += 1;
        self.held.push(Held {
            generation: self.generation,
            epoch: self.epoch,
            started: self.now,
            probe,
        });
        Admission::Admitted { probe }
    }

    fn reject(&mut self, why: &'static str) -> Admission {
        self.counts.calls += 1;
        self.counts.rejected += 1;
        Admission::Rejected(why)
    }

    /// Ends held permit `i`: `Some(failed)` for success/failure, `None`
    /// for ignored, and `cancel` for a permit dropped unused.
    fn finish(&mut self, held: Held, outcome: Option<bool>, cancel: bool) {
        self.running -= 1;
        self.advance_time();
        if held.probe && held.epoch == self.epoch {
            self.probes -= 1;
        }
        if held.generation != self.generation {
            return;
        }
        if held.probe {
            self.probe_progress = self.now;
        }
        if cancel {
            self.counts.cancelled += 1;
            return;
        }
        let Some(failed) = outcome else {
            self.counts.ignored += 1;
            return;
        };
        let slow = self
            .spec
            .slow_ms
            .is_some_and(|s| self.now - held.started >= s);
        let c = &mut self.counts;
        if failed {
            c.failures += 1;
            c.consecutive_failures += 1;
            c.consecutive_successes = 0;
        } else {
            c.successes += 1;
            c.consecutive_successes += 1;
            c.consecutive_failures = 0;
        }
        if slow {
            c.slow += 1;
        }
        match self.state {
            State::Closed => {
                if self.spec.window() != Window::None {
                    self.window.push_back((self.now, failed, slow));
                }
                if self.should_trip() {
                    self.enter(State::Open);
                }
            }
            State::HalfOpen => {
                if failed || (slow && self.spec.slow_rate.is_some()) {
                    self.enter(State::Open);
                } else if self.counts.consecutive_successes
                    >= u64::from(self.spec.success_threshold)
                {
                    self.enter(State::Closed);
                }
            }
            _ => {}
        }
    }

    fn window_calls(&self) -> Vec<(bool, bool)> {
        match self.spec.window() {
            Window::None => Vec::new(),
            Window::Count(n) => self
                .window
                .iter()
                .rev()
                .take(n as usize)
                .map(|&(_, f, s)| (f, s))
                .collect(),
            Window::Time { span_ms, buckets } => {
                let width = span_ms / u64::from(buckets);
                let current = self.now / width;
                self.window
                    .iter()
                    .filter(|&&(t, _, _)| current - t / width < u64::from(buckets))
                    .map(|&(_, f, s)| (f, s))
                    .collect()
            }
        }
    }

    fn should_trip(&self) -> bool {
        if let Some(n) = self.spec.max_failures {
            if self.counts.consecutive_failures >= u64::from(n) {
                return true;
            }
        }
        let window = self.spec.window();
        if window != Window::None {
            let calls = self.window_calls();
            let capacity = match window {
                Window::Count(n) => u64::from(n),
                _ => u64::MAX,
            };
            let n = calls.len() as u64;
            if n > 0 && n >= u64::from(self.spec.minimum_calls).min(capacity) {
                let failures = calls.iter().filter(|c| c.0).count() as f64;
                let slow = calls.iter().filter(|c| c.1).count() as f64;
                if self
                    .spec
                    .failure_rate
                    .is_some_and(|r| failures / n as f64 >= r)
                {
                    return true;
                }
                if self.spec.slow_rate.is_some_and(|r| slow / n as f64 >= r) {
                    return true;
                }
            }
        }
        self.spec
            .trip_failures
            .is_some_and(|n| self.counts.failures >= n)
    }

    fn abandon(&mut self) {
        self.probes = 0;
        self.epoch += 1;
    }

    fn command(&mut self, to: State) {
        self.enter(to);
        self.abandon();
    }
}

fn reason_name(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::Open { .. } => "open",
        RejectReason::ForcedOpen => "forced open",
        RejectReason::HalfOpenFull => "half-open full",
        RejectReason::TooManyCalls => "too many calls",
    }
}

fn run(spec: Spec, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let cb =
        CircuitBreaker::new("model", spec.config(&clock)).expect("the generated config is valid");
    let mut model = Model::new(spec);
    let mut permits: Vec<Permit<'_>> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Acquire => {
                let real = match cb.try_acquire() {
                    Ok(p) => {
                        let probe = p.is_probe();
                        permits.push(p);
                        Admission::Admitted { probe }
                    }
                    Err(r) => Admission::Rejected(reason_name(r.reason())),
                };
                let expected = model.acquire();
                prop_assert_eq!(real, expected, "admission at step {} ({:?})", step, op);
            }
            Op::Success(i) | Op::Failure(i) | Op::Ignore(i) | Op::DropUnused(i) => {
                if permits.is_empty() {
                    continue;
                }
                let i = i % permits.len();
                let permit = permits.remove(i);
                let held = model.held.remove(i);
                match *op {
                    Op::Success(_) => {
                        permit.success();
                        model.finish(held, Some(false), false);
                    }
                    Op::Failure(_) => {
                        permit.failure();
                        model.finish(held, Some(true), false);
                    }
                    Op::Ignore(_) => {
                        permit.ignore();
                        model.finish(held, None, false);
                    }
                    _ => {
                        drop(permit);
                        model.finish(held, None, true);
                    }
                }
            }
            Op::Advance(ms) => {
                clock.advance(MS * ms as u32);
                model.now += ms;
            }
            Op::Reset => {
                cb.reset();
                model.command(State::Closed);
            }
            Op::ForceOpen => {
                cb.force_open();
                model.command(State::ForcedOpen);
            }
            Op::Disable => {
                cb.disable();
                model.command(State::Disabled);
            }
            Op::State => {
                let real = cb.state();
                model.advance_time();
                prop_assert_eq!(real, model.state, "state() at step {} ({:?})", step, op);
            }
            Op::Stats => check_stats(&cb, &mut model, step)?,
        }
    }
    check_stats(&cb, &mut model, ops.len())
}

/// `stats()` against the model: state, counts, running calls and the rest
/// of the open period.
fn check_stats(cb: &CircuitBreaker, model: &mut Model, step: usize) -> Result<(), TestCaseError> {
    let stats = cb.stats();
    model.advance_time();
    prop_assert_eq!(
        stats.state,
        model.state,
        "state in stats() at step {}",
        step
    );
    let c = stats.period;
    let real = Counts {
        calls: c.calls,
        successes: c.successes,
        failures: c.failures,
        cancelled: c.cancelled,
        consecutive_successes: c.consecutive_successes,
        consecutive_failures: c.consecutive_failures,
        rejected: c.rejected,
        ignored: c.ignored,
        slow: c.slow_calls,
    };
    prop_assert_eq!(real, model.counts, "counts in stats() at step {}", step);
    prop_assert_eq!(
        stats.in_flight,
        model.running,
        "running calls at step {}",
        step
    );
    let until = (model.state == State::Open).then(|| MS * (model.open_until - model.now) as u32);
    prop_assert_eq!(
        stats.time_until_half_open,
        until,
        "time until half-open at step {}",
        step
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    /// The real breaker and the model agree on every step of a random
    /// operation sequence, for random combinations of the trip policies,
    /// probe limits, thresholds, bulkhead, interval, backoff and
    /// half-open max wait.
    #[test]
    fn breaker_agrees_with_the_model(spec in spec(), ops in proptest::collection::vec(op(), 1..120)) {
        run(spec, ops)?;
    }

    /// Windowed breakers on the lock-free path agree with the model at
    /// every step.
    #[test]
    fn windowed_breakers_off_the_lock_agree_with_the_model(
        spec in window_spec(),
        ops in proptest::collection::vec(window_op(), 1..300),
    ) {
        run(spec, ops)?;
    }
}

/// Windows alone, with nothing that takes the lock-free path away (no
/// bulkhead, `interval` or `trip_when`): larger windows and more rates than
/// `spec`, and time that jumps past whole buckets, so that successes and
/// failures off the lock, the allowance and the lane meet every bucket end.
fn window_spec() -> impl Strategy<Value = Spec> {
    let window = prop_oneof![
        (1u32..40).prop_map(Window::Count),
        (1u64..6, 1u32..6).prop_map(|(unit, buckets)| Window::Time {
            span_ms: unit * u64::from(buckets) * 10,
            buckets
        }),
    ];
    let rate = prop_oneof![
        Just(1.0),
        Just(0.5),
        Just(0.25),
        Just(0.1),
        Just(0.3),
        Just(1.0 / 3.0),
        Just(0.6),
        Just(0.75),
        Just(0.9),
        Just(0.2)
    ];
    (
        proptest::option::weighted(0.5, 1u32..12),
        window,
        proptest::option::weighted(0.8, rate.clone()),
        1u32..30,
        proptest::option::weighted(0.3, 1u64..20),
        proptest::option::weighted(0.5, rate),
    )
        .prop_map(|(mf, window, fr, minc, slow, sr)| Spec {
            max_failures: mf,
            timeout_ms: 10,
            half_open_max_calls: 2,
            success_threshold: 2,
            max_concurrent_calls: None,
            interval_ms: None,
            window,
            failure_rate: fr,
            minimum_calls: minc,
            slow_ms: slow,
            slow_rate: if slow.is_some() { sr } else { None },
            backoff: None,
            half_open_max_wait_ms: None,
            trip_failures: None,
        })
}

/// Mostly calls, and now and then a jump past a bucket or a command.
fn window_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => Just(Op::Acquire),
        6 => (0usize..3).prop_map(Op::Success),
        6 => (0usize..3).prop_map(Op::Failure),
        1 => (0usize..3).prop_map(Op::Ignore),
        3 => (0u64..8).prop_map(Op::Advance),
        1 => (8u64..80).prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::State),
        2 => Just(Op::Stats),
    ]
}
