use std::time::Duration;

use http::{Method, Request, StatusCode};
use serde_json::Value;

use super::*;
use crate::{Config, ManualClock, State};

fn dashboard(registry: &Arc<Registry>) -> Dashboard {
    Dashboard::builder()
        .registry(Arc::clone(registry))
        .build()
        .unwrap()
}

fn with_controls(registry: &Arc<Registry>) -> Dashboard {
    Dashboard::builder()
        .registry(Arc::clone(registry))
        .controls("a-token-of-the-operators")
        .build()
        .unwrap()
}

fn request(method: Method, uri: &str) -> Request<()> {
    Request::builder().method(method).uri(uri).body(()).unwrap()
}

/// A request carrying `authorization` as its `Authorization` header.
fn authorized(method: Method, uri: &str, authorization: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, authorization)
        .body(())
        .unwrap()
}

/// The operator's token as a bearer credential, as `with_controls` expects it.
const BEARER: &str = "Bearer a-token-of-the-operators";

fn body(response: Response<Body>) -> String {
    String::from_utf8(response.into_body().into_bytes().to_vec()).unwrap()
}

fn get_json(dashboard: &Dashboard, uri: &str) -> Value {
    let response = dashboard.respond(&request(Method::GET, uri));
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_str(&body(response)).unwrap()
}

/// A registry with a breaker `db` that two failures trip, on a manual clock.
fn tripped() -> (Arc<Registry>, Arc<crate::CircuitBreaker>, ManualClock) {
    let registry = Arc::new(Registry::new());
    let clock = ManualClock::new();
    let db = registry
        .get_or_create(
            "db",
            Config::default()
                .max_failures(2)
                .timeout(Duration::from_secs(30))
                .clock(clock.clone()),
        )
        .unwrap();
    let _ = db.call(|| Ok::<_, ()>(()));
    let _ = db.call(|| Err::<(), _>(()));
    let _ = db.call(|| Err::<(), _>(()));
    (registry, db, clock)
}

#[test]
fn the_page_is_one_small_file_with_nothing_from_elsewhere() {
    let response = Dashboard::new().respond(&request(Method::GET, "/"));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let page = body(response);
    assert!(page.len() < 50 * 1024, "{} bytes", page.len());
    for outside in ["http://", "https://", "//cdn", "src=\"", "@import"] {
        assert!(!page.contains(outside), "the page loads `{outside}`");
    }
}

#[test]
fn the_pages_script_never_parses_data_as_html() {
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!PAGE.contains(sink), "the page uses `{sink}`");
    }
}

#[test]
fn the_page_allows_only_its_own_script_and_style() {
    let response = Dashboard::new().respond(&request(Method::GET, "/"));
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
}

#[test]
fn the_page_is_found_under_any_prefix() {
    let dashboard = Dashboard::new();
    for uri in ["/", "/ops/breakers/", "/index.html", "/ops/index.html"] {
        let response = dashboard.respond(&request(Method::GET, uri));
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
    }
    let response = dashboard.respond(&request(Method::GET, "/favicon.ico"));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_page_and_json_refuse_other_methods() {
    let dashboard = Dashboard::new();
    for uri in ["/", "/state.json"] {
        let response = dashboard.respond(&request(Method::POST, uri));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
    }
}

#[test]
fn the_json_shows_every_breaker_sorted_with_the_stats_vocabulary() {
    let (registry, _db, _clock) = tripped();
    registry.get_or_create("auth", Config::default()).unwrap();
    let json = get_json(&dashboard(&registry), "/state.json");
    let names: Vec<&str> = json["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["auth", "db"]);
    let db = &json["breakers"][1];
    assert_eq!(db["state"], "open");
    assert_eq!(db["totals"]["calls"], 3);
    assert_eq!(db["totals"]["failures"], 2);
    assert_eq!(db["time_until_half_open_secs"], 30.0);
    assert_eq!(db["open_count"], 1);
    assert_eq!(db["in_flight"], 0);
    assert_eq!(db["open_duration_secs"], 30.0);
    assert_eq!(db["thresholds"]["max_failures"], 2);
    assert_eq!(db["thresholds"]["failure_rate"], Value::Null);
    assert_eq!(json["controls"], false);
    assert!(json["started_unix_ms"].as_u64().unwrap() <= json["now_unix_ms"].as_u64().unwrap());
}

#[test]
fn an_open_breaker_shows_the_period_that_tripped_it() {
    let (registry, _db, _clock) = tripped();
    let json = get_json(&dashboard(&registry), "/state.json");
    let trip = &json["breakers"][0]["tripped_by"];
    assert_eq!(trip["reason"], "consecutive_failures");
    assert_eq!(trip["period"]["calls"], 3);
    assert_eq!(trip["period"]["successes"], 1);
    assert_eq!(trip["period"]["failures"], 2);
    assert_eq!(trip["period"]["consecutive_failures"], 2);
    assert!((trip["failure_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn a_closed_breaker_has_no_tripped_by_but_keeps_its_transitions() {
    let (registry, db, clock) = tripped();
    clock.advance(Duration::from_secs(30));
    let _ = db.call(|| Ok::<_, ()>(()));
    assert_eq!(db.state(), State::Closed);
    let json = get_json(&dashboard(&registry), "/state.json");
    let db = &json["breakers"][0];
    assert_eq!(db["tripped_by"], Value::Null);
    let moves: Vec<(&str, &str, &str)> = db["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap(),
                t["to"].as_str().unwrap(),
                t["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("closed", "open", "consecutive_failures"),
            ("open", "half_open", "open_period_ended"),
            ("half_open", "closed", "probes_succeeded"),
        ]
    );
}

#[test]
fn a_client_that_has_the_transitions_is_not_sent_them_again() {
    let (registry, db, _clock) = tripped();
    let dashboard = dashboard(&registry);
    let first = get_json(&dashboard, "/state.json");
    assert!(first["breakers"][0]["transitions"].is_array());
    let cursor = first["transitions"].as_u64().unwrap();
    let again = get_json(
        &dashboard,
        &format!("/state.json?transitions_after={cursor}"),
    );
    assert!(again["breakers"][0].get("transitions").is_none());
    db.reset();
    let after_reset = get_json(
        &dashboard,
        &format!("/state.json?transitions_after={cursor}"),
    );
    assert_eq!(
        after_reset["breakers"][0]["transitions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn the_history_holds_the_rates_between_samples_and_only_new_points_are_sent_again() {
    let registry = Arc::new(Registry::new());
    let db = registry.get_or_create("db", Config::default()).unwrap();
    let dashboard = dashboard(&registry);
    for _ in 0..10 {
        let _ = db.call(|| Ok::<_, ()>(()));
    }
    dashboard.shared.sampled.sample();
    let json = get_json(&dashboard, "/state.json");
    let history = &json["breakers"][0]["history"];
    assert_eq!(history["calls_per_sec"].as_array().unwrap().len(), 1);
    assert!(history["calls_per_sec"][0].as_f64().unwrap() > 0.0);
    assert_eq!(history["rejections_per_sec"][0], 0.0);
    let samples = json["samples"].as_u64().unwrap();
    let again = get_json(&dashboard, &format!("/state.json?samples_after={samples}"));
    let history = &again["breakers"][0]["history"];
    assert_eq!(history["calls_per_sec"].as_array().unwrap().len(), 0);
    assert_eq!(history["start"].as_u64().unwrap(), samples + 1);
}

#[test]
fn a_cursor_that_is_not_a_number_is_refused_by_name() {
    let response = Dashboard::new().respond(&request(Method::GET, "/state.json?samples_after=x"));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = body(response);
    assert!(
        text.contains("samples_after") && text.contains("\\\"x\\\""),
        "{text}"
    );
}

#[test]
fn a_hostile_name_is_escaped_in_the_json() {
    let registry = Arc::new(Registry::new());
    let name = "<img src=x onerror=alert(1)>\"\u{2028}";
    registry.get_or_create(name, Config::default()).unwrap();
    let text = dashboard(&registry).json();
    assert!(!text.contains('<') && !text.contains('\u{2028}'), "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["breakers"][0]["name"], name);
}

/// The controls' requests that must change nothing, each with its answer.
#[test]
fn a_command_without_the_right_token_changes_nothing() {
    let (registry, db, _clock) = tripped();
    let dashboard = with_controls(&registry);
    let post = |authorization: Option<&str>| {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/control?action=reset&name=db");
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        dashboard.respond(&builder.body(()).unwrap()).status()
    };
    assert_eq!(post(None), StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(Some("Bearer wrong-token-of-16-chars")),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some("Bearer a-token-of-the-operator")),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some("a-token-of-the-operators")),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(db.state(), State::Open);
}

#[test]
fn a_get_never_runs_a_command_even_with_the_token() {
    let (registry, db, _clock) = tripped();
    let dashboard = with_controls(&registry);
    let get = authorized(Method::GET, "/control?action=reset&name=db", BEARER);
    let response = dashboard.respond(&get);
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
    assert_eq!(db.state(), State::Open);
}

#[test]
fn without_controls_every_command_is_refused() {
    let (registry, db, _clock) = tripped();
    let dashboard = dashboard(&registry);
    let post = authorized(Method::POST, "/control?action=reset&name=db", BEARER);
    assert_eq!(dashboard.respond(&post).status(), StatusCode::FORBIDDEN);
    assert_eq!(db.state(), State::Open);
    assert_eq!(get_json(&dashboard, "/state.json")["controls"], false);
}

#[test]
fn with_the_token_a_post_forces_open_disables_and_resets() {
    let registry = Arc::new(Registry::new());
    let name = "orders db/eu & co";
    let cb = registry.get_or_create(name, Config::default()).unwrap();
    let dashboard = with_controls(&registry);
    for (action, state) in [
        ("force_open", State::ForcedOpen),
        ("disable", State::Disabled),
        ("reset", State::Closed),
    ] {
        let uri = format!("/breakers/control?action={action}&name=orders+db%2Feu%20%26%20co");
        let post = authorized(Method::POST, &uri, BEARER);
        let response = dashboard.respond(&post);
        assert_eq!(response.status(), StatusCode::OK, "{action}");
        assert_eq!(cb.state(), state, "{action}");
    }
    assert_eq!(get_json(&dashboard, "/state.json")["controls"], true);
}

#[test]
fn an_unknown_action_or_breaker_is_refused_by_name() {
    let (registry, db, _clock) = tripped();
    let dashboard = with_controls(&registry);
    let post = |uri: &str| {
        let request = authorized(Method::POST, uri, BEARER);
        let response = dashboard.respond(&request);
        (response.status(), body(response))
    };
    let (status, text) = post("/control?action=explode&name=db");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("explode"), "{text}");
    let (status, text) = post("/control?action=reset&name=nope");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("nope"), "{text}");
    assert_eq!(db.state(), State::Open);
}

#[test]
fn a_short_or_unprintable_token_is_refused_without_showing_it() {
    let error = Dashboard::builder().controls("secret").build().unwrap_err();
    assert_eq!(error.field(), "controls");
    assert!(!error.to_string().contains("secret"), "{error}");
    let error = Dashboard::builder()
        .controls("a token with spaces in it")
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "controls");
}

#[test]
fn sampling_and_history_settings_out_of_range_are_refused_by_name() {
    let error = Dashboard::builder()
        .sample_every(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!((error.field(), error.value()), ("sample_every", "0ns"));
    let error = Dashboard::builder()
        .sample_every(Duration::from_millis(100))
        .history(Duration::from_secs(3600))
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "history");
    let error = Dashboard::builder()
        .history(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "history");
}

#[test]
fn the_sampler_lets_go_when_the_last_dashboard_is_dropped() {
    let dashboard = Dashboard::new();
    let sampled = Arc::downgrade(&dashboard.shared.sampled);
    let clone = dashboard.clone();
    drop(dashboard);
    assert!(sampled.upgrade().is_some());
    drop(clone);
    assert!(sampled.upgrade().is_none());
}

#[test]
fn query_values_are_percent_decoded() {
    assert_eq!(
        param(Some("a=1&name=x%2Fy+z%3c&b"), "name").as_deref(),
        Some("x/y z<")
    );
    assert_eq!(param(Some("name=%zz%4"), "name").as_deref(), Some("%zz%4"));
    assert_eq!(param(Some("name=%+1"), "name").as_deref(), Some("% 1"));
    assert_eq!(param(None, "name"), None);
}

#[test]
fn secrets_compare_equal_only_when_identical() {
    assert!(same_secret(b"abcdef", b"abcdef"));
    assert!(!same_secret(b"abcdeg", b"abcdef"));
    assert!(!same_secret(b"abcde", b"abcdef"));
    assert!(!same_secret(b"abcdefg", b"abcdef"));
    assert!(!same_secret(b"", b"abcdef"));
}

#[test]
fn the_builders_debug_never_shows_the_token() {
    let builder = Dashboard::builder().controls("a-token-of-the-operators");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("a-token"), "{shown}");
    assert!(shown.contains("controls: true"), "{shown}");
}

#[test]
fn the_largest_cursors_are_answered_without_overflow() {
    let (registry, _db, _clock) = tripped();
    let max = u64::MAX;
    let json = get_json(
        &dashboard(&registry),
        &format!("/state.json?samples_after={max}&transitions_after={max}"),
    );
    let history = &json["breakers"][0]["history"];
    assert_eq!(history["calls_per_sec"], Value::Array(vec![]), "{json}");
    assert!(json["breakers"][0].get("transitions").is_none(), "{json}");
}

/// RFC 9110 §11.1: the authentication scheme is case-insensitive.
#[test]
fn the_bearer_scheme_is_matched_in_any_case() {
    let (registry, db, _clock) = tripped();
    let dashboard = with_controls(&registry);
    let post = authorized(
        Method::POST,
        "/control?action=reset&name=db",
        "bearer a-token-of-the-operators",
    );
    assert_eq!(dashboard.respond(&post).status(), StatusCode::OK);
    assert_eq!(db.state(), State::Closed);
}

proptest::proptest! {
    /// Whatever a breaker is named, the JSON parses and gives the name
    /// back, and holds no character that could end a `<script>` or a line
    /// of JavaScript.
    #[test]
    fn every_name_round_trips_through_valid_json(name in "\\PC*|[\\x00-\\x1f\\x7f<>&\"\\\\\u{2028}\u{2029}]{1,12}") {
        let mut text = String::new();
        json::string(&mut text, &name);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        proptest::prop_assert_eq!(parsed.as_str(), Some(name.as_str()));
        let inert = !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']);
        proptest::prop_assert!(inert, "{}", text);
    }
}

/// A listener's panic is the application's to hear about where it made
/// the transition, not the dashboard's: the page still gets every breaker.
#[test]
fn a_panicking_listener_does_not_fail_the_json() {
    let registry = Arc::new(Registry::new());
    let clock = ManualClock::new();
    let db = registry
        .get_or_create(
            "db",
            Config::default()
                .max_failures(1)
                .timeout(Duration::from_secs(30))
                .on_state_change(|change| {
                    if change.to == State::HalfOpen {
                        panic!("an alerting hook that panics");
                    }
                })
                .clock(clock.clone()),
        )
        .unwrap();
    let _ = db.call(|| Err::<(), _>(()));
    let dashboard = dashboard(&registry);
    clock.advance(Duration::from_secs(30));
    let json = get_json(&dashboard, "/state.json");
    assert_eq!(json["breakers"][0]["state"], "half_open", "{json}");
}

#[test]
fn a_command_whose_listener_panics_still_answers_with_the_new_state() {
    let registry = Arc::new(Registry::new());
    let db = registry
        .get_or_create(
            "db",
            Config::default()
                .on_state_change(|_| panic!("an alerting hook that panics"))
                .clock(ManualClock::new()),
        )
        .unwrap();
    let post = authorized(Method::POST, "/control?action=force_open&name=db", BEARER);
    let response = with_controls(&registry).respond(&post);
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body(response).contains("\"forced_open\""));
    assert_eq!(db.state(), State::ForcedOpen);
}
