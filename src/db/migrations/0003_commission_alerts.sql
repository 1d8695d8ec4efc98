-- Issue 10 (product.md §4.5): a commission made OVERDUE raises one staff alert of the new kind
-- `commission_overdue`. SQLite cannot alter a CHECK, so staff_alerts is rebuilt: create the new table, copy,
-- drop the old one, rename, recreate the indexes.
--
-- Dropping staff_alerts while foreign keys are on would first delete its rows and, through ON DELETE CASCADE,
-- every recipient row; and `PRAGMA foreign_keys` cannot be switched off inside the migration's transaction.
-- So the recipients are set aside, their table is dropped before staff_alerts and created again afterwards,
-- referencing the new staff_alerts by name, with the same rows.
CREATE TABLE staff_alerts_new (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('escalation_logist', 'escalation_admin', 'guarantee_refusal', 'unassigned_backlog', 'error', 'commission_overdue')),
    order_id   INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    city_id    INTEGER REFERENCES cities(id) ON DELETE CASCADE,
    payload    TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
INSERT INTO staff_alerts_new (id, kind, order_id, city_id, payload, created_at)
    SELECT id, kind, order_id, city_id, payload, created_at FROM staff_alerts;

CREATE TEMP TABLE staff_alert_recipients_kept AS SELECT alert_id, staff_id, read_at FROM staff_alert_recipients;
DROP TABLE staff_alert_recipients;
DROP TABLE staff_alerts;
ALTER TABLE staff_alerts_new RENAME TO staff_alerts;
CREATE INDEX staff_alerts_order ON staff_alerts(order_id);
CREATE INDEX staff_alerts_created ON staff_alerts(created_at);

CREATE TABLE staff_alert_recipients (
    alert_id INTEGER NOT NULL REFERENCES staff_alerts(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    read_at  INTEGER,
    PRIMARY KEY (alert_id, staff_id)
) WITHOUT ROWID;
INSERT INTO staff_alert_recipients (alert_id, staff_id, read_at) SELECT alert_id, staff_id, read_at FROM temp.staff_alert_recipients_kept;
DROP TABLE temp.staff_alert_recipients_kept;
CREATE INDEX staff_alert_recipients_staff ON staff_alert_recipients(staff_id, read_at);
