//! What a protected call can return besides its own result.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A breaker's name, as the breaker keeps it and every [`Rejected`] carries
/// it: cheap to copy, so that a rejection costs no shared counter.
///
/// `CircuitBreaker::new` and `Config::store` take any string that converts
/// into it: a `&str` of any lifetime, a `String` (or `&String`), an
/// `Arc<str>`, a `Box<str>`, a `Cow<str>`. A name of up to 22 bytes is
/// copied into the `Name` itself; a longer one is kept in a shared string,
/// whose count each rejection bumps. [`Name::from_static`] keeps a
/// `&'static str` of any length as it is.
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, Name};
///
/// fn breaker_for(host: &str) -> CircuitBreaker {
///     CircuitBreaker::new(host, Config::default()).unwrap()
/// }
/// assert_eq!(breaker_for("db-1.internal").name(), "db-1.internal");
/// assert_eq!(Name::from_static("db"), Name::from("db"));
/// ```
#[derive(Clone)]
pub struct Name {
    /// The text, unless `shared` holds it: plain data, so that copying a
    /// name (every rejection does) moves whole words. With the shared
    /// string in the same enum, the copy merged the kinds through a byte
    /// at a time in memory, and reading it back stalled: most of an open
    /// breaker's rejection.
    text: Text,
    /// A name longer than [`INLINE`] bytes that is not `'static`.
    shared: Option<Arc<String>>,
}

/// The longest name kept inside a [`Name`]: with its length byte and the
/// kind's tag, the same 24 bytes as a `&'static str` and its tag.
const INLINE: usize = 22;

#[derive(Clone, Copy)]
enum Text {
    Static(&'static str),
    /// The first `len` bytes of a string's UTF-8.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
}

impl Name {
    /// A `&'static str` (a string literal), kept as it is whatever its
    /// length: copying it copies the reference.
    #[inline]
    pub const fn from_static(name: &'static str) -> Self {
        Name {
            text: Text::Static(name),
            shared: None,
        }
    }

    /// `name` copied in, when it is short enough; `None` otherwise.
    fn inline(name: &str) -> Option<Self> {
        let len = name.len();
        if len > INLINE {
            return None;
        }
        let mut bytes = [0; INLINE];
        bytes[..len].copy_from_slice(name.as_bytes());
        Some(Name {
            text: Text::Inline {
                len: len as u8,
                bytes,
            },
            shared: None,
        })
    }

    /// `name` copied in if it is short enough, shared otherwise.
    fn owned(name: impl AsRef<str> + Into<String>) -> Self {
        Name::inline(name.as_ref()).unwrap_or_else(|| Name {
            text: Text::Static(""),
            shared: Some(Arc::new(name.into())),
        })
    }

    /// The name as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        if let Some(name) = &self.shared {
            return name;
        }
        match &self.text {
            Text::Static(name) => name,
            // Copied from a `&str`, cut at its length: always UTF-8.
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
        }
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name::owned(name)
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Name::owned(name)
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Name::from(name.as_str())
    }
}

impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Name::owned(&*name)
    }
}

impl From<Box<str>> for Name {
    fn from(name: Box<str>) -> Self {
        Name::from(String::from(name))
    }
}

impl From<std::borrow::Cow<'_, str>> for Name {
    fn from(name: std::borrow::Cow<'_, str>) -> Self {
        match name {
            std::borrow::Cow::Borrowed(name) => name.into(),
            std::borrow::Cow::Owned(name) => name.into(),
        }
    }
}

/// Why a breaker refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The breaker is open; it will admit a probe after `retry_after`.
    Open {
        /// Time left until the breaker turns half-open, as of the rejection.
        retry_after: Duration,
    },
    /// The breaker is half-open and all of its probe slots are taken.
    HalfOpenFull,
    /// `max_concurrent_calls` calls are already running (the bulkhead).
    TooManyCalls,
    /// The breaker was forced open by [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open).
    ForcedOpen,
}

/// A call the breaker refused without running it.
///
/// Says which breaker refused and why. Annotated functions return it as
/// `Err(E::from(Rejected))`, so their error type needs `From<Rejected>`
/// (`Box<dyn Error>`, `anyhow::Error` and `std::io::Error` already have it).
///
/// ```
/// use breakerbox::{CircuitBreaker, Config, RejectReason};
///
/// let cb = CircuitBreaker::new("payments", Config::default()).unwrap();
/// cb.force_open();
/// let rejected = cb.try_acquire().unwrap_err();
/// assert_eq!(rejected.breaker(), "payments");
/// assert_eq!(rejected.reason(), RejectReason::ForcedOpen);
/// assert_eq!(rejected.to_string(), "circuit breaker `payments` rejected the call: forced open");
/// ```
///
/// Its `Debug` form, which users see whenever an error holding it is
/// printed with `{:?}`, names the breaker and the reason, with the time
/// left as a duration in whole milliseconds:
///
/// ```
/// # use breakerbox::{CircuitBreaker, Config};
/// let cb = CircuitBreaker::new("payments", Config::default()).unwrap();
/// cb.force_open();
/// let rejected = cb.try_acquire().unwrap_err();
/// assert_eq!(format!("{rejected:?}"), r#"Rejected { breaker: "payments", reason: ForcedOpen }"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[repr(C)]
pub struct Rejected {
    /// The reason in the top two bits (see [`Why`]) and, for an open
    /// breaker, the time left in nanoseconds below them: one plain word,
    /// written whole, so that a rejection is built and moved on the hot
    /// path without a partial write read back as a word.
    why: u64,
    breaker: Name,
}

/// [`RejectReason`] without its payload, as the top two bits of
/// `Rejected::why`.
struct Why;

impl Why {
    const SHIFT: u32 = 62;
    const OPEN: u64 = 0;
    const HALF_OPEN_FULL: u64 = 1 << Self::SHIFT;
    const TOO_MANY_CALLS: u64 = 2 << Self::SHIFT;
    const FORCED_OPEN: u64 = 3 << Self::SHIFT;
    /// The longest time left a rejection holds: about 146 years.
    const MAX_NANOS: u64 = (1 << Self::SHIFT) - 1;
}

impl Rejected {
    pub(crate) fn new(breaker: Name, reason: RejectReason) -> Self {
        match reason {
            RejectReason::Open { retry_after } => Rejected::open(
                breaker,
                u64::try_from(retry_after.as_nanos()).unwrap_or(u64::MAX),
            ),
            RejectReason::HalfOpenFull => Rejected {
                breaker,
                why: Why::HALF_OPEN_FULL,
            },
            RejectReason::TooManyCalls => Rejected {
                breaker,
                why: Why::TOO_MANY_CALLS,
            },
            RejectReason::ForcedOpen => Rejected::forced_open(breaker),
        }
    }

    /// An open breaker's rejection, `retry_nanos` before it admits a probe
    /// (at most about 146 years).
    #[inline(always)]
    pub(crate) fn open(breaker: Name, retry_nanos: u64) -> Self {
        Rejected {
            breaker,
            why: Why::OPEN | retry_nanos.min(Why::MAX_NANOS),
        }
    }

    /// A forced-open breaker's rejection.
    #[inline(always)]
    pub(crate) fn forced_open(breaker: Name) -> Self {
        Rejected {
            breaker,
            why: Why::FORCED_OPEN,
        }
    }

    /// The name of the breaker that refused the call.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// Why it refused.
    pub fn reason(&self) -> RejectReason {
        match self.why & !Why::MAX_NANOS {
            Why::OPEN => RejectReason::Open {
                retry_after: Duration::from_nanos(self.why & Why::MAX_NANOS),
            },
            Why::HALF_OPEN_FULL => RejectReason::HalfOpenFull,
            Why::TOO_MANY_CALLS => RejectReason::TooManyCalls,
            _ => RejectReason::ForcedOpen,
        }
    }

    /// For an open breaker, how long until it admits a probe.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.reason() {
            RejectReason::Open { retry_after } => Some(retry_after),
            _ => None,
        }
    }
}

/// A name as messages print it: control characters (newlines, escape
/// sequences) and the invisible characters that reorder text (bidi
/// controls) are escaped as `\n`, `\u{1b}`, ..., so that a name that came
/// from request data cannot forge log lines or rewrite a terminal. Other
/// characters, non-ASCII letters included, are printed as they are.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars() {
            // Bidi controls reorder text; the line and paragraph
            // separators break lines where a terminal or a log viewer
            // honours them.
            let invisible = matches!(
                c,
                '\u{061c}'
                    | '\u{200e}'
                    | '\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{2028}'
                    | '\u{2029}'
            );
            if c.is_control() || invisible {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit breaker `{}` rejected the call: ",
            Escaped(&self.breaker)
        )?;
        match self.reason() {
            RejectReason::Open { retry_after } => {
                write!(f, "open, retry in {:?}", whole_millis(retry_after))
            }
            RejectReason::HalfOpenFull => f.write_str("half-open and all probe slots are taken"),
            RejectReason::TooManyCalls => f.write_str("too many concurrent calls"),
            RejectReason::ForcedOpen => f.write_str("forced open"),
        }
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason() {
            RejectReason::Open { retry_after } => RejectReason::Open {
                retry_after: whole_millis(retry_after),
            },
            other => other,
        };
        f.debug_struct("Rejected")
            .field("breaker", &self.breaker)
            .field("reason", &reason)
            .finish()
    }
}

/// `d` rounded up to whole milliseconds: a retry delay reads better
/// without the clock's nanoseconds, and rounded up it is never shorter than
/// the time left (a breaker with 0.4 ms left says `retry in 1ms`, not
/// `0ns`).
fn whole_millis(d: Duration) -> Duration {
    let millis = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(millis.try_into().unwrap_or(u64::MAX))
}

impl StdError for Rejected {}

/// An async call that ran longer than the breaker's `call_timeout`: it was
/// cancelled and recorded as a failure (a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    breaker: Name,
    after: Duration,
}

impl TimedOut {
    pub(crate) fn new(breaker: Name, after: Duration) -> Self {
        TimedOut { breaker, after }
    }

    /// The name of the breaker whose `call_timeout` expired.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The `call_timeout` that expired.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call through circuit breaker `{}` timed out after {:?}",
            Escaped(&self.breaker),
            self.after
        )
    }
}

impl StdError for TimedOut {}

impl From<Rejected> for std::io::Error {
    fn from(rejected: Rejected) -> Self {
        std::io::Error::other(rejected)
    }
}

impl From<TimedOut> for std::io::Error {
    fn from(timed_out: TimedOut) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, timed_out)
    }
}

/// The result of [`CircuitBreaker::call`](crate::CircuitBreaker::call) and
/// [`call_async`](crate::CircuitBreaker::call_async): the call's own error,
/// or the breaker's reason for not letting it finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// The breaker refused the call; the protected code did not run.
    Rejected(Rejected),
    /// The async call ran longer than `call_timeout` and was cancelled.
    TimedOut(TimedOut),
    /// The protected code ran and returned this error.
    Inner(E),
}

impl<E> Error<E> {
    /// The call's own error, if it ran and failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the breaker refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// Whether the call timed out.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, Error::TimedOut(_))
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

impl<E> From<TimedOut> for Error<E> {
    fn from(timed_out: TimedOut) -> Self {
        Error::TimedOut(timed_out)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => r.fmt(f),
            Error::TimedOut(t) => t.fmt(f),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // Display already shows the variant's own message, so the chain
        // continues below it rather than repeating it.
        match self {
            Error::Inner(e) => e.source(),
            Error::Rejected(_) | Error::TimedOut(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of string, short and long, non-ASCII across the inline
    /// limit included, reads back as it was given.
    #[test]
    fn a_name_reads_back_as_given_whatever_its_length_and_source() {
        let names = [
            String::new(),
            "db".to_owned(),
            "x".repeat(INLINE),
            "x".repeat(INLINE + 1),
            format!("{}é", "x".repeat(INLINE - 2)),
            format!("{}é", "x".repeat(INLINE - 1)),
            "名前".repeat(10),
        ];
        for name in &names {
            let from_str = Name::from(name.as_str());
            assert_eq!(from_str.as_str(), name);
            assert_eq!(Name::from(name.clone()).as_str(), name);
            assert_eq!(Name::from(Arc::<str>::from(name.as_str())).as_str(), name);
            assert_eq!(Name::from(name.clone().into_boxed_str()).as_str(), name);
            assert_eq!(from_str.clone(), from_str);
        }
    }

    #[test]
    fn a_short_name_is_copied_in_and_a_long_one_shared() {
        let short = Name::from("d".repeat(INLINE));
        assert!(matches!(short.text, Text::Inline { .. }) && short.shared.is_none());
        let long = Name::from("x".repeat(INLINE + 1).as_str());
        assert!(long.shared.is_some());
        let literal = Name::from_static("a-static-name-longer-than-the-inline-limit");
        assert!(matches!(literal.text, Text::Static(_)) && literal.shared.is_none());
    }

    #[test]
    fn a_name_is_its_copied_text_and_one_pointer() {
        assert_eq!(std::mem::size_of::<Name>(), 32);
    }

    #[test]
    fn a_rejection_is_a_name_and_one_word() {
        assert_eq!(std::mem::size_of::<Rejected>(), 40);
    }

    #[test]
    fn a_rejection_keeps_the_time_left_up_to_its_limit() {
        let name = Name::from("db");
        let reason = |nanos| Rejected::open(name.clone(), nanos).reason();
        for nanos in [0, 1, 1_500_000_000, Why::MAX_NANOS] {
            let retry_after = Duration::from_nanos(nanos);
            assert_eq!(reason(nanos), RejectReason::Open { retry_after });
        }
        let limit = Duration::from_nanos(Why::MAX_NANOS);
        assert_eq!(reason(u64::MAX), RejectReason::Open { retry_after: limit });
        assert_eq!(
            reason(Why::MAX_NANOS + 1),
            RejectReason::Open { retry_after: limit }
        );
    }

    #[test]
    fn every_reason_survives_its_rejection() {
        for reason in [
            RejectReason::Open {
                retry_after: Duration::from_millis(1234),
            },
            RejectReason::Open {
                retry_after: Duration::ZERO,
            },
            RejectReason::HalfOpenFull,
            RejectReason::TooManyCalls,
            RejectReason::ForcedOpen,
        ] {
            assert_eq!(Rejected::new(Name::from("db"), reason).reason(), reason);
        }
    }

    #[test]
    fn names_are_equal_by_their_text_whatever_they_hold() {
        let long = "y".repeat(40);
        assert_eq!(Name::from_static("db"), Name::from("db".to_owned()));
        assert_eq!(Name::from(long.as_str()), Name::from(long.clone()));
        assert_ne!(Name::from("db"), Name::from("dc"));
    }
}
