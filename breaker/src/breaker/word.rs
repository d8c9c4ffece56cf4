//! The published word that the lock-free path reads.

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
}
