//! The live dashboard, over a small service whose dependencies misbehave.
//!
//! ```text
//! cargo run --example dashboard --features dashboard
//! ```
//!
//! and open the URL it prints. `payments` fails in bursts and trips,
//! `recommendations` is down for good and backs off, `search` turns slow,
//! `inventory` fails now and then without tripping, one breaker is forced
//! open and one disabled by hand. The controls are on: the example prints
//! their token.
//!
//! `BREAKERBOX_DASHBOARD_ADDR` sets the address (default `127.0.0.1:3000`,
//! or any free port if that one is taken). With `BREAKERBOX_EXAMPLE_ONESHOT`
//! set, as CI runs the examples, it serves on a free port for a moment,
//! fetches the page and its JSON once, and exits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use breakerbox::dashboard::Dashboard;
use breakerbox::{registry, CircuitBreaker, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A dependency: how it answers at `t` seconds since the start.
struct Dependency {
    name: &'static str,
    config: Config,
    /// (failure probability, latency) at `t`.
    behaviour: fn(f64) -> (f64, Duration),
    calls_per_sec: u32,
}

fn dependencies() -> Vec<Dependency> {
    vec![
        Dependency {
            name: "payments",
            config: Config::default()
                .max_failures(5)
                .timeout(Duration::from_secs(15)),
            // Healthy for 40 s, then 30 s of outage, over and over.
            behaviour: |t| {
                let failing = t % 70.0 >= 40.0;
                (if failing { 0.9 } else { 0.02 }, ms(30))
            },
            calls_per_sec: 20,
        },
        Dependency {
            name: "recommendations",
            config: Config::default()
                .max_failures(3)
                .timeout(Duration::from_secs(5))
                .backoff_multiplier(2.0)
                .backoff_max(Duration::from_secs(60)),
            behaviour: |_| (1.0, ms(5)),
            calls_per_sec: 8,
        },
        Dependency {
            name: "search",
            config: Config::default()
                .slow_call_duration(ms(200))
                .slow_call_rate(0.5)
                .count_window(40)
                .minimum_calls(20)
                .timeout(Duration::from_secs(10)),
            // Slow for 20 s of every minute.
            behaviour: |t| (0.01, if t % 60.0 >= 30.0 { ms(260) } else { ms(40) }),
            calls_per_sec: 15,
        },
        Dependency {
            name: "inventory",
            config: Config::default()
                .without_max_failures()
                .failure_rate(0.5)
                .count_window(100)
                .timeout(Duration::from_secs(20)),
            behaviour: |t| (0.08 + 0.07 * (t / 9.0).sin(), ms(20)),
            calls_per_sec: 25,
        },
        Dependency {
            name: "geo-ip",
            config: Config::default(),
            behaviour: |_| (0.0, ms(3)),
            calls_per_sec: 10,
        },
        Dependency {
            name: "email-sender",
            config: Config::default(),
            behaviour: |_| (0.3, ms(50)),
            calls_per_sec: 2,
        },
        Dependency {
            name: "legacy-soap",
            config: Config::default(),
            behaviour: |_| (0.0, ms(80)),
            calls_per_sec: 3,
        },
    ]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A small xorshift generator: the example needs noise, not a crate.
fn random() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Calls `breaker` as the service would, `calls_per_sec` times a second.
async fn traffic(breaker: std::sync::Arc<CircuitBreaker>, dependency: Dependency, start: Instant) {
    let pause = Duration::from_secs(1) / dependency.calls_per_sec;
    loop {
        let (failure, latency) = (dependency.behaviour)(start.elapsed().as_secs_f64());
        let breaker = breaker.clone();
        tokio::spawn(async move {
            let _ = breaker
                .call_async(|| async move {
                    tokio::time::sleep(latency).await;
                    if random() < failure {
                        Err("the dependency failed")
                    } else {
                        Ok(())
                    }
                })
                .await;
        });
        tokio::time::sleep(pause.mul_f64(0.5 + random())).await;
    }
}

/// The operators' token for the controls: from the environment, or made
/// up for this run (and printed).
fn token() -> String {
    std::env::var("BREAKERBOX_DASHBOARD_TOKEN").unwrap_or_else(|_| {
        (0..4)
            .map(|_| format!("{:08x}", (random() * f64::from(u32::MAX)) as u32))
            .collect()
    })
}

async fn listen(oneshot: bool) -> tokio::net::TcpListener {
    let wanted =
        std::env::var("BREAKERBOX_DASHBOARD_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    if !oneshot {
        match tokio::net::TcpListener::bind(&wanted).await {
            Ok(listener) => return listener,
            Err(e) => eprintln!("{wanted} is not free ({e}); taking another port"),
        }
    }
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port")
}

/// One plain HTTP/1.1 GET: the status line and the body's length.
async fn fetch(addr: SocketAddr, path: &str) -> (String, usize) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map_or(0, |(_, body)| body.len());
    (status, body)
}

#[tokio::main]
async fn main() {
    let oneshot = std::env::var_os("BREAKERBOX_EXAMPLE_ONESHOT").is_some();
    let start = Instant::now();
    for dependency in dependencies() {
        let breaker = registry()
            .get_or_create(dependency.name, dependency.config.clone())
            .unwrap();
        match dependency.name {
            "legacy-soap" => breaker.force_open(),
            "email-sender" => breaker.disable(),
            _ => {}
        }
        tokio::spawn(traffic(breaker, dependency, start));
    }

    let token = token();
    let dashboard = Dashboard::builder()
        .controls(token.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { Redirect::to("/breakers/") }))
        .nest_service("/breakers", dashboard);
    let listener = listen(oneshot).await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    println!("The dashboard: http://{addr}/breakers/");
    println!("Its JSON:      http://{addr}/breakers/state.json");
    println!("Control token: {token}");

    if oneshot {
        tokio::time::sleep(ms(300)).await;
        for path in ["/breakers/", "/breakers/state.json"] {
            let (status, bytes) = fetch(addr, path).await;
            assert!(status.ends_with("200 OK"), "{path}: {status}");
            println!("GET {path}: {status}, {bytes} bytes");
        }
        return;
    }
    println!("Ctrl-C to stop.");
    std::future::pending::<()>().await;
}
