//! What a master sees of his work (distribution.md §8.3, product.md §2.7, §3.6, §7): offer cards without the
//! client, his orders with the client, his history with earnings, and his notification feed. A master
//! only ever sees his own offers and orders; anything else is "not found".

use chrono::{DateTime, Datelike, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::db::{at, ms};
use crate::domain::{Category, MasterId, ModerationStatus, OfferId, OfferState, OrderId, OrderStatus, OrderType};
use crate::masters::ShiftState;
use crate::error::{Error, Result};
use crate::offers::{self, Offer};
use crate::queue::PageRequest;
use crate::uploads::{self, Attachment};

/// An offer as the master sees it: where, when and what — never the client's name or phone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OfferCard {
    /// Offer id.
    pub offer_id: OfferId,
    /// Order id.
    pub order_id: OrderId,
    /// SENT or VIEWED while live.
    pub state: OfferState,
    /// Sent.
    pub sent_at: DateTime<Utc>,
    /// Live until (exclusive).
    pub expires_at: DateTime<Utc>,
    /// City.
    pub city: String,
    /// The city's time zone.
    pub timezone: String,
    /// District.
    pub district: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// House.
    pub house: Option<String>,
    /// Category.
    pub category: Category,
    /// What is wrong.
    pub description: String,
    /// Staff's note for the master (never their internal notes).
    pub master_note: Option<String>,
    /// NORMAL or GUARANTEE.
    pub order_type: OrderType,
    /// Visit window start.
    pub timeslot_start: Option<DateTime<Utc>>,
    /// Visit window end.
    pub timeslot_end: Option<DateTime<Utc>>,
}

fn offer_card(conn: &Connection, offer: &Offer) -> Result<OfferCard> {
    let time = |v: Option<i64>| v.map(at);
    Ok(conn
        .prepare_cached(
            "SELECT c.name, c.timezone, d.name, s.name, o.house, o.category, o.description, o.type, o.timeslot_start, o.timeslot_end,
                    o.master_note
             FROM orders o JOIN cities c ON c.id = o.city_id LEFT JOIN districts d ON d.id = o.district_id
                  LEFT JOIN streets s ON s.id = o.street_id
             WHERE o.id = ?1",
        )?
        .query_row([offer.order_id], |r| {
            Ok(OfferCard {
                offer_id: offer.id,
                order_id: offer.order_id,
                state: offer.state,
                sent_at: offer.sent_at,
                expires_at: offer.expires_at,
                city: r.get(0)?,
                timezone: r.get(1)?,
                district: r.get(2)?,
                street: r.get(3)?,
                house: r.get(4)?,
                category: r.get(5)?,
                description: r.get(6)?,
                order_type: r.get(7)?,
                timeslot_start: time(r.get(8)?),
                timeslot_end: time(r.get(9)?),
                master_note: r.get(10)?,
            })
        })?)
}

/// The master's live offers ("New"), newest first, without DEFERRED orders.
pub fn live_offers(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<Vec<OfferCard>> {
    offers::live_for_master(conn, now, master)?.iter().map(|offer| offer_card(conn, offer)).collect()
}

/// The master opens his offer: it becomes VIEWED (decisions D-9); one no longer live answers why.
pub fn open_offer(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer: OfferId) -> Result<OfferCard> {
    let offer = offers::view(conn, now, master, offer)?;
    offer_card(conn, &offer)
}

/// One of the master's orders, with the client (visible from ASSIGNED on) and the attachments.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MyOrder {
    /// Order id.
    pub id: OrderId,
    /// Status.
    pub status: OrderStatus,
    /// NORMAL or GUARANTEE.
    pub order_type: OrderType,
    /// City.
    pub city: String,
    /// The city's time zone.
    pub timezone: String,
    /// District.
    pub district: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// House.
    pub house: Option<String>,
    /// Apartment.
    pub apartment: Option<String>,
    /// Address comment.
    pub address_comment: Option<String>,
    /// Client name.
    pub client_name: String,
    /// Client phone.
    pub client_phone: String,
    /// Category.
    pub category: Category,
    /// What is wrong.
    pub description: String,
    /// Staff's note for the master (never their internal notes).
    pub master_note: Option<String>,
    /// Visit window start.
    pub timeslot_start: Option<DateTime<Utc>>,
    /// Visit window end.
    pub timeslot_end: Option<DateTime<Utc>>,
    /// Amount entered at closing, kopecks.
    pub total_sum_kop: i64,
    /// What the order earned him (decisions D-23); zero until he closes it.
    pub earnings: Earnings,
    /// Why staff cancelled it.
    pub cancel_reason: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Files of the order (the act, …).
    pub attachments: Vec<Attachment>,
}

const MY_ORDER_SELECT: &str = "SELECT o.id, o.status, o.type, c.name, c.timezone, d.name, s.name, o.house, o.apartment,
        o.address_comment, o.client_name, o.client_phone, o.category, o.description, o.timeslot_start, o.timeslot_end,
        o.total_sum_kop, o.cancel_reason, o.updated_at, o.company_payment_kop, COALESCE(cm.paid_amount_kop, cm.amount_kop, 0),
        o.master_note
    FROM orders o JOIN cities c ON c.id = o.city_id LEFT JOIN districts d ON d.id = o.district_id
         LEFT JOIN streets s ON s.id = o.street_id LEFT JOIN commissions cm ON cm.order_id = o.id";

fn my_order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MyOrder> {
    let time = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.map(at));
    Ok(MyOrder {
        id: r.get(0)?,
        status: r.get(1)?,
        order_type: r.get(2)?,
        city: r.get(3)?,
        timezone: r.get(4)?,
        district: r.get(5)?,
        street: r.get(6)?,
        house: r.get(7)?,
        apartment: r.get(8)?,
        address_comment: r.get(9)?,
        client_name: r.get(10)?,
        client_phone: r.get(11)?,
        category: r.get(12)?,
        description: r.get(13)?,
        timeslot_start: time(14)?,
        timeslot_end: time(15)?,
        total_sum_kop: r.get(16)?,
        cancel_reason: r.get(17)?,
        updated_at: at(r.get(18)?),
        earnings: Earnings::of(r.get(16)?, r.get(20)?, r.get(19)?),
        master_note: r.get(21)?,
        attachments: Vec::new(),
    })
}

fn with_attachments(conn: &Connection, mut orders: Vec<MyOrder>) -> Result<Vec<MyOrder>> {
    for order in &mut orders {
        order.attachments = uploads::of_order(conn, order.id)?;
    }
    Ok(orders)
}

/// One order assigned to the master (active or in his history); any other is "not found".
pub fn my_order(conn: &Connection, master: MasterId, id: OrderId) -> Result<MyOrder> {
    let sql = format!("{MY_ORDER_SELECT} WHERE o.id = ?1 AND o.assigned_master_id = ?2");
    let order = conn.prepare_cached(&sql)?.query_row(params![id, master], my_order_row).optional()?;
    let order = order.ok_or(Error::NotFound { what: "order" })?;
    Ok(with_attachments(conn, vec![order])?.remove(0))
}

/// The master's active orders (ASSIGNED, EN_ROUTE, WORKING, PAYMENT), most recently changed first.
pub fn active_orders(conn: &Connection, master: MasterId) -> Result<Vec<MyOrder>> {
    let sql = format!(
        "{MY_ORDER_SELECT} WHERE o.assigned_master_id = ?1 AND o.status IN ('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT')
         ORDER BY o.updated_at DESC, o.id DESC"
    );
    let orders = conn.prepare_cached(&sql)?.query_map([master], my_order_row)?.collect::<rusqlite::Result<_>>()?;
    with_attachments(conn, orders)
}

/// Which finished orders the history shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryFilter {
    /// CLOSED only.
    Closed,
    /// CANCELED only.
    Canceled,
    /// Both.
    #[default]
    All,
}

/// A page of the master's history with his earnings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct History {
    /// Orders, most recently changed first.
    pub items: Vec<MyOrder>,
    /// This page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// Orders matching the filter.
    pub total: i64,
    /// CLOSED orders, all time.
    pub completed: i64,
    /// What they earned him, all time.
    pub earnings: Earnings,
}

/// What an order, or a set of orders, earned the master (decisions D-23).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Earnings {
    /// The amounts entered at closing — what the clients paid (gross), kopecks.
    pub gross_kop: i64,
    /// The commission to the firm — the amount approved as paid once staff approved it, kopecks.
    pub commission_kop: i64,
    /// What the firm pays him for guarantee work, kopecks.
    pub company_payment_kop: i64,
    /// What he keeps: gross − commission + company payment, kopecks.
    pub net_kop: i64,
}

impl Earnings {
    fn of(gross_kop: i64, commission_kop: i64, company_payment_kop: i64) -> Self {
        Self { gross_kop, commission_kop, company_payment_kop, net_kop: gross_kop - commission_kop + company_payment_kop }
    }

    /// The earnings of his CLOSED orders, in total and since `since`.
    fn closed(conn: &Connection, master: MasterId, since: DateTime<Utc>) -> Result<(i64, Self, i64, Self)> {
        conn.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(o.total_sum_kop), 0), COALESCE(SUM(COALESCE(cm.paid_amount_kop, cm.amount_kop, 0)), 0),
                    COALESCE(SUM(o.company_payment_kop), 0),
                    COUNT(*) FILTER (WHERE o.updated_at >= ?2), COALESCE(SUM(o.total_sum_kop) FILTER (WHERE o.updated_at >= ?2), 0),
                    COALESCE(SUM(COALESCE(cm.paid_amount_kop, cm.amount_kop, 0)) FILTER (WHERE o.updated_at >= ?2), 0),
                    COALESCE(SUM(o.company_payment_kop) FILTER (WHERE o.updated_at >= ?2), 0)
             FROM orders o LEFT JOIN commissions cm ON cm.order_id = o.id
             WHERE o.assigned_master_id = ?1 AND o.status = 'CLOSED'",
        )?
        .query_row(params![master, ms(since)], |r| {
            Ok((r.get(0)?, Self::of(r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?, Self::of(r.get(5)?, r.get(6)?, r.get(7)?)))
        })
        .map_err(Into::into)
    }
}

/// The master's finished orders (product.md §3.6): CLOSED and/or CANCELED, newest change first, with the
/// count and gross sum of CLOSED ones.
pub fn history(conn: &Connection, master: MasterId, filter: HistoryFilter, page: PageRequest) -> Result<History> {
    let (page, per_page) = page.resolve()?;
    let (closed, canceled) = match filter {
        HistoryFilter::Closed => (true, false),
        HistoryFilter::Canceled => (false, true),
        HistoryFilter::All => (true, true),
    };
    let matching = "o.assigned_master_id = ?1 AND ((?2 AND o.status = 'CLOSED') OR (?3 AND o.status = 'CANCELED'))";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM orders o WHERE {matching}"))?
        .query_row(params![master, closed, canceled], |r| r.get(0))?;
    let sql = format!("{MY_ORDER_SELECT} WHERE {matching} ORDER BY o.updated_at DESC, o.id DESC LIMIT ?4 OFFSET ?5");
    let items = conn
        .prepare_cached(&sql)?
        .query_map(params![master, closed, canceled, per_page, (page - 1) * per_page], my_order_row)?
        .collect::<rusqlite::Result<_>>()?;
    let (completed, earnings, _, _) = Earnings::closed(conn, master, DateTime::<Utc>::MIN_UTC)?;
    Ok(History { items: with_attachments(conn, items)?, page, per_page, total, completed, earnings })
}

/// One item of the master's notification feed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// `new_offer`, `blocked`, …
    pub event: String,
    /// The particulars.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When he read it.
    pub read_at: Option<DateTime<Utc>>,
    /// Unread and still actionable: a new offer's notice stops being new once the offer is accepted, declined,
    /// withdrawn or expired.
    pub new: bool,
}

/// SQL: notification `n` is unread and, if it announces an offer, that offer is still open.
const IS_NEW: &str = "(n.read_at IS NULL AND (n.event <> 'new_offer'
    OR EXISTS (SELECT 1 FROM offers o WHERE o.id = json_extract(n.payload, '$.offer_id') AND o.state = 'SENT')))";

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Feed {
    /// Notifications, newest first.
    pub items: Vec<Notification>,
    /// This page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// All his notifications.
    pub total: i64,
    /// New ones (see [`Notification::new`]).
    pub unread: i64,
}

/// The master's notifications, newest first.
pub fn notifications(conn: &Connection, master: MasterId, page: PageRequest) -> Result<Feed> {
    let (page, per_page) = page.resolve()?;
    let (total, unread): (i64, i64) = conn
        .prepare_cached(&format!("SELECT COUNT(*), COALESCE(SUM({IS_NEW}), 0) FROM notifications_outbox n WHERE n.master_id = ?1"))?
        .query_row([master], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let items = conn
        .prepare_cached(&format!(
            "SELECT n.id, n.event, n.payload, n.created_at, n.read_at, {IS_NEW} FROM notifications_outbox n WHERE n.master_id = ?1
             ORDER BY n.id DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![master, per_page, (page - 1) * per_page], |r| {
            let payload: String = r.get(2)?;
            Ok(Notification {
                id: r.get(0)?,
                event: r.get(1)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                created_at: at(r.get(3)?),
                read_at: r.get::<_, Option<i64>>(4)?.map(at),
                new: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Feed { items, page, per_page, total, unread })
}

/// Marks one of his notifications read (again: unchanged); another master's is "not found".
pub fn mark_read(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: i64) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE notifications_outbox SET read_at = COALESCE(read_at, ?3) WHERE id = ?1 AND master_id = ?2")?
        .execute(params![id, master, ms(now)])?;
    if changed == 0 { Err(Error::NotFound { what: "notification" }) } else { Ok(()) }
}

/// The master's own account as his home screen shows it (product.md §3.1): his moderation state, shift
/// and unread notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Full name.
    pub full_name: String,
    /// Home city's name.
    pub city: Option<String>,
    /// Home city's time zone.
    pub timezone: Option<String>,
    /// PENDING, APPROVED or REJECTED.
    pub moderation: ModerationStatus,
    /// Why the questionnaire was rejected.
    pub moderation_reason: Option<String>,
    /// His shift.
    pub shift: ShiftState,
    /// New notifications (see [`Notification::new`]).
    pub unread: i64,
}

/// The master's own account; any other id is "not found".
pub fn profile(conn: &Connection, master: MasterId) -> Result<Profile> {
    conn.prepare_cached(&format!(
        "SELECT m.full_name, c.name, c.timezone, m.moderation_status, m.moderation_reason, m.shift_status, m.break_until,
                (SELECT COUNT(*) FROM notifications_outbox n WHERE n.master_id = m.id AND {IS_NEW})
         FROM masters m LEFT JOIN cities c ON c.id = m.city_id WHERE m.id = ?1"
    ))?
    .query_row([master], |r| {
        Ok(Profile {
            full_name: r.get(0)?,
            city: r.get(1)?,
            timezone: r.get(2)?,
            moderation: r.get(3)?,
            moderation_reason: r.get(4)?,
            shift: ShiftState { status: r.get(5)?, break_until: r.get::<_, Option<i64>>(6)?.map(at) },
            unread: r.get(7)?,
        })
    })
    .optional()?
    .ok_or(Error::NotFound { what: "master" })
}

/// The master's statistics (product.md §3.7).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Statistics {
    /// CLOSED orders, all time.
    pub completed: i64,
    /// His rating.
    pub rating: f64,
    /// Mean seconds from an offer's sending to his accepting it, over his ACCEPTED offers.
    pub average_response_seconds: Option<i64>,
    /// CLOSED orders changed since the first day of the current month (UTC).
    pub this_month: i64,
    /// What his CLOSED orders earned him, all time.
    pub earnings: Earnings,
    /// What those of the current month earned him.
    pub month_earnings: Earnings,
}

/// Computes the master's statistics from his orders and offers.
pub fn statistics(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<Statistics> {
    let month_start = now.date_naive().with_day(1).and_then(|d| d.and_hms_opt(0, 0, 0)).map_or(now, |d| d.and_utc());
    let (completed, earnings, this_month, month_earnings) = Earnings::closed(conn, master, month_start)?;
    let rating: f64 = conn.prepare_cached("SELECT rating FROM masters WHERE id = ?1")?.query_row([master], |r| r.get(0)).optional()?.ok_or(Error::NotFound { what: "master" })?;
    let average_ms: Option<f64> = conn
        .prepare_cached("SELECT AVG(responded_at - sent_at) FROM offers WHERE master_id = ?1 AND state = 'ACCEPTED' AND responded_at IS NOT NULL")?
        .query_row([master], |r| r.get(0))?;
    Ok(Statistics { completed, rating, average_response_seconds: average_ms.map(|v| (v / 1000.0).round() as i64), this_month, earnings, month_earnings })
}
