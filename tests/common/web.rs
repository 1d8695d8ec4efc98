//! A browser-like client of the staff pages: the real app on a random port over a temporary database
//! with the demo dataset, a cookie kept per signed-in person, and the CSRF token read off the pages.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fieldservice::app::AppState;

use super::contract;
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// The app under test.
pub struct WebApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Its database.
    pub db: Db,
    /// Its clock.
    pub clock: ManualClock,
    /// Holds the temporary directory.
    pub dir: tempfile::TempDir,
}

/// What a page answered.
#[derive(Debug)]
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The body.
    pub html: String,
}

impl Page {
    /// Whether the body contains `text`.
    pub fn has(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

/// One person's browser: his session cookie (and language cookie).
pub struct Browser {
    /// The app's address.
    pub base: String,
    /// Cookies sent with every request.
    pub cookies: Vec<String>,
    http: reqwest::Client,
}

impl WebApp {
    /// Starts the app at `now` with the demo dataset loaded (logins `admin`, `moscow`, `logist`, password `demo`).
    pub async fn start(now: DateTime<Utc>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
        fieldservice::demo::load(&db, now).unwrap();
        Self::serve(db, now, dir).await
    }

    /// Starts the app over an existing database.
    pub async fn serve(db: Db, now: DateTime<Utc>, dir: tempfile::TempDir) -> Self {
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        Self::serve_with(db, now, dir, config).await
    }

    /// Starts the app over an existing database with `config` (its `data_dir` should be `dir`).
    pub async fn serve_with(db: Db, now: DateTime<Utc>, dir: tempfile::TempDir, config: Config) -> Self {
        let clock = ManualClock::new(now);
        let state = AppState { db: db.clone(), clock: Arc::new(clock.clone()), config: Arc::new(config) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(contract::serve(listener, state, std::future::pending()));
        Self { base, db, clock, dir }
    }

    /// A browser with no session.
    pub fn anonymous(&self) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: self.base.clone(), cookies: Vec::new(), http }
    }

    /// A browser signed in through the login form as `login` (password `demo`).
    pub async fn staff(&self, login: &str) -> Browser {
        let mut browser = self.anonymous();
        let page = browser.post_raw("/login", &[("login", login), ("password", fieldservice::demo::PASSWORD)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "login as {login}: {}", page.html);
        assert!(!browser.cookies.is_empty(), "a session cookie was set");
        browser
    }
}

impl Browser {
    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        self.remember(&response);
        let status = response.status();
        let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string());
        Page { status, location, html: response.text().await.unwrap() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    /// `GET path` (redirects are not followed).
    pub async fn get(&mut self, path: &str) -> Page {
        let response = self.http.get(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).send().await.unwrap();
        self.finish(response).await
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        csrf_of(&page.html).unwrap_or_else(|| panic!("no CSRF field on {path}: {}", page.html))
    }

    /// Posts a form as the page's own form would: with the CSRF token read off the board.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf("/").await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly `fields` (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self.http.post(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).form(fields).send().await.unwrap();
        self.finish(response).await
    }

    /// Posts a multipart form with the CSRF token added.
    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let csrf = self.csrf("/").await;
        let form = form.text("csrf", csrf);
        let response = self.http.post(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).multipart(form).send().await.unwrap();
        self.finish(response).await
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

impl WebApp {
    /// A browser signed in on the master's page as the demo master with `phone` (password `demo`).
    pub async fn master(&self, phone: &str) -> Browser {
        let mut browser = self.anonymous();
        let page = browser.post_raw("/m/login", &[("phone", phone), ("password", fieldservice::demo::PASSWORD)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "master login as {phone}: {}", page.html);
        browser
    }
}

impl Browser {
    /// Posts a form of the master's page with the CSRF token read off his home screen.
    pub async fn m_post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf("/m").await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts a multipart form of the master's page with the CSRF token read off his home screen.
    pub async fn m_post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let csrf = self.csrf("/m").await;
        self.post_multipart_raw(path, form.text("csrf", csrf)).await
    }

    /// Posts exactly `form` as multipart (no token added).
    pub async fn post_multipart_raw(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let response = self.http.post(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).multipart(form).send().await.unwrap();
        self.finish(response).await
    }

    /// Opens `path` as a stream (server-sent events): the response, to be read chunk by chunk.
    pub async fn open_stream(&mut self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).send().await.unwrap()
    }
}
