//! The history behind the sparklines: a thread that, every few seconds,
//! reads each registered breaker's lifetime admissions and rejections
//! (atomic loads, no lock of the breaker's) and keeps the rates of the last
//! few minutes. It exists only while a dashboard does; breakers never know
//! it is there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::Source;

/// Every breaker's recent rates.
pub(crate) struct History {
    /// The number of the latest sample (0: none yet). All breakers are
    /// sampled together, so one number names a moment for all of them.
    seq: u64,
    /// How many points each series keeps.
    capacity: usize,
    last_tick: Option<Instant>,
    series: HashMap<String, Series>,
}

/// One breaker's rates, oldest first; the newest point is sample `seq`.
pub(crate) struct Series {
    /// Which breaker they were read from: a breaker removed and created
    /// again under the same name starts a new series.
    breaker: usize,
    /// Its counters at the latest sample.
    last: (u64, u64),
    pub(crate) calls: VecDeque<f32>,
    pub(crate) rejections: VecDeque<f32>,
}

impl Series {
    /// The number of this series' first point, given the latest sample's.
    pub(crate) fn start(&self, seq: u64) -> u64 {
        (seq + 1).saturating_sub(self.calls.len() as u64)
    }
}

/// One breaker's counters as a tick read them.
pub(crate) struct Reading {
    pub(crate) name: String,
    pub(crate) breaker: usize,
    pub(crate) calls: u64,
    pub(crate) rejections: u64,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            seq: 0,
            capacity: capacity.max(2),
            last_tick: None,
            series: HashMap::new(),
        }
    }

    /// How many points a series keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The latest sample's number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn series(&self, name: &str) -> Option<&Series> {
        self.series.get(name)
    }

    /// Adds one sample of every breaker, `readings` taken at `at`. A
    /// breaker missing from them is gone, and so is its series; a new one
    /// gets its first point at the next sample (a rate needs two readings).
    pub(crate) fn add(&mut self, readings: Vec<Reading>, at: Instant) {
        let elapsed = self
            .last_tick
            .map(|last| at.saturating_duration_since(last).as_secs_f64());
        self.last_tick = Some(at);
        self.seq += 1;
        let capacity = self.capacity;
        let mut next = HashMap::with_capacity(readings.len());
        for reading in readings {
            let now = (reading.calls, reading.rejections);
            let series = match self.series.remove(&reading.name) {
                Some(mut series) if series.breaker == reading.breaker => {
                    let rate = |now: u64, before: u64| match elapsed {
                        // Counters only grow: one that went back belongs to
                        // another breaker (a reused address).
                        Some(secs) if secs > 0.0 && now >= before => {
                            ((now - before) as f64 / secs) as f32
                        }
                        _ => 0.0,
                    };
                    push(&mut series.calls, rate(now.0, series.last.0), capacity);
                    push(&mut series.rejections, rate(now.1, series.last.1), capacity);
                    series.last = now;
                    series
                }
                _ => Series {
                    breaker: reading.breaker,
                    last: now,
                    calls: VecDeque::new(),
                    rejections: VecDeque::new(),
                },
            };
            next.insert(reading.name, series);
        }
        self.series = next;
    }
}

fn push(points: &mut VecDeque<f32>, point: f32, capacity: usize) {
    if points.len() >= capacity {
        points.pop_front();
    }
    points.push_back(point);
}

/// Reads every breaker of `source`: their names, then each one's counters.
/// The breakers are held only while read, so that the registry's idle
/// eviction (which spares breakers held elsewhere) still sees them free.
pub(crate) fn read(source: &Source) -> Vec<Reading> {
    let registry = source.registry();
    registry
        .names()
        .into_iter()
        .filter_map(|name| {
            let breaker = registry.get(&name)?;
            let (calls, rejections) = breaker.calls_and_rejections();
            Some(Reading {
                breaker: Arc::as_ptr(&breaker) as usize,
                name,
                calls,
                rejections,
            })
        })
        .collect()
}

/// What the sampler's thread shares with the dashboard.
pub(crate) struct Sampled {
    pub(crate) source: Source,
    pub(crate) history: Mutex<History>,
    /// The thread, to wake when the last dashboard goes.
    thread: Mutex<Option<thread::Thread>>,
}

impl Sampled {
    pub(crate) fn new(source: Source, capacity: usize) -> Self {
        Sampled {
            source,
            history: Mutex::new(History::new(capacity)),
            thread: Mutex::new(None),
        }
    }

    pub(crate) fn history(&self) -> MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one sample now.
    pub(crate) fn sample(&self) {
        let readings = read(&self.source);
        self.history().add(readings, Instant::now());
    }
}

impl Drop for Sampled {
    fn drop(&mut self) {
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(thread) = thread.take() {
            thread.unpark();
        }
    }
}

/// Takes a first sample, then starts the thread that samples every
/// `every` for as long as `sampled` has an owner besides it.
pub(crate) fn start(sampled: &Arc<Sampled>, every: Duration) {
    sampled.sample();
    let weak: Weak<Sampled> = Arc::downgrade(sampled);
    let spawned = thread::Builder::new()
        .name("breakerbox-dashboard".into())
        .spawn(move || run(weak, every));
    match spawned {
        Ok(handle) => {
            *sampled
                .thread
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(handle.thread().clone());
        }
        Err(error) => tracing::warn!(
            target: "breakerbox",
            %error,
            "the dashboard's sampler thread could not start: its sparklines stay empty",
        ),
    }
}

fn run(sampled: Weak<Sampled>, every: Duration) {
    let mut next = Instant::now() + every;
    loop {
        // Parked until the next sample is due, or until the last dashboard
        // is dropped and wakes it to leave.
        let now = Instant::now();
        if now < next {
            thread::park_timeout(next - now);
        }
        let Some(sampled) = sampled.upgrade() else {
            return;
        };
        if Instant::now() < next {
            continue;
        }
        let started = Instant::now();
        // A breaker's contained panic must not end the history: user code
        // (a clock) is never run here, but be safe all the same.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sampled.sample()));
        next = started + every;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(name: &str, breaker: usize, calls: u64, rejections: u64) -> Reading {
        Reading {
            name: name.into(),
            breaker,
            calls,
            rejections,
        }
    }

    #[test]
    fn rates_are_the_counters_growth_per_second_between_samples() {
        let mut history = History::new(10);
        let t0 = Instant::now();
        history.add(vec![reading("db", 1, 100, 0)], t0);
        history.add(vec![reading("db", 1, 120, 6)], t0 + Duration::from_secs(2));
        let series = history.series("db").unwrap();
        assert_eq!(series.calls, [10.0]);
        assert_eq!(series.rejections, [3.0]);
        assert_eq!(series.start(history.seq()), 2);
    }

    #[test]
    fn a_series_keeps_at_most_its_capacity() {
        let mut history = History::new(3);
        let t0 = Instant::now();
        for i in 0..10u64 {
            history.add(
                vec![reading("db", 1, i * 10, 0)],
                t0 + Duration::from_secs(i),
            );
        }
        let series = history.series("db").unwrap();
        assert_eq!(series.calls.len(), 3);
        assert_eq!(series.start(history.seq()), 8);
    }

    #[test]
    fn a_breaker_gone_from_the_registry_loses_its_series() {
        let mut history = History::new(3);
        let t0 = Instant::now();
        history.add(vec![reading("a", 1, 0, 0), reading("b", 2, 0, 0)], t0);
        history.add(vec![reading("a", 1, 5, 0)], t0 + Duration::from_secs(1));
        assert!(history.series("b").is_none());
    }

    #[test]
    fn a_breaker_created_again_under_its_name_starts_a_new_series() {
        let mut history = History::new(3);
        let t0 = Instant::now();
        history.add(vec![reading("a", 1, 50, 0)], t0);
        history.add(vec![reading("a", 1, 60, 0)], t0 + Duration::from_secs(1));
        history.add(vec![reading("a", 2, 1, 0)], t0 + Duration::from_secs(2));
        assert!(history.series("a").unwrap().calls.is_empty());
    }
}
