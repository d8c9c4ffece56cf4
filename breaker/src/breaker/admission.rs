//! Admission: the lock-free path, the locked path, the probe and bulkhead
//! limits, and refusals.

use super::*;

impl CircuitBreaker {
    /// Asks to make one call: a [`Permit`] to consume with the call's
    /// outcome, or the reason the call is refused.
    ///
    /// Inlined: closed admission and open or forced-open rejection take no
    /// lock (an open breaker reads the coarse clock); every other case
    /// calls out to the locked path.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let word = self.hot.word.load(Ordering::Acquire);
        if word & FAST_ADMIT != 0 {
            let admitted = self.add(|c| &c.admitted, Ordering::Relaxed);
            // observe: one call in 64 has its duration sampled
            let started = if Exporter::samples(admitted) {
                self.sample_start()
            } else if self.slow_after != u64::MAX {
                self.coarse_start()
            } else {
                NOT_TIMED
            };
            return Ok(Permit::new(self, word >> GEN_SHIFT, false, started));
        }
        match word & STATE_MASK {
            OPEN => {
                let until = self.hot.open_until.load(Ordering::Relaxed);
                // The system clock's ticker: one load (`STOPPED`, far in
                // the future, sends the call to the locked path, which
                // starts it).
                let now = if self.config.system_clock {
                    crate::clock::ticker::nanos()
                } else {
                    self.custom_coarse_nanos()
                };
                if until != u64::MAX && now.saturating_add(self.coarse_lag) < until {
                    self.add(|c| &c.rejected, Ordering::Relaxed);
                    let open_for = self.hot.open_for.load(Ordering::Relaxed);
                    let left = remaining(until, now, open_for);
                    let rejected = Rejected::open(self.shared_name(), left);
                    // observe: a rejection
                    observe::rejected(&rejected);
                    return Err(rejected);
                }
            }
            FORCED_OPEN => {
                self.add(|c| &c.rejected, Ordering::Relaxed);
                let rejected = Rejected::forced_open(self.shared_name());
                // observe: a rejection
                observe::rejected(&rejected);
                return Err(rejected);
            }
            _ => {}
        }
        self.try_acquire_locked()
    }

    /// When a sampled call starts, from the precise clock (bit 0 set, see
    /// [`Permit::started`]): user code, so a panic is contained and the
    /// call is not timed.
    #[cold]
    #[inline(never)]
    pub(super) fn sample_start(&self) -> u64 {
        panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now()))
            .map_or(NOT_TIMED, |at| nanos(at) | 1)
    }

    /// When a call timed for a slow-call policy starts, from the coarse
    /// clock (bit 0 clear, see [`Permit::started`]).
    #[inline]
    pub(super) fn coarse_start(&self) -> u64 {
        let at = match crate::clock::ticker::nanos() {
            at if self.config.system_clock && at != crate::clock::ticker::STOPPED => at,
            // A custom clock's, or the system clock's before its ticker
            // runs (the reading starts it).
            _ => self.custom_coarse_nanos(),
        };
        if at == u64::MAX {
            NOT_TIMED
        } else {
            at & !1
        }
    }

    /// A sampled call's duration, for the histogram, from its start in
    /// nanoseconds of the clock.
    #[cold]
    #[inline(never)]
    pub(super) fn sample_end(&self, started: u64) {
        if let Ok(now) = panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now())) {
            let elapsed = nanos(now).saturating_sub(started & !1);
            self.exporter.duration(Duration::from_nanos(elapsed));
        }
    }

    /// A coarse reading of a clock that is not the system's: user code, so
    /// a panic is contained; `u64::MAX` then sends the call to the locked
    /// path, which contains and reports it.
    #[inline(never)]
    pub(super) fn custom_coarse_nanos(&self) -> u64 {
        panic::catch_unwind(AssertUnwindSafe(|| self.config.clock.now_coarse()))
            .map_or(u64::MAX, nanos)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn try_acquire_locked(&self) -> Result<Permit<'_>, Rejected> {
        if let Some(shared) = self.membership().filter(|shared| shared.strict()) {
            // Strict mode: the fleet's state decides first (the store has
            // applied it to this breaker by the time it answers).
            if let Err(retry_after) = shared.admit() {
                let rejected = self.reject(RejectReason::Open { retry_after });
                // observe: a rejection
                observe::rejected(&rejected);
                return Err(rejected);
            }
        }
        let mut changes = Changes::default();
        let shared = self.membership();
        let mut admitted = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            self.admit(core, now, shared.is_some())
        });
        let mut lease = None;
        if let (Ok(admission), Some(shared)) = (&mut admitted, shared) {
            if admission.probe {
                match self.fleet_probe(&**shared, admission, &mut changes) {
                    Ok(granted) => lease = granted,
                    Err(rejected) => admitted = Err(rejected),
                }
            }
        }
        // observe: a rejection
        if let Err(rejected) = &admitted {
            observe::rejected(rejected);
        }
        let permit = admitted.map(|admission| {
            let mut permit = Permit::new(self, admission.id, admission.probe, admission.started);
            permit.lease = lease;
            permit
        });
        if let Some(payload) = self.announce(&changes) {
            // A listener panicked: give the admission back before
            // propagating, so that nothing is held or counted for a call
            // that never ran.
            drop(permit);
            panic::resume_unwind(payload);
        }
        permit
    }

    /// Runs `section` under the breaker's lock, with the time it may read,
    /// noting in `changes` what to announce once the lock is released.
    pub(super) fn locked<R>(
        &self,
        changes: &mut Changes,
        section: impl FnOnce(&mut Core, &Now, &mut Changes) -> R,
    ) -> R {
        let mut core = lock(&self.core);
        let now = Now {
            clock: &*self.config.clock,
            fallback: Duration::from_nanos(core.last_now),
            at: Cell::new(None),
            failed: Cell::new(false),
            contained: Cell::new(None),
        };
        if self.windowed {
            self.fold(&mut core);
        }
        if self.streak_in_word {
            self.take_streak_end(&mut core);
        }
        let result = section(&mut core, &now, changes);
        if self.windowed {
            let at = Self::window_time(&core, &now);
            self.open_lane(&mut core, at);
        }
        if let Some(at) = now.at.get() {
            core.last_now = nanos(at);
        }
        drop(core);
        if let Some(contained) = now.contained.take() {
            changes.contained.get_or_insert(contained);
        }
        result
    }

    /// Decides on one call in the current state, and counts it; a probe of
    /// a breaker in a shared store (`fleet`) holds its local slot but is
    /// counted only once the fleet grants it one of its own
    /// ([`fleet_probe`](Self::fleet_probe)).
    pub(super) fn admit(
        &self,
        core: &mut Core,
        now: &Now,
        fleet: bool,
    ) -> Result<Admission, Rejected> {
        let probe = match core.state {
            State::Closed => false,
            State::Disabled => false,
            State::Open => {
                let retry_after = Self::open_remaining(core, now);
                return Err(self.reject(RejectReason::Open { retry_after }));
            }
            State::ForcedOpen => return Err(self.reject(RejectReason::ForcedOpen)),
            State::HalfOpen => {
                if core.probes >= self.config.settings.half_open_max_calls {
                    return Err(self.reject(RejectReason::HalfOpenFull));
                }
                true
            }
        };
        if let Some(limit) = self.config.settings.max_concurrent_calls {
            if core.state != State::Disabled && Self::running(core, self.sums()) >= u64::from(limit)
            {
                return Err(self.reject(RejectReason::TooManyCalls));
            }
        }
        let mut admission = Admission {
            id: core.generation,
            generation: core.generation,
            probe,
            started: NOT_TIMED,
        };
        if probe {
            // The hung-probe clock starts with the first probe in flight,
            // not when the breaker turned half-open while nobody called.
            if core.probes == 0 {
                core.probe_progress = now.progress();
            }
            core.probes += 1;
            admission.id |= (core.probe_epoch & EPOCH_MASK) << GEN_BITS;
            if fleet {
                return Ok(admission);
            }
        }
        self.count_admission(&mut admission, now);
        Ok(admission)
    }

    /// Counts an admission, and notes when its call starts if anything
    /// needs its duration.
    pub(super) fn count_admission(&self, admission: &mut Admission, now: &Now) {
        let admitted = self.add(|c| &c.admitted, Ordering::Relaxed);
        // observe: one call in 64 has its duration sampled
        admission.started = if Exporter::samples(admitted) {
            nanos(now.get()) | 1
        } else if self.slow_after != u64::MAX {
            nanos(now.coarse()) & !1
        } else {
            NOT_TIMED
        };
        if now.failed.get() {
            // Not timed from a guess: an instant call would be judged slow.
            admission.started = NOT_TIMED;
        }
    }

    /// A probe of a breaker in a shared store needs one of the fleet's probe
    /// slots too. Asked outside the lock (the store may apply the fleet's
    /// state to this breaker meanwhile); the admission is counted only once
    /// the slot is granted and the half-open period it was admitted in is
    /// still on, so that a refused probe never counts as a request.
    pub(super) fn fleet_probe(
        &self,
        shared: &dyn SharedState,
        admission: &mut Admission,
        changes: &mut Changes,
    ) -> Result<Option<ProbeLease>, Rejected> {
        // Store code: a panic is contained, and the probe fails safe, left
        // to the local limit as when the store cannot answer.
        let slot = contained("SharedState::acquire_probe", || shared.acquire_probe())
            .unwrap_or_else(|panic| {
                changes.contained.get_or_insert(panic);
                ProbeSlot::Unleased
            });
        let lease = match slot {
            ProbeSlot::Leased(lease) => Some(lease),
            ProbeSlot::Unleased => None,
            ProbeSlot::Refused => {
                let reason = self.locked(changes, |core, now, changes| {
                    self.advance(core, now, changes);
                    Self::release_probe(core, admission.id);
                    // The store may have applied the fleet's state: say it.
                    Self::refusal(core, now)
                });
                return Err(self.reject(reason));
            }
        };
        enum Decided {
            Counted,
            Readmitted(Admission),
            Refused(RejectReason),
            Rejected(Rejected),
        }
        let decided = self.locked(changes, |core, now, changes| {
            self.advance(core, now, changes);
            if core.generation != admission.generation {
                // The store applied the fleet's state meanwhile (or another
                // thread changed it): the call is decided again, as a call
                // of the state the breaker is in now.
                Self::release_probe(core, admission.id);
                return match core.state {
                    State::Closed | State::Disabled => match self.admit(core, now, false) {
                        Ok(readmitted) => Decided::Readmitted(readmitted),
                        Err(rejected) => Decided::Rejected(rejected),
                    },
                    _ => Decided::Refused(Self::refusal(core, now)),
                };
            }
            let full = self
                .config
                .settings
                .max_concurrent_calls
                .is_some_and(|limit| Self::running(core, self.sums()) >= u64::from(limit));
            if full {
                Self::release_probe(core, admission.id);
                return Decided::Refused(RejectReason::TooManyCalls);
            }
            self.count_admission(admission, now);
            Decided::Counted
        });
        if !matches!(decided, Decided::Counted) {
            if let Some(lease) = lease {
                let ended = contained("SharedState::probe_ended", || {
                    shared.probe_ended(lease, None)
                });
                if let Err(panic) = ended {
                    changes.contained.get_or_insert(panic);
                }
            }
        }
        match decided {
            Decided::Counted => Ok(lease),
            Decided::Readmitted(readmitted) => {
                *admission = readmitted;
                Ok(None)
            }
            Decided::Refused(reason) => Err(self.reject(reason)),
            Decided::Rejected(rejected) => Err(rejected),
        }
    }

    /// The rest of an open breaker's open period, as every figure of it
    /// says it (rejections, [`Stats::time_until_half_open`], a store's
    /// view): see [`remaining`].
    pub(super) fn open_remaining(core: &Core, now: &Now) -> Duration {
        if core.open_pending {
            return core.open_until;
        }
        Duration::from_nanos(remaining(
            nanos(core.open_until),
            nanos(now.coarse()),
            nanos(core.open_duration),
        ))
    }

    /// Why a call is refused in the state the breaker is in, for a call
    /// that its admission can no longer stand for.
    pub(super) fn refusal(core: &Core, now: &Now) -> RejectReason {
        match core.state {
            State::Open => RejectReason::Open {
                retry_after: Self::open_remaining(core, now),
            },
            State::ForcedOpen => RejectReason::ForcedOpen,
            _ => RejectReason::HalfOpenFull,
        }
    }

    pub(super) fn reject(&self, reason: RejectReason) -> Rejected {
        self.add(|c| &c.rejected, Ordering::Relaxed);
        Rejected::new(self.shared_name(), reason)
    }

    /// Calls admitted and not yet finished, every generation, from the
    /// stripes' `sums` and the locked totals.
    pub(super) fn running(core: &Core, sums: Sums) -> u64 {
        let t = &core.totals;
        let finished = sums
            .successes
            .wrapping_add(sums.failures)
            .wrapping_add(t.ignored)
            .wrapping_add(t.cancelled);
        sums.admitted.wrapping_sub(finished)
    }
}
