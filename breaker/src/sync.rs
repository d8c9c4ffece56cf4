//! The concurrency primitives the breaker is built on, in one place so that
//! `--cfg loom` can swap them for loom's model-checked versions.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicU8};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

pub(crate) use std::sync::atomic::Ordering;

/// Locks `mutex`, ignoring poisoning: the breaker's state is updated in
/// place by short sections that run no user code unguarded (a `trip_when`
/// predicate and a custom `Clock` are called inside `catch_unwind`), so a
/// poisoned lock still holds a consistent state, and a circuit breaker must
/// never turn a panic elsewhere into a panic on every later call.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Set in [`thread_stripe`]'s answer when the calling thread owns its
/// stripe: it is the only thread that writes the stripe's owned counters,
/// so it counts with a load and a store instead of a read-modify-write.
pub(crate) const OWNED: usize = 1 << (usize::BITS - 1);

#[cfg(not(loom))]
use std::cell::Cell;
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;

#[cfg(not(loom))]
const UNCLAIMED: usize = usize::MAX;

#[cfg(not(loom))]
/// The owned stripes, a bit each.
static OWNERS: AtomicUsize = AtomicUsize::new(0);
#[cfg(not(loom))]
/// The next sharer's stripe.
static NEXT: AtomicUsize = AtomicUsize::new(0);

#[cfg(not(loom))]
/// Gives an owned stripe back when its thread exits.
struct Claim(Cell<usize>);
#[cfg(not(loom))]
impl Drop for Claim {
    fn drop(&mut self) {
        let at = self.0.get();
        if at != UNCLAIMED && at & OWNED != 0 {
            // From here on the thread shares the stripe: a destructor that
            // runs after this one and calls a breaker counts with atomic
            // adds, beside the stripe's next owner.
            let _ = STRIPE.try_with(|stripe| stripe.set(at & !OWNED));
            release(at);
        }
    }
}

/// Gives the owned stripe `at` back: the next thread to claim it sees
/// every count its owner made (a release of the word the claim acquires).
#[cfg(not(loom))]
fn release(at: usize) {
    OWNERS.fetch_and(!(1 << (at & !OWNED)), Ordering::Release);
}

#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn claim() -> usize {
    let stripes = stripe_count();
    let all = if stripes >= usize::BITS as usize {
        usize::MAX
    } else {
        (1 << stripes) - 1
    };
    let mut owners = OWNERS.load(Ordering::Relaxed);
    loop {
        let free = !owners & all;
        if free == 0 {
            return NEXT.fetch_add(1, Ordering::Relaxed) & (stripes - 1);
        }
        let at = free.trailing_zeros() as usize;
        match OWNERS.compare_exchange_weak(
            owners,
            owners | 1 << at,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return at | OWNED,
            Err(now) => owners = now,
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    /// The calling thread's answer of [`thread_stripe`]: constant-initialized
    /// and without a destructor, so that every call reads it with one load,
    /// even while the thread's other thread-locals are torn down.
    static STRIPE: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// The guard of an owned stripe, registered when the thread claims it.
    static CLAIM: Claim = const { Claim(Cell::new(UNCLAIMED)) };
}

/// A thread's first call: claims a stripe, and registers its guard if it
/// owns it. A thread whose thread-locals are being torn down cannot keep
/// its answer or register the guard, and shares the stripe instead.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn first_claim() -> usize {
    let mut at = claim();
    let kept = STRIPE.try_with(|stripe| stripe.set(at)).is_ok();
    if at & OWNED != 0 && (!kept || CLAIM.try_with(|claim| claim.0.set(at)).is_err()) {
        release(at);
        at &= !OWNED;
        let _ = STRIPE.try_with(|stripe| stripe.set(at));
    }
    at
}

/// Which of a breaker's counter stripes the calling thread writes to, and
/// whether it owns it ([`OWNED`]).
///
/// A thread's first call claims the lowest stripe no living thread owns,
/// among the first [`stripe_count`] (the same for every breaker, so a
/// thread owns the same stripe in all of them); it gives it back when it
/// exits, and the thread that claims it next sees every count the last
/// owner made (the claim and the release are an acquire and a release of
/// the same word). A thread that finds every stripe owned shares one, at a
/// number fixed per thread, writing its shared counters with atomic adds;
/// so does a thread whose thread-locals are being torn down.
#[cfg(not(loom))]
#[inline]
pub(crate) fn thread_stripe() -> usize {
    // `try_with`: on a platform whose thread-locals are not native, even
    // this one can be torn down; a thread past that shares stripe 0. (On
    // native thread-locals it never fails, and compiles to the load.)
    match STRIPE.try_with(Cell::get) {
        Ok(UNCLAIMED) => first_claim(),
        Ok(at) => at,
        Err(_) => 0,
    }
}

/// The calling thread's answer of [`thread_stripe`] if it has claimed a
/// stripe already, without claiming one: a thread that only looks at a
/// breaker (its stats, a store's reads) keeps the stripes for the threads
/// that call.
#[cfg(not(loom))]
pub(crate) fn claimed_stripe() -> Option<usize> {
    STRIPE
        .try_with(Cell::get)
        .ok()
        .filter(|&at| at != UNCLAIMED)
}

/// Under loom the first thread to count owns the stripe whether or not it
/// looked first: the models see the same answers as [`thread_stripe`].
#[cfg(loom)]
pub(crate) fn claimed_stripe() -> Option<usize> {
    Some(thread_stripe())
}

/// Under loom there is one stripe: the first thread to count in a model
/// owns it (in the models, the thread that builds the breaker), and every
/// other thread shares it, writing its shared counters with atomic adds.
/// The models so explore the owner's lock-free failures and the races on
/// the shared words both.
#[cfg(loom)]
pub(crate) fn thread_stripe() -> usize {
    use loom::sync::atomic::AtomicBool;
    loom::lazy_static! {
        static ref OWNED_ONCE: AtomicBool = AtomicBool::new(false);
    }
    loom::thread_local! {
        static STRIPE: std::cell::Cell<Option<usize>> = std::cell::Cell::new(None);
    }
    STRIPE.with(|stripe| {
        if let Some(at) = stripe.get() {
            return at;
        }
        let at = if OWNED_ONCE.swap(true, Ordering::Relaxed) {
            0
        } else {
            OWNED
        };
        stripe.set(Some(at));
        at
    })
}

/// The most counter stripes a breaker gets.
pub(crate) const MAX_STRIPES: usize = 16;

/// How many counter stripes a breaker gets: one per core, a power of two,
/// at most 16 (and 1 under loom).
pub(crate) fn stripe_count() -> usize {
    #[cfg(loom)]
    {
        1
    }
    #[cfg(not(loom))]
    {
        static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *COUNT.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, MAX_STRIPES)
                .next_power_of_two()
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::mpsc;

    /// Sends what its thread's stripe reads as when it is torn down.
    struct StripeAtExit(mpsc::Sender<usize>);

    impl Drop for StripeAtExit {
        fn drop(&mut self) {
            let _ = self.0.send(thread_stripe());
        }
    }

    thread_local! {
        static AT_EXIT: RefCell<Option<StripeAtExit>> = const { RefCell::new(None) };
    }

    /// A thread-local registered before the thread's first call is torn
    /// down after the stripe's guard: the calls its destructor makes use
    /// the shared counters of the stripe the thread gave back, never the
    /// owned ones its next owner writes with a plain store.
    #[test]
    fn destructors_after_the_stripes_guard_count_on_its_shared_counters() {
        loop {
            let (sender, at_exit) = mpsc::channel();
            let owned = std::thread::spawn(move || {
                AT_EXIT.with(|at_exit| *at_exit.borrow_mut() = Some(StripeAtExit(sender)));
                thread_stripe()
            })
            .join()
            .unwrap();
            let at_exit = at_exit.recv().unwrap();
            if owned & OWNED != 0 {
                assert_eq!(at_exit, owned & !OWNED, "owned {owned:#x}");
                return;
            }
            // Every stripe was owned (by other tests' threads): again.
            std::thread::yield_now();
        }
    }
}
