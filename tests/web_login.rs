//! The staff pages' door: sign-in, sign-out, the language switch, CSRF on forms.

mod common;

use common::web::{WebApp, csrf_of};
use common::t0;
use reqwest::StatusCode;

#[tokio::test]
async fn an_anonymous_visitor_is_sent_to_the_login_form_and_back_after_signing_in() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    let home = browser.get("/?city=1").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location.as_deref(), Some("/login?next=%2F%3Fcity%3D1"));
    let form = browser.get("/login?next=%2Forders").await;
    assert!(form.has("name=\"next\" value=\"/orders\""), "{}", form.html);
    let signed_in = browser.post_raw("/login", &[("login", "logist"), ("password", "demo"), ("next", "/orders")]).await;
    assert_eq!((signed_in.status, signed_in.location.as_deref()), (StatusCode::SEE_OTHER, Some("/orders")));
    let board = browser.get("/").await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(board.has("logist · логист"), "the header names the user and his role");
    let http = reqwest::Client::new();
    let raw = http.get(format!("{}/", app.base)).header("cookie", browser.cookies.join("; ")).send().await.unwrap();
    assert_eq!((raw.status(), raw.headers()["cache-control"].to_str().unwrap()), (StatusCode::OK, "no-store"), "a signed-in page is not kept by caches");
}

#[tokio::test]
async fn a_wrong_password_is_shown_on_the_form_with_the_login_kept_and_never_leaves_for_another_site() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    let refused = browser.post_raw("/login", &[("login", "logist"), ("password", "nope"), ("next", "//evil.example")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.has("id=\"login-error\"") && refused.has("value=\"logist\""), "{}", refused.html);
    assert!(browser.cookies.is_empty());
    let ok = browser.post_raw("/login", &[("login", "logist"), ("password", "demo"), ("next", "//evil.example")]).await;
    assert_eq!(ok.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn next_and_back_never_lead_to_another_site_nor_fail() {
    let app = WebApp::start(t0()).await;
    // Each of these a browser would follow to evil.example (tabs and newlines are dropped, `\\` read as `/`),
    // and a raw newline used to fail the answer with a 500.
    let tricks = ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/%09/evil.example", "/\\evil.example", "//evil.example", "/\x0b/evil.example"];
    for trick in tricks {
        let mut browser = app.anonymous();
        let lang = browser.get(&format!("/lang/en?{}", serde_urlencoded::to_string([("back", trick)]).unwrap())).await;
        assert_eq!((lang.status, lang.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")), "back={trick:?}");
        let form = browser.get(&format!("/login?{}", serde_urlencoded::to_string([("next", trick)]).unwrap())).await;
        assert!(form.has("name=\"next\" value=\"/\""), "next={trick:?}: {}", form.html);
        let signed_in = browser.post_raw("/login", &[("login", "logist"), ("password", "demo"), ("next", trick)]).await;
        assert_eq!((signed_in.status, signed_in.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")), "next={trick:?}");
    }
}

#[tokio::test]
async fn five_failures_lock_the_login_with_the_time_to_try_again() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    for _ in 0..5 {
        browser.post_raw("/login", &[("login", "logist"), ("password", "nope")]).await;
    }
    let locked = browser.post_raw("/login", &[("login", "logist"), ("password", "demo")]).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.has("12:15"), "15 minutes after the first failure, Moscow time: {}", locked.html);
}

#[tokio::test]
async fn logout_needs_the_forms_csrf_token_and_then_ends_the_session() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.staff("logist").await;
    let forged = browser.post_raw("/logout", &[("csrf", "0000")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/").await.status, StatusCode::OK, "still signed in");
    let csrf = csrf_of(&browser.get("/").await.html).unwrap();
    let out = browser.post_raw("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_language_switch_turns_every_text_english_and_comes_back() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.staff("moscow").await;
    assert!(browser.get("/").await.has("Табло"));
    let switched = browser.get("/lang/en?back=%2F").await;
    assert_eq!(switched.location.as_deref(), Some("/"));
    let board = browser.get("/").await;
    assert!(board.has("<html lang=\"en\">") && board.has("Board") && board.has("city admin"), "{}", board.html);
    assert!(!board.has("Табло"));
    assert!(browser.get("/login").await.has("Staff sign-in"));
}

#[tokio::test]
async fn static_files_are_embedded_and_revalidated_by_etag() {
    let app = WebApp::start(t0()).await;
    let http = reqwest::Client::new();
    let css = http.get(format!("{}/static/web.css", app.base)).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    let again = http.get(format!("{}/static/web.css", app.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(http.get(format!("{}/static/nope.js", app.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
