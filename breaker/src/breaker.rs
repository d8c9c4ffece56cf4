//! The state machine: admission ([`CircuitBreaker::try_acquire`]) and
//! recording ([`Permit`]'s outcomes). This file holds the breaker's types
//! and its public surface; each idea of the machine is a file under
//! `breaker/` (see the `mod` list below).
//!
//! Two paths share one state:
//!
//! - **The lock-free path** takes the calls that do not change the state:
//!   admission, a success or a failure that does not trip while closed,
//!   and rejection while open or forced open. It reads one word (state,
//!   generation, and whether this path is allowed) and adds one to a
//!   counter in the calling thread's stripe. With consecutive failures as
//!   the only policy, a failure also adds one to the period's tagged
//!   consecutive-failure count. With a window, a success is counted while
//!   the window's lane is open, and a failure takes one of its thread's
//!   share of the window's allowance and is logged in its thread's stripe
//!   (`window_path`). It never reads a precise clock; an open breaker
//!   reads a coarse one.
//! - **The locked path** takes everything else: the failure that trips,
//!   probes, slow calls, the bulkhead, transitions, stats. One small lock
//!   guards it, held only for a few field updates, never while user code
//!   runs: protected calls, classifiers, fallbacks and `on_state_change`
//!   listeners all run outside it. Every transition is made under the lock
//!   and published in the word; every locked section of a windowed
//!   breaker first takes in what the lock-free path counted.
//!
//! Lifetime counts of admissions, successes, failures and rejections live
//! in the stripes (the other counts under the lock); a period's counts are the
//! stripes' sums less their sums when the period began. A call that
//! finishes on the lock-free path at the instant of a transition may be
//! counted in the period it began in or the next one; it is never lost and
//! never counted twice, and every decision (tripping, closing, the probe
//! limit) is made under the lock on counts the lock guards.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{Config, ConfigError, StateChange};
use crate::error::{Error, Name, RejectReason, Rejected};
use crate::observe::{self, Exporter, LockedTotal, StripeTotals};
use crate::permit::{self, IntoOutcome, Outcome, Permit, NOT_TIMED};
use crate::stats::{Counts, Stats, Totals, Trip, TripReason};
use crate::store::{ProbeLease, ProbeSlot, SharedState, StateStore};
use crate::sync::{
    claimed_stripe, lock, stripe_count, thread_stripe, AtomicU64, Mutex, Ordering, MAX_STRIPES,
    OWNED,
};
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
    /// The state's name in snake case, as log fields, metrics labels and
    /// the JSON spell it: `"closed"`, `"open"`, `"half_open"`,
    /// `"forced_open"`, `"disabled"`. [`Display`](fmt::Display) writes it
    /// as prose instead: `half-open`, `forced open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }
}

impl fmt::Display for State {
    /// The state in prose: `closed`, `open`, `half-open`, `forced open`,
    /// `disabled` (see [`as_str`](State::as_str) for the snake-case word).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment, so tables can align states.
        f.pad(match self {
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced open",
            other => other.as_str(),
        })
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

impl Ending {
    /// The outcome a shared store hears of: `None` for a cancelled call.
    fn outcome(self) -> Option<Outcome> {
        match self {
            Ending::Success => Some(Outcome::Success),
            Ending::Failure | Ending::Timeout => Some(Outcome::Failure),
            Ending::Ignored => Some(Outcome::Ignored),
            Ending::Cancelled => None,
        }
    }
}

// The breaker's ideas, one file each: the counter stripes and the word the
// lock-free path reads; admission; recording an ending; a window's calls
// off the lock; the state machine; announcing transitions; membership in
// a shared store.
mod admission;
mod announce;
mod machine;
mod membership;
mod recording;
mod stripes;
mod window_path;
mod word;

#[cfg(feature = "metrics")]
use stripes::stripe_totals;
use stripes::{
    logged_in, share_left, share_word, Log, Stripe, Stripes, Sums, LOGGED_MASK, LOG_LEN, ONE_LEFT,
};

// ----- the published word -------------------------------------------------
//
// Bits 0-2: the state's code. Bit 3: the lock-free path may admit. Bit 4:
// it may also record successes. Bits 5-63: the generation, which changes at
// every transition and `interval` clearing.

const STATE_MASK: u64 = 0b111;
const FAST_ADMIT: u64 = 0b1000;
const FAST: u64 = 0b1_0000;
const GEN_SHIFT: u32 = 5;
/// Generations wrap at 2^40 transitions (a transition every microsecond
/// for 12 days; real breakers make a few an hour). Above them, a probe's
/// ticket holds its probe epoch.
const GEN_BITS: u32 = 40;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
/// A probe's epoch as its ticket holds it, compared modulo 2^23: the epoch
/// moves only when probes in flight are abandoned, so a probe would have to
/// be held across 8 million abandonments of other probes to give back a
/// slot it no longer holds.
const EPOCH_MASK: u64 = (1 << 23) - 1;
/// How many transitions may wait to be announced: past that (a listener
/// blocked while the breaker keeps changing state), the oldest are dropped
/// and the drop is logged.
const MAX_PENDING_ANNOUNCEMENTS: usize = 1024;
const OPEN: u64 = 1;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;
/// The count half of `Hot::consecutive`.
const COUNT_MASK: u64 = 0xFFFF_FFFF;
/// A `Log::share` while a look takes the logs in (a tag with no failures
/// left and none logged, which no share has): a failure that finds it
/// waits up to `LOOKING_SPINS` turns for the look's grant rather than for
/// its lock.
const LOOKING: u64 = 1 << 32;
const LOOKING_SPINS: u32 = 2_000;

/// The words the lock-free path reads, in declared order: the first cache
/// line holds what every call reads (the state word, the open period, the
/// lane), which only transitions write; the words failures and the
/// successes after them write (the consecutive count, where a streak
/// ended) come last, on the second line, so that they do not take the
/// state word's line from the other cores.
#[repr(C, align(128))]
struct Hot {
    word: AtomicU64,
    /// While open: when the open period ends, in nanoseconds of the clock.
    /// `u64::MAX` when that is out of the lock-free path's range.
    open_until: AtomicU64,
    /// While open: how long the open period lasts, in nanoseconds: the most
    /// a rejection may say is left of it.
    open_for: AtomicU64,
    /// A breaker with a window: until when a success may be counted on the
    /// lock-free path alone, for the window to take in at its next look
    /// (see `fold`): `u64::MAX` for a count window that holds
    /// `minimum_calls` calls already (another success can only lower its
    /// rates), the end of the current bucket for such a time window, in
    /// nanoseconds of the clock's coarse reading; 0 while every success
    /// must be judged (too few calls to judge yet, a time window left at a
    /// threshold by calls that slid out, or not closed).
    lane: AtomicU64,
    /// Written once, read by a rejection: in the line's spare room.
    name: Name,
    /// Where the breaker is in its one membership: [`UNJOINED`],
    /// [`JOINING`], [`JOINED`] or [`LEFT`].
    membership: AtomicU8,
    /// The breaker's membership in a shared [`StateStore`], if it joined
    /// one: set once, read only off the lock-free path (the locked
    /// admission, a probe's ending, transitions). Here, in the line's spare
    /// room, it costs the breaker no size.
    shared: OnceLock<Arc<dyn SharedState>>,
    /// The last transitions, for the dashboard: a cell set once, at the
    /// first transition, pointing to a log on the heap that only
    /// announcements write (so readers never write to this line).
    #[cfg(feature = "dashboard")]
    transitions: crate::dashboard::TransitionLog,
    /// The consecutive-failure count of the current period: the low 32
    /// bits of the generation above, the count below, so that a failure of
    /// an older period can never add to the new one's count.
    consecutive: AtomicU64,
    /// Where the consecutive successes of a breaker without a window
    /// start when the lock-free path ended the failure streak: the
    /// lifetime successes before the success that ended it, plus one (see
    /// `finish_streak_end`; the locked path keeps `Core::success_mark`).
    streak_end: AtomicU64,
}

// `Hot::membership`. A breaker joins at most one store, once, and after it
// has left (or was told to leave before it joined) it never joins again.
const UNJOINED: u8 = 0;
const JOINING: u8 = 1;
const JOINED: u8 = 2;
const LEFT: u8 = 3;

/// What a shared store reads of a breaker ([`CircuitBreaker::store_view`]).
#[cfg(feature = "redis")]
pub(crate) struct StoreView {
    /// Lifetime successes, failures and slow calls.
    pub(crate) outcomes: [u64; 3],
    /// The current period's.
    pub(crate) consecutive_failures: u64,
    pub(crate) state: State,
    /// The rest of the open period, while open.
    pub(crate) open_for: Duration,
}

/// A circuit breaker.
///
/// Share it by reference or in an `Arc`; every method takes `&self`.
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, Error, State};
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
    hot: Hot,
    stripes: Stripes,
    /// `config.settings.slow_call_duration` in nanoseconds, where the hot
    /// path reads it (`u64::MAX`: none).
    slow_after: u64,
    /// The breaker has a window (a rate policy); a time window.
    windowed: bool,
    /// The `max_failures` streak is kept in `Hot::consecutive`, in the real
    /// order of the calls: without a window, and beside one whenever
    /// `max_failures` can trip the breaker. (A window without it counts
    /// its streak, which only its stats show, at its looks: `Core::streak`.)
    streak_in_word: bool,
    time_window: bool,
    /// A time window's bucket width in nanoseconds (`u64::MAX` for a count
    /// window): the lane (see `Hot::lane`) takes only the successes whose
    /// end reads within the bucket that ends at the lane's end, not those
    /// of a clock set back to an earlier bucket.
    lane_span: u64,
    /// The lock-free path may admit while closed (it always may while
    /// disabled).
    admit_closed: bool,
    /// It may also record endings while closed (always while disabled).
    fast_closed: bool,
    /// How far the clock's coarse reading may lag, in nanoseconds.
    coarse_lag: u64,
    /// `max_failures` as the lock-free path compares it (`u64::MAX` when
    /// the policy is off).
    trip_at: u64,
    /// The seed of this breaker's jitter draws (see [`Config::jitter`]).
    jitter_seed: u64,
    config: Config,
    core: Mutex<Core>,
    exporter: Exporter,
}

/// Everything that changes on the locked path.
struct Core {
    state: State,
    generation: u64,
    /// The current period's counts that only the locked path keeps; the
    /// others are derived from the stripes (see `period_counts`).
    counts: Tally,
    /// Lifetime totals, except those the stripes keep.
    totals: Lifetime,
    /// The stripes' sums when the current period began.
    base: Sums,
    /// The period's successes as of its last failure, so that consecutive
    /// successes are `successes - success_mark`.
    success_mark: u64,
    window: Option<Window>,
    /// With a window: the lifetime successes (the stripes' sum) the window
    /// has taken in. The lock-free path counts a success in its stripe
    /// alone; the next locked look takes in what is new (`fold`).
    folded: u64,
    /// A time window's epoch that the successes not yet taken in belong
    /// to: the lane is open only until that bucket ends.
    pending_epoch: u64,
    /// The shares of allowances granted so far (see `grant_tag`).
    grants: u16,
    /// The stripes that logged failures under the shares the last look
    /// took back, a bit each.
    active: u16,
    /// Those of the look before: a stripe keeps getting a share while its
    /// owner failed at either of the last two looks, so that two threads
    /// whose failures alternate do not take each other's shares away.
    active_before: u16,
    /// A window without `max_failures` (see `streak_in_word`): the
    /// current period's consecutive failures, counted at its looks, in
    /// their order, rather than in `Hot::consecutive` (only its stats show
    /// them, and a write there would take the word's cache line from every
    /// other core). 0 for every other breaker.
    streak: u64,
    /// When the current state began.
    state_since: Duration,
    /// When an open breaker turns half-open; while `open_pending`, how long
    /// its open period lasts from the clock's next good reading.
    open_until: Duration,
    /// The breaker opened while the clock was failing: its open period
    /// starts at the next good reading, not from a guess.
    open_pending: bool,
    /// How long the current (or last) open period lasts: backoff and
    /// jitter included.
    open_duration: Duration,
    /// The open period before jitter, backoff included: what the next
    /// re-opening after a failed probe backs off from.
    backoff: Duration,
    open_count: u64,
    /// Why the breaker opened, from the trip until it closes. Boxed: a
    /// trip is rare, and the breaker's size is paid by every breaker.
    trip: Option<Box<TripRecord>>,
    /// While closed with an `interval`, when the counts are next cleared,
    /// in nanoseconds of the clock (`u64::MAX`: never).
    clear_at: u64,
    /// Probe permits not yet finished, of any generation: a probe still
    /// running when the breaker re-opens keeps its slot, so that a new
    /// half-open period never runs more than `half_open_max_calls` at once.
    probes: u32,
    /// Probes admitted in an older epoch were abandoned (hung past the
    /// half-open wait, or cut off by a manual command): their slots are
    /// free already, and their endings give none back.
    probe_epoch: u64,
    /// The clock's last reading, in nanoseconds: what a panicking clock
    /// reads as.
    last_now: u64,
    /// While half-open, when a probe last reported (or the period began);
    /// `Duration::MAX` when that happened while the clock failed.
    probe_progress: Duration,
    /// Transitions made and not yet announced, oldest first (rarely more
    /// than one or two): queued under this lock, so in the order they
    /// were made.
    announcements: Vec<Announcement>,
    /// A thread is announcing them: one at a time, so that listeners, log
    /// events, the state gauge and the store hear of one breaker's
    /// transitions in order.
    announcing: bool,
}

/// The time, read from the clock at most once per locked section and only
/// if something needs it.
struct Now<'a> {
    clock: &'a dyn Clock,
    /// What a panicking clock reads as: the last reading that succeeded.
    fallback: Duration,
    at: Cell<Option<Duration>>,
    /// The clock panicked: the time is a guess (the last good reading),
    /// not to be built on.
    failed: Cell<bool>,
    /// A panic of user code that this section contained, reported once the
    /// lock is released.
    contained: Cell<Option<Contained>>,
}

/// A panic of user code run under the lock (a `trip_when` predicate, a
/// `Clock`, a store's or a metrics recorder's hook), caught where it
/// happened.
pub(crate) struct Contained {
    what: &'static str,
    payload: Box<dyn Any + Send>,
}

/// Runs user code (`what`: a hook's name) with its panic caught, to be
/// reported rather than unwind through the breaker.
fn contained<R>(what: &'static str, code: impl FnOnce() -> R) -> Result<R, Contained> {
    panic::catch_unwind(AssertUnwindSafe(code)).map_err(|payload| Contained { what, payload })
}

impl Now<'_> {
    fn get(&self) -> Duration {
        match self.at.get() {
            Some(at) => at,
            None => {
                let at = self
                    .contain("Clock::now", || self.clock.now())
                    .unwrap_or_else(|| {
                        self.failed.set(true);
                        self.fallback
                    });
                self.at.set(Some(at));
                at
            }
        }
    }

    /// The clock's coarse reading (see [`Clock::now_coarse`]), which every
    /// figure of the time left open reads, as the lock-free rejection does;
    /// the precise reading if the coarse one panics.
    fn coarse(&self) -> Duration {
        if self.failed.get() {
            return self.get();
        }
        self.contain("Clock::now_coarse", || self.clock.now_coarse())
            .unwrap_or_else(|| self.get())
    }

    /// The time to note as probes' progress: `Duration::MAX` (set at the
    /// next good reading) while the clock fails, so that a probe is never
    /// judged silent from a guess.
    fn progress(&self) -> Duration {
        let at = self.get();
        if self.failed.get() {
            Duration::MAX
        } else {
            at
        }
    }

    /// Runs user code under the breaker's lock with its panic contained, so
    /// that it can neither leave a section half done nor, during another
    /// panic's unwinding, abort the process. `None` if it panicked: the
    /// first such panic is reported after the lock is released (a report
    /// under the lock could reach a subscriber that reads the breaker).
    fn contain<R>(&self, what: &'static str, code: impl FnOnce() -> R) -> Option<R> {
        contained(what, code)
            .map_err(|panic| {
                let first = self.contained.take().unwrap_or(panic);
                self.contained.set(Some(first));
            })
            .ok()
    }
}

/// What a locked section did that must be announced once the lock is
/// released.
#[derive(Default)]
struct Changes {
    /// The generations of the transitions it queued, first and last: its
    /// own announcements.
    made: Option<(u64, u64)>,
    /// The changes apply a shared store's state: not reported back to it.
    from_store: bool,
    /// A panic of user code it contained.
    contained: Option<Contained>,
    /// Announcements it dropped from a full queue.
    dropped: usize,
}

impl Changes {
    /// Nothing to announce or report: the common case, checked first.
    #[inline]
    fn is_quiet(&self) -> bool {
        self.made.is_none() && self.contained.is_none() && self.dropped == 0
    }
}

/// The counts of the current period that only the locked path keeps.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Successes recorded under the lock: exact while half-open, where
    /// every success takes the lock.
    consecutive_successes: u64,
    ignored: u64,
    cancelled: u64,
    slow_calls: u64,
    timeouts: u64,
}

/// The lifetime totals that only the locked path keeps.
#[derive(Debug, Clone, Copy, Default)]
struct Lifetime {
    ignored: u64,
    cancelled: u64,
    slow_calls: u64,
    timeouts: u64,
    stale: u64,
}

/// A trip as the breaker keeps it: [`Trip`] with when it happened instead
/// of how long ago.
#[derive(Debug, Clone, Copy)]
struct TripRecord {
    reason: TripReason,
    period: Counts,
    failure_rate: f64,
    slow_call_rate: f64,
    /// The clock's reading at the trip.
    at: Duration,
}

/// A transition waiting to be announced to the log and the listeners (the
/// store and the state gauge hear of it under the lock).
struct Announcement {
    from: State,
    to: State,
    /// The counts of the period that ended.
    period: Counts,
    /// For a trip, the policy that tripped it.
    tripped_by: Option<TripReason>,
    /// The generation the transition began: which section made it.
    generation: u64,
    /// The transition applies the shared store's state (the fleet's), as
    /// opposed to one this breaker made or was told to make by hand.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    from_store: bool,
}

/// A call the locked path admitted.
struct Admission {
    /// Its ticket's number: the generation, and a probe's epoch above it.
    id: u64,
    generation: u64,
    probe: bool,
    /// When the call started, as [`Permit::started`] keeps it.
    started: u64,
}

fn nanos(at: Duration) -> u64 {
    u64::try_from(at.as_nanos()).unwrap_or(u64::MAX)
}

impl CircuitBreaker {
    /// A breaker named `name`, after checking `config`. The name is any
    /// string: a literal, a borrowed `&str`, a `String` (see [`Name`]).
    pub fn new(name: impl Into<Name>, config: Config) -> Result<Self, ConfigError> {
        let (breaker, contained) = Self::build(name.into(), config)?;
        if let Some(contained) = contained {
            breaker.report(&contained);
        }
        Ok(breaker)
    }

    /// [`new`](Self::new), handing back a panic of the clock it contained
    /// for the caller to report once it holds no lock of its own (a
    /// subscriber may read the registry on the report).
    pub(crate) fn build(
        name: Name,
        config: Config,
    ) -> Result<(Self, Option<Contained>), ConfigError> {
        config.validate().map_err(|e| e.for_breaker(&name))?;
        // The user's clock, contained as everywhere: a clock that panics
        // reads as zero here, and its lag as unbounded (the open breaker's
        // lock-free check then defers to the locked path).
        let clock = &config.clock;
        let (read, clock_panic) =
            match contained("Clock", || (clock.now(), nanos(clock.coarse_lag()))) {
                Ok(read) => (read, None),
                Err(panic) => ((Duration::ZERO, u64::MAX), Some(panic)),
            };
        let (now, coarse_lag) = read;
        let core = Core {
            state: State::Closed,
            generation: 0,
            counts: Tally::default(),
            totals: Lifetime::default(),
            base: Sums::default(),
            success_mark: 0,
            window: config.window_kind().map(|kind| {
                let settings = &config.settings;
                Window::new(kind, settings.failure_rate, settings.slow_call_rate)
            }),
            folded: 0,
            pending_epoch: 0,
            grants: 0,
            active: 0,
            active_before: 0,
            streak: 0,
            state_since: now,
            open_until: now,
            open_pending: false,
            open_duration: config.settings.timeout,
            backoff: config.settings.timeout,
            open_count: 0,
            trip: None,
            clear_at: config
                .settings
                .interval
                .map_or(u64::MAX, |every| nanos(now.saturating_add(every))),
            probes: 0,
            probe_epoch: 0,
            last_now: nanos(now),
            probe_progress: now,
            announcements: Vec::new(),
            announcing: false,
        };
        // The lock-free path admits where admission depends on the state
        // alone: no bulkhead, no clearing interval. It records the endings
        // of calls that are not slow (a slow-call policy times its calls
        // with the coarse clock: one atomic load for the system clock), and
        // leaves the rest to the locked path: slow calls, and every ending
        // where a predicate judges the counts. A window's successes wait
        // in the stripes for the window's next look, and its failures take
        // a short locked section that judges them exactly (`finish_windowed`).
        let admit_closed =
            config.settings.max_concurrent_calls.is_none() && config.settings.interval.is_none();
        let fast_closed = admit_closed && config.trip_when.is_none();
        let windowed = core.window.is_some();
        let time_window = matches!(core.window, Some(Window::Time(_)));
        let lane_span = core
            .window
            .as_ref()
            .and_then(Window::bucket_width)
            .unwrap_or(u64::MAX);
        let stripes: Stripes = (0..stripe_count()).map(|_| Stripe::default()).collect();
        #[cfg(feature = "metrics")]
        let exporter = Exporter::new(&name, {
            let stripes = Arc::clone(&stripes);
            move || stripe_totals(&stripes)
        });
        #[cfg(not(feature = "metrics"))]
        let exporter = Exporter::new(&name, StripeTotals::default);
        let jitter_seed = jitter_seed(&name, now, config.system_clock);
        let breaker = CircuitBreaker {
            hot: Hot {
                word: AtomicU64::new(0),
                open_until: AtomicU64::new(u64::MAX),
                open_for: AtomicU64::new(0),
                consecutive: AtomicU64::new(0),
                streak_end: AtomicU64::new(0),
                lane: AtomicU64::new(0),
                name,
                shared: OnceLock::new(),
                membership: AtomicU8::new(UNJOINED),
                #[cfg(feature = "dashboard")]
                transitions: Default::default(),
            },
            stripes,
            slow_after: config.settings.slow_call_duration.map_or(u64::MAX, nanos),
            windowed,
            streak_in_word: !windowed || config.settings.max_failures.is_some(),
            time_window,
            lane_span,
            admit_closed,
            fast_closed,
            coarse_lag,
            trip_at: config.settings.max_failures.map_or(u64::MAX, u64::from),
            jitter_seed,
            config,
            core: Mutex::new(core),
            exporter,
        };
        breaker.publish(&lock(&breaker.core));
        Ok((breaker, clock_panic))
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.hot.name
    }

    pub(crate) fn shared_name(&self) -> Name {
        self.hot.name.clone()
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- the public surface -----------------------------------------------

    /// The current state (making the time-driven transitions first: an
    /// open breaker whose period has ended reports `HalfOpen`).
    pub fn state(&self) -> State {
        self.inspect(|core, _| core.state)
    }

    /// A snapshot of the state and counts.
    pub fn stats(&self) -> Stats {
        self.inspect(|core, now| {
            let sums = self.sums();
            let period = self.period_counts(core, sums);
            let lifetime = core.totals;
            let totals = Totals {
                calls: sums.admitted.wrapping_add(sums.rejected),
                successes: sums.successes,
                failures: sums.failures,
                ignored: lifetime.ignored,
                cancelled: lifetime.cancelled,
                rejected: sums.rejected,
                slow_calls: lifetime.slow_calls,
                timeouts: lifetime.timeouts,
                stale: lifetime.stale,
            };
            let (failure_rate, slow_call_rate) = Self::rates(core, &period, now);
            let time_until_half_open =
                (core.state == State::Open).then(|| Self::open_remaining(core, now));
            let now = now.get();
            let tripped_by = core.trip.as_deref().map(|trip| Trip {
                reason: trip.reason,
                period: trip.period,
                failure_rate: trip.failure_rate,
                slow_call_rate: trip.slow_call_rate,
                ago: now.saturating_sub(trip.at),
            });
            Stats {
                name: self.hot.name.to_string(),
                state: core.state,
                period,
                tripped_by,
                totals,
                failure_rate,
                slow_call_rate,
                in_flight: Self::running(core, sums),
                time_until_half_open,
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
    #[inline(always)]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(|_| Outcome::Failure, f)
    }

    /// Like [`call`](Self::call), with `classify` deciding what each error
    /// is. It answers a `bool`, whether the error is a failure (`true`) or
    /// is ignored (`false`), as the attribute's `classify` does; or an
    /// [`Outcome`]: [`Outcome::Failure`], [`Outcome::Ignored`], or even
    /// [`Outcome::Success`] (see [`IntoOutcome`](crate::IntoOutcome)).
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Config, Outcome};
    ///
    /// let cb = CircuitBreaker::new("users", Config::default().max_failures(1)).unwrap();
    /// let is_outage = |status: &u16| *status >= 500;
    /// let _ = cb.call_with(is_outage, || Err::<(), u16>(404));
    /// assert_eq!(cb.state(), breakerbox::State::Closed);
    /// let not_modified = |status: &u16| if *status == 304 { Outcome::Success } else { Outcome::Failure };
    /// let _ = cb.call_with(not_modified, || Err::<(), u16>(304));
    /// assert_eq!(cb.stats().totals.successes, 1);
    /// ```
    #[inline(always)]
    pub fn call_with<T, E, C, O, F>(&self, classify: C, f: F) -> Result<T, Error<E>>
    where
        C: FnOnce(&E) -> O,
        O: IntoOutcome,
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
    pub async fn call_async_with<T, E, C, O, F, Fut>(
        &self,
        classify: C,
        f: F,
    ) -> Result<T, Error<E>>
    where
        C: FnOnce(&E) -> O,
        O: IntoOutcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(Error::Rejected)?;
        #[cfg(feature = "tokio")]
        let result = match self.config.settings.call_timeout {
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
                // While the clock fails, the open period has not started:
                // check again soon.
                State::Open if core.open_pending => Some(RECHECK),
                State::Open => Some(
                    core.open_until
                        .saturating_sub(now.get())
                        .max(Duration::from_millis(1)),
                ),
                State::ForcedOpen => Some(RECHECK),
                State::HalfOpen if core.probes >= self.config.settings.half_open_max_calls => {
                    Some(RECHECK)
                }
                State::Disabled => None,
                State::Closed | State::HalfOpen => {
                    match self.config.settings.max_concurrent_calls {
                        Some(limit) if Self::running(core, self.sums()) >= u64::from(limit) => {
                            Some(RECHECK)
                        }
                        _ => None,
                    }
                }
            });
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

/// What the dashboard reads (feature `dashboard`).
#[cfg(feature = "dashboard")]
impl CircuitBreaker {
    /// The breaker's last state changes, oldest first, each with its
    /// reason and the counts of the period it ended (at most
    /// [`RECENT_TRANSITIONS`](crate::dashboard::RECENT_TRANSITIONS)):
    /// resilience4j's event buffer. Through the registry:
    /// `registry().get(name).map(|cb| cb.recent_transitions())`.
    ///
    /// ```
    /// use breakerbox::{dashboard::TransitionReason, CircuitBreaker, Config, State};
    ///
    /// let cb = CircuitBreaker::new("doc-transitions", Config::default().max_failures(2)).unwrap();
    /// let _ = cb.call(|| Err::<(), _>("refused"));
    /// let _ = cb.call(|| Err::<(), _>("refused"));
    /// let trip = &cb.recent_transitions()[0];
    /// assert_eq!((trip.from, trip.to), (State::Closed, State::Open));
    /// assert_eq!(trip.reason, TransitionReason::ConsecutiveFailures);
    /// assert_eq!(trip.period.failures, 2);
    /// ```
    pub fn recent_transitions(&self) -> Vec<crate::dashboard::Transition> {
        self.hot.transitions.recent()
    }

    pub(crate) fn transition_log(&self) -> &crate::dashboard::TransitionLog {
        &self.hot.transitions
    }

    /// Lifetime admissions and rejections, read from the stripes without
    /// the lock: what the dashboard's sampler turns into rates.
    pub(crate) fn calls_and_rejections(&self) -> (u64, u64) {
        let sums = self.sums();
        (sums.admitted, sums.rejected)
    }
}

/// The rest of an open period that ends at `until` and lasts `open_for`,
/// read at `coarse` (in nanoseconds of the clock), the one rule behind
/// every figure of it, the lock-free rejection's included. The coarse
/// reading may be behind the precise one, never ahead: the figure may be
/// a little long, never short, so that a caller who waits it out finds the
/// period over; and it is never longer than the period itself.
#[inline(always)]
fn remaining(until: u64, coarse: u64, open_for: u64) -> u64 {
    until.saturating_sub(coarse).min(open_for)
}

/// The seed of a breaker's jitter draws: its name and its clock's reading
/// when it was built, so that a test on a `ManualClock` draws the same
/// periods on every run; and on the system clock, the process's random
/// hasher keys too, so that processes whose breakers share a name (and may
/// have been built in the same nanosecond) draw differently.
fn jitter_seed(name: &str, built: Duration, system_clock: bool) -> u64 {
    // FNV-1a: a fixed function of the name.
    let mut seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    seed ^= mix(nanos(built));
    if system_clock {
        use std::hash::BuildHasher;
        seed ^= std::collections::hash_map::RandomState::new().hash_one(seed);
    }
    seed
}

/// SplitMix64's finalizer: every bit of the input moves every bit of the
/// output.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
            .field("name", &self.hot.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ManualClock;

    /// Runs `f` on a thread that owns its counter stripe, where failures
    /// go into the stripe's log: a new thread each try, until one finds a
    /// stripe that no living thread owns (other tests' threads hold them
    /// for a while).
    fn on_an_owned_stripe(f: impl Fn() + Sync) {
        loop {
            let ran = std::thread::scope(|s| {
                s.spawn(|| {
                    let owned = thread_stripe() & OWNED != 0;
                    if owned {
                        f();
                    }
                    owned
                })
                .join()
                .unwrap()
            });
            if ran {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// What every call reads shares no cache line with what failures
    /// write, and the whole stays one 128-byte block.
    #[test]
    fn the_words_failures_write_are_off_the_state_words_cache_line() {
        use std::mem::{offset_of, size_of};
        for read in [
            offset_of!(Hot, word),
            offset_of!(Hot, open_until),
            offset_of!(Hot, open_for),
            offset_of!(Hot, lane),
        ] {
            assert!(read + 8 <= 64, "read at {read}");
        }
        assert!(offset_of!(Hot, consecutive) >= 64);
        assert!(offset_of!(Hot, streak_end) >= 64);
        assert_eq!(size_of::<Hot>(), 128);
    }

    /// The failures a breaker's stripes hold in their logs.
    fn logged(cb: &CircuitBreaker) -> u64 {
        cb.stripes.iter().fold(0, |sum: u64, s| {
            sum + logged_in(s.log.share.load(Ordering::Relaxed))
        })
    }

    /// A breaker that trips at 90 % of the last 100 calls, judged from 10.
    fn ninety_percent(name: &str) -> CircuitBreaker {
        CircuitBreaker::new(
            name,
            Config::default()
                .without_max_failures()
                .failure_rate(0.9)
                .count_window(100)
                .minimum_calls(10)
                .clock(ManualClock::new()),
        )
        .unwrap()
    }

    /// Ten successes, then failures and successes in turn, five failures in
    /// all; `after_failure` runs after each failure.
    fn ten_successes_then_five_failures_in_turn(cb: &CircuitBreaker, after_failure: impl Fn()) {
        record(cb, &"S".repeat(10));
        for call in "FSFSFSFSF".chars() {
            record(cb, &call.to_string());
            if call == 'F' {
                after_failure();
            }
        }
    }

    /// Makes a call for each letter of `calls`: `F` fails, any other
    /// succeeds.
    fn record(cb: &CircuitBreaker, calls: &str) {
        for call in calls.chars() {
            let permit = cb.try_acquire().unwrap();
            if call == 'F' {
                permit.failure();
            } else {
                permit.success();
            }
        }
    }

    /// What the window and the period hold after those calls.
    fn assert_five_failures_of_nineteen_the_last_a_failure(cb: &CircuitBreaker) {
        let stats = cb.stats();
        assert_eq!(stats.failure_rate, 5.0 / 19.0);
        assert_eq!(stats.period.consecutive_failures, 1);
        assert_eq!((stats.period.successes, stats.period.failures), (14, 5));
    }

    /// The allowances are tagged with a 16-bit count that wraps: failures
    /// logged under the allowances on both sides of the wrap go into their
    /// own logs, and into the window at their places among the thread's
    /// successes.
    #[test]
    fn failures_logged_across_the_wrap_of_the_allowance_count_keep_their_places() {
        on_an_owned_stripe(|| {
            let cb = ninety_percent("grant-wrap");
            lock(&cb.core).grants = u16::MAX - 2;
            ten_successes_then_five_failures_in_turn(&cb, || {
                assert_eq!(logged(&cb), 1, "the failure went into the log");
                // A look takes it in and shares the next allowance.
                let _ = cb.stats();
                assert_eq!(logged(&cb), 0, "the look took it in");
            });
            assert!(lock(&cb.core).grants < 8, "the count wrapped");
            assert_five_failures_of_nineteen_the_last_a_failure(&cb);
        });
    }

    /// The metrics exporter reads the lifetime counts without the lock: a
    /// failure logged off the lock is in its failures before any look
    /// takes it in (else a breaker dropped first loses it for good).
    #[cfg(feature = "metrics")]
    #[test]
    fn the_exporter_counts_a_failure_logged_off_the_lock_before_a_look() {
        on_an_owned_stripe(|| {
            let cb = ninety_percent("exported-log");
            for _ in 0..10 {
                cb.try_acquire().unwrap().success();
            }
            cb.try_acquire().unwrap().failure();
            assert_eq!(logged(&cb), 1, "the failure went into the log");
            let totals = stripe_totals(&cb.stripes);
            assert_eq!((totals.successes, totals.failures), (10, 1));
            let _ = cb.stats();
            assert_eq!(stripe_totals(&cb.stripes).failures, 1, "counted once");
        });
    }

    /// A thread that only looks at a windowed breaker (its stats, a
    /// store's reads) claims no stripe: with a stripe per core, a claim
    /// would leave a calling thread to share one, its failures never off
    /// the lock.
    #[test]
    fn a_thread_that_only_looks_at_a_window_claims_no_stripe() {
        let cb = ninety_percent("looker");
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = cb.stats();
                assert_eq!(crate::sync::claimed_stripe(), None);
            });
        });
    }

    /// A look that finds the breaker out of Closed with failures still in a
    /// log takes them into the counts and the streak (each success between
    /// them ends it) but not into the window, which only Closed records.
    #[test]
    fn a_look_out_of_closed_counts_logged_failures_without_recording_them() {
        on_an_owned_stripe(|| {
            let cb = ninety_percent("look-out-of-closed");
            record(&cb, &"S".repeat(10));
            record(&cb, "FSF");
            assert_eq!(logged(&cb), 2, "both failures went into the log");
            let mut core = lock(&cb.core);
            let window = |core: &mut Core| core.window.as_mut().unwrap().tally(Duration::ZERO);
            let before = window(&mut core);
            assert_eq!((before.calls, before.failures), (10, 0));
            core.state = State::HalfOpen;
            cb.fold(&mut core);
            assert_eq!(window(&mut core), before, "the window recorded nothing");
            assert_eq!(core.streak, 1, "the success between ended the streak");
            drop(core);
            let counted = (cb.sum(|c| &c.successes), cb.sum(|c| &c.failures));
            assert_eq!(counted, (11, 2));
        });
    }

    /// An owner's success count wraps like every counter: failures logged
    /// among successes counted across the wrap keep their places.
    #[test]
    fn failures_logged_among_successes_counted_across_the_wrap_keep_their_places() {
        on_an_owned_stripe(|| {
            let cb = ninety_percent("success-wrap");
            for stripe in cb.stripes.iter() {
                stripe
                    .owned
                    .successes
                    .store(u64::MAX - 12, Ordering::Relaxed);
            }
            {
                let mut core = lock(&cb.core);
                core.base = cb.sums();
                core.folded = core.base.successes;
            }
            ten_successes_then_five_failures_in_turn(&cb, || {});
            assert_eq!(logged(&cb), 5, "every failure went into the log");
            assert_five_failures_of_nineteen_the_last_a_failure(&cb);
        });
    }

    /// A thread that failed under its share keeps one through a look at
    /// which it had not failed again: two threads whose failures
    /// alternate do not take each other's shares away at every look.
    #[test]
    fn a_share_outlasts_one_look_without_a_failure() {
        on_an_owned_stripe(|| {
            let cb = ninety_percent("alternating");
            for _ in 0..10 {
                cb.try_acquire().unwrap().success();
            }
            cb.try_acquire().unwrap().failure();
            assert_eq!(logged(&cb), 1);
            // Two looks by a thread that owns no stripe.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = cb.stats();
                    let _ = cb.stats();
                });
            });
            let mine = &cb.stripes[thread_stripe() & !OWNED & (cb.stripes.len() - 1)];
            let share = mine.log.share.load(Ordering::Relaxed);
            assert!(share_left(share) > 0, "share {share:#x}");
        });
    }

    /// A window beside `max_failures`: a thread logs its failures for the
    /// window off the lock, broken by its successes or in a row, while the
    /// streak (kept in the calls' real order, in the tagged word) stays
    /// below `max_failures`; the failure that brings it there takes the
    /// lock and trips.
    #[test]
    fn failures_beside_a_window_are_logged_off_the_lock_until_the_one_that_trips() {
        on_an_owned_stripe(|| {
            let cb = CircuitBreaker::new(
                "runs",
                Config::default()
                    .max_failures(3)
                    .failure_rate(0.9)
                    .count_window(100)
                    .minimum_calls(10)
                    .clock(ManualClock::new()),
            )
            .unwrap();
            record(&cb, &"S".repeat(10));
            // A look, which shares the allowance with this thread.
            record(&cb, "F");
            let _ = cb.stats();
            record(&cb, "FSFSFSFSFS");
            assert_eq!(logged(&cb), 5, "five failures, none two in a row");
            record(&cb, "FF");
            assert_eq!(logged(&cb), 7, "two in a row");
            assert_eq!(cb.state(), State::Closed);
            record(&cb, "F");
            assert_eq!(cb.state(), State::Open, "three failures in a row");
        });
    }

    /// A window whose every ending takes the lock (a `trip_when`
    /// predicate judges each call) grants no allowance: it would never be
    /// used, and each grant is a write to the published words.
    #[test]
    fn a_window_whose_endings_all_take_the_lock_grants_no_allowance() {
        let cb = CircuitBreaker::new(
            "no-allowance",
            Config::default()
                .without_max_failures()
                .failure_rate(0.9)
                .count_window(100)
                .minimum_calls(10)
                .trip_when(|counts| counts.failures > 50)
                .clock(ManualClock::new()),
        )
        .unwrap();
        for _ in 0..10 {
            cb.try_acquire().unwrap().success();
        }
        cb.try_acquire().unwrap().failure();
        assert_eq!(cb.stats().period.failures, 1);
        for stripe in cb.stripes.iter() {
            assert_eq!(stripe.log.share.load(Ordering::Relaxed), 0);
        }
    }

    /// Without a window, a success made on another thread between two
    /// failures of this one (the threads take turns: the success happens
    /// after the first failure and before the second) ends the streak
    /// there, as if every call had taken the lock: F F, then S elsewhere,
    /// then F F is a streak of two, below `max_failures(3)`.
    #[test]
    fn a_success_on_another_thread_between_failures_ends_the_streak_there() {
        on_an_owned_stripe(|| {
            let cb = CircuitBreaker::new(
                "turns",
                Config::default().max_failures(3).clock(ManualClock::new()),
            )
            .unwrap();
            record(&cb, "FF");
            std::thread::scope(|s| {
                s.spawn(|| record(&cb, "S"));
            });
            record(&cb, "FF");
            let stats = cb.stats();
            assert_eq!(stats.state, State::Closed, "{:?}", stats.tripped_by);
            assert_eq!(stats.period.consecutive_failures, 2);
        });
    }

    /// Without a window, one thread's calls, with `stats()` anywhere among
    /// them: every sequence of up to eight successes, failures and looks
    /// trips on the failure that brings the streak to `max_failures`, never
    /// before, and every look counts what the calls so far make.
    #[test]
    fn one_threads_calls_without_a_window_trip_exactly_at_max_failures() {
        on_an_owned_stripe(|| {
            for max in 1..=4u64 {
                for code in 0..3u32.pow(8) {
                    let cb = CircuitBreaker::new(
                        "exact",
                        Config::default()
                            .max_failures(max as u32)
                            .clock(ManualClock::new()),
                    )
                    .unwrap();
                    let (mut seq, mut code) = (String::new(), code);
                    // (consecutive failures, consecutive successes,
                    // successes, failures) as the calls make them.
                    let (mut cf, mut cs, mut s, mut f) = (0, 0, 0, 0);
                    while cf < max && seq.len() < 8 {
                        let call = ['S', 'F', 'L'][(code % 3) as usize];
                        code /= 3;
                        seq.push(call);
                        match call {
                            'S' => (cf, cs, s) = (0, cs + 1, s + 1),
                            'F' => (cf, cs, f) = (cf + 1, 0, f + 1),
                            _ => {
                                let p = cb.stats().period;
                                let counts = (p.consecutive_failures, p.consecutive_successes);
                                assert_eq!(
                                    (counts, p.successes, p.failures),
                                    ((cf, cs), s, f),
                                    "{max} {seq}"
                                );
                                continue;
                            }
                        }
                        record(&cb, &call.to_string());
                        // The published state, without a look.
                        let open = cb.hot.word.load(Ordering::Relaxed) & STATE_MASK == OPEN;
                        assert_eq!(open, cf == max, "max_failures({max}): {seq}");
                    }
                    if let Some(trip) = cb.stats().tripped_by {
                        assert_eq!(trip.period.consecutive_failures, max, "{seq}");
                        assert_eq!(
                            (trip.period.successes, trip.period.failures),
                            (s, f),
                            "{seq}"
                        );
                    }
                }
            }
        });
    }

    /// A process that runs for centuries: counters at the edge of `u64`.
    #[test]
    fn counters_at_their_limit_neither_panic_nor_lose_the_running_count() {
        let cb = CircuitBreaker::new(
            "overflow",
            Config::default().max_failures(2).clock(ManualClock::new()),
        )
        .unwrap();
        for stripe in cb.stripes.iter() {
            stripe
                .shared
                .admitted
                .store(u64::MAX - 1, Ordering::Relaxed);
            stripe
                .shared
                .successes
                .store(u64::MAX - 1, Ordering::Relaxed);
            stripe
                .shared
                .failures
                .store(u64::MAX / 2, Ordering::Relaxed);
            stripe.shared.rejected.store(u64::MAX, Ordering::Relaxed);
        }
        {
            let mut core = lock(&cb.core);
            core.totals.ignored = u64::MAX;
            core.totals.cancelled = u64::MAX;
            core.totals.stale = u64::MAX;
            core.base = cb.sums();
            // One failure short of u32::MAX in a row.
            cb.hot.consecutive.store(
                ((core.generation & COUNT_MASK) << 32) | (COUNT_MASK - 1),
                Ordering::Relaxed,
            );
        }
        // Running calls are admissions less endings, in wrapping
        // arithmetic: whatever it read before, it reads the same after
        // calls that each end once.
        let running_before = cb.stats().in_flight;
        let _ = cb.call(|| Ok::<_, ()>(()));
        let _ = cb.call(|| Err::<(), _>(()));
        let _ = cb.call(|| Err::<(), _>(()));
        drop(cb.try_acquire());
        let _ = cb.call(|| Ok::<_, ()>(()));
        let stats = cb.stats();
        assert_eq!(stats.in_flight, running_before);
        // The success cleared the consecutive count; two failures tripped.
        let stripes = cb.stripes.len() as u64;
        assert_eq!(
            stats.totals.failures,
            (u64::MAX / 2).wrapping_mul(stripes).wrapping_add(2),
            "wraps, like every stripe"
        );
        assert_eq!(stats.state, State::Open);
    }
}
