//! Hostile input through every source: configuration from files, the
//! environment, JSON and setters, names and prefixes in the Redis store.
//! Each test not named `guard_...` was written against the code before its
//! fix, where it failed (two are ignored, each with the limitation that
//! keeps it from passing); the `guard_` tests pin down attacks that held.
//!
//! The Redis tests run a real `redis-server` on loopback (see
//! `support/redis_server.rs`), and wait for states by polling with a
//! bound, never by sleeping.

mod support;

use support::on_event::OnEvent;
use support::peak_alloc::{peak_of, Peak};

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use breakerbox::{
    CircuitBreaker, Config, ConfigFile, ManualClock, PartialConfig, RedisStore, Registry, State,
    MAX_CONFIG_FILE_BYTES,
};
use support::redis_server::RedisServer;

// ----- memory: the peak of the bytes live on this thread (as in hostile_config)

#[global_allocator]
static GLOBAL: Peak = Peak;

// ----- helpers ---------------------------------------------------------------

/// The documented propagation bound (`flush_interval` + `poll_interval`)
/// plus slack for a loaded 2-core machine, as in `fleet.rs`.
const BOUND: Duration = Duration::from_millis(110 + 900);

fn poll_until<T>(
    within: Duration,
    mut done: impl FnMut() -> Option<T>,
    what: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn eventually(breaker: &CircuitBreaker, state: State, within: Duration) {
    poll_until(
        within,
        || (breaker.state() == state).then_some(()),
        || {
            format!(
                "`{}`: expected {state:?} within {within:?}, is {:?}",
                breaker.name().escape_debug(),
                breaker.state()
            )
        },
    );
}

fn connected(store: &RedisStore) {
    poll_until(
        BOUND,
        || store.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
}

fn fleet_state(con: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("HGET").arg(key).arg("state").query(con).unwrap()
}

fn wait_fleet_state(con: &mut redis::Connection, key: &str, state: &str) {
    poll_until(
        BOUND,
        || (fleet_state(con, key).as_deref() == Some(state)).then_some(()),
        || format!("{key:?} never became {state}"),
    );
}

/// Five failures: the default `max_failures`.
fn fail_five(breaker: &CircuitBreaker) {
    for _ in 0..5 {
        let _ = breaker.call(|| Err::<(), _>("down"));
    }
}

fn joined(store: &RedisStore, name: &str, config: Config) -> Arc<CircuitBreaker> {
    let breaker = Arc::new(CircuitBreaker::new(name, config).unwrap());
    assert!(breaker.join_store(store));
    breaker
}

/// Waits until `n` listeners are subscribed to `channel`.
fn subscribed(con: &mut redis::Connection, channel: &str, n: i64) {
    poll_until(
        BOUND,
        || {
            let (_, count): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query(con)
                .unwrap();
            (count >= n).then_some(())
        },
        || format!("fewer than {n} listeners on {channel}"),
    );
}

/// A proxy in front of the test server that can pass the server's replies
/// on one byte at a time, each after a delay: a Redis that answers, but
/// stalls in the middle of every reply.
struct TrickleProxy {
    port: u16,
    per_byte_ms: Arc<AtomicU64>,
}

impl TrickleProxy {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let per_byte_ms = Arc::new(AtomicU64::new(0));
        let delay = Arc::clone(&per_byte_ms);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                std::thread::spawn(move || pump(client, server_out, None));
                let delay = Arc::clone(&delay);
                std::thread::spawn(move || pump(server, client_out, Some(delay)));
            }
        });
        TrickleProxy { port, per_byte_ms }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// From now on every byte of every reply comes `by` after the last.
    fn trickle(&self, by: Duration) {
        self.per_byte_ms
            .store(by.as_millis() as u64, Ordering::Release);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Option<Arc<AtomicU64>>) {
    let mut buffer = [0u8; 16 * 1024];
    'copy: loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let ms = delay.as_ref().map_or(0, |d| d.load(Ordering::Acquire));
        if ms == 0 {
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
            continue;
        }
        for byte in &buffer[..n] {
            // The proxy plays a slow server: this is its latency, not a
            // test waiting for a state.
            std::thread::sleep(Duration::from_millis(ms));
            if to.write_all(std::slice::from_ref(byte)).is_err() {
                break 'copy;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Every event any thread of this test binary logs, formatted as
/// `tracing_subscriber::fmt` writes it (installed once, globally: the
/// store's threads log on the global subscriber).
fn global_log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        struct Sink(&'static Mutex<Vec<u8>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(log))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        log
    })
}

/// A `tracing` subscriber that panics on every warning: a careless layer.
fn panic_on_warn() -> impl tracing::Subscriber {
    OnEvent(|event: &tracing::Event<'_>| {
        if *event.metadata().level() == tracing::Level::WARN {
            panic!("a logging layer that panics");
        }
    })
}

/// Whether `text` holds a character that breaks a log line or reorders
/// it: a control character, a bidi control (Unicode's `Bidi_Control`
/// property) or a line or paragraph separator.
fn raw_breaker(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        c.is_control()
            || matches!(
                c,
                '\u{061c}'
                    | '\u{200e}'
                    | '\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{2028}'
                    | '\u{2029}'
            )
    })
}

// =============================================================================
// Defects: the Redis store
// =============================================================================

/// The call path's one deadline is enforced per socket read, not for the
/// round trip: a Redis (or a proxy, or a congested link) that sends each
/// reply a byte at a time keeps a probe waiting far past `operation_timeout`.
#[test]
#[ignore = "known limitation: the blocking redis connection bounds each read, not a whole reply (see the redis_store module docs)"]
fn a_probe_waits_no_longer_than_the_operation_timeout_when_redis_stalls_mid_reply() {
    let server = RedisServer::start();
    let proxy = TrickleProxy::start(server.addr());
    let operation_timeout = Duration::from_millis(300);
    let store = RedisStore::builder(proxy.url())
        .prefix("trickle")
        .operation_timeout(operation_timeout)
        .build()
        .unwrap();
    let config = Config::default().timeout(Duration::from_millis(200));
    let breaker = joined(&store, "trickled", config);
    connected(&store);
    fail_five(&breaker);
    eventually(
        &breaker,
        State::HalfOpen,
        Duration::from_millis(200) + BOUND,
    );
    let mut con = server.client();
    wait_fleet_state(&mut con, "trickle:{trickled}:state", "half_open");
    // Every byte of every reply now comes 40 ms after the last: no single
    // read waits anywhere near the operation timeout.
    proxy.trickle(Duration::from_millis(40));
    assert!(store.is_connected());
    let started = Instant::now();
    let probe = breaker.try_acquire();
    let took = started.elapsed();
    assert!(
        took < operation_timeout + Duration::from_millis(150),
        "the probe waited {took:?} on Redis (operation_timeout {operation_timeout:?})"
    );
    drop(probe);
}

/// The scripts publish `string.format('%d %d %d %s', ..., name)`: Redis's
/// Lua 5.1 formats `%s` with C's `sprintf` for strings under 100 bytes,
/// which stops at the first NUL. The event of the breaker `victim\0evil`
/// then names `victim`, and every process's `victim` breaker applies it.
#[test]
fn a_name_with_a_nul_cannot_open_the_breaker_named_by_its_prefix() {
    let server = RedisServer::start();
    let mut con = server.client();
    // Polls every hour: the breakers below change state through pub/sub
    // alone.
    let store = |_: ()| {
        RedisStore::builder(server.url())
            .prefix("nul")
            .poll_interval(RedisStore::MAX_INTERVAL)
            .build()
            .unwrap()
    };
    let (ours, theirs) = (store(()), store(()));
    let victim = joined(&ours, "victim", Config::default());
    let follower = joined(&ours, "control", Config::default());
    let evil = joined(&theirs, "victim\0evil", Config::default());
    let tripper = joined(&theirs, "control", Config::default());
    connected(&ours);
    connected(&theirs);
    subscribed(&mut con, "nul:events:db0", 2);
    for key in ["nul:{victim}:state", "nul:{control}:state"] {
        wait_fleet_state(&mut con, key, "closed");
    }
    fail_five(&evil);
    wait_fleet_state(&mut con, "nul:{victim\0evil}:state", "open");
    // A later event on the same channel: once `ours` has applied it, it
    // has applied the evil one too.
    fail_five(&tripper);
    eventually(&follower, State::Open, BOUND);
    assert_eq!(
        fleet_state(&mut con, "nul:{victim}:state").as_deref(),
        Some("closed"),
        "nobody tripped `victim`"
    );
    assert_eq!(
        victim.state(),
        State::Closed,
        "`victim\\0evil`'s trip opened `victim`"
    );
}

/// Pub/sub channels are global to a Redis server, across its databases:
/// two applications that keep their keys apart with `redis://host/0` and
/// `redis://host/1` (and the default prefix) still apply each other's
/// transitions to their breakers of the same name.
#[test]
fn a_store_on_another_database_does_not_open_our_breakers() {
    let server = RedisServer::start();
    let mut con = server.client();
    let on_db = |db: u8| {
        RedisStore::builder(format!("{}{db}", server.url()))
            .poll_interval(RedisStore::MAX_INTERVAL)
            .build()
            .unwrap()
    };
    let (ours, ours_elsewhere, other_app) = (on_db(0), on_db(0), on_db(1));
    let payments = joined(&ours, "payments", Config::default());
    let follower = joined(&ours, "control", Config::default());
    let tripper = joined(&ours_elsewhere, "control", Config::default());
    let their_payments = joined(&other_app, "payments", Config::default());
    for store in [&ours, &ours_elsewhere, &other_app] {
        connected(store);
    }
    subscribed(&mut con, "breaker:events:db0", 2);
    subscribed(&mut con, "breaker:events:db1", 1);
    wait_fleet_state(&mut con, "breaker:{payments}:state", "closed");
    wait_fleet_state(&mut con, "breaker:{control}:state", "closed");
    // The other application's `payments` trips, in database 1.
    fail_five(&their_payments);
    let mut db1 = redis::Client::open(format!("{}1", server.url()))
        .and_then(|c| c.get_connection())
        .unwrap();
    wait_fleet_state(&mut db1, "breaker:{payments}:state", "open");
    // A later event of our own: once applied, the other one was too.
    fail_five(&tripper);
    eventually(&follower, State::Open, BOUND);
    assert_eq!(
        fleet_state(&mut con, "breaker:{payments}:state").as_deref(),
        Some("closed")
    );
    assert_eq!(
        payments.state(),
        State::Closed,
        "another database's trip opened our breaker"
    );
}

/// `SharedState`'s contract: none of its calls may panic. A probe's round
/// trip that fails logs the outage (`Inner::down`) on the caller's thread,
/// outside any `catch_unwind`: a subscriber that panics on that warning
/// takes the application's call down with it (and strict mode's `admit`
/// alike).
#[test]
fn a_probe_does_not_panic_when_the_outage_warning_panics_in_a_subscriber() {
    // The store's worker may notice the outage before the probe does (it
    // is woken by the transitions); then the probe has no warning to give,
    // and the scenario runs again on a fresh server.
    for attempt in 0..5 {
        let Some(probe) = probe_that_notices_an_outage(&format!("panicky{attempt}")) else {
            continue;
        };
        assert!(
            probe.is_ok(),
            "a subscriber's panic escaped from the store into `try_acquire`"
        );
        return;
    }
    panic!("the store's worker noticed the outage first in five attempts");
}

/// Trips a breaker of a fleet, kills the server and lets the open period
/// end; then, if the store still believes it is connected, takes a probe
/// under a subscriber that panics on warnings, and returns whether the
/// panic stayed out of `try_acquire`. `None` if the store's worker noticed
/// the outage first.
fn probe_that_notices_an_outage(name: &str) -> Option<std::thread::Result<bool>> {
    let mut server = RedisServer::start();
    let clock = ManualClock::new();
    // The worker sleeps between batches unless woken.
    let store = RedisStore::builder(server.url())
        .prefix(name)
        .flush_interval(RedisStore::MAX_INTERVAL)
        .build()
        .unwrap();
    let breaker = joined(&store, name, Config::default().clock(clock.clone()));
    connected(&store);
    fail_five(&breaker);
    assert_eq!(breaker.state(), State::Open);
    let mut con = server.client();
    wait_fleet_state(&mut con, &format!("{name}:{{{name}}}:state"), "open");
    drop(con);
    server.kill();
    clock.advance(Duration::from_secs(61));
    assert_eq!(breaker.state(), State::HalfOpen);
    if !store.is_connected() {
        return None;
    }
    Some(tracing::subscriber::with_default(panic_on_warn(), || {
        panic::catch_unwind(AssertUnwindSafe(|| breaker.try_acquire().is_ok()))
    }))
}

/// `RedisStoreError` is the one public error whose `Display` prints what
/// it was given raw: the URL.
#[test]
fn a_redis_url_error_prints_the_url_escaped() {
    let error = RedisStore::open("http://x\n2099-01-01 ERROR forged\u{1b}[2J").unwrap_err();
    let message = error.to_string();
    assert_eq!(raw_breaker(&message), None, "raw in {message:?}");
}

/// The outage warning and the rejoin message give the prefix as
/// `prefix = %self.prefix`: a `Display` field, which a formatting
/// subscriber writes raw (the panic report escapes it: `%Escaped(..)`).
#[test]
fn the_outage_warning_prints_the_prefix_escaped() {
    let log = global_log();
    let prefix = "raw\nforged line\u{1b}[2J";
    let _store = RedisStore::builder("redis://127.0.0.1:1/")
        .prefix(prefix)
        .build()
        .unwrap();
    let marker = "forged line";
    let text = poll_until(
        Duration::from_secs(5),
        || {
            let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
            text.lines()
                .any(|l| l.contains("Redis store unreachable") && l.contains("raw"))
                .then_some(text)
        },
        || "no outage warning logged".into(),
    );
    let forged = text.lines().any(|l| l.starts_with(marker));
    assert!(!forged, "the prefix broke the log line:\n{text}");
}

// =============================================================================
// Defects: escaping
// =============================================================================

/// `Escaped` lists the bidi controls that reorder text but leaves out
/// U+061C ARABIC LETTER MARK, one of Unicode's `Bidi_Control` characters.
#[test]
fn a_rejection_escapes_the_arabic_letter_mark() {
    let cb = CircuitBreaker::new(
        "a\u{061c}b".to_owned(),
        Config::default().clock(ManualClock::new()),
    )
    .unwrap();
    cb.force_open();
    let message = cb.try_acquire().unwrap_err().to_string();
    assert!(!message.contains('\u{061c}'), "raw in {message:?}");
}

/// U+2028 and U+2029 are Unicode's line and paragraph separators: many
/// log viewers break the line there, so a name holding one still forges a
/// line.
#[test]
fn a_rejection_escapes_the_unicode_line_separators() {
    let cb = CircuitBreaker::new(
        "a\u{2028}2099-01-01 ERROR forged\u{2029}".to_owned(),
        Config::default().clock(ManualClock::new()),
    )
    .unwrap();
    cb.force_open();
    let message = cb.try_acquire().unwrap_err().to_string();
    assert!(
        !message.contains(['\u{2028}', '\u{2029}']),
        "raw in {message:?}"
    );
}

// =============================================================================
// Defects: configuration input
// =============================================================================

/// `MAX_CONFIG_FILE_BYTES` documents that a file at the limit parses in
/// less than 40 MB, also for its worst case: tables nested through dotted
/// keys (each line a table of ~70 levels, under TOML's recursion limit).
#[test]
fn a_file_at_the_size_limit_parses_within_the_documented_40_mb() {
    let dots = ".x".repeat(70);
    let mut text = String::new();
    for i in 0.. {
        let line = format!("k{i}{dots} = 1\n");
        if text.len() + line.len() > MAX_CONFIG_FILE_BYTES {
            break;
        }
        text.push_str(&line);
    }
    let (parsed, peak) = peak_of(|| ConfigFile::parse("deep.toml", &text).map(drop));
    assert!(parsed.is_err());
    assert!(
        peak < 40 << 20,
        "{} bytes took {} MB while parsed",
        text.len(),
        peak >> 20
    );
}

/// Two variables of ours that each validate but choose different windows
/// (the file refuses the pair): which one the breaker gets depends on the
/// order of the process's environment, and the other is dropped silently.
#[test]
fn two_window_variables_for_one_breaker_do_not_depend_on_the_environment_order() {
    let window = |vars: [(&str, &str); 2]| {
        let registry = Registry::new();
        match ConfigFile::new().with_vars(vars) {
            // A refusal is as good in either order, whichever variable it names.
            Err(_) => "refused".to_owned(),
            Ok(file) => {
                file.apply(&registry).unwrap();
                let db = registry
                    .get_or_create("db", Config::default().failure_rate(0.5))
                    .unwrap();
                // No getters for the windows: `Config`'s `Debug` lists them.
                let shown = format!("{:?}", db.config());
                shown
                    .split(", ")
                    .filter(|field| field.contains("_window"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    };
    let count = ("BREAKER_DB__COUNT_WINDOW", "20");
    let time = ("BREAKER_DB__TIME_WINDOW", "30s");
    assert_eq!(window([count, time]), window([time, count]));
}

/// Keys are case-insensitive in variable names, names are not: two
/// variables set one key of one breaker, and the last in the environment
/// wins silently.
#[test]
fn two_variables_for_one_key_do_not_depend_on_the_environment_order() {
    let timeout = |vars: [(&str, &str); 2]| {
        let registry = Registry::new();
        match ConfigFile::new().with_vars(vars) {
            // A refusal is as good in either order, whichever variable it names.
            Err(_) => "refused".to_owned(),
            Ok(file) => {
                file.apply(&registry).unwrap();
                let db = registry.get_or_create("db", Config::default()).unwrap();
                format!("{:?}", db.config().settings().timeout)
            }
        }
    };
    let upper = ("BREAKER_DB__TIMEOUT", "1s");
    let lower = ("BREAKER_DB__timeout", "2s");
    assert_eq!(timeout([upper, lower]), timeout([lower, upper]));
}

/// Numbers and durations are trimmed (`" 3 "`, `" 30s "`), a store's name
/// is not: `BREAKER_DB__STORE=" fleet "` (a trailing space in an env file)
/// names a store no one registers, and the breaker silently stays local.
#[test]
fn a_store_name_from_the_environment_is_trimmed_like_every_other_value() {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars([("BREAKER_DB__STORE", " fleet ")])
        .unwrap()
        .apply(&registry)
        .unwrap();
    let db = registry.get_or_create("db", Config::default()).unwrap();
    assert_eq!(db.config().settings().store.as_deref(), Some("fleet"));
}

/// TOML refuses a key given twice; JSON for `Config`/`PartialConfig`
/// keeps the last silently (serde's derived structs say "duplicate
/// field").
#[test]
fn a_json_key_given_twice_is_refused() {
    let parsed: Result<Config, _> = serde_json::from_str(r#"{"timeout": "1s", "timeout": "2h"}"#);
    assert!(
        parsed.is_err(),
        "kept {:?}",
        parsed.map(|c| c.settings().timeout)
    );
}

/// Values are promised "as the user wrote them": a positive rate too
/// small for an `f64` (`1e-400`) is refused as "`failure_rate` = 0.0:
/// must be a fraction greater than 0", a value the file never held and a
/// reason that looks wrong for what it did hold.
#[test]
#[ignore = "known limitation: the toml crate hands over the parsed float (0.0), not its text"]
fn a_float_that_underflows_is_shown_as_written() {
    let error = ConfigFile::parse("breakers.toml", "[db]\nfailure_rate = 1e-400\n").unwrap_err();
    assert_eq!(error.value(), Some("1e-400"), "{error}");
}

/// The same through JSON, where the commit promises "numbers beyond u64"
/// as written: `18446744073709551616` reaches the visitor as an `f64`, and
/// is refused as "`max_failures` = 1.8446744073709552e19: must be a whole
/// number", for a whole number written otherwise.
#[test]
fn a_json_integer_beyond_u64_is_shown_as_written() {
    let error = serde_json::from_str::<Config>(r#"{"max_failures": 18446744073709551616}"#)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(error.contains("18446744073709551616"), "{error}");
}

// =============================================================================
// Guards: attacks that held up
// =============================================================================

#[test]
fn guard_deeply_nested_toml_is_refused_without_overflowing_the_stack() {
    let depth = 20_000;
    let arrays = format!("[a]\nx = {}{}", "[".repeat(depth), "]".repeat(depth));
    let tables = format!(
        "[a]\nx = {}1{}",
        "{y = ".repeat(depth / 5),
        "}".repeat(depth / 5)
    );
    let dotted = format!("[a]\nx{} = 1\n", ".x".repeat(depth));
    let header = format!("[a{}]\n", ".x".repeat(depth));
    for text in [arrays, tables, dotted, header] {
        assert!(text.len() <= MAX_CONFIG_FILE_BYTES);
        let error = ConfigFile::parse("deep.toml", &text).unwrap_err();
        assert_eq!(error.origin(), "deep.toml");
    }
}

#[test]
fn guard_deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let depth = 100_000;
    for value in [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)),
    ] {
        let json = format!(r#"{{"unknown": {value}}}"#);
        assert!(serde_json::from_str::<Config>(&json).is_err());
        let json = format!(r#"{{"timeout": {value}}}"#);
        assert!(serde_json::from_str::<PartialConfig>(&json).is_err());
    }
}

#[test]
fn guard_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
    let dir = std::env::temp_dir().join(format!("review-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = "[db]\ntimeout = \"1s\"\n";
    let mut text = String::from(table);
    text.push_str(&"#".repeat(MAX_CONFIG_FILE_BYTES - table.len()));
    let exact = dir.join("exact.toml");
    std::fs::write(&exact, &text).unwrap();
    let link = dir.join("link.toml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&exact, &link).unwrap();
    assert_eq!(ConfigFile::read(&exact).unwrap().names(), ["db"]);
    assert_eq!(ConfigFile::read(&link).unwrap().names(), ["db"]);
    text.push('#');
    let over = dir.join("over.toml");
    std::fs::write(&over, &text).unwrap();
    let error = ConfigFile::read(&over).unwrap_err();
    assert!(error.reason().contains("64 KiB"), "{error}");
    let error = ConfigFile::read(&dir).unwrap_err();
    assert!(error.reason().starts_with("cannot read"), "{error}");
    let (read, peak) = peak_of(|| ConfigFile::read("/dev/zero").map(drop));
    assert!(read.is_err() && peak < 4 << 20, "{peak}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn guard_variables_whose_names_hold_double_underscores_reach_their_breaker() {
    let registry = Registry::new();
    ConfigFile::new()
        .with_vars([("BREAKER_A__B___TIMEOUT", "7s")])
        .unwrap()
        .apply(&registry)
        .unwrap();
    let cb = registry.get_or_create("a--b-", Config::default()).unwrap();
    assert_eq!(cb.config().settings().timeout, Duration::from_secs(7));
    let error = ConfigFile::new()
        .with_vars([("BREAKER___TIMEOUT", "1s")])
        .unwrap_err();
    assert_eq!(error.origin(), "environment variable BREAKER___TIMEOUT");
}

#[test]
fn guard_redis_durations_at_their_exact_bounds_build_and_one_past_is_refused() {
    let url = "redis://127.0.0.1:1/";
    let ns = Duration::from_nanos(1);
    assert!(RedisStore::builder(url)
        .key_ttl(RedisStore::MIN_KEY_TTL)
        .operation_timeout(ns)
        .flush_interval(ns)
        .build()
        .is_ok());
    for builder in [
        RedisStore::builder(url).key_ttl(RedisStore::MIN_KEY_TTL - ns),
        RedisStore::builder(url).key_ttl(RedisStore::MAX_SHARED_DURATION + ns),
        RedisStore::builder(url).operation_timeout(RedisStore::MAX_INTERVAL + ns),
        RedisStore::builder(url).poll_interval(RedisStore::MAX_INTERVAL + ns),
        RedisStore::builder(url).reconnect_backoff(ns, RedisStore::MAX_INTERVAL + ns),
        RedisStore::builder(url)
            .strict(true)
            .flush_interval(Duration::ZERO),
    ] {
        assert!(builder.build().is_err());
    }
}

#[test]
fn guard_names_that_already_hold_escapes_get_keys_of_their_own() {
    let server = RedisServer::start();
    let mut con = server.client();
    let store = RedisStore::builder(server.url())
        .prefix("esc%7B")
        .build()
        .unwrap();
    let names = ["{", "%7B", "%257B", "%", "", "}:{"];
    let breakers: Vec<_> = names
        .iter()
        .map(|name| joined(&store, name, Config::default()))
        .collect();
    connected(&store);
    let keys = |con: &mut redis::Connection| -> Vec<String> {
        redis::cmd("KEYS").arg("esc*:state").query(con).unwrap()
    };
    poll_until(
        BOUND,
        || (keys(&mut con).len() == names.len()).then_some(()),
        || "not every breaker reported".into(),
    );
    fail_five(&breakers[0]);
    wait_fleet_state(&mut con, "esc%257B:{%7B}:state", "open");
    for key in keys(&mut con) {
        if key != "esc%257B:{%7B}:state" {
            assert_eq!(
                fleet_state(&mut con, &key).as_deref(),
                Some("closed"),
                "{key}"
            );
        }
    }
}

#[test]
fn guard_two_instances_that_both_tripped_during_an_outage_share_one_open_period() {
    let mut server = RedisServer::start();
    let store = || {
        RedisStore::builder(server.url())
            .prefix("both")
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let (one, two) = (store(), store());
    let a = joined(&one, "both", Config::default());
    let b = joined(
        &two,
        "both",
        Config::default().timeout(Duration::from_secs(600)),
    );
    connected(&one);
    connected(&two);
    server.kill();
    for s in [&one, &two] {
        poll_until(
            BOUND,
            || (!s.is_connected()).then_some(()),
            || "the outage was not noticed".into(),
        );
    }
    fail_five(&a);
    fail_five(&b);
    server.restart();
    connected(&one);
    connected(&two);
    let mut con = server.client();
    wait_fleet_state(&mut con, "both:{both}:state", "open");
    let gen: i64 = redis::cmd("HGET")
        .arg("both:{both}:state")
        .arg("gen")
        .query(&mut con)
        .unwrap();
    assert_eq!(gen, 1, "one trip, one generation");
}
