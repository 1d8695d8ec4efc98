-- Issue 13: the reports count what happened within a period straight from the stored history, so each of
-- their queries needs an index on the instant it filters by (no counters that could drift).
CREATE INDEX IF NOT EXISTS offers_sent ON offers(sent_at);
-- Written once per offer, when it is answered, lapses or is withdrawn.
CREATE INDEX IF NOT EXISTS offers_responded ON offers(responded_at) WHERE responded_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS order_status_history_to ON order_status_history(to_status, created_at);
CREATE INDEX IF NOT EXISTS order_events_kind ON order_events(kind, created_at);
CREATE INDEX IF NOT EXISTS orders_closed ON orders(closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS commissions_created ON commissions(created_at);
CREATE INDEX IF NOT EXISTS commissions_approved ON commissions(paid_approved_at) WHERE paid_approved_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS referral_rewards_created ON referral_rewards(created_at);
