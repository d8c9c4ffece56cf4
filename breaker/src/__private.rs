//! What `#[circuit_breaker]` expansions call, and nothing else.
//!
//! Not public API: the names here may change in any release, in step with
//! `breakerbox-macros`. Generated code names items only through
//! `::breakerbox::__private` (or `<crate = path>::__private`), so the public API
//! can evolve without breaking expansions, as serde does.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

pub use crate::{CircuitBreaker, Config, Outcome, Permit, Rejected, TimedOut};
pub use core::convert::From;
pub use core::option::Option;
pub use core::result::Result;
pub use core::time::Duration;

use crate::overrides::ConfigProblem;

/// The per-function static an annotated function keeps its breaker in.
///
/// The registry is consulted once, on the first call; every later call is a
/// single atomic load.
pub struct Site(OnceLock<Arc<CircuitBreaker>>);

impl Site {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Site(OnceLock::new())
    }

    /// The breaker for this call site: the registry's breaker named `name`,
    /// created on first use from a configuration registered for that name
    /// or, failing that, from `config` (the attribute's literals), with
    /// the operators' values over it.
    #[inline]
    pub fn get(
        &'static self,
        name: &'static str,
        config: fn() -> Config,
        at: At,
    ) -> &'static CircuitBreaker {
        self.0
            .get_or_init(|| crate::registry::registry().site_breaker(name, config, &at))
    }
}

/// What the registry needs to know of an annotated function: its path, for
/// messages, and whether it can bound a call by `call_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct At {
    function: &'static str,
    no_call_timeout: Option<NoCallTimeout>,
}

impl At {
    #[inline(always)]
    pub const fn new(function: &'static str, no_call_timeout: Option<NoCallTimeout>) -> Self {
        At {
            function,
            no_call_timeout,
        }
    }

    /// The refusal of a `call_timeout` of `after` for the breaker `name`,
    /// from `origin`, if this function cannot enforce it.
    pub(crate) fn call_timeout_refused(
        &self,
        name: &str,
        after: Duration,
        origin: &str,
    ) -> Option<ConfigProblem> {
        let why = self.no_call_timeout?;
        Some(ConfigProblem::new(
            name,
            "call_timeout",
            format!("{:?}", crate::partial::display_duration(after)),
            origin,
            format!(
                "cannot take effect at `{}`: {}; its calls run without a time limit",
                self.function,
                why.reason()
            ),
        ))
    }

    /// This function would have created the breaker `name` with a
    /// `call_timeout` of `own`, but another function (or `get_or_create`)
    /// sharing the name created it first, with `breakers` instead.
    pub(crate) fn call_timeout_lost(
        &self,
        name: &str,
        own: Duration,
        breakers: Option<Duration>,
    ) -> ConfigProblem {
        let instead = match breakers {
            Some(after) => format!(
                "with `call_timeout` = {:?}, which bounds this function's calls instead",
                crate::partial::display_duration(after)
            ),
            None => "without a `call_timeout`, so this function's calls run without a time limit"
                .to_owned(),
        };
        ConfigProblem::new(
            name,
            "call_timeout",
            format!("{:?}", crate::partial::display_duration(own)),
            &format!("#[circuit_breaker] at `{}`", self.function),
            format!(
                "not applied: another function sharing the name (or `get_or_create`) created the breaker first, {instead}"
            ),
        )
    }

    /// The code's configuration of this function's breaker was invalid
    /// (`error`), and the breaker was built from `Config::default()`.
    pub(crate) fn invalid_code(&self, error: &crate::ConfigError) -> ConfigProblem {
        ConfigProblem::new(
            error.breaker().unwrap_or_default(),
            error.field(),
            error.value().to_owned(),
            &format!("#[circuit_breaker] at `{}`", self.function),
            format!(
                "{}; the breaker was built from `Config::default()`",
                error.reason()
            ),
        )
    }
}

/// Why an annotated function cannot bound a call by `call_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCallTimeout {
    /// A sync function: its call cannot be interrupted.
    SyncFn,
    /// Its error type has no `From<TimedOut>`.
    NoFromTimedOut,
    /// Its return type names `impl Trait`: the attribute cannot name it to
    /// ask for `From<TimedOut>`.
    UnnamedReturnType,
}

impl NoCallTimeout {
    fn reason(self) -> &'static str {
        match self {
            NoCallTimeout::SyncFn => "a sync function's call cannot be interrupted",
            NoCallTimeout::NoFromTimedOut if !cfg!(feature = "tokio") => {
                "call timeouts need the `tokio` feature"
            }
            NoCallTimeout::NoFromTimedOut => {
                "its error type has no `From<breakerbox::TimedOut>` to return a timed-out call as"
            }
            NoCallTimeout::UnnamedReturnType => {
                "its return type names `impl Trait`, so the attribute cannot ask its error type for `From<breakerbox::TimedOut>`"
            }
        }
    }
}

/// Implemented for `Result<T, E>` only: the attribute's check that the
/// function returns a `Result` (aliases such as `io::Result<T>` included).
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` functions must return `Result<T, E>`, not `{Self}`",
    label = "this return type is not a `Result`",
    note = "a rejected call is returned as `Err(E::from(breakerbox::Rejected))`, so the function needs an error type"
)]
pub trait IsResult: Sized {
    type Ok;
    type Err;
    fn as_result(&self) -> Result<&Self::Ok, &Self::Err>;
    fn from_err(err: Self::Err) -> Self;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn as_result(&self) -> Result<&T, &E> {
        self.as_ref()
    }
    #[inline(always)]
    fn from_err(err: E) -> Self {
        Err(err)
    }
}

/// Compile-time check, spanned by the macro at the return type.
#[inline(always)]
pub fn assert_result<R: IsResult>() {}

/// Acquires a permit or returns why the call is refused.
#[inline(always)]
pub fn acquire(cb: &'static CircuitBreaker) -> Result<Permit<'static>, Rejected> {
    cb.try_acquire()
}

/// A rejected call as the function's error: `Err(E::from(rejected))`.
#[inline(always)]
pub fn rejected<R>(rejected: Rejected) -> R
where
    R: IsResult,
    R::Err: From<Rejected>,
{
    R::from_err(From::from(rejected))
}

/// The default classification: every `Err` is a failure.
#[inline(always)]
pub fn every_error_fails<E>(_: &E) -> Outcome {
    Outcome::Failure
}

/// Runs a sync body under `permit` and records its result.
///
/// A panic in `body` or in `classify` drops the permit while unwinding,
/// which records a failure and releases it.
#[inline(always)]
pub fn complete_sync<R, C, F>(permit: Permit<'static>, classify: C, body: F) -> R
where
    R: IsResult,
    C: FnOnce(&R::Err) -> Outcome,
    F: FnOnce() -> R,
{
    let result = body();
    permit.record(crate::permit::classify(result.as_result(), classify));
    result
}

/// Runs an async body under `permit` and records its result. Dropping the
/// returned future before it completes releases the permit and records
/// nothing (a cancelled call).
#[inline]
pub async fn complete_async<R, C, Fut>(permit: Permit<'static>, classify: C, body: Fut) -> R
where
    R: IsResult,
    C: FnOnce(&R::Err) -> Outcome,
    Fut: Future<Output = R>,
{
    let result = body.await;
    permit.record(crate::permit::classify(result.as_result(), classify));
    result
}

/// Like [`complete_async`], bounded by the breaker's `call_timeout`: a body
/// that runs longer is dropped, recorded as a timeout (a failure), and
/// returned as `Err(E::from(TimedOut))`.
#[cfg(feature = "tokio")]
#[inline]
pub async fn complete_async_timeout<R, C, Fut>(permit: Permit<'static>, classify: C, body: Fut) -> R
where
    R: IsResult,
    R::Err: From<TimedOut>,
    C: FnOnce(&R::Err) -> Outcome,
    Fut: Future<Output = R>,
{
    let result = match permit.breaker().config().get_call_timeout() {
        None => body.await,
        Some(limit) => match tokio::time::timeout(limit, body).await {
            Ok(result) => result,
            Err(_) => return R::from_err(From::from(permit.timed_out(limit))),
        },
    };
    permit.record(crate::permit::classify(result.as_result(), classify));
    result
}

/// Asks, by autoref method resolution, whether an async function returning
/// `R` can bound a call by `call_timeout`: expansions write
/// `(&timeout_probe::<R>()).call_timeouts()`, which is [`Bounded`] when
/// `R`'s error type has `From<TimedOut>` (and the `tokio` feature is on),
/// and [`Unbounded`] otherwise. Either then runs the call.
pub struct TimeoutProbe<R>(PhantomData<fn() -> R>);

#[inline(always)]
pub fn timeout_probe<R>() -> TimeoutProbe<R> {
    TimeoutProbe(PhantomData)
}

/// Picked for a return type whose error has `From<TimedOut>`.
pub trait CanTimeOut {
    fn call_timeouts(&self) -> Bounded;
}

#[cfg(feature = "tokio")]
impl<R> CanTimeOut for TimeoutProbe<R>
where
    R: IsResult,
    R::Err: From<TimedOut>,
{
    #[inline(always)]
    fn call_timeouts(&self) -> Bounded {
        Bounded
    }
}

/// Picked, through one more autoref, for any other return type.
pub trait CannotTimeOut {
    fn call_timeouts(&self) -> Unbounded;
}

impl<R> CannotTimeOut for &TimeoutProbe<R> {
    #[inline(always)]
    fn call_timeouts(&self) -> Unbounded {
        Unbounded(NoCallTimeout::NoFromTimedOut)
    }
}

/// An async function that bounds its calls by the breaker's
/// `call_timeout`, whichever configuration sets it.
pub struct Bounded;

/// An async function that cannot bound its calls.
pub struct Unbounded(NoCallTimeout);

/// For a return type the attribute cannot name.
#[inline(always)]
pub const fn unbounded(why: NoCallTimeout) -> Unbounded {
    Unbounded(why)
}

impl Bounded {
    #[inline(always)]
    pub const fn refusal(&self) -> Option<NoCallTimeout> {
        None
    }

    /// [`complete_async_timeout`].
    #[cfg(feature = "tokio")]
    #[inline(always)]
    pub fn complete<R, C, Fut>(
        self,
        permit: Permit<'static>,
        classify: C,
        body: Fut,
    ) -> impl Future<Output = R>
    where
        R: IsResult,
        R::Err: From<TimedOut>,
        C: FnOnce(&R::Err) -> Outcome,
        Fut: Future<Output = R>,
    {
        complete_async_timeout(permit, classify, body)
    }
}

impl Unbounded {
    #[inline(always)]
    pub const fn refusal(&self) -> Option<NoCallTimeout> {
        Some(self.0)
    }

    /// [`complete_async`].
    #[inline(always)]
    pub fn complete<R, C, Fut>(
        self,
        permit: Permit<'static>,
        classify: C,
        body: Fut,
    ) -> impl Future<Output = R>
    where
        R: IsResult,
        C: FnOnce(&R::Err) -> Outcome,
        Fut: Future<Output = R>,
    {
        complete_async(permit, classify, body)
    }
}

/// Wraps a fallback's value so that [`FutureFallback`] / [`ReadyFallback`]
/// can tell, by autoref method resolution, whether it is a future (an async
/// fallback) or a plain `Result` (a sync one). Expansions write
/// `let f = (&mut FallbackValue::new(fallback(args))).into_fallback_future();`
/// and then `f.await`, so that the wrapper is gone before the await.
pub struct FallbackValue<X>(Option<X>);

impl<X> FallbackValue<X> {
    #[inline(always)]
    pub fn new(value: X) -> Self {
        FallbackValue(Some(value))
    }

    #[inline(always)]
    fn take(&mut self) -> X {
        match self.0.take() {
            Some(value) => value,
            // Each wrapper is built for one call and consumed exactly once.
            None => unreachable!("fallback value consumed twice"),
        }
    }
}

/// Picked for a fallback that returned a future: await it.
#[allow(clippy::wrong_self_convention)]
pub trait FutureFallback {
    type Fut;
    fn into_fallback_future(&mut self) -> Self::Fut;
}

impl<F: Future> FutureFallback for FallbackValue<F> {
    type Fut = F;
    #[inline(always)]
    fn into_fallback_future(&mut self) -> F {
        self.take()
    }
}

/// Picked, through one more autoref, for a fallback that returned a value.
#[allow(clippy::wrong_self_convention)]
pub trait ReadyFallback {
    type Fut;
    fn into_fallback_future(&mut self) -> Self::Fut;
}

impl<T, E> ReadyFallback for &mut FallbackValue<Result<T, E>> {
    type Fut = std::future::Ready<Result<T, E>>;
    #[inline(always)]
    fn into_fallback_future(&mut self) -> Self::Fut {
        std::future::ready(self.take())
    }
}
