//! Snapshots of a breaker's counts and state.

use std::time::Duration;

use crate::State;

/// The counts of the current period: since the breaker entered its current
/// state, or since the last `interval` clearing while closed (gobreaker's
/// semantics). This is what the trip policies and
/// [`Config::trip_when`](crate::Config::trip_when) see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Calls admitted.
    pub requests: u64,
    /// Calls recorded as successes.
    pub total_successes: u64,
    /// Calls recorded as failures (timeouts included).
    pub total_failures: u64,
    /// Successes since the last failure.
    pub consecutive_successes: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Calls refused: open, half-open full, or over the bulkhead limit.
    pub rejected: u64,
    /// Calls whose error the classifier ignored: neither success nor failure.
    pub ignored: u64,
    /// Calls that lasted at least `slow_call_duration`.
    pub slow_calls: u64,
    /// Async calls cancelled by `call_timeout` (also counted as failures).
    pub timeouts: u64,
}

/// Lifetime totals, since the breaker was created ([`reset`](crate::CircuitBreaker::reset)
/// keeps them).
/// Every admitted call ends as exactly one of `successes`, `failures`,
/// `ignored` or `cancelled` (or is still running).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Totals {
    /// Calls admitted.
    pub requests: u64,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures (timeouts included).
    pub failures: u64,
    /// Calls whose error was classified as ignored.
    pub ignored: u64,
    /// Admitted calls that ended without an outcome: a dropped permit or a
    /// cancelled future.
    pub cancelled: u64,
    /// Calls refused.
    pub rejected: u64,
    /// Calls that were slow.
    pub slow_calls: u64,
    /// Async calls cancelled by `call_timeout`.
    pub timeouts: u64,
    /// Results that arrived after the breaker had changed state since the
    /// call was admitted, and so were not counted toward the new state.
    pub stale: u64,
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
/// assert_eq!(stats.counts.total_successes, 1);
/// assert_eq!(stats.time_until_half_open, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The breaker's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// The current period's counts.
    pub counts: Counts,
    /// Lifetime totals.
    pub totals: Totals,
    /// Fraction of failed calls: over the sliding window when one is
    /// configured, else over the current period's counts. 0 with no calls.
    pub failure_rate: f64,
    /// Fraction of slow calls, measured like `failure_rate`.
    pub slow_call_rate: f64,
    /// Calls running now, including permits held and not yet used.
    pub running_calls: u64,
    /// For an open breaker, the time left until it admits a probe.
    pub time_until_half_open: Option<Duration>,
    /// How many times the breaker has opened.
    pub open_count: u64,
    /// Time since the state last changed (or since creation).
    pub time_in_state: Duration,
    /// The open period the next (or current) opening lasts, backoff included.
    pub open_duration: Duration,
    /// The generation: incremented at every state change and `interval`
    /// clearing; results of an older generation are not counted.
    pub generation: u64,
}
