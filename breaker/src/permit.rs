//! The permit: proof that a call was admitted, and the drop guard that
//! always gives the admission back.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{CircuitBreaker, Ending};
use crate::error::{Rejected, TimedOut};
use crate::store::ProbeLease;

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

/// What a classifier answers about an error: an [`Outcome`], or a `bool`
/// saying whether the error is a failure (`true`) or is to be ignored
/// (`false`), as in "is this an outage?".
///
/// Every classifier of an error takes either answer:
/// [`CircuitBreaker::call_with`](crate::CircuitBreaker::call_with),
/// [`call_async_with`](crate::CircuitBreaker::call_async_with), the tower
/// layer's [`classify_errors`](crate::tower::CircuitBreakerLayer::classify_errors)
/// and the attribute's `classify` key.
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, Outcome};
///
/// let cb = CircuitBreaker::new("users", Config::default()).unwrap();
/// // Is this error an outage? A 404 is not: ignored.
/// let _ = cb.call_with(|status: &u16| *status >= 500, || Err::<(), u16>(404));
/// // Or an `Outcome`, which may also count an error as a success.
/// let _ = cb.call_with(|_: &u16| Outcome::Success, || Err::<(), u16>(304));
/// let totals = cb.stats().totals;
/// assert_eq!((totals.ignored, totals.successes), (1, 1));
/// ```
#[diagnostic::on_unimplemented(
    message = "a classifier answers `bool` (is this error a failure?) or `breakerbox::Outcome`, not `{Self}`",
    label = "the classifier returns `{Self}`"
)]
pub trait IntoOutcome {
    /// The outcome this answer stands for.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    #[inline(always)]
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl IntoOutcome for bool {
    /// `true` is [`Outcome::Failure`], `false` is [`Outcome::Ignored`].
    #[inline(always)]
    fn into_outcome(self) -> Outcome {
        Outcome::from(self)
    }
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
pub(crate) fn classify<T, E, O: IntoOutcome>(
    result: Result<&T, &E>,
    classify: impl FnOnce(&E) -> O,
) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) => classify(e).into_outcome(),
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
/// use breakerbox::{CircuitBreaker, Config};
///
/// let cb = CircuitBreaker::new("cache", Config::default()).unwrap();
/// match cb.try_acquire() {
///     Ok(permit) => {
///         // ... make the call ...
///         permit.success();
///     }
///     Err(rejected) => eprintln!("{rejected}"),
/// }
/// assert_eq!(cb.stats().period.successes, 1);
/// ```
#[must_use = "a permit is released without recording an outcome when dropped"]
#[derive(Debug)]
pub struct Permit<'a> {
    pub(crate) breaker: &'a CircuitBreaker,
    /// The generation it was admitted in, shifted left by one, and in bit 0
    /// whether it holds a half-open probe slot. Plain words, so that a
    /// permit moves through registers without padding or niches.
    pub(crate) ticket: u64,
    /// When the call started in nanoseconds of the breaker's clock, if a
    /// slow-call policy or the duration histogram needs to know;
    /// `NOT_TIMED` otherwise. Bit 0 says which reading: set for a call the
    /// histogram samples (the precise clock), clear for one timed for a
    /// slow-call policy alone (the coarse clock). The time is read with bit
    /// 0 clear, so that a start is off by a nanosecond at most.
    pub(crate) started: u64,
    /// A probe's slot of a shared store's fleet, handed back when the
    /// probe ends: the lease belongs to this permit and no other.
    pub(crate) lease: Option<ProbeLease>,
}

/// `Permit::started` of a call whose duration does not matter.
pub(crate) const NOT_TIMED: u64 = u64::MAX;

impl<'a> Permit<'a> {
    #[inline(always)]
    pub(crate) fn new(
        breaker: &'a CircuitBreaker,
        generation: u64,
        probe: bool,
        started: u64,
    ) -> Self {
        Permit {
            breaker,
            ticket: generation << 1 | u64::from(probe),
            started,
            lease: None,
        }
    }
}

impl<'a> Permit<'a> {
    /// Records a success.
    #[inline]
    pub fn success(self) {
        self.finish(Ending::Success);
    }

    /// Records a failure.
    #[inline]
    pub fn failure(self) {
        self.finish(Ending::Failure);
    }

    /// Records an ignored outcome: neither success nor failure.
    #[inline]
    pub fn ignore(self) {
        self.finish(Ending::Ignored);
    }

    /// Records `outcome`.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        self.finish(ending_of(outcome));
    }

    /// Records a timeout (a failure of its own kind) and describes it.
    pub fn timed_out(self, after: Duration) -> TimedOut {
        let breaker = self.breaker;
        self.finish(Ending::Timeout);
        TimedOut::new(breaker.shared_name(), after)
    }

    /// The breaker that issued this permit.
    pub fn breaker(&self) -> &'a CircuitBreaker {
        self.breaker
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket & 1 == 1
    }

    #[inline]
    fn finish(self, ending: Ending) {
        let this = ManuallyDrop::new(self);
        this.breaker
            .finish(this.ticket, this.started, this.lease, ending);
    }
}

/// How a permit dropped without an outcome ends: a failure if its thread
/// is unwinding from a panic, else a cancelled call.
#[inline]
fn dropped_ending() -> Ending {
    if std::thread::panicking() {
        Ending::Failure
    } else {
        Ending::Cancelled
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.breaker
            .finish(self.ticket, self.started, self.lease, dropped_ending());
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
/// use breakerbox::{CircuitBreaker, Config};
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
    ticket: u64,
    started: u64,
    lease: Option<ProbeLease>,
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
                ticket: permit.ticket,
                started: permit.started,
                lease: permit.lease,
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
        TimedOut::new(self.breaker.shared_name(), after)
    }

    /// The breaker that issued this permit.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.admission.is_some_and(|a| a.ticket & 1 == 1)
    }

    fn finish(&mut self, ending: Ending) {
        if let Some(a) = self.admission.take() {
            self.breaker.finish(a.ticket, a.started, a.lease, ending);
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.finish(dropped_ending());
    }
}
