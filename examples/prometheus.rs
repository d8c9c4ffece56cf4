//! A breaker's metrics on a Prometheus `/metrics` endpoint: the `metrics`
//! facade records them, `metrics-exporter-prometheus` renders them, and an
//! axum route serves them. The example scrapes its own endpoint once and
//! prints the breaker's series.
//!
//! ```sh
//! cargo run --example prometheus --features metrics
//! ```

use std::io;

use axum::routing::get;
use axum::Router;
use breakerbox::circuit_breaker;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[circuit_breaker(name = "payments", max_failures = 2, timeout = "30s")]
fn charge(cents: u64) -> io::Result<u64> {
    if cents == 0 {
        Err(io::Error::other("card processor down"))
    } else {
        Ok(cents)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Install the recorder first: the breakers report through the facade.
    let handle = PrometheusBuilder::new().install_recorder()?;
    breakerbox::metrics::describe_metrics();

    // The counters follow the breakers' counts every second; a scrape
    // handler may sync first to show them without that lag.
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            breakerbox::metrics::sync_now();
            handle.render()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving http://{addr}/metrics\n");

    let _ = charge(100);
    let _ = charge(0);
    let _ = charge(0); // trips the breaker: the state gauge goes to 1 (open)
    let _ = charge(100); // rejected: circuit_breaker_rejected_total

    // What a Prometheus server would scrape.
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    for line in response
        .lines()
        .filter(|l| l.starts_with("circuit_breaker_"))
    {
        println!("{line}");
    }
    Ok(())
}
