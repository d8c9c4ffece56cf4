//! What the breaker tells the outside world: `tracing` events and
//! `metrics` series, each behind its feature.
//!
//! The state machine calls the hooks below at fixed points (a state change
//! announced, a call rejected), after its lock is released, and its
//! [`Exporter`] (the state gauge, the exporter's copy of the locked totals,
//! a sampled duration). With neither feature enabled every hook is
//! an empty inline function, and the calls compile to nothing.
//!
//! # Events (`tracing`)
//!
//! Under the target `breakerbox`:
//! - every state change, at `WARN` when the breaker opens (or is forced
//!   open) and `INFO` otherwise, with the fields `breaker`, `from`, `to`,
//!   the ended period's counts under the names of [`Counts`](crate::Counts)'
//!   fields (`calls`, `successes`, `failures`, `ignored`, `cancelled`,
//!   `rejected`, `consecutive_successes`, `consecutive_failures`,
//!   `slow_calls`, `timeouts`) and, for a trip, `tripped_by` (the
//!   [`TripReason`](crate::TripReason));
//! - every rejection, at `DEBUG`, with `breaker`, `reason` and, for an
//!   open breaker, `retry_after_ms`;
//! - every setting the registry refused when it created a breaker (see
//!   `Registry::config_problems`), at `WARN`, with `breaker`, `key`,
//!   `value`, `origin` and `reason`, whatever the features;
//! - every configuration no breaker has used, when the application calls
//!   `Registry::warn_unused_configurations`, at `WARN`, with `breaker` and
//!   `origin`, whatever the features.
//!
//! # Metrics (`metrics`)
//!
//! Each counter is the [`Totals`](crate::Totals) field of the same name,
//! with Prometheus' `_total` suffix; the breaker's name is the only label
//! (`name`), so that cardinality is bounded by the number of breakers:
//!
//! | metric | kind | meaning |
//! | --- | --- | --- |
//! | `circuit_breaker_state` | gauge | 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open (resilience4j's order) |
//! | `circuit_breaker_successes_total` | counter | calls recorded as successes |
//! | `circuit_breaker_failures_total` | counter | calls recorded as failures, timeouts included |
//! | `circuit_breaker_ignored_total` | counter | calls whose error was ignored |
//! | `circuit_breaker_cancelled_total` | counter | admitted calls that ended without an outcome |
//! | `circuit_breaker_rejected_total` | counter | calls rejected without running |
//! | `circuit_breaker_timeouts_total` | counter | calls cut off by `call_timeout` (also failures) |
//! | `circuit_breaker_slow_calls_total` | counter | calls that lasted at least `slow_call_duration` |
//! | `circuit_breaker_call_duration_seconds` | histogram | how long each call with an outcome lasted |
//!
//! The calls asked of a breaker (`Totals::calls`) are the sum of the
//! successes, failures, ignored, cancelled and rejected counters, plus the
//! calls in flight.
//!
//! No call pays for them: each breaker registers its series once, when it
//! is built (install the recorder first); a background thread copies the
//! counts the breaker keeps anyway into the counters every second
//! (`metrics::set_sync_interval`, `metrics::sync_now`); the state gauge is
//! set at each transition; and the histogram samples one call in
//! `metrics::SAMPLE_EVERY` (64) per stripe of the breaker's counters, the
//! first included, so that only those calls read the clock.

use std::time::Duration;

use crate::breaker::State;
use crate::config::StateChange;
use crate::error::{RejectReason, Rejected};
use crate::overrides::{ConfigProblem, UnusedConfiguration};

/// A breaker's link to the `metrics` exporter (see `crate::exporter`): its
/// series, registered once when it is built. Without the feature it is
/// empty and its methods compile to nothing.
pub(crate) struct Exporter {
    #[cfg(feature = "metrics")]
    exported: std::sync::Arc<crate::exporter::Exported>,
}

/// Whether calls' durations are sampled for the histogram.
pub(crate) const SAMPLES_DURATIONS: bool = cfg!(feature = "metrics");

/// The lifetime counts the breaker's stripes keep, as the exporter reads
/// them.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct StripeTotals {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) rejected: u64,
}

/// The lifetime totals only the locked path keeps, by their place in the
/// exporter's copy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockedTotal {
    Ignored,
    Cancelled,
    SlowCalls,
    Timeouts,
}

impl Exporter {
    /// Registers the breaker `name`'s series; `stripes` reads its
    /// lifetime counts without its lock.
    #[allow(unused_variables)]
    pub(crate) fn new(
        name: &str,
        stripes: impl Fn() -> StripeTotals + Send + Sync + 'static,
    ) -> Exporter {
        Exporter {
            #[cfg(feature = "metrics")]
            exported: crate::exporter::Exported::register(name, stripes),
        }
    }

    /// Whether the call whose admission found `admitted` earlier admissions
    /// on its stripe has its duration sampled: one in
    /// [`SAMPLE_EVERY`](crate::exporter::SAMPLE_EVERY), the first included.
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn samples(admitted: u64) -> bool {
        #[cfg(feature = "metrics")]
        {
            // A power of two: a mask, not a division.
            admitted & (crate::exporter::SAMPLE_EVERY - 1) == 0
        }
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// A sampled call's duration.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn duration(&self, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        self.exported.duration(elapsed);
    }

    /// The state gauge, set under the breaker's lock at each transition so
    /// that it follows the transitions in order and always ends at the
    /// actual state.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn state(&self, state: State) {
        #[cfg(feature = "metrics")]
        self.exported.state(state);
    }

    /// One of the totals only the locked path keeps changed: copied, under
    /// the breaker's lock, for the next sync.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn locked_total(&self, which: LockedTotal, value: u64) {
        #[cfg(feature = "metrics")]
        self.exported.locked_total(which, value);
    }
}

/// The metrics' names, for dashboards and tests.
#[cfg(feature = "metrics")]
pub mod names {
    /// Gauge: the state's code (see [`state_code`](super::state_code)).
    pub const STATE: &str = "circuit_breaker_state";
    /// Counter: successes (`Totals::successes`).
    pub const SUCCESSES: &str = "circuit_breaker_successes_total";
    /// Counter: failures, timeouts included (`Totals::failures`).
    pub const FAILURES: &str = "circuit_breaker_failures_total";
    /// Counter: ignored outcomes (`Totals::ignored`).
    pub const IGNORED: &str = "circuit_breaker_ignored_total";
    /// Counter: calls cancelled, dropped permits and futures
    /// (`Totals::cancelled`).
    pub const CANCELLED: &str = "circuit_breaker_cancelled_total";
    /// Counter: rejections (`Totals::rejected`).
    pub const REJECTED: &str = "circuit_breaker_rejected_total";
    /// Counter: `call_timeout` expiries (`Totals::timeouts`).
    pub const TIMEOUTS: &str = "circuit_breaker_timeouts_total";
    /// Counter: slow calls (`Totals::slow_calls`).
    pub const SLOW_CALLS: &str = "circuit_breaker_slow_calls_total";
    /// Histogram: call durations in seconds.
    pub const CALL_DURATION: &str = "circuit_breaker_call_duration_seconds";
    /// The one label, the breaker's name.
    pub const LABEL: &str = "name";
}

/// The value of the `circuit_breaker_state` gauge for `state`: resilience4j's
/// order of its states.
#[cfg(feature = "metrics")]
pub fn state_code(state: State) -> f64 {
    match state {
        State::Closed => 0.0,
        State::Open => 1.0,
        State::HalfOpen => 2.0,
        State::Disabled => 3.0,
        State::ForcedOpen => 4.0,
    }
}

/// Gives every metric a description (the `# HELP` lines of a Prometheus
/// scrape). Call it once, after installing the recorder; optional.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        names::STATE,
        "Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open"
    );
    describe_counter!(names::SUCCESSES, "Calls recorded as successes");
    describe_counter!(
        names::FAILURES,
        "Calls recorded as failures, timeouts included"
    );
    describe_counter!(names::IGNORED, "Calls whose error was ignored");
    describe_counter!(
        names::CANCELLED,
        "Admitted calls that ended without an outcome"
    );
    describe_counter!(names::REJECTED, "Calls rejected without running");
    describe_counter!(
        names::TIMEOUTS,
        "Calls cut off by call_timeout (also failures)"
    );
    describe_counter!(
        names::SLOW_CALLS,
        "Calls that lasted at least slow_call_duration"
    );
    describe_histogram!(
        names::CALL_DURATION,
        Unit::Seconds,
        "How long each call with an outcome lasted"
    );
}

/// A state change, announced after the breaker's lock is released.
#[inline]
#[allow(unused_variables)]
pub(crate) fn state_changed(change: &StateChange<'_>) {
    #[cfg(feature = "tracing")]
    {
        let c = &change.period;
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "breakerbox",
                    $level,
                    breaker = change.name,
                    from = change.from.as_str(),
                    to = change.to.as_str(),
                    calls = c.calls,
                    successes = c.successes,
                    failures = c.failures,
                    ignored = c.ignored,
                    cancelled = c.cancelled,
                    rejected = c.rejected,
                    consecutive_successes = c.consecutive_successes,
                    consecutive_failures = c.consecutive_failures,
                    slow_calls = c.slow_calls,
                    timeouts = c.timeouts,
                    tripped_by = change.tripped_by.map(crate::TripReason::as_str),
                    "circuit breaker `{}` {} -> {}",
                    crate::error::Escaped(change.name),
                    change.from,
                    change.to,
                )
            };
        }
        match change.to {
            State::Open | State::ForcedOpen => event!(tracing::Level::WARN),
            State::Closed | State::HalfOpen | State::Disabled => event!(tracing::Level::INFO),
        }
    }
}

/// Transitions the listeners had not heard of yet were dropped from a full
/// queue (a listener blocked while the breaker kept changing state).
#[cold]
#[inline(never)]
pub(crate) fn announcements_dropped(name: &str, dropped: usize) {
    tracing::warn!(
        target: "breakerbox",
        breaker = name,
        dropped,
        "circuit breaker `{}`: {dropped} state changes were not announced to the log and the \
         on_state_change listeners, whose queue was full (is a listener blocked?)",
        crate::error::Escaped(name),
    );
}

/// Whether anything listens for rejections: checked before building the
/// reason, so that a rejection nobody observes costs one relaxed load (the
/// `tracing` level filter) or nothing.
#[inline(always)]
fn wants_rejections() -> bool {
    #[cfg(feature = "tracing")]
    if tracing::enabled!(target: "breakerbox", tracing::Level::DEBUG) {
        return true;
    }
    false
}

/// A rejected call. The reason is built, and the name read, only if
/// someone listens.
#[inline(always)]
pub(crate) fn rejected(rejected: &Rejected) {
    if wants_rejections() {
        report_rejection(rejected.breaker(), &rejected.reason());
    }
}

#[inline(never)]
#[allow(unused_variables)]
fn report_rejection(name: &str, reason: &RejectReason) {
    #[cfg(feature = "tracing")]
    match reason {
        RejectReason::Open { retry_after } => tracing::debug!(
            target: "breakerbox",
            breaker = name,
            reason = "open",
            retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            "circuit breaker `{}` rejected a call: open",
            crate::error::Escaped(name),
        ),
        other => {
            let reason = reason_str(other);
            tracing::debug!(
                target: "breakerbox",
                breaker = name,
                reason,
                "circuit breaker `{}` rejected a call: {reason}",
                crate::error::Escaped(name),
            )
        }
    }
}

/// User code the breaker runs under its lock (`what`: the `trip_when`
/// predicate, a `Clock`) panicked; the breaker contained it. Always
/// reported, whatever the features: it is a bug to fix, not an event.
#[cold]
#[inline(never)]
pub(crate) fn user_code_panicked(name: &str, what: &str, payload: &(dyn std::any::Any + Send)) {
    let message = panic_message(payload);
    tracing::error!(
        target: "breakerbox",
        breaker = name,
        code = what,
        panic = message,
        "circuit breaker `{}`: `{what}` panicked and was contained: {}",
        crate::error::Escaped(name),
        crate::error::Escaped(message),
    );
}

/// A panic's message, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a non-string panic payload)")
}

/// A setting the registry refused when it created a breaker: always
/// logged, whatever the features (a refused setting is rare and must not go
/// unseen).
pub(crate) fn setting_refused(problem: &ConfigProblem) {
    tracing::warn!(
        target: "breakerbox",
        breaker = problem.breaker(),
        key = problem.key(),
        value = problem.value(),
        origin = problem.origin(),
        reason = problem.reason(),
        "setting refused: {problem}",
    );
}

/// Settings for a name no breaker has been created with, reported when
/// the application asks (`Registry::warn_unused_configurations`).
pub(crate) fn unused_configuration(unused: &UnusedConfiguration) {
    tracing::warn!(
        target: "breakerbox",
        breaker = unused.name(),
        origin = unused.origin(),
        "unused configuration: {unused}",
    );
}

#[cfg(feature = "tracing")]
fn reason_str(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::Open { .. } => "open",
        RejectReason::HalfOpenFull => "half_open_full",
        RejectReason::TooManyCalls => "too_many_calls",
        RejectReason::ForcedOpen => "forced_open",
    }
}
