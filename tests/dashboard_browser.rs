//! The dashboard in a real browser: headless Chromium loads the page from a
//! server on loopback, runs its script against the live JSON, and the tests
//! read the DOM it rendered. Needs Debian's `chromium` (`.ci/run` installs
//! it); `BREAKERBOX_CHROMIUM` names another binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use breakerbox::dashboard::{Body, Dashboard};
use breakerbox::{Config, ManualClock, Registry};
use http::{Request, Response, StatusCode};
use tower::service_fn;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("BREAKERBOX_CHROMIUM") {
        return path.into();
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|path| path.is_file())
    });
    found.expect(
        "the dashboard's browser tests need Chromium: `apt-get install chromium` \
         (or set BREAKERBOX_CHROMIUM to a Chromium binary)",
    )
}

/// Runs headless Chromium on `url` with `args`, in a profile of its own,
/// and returns what it printed; fails the test after a minute.
fn run_chromium(url: &str, args: &[&str]) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "breakerbox-chromium-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read as it comes: a DOM larger than the pipe's buffer would block
    // Chromium before it exits.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
    });
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within a minute on {url}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = reader.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&output).into_owned()
}

/// The DOM after the page's scripts ran for `budget_ms` of virtual time
/// (Chromium runs timers as fast as it can and waits for the network).
async fn dump_dom(url: String, budget_ms: u32) -> String {
    tokio::task::spawn_blocking(move || {
        run_chromium(
            &url,
            &[&format!("--virtual-time-budget={budget_ms}"), "--dump-dom"],
        )
    })
    .await
    .unwrap()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Serves the dashboard of `registry` at `/breakers/`; returns its URL.
async fn serve_dashboard(registry: &Arc<Registry>) -> String {
    let dashboard = Dashboard::builder()
        .registry(Arc::clone(registry))
        .build()
        .unwrap();
    let addr = serve(Router::new().nest_service("/breakers", dashboard)).await;
    format!("http://{addr}/breakers/")
}

/// The rendered tile of the breaker whose name, as HTML text, is `name`.
fn tile<'a>(dom: &'a str, name: &str) -> &'a str {
    let heading = format!("<h2 class=\"name\">{name}</h2>");
    dom.split("<article ")
        .find(|tile| tile.contains(&heading))
        .unwrap_or_else(|| panic!("no tile named {name} in:\n{dom}"))
}

/// The text of the first element of class `class` in `html`.
fn text_of<'a>(html: &'a str, class: &str) -> &'a str {
    let open = format!("class=\"{class}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no `{class}` in:\n{html}"))
        + open.len();
    let end = html[start..].find('<').unwrap() + start;
    &html[start..end]
}

fn tripped_registry() -> (Arc<Registry>, ManualClock) {
    let registry = Arc::new(Registry::new());
    let clock = ManualClock::new();
    let payments = registry
        .get_or_create(
            "payments",
            Config::default()
                .max_failures(2)
                .timeout(Duration::from_secs(30))
                .clock(clock.clone()),
        )
        .unwrap();
    let inventory = registry
        .get_or_create("inventory", Config::default().clock(clock.clone()))
        .unwrap();
    let _ = inventory.call(|| Ok::<_, ()>(()));
    let _ = payments.call(|| Err::<(), _>("refused"));
    let _ = payments.call(|| Err::<(), _>("refused"));
    (registry, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripped_breakers_tile_shows_open_with_a_countdown_then_half_open_then_closed() {
    let (registry, clock) = tripped_registry();
    let url = serve_dashboard(&registry).await;

    let dom = dump_dom(url.clone(), 2000).await;
    let payments = tile(&dom, "payments");
    assert!(
        payments.starts_with("class=\"tile\" data-state=\"open\""),
        "{payments}"
    );
    assert_eq!(text_of(payments, "badge"), "OPEN");
    let countdown = text_of(payments, "cdt");
    let seconds: u32 = countdown
        .strip_prefix("Half-open in ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a countdown: {countdown:?}"));
    assert!((25..=30).contains(&seconds), "{countdown}");
    assert!(
        text_of(payments, "trip")
            .ends_with(" by 2 failures in a row; that period: 2 calls, 0 ok, 2 failed."),
        "{payments}"
    );

    clock.advance(Duration::from_secs(30));
    let dom = dump_dom(url.clone(), 2000).await;
    let payments = tile(&dom, "payments");
    assert!(
        payments.starts_with("class=\"tile\" data-state=\"half_open\""),
        "{payments}"
    );
    assert_eq!(text_of(payments, "badge"), "HALF-OPEN");

    let cb = registry.get("payments").unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let dom = dump_dom(url, 2000).await;
    let payments = tile(&dom, "payments");
    assert!(
        payments.starts_with("class=\"tile\" data-state=\"closed\""),
        "{payments}"
    );
    assert_eq!(text_of(payments, "badge"), "CLOSED");
    assert!(
        payments.contains("half-open → closed: 1 successful probe"),
        "{payments}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_breakers_come_first() {
    let (registry, _clock) = tripped_registry();
    let url = serve_dashboard(&registry).await;
    let dom = dump_dom(url, 2000).await;
    let payments = dom.find(">payments</h2>").expect("a payments tile");
    let inventory = dom.find(">inventory</h2>").expect("an inventory tile");
    assert!(
        payments < inventory,
        "the open `payments` after `inventory`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_name_is_shown_as_text() {
    let registry = Arc::new(Registry::new());
    let hostile = registry.get_or_create(HOSTILE, Config::default()).unwrap();
    let _ = hostile.call(|| Ok::<_, ()>(()));
    let url = serve_dashboard(&registry).await;
    let dom = dump_dom(url, 2000).await;
    let escaped = "&lt;img src=x onerror=alert(1)&gt;";
    let shown = tile(&dom, escaped);
    assert!(shown.contains("data-state=\"closed\""), "{shown}");
    assert!(!dom.contains("<img"), "the name became an element:\n{dom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_the_connection_to_the_service_is_lost() {
    let (registry, _clock) = tripped_registry();
    let dashboard = Dashboard::builder().registry(registry).build().unwrap();
    // The first poll is answered; every later one fails, as when the
    // service goes down.
    let polls = Arc::new(AtomicUsize::new(0));
    let failing = service_fn(move |request: Request<axum::body::Body>| {
        let dashboard = dashboard.clone();
        let polls = Arc::clone(&polls);
        async move {
            let is_poll = request.uri().path().ends_with("state.json");
            if is_poll && polls.fetch_add(1, Ordering::SeqCst) > 0 {
                let mut down = Response::new(Body::default());
                *down.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                return Ok::<_, std::convert::Infallible>(down);
            }
            Ok(dashboard.respond(&request))
        }
    });
    let addr = serve(Router::new().nest_service("/breakers", failing)).await;
    let dom = dump_dom(format!("http://{addr}/breakers/"), 4000).await;
    let banner = dom
        .split("<p id=\"banner\"")
        .nth(1)
        .expect("a banner")
        .split("</p>")
        .next()
        .unwrap();
    assert!(!banner.contains("hidden"), "the banner is hidden: {banner}");
    assert!(
        banner.contains("Connection to the service lost (HTTP 503)"),
        "{banner}"
    );
    assert!(
        dom.contains("<body class=\"lost\">"),
        "the tiles are not dimmed"
    );
    // The data it had stays on screen.
    assert!(tile(&dom, "payments").contains("data-state=\"open\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_breakers_render_as_a_thousand_tiles() {
    let registry = Arc::new(Registry::new());
    for i in 0..1000 {
        let cb = registry
            .get_or_create(&format!("host-{i:04}"), Config::default().max_failures(1))
            .unwrap();
        if i % 100 == 7 {
            let _ = cb.call(|| Err::<(), _>(()));
        }
    }
    let url = serve_dashboard(&registry).await;
    let started = Instant::now();
    let dom = dump_dom(url, 3000).await;
    let took = started.elapsed();
    // (The page's template holds one more, without a state.)
    assert_eq!(
        dom.matches("<article class=\"tile\" data-state=").count(),
        1000
    );
    // The ten open ones first.
    let first = dom.find("<article ").unwrap();
    assert!(dom[first..].starts_with("<article class=\"tile\" data-state=\"open\""));
    assert!(
        dom.contains("<span class=\"count\" data-state=\"open\">10 open</span>"),
        "the summary does not count 10 open"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// A shared link's `#filter` part is the user's to mistype: a stray `%`
/// must not stop the page's script before its first poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_filter_in_the_address_still_shows_the_tiles() {
    let (registry, _clock) = tripped_registry();
    let url = serve_dashboard(&registry).await;
    let dom = dump_dom(format!("{url}#50%"), 2000).await;
    assert!(tile(&dom, "payments").contains("data-state=\"open\""));
}
