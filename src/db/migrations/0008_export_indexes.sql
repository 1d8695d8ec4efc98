-- Issue 13: the exports read commissions and referral rewards by creation time (product.md §4.7); without
-- these an export of a period scanned the whole table for every chunk it read. Replayable.
CREATE INDEX IF NOT EXISTS commissions_created ON commissions(created_at);
CREATE INDEX IF NOT EXISTS referral_rewards_created ON referral_rewards(created_at);
