//! A real HTTP round trip on loopback: an axum server that fails on demand,
//! a hyper-util client behind the breaker layer, and the JSON status
//! endpoint.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Registry, Rejected, State};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Response = http::Response<hyper::body::Incoming>;

/// Serves `/` (500 while `failing`) and `/status` (the registry's JSON).
async fn serve(failing: Arc<AtomicBool>, registry: Arc<Registry>) -> SocketAddr {
    let app = Router::new()
        .route(
            "/",
            get(move || async move {
                if failing.load(Ordering::Relaxed) {
                    (StatusCode::INTERNAL_SERVER_ERROR, "down")
                } else {
                    (StatusCode::OK, "hello")
                }
            }),
        )
        .route(
            "/status",
            get(move || async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    registry.status_json(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn server_errors(result: Result<&Response, &BoxError>) -> Outcome {
    match result {
        Ok(response) if response.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

fn get_request(addr: SocketAddr, path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap()
}

async fn body(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn server_errors_over_http_trip_the_breaker_and_it_recovers_when_the_server_does() {
    let failing = Arc::new(AtomicBool::new(false));
    let registry = Arc::new(Registry::new());
    let addr = serve(Arc::clone(&failing), Arc::clone(&registry)).await;
    let clock = ManualClock::new();
    let cb: Arc<CircuitBreaker> = registry
        .get_or_create(
            "http-backend",
            Config::default()
                .max_failures(2)
                .timeout(Duration::from_secs(10))
                .clock(clock.clone()),
        )
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&cb)).classify(server_errors))
        .map_err(BoxError::from)
        .service(client);

    let ok = service
        .ready()
        .await
        .unwrap()
        .call(get_request(addr, "/"))
        .await
        .unwrap();
    assert_eq!(body(ok).await, "hello");

    failing.store(true, Ordering::Relaxed);
    for _ in 0..2 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(get_request(addr, "/"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(cb.state(), State::Open);

    let error = service
        .ready()
        .await
        .unwrap()
        .call(get_request(addr, "/"))
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<Rejected>().is_some(), "{error}");

    failing.store(false, Ordering::Relaxed);
    clock.advance(Duration::from_secs(10));
    let probe = service
        .ready()
        .await
        .unwrap()
        .call(get_request(addr, "/"))
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    assert_eq!(cb.state(), State::Closed);
}

#[tokio::test]
async fn the_status_endpoint_returns_every_breaker_as_json() {
    let registry = Arc::new(Registry::new());
    let addr = serve(Arc::new(AtomicBool::new(false)), Arc::clone(&registry)).await;
    let db = registry
        .get_or_create("status-db", Config::default())
        .unwrap();
    db.force_open();
    registry
        .get_or_create("status-cache", Config::default())
        .unwrap();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client.request(get_request(addr, "/status")).await.unwrap();
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let json: serde_json::Value = serde_json::from_str(&body(response).await).unwrap();
    let breakers = json["breakers"].as_array().unwrap();
    assert_eq!(breakers.len(), 2);
    assert_eq!(breakers[0]["name"], "status-cache");
    assert_eq!(breakers[0]["state"], "closed");
    assert_eq!(breakers[1]["name"], "status-db");
    assert_eq!(breakers[1]["state"], "forced_open");
}
