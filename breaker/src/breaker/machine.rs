//! The state machine: trip policies, transitions, periods and the time
//! they are driven by.

use super::*;

impl CircuitBreaker {
    /// The trip policies, any one of which opens a closed breaker: the
    /// first that says so, with the period's consecutive failures at
    /// `streak`.
    pub(super) fn should_trip(
        &self,
        core: &mut Core,
        now: &Now,
        streak: u64,
    ) -> Option<TripReason> {
        let config = &self.config;
        if let Some(max) = config.settings.max_failures {
            if streak >= u64::from(max) {
                return Some(TripReason::ConsecutiveFailures);
            }
        }
        let at = Self::window_time(core, now);
        if let Some(window) = core.window.as_mut() {
            let tally = window.tally(at);
            if let Some(reason) = self.rate_verdict(tally, window) {
                return Some(reason);
            }
        }
        let predicate = config.trip_when.as_ref()?;
        let counts = self.period_counts(core, self.sums());
        // The user's predicate runs under the lock: a panic there is
        // contained and does not trip (see `Config::trip_when`).
        now.contain("trip_when", || predicate(&counts))
            .unwrap_or(false)
            .then_some(TripReason::TripWhen)
    }

    /// The rate policies' verdict on a window's `tally`, of a window that
    /// holds at most `capacity` calls.
    pub(super) fn rate_verdict(
        &self,
        tally: crate::window::Tally,
        window: &Window,
    ) -> Option<TripReason> {
        let settings = &self.config.settings;
        let enough = u64::from(settings.minimum_calls).min(window.capacity());
        if tally.calls == 0 || tally.calls < enough {
            return None;
        }
        if let Some(cut) = window.cut(tally.calls) {
            return if tally.failures >= cut.failures {
                Some(TripReason::FailureRate)
            } else if tally.slow >= cut.slow {
                Some(TripReason::SlowCallRate)
            } else {
                None
            };
        }
        let calls = tally.calls as f64;
        if let Some(rate) = settings.failure_rate {
            if tally.failures as f64 / calls >= rate {
                return Some(TripReason::FailureRate);
            }
        }
        if let Some(rate) = settings.slow_call_rate {
            if tally.slow as f64 / calls >= rate {
                return Some(TripReason::SlowCallRate);
            }
        }
        None
    }

    /// Opens a closed breaker for `reason`, keeping the period that tripped
    /// it (taken before the transition clears the counts and the window).
    pub(super) fn trip(
        &self,
        core: &mut Core,
        reason: TripReason,
        now: &Now,
        changes: &mut Changes,
    ) {
        let period = self.period_counts(core, self.sums());
        let (failure_rate, slow_call_rate) = Self::rates(core, &period, now);
        let record = TripRecord {
            reason,
            period,
            failure_rate,
            slow_call_rate,
            at: now.get(),
        };
        self.set_state(core, State::Open, now, changes);
        core.trip = Some(Box::new(record));
        if let Some(last) = core.announcements.last_mut() {
            last.tripped_by = Some(reason);
        }
    }

    /// The failure and slow-call rates: over the window when there is
    /// one, else over `period`'s calls with a success or failure.
    pub(super) fn rates(core: &mut Core, period: &Counts, now: &Now) -> (f64, f64) {
        let at = Self::window_time(core, now);
        match core.window.as_mut() {
            Some(window) => {
                let tally = window.tally(at);
                (
                    ratio(tally.failures, tally.calls),
                    ratio(tally.slow, tally.calls),
                )
            }
            None => {
                let judged = period.successes.saturating_add(period.failures);
                (
                    ratio(period.failures, judged),
                    ratio(period.slow_calls, judged),
                )
            }
        }
    }

    /// The current period's counts: the locked ones, and the striped ones
    /// less their sums when the period began.
    pub(super) fn period_counts(&self, core: &Core, sums: Sums) -> Counts {
        let tally = core.counts;
        let successes = sums.successes.wrapping_sub(core.base.successes);
        let rejected = sums.rejected.wrapping_sub(core.base.rejected);
        let consecutive_failures = self.streak(core);
        Counts {
            calls: sums
                .admitted
                .wrapping_sub(core.base.admitted)
                .wrapping_add(rejected),
            successes,
            failures: sums.failures.wrapping_sub(core.base.failures),
            ignored: tally.ignored,
            cancelled: tally.cancelled,
            rejected,
            consecutive_successes: if consecutive_failures > 0 {
                0
            } else {
                successes.saturating_sub(core.success_mark)
            },
            consecutive_failures,
            slow_calls: tally.slow_calls,
            timeouts: tally.timeouts,
        }
    }

    /// The transitions that time alone makes: open → half-open when the
    /// open period ends; half-open → open when probes hang past
    /// `half_open_max_wait`; clearing the counts every `interval`.
    pub(super) fn advance(&self, core: &mut Core, now: &Now, changes: &mut Changes) {
        match core.state {
            // Opened while the clock was failing: the open period starts at
            // its first good reading.
            State::Open if core.open_pending => {
                let at = now.get();
                if !now.failed.get() {
                    core.open_until = at.saturating_add(core.open_until);
                    core.open_pending = false;
                    self.publish(core);
                }
            }
            State::Open if now.get() >= core.open_until => {
                self.set_state(core, State::HalfOpen, now, changes);
            }
            State::HalfOpen => {
                if core.probe_progress == Duration::MAX {
                    // Progress noted while the clock failed: it starts now.
                    core.probe_progress = now.progress();
                }
                let wait = self.config.effective_half_open_max_wait();
                if core.probes > 0 && now.get().saturating_sub(core.probe_progress) >= wait {
                    if self.config.settings.half_open_max_wait.is_some() {
                        // Set by the user: the probes' silence is a failure.
                        self.set_state(core, State::Open, now, changes);
                    } else {
                        // The default only frees the silent probes' slots,
                        // so that the next calls can probe: a slow probe may
                        // still succeed, and its outcome still counts.
                        core.probe_progress = now.progress();
                    }
                    Self::abandon_probes(core);
                }
            }
            State::Closed => {
                if core.clear_at != u64::MAX && nanos(now.get()) >= core.clear_at {
                    self.new_generation(core, now, self.sums());
                    self.publish(core);
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    /// Starts a new period: fresh counts and window, and results of calls
    /// admitted before it no longer count.
    pub(super) fn new_generation(&self, core: &mut Core, now: &Now, sums: Sums) {
        core.generation = core.generation.wrapping_add(1) & GEN_MASK;
        core.counts = Tally::default();
        core.base = sums;
        core.success_mark = 0;
        core.streak = 0;
        // A swap, not a store: a read-modify-write is ordered with the
        // lock-free path's compare-exchange, so an older period's failure
        // can never land its count after the new period's zero. (loom found
        // the interleaving where a plain store let it.)
        self.hot
            .consecutive
            .swap((core.generation & COUNT_MASK) << 32, Ordering::AcqRel);
        core.probe_progress = now.progress();
        if let Some(window) = core.window.as_mut() {
            window.clear();
            // Successes counted from here on are the new period's; the lane
            // stays closed until the new window holds enough calls (it is
            // closed before the new word is published).
            core.folded = sums.successes;
            self.hot.lane.store(0, Ordering::Release);
        }
        core.clear_at = match (core.state, self.config.settings.interval) {
            (State::Closed, Some(every)) => nanos(now.get().saturating_add(every)),
            _ => u64::MAX,
        };
    }

    /// Gives back the slot of the probe whose ticket number is `id`, unless
    /// it was abandoned (its slot is free already).
    pub(super) fn release_probe(core: &mut Core, id: u64) {
        if id >> GEN_BITS == core.probe_epoch & EPOCH_MASK {
            core.probes = core.probes.saturating_sub(1);
        }
    }

    /// Frees the slots of the probes in flight: they will never give them
    /// back.
    pub(super) fn abandon_probes(core: &mut Core) {
        if core.probes > 0 {
            core.probes = 0;
            core.probe_epoch = core.probe_epoch.wrapping_add(1);
        }
    }

    pub(super) fn set_state(&self, core: &mut Core, to: State, now: &Now, changes: &mut Changes) {
        let from = core.state;
        // One reading of the stripes ends the old period and begins the
        // new one, so that a lock-free call landing in between is counted
        // in one of them, never in neither.
        let sums = self.sums();
        let ended = self.period_counts(core, sums);
        core.state = to;
        core.state_since = now.get();
        self.new_generation(core, now, sums);
        // The trip is kept through half-open and failed probes; a trip
        // sets it again after this (see `trip`).
        if !matches!(
            (from, to),
            (State::Open | State::HalfOpen, State::Open | State::HalfOpen)
        ) {
            core.trip = None;
        }
        match to {
            State::Open => {
                core.backoff = if from == State::HalfOpen {
                    self.backed_off(core.backoff)
                } else {
                    self.config.settings.timeout
                };
                core.open_duration = self.jittered(core.backoff, core.open_count);
                let at = now.get();
                // Not from a guess: from the clock's next good reading.
                core.open_pending = now.failed.get();
                core.open_until = if core.open_pending {
                    core.open_duration
                } else {
                    at.saturating_add(core.open_duration)
                };
                core.open_count = core.open_count.saturating_add(1);
            }
            State::Closed => core.backoff = self.config.settings.timeout,
            State::HalfOpen | State::ForcedOpen | State::Disabled => {}
        }
        self.publish(core);
        if from == to {
            return;
        }
        // The store and the state gauge hear of it here, under the lock, so
        // in the order of the transitions and with no wait behind a slow
        // listener; both are quick and must not call into the breaker.
        if !changes.from_store {
            if let Some(shared) = self.membership() {
                let open_for = if to == State::Open {
                    core.open_duration
                } else {
                    Duration::ZERO
                };
                now.contain("SharedState::transitioned", || {
                    shared.transitioned(from, to, open_for)
                });
            }
        }
        // observe: the state gauge
        now.contain("the metrics recorder", || self.exporter.state(to));
        // The log and the listeners hear of it once the lock is released,
        // in the order of this queue.
        if core.announcements.len() >= MAX_PENDING_ANNOUNCEMENTS {
            core.announcements.remove(0);
            changes.dropped += 1;
        }
        core.announcements.push(Announcement {
            from,
            to,
            period: ended,
            tripped_by: None,
            generation: core.generation,
            from_store: changes.from_store,
        });
        changes.made = Some(match changes.made {
            Some((first, _)) => (first, core.generation),
            None => (core.generation, core.generation),
        });
    }

    /// `nominal` spread by the jitter: the draw numbered `draw` of this
    /// breaker's sequence, uniform in `nominal × [1 - jitter, 1 + jitter)`.
    pub(super) fn jittered(&self, nominal: Duration, draw: u64) -> Duration {
        let jitter = self.config.settings.jitter;
        if jitter == 0.0 {
            return nominal;
        }
        let bits = mix(self.jitter_seed ^ mix(draw));
        // The top 53 bits: a uniform fraction in [0, 1).
        let uniform = (bits >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + jitter * (2.0 * uniform - 1.0);
        Duration::try_from_secs_f64(nominal.as_secs_f64() * factor)
            .unwrap_or(nominal)
            // A period of a nanosecond spread by 99 % must not vanish.
            .max(nominal.min(Duration::from_nanos(1)))
    }

    /// The open period after one more re-open without a close.
    pub(super) fn backed_off(&self, current: Duration) -> Duration {
        let Some(factor) = self.config.settings.backoff_multiplier else {
            return self.config.settings.timeout;
        };
        let cap = self.config.effective_backoff_max();
        let next = current.as_secs_f64() * factor;
        if !next.is_finite() || next >= cap.as_secs_f64() {
            return cap;
        }
        Duration::try_from_secs_f64(next).map_or(cap, |d| d.min(cap))
    }

    /// Runs `with` on the state after the time-driven transitions, then
    /// announces any transition.
    pub(super) fn inspect<R>(&self, with: impl FnOnce(&mut Core, &Now) -> R) -> R {
        let mut changes = Changes::default();
        let result = self.locked(&mut changes, |core, now, changes| {
            self.advance(core, now, changes);
            with(core, now)
        });
        if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
        result
    }

    pub(super) fn command(&self, to: State) {
        let mut changes = Changes::default();
        self.locked(&mut changes, |core, now, changes| {
            self.set_state(core, to, now, changes);
            Self::abandon_probes(core);
        });
        if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
    }
}
