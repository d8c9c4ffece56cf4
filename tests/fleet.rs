//! Fleet-wide breakers (feature `redis`) against a real `redis-server` on
//! loopback: several OS processes (this test binary, spawned again as a
//! fleet member) share one breaker name.
//!
//! Propagation between processes happens in real time, so the tests wait
//! for each expected state with a deadline, and check the measured delay
//! against the documented bound; they never sleep and hope.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config, ManualClock, OwnedPermit, RedisStore, State};
use support::redis_server::RedisServer;
use support::slow_proxy::SlowProxy;

/// The documented bound on a transition's propagation with the default
/// settings (`flush_interval` + `poll_interval`), plus slack for process
/// scheduling on a loaded 2-core machine.
const BOUND: Duration = Duration::from_millis(110 + 900);

// ----- the fleet member: this binary, spawned with BREAKER_FLEET_URL --------

/// A fleet member's breaker: `max_failures` 5, open for `TIMEOUT_MS`,
/// `HALF_OPEN` probes at a time.
fn member_breaker(url: &str, prefix: &str) -> (Arc<CircuitBreaker>, RedisStore) {
    let number = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let config = Config::default()
        .max_failures(5)
        .timeout(Duration::from_millis(number("TIMEOUT_MS", 60_000)))
        .half_open_max_calls(number("HALF_OPEN", 1) as u32);
    let breaker = Arc::new(CircuitBreaker::new("fleet-dependency", config).unwrap());
    let store = RedisStore::builder(url)
        .prefix(prefix)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    (breaker, store)
}

/// A member's log, with `BREAKER_FLEET_PANICKING_LOG` set: a careless
/// `tracing` subscriber that panics on the first warning it is given
/// (from whichever thread emits it), and keeps every error's message.
mod panicking_log {
    use std::fmt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level};

    use crate::support::on_event::OnEvent;

    #[derive(Default)]
    pub struct Log {
        panicked: AtomicBool,
        pub errors: Mutex<Vec<String>>,
    }

    /// Installs the log as the process's global subscriber.
    pub fn install() -> Arc<Log> {
        let log = Arc::new(Log::default());
        let kept = Arc::clone(&log);
        let subscriber = OnEvent(move |event: &Event<'_>| {
            let level = *event.metadata().level();
            if level == Level::WARN && !kept.panicked.swap(true, Ordering::AcqRel) {
                panic!("a logging layer that panics");
            }
            if level == Level::ERROR {
                let mut message = Message(String::new());
                event.record(&mut message);
                kept.errors.lock().unwrap().push(message.0);
            }
        });
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        log
    }

    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
}

/// The member's side of the protocol: one command per stdin line, one
/// `@@ ` reply line per command.
#[test]
#[ignore = "a fleet member, spawned by the other tests"]
fn fleet_member() {
    let Ok(url) = std::env::var("BREAKER_FLEET_URL") else {
        return;
    };
    let prefix = std::env::var("BREAKER_FLEET_PREFIX").unwrap();
    let log = std::env::var_os("BREAKER_FLEET_PANICKING_LOG").map(|_| panicking_log::install());
    let (breaker, store) = member_breaker(&url, &prefix);
    let mut held: Vec<OwnedPermit> = Vec::new();
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["fail", n] => {
                for _ in 0..n.parse::<u32>().unwrap() {
                    let _ = breaker.call(|| Err::<(), _>("dependency down"));
                }
                "ok".to_string()
            }
            ["succeed", n] => {
                for _ in 0..n.parse::<u32>().unwrap() {
                    let _ = breaker.call(|| Ok::<_, ()>(()));
                }
                "ok".to_string()
            }
            ["state"] => format!("{:?}", breaker.state()),
            ["wait", state, ms] => {
                let started = Instant::now();
                let deadline = started + Duration::from_millis(ms.parse().unwrap());
                loop {
                    let now = format!("{:?}", breaker.state());
                    if now == *state {
                        break format!("reached {}", started.elapsed().as_micros());
                    }
                    if Instant::now() >= deadline {
                        break format!("timeout {now}");
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            ["wait-connected", want, ms] => {
                let want: bool = want.parse().unwrap();
                let deadline = Instant::now() + Duration::from_millis(ms.parse().unwrap());
                loop {
                    if store.is_connected() == want {
                        break "reached".to_string();
                    }
                    if Instant::now() >= deadline {
                        break format!("timeout connected={}", !want);
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            ["errors"] => match &log {
                Some(log) => log.errors.lock().unwrap().join(" | "),
                None => "no log".to_string(),
            },
            ["acquire"] => match breaker.try_acquire_owned() {
                Ok(permit) => {
                    held.push(permit);
                    "admitted".to_string()
                }
                Err(rejected) => format!("rejected {:?}", rejected.reason()),
            },
            ["release", outcome] => {
                for permit in held.drain(..) {
                    match *outcome {
                        "success" => permit.success(),
                        _ => permit.failure(),
                    }
                }
                "ok".to_string()
            }
            ["exit"] => {
                writeln!(out, "@@ bye").unwrap();
                return;
            }
            _ => format!("unknown command {line}"),
        };
        writeln!(out, "@@ {reply}").unwrap();
        out.flush().unwrap();
    }
}

/// How long a member may take to answer one command before the test
/// fails instead of hanging.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The parent's handle on one member process.
struct Member {
    child: Child,
    stdin: ChildStdin,
    /// The member's reply lines, read by a thread of their own.
    replies: Receiver<String>,
}

impl Member {
    fn spawn(url: &str, prefix: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "fleet_member",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BREAKER_FLEET_URL", url)
            .env("BREAKER_FLEET_PREFIX", prefix)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, replies) = mpsc::channel();
        std::thread::spawn(move || {
            // The test harness prints around the member's lines, on the
            // same line as the first: a reply is whatever follows `@@ `.
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(at) = line.find("@@ ") {
                    if send.send(line[at + 3..].to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        Member {
            child,
            stdin,
            replies,
        }
    }

    /// Sends one command and returns its reply.
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.replies
            .recv_timeout(ANSWER_WITHIN)
            .unwrap_or_else(|e| panic!("no answer to `{command}`: {e}"))
    }

    /// Waits up to `within` for the member's breaker to be in `state`;
    /// returns how long it took.
    fn wait_for(&mut self, state: State, within: Duration) -> Duration {
        let reply = self.ask(&format!("wait {state:?} {}", within.as_millis()));
        match reply.strip_prefix("reached ") {
            Some(micros) => Duration::from_micros(micros.parse().unwrap()),
            None => panic!("expected {state:?} within {within:?}: {reply}"),
        }
    }

    /// Waits up to `within` for the member's store to be connected (or
    /// not).
    fn wait_connected(&mut self, connected: bool, within: Duration) {
        let reply = self.ask(&format!(
            "wait-connected {connected} {}",
            within.as_millis()
        ));
        assert_eq!(
            reply, "reached",
            "expected connected={connected} within {within:?}"
        );
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fleet(server: &RedisServer, prefix: &str, n: usize, env: &[(&str, &str)]) -> Vec<Member> {
    let mut members: Vec<Member> = (0..n)
        .map(|_| Member::spawn(&server.url(), prefix, env))
        .collect();
    // Every member has joined once it has read the shared state.
    for member in &mut members {
        member.wait_for(State::Closed, Duration::from_secs(5));
    }
    members
}

// ----- across processes ----------------------------------------------------

#[test]
fn a_trip_in_one_process_opens_the_breaker_in_every_process() {
    let server = RedisServer::start();
    let mut members = fleet(&server, "trip", 3, &[]);
    assert_eq!(members[0].ask("fail 5"), "ok");
    assert_eq!(members[0].ask("state"), "Open");
    for member in &mut members[1..] {
        let took = member.wait_for(State::Open, BOUND);
        eprintln!("trip reached a member in {took:?}");
    }
}

#[test]
fn failures_spread_over_processes_trip_the_fleet() {
    let server = RedisServer::start();
    let mut members = fleet(&server, "spread", 3, &[]);
    // 2 + 2 + 1 consecutive failures: no process reaches 5 on its own.
    assert_eq!(members[0].ask("fail 2"), "ok");
    assert_eq!(members[1].ask("fail 2"), "ok");
    assert_eq!(members[2].ask("fail 1"), "ok");
    for member in &mut members {
        member.wait_for(State::Open, BOUND);
    }
}

#[test]
fn half_open_probes_across_processes_never_exceed_the_limit() {
    let server = RedisServer::start();
    let mut members = fleet(
        &server,
        "probes",
        3,
        &[("TIMEOUT_MS", "300"), ("HALF_OPEN", "2")],
    );
    assert_eq!(members[0].ask("fail 5"), "ok");
    for member in &mut members {
        member.wait_for(State::Open, BOUND);
    }
    for member in &mut members {
        member.wait_for(State::HalfOpen, Duration::from_millis(300) + BOUND);
    }
    // Every process tries for three probes; the fleet has two slots.
    let mut admitted = 0;
    for _ in 0..3 {
        for member in &mut members {
            let reply = member.ask("acquire");
            if reply == "admitted" {
                admitted += 1;
            } else {
                assert!(reply.starts_with("rejected"), "{reply}");
            }
        }
    }
    assert_eq!(admitted, 2, "probes in flight across the fleet");
}

#[test]
fn closing_propagates_to_every_process() {
    let server = RedisServer::start();
    let mut members = fleet(&server, "close", 3, &[("TIMEOUT_MS", "200")]);
    assert_eq!(members[0].ask("fail 5"), "ok");
    for member in &mut members {
        member.wait_for(State::HalfOpen, Duration::from_millis(200) + BOUND);
    }
    assert_eq!(members[1].ask("acquire"), "admitted");
    assert_eq!(members[1].ask("release success"), "ok");
    for member in &mut members {
        member.wait_for(State::Closed, BOUND);
    }
}

#[test]
fn processes_protect_locally_while_redis_is_down_and_converge_after_it_returns() {
    let mut server = RedisServer::start();
    let mut members = fleet(&server, "outage", 3, &[]);
    server.kill();
    // The store is down: every call still runs through the local breaker,
    // promptly, and trips it locally.
    let started = Instant::now();
    assert_eq!(members[0].ask("fail 5"), "ok");
    assert_eq!(members[0].ask("state"), "Open");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "calls blocked on the store"
    );
    assert_eq!(members[1].ask("succeed 3"), "ok");
    assert_eq!(members[1].ask("state"), "Closed");
    server.restart();
    // Each reconnects (backoff capped at 200 ms here) and rejoins: the
    // local trip is proposed to the empty server, and every process opens.
    for member in &mut members {
        member.wait_for(State::Open, Duration::from_secs(5));
    }
}

#[test]
fn the_store_thread_survives_a_panic_in_a_logging_layer_and_rejoins() {
    let mut server = RedisServer::start();
    let prefix = "panicking-log";
    let mut careless = Member::spawn(
        &server.url(),
        prefix,
        &[("BREAKER_FLEET_PANICKING_LOG", "1")],
    );
    let mut other = Member::spawn(&server.url(), prefix, &[]);
    careless.wait_for(State::Closed, Duration::from_secs(5));
    other.wait_for(State::Closed, Duration::from_secs(5));
    careless.wait_connected(true, BOUND);
    // The outage's warning panics in the subscriber, on the store's thread.
    server.kill();
    careless.wait_connected(false, BOUND);
    server.restart();
    // The thread goes on: it reconnects, and its breaker's trip reaches
    // the fleet.
    careless.wait_connected(true, Duration::from_secs(5));
    assert_eq!(careless.ask("fail 5"), "ok");
    other.wait_for(State::Open, BOUND);
    let errors = careless.ask("errors");
    assert!(errors.contains("panicked"), "no error logged: {errors}");
}

// ----- in one process ------------------------------------------------------

fn joined(
    server: &RedisServer,
    prefix: &str,
    name: &'static str,
    config: Config,
) -> (Arc<CircuitBreaker>, RedisStore) {
    let breaker = Arc::new(CircuitBreaker::new(name, config).unwrap());
    let store = RedisStore::builder(server.url())
        .prefix(prefix)
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    (breaker, store)
}

/// Polls `done` until it returns `Some` (its value is returned), failing
/// with `what`'s message once `within` has passed.
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

/// Waits up to `within` for `breaker` to be in `state`.
fn eventually(breaker: &CircuitBreaker, state: State, within: Duration) {
    poll_until(
        within,
        || (breaker.state() == state).then_some(()),
        || {
            format!(
                "expected {state:?} within {within:?}, is {:?}",
                breaker.state()
            )
        },
    );
}

/// The fleet's state of a breaker as Redis holds it (`HGET key state`).
fn fleet_state(con: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("HGET").arg(key).arg("state").query(con).unwrap()
}

fn trip(breaker: &CircuitBreaker) {
    for _ in 0..5 {
        let _ = breaker.call(|| Err::<(), _>("down"));
    }
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn two_prefixes_on_one_redis_do_not_see_each_other() {
    let server = RedisServer::start();
    let (app_a, _store_a) = joined(&server, "app-a", "shared-name", Config::default());
    let (app_b, store_b) = joined(&server, "app-b", "shared-name", Config::default());
    let (app_a2, _store_a2) = joined(&server, "app-a", "shared-name", Config::default());
    trip(&app_a);
    // A second member of app-a follows; app-b's member stays closed through
    // several polls.
    eventually(&app_a2, State::Open, BOUND);
    let mut con = server.client();
    let keys: Vec<String> = redis::cmd("KEYS").arg("app-b:*").query(&mut con).unwrap();
    assert!(keys.iter().all(|k| k.starts_with("app-b:")));
    let state = fleet_state(&mut con, "app-b:{shared-name}:state");
    assert_eq!(state.as_deref(), Some("closed"));
    assert!(store_b.is_connected());
    assert_eq!(app_b.state(), State::Closed);
}

#[test]
fn a_new_member_joins_the_open_state_instead_of_resetting_it() {
    let server = RedisServer::start();
    let (first, _store) = joined(&server, "join", "late-joiner", Config::default());
    trip(&first);
    let mut con = server.client();
    // The trip reached the server...
    poll_until(
        BOUND,
        || {
            (fleet_state(&mut con, "join:{late-joiner}:state").as_deref() == Some("open"))
                .then_some(())
        },
        || "the trip never reached Redis".into(),
    );
    // ...and a breaker that starts now opens, with the fleet's remaining
    // period rather than a fresh one.
    let (late, _late_store) = joined(&server, "join", "late-joiner", Config::default());
    eventually(&late, State::Open, BOUND);
    let left = late.stats().time_until_half_open.unwrap();
    assert!(left <= Duration::from_secs(60), "{left:?}");
}

#[test]
fn keys_expire_after_the_configured_time_to_live() {
    let server = RedisServer::start();
    let breaker = Arc::new(CircuitBreaker::new("short-lived", Config::default()).unwrap());
    let store = RedisStore::builder(server.url())
        .prefix("ttl")
        .key_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker.join_store(&store);
    let mut con = server.client();
    let ttl = poll_until(
        BOUND,
        || {
            let ttl: i64 = redis::cmd("PTTL")
                .arg("ttl:{short-lived}:state")
                .query(&mut con)
                .unwrap();
            (ttl > 0).then_some(ttl)
        },
        || "no state key (PTTL not positive)".into(),
    );
    assert!(ttl <= 30_000, "PTTL {ttl}");
}

#[test]
fn a_probe_of_an_older_half_open_period_cannot_close_the_fleet() {
    let server = RedisServer::start();
    let config = || {
        Config::default()
            .timeout(Duration::from_millis(200))
            .half_open_max_calls(2)
    };
    let (a, _store_a) = joined(&server, "stale", "stale-probe", config());
    let (b, _store_b) = joined(&server, "stale", "stale-probe", config());
    trip(&a);
    eventually(&b, State::Open, BOUND);
    eventually(&a, State::HalfOpen, Duration::from_millis(200) + BOUND);
    eventually(&b, State::HalfOpen, BOUND);
    // One probe each, both leased from the same half-open period.
    let probe_a = a.try_acquire().expect("a fleet probe slot for a");
    let probe_b = b.try_acquire().expect("a fleet probe slot for b");
    // b's probe fails: the fleet re-opens, in a new generation, and after
    // its open period turns half-open again, in another.
    probe_b.failure();
    eventually(&a, State::Open, BOUND);
    eventually(&a, State::HalfOpen, Duration::from_millis(200) + BOUND);
    // a's probe of the first half-open period succeeds: a stale report,
    // which must not count toward closing the new half-open period.
    probe_a.success();
    let mut con = server.client();
    // Both leases are given back once the server has processed both ends.
    poll_until(
        BOUND,
        || {
            let leases: u64 = redis::cmd("ZCARD")
                .arg("stale:{stale-probe}:probes")
                .query(&mut con)
                .unwrap();
            (leases == 0).then_some(())
        },
        || "the probes' ends never reached Redis".into(),
    );
    // The key moves from `open` to `half_open` lazily, when a script runs
    // after the open period by Redis's clock, which may be a little behind
    // the process's: either word is right, `closed` is the defect.
    let state = fleet_state(&mut con, "stale:{stale-probe}:state");
    assert!(
        matches!(state.as_deref(), Some("half_open" | "open")),
        "a stale probe closed the fleet: {state:?}"
    );
    assert_eq!(a.state(), State::HalfOpen);
}

#[derive(Debug)]
enum FetchError {
    Down,
    Rejected,
}

impl From<breakerbox::Rejected> for FetchError {
    fn from(_: breakerbox::Rejected) -> Self {
        FetchError::Rejected
    }
}

#[breakerbox::circuit_breaker(
    name = "fleet-attribute",
    max_failures = 2,
    store = "fleet-attribute-store"
)]
fn fetch(up: bool) -> Result<(), FetchError> {
    if up {
        Ok(())
    } else {
        Err(FetchError::Down)
    }
}

#[test]
fn the_attribute_shares_its_breaker_through_the_named_store() {
    let server = RedisServer::start();
    // The store may be registered after the breaker's first call: the
    // breaker joins it then.
    fetch(true).unwrap();
    assert!(!breakerbox::registry()
        .get("fleet-attribute")
        .unwrap()
        .is_shared());
    let store = RedisStore::builder(server.url())
        .prefix("attr")
        .build()
        .unwrap();
    breakerbox::registry().register_store("fleet-attribute-store", store);
    let ours = breakerbox::registry().get("fleet-attribute").unwrap();
    assert!(ours.is_shared());
    // Another process's breaker of the same name trips...
    let config = Config::default().max_failures(2);
    let (theirs, _store) = joined(&server, "attr", "fleet-attribute", config);
    for _ in 0..2 {
        let _ = theirs.call(|| Err::<(), _>("down"));
    }
    // ...and the annotated function's breaker fails fast.
    eventually(&ours, State::Open, BOUND);
    assert!(matches!(fetch(true), Err(FetchError::Rejected)));
}

#[test]
fn in_strict_mode_the_next_admission_after_a_fleet_trip_is_rejected() {
    let server = RedisServer::start();
    let strict = |name: &'static str| {
        let breaker = Arc::new(CircuitBreaker::new(name, Config::default()).unwrap());
        let store = RedisStore::builder(server.url())
            .prefix("strict")
            .strict(true)
            .build()
            .unwrap();
        breaker.join_store(&store);
        (breaker, store)
    };
    let (a, _store_a) = strict("strict-dependency");
    let (b, store_b) = strict("strict-dependency");
    poll_until(
        BOUND,
        || store_b.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
    assert!(b.call(|| Ok::<_, ()>(())).is_ok());
    trip(&a);
    // Once the trip is on the server...
    let mut con = server.client();
    poll_until(
        BOUND,
        || {
            (fleet_state(&mut con, "strict:{strict-dependency}:state").as_deref() == Some("open"))
                .then_some(())
        },
        || "the trip never reached Redis".into(),
    );
    // ...b's very next call asks Redis and is rejected, whatever pub/sub
    // has delivered by then.
    let result = b.call(|| Ok::<_, ()>(()));
    assert!(
        matches!(result, Err(breakerbox::Error::Rejected(_))),
        "{result:?}"
    );
}

#[test]
fn a_probe_without_a_fleet_slot_does_not_give_back_another_probes_slot() {
    let server = RedisServer::start();
    let config = Config::default()
        .timeout(Duration::from_millis(200))
        .half_open_max_calls(2);
    let breaker = Arc::new(CircuitBreaker::new("lease-owner", config).unwrap());
    let store = RedisStore::builder(server.url())
        .prefix("lease")
        .reconnect_backoff(Duration::from_millis(300), Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    poll_until(
        BOUND,
        || store.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
    trip(&breaker);
    eventually(
        &breaker,
        State::HalfOpen,
        Duration::from_millis(200) + BOUND,
    );
    let mut con = server.client();
    poll_until(
        BOUND,
        || {
            (fleet_state(&mut con, "lease:{lease-owner}:state").as_deref() == Some("half_open"))
                .then_some(())
        },
        || "the fleet never turned half-open".into(),
    );
    let leased = breaker.try_acquire().expect("a probe on a fleet slot");
    // Redis keeps its state, but the store's connections are cut: the
    // next probe is admitted on the local limit alone, without a slot.
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut con)
        .unwrap();
    assert!(killed > 0);
    let unleased = breaker
        .try_acquire()
        .expect("a probe admitted alone while Redis is unreachable");
    // The probe without a slot ends first: it has nothing to give back.
    drop(unleased);
    poll_until(
        Duration::from_millis(300) + BOUND,
        || store.is_connected().then_some(()),
        || "the store did not reconnect".into(),
    );
    // The probe on the slot succeeds: its success reaches the fleet with
    // its slot, and closes it.
    leased.success();
    poll_until(
        Duration::from_millis(300) + BOUND,
        || {
            (fleet_state(&mut con, "lease:{lease-owner}:state").as_deref() == Some("closed"))
                .then_some(())
        },
        || "the leased probe's success never closed the fleet".into(),
    );
}

#[test]
fn a_removed_breaker_leaves_the_redis_store() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("removed")
        .build()
        .unwrap();
    let registry = breakerbox::Registry::new();
    registry.register_store("fleet", store.clone());
    registry.set_default_store("fleet");
    let removed = registry.get_or_create("host-a", Config::default()).unwrap();
    registry.get_or_create("host-b", Config::default()).unwrap();
    assert_eq!(store.names(), ["host-a", "host-b"]);
    registry.remove("host-a");
    // Still held here, and no longer one of the store's members.
    assert_eq!(store.names(), ["host-b"]);
    assert!(!removed.is_shared());
}

#[test]
fn a_removed_breaker_no_longer_follows_the_fleet() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("unfollowed")
        .build()
        .unwrap();
    let registry = breakerbox::Registry::new();
    registry.register_store("fleet", store.clone());
    registry.set_default_store("fleet");
    let removed = registry
        .get_or_create("unfollowed", Config::default())
        .unwrap();
    registry.remove("unfollowed");
    // A member of the same store and name, joined after the removal: it
    // follows the fleet's trip, through the same store's threads.
    let follower = Arc::new(CircuitBreaker::new("unfollowed", Config::default()).unwrap());
    assert!(follower.join_store(&store));
    let (other, _other_store) = joined(&server, "unfollowed", "unfollowed", Config::default());
    trip(&other);
    eventually(&follower, State::Open, BOUND);
    assert_eq!(removed.state(), State::Closed);
}

#[test]
fn a_probe_gives_its_fleet_slot_back_after_its_breaker_left_the_store() {
    let server = RedisServer::start();
    let config = Config::default().timeout(Duration::from_millis(200));
    let (breaker, _store) = joined(&server, "left", "left-with-a-slot", config);
    trip(&breaker);
    eventually(
        &breaker,
        State::HalfOpen,
        Duration::from_millis(200) + BOUND,
    );
    let mut con = server.client();
    poll_until(
        BOUND,
        || {
            (fleet_state(&mut con, "left:{left-with-a-slot}:state").as_deref() == Some("half_open"))
                .then_some(())
        },
        || "the fleet never turned half-open".into(),
    );
    let probe = breaker.try_acquire().expect("a probe on a fleet slot");
    let slots = |con: &mut redis::Connection| -> u64 {
        redis::cmd("ZCARD")
            .arg("left:{left-with-a-slot}:probes")
            .query(con)
            .unwrap()
    };
    assert_eq!(slots(&mut con), 1);
    assert!(breaker.leave_store());
    probe.ignore();
    poll_until(
        BOUND,
        || (slots(&mut con) == 0).then_some(()),
        || "the probe's slot was never given back".into(),
    );
}

#[test]
fn a_breaker_open_longer_than_a_year_opens_the_fleet_for_a_year() {
    let server = RedisServer::start();
    let forever = || Config::default().timeout(Duration::from_secs(10_000_000_000_000_000));
    let (a, _store_a) = joined(&server, "forever", "forever", forever());
    let (b, _store_b) = joined(&server, "forever", "forever", forever());
    trip(&a);
    eventually(&b, State::Open, BOUND);
    let year = RedisStore::MAX_SHARED_DURATION;
    let left = b.stats().time_until_half_open.unwrap();
    assert!(
        left > year - Duration::from_secs(60) && left <= year,
        "{left:?} until half-open"
    );
    let mut con = server.client();
    let until: String = redis::cmd("HGET")
        .arg("forever:{forever}:state")
        .arg("until")
        .query(&mut con)
        .unwrap();
    assert!(until.parse::<u64>().is_ok(), "until = {until}");
}

#[test]
fn a_trip_closed_again_during_an_outage_is_not_replayed_when_redis_returns() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new();
    let config = Config::default().clock(clock.clone());
    let breaker = Arc::new(CircuitBreaker::new("replayed", config).unwrap());
    let store = RedisStore::builder(server.url())
        .prefix("replay")
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    poll_until(
        BOUND,
        || store.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
    server.kill();
    poll_until(
        BOUND,
        || (!store.is_connected()).then_some(()),
        || "the store did not notice the outage".into(),
    );
    // Alone, the breaker trips, then a probe closes it again.
    trip(&breaker);
    clock.advance(Duration::from_secs(60));
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker
        .try_acquire()
        .expect("a probe admitted alone")
        .success();
    assert_eq!(breaker.state(), State::Closed);
    server.restart();
    poll_until(
        Duration::from_secs(5),
        || store.is_connected().then_some(()),
        || "the store did not reconnect".into(),
    );
    // The first batch after the outage creates the state: closed.
    let mut con = server.client();
    let state = poll_until(
        BOUND,
        || fleet_state(&mut con, "replay:{replayed}:state"),
        || "the breaker never rejoined".into(),
    );
    assert_eq!(state, "closed", "the stale trip was replayed");
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_prefix_and_a_name_with_braces_never_share_a_breaker_with_another_pair() {
    let server = RedisServer::start();
    // Both pairs used `app:{x}:{y}:state`.
    let (a, _store_a) = joined(&server, "app", "x}:{y", Config::default());
    let (a2, _store_a2) = joined(&server, "app", "x}:{y", Config::default());
    let (b, _store_b) = joined(&server, "app:{x}", "y", Config::default());
    trip(&a);
    eventually(&a2, State::Open, BOUND);
    let mut con = server.client();
    let state = poll_until(
        BOUND,
        || fleet_state(&mut con, "app:%7Bx%7D:{y}:state"),
        || "no state for prefix `app:{x}` and name `y`".into(),
    );
    assert_eq!(state, "closed");
    let state = fleet_state(&mut con, "app:{x%7D:%7By}:state");
    assert_eq!(state.as_deref(), Some("open"));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_probe_that_must_connect_first_waits_no_longer_than_the_operation_timeout() {
    let server = RedisServer::start();
    let proxy = SlowProxy::start(server.addr());
    let operation_timeout = Duration::from_millis(300);
    let config = Config::default().timeout(Duration::from_millis(200));
    let breaker = Arc::new(CircuitBreaker::new("slow-link", config).unwrap());
    let store = RedisStore::builder(proxy.url())
        .prefix("deadline")
        .operation_timeout(operation_timeout)
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    poll_until(
        BOUND,
        || store.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
    trip(&breaker);
    eventually(
        &breaker,
        State::HalfOpen,
        Duration::from_millis(200) + BOUND,
    );
    let mut con = server.client();
    poll_until(
        BOUND,
        || {
            (fleet_state(&mut con, "deadline:{slow-link}:state").as_deref() == Some("half_open"))
                .then_some(())
        },
        || "the fleet never turned half-open".into(),
    );
    // Every reply now takes two thirds of the operation timeout: the store's own
    // connection still works, but the probe has no pooled connection, and
    // connecting, loading the scripts and asking take a reply each.
    proxy.delay_replies(Duration::from_millis(200));
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

#[test]
fn a_local_trip_is_not_closed_again_by_the_reply_to_a_poll_sent_before_it() {
    let server = RedisServer::start();
    // Every reply is held back, so the store's first poll is still in
    // flight when the breaker trips.
    let proxy = SlowProxy::start(server.addr());
    proxy.delay_replies(Duration::from_millis(200));
    let breaker = Arc::new(CircuitBreaker::new("late-poll", Config::default()).unwrap());
    let store = RedisStore::builder(proxy.url())
        .prefix("late-poll")
        .operation_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(breaker.join_store(&store));
    // Connected: the first poll (the fleet is closed) goes out now.
    poll_until(
        Duration::from_secs(5),
        || store.is_connected().then_some(()),
        || "the store did not connect".into(),
    );
    trip(&breaker);
    // Until the trip reaches Redis, the poll's older reply must not close
    // the breaker.
    let mut con = server.client();
    poll_until(
        Duration::from_secs(5),
        || {
            assert_eq!(
                breaker.state(),
                State::Open,
                "a stale reply closed the trip"
            );
            (fleet_state(&mut con, "late-poll:{late-poll}:state").as_deref() == Some("open"))
                .then_some(())
        },
        || "the trip never reached Redis".into(),
    );
    assert_eq!(breaker.state(), State::Open);
}
