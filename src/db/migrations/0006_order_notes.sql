-- Issue 12: the staff's internal notes on an order (a thread: author, time, text ≤ 2000 characters), never
-- shown to masters; and an optional note for the master that he sees on the offer and the job.
CREATE TABLE IF NOT EXISTS order_notes (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    staff_id   INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    body       TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_notes_order ON order_notes(order_id, id);
