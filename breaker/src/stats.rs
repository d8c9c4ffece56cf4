//! Snapshots of a breaker's counts and state.
//!
//! One vocabulary, used alike by these structs, their JSON, the metrics and
//! the log events:
//!
//! - **calls**: every call asked of the breaker, admitted or rejected;
//! - an admitted call ends as exactly one of **successes**, **failures**,
//!   **ignored** or **cancelled**, or is still **in flight**;
//! - **rejected** calls never ran;
//! - **timeouts** are failures of their own kind, **slow calls** and
//!   **stale** results are calls that ended with an outcome, counted again
//!   under these names.
//!
//! So for the lifetime [`Totals`], at any moment:
//!
//! ```text
//! calls = successes + failures + ignored + cancelled + rejected + in_flight
//! timeouts <= failures
//! slow_calls, stale <= successes + failures + ignored
//! ```

use std::time::Duration;

use crate::State;

/// The counts of one period: since the breaker entered its current state,
/// or since the last `interval` clearing while closed (gobreaker's
/// semantics). This is what the trip policies and
/// [`Config::trip_when`](crate::Config::trip_when) see, what
/// [`Stats::period`] shows, and what [`Trip::period`] keeps of the period
/// that tripped the breaker.
///
/// The lifetime identity of [`Totals`] holds within a period too, for the
/// calls that begin and end in it. A call admitted in one period that ends
/// in a later one is counted in `calls` of the period that admitted it, and
/// its outcome only in the lifetime totals (as [`Totals::stale`]); one that
/// ends on the lock-free path at the very instant of a transition may have
/// its outcome counted in the next period instead. No call is ever counted
/// twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Calls asked of the breaker in the period: admitted or rejected.
    pub calls: u64,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures (timeouts included).
    pub failures: u64,
    /// Calls whose error the classifier ignored: neither success nor failure.
    pub ignored: u64,
    /// Admitted calls that ended without an outcome: a dropped permit or a
    /// cancelled future.
    pub cancelled: u64,
    /// Calls refused without running: open, half-open full, or over the
    /// bulkhead limit.
    pub rejected: u64,
    /// Successes since the last failure.
    pub consecutive_successes: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Calls that ended with an outcome and lasted at least
    /// `slow_call_duration` (also counted as their outcome).
    pub slow_calls: u64,
    /// Async calls cut off by `call_timeout` (also counted as failures).
    pub timeouts: u64,
}

/// Lifetime totals, since the breaker was created ([`reset`](crate::CircuitBreaker::reset)
/// keeps them).
///
/// `calls = successes + failures + ignored + cancelled + rejected +`
/// [`Stats::in_flight`], exactly: every call asked of the breaker is either
/// rejected or admitted, and every admitted call ends as one outcome or is
/// still running. `timeouts` are part of `failures`; `slow_calls` and
/// `stale` are calls that ended with an outcome, counted again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Totals {
    /// Calls asked of the breaker: admitted or rejected.
    pub calls: u64,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures (timeouts included).
    pub failures: u64,
    /// Calls whose error was classified as ignored.
    pub ignored: u64,
    /// Admitted calls that ended without an outcome: a dropped permit or a
    /// cancelled future.
    pub cancelled: u64,
    /// Calls refused without running.
    pub rejected: u64,
    /// Calls that ended with an outcome and lasted at least
    /// `slow_call_duration`.
    pub slow_calls: u64,
    /// Async calls cut off by `call_timeout` (also counted as failures).
    pub timeouts: u64,
    /// Results that arrived after the breaker had changed state since the
    /// call was admitted, and so were not counted toward the new state's
    /// period (they are counted as their outcome here).
    pub stale: u64,
}

/// Which policy tripped a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TripReason {
    /// `max_failures` failures in a row.
    ConsecutiveFailures,
    /// The failure rate over the window reached `failure_rate`.
    FailureRate,
    /// The slow-call rate over the window reached `slow_call_rate`.
    SlowCallRate,
    /// The [`trip_when`](crate::Config::trip_when) predicate said so.
    TripWhen,
    /// The breaker's fleet opened it: a shared [`StateStore`](crate::StateStore)
    /// applied the state of the processes sharing its name.
    Fleet,
}

impl TripReason {
    /// The reason in snake case, as the JSON, the log events and the
    /// settings spell it: `"consecutive_failures"`, `"failure_rate"`,
    /// `"slow_call_rate"`, `"trip_when"`, `"fleet"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TripReason::ConsecutiveFailures => "consecutive_failures",
            TripReason::FailureRate => "failure_rate",
            TripReason::SlowCallRate => "slow_call_rate",
            TripReason::TripWhen => "trip_when",
            TripReason::Fleet => "fleet",
        }
    }
}

impl std::fmt::Display for TripReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a breaker is open: the closed period that tripped it, as it was
/// when it tripped.
///
/// Kept from the trip until the breaker closes: through the open period,
/// half-open, and re-openings after failed probes (which do not replace
/// it), so that an open breaker whose own period has seen no call yet
/// still says why it opened. A reset, [`force_open`](crate::CircuitBreaker::force_open)
/// and [`disable`](crate::CircuitBreaker::disable) clear it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Trip {
    /// The policy that tripped it.
    pub reason: TripReason,
    /// The counts of the closed period that ended with the trip.
    pub period: Counts,
    /// The failure rate at the trip, measured as [`Stats::failure_rate`].
    pub failure_rate: f64,
    /// The slow-call rate at the trip, measured as [`Stats::slow_call_rate`].
    pub slow_call_rate: f64,
    /// Time since the trip.
    pub ago: Duration,
}

/// A breaker's state and counts at one moment.
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, State};
///
/// let cb = CircuitBreaker::new("inventory", Config::default()).unwrap();
/// let _ = cb.call(|| Ok::<_, std::io::Error>(()));
/// let stats = cb.stats();
/// assert_eq!(stats.state, State::Closed);
/// assert_eq!(stats.period.successes, 1);
/// assert_eq!(stats.totals.calls, 1);
/// assert_eq!(stats.time_until_half_open, None);
/// assert!(stats.tripped_by.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The breaker's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// The current period's counts: since the last state change, or the
    /// last `interval` clearing while closed.
    pub period: Counts,
    /// While open or half-open after a trip, why the breaker opened (see
    /// [`Trip`]); `None` otherwise.
    pub tripped_by: Option<Trip>,
    /// Lifetime totals.
    pub totals: Totals,
    /// Fraction of failed calls among those with a success or failure:
    /// over the sliding window when one is configured, else over the
    /// current period's counts. 0 with no such calls (as at the start of
    /// an open period: see [`tripped_by`](Self::tripped_by) for the rate
    /// that tripped it).
    pub failure_rate: f64,
    /// Fraction of slow calls, measured like `failure_rate`.
    pub slow_call_rate: f64,
    /// Calls admitted and not ended yet, of every period, including
    /// permits held and not yet used.
    pub in_flight: u64,
    /// For an open breaker, the time left until it admits a probe: the
    /// figure a rejection's [`retry_after`](crate::Rejected::retry_after)
    /// gives at the same moment.
    pub time_until_half_open: Option<Duration>,
    /// How many times the breaker has opened.
    pub open_count: u64,
    /// Time since the state last changed (or since creation).
    pub time_in_state: Duration,
    /// The length of the current open period, or of the last one while not
    /// open (the base `timeout` before the first): backoff and jitter
    /// included.
    pub open_duration: Duration,
    /// The generation: incremented at every state change and `interval`
    /// clearing; results of an older generation are not counted.
    pub generation: u64,
}
