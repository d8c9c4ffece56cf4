//! The state machine: admission ([`CircuitBreaker::try_acquire`]) and
//! recording ([`Permit`]'s outcomes), read top to bottom.
//!
//! Two paths share one state:
//!
//! - **The lock-free path** takes the calls that do not change the state:
//!   admission, and a success or a failure that does not trip, while
//!   closed (for configurations whose policy is consecutive failures
//!   alone), and rejection while open or forced open. It reads one word
//!   (state, generation, and whether this path is allowed) and adds one to
//!   a counter in the calling thread's stripe; a failure also adds one to
//!   the period's tagged consecutive-failure count. It never reads a
//!   precise clock; an open breaker reads a coarse one.
//! - **The locked path** takes everything else: the failure that trips,
//!   probes, windows, slow calls, the bulkhead, transitions, stats. One small lock guards
//!   it, held only for a few field updates, never while user code runs:
//!   protected calls, classifiers, fallbacks and `on_state_change`
//!   listeners all run outside it. Every transition is made under the lock
//!   and published in the word.
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
    lock, stripe_count, thread_stripe, AtomicU64, Mutex, Ordering, MAX_STRIPES, OWNED,
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
/// The failures left in `Hot::allowance` (and, 16 bits up, granted).
const LEFT_MASK: u64 = 0xFFFF;
/// The most failures one allowance grants (its 16 bits, and a bound on the
/// work of working it out).
const MOST_ALLOWED: u64 = 1 << 12;

/// The words the lock-free path reads, on a cache line of their own that
/// only transitions (and the first failure after a success) write.
#[repr(align(128))]
struct Hot {
    word: AtomicU64,
    /// While open: when the open period ends, in nanoseconds of the clock.
    /// `u64::MAX` when that is out of the lock-free path's range.
    open_until: AtomicU64,
    /// While open: how long the open period lasts, in nanoseconds: the most
    /// a rejection may say is left of it.
    open_for: AtomicU64,
    /// The consecutive-failure count of the current period: the low 32
    /// bits of the generation above, the count below, so that a failure of
    /// an older period can never add to the new one's count.
    consecutive: AtomicU64,
    /// A breaker with a window: until when a success may be counted on the
    /// lock-free path alone, for the window to take in at its next look
    /// (see `fold`): `u64::MAX` for a count window that holds
    /// `minimum_calls` calls already (another success can only lower its
    /// rates), the end of the current bucket for such a time window, in
    /// nanoseconds of the clock's coarse reading; 0 while every success
    /// must be judged (too few calls to judge yet, a time window left at a
    /// threshold by calls that slid out, or not closed).
    lane: AtomicU64,
    /// A closed breaker with a window: how many failures the lock-free path
    /// may still record without judging them, as the low 16 bits; the
    /// number granted as the 16 above; the grant's tag above that (see
    /// `grant_tag`). Worked out at each look at the window (see
    /// `allowance`) so that no run of that many failures can bring a rate
    /// or the `max_failures` streak to its threshold, whatever the other
    /// calls; the failure that finds none left takes the lock and is judged
    /// there. Each look takes the rest back first (`fold`).
    allowance: AtomicU64,
    /// Written once, read by a rejection: in the line's spare room.
    name: Name,
    /// The breaker's membership in a shared [`StateStore`], if it joined
    /// one: set once, read only off the lock-free path (the locked
    /// admission, a probe's ending, transitions). Here, in the line's spare
    /// room, it costs the breaker no size.
    shared: OnceLock<Arc<dyn SharedState>>,
    /// Where the breaker is in its one membership: [`UNJOINED`],
    /// [`JOINING`], [`JOINED`] or [`LEFT`].
    membership: AtomicU8,
    /// The last transitions, for the dashboard: a cell set once, at the
    /// first transition, pointing to a log on the heap that only
    /// announcements write (so readers never write to this line).
    #[cfg(feature = "dashboard")]
    transitions: crate::dashboard::TransitionLog,
}

// `Hot::membership`. A breaker joins at most one store, once, and after it
// has left (or was told to leave before it joined) it never joins again.
const UNJOINED: u8 = 0;
const JOINING: u8 = 1;
const JOINED: u8 = 2;
const LEFT: u8 = 3;

/// Lifetime counters of the lock-free path, one stripe per core, each on
/// its own cache lines so that cores never write to the same line.
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    /// Written by the thread that owns the stripe alone (see
    /// [`thread_stripe`]), with a load and a store.
    owned: Counters,
    /// Written by the threads that share the stripe, with atomic adds.
    shared: Counters,
    /// The failures the owner recorded on the lock-free path, in the
    /// stripe's spare room.
    log: Log,
}

/// The failures a stripe's owner recorded on the lock-free path under the
/// current allowance (see `Hot::allowance`), each with where it fell among
/// the owner's own successes, so that a count window takes them in the
/// order they were made.
#[derive(Default)]
struct Log {
    /// The tag of the allowance the entries were made under, as the high
    /// 32 bits, and how many there are: written by the owner as it logs,
    /// and set to 0 by the look that takes them in.
    logged: AtomicU64,
    /// For the failure numbered `n` under the allowance: the owner's owned
    /// success count when it failed.
    entries: [AtomicU64; LOG_LEN],
}

/// A log's entries: what fills a stripe's spare room. A thread whose log
/// is full takes the lock for its next failure (which takes the log in).
const LOG_LEN: usize = 7;

#[derive(Default)]
struct Counters {
    admitted: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    rejected: AtomicU64,
}

/// A breaker's stripes: shared with the metrics exporter, which reads
/// their lifetime counts, with the `metrics` feature; its own otherwise
/// (an `Arc`'s header takes a whole 128-byte line before them).
#[cfg(feature = "metrics")]
type Stripes = Arc<[Stripe]>;
#[cfg(not(feature = "metrics"))]
type Stripes = Box<[Stripe]>;

/// The stripes' sums.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    admitted: u64,
    successes: u64,
    failures: u64,
    rejected: u64,
}

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
    /// The allowances granted so far (see `grant_tag`).
    grants: u16,
    /// With a window: the current period's consecutive failures, kept
    /// here under the lock rather than in `Hot::consecutive` (the
    /// lock-free path of a window never reads it, and a write there would
    /// take the published word's cache line from every other core).
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
                lane: AtomicU64::new(0),
                allowance: AtomicU64::new(0),
                name,
                shared: OnceLock::new(),
                membership: AtomicU8::new(UNJOINED),
                #[cfg(feature = "dashboard")]
                transitions: Default::default(),
            },
            stripes,
            slow_after: config.settings.slow_call_duration.map_or(u64::MAX, nanos),
            windowed,
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

    // ----- a shared store -------------------------------------------------

    /// Joins the shared state of this breaker's name in `store`, so that
    /// every process's breaker of that name trips, probes and closes
    /// together (see [`StateStore`]). Returns `false`, and changes nothing,
    /// if the breaker has joined a store already, is joining one on
    /// another thread right now, or has [left](Self::leave_store) one:
    /// `store.join` is called at most once in a breaker's life.
    ///
    /// Breakers of the [`registry()`](crate::registry()) join the store
    /// their configuration names ([`Config::store`]) by themselves, before
    /// the registry hands them to anyone.
    pub fn join_store(self: &Arc<Self>, store: &dyn StateStore) -> bool {
        let (joined, contained) = self.join(store);
        if let Some(contained) = contained {
            self.report(&contained);
        }
        joined
    }

    /// [`join_store`](Self::join_store), handing back a panic of the
    /// store's `join` it contained for the caller to report once it holds
    /// no lock (the registry joins under its own).
    pub(crate) fn join(self: &Arc<Self>, store: &dyn StateStore) -> (bool, Option<Contained>) {
        let claimed = self.hot.membership.compare_exchange(
            UNJOINED,
            JOINING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if claimed.is_err() {
            return (false, None);
        }
        let joined = contained("StateStore::join", || {
            self.hot.shared.get_or_init(|| store.join(self));
        });
        if let Err(panic) = joined {
            // The store's code panicked: the breaker stays local, and may
            // join again later.
            self.hot.membership.store(UNJOINED, Ordering::Release);
            return (false, Some(panic));
        }
        let Some(membership) = self.hot.shared.get() else {
            return (false, None);
        };
        let joined = self.hot.membership.compare_exchange(
            JOINING,
            JOINED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if joined.is_err() {
            // Told to leave while it was joining: it leaves at once.
            membership.leave();
            return (false, None);
        }
        // A strict store takes lock-free admission away: republish.
        let core = lock(&self.core);
        self.publish(&core);
        (true, None)
    }

    /// Ends the breaker's membership in its store: the store stops sharing
    /// its state (no more outcomes sent, no fleet transitions applied) and
    /// the breaker goes on alone, as if it had never joined; it cannot
    /// join a store again. A probe that holds one of the fleet's slots
    /// still gives it back when it ends. Returns whether it was a member
    /// (or was joining). [`Registry::remove`](crate::Registry::remove)
    /// calls it.
    pub fn leave_store(&self) -> bool {
        match self.hot.membership.swap(LEFT, Ordering::AcqRel) {
            JOINED => {}
            // The joining thread sees `LEFT` and ends the membership.
            JOINING => return true,
            // UNJOINED, LEFT: no membership to end.
            _ => return false,
        }
        if let Some(shared) = self.hot.shared.get() {
            shared.leave();
        }
        // Lock-free admission comes back if a strict store had taken it.
        let core = lock(&self.core);
        self.publish(&core);
        true
    }

    /// What the registry's idle eviction samples, without the lock: the
    /// calls asked of the breaker so far (admitted or rejected), and
    /// whether its state lets it go: closed or half-open, or open with its
    /// open period over; never forced open or disabled, which an operator
    /// chose.
    pub(crate) fn idle_sample(&self) -> (u64, bool) {
        let calls = self
            .sum(|c| &c.admitted)
            .wrapping_add(self.sum(|c| &c.rejected));
        let word = self.hot.word.load(Ordering::Acquire);
        let may_go = match word & STATE_MASK {
            OPEN => {
                let until = self.hot.open_until.load(Ordering::Relaxed);
                until != u64::MAX
                    && panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now()))
                        .is_ok_and(|now| nanos(now) >= until)
            }
            FORCED_OPEN | DISABLED => false,
            _ => true,
        };
        (calls, may_go)
    }

    /// The breaker's membership, while it is a member.
    fn membership(&self) -> Option<&Arc<dyn SharedState>> {
        if self.hot.membership.load(Ordering::Acquire) == JOINED {
            self.hot.shared.get()
        } else {
            None
        }
    }

    /// What a shared store reads of the breaker, after the time-driven
    /// transitions (as [`stats`](Self::stats) makes them). Without
    /// [`Stats`]' name copy and window tally; and a listener's panic is
    /// dropped, as in [`apply_shared`](Self::apply_shared): the store's
    /// thread must go on.
    #[cfg(feature = "redis")]
    pub(crate) fn store_view(&self) -> StoreView {
        let mut changes = Changes::default();
        let view = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            let sums = self.sums();
            StoreView {
                outcomes: [sums.successes, sums.failures, core.totals.slow_calls],
                consecutive_failures: self.streak(core),
                state: core.state,
                open_for: match core.state {
                    State::Open => Self::open_remaining(core, now),
                    _ => Duration::ZERO,
                },
            }
        });
        // The store's thread must go on: a listener's panic is reported.
        self.announce_reporting(&changes);
        view
    }

    /// Whether the breaker is a member of a shared store (joined, and not
    /// left).
    pub fn is_shared(&self) -> bool {
        self.membership().is_some()
    }

    /// Whether the store asks to decide every admission. Store code, read
    /// under the lock: a panic is contained and read as not strict.
    fn strict(&self) -> bool {
        self.membership().is_some_and(|shared| {
            panic::catch_unwind(AssertUnwindSafe(|| shared.strict())).unwrap_or(false)
        })
    }

    /// Applies the fleet's state, as a [`StateStore`] learned it: `state`
    /// (`Closed`, `Open` or `HalfOpen`), and while open, `open_for`, the
    /// rest of the fleet's open period. The transition is announced like
    /// any other (listeners, tracing, metrics) but not reported back to the
    /// store. A breaker forced open or disabled by hand keeps that state:
    /// manual control is local.
    pub fn apply_shared(&self, state: State, open_for: Duration) {
        self.apply_shared_unless(state, open_for, || false);
    }

    /// [`apply_shared`](Self::apply_shared), unless `stale` says the state
    /// was read before a transition the store has yet to send. `stale` is
    /// asked under the breaker's lock, under which the store hears of each
    /// transition ([`StateStore`]'s `transitioned`), so a transition cannot
    /// slip in between the question and the state's change.
    pub(crate) fn apply_shared_unless(
        &self,
        state: State,
        open_for: Duration,
        stale: impl FnOnce() -> bool,
    ) {
        if !matches!(state, State::Closed | State::Open | State::HalfOpen) {
            return;
        }
        let mut changes = Changes {
            from_store: true,
            ..Changes::default()
        };
        self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            if matches!(core.state, State::ForcedOpen | State::Disabled) || stale() {
                return;
            }
            match (core.state, state) {
                (from, to) if from == to => {}
                (State::Closed, State::Open) => self.trip(core, TripReason::Fleet, now, changes),
                _ => self.set_state(core, state, now, changes),
            }
            if state == State::Open {
                // The fleet's open period, not this process's own; from the
                // clock's next good reading if it is failing.
                let at = now.get();
                core.open_duration = open_for;
                core.open_pending = now.failed.get();
                core.open_until = if core.open_pending {
                    open_for
                } else {
                    at.saturating_add(open_for)
                };
                self.publish(core);
            }
        });
        // A panicking listener must not take the store's thread down: the
        // breaker is consistent, so the panic is reported here.
        self.announce_reporting(&changes);
    }

    /// Adds one to the calling thread's `counter`, with `order`: a load and
    /// a store in a stripe the thread owns, an atomic add in one it shares.
    /// The count before.
    #[inline(always)]
    fn add(&self, counter: impl Fn(&Counters) -> &AtomicU64, order: Ordering) -> u64 {
        let at = thread_stripe();
        let stripe = &self.stripes[at & (self.stripes.len() - 1)];
        if at & OWNED != 0 {
            let counter = counter(&stripe.owned);
            let before = counter.load(Ordering::Relaxed);
            counter.store(before.wrapping_add(1), order);
            before
        } else {
            counter(&stripe.shared).fetch_add(1, order)
        }
    }

    /// The stripes' sums: successes before admissions, so that a success is
    /// never seen without its admission.
    fn sums(&self) -> Sums {
        let successes = self.sum(|s| &s.successes);
        let failures = self.sum(|s| &s.failures);
        let rejected = self.sum(|s| &s.rejected);
        let admitted = self.sum(|s| &s.admitted);
        Sums {
            admitted,
            successes,
            failures,
            rejected,
        }
    }

    /// One counter summed over every stripe.
    fn sum(&self, counter: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        sum_stripes(&self.stripes, counter)
    }

    /// Publishes the locked state to the lock-free path.
    fn publish(&self, core: &Core) {
        let (admit, fast) = match core.state {
            // In a strict shared store every admission asks the store.
            State::Closed if self.strict() => (false, false),
            State::Closed => (self.admit_closed, self.fast_closed),
            State::Disabled => (true, true),
            State::Open | State::HalfOpen | State::ForcedOpen => (false, false),
        };
        if core.state == State::Open {
            // Pending: out of the lock-free path's range, so the locked
            // path decides.
            let until = if core.open_pending {
                u64::MAX
            } else {
                nanos(core.open_until)
            };
            self.hot.open_until.store(until, Ordering::Relaxed);
            self.hot
                .open_for
                .store(nanos(core.open_duration), Ordering::Relaxed);
        }
        let word = core.state.code()
            | if admit { FAST_ADMIT } else { 0 }
            | if fast { FAST } else { 0 }
            | (core.generation << GEN_SHIFT);
        self.hot.word.store(word, Ordering::Release);
    }

    /// The consecutive failures of the period `generation`.
    fn consecutive_failures(&self, generation: u64) -> u64 {
        let word = self.hot.consecutive.load(Ordering::Acquire);
        if word >> 32 == generation & COUNT_MASK {
            word & COUNT_MASK
        } else {
            0
        }
    }

    /// Adds one failure to the consecutive count of the period whose
    /// generation is `generation`, unless the count is at `below - 1`
    /// already (the failure that trips takes the lock) or belongs to
    /// another period. Saturates at `u32::MAX`.
    #[inline]
    fn add_consecutive_failure(&self, generation: u64, below: u64) -> bool {
        let tag = (generation & COUNT_MASK) << 32;
        let mut word = self.hot.consecutive.load(Ordering::Acquire);
        loop {
            if word & !COUNT_MASK != tag {
                return false;
            }
            let count = word & COUNT_MASK;
            if count.saturating_add(1) >= below {
                return false;
            }
            if count == COUNT_MASK {
                return true;
            }
            match self.hot.consecutive.compare_exchange_weak(
                word,
                word + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    // ----- admission ------------------------------------------------------

    /// Asks to make one call: a [`Permit`] to consume with the call's
    /// outcome, or the reason the call is refused.
    ///
    /// Inlined: closed admission and open or forced-open rejection take no
    /// lock (an open breaker reads the coarse clock); every other case
    /// calls out to the locked path.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let word = self.hot.word.load(Ordering::Acquire);
        if word & FAST_ADMIT != 0 {
            let admitted = self.add(|c| &c.admitted, Ordering::Relaxed);
            // observe: one call in 64 has its duration sampled
            let started = if Exporter::samples(admitted) {
                self.sample_start()
            } else if self.slow_after != u64::MAX {
                self.coarse_start()
            } else {
                NOT_TIMED
            };
            return Ok(Permit::new(self, word >> GEN_SHIFT, false, started));
        }
        match word & STATE_MASK {
            OPEN => {
                let until = self.hot.open_until.load(Ordering::Relaxed);
                // The system clock's ticker: one load (`STOPPED`, far in
                // the future, sends the call to the locked path, which
                // starts it).
                let now = if self.config.system_clock {
                    crate::clock::ticker::nanos()
                } else {
                    self.custom_coarse_nanos()
                };
                if until != u64::MAX && now.saturating_add(self.coarse_lag) < until {
                    self.add(|c| &c.rejected, Ordering::Relaxed);
                    let open_for = self.hot.open_for.load(Ordering::Relaxed);
                    let left = remaining(until, now, open_for);
                    let rejected = Rejected::open(self.shared_name(), left);
                    // observe: a rejection
                    observe::rejected(&rejected);
                    return Err(rejected);
                }
            }
            FORCED_OPEN => {
                self.add(|c| &c.rejected, Ordering::Relaxed);
                let rejected = Rejected::forced_open(self.shared_name());
                // observe: a rejection
                observe::rejected(&rejected);
                return Err(rejected);
            }
            _ => {}
        }
        self.try_acquire_locked()
    }

    /// When a sampled call starts, from the precise clock (bit 0 set, see
    /// [`Permit::started`]): user code, so a panic is contained and the
    /// call is not timed.
    #[cold]
    #[inline(never)]
    fn sample_start(&self) -> u64 {
        panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now()))
            .map_or(NOT_TIMED, |at| nanos(at) | 1)
    }

    /// When a call timed for a slow-call policy starts, from the coarse
    /// clock (bit 0 clear, see [`Permit::started`]).
    #[inline]
    fn coarse_start(&self) -> u64 {
        let at = match crate::clock::ticker::nanos() {
            at if self.config.system_clock && at != crate::clock::ticker::STOPPED => at,
            // A custom clock's, or the system clock's before its ticker
            // runs (the reading starts it).
            _ => self.custom_coarse_nanos(),
        };
        if at == u64::MAX {
            NOT_TIMED
        } else {
            at & !1
        }
    }

    /// A sampled call's duration, for the histogram, from its start in
    /// nanoseconds of the clock.
    #[cold]
    #[inline(never)]
    fn sample_end(&self, started: u64) {
        if let Ok(now) = panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now())) {
            let elapsed = nanos(now).saturating_sub(started & !1);
            self.exporter.duration(Duration::from_nanos(elapsed));
        }
    }

    /// A coarse reading of a clock that is not the system's: user code, so
    /// a panic is contained; `u64::MAX` then sends the call to the locked
    /// path, which contains and reports it.
    #[inline(never)]
    fn custom_coarse_nanos(&self) -> u64 {
        panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now_coarse()))
            .map_or(u64::MAX, nanos)
    }

    #[cold]
    #[inline(never)]
    fn try_acquire_locked(&self) -> Result<Permit<'_>, Rejected> {
        if let Some(shared) = self.membership().filter(|shared| shared.strict()) {
            // Strict mode: the fleet's state decides first (the store has
            // applied it to this breaker by the time it answers).
            if let Err(retry_after) = shared.admit() {
                let rejected = self.reject(RejectReason::Open { retry_after });
                // observe: a rejection
                observe::rejected(&rejected);
                return Err(rejected);
            }
        }
        let mut changes = Changes::default();
        let shared = self.membership();
        let mut admitted = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            self.admit(core, now, shared.is_some())
        });
        let mut lease = None;
        if let (Ok(admission), Some(shared)) = (&mut admitted, shared) {
            if admission.probe {
                match self.fleet_probe(&**shared, admission, &mut changes) {
                    Ok(granted) => lease = granted,
                    Err(rejected) => admitted = Err(rejected),
                }
            }
        }
        // observe: a rejection
        if let Err(rejected) = &admitted {
            observe::rejected(rejected);
        }
        let permit = admitted.map(|admission| {
            let mut permit = Permit::new(self, admission.id, admission.probe, admission.started);
            permit.lease = lease;
            permit
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

    /// Runs `section` under the breaker's lock, with the time it may read,
    /// noting in `changes` what to announce once the lock is released.
    fn locked<R>(
        &self,
        changes: &mut Changes,
        section: impl FnOnce(&mut Core, &Now, &mut Changes) -> R,
    ) -> R {
        let mut core = lock(&self.core);
        let now = Now {
            clock: &*self.config.clock,
            fallback: Duration::from_nanos(core.last_now),
            at: Cell::new(None),
            failed: Cell::new(false),
            contained: Cell::new(None),
        };
        if self.windowed {
            self.fold(&mut core);
        }
        let result = section(&mut core, &now, changes);
        if self.windowed {
            let at = Self::window_time(&core, &now);
            self.open_lane(&mut core, at);
        }
        if let Some(at) = now.at.get() {
            core.last_now = nanos(at);
        }
        drop(core);
        if let Some(contained) = now.contained.take() {
            changes.contained.get_or_insert(contained);
        }
        result
    }

    /// Decides on one call in the current state, and counts it; a probe of
    /// a breaker in a shared store (`fleet`) holds its local slot but is
    /// counted only once the fleet grants it one of its own
    /// ([`fleet_probe`](Self::fleet_probe)).
    fn admit(&self, core: &mut Core, now: &Now, fleet: bool) -> Result<Admission, Rejected> {
        let probe = match core.state {
            State::Closed => false,
            State::Disabled => false,
            State::Open => {
                let retry_after = Self::open_remaining(core, now);
                return Err(self.reject(RejectReason::Open { retry_after }));
            }
            State::ForcedOpen => return Err(self.reject(RejectReason::ForcedOpen)),
            State::HalfOpen => {
                if core.probes >= self.config.settings.half_open_max_calls {
                    return Err(self.reject(RejectReason::HalfOpenFull));
                }
                true
            }
        };
        if let Some(limit) = self.config.settings.max_concurrent_calls {
            if core.state != State::Disabled && Self::running(core, self.sums()) >= u64::from(limit)
            {
                return Err(self.reject(RejectReason::TooManyCalls));
            }
        }
        let mut admission = Admission {
            id: core.generation,
            generation: core.generation,
            probe,
            started: NOT_TIMED,
        };
        if probe {
            // The hung-probe clock starts with the first probe in flight,
            // not when the breaker turned half-open while nobody called.
            if core.probes == 0 {
                core.probe_progress = now.progress();
            }
            core.probes += 1;
            admission.id |= (core.probe_epoch & EPOCH_MASK) << GEN_BITS;
            if fleet {
                return Ok(admission);
            }
        }
        self.count_admission(&mut admission, now);
        Ok(admission)
    }

    /// Counts an admission, and notes when its call starts if anything
    /// needs its duration.
    fn count_admission(&self, admission: &mut Admission, now: &Now) {
        let admitted = self.add(|c| &c.admitted, Ordering::Relaxed);
        // observe: one call in 64 has its duration sampled
        admission.started = if Exporter::samples(admitted) {
            nanos(now.get()) | 1
        } else if self.slow_after != u64::MAX {
            nanos(now.coarse()) & !1
        } else {
            NOT_TIMED
        };
        if now.failed.get() {
            // Not timed from a guess: an instant call would be judged slow.
            admission.started = NOT_TIMED;
        }
    }

    /// A probe of a breaker in a shared store needs one of the fleet's probe
    /// slots too. Asked outside the lock (the store may apply the fleet's
    /// state to this breaker meanwhile); the admission is counted only once
    /// the slot is granted and the half-open period it was admitted in is
    /// still on, so that a refused probe never counts as a request.
    fn fleet_probe(
        &self,
        shared: &dyn SharedState,
        admission: &mut Admission,
        changes: &mut Changes,
    ) -> Result<Option<ProbeLease>, Rejected> {
        // Store code: a panic is contained, and the probe fails safe, left
        // to the local limit as when the store cannot answer.
        let slot = contained("SharedState::acquire_probe", || shared.acquire_probe())
            .unwrap_or_else(|panic| {
                changes.contained.get_or_insert(panic);
                ProbeSlot::Unleased
            });
        let lease = match slot {
            ProbeSlot::Leased(lease) => Some(lease),
            ProbeSlot::Unleased => None,
            ProbeSlot::Refused => {
                let reason = self.locked(changes, |core, now, changes| {
                    self.advance(core, now, changes);
                    Self::release_probe(core, admission.id);
                    // The store may have applied the fleet's state: say it.
                    Self::refusal(core, now)
                });
                return Err(self.reject(reason));
            }
        };
        enum Decided {
            Counted,
            Readmitted(Admission),
            Refused(RejectReason),
            Rejected(Rejected),
        }
        let decided = self.locked(changes, |core, now, changes| {
            self.advance(core, now, changes);
            if core.generation != admission.generation {
                // The store applied the fleet's state meanwhile (or another
                // thread changed it): the call is decided again, as a call
                // of the state the breaker is in now.
                Self::release_probe(core, admission.id);
                return match core.state {
                    State::Closed | State::Disabled => match self.admit(core, now, false) {
                        Ok(readmitted) => Decided::Readmitted(readmitted),
                        Err(rejected) => Decided::Rejected(rejected),
                    },
                    _ => Decided::Refused(Self::refusal(core, now)),
                };
            }
            let full = self
                .config
                .settings
                .max_concurrent_calls
                .is_some_and(|limit| Self::running(core, self.sums()) >= u64::from(limit));
            if full {
                Self::release_probe(core, admission.id);
                return Decided::Refused(RejectReason::TooManyCalls);
            }
            self.count_admission(admission, now);
            Decided::Counted
        });
        if !matches!(decided, Decided::Counted) {
            if let Some(lease) = lease {
                let ended = contained("SharedState::probe_ended", || {
                    shared.probe_ended(lease, None)
                });
                if let Err(panic) = ended {
                    changes.contained.get_or_insert(panic);
                }
            }
        }
        match decided {
            Decided::Counted => Ok(lease),
            Decided::Readmitted(readmitted) => {
                *admission = readmitted;
                Ok(None)
            }
            Decided::Refused(reason) => Err(self.reject(reason)),
            Decided::Rejected(rejected) => Err(rejected),
        }
    }

    /// The rest of an open breaker's open period, as every figure of it
    /// says it (rejections, [`Stats::time_until_half_open`], a store's
    /// view): see [`remaining`].
    fn open_remaining(core: &Core, now: &Now) -> Duration {
        if core.open_pending {
            return core.open_until;
        }
        Duration::from_nanos(remaining(
            nanos(core.open_until),
            nanos(now.coarse()),
            nanos(core.open_duration),
        ))
    }

    /// Why a call is refused in the state the breaker is in, for a call
    /// that its admission can no longer stand for.
    fn refusal(core: &Core, now: &Now) -> RejectReason {
        match core.state {
            State::Open => RejectReason::Open {
                retry_after: Self::open_remaining(core, now),
            },
            State::ForcedOpen => RejectReason::ForcedOpen,
            _ => RejectReason::HalfOpenFull,
        }
    }

    fn reject(&self, reason: RejectReason) -> Rejected {
        self.add(|c| &c.rejected, Ordering::Relaxed);
        Rejected::new(self.shared_name(), reason)
    }

    /// Calls admitted and not yet finished, every generation, from the
    /// stripes' `sums` and the locked totals.
    fn running(core: &Core, sums: Sums) -> u64 {
        let t = &core.totals;
        let finished = sums
            .successes
            .wrapping_add(sums.failures)
            .wrapping_add(t.ignored)
            .wrapping_add(t.cancelled);
        sums.admitted.wrapping_sub(finished)
    }

    // ----- recording ------------------------------------------------------

    /// Ends an admitted call: the permit's only way back into the breaker.
    #[inline(always)]
    pub(crate) fn finish(
        &self,
        ticket: u64,
        started: u64,
        lease: Option<ProbeLease>,
        ending: Ending,
    ) {
        // Not a probe (bit 0 clear), and of the current generation.
        if ticket & 1 == 0 {
            let word = self.hot.word.load(Ordering::Acquire);
            if word & FAST != 0 && word >> GEN_SHIFT == ticket >> 1 {
                // The coarse clock's reading at the end, where a slow-call
                // policy or a time window needs it; a slow call takes the
                // lock (`u64::MAX`, a clock that failed, reads as slow).
                let ended = if self.slow_after != u64::MAX || self.time_window {
                    self.coarse_start()
                } else {
                    0
                };
                let done = !self.is_slow_at(started, ended)
                    && match ending {
                        // A success the window takes in later, or one that
                        // has no failure count to clear.
                        Ending::Success
                            if if self.windowed {
                                self.in_lane(ended)
                            } else {
                                self.hot.consecutive.load(Ordering::Relaxed) & COUNT_MASK == 0
                            } =>
                        {
                            self.add(|c| &c.successes, Ordering::Release);
                            true
                        }
                        // A window's ending, judged in a short locked
                        // section; or a failure that does not trip (the one
                        // that trips takes the lock).
                        Ending::Success | Ending::Failure if self.windowed => {
                            let failed = ending == Ending::Failure;
                            (failed && self.failure_allowed(ticket >> 1, ended))
                                || self.finish_windowed(ticket >> 1, ended, failed)
                        }
                        // The first success after failures ends the streak.
                        Ending::Success => self.finish_streak_end(ticket >> 1),
                        Ending::Failure => self.failure_lock_free(word),
                        _ => false,
                    };
                if done {
                    // observe: a sampled call's duration
                    if observe::SAMPLES_DURATIONS && started != NOT_TIMED && started & 1 == 1 {
                        self.sample_end(started);
                    }
                    return;
                }
            }
        }
        self.finish_locked(ticket >> 1, started, ticket & 1 == 1, lease, ending);
    }

    /// Whether a window's success that ended at `ended` (the coarse clock's
    /// reading, where a time window needs it) may be counted in its stripe
    /// alone: the lane is open, and the end reads within the lane's bucket
    /// (not before it: a clock set back, or a reading taken before the
    /// window moved on).
    #[inline(always)]
    fn in_lane(&self, ended: u64) -> bool {
        let lane = self.hot.lane.load(Ordering::Acquire);
        ended < lane && (lane == u64::MAX || lane - ended <= self.lane_span)
    }

    /// Whether a call that started at `started` and ended at `ended`, both
    /// in nanoseconds of the clock (as [`Permit::started`] keeps the
    /// start), was slow.
    #[inline(always)]
    fn is_slow_at(&self, started: u64, ended: u64) -> bool {
        self.slow_after != u64::MAX
            && started != NOT_TIMED
            && ended.saturating_sub(started & !1) >= self.slow_after
    }

    /// A window's failure, not slow, of the period `generation`, ended at
    /// `ended`: recorded without the lock when the calling thread owns its
    /// stripe and the allowance has a failure left for this period (see
    /// `Hot::allowance`). It goes into the stripe's log, after the owner's
    /// successes so far, for the window to take in at its next look.
    #[inline(never)]
    fn failure_allowed(&self, generation: u64, ended: u64) -> bool {
        if !self.in_lane(ended) {
            return false;
        }
        let at = thread_stripe();
        if at & OWNED == 0 {
            return false;
        }
        let stripe = &self.stripes[at & (self.stripes.len() - 1)];
        let log = &stripe.log;
        let logged = log.logged.load(Ordering::Relaxed);
        let mut allowance = self.hot.allowance.load(Ordering::Relaxed);
        let tag = allowance >> 32;
        // Entries under this allowance so far (none if the log is another's).
        let n = if logged >> 32 == tag {
            logged & COUNT_MASK
        } else {
            0
        };
        if tag >> 16 != generation & 0xFFFF || n >= LOG_LEN as u64 {
            return false;
        }
        loop {
            if allowance & LEFT_MASK == 0 {
                return false;
            }
            match self.hot.allowance.compare_exchange_weak(
                allowance,
                allowance - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                // Another allowance since: the entries counted above may
                // not be its own.
                Err(now) if now >> 32 != tag => return false,
                Err(now) => allowance = now,
            }
        }
        log.entries[n as usize].store(
            stripe.owned.successes.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let failures = &stripe.owned.failures;
        failures.store(
            failures.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        // Publishes the entry and the count to the look that takes it in.
        log.logged.store(tag << 32 | (n + 1), Ordering::Release);
        true
    }

    /// A window's success or failure, not slow, of the period
    /// `generation`, ended at `ended` (the coarse clock's reading, where a
    /// time window needs it): judged and recorded in a short locked section
    /// that takes in the successes counted lock-free since the last look
    /// first. `false` leaves the call to the locked path: it trips the
    /// breaker, or belongs to another period or state.
    #[inline(never)]
    fn finish_windowed(&self, generation: u64, ended: u64, failed: bool) -> bool {
        let mut core = lock(&self.core);
        let core = &mut *core;
        let closed = match core.state {
            State::Closed => true,
            State::Disabled => false,
            _ => return false,
        };
        if core.generation != generation || ended == u64::MAX {
            return false;
        }
        let at = Duration::from_nanos(ended);
        if let Some((epoch, _)) = core.window.as_ref().and_then(|w| w.bucket_at(at)) {
            // Read before the window's last look had moved to a later bucket
            // (or the clock was set back): recorded at `at`, the call would
            // drop the later buckets as if from the future. The locked path
            // reads the clock under the lock.
            if epoch < core.pending_epoch {
                return false;
            }
        }
        self.fold(core);
        let streak = core.streak;
        if closed {
            if failed && streak.saturating_add(1) >= self.trip_at {
                return false;
            }
            let Some(window) = core.window.as_mut() else {
                return false;
            };
            let tally = window.tally_with(at, failed, false);
            if self.rate_verdict(tally, window).is_some() {
                return false;
            }
            window.record(at, failed, false);
        }
        if failed {
            core.streak = streak.saturating_add(1);
            self.add(|c| &c.failures, Ordering::Release);
        } else {
            self.add(|c| &c.successes, Ordering::Release);
            core.folded = core.folded.wrapping_add(1);
            if streak > 0 {
                self.clear_failure_streak(core, core.folded.wrapping_sub(1));
            }
        }
        self.open_lane(core, at);
        true
    }

    /// The first success after failures of a breaker without a window,
    /// of the period `generation`, not slow: it ends the failure streak in
    /// a short locked section, as `on_success` does on the locked path
    /// (consecutive successes count from the successes before it).
    /// `false` leaves it to the locked path: another period or state.
    #[inline(never)]
    fn finish_streak_end(&self, generation: u64) -> bool {
        let mut core = lock(&self.core);
        let core = &mut *core;
        if !matches!(core.state, State::Closed | State::Disabled) || core.generation != generation {
            return false;
        }
        self.add(|c| &c.successes, Ordering::Release);
        if self.streak(core) > 0 {
            let successes = self.sum(|c| &c.successes);
            self.clear_failure_streak(core, successes.wrapping_sub(1));
        }
        let counts = &mut core.counts;
        counts.consecutive_successes = counts.consecutive_successes.saturating_add(1);
        true
    }

    /// Takes in what the lock-free path recorded since the window last
    /// looked: the successes counted in the stripes and the failures in the
    /// stripes' logs, in order (see `take_in`). Takes back what is left of
    /// the allowance first, and waits for the failures it let through to
    /// reach their logs: a few instructions, which take no lock. Every
    /// locked section of a breaker with a window begins here.
    fn fold(&self, core: &mut Core) {
        let allowance = self.hot.allowance.swap(0, Ordering::Acquire);
        let tag = allowance >> 32;
        let used = (allowance >> 16 & LEFT_MASK).saturating_sub(allowance & LEFT_MASK);
        let mut spins = 0u32;
        while self.logged(tag) < used {
            spins += 1;
            // Under loom every turn yields, so that the model runs the
            // failure that is on its way.
            if spins < 64 && !cfg!(loom) {
                std::hint::spin_loop();
            } else {
                crate::sync::yield_now();
            }
        }
        // One reading of each stripe's successes, which every run below
        // adds up to.
        let mut owned = [0u64; MAX_STRIPES];
        let mut successes = 0u64;
        for (stripe, owned) in self.stripes.iter().zip(owned.iter_mut()) {
            *owned = stripe.owned.successes.load(Ordering::Acquire);
            successes = successes
                .wrapping_add(*owned)
                .wrapping_add(stripe.shared.successes.load(Ordering::Acquire));
        }
        let new = successes.wrapping_sub(core.folded);
        // Nothing new (or, defensively, fewer than taken in).
        if used == 0 && (new == 0 || new > u64::MAX / 2) {
            return;
        }
        self.take_in(core, tag, &owned, successes, new.min(u64::MAX / 2));
    }

    /// The failures logged under the allowance tagged `tag` (0: none
    /// granted), over every stripe.
    fn logged(&self, tag: u64) -> u64 {
        if tag == 0 {
            return 0;
        }
        self.stripes.iter().fold(0, |sum: u64, stripe| {
            let logged = stripe.log.logged.load(Ordering::Acquire);
            if logged >> 32 == tag {
                sum + (logged & COUNT_MASK)
            } else {
                sum
            }
        })
    }

    /// Takes `new` successes (the stripes' sum is now `successes`, their
    /// owned counts `owned`) and the failures logged under the allowance
    /// tagged `tag` into the window, the streak and the consecutive
    /// successes. One thread's calls go in in the order it made them: its
    /// failures at the places their log entries give among its own
    /// successes. Calls of different threads recorded since the last look
    /// go in thread by thread: first the successes that came before any
    /// logged failure, then each stripe's failures and the successes
    /// between and after them.
    fn take_in(&self, core: &mut Core, tag: u64, owned: &[u64], successes: u64, new: u64) {
        let entry = |log: &Log, n: u64| log.entries[n as usize].load(Ordering::Relaxed);
        // Each stripe's entries under this allowance.
        let count = |log: &Log| {
            let logged = log.logged.load(Ordering::Acquire);
            if tag != 0 && logged >> 32 == tag {
                (logged & COUNT_MASK).min(LOG_LEN as u64)
            } else {
                0
            }
        };
        // The successes after each stripe's first logged failure.
        let mut before_failures = new;
        for (stripe, &owned) in self.stripes.iter().zip(owned) {
            if count(&stripe.log) > 0 {
                let after = owned.wrapping_sub(entry(&stripe.log, 0)).min(u64::MAX / 2);
                before_failures = before_failures.saturating_sub(after);
            }
        }
        let mut position = core.folded;
        self.take_in_successes(core, &mut position, before_failures);
        for (stripe, &owned) in self.stripes.iter().zip(owned) {
            let log = &stripe.log;
            let logged = count(log);
            if logged == 0 {
                continue;
            }
            for n in 0..logged {
                self.take_in_failure(core);
                let next = if n + 1 == logged {
                    owned
                } else {
                    entry(log, n + 1)
                };
                let between = next.wrapping_sub(entry(log, n)).min(u64::MAX / 2);
                self.take_in_successes(core, &mut position, between);
            }
            // Taken in: the owner starts afresh under the next allowance.
            log.logged.store(0, Ordering::Relaxed);
        }
        // Whatever the stripes counted is taken in now, whether or not the
        // runs above added up to it (defensively: they do).
        let rest = successes.wrapping_sub(position);
        if rest <= u64::MAX / 2 {
            self.take_in_successes(core, &mut position, rest);
        }
        core.folded = successes;
    }

    /// `count` successes, the first at lifetime position `position`.
    fn take_in_successes(&self, core: &mut Core, position: &mut u64, count: u64) {
        if count == 0 {
            return;
        }
        if core.streak > 0 {
            self.clear_failure_streak(core, *position);
        }
        *position = position.wrapping_add(count);
        if core.state == State::Closed {
            if let Some(window) = core.window.as_mut() {
                window.record_successes(count, core.pending_epoch);
            }
        }
    }

    /// A failure the lock-free path logged.
    fn take_in_failure(&self, core: &mut Core) {
        core.streak = core.streak.saturating_add(1);
        if core.state == State::Closed {
            if let Some(window) = core.window.as_mut() {
                window.record_failure_at(core.pending_epoch);
            }
        }
    }

    /// A success came after failures: the streak of failures ends, and
    /// consecutive successes count from `before`, the lifetime successes
    /// before it.
    fn clear_failure_streak(&self, core: &mut Core, before: u64) {
        core.success_mark = before.wrapping_sub(core.base.successes);
        if self.windowed {
            core.streak = 0;
        } else {
            self.hot
                .consecutive
                .swap((core.generation & COUNT_MASK) << 32, Ordering::AcqRel);
        }
    }

    /// The current period's consecutive failures.
    fn streak(&self, core: &Core) -> u64 {
        if self.windowed {
            core.streak
        } else {
            self.consecutive_failures(core.generation)
        }
    }

    /// Opens or closes the lane of lock-free successes (see `Hot::lane`)
    /// after a look at the window, at `now` (the coarse clock's reading).
    fn open_lane(&self, core: &mut Core, now: Duration) {
        let lane = match (core.state, core.window.as_mut()) {
            (State::Disabled, _) => u64::MAX,
            (State::Closed, Some(window)) => {
                let enough = u64::from(self.config.settings.minimum_calls).min(window.capacity());
                let tally = window.tally(now);
                // A success only lowers a judged window's rates; but a time
                // window's calls that slid out may have left it at a
                // threshold with no call to judge it, and the next success
                // trips it then.
                let success = crate::window::Tally {
                    calls: tally.calls.saturating_add(1).min(window.capacity()),
                    ..tally
                };
                let judged = tally.calls >= enough && self.rate_verdict(success, window).is_none();
                match window.bucket_at(now) {
                    // Calls leave a time window only as its buckets end.
                    Some((epoch, end)) => {
                        core.pending_epoch = epoch;
                        if judged {
                            end
                        } else {
                            0
                        }
                    }
                    None if judged => u64::MAX,
                    None => 0,
                }
            }
            _ => 0,
        };
        if self.hot.lane.load(Ordering::Relaxed) != lane {
            self.hot.lane.store(lane, Ordering::Release);
        }
        let left = self.allowance(core, now, lane);
        if left > 0 {
            let granted = self.grant_tag(core) << 32 | left << 16 | left;
            self.hot.allowance.store(granted, Ordering::Release);
        }
    }

    /// How many failures in a row the lock-free path may record before the
    /// next look (see `Hot::allowance`): as many as the window, at its
    /// worst (each failure adding to its failures and none leaving), and
    /// the `max_failures` streak can take without reaching a threshold; at
    /// most a log's length. None outside the lane.
    fn allowance(&self, core: &mut Core, now: Duration, lane: u64) -> u64 {
        if core.state != State::Closed || lane == 0 {
            return 0;
        }
        let Some(window) = core.window.as_mut() else {
            return 0;
        };
        let tally = window.tally(now);
        let capacity = window.capacity();
        let most = self
            .trip_at
            .saturating_sub(core.streak)
            .saturating_sub(1)
            .min(MOST_ALLOWED);
        if let Some(cut) = window.cut(capacity).filter(|_| tally.calls == capacity) {
            // A full count window: its calls stay at its capacity, so the
            // failures alone decide (and the slow calls cannot rise).
            if tally.slow >= cut.slow {
                return 0;
            }
            return cut
                .failures
                .saturating_sub(tally.failures)
                .saturating_sub(1)
                .min(most);
        }
        // The worst the window can be after `more` failures judges it;
        // that only grows with `more`, so the last `more` it does not trip
        // on is found by halving.
        let trips = |window: &Window, more: u64| {
            let calls = tally.calls.saturating_add(more).min(capacity);
            let worst = crate::window::Tally {
                calls,
                failures: tally.failures.saturating_add(more).min(calls),
                slow: tally.slow,
            };
            self.rate_verdict(worst, window).is_some()
        };
        let (mut low, mut high) = (0, most);
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            if trips(window, mid) {
                high = mid - 1;
            } else {
                low = mid;
            }
        }
        low
    }

    /// A tag for the next allowance: the low 16 bits of the generation
    /// above a count of the allowances granted, never 0 (no allowance).
    /// Two allowances in a row never share a tag, and each look takes in
    /// every entry of the allowance it ends, so an entry is never taken
    /// twice.
    fn grant_tag(&self, core: &mut Core) -> u64 {
        core.grants = core.grants.wrapping_add(1).max(1);
        (core.generation & 0xFFFF) << 16 | u64::from(core.grants)
    }

    /// A failure on the lock-free path, if it does not trip. Out of line,
    /// so that the inlined success path stays small.
    #[inline(never)]
    fn failure_lock_free(&self, word: u64) -> bool {
        let below = if word & STATE_MASK == DISABLED {
            u64::MAX
        } else {
            self.trip_at
        };
        if self.add_consecutive_failure(word >> GEN_SHIFT, below) {
            self.add(|c| &c.failures, Ordering::Release);
            return true;
        }
        false
    }

    #[cold]
    #[inline(never)]
    fn finish_locked(
        &self,
        id: u64,
        started: u64,
        probe: bool,
        lease: Option<ProbeLease>,
        ending: Ending,
    ) {
        let mut changes = Changes::default();
        // observe: the block yields a sampled call's duration
        let sampled = self.locked(&mut changes, |core, now, changes| {
            let slow = self.is_slow(started, now);
            // The time-driven transition first: the new period's base is
            // taken before this call is counted, so that the stale branch
            // below takes it out of the new period exactly once.
            self.advance(core, now, changes);
            self.count_total(core, ending, slow);
            if probe {
                Self::release_probe(core, id);
            }
            if id & GEN_MASK == core.generation {
                if probe {
                    core.probe_progress = now.progress();
                }
                match ending {
                    Ending::Success => self.on_success(core, now, slow, changes),
                    Ending::Failure | Ending::Timeout => {
                        self.on_failure(core, now, slow, ending == Ending::Timeout, changes)
                    }
                    Ending::Ignored => core.counts.ignored = core.counts.ignored.saturating_add(1),
                    Ending::Cancelled => {
                        core.counts.cancelled = core.counts.cancelled.saturating_add(1)
                    }
                }
            } else if ending != Ending::Cancelled {
                // Admitted before the last state change: its result says
                // nothing about the period that followed.
                core.totals.stale = core.totals.stale.saturating_add(1);
                // Counted in the lifetime totals, not the period's.
                match ending {
                    Ending::Success => core.base.successes = core.base.successes.wrapping_add(1),
                    Ending::Failure | Ending::Timeout => {
                        core.base.failures = core.base.failures.wrapping_add(1)
                    }
                    Ending::Ignored | Ending::Cancelled => {}
                }
            }
            // A sampled call (bit 0 set) with an outcome.
            (started != NOT_TIMED && started & 1 == 1 && ending != Ending::Cancelled)
                .then(|| Duration::from_nanos(nanos(now.get()).saturating_sub(started & !1)))
        });
        // observe: a sampled call's duration
        if let Some(elapsed) = sampled {
            self.exporter.duration(elapsed);
        }
        // The lease goes back to the membership that granted it, even if
        // the breaker has left the store since.
        if let (Some(lease), Some(shared)) = (lease, self.hot.shared.get()) {
            let outcome = ending.outcome();
            let ended = contained("SharedState::probe_ended", || {
                shared.probe_ended(lease, outcome)
            });
            if let Err(panic) = ended {
                self.report(&panic);
            }
        }
        if changes.is_quiet() {
            return;
        }
        if std::thread::panicking() {
            // Already unwinding (a permit dropped by a panicking call): a
            // listener's panic is reported, not raised again.
            self.announce_reporting(&changes);
        } else if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
    }

    /// Whether a call that started at `started` (as [`Permit::started`]
    /// keeps it) was slow, ended by the clock's coarse reading: a coarse
    /// start is behind by at most the clock's coarse lag, and so is the
    /// end, so the duration is known to within that lag whichever reading
    /// the start was (the precise one for a call the histogram samples).
    fn is_slow(&self, started: u64, now: &Now) -> bool {
        self.slow_after != u64::MAX
            && started != NOT_TIMED
            && self.is_slow_at(started, nanos(now.coarse()))
    }

    /// Lifetime totals count every ending, stale or not.
    fn count_total(&self, core: &mut Core, ending: Ending, slow: bool) {
        let totals = &mut core.totals;
        let slot = match ending {
            Ending::Success => {
                self.add(|c| &c.successes, Ordering::Release);
                // Recorded here, not taken in at the window's next look.
                core.folded = core.folded.wrapping_add(1);
                None
            }
            Ending::Failure => {
                self.add(|c| &c.failures, Ordering::Release);
                None
            }
            Ending::Timeout => {
                totals.timeouts = totals.timeouts.saturating_add(1);
                self.add(|c| &c.failures, Ordering::Release);
                None
            }
            Ending::Ignored => Some(&mut totals.ignored),
            Ending::Cancelled => Some(&mut totals.cancelled),
        };
        if let Some(slot) = slot {
            // Wrapping, like the stripes: running calls are admissions less
            // endings modulo 2^64, exact even after 584 years at one call a
            // nanosecond.
            *slot = slot.wrapping_add(1);
        }
        if ending != Ending::Cancelled && slow {
            totals.slow_calls = totals.slow_calls.saturating_add(1);
        }
        // observe: the exporter's copy of the locked totals
        let (exporter, totals) = (&self.exporter, &core.totals);
        match ending {
            Ending::Timeout => exporter.locked_total(LockedTotal::Timeouts, totals.timeouts),
            Ending::Ignored => exporter.locked_total(LockedTotal::Ignored, totals.ignored),
            Ending::Cancelled => exporter.locked_total(LockedTotal::Cancelled, totals.cancelled),
            Ending::Success | Ending::Failure => {}
        }
        if slow {
            exporter.locked_total(LockedTotal::SlowCalls, totals.slow_calls);
        }
    }

    /// The time a window needs: only a time window reads the clock, its
    /// coarse reading, as the lock-free path does.
    fn window_time(core: &Core, now: &Now) -> Duration {
        match core.window {
            Some(Window::Time(_)) => now.coarse(),
            _ => Duration::ZERO,
        }
    }

    fn on_success(&self, core: &mut Core, now: &Now, slow: bool, changes: &mut Changes) {
        if self.streak(core) > 0 {
            // This success (counted already) is the first after failures.
            let successes = self.sums().successes;
            self.clear_failure_streak(core, successes.wrapping_sub(1));
        }
        let counts = &mut core.counts;
        counts.consecutive_successes = counts.consecutive_successes.saturating_add(1);
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                let at = Self::window_time(core, now);
                if let Some(window) = core.window.as_mut() {
                    window.record(at, false, slow);
                }
                if let Some(reason) = self.should_trip(core, now) {
                    self.trip(core, reason, now, changes);
                }
            }
            State::HalfOpen => {
                // A slow probe, where slowness can trip the breaker, shows
                // the dependency has not recovered.
                if slow && self.config.settings.slow_call_rate.is_some() {
                    self.set_state(core, State::Open, now, changes);
                } else if core.counts.consecutive_successes
                    >= u64::from(self.config.settings.success_threshold)
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
        now: &Now,
        slow: bool,
        timeout: bool,
        changes: &mut Changes,
    ) {
        let period_successes = self.sums().successes.wrapping_sub(core.base.successes);
        core.success_mark = period_successes;
        // Under the lock nothing trips early: count it whatever the total.
        if self.windowed {
            core.streak = core.streak.saturating_add(1);
        } else {
            self.add_consecutive_failure(core.generation, u64::MAX);
        }
        let counts = &mut core.counts;
        counts.consecutive_successes = 0;
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        if timeout {
            counts.timeouts = counts.timeouts.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                let at = Self::window_time(core, now);
                if let Some(window) = core.window.as_mut() {
                    window.record(at, true, slow);
                }
                if let Some(reason) = self.should_trip(core, now) {
                    self.trip(core, reason, now, changes);
                }
            }
            State::HalfOpen => self.set_state(core, State::Open, now, changes),
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    /// The trip policies, any one of which opens a closed breaker: the
    /// first that says so.
    fn should_trip(&self, core: &mut Core, now: &Now) -> Option<TripReason> {
        let config = &self.config;
        if let Some(max) = config.settings.max_failures {
            if self.streak(core) >= u64::from(max) {
                return Some(TripReason::ConsecutiveFailures);
            }
        }
        let at = Self::window_time(core, now);
        if let Some(window) = core.window.as_mut() {
            let tally = window.tally(at);
            if let Some(reason) = self.rate_verdict(tally, window) {
                return Some(reason);
            }
        }
        let predicate = config.trip_when.as_ref()?;
        let counts = self.period_counts(core, self.sums());
        // The user's predicate runs under the lock: a panic there is
        // contained and does not trip (see `Config::trip_when`).
        now.contain("trip_when", || predicate(&counts))
            .unwrap_or(false)
            .then_some(TripReason::TripWhen)
    }

    /// The rate policies' verdict on a window's `tally`, of a window that
    /// holds at most `capacity` calls.
    fn rate_verdict(&self, tally: crate::window::Tally, window: &Window) -> Option<TripReason> {
        let settings = &self.config.settings;
        let enough = u64::from(settings.minimum_calls).min(window.capacity());
        if tally.calls == 0 || tally.calls < enough {
            return None;
        }
        if let Some(cut) = window.cut(tally.calls) {
            return if tally.failures >= cut.failures {
                Some(TripReason::FailureRate)
            } else if tally.slow >= cut.slow {
                Some(TripReason::SlowCallRate)
            } else {
                None
            };
        }
        let calls = tally.calls as f64;
        if let Some(rate) = settings.failure_rate {
            if tally.failures as f64 / calls >= rate {
                return Some(TripReason::FailureRate);
            }
        }
        if let Some(rate) = settings.slow_call_rate {
            if tally.slow as f64 / calls >= rate {
                return Some(TripReason::SlowCallRate);
            }
        }
        None
    }

    /// Opens a closed breaker for `reason`, keeping the period that tripped
    /// it (taken before the transition clears the counts and the window).
    fn trip(&self, core: &mut Core, reason: TripReason, now: &Now, changes: &mut Changes) {
        let period = self.period_counts(core, self.sums());
        let (failure_rate, slow_call_rate) = Self::rates(core, &period, now);
        let record = TripRecord {
            reason,
            period,
            failure_rate,
            slow_call_rate,
            at: now.get(),
        };
        self.set_state(core, State::Open, now, changes);
        core.trip = Some(Box::new(record));
        if let Some(last) = core.announcements.last_mut() {
            last.tripped_by = Some(reason);
        }
    }

    /// The failure and slow-call rates: over the window when there is
    /// one, else over `period`'s calls with a success or failure.
    fn rates(core: &mut Core, period: &Counts, now: &Now) -> (f64, f64) {
        let at = Self::window_time(core, now);
        match core.window.as_mut() {
            Some(window) => {
                let tally = window.tally(at);
                (
                    ratio(tally.failures, tally.calls),
                    ratio(tally.slow, tally.calls),
                )
            }
            None => {
                let judged = period.successes.saturating_add(period.failures);
                (
                    ratio(period.failures, judged),
                    ratio(period.slow_calls, judged),
                )
            }
        }
    }

    /// The current period's counts: the locked ones, and the striped ones
    /// less their sums when the period began.
    fn period_counts(&self, core: &Core, sums: Sums) -> Counts {
        let tally = core.counts;
        let successes = sums.successes.wrapping_sub(core.base.successes);
        let rejected = sums.rejected.wrapping_sub(core.base.rejected);
        let consecutive_failures = self.streak(core);
        Counts {
            calls: sums
                .admitted
                .wrapping_sub(core.base.admitted)
                .wrapping_add(rejected),
            successes,
            failures: sums.failures.wrapping_sub(core.base.failures),
            ignored: tally.ignored,
            cancelled: tally.cancelled,
            rejected,
            consecutive_successes: if consecutive_failures > 0 {
                0
            } else {
                successes.saturating_sub(core.success_mark)
            },
            consecutive_failures,
            slow_calls: tally.slow_calls,
            timeouts: tally.timeouts,
        }
    }

    // ----- time -----------------------------------------------------------

    /// The transitions that time alone makes: open → half-open when the
    /// open period ends; half-open → open when probes hang past
    /// `half_open_max_wait`; clearing the counts every `interval`.
    fn advance(&self, core: &mut Core, now: &Now, changes: &mut Changes) {
        match core.state {
            // Opened while the clock was failing: the open period starts at
            // its first good reading.
            State::Open if core.open_pending => {
                let at = now.get();
                if !now.failed.get() {
                    core.open_until = at.saturating_add(core.open_until);
                    core.open_pending = false;
                    self.publish(core);
                }
            }
            State::Open if now.get() >= core.open_until => {
                self.set_state(core, State::HalfOpen, now, changes);
            }
            State::HalfOpen => {
                if core.probe_progress == Duration::MAX {
                    // Progress noted while the clock failed: it starts now.
                    core.probe_progress = now.progress();
                }
                let wait = self.config.effective_half_open_max_wait();
                if core.probes > 0 && now.get().saturating_sub(core.probe_progress) >= wait {
                    if self.config.settings.half_open_max_wait.is_some() {
                        // Set by the user: the probes' silence is a failure.
                        self.set_state(core, State::Open, now, changes);
                    } else {
                        // The default only frees the silent probes' slots,
                        // so that the next calls can probe: a slow probe may
                        // still succeed, and its outcome still counts.
                        core.probe_progress = now.progress();
                    }
                    Self::abandon_probes(core);
                }
            }
            State::Closed => {
                if core.clear_at != u64::MAX && nanos(now.get()) >= core.clear_at {
                    self.new_generation(core, now, self.sums());
                    self.publish(core);
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    /// Starts a new period: fresh counts and window, and results of calls
    /// admitted before it no longer count.
    fn new_generation(&self, core: &mut Core, now: &Now, sums: Sums) {
        core.generation = core.generation.wrapping_add(1) & GEN_MASK;
        core.counts = Tally::default();
        core.base = sums;
        core.success_mark = 0;
        core.streak = 0;
        // A swap, not a store: a read-modify-write is ordered with the
        // lock-free path's compare-exchange, so an older period's failure
        // can never land its count after the new period's zero. (loom found
        // the interleaving where a plain store let it.)
        self.hot
            .consecutive
            .swap((core.generation & COUNT_MASK) << 32, Ordering::AcqRel);
        core.probe_progress = now.progress();
        if let Some(window) = core.window.as_mut() {
            window.clear();
            // Successes counted from here on are the new period's; the lane
            // stays closed until the new window holds enough calls (it is
            // closed before the new word is published).
            core.folded = sums.successes;
            self.hot.lane.store(0, Ordering::Release);
        }
        core.clear_at = match (core.state, self.config.settings.interval) {
            (State::Closed, Some(every)) => nanos(now.get().saturating_add(every)),
            _ => u64::MAX,
        };
    }

    /// Gives back the slot of the probe whose ticket number is `id`, unless
    /// it was abandoned (its slot is free already).
    fn release_probe(core: &mut Core, id: u64) {
        if id >> GEN_BITS == core.probe_epoch & EPOCH_MASK {
            core.probes = core.probes.saturating_sub(1);
        }
    }

    /// Frees the slots of the probes in flight: they will never give them
    /// back.
    fn abandon_probes(core: &mut Core) {
        if core.probes > 0 {
            core.probes = 0;
            core.probe_epoch = core.probe_epoch.wrapping_add(1);
        }
    }

    fn set_state(&self, core: &mut Core, to: State, now: &Now, changes: &mut Changes) {
        let from = core.state;
        // One reading of the stripes ends the old period and begins the
        // new one, so that a lock-free call landing in between is counted
        // in one of them, never in neither.
        let sums = self.sums();
        let ended = self.period_counts(core, sums);
        core.state = to;
        core.state_since = now.get();
        self.new_generation(core, now, sums);
        // The trip is kept through half-open and failed probes; a trip
        // sets it again after this (see `trip`).
        if !matches!(
            (from, to),
            (State::Open | State::HalfOpen, State::Open | State::HalfOpen)
        ) {
            core.trip = None;
        }
        match to {
            State::Open => {
                core.backoff = if from == State::HalfOpen {
                    self.backed_off(core.backoff)
                } else {
                    self.config.settings.timeout
                };
                core.open_duration = self.jittered(core.backoff, core.open_count);
                let at = now.get();
                // Not from a guess: from the clock's next good reading.
                core.open_pending = now.failed.get();
                core.open_until = if core.open_pending {
                    core.open_duration
                } else {
                    at.saturating_add(core.open_duration)
                };
                core.open_count = core.open_count.saturating_add(1);
            }
            State::Closed => core.backoff = self.config.settings.timeout,
            State::HalfOpen | State::ForcedOpen | State::Disabled => {}
        }
        self.publish(core);
        if from == to {
            return;
        }
        // The store and the state gauge hear of it here, under the lock, so
        // in the order of the transitions and with no wait behind a slow
        // listener; both are quick and must not call into the breaker.
        if !changes.from_store {
            if let Some(shared) = self.membership() {
                let open_for = if to == State::Open {
                    core.open_duration
                } else {
                    Duration::ZERO
                };
                now.contain("SharedState::transitioned", || {
                    shared.transitioned(from, to, open_for)
                });
            }
        }
        // observe: the state gauge
        now.contain("the metrics recorder", || self.exporter.state(to));
        // The log and the listeners hear of it once the lock is released,
        // in the order of this queue.
        if core.announcements.len() >= MAX_PENDING_ANNOUNCEMENTS {
            core.announcements.remove(0);
            changes.dropped += 1;
        }
        core.announcements.push(Announcement {
            from,
            to,
            period: ended,
            tripped_by: None,
            generation: core.generation,
            from_store: changes.from_store,
        });
        changes.made = Some(match changes.made {
            Some((first, _)) => (first, core.generation),
            None => (core.generation, core.generation),
        });
    }

    /// `nominal` spread by the jitter: the draw numbered `draw` of this
    /// breaker's sequence, uniform in `nominal × [1 - jitter, 1 + jitter)`.
    fn jittered(&self, nominal: Duration, draw: u64) -> Duration {
        let jitter = self.config.settings.jitter;
        if jitter == 0.0 {
            return nominal;
        }
        let bits = mix(self.jitter_seed ^ mix(draw));
        // The top 53 bits: a uniform fraction in [0, 1).
        let uniform = (bits >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + jitter * (2.0 * uniform - 1.0);
        Duration::try_from_secs_f64(nominal.as_secs_f64() * factor)
            .unwrap_or(nominal)
            // A period of a nanosecond spread by 99 % must not vanish.
            .max(nominal.min(Duration::from_nanos(1)))
    }

    /// The open period after one more re-open without a close.
    fn backed_off(&self, current: Duration) -> Duration {
        let Some(factor) = self.config.settings.backoff_multiplier else {
            return self.config.settings.timeout;
        };
        let cap = self.config.effective_backoff_max();
        let next = current.as_secs_f64() * factor;
        if !next.is_finite() || next >= cap.as_secs_f64() {
            return cap;
        }
        Duration::try_from_secs_f64(next).map_or(cap, |d| d.min(cap))
    }

    // ----- announcing -----------------------------------------------------

    /// Reports what a section contained, then announces the queued
    /// transitions to the log and the `on_state_change` listeners, outside
    /// the breaker's lock. One thread announces at a time, in the order the
    /// transitions were made; a thread that finds another announcing leaves
    /// its own transitions to it. Every hook's panic is contained: the first
    /// panic of a listener hearing of this thread's own transitions is
    /// handed back so that the caller can propagate it once the breaker is
    /// consistent; a listener's panic on another thread's transition is
    /// logged, not handed to this unrelated caller.
    fn announce(&self, changes: &Changes) -> Option<Box<dyn Any + Send>> {
        if changes.is_quiet() {
            return None;
        }
        if let Some(contained) = &changes.contained {
            self.report(contained);
        }
        if changes.dropped > 0 {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                observe::announcements_dropped(&self.hot.name, changes.dropped)
            }));
        }
        let (first, last) = changes.made?;
        let mut core = lock(&self.core);
        if core.announcing {
            return None;
        }
        core.announcing = true;
        let mut own_panic = None;
        loop {
            if core.announcements.is_empty() {
                // Given up under the same lock hold that found the queue
                // empty: a transition queued after this is announced by the
                // thread that made it.
                core.announcing = false;
                return own_panic;
            }
            let next = core.announcements.remove(0);
            drop(core);
            if let Some(payload) = self.deliver(&next) {
                if (first..=last).contains(&next.generation) {
                    own_panic.get_or_insert(payload);
                } else {
                    self.report(&Contained {
                        what: "on_state_change",
                        payload,
                    });
                }
            }
            core = lock(&self.core);
        }
    }

    /// [`announce`](Self::announce), for callers that must not raise a
    /// listener's panic (a store's thread, a thread already unwinding): the
    /// panic is reported instead.
    fn announce_reporting(&self, changes: &Changes) {
        if let Some(payload) = self.announce(changes) {
            self.report(&Contained {
                what: "on_state_change",
                payload,
            });
        }
    }

    /// Reports a contained panic of user code through `tracing`, itself
    /// contained: a subscriber that panics on the report is not allowed to
    /// unwind through the breaker.
    pub(crate) fn report(&self, contained: &Contained) {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            observe::user_code_panicked(&self.hot.name, contained.what, &*contained.payload)
        }));
    }

    /// Announces one transition to the log and the listeners. Never
    /// panics: the first panic of a hook is returned.
    fn deliver(&self, change: &Announcement) -> Option<Box<dyn Any + Send>> {
        let state_change = StateChange {
            name: &self.hot.name,
            from: change.from,
            to: change.to,
            period: change.period,
            tripped_by: change.tripped_by,
        };
        // observe: a state change
        let logged =
            panic::catch_unwind(AssertUnwindSafe(|| observe::state_changed(&state_change)));
        let mut first_panic = logged.err();
        // observe: the recent transitions
        #[cfg(feature = "dashboard")]
        self.hot
            .transitions
            .record(&state_change, &self.config, change.from_store);
        for listener in &self.config.on_state_change {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| listener(&state_change)))
            {
                first_panic.get_or_insert(payload);
            }
        }
        first_panic
    }

    /// Runs `with` on the state after the time-driven transitions, then
    /// announces any transition.
    fn inspect<R>(&self, with: impl FnOnce(&mut Core, &Now) -> R) -> R {
        let mut changes = Changes::default();
        let result = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            with(core, now)
        });
        if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
        result
    }

    fn command(&self, to: State) {
        let mut changes = Changes::default();
        self.locked(&mut changes, |core, now, changes| {
            self.set_state(core, to, now, changes);
            Self::abandon_probes(core);
        });
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

/// The lifetime counts `stripes` keep, as the metrics exporter reads them.
#[cfg(feature = "metrics")]
fn stripe_totals(stripes: &[Stripe]) -> StripeTotals {
    StripeTotals {
        successes: sum_stripes(stripes, |c| &c.successes),
        failures: sum_stripes(stripes, |c| &c.failures),
        rejected: sum_stripes(stripes, |c| &c.rejected),
    }
}

/// One counter summed over every stripe, owned and shared.
fn sum_stripes(stripes: &[Stripe], counter: impl Fn(&Counters) -> &AtomicU64) -> u64 {
    stripes.iter().fold(0u64, |sum, stripe| {
        sum.wrapping_add(counter(&stripe.owned).load(Ordering::Acquire))
            .wrapping_add(counter(&stripe.shared).load(Ordering::Acquire))
    })
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

    /// The failures a breaker's stripes hold in their logs.
    fn logged(cb: &CircuitBreaker) -> u64 {
        cb.stripes.iter().fold(0, |sum: u64, s| {
            sum + (s.log.logged.load(Ordering::Relaxed) & COUNT_MASK)
        })
    }

    /// The allowances are tagged with a 16-bit count that wraps: failures
    /// logged under the allowances on both sides of the wrap go into their
    /// own logs, and into the window at their places among the thread's
    /// successes.
    #[test]
    fn failures_logged_across_the_wrap_of_the_allowance_count_keep_their_places() {
        on_an_owned_stripe(|| {
            let cb = CircuitBreaker::new(
                "grant-wrap",
                Config::default()
                    .without_max_failures()
                    .failure_rate(0.9)
                    .count_window(100)
                    .minimum_calls(10)
                    .clock(ManualClock::new()),
            )
            .unwrap();
            lock(&cb.core).grants = u16::MAX - 2;
            for _ in 0..10 {
                cb.try_acquire().unwrap().success();
            }
            for call in "FSFSFSFSF".chars() {
                let permit = cb.try_acquire().unwrap();
                if call == 'F' {
                    permit.failure();
                    assert_eq!(logged(&cb), 1, "the failure went into the log");
                    // A look takes it in and grants the next allowance.
                    let _ = cb.stats();
                    assert_eq!(logged(&cb), 0, "the look took it in");
                } else {
                    permit.success();
                }
            }
            assert!(lock(&cb.core).grants < 8, "the count wrapped");
            let stats = cb.stats();
            assert_eq!(stats.failure_rate, 5.0 / 19.0);
            assert_eq!(stats.period.consecutive_failures, 1);
            assert_eq!((stats.period.successes, stats.period.failures), (14, 5));
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
