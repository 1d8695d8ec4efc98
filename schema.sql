-- Field Service schema, version 1: the whole product (product.md §1 adapted per §1.11 and decisions.md).
-- Conventions: instants are INTEGER milliseconds since the Unix epoch (UTC); money is INTEGER kopecks;
-- booleans are INTEGER 0/1; enumerations are TEXT with CHECK constraints; JSON is TEXT.

-- Geography ---------------------------------------------------------------------------------------------

CREATE TABLE cities (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    timezone    TEXT    NOT NULL,
    aliases     TEXT    NOT NULL DEFAULT '',          -- '|'-separated search aliases
    centroid_lat REAL,
    centroid_lon REAL,
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  INTEGER NOT NULL
);

CREATE TABLE districts (
    id          INTEGER PRIMARY KEY,
    city_id     INTEGER NOT NULL REFERENCES cities(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    centroid_lat REAL,
    centroid_lon REAL,
    created_at  INTEGER NOT NULL,
    UNIQUE (city_id, name)
);

CREATE TABLE streets (
    id          INTEGER PRIMARY KEY,
    city_id     INTEGER NOT NULL REFERENCES cities(id) ON DELETE CASCADE,
    district_id INTEGER REFERENCES districts(id) ON DELETE SET NULL,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    centroid_lat REAL,
    centroid_lon REAL,
    created_at  INTEGER NOT NULL,
    UNIQUE (city_id, district_id, name)
);
CREATE INDEX streets_city ON streets(city_id, name);
CREATE INDEX streets_district ON streets(district_id);

-- Staff -------------------------------------------------------------------------------------------------

CREATE TABLE staff_users (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(login) BETWEEN 2 AND 64),
    password_hash TEXT    NOT NULL,
    full_name     TEXT    NOT NULL DEFAULT '',
    phone         TEXT,
    role          TEXT    NOT NULL CHECK (role IN ('GLOBAL_ADMIN', 'CITY_ADMIN', 'LOGIST')),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    language      TEXT    CHECK (language IN ('ru', 'en')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE staff_cities (
    staff_id   INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    city_id    INTEGER NOT NULL REFERENCES cities(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (staff_id, city_id)
) WITHOUT ROWID;
CREATE INDEX staff_cities_city ON staff_cities(city_id);

-- One-time invite links for new staff (decisions §B.22).
CREATE TABLE staff_invites (
    id                  INTEGER PRIMARY KEY,
    token_hash          TEXT    NOT NULL UNIQUE,
    role                TEXT    NOT NULL CHECK (role IN ('GLOBAL_ADMIN', 'CITY_ADMIN', 'LOGIST')),
    created_by_staff_id INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    expires_at          INTEGER NOT NULL,
    used_at             INTEGER,
    used_by_staff_id    INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    revoked_at          INTEGER,
    created_at          INTEGER NOT NULL
);

CREATE TABLE staff_invite_cities (
    invite_id INTEGER NOT NULL REFERENCES staff_invites(id) ON DELETE CASCADE,
    city_id   INTEGER NOT NULL REFERENCES cities(id) ON DELETE CASCADE,
    PRIMARY KEY (invite_id, city_id)
) WITHOUT ROWID;

-- Masters -----------------------------------------------------------------------------------------------

CREATE TABLE masters (
    id                         INTEGER PRIMARY KEY,
    full_name                  TEXT    NOT NULL DEFAULT '',
    phone                      TEXT    NOT NULL CHECK (phone GLOB '+7[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'),
    password_hash              TEXT,
    city_id                    INTEGER REFERENCES cities(id) ON DELETE SET NULL,
    rating                     REAL    NOT NULL DEFAULT 5.0 CHECK (rating BETWEEN 0 AND 5),
    is_active                  INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    is_blocked                 INTEGER NOT NULL DEFAULT 0 CHECK (is_blocked IN (0, 1)),
    blocked_at                 INTEGER,
    blocked_reason             TEXT,
    is_deleted                 INTEGER NOT NULL DEFAULT 0 CHECK (is_deleted IN (0, 1)),
    shift_status               TEXT    NOT NULL DEFAULT 'SHIFT_OFF' CHECK (shift_status IN ('SHIFT_OFF', 'SHIFT_ON', 'BREAK')),
    is_on_shift                INTEGER NOT NULL DEFAULT 0 CHECK (is_on_shift = (shift_status = 'SHIFT_ON')),
    break_until                INTEGER CHECK ((shift_status = 'BREAK') = (break_until IS NOT NULL)),
    verified                   INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    verified_at                INTEGER,
    verified_by_staff_id       INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    moderation_status          TEXT    NOT NULL DEFAULT 'PENDING' CHECK (moderation_status IN ('PENDING', 'APPROVED', 'REJECTED')),
    moderation_reason          TEXT,
    max_active_orders_override INTEGER CHECK (max_active_orders_override IS NULL OR max_active_orders_override BETWEEN 0 AND 20),
    referral_code              TEXT    UNIQUE,
    referred_by_master_id      INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    has_vehicle                INTEGER NOT NULL DEFAULT 0 CHECK (has_vehicle IN (0, 1)),
    home_lat                   REAL,
    home_lon                   REAL,
    pdn_accepted_at            INTEGER,
    payout_method              TEXT    CHECK (payout_method IN ('CARD', 'SBP', 'YOOMONEY', 'BANK_ACCOUNT')),
    payout_data                TEXT,
    language                   TEXT    CHECK (language IN ('ru', 'en')),
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
-- A phone identifies a living account; a soft-deleted master frees it for a new sign-up.
CREATE UNIQUE INDEX masters_phone ON masters(phone) WHERE is_deleted = 0;
CREATE INDEX masters_pool ON masters(city_id, verified, is_active, is_blocked, is_deleted);
CREATE INDEX masters_break ON masters(shift_status, break_until);
CREATE INDEX masters_moderation ON masters(moderation_status, city_id);
CREATE INDEX masters_referrer ON masters(referred_by_master_id);

-- A master's skills ARE order categories (decisions D-1).
CREATE TABLE master_skills (
    master_id  INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    category   TEXT    NOT NULL CHECK (category IN ('ELECTRICS', 'PLUMBING', 'APPLIANCES', 'WINDOWS', 'HANDYMAN', 'ROADSIDE')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (master_id, category)
) WITHOUT ROWID;
CREATE INDEX master_skills_category ON master_skills(category, master_id);

CREATE TABLE master_districts (
    master_id   INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    district_id INTEGER NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (master_id, district_id)
) WITHOUT ROWID;
CREATE INDEX master_districts_district ON master_districts(district_id, master_id);

-- Invites for master sign-up (decisions §B.14): a one-time link token and a short code for one city.
CREATE TABLE master_invites (
    id                  INTEGER PRIMARY KEY,
    code                TEXT    NOT NULL UNIQUE,
    token_hash          TEXT    NOT NULL UNIQUE,
    city_id             INTEGER NOT NULL REFERENCES cities(id) ON DELETE CASCADE,
    issued_by_staff_id  INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    comment             TEXT    CHECK (comment IS NULL OR length(comment) <= 255),
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    used_at             INTEGER,
    used_by_master_id   INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    created_at          INTEGER NOT NULL
);

CREATE TABLE admin_audit_log (
    id         INTEGER PRIMARY KEY,
    staff_id   INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    master_id  INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    action     TEXT    NOT NULL,
    payload    TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX admin_audit_log_created ON admin_audit_log(created_at);
CREATE INDEX admin_audit_log_master ON admin_audit_log(master_id, created_at);

-- Orders ------------------------------------------------------------------------------------------------

CREATE TABLE orders (
    id                            INTEGER PRIMARY KEY,
    city_id                       INTEGER NOT NULL REFERENCES cities(id) ON DELETE RESTRICT,
    district_id                   INTEGER REFERENCES districts(id) ON DELETE SET NULL,
    no_district                   INTEGER NOT NULL DEFAULT 0 CHECK (no_district IN (0, 1)),
    street_id                     INTEGER REFERENCES streets(id) ON DELETE SET NULL,
    house                         TEXT    CHECK (house IS NULL OR length(house) <= 10),
    apartment                     TEXT    CHECK (apartment IS NULL OR length(apartment) <= 10),
    address_comment               TEXT,
    lat                           REAL,
    lon                           REAL,
    client_name                   TEXT    NOT NULL DEFAULT '',
    client_phone                  TEXT    NOT NULL,
    category                      TEXT    NOT NULL CHECK (category IN ('ELECTRICS', 'PLUMBING', 'APPLIANCES', 'WINDOWS', 'HANDYMAN', 'ROADSIDE')),
    description                   TEXT    NOT NULL DEFAULT '',
    status                        TEXT    NOT NULL CHECK (status IN ('CREATED', 'SEARCHING', 'ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT', 'CLOSED', 'DEFERRED', 'GUARANTEE', 'CANCELED')),
    type                          TEXT    NOT NULL DEFAULT 'NORMAL' CHECK (type IN ('NORMAL', 'GUARANTEE')),
    timeslot_start                INTEGER,
    timeslot_end                  INTEGER,
    -- When a DEFERRED order wakes up (decisions D-13, D-14); computed in the city's time zone at deferral.
    deferred_until                INTEGER,
    preferred_master_id           INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    assigned_master_id            INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    total_sum_kop                 INTEGER NOT NULL DEFAULT 0 CHECK (total_sum_kop >= 0),
    company_payment_kop           INTEGER NOT NULL DEFAULT 0 CHECK (company_payment_kop >= 0),
    cancel_reason                 TEXT,
    guarantee_source_order_id     INTEGER REFERENCES orders(id) ON DELETE SET NULL,
    created_by_staff_id           INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    -- Distribution state (distribution.md §2.1, §5.7; decisions D-15, D-17).
    dist_cycle                    INTEGER NOT NULL DEFAULT 1 CHECK (dist_cycle >= 1),
    dist_since_at                 INTEGER NOT NULL,   -- became distributable in this cycle
    dist_escalated_in_cycle       INTEGER NOT NULL DEFAULT 0 CHECK (dist_escalated_in_cycle IN (0, 1)),
    dist_escalation_reason        TEXT,
    dist_escalated_logist_at      INTEGER,
    dist_escalated_admin_at       INTEGER,
    escalation_logist_notified_at INTEGER,
    escalation_admin_notified_at  INTEGER,
    closed_at                     INTEGER,
    created_at                    INTEGER NOT NULL,
    updated_at                    INTEGER NOT NULL,
    version                       INTEGER NOT NULL DEFAULT 1,
    CHECK ((timeslot_start IS NULL) = (timeslot_end IS NULL)),
    CHECK (timeslot_start IS NULL OR timeslot_start < timeslot_end),
    CHECK (status <> 'DEFERRED' OR deferred_until IS NOT NULL),
    CHECK (type = 'GUARANTEE' OR guarantee_source_order_id IS NULL),
    CHECK ((assigned_master_id IS NOT NULL) OR status NOT IN ('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT'))
);
CREATE INDEX orders_status_city ON orders(status, city_id, created_at);
CREATE INDEX orders_assigned ON orders(assigned_master_id, status, created_at, total_sum_kop);
CREATE INDEX orders_preferred ON orders(preferred_master_id);
CREATE INDEX orders_deferred ON orders(deferred_until) WHERE status = 'DEFERRED';
CREATE INDEX orders_guarantee_source ON orders(guarantee_source_order_id);
CREATE INDEX orders_client_phone ON orders(client_phone);
CREATE INDEX orders_created ON orders(created_at);
CREATE INDEX orders_escalated ON orders(dist_escalated_logist_at) WHERE dist_escalated_logist_at IS NOT NULL;

CREATE TABLE order_status_history (
    id                   INTEGER PRIMARY KEY,
    order_id             INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    from_status          TEXT,
    to_status            TEXT    NOT NULL,
    reason               TEXT    NOT NULL DEFAULT '',
    changed_by_staff_id  INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    changed_by_master_id INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    actor_type           TEXT    NOT NULL DEFAULT 'SYSTEM' CHECK (actor_type IN ('SYSTEM', 'ADMIN', 'MASTER', 'AUTO_DISTRIBUTION')),
    context              TEXT    NOT NULL DEFAULT '{}',
    created_at           INTEGER NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history(order_id, created_at);

-- Masters taken off an order by "return to search"; never auto-offered it again (decisions D-17).
CREATE TABLE order_unassignments (
    order_id   INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    master_id  INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, master_id)
) WITHOUT ROWID;

CREATE TABLE offers (
    id                  INTEGER PRIMARY KEY,
    order_id            INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    master_id           INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    dist_cycle          INTEGER NOT NULL DEFAULT 1,
    round_number        INTEGER NOT NULL DEFAULT 1 CHECK (round_number >= 1),
    state               TEXT    NOT NULL CHECK (state IN ('SENT', 'VIEWED', 'ACCEPTED', 'DECLINED', 'EXPIRED', 'CANCELED')),
    sent_at             INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    responded_at        INTEGER,
    viewed_at           INTEGER,
    sent_by_staff_id    INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    created_at          INTEGER NOT NULL,
    CHECK (expires_at > sent_at),
    CHECK ((state IN ('SENT', 'VIEWED')) = (responded_at IS NULL))
);
CREATE UNIQUE INDEX offers_one_open_per_master ON offers(order_id, master_id) WHERE state IN ('SENT', 'VIEWED', 'ACCEPTED');
CREATE UNIQUE INDEX offers_one_accepted ON offers(order_id) WHERE state = 'ACCEPTED';
-- Keys without `state`, so that answering an offer does not rewrite them.
CREATE INDEX offers_order ON offers(order_id);
CREATE INDEX offers_master ON offers(master_id, sent_at);
CREATE INDEX offers_live_expiry ON offers(expires_at) WHERE state IN ('SENT', 'VIEWED');

-- The engine's structured event log per order (tick decisions, skips and why, offers, escalations).
CREATE TABLE order_events (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    source     TEXT    NOT NULL CHECK (source IN ('engine', 'staff', 'master', 'system')),
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events(order_id, id);
CREATE INDEX order_events_created ON order_events(created_at);

CREATE TABLE attachments (
    id                    INTEGER PRIMARY KEY,
    entity_type           TEXT    NOT NULL CHECK (entity_type IN ('ORDER', 'OFFER', 'COMMISSION', 'MASTER')),
    entity_id             INTEGER NOT NULL,
    file_type             TEXT    NOT NULL CHECK (file_type IN ('PHOTO', 'DOCUMENT')),
    storage_key           TEXT    NOT NULL UNIQUE,
    file_name             TEXT    NOT NULL,
    mime_type             TEXT    NOT NULL CHECK (mime_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/heic', 'application/pdf')),
    size                  INTEGER NOT NULL CHECK (size BETWEEN 1 AND 10485760),
    caption               TEXT,
    document_type         TEXT    CHECK (document_type IN ('passport', 'selfie', 'act', 'check', 'order_file')),
    uploaded_by_master_id INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    uploaded_by_staff_id  INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    created_at            INTEGER NOT NULL
);
CREATE INDEX attachments_entity ON attachments(entity_type, entity_id);

-- Finance -----------------------------------------------------------------------------------------------

CREATE TABLE commissions (
    id                INTEGER PRIMARY KEY,
    order_id          INTEGER NOT NULL UNIQUE REFERENCES orders(id) ON DELETE CASCADE,
    master_id         INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    amount_kop        INTEGER NOT NULL CHECK (amount_kop >= 0),
    rate_percent      INTEGER NOT NULL CHECK (rate_percent BETWEEN 0 AND 100),
    status            TEXT    NOT NULL CHECK (status IN ('WAIT_PAY', 'REPORTED', 'APPROVED', 'OVERDUE')),
    deadline_at       INTEGER NOT NULL,
    paid_reported_at  INTEGER,
    paid_approved_at  INTEGER,
    paid_amount_kop   INTEGER CHECK (paid_amount_kop IS NULL OR paid_amount_kop >= 0),
    is_paid           INTEGER NOT NULL DEFAULT 0 CHECK (is_paid IN (0, 1)),
    has_checks        INTEGER NOT NULL DEFAULT 0 CHECK (has_checks IN (0, 1)),
    pay_to_snapshot   TEXT    NOT NULL DEFAULT '{}',
    blocked_applied   INTEGER NOT NULL DEFAULT 0 CHECK (blocked_applied IN (0, 1)),
    blocked_at        INTEGER,
    rejection_reason  TEXT,
    approved_by_staff_id INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX commissions_status_deadline ON commissions(status, deadline_at);
CREATE INDEX commissions_master ON commissions(master_id, status);

CREATE TABLE commission_deadline_notifications (
    commission_id INTEGER NOT NULL REFERENCES commissions(id) ON DELETE CASCADE,
    hours_before  INTEGER NOT NULL CHECK (hours_before IN (1, 6, 24)),
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (commission_id, hours_before)
) WITHOUT ROWID;

CREATE TABLE referrals (
    id          INTEGER PRIMARY KEY,
    master_id   INTEGER NOT NULL UNIQUE REFERENCES masters(id) ON DELETE CASCADE,
    referrer_id INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    CHECK (master_id <> referrer_id)
);
CREATE INDEX referrals_referrer ON referrals(referrer_id);

CREATE TABLE referral_rewards (
    id                 INTEGER PRIMARY KEY,
    referrer_id        INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    referred_master_id INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    commission_id      INTEGER NOT NULL REFERENCES commissions(id) ON DELETE CASCADE,
    level              INTEGER NOT NULL CHECK (level IN (1, 2)),
    percent            INTEGER NOT NULL CHECK (percent IN (5, 10)),
    amount_kop         INTEGER NOT NULL CHECK (amount_kop > 0),
    status             TEXT    NOT NULL DEFAULT 'ACCRUED' CHECK (status IN ('ACCRUED', 'PAID', 'CANCELED')),
    created_at         INTEGER NOT NULL,
    UNIQUE (commission_id, level)
);
CREATE INDEX referral_rewards_referrer ON referral_rewards(referrer_id, created_at);

-- Settings, notifications, alerts, metrics --------------------------------------------------------------

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The master's in-app notification feed and the queue for an optional push channel (§13.3).
CREATE TABLE notifications_outbox (
    id            INTEGER PRIMARY KEY,
    master_id     INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    event         TEXT    NOT NULL,
    payload       TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    read_at       INTEGER,
    processed_at  INTEGER,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX notifications_master ON notifications_outbox(master_id, id);
CREATE INDEX notifications_pending ON notifications_outbox(id) WHERE processed_at IS NULL;

-- Break reminders already sent, one per (master, break end) (distribution.md §11.3).
CREATE TABLE break_reminders (
    master_id   INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    break_until INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (master_id, break_until)
) WITHOUT ROWID;

-- The staff alert feed: one alert, delivered to its recipients (distribution.md §5.7.4).
CREATE TABLE staff_alerts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('escalation_logist', 'escalation_admin', 'guarantee_refusal', 'unassigned_backlog', 'error')),
    order_id   INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    city_id    INTEGER REFERENCES cities(id) ON DELETE CASCADE,
    payload    TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX staff_alerts_order ON staff_alerts(order_id);
CREATE INDEX staff_alerts_created ON staff_alerts(created_at);

CREATE TABLE staff_alert_recipients (
    alert_id INTEGER NOT NULL REFERENCES staff_alerts(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    read_at  INTEGER,
    PRIMARY KEY (alert_id, staff_id)
) WITHOUT ROWID;
CREATE INDEX staff_alert_recipients_staff ON staff_alert_recipients(staff_id, read_at);

CREATE TABLE distribution_metrics (
    id                      INTEGER PRIMARY KEY,
    order_id                INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    master_id               INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    assigned_at             INTEGER NOT NULL,
    assigned_via            TEXT    NOT NULL CHECK (assigned_via IN ('master_accept', 'admin_manual')),
    round_number            INTEGER NOT NULL,
    candidates_count        INTEGER NOT NULL,
    time_to_assign_seconds  INTEGER NOT NULL,
    preferred_master_used   INTEGER NOT NULL CHECK (preferred_master_used IN (0, 1)),
    was_escalated_to_logist INTEGER NOT NULL CHECK (was_escalated_to_logist IN (0, 1)),
    was_escalated_to_admin  INTEGER NOT NULL CHECK (was_escalated_to_admin IN (0, 1)),
    city_id                 INTEGER,
    district_id             INTEGER,
    category                TEXT    NOT NULL,
    order_type              TEXT    NOT NULL,
    metadata                TEXT    NOT NULL DEFAULT '{}',
    created_at              INTEGER NOT NULL
);
CREATE INDEX distribution_metrics_assigned ON distribution_metrics(assigned_at);
CREATE INDEX distribution_metrics_master ON distribution_metrics(master_id, assigned_at);

-- Identity ----------------------------------------------------------------------------------------------

CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    staff_id     INTEGER REFERENCES staff_users(id) ON DELETE CASCADE,
    master_id    INTEGER REFERENCES masters(id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    CHECK ((staff_id IS NULL) <> (master_id IS NULL))
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL DEFAULT '',
    staff_id     INTEGER REFERENCES staff_users(id) ON DELETE CASCADE,
    master_id    INTEGER REFERENCES masters(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK ((staff_id IS NULL) <> (master_id IS NULL))
);

CREATE TABLE login_attempts (
    id         INTEGER PRIMARY KEY,
    login      TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    succeeded  INTEGER NOT NULL CHECK (succeeded IN (0, 1)),
    created_at INTEGER NOT NULL
);
CREATE INDEX login_attempts_login ON login_attempts(login, created_at);
CREATE INDEX login_attempts_ip ON login_attempts(ip, created_at);

-- The single-instance scheduler lease (decisions D-18): held for the duration of one tick.
CREATE TABLE scheduler_lease (
    name        TEXT    PRIMARY KEY,
    owner       TEXT,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    last_tick_at INTEGER
) WITHOUT ROWID;
INSERT INTO scheduler_lease (name) VALUES ('distribution');
