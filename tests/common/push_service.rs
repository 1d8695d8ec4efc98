//! A fake Web Push service on 127.0.0.1 (an axum route) and a "browser" subscription whose private half stays
//! in the test, so what the app sends can be checked (VAPID) and decrypted (aes128gcm).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Value, json};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256PublicKey};
use web_push_native::jwt_simple::claims::NoCustomClaims;
use web_push_native::jwt_simple::common::VerificationOptions;
use web_push_native::{Auth, p256};

/// One request the fake push service received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The fake push service: records every request and answers each path with its queued statuses (201 once
/// they are used up).
#[derive(Clone, Default)]
pub struct PushService {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    /// `http://127.0.0.1:port`, the audience its VAPID tokens must name.
    pub origin: String,
}

impl PushService {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Self { origin: format!("http://{}", listener.local_addr().unwrap()), ..Self::default() };
        let app = axum::Router::new().route("/push/{name}", axum::routing::post(receive)).with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        service
    }

    /// The endpoint of the subscription called `name`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/push/{name}", self.origin)
    }

    pub fn answer(&self, name: &str, statuses: &[u16]) {
        self.answers.lock().unwrap().insert(format!("/push/{name}"), statuses.to_vec());
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Checks a request's VAPID `Authorization` header: the JWT is signed by the server's `published` key,
    /// for this service's origin, names `contact` and expires within 24 hours.
    pub fn check_vapid(&self, request: &Received, published: &str, contact: &str) {
        let header = request.headers["authorization"].to_str().unwrap();
        let rest = header.strip_prefix("vapid t=").expect("a vapid authorization");
        let (token, key) = rest.split_once(", k=").unwrap();
        assert_eq!(key, published, "signed with the published key");
        let public = ES256PublicKey::from_bytes(&Base64UrlUnpadded::decode_vec(key).unwrap()).unwrap();
        let options = VerificationOptions { allowed_audiences: Some(HashSet::from([self.origin.clone()])), ..Default::default() };
        let claims = public.verify_token::<NoCustomClaims>(token, Some(options)).expect("a valid signature for the push service's origin");
        assert_eq!(claims.subject.as_deref(), Some(contact));
        let exp = claims.expires_at.expect("an expiry").as_secs();
        let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(exp > unix_now && exp <= unix_now + 24 * 3600, "exp within 24 hours: {exp} vs {unix_now}");
    }
}

async fn receive(State(service): State<PushService>, Path(name): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let path = format!("/push/{name}");
    service.received.lock().unwrap().push(Received { path: path.clone(), headers, body: body.to_vec() });
    let mut answers = service.answers.lock().unwrap();
    let status = answers.get_mut(&path).filter(|queue| !queue.is_empty()).map(|queue| queue.remove(0)).unwrap_or(201);
    StatusCode::from_u16(status).unwrap()
}

/// A browser's subscription: the private half stays here, to decrypt what arrives.
pub struct Device {
    pub endpoint: String,
    secret: p256::SecretKey,
    auth: Auth,
}

impl Device {
    pub fn new(endpoint: String) -> Self {
        let secret = loop {
            if let Ok(key) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break key;
            }
        };
        Self { endpoint, secret, auth: *Auth::from_slice(&rand::random::<[u8; 16]>()) }
    }

    /// The subscription as `PushSubscription.toJSON()` gives it to the page.
    pub fn json(&self) -> Value {
        let public = self.secret.public_key();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&public, false);
        json!({"endpoint": self.endpoint, "keys": {
            "p256dh": Base64UrlUnpadded::encode_string(point.as_bytes()),
            "auth": Base64UrlUnpadded::encode_string(&self.auth),
        }})
    }

    pub fn decrypt(&self, body: &[u8]) -> Value {
        let plain = web_push_native::decrypt(body.to_vec(), &self.secret, &self.auth).expect("the payload decrypts with the subscription's keys");
        serde_json::from_slice(&plain).unwrap()
    }
}

/// The VAPID subject the push-enabled test apps are configured with.
pub const CONTACT: &str = "mailto:ops@example.com";

/// Starts the app at `now` with the demo dataset and push on (`push_contact` = [`CONTACT`]); also returns
/// the state the push job runs with (`fieldservice::jobs::push_step`), as the server's own loop would.
pub async fn app_with_push(now: chrono::DateTime<chrono::Utc>) -> (super::web::WebApp, fieldservice::app::AppState) {
    use fieldservice::config::Config;
    use fieldservice::db::{Db, Durability};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    fieldservice::demo::load(&db, now).unwrap();
    let config = Config { data_dir: dir.path().to_path_buf(), push_contact: Some(CONTACT.into()), ..Config::default() };
    let app = super::web::WebApp::serve_with(db, now, dir, config.clone()).await;
    let state = fieldservice::app::AppState { db: app.db.clone(), clock: Arc::new(app.clock.clone()), config: Arc::new(config) };
    (app, state)
}
