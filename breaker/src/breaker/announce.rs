//! Announcing transitions to listeners, after the lock is released, in the
//! order they were made.

use super::*;

impl CircuitBreaker {
    /// Reports what a section contained, then announces the queued
    /// transitions to the log and the `on_state_change` listeners, outside
    /// the breaker's lock. One thread announces at a time, in the order the
    /// transitions were made; a thread that finds another announcing leaves
    /// its own transitions to it. Every hook's panic is contained: the first
    /// panic of a listener hearing of this thread's own transitions is
    /// handed back so that the caller can propagate it once the breaker is
    /// consistent; a listener's panic on another thread's transition is
    /// logged, not handed to this unrelated caller.
    pub(super) fn announce(&self, changes: &Changes) -> Option<Box<dyn Any + Send>> {
        if changes.is_quiet() {
            return None;
        }
        if let Some(contained) = &changes.contained {
            self.report(contained);
        }
        if changes.dropped > 0 {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                observe::announcements_dropped(&self.hot.name, changes.dropped)
            }));
        }
        let (first, last) = changes.made?;
        let mut core = lock(&self.core);
        if core.announcing {
            return None;
        }
        core.announcing = true;
        let mut own_panic = None;
        loop {
            if core.announcements.is_empty() {
                // Given up under the same lock hold that found the queue
                // empty: a transition queued after this is announced by the
                // thread that made it.
                core.announcing = false;
                return own_panic;
            }
            let next = core.announcements.remove(0);
            drop(core);
            if let Some(payload) = self.deliver(&next) {
                if (first..=last).contains(&next.generation) {
                    own_panic.get_or_insert(payload);
                } else {
                    self.report(&Contained {
                        what: "on_state_change",
                        payload,
                    });
                }
            }
            core = lock(&self.core);
        }
    }

    /// [`announce`](Self::announce), for callers that must not raise a
    /// listener's panic (a store's thread, a thread already unwinding): the
    /// panic is reported instead.
    pub(super) fn announce_reporting(&self, changes: &Changes) {
        if let Some(payload) = self.announce(changes) {
            self.report(&Contained {
                what: "on_state_change",
                payload,
            });
        }
    }

    /// Reports a contained panic of user code through `tracing`, itself
    /// contained: a subscriber that panics on the report is not allowed to
    /// unwind through the breaker.
    pub(crate) fn report(&self, contained: &Contained) {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            observe::user_code_panicked(&self.hot.name, contained.what, &*contained.payload)
        }));
    }

    /// Announces one transition to the log and the listeners. Never
    /// panics: the first panic of a hook is returned.
    pub(super) fn deliver(&self, change: &Announcement) -> Option<Box<dyn Any + Send>> {
        let state_change = StateChange {
            name: &self.hot.name,
            from: change.from,
            to: change.to,
            period: change.period,
            tripped_by: change.tripped_by,
        };
        // observe: a state change
        let logged =
            panic::catch_unwind(AssertUnwindSafe(|| observe::state_changed(&state_change)));
        let mut first_panic = logged.err();
        // observe: the recent transitions
        #[cfg(feature = "dashboard")]
        self.hot
            .transitions
            .record(&state_change, &self.config, change.from_store);
        for listener in &self.config.on_state_change {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| listener(&state_change)))
            {
                first_panic.get_or_insert(payload);
            }
        }
        first_panic
    }
}
