-- Applied to every service's schema (search_path is that schema), after the service's own migrations.
-- IF NOT EXISTS: the order and voucher schemas already have the outbox from their 001, written before this.

-- The transactional outbox: events are written here in the same transaction as the change they announce, and
-- the relay publishes them to JetStream with the row id as Nats-Msg-Id. created_at uses clock_timestamp() so
-- events of one transaction keep their order; trace_id carries the request's traceId to the consumers.
CREATE TABLE IF NOT EXISTS outbox (
  id           uuid PRIMARY KEY,
  subject      text NOT NULL,
  payload      bytea NOT NULL,
  trace_id     text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON outbox (created_at) WHERE published_at IS NULL;
