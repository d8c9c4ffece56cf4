//! A window's calls off the lock: the lane of successes, the allowance of
//! failures, and the look that takes them into the window.
//!
//! At each look a closed, judged window works out its *allowance*: how
//! many failures it can take, all in a row, before a rate would reach its
//! threshold. The look splits it into shares, one per stripe whose owner
//! failed at either of the last two looks (and the looking thread's), each
//! at most a log's length, and writes each share into its stripe's
//! `Log::share`. A failure of a thread that owns its stripe writes where
//! it fell among its successes into its log and takes one of its share
//! with a compare-and-swap on that word, on its own cache line. The next
//! look swaps every share back: a failure published before the swap is
//! taken in, one after it finds its share gone and takes the lock. The
//! owners never write a word another core writes on the way, so a
//! window's failures scale with the cores.
//!
//! Beside `max_failures`, the streak is not the look's: a failure counts
//! in the tagged word first, in the calls' real order (see
//! `streak_in_word` and `failure_lock_free`). A look takes other threads'
//! successes in before a thread's logged failures, which is no order for
//! a streak: calls made one after another on two threads would trip it
//! early.

use super::*;

impl CircuitBreaker {
    /// A window's failure, not slow, of the period `generation`, ended at
    /// `ended`: recorded without the lock when the calling thread owns its
    /// stripe and its share of the allowance has a failure left for this
    /// period. It goes into the stripe's log, after the owner's successes so
    /// far, for the window to take in at its next look (which counts it).
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
        let mut share = log.share.load(Ordering::Relaxed);
        // A look is taking the log in and will grant the next share: a few
        // hundred nanoseconds, shorter than waiting for its lock.
        let mut spins = 0;
        while share == LOOKING && spins < LOOKING_SPINS && !cfg!(loom) {
            std::hint::spin_loop();
            spins += 1;
            share = log.share.load(Ordering::Relaxed);
        }
        let (tag, n) = (share >> 32, share & LOGGED_MASK);
        if share_left(share) == 0 || tag >> 16 != generation & 0xFFFF || n >= LOG_LEN as u64 {
            return false;
        }
        let successes = stripe.owned.successes.load(Ordering::Relaxed);
        if n == 0 {
            log.first.store(successes, Ordering::Relaxed);
        } else {
            let gap = successes.wrapping_sub(log.cursor.load(Ordering::Relaxed));
            let Ok(gap) = u8::try_from(gap) else {
                return false;
            };
            log.gaps[n as usize - 1].store(gap, Ordering::Relaxed);
        }
        log.cursor.store(successes, Ordering::Relaxed);
        // One failure less left, one more logged: publishes the entry to the
        // look, unless a look took the share back first.
        log.share
            .compare_exchange(
                share,
                share - ONE_LEFT + 1,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
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
        // Kept here, under the lock, only beside a window without
        // `max_failures` (see `streak_in_word`): the word's count took
        // this failure already, or this success ends it below.
        let streak = if self.streak_in_word { 0 } else { core.streak };
        if closed {
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
            if !self.streak_in_word {
                core.streak = streak.saturating_add(1);
            }
            self.add(|c| &c.failures, Ordering::Release);
        } else {
            self.add(|c| &c.successes, Ordering::Release);
            core.folded = core.folded.wrapping_add(1);
            if self.streak(core) > 0 {
                self.clear_failure_streak(core, core.folded.wrapping_sub(1));
            }
        }
        self.open_lane(core, at);
        true
    }

    /// Takes in what the lock-free path recorded since the window last
    /// looked: the successes counted in the stripes and the failures in the
    /// stripes' logs, in order (see `take_in`). Takes every share back
    /// first: a failure published before is taken in, one after finds its
    /// share gone and takes the lock. Every locked section of a breaker
    /// with a window begins here.
    pub(super) fn fold(&self, core: &mut Core) {
        // Each stripe's failures logged under its share.
        let mut logged = [0u64; MAX_STRIPES];
        let mut any = false;
        core.active_before = core.active;
        core.active = 0;
        for (i, (stripe, logged)) in self.stripes.iter().zip(logged.iter_mut()).enumerate() {
            // A swap only of a share: a stripe without one keeps its line.
            if stripe.log.share.load(Ordering::Relaxed) == 0 {
                continue;
            }
            // Failures that find `LOOKING` wait for this look's grant.
            *logged = logged_in(stripe.log.share.swap(LOOKING, Ordering::Acquire));
            if *logged > 0 {
                any = true;
                core.active |= 1 << i;
            }
        }
        // One reading of each stripe's successes, after the swaps, which
        // every run below adds up to.
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
        if !any && (new == 0 || new > u64::MAX / 2) {
            return;
        }
        self.take_in(core, &logged, &owned, successes, new.min(u64::MAX / 2));
    }

    /// Takes `new` successes (the stripes' sum is now `successes`, their
    /// owned counts `owned`) and each stripe's `logged` failures into the
    /// window, the counts, the streak and the consecutive successes. One
    /// thread's calls go in in the order it made them: its failures at the
    /// places their log entries give among its own successes. Calls of
    /// different threads recorded since the last look go in thread by
    /// thread: first the successes that came before any logged failure,
    /// then each stripe's failures and the successes between and after
    /// them.
    pub(super) fn take_in(
        &self,
        core: &mut Core,
        logged: &[u64],
        owned: &[u64],
        successes: u64,
        new: u64,
    ) {
        // The owner's success count at each logged failure: the first, and
        // the gaps on from it.
        let entries = |log: &Log, count: u64| {
            let mut at = [0u64; LOG_LEN];
            if count > 0 {
                at[0] = log.first.load(Ordering::Relaxed);
                for n in 1..count as usize {
                    let gap = log.gaps[n - 1].load(Ordering::Relaxed);
                    at[n] = at[n - 1].wrapping_add(u64::from(gap));
                }
            }
            at
        };
        // The successes after each stripe's first logged failure.
        let mut before_failures = new;
        for ((stripe, &owned), &count) in self.stripes.iter().zip(owned).zip(logged) {
            if count > 0 {
                let first = stripe.log.first.load(Ordering::Relaxed);
                let after = owned.wrapping_sub(first).min(u64::MAX / 2);
                before_failures = before_failures.saturating_sub(after);
            }
        }
        let mut position = core.folded;
        self.take_in_successes(core, &mut position, before_failures);
        for ((stripe, &owned), &count) in self.stripes.iter().zip(owned).zip(logged) {
            if count == 0 {
                continue;
            }
            let at = entries(&stripe.log, count);
            // The window's record of them: the failures, each followed by
            // the successes before the next, recorded together.
            let mut runs = [0u64; LOG_LEN + 1];
            for n in 0..count as usize {
                if !self.streak_in_word {
                    core.streak = core.streak.saturating_add(1);
                }
                let next = if n + 1 == count as usize {
                    owned
                } else {
                    at[n + 1]
                };
                let between = next.wrapping_sub(at[n]).min(u64::MAX / 2);
                self.count_successes(core, &mut position, between);
                runs[n + 1] = between;
            }
            if core.state == State::Closed {
                if let Some(window) = core.window.as_mut() {
                    window.record_runs(&runs[..=count as usize], core.pending_epoch);
                }
            }
            // The lifetime count, as the locked path adds a failure: the
            // owner did not count them, so that a failure is counted when
            // the window takes it in.
            stripe.shared.failures.fetch_add(count, Ordering::Release);
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
        self.count_successes(core, position, count);
        if count > 0 && core.state == State::Closed {
            if let Some(window) = core.window.as_mut() {
                window.record_successes(count, core.pending_epoch);
            }
        }
    }

    /// `count` successes in the counts (the window aside), the first at
    /// lifetime position `position`: the first ends a failure streak.
    pub(super) fn count_successes(&self, core: &mut Core, position: &mut u64, count: u64) {
        if count == 0 {
            return;
        }
        if core.streak > 0 && !self.streak_in_word {
            self.clear_failure_streak(core, *position);
        }
        *position = position.wrapping_add(count);
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
        self.share_out(core, left);
    }

    /// Splits `left` failures into shares for the stripes whose owners
    /// failed under the last two looks' shares, and the looking thread's
    /// if it owns its stripe (a thread that has claimed none is not given
    /// one), at most a log's length each. Every other stripe that a look
    /// took a share from (`LOOKING`) is left with none.
    pub(super) fn share_out(&self, core: &mut Core, left: u64) {
        let mut takers = u32::from(core.active | core.active_before);
        // Without claiming one: a thread that only looks keeps none.
        if let Some(caller) = claimed_stripe().filter(|at| at & OWNED != 0) {
            takers |= 1 << (caller & !OWNED & (self.stripes.len() - 1));
        }
        let mut left = if takers == 0 { 0 } else { left };
        let tag = if left > 0 { self.grant_tag(core) } else { 0 };
        for (i, stripe) in self.stripes.iter().enumerate() {
            let mut share = 0;
            if takers & 1 << i != 0 && left > 0 {
                let count = u64::from(takers.count_ones());
                let grant = left.div_ceil(count).min(LOG_LEN as u64);
                takers &= !(1 << i);
                left -= grant;
                share = share_word(tag, grant);
            }
            if share != 0 || stripe.log.share.load(Ordering::Relaxed) != 0 {
                stripe.log.share.store(share, Ordering::Release);
            }
        }
    }

    /// How many failures the lock-free path may record before the next
    /// look: as many as the window, at its worst (failures in a row, and
    /// of the calls they push out only those that surely leave: a full
    /// count window's oldest), can take without reaching a threshold, at
    /// most what the shares hold. None outside the lane.
    /// (The streak is no limit: beside `max_failures` the tagged word's
    /// compare-and-swap keeps it below, see `streak_in_word`.)
    pub(super) fn allowance(&self, core: &mut Core, now: Duration, lane: u64) -> u64 {
        // Without `fast_closed`, every ending takes the lock: a grant would
        // go unused.
        if core.state != State::Closed || lane == 0 || !self.fast_closed {
            return 0;
        }
        let Some(window) = core.window.as_mut() else {
            return 0;
        };
        // No more than the shares can hold.
        let most = (LOG_LEN * self.stripes.len()) as u64;
        let tally = window.tally(now);
        let capacity = window.capacity();
        if let Some(cut) = window.cut(capacity).filter(|_| tally.calls == capacity) {
            // A full count window: its calls stay at its capacity, so the
            // failures alone decide (and the slow calls cannot rise).
            if tally.slow >= cut.slow {
                return 0;
            }
            if tally.failures >= cut.failures {
                return 0;
            }
            let room = cut.failures - tally.failures - 1;
            return window.failures_in_a_row(room).min(most);
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

    /// A tag for the next shares: the low 16 bits of the generation above
    /// a count of the looks that shared, never 0 or 1 (no share, and
    /// `LOOKING`). The owner's compare-and-swap expects the tag it read, so
    /// a share taken back and granted again fails it; and a failure of an
    /// older period finds another generation.
    pub(super) fn grant_tag(&self, core: &mut Core) -> u64 {
        core.grants = core.grants.wrapping_add(1).max(2);
        (core.generation & 0xFFFF) << 16 | u64::from(core.grants)
    }
}
