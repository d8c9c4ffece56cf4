//! An HTTP client behind a circuit breaker: an axum server on loopback
//! that fails on demand, a hyper-util client wrapped in the breaker's tower
//! layer, a fallback response while the breaker is open, recovery, and the
//! JSON status endpoint.
//!
//! ```sh
//! cargo run --example tower_http --features tower,serde
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{registry, Config, Outcome, Rejected};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Response = http::Response<hyper::body::Incoming>;

/// The backend: `/` answers 500 while `failing` is set; `/status` is every
/// registered breaker's stats as JSON, for dashboards and health checks.
async fn serve(failing: Arc<AtomicBool>) -> SocketAddr {
    let app = Router::new()
        .route(
            "/",
            get(move || async move {
                if failing.load(Ordering::Relaxed) {
                    (StatusCode::INTERNAL_SERVER_ERROR, "backend down")
                } else {
                    (StatusCode::OK, "fresh data")
                }
            }),
        )
        .route(
            "/status",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    registry().status_json(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A 5xx response is a failure, even though the HTTP call itself worked.
fn server_errors(result: Result<&Response, &BoxError>) -> Outcome {
    match result {
        Ok(response) if response.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let failing = Arc::new(AtomicBool::new(false));
    let addr = serve(Arc::clone(&failing)).await;

    // The registry's breaker "backend": 3 failures in a row open it for 300ms.
    let layer = CircuitBreakerLayer::named(
        "backend",
        Config::default()
            .max_failures(3)
            .timeout(Duration::from_millis(300)),
    )?
    .classify(server_errors);
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut backend = ServiceBuilder::new()
        .layer(layer)
        // The client's error type does not convert from `Rejected`; BoxError does.
        .map_err(BoxError::from)
        .service(client);

    let mut fetch = async |label: &str| -> Result<(), BoxError> {
        let request = http::Request::get(format!("http://{addr}/")).body(Empty::new())?;
        let answer = match backend.ready().await?.call(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                format!("{status} {}", String::from_utf8_lossy(&body))
            }
            // The breaker refused: the request never left, answer from cache.
            Err(error) if error.is::<Rejected>() => format!("fallback: cached data ({error})"),
            Err(error) => return Err(error),
        };
        let state = registry().get("backend").unwrap().state();
        println!("{label:<10} -> {answer:<70} [breaker {state}]");
        Ok(())
    };

    fetch("healthy").await?;
    failing.store(true, Ordering::Relaxed);
    for _ in 0..3 {
        fetch("failing").await?;
    }
    fetch("open").await?; // rejected at once: the fallback answers

    failing.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fetch("recovered").await?; // the probe succeeds and closes the breaker

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let status = client
        .request(http::Request::get(format!("http://{addr}/status")).body(Empty::new())?)
        .await?;
    let body = status.into_body().collect().await?.to_bytes();
    println!("\nGET /status\n{}", String::from_utf8_lossy(&body));
    Ok(())
}
