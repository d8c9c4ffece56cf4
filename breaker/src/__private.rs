//! What `#[circuit_breaker]` expansions call, and nothing else.
//!
//! Not public API: the names here may change in any release, in step with
//! `breaker-macros`. Generated code names items only through
//! `::breaker::__private` (or `<crate = path>::__private`), so the public API
//! can evolve without breaking expansions, as serde does.

use std::future::Future;
use std::sync::{Arc, OnceLock};

pub use crate::{CircuitBreaker, Config, Outcome, Permit, Rejected, TimedOut};
pub use core::convert::From;
pub use core::option::Option;
pub use core::result::Result;
pub use core::time::Duration;

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
    /// or, failing that, from `config` (the attribute's literals).
    #[inline]
    pub fn get(
        &'static self,
        name: &'static str,
        config: fn() -> Config,
    ) -> &'static CircuitBreaker {
        self.0
            .get_or_init(|| crate::registry::registry().site_breaker(name, config))
    }
}

/// Implemented for `Result<T, E>` only: the attribute's check that the
/// function returns a `Result` (aliases such as `io::Result<T>` included).
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` functions must return `Result<T, E>`, not `{Self}`",
    label = "this return type is not a `Result`",
    note = "a rejected call is returned as `Err(E::from(breaker::Rejected))`, so the function needs an error type"
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
