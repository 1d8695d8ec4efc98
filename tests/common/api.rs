//! A JSON client of /api/v1 for the tests on the demo dataset: a master's bearer token, or a staff
//! session's cookie and CSRF token, signed in with the demo password.

use fieldservice::demo::{PASSWORD, master_phone};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::web::WebApp;

pub struct Api {
    base: String,
    token: Option<String>,
    session: Option<(String, String)>,
    http: reqwest::Client,
}

impl Api {
    pub async fn staff(app: &WebApp, login: &str) -> Self {
        Self::login(app, "/api/v1/auth/staff/login", json!({"login": login, "password": PASSWORD})).await
    }

    /// Demo master `n` (1-based).
    pub async fn master(app: &WebApp, n: usize) -> Self {
        Self::login(app, "/api/v1/auth/master/login", json!({"phone": master_phone(n), "password": PASSWORD})).await
    }

    async fn login(app: &WebApp, path: &str, body: Value) -> Self {
        let http = reqwest::Client::new();
        let response = http.post(format!("{}{path}", app.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        let body: Value = response.json().await.unwrap();
        let token = body["token"].as_str().map(str::to_string);
        let session = cookie.zip(body["csrf_token"].as_str().map(str::to_string));
        Self { base: app.base.clone(), token, session, http }
    }

    /// A request carrying the caller's credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((cookie, csrf)) = &self.session {
            request = request.header("cookie", cookie).header("x-csrf-token", csrf);
        }
        request
    }

    /// Sends it; the status and the JSON body (null when there is none).
    pub async fn json(request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = self.request(method, path);
        Self::json(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }

    /// The raw body of a download.
    pub async fn bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let response = self.request(Method::GET, path).send().await.unwrap();
        (response.status(), response.bytes().await.unwrap().to_vec())
    }

    /// One file in the multipart field `file`.
    pub async fn upload(&self, method: Method, path: &str, bytes: &[u8], name: &str) -> (StatusCode, Value) {
        let part = Part::bytes(bytes.to_vec()).file_name(name.to_string());
        Self::json(self.request(method, path).multipart(Form::new().part("file", part))).await
    }
}
