//! The Grafana dashboard (`breaker/dashboards/grafana.json`) queries only
//! series that a real Prometheus scrape of the `metrics` feature shows, and
//! charts every metric the library reports.

use std::collections::BTreeSet;
use std::time::Duration;

use breakerbox::{Config, ManualClock, Outcome};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../breaker/dashboards/grafana.json");

/// Every query of the dashboard: panels' `expr`s and the variables'.
fn queries() -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "definition" | "query", Value::String(query)) => {
                            out.push(query.clone())
                        }
                        _ => walk(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut out = Vec::new();
    walk(&dashboard, &mut out);
    // The data source variable's `query` is a plugin type, not PromQL.
    out.retain(|query| query != "prometheus");
    out
}

/// The metric names a query reads.
fn series(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = query;
    while let Some(at) = rest.find("circuit_breaker_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The `quantile="..."` values a query reads.
fn quantiles(query: &str) -> Vec<&str> {
    query
        .split("quantile=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

/// A scrape after a breaker has made every kind of call: successes,
/// failures, ignored errors, a cancelled call, a slow call, a timeout and
/// rejections.
fn scrape() -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        breakerbox::metrics::describe_metrics();
        let clock = ManualClock::new();
        let cb = breakerbox::registry()
            .get_or_create(
                "grafana-db",
                Config::default()
                    .max_failures(3)
                    .slow_call_duration(Duration::from_millis(100))
                    .call_timeout(Duration::from_millis(10))
                    .clock(clock.clone()),
            )
            .unwrap();
        let _ = cb.call(|| {
            clock.advance(Duration::from_millis(150));
            Ok::<_, ()>(())
        });
        let _ = cb.call_with(|_| Outcome::Ignored, || Err::<(), _>(()));
        drop(cb.try_acquire());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let hang = cb.call_async(std::future::pending::<Result<(), ()>>);
            assert!(hang.await.is_err());
        });
        let _ = cb.call(|| Err::<(), _>(()));
        let _ = cb.call(|| Err::<(), _>(()));
        let _ = cb.call(|| Ok::<_, ()>(()));
        // The counters follow the breakers' counts at each sync.
        breakerbox::metrics::sync_now();
    });
    handle.render()
}

#[test]
fn every_series_the_dashboard_queries_is_in_a_real_scrape() {
    let scrape = scrape();
    let scraped: BTreeSet<&str> = scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let queries = queries();
    assert!(queries.len() >= 10, "{queries:?}");
    for query in &queries {
        let names = series(query);
        assert!(!names.is_empty(), "`{query}` reads no breaker series");
        for name in names {
            assert!(
                scraped.contains(name.as_str()),
                "`{name}` (in `{query}`) is not in the scrape:\n{scrape}"
            );
        }
        for quantile in quantiles(query) {
            let line = format!(
                "circuit_breaker_call_duration_seconds{{name=\"grafana-db\",quantile=\"{quantile}\"}}"
            );
            assert!(
                scrape.lines().any(|l| l.starts_with(&line)),
                "no `{line}` in the scrape:\n{scrape}"
            );
        }
    }
}

#[test]
fn every_metric_the_library_reports_has_a_panel() {
    use breakerbox::metrics::*;
    let queried: BTreeSet<String> = queries().iter().flat_map(|q| series(q)).collect();
    for name in [
        STATE, SUCCESSES, FAILURES, IGNORED, REJECTED, TIMEOUTS, SLOW_CALLS, CANCELLED,
    ] {
        assert!(queried.contains(name), "no panel queries `{name}`");
    }
    assert!(
        queried.iter().any(|name| name.starts_with(CALL_DURATION)),
        "no panel queries `{CALL_DURATION}`"
    );
}
