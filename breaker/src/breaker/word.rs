//! The published word that the lock-free path reads, and the consecutive-
//! failure count beside it.

use super::*;

impl CircuitBreaker {
    /// Publishes the locked state to the lock-free path.
    pub(super) fn publish(&self, core: &Core) {
        let (admit, fast) = match core.state {
            // In a strict shared store every admission asks the store.
            State::Closed if self.strict() => (false, false),
            State::Closed => (self.admit_closed, self.fast_closed),
            State::Disabled => (true, true),
            State::Open | State::HalfOpen | State::ForcedOpen => (false, false),
        };
        if core.state == State::Open {
            // Pending: out of the lock-free path's range, so the locked
            // path decides.
            let until = if core.open_pending {
                u64::MAX
            } else {
                nanos(core.open_until)
            };
            self.hot.open_until.store(until, Ordering::Relaxed);
            self.hot
                .open_for
                .store(nanos(core.open_duration), Ordering::Relaxed);
        }
        let word = core.state.code()
            | if admit { FAST_ADMIT } else { 0 }
            | if fast { FAST } else { 0 }
            | (core.generation << GEN_SHIFT);
        self.hot.word.store(word, Ordering::Release);
    }

    /// The consecutive failures of the period `generation`.
    pub(super) fn consecutive_failures(&self, generation: u64) -> u64 {
        let word = self.hot.consecutive.load(Ordering::Acquire);
        if word >> 32 == generation & COUNT_MASK {
            word & COUNT_MASK
        } else {
            0
        }
    }

    /// Changes the consecutive count of the period `generation` to what
    /// `change` makes of it, with a compare-and-swap: the count it left
    /// there; `None` when the word is another period's or `change` leaves
    /// it alone (`None`). A count `change` keeps as it is is not written.
    fn change_count(&self, generation: u64, change: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        let tag = (generation & COUNT_MASK) << 32;
        let mut word = self.hot.consecutive.load(Ordering::Acquire);
        loop {
            if word & !COUNT_MASK != tag {
                return None;
            }
            let count = word & COUNT_MASK;
            let new = change(count)?;
            if new == count {
                return Some(count);
            }
            match self.hot.consecutive.compare_exchange_weak(
                word,
                tag | new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(new),
                Err(actual) => word = actual,
            }
        }
    }

    /// Adds one failure to the consecutive count of the period whose
    /// generation is `generation`, unless the count is at `below - 1`
    /// already (the failure that trips takes the lock) or belongs to
    /// another period. Saturates at `u32::MAX`.
    #[inline]
    pub(super) fn add_consecutive_failure(&self, generation: u64, below: u64) -> bool {
        self.change_count(generation, |count| {
            (count.saturating_add(1) < below).then(|| (count + 1).min(COUNT_MASK))
        })
        .is_some()
    }

    /// Takes back one failure that `add_consecutive_failure` added to the
    /// count of the period `generation`, for the locked path to count it
    /// instead: unless the count has been cleared since (a success ended
    /// the streak, which then took the failure in before it: the two
    /// calls overlapped, so either order is one the calls could have had)
    /// or belongs to another period. A count saturated at `u32::MAX` is
    /// left there.
    pub(super) fn remove_consecutive_failure(&self, generation: u64) {
        self.change_count(generation, |count| {
            (count > 0 && count < COUNT_MASK).then(|| count - 1)
        });
    }

    /// Adds one failure to the consecutive count of the period whose
    /// generation is `generation`, whatever the count (under the lock,
    /// where nothing trips early), and returns the count it made:
    /// saturated at `u32::MAX`; 0 for a count of another period.
    pub(super) fn count_consecutive_failure(&self, generation: u64) -> u64 {
        self.change_count(generation, |count| Some((count + 1).min(COUNT_MASK)))
            .unwrap_or(0)
    }
}
