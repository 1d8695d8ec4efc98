-- Issue 11 §2–§3: the master's note and before/after photos when he closes an order, and the files a refused
-- form keeps so that he does not choose them again.

-- The note the master leaves on closing (up to 1000 characters), shown on the staff order card. (Its own
-- table rather than a column: every statement here can run again on a file that already has it.)
CREATE TABLE IF NOT EXISTS order_close_notes (
    order_id   INTEGER PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
    master_id  INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    note       TEXT    NOT NULL CHECK (length(note) BETWEEN 1 AND 1000),
    created_at INTEGER NOT NULL
);

-- Attachments gain the document type `work_photo` (the before/after photos of a close). SQLite cannot change
-- a CHECK constraint, so the table is rebuilt as it was with the longer list; nothing references it.
CREATE TABLE attachments_new (
    id                    INTEGER PRIMARY KEY,
    entity_type           TEXT    NOT NULL CHECK (entity_type IN ('ORDER', 'OFFER', 'COMMISSION', 'MASTER')),
    entity_id             INTEGER NOT NULL,
    file_type             TEXT    NOT NULL CHECK (file_type IN ('PHOTO', 'DOCUMENT')),
    storage_key           TEXT    NOT NULL UNIQUE,
    file_name             TEXT    NOT NULL,
    mime_type             TEXT    NOT NULL CHECK (mime_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/heic', 'application/pdf')),
    size                  INTEGER NOT NULL CHECK (size BETWEEN 1 AND 10485760),
    caption               TEXT,
    document_type         TEXT    CHECK (document_type IN ('passport', 'selfie', 'act', 'check', 'order_file', 'work_photo')),
    uploaded_by_master_id INTEGER REFERENCES masters(id) ON DELETE SET NULL,
    uploaded_by_staff_id  INTEGER REFERENCES staff_users(id) ON DELETE SET NULL,
    created_at            INTEGER NOT NULL
);
INSERT INTO attachments_new SELECT id, entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, caption,
    document_type, uploaded_by_master_id, uploaded_by_staff_id, created_at FROM attachments;
DROP TABLE attachments;
ALTER TABLE attachments_new RENAME TO attachments;
CREATE INDEX attachments_entity ON attachments(entity_type, entity_id);

-- A file kept for a form that was refused (the act of a close, the passport and selfie of a sign-up), so
-- the next try can use it without choosing it again. `holder` names the form: `close:{order}:{master}` or
-- `signup:{the visitor's form token}`; one file per slot.
CREATE TABLE IF NOT EXISTS held_files (
    id          INTEGER PRIMARY KEY,
    holder      TEXT    NOT NULL,
    slot        TEXT    NOT NULL,
    storage_key TEXT    NOT NULL UNIQUE,
    file_name   TEXT    NOT NULL,
    mime_type   TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (holder, slot)
);
