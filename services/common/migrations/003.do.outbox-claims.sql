-- A relay claims a batch for a while instead of holding a transaction open while it publishes: one statement
-- to claim, one to mark, where a transaction took four round trips (BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT).
-- A claim that lapses (its relay died mid-batch) lets another relay take the rows; a row published twice keeps
-- its id as Nats-Msg-Id, which JetStream's duplicate window drops.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
