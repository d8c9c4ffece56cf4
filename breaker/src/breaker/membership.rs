//! A breaker's membership in a shared state store: joining, leaving, and
//! what the store reads and applies.

use super::*;

impl CircuitBreaker {
    /// Joins the shared state of this breaker's name in `store`, so that
    /// every process's breaker of that name trips, probes and closes
    /// together (see [`StateStore`]). Returns `false`, and changes nothing,
    /// if the breaker has joined a store already, is joining one on
    /// another thread right now, or has [left](Self::leave_store) one:
    /// `store.join` is called at most once in a breaker's life.
    ///
    /// Breakers of the [`registry()`](crate::registry()) join the store
    /// their configuration names ([`Config::store`]) by themselves, before
    /// the registry hands them to anyone.
    pub fn join_store(self: &Arc<Self>, store: &dyn StateStore) -> bool {
        let (joined, contained) = self.join(store);
        if let Some(contained) = contained {
            self.report(&contained);
        }
        joined
    }

    /// [`join_store`](Self::join_store), handing back a panic of the
    /// store's `join` it contained for the caller to report once it holds
    /// no lock (the registry joins under its own).
    pub(crate) fn join(self: &Arc<Self>, store: &dyn StateStore) -> (bool, Option<Contained>) {
        let claimed = self.hot.membership.compare_exchange(
            UNJOINED,
            JOINING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if claimed.is_err() {
            return (false, None);
        }
        let joined = contained("StateStore::join", || {
            self.hot.shared.get_or_init(|| store.join(self));
        });
        if let Err(panic) = joined {
            // The store's code panicked: the breaker stays local, and may
            // join again later.
            self.hot.membership.store(UNJOINED, Ordering::Release);
            return (false, Some(panic));
        }
        let Some(membership) = self.hot.shared.get() else {
            return (false, None);
        };
        let joined = self.hot.membership.compare_exchange(
            JOINING,
            JOINED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if joined.is_err() {
            // Told to leave while it was joining: it leaves at once.
            membership.leave();
            return (false, None);
        }
        // A strict store takes lock-free admission away: republish.
        let core = lock(&self.core);
        self.publish(&core);
        (true, None)
    }

    /// Ends the breaker's membership in its store: the store stops sharing
    /// its state (no more outcomes sent, no fleet transitions applied) and
    /// the breaker goes on alone, as if it had never joined; it cannot
    /// join a store again. A probe that holds one of the fleet's slots
    /// still gives it back when it ends. Returns whether it was a member
    /// (or was joining). [`Registry::remove`](crate::Registry::remove)
    /// calls it.
    pub fn leave_store(&self) -> bool {
        match self.hot.membership.swap(LEFT, Ordering::AcqRel) {
            JOINED => {}
            // The joining thread sees `LEFT` and ends the membership.
            JOINING => return true,
            // UNJOINED, LEFT: no membership to end.
            _ => return false,
        }
        if let Some(shared) = self.hot.shared.get() {
            shared.leave();
        }
        // Lock-free admission comes back if a strict store had taken it.
        let core = lock(&self.core);
        self.publish(&core);
        true
    }

    /// What the registry's idle eviction samples, without the lock: the
    /// calls asked of the breaker so far (admitted or rejected), and
    /// whether its state lets it go: closed or half-open, or open with its
    /// open period over; never forced open or disabled, which an operator
    /// chose.
    pub(crate) fn idle_sample(&self) -> (u64, bool) {
        let calls = self
            .sum(|c| &c.admitted)
            .wrapping_add(self.sum(|c| &c.rejected));
        let word = self.hot.word.load(Ordering::Acquire);
        let may_go = match word & STATE_MASK {
            OPEN => {
                let until = self.hot.open_until.load(Ordering::Relaxed);
                until != u64::MAX
                    && panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now()))
                        .is_ok_and(|now| nanos(now) >= until)
            }
            FORCED_OPEN | DISABLED => false,
            _ => true,
        };
        (calls, may_go)
    }

    /// The breaker's membership, while it is a member.
    pub(super) fn membership(&self) -> Option<&Arc<dyn SharedState>> {
        if self.hot.membership.load(Ordering::Acquire) == JOINED {
            self.hot.shared.get()
        } else {
            None
        }
    }

    /// What a shared store reads of the breaker, after the time-driven
    /// transitions (as [`stats`](Self::stats) makes them). Without
    /// [`Stats`]' name copy and window tally; and a listener's panic is
    /// dropped, as in [`apply_shared`](Self::apply_shared): the store's
    /// thread must go on.
    #[cfg(feature = "redis")]
    pub(crate) fn store_view(&self) -> StoreView {
        let mut changes = Changes::default();
        let view = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            let sums = self.sums();
            StoreView {
                outcomes: [sums.successes, sums.failures, core.totals.slow_calls],
                consecutive_failures: self.streak(core),
                state: core.state,
                open_for: match core.state {
                    State::Open => Self::open_remaining(core, now),
                    _ => Duration::ZERO,
                },
            }
        });
        // The store's thread must go on: a listener's panic is reported.
        self.announce_reporting(&changes);
        view
    }

    /// Whether the breaker is a member of a shared store (joined, and not
    /// left).
    pub fn is_shared(&self) -> bool {
        self.membership().is_some()
    }

    /// Whether the store asks to decide every admission. Store code, read
    /// under the lock: a panic is contained and read as not strict.
    pub(super) fn strict(&self) -> bool {
        self.membership().is_some_and(|shared| {
            panic::catch_unwind(AssertUnwindSafe(|| shared.strict())).unwrap_or(false)
        })
    }

    /// Applies the fleet's state, as a [`StateStore`] learned it: `state`
    /// (`Closed`, `Open` or `HalfOpen`), and while open, `open_for`, the
    /// rest of the fleet's open period. The transition is announced like
    /// any other (listeners, tracing, metrics) but not reported back to the
    /// store. A breaker forced open or disabled by hand keeps that state:
    /// manual control is local.
    pub fn apply_shared(&self, state: State, open_for: Duration) {
        self.apply_shared_unless(state, open_for, || false);
    }

    /// [`apply_shared`](Self::apply_shared), unless `stale` says the state
    /// was read before a transition the store has yet to send. `stale` is
    /// asked under the breaker's lock, under which the store hears of each
    /// transition ([`StateStore`]'s `transitioned`), so a transition cannot
    /// slip in between the question and the state's change.
    pub(crate) fn apply_shared_unless(
        &self,
        state: State,
        open_for: Duration,
        stale: impl FnOnce() -> bool,
    ) {
        if !matches!(state, State::Closed | State::Open | State::HalfOpen) {
            return;
        }
        let mut changes = Changes {
            from_store: true,
            ..Changes::default()
        };
        self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            if matches!(core.state, State::ForcedOpen | State::Disabled) || stale() {
                return;
            }
            match (core.state, state) {
                (from, to) if from == to => {}
                (State::Closed, State::Open) => self.trip(core, TripReason::Fleet, now, changes),
                _ => self.set_state(core, state, now, changes),
            }
            if state == State::Open {
                // The fleet's open period, not this process's own; from the
                // clock's next good reading if it is failing.
                let at = now.get();
                core.open_duration = open_for;
                core.open_pending = now.failed.get();
                core.open_until = if core.open_pending {
                    open_for
                } else {
                    at.saturating_add(open_for)
                };
                self.publish(core);
            }
        });
        // A panicking listener must not take the store's thread down: the
        // breaker is consistent, so the panic is reported here.
        self.announce_reporting(&changes);
    }
}
