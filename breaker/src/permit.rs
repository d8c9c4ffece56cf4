//! The permit: proof that a call was admitted, and the drop guard that
//! always gives the admission back.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{CircuitBreaker, Ending};
use crate::error::{Rejected, TimedOut};

/// How a finished call is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed: counts toward tripping the breaker.
    Failure,
    /// Neither: the call's error says nothing about the dependency's
    /// health (a 404, a validation error). Gives a half-open probe slot back.
    Ignored,
}

impl From<bool> for Outcome {
    /// `true` is a failure and `false` is ignored, so that a classifier can
    /// be a plain `fn(&E) -> bool` answering "is this an outage?".
    fn from(is_failure: bool) -> Self {
        if is_failure {
            Outcome::Failure
        } else {
            Outcome::Ignored
        }
    }
}

fn ending_of(outcome: Outcome) -> Ending {
    match outcome {
        Outcome::Success => Ending::Success,
        Outcome::Failure => Ending::Failure,
        Outcome::Ignored => Ending::Ignored,
    }
}

/// How a finished call counts: `Ok` is a success, an `Err` is whatever
/// `classify` says. The one place every entry point classifies a result.
#[inline]
pub(crate) fn classify<T, E>(
    result: Result<&T, &E>,
    classify: impl FnOnce(&E) -> Outcome,
) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) => classify(e),
    }
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`].
///
/// Consume it with [`success`](Self::success), [`failure`](Self::failure),
/// [`ignore`](Self::ignore) or [`record`](Self::record). Dropping it
/// unused releases it without recording an outcome (a cancelled call); if
/// it is dropped while the thread is panicking, the call is recorded as a
/// failure.
///
/// ```
/// use breaker::{CircuitBreaker, Config};
///
/// let cb = CircuitBreaker::new("cache", Config::default()).unwrap();
/// match cb.try_acquire() {
///     Ok(permit) => {
///         // ... make the call ...
///         permit.success();
///     }
///     Err(rejected) => eprintln!("{rejected}"),
/// }
/// assert_eq!(cb.stats().counts.total_successes, 1);
/// ```
#[must_use = "a permit is released without recording an outcome when dropped"]
#[derive(Debug)]
pub struct Permit<'a> {
    pub(crate) breaker: &'a CircuitBreaker,
    pub(crate) generation: u64,
    /// When the call started, if a slow-call policy needs to know.
    pub(crate) started: Option<Duration>,
    /// Whether this permit holds a half-open probe slot.
    pub(crate) probe: bool,
}

impl<'a> Permit<'a> {
    /// Records a success.
    pub fn success(self) {
        self.finish(Ending::Success);
    }

    /// Records a failure.
    pub fn failure(self) {
        self.finish(Ending::Failure);
    }

    /// Records an ignored outcome: neither success nor failure.
    pub fn ignore(self) {
        self.finish(Ending::Ignored);
    }

    /// Records `outcome`.
    pub fn record(self, outcome: Outcome) {
        self.finish(ending_of(outcome));
    }

    /// Records a timeout (a failure of its own kind) and describes it.
    pub fn timed_out(self, after: Duration) -> TimedOut {
        let breaker = self.breaker;
        self.finish(Ending::Timeout);
        TimedOut::new(breaker.name_arc(), after)
    }

    /// The breaker that issued this permit.
    pub fn breaker(&self) -> &'a CircuitBreaker {
        self.breaker
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    fn finish(self, ending: Ending) {
        let this = ManuallyDrop::new(self);
        this.breaker
            .finish(this.generation, this.started, this.probe, ending);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let ending = if std::thread::panicking() {
            Ending::Failure
        } else {
            Ending::Cancelled
        };
        self.breaker
            .finish(self.generation, self.started, self.probe, ending);
    }
}

/// A [`Permit`] that owns a handle to its breaker, from
/// [`CircuitBreaker::try_acquire_owned`]: for futures and tasks that must
/// be `'static`, such as a tower service's response future.
///
/// It behaves exactly like a [`Permit`]: consume it with an outcome, or
/// drop it to release it without one (a cancelled call; a failure if the
/// thread is panicking).
///
/// ```
/// use breaker::{CircuitBreaker, Config};
/// use std::sync::Arc;
///
/// let cb = Arc::new(CircuitBreaker::new("owned", Config::default()).unwrap());
/// let permit = cb.try_acquire_owned().unwrap();
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(cb.stats().totals.successes, 1);
/// ```
#[must_use = "a permit is released without recording an outcome when dropped"]
#[derive(Debug)]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    /// The admission, until it is reported: taken by the first of an
    /// outcome or the drop guard.
    admission: Option<Admission>,
}

#[derive(Debug, Clone, Copy)]
struct Admission {
    generation: u64,
    started: Option<Duration>,
    probe: bool,
}

impl CircuitBreaker {
    /// Like [`try_acquire`](Self::try_acquire), for a breaker in an `Arc`:
    /// the permit keeps the breaker alive and can move into a `'static`
    /// future or another thread.
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        // The borrowed permit's admission moves into the owned one, whose
        // drop guard then stands for both.
        let permit = ManuallyDrop::new(self.try_acquire()?);
        Ok(OwnedPermit {
            breaker: Arc::clone(self),
            admission: Some(Admission {
                generation: permit.generation,
                started: permit.started,
                probe: permit.probe,
            }),
        })
    }
}

impl OwnedPermit {
    /// Records a success.
    pub fn success(mut self) {
        self.finish(Ending::Success);
    }

    /// Records a failure.
    pub fn failure(mut self) {
        self.finish(Ending::Failure);
    }

    /// Records an ignored outcome: neither success nor failure.
    pub fn ignore(mut self) {
        self.finish(Ending::Ignored);
    }

    /// Records `outcome`.
    pub fn record(mut self, outcome: Outcome) {
        self.finish(ending_of(outcome));
    }

    /// Records a timeout (a failure of its own kind) and describes it.
    pub fn timed_out(mut self, after: Duration) -> TimedOut {
        self.finish(Ending::Timeout);
        TimedOut::new(self.breaker.name_arc(), after)
    }

    /// The breaker that issued this permit.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.admission.is_some_and(|a| a.probe)
    }

    fn finish(&mut self, ending: Ending) {
        if let Some(a) = self.admission.take() {
            self.breaker
                .finish(a.generation, a.started, a.probe, ending);
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.finish(if std::thread::panicking() {
            Ending::Failure
        } else {
            Ending::Cancelled
        });
    }
}
