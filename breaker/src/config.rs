//! Configuration: built with chained setters, validated once by
//! [`CircuitBreaker::new`](crate::CircuitBreaker::new), immutable after.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Escaped, Name};
use crate::stats::{Counts, TripReason};
use crate::State;

/// How long a half-open breaker waits for word from its probes when
/// [`Config::half_open_max_wait`] is not set (and no longer `call_timeout`
/// asks for more): after that the silent probes' slots are freed, so that
/// the next calls can probe, and a probe that never reports (hung, or its
/// permit forgotten with `mem::forget`) cannot keep a breaker half-open and
/// refusing every call for ever. The breaker stays half-open, and a slow
/// probe that reports later still counts.
pub const DEFAULT_HALF_OPEN_MAX_WAIT: Duration = Duration::from_secs(60);

/// A state change, as passed to [`Config::on_state_change`] callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange<'a> {
    /// The breaker's name.
    pub name: &'a str,
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// The counts of the period that ended (what tripped it, for a trip).
    pub period: Counts,
    /// For a trip (closed to open), the policy that tripped it; `None` for
    /// every other change.
    pub tripped_by: Option<TripReason>,
}

pub(crate) type TripPredicate = Arc<dyn Fn(&Counts) -> bool + Send + Sync>;
pub(crate) type StateListener = Arc<dyn Fn(&StateChange<'_>) + Send + Sync>;

/// The sliding window that failure-rate and slow-call-rate policies judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowKind {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `span`, kept in `buckets` buckets.
    Time { span: Duration, buckets: u32 },
}

/// How a breaker decides when to trip, how long it stays open and how it
/// recovers.
///
/// Every setter takes and returns the `Config`, so a configuration reads as
/// one expression; the attribute's keys are the setters' names.
/// [`settings`](Config::settings) reads every setting back.
/// Nothing is checked until [`CircuitBreaker::new`](crate::CircuitBreaker::new)
/// (or [`Config::validate`]), which names the first invalid field and value.
///
/// ```
/// use breakerbox::Config;
/// use std::time::Duration;
///
/// let config = Config::default()
///     .max_failures(3)
///     .timeout(Duration::from_secs(30))
///     .failure_rate(0.5)
///     .count_window(20)
///     .minimum_calls(10);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) settings: Settings,
    pub(crate) trip_when: Option<TripPredicate>,
    pub(crate) on_state_change: Vec<StateListener>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Whether `clock` is the [`SystemClock`], which the hot path then reads
    /// directly instead of through the trait object.
    pub(crate) system_clock: bool,
}

/// Every setting of a [`Config`] that a key can give (the attribute, a
/// configuration file, an environment variable, serde), as
/// [`Config::settings`] reads them back: what a configuration merged from
/// several sources ended up with. The fields are named as the keys and the
/// setters; a setting that is off or not set is `None`.
///
/// ```
/// use breakerbox::{Config, PartialConfig};
/// use std::time::Duration;
///
/// let mut file = PartialConfig::new();
/// file.set("timeout", "30s").unwrap();
/// let config = file.apply(Config::default().max_failures(3));
/// let settings = config.settings();
/// assert_eq!(settings.timeout, Duration::from_secs(30)); // the file's
/// assert_eq!(settings.max_failures, Some(3));            // the code's
/// assert_eq!(settings.failure_rate, None);               // not set
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// Failures in a row that open the breaker; `None` when the policy is
    /// off ([`Config::without_max_failures`], `max_failures = "off"`).
    pub max_failures: Option<u32>,
    /// The open period before backoff: how long the breaker stays open
    /// after a trip.
    pub timeout: Duration,
    /// The fraction by which each open period is spread around its
    /// length (0: none; 0.1: ±10 %).
    pub jitter: f64,
    /// How many probes may run at once while half-open.
    pub half_open_max_calls: u32,
    /// How many successful probes close the breaker.
    pub success_threshold: u32,
    /// The bulkhead's limit on calls running at once; `None`: unlimited.
    pub max_concurrent_calls: Option<u32>,
    /// How often a closed breaker clears its counts; `None`: never.
    pub interval: Option<Duration>,
    /// The failure rate that opens the breaker; `None`: no such policy.
    pub failure_rate: Option<f64>,
    /// The count window's size, when one is set.
    pub count_window: Option<u32>,
    /// The time window's span, when one is set.
    pub time_window: Option<Duration>,
    /// The time window's buckets, when set (10 when not).
    pub time_window_buckets: Option<u32>,
    /// How many calls the window must hold before a rate is judged.
    pub minimum_calls: u32,
    /// The duration from which a call is slow, when set.
    pub slow_call_duration: Option<Duration>,
    /// The slow-call rate that opens the breaker; `None`: no such policy.
    pub slow_call_rate: Option<f64>,
    /// The open period's backoff factor, when set.
    pub backoff_multiplier: Option<f64>,
    /// The backed-off open period's cap, when set (10 × `timeout` when not).
    pub backoff_max: Option<Duration>,
    /// How long a half-open breaker waits for its probes, when set (see
    /// [`Config::effective_half_open_max_wait`] for the wait when not).
    pub half_open_max_wait: Option<Duration>,
    /// The limit on an async call's duration, when set.
    pub call_timeout: Option<Duration>,
    /// The [`StateStore`](crate::StateStore) the breaker shares its state
    /// through, by its registered name; `None`: the registry's default.
    pub store: Option<Name>,
}

/// The store name that keeps a breaker in its process even when the
/// registry has a default store.
pub const LOCAL_STORE: &str = "local";

/// The window used when a rate policy is set without a window: the last
/// 100 calls, as resilience4j's default.
pub(crate) const DEFAULT_COUNT_WINDOW: u32 = 100;
/// Buckets of a time window when not given.
pub(crate) const DEFAULT_TIME_BUCKETS: u32 = 10;
/// The most buckets a time window may have.
pub const MAX_TIME_BUCKETS: u32 = 1000;
/// The most calls a count window may hold. The window keeps one byte per
/// call, filled and cleared under the breaker's lock, so its size is
/// bounded: 100,000 calls is 100 KB per breaker, and ten times the largest
/// windows in common use.
pub const MAX_COUNT_WINDOW: u32 = 100_000;
/// `minimum_calls` when not given.
pub(crate) const DEFAULT_MINIMUM_CALLS: u32 = 10;

impl Default for Config {
    /// 5 consecutive failures open the breaker for 60 s; one probe at a
    /// time, one success closes it.
    fn default() -> Self {
        Config {
            settings: Settings {
                max_failures: Some(5),
                timeout: Duration::from_secs(60),
                jitter: 0.0,
                half_open_max_calls: 1,
                success_threshold: 1,
                max_concurrent_calls: None,
                interval: None,
                failure_rate: None,
                count_window: None,
                time_window: None,
                time_window_buckets: None,
                minimum_calls: DEFAULT_MINIMUM_CALLS,
                slow_call_duration: None,
                slow_call_rate: None,
                backoff_multiplier: None,
                backoff_max: None,
                half_open_max_wait: None,
                call_timeout: None,
                store: None,
            },
            trip_when: None,
            on_state_change: Vec::new(),
            clock: Arc::new(SystemClock),
            system_clock: true,
        }
    }
}

impl Config {
    /// For dependencies where failing fast matters more than patience:
    /// 3 failures, 30 s open, at most 100 concurrent calls, 3 successes to
    /// close.
    pub fn aggressive() -> Self {
        Config::default()
            .max_failures(3)
            .timeout(Duration::from_secs(30))
            .max_concurrent_calls(100)
            .success_threshold(3)
    }

    /// For dependencies that are slow to recover and costly to probe:
    /// 10 failures, 120 s open, 5 successes to close.
    pub fn conservative() -> Self {
        Config::default()
            .max_failures(10)
            .timeout(Duration::from_secs(120))
            .success_threshold(5)
    }

    /// Opens the breaker after `n` consecutive failures (default 5).
    pub fn max_failures(mut self, n: u32) -> Self {
        self.settings.max_failures = Some(n);
        self
    }

    /// Turns the consecutive-failures policy off, for a breaker that trips
    /// only on a rate or a custom predicate. The attribute, a configuration
    /// file, an environment variable and serde say `max_failures = "off"`.
    pub fn without_max_failures(mut self) -> Self {
        self.settings.max_failures = None;
        self
    }

    /// How long the breaker stays open before it admits a probe (default
    /// 60 s); the base of the backoff when one is set.
    pub fn timeout(mut self, open_for: Duration) -> Self {
        self.settings.timeout = open_for;
        self
    }

    /// Spreads each open period over `± fraction` of its length (default 0,
    /// none): with `jitter(0.1)`, a 30 s open period lasts between 27 s and
    /// 33 s. Many instances of a service whose breakers trip together (the
    /// dependency they share went down) then probe it at different
    /// moments, not all in the same millisecond. `fraction` is at least 0
    /// and below 1.
    ///
    /// Applied last, to the backed-off period too (so a period may exceed
    /// `backoff_max` by the same fraction). [`Stats::open_duration`](crate::Stats::open_duration)
    /// shows the period drawn. The draws are a breaker's own: seeded by its
    /// name and its clock's reading when it was built (and, on the
    /// [`SystemClock`], by the process's random hasher keys), so that
    /// breakers of one name in several processes draw differently, while
    /// a test on a [`ManualClock`](crate::ManualClock) draws the same
    /// periods on every run. A shared [`StateStore`](crate::StateStore)'s
    /// open period is the store's, as the store decides it.
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Config};
    /// use std::time::Duration;
    ///
    /// let config = Config::default().max_failures(1).timeout(Duration::from_secs(30)).jitter(0.1);
    /// let cb = CircuitBreaker::new("jittered", config).unwrap();
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// let open_for = cb.stats().open_duration;
    /// assert!(Duration::from_secs(27) <= open_for && open_for < Duration::from_secs(33));
    /// ```
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.settings.jitter = fraction;
        self
    }

    /// How many probes may run at once while half-open (default 1).
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.settings.half_open_max_calls = n;
        self
    }

    /// How many successful probes close the breaker (default 1). May exceed
    /// `half_open_max_calls`: probes then run in several rounds.
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.settings.success_threshold = n;
        self
    }

    /// The bulkhead: at most `n` calls run at once, in any state; more are
    /// rejected with [`RejectReason::TooManyCalls`](crate::RejectReason::TooManyCalls).
    /// Unlimited by default.
    pub fn max_concurrent_calls(mut self, n: u32) -> Self {
        self.settings.max_concurrent_calls = Some(n);
        self
    }

    /// While closed, clears the counts every `every` (gobreaker's
    /// `Interval`). Off by default: counts are cleared only by a state
    /// change.
    pub fn interval(mut self, every: Duration) -> Self {
        self.settings.interval = Some(every);
        self
    }

    /// Opens the breaker when at least this fraction (0 < rate ≤ 1) of the
    /// calls in the window failed, once the window holds `minimum_calls`
    /// calls. Uses the last 100 calls unless a window is set.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.settings.failure_rate = Some(rate);
        self
    }

    /// Judges rates over the last `n` calls (1 to
    /// [`MAX_COUNT_WINDOW`], 100,000).
    pub fn count_window(mut self, n: u32) -> Self {
        self.settings.count_window = Some(n);
        self
    }

    /// Judges rates over the calls of the last `span`, kept in buckets
    /// (10 unless [`time_window_buckets`](Self::time_window_buckets) says).
    pub fn time_window(mut self, span: Duration) -> Self {
        self.settings.time_window = Some(span);
        self
    }

    /// How many buckets a time window keeps (1 to [`MAX_TIME_BUCKETS`],
    /// 1000; default 10): the window slides by `span / buckets`.
    pub fn time_window_buckets(mut self, n: u32) -> Self {
        self.settings.time_window_buckets = Some(n);
        self
    }

    /// How many calls the window must hold before a rate is judged (default
    /// 10; a count window smaller than this judges once it is full).
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.settings.minimum_calls = n;
        self
    }

    /// A call lasting at least `threshold` is slow: counted in the stats and
    /// judged by [`slow_call_rate`](Self::slow_call_rate). Calls are timed
    /// with the clock's coarse reading ([`Clock::now_coarse`]), which for
    /// the system clock is within [`TICKER_LAG`](crate::TICKER_LAG) (2 ms)
    /// of the precise one: thresholds are meant in milliseconds to seconds.
    pub fn slow_call_duration(mut self, threshold: Duration) -> Self {
        self.settings.slow_call_duration = Some(threshold);
        self
    }

    /// Opens the breaker when at least this fraction (0 < rate ≤ 1) of the
    /// calls in the window were slow. Needs `slow_call_duration`.
    pub fn slow_call_rate(mut self, rate: f64) -> Self {
        self.settings.slow_call_rate = Some(rate);
        self
    }

    /// Exponential backoff of the open period: each re-open without an
    /// intervening close multiplies it by `factor` (≥ 1), up to
    /// [`backoff_max`](Self::backoff_max) (default 10 × `timeout`). Closing
    /// resets it. Off by default.
    pub fn backoff_multiplier(mut self, factor: f64) -> Self {
        self.settings.backoff_multiplier = Some(factor);
        self
    }

    /// The cap of the backed-off open period (at least `timeout`).
    pub fn backoff_max(mut self, cap: Duration) -> Self {
        self.settings.backoff_max = Some(cap);
        self
    }

    /// Ends a half-open period whose probes have not all reported after
    /// `wait`, re-opening the breaker: a probe that slow counts as a
    /// failure, and a hung probe (or a probe permit leaked with
    /// `mem::forget`) cannot block recovery for ever.
    ///
    /// When it is not set, a half-open breaker is still never wedged: after
    /// [`DEFAULT_HALF_OPEN_MAX_WAIT`] (60 s, or the `call_timeout` when that
    /// is longer) without word from its probes, their slots are freed and
    /// the breaker stays half-open, so that the next calls probe while a
    /// slow probe may still report and count.
    pub fn half_open_max_wait(mut self, wait: Duration) -> Self {
        self.settings.half_open_max_wait = Some(wait);
        self
    }

    /// Cancels an async call that runs longer than `limit` and records it
    /// as a timeout (a failure). Needs a tokio runtime with time enabled.
    ///
    /// Applied by [`CircuitBreaker::call_async`](crate::CircuitBreaker::call_async)
    /// and by every `#[circuit_breaker]` `async fn` whose error type has
    /// `From<breakerbox::TimedOut>`, whether the attribute,
    /// [`Registry::configure`](crate::Registry::configure), a file or an
    /// environment variable sets it. A function that cannot enforce it (a
    /// sync one, or an error type without that `From`) refuses it: see
    /// [`Registry::config_problems`](crate::Registry::config_problems).
    #[cfg(feature = "tokio")]
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.settings.call_timeout = Some(limit);
        self
    }

    /// A custom trip policy (gobreaker's `ReadyToTrip`): while closed, after
    /// each recorded success or failure, the breaker opens if `predicate`
    /// returns true for the period's counts. Combines with the other
    /// policies: any one of them trips the breaker.
    ///
    /// The predicate runs under the breaker's lock: keep it a pure function
    /// of the counts. A predicate that panics does not trip the breaker:
    /// the panic is caught where it happens (so that it can neither leave
    /// the breaker half updated nor, during another panic's unwinding,
    /// abort the process) and reported as an `ERROR` event with target
    /// `breakerbox` through `tracing`; the call returns as if the predicate had
    /// said `false`.
    pub fn trip_when<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Counts) -> bool + Send + Sync + 'static,
    {
        self.trip_when = Some(Arc::new(predicate));
        self
    }

    /// Calls `listener` on every state change. Several listeners may be
    /// added; they run in order, after the breaker's lock is released, so
    /// a listener may call back into the breaker.
    pub fn on_state_change<F>(mut self, listener: F) -> Self
    where
        F: Fn(&StateChange<'_>) + Send + Sync + 'static,
    {
        self.on_state_change.push(Arc::new(listener));
        self
    }

    /// The clock the breaker reads time from ([`SystemClock`] by default);
    /// tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock<C: Clock + 'static>(mut self, clock: C) -> Self {
        self.system_clock = std::any::TypeId::of::<C>() == std::any::TypeId::of::<SystemClock>();
        self.clock = Arc::new(clock);
        self
    }

    /// Shares the breaker's state with every process whose breaker of the
    /// same name uses the same store: `name` is a store registered with
    /// [`Registry::register_store`](crate::Registry::register_store) (before
    /// or after the breaker's first call), or [`LOCAL_STORE`] (`"local"`) to
    /// keep this breaker in its process when the registry has a default
    /// store. Applies to the registry's breakers; a breaker built with
    /// [`CircuitBreaker::new`](crate::CircuitBreaker::new) joins a store with
    /// [`join_store`](crate::CircuitBreaker::join_store).
    pub fn store(mut self, name: impl Into<Name>) -> Self {
        self.settings.store = Some(name.into());
        self
    }

    /// Every setting that a key can give, as this configuration has them:
    /// see [`Settings`].
    ///
    /// ```
    /// use breakerbox::Config;
    /// use std::time::Duration;
    ///
    /// let config = Config::aggressive();
    /// assert_eq!(config.settings().max_failures, Some(3));
    /// assert_eq!(config.settings().timeout, Duration::from_secs(30));
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `call_timeout`, for `__private` until its expansions read
    /// [`settings`](Self::settings).
    #[doc(hidden)]
    pub fn get_call_timeout(&self) -> Option<Duration> {
        self.settings.call_timeout
    }

    /// Checks every field and the fields' combinations; the error names the
    /// first field that is wrong, its value and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(store) = &self.settings.store {
            if store.trim().is_empty() {
                return Err(ConfigError::new(
                    "store",
                    "",
                    "must name a registered store, or \"local\"",
                ));
            }
        }
        fn at_least_one(field: &'static str, n: u32) -> Result<(), ConfigError> {
            if n == 0 {
                return Err(ConfigError::new(field, "0", "must be at least 1"));
            }
            Ok(())
        }
        fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
            if d.is_zero() {
                return Err(ConfigError::new(field, "0s", "must be greater than zero"));
            }
            Ok(())
        }
        // Floats are shown as `{:?}` shows them: `1e300`, `0.0`, `NaN`, as
        // they are written, rather than the 301 digits of `1e300`.
        fn rate(field: &'static str, r: f64) -> Result<(), ConfigError> {
            if !(r > 0.0 && r <= 1.0) {
                return Err(ConfigError::new(
                    field,
                    format!("{r:?}"),
                    "must be a fraction greater than 0 and at most 1 (0.5 means 50%)",
                ));
            }
            Ok(())
        }

        if let Some(n) = self.settings.max_failures {
            at_least_one("max_failures", n)?;
        }
        positive("timeout", self.settings.timeout)?;
        let jitter = self.settings.jitter;
        if !(0.0..1.0).contains(&jitter) {
            return Err(ConfigError::new(
                "jitter",
                format!("{jitter:?}"),
                "must be a fraction of at least 0 and below 1 (0.1 spreads each open period over ±10%)",
            ));
        }
        at_least_one("half_open_max_calls", self.settings.half_open_max_calls)?;
        at_least_one("success_threshold", self.settings.success_threshold)?;
        if let Some(n) = self.settings.max_concurrent_calls {
            at_least_one("max_concurrent_calls", n)?;
        }
        if let Some(d) = self.settings.interval {
            positive("interval", d)?;
        }
        if let Some(r) = self.settings.failure_rate {
            rate("failure_rate", r)?;
        }
        if let Some(n) = self.settings.count_window {
            at_least_one("count_window", n)?;
            if n > MAX_COUNT_WINDOW {
                return Err(ConfigError::new(
                    "count_window",
                    n.to_string(),
                    "must be at most 100000 (`breakerbox::MAX_COUNT_WINDOW`): the window keeps every call it judges",
                ));
            }
            if self.settings.time_window.is_some() {
                return Err(ConfigError::new(
                    "count_window",
                    n.to_string(),
                    "cannot be combined with `time_window`: choose one window",
                ));
            }
        }
        if let Some(d) = self.settings.time_window {
            positive("time_window", d)?;
        }
        if let Some(n) = self.settings.time_window_buckets {
            if self.settings.time_window.is_none() {
                return Err(ConfigError::new(
                    "time_window_buckets",
                    n.to_string(),
                    "needs `time_window`",
                ));
            }
            if n == 0 || n > MAX_TIME_BUCKETS {
                return Err(ConfigError::new(
                    "time_window_buckets",
                    n.to_string(),
                    "must be between 1 and 1000 (`breakerbox::MAX_TIME_BUCKETS`)",
                ));
            }
        }
        at_least_one("minimum_calls", self.settings.minimum_calls)?;
        if let Some(d) = self.settings.slow_call_duration {
            positive("slow_call_duration", d)?;
        }
        if let Some(r) = self.settings.slow_call_rate {
            rate("slow_call_rate", r)?;
            if self.settings.slow_call_duration.is_none() {
                return Err(ConfigError::new(
                    "slow_call_rate",
                    format!("{r:?}"),
                    "needs `slow_call_duration`, the duration from which a call is slow",
                ));
            }
        }
        if let Some(m) = self.settings.backoff_multiplier {
            if !(m.is_finite() && m >= 1.0) {
                return Err(ConfigError::new(
                    "backoff_multiplier",
                    format!("{m:?}"),
                    "must be a finite number of at least 1.0",
                ));
            }
        }
        if let Some(cap) = self.settings.backoff_max {
            if self.settings.backoff_multiplier.is_none() {
                return Err(ConfigError::new(
                    "backoff_max",
                    format!("{cap:?}"),
                    "needs `backoff_multiplier`",
                ));
            }
            if cap < self.settings.timeout {
                return Err(ConfigError::new(
                    "backoff_max",
                    format!("{cap:?}"),
                    "must be at least `timeout`",
                ));
            }
        }
        if let Some(d) = self.settings.half_open_max_wait {
            positive("half_open_max_wait", d)?;
        }
        if let Some(d) = self.settings.call_timeout {
            positive("call_timeout", d)?;
        }
        Ok(())
    }

    /// The window the rate policies judge, if any policy or window is set.
    pub(crate) fn window_kind(&self) -> Option<WindowKind> {
        if let Some(span) = self.settings.time_window {
            return Some(WindowKind::Time {
                span,
                buckets: self
                    .settings
                    .time_window_buckets
                    .unwrap_or(DEFAULT_TIME_BUCKETS),
            });
        }
        if let Some(n) = self.settings.count_window {
            return Some(WindowKind::Count(n));
        }
        if self.settings.failure_rate.is_some() || self.settings.slow_call_rate.is_some() {
            return Some(WindowKind::Count(DEFAULT_COUNT_WINDOW));
        }
        None
    }

    /// How long a half-open breaker waits for its probes to report before
    /// re-opening: [`half_open_max_wait`](Self::half_open_max_wait) if set,
    /// else the longer of [`DEFAULT_HALF_OPEN_MAX_WAIT`] and the
    /// `call_timeout`.
    pub fn effective_half_open_max_wait(&self) -> Duration {
        self.settings.half_open_max_wait.unwrap_or_else(|| {
            self.settings
                .call_timeout
                .map_or(DEFAULT_HALF_OPEN_MAX_WAIT, |limit| {
                    limit.max(DEFAULT_HALF_OPEN_MAX_WAIT)
                })
        })
    }

    /// The cap of the backed-off open period.
    pub(crate) fn effective_backoff_max(&self) -> Duration {
        self.settings
            .backoff_max
            .unwrap_or_else(|| self.settings.timeout.saturating_mul(10))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_failures", &self.settings.max_failures)
            .field("timeout", &self.settings.timeout)
            .field("jitter", &self.settings.jitter)
            .field("half_open_max_calls", &self.settings.half_open_max_calls)
            .field("success_threshold", &self.settings.success_threshold)
            .field("max_concurrent_calls", &self.settings.max_concurrent_calls)
            .field("interval", &self.settings.interval)
            .field("failure_rate", &self.settings.failure_rate)
            .field("count_window", &self.settings.count_window)
            .field("time_window", &self.settings.time_window)
            .field("time_window_buckets", &self.settings.time_window_buckets)
            .field("minimum_calls", &self.settings.minimum_calls)
            .field("slow_call_duration", &self.settings.slow_call_duration)
            .field("slow_call_rate", &self.settings.slow_call_rate)
            .field("backoff_multiplier", &self.settings.backoff_multiplier)
            .field("backoff_max", &self.settings.backoff_max)
            .field("half_open_max_wait", &self.settings.half_open_max_wait)
            .field("call_timeout", &self.settings.call_timeout)
            .field("trip_when", &self.trip_when.as_ref().map(|_| "<fn>"))
            .field("on_state_change", &self.on_state_change.len())
            .field("clock", &self.clock)
            .field("store", &self.settings.store.as_deref())
            .finish()
    }
}

/// An invalid configuration: which breaker, which field, which value, and
/// what is allowed.
///
/// ```
/// use breakerbox::{CircuitBreaker, Config};
///
/// let err = CircuitBreaker::new("db", Config::default().max_failures(0)).unwrap_err();
/// assert_eq!(err.field(), "max_failures");
/// assert_eq!(err.value(), "0");
/// assert_eq!(err.to_string(), "invalid configuration for circuit breaker `db`: `max_failures` = 0: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    breaker: Option<String>,
    field: &'static str,
    value: String,
    reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl Into<String>, reason: &'static str) -> Self {
        ConfigError {
            breaker: None,
            field,
            value: value.into(),
            reason,
        }
    }

    pub(crate) fn for_breaker(mut self, name: &str) -> Self {
        self.breaker = Some(name.to_owned());
        self
    }

    /// The breaker being configured, when known.
    pub fn breaker(&self) -> Option<&str> {
        self.breaker.as_deref()
    }

    /// The field that is wrong, spelled as its setter and attribute key.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The value it was given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the field allows.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.breaker {
            Some(name) => write!(
                f,
                "invalid configuration for circuit breaker `{}`: ",
                Escaped(name)
            )?,
            None => f.write_str("invalid circuit breaker configuration: ")?,
        }
        write!(
            f,
            "`{}` = {}: {}",
            self.field,
            Escaped(&self.value),
            self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_limits_messages_name_the_limits() {
        let error = Config::default()
            .count_window(MAX_COUNT_WINDOW + 1)
            .validate()
            .unwrap_err();
        assert!(
            error.reason().contains(&MAX_COUNT_WINDOW.to_string()),
            "{error}"
        );
        let error = Config::default()
            .time_window(Duration::from_secs(1))
            .time_window_buckets(MAX_TIME_BUCKETS + 1)
            .validate()
            .unwrap_err();
        assert!(
            error.reason().contains(&MAX_TIME_BUCKETS.to_string()),
            "{error}"
        );
    }
}
