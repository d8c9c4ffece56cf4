//! The concurrency primitives the breaker is built on, in one place so that
//! `--cfg loom` can swap them for loom's model-checked versions.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: the breaker's state is updated in
/// place by short, non-panicking sections, so a poisoned lock still holds a
/// consistent state, and a circuit breaker must never turn a panic elsewhere
/// into a panic on every later call.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
