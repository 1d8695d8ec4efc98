//! Real-browser tests: headless Chromium driven through chromedriver (WebDriver), pointed at the real app
//! (`common::web::WebApp`). Each `Window` is one chromedriver child process with one Chromium session and
//! a fresh profile; dropping it ends the session and kills chromedriver.
//!
//! The helpers panic with the page's address and text, and save a screenshot, when something is not
//! there, so a failing test says what the user would have seen. Waits poll until a deadline; nothing
//! sleeps for a fixed time.
//!
//! Chromium and chromedriver must be installed (`tests/run` installs them); without them the tests fail,
//! unless `FS_SKIP_BROWSER=1` is set, in which case `Window::open` returns `None` and the test returns.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::common::samples::PNG;
use crate::common::web::WebApp;

/// How long a wait lasts before the test fails: generous, for a busy 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// Set to `1` to skip the browser tests on a machine without Chromium.
pub const SKIP_VAR: &str = "FS_SKIP_BROWSER";

/// The screen the page is shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    /// A dispatcher's desktop: 1280×800.
    Staff,
    /// A master's phone: 390×844 CSS pixels at device pixel ratio 2, touch, a mobile user agent.
    Mobile,
    /// A cheap phone: 360×740 CSS pixels, otherwise as `Mobile`.
    SmallPhone,
    /// The smallest phone we support: 360×640 CSS pixels, otherwise as `Mobile`.
    TinyPhone,
}

/// One Chromium window on the app under test.
pub struct Window {
    client: Client,
    base: String,
    test: String,
    session: String,
    driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver child process; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Window {
    /// Ends the session synchronously (the test's runtime may already be gone), so chromedriver quits
    /// Chromium before it is killed itself.
    fn drop(&mut self) {
        delete_session(self.driver.port, &self.session);
    }
}

impl Window {
    /// Opens a Chromium window on `app`, in Russian (the installation's default language), sized for
    /// `viewport`. `test` names the folder of its screenshots. `None` only when `FS_SKIP_BROWSER=1`.
    pub async fn open(app: &WebApp, test: &str, viewport: Viewport) -> Option<Self> {
        if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
            eprintln!("{test}: skipped, {SKIP_VAR}=1");
            return None;
        }
        let chromium = installed("chromium");
        let chromedriver = installed("chromedriver");
        let driver = Driver::start(&chromedriver);
        let profile = tempfile::tempdir().unwrap();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&chromium, profile.path(), viewport))
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("Chromium did not start through chromedriver: {e}"));
        let session = client.session_id().await.unwrap().expect("a WebDriver session id");
        let window =
            Self { client, base: app.base.clone(), test: test.to_string(), session, driver, _profile: profile };
        if viewport == Viewport::Staff {
            window.size_page(1280, 800).await;
        }
        Some(window)
    }

    /// Sizes the window so that the page itself (not the window with its frame) is `width`×`height`.
    async fn size_page(&self, width: u32, height: u32) {
        let frame = self.execute("return [outerWidth - innerWidth, outerHeight - innerHeight];", vec![]).await;
        let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap()).unwrap();
        self.client.set_window_size(width + extra(0), height + extra(1)).await.unwrap();
        let page = self.execute("return [innerWidth, innerHeight];", vec![]).await;
        assert_eq!(page, json!([width, height]), "the page's size in the {width}×{height} window");
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `path` of the app (e.g. `/orders/17`) and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current path and query, e.g. `/orders?city=1`.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The element at `css` (waiting for it to appear).
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(css).await
    }

    /// Types `text` into the field at `css`, replacing what was there.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Chooses the option with `value` in the `<select>` at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Clicks the element at `css` (a link, a button, a checkbox). A click that submits a form or follows a
    /// link does not wait for the next page: follow it with a `wait_for…`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Accepts the open `confirm()` dialog (the `data-confirm` forms), waiting for it to appear.
    pub async fn accept_dialog(&self) {
        self.poll("a confirmation dialog", async || self.client.accept_alert().await.is_ok()).await;
    }

    /// The visible text of the element at `css` (waiting for it to appear).
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Waits until an element matches `css` and returns it.
    pub async fn wait_for(&self, css: &str) -> Element {
        let mut found = None;
        self.poll(&format!("an element `{css}`"), async || {
            found = self.client.find(Locator::Css(css)).await.ok();
            found.is_some()
        })
        .await;
        found.expect("found by the poll")
    }

    /// Waits until the page's visible text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let script = "return document.body !== null && document.body.innerText.includes(arguments[0]);";
        self.wait_until(&format!("the text {text:?}"), script, vec![json!(text)]).await;
    }

    /// Waits until `script` (a function body with `arguments`) returns `true`; `what` names the
    /// condition in the failure message.
    pub async fn wait_until(&self, what: &str, script: &str, args: Vec<Value>) {
        self.poll(what, async || self.client.execute(script, args.clone()).await.is_ok_and(|v| v == json!(true))).await;
    }

    /// Runs `script` (a function body: `return …;`, arguments in `arguments`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Fails the test unless the bottom of the element at `css` lies above the top of the phone page's fixed
    /// tab bar once scrolled to the end (a button under the bar cannot be tapped).
    pub async fn assert_clear_of_the_tabs(&self, css: &str) {
        let gap = self
            .execute(
                "window.scrollTo(0, document.body.scrollHeight);
                 const tabs = document.querySelector('nav.tabs');
                 const el = document.querySelector(arguments[0]);
                 return tabs.getBoundingClientRect().top - el.getBoundingClientRect().bottom;",
                vec![serde_json::json!(css)],
            )
            .await;
        assert!(gap.as_f64().unwrap() >= 0.0, "{css} ends {gap}px under the fixed tabs");
    }

    /// Fails the test when the page scrolls sideways (wider than the screen).
    pub async fn assert_no_horizontal_scroll(&self) {
        let sizes = self.execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![]).await;
        let (scroll, inner) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        if scroll > inner {
            let shot = self.screenshot("horizontal-scroll").await;
            panic!(
                "{} scrolls sideways: {scroll}px of content in a {inner}px window; see {}",
                self.path().await,
                shot.display()
            );
        }
    }

    /// Saves a PNG of the window to `target/screenshots/<test>/<name>.png`, prints and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshots_dir().join(&self.test);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Signs in through the staff login form as `login` (password `demo`) and waits for the board.
    pub async fn sign_in(&self, login: &str) {
        self.goto("/login").await;
        self.fill("#login", login).await;
        self.fill("#password", fieldservice::demo::PASSWORD).await;
        self.click("button[type=submit]").await;
        self.wait_for("header.top .who .user").await;
    }

    /// Calls `ready` until it says yes; after `WAIT`, fails with the page's address, its text and a
    /// screenshot.
    async fn poll(&self, what: &str, mut ready: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            if ready().await {
                return;
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot("timeout").await;
                let text = self.execute("return document.body ? document.body.innerText : '';", vec![]).await;
                let text = text.as_str().unwrap_or_default().chars().take(2000).collect::<String>();
                panic!(
                    "waited {}s for {what} on {}; see {}; the page says:\n{text}",
                    WAIT.as_secs(),
                    self.path().await,
                    shot.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Driver {
    /// Starts chromedriver on a free local port and waits until it accepts connections.
    fn start(chromedriver: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let mut driver = Self { child, port };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = driver.child.try_wait().unwrap() {
                panic!("chromedriver exited at start ({status})");
            }
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port} within {}s", WAIT.as_secs());
            std::thread::sleep(POLL);
        }
        driver
    }
}

/// The WebDriver capabilities: headless Chromium with a fresh profile, Russian, sized for `viewport`.
fn capabilities(chromium: &Path, profile: &Path, viewport: Viewport) -> serde_json::Map<String, Value> {
    let mut options = json!({
        "binary": chromium,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--lang=ru",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": { "intl.accept_languages": "ru-RU,ru" },
    });
    let phone = match viewport {
        Viewport::Staff => None,
        Viewport::Mobile => Some((390, 844)),
        Viewport::SmallPhone => Some((360, 740)),
        Viewport::TinyPhone => Some((360, 640)),
    };
    if let Some((width, height)) = phone {
        options["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "mobile": true, "touch": true },
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/124.0 Mobile Safari/537.36",
        });
    }
    let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
    capabilities.as_object().unwrap().clone()
}

/// The full path of `program` on `PATH`; fails the test with what to do when it is not installed.
fn installed(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need Chromium and chromedriver, and `{program}` is not on PATH: run tests/run, \
                 which installs them (Debian packages chromium and chromium-driver), or set {SKIP_VAR}=1 to skip \
                 the browser tests"
            )
        })
}

/// `<target dir>/screenshots`: beside the `tmp` folder cargo gives integration tests.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target dir").join("screenshots")
}

/// `DELETE /session/<id>` on chromedriver, over a plain blocking socket: it runs from `Drop`, where no
/// async runtime can be relied on. Failures are ignored: chromedriver is killed right after anyway.
fn delete_session(port: u16, session: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

// --- the flows' helpers (tests/browser_dispatcher.rs, tests/browser_master.rs) ------------------------------

/// Writes a PNG photo as `dir/name` for a file input and returns its path.
pub fn png_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, PNG).unwrap();
    path
}

/// Runs one scheduler tick at the app's clock time, as the server's scheduler would; it must run cleanly.
pub fn tick(app: &WebApp) -> fieldservice::engine::TickReport {
    let options = fieldservice::engine::TickOptions { seed: 7, max_orders: fieldservice::engine::ORDERS_PER_TICK };
    let report = fieldservice::engine::tick(&app.db, fieldservice::clock::Clock::now(&app.clock), options).expect("tick");
    assert!(report.ran && report.errors.is_empty(), "the tick ran cleanly: {report:?}");
    report
}

/// A master's bearer token from `POST /api/v1/auth/master/login` (password `demo` for the demo masters).
pub async fn master_token(app: &WebApp, phone: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/master/login", app.base))
        .json(&json!({ "phone": phone, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK, "master login {phone}");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().expect("a bearer token").to_string()
}

/// A staff member's API session from `POST /api/v1/auth/staff/login`: its cookie and CSRF token.
pub struct StaffSession {
    cookie: String,
    csrf: String,
    base: String,
}

impl StaffSession {
    pub async fn sign_in(app: &WebApp, login: &str) -> Self {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/staff/login", app.base))
            .json(&json!({ "login": login, "password": fieldservice::demo::PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "staff login {login}");
        let cookie = response.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        let csrf = body["csrf_token"].as_str().expect("a CSRF token").to_string();
        Self { cookie, csrf, base: app.base.clone() }
    }

    /// `POST path` with an empty JSON body; returns the status and the JSON answer.
    pub async fn post(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }
}

/// `POST path` as the master holding `token`; returns the status and the JSON answer.
pub async fn master_post(app: &WebApp, token: &str, path: &str) -> (reqwest::StatusCode, Value) {
    let response = reqwest::Client::new().post(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

impl Window {
    /// Gives the file input at `css` the file at `path`, as choosing it in the file dialog would.
    pub async fn attach(&self, css: &str, path: &Path) {
        let input = self.find(css).await;
        input.send_keys(&path.display().to_string()).await.unwrap_or_else(|e| panic!("attach {} to {css}: {e}", path.display()));
    }

    /// Marks the current page (a global the next load would wipe), for [`Window::assert_not_reloaded`].
    pub async fn mark_page(&self) {
        self.execute("window.__marker = 1; return true;", vec![]).await;
    }

    /// Fails the test when the page marked by [`Window::mark_page`] was reloaded or left: a live update
    /// must not need a reload.
    pub async fn assert_not_reloaded(&self) {
        let marker = self.execute("return window.__marker === 1;", vec![]).await;
        assert_eq!(marker, json!(true), "{} was reloaded: the live update must come without a reload", self.path().await);
    }

    /// Scrolls the element at `css` to the middle of the screen, as a thumb would, and clicks it: on the
    /// phone page a button at the screen's lower edge counts as "in view" for WebDriver while the fixed tabs
    /// cover it.
    pub async fn tap(&self, css: &str) {
        let element = self.find(css).await;
        self.client
            .execute("arguments[0].scrollIntoView({ block: 'center' }); return true;", vec![json!(element)])
            .await
            .unwrap_or_else(|e| panic!("scroll to {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("tap {css}: {e}"));
    }

    /// Signs a master in on the phone page `/m` with `phone` and `password` and waits for his home screen.
    pub async fn sign_in_master(&self, phone: &str, password: &str) {
        self.goto("/m").await;
        self.fill("#phone", phone).await;
        self.fill("#password", password).await;
        self.click("#sign-in").await;
        self.wait_for("#logout").await;
    }

    /// Sends `subscription` (as `PushSubscription.toJSON()` gives it) through the home screen's own route, as
    /// its script does after the browser's push service answers; headless Chromium has no push service, so
    /// the tests stand in for it. The HTTP status.
    pub async fn subscribe_through_page(&self, subscription: &Value) -> Value {
        self.execute(
            "var xhr = new XMLHttpRequest();
             xhr.open('POST', '/api/v1/me/push/subscriptions', false);
             xhr.setRequestHeader('Content-Type', 'application/json');
             xhr.setRequestHeader('X-CSRF-Token', document.querySelector('#push-enable').dataset.csrf);
             xhr.send(JSON.stringify(arguments[0]));
             return xhr.status;",
            vec![subscription.clone()],
        )
        .await
    }
}
