//! The one place that reads time.
//!
//! A breaker reads time only through its [`Clock`], so tests drive every
//! transition deterministically with a [`ManualClock`] (or, in async tests,
//! tokio's paused time through [`TokioClock`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonic source of time.
///
/// `now` is the time elapsed since an arbitrary, fixed origin; only
/// differences between two readings of the same clock mean anything.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, as a duration since this clock's origin.
    fn now(&self) -> Duration;

    /// A cheaper reading of the same clock that may be behind [`now`](Self::now)
    /// by up to [`coarse_lag`](Self::coarse_lag), never ahead of it. An open
    /// breaker reads it to reject calls without paying for a precise
    /// reading (near the end of the open period it reads `now`), and a
    /// slow-call policy times its calls with it.
    ///
    /// Defaults to `now()` with no lag.
    #[inline]
    fn now_coarse(&self) -> Duration {
        self.now()
    }

    /// How far [`now_coarse`](Self::now_coarse) may be behind `now`.
    #[inline]
    fn coarse_lag(&self) -> Duration {
        Duration::ZERO
    }
}

/// The default clock: the operating system's monotonic clock (the one
/// [`std::time::Instant`] reads).
///
/// Its coarse reading is one atomic load: the time a background thread
/// (one per process, started by the first coarse reading) reads every
/// millisecond, as the `quanta` crate's upkeep thread does. It is behind
/// the precise reading by at most [`TICKER_LAG`] while that thread runs on
/// time. Before the thread runs (or if it cannot start), the coarse
/// reading is the precise one. A child process forked after the thread
/// started (on Linux) starts its own at its first coarse reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        os::now()
    }

    #[inline]
    fn now_coarse(&self) -> Duration {
        match ticker::nanos() {
            ticker::STOPPED => {
                ticker::start();
                os::now()
            }
            at => Duration::from_nanos(at),
        }
    }

    #[inline]
    fn coarse_lag(&self) -> Duration {
        TICKER_LAG
    }
}

/// How often the ticker reads the system clock.
const TICK: Duration = Duration::from_millis(1);

/// How far [`SystemClock`]'s coarse reading may be behind its precise one
/// while the ticker runs on time: a tick, and as much again for the
/// thread's wake-up. An open breaker's lock-free rejection stops this far
/// before the open period's end, and the calls after that read the precise
/// clock, so that the period ends on time; should the ticker be late by
/// more than this (a machine starved of CPU), the period ends late by the
/// excess, never early.
pub const TICKER_LAG: Duration = Duration::from_millis(2);

/// The ticker: one thread that stores the system clock's reading, in
/// nanoseconds, every [`TICK`], so that the hot paths read the time with
/// one atomic load.
pub(crate) mod ticker {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Once;

    /// The ticker is not running: a reading that no hot path takes as a
    /// time (it sends the call to the locked path, which starts the
    /// ticker).
    pub(crate) const STOPPED: u64 = u64::MAX;

    static NOW: AtomicU64 = AtomicU64::new(STOPPED);

    /// A ticker was started in this process (a forked child has none).
    static STARTED: AtomicBool = AtomicBool::new(false);

    /// The last reading, or [`STOPPED`].
    #[inline(always)]
    pub(crate) fn nanos() -> u64 {
        NOW.load(Ordering::Relaxed)
    }

    fn read() -> u64 {
        u64::try_from(super::os::now().as_nanos()).unwrap_or(STOPPED - 1)
    }

    /// A forked child inherits the parent's last reading but not its
    /// thread: the reading would stand still (an open period would never
    /// end). The child starts its own ticker at its first coarse reading.
    extern "C" fn forked() {
        NOW.store(STOPPED, Ordering::Relaxed);
        STARTED.store(false, Ordering::Relaxed);
    }

    /// Starts the ticker, once per process.
    #[cold]
    pub(crate) fn start() {
        if STARTED.swap(true, Ordering::AcqRel) {
            return;
        }
        static AT_FORK: Once = Once::new();
        AT_FORK.call_once(|| super::os::in_forked_child(forked));
        let spawned = std::thread::Builder::new()
            .name("breakerbox-ticker".into())
            .spawn(|| loop {
                NOW.store(read(), Ordering::Relaxed);
                std::thread::sleep(super::TICK);
            });
        match spawned {
            // Behind the thread's own first store at worst: behind is
            // the safe side.
            Ok(_) => NOW.store(read(), Ordering::Relaxed),
            // The coarse readings stay the precise ones.
            Err(error) => tracing::warn!(
                target: "breakerbox",
                %error,
                "the clock ticker could not start: coarse readings read the precise clock"
            ),
        }
    }
}

/// Linux: `clock_gettime(CLOCK_MONOTONIC)`, the timebase of `Instant`,
/// read without `Instant`'s checks, and the ticker's fork handler. The
/// crate's only `unsafe`: two calls into the C library that std already
/// links.
#[cfg(all(target_os = "linux", target_pointer_width = "64", not(miri)))]
#[allow(unsafe_code)]
pub(crate) mod os {
    use std::time::Duration;

    /// `struct timespec` where `time_t` and `long` are 64 bits.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> i32;
    }

    /// Runs `handler` in the child of every later `fork` (it must only
    /// store to atomics). Should registration fail, a forked child's coarse
    /// readings stand still, as they did before this handler.
    pub(crate) fn in_forked_child(handler: extern "C" fn()) {
        // SAFETY: registers a function pointer with the C library; the
        // handler touches nothing but atomics, which is safe in a child.
        let _ = unsafe { pthread_atfork(None, None, Some(handler)) };
    }

    const CLOCK_MONOTONIC: i32 = 1;

    /// One reading, or `None` if the call fails or returns something that
    /// is not a time.
    #[inline]
    fn read() -> Option<Duration> {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `struct timespec` for this
        // target; the call writes it and nothing else.
        let status = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        (status == 0 && nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
    }

    #[inline]
    pub(super) fn now() -> Duration {
        // CLOCK_MONOTONIC never fails on Linux; should it, time stands still
        // rather than panicking.
        read().unwrap_or_default()
    }
}

/// Elsewhere: `Instant`.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64", not(miri))))]
pub(crate) mod os {
    use std::sync::LazyLock;
    use std::time::{Duration, Instant};

    static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

    /// No fork handler here (no `pthread_atfork` to call without `unsafe`).
    pub(crate) fn in_forked_child(_handler: extern "C" fn()) {}

    #[inline]
    pub(super) fn now() -> Duration {
        ORIGIN.elapsed()
    }
}

/// A clock that moves only when told to: for tests.
///
/// Clones share the same time, so a test keeps one handle and gives a clone
/// to the breaker's [`Config`](crate::Config).
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, ManualClock, State};
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// An open breaker stops rejecting lock-free this far before its open
    /// period ends, and the calls after that read the precise clock: the
    /// period ends on time as long as the coarse reading lags by less.
    #[test]
    fn the_system_clocks_coarse_reading_lags_at_most_two_milliseconds() {
        assert!(SystemClock.coarse_lag() <= Duration::from_millis(2));
    }

    /// Behind is the safe side: a coarse reading ahead of the precise one
    /// could end an open period early.
    #[test]
    fn the_system_clocks_coarse_reading_is_never_ahead_of_its_precise_one() {
        for _ in 0..1_000 {
            let coarse = SystemClock.now_coarse();
            assert!(coarse <= SystemClock.now());
        }
    }
}
