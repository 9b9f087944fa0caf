-- The messaging tables' retention job deletes processed events by age: without this index each round would read
-- the whole table, which only ever grew before.
CREATE INDEX IF NOT EXISTS processed_event_handled_idx ON processed_event (handled_at);
