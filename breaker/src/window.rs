//! Sliding windows for the rate policies, each with its running totals:
//! a count window keeps its failed and slow calls in a ring (a run of
//! successes, however long, is one step, and each call that slides out
//! costs one), a time window its buckets (expired whole, O(buckets) at
//! worst after a long idle period).

use std::time::Duration;

use crate::config::WindowKind;

/// Calls, failures and slow calls in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.calls += other.calls;
        self.failures += other.failures;
        self.slow += other.slow;
    }

    fn sub(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    fn one(failed: bool, slow: bool) -> Tally {
        Tally {
            calls: 1,
            failures: u64::from(failed),
            slow: u64::from(slow),
        }
    }
}

/// The window of a breaker whose config has one.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

/// The fewest failures and slow calls that bring a full count window to
/// its rate thresholds (`u64::MAX`: never), as the rates compare them
/// (`count as f64 / calls as f64 >= rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The fewest of `calls` calls whose share reaches `rate`, as the rate
/// policies divide: `u64::MAX` when none (or no rate).
fn least_reaching(calls: u64, rate: Option<f64>) -> u64 {
    let Some(rate) = rate else {
        return u64::MAX;
    };
    let reaches = |n: u64| n as f64 / calls as f64 >= rate;
    if calls == 0 || !reaches(calls) {
        return u64::MAX;
    }
    // The share grows with the count: the first count that reaches.
    let (mut low, mut high) = (0, calls);
    while low < high {
        let mid = low + (high - low) / 2;
        if reaches(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

impl Window {
    /// A window of `kind`, judged against the failure and slow-call rates
    /// given (a count window works out its trip counts once, here).
    pub(crate) fn new(
        kind: WindowKind,
        failure_rate: Option<f64>,
        slow_rate: Option<f64>,
    ) -> Window {
        match kind {
            WindowKind::Count(n) => Window::Count(CountWindow::new(n, failure_rate, slow_rate)),
            WindowKind::Time { span, buckets } => Window::Time(TimeWindow::new(span, buckets)),
        }
    }

    pub(crate) fn record(&mut self, now: Duration, failed: bool, slow: bool) {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => w.record(now, failed, slow),
        }
    }

    pub(crate) fn tally(&mut self, now: Duration) -> Tally {
        match self {
            Window::Count(w) => w.total(),
            Window::Time(w) => w.tally(now),
        }
    }

    /// The tally the window would hold had it recorded one more call at
    /// `now`: what the trip policies judge before a call is recorded off
    /// the state machine's path.
    pub(crate) fn tally_with(&mut self, now: Duration, failed: bool, slow: bool) -> Tally {
        let mut tally = match self {
            Window::Count(w) => return w.tally_with(failed, slow),
            // Expired, every bucket but the live ones is empty: the call's
            // own bucket, if stale, holds nothing to take out.
            Window::Time(w) => w.tally(now),
        };
        tally.add(Tally::one(failed, slow));
        tally
    }

    /// Records `count` successes, neither failed nor slow, made while the
    /// clock read within the bucket whose epoch is `epoch` (a time
    /// window's; a count window has no epochs): the successes the lock-free
    /// path counted since the window last looked.
    #[inline]
    pub(crate) fn record_successes(&mut self, count: u64, epoch: u64) {
        match self {
            Window::Count(w) => w.record_successes(count),
            Window::Time(w) => w.record_many(
                epoch,
                Tally {
                    calls: count,
                    failures: 0,
                    slow: 0,
                },
            ),
        }
    }

    /// Records runs of successes with a failure between each run and the
    /// next (`runs[0]` successes, a failure, `runs[1]` successes, and so
    /// on), none slow, made while the clock read within the bucket whose
    /// epoch is `epoch` (a time window's): one thread's calls the lock-free
    /// path logged since the window last looked, in the order it made them.
    #[inline]
    pub(crate) fn record_runs(&mut self, runs: &[u64], epoch: u64) {
        match self {
            Window::Count(w) => w.record_runs(runs),
            Window::Time(w) => {
                let failures = runs.len().saturating_sub(1) as u64;
                let successes = runs.iter().fold(0u64, |sum, &run| sum.saturating_add(run));
                w.record_many(
                    epoch,
                    Tally {
                        calls: successes.saturating_add(failures),
                        failures,
                        slow: 0,
                    },
                );
            }
        }
    }

    /// A time window's bucket width in nanoseconds; `None` for a count
    /// window.
    pub(crate) fn bucket_width(&self) -> Option<u64> {
        match self {
            Window::Count(_) => None,
            Window::Time(w) => Some(w.width_nanos),
        }
    }

    /// A time window's epoch at `now` and when that bucket ends, in
    /// nanoseconds; `None` for a count window.
    pub(crate) fn bucket_at(&self, now: Duration) -> Option<(u64, u64)> {
        match self {
            Window::Count(_) => None,
            Window::Time(w) => {
                let epoch = w.epoch(now);
                Some((epoch, epoch.saturating_add(1).saturating_mul(w.width_nanos)))
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            Window::Count(w) => w.clear(),
            Window::Time(w) => w.clear(),
        }
    }

    /// The failures and slow calls that trip the window when it holds
    /// `calls` calls, where known without a division: a full count window
    /// holds the same number of calls from one call to the next.
    pub(crate) fn cut(&self, calls: u64) -> Option<Cut> {
        match self {
            Window::Count(w) if calls == w.marked.len() as u64 => Some(w.cut),
            _ => None,
        }
    }

    /// How many failures in a row a full count window can take while its
    /// failures rise by at most `room` (`u64::MAX`: any number); 0 for a
    /// time window. See [`CountWindow::failures_in_a_row`].
    pub(crate) fn failures_in_a_row(&self, room: u64) -> u64 {
        match self {
            Window::Count(w) => w.failures_in_a_row(room),
            Window::Time(_) => 0,
        }
    }

    /// The most calls the window can hold: a count window smaller than
    /// `minimum_calls` judges once it is full.
    pub(crate) fn capacity(&self) -> u64 {
        match self {
            Window::Count(w) => w.marked.len() as u64,
            Window::Time(_) => u64::MAX,
        }
    }
}

/// The last N calls: the failed and slow ones among them, oldest first,
/// and the window's total. A success is a number and nothing more, so
/// that a look records a run of them in one step, whatever its length,
/// and a failure or a slow call costs one entry.
pub(crate) struct CountWindow {
    /// A ring of up to N entries, the oldest at `head`: each failed or slow
    /// call's number (mod 2^30, far above the largest window) above its
    /// [`FAILED`] and [`SLOW`] bits.
    marked: Box<[u32]>,
    /// What trips the window once full.
    cut: Cut,
    head: u32,
    held: u32,
    /// The next call's number, mod 2^30.
    next: u32,
    /// The window's calls, failures and slow calls, at most N each (32
    /// bits keep the window within the 64 bytes a breaker holds inline).
    total: [u32; 3],
}

const FAILED: u32 = 1;
const SLOW: u32 = 2;
/// A call's number is kept mod 2^30: the ages compared are at most
/// [`MAX_COUNT_WINDOW`](crate::config::MAX_COUNT_WINDOW) + 1.
const NUMBERS: u32 = (1 << 30) - 1;

impl CountWindow {
    fn new(size: u32, failure_rate: Option<f64>, slow_rate: Option<f64>) -> Self {
        let size = size.max(1);
        CountWindow {
            marked: vec![0; size as usize].into_boxed_slice(),
            cut: Cut {
                failures: least_reaching(u64::from(size), failure_rate),
                slow: least_reaching(u64::from(size), slow_rate),
            },
            head: 0,
            held: 0,
            next: 0,
            total: [0; 3],
        }
    }

    fn total(&self) -> Tally {
        let [calls, failures, slow] = self.total.map(u64::from);
        Tally {
            calls,
            failures,
            slow,
        }
    }

    /// Records through a [`Cursor`]: the ring's head, length, next number
    /// and total held in locals while `record` runs (a look records dozens
    /// of calls at a time), written back once.
    #[inline]
    fn with_cursor(&mut self, record: impl FnOnce(&mut Cursor<'_>)) {
        let mut cursor = Cursor {
            total: self.total(),
            marked: &mut self.marked,
            head: self.head as usize,
            held: self.held as usize,
            next: self.next,
        };
        record(&mut cursor);
        // Each at most N, at most `MAX_COUNT_WINDOW`: they fit.
        let Tally {
            calls,
            failures,
            slow,
        } = cursor.total;
        self.total = [calls as u32, failures as u32, slow as u32];
        (self.head, self.held, self.next) = (cursor.head as u32, cursor.held as u32, cursor.next);
    }

    #[inline]
    fn record(&mut self, failed: bool, slow: bool) {
        self.with_cursor(|cursor| cursor.record(failed, slow));
    }

    #[inline]
    fn record_successes(&mut self, count: u64) {
        self.with_cursor(|cursor| cursor.record_successes(count));
    }

    /// See [`Window::record_runs`].
    #[inline]
    fn record_runs(&mut self, runs: &[u64]) {
        self.with_cursor(|cursor| {
            for (at, &successes) in runs.iter().enumerate() {
                if at > 0 {
                    cursor.record(true, false);
                }
                cursor.record_successes(successes);
            }
        });
    }

    /// The tally with one more call recorded: the call that would leave
    /// is the oldest entry if it is N calls old.
    fn tally_with(&self, failed: bool, slow: bool) -> Tally {
        let mut total = self.total();
        let size = self.marked.len() as u64;
        if self.held > 0 {
            let oldest = self.marked[self.head as usize];
            if u64::from(age(self.next, oldest)) == size {
                total.sub(Tally::one(oldest & FAILED != 0, oldest & SLOW != 0));
            }
        }
        total.calls = (total.calls + 1).min(size);
        total.failures += u64::from(failed);
        total.slow += u64::from(slow);
        total
    }

    /// Each failure in a row pushes the oldest call out: past a success
    /// (or a slow success) the failures rise by one, past a failure they
    /// stay. So `k` failures raise them by `k` less the failures among the
    /// `k` oldest calls, and the answer is the largest `k` that keeps this
    /// within `room`: `room` plus the failures it passes. Successes made
    /// between the failures push out more of the oldest calls, which can
    /// only lower the count. Past a full turn the window holds nothing but
    /// the new failures, N of them, within `room` if it got that far.
    fn failures_in_a_row(&self, room: u64) -> u64 {
        let size = self.marked.len() as u64;
        let mut passed = 0u64;
        for entry in self.entries() {
            // The entry's place among the calls, the oldest at 0.
            let place = size - u64::from(age(self.next, entry));
            if place > room.saturating_add(passed) {
                break;
            }
            passed += u64::from(entry & FAILED);
        }
        let k = room.saturating_add(passed);
        if k >= size {
            u64::MAX
        } else {
            k
        }
    }

    /// The failed and slow calls the window holds, oldest first.
    fn entries(&self) -> impl Iterator<Item = u32> + '_ {
        // The ring's two runs, without a division per entry.
        let (head, held) = (self.head as usize, self.held as usize);
        let first = held.min(self.marked.len() - head);
        let (wrapped, from_head) = self.marked.split_at(head);
        from_head[..first]
            .iter()
            .chain(&wrapped[..held - first])
            .copied()
    }

    fn clear(&mut self) {
        self.head = 0;
        self.held = 0;
        self.next = 0;
        self.total = [0; 3];
    }
}

/// The window's content, not its ring's layout.
impl std::fmt::Debug for CountWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountWindow")
            .field("size", &self.marked.len())
            .field("next", &self.next)
            .field("total", &self.total())
            .field("marked", &self.entries().collect::<Vec<_>>())
            .finish()
    }
}

/// How many calls ago, counting the latest as 1, the call of `entry` was
/// made, when the next call's number is `next`.
#[inline]
fn age(next: u32, entry: u32) -> u32 {
    next.wrapping_sub(entry >> 2) & NUMBERS
}

/// A count window being recorded into (see `CountWindow::with_cursor`).
struct Cursor<'a> {
    marked: &'a mut [u32],
    head: usize,
    held: usize,
    next: u32,
    total: Tally,
}

impl Cursor<'_> {
    #[inline]
    fn record(&mut self, failed: bool, slow: bool) {
        let number = self.next;
        self.advance(1);
        if failed || slow {
            // After `advance`, every entry is of the last N - 1 calls
            // before this one: there is room.
            let flags = if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
            let mut at = self.head + self.held;
            if at >= self.marked.len() {
                at -= self.marked.len();
            }
            self.marked[at] = number << 2 | flags;
            self.held += 1;
            self.total.failures += u64::from(failed);
            self.total.slow += u64::from(slow);
        }
    }

    /// `count` successes in a row: the entries they push out of the window
    /// leave, and nothing is written for the successes themselves.
    #[inline]
    fn record_successes(&mut self, count: u64) {
        if count > 0 {
            self.advance(count);
        }
    }

    /// Moves the window on by `count` calls, counted in its calls; the
    /// failed and slow calls that slide out leave it.
    #[inline]
    fn advance(&mut self, count: u64) {
        let size = self.marked.len() as u64;
        self.total.calls = self.total.calls.saturating_add(count).min(size);
        if count >= size {
            // A full turn or more: nothing before it stays.
            self.held = 0;
            self.total.failures = 0;
            self.total.slow = 0;
            self.next = self.next.wrapping_add(count as u32) & NUMBERS;
            return;
        }
        self.next = self.next.wrapping_add(count as u32) & NUMBERS;
        while self.held > 0 {
            let oldest = self.marked[self.head];
            if u64::from(age(self.next, oldest)) <= size {
                break;
            }
            self.total.failures -= u64::from(oldest & FAILED);
            self.total.slow -= u64::from(oldest & SLOW != 0);
            self.held -= 1;
            self.head += 1;
            if self.head == self.marked.len() {
                self.head = 0;
            }
        }
    }
}

/// The calls of the last `span`: `buckets` buckets of `span / buckets`
/// each, the oldest dropped whole as time moves on.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    width_nanos: u64,
    /// Each bucket's epoch (time / width) and tally.
    buckets: Box<[(u64, Tally)]>,
    total: Tally,
    /// `u64::MAX / width_nanos`: the epoch is a multiplication away, not
    /// a division (see `epoch`).
    reciprocal: u64,
    /// The epoch `expire` last ran at: until the clock reads another
    /// epoch, no bucket can have slid out.
    expired_at: u64,
}

impl TimeWindow {
    fn new(span: Duration, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        let width_nanos =
            u64::try_from(span.as_nanos() / u128::from(buckets)).map_or(u64::MAX, |w| w.max(1));
        TimeWindow {
            width_nanos,
            buckets: vec![(0, Tally::default()); buckets as usize].into_boxed_slice(),
            total: Tally::default(),
            reciprocal: u64::MAX / width_nanos,
            expired_at: u64::MAX,
        }
    }

    fn epoch(&self, now: Duration) -> u64 {
        let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        // The reciprocal's product falls short of the quotient by at most
        // two; stepping up to it keeps the result exact.
        let mut epoch = ((u128::from(nanos) * u128::from(self.reciprocal)) >> 64) as u64;
        while epoch
            .checked_add(1)
            .and_then(|next| next.checked_mul(self.width_nanos))
            .is_some_and(|end| end <= nanos)
        {
            epoch += 1;
        }
        epoch
    }

    /// Drops the buckets that have slid out of the window ending at `now`.
    fn expire(&mut self, now: Duration) {
        let current = self.epoch(now);
        if current == self.expired_at {
            return;
        }
        self.expired_at = current;
        let len = self.buckets.len() as u64;
        for (epoch, tally) in self.buckets.iter_mut() {
            // A bucket belongs to the window while it is one of the last
            // `len` epochs; a bucket "from the future" (a clock set
            // backwards) is dropped too.
            let live = *epoch <= current && current - *epoch < len;
            if !live && tally.calls > 0 {
                self.total.sub(*tally);
                *tally = Tally::default();
            }
        }
    }

    fn record(&mut self, now: Duration, failed: bool, slow: bool) {
        self.expire(now);
        let epoch = self.epoch(now);
        let index = (epoch % self.buckets.len() as u64) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.0 != epoch {
            self.total.sub(bucket.1);
            *bucket = (epoch, Tally::default());
        }
        let one = Tally::one(failed, slow);
        bucket.1.add(one);
        self.total.add(one);
    }

    fn tally(&mut self, now: Duration) -> Tally {
        self.expire(now);
        self.total
    }

    /// Adds `many` to the bucket of `epoch`, unless that bucket has been
    /// reused by a later epoch already (it slid out of the window).
    fn record_many(&mut self, epoch: u64, many: Tally) {
        let index = (epoch % self.buckets.len() as u64) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.0 > epoch {
            return;
        }
        if bucket.0 != epoch {
            self.total.sub(bucket.1);
            *bucket = (epoch, Tally::default());
        }
        bucket.1.add(many);
        self.total.add(many);
        if epoch != self.expired_at {
            // Possibly a bucket that has slid out already: the next look
            // expires the buckets again.
            self.expired_at = u64::MAX;
        }
    }

    fn clear(&mut self) {
        self.buckets.fill((0, Tally::default()));
        self.total = Tally::default();
        self.expired_at = u64::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time window of `seconds` in `buckets` buckets, with no rates.
    fn time_window(seconds: u64, buckets: u32) -> Window {
        Window::new(
            WindowKind::Time {
                span: Duration::from_secs(seconds),
                buckets,
            },
            None,
            None,
        )
    }

    /// The integer cut says "trips" for exactly the counts the division
    /// does, for window sizes up to 1,000 and rates that do not divide
    /// evenly in binary.
    #[test]
    fn a_full_windows_trip_counts_agree_with_the_rate_division() {
        let rates = [
            1e-9,
            0.01,
            0.1,
            0.2,
            0.25,
            0.3,
            1.0 / 3.0,
            0.45,
            0.5,
            0.51,
            0.6,
            2.0 / 3.0,
            0.7,
            0.9,
            0.99,
            0.999_999,
            1.0,
        ];
        for calls in 1..=1_000u64 {
            for rate in rates {
                let cut = least_reaching(calls, Some(rate));
                for count in 0..=calls {
                    assert_eq!(
                        count >= cut,
                        count as f64 / calls as f64 >= rate,
                        "{count} of {calls} at {rate}"
                    );
                }
            }
        }
        assert_eq!(least_reaching(100, None), u64::MAX);
    }

    #[test]
    fn a_time_windows_epoch_is_the_exact_quotient() {
        let widths = [
            1,
            3,
            7,
            1_000,
            999_999_937,
            6_000_000_000,
            u64::MAX / 3,
            u64::MAX,
        ];
        let readings = [
            0,
            1,
            2,
            999,
            1_000,
            123_456_789_012,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for width in widths {
            let w = TimeWindow::new(Duration::from_nanos(width), 1);
            for nanos in readings
                .into_iter()
                .chain([width - 1, width, width.saturating_add(1)])
            {
                assert_eq!(
                    w.epoch(Duration::from_nanos(nanos)),
                    nanos / width,
                    "{nanos} / {width}"
                );
            }
        }
    }

    /// Whatever it is given, one call at a time, successes in a row or
    /// runs, a count window's tally (and its tally with one more call) is
    /// that of its last N calls, kept here as a plain list.
    #[test]
    fn a_count_windows_tallies_are_those_of_its_last_n_calls() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut draw = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let of = |calls: &[(bool, bool)]| Tally {
            calls: calls.len() as u64,
            failures: calls.iter().filter(|c| c.0).count() as u64,
            slow: calls.iter().filter(|c| c.1).count() as u64,
        };
        for size in 1..=9u32 {
            let mut window = CountWindow::new(size, None, None);
            let mut calls: Vec<(bool, bool)> = Vec::new();
            for step in 0..2_000 {
                match draw(3) {
                    0 => {
                        let (failed, slow) = (draw(2) == 0, draw(3) == 0);
                        window.record(failed, slow);
                        calls.push((failed, slow));
                    }
                    1 => {
                        let count = draw(2 * u64::from(size) + 2);
                        window.record_successes(count);
                        calls.extend((0..count).map(|_| (false, false)));
                    }
                    _ => {
                        let runs: Vec<u64> = (0..=draw(4)).map(|_| draw(4)).collect();
                        window.record_runs(&runs);
                        for (at, &successes) in runs.iter().enumerate() {
                            if at > 0 {
                                calls.push((true, false));
                            }
                            calls.extend((0..successes).map(|_| (false, false)));
                        }
                    }
                }
                let last = &calls[calls.len().saturating_sub(size as usize)..];
                assert_eq!(window.total(), of(last), "size {size}, step {step}");
                for (failed, slow) in [(false, false), (true, false), (false, true), (true, true)] {
                    let mut more = calls.clone();
                    more.push((failed, slow));
                    let last = &more[more.len().saturating_sub(size as usize)..];
                    assert_eq!(
                        window.tally_with(failed, slow),
                        of(last),
                        "size {size}, step {step}, one more ({failed}, {slow})"
                    );
                }
            }
        }
    }

    /// The failures in a row a full count window is said to take within
    /// `room` keep its failures within `room` more, with successes between
    /// them or not; one more in a row would not.
    #[test]
    fn a_full_count_window_takes_the_failures_in_a_row_it_says_it_can() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut draw = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for size in 1..=12u32 {
            for _ in 0..200 {
                // The same full window, three times over.
                let history: Vec<(bool, bool)> = (0..u64::from(size) + draw(20))
                    .map(|_| (draw(3) == 0, draw(4) == 0))
                    .collect();
                let fill = |w: &mut CountWindow| {
                    for &(failed, slow) in &history {
                        w.record(failed, slow);
                    }
                };
                let mut probe = CountWindow::new(size, None, None);
                fill(&mut probe);
                let start = probe.total().failures;
                for room in 0..=u64::from(size) + 1 {
                    let k = probe.failures_in_a_row(room);
                    let case = format!("size {size}, room {room}, {history:?}");
                    let (mut in_a_row, mut between) = (
                        CountWindow::new(size, None, None),
                        CountWindow::new(size, None, None),
                    );
                    fill(&mut in_a_row);
                    fill(&mut between);
                    let most = k.min(3 * u64::from(size));
                    for _ in 0..most {
                        in_a_row.record(true, false);
                        assert!(in_a_row.total().failures <= start + room, "{case}");
                        between.record_successes(draw(3));
                        between.record(true, false);
                        assert!(between.total().failures <= start + room, "{case}");
                    }
                    if k != u64::MAX {
                        in_a_row.record(true, false);
                        assert!(in_a_row.total().failures > start + room, "{case}: one more");
                    }
                }
            }
        }
    }

    #[test]
    fn count_window_forgets_the_oldest_call() {
        let mut w = Window::new(WindowKind::Count(3), None, None);
        let t = Duration::ZERO;
        w.record(t, true, false);
        w.record(t, false, false);
        w.record(t, false, true);
        assert_eq!(
            w.tally(t),
            Tally {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        w.record(t, false, false);
        assert_eq!(
            w.tally(t),
            Tally {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
    }

    /// Successes recorded together leave the window as one at a time
    /// would: the same tally and the same calls in the same order, across
    /// the ring's end and past a full turn.
    #[test]
    fn successes_in_a_row_fill_the_ring_as_one_at_a_time_would() {
        for count in [0, 1, 3, 4, 5, 7, 12, 100] {
            // Empty, part full, full, and a turn and more on: the cursor
            // anywhere, failures and slow calls among the calls before.
            for before in 0..12 {
                let mut together = CountWindow::new(5, None, None);
                let mut alone = CountWindow::new(5, None, None);
                for w in [&mut together, &mut alone] {
                    for n in 0..before {
                        w.record(n % 3 == 0, n % 4 == 1);
                    }
                }
                together.record_successes(count);
                for _ in 0..count {
                    alone.record(false, false);
                }
                assert_eq!(together.total(), alone.total(), "{count} after {before}");
                // The same failed and slow calls, oldest first, at the same
                // numbers.
                assert_eq!(
                    format!("{together:?}"),
                    format!("{alone:?}"),
                    "{count} after {before}"
                );
            }
        }
    }

    /// Runs of successes with a failure between each run and the next go
    /// into a window as the same calls recorded one at a time would.
    #[test]
    fn runs_recorded_together_fill_a_window_as_one_call_at_a_time_would() {
        let runs: &[&[u64]] = &[
            &[0],
            &[3],
            &[0, 0],
            &[0, 2, 0, 1],
            &[2, 0, 0, 7],
            &[1, 9, 0],
        ];
        for kind in [
            WindowKind::Count(5),
            WindowKind::Time {
                span: Duration::from_secs(10),
                buckets: 10,
            },
        ] {
            for &runs in runs {
                for before in 0..7u64 {
                    let mut together = Window::new(kind, None, None);
                    let mut alone = Window::new(kind, None, None);
                    let at = Duration::from_secs(3);
                    for w in [&mut together, &mut alone] {
                        for n in 0..before {
                            w.record(at, n % 2 == 0, n % 3 == 0);
                        }
                    }
                    let epoch = 3;
                    together.record_runs(runs, epoch);
                    for (i, &successes) in runs.iter().enumerate() {
                        if i > 0 {
                            alone.record(at, true, false);
                        }
                        for _ in 0..successes {
                            alone.record(at, false, false);
                        }
                    }
                    let case = format!("{runs:?} after {before} in {kind:?}");
                    assert_eq!(together.tally(at), alone.tally(at), "{case}");
                    // The same calls leave the window in the same order.
                    for _ in 0..6 {
                        together.record(at, false, false);
                        alone.record(at, false, false);
                        assert_eq!(together.tally(at), alone.tally(at), "{case}");
                    }
                }
            }
        }
    }

    /// The same runs recorded the way a look recorded them before it
    /// recorded them together: each failure into the bucket of `epoch`
    /// (a count window's next call), each run of successes as one.
    fn record_runs_one_call_at_a_time(window: &mut Window, runs: &[u64], epoch: u64) {
        for (i, &successes) in runs.iter().enumerate() {
            if i > 0 {
                match window {
                    Window::Count(w) => w.record(true, false),
                    Window::Time(w) => w.record_many(epoch, Tally::one(true, false)),
                }
            }
            if successes > 0 {
                window.record_successes(successes, epoch);
            }
        }
    }

    /// Runs recorded together leave every entry, bucket, number and total
    /// as the old call-at-a-time recording into the same epoch did: count
    /// windows of one and two calls, runs longer than the window, a run of
    /// `u64::MAX / 2` (the look's clamp), and a time window whose bucket
    /// for the epoch is empty, holds an earlier epoch, the same one, or a
    /// later one.
    #[test]
    fn runs_leave_a_windows_entries_and_buckets_as_the_call_at_a_time_recording_did() {
        let huge = u64::MAX / 2;
        // A look records at least one failure (`runs[0]` alone, no
        // failure, only dates an empty bucket where the old way did not).
        let runs: &[&[u64]] = &[
            &[0, 0],
            &[0, 0, 0],
            &[1, 0],
            &[0, 4, 0, 1],
            &[3, 1, huge],
            &[huge],
            &[0, huge],
        ];
        let kinds = [
            WindowKind::Count(1),
            WindowKind::Count(2),
            WindowKind::Count(5),
            WindowKind::Time {
                span: Duration::from_secs(10),
                buckets: 10,
            },
        ];
        // Epoch 13 is bucket 3: filled at 3 s it holds an earlier epoch,
        // at 13 s the same, at 23 s a later one.
        let epoch = 13;
        for kind in kinds {
            for fill in [None, Some(3), Some(13), Some(23)] {
                for &runs in runs {
                    let mut together = Window::new(kind, None, None);
                    let mut alone = Window::new(kind, None, None);
                    for w in [&mut together, &mut alone] {
                        if let Some(secs) = fill {
                            for n in 0..3 {
                                w.record(Duration::from_secs(secs), n != 1, n == 2);
                            }
                        }
                    }
                    together.record_runs(runs, epoch);
                    record_runs_one_call_at_a_time(&mut alone, runs, epoch);
                    assert_eq!(
                        format!("{together:?}"),
                        format!("{alone:?}"),
                        "{runs:?} into {kind:?} filled at {fill:?}"
                    );
                }
            }
        }
    }

    /// Calls of an epoch whose bucket a later epoch has taken over slid
    /// out of the window before the look recorded them: they are dropped.
    #[test]
    fn runs_of_an_epoch_whose_bucket_a_later_epoch_holds_are_dropped() {
        let mut w = time_window(10, 10);
        let later = Duration::from_secs(23);
        w.record(later, true, false);
        let before = format!("{w:?}");
        w.record_runs(&[2, 0, 5], 13);
        assert_eq!(format!("{w:?}"), before);
        assert_eq!(
            w.tally(later),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_drops_buckets_older_than_the_span() {
        let mut w = time_window(10, 10);
        w.record(Duration::from_millis(500), true, false);
        w.record(Duration::from_millis(5_500), false, false);
        assert_eq!(w.tally(Duration::from_millis(9_999)).calls, 2);
        // At 10.0 s the bucket [0 s, 1 s) has slid out.
        assert_eq!(
            w.tally(Duration::from_secs(10)),
            Tally {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.tally(Duration::from_secs(16)).calls, 0);
    }

    #[test]
    fn time_window_reuses_a_bucket_after_a_full_turn() {
        let mut w = time_window(2, 2);
        w.record(Duration::from_millis(100), true, false);
        w.record(Duration::from_millis(2_100), false, false);
        assert_eq!(
            w.tally(Duration::from_millis(2_100)),
            Tally {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_tolerates_a_clock_set_backwards() {
        let mut w = time_window(2, 2);
        w.record(Duration::from_secs(100), true, false);
        assert_eq!(w.tally(Duration::from_secs(1)).calls, 0);
    }

    #[test]
    fn clear_empties_the_window() {
        let mut w = Window::new(WindowKind::Count(2), None, None);
        w.record(Duration::ZERO, true, true);
        w.clear();
        assert_eq!(w.tally(Duration::ZERO), Tally::default());
    }
}
