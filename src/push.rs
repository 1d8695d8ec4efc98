//! Web Push to the masters' phones (issue 11 §1): the server's VAPID key pair (RFC 8292), the browsers'
//! subscriptions (several per master), and the outbox channel that encrypts each notification
//! (`aes128gcm`, RFC 8291), signs it and posts it to the subscription's push service. Pure Rust
//! throughout (web-push-native, rustls with ring): no OpenSSL in the build.

use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::{DateTime, Duration, Utc};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use web_push_native::jwt_simple::algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::{Auth, WebPushBuilder, p256};

use crate::db::{Db, at, ms};
use crate::domain::MasterId;
use crate::error::{Error, Result};
use crate::events;
use crate::i18n::{Lang, message};
use crate::notifications::{Channel, Delivery, Pending};

/// How long a push service may take to answer.
const SEND_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How long a push service keeps a notification other than an offer for a phone that is off.
const DEFAULT_TTL: Duration = Duration::hours(24);
/// Lifetime of the VAPID token (RFC 8292 allows at most 24 hours).
const VAPID_VALID_HOURS: u64 = 12;

/// Creates the VAPID key pair on the first start; later starts keep it (subscriptions are bound to it).
pub fn ensure_key(conn: &Connection) -> rusqlite::Result<()> {
    let exists: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM push_vapid)", [], |r| r.get(0))?;
    if !exists {
        conn.execute("INSERT INTO push_vapid (id, private_key) VALUES (1, ?1)", [ES256KeyPair::generate().to_bytes()])?;
    }
    Ok(())
}

fn key_pair(conn: &Connection) -> Result<ES256KeyPair> {
    let bytes: Vec<u8> = conn.query_row("SELECT private_key FROM push_vapid WHERE id = 1", [], |r| r.get(0))?;
    ES256KeyPair::from_bytes(&bytes).map_err(|e| Error::Invalid { field: "vapid_key", rule: e.to_string() })
}

/// The VAPID public key as browsers take it (`applicationServerKey`): the uncompressed point, base64url.
pub fn public_key(conn: &Connection) -> Result<String> {
    Ok(Base64UrlUnpadded::encode_string(&key_pair(conn)?.public_key().public_key().to_bytes_uncompressed()))
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewSubscription {
    /// The push service URL of this browser.
    pub endpoint: String,
    /// The browser's keys.
    pub keys: SubscriptionKeys,
}

/// The keys of a subscription, base64url.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (65 bytes).
    pub p256dh: String,
    /// The shared authentication secret (16 bytes).
    pub auth: String,
}

/// Whether `endpoint` may be posted to: HTTPS, as every push service is; plain HTTP only on this machine's
/// loopback address (a local push service in tests and development), never another host.
fn check_endpoint(endpoint: &str) -> Result<()> {
    let bad = |rule: &str| Error::Invalid { field: "endpoint", rule: rule.into() };
    if endpoint.len() > 2048 {
        return Err(bad("too_long"));
    }
    let uri: http::Uri = endpoint.parse().map_err(|_| bad("not_a_url"))?;
    let host = uri.host().ok_or_else(|| bad("not_a_url"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if host == "127.0.0.1" || host == "[::1]" => Ok(()),
        _ => Err(bad("not_https")),
    }
}

fn decode_keys(keys: &SubscriptionKeys) -> Result<(p256::PublicKey, Auth)> {
    let public = Base64UrlUnpadded::decode_vec(keys.p256dh.trim_end_matches('='))
        .ok()
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .ok_or_else(|| Error::Invalid { field: "keys", rule: "not_a_p256_key".into() })?;
    let auth = Base64UrlUnpadded::decode_vec(keys.auth.trim_end_matches('='))
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .ok_or_else(|| Error::Invalid { field: "keys", rule: "not_16_bytes".into() })?;
    Ok((public, *Auth::from_slice(&auth)))
}

/// Whether push is on: it needs the operator's contact (`push_contact`).
pub fn enabled(contact: Option<&str>) -> Result<()> {
    contact.map(|_| ()).ok_or(Error::StateConflict { why: "push_disabled" })
}

/// Stores this browser's subscription for `master` (re-sent on every page load: an unchanged one only stays).
/// An endpoint another master had on this phone becomes his.
pub fn subscribe(conn: &Connection, now: DateTime<Utc>, master: MasterId, sub: &NewSubscription) -> Result<i64> {
    check_endpoint(&sub.endpoint)?;
    decode_keys(&sub.keys)?;
    let before: Option<(i64, MasterId, String, String)> = conn
        .query_row("SELECT id, master_id, p256dh, auth FROM push_subscriptions WHERE endpoint = ?1", [&sub.endpoint], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    match before {
        Some((id, owner, p256dh, auth)) if owner == master && p256dh == sub.keys.p256dh && auth == sub.keys.auth => Ok(id),
        Some((id, owner, _, _)) => {
            conn.execute(
                "UPDATE push_subscriptions SET master_id = ?2, p256dh = ?3, auth = ?4, created_at = ?5, last_error = NULL, last_error_at = NULL
                 WHERE id = ?1",
                params![id, master, sub.keys.p256dh, sub.keys.auth, ms(now)],
            )?;
            events::record(conn, now, None, "master", "push_subscribed", json!({"master_id": master, "subscription_id": id, "from_master_id": owner}))?;
            Ok(id)
        }
        None => {
            conn.execute(
                "INSERT INTO push_subscriptions (master_id, endpoint, p256dh, auth, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![master, sub.endpoint, sub.keys.p256dh, sub.keys.auth, ms(now)],
            )?;
            let id = conn.last_insert_rowid();
            events::record(conn, now, None, "master", "push_subscribed", json!({"master_id": master, "subscription_id": id}))?;
            Ok(id)
        }
    }
}

/// Forgets one of his browsers (logout, or notifications turned off); an unknown endpoint changes nothing.
pub fn unsubscribe(conn: &Connection, now: DateTime<Utc>, master: MasterId, endpoint: &str) -> Result<()> {
    let removed: Option<i64> = conn
        .query_row("DELETE FROM push_subscriptions WHERE master_id = ?1 AND endpoint = ?2 RETURNING id", params![master, endpoint], |r| r.get(0))
        .optional()?;
    if let Some(id) = removed {
        events::record(conn, now, None, "master", "push_unsubscribed", json!({"master_id": master, "subscription_id": id}))?;
    }
    Ok(())
}

/// The "turn on notifications" step of the master's home screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnableStep {
    /// The VAPID public key; `None` while push is off (no step then).
    pub public_key: Option<String>,
    /// Whether he has subscribed on some device (the step starts hidden; the page re-syncs this browser).
    pub subscribed: bool,
}

/// The enable step for `master`.
pub fn enable_step(conn: &Connection, enabled: bool, master: MasterId) -> Result<EnableStep> {
    if !enabled {
        return Ok(EnableStep::default());
    }
    let subscribed: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM push_subscriptions WHERE master_id = ?1)", [master], |r| r.get(0))?;
    Ok(EnableStep { public_key: Some(public_key(conn)?), subscribed })
}

/// A master's push reachability, for staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PushStatus {
    /// Whether push is on for this installation (`push_contact` set).
    pub enabled: bool,
    /// His subscribed browsers.
    pub subscriptions: i64,
    /// Whether one of them works: subscribed and its last delivery, if any, did not fail.
    pub reachable: bool,
    /// The last delivery that reached one of them.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error a push service answered, and when.
    pub last_error: Option<String>,
    /// When that error came.
    pub last_error_at: Option<DateTime<Utc>>,
}

/// SQL for "this master has a working subscription".
const WORKING: &str = "EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.master_id = ?1
                         AND (s.last_error_at IS NULL OR s.last_success_at >= s.last_error_at))";

/// His push reachability.
pub fn status(conn: &Connection, enabled: bool, master: MasterId) -> rusqlite::Result<PushStatus> {
    let sql = format!(
        "SELECT COUNT(*), MAX(last_success_at),
                (SELECT last_error FROM push_subscriptions WHERE master_id = ?1 AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1),
                MAX(last_error_at), {WORKING}
         FROM push_subscriptions WHERE master_id = ?1"
    );
    conn.query_row(&sql, [master], |r| {
        Ok(PushStatus {
            enabled,
            subscriptions: r.get(0)?,
            last_success_at: r.get::<_, Option<i64>>(1)?.map(at),
            last_error: r.get(2)?,
            last_error_at: r.get::<_, Option<i64>>(3)?.map(at),
            reachable: enabled && r.get::<_, bool>(4)?,
        })
    })
}

/// Whether `master` can be reached by push now.
pub fn reachable(conn: &Connection, master: MasterId) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!("SELECT {WORKING}"))?.query_row([master], |r| r.get(0))
}

/// What the phone shows: the service worker displays it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The notification's title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// The page a tap opens.
    pub url: String,
    /// Notifications with one tag replace each other (an offer and its withdrawal).
    pub tag: String,
    /// The outbox event.
    pub event: String,
}

/// How urgently and for how long the push service should try: an offer is urgent and worthless once it
/// has expired; `None` when it is no longer worth sending.
fn urgency_and_ttl(note: &Pending, now: DateTime<Utc>) -> Option<(&'static str, Duration)> {
    let (urgency, until) = match note.event.as_str() {
        "new_offer" => ("high", note.payload["expires_at"].as_i64().map(at)?),
        "offer_withdrawn" | "order_assigned" | "account_blocked" => ("high", note.created_at + DEFAULT_TTL),
        _ => ("normal", note.created_at + DEFAULT_TTL),
    };
    let ttl = until - now;
    (ttl > Duration::zero()).then_some((urgency, ttl))
}

fn clock(left: Duration) -> String {
    let s = left.num_seconds().max(0);
    format!("{}:{:02}", s / 60, s % 60)
}

/// The order's slot in its city's time zone, `dd.mm HH:MM–HH:MM`.
fn slot(payload: &Value) -> Option<String> {
    let tz: chrono_tz::Tz = payload["timezone"].as_str()?.parse().ok()?;
    let start = at(payload["timeslot_start"].as_i64()?).with_timezone(&tz);
    let end = payload["timeslot_end"].as_i64().map(|end| at(end).with_timezone(&tz).format("–%H:%M").to_string()).unwrap_or_default();
    Some(format!("{}{end}", start.format("%d.%m %H:%M")))
}

/// The notification for `note` in `lang`, as it is at `now`.
pub fn compose(lang: Lang, note: &Pending, now: DateTime<Utc>) -> Message {
    let p = &note.payload;
    let category = p["category"].as_str().map(|c| message(lang, &format!("category.{c}"))).unwrap_or_default();
    let place = p["district"].as_str().or(p["city"].as_str()).unwrap_or_default().to_string();
    let order = p["order_id"].as_i64();
    let fill = |key: &str| message(lang, key).replace("{category}", &category).replace("{district}", &place);
    let offer = p["offer_id"].as_i64();
    // The parts the order has, joined: an order without a slot or a district shows none.
    let left = p["expires_at"].as_i64().map(|e| message(lang, "push.left").replace("{left}", &clock(at(e) - now)));
    let line = |parts: &[Option<String>]| parts.iter().flatten().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" · ");
    let (title, body, url, tag) = match note.event.as_str() {
        "new_offer" => (fill("push.new_offer.title"), line(&[Some(place.clone()), slot(p), left]), format!("/m/offers/{}", offer.unwrap_or_default()), format!("offer-{}", offer.unwrap_or_default())),
        "offer_withdrawn" => (fill("push.offer_withdrawn.title"), fill("push.offer_withdrawn.body"), "/m/offers".into(), format!("offer-{}", offer.unwrap_or_default())),
        "order_assigned" => (fill("push.order_assigned.title"), line(&[Some(category.clone()), Some(place.clone()), slot(p)]), format!("/m/orders/{}", order.unwrap_or_default()), format!("order-{}", order.unwrap_or_default())),
        event => {
            let body = p["reason"].as_str().map(str::to_string).unwrap_or_else(|| message(lang, "push.open_app"));
            (message(lang, &format!("m.event.{event}")), body, "/m/notifications".into(), format!("note-{}", note.id))
        }
    };
    Message { title, body, url, tag, event: note.event.clone() }
}

/// One of the master's browsers, ready to be posted to.
struct Target {
    id: i64,
    endpoint: String,
    p256dh: String,
    auth: String,
}

/// What one push service answered.
enum Sent {
    Ok,
    /// 404/410: the subscription is gone for good.
    Gone,
    /// Anything else; `retry_after` when the service asked for a pause.
    Failed { error: String, retry_after: Option<Duration> },
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client() -> &'static HttpsClient {
    static CLIENT: OnceLock<HttpsClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        Client::builder(TokioExecutor::new()).build(connector)
    })
}

/// The VAPID `Authorization` header for `endpoint`: a JWT for the push service's origin (scheme, host and
/// any explicit port), valid 12 hours, naming the operator's contact, with our public key.
fn vapid_header(key: &ES256KeyPair, contact: &str, endpoint: &http::Uri) -> Result<String> {
    let origin = format!("{}://{}", endpoint.scheme_str().unwrap_or("https"), endpoint.authority().map(|a| a.as_str()).unwrap_or_default());
    let claims = Claims::create(web_push_native::jwt_simple::prelude::Duration::from_hours(VAPID_VALID_HOURS)).with_audience(origin).with_subject(contact);
    let token = key.sign(claims).map_err(|e| Error::Invalid { field: "vapid", rule: e.to_string() })?;
    let public = Base64UrlUnpadded::encode_string(&key.public_key().public_key().to_bytes_uncompressed());
    Ok(format!("vapid t={token}, k={public}"))
}

/// Encrypts and signs `body` for `target` and posts it.
async fn send(key: &ES256KeyPair, contact: &str, target: &Target, body: &[u8], urgency: &str, ttl: Duration) -> Sent {
    let failed = |error: String| Sent::Failed { error, retry_after: None };
    let request = (|| {
        let endpoint: http::Uri = target.endpoint.parse().map_err(|_| "bad endpoint".to_string())?;
        let (public, auth) = decode_keys(&SubscriptionKeys { p256dh: target.p256dh.clone(), auth: target.auth.clone() }).map_err(|e| e.to_string())?;
        let ttl = StdDuration::from_secs(ttl.num_seconds().max(1) as u64);
        let request = WebPushBuilder::new(endpoint.clone(), public, auth).with_valid_duration(ttl).build(body.to_vec()).map_err(|e| e.to_string())?;
        let vapid = vapid_header(key, contact, &endpoint).map_err(|e| e.to_string())?;
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(http::header::AUTHORIZATION, vapid.parse().map_err(|_| "bad header".to_string())?);
        parts.headers.insert("urgency", http::HeaderValue::from_str(urgency).map_err(|_| "bad header".to_string())?);
        Ok::<_, String>(http::Request::from_parts(parts, Full::new(Bytes::from(body))))
    })();
    let request = match request {
        Ok(request) => request,
        Err(error) => return failed(error),
    };
    match tokio::time::timeout(SEND_TIMEOUT, client().request(request)).await {
        Err(_) => failed("timeout".into()),
        Ok(Err(error)) => failed(format!("connection: {error}")),
        Ok(Ok(response)) => {
            let status = response.status();
            if status.is_success() {
                Sent::Ok
            } else if status.as_u16() == 404 || status.as_u16() == 410 {
                Sent::Gone
            } else {
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map(|s| Duration::seconds(s.clamp(0, 3600)));
                Sent::Failed { error: format!("HTTP {}", status.as_u16()), retry_after }
            }
        }
    }
}

/// The Web Push channel of the outbox.
pub struct WebPush {
    /// The database.
    pub db: Db,
    /// The VAPID subject.
    pub contact: String,
    /// The language of masters who chose none.
    pub default_lang: Lang,
}

impl Channel for WebPush {
    async fn deliver(&self, note: &Pending, now: DateTime<Utc>) -> Delivery {
        let Some((urgency, ttl)) = urgency_and_ttl(note, now) else { return Delivery::Nowhere };
        let master = note.master_id;
        let loaded = self
            .db
            .read_blocking(move |c| {
                let targets = c
                    .prepare_cached("SELECT id, endpoint, p256dh, auth FROM push_subscriptions WHERE master_id = ?1 ORDER BY id")?
                    .query_map([master], |r| Ok(Target { id: r.get(0)?, endpoint: r.get(1)?, p256dh: r.get(2)?, auth: r.get(3)? }))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let lang: Option<String> = c.query_row("SELECT language FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?.flatten();
                Ok::<_, Error>((targets, lang, key_pair(c)?))
            })
            .await;
        let (targets, lang, key) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => return Delivery::Failed { error: error.to_string(), retry_after: None },
        };
        if targets.is_empty() {
            return Delivery::Nowhere;
        }
        let lang = lang.as_deref().and_then(Lang::parse).unwrap_or(self.default_lang);
        let body = serde_json::to_vec(&compose(lang, note, now)).expect("a message serialises");
        let mut results = Vec::with_capacity(targets.len());
        for target in &targets {
            results.push((target.id, send(&key, &self.contact, target, &body, urgency, ttl).await));
        }
        let delivered = results.iter().any(|(_, sent)| matches!(sent, Sent::Ok));
        let first_error = results.iter().find_map(|(_, sent)| match sent {
            Sent::Failed { error, retry_after } => Some(Delivery::Failed { error: error.clone(), retry_after: *retry_after }),
            _ => None,
        });
        let outcomes: Vec<(i64, Option<Option<String>>)> = results
            .into_iter()
            .map(|(id, sent)| match sent {
                Sent::Ok => (id, Some(None)),
                Sent::Gone => (id, None),
                Sent::Failed { error, .. } => (id, Some(Some(error))),
            })
            .collect();
        let recorded = self.db.write_blocking(move |tx| record_sends(tx, now, master, &outcomes)).await;
        if let Err(error) = recorded {
            crate::db::log_failure(&error, "recording push results failed");
        }
        match (delivered, first_error) {
            (true, _) => Delivery::Delivered,
            (false, Some(failed)) => failed,
            (false, None) => Delivery::Nowhere,
        }
    }
}

/// Keeps each browser's last success or error; a subscription the push service no longer knows
/// (`None`) is deleted.
fn record_sends(conn: &Connection, now: DateTime<Utc>, master: MasterId, outcomes: &[(i64, Option<Option<String>>)]) -> Result<()> {
    for (id, outcome) in outcomes {
        match outcome {
            Some(None) => {
                conn.execute("UPDATE push_subscriptions SET last_success_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
            }
            Some(Some(error)) => {
                conn.execute("UPDATE push_subscriptions SET last_error = ?2, last_error_at = ?3 WHERE id = ?1", params![id, error, ms(now)])?;
            }
            None => {
                if conn.execute("DELETE FROM push_subscriptions WHERE id = ?1", [id])? > 0 {
                    events::record(conn, now, None, "system", "push_subscription_gone", json!({"master_id": master, "subscription_id": id}))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(event: &str, payload: Value, created_at: DateTime<Utc>) -> Pending {
        Pending { id: 7, master_id: 1, event: event.into(), payload, created_at, attempt_count: 0 }
    }

    #[test]
    fn an_offer_is_urgent_and_lives_only_as_long_as_the_offer() {
        let now = at(1_800_000_000_000);
        let offer = note("new_offer", json!({"expires_at": ms(now + Duration::seconds(90))}), now);
        assert_eq!(urgency_and_ttl(&offer, now), Some(("high", Duration::seconds(90))));
        assert_eq!(urgency_and_ttl(&offer, now + Duration::seconds(90)), None, "a dead offer is not sent");
        let reminder = note("commission_reminder", json!({}), now);
        assert_eq!(urgency_and_ttl(&reminder, now), Some(("normal", DEFAULT_TTL)));
    }

    #[test]
    fn the_offer_notification_names_category_district_slot_and_time_left() {
        let now = at(1_800_000_000_000);
        let payload = json!({"offer_id": 5, "order_id": 9, "category": "PLUMBING", "district": "Центральный", "timezone": "Europe/Moscow",
            "timeslot_start": ms(now + Duration::hours(2)), "timeslot_end": ms(now + Duration::hours(4)), "expires_at": ms(now + Duration::seconds(105))});
        let m = compose(Lang::Ru, &note("new_offer", payload, now), now);
        assert_eq!(m.url, "/m/offers/5");
        assert!(m.title.contains("Сантехника"), "{m:?}");
        assert!(m.body.contains("Центральный") && m.body.contains("1:45") && m.body.contains(':'), "{m:?}");
    }

    #[test]
    fn endpoints_must_be_https_except_on_loopback() {
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc").is_ok());
        assert!(check_endpoint("http://127.0.0.1:4000/push/1").is_ok());
        assert!(check_endpoint("http://10.0.0.1/push").is_err());
        assert!(check_endpoint("ftp://x/y").is_err());
    }
}
