//! The metrics through a real Prometheus exporter, scraped over loopback.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use breakerbox::{registry, Config, ManualClock};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The process-wide recorder, installed once for the tests of this binary.
fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().install_recorder().unwrap();
            breakerbox::metrics::describe_metrics();
            handle
        })
        .clone()
}

async fn serve_metrics(handle: PrometheusHandle) -> SocketAddr {
    let app = Router::new().route("/metrics", get(move || async move { handle.render() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A plain HTTP/1.1 GET, as a Prometheus server sends it, after the
/// breakers' counts are synced into their counters (which the background
/// sync would do within its interval).
async fn scrape(addr: SocketAddr) -> String {
    breakerbox::metrics::sync_now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn has_line(scrape: &str, line: &str) -> bool {
    scrape.lines().any(|l| l == line)
}

#[tokio::test]
async fn a_scrape_shows_state_outcomes_rejections_and_durations_labelled_by_name() {
    let addr = serve_metrics(handle()).await;
    let clock = ManualClock::new();
    let cb = registry()
        .get_or_create(
            "prom-db",
            Config::default().max_failures(2).clock(clock.clone()),
        )
        .unwrap();
    let _ = cb.call(|| {
        clock.advance(Duration::from_millis(250));
        Ok::<_, ()>(())
    });
    let _ = cb.call(|| Err::<(), _>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    let _ = cb.call(|| Ok::<_, ()>(())); // rejected

    let scrape = scrape(addr).await;
    for line in [
        r#"circuit_breaker_state{name="prom-db"} 1"#,
        r#"circuit_breaker_successes_total{name="prom-db"} 1"#,
        r#"circuit_breaker_failures_total{name="prom-db"} 2"#,
        r#"circuit_breaker_rejected_total{name="prom-db"} 1"#,
        // Durations are sampled, the first call of each stripe included:
        // one of the three calls with an outcome.
        r#"circuit_breaker_call_duration_seconds_count{name="prom-db"} 1"#,
        r#"circuit_breaker_call_duration_seconds_sum{name="prom-db"} 0.25"#,
    ] {
        assert!(has_line(&scrape, line), "missing `{line}` in:\n{scrape}");
    }
    assert!(scrape.contains("# HELP circuit_breaker_state"));
}

/// The counters are the `Totals` fields of the same names, with
/// Prometheus' `_total` suffix.
#[tokio::test]
async fn the_counters_are_named_after_the_totals_fields() {
    use breakerbox::metrics as names;
    let addr = serve_metrics(handle()).await;
    let cb = registry()
        .get_or_create("prom-words", Config::default().max_failures(1))
        .unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call_with(|_| breakerbox::Outcome::Ignored, || Err::<(), _>(()));
    drop(cb.try_acquire().unwrap());
    let _ = cb.call(|| Err::<(), _>(())); // trips
    let _ = cb.call(|| Ok::<_, ()>(())); // rejected
    let totals = cb.stats().totals;
    let scrape = scrape(addr).await;
    for (name, field, value) in [
        (names::SUCCESSES, "successes", totals.successes),
        (names::FAILURES, "failures", totals.failures),
        (names::IGNORED, "ignored", totals.ignored),
        (names::CANCELLED, "cancelled", totals.cancelled),
        (names::REJECTED, "rejected", totals.rejected),
    ] {
        assert_eq!(name, format!("circuit_breaker_{field}_total"));
        let line = format!(r#"{name}{{name="prom-words"}} {value}"#);
        assert!(has_line(&scrape, &line), "missing `{line}` in:\n{scrape}");
    }
    assert_eq!(names::TIMEOUTS, "circuit_breaker_timeouts_total");
    assert_eq!(names::SLOW_CALLS, "circuit_breaker_slow_calls_total");
    assert_eq!(
        names::CALL_DURATION,
        "circuit_breaker_call_duration_seconds"
    );
}

#[tokio::test]
async fn a_new_breaker_reports_closed_before_any_call() {
    let addr = serve_metrics(handle()).await;
    registry()
        .get_or_create("prom-fresh", Config::default())
        .unwrap();
    let scrape = scrape(addr).await;
    assert!(
        has_line(&scrape, r#"circuit_breaker_state{name="prom-fresh"} 0"#),
        "{scrape}"
    );
}

#[tokio::test]
async fn the_breaker_name_is_the_only_label() {
    let addr = serve_metrics(handle()).await;
    let cb = registry()
        .get_or_create("prom-labels", Config::default())
        .unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let scrape = scrape(addr).await;
    for line in scrape.lines().filter(|l| l.contains("prom-labels")) {
        let labels = &line[line.find('{').unwrap() + 1..line.find('}').unwrap()];
        let names: Vec<&str> = labels
            .split(',')
            .map(|l| l.split('=').next().unwrap())
            .collect();
        assert!(
            names == ["name"] || names == ["name", "quantile"],
            "unexpected labels in `{line}`"
        );
    }
}

/// A dropped breaker is no longer synced: its last calls reach its
/// counters through the sync its drop makes.
#[tokio::test]
async fn a_dropped_breakers_last_calls_reach_its_counters() {
    let addr = serve_metrics(handle()).await;
    let cb = breakerbox::CircuitBreaker::new("prom-dropped", Config::default()).unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    drop(cb);
    let scrape = scrape(addr).await;
    let line = r#"circuit_breaker_successes_total{name="prom-dropped"} 1"#;
    assert!(has_line(&scrape, line), "missing `{line}` in:\n{scrape}");
}

/// Counts its readings, so that a test can see which calls read it.
#[derive(Debug, Default)]
struct CountingClock {
    readings: std::sync::atomic::AtomicU64,
}

impl breakerbox::Clock for CountingClock {
    fn now(&self) -> Duration {
        self.readings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Duration::ZERO
    }
}

/// With metrics on, only the sampled calls read the clock: the first call
/// and one in `SAMPLE_EVERY` after it, twice each (start and end).
#[test]
fn only_sampled_calls_read_the_clock_for_the_duration_histogram() {
    let _ = handle();
    let clock = std::sync::Arc::new(CountingClock::default());
    let config = Config::default().clock(SharedClock(clock.clone()));
    let cb = breakerbox::CircuitBreaker::new("prom-sampled", config).unwrap();
    let built = clock.readings.load(std::sync::atomic::Ordering::Relaxed);
    let calls = 2 * breakerbox::metrics::SAMPLE_EVERY;
    for _ in 0..calls {
        let _ = cb.call(|| Ok::<_, ()>(()));
    }
    let read = clock.readings.load(std::sync::atomic::Ordering::Relaxed) - built;
    assert_eq!(read, 2 * 2, "{read} clock readings for {calls} calls");
}

/// The counting clock, shared with the test.
#[derive(Debug)]
struct SharedClock(std::sync::Arc<CountingClock>);

impl breakerbox::Clock for SharedClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// A breaker removed from the registry and created again under the same
/// name starts its own counts at zero; the series it shares with the old
/// one keeps counting up from where the old one left it.
#[tokio::test]
async fn a_breaker_recreated_under_the_same_name_keeps_counting_up() {
    let addr = serve_metrics(handle()).await;
    let name = "prom-recreated";
    let old = registry().get_or_create(name, Config::default()).unwrap();
    for _ in 0..3 {
        let _ = old.call(|| Ok::<_, ()>(()));
    }
    drop(old);
    drop(registry().remove(name));
    let new = registry().get_or_create(name, Config::default()).unwrap();
    let _ = new.call(|| Ok::<_, ()>(()));
    let scrape = scrape(addr).await;
    let line = r#"circuit_breaker_successes_total{name="prom-recreated"} 4"#;
    assert!(has_line(&scrape, line), "missing `{line}` in:\n{scrape}");
}

/// Two live breakers of the same name (built outside the registry) share
/// one series: it counts the calls of both.
#[tokio::test]
async fn two_breakers_of_one_name_add_up_in_their_shared_series() {
    let addr = serve_metrics(handle()).await;
    let a = breakerbox::CircuitBreaker::new("prom-twins", Config::default()).unwrap();
    let b = breakerbox::CircuitBreaker::new("prom-twins", Config::default()).unwrap();
    let _ = a.call(|| Ok::<_, ()>(()));
    let _ = a.call(|| Ok::<_, ()>(()));
    let _ = b.call(|| Ok::<_, ()>(()));
    let scrape = scrape(addr).await;
    let line = r#"circuit_breaker_successes_total{name="prom-twins"} 3"#;
    assert!(has_line(&scrape, line), "missing `{line}` in:\n{scrape}");
}
