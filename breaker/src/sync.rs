//! The concurrency primitives the breaker is built on, in one place so that
//! `--cfg loom` can swap them for loom's model-checked versions.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
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

/// Which of a breaker's counter stripes the calling thread writes to: a
/// number fixed per thread, so that two threads calling one breaker write
/// to different cache lines.
#[cfg(not(loom))]
#[inline]
pub(crate) fn thread_stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        let mut index = stripe.get();
        if index == usize::MAX {
            index = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            stripe.set(index);
        }
        index
    })
}

/// Under loom every thread shares one stripe: the models explore the races
/// on one word, the harder case.
#[cfg(loom)]
#[inline]
pub(crate) fn thread_stripe() -> usize {
    0
}

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
                .clamp(1, 16)
                .next_power_of_two()
        })
    }
}
