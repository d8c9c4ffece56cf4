//! The counter stripes: lifetime counts of the lock-free path, one stripe
//! per core, and their sums.

use super::*;
use crate::sync::AtomicU8;

/// Lifetime counters of the lock-free path, one stripe per core, each on
/// its own cache lines so that cores never write to the same line.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Stripe {
    /// Written by the thread that owns the stripe alone (see
    /// [`thread_stripe`]), with a load and a store.
    pub(super) owned: Counters,
    /// Written by the threads that share the stripe, with atomic adds.
    pub(super) shared: Counters,
    /// The failures the owner recorded on the lock-free path, in the
    /// stripe's spare room.
    pub(super) log: Log,
}

/// The stripe owner's share of a window's allowance (see `window_path`)
/// and the failures it logged under it, each with where it fell among the
/// owner's own successes, so that a count window takes them in the order
/// they were made.
pub(super) struct Log {
    /// The share's tag (see `grant_tag`) as the high 32 bits, the failures
    /// left as bits 8 to 15, and the failures logged as the low 8 (see
    /// [`share_word`]): set by the look that grants it,
    /// counted down by the owner with a compare-and-swap (which publishes
    /// the entry), taken back by the next look with a swap. 0: no share;
    /// [`LOOKING`]: a look is taking the log in.
    pub(super) share: AtomicU64,
    /// The owner's owned success count at its first logged failure.
    pub(super) first: AtomicU64,
    /// The owner's own: its success count at its latest logged failure.
    pub(super) cursor: AtomicU64,
    /// The owner's successes between each logged failure and the next, a
    /// byte each, so that 41 entries fit the stripe's spare room: a
    /// failure whose gap does not fit (more than 255 successes since the
    /// owner's last logged failure) takes the lock, which a thread failing
    /// that rarely pays less than once in 256 calls.
    pub(super) gaps: [AtomicU8; LOG_LEN - 1],
}

impl Default for Log {
    fn default() -> Self {
        Log {
            share: AtomicU64::new(0),
            first: AtomicU64::new(0),
            cursor: AtomicU64::new(0),
            gaps: std::array::from_fn(|_| AtomicU8::new(0)),
        }
    }
}

/// The failures a `Log::share` word says its owner logged under it: none
/// for no share or [`LOOKING`].
pub(super) fn logged_in(share: u64) -> u64 {
    if share == LOOKING {
        0
    } else {
        (share & LOGGED_MASK).min(LOG_LEN as u64)
    }
}

/// The low bits of a `Log::share` that count the failures logged under it.
pub(super) const LOGGED_MASK: u64 = 0xFF;
/// One failure left, in a `Log::share`.
pub(super) const ONE_LEFT: u64 = 1 << 8;

/// A `Log::share` of `left` failures, none logged yet, tagged `tag`.
pub(super) fn share_word(tag: u64, left: u64) -> u64 {
    tag << 32 | left.min(0xFF) << 8
}

/// A `Log::share`'s failures left.
pub(super) fn share_left(share: u64) -> u64 {
    share >> 8 & 0xFF
}

/// The failures a log holds: what fills a stripe's spare room. A thread
/// whose log is full takes the lock for its next failure (whose look takes
/// the log in).
pub(super) const LOG_LEN: usize = 41;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) admitted: AtomicU64,
    pub(super) successes: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) rejected: AtomicU64,
}

/// A breaker's stripes: shared with the metrics exporter, which reads
/// their lifetime counts, with the `metrics` feature; its own otherwise
/// (an `Arc`'s header takes a whole 128-byte line before them).
#[cfg(feature = "metrics")]
pub(super) type Stripes = Arc<[Stripe]>;
#[cfg(not(feature = "metrics"))]
pub(super) type Stripes = Box<[Stripe]>;

/// The stripes' sums.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sums {
    pub(super) admitted: u64,
    pub(super) successes: u64,
    pub(super) failures: u64,
    pub(super) rejected: u64,
}

/// The lifetime counts `stripes` keep, as the metrics exporter reads them.
/// The failures include those logged off the lock that no look has taken
/// in yet (their owners leave the count to the look), read after the
/// counts: a look that takes some in between is missed until the next
/// sync, never counted twice.
#[cfg(feature = "metrics")]
pub(super) fn stripe_totals(stripes: &[Stripe]) -> StripeTotals {
    let failures = sum_stripes(stripes, |c| &c.failures);
    let logged = stripes.iter().fold(0u64, |sum, stripe| {
        sum.wrapping_add(logged_in(stripe.log.share.load(Ordering::Acquire)))
    });
    StripeTotals {
        successes: sum_stripes(stripes, |c| &c.successes),
        failures: failures.wrapping_add(logged),
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

impl CircuitBreaker {
    /// Adds one to the calling thread's `counter`, with `order`: a load and
    /// a store in a stripe the thread owns, an atomic add in one it shares.
    /// The count before.
    #[inline(always)]
    pub(super) fn add(&self, counter: impl Fn(&Counters) -> &AtomicU64, order: Ordering) -> u64 {
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
    pub(super) fn sums(&self) -> Sums {
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
    pub(super) fn sum(&self, counter: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        sum_stripes(&self.stripes, counter)
    }
}
