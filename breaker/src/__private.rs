//! What `#[circuit_breaker]` expansions call, and nothing else.
//!
//! Not public API: the names here may change in any release, in step with
//! `breakerbox-macros`. Generated code names items only through
//! `::breakerbox::__private` (or `<crate = path>::__private`), so the public API
//! can evolve without breaking expansions, as serde does.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

pub use crate::{CircuitBreaker, Config, Outcome, Permit, Rejected, TimedOut};
pub use core::convert::From;
pub use core::option::Option;
pub use core::result::Result;
pub use core::time::Duration;
pub use std::boxed::Box;

use crate::overrides::ConfigProblem;

/// The per-function static an annotated function keeps its breaker in.
///
/// The registry is consulted once, on the first call; every later call is a
/// single atomic load.
pub struct Site {
    breaker: OnceLock<Arc<CircuitBreaker>>,
    /// The default name, worked out from the function's path on the first
    /// call and kept here, so that the registry gets a `&'static str`.
    default_name: OnceLock<Cow<'static, str>>,
}

impl Site {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Site {
            breaker: OnceLock::new(),
            default_name: OnceLock::new(),
        }
    }

    /// The breaker for this call site: the registry's breaker named `name`
    /// (the attribute's `name`, or else the function's path), created on
    /// first use from a configuration registered for that name or, failing
    /// that, from `config` (the attribute's literals), with the operators'
    /// values over it.
    #[inline]
    pub fn get(
        &'static self,
        name: Option<&'static str>,
        config: fn() -> Config,
        at: At,
    ) -> &'static CircuitBreaker {
        self.breaker.get_or_init(|| {
            let name = match name {
                Some(name) => name,
                None => self
                    .default_name
                    .get_or_init(|| claim_default_name(self, &at)),
            };
            crate::registry::registry().site_breaker(name, config, &at)
        })
    }
}

/// The default name of the site `site`: its function's path, unless
/// another site's function has claimed that path already (rustc prints
/// the same path for functions of one name nested in sibling blocks, or
/// in two closures, of one function). Only an explicit, equal `name`
/// shares a breaker, so such a site's default name adds its line: `path
/// (line 12)`, or its address if that is taken too.
fn claim_default_name(site: &'static Site, at: &At) -> Cow<'static, str> {
    static CLAIMED: std::sync::Mutex<Vec<(Cow<'static, str>, usize)>> =
        std::sync::Mutex::new(Vec::new());
    let id = site as *const Site as usize;
    let path = at.function();
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut candidates = [
        Some(path.clone()),
        at.line
            .map(|line| Cow::Owned(format!("{path} (line {line})"))),
        Some(Cow::Owned(format!("{path} (site {id:#x})"))),
    ]
    .into_iter()
    .flatten();
    let name = loop {
        let Some(candidate) = candidates.next() else {
            break path;
        };
        match claimed.iter().find(|(name, _)| *name == candidate) {
            Some(&(_, owner)) if owner != id => continue,
            _ => break candidate,
        }
    };
    claimed.push((name.clone(), id));
    name
}

/// What the registry needs to know of an annotated function: its path, for
/// the default name and for messages, and whether it can bound a call by
/// `call_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// A fn declared in the annotated function's body that returns its own
    /// `type_name`: the function's path with one more segment.
    marker: fn() -> &'static str,
    no_call_timeout: Option<NoCallTimeout>,
    /// The attribute's line, to tell apart functions whose paths print
    /// alike.
    line: Option<u32>,
}

impl At {
    #[inline(always)]
    pub const fn new(marker: fn() -> &'static str, no_call_timeout: Option<NoCallTimeout>) -> Self {
        At {
            marker,
            no_call_timeout,
            line: None,
        }
    }

    /// The attribute's line (`line!()` at the expansion).
    #[inline(always)]
    pub const fn at_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }

    /// The annotated function's path, as [`function_path`] reads it.
    pub(crate) fn function(&self) -> Cow<'static, str> {
        function_path((self.marker)())
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
                self.function(),
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
            &format!("#[circuit_breaker] at `{}`", self.function()),
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
            &format!("#[circuit_breaker] at `{}`", self.function()),
            format!(
                "{}; the breaker was built from `Config::default()`",
                error.reason()
            ),
        )
    }
}

/// The path of the function whose body declares the marker fn that
/// `type_name` printed as `marker`: the default name of its breaker.
///
/// `type_name` prints an item's path as rustc knows it, so each function
/// has its own: `app::db::load`, `app::Users::get`, and for a trait impl's
/// method `<app::Db as app::Users>::get`, which `module_path!()` and the
/// function's name alone could not tell apart. An impl's generic
/// parameters print as `_` (`app::Cache<_>::get`); argument lists of
/// nothing else are left out (`app::Cache::get`), since every
/// instantiation runs the same code and shares the same static, and so
/// the same breaker. Arguments an impl names (`app::Cache<u8>::get`) are
/// kept: another impl may name others.
fn function_path(marker: &'static str) -> Cow<'static, str> {
    // The marker's own segment, and the `{{closure}}` an async body adds.
    let mut path = marker.rsplit_once("::").map_or(marker, |(path, _)| path);
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    if !path.contains("<_") && !path.contains("<'_") {
        return Cow::Borrowed(path);
    }
    Cow::Owned(without_placeholder_arguments(path))
}

/// `text` without the generic argument lists that hold only `_` and `'_`.
fn without_placeholder_arguments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        // A `<` that follows a name opens its arguments; any other opens a
        // qualified path (`<T as Trait>`), kept as is.
        let opens_arguments = before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let Some(close) = matching_close(from) else {
            out.push_str(from);
            return out;
        };
        let inner = &from[1..close];
        let placeholders = inner
            .split(',')
            .all(|argument| matches!(argument.trim(), "_" | "'_"));
        if !(opens_arguments && placeholders) {
            out.push('<');
            out.push_str(&without_placeholder_arguments(inner));
            out.push('>');
        }
        rest = &from[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the `>` that closes the `<` that `text` starts with; the
/// `>` of a `->` closes nothing.
fn matching_close(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous = ' ';
    for (index, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if previous != '-' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
        previous = c;
    }
    None
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

/// An error type that can carry a rejected call: every `E:
/// From<Rejected>`. A trait of its own so that, for a function without a
/// `fallback` whose error type has no such `From`, the compiler names both
/// ways out.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a rejected call: without a `fallback`, the error type of a `#[circuit_breaker]` function needs `From<breakerbox::Rejected>`",
    label = "a rejected call returns `Err(E::from(breakerbox::Rejected))` with this error type",
    note = "either add `impl From<breakerbox::Rejected> for {Self}`, or give the attribute a `fallback = my_fallback` that answers calls while the breaker is open"
)]
pub trait FromRejected {
    fn from_rejected(rejected: Rejected) -> Self;
}

impl<E: From<Rejected>> FromRejected for E {
    #[inline(always)]
    fn from_rejected(rejected: Rejected) -> Self {
        E::from(rejected)
    }
}

/// A rejected call as the function's error: `Err(E::from(rejected))`.
#[inline(always)]
pub fn rejected<R>(rejected: Rejected) -> R
where
    R: IsResult,
    R::Err: FromRejected,
{
    R::from_err(FromRejected::from_rejected(rejected))
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

/// The attribute's `call_timeout = "..."`. Without the `tokio` feature
/// there is no timer to enforce it: the attribute is then refused here,
/// at the key, with a message that says so.
#[cfg(feature = "tokio")]
#[inline(always)]
pub fn call_timeout<C: CallTimeoutNeedsTokio>(config: C, limit: Duration) -> Config {
    config.into_config().call_timeout(limit)
}

/// See [`call_timeout`]: without the `tokio` feature nothing implements
/// [`CallTimeoutNeedsTokio`], so every use is a compile error.
#[cfg(not(feature = "tokio"))]
#[inline(always)]
pub fn call_timeout<C: CallTimeoutNeedsTokio>(config: C, limit: Duration) -> Config {
    let _ = limit;
    config.into_config()
}

/// A configuration that can take a `call_timeout`: [`Config`], when the
/// `tokio` feature gives the runtime a timer; nothing otherwise.
#[diagnostic::on_unimplemented(
    message = "`call_timeout` needs the `tokio` feature of `breakerbox`, which this build turned off",
    label = "needs the `tokio` feature",
    note = "turn it on in Cargo.toml, `breakerbox = {{ version = \"...\", features = [\"tokio\"] }}` (it is a default feature: `default-features = false` turned it off), or remove `call_timeout`"
)]
pub trait CallTimeoutNeedsTokio {
    fn into_config(self) -> Config;
}

#[cfg(feature = "tokio")]
impl CallTimeoutNeedsTokio for Config {
    #[inline(always)]
    fn into_config(self) -> Config {
        self
    }
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

/// Without the `tokio` feature an attribute that names `call_timeout` is
/// refused by [`call_timeout`]; this one, with the same bounds, only keeps
/// that refusal the one error.
#[cfg(not(feature = "tokio"))]
#[inline]
pub async fn complete_async_timeout<R, C, Fut>(permit: Permit<'static>, classify: C, body: Fut) -> R
where
    R: IsResult,
    R::Err: From<TimedOut>,
    C: FnOnce(&R::Err) -> Outcome,
    Fut: Future<Output = R>,
{
    complete_async(permit, classify, body).await
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

/// A fallback's value as a future of the function's return type `R`: a
/// sync fallback returns `R` itself, an async one a future of it. The
/// `Tag` tells the two impls apart (a `Result` could, as far as coherence
/// knows, be a future too); the compiler infers it from the value's type.
#[diagnostic::on_unimplemented(
    message = "the fallback returns `{Self}`, but a fallback must return the function's own `{R}`, or a future of it",
    label = "this fallback must return `{R}` (or a future of it)",
    note = "a fallback takes the function's arguments (the receiver first) and answers in its place while the breaker is open"
)]
pub trait FallbackFor<R, Tag> {
    type Future: Future<Output = R>;
    fn into_fallback_future(self) -> Self::Future;
}

/// The [`FallbackFor`] tag of a sync fallback.
pub struct Ready;

/// The [`FallbackFor`] tag of an async fallback.
pub struct Awaited;

// Not recommended: a fallback that fits neither impl is reported as not
// fitting `FallbackFor`, in its words, rather than as a `Result` or a
// `Future` it is not.
#[diagnostic::do_not_recommend]
impl<T, E> FallbackFor<Result<T, E>, Ready> for Result<T, E> {
    type Future = std::future::Ready<Result<T, E>>;
    #[inline(always)]
    fn into_fallback_future(self) -> Self::Future {
        std::future::ready(self)
    }
}

#[diagnostic::do_not_recommend]
impl<R, F: Future<Output = R>> FallbackFor<R, Awaited> for F {
    type Future = F;
    #[inline(always)]
    fn into_fallback_future(self) -> F {
        self
    }
}

/// The fallback's value `value` as a future of `R`. Its result type is a
/// future of `R` whatever `value` is, so that a fallback that does not fit
/// is reported once, by [`FallbackFor`], and not again where it is awaited.
#[inline(always)]
pub fn fallback_future<R, Tag, X>(value: X) -> impl Future<Output = R>
where
    X: FallbackFor<R, Tag>,
{
    value.into_fallback_future()
}

/// A rejected call without a fallback, as a future of the function's
/// return type: for functions that return a future they build themselves.
#[inline(always)]
pub fn rejected_future<R>(rejected: Rejected) -> std::future::Ready<R>
where
    R: IsResult,
    R::Err: FromRejected,
{
    std::future::ready(self::rejected(rejected))
}

/// Runs the body of a function that returns a future it builds itself, for
/// an admitted call, and returns that future.
#[inline(always)]
pub fn run_body<T, F: FnOnce() -> T>(body: F) -> T {
    body()
}

/// The future that a function returning a future it builds itself (`->
/// impl Future<Output = R>`, `-> Pin<Box<dyn Future<Output = R>>>`)
/// returns: the breaker decided when the function was called, and this is
/// either the call under its permit, or the answer to a rejected call.
pub enum Decided<Admitted, Refused> {
    Admitted(Admitted),
    Refused(Refused),
}

impl<Admitted, Refused> Decided<Admitted, Refused>
where
    Admitted: Future,
    Refused: Future<Output = Admitted::Output>,
{
    /// Runs whichever was decided. Dropping the future before it completes
    /// drops the call's permit unrecorded: a cancelled call.
    #[inline]
    pub async fn run(self) -> Admitted::Output {
        match self {
            Decided::Admitted(call) => call.await,
            Decided::Refused(answer) => answer.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::function_path;

    #[test]
    fn function_path_drops_the_marker_segment() {
        assert_eq!(
            function_path("app::db::load::__breaker_path"),
            "app::db::load"
        );
        assert_eq!(
            function_path("<app::Db as app::Users>::get::__breaker_path"),
            "<app::Db as app::Users>::get"
        );
    }

    #[test]
    fn function_path_drops_the_closure_of_an_async_body() {
        assert_eq!(
            function_path("app::load::{{closure}}::__breaker_path"),
            "app::load"
        );
        assert_eq!(
            function_path("app::main::{{closure}}::load::__breaker_path"),
            "app::main::{{closure}}::load"
        );
    }

    #[test]
    fn function_path_leaves_out_argument_lists_of_placeholders_only() {
        assert_eq!(
            function_path("app::Cache<_>::get::__breaker_path"),
            "app::Cache::get"
        );
        assert_eq!(
            function_path("app::Pair<_, '_>::get::__breaker_path"),
            "app::Pair::get"
        );
        assert_eq!(
            function_path("<app::Cache<_> as app::Repo<alloc::vec::Vec<_>>>::get::__breaker_path"),
            "<app::Cache as app::Repo<alloc::vec::Vec>>::get"
        );
    }

    #[test]
    fn function_path_keeps_the_arguments_an_impl_names() {
        assert_eq!(
            function_path("app::Cache<u8>::get::__breaker_path"),
            "app::Cache<u8>::get"
        );
        assert_eq!(
            function_path("app::Pair<_, u8>::get::__breaker_path"),
            "app::Pair<_, u8>::get"
        );
        assert_eq!(
            function_path("app::Fixed<N>::get::__breaker_path"),
            "app::Fixed<N>::get"
        );
    }

    #[test]
    fn function_path_reads_fn_pointer_types_whole() {
        assert_eq!(
            function_path("<fn(u8) -> app::Out<_> as app::Call>::run::__breaker_path"),
            "<fn(u8) -> app::Out as app::Call>::run"
        );
    }
}
