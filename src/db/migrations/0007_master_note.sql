-- Issue 12: the note for the master — an optional text staff write on the order that the offered or
-- assigned master sees on the offer and the job, unlike the internal notes (order_notes) he never sees.
ALTER TABLE orders ADD COLUMN master_note TEXT CHECK (master_note IS NULL OR length(master_note) BETWEEN 1 AND 1000);
