//! The one place that reads time.
//!
//! A breaker reads time only through its [`Clock`], so tests drive every
//! transition deterministically with a [`ManualClock`] (or, in async tests,
//! tokio's paused time through [`TokioClock`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// A monotonic source of time.
///
/// `now` is the time elapsed since an arbitrary, fixed origin; only
/// differences between two readings of the same clock mean anything.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, as a duration since this clock's origin.
    fn now(&self) -> Duration;
}

/// The default clock: [`std::time::Instant`], the operating system's
/// monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        ORIGIN.elapsed()
    }
}

/// A clock that moves only when told to: for tests.
///
/// Clones share the same time, so a test keeps one handle and gives a clone
/// to the breaker's [`Config`](crate::Config).
///
/// ```
/// use breaker::{CircuitBreaker, Config, ManualClock, State};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::new("doc", Config::default().max_failures(1).clock(clock.clone())).unwrap();
/// let _ = cb.call(|| Err::<(), _>("down"));
/// assert_eq!(cb.state(), State::Open);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cb.state(), State::HalfOpen);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating at `u64::MAX` nanoseconds,
    /// about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let mut current = self.nanos.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add(by);
            match self.nanos.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Sets the clock to `at` since its origin. Going backwards is allowed
    /// (to test that the breaker tolerates it) but never needed.
    pub fn set(&self, at: Duration) {
        let at = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(at, Ordering::Release);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

/// Tokio's clock, [`tokio::time::Instant`]: follows tokio's paused time in
/// tests (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`).
///
/// Outside a paused runtime it reads the same monotonic clock as
/// [`SystemClock`].
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose origin is now, as tokio sees it.
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}
