//! Recording a call's ending: the lock-free path (with the success that
//! ends a failure streak), and the state machine's path.

use super::*;

impl CircuitBreaker {
    /// Ends an admitted call: the permit's only way back into the breaker.
    #[inline(always)]
    pub(crate) fn finish(
        &self,
        ticket: u64,
        started: u64,
        lease: Option<ProbeLease>,
        ending: Ending,
    ) {
        // Not a probe (bit 0 clear), and of the current generation.
        if ticket & 1 == 0 {
            let word = self.hot.word.load(Ordering::Acquire);
            if word & FAST != 0 && word >> GEN_SHIFT == ticket >> 1 {
                // The coarse clock's reading at the end, where a slow-call
                // policy or a time window needs it; a slow call takes the
                // lock (`u64::MAX`, a clock that failed, reads as slow).
                let ended = if self.slow_after != u64::MAX || self.time_window {
                    self.coarse_start()
                } else {
                    0
                };
                let done = !self.is_slow_at(started, ended)
                    && match ending {
                        // A success the window takes in later, with no
                        // failure count to clear.
                        Ending::Success
                            if (!self.windowed || self.in_lane(ended))
                                && (!self.streak_in_word
                                    || self.hot.consecutive.load(Ordering::Relaxed)
                                        & COUNT_MASK
                                        == 0) =>
                        {
                            self.add(|c| &c.successes, Ordering::Release);
                            true
                        }
                        // The first success after failures ends the streak
                        // (a window takes it in later).
                        Ending::Success
                            if self.streak_in_word && (!self.windowed || self.in_lane(ended)) =>
                        {
                            self.finish_streak_end(ticket >> 1)
                        }
                        // A failure that does not trip (the one that trips
                        // takes the lock); beside a window, it goes on to
                        // the window as any of its failures does.
                        Ending::Failure if self.streak_in_word => {
                            self.failure_lock_free(word, ticket >> 1, ended)
                        }
                        // A window's ending, judged in a short locked
                        // section.
                        Ending::Success | Ending::Failure if self.windowed => {
                            let failed = ending == Ending::Failure;
                            (failed && self.failure_allowed(ticket >> 1, ended))
                                || self.finish_windowed(ticket >> 1, ended, failed)
                        }
                        _ => false,
                    };
                if done {
                    // observe: a sampled call's duration
                    if observe::SAMPLES_DURATIONS && started != NOT_TIMED && started & 1 == 1 {
                        self.sample_end(started);
                    }
                    return;
                }
            }
        }
        self.finish_locked(ticket >> 1, started, ticket & 1 == 1, lease, ending);
    }

    /// Whether a window's success that ended at `ended` (the coarse clock's
    /// reading, where a time window needs it) may be counted in its stripe
    /// alone: the lane is open, and the end reads within the lane's bucket
    /// (not before it: a clock set back, or a reading taken before the
    /// window moved on).
    #[inline(always)]
    pub(super) fn in_lane(&self, ended: u64) -> bool {
        let lane = self.hot.lane.load(Ordering::Acquire);
        ended < lane && (lane == u64::MAX || lane - ended <= self.lane_span)
    }

    /// Whether a call that started at `started` and ended at `ended`, both
    /// in nanoseconds of the clock (as [`Permit::started`] keeps the
    /// start), was slow.
    #[inline(always)]
    pub(super) fn is_slow_at(&self, started: u64, ended: u64) -> bool {
        self.slow_after != u64::MAX
            && started != NOT_TIMED
            && ended.saturating_sub(started & !1) >= self.slow_after
    }

    /// The first success after failures of a breaker without a window,
    /// of the period `generation`, not slow: it ends the failure streak
    /// with a compare-and-swap of the period's consecutive count to zero,
    /// and marks where consecutive successes start (`Hot::streak_end`: the
    /// lifetime successes before it, plus one; the next locked section
    /// takes it in), as `on_success` does on the locked path. `false` leaves it to the locked path: another period, or a
    /// failure counted in between.
    #[inline(never)]
    pub(super) fn finish_streak_end(&self, generation: u64) -> bool {
        let tag = (generation & COUNT_MASK) << 32;
        // The successes before it, read before the count it clears: read
        // after the compare-and-swap, they would take in the successes of
        // other threads made since (after another failure, or in the period
        // a transition began), and the mark would leave them out of the
        // consecutive successes.
        let before = self.sum(|c| &c.successes);
        let word = self.hot.consecutive.load(Ordering::Acquire);
        if word & !COUNT_MASK != tag {
            return false;
        }
        if word & COUNT_MASK != 0 {
            if self
                .hot
                .consecutive
                .compare_exchange(word, tag, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            // Plus one: 0 is no mark.
            self.hot
                .streak_end
                .fetch_max(before.wrapping_add(1), Ordering::Release);
        }
        self.add(|c| &c.successes, Ordering::Release);
        true
    }

    /// Takes in where the lock-free path last ended a failure streak
    /// (`Hot::streak_end`), as the current period's successes before it:
    /// every locked section of a breaker without a window begins here, so
    /// that a stale call's correction of the period, made under the lock,
    /// comes after the mark it follows.
    pub(super) fn take_streak_end(&self, core: &mut Core) {
        if self.hot.streak_end.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mark = self.hot.streak_end.swap(0, Ordering::Acquire);
        if mark != 0 {
            let period = mark.wrapping_sub(1).saturating_sub(core.base.successes);
            core.success_mark = core.success_mark.max(period);
        }
    }

    /// A success came after failures: the streak of failures ends, and
    /// consecutive successes count from `before`, the lifetime successes
    /// before it.
    pub(super) fn clear_failure_streak(&self, core: &mut Core, before: u64) {
        if !self.streak_in_word {
            core.success_mark = before.wrapping_sub(core.base.successes);
            core.streak = 0;
        } else {
            // The lock-free path may have ended the streak since it was
            // read (and marked where it ended, after `before`): the mark
            // is this success's only if this swap ends it.
            let ended = self
                .hot
                .consecutive
                .swap((core.generation & COUNT_MASK) << 32, Ordering::AcqRel);
            if ended & COUNT_MASK != 0 {
                core.success_mark = before.wrapping_sub(core.base.successes);
            }
        }
    }

    /// The current period's consecutive failures.
    pub(super) fn streak(&self, core: &Core) -> u64 {
        if !self.streak_in_word {
            core.streak
        } else {
            self.consecutive_failures(core.generation)
        }
    }

    /// A failure on the lock-free path of the period `generation` (ended
    /// at `ended`, where a window needs it), if it does not trip: counted
    /// in the streak first, in the calls' real order; beside a window, then
    /// logged for it or judged on it under the lock. If the window would
    /// trip on it, its count in the streak is taken back, for the locked
    /// path to count it there. Out of line, so that the inlined success
    /// path stays small.
    #[inline(never)]
    pub(super) fn failure_lock_free(&self, word: u64, generation: u64, ended: u64) -> bool {
        let below = if word & STATE_MASK == DISABLED {
            u64::MAX
        } else {
            self.trip_at
        };
        if !self.add_consecutive_failure(generation, below) {
            return false;
        }
        if !self.windowed {
            self.add(|c| &c.failures, Ordering::Release);
            return true;
        }
        if self.failure_allowed(generation, ended) || self.finish_windowed(generation, ended, true)
        {
            return true;
        }
        self.remove_consecutive_failure(generation);
        false
    }

    #[cold]
    #[inline(never)]
    pub(super) fn finish_locked(
        &self,
        id: u64,
        started: u64,
        probe: bool,
        lease: Option<ProbeLease>,
        ending: Ending,
    ) {
        let mut changes = Changes::default();
        // observe: the block yields a sampled call's duration
        let sampled = self.locked(&mut changes, |core, now, changes| {
            let slow = self.is_slow(started, now);
            // The time-driven transition first: the new period's base is
            // taken before this call is counted, so that the stale branch
            // below takes it out of the new period exactly once.
            self.advance(core, now, changes);
            self.count_total(core, ending, slow);
            if probe {
                Self::release_probe(core, id);
            }
            if id & GEN_MASK == core.generation {
                if probe {
                    core.probe_progress = now.progress();
                }
                match ending {
                    Ending::Success => self.on_success(core, now, slow, changes),
                    Ending::Failure | Ending::Timeout => {
                        self.on_failure(core, now, slow, ending == Ending::Timeout, changes)
                    }
                    Ending::Ignored => core.counts.ignored = core.counts.ignored.saturating_add(1),
                    Ending::Cancelled => {
                        core.counts.cancelled = core.counts.cancelled.saturating_add(1)
                    }
                }
            } else if ending != Ending::Cancelled {
                // Admitted before the last state change: its result says
                // nothing about the period that followed.
                core.totals.stale = core.totals.stale.saturating_add(1);
                // Counted in the lifetime totals, not the period's.
                match ending {
                    Ending::Success => core.base.successes = core.base.successes.wrapping_add(1),
                    Ending::Failure | Ending::Timeout => {
                        core.base.failures = core.base.failures.wrapping_add(1)
                    }
                    Ending::Ignored | Ending::Cancelled => {}
                }
            }
            // A sampled call (bit 0 set) with an outcome.
            (started != NOT_TIMED && started & 1 == 1 && ending != Ending::Cancelled)
                .then(|| Duration::from_nanos(nanos(now.get()).saturating_sub(started & !1)))
        });
        // observe: a sampled call's duration
        if let Some(elapsed) = sampled {
            self.exporter.duration(elapsed);
        }
        // The lease goes back to the membership that granted it, even if
        // the breaker has left the store since.
        if let (Some(lease), Some(shared)) = (lease, self.hot.shared.get()) {
            let outcome = ending.outcome();
            let ended = contained("SharedState::probe_ended", || {
                shared.probe_ended(lease, outcome)
            });
            if let Err(panic) = ended {
                self.report(&panic);
            }
        }
        if changes.is_quiet() {
            return;
        }
        if std::thread::panicking() {
            // Already unwinding (a permit dropped by a panicking call): a
            // listener's panic is reported, not raised again.
            self.announce_reporting(&changes);
        } else if let Some(payload) = self.announce(&changes) {
            panic::resume_unwind(payload);
        }
    }

    /// Whether a call that started at `started` (as [`Permit::started`]
    /// keeps it) was slow, ended by the clock's coarse reading: a coarse
    /// start is behind by at most the clock's coarse lag, and so is the
    /// end, so the duration is known to within that lag whichever reading
    /// the start was (the precise one for a call the histogram samples).
    pub(super) fn is_slow(&self, started: u64, now: &Now) -> bool {
        self.slow_after != u64::MAX
            && started != NOT_TIMED
            && self.is_slow_at(started, nanos(now.coarse()))
    }

    /// Lifetime totals count every ending, stale or not.
    pub(super) fn count_total(&self, core: &mut Core, ending: Ending, slow: bool) {
        let totals = &mut core.totals;
        let slot = match ending {
            Ending::Success => {
                self.add(|c| &c.successes, Ordering::Release);
                // Recorded here, not taken in at the window's next look.
                core.folded = core.folded.wrapping_add(1);
                None
            }
            Ending::Failure => {
                self.add(|c| &c.failures, Ordering::Release);
                None
            }
            Ending::Timeout => {
                totals.timeouts = totals.timeouts.saturating_add(1);
                self.add(|c| &c.failures, Ordering::Release);
                None
            }
            Ending::Ignored => Some(&mut totals.ignored),
            Ending::Cancelled => Some(&mut totals.cancelled),
        };
        if let Some(slot) = slot {
            // Wrapping, like the stripes: running calls are admissions less
            // endings modulo 2^64, exact even after 584 years at one call a
            // nanosecond.
            *slot = slot.wrapping_add(1);
        }
        if ending != Ending::Cancelled && slow {
            totals.slow_calls = totals.slow_calls.saturating_add(1);
        }
        // observe: the exporter's copy of the locked totals
        let (exporter, totals) = (&self.exporter, &core.totals);
        match ending {
            Ending::Timeout => exporter.locked_total(LockedTotal::Timeouts, totals.timeouts),
            Ending::Ignored => exporter.locked_total(LockedTotal::Ignored, totals.ignored),
            Ending::Cancelled => exporter.locked_total(LockedTotal::Cancelled, totals.cancelled),
            Ending::Success | Ending::Failure => {}
        }
        if slow {
            exporter.locked_total(LockedTotal::SlowCalls, totals.slow_calls);
        }
    }

    /// The time a window needs: only a time window reads the clock, its
    /// coarse reading, as the lock-free path does.
    pub(super) fn window_time(core: &Core, now: &Now) -> Duration {
        match core.window {
            Some(Window::Time(_)) => now.coarse(),
            _ => Duration::ZERO,
        }
    }

    pub(super) fn on_success(&self, core: &mut Core, now: &Now, slow: bool, changes: &mut Changes) {
        if self.streak(core) > 0 {
            // This success (counted already) is the first after failures.
            let successes = self.sums().successes;
            self.clear_failure_streak(core, successes.wrapping_sub(1));
        }
        let counts = &mut core.counts;
        counts.consecutive_successes = counts.consecutive_successes.saturating_add(1);
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                let at = Self::window_time(core, now);
                if let Some(window) = core.window.as_mut() {
                    window.record(at, false, slow);
                }
                if let Some(reason) = self.should_trip(core, now, self.streak(core)) {
                    self.trip(core, reason, now, changes);
                }
            }
            State::HalfOpen => {
                // A slow probe, where slowness can trip the breaker, shows
                // the dependency has not recovered.
                if slow && self.config.settings.slow_call_rate.is_some() {
                    self.set_state(core, State::Open, now, changes);
                } else if core.counts.consecutive_successes
                    >= u64::from(self.config.settings.success_threshold)
                {
                    self.set_state(core, State::Closed, now, changes);
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }

    pub(super) fn on_failure(
        &self,
        core: &mut Core,
        now: &Now,
        slow: bool,
        timeout: bool,
        changes: &mut Changes,
    ) {
        let period_successes = self.sums().successes.wrapping_sub(core.base.successes);
        core.success_mark = period_successes;
        // Under the lock nothing trips early: count it whatever the total.
        // The streak as this failure made it: a lock-free success that
        // overlaps it may clear the word before the policies read it, and
        // the failure that brought the streak to `max_failures` trips
        // whichever order the two then take.
        let streak = if self.streak_in_word {
            self.count_consecutive_failure(core.generation)
        } else {
            core.streak = core.streak.saturating_add(1);
            core.streak
        };
        let counts = &mut core.counts;
        counts.consecutive_successes = 0;
        if slow {
            counts.slow_calls = counts.slow_calls.saturating_add(1);
        }
        if timeout {
            counts.timeouts = counts.timeouts.saturating_add(1);
        }
        match core.state {
            State::Closed => {
                let at = Self::window_time(core, now);
                if let Some(window) = core.window.as_mut() {
                    window.record(at, true, slow);
                }
                if let Some(reason) = self.should_trip(core, now, streak) {
                    self.trip(core, reason, now, changes);
                    // The trip's record and its announcement (the
                    // listeners, the log, the recent transitions) alike.
                    let periods = core.trip.as_mut().map(|trip| &mut trip.period);
                    for period in periods
                        .into_iter()
                        .chain(core.announcements.last_mut().map(|last| &mut last.period))
                    {
                        if period.consecutive_failures < streak {
                            period.consecutive_failures = streak;
                            period.consecutive_successes = 0;
                        }
                    }
                }
            }
            State::HalfOpen => self.set_state(core, State::Open, now, changes),
            State::Open | State::ForcedOpen | State::Disabled => {}
        }
    }
}
