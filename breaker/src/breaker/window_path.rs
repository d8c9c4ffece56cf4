//! A window's calls off the lock: the lane of successes, the allowance of
//! failures, and the look that takes them into the window.

use super::*;

impl CircuitBreaker {
    /// A window's failure, not slow, of the period `generation`, ended at
    /// `ended`: recorded without the lock when the calling thread owns its
    /// stripe and the allowance has a failure left for this period (see
    /// `Hot::allowance`). It goes into the stripe's log, after the owner's
    /// successes so far, for the window to take in at its next look.
    #[inline(never)]
    pub(super) fn failure_allowed(&self, generation: u64, ended: u64) -> bool {
        if !self.in_lane(ended) {
            return false;
        }
        let at = thread_stripe();
        if at & OWNED == 0 {
            return false;
        }
        let stripe = &self.stripes[at & (self.stripes.len() - 1)];
        let log = &stripe.log;
        let mut allowance = self.hot.allowance.load(Ordering::Relaxed);
        // A look is taking the log in and will grant the next allowance: a
        // few hundred nanoseconds, shorter than waiting for its lock.
        let mut spins = 0;
        while allowance == LOOKING && spins < LOOKING_SPINS && !cfg!(loom) {
            std::hint::spin_loop();
            spins += 1;
            allowance = self.hot.allowance.load(Ordering::Relaxed);
        }
        let tag = allowance >> 32;
        let logged = log.logged.load(Ordering::Relaxed);
        // Entries under this allowance so far (none if the log is another's).
        let n = if logged >> 32 == tag {
            logged & COUNT_MASK
        } else {
            0
        };
        let successes = stripe.owned.successes.load(Ordering::Relaxed);
        let gap = successes.wrapping_sub(log.last.load(Ordering::Relaxed));
        if tag >> 16 != generation & 0xFFFF
            || n >= LOG_LEN as u64
            || (n > 0 && gap > u64::from(u32::MAX))
        {
            return false;
        }
        loop {
            if allowance & LEFT_MASK == 0 {
                return false;
            }
            match self.hot.allowance.compare_exchange_weak(
                allowance,
                allowance - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                // Another allowance since: the entries counted above may
                // not be its own.
                Err(now) if now >> 32 != tag => return false,
                Err(now) => allowance = now,
            }
        }
        if n > 0 {
            log.gaps[n as usize - 1].store(gap as u32, Ordering::Relaxed);
        }
        log.last.store(successes, Ordering::Relaxed);
        let failures = &stripe.owned.failures;
        failures.store(
            failures.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        // Publishes the entry and the count to the look that takes it in.
        log.logged.store(tag << 32 | (n + 1), Ordering::Release);
        true
    }

    /// A window's success or failure, not slow, of the period
    /// `generation`, ended at `ended` (the coarse clock's reading, where a
    /// time window needs it): judged and recorded in a short locked section
    /// that takes in the successes counted lock-free since the last look
    /// first. `false` leaves the call to the locked path: it trips the
    /// breaker, or belongs to another period or state.
    #[inline(never)]
    pub(super) fn finish_windowed(&self, generation: u64, ended: u64, failed: bool) -> bool {
        let mut core = lock(&self.core);
        let core = &mut *core;
        let closed = match core.state {
            State::Closed => true,
            State::Disabled => false,
            _ => return false,
        };
        if core.generation != generation || ended == u64::MAX {
            return false;
        }
        let at = Duration::from_nanos(ended);
        if let Some((epoch, _)) = core.window.as_ref().and_then(|w| w.bucket_at(at)) {
            // Read before the window's last look had moved to a later bucket
            // (or the clock was set back): recorded at `at`, the call would
            // drop the later buckets as if from the future. The locked path
            // reads the clock under the lock.
            if epoch < core.pending_epoch {
                return false;
            }
        }
        self.fold(core);
        let streak = core.streak;
        if closed {
            if failed && streak.saturating_add(1) >= self.trip_at {
                return false;
            }
            let Some(window) = core.window.as_mut() else {
                return false;
            };
            let tally = window.tally_with(at, failed, false);
            if self.rate_verdict(tally, window).is_some() {
                return false;
            }
            window.record(at, failed, false);
        }
        if failed {
            core.streak = streak.saturating_add(1);
            self.add(|c| &c.failures, Ordering::Release);
        } else {
            self.add(|c| &c.successes, Ordering::Release);
            core.folded = core.folded.wrapping_add(1);
            if streak > 0 {
                self.clear_failure_streak(core, core.folded.wrapping_sub(1));
            }
        }
        self.open_lane(core, at);
        true
    }

    /// Takes in what the lock-free path recorded since the window last
    /// looked: the successes counted in the stripes and the failures in the
    /// stripes' logs, in order (see `take_in`). Takes back what is left of
    /// the allowance first, and waits for the failures it let through to
    /// reach their logs: a few instructions, which take no lock. Every
    /// locked section of a breaker with a window begins here.
    pub(super) fn fold(&self, core: &mut Core) {
        // Only a grant is taken back: a swap of a 0 would write to the line
        // for nothing. A grant is stored under this lock alone, so a 0 read
        // here stays 0 until this section grants.
        let allowance = match self.hot.allowance.load(Ordering::Relaxed) {
            0 => 0,
            // Failures that find `LOOKING` wait for this look's grant
            // rather than for the lock (see `failure_allowed`).
            _ => self.hot.allowance.swap(LOOKING, Ordering::Acquire),
        };
        let tag = allowance >> 32;
        let used = (allowance >> 16 & LEFT_MASK).saturating_sub(allowance & LEFT_MASK);
        let mut spins = 0u32;
        while self.logged(tag) < used {
            spins += 1;
            // Under loom every turn yields, so that the model runs the
            // failure that is on its way.
            if spins < 64 && !cfg!(loom) {
                std::hint::spin_loop();
            } else {
                crate::sync::yield_now();
            }
        }
        // One reading of each stripe's successes, which every run below
        // adds up to.
        let mut owned = [0u64; MAX_STRIPES];
        let mut successes = 0u64;
        for (stripe, owned) in self.stripes.iter().zip(owned.iter_mut()) {
            *owned = stripe.owned.successes.load(Ordering::Acquire);
            successes = successes
                .wrapping_add(*owned)
                .wrapping_add(stripe.shared.successes.load(Ordering::Acquire));
        }
        let new = successes.wrapping_sub(core.folded);
        // Nothing new (or, defensively, fewer than taken in).
        if used == 0 && (new == 0 || new > u64::MAX / 2) {
            return;
        }
        self.take_in(core, tag, &owned, successes, new.min(u64::MAX / 2));
    }

    /// The failures logged under the allowance tagged `tag` (0: none
    /// granted), over every stripe.
    pub(super) fn logged(&self, tag: u64) -> u64 {
        if tag == 0 {
            return 0;
        }
        self.stripes.iter().fold(0, |sum: u64, stripe| {
            let logged = stripe.log.logged.load(Ordering::Acquire);
            if logged >> 32 == tag {
                sum + (logged & COUNT_MASK)
            } else {
                sum
            }
        })
    }

    /// Takes `new` successes (the stripes' sum is now `successes`, their
    /// owned counts `owned`) and the failures logged under the allowance
    /// tagged `tag` into the window, the streak and the consecutive
    /// successes. One thread's calls go in in the order it made them: its
    /// failures at the places their log entries give among its own
    /// successes. Calls of different threads recorded since the last look
    /// go in thread by thread: first the successes that came before any
    /// logged failure, then each stripe's failures and the successes
    /// between and after them.
    pub(super) fn take_in(
        &self,
        core: &mut Core,
        tag: u64,
        owned: &[u64],
        successes: u64,
        new: u64,
    ) {
        // The owner's success count at each logged failure: the latest,
        // and the gaps back from it.
        let entries = |log: &Log, count: u64| {
            let mut at = [0u64; LOG_LEN];
            let count = count as usize;
            if count > 0 {
                at[count - 1] = log.last.load(Ordering::Relaxed);
                for n in (1..count).rev() {
                    let gap = log.gaps[n - 1].load(Ordering::Relaxed);
                    at[n - 1] = at[n].wrapping_sub(u64::from(gap));
                }
            }
            at
        };
        // Each stripe's entries under this allowance.
        let count = |log: &Log| {
            let logged = log.logged.load(Ordering::Acquire);
            if tag != 0 && logged >> 32 == tag {
                (logged & COUNT_MASK).min(LOG_LEN as u64)
            } else {
                0
            }
        };
        // The successes after each stripe's first logged failure.
        let mut before_failures = new;
        for (stripe, &owned) in self.stripes.iter().zip(owned) {
            let logged = count(&stripe.log);
            if logged > 0 {
                let first = entries(&stripe.log, logged)[0];
                let after = owned.wrapping_sub(first).min(u64::MAX / 2);
                before_failures = before_failures.saturating_sub(after);
            }
        }
        let mut position = core.folded;
        self.take_in_successes(core, &mut position, before_failures);
        for (stripe, &owned) in self.stripes.iter().zip(owned) {
            let log = &stripe.log;
            let logged = count(log);
            if logged == 0 {
                continue;
            }
            let at = entries(log, logged);
            for n in 0..logged as usize {
                self.take_in_failure(core);
                let next = if n + 1 == logged as usize {
                    owned
                } else {
                    at[n + 1]
                };
                let between = next.wrapping_sub(at[n]).min(u64::MAX / 2);
                self.take_in_successes(core, &mut position, between);
            }
            // Taken in: the owner starts afresh under the next allowance.
            log.logged.store(0, Ordering::Relaxed);
        }
        // Whatever the stripes counted is taken in now, whether or not the
        // runs above added up to it (defensively: they do).
        let rest = successes.wrapping_sub(position);
        if rest <= u64::MAX / 2 {
            self.take_in_successes(core, &mut position, rest);
        }
        core.folded = successes;
    }

    /// `count` successes, the first at lifetime position `position`.
    pub(super) fn take_in_successes(&self, core: &mut Core, position: &mut u64, count: u64) {
        if count == 0 {
            return;
        }
        if core.streak > 0 {
            self.clear_failure_streak(core, *position);
        }
        *position = position.wrapping_add(count);
        if core.state == State::Closed {
            if let Some(window) = core.window.as_mut() {
                window.record_successes(count, core.pending_epoch);
            }
        }
    }

    /// A failure the lock-free path logged.
    pub(super) fn take_in_failure(&self, core: &mut Core) {
        core.streak = core.streak.saturating_add(1);
        if core.state == State::Closed {
            if let Some(window) = core.window.as_mut() {
                window.record_failure_at(core.pending_epoch);
            }
        }
    }

    /// Opens or closes the lane of lock-free successes (see `Hot::lane`)
    /// after a look at the window, at `now` (the coarse clock's reading).
    pub(super) fn open_lane(&self, core: &mut Core, now: Duration) {
        let lane = match (core.state, core.window.as_mut()) {
            (State::Disabled, _) => u64::MAX,
            (State::Closed, Some(window)) => {
                let enough = u64::from(self.config.settings.minimum_calls).min(window.capacity());
                let tally = window.tally(now);
                // A success only lowers a judged window's rates; but a time
                // window's calls that slid out may have left it at a
                // threshold with no call to judge it, and the next success
                // trips it then.
                let success = crate::window::Tally {
                    calls: tally.calls.saturating_add(1).min(window.capacity()),
                    ..tally
                };
                let judged = tally.calls >= enough && self.rate_verdict(success, window).is_none();
                match window.bucket_at(now) {
                    // Calls leave a time window only as its buckets end.
                    Some((epoch, end)) => {
                        core.pending_epoch = epoch;
                        if judged {
                            end
                        } else {
                            0
                        }
                    }
                    None if judged => u64::MAX,
                    None => 0,
                }
            }
            _ => 0,
        };
        if self.hot.lane.load(Ordering::Relaxed) != lane {
            self.hot.lane.store(lane, Ordering::Release);
        }
        let left = self.allowance(core, now, lane);
        if left > 0 {
            let granted = self.grant_tag(core) << 32 | left << 16 | left;
            self.hot.allowance.store(granted, Ordering::Release);
        } else if self.hot.allowance.load(Ordering::Relaxed) != 0 {
            // This look's `LOOKING`: no allowance until the next look.
            self.hot.allowance.store(0, Ordering::Release);
        }
    }

    /// How many failures in a row the lock-free path may record before the
    /// next look (see `Hot::allowance`): as many as the window, at its
    /// worst (each failure adding to its failures and none leaving), and
    /// the `max_failures` streak can take without reaching a threshold; at
    /// most a log's length. None outside the lane.
    pub(super) fn allowance(&self, core: &mut Core, now: Duration, lane: u64) -> u64 {
        // Without `fast_closed`, every ending takes the lock: a grant would
        // go unused.
        if core.state != State::Closed || lane == 0 || !self.fast_closed {
            return 0;
        }
        let Some(window) = core.window.as_mut() else {
            return 0;
        };
        let tally = window.tally(now);
        let capacity = window.capacity();
        let most = self
            .trip_at
            .saturating_sub(core.streak)
            .saturating_sub(1)
            .min(MOST_ALLOWED);
        if let Some(cut) = window.cut(capacity).filter(|_| tally.calls == capacity) {
            // A full count window: its calls stay at its capacity, so the
            // failures alone decide (and the slow calls cannot rise).
            if tally.slow >= cut.slow {
                return 0;
            }
            return cut
                .failures
                .saturating_sub(tally.failures)
                .saturating_sub(1)
                .min(most);
        }
        // The worst the window can be after `more` failures judges it;
        // that only grows with `more`, so the last `more` it does not trip
        // on is found by halving.
        let trips = |window: &Window, more: u64| {
            let calls = tally.calls.saturating_add(more).min(capacity);
            let worst = crate::window::Tally {
                calls,
                failures: tally.failures.saturating_add(more).min(calls),
                slow: tally.slow,
            };
            self.rate_verdict(worst, window).is_some()
        };
        let (mut low, mut high) = (0, most);
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            if trips(window, mid) {
                high = mid - 1;
            } else {
                low = mid;
            }
        }
        low
    }

    /// A tag for the next allowance: the low 16 bits of the generation
    /// above a count of the allowances granted, never 0 (no allowance).
    /// Two allowances in a row never share a tag, and each look takes in
    /// every entry of the allowance it ends, so an entry is never taken
    /// twice.
    pub(super) fn grant_tag(&self, core: &mut Core) -> u64 {
        core.grants = core.grants.wrapping_add(1).max(1);
        (core.generation & 0xFFFF) << 16 | u64::from(core.grants)
    }
}
