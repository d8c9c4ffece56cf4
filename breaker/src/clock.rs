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
    /// reading; near the end of the open period it reads `now`.
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
/// On Linux its coarse reading is `CLOCK_MONOTONIC_COARSE`, a few
/// nanoseconds instead of a few tens, behind by at most a scheduler tick.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        os::now()
    }

    #[inline]
    fn now_coarse(&self) -> Duration {
        os::now_coarse()
    }

    #[inline]
    fn coarse_lag(&self) -> Duration {
        os::coarse_lag()
    }
}

/// Linux: both readings from `clock_gettime`, so that they share one
/// timebase (that of `Instant`). The crate's only `unsafe`: two calls into
/// the C library that std already links.
#[cfg(all(target_os = "linux", target_pointer_width = "64", not(miri)))]
#[allow(unsafe_code)]
pub(crate) mod os {
    use std::sync::OnceLock;
    use std::time::Duration;

    /// `struct timespec` where `time_t` and `long` are 64 bits.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        fn clock_getres(clock: i32, ts: *mut Timespec) -> i32;
    }

    const CLOCK_MONOTONIC: i32 = 1;
    const CLOCK_MONOTONIC_COARSE: i32 = 6;

    /// One reading of `clock` as (seconds, nanoseconds), or `None` if the
    /// call fails or returns something that is not a time.
    #[inline]
    fn gettime(clock: i32) -> Option<(u64, u32)> {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `struct timespec` for this
        // target; the call writes it and nothing else.
        let status = unsafe { clock_gettime(clock, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        (status == 0 && nanos < 1_000_000_000).then_some((secs, nanos))
    }

    #[inline]
    fn read(clock: i32) -> Option<Duration> {
        gettime(clock).map(|(secs, nanos)| Duration::new(secs, nanos))
    }

    #[inline]
    pub(super) fn now() -> Duration {
        // CLOCK_MONOTONIC never fails on Linux; should it, time stands still
        // rather than panicking.
        read(CLOCK_MONOTONIC).unwrap_or_default()
    }

    /// The coarse clock's lag bound, or `None` when the kernel lacks it.
    fn coarse() -> Option<Duration> {
        static LAG: OnceLock<Option<Duration>> = OnceLock::new();
        *LAG.get_or_init(|| {
            let mut res = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: as in `read`.
            let status = unsafe { clock_getres(CLOCK_MONOTONIC_COARSE, &mut res) };
            let res = Duration::new(
                u64::try_from(res.tv_sec).ok()?,
                u32::try_from(res.tv_nsec).ok()?,
            );
            // One tick of lag, doubled for safety, plus a millisecond.
            (status == 0 && read(CLOCK_MONOTONIC_COARSE).is_some())
                .then(|| res.saturating_mul(2) + Duration::from_millis(1))
        })
    }

    /// The clock coarse readings come from: the coarse one where the
    /// kernel has it, else the precise one.
    #[inline]
    fn coarse_clock() -> i32 {
        match coarse() {
            Some(_) => CLOCK_MONOTONIC_COARSE,
            None => CLOCK_MONOTONIC,
        }
    }

    #[inline]
    pub(super) fn now_coarse() -> Duration {
        read(coarse_clock()).unwrap_or_default()
    }

    /// The coarse reading in nanoseconds, for the open breaker's check
    /// (without building a `Duration` on the hot path).
    #[inline]
    pub(crate) fn coarse_nanos() -> u64 {
        match gettime(coarse_clock()) {
            Some((secs, nanos)) => secs
                .wrapping_mul(1_000_000_000)
                .wrapping_add(u64::from(nanos)),
            // Never "still open" on a failed reading: the locked path decides.
            None => u64::MAX,
        }
    }

    #[inline]
    pub(super) fn coarse_lag() -> Duration {
        coarse().unwrap_or_default()
    }
}

/// Elsewhere: `Instant`, with no coarse reading.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64", not(miri))))]
pub(crate) mod os {
    use std::sync::LazyLock;
    use std::time::{Duration, Instant};

    static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

    #[inline]
    pub(super) fn now() -> Duration {
        ORIGIN.elapsed()
    }

    #[inline]
    pub(super) fn now_coarse() -> Duration {
        now()
    }

    #[inline]
    pub(super) fn coarse_lag() -> Duration {
        Duration::ZERO
    }

    #[inline]
    pub(crate) fn coarse_nanos() -> u64 {
        u64::try_from(now().as_nanos()).unwrap_or(u64::MAX)
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
