//! Fleet-wide breakers: three instances of a small service share one
//! breaker through Redis. The shared dependency breaks; one instance's
//! breaker trips, and every other instance's breaker opens within the
//! documented bound, before it has sent the dead dependency a single
//! request of its own. Then the dependency recovers, one probe closes the
//! breaker, and the close reaches every instance.
//!
//! ```sh
//! cargo run --example fleet --features redis
//! ```
//!
//! It uses the Redis at `REDIS_URL` if set; otherwise it starts a
//! `redis-server` (from the `PATH`) on a free loopback port, and stops it
//! at the end.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use breakerbox::{circuit_breaker, registry, RedisStore, Rejected, State};

/// `flush_interval` + `poll_interval` with the default settings: the most
/// a transition takes to reach every instance, should a pub/sub message be
/// lost. Through pub/sub it takes about a round trip.
const BOUND: Duration = Duration::from_millis(110);

// ----- one instance of the service ------------------------------------------

#[derive(Debug)]
enum InventoryError {
    Down,
    Rejected,
}

impl From<Rejected> for InventoryError {
    fn from(_: Rejected) -> Self {
        InventoryError::Rejected
    }
}

/// The shared dependency, simulated: down while the flag file exists.
/// Every instance of the service calls it through the same breaker name,
/// shared through the store registered as `"fleet"`.
#[circuit_breaker(name = "inventory", max_failures = 3, timeout = "1s", store = "fleet")]
fn check_inventory(flag: &Path) -> Result<u32, InventoryError> {
    if flag.exists() {
        Err(InventoryError::Down)
    } else {
        Ok(42)
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// An instance: calls the dependency every `every`, and reports each state
/// change of its breaker (`EVENT <state> <unix ms> <calls that reached the
/// dependency while it was down>`).
fn instance(url: &str, prefix: &str, flag: &Path, every: Duration) {
    let store = RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .expect("a valid Redis URL");
    registry().register_store("fleet", store);
    let mut last = State::Closed;
    let mut failed = 0;
    let mut next_call = Instant::now();
    loop {
        if Instant::now() >= next_call {
            next_call += every;
            if let Err(InventoryError::Down) = check_inventory(flag) {
                failed += 1;
            }
        }
        if let Some(breaker) = registry().get("inventory") {
            let state = breaker.state();
            if state != last {
                println!("EVENT {} {} {failed}", state.as_str(), unix_ms());
                last = state;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

// ----- the conductor --------------------------------------------------------

struct Redis {
    url: String,
    server: Option<Child>,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Redis { url, server: None };
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                eprintln!("could not start redis-server ({e}); install it or set REDIS_URL");
                std::process::exit(2);
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Redis {
            url: format!("redis://127.0.0.1:{port}/"),
            server: Some(server),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Children killed on drop, so that a panic leaves nothing behind.
struct Instances(Vec<Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, url, prefix, flag, every_ms] = args.as_slice() {
        if role == "instance" {
            let every = Duration::from_millis(every_ms.parse().expect("milliseconds"));
            instance(url, prefix, Path::new(flag), every);
            return;
        }
    }

    let dir: PathBuf = std::env::temp_dir().join(format!("breaker-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let redis = Redis::start(&dir);
    let prefix = format!("fleet-example-{}", std::process::id());
    let flag = dir.join("inventory-down");
    println!("Redis at {}; key prefix `{prefix}`", redis.url);

    // Instance 0 is busy (a call every 5 ms); 1 and 2 call every 400 ms.
    let (events, received) = mpsc::channel();
    let mut instances = Instances(Vec::new());
    for (n, every_ms) in [(0, 5), (1, 400), (2, 400)] {
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .args(["instance", &redis.url, &prefix])
            .arg(&flag)
            .arg(every_ms.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("an instance");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let events = events.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = events.send((n, line));
            }
        });
        instances.0.push(child);
    }
    // Let the instances join and call the healthy dependency a while.
    std::thread::sleep(Duration::from_millis(500));

    println!("\nThe inventory service goes down.");
    let broke_at = unix_ms();
    std::fs::write(&flag, b"down").expect("the flag file");
    let mut opened: [Option<u128>; 3] = [None; 3];
    let mut closed: [Option<u128>; 3] = [None; 3];
    let mut healed_at = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while closed.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "the fleet did not trip and recover in time"
        );
        if healed_at.is_none() && opened.iter().all(Option::is_some) {
            // Every instance fails fast now. The dependency recovers.
            std::thread::sleep(Duration::from_millis(200));
            println!("\nThe inventory service recovers.");
            std::fs::remove_file(&flag).expect("the flag file");
            healed_at = Some(unix_ms());
        }
        let Ok((n, line)) = received.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ["EVENT", state, at, failed] = fields.as_slice() else {
            println!("instance {n}: {line}");
            continue;
        };
        let at: u128 = at.parse().expect("a time");
        let since = at.saturating_sub(healed_at.unwrap_or(broke_at));
        let what = if healed_at.is_some() {
            "recovery"
        } else {
            "outage"
        };
        // `half_open` as the log word, `half-open` in prose.
        let prose = state.replace('_', "-");
        println!(
            "instance {n}: breaker `inventory` {prose:<9} {since:>4} ms into the {what} \
             ({failed} of its calls reached the dead dependency)"
        );
        match *state {
            "open" if healed_at.is_none() => opened[n] = Some(at),
            "closed" if healed_at.is_some() => closed[n] = Some(at),
            _ => {}
        }
    }

    let first = opened.iter().flatten().min().copied().unwrap_or(broke_at);
    let last = opened.iter().flatten().max().copied().unwrap_or(broke_at);
    let spread = Duration::from_millis((last - first) as u64);
    println!(
        "\nEvery instance opened within {spread:?} of the first (documented bound: {BOUND:?}).",
    );
    let first = closed.iter().flatten().min().copied().unwrap_or(0);
    let last = closed.iter().flatten().max().copied().unwrap_or(0);
    println!(
        "Every instance closed within {:?} of the first.",
        Duration::from_millis((last - first) as u64)
    );
    drop(instances);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        spread <= BOUND + Duration::from_millis(400),
        "propagation took {spread:?}"
    );
}
