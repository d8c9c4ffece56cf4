//! The benchmarks of issue 4: every scenario against the same closure
//! unprotected (the baseline) and, side by side in the same run, against
//! the other Rust circuit breakers configured equivalently.
//!
//! `cargo bench -p breakerbox-benches` runs every group, then reads
//! criterion's medians back and prints the table of `BENCHMARKS.md` (also
//! written to `target/criterion/breaker-table.md`).
//! `cargo bench -p breakerbox-benches -- GROUP` runs the groups whose name
//! contains GROUP; the table then shows what ran.
//!
//! Peers (dev-dependencies of the `breakerbox-benches` package only):
//! - `failsafe`: a mutex per breaker; consecutive failures and an
//!   EMA-weighted success rate over a time window; a two-step API
//!   (`is_call_permitted` + `on_success`/`on_error`); futures support.
//! - `recloser`: lock-free state swap (crossbeam-epoch) over ring buffers;
//!   one policy, the failure rate over the last N calls (so "5 consecutive
//!   failures" is its window of 5 at a rate of 100 %); `AsyncRecloser`.
//! - `tower-resilience-circuitbreaker`: a tower layer only, so it is
//!   measured in the async, tower and contention scenarios, through
//!   `ServiceExt::ready` + `Service::call` on a current-thread runtime.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use breakerbox::{circuit_breaker, registry, CircuitBreaker, Config, Rejected};
use criterion::{Bencher, BenchmarkGroup, Criterion};
use tower::{Service, ServiceExt};
use tower_resilience_circuitbreaker::{CircuitBreakerLayer, SlidingWindowType};

const OPEN_FOR: Duration = Duration::from_secs(60);
const WINDOW_SPAN: Duration = Duration::from_secs(60);
const SLOW_AFTER: Duration = Duration::from_secs(1);

// ----- breakers under test, configured equivalently -------------------------

/// 5 consecutive failures open the breaker for 60 s (our default).
fn ours_consecutive() -> CircuitBreaker {
    CircuitBreaker::new("bench-consecutive", Config::default()).unwrap()
}

/// A failure rate of 50 % over the last 100 calls.
fn ours_count_window() -> CircuitBreaker {
    let config = Config::default()
        .without_max_failures()
        .failure_rate(0.5)
        .count_window(100)
        .timeout(OPEN_FOR);
    CircuitBreaker::new("bench-count-window", config).unwrap()
}

/// A failure rate of 50 % over the last 60 s (10 buckets).
fn ours_time_window() -> CircuitBreaker {
    let config = Config::default()
        .without_max_failures()
        .failure_rate(0.5)
        .time_window(WINDOW_SPAN)
        .timeout(OPEN_FOR);
    CircuitBreaker::new("bench-time-window", config).unwrap()
}

/// 50 % of the last 100 calls slower than 1 s.
fn ours_slow_calls() -> CircuitBreaker {
    let config = Config::default()
        .slow_call_duration(SLOW_AFTER)
        .slow_call_rate(0.5)
        .timeout(OPEN_FOR);
    CircuitBreaker::new("bench-slow-calls", config).unwrap()
}

/// resilience4j's default configuration: a failure rate of 50 % over the
/// last 100 calls, judged from 100 calls, and calls slower than 60 s slow
/// at a rate of 100 %.
fn ours_resilience4j_default() -> CircuitBreaker {
    let config = Config::default()
        .without_max_failures()
        .failure_rate(0.5)
        .count_window(100)
        .minimum_calls(100)
        .slow_call_duration(Duration::from_secs(60))
        .slow_call_rate(1.0)
        .timeout(OPEN_FOR);
    CircuitBreaker::new("bench-resilience4j-default", config).unwrap()
}

/// A failure threshold no run reaches, so every call fails and is counted
/// while the breaker stays closed.
fn ours_never_trips() -> CircuitBreaker {
    let config = Config::default().max_failures(u32::MAX);
    CircuitBreaker::new("bench-never-trips", config).unwrap()
}

fn failsafe_consecutive() -> failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
> {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_FOR));
    failsafe::Config::new().failure_policy(policy).build()
}

fn failsafe_never_trips() -> failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
> {
    let policy = failsafe::failure_policy::consecutive_failures(
        u32::MAX,
        failsafe::backoff::constant(OPEN_FOR),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// failsafe's only rate policy: a required success rate of 50 % (an
/// exponentially weighted moving average) over 60 s, at least 10 calls.
fn failsafe_time_window() -> failsafe::StateMachine<
    failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
    (),
> {
    let policy = failsafe::failure_policy::success_rate_over_time_window(
        0.5,
        10,
        WINDOW_SPAN,
        failsafe::backoff::constant(OPEN_FOR),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// recloser's one policy is a failure rate over the last N calls: all of
/// the last 5 failed is 5 consecutive failures.
fn recloser_consecutive() -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(5)
        .error_rate(1.0)
        .open_wait(OPEN_FOR)
        .build()
}

fn recloser_count_window() -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(100)
        .error_rate(0.5)
        .open_wait(OPEN_FOR)
        .build()
}

/// A rate above 100 % is never reached (recloser compares with `>=`).
fn recloser_never_trips() -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(5)
        .error_rate(1.5)
        .open_wait(OPEN_FOR)
        .build()
}

fn tower_consecutive() -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .unwrap()
}

fn tower_count_window() -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_type(SlidingWindowType::CountBased)
        .sliding_window_size(100)
        .minimum_number_of_calls(10)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .unwrap()
}

fn tower_time_window() -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_type(SlidingWindowType::TimeBased)
        .sliding_window_duration(WINDOW_SPAN)
        .minimum_number_of_calls(10)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .unwrap()
}

fn tower_slow_calls() -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .failure_rate_threshold(1.0)
        .slow_call_duration_threshold(SLOW_AFTER)
        .slow_call_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(10)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .unwrap()
}

// ----- the protected work ---------------------------------------------------

/// The closure every scenario protects: a success.
#[inline(always)]
fn work(x: u64) -> Result<u64, u64> {
    Ok(black_box(x))
}

/// A failure.
#[inline(always)]
fn failing(x: u64) -> Result<u64, u64> {
    Err(black_box(x))
}

/// One call in four fails: below every policy's threshold (25 % < 50 %,
/// never 5 in a row), so the breaker stays closed and records both kinds.
#[inline(always)]
fn mixed(x: u64) -> Result<u64, u64> {
    if black_box(x) & 3 == 0 {
        Err(x)
    } else {
        Ok(x)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Times `iters` awaited calls inside one `block_on`, so that the
/// runtime's own cost is paid once per sample and not per call.
fn iter_async<F, Fut>(b: &mut Bencher<'_>, rt: &tokio::runtime::Runtime, mut call: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future,
{
    b.iter_custom(|iters| {
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                black_box(call(i).await);
            }
            start.elapsed()
        })
    });
}

/// Two OS threads (the machine's two cores) each make `iters` calls on
/// one shared breaker; the measured thread's wall time is reported.
/// `make` builds a thread's runner (its runtime, its service clone, ...)
/// before the start line, so that only the calls are timed.
///
/// Each runner is given the numbers of its calls: a range that continues
/// from the last sample's, so that one call in four fails over every
/// sample, however short. (Numbering each sample from 0 made criterion's
/// one-call warm-up samples all failures, which tripped the rate
/// policies: the rows then measured open breakers.)
fn iter_contended<M, R>(b: &mut Bencher<'_>, make: M)
where
    M: Fn() -> R + Sync,
    R: FnMut(std::ops::Range<u64>),
{
    static NEXT_CALL: AtomicU64 = AtomicU64::new(0);
    let calls = |iters: u64| {
        let first = NEXT_CALL.fetch_add(iters, Ordering::Relaxed);
        first..first + iters
    };
    b.iter_custom(|iters| {
        let start_line = Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut run = make();
                let mine = calls(iters);
                start_line.wait();
                run(mine);
            });
            let mut run = make();
            let mine = calls(iters);
            start_line.wait();
            let start = Instant::now();
            run(mine);
            start.elapsed()
        })
    });
}

fn trip_ours(cb: &CircuitBreaker) {
    while cb.state() != breakerbox::State::Open {
        let _ = cb.call(|| failing(0));
    }
}

/// A tower service that fails for a zero request: `mixed` as a service.
fn inner_service() -> impl Service<
    u64,
    Response = u64,
    Error = u64,
    Future = impl std::future::Future<Output = Result<u64, u64>> + Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(|x: u64| async move { mixed(x) })
}

// ----- the attribute --------------------------------------------------------

#[derive(Debug)]
pub enum AttrError {
    Failed,
    Rejected,
}

impl From<Rejected> for AttrError {
    fn from(_: Rejected) -> Self {
        AttrError::Rejected
    }
}

fn plain(x: u64) -> Result<u64, AttrError> {
    if black_box(x) == u64::MAX {
        Err(AttrError::Failed)
    } else {
        Ok(x)
    }
}

#[circuit_breaker(name = "bench-attribute", max_failures = 5, timeout = "60s")]
fn annotated(x: u64) -> Result<u64, AttrError> {
    if black_box(x) == u64::MAX {
        Err(AttrError::Failed)
    } else {
        Ok(x)
    }
}

// ----- the groups -----------------------------------------------------------

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn closed_success(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| b.iter(|| work(black_box(1))));
    let cb = ours_consecutive();
    g.bench_function("breaker", |b| b.iter(|| cb.call(|| work(black_box(1)))));
    let fs = failsafe_consecutive();
    g.bench_function("failsafe", |b| {
        b.iter(|| failsafe::CircuitBreaker::call(&fs, || work(black_box(1))))
    });
    let rc = recloser_consecutive();
    g.bench_function("recloser", |b| b.iter(|| rc.call(|| work(black_box(1)))));
}

fn closed_failure(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| b.iter(|| failing(black_box(1))));
    let cb = ours_never_trips();
    g.bench_function("breaker", |b| b.iter(|| cb.call(|| failing(black_box(1)))));
    let fs = failsafe_never_trips();
    g.bench_function("failsafe", |b| {
        b.iter(|| failsafe::CircuitBreaker::call(&fs, || failing(black_box(1))))
    });
    let rc = recloser_never_trips();
    g.bench_function("recloser", |b| b.iter(|| rc.call(|| failing(black_box(1)))));
}

fn open_reject(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| b.iter(|| work(black_box(1))));
    let cb = ours_consecutive();
    trip_ours(&cb);
    g.bench_function("breaker", |b| b.iter(|| cb.call(|| work(black_box(1)))));
    let fs = failsafe_consecutive();
    for _ in 0..5 {
        let _ = failsafe::CircuitBreaker::call(&fs, || failing(0));
    }
    assert!(!fs.is_call_permitted(), "failsafe did not open");
    g.bench_function("failsafe", |b| {
        b.iter(|| failsafe::CircuitBreaker::call(&fs, || work(black_box(1))))
    });
    // recloser judges its ring only once it is full: the 6th failure trips.
    let rc = recloser_consecutive();
    let tripped = (0..10).any(|_| matches!(rc.call(|| failing(0)), Err(recloser::Error::Rejected)));
    assert!(tripped, "recloser did not open");
    g.bench_function("recloser", |b| b.iter(|| rc.call(|| work(black_box(1)))));
}

fn permit(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| b.iter(|| work(black_box(1))));
    let cb = ours_consecutive();
    g.bench_function("breaker", |b| {
        b.iter(|| match cb.try_acquire() {
            Ok(permit) => {
                let result = work(black_box(1));
                if result.is_ok() {
                    permit.success();
                } else {
                    permit.failure();
                }
                result
            }
            Err(_) => Err(0),
        })
    });
    // recloser has no public two-step API.
    let fs = failsafe_consecutive();
    g.bench_function("failsafe", |b| {
        b.iter(|| {
            if fs.is_call_permitted() {
                let result = work(black_box(1));
                if result.is_ok() {
                    fs.on_success();
                } else {
                    fs.on_error();
                }
                result
            } else {
                Err(0)
            }
        })
    });
}

fn attribute(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| b.iter(|| plain(black_box(1))));
    let _ = annotated(1); // the first call registers the breaker
    g.bench_function("breaker", |b| b.iter(|| annotated(black_box(1))));
    let cb = ours_consecutive();
    g.bench_function("call_api", |b| b.iter(|| cb.call(|| plain(black_box(1)))));
}

fn async_call(g: &mut Group<'_>) {
    let rt = runtime();
    g.bench_function("baseline", |b| {
        iter_async(b, &rt, |i| async move { work(i) })
    });
    let cb = ours_consecutive();
    g.bench_function("breaker", |b| {
        iter_async(b, &rt, |i| cb.call_async(move || async move { work(i) }))
    });
    let fs = failsafe_consecutive();
    g.bench_function("failsafe", |b| {
        iter_async(b, &rt, |i| {
            failsafe::futures::CircuitBreaker::call(&fs, async move { work(i) })
        })
    });
    let rc = recloser::AsyncRecloser::from(recloser_consecutive());
    g.bench_function("recloser", |b| {
        iter_async(b, &rt, |i| rc.call(async move { work(i) }))
    });
    // The crate published as `breaker`, 2.0.2: async only, 5 consecutive
    // failures, its window rule off (a threshold of 0), open 60 s.
    let bc = breaker::CircuitBreaker::new(
        breaker::CircuitBreakerConfig::builder()
            .consecutive_failures(5)
            .failure_rate_threshold(0.0)
            .wait_duration(OPEN_FOR)
            .build(),
    );
    g.bench_function("breaker_crate", |b| {
        iter_async(b, &rt, |i| bc.call(move || async move { work(i) }))
    });
    let mut svc = tower_consecutive().layer_fn(tower::service_fn(|x: u64| async move { work(x) }));
    g.bench_function("tower_resilience", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(svc.ready().await.unwrap().call(i).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
}

/// A closed breaker of each policy, one call in four failing.
fn policy(g: &mut Group<'_>, ours: CircuitBreaker, peers: Peers) {
    g.bench_function("baseline", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            mixed(i)
        })
    });
    g.bench_function("breaker", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            ours.call(|| mixed(i))
        })
    });
    match peers.failsafe {
        Some(FailsafePolicy::Consecutive(fs)) => g.bench_function("failsafe", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                failsafe::CircuitBreaker::call(&fs, || mixed(i))
            })
        }),
        Some(FailsafePolicy::TimeWindow(fs)) => g.bench_function("failsafe", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                failsafe::CircuitBreaker::call(&fs, || mixed(i))
            })
        }),
        None => g,
    };
    if let Some(rc) = peers.recloser {
        g.bench_function("recloser", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                rc.call(|| mixed(i))
            })
        });
    }
}

/// A closed breaker of each policy on both cores at once, one call in four
/// failing: per call, per thread.
fn policy_two_threads(g: &mut Group<'_>, ours: CircuitBreaker, peers: Peers) {
    g.bench_function("baseline", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(mixed(i)).ok();
                }
            }
        })
    });
    g.bench_function("breaker", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(ours.call(|| mixed(i))).ok();
                }
            }
        })
    });
    match &peers.failsafe {
        Some(FailsafePolicy::Consecutive(fs)) => g.bench_function("failsafe", |b| {
            iter_contended(b, || {
                |calls| {
                    for i in calls {
                        black_box(failsafe::CircuitBreaker::call(fs, || mixed(i))).ok();
                    }
                }
            })
        }),
        Some(FailsafePolicy::TimeWindow(fs)) => g.bench_function("failsafe", |b| {
            iter_contended(b, || {
                |calls| {
                    for i in calls {
                        black_box(failsafe::CircuitBreaker::call(fs, || mixed(i))).ok();
                    }
                }
            })
        }),
        None => g,
    };
    if let Some(rc) = &peers.recloser {
        g.bench_function("recloser", |b| {
            iter_contended(b, || {
                |calls| {
                    for i in calls {
                        black_box(rc.call(|| mixed(i))).ok();
                    }
                }
            })
        });
    }
}

/// resilience4j's default configuration on both cores (with the `metrics`
/// feature when the bench is built with it), beside the consecutive
/// policy in the same run.
fn resilience4j_default(g: &mut Group<'_>) {
    let ours = ours_resilience4j_default();
    let consecutive = ours_consecutive();
    for (id, cb) in [("breaker", &ours), ("consecutive", &consecutive)] {
        g.bench_function(id, |b| {
            iter_contended(b, || {
                |calls| {
                    for i in calls {
                        black_box(cb.call(|| mixed(i))).ok();
                    }
                }
            })
        });
    }
}

enum FailsafePolicy {
    Consecutive(
        failsafe::StateMachine<
            failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
            (),
        >,
    ),
    TimeWindow(
        failsafe::StateMachine<
            failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
            (),
        >,
    ),
}

struct Peers {
    failsafe: Option<FailsafePolicy>,
    recloser: Option<recloser::Recloser>,
}

/// A tower service call: bare, protected by our breaker's `call_async`,
/// and behind tower-resilience's layer, one request in four failing
/// (`open` trips both breakers first).
fn tower_scenario(g: &mut Group<'_>, ours: CircuitBreaker, layer: CircuitBreakerLayer, open: bool) {
    let rt = runtime();
    let mut bare = inner_service();
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 1..=iters {
                    black_box(bare.ready().await.unwrap().call(i).await.ok());
                }
                start.elapsed()
            })
        })
    });
    if open {
        trip_ours(&ours);
    }
    let mut svc = inner_service();
    g.bench_function("breaker", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 1..=iters {
                    let svc = &mut svc;
                    let result = ours
                        .call_async(|| async move {
                            match svc.ready().await {
                                Ok(ready) => ready.call(i).await,
                                Err(e) => Err(e),
                            }
                        })
                        .await;
                    black_box(result.ok());
                }
                start.elapsed()
            })
        })
    });
    let mut theirs = layer.layer_fn(inner_service());
    if open {
        rt.block_on(async {
            for _ in 0..5 {
                let _ = theirs.ready().await.unwrap().call(0).await;
            }
        });
        assert!(theirs.is_open(), "tower-resilience did not open");
    }
    g.bench_function("tower_resilience", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 1..=iters {
                    let ready = theirs.ready().await.unwrap();
                    black_box(ready.call(i).await.ok());
                }
                start.elapsed()
            })
        })
    });
}

fn contention(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(work(i)).ok();
                }
            }
        })
    });
    let cb = ours_consecutive();
    g.bench_function("breaker", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(cb.call(|| work(i))).ok();
                }
            }
        })
    });
    let fs = failsafe_consecutive();
    g.bench_function("failsafe", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(failsafe::CircuitBreaker::call(&fs, || work(i))).ok();
                }
            }
        })
    });
    let rc = recloser_consecutive();
    g.bench_function("recloser", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(rc.call(|| work(i))).ok();
                }
            }
        })
    });
    // Clones of one tower-resilience service share its circuit.
    let shared = tower_consecutive().layer_fn(tower::service_fn(|x: u64| async move { work(x) }));
    let shared = std::sync::Mutex::new(shared);
    g.bench_function("tower_resilience", |b| {
        iter_contended(b, || {
            let rt = runtime();
            let mut svc = shared.lock().unwrap().clone();
            move |calls| {
                rt.block_on(async {
                    for i in calls {
                        black_box(svc.ready().await.unwrap().call(i).await.ok());
                    }
                })
            }
        })
    });
}

/// The slow-call policy on both cores: admission is lock-free (the start
/// read from the coarse clock), the ending takes the lock to judge and
/// record it in the window.
fn contention_slow_calls(g: &mut Group<'_>) {
    g.bench_function("baseline", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(mixed(i)).ok();
                }
            }
        })
    });
    let cb = ours_slow_calls();
    g.bench_function("breaker", |b| {
        iter_contended(b, || {
            |calls| {
                for i in calls {
                    black_box(cb.call(|| mixed(i))).ok();
                }
            }
        })
    });
}

/// What the hot paths are made of, each alone, for the floors in
/// `BENCHMARKS.md`: an uncontended atomic add (a stripe's counter today),
/// a load and a store of the same word (a counter only its thread
/// writes), one relaxed load (the published word, the ticker's time),
/// and the precise clock.
fn floor(g: &mut Group<'_>) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    g.bench_function("baseline", |b| b.iter(|| work(black_box(1))));
    let counter = AtomicU64::new(0);
    g.bench_function("fetch_add", |b| {
        b.iter(|| black_box(&counter).fetch_add(1, Relaxed))
    });
    g.bench_function("load_store", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            c.store(c.load(Relaxed) + 1, Relaxed)
        })
    });
    g.bench_function("load", |b| b.iter(|| black_box(&counter).load(Relaxed)));
    g.bench_function("instant_now", |b| b.iter(Instant::now));
}

fn registry_get(g: &mut Group<'_>) {
    let name = "bench-registry";
    let cb = registry().get_or_create(name, Config::default()).unwrap();
    // Baseline: the same lookup in a plain map, without the registry's lock.
    let mut map = HashMap::new();
    map.insert(name.to_string(), cb);
    g.bench_function("baseline", |b| b.iter(|| map.get(black_box(name)).cloned()));
    g.bench_function("breaker", |b| b.iter(|| registry().get(black_box(name))));
}

// ----- the table ------------------------------------------------------------

/// The table's rows: (criterion group, scenario, what a row measures).
const SCENARIOS: &[(&str, &str)] = &[
    ("closed_success", "closed, successful call (`call`)"),
    ("closed_failure", "closed, failing call below the threshold"),
    ("open_reject", "open, rejected call"),
    ("permit", "two-step permit API"),
    ("attribute", "`#[circuit_breaker]` fn vs plain fn"),
    ("async", "`call_async` vs bare `.await`"),
    (
        "policy_consecutive",
        "policy: 5 consecutive failures (1 call in 4 fails)",
    ),
    (
        "policy_count_window",
        "policy: count window 100, 50 % (1 in 4 fails)",
    ),
    (
        "policy_time_window",
        "policy: time window 60 s, 50 % (1 in 4 fails)",
    ),
    (
        "policy_slow_calls",
        "policy: slow calls > 1 s, 50 % (1 in 4 fails)",
    ),
    (
        "policy2_consecutive",
        "2 threads, 5 consecutive failures (per call, per thread)",
    ),
    (
        "policy2_count_window",
        "2 threads, count window 100, 50 % (per call, per thread)",
    ),
    (
        "policy2_time_window",
        "2 threads, time window 60 s, 50 % (per call, per thread)",
    ),
    (
        "policy2_slow_calls",
        "2 threads, slow calls > 1 s, 50 % (per call, per thread)",
    ),
    (
        "resilience4j_default2",
        "2 threads, resilience4j's default config (per call, per thread)",
    ),
    ("tower_consecutive", "tower service, 5 consecutive failures"),
    (
        "tower_count_window",
        "tower service, count window 100, 50 %",
    ),
    ("tower_time_window", "tower service, time window 60 s, 50 %"),
    ("tower_slow_calls", "tower service, slow calls > 1 s, 50 %"),
    ("tower_open_reject", "tower service, open, rejected call"),
    (
        "contention",
        "both cores on one breaker (per call, per thread)",
    ),
    (
        "contention_slow_calls",
        "both cores on one breaker, slow calls > 1 s, 50 % (1 in 4 fails)",
    ),
    ("registry_get", "`registry().get(name)`"),
];

const PEERS: &[(&str, &str)] = &[
    ("failsafe", "failsafe"),
    ("recloser", "recloser"),
    ("tower_resilience", "tower-resilience"),
    ("breaker_crate", "breaker 2.0.2"),
];

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // Criterion writes to the workspace's target directory; a bench runs
    // in its package's directory, `benches/` under the workspace root.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."));
    workspace.join("target").join("criterion")
}

/// The median, in ns, criterion recorded for `group/bench` in this run.
fn median(dir: &Path, group: &str, bench: &str, since: std::time::SystemTime) -> Option<f64> {
    let path = dir
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= since);
    if !fresh {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ns")
    } else {
        format!("{v:.1} ns")
    }
}

fn table(dir: &Path, since: std::time::SystemTime) -> String {
    let get = |g: &str, b: &str| median(dir, g, b, since);
    let mut out = String::new();
    out.push_str("| scenario | baseline | breaker | breaker − baseline |");
    for (_, title) in PEERS {
        let _ = write!(out, " {title} (÷ breaker) |");
    }
    out.push_str("\n| --- | ---: | ---: | ---: |");
    for _ in PEERS {
        out.push_str(" ---: |");
    }
    out.push('\n');
    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_string(), ns);
    for (group, title) in SCENARIOS {
        let base = get(group, "baseline");
        let ours = get(group, "breaker");
        if base.is_none() && ours.is_none() {
            continue;
        }
        let overhead = match (base, ours) {
            (Some(b), Some(o)) => format!("{:+.1} ns", o - b),
            _ => "—".to_string(),
        };
        let _ = write!(
            out,
            "| {title} | {} | {} | {overhead} |",
            cell(base),
            cell(ours)
        );
        for (id, _) in PEERS {
            match (get(group, id), ours) {
                (Some(p), Some(o)) => {
                    let _ = write!(out, " {} ({:.2}×) |", ns(p), p / o);
                }
                (Some(p), None) => {
                    let _ = write!(out, " {} |", ns(p));
                }
                _ => out.push_str(" — |"),
            }
        }
        out.push('\n');
        if *group == "attribute" {
            if let (Some(b), Some(call)) = (base, get(group, "call_api")) {
                let _ = writeln!(
                    out,
                    "| the same fn through `call` | {} | {} | {:+.1} ns | — | — | — | — |",
                    ns(b),
                    ns(call),
                    call - b
                );
            }
        }
    }
    out.push_str(&targets(dir, since));
    out
}

/// The targets, checked against this run's medians.
fn targets(dir: &Path, since: std::time::SystemTime) -> String {
    let get = |g: &str, b: &str| median(dir, g, b, since);
    let mut lines = Vec::new();
    let mut check = |what: String, ok: bool| {
        lines.push(format!("- [{}] {what}", if ok { "x" } else { " " }));
    };
    if let (Some(b), Some(o)) = (
        get("closed_success", "baseline"),
        get("closed_success", "breaker"),
    ) {
        check(
            format!(
                "closed successful call ≤ 5 ns over unprotected: {:+.1} ns",
                o - b
            ),
            o - b <= 5.0,
        );
    }
    if let Some(o) = get("open_reject", "breaker") {
        check(format!("open rejection ≤ 10 ns: {}", ns(o)), o <= 10.0);
    }
    if let (Some(a), Some(c)) = (get("attribute", "breaker"), get("attribute", "call_api")) {
        check(
            format!("annotated fn within 1 ns of `call`: {:+.1} ns", a - c),
            (a - c).abs() <= 1.0,
        );
    }
    if let (Some(one), Some(two)) = (
        get("closed_success", "breaker"),
        get("contention", "breaker"),
    ) {
        check(
            format!(
                "two cores on one breaker ≤ 2× one thread: {:.2}×",
                two / one
            ),
            two / one <= 2.0,
        );
    }
    for (group, title) in SCENARIOS {
        let Some(o) = get(group, "breaker") else {
            continue;
        };
        let fastest = PEERS
            .iter()
            .filter_map(|(id, name)| get(group, id).map(|p| (p, *name)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((p, name)) = fastest {
            check(
                format!(
                    "≥ 5× faster than the fastest peer in {title}: {name} ÷ breaker = {:.2}×",
                    p / o
                ),
                p / o >= 5.0,
            );
        }
    }
    let mut out = String::from("\nTargets (issue 4), from this run's medians:\n\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn main() {
    let started = std::time::SystemTime::now();
    let dir = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .without_plots()
        .configure_from_args();

    let mut run = |name: &str, f: &mut dyn FnMut(&mut Group<'_>)| {
        let mut g = c.benchmark_group(name);
        f(&mut g);
        g.finish();
    };
    run("closed_success", &mut |g| closed_success(g));
    run("closed_failure", &mut |g| closed_failure(g));
    run("open_reject", &mut |g| open_reject(g));
    run("permit", &mut |g| permit(g));
    run("attribute", &mut |g| attribute(g));
    run("async", &mut |g| async_call(g));
    run("policy_consecutive", &mut |g| {
        policy(
            g,
            ours_consecutive(),
            Peers {
                failsafe: Some(FailsafePolicy::Consecutive(failsafe_consecutive())),
                recloser: Some(recloser_consecutive()),
            },
        )
    });
    run("policy_count_window", &mut |g| {
        policy(
            g,
            ours_count_window(),
            Peers {
                failsafe: None, // no count-based policy
                recloser: Some(recloser_count_window()),
            },
        )
    });
    run("policy_time_window", &mut |g| {
        policy(
            g,
            ours_time_window(),
            Peers {
                failsafe: Some(FailsafePolicy::TimeWindow(failsafe_time_window())),
                recloser: None, // no time-based policy
            },
        )
    });
    run("policy_slow_calls", &mut |g| {
        policy(
            g,
            ours_slow_calls(),
            Peers {
                failsafe: None, // neither peer has a slow-call policy
                recloser: None,
            },
        )
    });
    run("policy2_consecutive", &mut |g| {
        policy_two_threads(
            g,
            ours_consecutive(),
            Peers {
                failsafe: Some(FailsafePolicy::Consecutive(failsafe_consecutive())),
                recloser: Some(recloser_consecutive()),
            },
        )
    });
    run("policy2_count_window", &mut |g| {
        policy_two_threads(
            g,
            ours_count_window(),
            Peers {
                failsafe: None,
                recloser: Some(recloser_count_window()),
            },
        )
    });
    run("policy2_time_window", &mut |g| {
        policy_two_threads(
            g,
            ours_time_window(),
            Peers {
                failsafe: Some(FailsafePolicy::TimeWindow(failsafe_time_window())),
                recloser: None,
            },
        )
    });
    run("policy2_slow_calls", &mut |g| {
        policy_two_threads(
            g,
            ours_slow_calls(),
            Peers {
                failsafe: None,
                recloser: None,
            },
        )
    });
    run("resilience4j_default2", &mut |g| resilience4j_default(g));
    run("tower_consecutive", &mut |g| {
        tower_scenario(g, ours_consecutive(), tower_consecutive(), false)
    });
    run("tower_count_window", &mut |g| {
        tower_scenario(g, ours_count_window(), tower_count_window(), false)
    });
    run("tower_time_window", &mut |g| {
        tower_scenario(g, ours_time_window(), tower_time_window(), false)
    });
    run("tower_slow_calls", &mut |g| {
        tower_scenario(g, ours_slow_calls(), tower_slow_calls(), false)
    });
    run("tower_open_reject", &mut |g| {
        tower_scenario(g, ours_consecutive(), tower_consecutive(), true)
    });
    run("contention", &mut |g| contention(g));
    run("contention_slow_calls", &mut |g| contention_slow_calls(g));
    run("floor", &mut |g| floor(g));
    run("registry_get", &mut |g| registry_get(g));

    c.final_summary();

    let table = table(&dir, started);
    if table.lines().count() > 2 {
        println!("\n{table}");
        let path = dir.join("breaker-table.md");
        match std::fs::write(&path, &table) {
            Ok(()) => println!("(written to {})", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}
