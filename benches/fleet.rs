//! The cost of a fleet-wide breaker (feature `redis`), against a local one
//! in the same run:
//!
//! - `fleet_closed_success`: a successful call through a breaker that is
//!   local, shared through a `RedisStore` in its default mode, and shared
//!   in strict mode (a Redis round trip per admission);
//! - `fleet_open_reject`: the same for a rejected call of an open breaker.
//!
//! ```sh
//! cargo bench -p breakerbox-benches --features redis --bench fleet
//! ```
//!
//! It uses the Redis at `REDIS_URL` if set, or starts a `redis-server` on
//! a free loopback port. (Whether the in-process hot path is unchanged when
//! the feature is compiled in but unused is the `breakers` bench run with
//! and without `--features redis`: see BENCHMARKS.md.)

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config, RedisStore, State};
use criterion::Criterion;

// The fleet tests' server: a free loopback port, a temporary directory.
#[allow(dead_code)] // the bench does not look at the keys
#[path = "../tests/support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

fn work(x: u64) -> Result<u64, u64> {
    Ok(x.wrapping_mul(3))
}

/// The Redis at `REDIS_URL`, or a server of our own (kept alive by the
/// returned handle).
fn server() -> (Option<RedisServer>, String) {
    match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = RedisServer::start();
            let url = server.url();
            (Some(server), url)
        }
    }
}

/// A breaker named `name`, joined to a store at `url` (strict or not), once
/// the store has connected and the breaker has read the shared state.
fn shared(url: &str, name: &'static str, strict: bool) -> Arc<CircuitBreaker> {
    let breaker = Arc::new(CircuitBreaker::new(name, Config::default()).unwrap());
    let store = RedisStore::builder(url)
        .prefix(format!("bench-{}", std::process::id()))
        .strict(strict)
        .build()
        .unwrap();
    breaker.join_store(&store);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_connected() {
        assert!(Instant::now() < deadline, "the store did not connect");
        std::thread::sleep(Duration::from_millis(1));
    }
    breaker
}

fn trip(breaker: &CircuitBreaker) {
    for _ in 0..5 {
        let _ = breaker.call(|| Err::<(), _>(()));
    }
    assert_eq!(breaker.state(), State::Open);
}

fn main() {
    let (server, url) = server();
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));

    let mut g = c.benchmark_group("fleet_closed_success");
    g.bench_function("baseline", |b| b.iter(|| work(black_box(1))));
    let local = CircuitBreaker::new("bench-local", Config::default()).unwrap();
    g.bench_function("local", |b| b.iter(|| local.call(|| work(black_box(1)))));
    let default_mode = shared(&url, "bench-default", false);
    g.bench_function("redis_default", |b| {
        b.iter(|| default_mode.call(|| work(black_box(1))))
    });
    let strict = shared(&url, "bench-strict", true);
    g.bench_function("redis_strict", |b| {
        b.iter(|| strict.call(|| work(black_box(1))))
    });
    g.finish();

    let mut g = c.benchmark_group("fleet_open_reject");
    let local = CircuitBreaker::new("bench-local-open", Config::default()).unwrap();
    trip(&local);
    g.bench_function("local", |b| b.iter(|| local.call(|| work(black_box(1)))));
    let default_mode = shared(&url, "bench-default-open", false);
    trip(&default_mode);
    g.bench_function("redis_default", |b| {
        b.iter(|| default_mode.call(|| work(black_box(1))))
    });
    g.finish();

    c.final_summary();
    drop(server);
}
