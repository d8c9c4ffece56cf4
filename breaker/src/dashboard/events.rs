//! Each breaker's recent transitions (feature `dashboard`): a short,
//! bounded log, written when a transition is announced (after the
//! breaker's lock is released, in the order the transitions were made), so
//! that admission and recording never touch it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use crate::config::{Config, StateChange};
use crate::stats::{Counts, TripReason};
use crate::State;

/// How many transitions each breaker keeps: the oldest goes when a new one
/// comes. A few hundred bytes per breaker once full.
pub const RECENT_TRANSITIONS: usize = 16;

/// One state change of a breaker, as its log of
/// [recent transitions](crate::CircuitBreaker::recent_transitions) keeps it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
    /// The counts of the period that ended: for a trip, the period that
    /// tripped it.
    pub period: Counts,
    /// When it was announced, by the system's wall clock (a breaker's own
    /// [`Clock`](crate::Clock) counts from an arbitrary start).
    pub at: SystemTime,
    /// Its number among every breaker's transitions in this process, for
    /// readers that want only what is new.
    pub(crate) seq: u64,
}

/// Why a breaker changed state.
///
/// A trip's reason is read from the ended period's counts and the breaker's
/// configuration: the first policy those counts satisfy, in the order below.
/// A rate judged over a time window (whose calls may be fewer than the
/// period's) is named when no other policy was met by the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionReason {
    /// Closed to open: `max_failures` failures in a row.
    ConsecutiveFailures,
    /// Closed to open: the failure rate reached `failure_rate`.
    FailureRate,
    /// Closed to open: the slow-call rate reached `slow_call_rate`.
    SlowCallRate,
    /// Closed to open: the `trip_when` predicate said so.
    TripWhen,
    /// Half-open to open: a probe failed.
    ProbeFailed,
    /// Half-open to open: a probe was slow, where slowness trips.
    ProbeSlow,
    /// Half-open to open: the probes did not report within
    /// `half_open_max_wait`.
    ProbesSilent,
    /// Open to half-open: the open period ended.
    OpenPeriodEnded,
    /// Half-open to closed: `success_threshold` probes succeeded.
    ProbesSucceeded,
    /// [`force_open`](crate::CircuitBreaker::force_open).
    ForcedOpen,
    /// [`disable`](crate::CircuitBreaker::disable).
    Disabled,
    /// [`reset`](crate::CircuitBreaker::reset).
    Reset,
    /// The state of the breaker's shared store (the fleet's), applied to it.
    SharedStore,
}

impl TransitionReason {
    /// The reason in snake case, as the dashboard's JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::ConsecutiveFailures => "consecutive_failures",
            TransitionReason::FailureRate => "failure_rate",
            TransitionReason::SlowCallRate => "slow_call_rate",
            TransitionReason::TripWhen => "trip_when",
            TransitionReason::ProbeFailed => "probe_failed",
            TransitionReason::ProbeSlow => "probe_slow",
            TransitionReason::ProbesSilent => "probes_silent",
            TransitionReason::OpenPeriodEnded => "open_period_ended",
            TransitionReason::ProbesSucceeded => "probes_succeeded",
            TransitionReason::ForcedOpen => "forced_open",
            TransitionReason::Disabled => "disabled",
            TransitionReason::Reset => "reset",
            TransitionReason::SharedStore => "shared_store",
        }
    }

    /// Reads why `change` happened from the ended period's counts and the
    /// breaker's `config`; `shared`: the breaker is in a shared store.
    fn of(change: &StateChange<'_>, config: &Config, shared: bool) -> Self {
        let c = &change.period;
        match (change.from, change.to) {
            (_, State::ForcedOpen) => TransitionReason::ForcedOpen,
            (_, State::Disabled) => TransitionReason::Disabled,
            (State::Closed, State::Open) => match change.tripped_by {
                // The state machine says which policy tripped it.
                Some(TripReason::ConsecutiveFailures) => TransitionReason::ConsecutiveFailures,
                Some(TripReason::FailureRate) => TransitionReason::FailureRate,
                Some(TripReason::SlowCallRate) => TransitionReason::SlowCallRate,
                Some(TripReason::TripWhen) => TransitionReason::TripWhen,
                Some(TripReason::Fleet) => TransitionReason::SharedStore,
                None => Self::trip(c, config, shared),
            },
            (State::HalfOpen, State::Open) if c.failures > 0 => TransitionReason::ProbeFailed,
            (State::HalfOpen, State::Open) if c.slow_calls > 0 => TransitionReason::ProbeSlow,
            (State::HalfOpen, State::Open)
                if !shared && config.settings.half_open_max_wait.is_some() =>
            {
                TransitionReason::ProbesSilent
            }
            (State::Open, State::HalfOpen) => TransitionReason::OpenPeriodEnded,
            (State::HalfOpen, State::Closed)
                if c.consecutive_successes >= u64::from(config.settings.success_threshold) =>
            {
                TransitionReason::ProbesSucceeded
            }
            (State::ForcedOpen | State::Disabled, _) => TransitionReason::Reset,
            _ if shared => TransitionReason::SharedStore,
            (_, State::Closed) => TransitionReason::Reset,
            _ => TransitionReason::SharedStore,
        }
    }

    /// Which policy tripped a closed breaker, by the ended period's counts.
    fn trip(c: &Counts, config: &Config, shared: bool) -> Self {
        let (failure_rate, slow_call_rate) = period_rates(c);
        let calls = c.successes.saturating_add(c.failures);
        let enough =
            calls > 0 && calls >= u64::from(config.settings.minimum_calls).min(window_size(config));
        if config
            .settings
            .max_failures
            .is_some_and(|max| c.consecutive_failures >= u64::from(max))
        {
            TransitionReason::ConsecutiveFailures
        } else if enough
            && config
                .settings
                .failure_rate
                .is_some_and(|rate| failure_rate >= rate)
        {
            TransitionReason::FailureRate
        } else if enough
            && config
                .settings
                .slow_call_rate
                .is_some_and(|rate| slow_call_rate >= rate)
        {
            TransitionReason::SlowCallRate
        } else if config.trip_when.is_some() {
            TransitionReason::TripWhen
        } else if shared {
            TransitionReason::SharedStore
        } else if config.settings.failure_rate.is_some() {
            TransitionReason::FailureRate
        } else if config.settings.slow_call_rate.is_some() {
            TransitionReason::SlowCallRate
        } else {
            TransitionReason::SharedStore
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The most calls the configured window holds (`u64::MAX` for a time
/// window or none): a count window smaller than `minimum_calls` judges
/// once it is full.
fn window_size(config: &Config) -> u64 {
    match config.window_kind() {
        Some(crate::config::WindowKind::Count(n)) => u64::from(n),
        _ => u64::MAX,
    }
}

/// A period's failure and slow-call rates over its judged calls (successes
/// and failures): 0 with none.
pub(crate) fn period_rates(c: &Counts) -> (f64, f64) {
    let judged = c.successes.saturating_add(c.failures);
    if judged == 0 {
        return (0.0, 0.0);
    }
    (
        c.failures as f64 / judged as f64,
        c.slow_calls as f64 / judged as f64,
    )
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// A breaker's recent transitions, oldest first. Allocated at the first
/// transition: a breaker that never changes state holds only an empty
/// cell, which keeps the breaker within its footprint budget.
#[derive(Default)]
pub(crate) struct TransitionLog(OnceLock<Box<Mutex<VecDeque<Transition>>>>);

impl TransitionLog {
    /// Notes an announced transition.
    pub(crate) fn record(&self, change: &StateChange<'_>, config: &Config, shared: bool) {
        let reason = TransitionReason::of(change, config, shared);
        let mut log = lock(self.0.get_or_init(Box::default));
        // Numbered under the log's lock: a reader that has seen the number
        // (`latest_seq`) finds the transition in the log.
        let transition = Transition {
            from: change.from,
            to: change.to,
            reason,
            period: change.period,
            at: SystemTime::now(),
            seq: NEXT_SEQ.fetch_add(1, Ordering::SeqCst),
        };
        if log.len() >= RECENT_TRANSITIONS {
            log.pop_front();
        }
        log.push_back(transition);
    }

    /// A copy of the log, oldest first.
    pub(crate) fn recent(&self) -> Vec<Transition> {
        self.0
            .get()
            .map_or_else(Vec::new, |log| lock(log).iter().cloned().collect())
    }
}

fn lock(log: &Mutex<VecDeque<Transition>>) -> MutexGuard<'_, VecDeque<Transition>> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The number of the latest transition of any breaker. Read before the
/// logs, it is a cursor: every transition numbered up to it is in its log
/// by the time the reader locks that log.
pub(crate) fn latest_seq() -> u64 {
    NEXT_SEQ.load(Ordering::SeqCst).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{CircuitBreaker, ManualClock};

    fn reasons(cb: &CircuitBreaker) -> Vec<(State, State, TransitionReason)> {
        cb.recent_transitions()
            .iter()
            .map(|t| (t.from, t.to, t.reason))
            .collect()
    }

    fn fail(cb: &CircuitBreaker) {
        let _ = cb.call(|| Err::<(), _>(()));
    }

    fn succeed(cb: &CircuitBreaker) {
        let _ = cb.call(|| Ok::<_, ()>(()));
    }

    #[test]
    fn a_trip_recovery_and_close_are_logged_with_their_reasons() {
        let clock = ManualClock::new();
        let cb = CircuitBreaker::new(
            "log",
            Config::default()
                .max_failures(2)
                .timeout(Duration::from_secs(5))
                .clock(clock.clone()),
        )
        .unwrap();
        fail(&cb);
        fail(&cb);
        clock.advance(Duration::from_secs(5));
        fail(&cb);
        clock.advance(Duration::from_secs(5));
        succeed(&cb);
        use State::{Closed, HalfOpen, Open};
        use TransitionReason as R;
        assert_eq!(
            reasons(&cb),
            [
                (Closed, Open, R::ConsecutiveFailures),
                (Open, HalfOpen, R::OpenPeriodEnded),
                (HalfOpen, Open, R::ProbeFailed),
                (Open, HalfOpen, R::OpenPeriodEnded),
                (HalfOpen, Closed, R::ProbesSucceeded),
            ]
        );
        assert_eq!(cb.recent_transitions()[0].period.failures, 2);
    }

    #[test]
    fn a_failure_rate_trip_is_named_as_such() {
        let cb = CircuitBreaker::new(
            "rate",
            Config::default()
                .without_max_failures()
                .failure_rate(0.5)
                .count_window(4)
                .minimum_calls(4)
                .clock(ManualClock::new()),
        )
        .unwrap();
        succeed(&cb);
        fail(&cb);
        succeed(&cb);
        fail(&cb);
        assert_eq!(
            reasons(&cb),
            [(State::Closed, State::Open, TransitionReason::FailureRate)]
        );
    }

    #[test]
    fn a_slow_call_rate_trip_is_named_as_such() {
        let clock = ManualClock::new();
        let cb = CircuitBreaker::new(
            "slow",
            Config::default()
                .slow_call_duration(Duration::from_millis(100))
                .slow_call_rate(0.5)
                .count_window(2)
                .minimum_calls(2)
                .clock(clock.clone()),
        )
        .unwrap();
        for _ in 0..2 {
            let _ = cb.call(|| {
                clock.advance(Duration::from_millis(150));
                Ok::<_, ()>(())
            });
        }
        assert_eq!(
            reasons(&cb),
            [(State::Closed, State::Open, TransitionReason::SlowCallRate)]
        );
    }

    #[test]
    fn a_predicates_trip_is_named_as_such() {
        let cb = CircuitBreaker::new(
            "predicate",
            Config::default()
                .without_max_failures()
                .trip_when(|counts| counts.failures >= 1)
                .clock(ManualClock::new()),
        )
        .unwrap();
        fail(&cb);
        assert_eq!(reasons(&cb)[0].2, TransitionReason::TripWhen);
    }

    #[test]
    fn manual_commands_are_logged_as_such() {
        let cb =
            CircuitBreaker::new("manual", Config::default().clock(ManualClock::new())).unwrap();
        cb.force_open();
        cb.disable();
        cb.reset();
        use TransitionReason as R;
        assert_eq!(
            reasons(&cb),
            [
                (State::Closed, State::ForcedOpen, R::ForcedOpen),
                (State::ForcedOpen, State::Disabled, R::Disabled),
                (State::Disabled, State::Closed, R::Reset),
            ]
        );
    }

    #[test]
    fn the_log_keeps_only_the_latest_transitions() {
        let cb =
            CircuitBreaker::new("bounded", Config::default().clock(ManualClock::new())).unwrap();
        for _ in 0..RECENT_TRANSITIONS {
            cb.force_open();
            cb.reset();
        }
        let log = cb.recent_transitions();
        assert_eq!(log.len(), RECENT_TRANSITIONS);
        assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        assert_eq!(log.last().unwrap().to, State::Closed);
    }
}
