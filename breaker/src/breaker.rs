//! The state machine: admission ([`CircuitBreaker::try_acquire`]) and
//! recording ([`Permit`]'s outcomes), read top to bottom.
//!
//! One small lock guards the state; it is held only for a few field
//! updates, never while user code runs: protected calls, classifiers,
//! fallbacks and `on_state_change` listeners all run outside it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, StateChange};
use crate::error::{Error, RejectReason, Rejected};
use crate::observe;
use crate::permit::{self, Outcome, Permit};
use crate::stats::{Counts, Stats, Totals};
use crate::sync::{lock, Mutex};
use crate::window::Window;

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls run; outcomes are counted and the trip policies judged.
    Closed,
    /// Calls are rejected without running, until the open period ends.
    Open,
    /// A limited number of probe calls run; enough successes close the
    /// breaker, any failure opens it again.
    HalfOpen,
    /// Forced open by hand ([`CircuitBreaker::force_open`]): every call is
    /// rejected until [`CircuitBreaker::reset`].
    ForcedOpen,
    /// Disabled by hand ([`CircuitBreaker::disable`]): every call runs and is
    /// counted, nothing trips, until [`CircuitBreaker::reset`].
    Disabled,
}

impl State {
    /// The state's name in snake case, as logs and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment, so tables can align states.
        f.pad(self.as_str())
    }
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Success,
    Failure,
    Timeout,
    Ignored,
    Cancelled,
}

/// A circuit breaker.
///
/// Share it by reference or in an `Arc`; every method takes `&self`.
///
/// ```
/// use breaker::{CircuitBreaker, Config, Error, State};
/// use std::time::Duration;
///
/// let cb = CircuitBreaker::new("db", Config::default().max_failures(2)).unwrap();
/// for _ in 0..2 {
///     let _ = cb.call(|| Err::<(), _>("connection refused"));
/// }
/// assert_eq!(cb.state(), State::Open);
/// // While open, calls are rejected without running.
/// let result = cb.call(|| Ok::<_, &str>("never runs"));
/// assert!(matches!(result, Err(Error::Rejected(_))));
/// ```
pub struct CircuitBreaker {
    name: Arc<str>,
    config: Config,
    /// `config.slow_call_duration`, where the hot path reads it.
    slow_after: Option<Duration>,
    core: Mutex<Core>,
}

/// Everything that changes, behind the breaker's lock.
struct Core {
    state: State,
    generation: u64,
    counts: Counts,
    totals: Totals,
    window: Option<Window>,
    /// When the current state began.
    state_since: Duration,
    /// When an open breaker turns half-open.
    open_until: Duration,
    /// How long the next (or current) open period lasts, backoff included.
    open_duration: Duration,
    open_count: u64,
    /// While closed with an `interval`, when the counts are next cleared.
    clear_at: Option<Duration>,
    /// Admitted calls not yet finished, every generation.
    running: u64,
    /// Probe permits not yet finished, of any generation: a probe still
    /// running when the breaker re-opens keeps its slot, so that a new
    /// half-open period never runs more than `half_open_max_calls` at once.
    probes: u32,
    /// Probes of generations below this were abandoned (hung past
    /// `half_open_max_wait`, or cut off by a manual command) and no longer
    /// hold a slot.
    abandon_below: u64,
    /// While half-open, when a probe last reported (or the period began).
    probe_progress: Duration,
}

/// Up to two state changes made under the lock, announced after it.
#[derive(Default)]
struct Changes {
    list: [Option<(State, State, Counts)>; 2],
}

impl Changes {
    fn push(&mut self, from: State, to: State, counts: Counts) {
        if let Some(slot) = self.list.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((from, to, counts));
        }
    }

    fn is_empty(&self) -> bool {
        self.list[0].is_none()
    }
}

impl CircuitBreaker {
    /// A breaker named `name`, after checking `config`.
    pub fn new(name: impl Into<Arc<str>>, config: Config) -> Result<Self, ConfigError> {
        let name = name.into();
        config.validate().map_err(|e| e.for_breaker(&name))?;
        let now = config.clock.now();
        let core = Core {
            state: State::Closed,
            generation: 0,
            counts: Counts::default(),
            totals: Totals::default(),
            window: config.window_kind().map(Window::new),
            state_since: now,
            open_until: now,
            open_duration: config.timeout,
            open_count: 0,
            clear_at: config.interval.map(|every| now.saturating_add(every)),
            running: 0,
            probes: 0,
            abandon_below: 0,
            probe_progress: now,
        };
        Ok(CircuitBreaker {
            name,
            slow_after: config.slow_call_duration,
            config,
            core: Mutex::new(core),
        })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- admission ------------------------------------------------------

    /// Asks to make one call: a [`Permit`] to consume with the call's
    /// outcome, or the reason the call is refused.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let mut changes = Changes::default();
        let admitted = {
            let mut core = lock(&self.core);
            let now = self.config.clock.now();
            self.advance(&mut core, now, &mut changes);
            self.admit(&mut core, now)
        };
        // observe: a rejection
        if let Err(rejected) = &admitted {
            observe::rejected(&self.name, &rejected.reason())
        }
        let permit = admitted.map(|(generation, started, probe)| Permit {
            breaker: self,
            generation,
            started,
            probe,
        });
        if let Some(payload) = self.announce(&changes) {
            // A listener panicked: give the admission back before
            // propagating, so that nothing is held or counted for a call
            // that never ran.
            drop(permit);
            panic::resume_unwind(payload);
        }
        permit
    }

    /// Decides on one call in the current state, and counts it.
    fn admit(
        &self,
        core: &mut Core,
        now: Duration,
    ) -> Result<(u64, Option<Duration>, bool), Rejected> {
        let probe = match core.state {
            State::Closed => false,
            State::Disabled => false,
            State::Open => {
                let retry_after = core.open_until.saturating_sub(now);
                return Err(self.reject(core, RejectReason::Open { retry_after }));
            }
            State::ForcedOpen => return Err(self.reject(core, RejectReason::ForcedOpen)),
            State::HalfOpen => {
                if core.probes >= self.config.half_open_max_calls {
                    return Err(self.reject(core, RejectReason::HalfOpenFull));
                }
                true
            }
        };
        if let Some(limit) = self.config.max_concurrent_calls {
            if core.state != State::Disabled && core.running >= u64::from(limit) {
                return Err(self.reject(core, RejectReason::TooManyCalls));
            }
        }
        if probe {
            // The hung-probe clock starts with the first probe in flight,
            // not when the breaker turned half-open while nobody called.
            if core.probes == 0 {
                core.probe_progress = now;
            }
            core.probes += 1;
        }
        core.running += 1;
        core.counts.requests = core.counts.requests.saturating_add(1);
        core.totals.requests = core.totals.requests.saturating_add(1);
        // observe: the metrics need every call's duration
        let started = (self.slow_after.is_some() || observe::WANTS_ELAPSED).then_some(now);
        Ok((core.generation, started, probe))
    }

    fn reject(&self, core: &mut Core, reason: RejectReason) -> Rejected {
        core.counts.rejected = core.counts.rejected.saturating_add(1);
        core.totals.rejected = core.totals.rejected.saturating_add(1);
        Rejected::new(self.name_arc(), reason)
    }

    // ----- recording ------------------------------------------------------

    /// Ends an admitted call: the permit's only way back into the breaker.
    pub(crate) fn finish(
        &self,
        generation: u64,
        started: Option<Duration>,
        probe: bool,
        ending: Ending,
    ) {
        let mut changes = Changes::default();
        // observe: the block yields its time, for the call's duration
        let now = {
            let mut core = lock(&self.core);
            let now = self.config.clock.now();
            core.running = core.running.saturating_sub(1);
            self.count_total(&mut core, ending, started, now);
            self.advance(&mut core, now, &mut changes);
            if probe && generation >= core.abandon_below {
                core.probes = core.probes.saturating_sub(1);
            }
            if generation == core.generation {
                if probe {
                    core.probe_progress = now;
                }
                let slow = self.is_slow(started, now);
                match ending {
                    Ending::Success => self.on_success(&mut core, now, slow, &mut changes),
                    Ending::Failure | Ending::Timeout => self.on_failure(
                        &mut core,
                        now,
                        slow,
                        ending == Ending::Timeout,
                        &mut changes,
                    ),
                    Ending::Ignored => core.counts.ignored = core.counts.ignored.saturating_add(1),
                    Ending::Cancelled => {}
                }
            } else if ending != Ending::Cancelled {
                // Admitted before the last state change: its result says
                // nothing about the period that followed.
                core.totals.stale = core.totals.stale.saturating_add(1);
            }
            now
        };
        // observe: an outcome
        observe::recorded(
            &self.name,
            observe::Recorded::new(ending, self.is_slow(started, now)),
            started.map(|s| now.saturating_sub(s)),
        );
        if let Some(payload) = self.announce(&changes) {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }

    fn is_slow(&self, started: Option<Duration>, now: Duration) -> bool {
        match (self.slow_after, started) {
            (Some(threshold), Some(started)) => now.saturating_sub(started) >= threshold,
            _ => false,
        }
    }

    /// Lifetime totals count every ending, stale or not.
    fn count_total(
        &self,
        core: &mut Core,
        ending: Ending,
        started: Option<Duration>,
        now: Duration,
    ) {
        let totals = &mut core.totals;
        let slot = match ending {
            Ending::Success => &mut totals.successes,
            Ending::Failure => &mut totals.failures,
            Ending::Timeout => {
                totals.timeouts = totals.timeouts.saturating_add(1);
                &mut totals.failures
            }
            Ending::Ignored => &mut totals.ignored,
            Ending::Cancelled => &mut totals.cancelled,
        };
        *slot = slot.saturating_add(1);
        if ending != Ending::Cancelled && self.is_slow(started, now) {
            totals.slow_calls = totals.slow_calls.saturating_add(1);
        }
    }

    fn on_success(&self, core: &mut Core, now: Duration, slow: bool, changes: &mut Changes) {
        let counts = &mut core.counts;
        counts.total_successes = counts.total_successes.saturating_add(1);
        counts.consecutive_successes = counts.consecutive_successes.saturating_add(1);
        counts.consecutive_failures = 0;
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                if let Some(window) = core.window.as_mut() {
                    window.record(now, false, slow);
                }
                if self.should_trip(core, now) {
                    self.set_state(core, State::Open, now, changes);
                }
            }
            State::HalfOpen => {
                // A slow probe, where slowness can trip the breaker, shows
                // the dependency has not recovered.
                if slow && self.config.slow_call_rate.is_some() {
                    self.set_state(core, State::Open, now, changes);
                } else if core.counts.consecutive_successes
                    >= u64::from(self.config.success_threshold)
                {
                    self.set_state(core, State::Closed, now, changes);
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    fn on_failure(
        &self,
        core: &mut Core,
        now: Duration,
        slow: bool,
        timeout: bool,
        changes: &mut Changes,
    ) {
        let counts = &mut core.counts;
        counts.total_failures = counts.total_failures.saturating_add(1);
        counts.consecutive_failures = counts.consecutive_failures.saturating_add(1);
        counts.consecutive_successes = 0;
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        if timeout {
            counts.timeouts = counts.timeouts.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                if let Some(window) = core.window.as_mut() {
                    window.record(now, true, slow);
                }
                if self.should_trip(core, now) {
                    self.set_state(core, State::Open, now, changes);
                }
            }
            State::HalfOpen => self.set_state(core, State::Open, now, changes),
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    /// The trip policies, any one of which opens a closed breaker.
    fn should_trip(&self, core: &mut Core, now: Duration) -> bool {
        let config = &self.config;
        if let Some(max) = config.max_failures {
            if core.counts.consecutive_failures >= u64::from(max) {
                return true;
            }
        }
        if let Some(window) = core.window.as_mut() {
            let tally = window.tally(now);
            let enough = u64::from(config.minimum_calls).min(window.capacity());
            if tally.calls > 0 && tally.calls >= enough {
                let calls = tally.calls as f64;
                if let Some(rate) = config.failure_rate {
                    if tally.failures as f64 / calls >= rate {
                        return true;
                    }
                }
                if let Some(rate) = config.slow_call_rate {
                    if tally.slow as f64 / calls >= rate {
                        return true;
                    }
                }
            }
        }
        match &config.trip_when {
            Some(predicate) => predicate(&core.counts),
            None => false,
        }
    }

    // ----- time -----------------------------------------------------------

    /// The transitions that time alone makes: open → half-open when the
    /// open period ends; half-open → open when probes hang past
    /// `half_open_max_wait`; clearing the counts every `interval`.
    fn advance(&self, core: &mut Core, now: Duration, changes: &mut Changes) {
        match core.state {
            State::Open if now >= core.open_until => {
                self.set_state(core, State::HalfOpen, now, changes);
            }
            State::HalfOpen => {
                if let Some(wait) = self.config.half_open_max_wait {
                    let quiet = now.saturating_sub(core.probe_progress);
                    if core.probes > 0 && quiet >= wait {
                        self.set_state(core, State::Open, now, changes);
                        Self::abandon_probes(core);
                    }
                }
            }
            State::Closed => {
                if let Some(at) = core.clear_at {
                    if now >= at {
                        self.new_generation(core, now);
                    }
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    /// Starts a new period: fresh counts and window, and results of calls
    /// admitted before it no longer count.
    fn new_generation(&self, core: &mut Core, now: Duration) {
        core.generation = core.generation.wrapping_add(1);
        core.counts = Counts::default();
        core.probe_progress = now;
        if let Some(window) = core.window.as_mut() {
            window.clear();
        }
        core.clear_at = match (core.state, self.config.interval) {
            (State::Closed, Some(every)) => Some(now.saturating_add(every)),
            _ => None,
        };
    }

    /// Frees the slots of the probes in flight: they will never report
    /// into a period that can use them.
    fn abandon_probes(core: &mut Core) {
        core.probes = 0;
        core.abandon_below = core.generation;
    }

    fn set_state(&self, core: &mut Core, to: State, now: Duration, changes: &mut Changes) {
        let from = core.state;
        let ended = core.counts;
        core.state = to;
        core.state_since = now;
        self.new_generation(core, now);
        match to {
            State::Open => {
                core.open_duration = if from == State::HalfOpen {
                    self.backed_off(core.open_duration)
                } else {
                    self.config.timeout
                };
                core.open_until = now.saturating_add(core.open_duration);
                core.open_count = core.open_count.saturating_add(1);
            }
            State::Closed => core.open_duration = self.config.timeout,
            State::HalfOpen | State::ForcedOpen | State::Disabled => {}
        }
        if from != to {
            changes.push(from, to, ended);
        }
    }

    /// The open period after one more re-open without a close.
    fn backed_off(&self, current: Duration) -> Duration {
        let Some(factor) = self.config.backoff_multiplier else {
            return self.config.timeout;
        };
        let cap = self.config.effective_backoff_max();
        let next = current.as_secs_f64() * factor;
        if !next.is_finite() || next >= cap.as_secs_f64() {
            return cap;
        }
        Duration::try_from_secs_f64(next).map_or(cap, |d| d.min(cap))
    }

    // ----- announcing -----------------------------------------------------

    /// Calls the `on_state_change` listeners, outside the lock. A panicking
    /// listener does not stop the others; the first panic is handed back so
    /// the caller can propagate it once the breaker is consistent.
    fn announce(&self, changes: &Changes) -> Option<Box<dyn Any + Send>> {
        // observe: a state change
        changes
            .list
            .iter()
            .flatten()
            .for_each(|&(from, to, counts)| {
                observe::state_changed(&StateChange {
                    name: &self.name,
                    from,
                    to,
                    counts,
                })
            });
        if changes.is_empty() || self.config.on_state_change.is_empty() {
            return None;
        }
        let mut first_panic = None;
        for (from, to, counts) in changes.list.iter().flatten() {
            let change = StateChange {
                name: &self.name,
                from: *from,
                to: *to,
                counts: *counts,
            };
            for listener in &self.config.on_state_change {
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| listener(&change))) {
                    first_panic.get_or_insert(payload);
                }
            }
        }
        first_panic
    }

    /// Runs `with` on the state after the time-driven transitions, then
    /// announces any transition.
    fn inspect<R>(&self, with: impl FnOnce(&mut Core, Duration) -> R) -> R {
        let mut changes = Changes::default();
        let result = {
            let mut core = lock(&self.core);
            let now = self.config.clock.now();
            self.advance(&mut core, now, &mut changes);
            with(&mut core, now)
        };
        if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
        result
    }

    fn command(&self, to: State) {
        let mut changes = Changes::default();
        {
            let mut core = lock(&self.core);
            let now = self.config.clock.now();
            self.set_state(&mut core, to, now, &mut changes);
            Self::abandon_probes(&mut core);
        }
        if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
    }

    // ----- the public surface ---------------------------------------------

    /// The current state (making the time-driven transitions first: an
    /// open breaker whose period has ended reports `HalfOpen`).
    pub fn state(&self) -> State {
        self.inspect(|core, _| core.state)
    }

    /// A snapshot of the state and counts.
    pub fn stats(&self) -> Stats {
        self.inspect(|core, now| {
            let (failure_rate, slow_call_rate) = match core.window.as_mut() {
                Some(window) => {
                    let tally = window.tally(now);
                    (
                        ratio(tally.failures, tally.calls),
                        ratio(tally.slow, tally.calls),
                    )
                }
                None => {
                    let c = &core.counts;
                    let judged = c.total_successes.saturating_add(c.total_failures);
                    (ratio(c.total_failures, judged), ratio(c.slow_calls, judged))
                }
            };
            Stats {
                name: self.name.to_string(),
                state: core.state,
                counts: core.counts,
                totals: core.totals,
                failure_rate,
                slow_call_rate,
                running_calls: core.running,
                time_until_half_open: (core.state == State::Open)
                    .then(|| core.open_until.saturating_sub(now)),
                open_count: core.open_count,
                time_in_state: now.saturating_sub(core.state_since),
                open_duration: core.open_duration,
                generation: core.generation,
            }
        })
    }

    /// Back to `Closed` with fresh counts and window, the backoff reset and
    /// manual control ended. Calls still running when it happens are not
    /// counted toward the new period. Lifetime [`Totals`] are kept.
    pub fn reset(&self) {
        self.command(State::Closed);
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is
    /// rejected with [`RejectReason::ForcedOpen`] (Polly's isolate,
    /// resilience4j's `FORCED_OPEN`).
    pub fn force_open(&self) {
        self.command(State::ForcedOpen);
    }

    /// Disables the breaker until [`reset`](Self::reset): every call runs
    /// (the bulkhead included) and is counted, and nothing trips
    /// (resilience4j's `DISABLED`).
    pub fn disable(&self) {
        self.command(State::Disabled);
    }

    /// Runs `f` if the breaker admits it, and records its result: `Ok` is a
    /// success, `Err` a failure. A panic in `f` is recorded as a failure and
    /// propagates.
    pub fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(|_| Outcome::Failure, f)
    }

    /// Like [`call`](Self::call), with `classify` deciding what each error
    /// is: a [`Outcome::Failure`], [`Outcome::Ignored`], or even a
    /// [`Outcome::Success`].
    ///
    /// ```
    /// use breaker::{CircuitBreaker, Config, Outcome};
    ///
    /// let cb = CircuitBreaker::new("users", Config::default().max_failures(1)).unwrap();
    /// let not_found = |e: &u16| if *e == 404 { Outcome::Ignored } else { Outcome::Failure };
    /// let _ = cb.call_with(not_found, || Err::<(), u16>(404));
    /// assert_eq!(cb.state(), breaker::State::Closed);
    /// ```
    pub fn call_with<T, E, C, F>(&self, classify: C, f: F) -> Result<T, Error<E>>
    where
        C: FnOnce(&E) -> Outcome,
        F: FnOnce() -> Result<T, E>,
    {
        let permit = self.try_acquire().map_err(Error::Rejected)?;
        let result = f();
        permit.record(permit::classify(result.as_ref(), classify));
        result.map_err(Error::Inner)
    }

    /// Runs the future `f` returns, if the breaker admits it, and records
    /// its result. With `call_timeout`, a call that runs longer is dropped
    /// and returned as [`Error::TimedOut`]. Dropping the returned future
    /// before it completes releases the permit and records nothing.
    pub async fn call_async<T, E, F, Fut>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_async_with(|_| Outcome::Failure, f).await
    }

    /// [`call_async`](Self::call_async) with a classifier, as
    /// [`call_with`](Self::call_with).
    pub async fn call_async_with<T, E, C, F, Fut>(&self, classify: C, f: F) -> Result<T, Error<E>>
    where
        C: FnOnce(&E) -> Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(Error::Rejected)?;
        #[cfg(feature = "tokio")]
        let result = match self.config.call_timeout {
            Some(limit) => match tokio::time::timeout(limit, f()).await {
                Ok(result) => result,
                Err(_) => return Err(Error::TimedOut(permit.timed_out(limit))),
            },
            None => f().await,
        };
        #[cfg(not(feature = "tokio"))]
        let result = f().await;
        permit.record(permit::classify(result.as_ref(), classify));
        result.map_err(Error::Inner)
    }

    /// Resolves when a call would be admitted: at once when closed, when
    /// the open period ends, or when a probe slot or bulkhead place frees.
    /// Never resolves while forced open.
    ///
    /// Sleeps with tokio's timer, so the breaker's clock should follow it
    /// ([`SystemClock`](crate::SystemClock), or [`TokioClock`](crate::TokioClock)
    /// under paused time).
    #[cfg(feature = "tokio")]
    pub async fn wait_until_ready(&self) {
        /// How often a breaker whose readiness does not depend on time
        /// (probe slots, bulkhead places) is checked again.
        const RECHECK: Duration = Duration::from_millis(10);
        loop {
            let wait = self.inspect(|core, now| match core.state {
                State::Open => Some(
                    core.open_until
                        .saturating_sub(now)
                        .max(Duration::from_millis(1)),
                ),
                State::ForcedOpen => Some(RECHECK),
                State::HalfOpen if core.probes >= self.config.half_open_max_calls => Some(RECHECK),
                State::Disabled => None,
                State::Closed | State::HalfOpen => match self.config.max_concurrent_calls {
                    Some(limit) if core.running >= u64::from(limit) => Some(RECHECK),
                    _ => None,
                },
            });
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
