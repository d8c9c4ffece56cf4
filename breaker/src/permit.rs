//! The permit: proof that a call was admitted, and the drop guard that
//! always gives the admission back.

use std::mem::ManuallyDrop;
use std::time::Duration;

use crate::breaker::{CircuitBreaker, Ending};
use crate::error::TimedOut;

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
        self.finish(match outcome {
            Outcome::Success => Ending::Success,
            Outcome::Failure => Ending::Failure,
            Outcome::Ignored => Ending::Ignored,
        });
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
