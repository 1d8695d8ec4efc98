-- Web Push (issue 11 §1): the server's VAPID key pair (RFC 8292), generated on first start and kept here,
-- never in the repository; the masters' browser subscriptions, several per master; and the outbox's
-- back-off, so a push service that answers 429/5xx is asked again later, not on every run.
CREATE TABLE push_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key BLOB    NOT NULL
);

CREATE TABLE push_subscriptions (
    id              INTEGER PRIMARY KEY,
    master_id       INTEGER NOT NULL REFERENCES masters(id) ON DELETE CASCADE,
    endpoint        TEXT    NOT NULL UNIQUE,
    p256dh          TEXT    NOT NULL,
    auth            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER
);
CREATE INDEX push_subscriptions_master ON push_subscriptions(master_id);

ALTER TABLE notifications_outbox ADD COLUMN next_attempt_at INTEGER;
