//! The `metrics` exporter: each breaker's series, read from the counts the
//! breaker keeps anyway, so that a call pays nothing for them.
//!
//! A breaker registers its handles with the installed recorder once, when
//! it is built (no label is built per call), and hands the exporter a way
//! to read its lifetime counts. One background thread per process, started
//! by the first breaker built with the feature, adds what every breaker
//! counted since the last sync to its counters (`Counter::increment`, so
//! that breakers sharing a name add up) every
//! [`sync interval`](set_sync_interval) (1 s by default); a breaker also
//! syncs once more when it is dropped, so that its last calls are not lost.
//! A child process forked after the thread started (on Linux) starts its
//! own with the first breaker it builds.
//! [`sync_now`] does the same on demand (before a scrape in a test).
//!
//! The state gauge is set at each transition, under the breaker's lock, so
//! that it follows the transitions in order. The duration histogram
//! samples: one call in [`SAMPLE_EVERY`] per stripe of the breaker's
//! counters (the first one included) reads the clock at its start and end;
//! the other calls read no clock for it.
//!
//! A breaker built before the recorder is installed keeps the handles of
//! the recorder that was current then (the facade's no-op one): install the
//! recorder first, as the `metrics` crate asks.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock, Weak};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

use crate::breaker::State;
use crate::observe::{names, state_code, LockedTotal, StripeTotals};

/// One call in this many, per stripe of a breaker's counters, has its
/// duration recorded in the histogram (a power of two).
pub const SAMPLE_EVERY: u64 = 64;

/// One breaker's series and the way to read its counts.
pub(crate) struct Exported {
    successes: Counter,
    failures: Counter,
    ignored: Counter,
    cancelled: Counter,
    rejected: Counter,
    timeouts: Counter,
    slow_calls: Counter,
    state: Gauge,
    duration: Histogram,
    /// The lifetime totals the breaker keeps under its lock, copied here
    /// (under that lock) as they change: ignored, cancelled, slow calls,
    /// timeouts.
    locked: [AtomicU64; 4],
    /// Reads the stripes' lifetime sums, without the lock.
    stripes: Box<dyn Fn() -> StripeTotals + Send + Sync>,
    /// What the counters have been given so far, in [`Exported::sync`]'s
    /// order: each sync adds only what is new, so that breakers sharing a
    /// name (one removed from the registry and created again, or two built
    /// apart) add up in their shared series instead of one hiding the
    /// other, and a counter never goes backwards.
    synced: [AtomicU64; 7],
}

impl Exported {
    /// Registers the series of the breaker `name` with the current
    /// recorder, its state gauge at closed, and enrolls it in the
    /// process's sync.
    pub(crate) fn register(
        name: &str,
        stripes: impl Fn() -> StripeTotals + Send + Sync + 'static,
    ) -> Arc<Exported> {
        let label = || [(names::LABEL, name.to_owned())];
        let register = || {
            (
                [
                    metrics::counter!(names::SUCCESSES, &label()),
                    metrics::counter!(names::FAILURES, &label()),
                    metrics::counter!(names::IGNORED, &label()),
                    metrics::counter!(names::CANCELLED, &label()),
                    metrics::counter!(names::REJECTED, &label()),
                    metrics::counter!(names::TIMEOUTS, &label()),
                    metrics::counter!(names::SLOW_CALLS, &label()),
                ],
                metrics::gauge!(names::STATE, &label()),
                metrics::histogram!(names::CALL_DURATION, &label()),
            )
        };
        // A recorder that panics leaves the breaker without its series,
        // not without the breaker.
        let (counters, state, duration) = panic::catch_unwind(AssertUnwindSafe(register))
            .unwrap_or_else(|_| {
                tracing::warn!(
                    target: "breakerbox",
                    breaker = name,
                    "the metrics recorder panicked registering the breaker's series: it has none"
                );
                (
                    std::array::from_fn(|_| Counter::noop()),
                    Gauge::noop(),
                    Histogram::noop(),
                )
            });
        let [successes, failures, ignored, cancelled, rejected, timeouts, slow_calls] = counters;
        let exported = Arc::new(Exported {
            successes,
            failures,
            ignored,
            cancelled,
            rejected,
            timeouts,
            slow_calls,
            state,
            duration,
            locked: Default::default(),
            stripes: Box::new(stripes),
            synced: Default::default(),
        });
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            exported.state.set(state_code(State::Closed))
        }));
        let mut enrolled = lock(&sync().breakers);
        // The dropped breakers are let go once the list has doubled since
        // the last time: a scan per breaker built would make building many
        // quadratic.
        if enrolled.list.len() >= enrolled.prune_at {
            enrolled.prune();
        }
        enrolled.list.push(Arc::downgrade(&exported));
        drop(enrolled);
        start_thread();
        exported
    }

    /// Sets the state gauge (at a transition, under the breaker's lock).
    pub(crate) fn state(&self, state: State) {
        self.state.set(state_code(state));
    }

    /// Copies one of the locked totals, under the breaker's lock: one
    /// writer, so a plain store.
    #[inline]
    pub(crate) fn locked_total(&self, which: LockedTotal, value: u64) {
        self.locked[which as usize].store(value, Ordering::Relaxed);
    }

    /// A sampled call's duration. The call's outcome is known by now: a
    /// recorder's panic is contained (and reported once per process) so
    /// that it cannot replace that outcome, or abort a permit dropped
    /// during unwinding.
    pub(crate) fn duration(&self, elapsed: Duration) {
        let recorded = panic::catch_unwind(AssertUnwindSafe(|| {
            self.duration.record(elapsed.as_secs_f64())
        }));
        if recorded.is_err() {
            static REPORTED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "breakerbox",
                    "the metrics recorder panicked recording a call's duration (reported once)"
                );
            }
        }
    }

    /// Adds to each counter what the breaker counted since the last sync.
    fn sync(&self) {
        let stripes = (self.stripes)();
        let locked = |which: LockedTotal| self.locked[which as usize].load(Ordering::Relaxed);
        let counts = [
            (&self.successes, stripes.successes),
            (&self.failures, stripes.failures),
            (&self.rejected, stripes.rejected),
            (&self.ignored, locked(LockedTotal::Ignored)),
            (&self.cancelled, locked(LockedTotal::Cancelled)),
            (&self.slow_calls, locked(LockedTotal::SlowCalls)),
            (&self.timeouts, locked(LockedTotal::Timeouts)),
        ];
        for ((counter, count), synced) in counts.into_iter().zip(&self.synced) {
            // A maximum, not a store: of two syncs racing (the thread and
            // `sync_now`), the one that read the older count adds nothing.
            let before = synced.fetch_max(count, Ordering::AcqRel);
            if count > before {
                counter.increment(count - before);
            }
        }
    }
}

impl Drop for Exported {
    /// The breaker is gone: its last calls are synced now, or never.
    fn drop(&mut self) {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.sync()));
    }
}

/// The breakers the sync thread visits, and how often.
struct Enrolled {
    breakers: Mutex<Breakers>,
    interval: Mutex<Duration>,
    /// Wakes the thread when the interval changes, so that a shorter one
    /// takes effect during a long wait.
    interval_changed: Condvar,
}

/// The breakers enrolled, dropped ones included until the next prune.
struct Breakers {
    list: Vec<Weak<Exported>>,
    /// The list's length at which building a breaker prunes it.
    prune_at: usize,
}

impl Breakers {
    /// Lets the dropped breakers go.
    fn prune(&mut self) {
        self.list.retain(|weak| {
            #[cfg(test)]
            tests::SCANNED.fetch_add(1, Ordering::Relaxed);
            weak.strong_count() > 0
        });
        self.prune_at = (2 * self.list.len()).max(64);
    }
}

fn sync() -> &'static Enrolled {
    static SYNC: OnceLock<Enrolled> = OnceLock::new();
    SYNC.get_or_init(|| Enrolled {
        breakers: Mutex::new(Breakers {
            list: Vec::new(),
            prune_at: 0,
        }),
        interval: Mutex::new(Duration::from_secs(1)),
        interval_changed: Condvar::new(),
    })
}

/// The sync thread: syncs once the interval (as it is now, not as it was
/// when the wait began) has passed since the last sync.
fn run() {
    let enrolled = sync();
    let mut since = Instant::now();
    let mut interval = lock(&enrolled.interval);
    loop {
        let every = *interval;
        let waited = since.elapsed();
        if waited >= every {
            drop(interval);
            sync_now();
            since = Instant::now();
            interval = lock(&enrolled.interval);
            continue;
        }
        interval = match enrolled
            .interval_changed
            .wait_timeout(interval, every - waited)
        {
            Ok((interval, _)) => interval,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A sync thread was started in this process (a forked child has none).
static STARTED: AtomicBool = AtomicBool::new(false);

/// A forked child inherits the parent's record of a started thread but not
/// the thread: its next breaker starts its own.
extern "C" fn forked() {
    STARTED.store(false, Ordering::Relaxed);
}

fn start_thread() {
    if STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| crate::clock::os::in_forked_child(forked));
    // A failed spawn leaves the counters to `sync_now` and the breakers'
    // drops; nothing at call time depends on the thread.
    let spawned = std::thread::Builder::new()
        .name("breakerbox-metrics".into())
        .spawn(run);
    if let Err(error) = spawned {
        tracing::warn!(
            target: "breakerbox",
            %error,
            "the metrics sync thread could not start: counters update only on `breakerbox::metrics::sync_now()`"
        );
    }
}

/// Copies every live breaker's lifetime counts into its counters now, as
/// the background sync does every [interval](set_sync_interval). Call it
/// before reading the recorder when the counters must be exact at that
/// instant (a test, a scrape handler that wants no lag).
///
/// ```
/// use breakerbox::{CircuitBreaker, Config};
///
/// let cb = CircuitBreaker::new("doc-sync", Config::default()).unwrap();
/// let _ = cb.call(|| Ok::<_, ()>(()));
/// breakerbox::metrics::sync_now();
/// ```
pub fn sync_now() {
    let breakers: Vec<Weak<Exported>> = {
        let mut enrolled = lock(&sync().breakers);
        enrolled.prune();
        enrolled.list.clone()
    };
    for breaker in breakers.iter().filter_map(Weak::upgrade) {
        // A recorder's panic must not stop the other breakers' sync.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| breaker.sync()));
    }
}

/// How often the background thread copies the breakers' counts into their
/// counters: 1 s by default; at least 1 ms; a change takes effect at once,
/// even during a long wait. The counters lag the calls by
/// at most this much (plus the time a sync takes); the state gauge does not
/// lag.
pub fn set_sync_interval(every: Duration) {
    let enrolled = sync();
    *lock(&enrolled.interval) = every.max(Duration::from_millis(1));
    enrolled.interval_changed.notify_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use metrics::{
        Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
        Unit,
    };

    use crate::{CircuitBreaker, Config};

    /// Enrolled breakers looked at while registering new ones.
    pub(super) static SCANNED: AtomicUsize = AtomicUsize::new(0);

    /// Building a breaker does not look at every breaker built before it:
    /// building many is linear, not quadratic.
    #[test]
    fn building_many_breakers_scans_the_enrolled_ones_a_bounded_number_of_times() {
        let built = 2_000;
        let before = SCANNED.load(Ordering::Relaxed);
        let breakers: Vec<_> = (0..built)
            .map(|i| CircuitBreaker::new(format!("exporter-many-{i}"), Config::default()).unwrap())
            .collect();
        let scanned = SCANNED.load(Ordering::Relaxed) - before;
        drop(breakers);
        // Other tests build a few breakers meanwhile: the bound is loose.
        assert!(
            scanned <= 10 * built,
            "{scanned} looked at for {built} built"
        );
    }

    /// A recorder whose histograms panic when they record.
    struct PanickingHistograms;

    struct Panics;

    impl HistogramFn for Panics {
        fn record(&self, _value: f64) {
            panic!("the recorder failed");
        }
    }

    impl Recorder for PanickingHistograms {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Panics))
        }
    }

    /// A sampled call's duration goes to the recorder after the call's
    /// outcome is known: the recorder's panic must not replace it.
    #[test]
    fn a_recorder_that_panics_on_a_duration_does_not_fail_the_call() {
        let cb = metrics::with_local_recorder(&PanickingHistograms, || {
            CircuitBreaker::new("exporter-panicking-histogram", Config::default()).unwrap()
        });
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb.call(|| Ok::<_, ()>(7))));
        assert!(matches!(outcome, Ok(Ok(7))), "the call panicked");
    }

    /// A recorder whose registration panics.
    struct PanickingRegistration;

    impl Recorder for PanickingRegistration {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            panic!("the recorder failed");
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// The breaker works without its series rather than not at all.
    #[test]
    fn a_recorder_that_panics_on_registration_does_not_fail_the_build() {
        let built = std::panic::catch_unwind(|| {
            metrics::with_local_recorder(&PanickingRegistration, || {
                CircuitBreaker::new("exporter-panicking-registration", Config::default())
            })
        });
        let cb = built.expect("building the breaker panicked").unwrap();
        assert!(matches!(cb.call(|| Ok::<_, ()>(7)), Ok(7)));
    }
}
