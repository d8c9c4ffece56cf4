//! The tracing events, captured by a real `tracing-subscriber` formatter.

use std::io;
use std::sync::{Arc, Mutex};

use breakerbox::{CircuitBreaker, Config};
use tracing::Level;

/// Runs `f` under a subscriber at `level` and returns what it logged.
///
/// One capture at a time: tracing keeps a global maximum level and a
/// per-callsite interest cache, which scoped subscribers on parallel test
/// threads update under each other (an event could be filtered out by the
/// level another test's subscriber left behind).
fn logged(level: Level, f: impl FnOnce()) -> String {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || Writer(Arc::clone(&sink)))
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn trip(cb: &CircuitBreaker) {
    let _ = cb.call(|| Err::<(), _>("down"));
    let _ = cb.call(|| Err::<(), _>("down"));
}

#[test]
fn a_trip_is_a_warning_with_the_name_the_states_and_the_counts_that_caused_it() {
    let cb = CircuitBreaker::new("trace-db", Config::default().max_failures(2)).unwrap();
    let log = logged(Level::INFO, || trip(&cb));
    let line = log
        .lines()
        .find(|l| l.contains("closed -> open"))
        .expect(&log);
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(" breakerbox:"),
        "not under the target `breakerbox`: {line}"
    );
    for field in [
        r#"breaker="trace-db""#,
        r#"from="closed""#,
        r#"to="open""#,
        "calls=2",
        "successes=0",
        "failures=2",
        "consecutive_failures=2",
        r#"tripped_by="consecutive_failures""#,
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
}

#[test]
fn a_reset_is_logged_at_info() {
    let cb = CircuitBreaker::new("trace-reset", Config::default().max_failures(1)).unwrap();
    let _ = cb.call(|| Err::<(), _>("down"));
    let log = logged(Level::INFO, || cb.reset());
    let line = log
        .lines()
        .find(|l| l.contains("open -> closed"))
        .expect(&log);
    assert!(line.contains("INFO"), "{line}");
}

#[test]
fn rejections_are_logged_at_debug_only() {
    let cb = CircuitBreaker::new("trace-reject", Config::default()).unwrap();
    cb.force_open();
    let info = logged(Level::INFO, || {
        let _ = cb.try_acquire();
    });
    assert!(!info.contains("rejected"), "{info}");
    let debug = logged(Level::DEBUG, || {
        let _ = cb.try_acquire();
    });
    let line = debug
        .lines()
        .find(|l| l.contains("rejected"))
        .expect(&debug);
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains(r#"reason="forced_open""#), "{line}");
}

#[test]
fn an_open_rejection_says_when_to_retry() {
    let cb = CircuitBreaker::new("trace-retry", Config::default().max_failures(1)).unwrap();
    let _ = cb.call(|| Err::<(), _>("down"));
    let debug = logged(Level::DEBUG, || {
        let _ = cb.try_acquire();
    });
    let line = debug
        .lines()
        .find(|l| l.contains("rejected"))
        .expect(&debug);
    assert!(line.contains("retry_after_ms="), "{line}");
}

#[test]
fn a_refused_setting_is_a_warning_naming_the_breaker_the_key_and_the_origin() {
    let registry = breakerbox::Registry::new();
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", "5m").unwrap();
    registry.override_config("trace-refused", ops).unwrap();
    let code = Config::default()
        .backoff_multiplier(2.0)
        .backoff_max(std::time::Duration::from_secs(120));
    let log = logged(Level::WARN, || {
        registry.get_or_create("trace-refused", code).unwrap();
    });
    let line = log
        .lines()
        .find(|l| l.contains("setting refused"))
        .expect(&log);
    assert!(
        line.contains("WARN") && line.contains(" breakerbox:"),
        "{line}"
    );
    for field in [
        r#"breaker="trace-refused""#,
        r#"key="timeout""#,
        r#"origin="Registry::override_config""#,
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
}

#[test]
fn an_unused_configuration_is_a_warning_naming_it_and_its_origin() {
    let registry = breakerbox::Registry::new();
    let mut ops = breakerbox::PartialConfig::new();
    ops.set("timeout", "5s").unwrap();
    registry.override_config("trace-paymnets", ops).unwrap();
    let log = logged(Level::WARN, || {
        let unused = registry.warn_unused_configurations();
        assert_eq!(unused.len(), 1);
    });
    let line = log
        .lines()
        .find(|l| l.contains("trace-paymnets"))
        .expect(&log);
    assert!(
        line.contains("WARN") && line.contains(" breakerbox:"),
        "{line}"
    );
    for field in [
        r#"breaker="trace-paymnets""#,
        r#"origin="Registry::override_config""#,
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
}
